//! Readers of the source formats the real benchmarks are built from.
//!
//! Each reader takes bytes (or a directory laid out like the Hub snapshot of its manifest)
//! and returns decoded data; every error names the file, the row or field, what was expected
//! and what was found.

pub mod csv;
pub mod idx;
pub mod npm_digits;
pub mod qm9_csv;
pub mod river_csv;

use std::io::Read;
use std::path::Path;

/// A source file that could not be read or decoded.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The file could not be read.
    #[error("{file}: cannot read it: {source}. Check that the dataset's files are in place (re-fetch or re-import the dataset)")]
    Io {
        /// The file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file's content does not have the expected format.
    #[error("{file}: {location}: expected {expected}, found {actual}. The file is damaged or not the expected source; re-fetch or re-import the dataset")]
    Invalid {
        /// The file.
        file: String,
        /// Where in the file: header, row and column, byte offset.
        location: String,
        /// What the format requires.
        expected: String,
        /// What the file holds.
        actual: String,
    },
}

impl FormatError {
    /// An [`FormatError::Invalid`] with all parts rendered as text.
    pub fn invalid(
        file: &str,
        location: impl Into<String>,
        expected: impl Into<String>,
        actual: impl std::fmt::Display,
    ) -> Self {
        FormatError::Invalid {
            file: file.to_owned(),
            location: location.into(),
            expected: expected.into(),
            actual: actual.to_string(),
        }
    }
}

/// Result of the format readers.
pub type FormatResult<T> = std::result::Result<T, FormatError>;

/// Reads a file whole, transparently decompressing gzip (recognised by its magic bytes).
pub fn read_file(path: &Path) -> FormatResult<Vec<u8>> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| FormatError::Io {
        file: file.clone(),
        source,
    })?;
    maybe_gunzip(&file, bytes)
}

/// `dir/name`, or `dir/name.gz` when only the compressed file is there (e.g. Debian's
/// Fashion-MNIST folder, river's `yeast.csv.gz`).
pub fn locate(dir: &Path, name: &str) -> std::path::PathBuf {
    let plain = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    if !plain.exists() && gz.exists() {
        gz
    } else {
        plain
    }
}

/// Decompresses `bytes` when they start with the gzip magic, else returns them unchanged.
pub fn maybe_gunzip(file: &str, bytes: Vec<u8>) -> FormatResult<Vec<u8>> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() * 4);
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .read_to_end(&mut out)
        .map_err(|e| FormatError::invalid(file, "gzip stream", "a complete gzip stream", e))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_is_detected_and_plain_bytes_pass_through() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"hello").unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(maybe_gunzip("f", gz.clone()).unwrap(), b"hello");
        assert_eq!(maybe_gunzip("f", b"plain".to_vec()).unwrap(), b"plain");
        let err = maybe_gunzip("f.gz", gz[..gz.len() - 6].to_vec())
            .unwrap_err()
            .to_string();
        assert!(err.contains("f.gz") && err.contains("gzip"), "{err}");
    }
}
