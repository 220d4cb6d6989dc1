//! Errors of the harness.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can stop a run or a sweep.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is wrong; nothing was created.
    #[error("{path}: {message}")]
    Config { path: String, message: String },
    /// Dataset configuration or loading failed.
    #[error(transparent)]
    Dataset(#[from] mtl_datasets::Error),
    /// Method configuration or a method step failed.
    #[error(transparent)]
    Method(mtl_methods::Error),
    /// Records could not be read or written.
    #[error(transparent)]
    Report(#[from] mtl_reports::Error),
    /// A tensor operation failed.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Datasets of a sweep whose data cannot be loaded (each was reported with its error).
    #[error("{missing}: the data of these datasets (of {total}) cannot be loaded; fetch it first (see the messages above)")]
    DataMissing { missing: String, total: usize },
    /// A stop signal arrived; the unfinished runs will be trained again on resume.
    #[error("stopped by {}: finished runs are kept; run the same command again to resume (an interrupted run continues from its checkpoint; one trained after a weight search starts over)", crate::interrupt::signal_name(*signal))]
    Interrupted { signal: i32 },
    /// Another process holds the results folder's lock.
    #[error("results folder {} is in use by another mtlbench sweep{}; wait for it to finish, or choose another folder with --out", folder.display(), pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked { folder: PathBuf, pid: Option<u32> },
    /// The results folder was made for another plan (or device).
    #[error("results folder {} was made for {found}, but this sweep is {expected}; resuming it with a changed configuration is refused. Use another --out, or pass --allow-config-change to run this configuration into it (records of cells both share are reused, the others stay in the folder)", folder.display())]
    PlanChanged {
        folder: PathBuf,
        found: String,
        expected: String,
    },
    /// A sweep stopped on a run's error; the records written so far are kept.
    #[error("the sweep into {} stopped; the records written so far are kept, and running the same command again resumes it", dir.display())]
    SweepStopped {
        dir: PathBuf,
        #[source]
        source: Box<Error>,
    },
    /// A broken invariant of mtlbench itself; please report it.
    #[error("internal error (please report): {0}")]
    Internal(String),
}

impl From<mtl_methods::Error> for Error {
    /// A method error, except that a harness error a weight search carried out
    /// ([`mtl_methods::Error::Backend`]) comes back as itself.
    fn from(e: mtl_methods::Error) -> Self {
        match e {
            mtl_methods::Error::Backend(inner) => match inner.downcast::<Error>() {
                Ok(harness) => *harness,
                Err(other) => Error::Method(mtl_methods::Error::Backend(other)),
            },
            e => Error::Method(e),
        }
    }
}

/// What kind of failure an error is; the binary's exit code follows from it alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user's configuration or command line; nothing was created.
    Config,
    /// Data missing from the cache or failing verification.
    Data,
    /// Stopped by a signal (its number); finished runs are kept.
    Interrupted(i32),
    /// A failure while working (I/O, training, network, a folder in use, a bug).
    Failure,
}

impl Error {
    /// The kind of this error, looking through the errors of the crates below.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config { .. } | Error::PlanChanged { .. } => ErrorKind::Config,
            Error::DataMissing { .. } => ErrorKind::Data,
            Error::Interrupted { signal } => ErrorKind::Interrupted(*signal),
            Error::SweepStopped { source, .. } => source.kind(),
            Error::Dataset(e) if e.is_config() => ErrorKind::Config,
            Error::Dataset(e) if e.is_data() => ErrorKind::Data,
            Error::Method(e) if e.is_config() => ErrorKind::Config,
            Error::Report(e) if e.is_config() => ErrorKind::Config,
            _ => ErrorKind::Failure,
        }
    }

    /// Whether the error is the user's configuration (exit code 2) rather than a failure
    /// while working (exit code 1).
    pub fn is_config(&self) -> bool {
        self.kind() == ErrorKind::Config
    }

    /// This error, or [`Error::Interrupted`] when a stop signal arrived: a signal ends
    /// whatever was running with some error, and the signal is what to report.
    pub fn or_interrupted(self) -> Self {
        match crate::interrupt::requested() {
            Some(signal) => Error::Interrupted { signal },
            None => self,
        }
    }

    /// Reading a file or folder the user named (a sweep file, the studies folder): one that
    /// is not there, is a folder where a file is wanted (or the reverse) or is not UTF-8 text
    /// is the command line's mistake (exit code 2); any other I/O error stays a failure while
    /// working.
    pub fn input(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| match source.kind() {
            std::io::ErrorKind::NotFound
            | std::io::ErrorKind::IsADirectory
            | std::io::ErrorKind::NotADirectory
            | std::io::ErrorKind::InvalidData => Self::Config {
                path: path.display().to_string(),
                message: format!("{action}: {source}"),
            },
            _ => Self::Io {
                action,
                path,
                source,
            },
        }
    }

    /// This error, a configuration error now naming `path` as its source (a value checked
    /// where it is used, reported where the user set it); any other error unchanged.
    pub fn at(self, path: impl Into<String>) -> Self {
        match self {
            Self::Config { message, .. } => Self::Config {
                path: path.into(),
                message,
            },
            other => other,
        }
    }

    /// An I/O error with the action and path that failed.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_input_that_is_not_there_is_the_command_lines_mistake() {
        let missing = std::fs::read_to_string("no/such/sweep.toml").unwrap_err();
        let err = Error::input("reading sweep file", "no/such/sweep.toml")(missing);
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("no/such/sweep.toml"), "{err}");
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let err = Error::input("reading sweep file", "s.toml")(full);
        assert_eq!(err.kind(), ErrorKind::Failure);
    }

    #[test]
    fn kinds_look_through_wrapped_errors() {
        let config = || Error::Config {
            path: "train.lr".into(),
            message: "must be positive".into(),
        };
        assert_eq!(config().kind(), ErrorKind::Config);
        let stopped = |source| Error::SweepStopped {
            dir: "results/x".into(),
            source: Box::new(source),
        };
        assert_eq!(stopped(config()).kind(), ErrorKind::Config);
        let missing = Error::DataMissing {
            missing: "qm9-11".into(),
            total: 1,
        };
        assert_eq!(stopped(missing).kind(), ErrorKind::Data);
        let unknown = mtl_datasets::Error::UnknownDataset {
            name: "mnist2".into(),
            known: "mnist".into(),
        };
        assert_eq!(Error::from(unknown).kind(), ErrorKind::Config);
        let method = mtl_methods::Error::InvalidConfig {
            method: "mgda".into(),
            message: "bad".into(),
        };
        assert_eq!(Error::from(method).kind(), ErrorKind::Config);
        assert_eq!(
            Error::Interrupted { signal: 15 }.kind(),
            ErrorKind::Interrupted(15)
        );
        assert_eq!(Error::Internal("x".into()).kind(), ErrorKind::Failure);
        // A harness error a weight search carried comes back as itself.
        let carried = mtl_methods::Error::Backend(Box::new(Error::Interrupted { signal: 2 }));
        assert!(matches!(
            Error::from(carried),
            Error::Interrupted { signal: 2 }
        ));
        let foreign = mtl_methods::Error::Backend("a twin's own failure".into());
        assert_eq!(Error::from(foreign).kind(), ErrorKind::Failure);
        // The message keeps the cause for the binary's chain printer.
        let e = stopped(Error::Internal("boom".into()));
        let source = std::error::Error::source(&e).unwrap().to_string();
        assert!(source.contains("boom") && e.to_string().contains("results/x"));
    }
}
