//! `[engine]` with operator flows (pre/main/post steps): assembled or refused, never a panic;
//! an accepted section round-trips through TOML.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(bug) = vigil::fuzzing::flows(data) {
        panic!("{bug}");
    }
});
