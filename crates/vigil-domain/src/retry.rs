//! How a failed call should be treated by whoever may retry it, decided once where the error is
//! made (the Nova client, the store, a fencing driver) instead of at every call site.

/// The retry class of an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Worth trying again after a pause: a network error, a 5xx, a database restarting, a
    /// service Nova does not yet see down.
    Transient,
    /// The target (server, service, host) no longer exists: stop, there is nothing to do.
    Gone,
    /// The target's current state forbids the action: look at the state, then decide.
    Conflict,
    /// Retrying cannot help: bad credentials, a request the peer will keep refusing.
    Fatal,
}

/// An error that knows its retry class.
pub trait Classify {
    fn class(&self) -> ErrorClass;
}
