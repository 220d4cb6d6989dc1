//! Errors of the report crate.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Errors reading, writing or tabulating run records.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A record file is not a valid record.
    #[error("{path} is not a valid run record: {message}. Delete it or re-run its cell")]
    InvalidRecord { path: PathBuf, message: String },
    /// A record of another schema version.
    #[error("{path} has record schema version {found}, this mtlbench reads version {expected}. Regenerate it with this version")]
    SchemaVersion {
        path: PathBuf,
        found: u64,
        expected: u32,
    },
    /// The folder holds no records (`parts`: its subfolders that do, as a study's runs
    /// folder has one per part).
    #[error("{}", no_records(path, parts))]
    NoRecords { path: PathBuf, parts: Vec<String> },
    /// A linear-front problem or its resolution is malformed.
    #[error("linear front analysis: {message}")]
    InvalidProblem { message: String },
    /// A plot could not be drawn.
    #[error("drawing the plot of {what}: {message}. Report this as a bug with the records that caused it")]
    Plot { what: String, message: String },
    /// A plot given to an HTML page is not an SVG document.
    #[error("the plot `{what}` is not an SVG document (its text must hold one `<svg>` element, as an .svg file does)")]
    NotSvg { what: String },
}

impl Error {
    /// Whether the error is the user's: a folder that holds no records.
    pub fn is_config(&self) -> bool {
        matches!(self, Error::NoRecords { .. })
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

/// What to do about a folder without records: report one of its parts, or fill it.
fn no_records(path: &std::path::Path, parts: &[String]) -> String {
    let path = path.display();
    if parts.is_empty() {
        format!("no run records (*.json) in {path}. Run `mtlbench sweep --out {path}` first")
    } else {
        format!(
            "no run records (*.json) in {path} itself; its folders {} hold records: report one \
             of them, e.g. `mtlbench report {path}/{}`",
            parts.join(", "),
            parts[0]
        )
    }
}
