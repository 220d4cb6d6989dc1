//! Errors of the dataset crate.

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Errors configuring or loading a dataset.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No dataset of that name is registered.
    #[error("unknown dataset `{name}`; known datasets: {known}. Run `mtlbench list` to see them")]
    UnknownDataset { name: String, known: String },
    /// A dataset parameter failed to parse or validate.
    #[error("dataset `{dataset}`: {message}")]
    InvalidConfig { dataset: String, message: String },
    /// A source file could not be read or decoded.
    #[error(transparent)]
    Format(#[from] crate::formats::FormatError),
}
