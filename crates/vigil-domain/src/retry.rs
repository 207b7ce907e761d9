//! How a failed call should be treated by whoever may retry it, and how it is told, decided once where the error is
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

/// An error and its causes, outermost first, on one line: what logs and step records show.
/// A cause whose text the line already ends with (a transparent wrapper) is not repeated.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut last = self.0.to_string();
        f.write_str(&last)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            let text = e.to_string();
            if !last.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            last = text;
            cause = e.source();
        }
        Ok(())
    }
}
