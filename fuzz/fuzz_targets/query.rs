//! A list's query string (paging, sorting, boolean filters): accepted or a 400.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(bug) = vigil_api::fuzzing::query_target(data) {
        panic!("{bug}");
    }
});
