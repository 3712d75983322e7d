//! A Direct Line ActivitySet (or activity), collected and translated into a Genesys answer.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(problem) = gcbridge_core::fuzz::directline_activities(data) {
        panic!("{problem}");
    }
});
