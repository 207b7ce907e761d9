//! Fencing URL templates and host-name globs (template, NUL, host).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(bug) = vigil::fuzzing::fence_template(data) {
        panic!("{bug}");
    }
});
