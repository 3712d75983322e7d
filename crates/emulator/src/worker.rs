//! The per-conversation worker: plays the agent's reactions one after another, with the
//! script's delays.
//!
//! One task per conversation, fed in the order user activities were stored, is what guarantees
//! that replies are appended in script order even when a client posts concurrently: a reaction
//! starts only when the previous one has finished, as a Copilot Studio agent handles one turn of a
//! conversation at a time.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::agent::{self, Place};
use crate::script::Script;
use crate::state::{Conv, Inbound, stopped};

/// Starts the worker of a conversation. It stops at shutdown.
pub(crate) fn spawn(
    script: Arc<Script>,
    conv: Arc<Conv>,
    inbox: mpsc::UnboundedReceiver<Inbound>,
    shutdown: watch::Receiver<bool>,
    service_url: String,
) {
    tokio::spawn(run(script, conv, inbox, shutdown, service_url));
}

async fn run(
    script: Arc<Script>,
    conv: Arc<Conv>,
    mut inbox: mpsc::UnboundedReceiver<Inbound>,
    mut shutdown: watch::Receiver<bool>,
    service_url: String,
) {
    loop {
        let inbound = tokio::select! {
            biased;
            () = stopped(&mut shutdown) => return,
            next = inbox.recv() => match next {
                Some(inbound) => inbound,
                None => return,
            },
        };
        if !play(&script, &conv, inbound, &mut shutdown, &service_url).await {
            return;
        }
    }
}

/// Plays one reaction. Returns `false` when the emulator is shutting down.
async fn play(
    script: &Script,
    conv: &Conv,
    inbound: Inbound,
    shutdown: &mut watch::Receiver<bool>,
    service_url: &str,
) -> bool {
    let reaction = {
        let mut state = conv.state();
        if state.expired {
            return true;
        }
        let reply_to = inbound.activity.id.clone().unwrap_or_default();
        agent::react(
            script,
            &mut state.memory,
            &inbound.activity,
            inbound.trigger,
            &conv.id,
            &reply_to,
        )
    };
    let Some(mut reaction) = reaction else {
        return true;
    };
    reaction.received = inbound.received;
    tracing::debug!(
        conversation = %conv.id,
        topic = %reaction.topic,
        steps = reaction.steps.len(),
        "agent reacts"
    );
    let place = Place {
        conversation_id: &conv.id,
        service_url,
    };
    for (i, step) in reaction.steps.iter().enumerate() {
        if !step.delay.is_zero() {
            tokio::select! {
                biased;
                () = stopped(shutdown) => return false,
                () = tokio::time::sleep(step.delay) => {}
            }
        }
        let mut state = conv.state();
        if state.expired {
            // An expired conversation is gone for clients; replies would never be read.
            return true;
        }
        let activity = agent::render(script, &reaction, &step.action, &place, &state.activities);
        conv.append_locked(&mut state, activity);
        drop(state);
        // Steps played back to back reach stream clients as one ActivitySet, as the service
        // sends what an agent produced together.
        let next_now = reaction
            .steps
            .get(i + 1)
            .is_some_and(|next| next.delay.is_zero());
        if !next_now {
            conv.notify();
        }
    }
    true
}
