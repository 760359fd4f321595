//! The error type every stage returns, its user-facing message and the exit
//! status it maps to. Exit statuses are decided here and in `main` only.

use std::fmt;

/// Exit status for a job or usage error (bad flag, rule, config, checkpoint mismatch).
pub const EXIT_USAGE: i32 = 2;
/// Exit status for a runtime failure (I/O error, `--on-bad-record fail`).
pub const EXIT_RUNTIME: i32 = 1;
/// Exit status when alerts fired and `--fail-on-alert` was given.
pub const EXIT_ALERTS: i32 = 3;

/// A failure that ends the run, with a message written for the user.
#[derive(Debug)]
pub enum Error {
    /// The job is wrong (exit 2). The message may span several lines (caret diagnostics).
    Usage(String),
    /// Something failed while running (exit 1).
    Runtime(String),
    /// The reader of stdout went away: end quietly with status 0.
    BrokenPipe,
}

impl Error {
    pub fn usage(msg: impl Into<String>) -> Error {
        Error::Usage(msg.into())
    }
    pub fn runtime(msg: impl Into<String>) -> Error {
        Error::Runtime(msg.into())
    }
    /// An I/O failure on `path` while `doing` something ("reading", "creating").
    pub fn io(doing: &str, path: &std::path::Path, err: std::io::Error) -> Error {
        Error::Runtime(format!("{doing} {}: {err}", path.display()))
    }
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            Error::Runtime(_) => EXIT_RUNTIME,
            Error::BrokenPipe => 0,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::Runtime(m) => f.write_str(m),
            Error::BrokenPipe => f.write_str("broken pipe"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
