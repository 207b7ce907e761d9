//! `OpenStack-API-Version` negotiation: any header values give a version in 1.0–1.3, a 400 or
//! a 406, never a panic. Values are separated by NUL bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let values: Vec<&[u8]> = data.split(|b| *b == 0).collect();
    match vigil_api::fuzzing::microversion(&values) {
        Ok((major, minor)) => assert!(major == 1 && minor <= 3, "{major}.{minor}"),
        Err((status, _)) => assert!(status == 400 || status == 406, "{status}"),
    }
});
