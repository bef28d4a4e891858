//! The error type every binary ends with: an exit code and an error chain, printed once.

use std::fmt;

use crate::exit::ExitStatus;

/// An error with the exit code it ends the process with.
#[derive(Debug)]
pub struct Failure<E> {
    /// The exit code.
    pub exit: E,
    /// What went wrong, with its causes.
    pub error: anyhow::Error,
}

impl<E: ExitStatus> Failure<E> {
    /// A failure with `exit` from an error.
    pub fn new(exit: E, error: impl Into<anyhow::Error>) -> Self {
        Self {
            exit,
            error: error.into(),
        }
    }

    /// A failure with `exit` from a message.
    pub fn msg(exit: E, message: impl fmt::Display + fmt::Debug + Send + Sync + 'static) -> Self {
        Self {
            exit,
            error: anyhow::Error::msg(message),
        }
    }

    /// The error's typed cause of type `T`, anywhere in the chain (for tests and decisions).
    pub fn cause<T: std::error::Error + Send + Sync + 'static>(&self) -> Option<&T> {
        self.error.chain().find_map(|e| e.downcast_ref::<T>())
    }
}

/// The whole chain on one line: `what failed: why: root cause`.
impl<E> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

/// Attaches an exit code to an error.
pub trait OrExit<T> {
    /// Turns the error into a [`Failure`] with `exit`.
    fn or_exit<E: ExitStatus>(self, exit: E) -> Result<T, Failure<E>>;
}

impl<T, X: Into<anyhow::Error>> OrExit<T> for Result<T, X> {
    fn or_exit<E: ExitStatus>(self, exit: E) -> Result<T, Failure<E>> {
        self.map_err(|e| Failure::new(exit, e))
    }
}

/// A [`Failure`] from a message.
pub fn fail<E: ExitStatus>(exit: E, message: impl fmt::Display) -> Failure<E> {
    Failure::msg(exit, message.to_string())
}
