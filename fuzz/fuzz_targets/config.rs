//! The service configuration file: a configuration or an error, never a panic; an accepted
//! one round-trips through TOML.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(bug) = vigil::fuzzing::config(data) {
        panic!("{bug}");
    }
});
