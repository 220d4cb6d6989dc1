//! Where a dataset's bytes came from: the files it was built from, with their digests.

use serde::{Deserialize, Serialize};

/// One source file of a dataset, as verified before use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// Path inside the source (hub repo path, or a name inside the shipped subset).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex sha256 of the bytes.
    pub sha256: String,
}
