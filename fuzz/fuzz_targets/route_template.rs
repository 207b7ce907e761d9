//! Request paths to their metrics label: `other` or a route template, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(bug) = vigil_api::fuzzing::template_target(data) {
        panic!("{bug}");
    }
});
