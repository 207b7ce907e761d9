//! Notification payloads read as each notification type's: one the API accepts is
//! readable by the engine, and a typed payload round-trips.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(bug) = vigil_api::fuzzing::payload(data) {
        panic!("{bug}");
    }
});
