//! Errors of the method crate.

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong configuring or stepping a method.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No method of that name is registered.
    #[error("unknown method `{name}`; known methods: {known}. Run `mtlbench list` to see them with their help")]
    UnknownMethod { name: String, known: String },
    /// A hyper-parameter failed to parse or validate.
    #[error("method `{method}`: {message}. Run `mtlbench list` to see its hyper-parameters")]
    InvalidConfig { method: String, message: String },
    /// The method was built for a different number of tasks than it was given.
    #[error("method `{method}` expects {expected} tasks but the step has {got}")]
    TaskCount {
        method: String,
        expected: usize,
        got: usize,
    },
    /// Weights failed their invariant (finite; on the simplex where declared).
    #[error("invalid task weights {weights:?}: {reason}")]
    InvalidWeights { weights: Vec<f64>, reason: String },
    /// The gradients' Gram matrix has non-finite entries: the gradients diverged.
    #[error(
        "method `{method}` got a gradient Gram matrix with non-finite entries (diverged gradients)"
    )]
    NonFiniteGram { method: String },
    /// The harness failed while a search was training; its own error inside (the harness
    /// takes it back out, kind and all).
    #[error("while searching weights")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A search method was built as an online method (a harness bug).
    #[error("method `{method}` chooses its weights by a search; run it through `mtlbench sweep`")]
    NeedsSearch { method: String },
    /// A method that needs gradients was stepped without them (a trainer bug).
    #[error("method `{method}` needs the gradient Gram matrix but the trainer passed none")]
    MissingGram { method: String },
    /// A saved method state does not fit the method it is restored into.
    #[error("cannot restore the method's state: {message}")]
    InvalidState { message: String },
}

impl Error {
    /// Whether the error is the user's configuration: an unknown method or a bad
    /// hyper-parameter.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            Error::UnknownMethod { .. } | Error::InvalidConfig { .. }
        )
    }
}
