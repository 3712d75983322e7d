//! Durable saves per second of the embedded store with 1, 16 and 128 concurrent writers.
//!
//! ```text
//! cargo run --release -p gcbridge-store --example bench -- [SECONDS] [DIR]
//! ```
//!
//! Each writer owns one key and repeatedly loads it and saves it back with compare-and-set,
//! as a turn does with its session (2 KiB records). One writer pays one disk sync per save;
//! with many writers, group commit shares each sync among all saves waiting for it. `DIR`
//! (default: a temporary directory) should be on the disk being measured — not a tmpfs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gcbridge_store::{EmbeddedStore, MemoryStore, NEVER_EXPIRES, SessionStore};

const RECORD_BYTES: usize = 2048;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3);
    let dir = match args.next() {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let duration = Duration::from_secs(seconds);
    println!(
        "{RECORD_BYTES}-byte records, {seconds} s per run, files in {}",
        dir.path().display()
    );
    println!(
        "{:<10} {:>8} {:>12} {:>14}",
        "store", "writers", "saves/s", "mean latency"
    );
    for writers in [1, 16, 128] {
        let path = dir.path().join(format!("bench-{writers}.db"));
        let store: Arc<dyn SessionStore> = Arc::new(EmbeddedStore::open(&path).await?);
        report(&store, writers, duration).await?;
    }
    for writers in [1, 128] {
        let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
        report(&store, writers, duration).await?;
    }
    reopen(&dir.path().join("reopen.db")).await?;
    Ok(())
}

/// Time to open a file holding many sessions: the open checks the whole file's integrity.
async fn reopen(path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    const RECORDS: usize = 50_000;
    const WRITERS: usize = 128;
    {
        let store = Arc::new(EmbeddedStore::open(path).await?);
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    for i in (w..RECORDS).step_by(WRITERS) {
                        let key = format!("session-{i}");
                        store
                            .save(&key, vec![1; RECORD_BYTES], None, NEVER_EXPIRES)
                            .await?;
                    }
                    Ok::<_, gcbridge_store::StoreError>(())
                })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
    }
    let megabytes = std::fs::metadata(path)?.len() as f64 / 1e6;
    let started = Instant::now();
    let store = EmbeddedStore::open(path).await?;
    let opened = started.elapsed();
    store.ping().await?;
    println!(
        "open of a {RECORDS}-record file ({megabytes:.0} MB), integrity check included: {:.0} ms",
        opened.as_secs_f64() * 1000.0
    );
    Ok(())
}

async fn report(
    store: &Arc<dyn SessionStore>,
    writers: usize,
    duration: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = Arc::clone(store);
            tokio::spawn(async move { writer(store, w, deadline).await })
        })
        .collect();
    let mut saves = 0_u64;
    let mut busy = Duration::ZERO;
    for task in tasks {
        let (n, spent) = task.await??;
        saves += n;
        busy += spent;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mean_ms = busy.as_secs_f64() * 1000.0 / saves.max(1) as f64;
    println!(
        "{:<10} {writers:>8} {:>12.0} {:>11.2} ms",
        store.name(),
        saves as f64 / elapsed,
        mean_ms
    );
    Ok(())
}

/// Load → save with compare-and-set until the deadline; returns saves and time spent saving.
async fn writer(
    store: Arc<dyn SessionStore>,
    id: usize,
    deadline: Instant,
) -> Result<(u64, Duration), gcbridge_store::StoreError> {
    let key = format!("bench-session-{id}");
    let mut revision = store
        .save(&key, vec![0; RECORD_BYTES], None, NEVER_EXPIRES)
        .await?;
    let mut saves = 0;
    let mut spent = Duration::ZERO;
    while Instant::now() < deadline {
        let mut value = store.load(&key).await?.map(|s| s.value).unwrap_or_default();
        if let Some(first) = value.first_mut() {
            *first = first.wrapping_add(1);
        }
        let t = Instant::now();
        revision = store
            .save(&key, value, Some(revision), NEVER_EXPIRES)
            .await?;
        spent += t.elapsed();
        saves += 1;
    }
    Ok((saves, spent))
}
