//! `OpenStack-API-Version` negotiation over NUL-separated header values: a version in
//! 1.0–1.3, or a 400 or 406 with a message.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(bug) = vigil_api::fuzzing::microversion_target(data) {
        panic!("{bug}");
    }
});
