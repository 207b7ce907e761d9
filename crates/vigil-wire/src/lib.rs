//! The Masakari v1 wire format as Rust types: what monitors send, what the API answers, and the
//! notification payloads by notification type. The API serves it, the engine reads payloads
//! through it, and Vigil's own monitors and agents send through a client built on it.

pub mod payload;
