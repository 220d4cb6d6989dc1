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
    /// Real data: a manifest, the cache, a fetch or an import failed (see [`crate::hub`]).
    #[error(transparent)]
    Hub(Box<crate::hub::HubError>),
}

impl From<crate::hub::HubError> for Error {
    fn from(e: crate::hub::HubError) -> Self {
        Error::Hub(Box::new(e))
    }
}

impl Error {
    /// Whether the error is the user's configuration: an unknown dataset, a bad parameter,
    /// or a manifest, import or revision the user named wrongly.
    pub fn is_config(&self) -> bool {
        match self {
            Error::UnknownDataset { .. } | Error::InvalidConfig { .. } => true,
            Error::Hub(e) => e.is_config(),
            Error::Format(_) => false,
        }
    }

    /// Whether data is missing from the cache, unpinned or fails verification.
    pub fn is_data(&self) -> bool {
        matches!(self, Error::Hub(e) if e.is_data())
    }

    /// The hub error inside, if any (for exit codes: data missing or invalid).
    pub fn hub(&self) -> Option<&crate::hub::HubError> {
        match self {
            Error::Hub(e) => Some(e),
            _ => None,
        }
    }
}
