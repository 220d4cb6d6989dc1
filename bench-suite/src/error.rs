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
    Method(#[from] mtl_methods::Error),
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
    /// A broken invariant of mtlbench itself; please report it.
    #[error("internal error (please report): {0}")]
    Internal(String),
}

impl Error {
    /// Whether the error is the user's configuration (exit code 2) rather than a failure
    /// while working (exit code 1).
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            Error::Config { .. }
                | Error::PlanChanged { .. }
                | Error::Dataset(mtl_datasets::Error::InvalidConfig { .. })
                | Error::Dataset(mtl_datasets::Error::UnknownDataset { .. })
                | Error::Method(mtl_methods::Error::InvalidConfig { .. })
                | Error::Method(mtl_methods::Error::UnknownMethod { .. })
                | Error::Report(mtl_reports::Error::NoRecords { .. })
        )
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
