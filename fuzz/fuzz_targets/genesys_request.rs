//! A Genesys turn request body, as the public endpoint reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(problem) = gcbridge_core::fuzz::genesys_request(data) {
        panic!("{problem}");
    }
});
