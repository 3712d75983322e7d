//! The conformance suite against [`MemoryStore`], and `memory:` through [`open`].

use std::sync::Arc;

use gcbridge_store::{MemoryStore, SessionStore, conformance, open};

async fn memory_store() -> (Arc<dyn SessionStore>, ()) {
    (Arc::new(MemoryStore::new()), ())
}

mod memory {
    gcbridge_store::conformance_tests!(super::memory_store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn opened_from_its_url_it_passes_the_whole_suite() {
    let store = open("memory:").await.expect("open memory:");
    assert_eq!(store.name(), "memory");
    conformance::run_all(&store).await;
}

#[test]
fn the_suite_lists_every_check_once() {
    let mut names: Vec<_> = conformance::CHECKS.iter().map(|c| c.name).collect();
    let count = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), count);
    assert!(count >= 15, "{names:?}");
}
