//! Prometheus metrics: one recorder per process, rendered by `GET /metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets in seconds: fine below 10 ms (the overhead targets) up to the DBC deadline.
const BUCKETS: [f64; 18] = [
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0,
    15.0, 30.0,
];

/// How often buffered histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the process-wide recorder on first use and returns its handle (`None` if another
/// recorder was installed by someone else, in which case `/metrics` is empty).
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &BUCKETS)
                .ok()?
                .install_recorder()
                .ok()?;
            describe();
            // The recorder keeps every histogram sample until upkeep folds them into the
            // buckets. Without a scrape of /metrics nothing did, and memory grew with every turn
            // (found by a 10-minute soak): fold them every few seconds.
            let upkeep = recorder.clone();
            let _ = std::thread::Builder::new()
                .name("metrics-upkeep".to_owned())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                });
            Some(recorder)
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(
        "gcbridge_turns_total",
        "Genesys turns answered, by endpoint, bot state and error code"
    );
    metrics::describe_histogram!(
        "gcbridge_turn_seconds",
        "Time from request arrival to the answer, by endpoint and bot state"
    );
    metrics::describe_histogram!(
        "gcbridge_turn_wait_seconds",
        "Part of the turn spent waiting for the agent (polling, quiet period)"
    );
    metrics::describe_counter!(
        "gcbridge_turn_end_total",
        "Why reply collection ended (quiet, deadline, stop_signal, ...)"
    );
    metrics::describe_counter!(
        "gcbridge_activities_delivered_total",
        "Agent activities delivered to Genesys"
    );
    metrics::describe_counter!(
        "gcbridge_activities_carried_total",
        "Agent activities delivered on a later turn than the one they answered"
    );
    metrics::describe_counter!(
        "gcbridge_conversations_started_total",
        "Direct Line conversations started"
    );
    metrics::describe_counter!(
        "gcbridge_requests_replayed_total",
        "Repeated Genesys requests answered from the stored response"
    );
    metrics::describe_counter!(
        "gcbridge_directline_requests_total",
        "Direct Line calls by operation and result"
    );
    metrics::describe_histogram!(
        "gcbridge_directline_request_seconds",
        "Direct Line call latency by operation"
    );
    metrics::describe_counter!(
        "gcbridge_store_errors_total",
        "Session store failures by operation"
    );
    metrics::describe_gauge!(
        "gcbridge_quiet_effective_ms",
        "The quiet period each bot's turns currently use (adaptive or configured)"
    );
    metrics::describe_counter!(
        "gcbridge_auth_rejected_total",
        "Genesys requests rejected by the shared-secret check"
    );
}
