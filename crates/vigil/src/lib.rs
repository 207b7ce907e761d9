//! The parts of the `vigil` binary other crates reach: the configuration loader, and the fuzz
//! targets' entry points into it (`fuzz/`).

pub mod config;
#[doc(hidden)]
pub mod fuzzing;
