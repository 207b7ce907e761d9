//! Request bodies against every Masakari request schema: a body a schema accepts is always
//! readable into its wire type (otherwise the server would answer 500).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(bug) = vigil_api::fuzzing::body(data) {
        panic!("{bug}");
    }
});
