//! The fuzz targets of `fuzz/` as a plain, deterministic test: their bodies
//! (`gcbridge_core::fuzz`) over every file of their corpus (`fuzz/corpus/<target>/`: the golden
//! fixtures plus hostile seeds and anything a fuzzing run found), and over every prefix of each
//! file (truncated bodies, as a cut connection leaves them).

use std::path::{Path, PathBuf};

use gcbridge_core::fuzz::{directline_activities, genesys_request};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "corpus of {target} is too small");
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read");
            (p, bytes)
        })
        .collect()
}

fn run(target: &str, body: fn(&[u8]) -> Result<(), String>) {
    for (path, bytes) in corpus(target) {
        if let Err(problem) = body(&bytes) {
            panic!("{}: {problem}", path.display());
        }
        // Prefixes of the small files (the big ones would take long for little gain).
        if bytes.len() <= 8 * 1024 {
            for end in 0..bytes.len() {
                if let Err(problem) = body(&bytes[..end]) {
                    panic!("{} cut at {end}: {problem}", path.display());
                }
            }
        }
    }
}

#[test]
fn genesys_request_corpus() {
    run("genesys_request", genesys_request);
}

#[test]
fn directline_activities_corpus() {
    run("directline_activities", directline_activities);
}
