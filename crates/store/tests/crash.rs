//! A committed write survives SIGKILL: a child process writes from many tasks and reports
//! each acknowledged write on stdout; the parent kills it mid-stream with SIGKILL, reopens the
//! file and checks that every acknowledged write is there. On the way it checks that the file
//! is locked against a second process while the child has it open.
//!
//! The child is this same test binary, re-run with only the ignored `crash_child_writer` test
//! and an environment variable naming the database, so no extra build target is needed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use gcbridge_store::{EmbeddedStore, NEVER_EXPIRES, Revision, SessionStore, StoreError};

const CHILD_DB_ENV: &str = "GCBRIDGE_STORE_CRASH_CHILD_DB";
const WRITERS: u64 = 8;
/// Acknowledgements to see before killing the child; more keep arriving until the kill lands.
const ACKS_BEFORE_KILL: usize = 400;

/// One acknowledged write, as the child reported it.
#[derive(Debug)]
struct Ack {
    key: String,
    revision: Revision,
    /// For `created` records the exact value; for counters the lower bound.
    number: u64,
    counter: bool,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut parts = line.strip_prefix("ACK ")?.split(' ');
    let kind = parts.next()?;
    let key = parts.next()?.to_owned();
    let revision = Revision::new(parts.next()?.parse().ok()?);
    let number = parts.next()?.parse().ok()?;
    Some(Ack {
        key,
        revision,
        number,
        counter: kind == "counter",
    })
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    let mut acks = Vec::new();
    for line in lines.by_ref() {
        if let Some(ack) = parse_ack(&line.unwrap()) {
            acks.push(ack);
            if acks.len() >= ACKS_BEFORE_KILL {
                break;
            }
        }
    }
    assert_eq!(acks.len(), ACKS_BEFORE_KILL, "the child stopped early");

    // While the child is writing, the file is locked against every other process.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    match runtime.block_on(EmbeddedStore::open(&path)) {
        Err(StoreError::Unavailable(msg)) => assert!(msg.contains("already open"), "{msg}"),
        other => panic!("a second process opened a file in use: {other:?}"),
    }

    // `Child::kill` is SIGKILL on Unix: no destructor, no flush, no chance to finish a commit.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the child was killed, not finished: {status}"
    );
    // Lines the child wrote before it died are still in the pipe.
    acks.extend(lines.map_while(Result::ok).filter_map(|l| parse_ack(&l)));

    runtime.block_on(async {
        let store = EmbeddedStore::open(&path)
            .await
            .expect("reopen after SIGKILL");
        for ack in &acks {
            let stored = store
                .load(&ack.key)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("acknowledged {ack:?} is missing"));
            let number = u64::from_be_bytes(stored.value.as_slice().try_into().unwrap());
            if ack.counter {
                assert!(stored.revision >= ack.revision, "{ack:?} went back");
                assert!(number >= ack.number, "{ack:?} went back to {number}");
            } else {
                assert_eq!(
                    (stored.revision, number),
                    (ack.revision, ack.number),
                    "{ack:?}"
                );
            }
        }
        // The store is fully usable after the crash.
        store
            .save("after", vec![1], None, NEVER_EXPIRES)
            .await
            .unwrap();
    });
    eprintln!("{} acknowledged writes checked after SIGKILL", acks.len());
}

/// The child half of [`acknowledged_writes_survive_sigkill`]; does nothing when run by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "child process of acknowledged_writes_survive_sigkill"]
async fn crash_child_writer() {
    let Ok(path) = std::env::var(CHILD_DB_ENV) else {
        return;
    };
    let store = Arc::new(EmbeddedStore::open(path).await.unwrap());
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let counter = format!("counter-{w}");
                let mut counter_revision = None;
                for i in 0_u64.. {
                    // A new record per step, plus a compare-and-set update of one record.
                    let key = format!("created-{w}-{i}");
                    let revision = store
                        .save(&key, i.to_be_bytes().to_vec(), None, NEVER_EXPIRES)
                        .await
                        .unwrap();
                    println!("ACK created {key} {revision} {i}");
                    match store
                        .save(
                            &counter,
                            i.to_be_bytes().to_vec(),
                            counter_revision,
                            NEVER_EXPIRES,
                        )
                        .await
                    {
                        Ok(revision) => {
                            counter_revision = Some(revision);
                            println!("ACK counter {counter} {revision} {i}");
                        }
                        Err(StoreError::Conflict) => panic!("only this task writes {counter}"),
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
}
