//! What verification checks against: the pins of a manifest (commit, sizes, digests), and
//! the lock a first fetch writes for a manifest that is not fully pinned.

use serde::{Deserialize, Serialize};

use crate::DataFile;

/// A commit with every file's size and sha256: what verification checks against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pins {
    /// 40-hex commit.
    pub revision: String,
    /// Every file, sorted as in the manifest.
    pub files: Vec<DataFile>,
}

/// The lock written by the first fetch of a manifest that is not fully pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Manifest name.
    pub name: String,
    /// Repo id.
    pub repo: String,
    /// [`Manifest::selection_digest`](super::Manifest::selection_digest) of the manifest the lock was written for; a lock of a
    /// manifest that changed since is ignored.
    pub selection: String,
    /// What was resolved: the branch or revision asked for.
    pub resolved_from: String,
    /// The commit it resolved to.
    pub revision: String,
    /// Every file with the size and sha256 recorded at the first fetch.
    pub files: Vec<DataFile>,
}

impl Lock {
    /// The pins this lock records.
    pub fn pins(&self) -> Pins {
        Pins {
            revision: self.revision.clone(),
            files: self.files.clone(),
        }
    }
}
