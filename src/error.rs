//! The crate's one error type. `app` is the one place that turns it into a
//! message and an exit status.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// Bad command line: usage line + message on stderr, exit 2.
    Usage(String),
    /// The script or module to run cannot be opened: exit 2, like python.
    CannotRun(String),
    /// The report cannot be written (checked before the program runs).
    Output(String),
    /// A saved profile cannot be loaded.
    Load(String),
    /// The interpreter cannot be set up or behaves unexpectedly.
    Python(String),
    /// Sampling could not start.
    Sampler(String),
}

impl Error {
    pub fn exit_status(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::CannotRun(_) => 2,
            _ => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m)
            | Error::CannotRun(m)
            | Error::Output(m)
            | Error::Load(m)
            | Error::Python(m)
            | Error::Sampler(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
