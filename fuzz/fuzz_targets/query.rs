//! A list's query string (paging, sorting, boolean filters): accepted or a 400.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let query = String::from_utf8_lossy(data);
    if let Err((status, message)) = vigil_api::fuzzing::query(&query) {
        assert_eq!(status, 400, "{message}");
    }
});
