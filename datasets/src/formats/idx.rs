//! IDX files (LeCun's MNIST format, also used by Fashion-MNIST): a big-endian header with
//! magic number 2051 for `u8` images (`n × rows × cols`) or 2049 for `u8` labels (`n`), then
//! the payload. Gzip-compressed files are decompressed first (see [`super::read_file`]).

use std::path::Path;

use super::{read_file, FormatError, FormatResult};
use crate::raw::ImageSet;

/// Magic number of an IDX file of unsigned-byte images (3 dimensions).
pub const IMAGES_MAGIC: u32 = 2051;
/// Magic number of an IDX file of unsigned-byte labels (1 dimension).
pub const LABELS_MAGIC: u32 = 2049;

fn be_u32(file: &str, bytes: &[u8], at: usize, what: &str) -> FormatResult<u32> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| {
            FormatError::invalid(
                file,
                format!("header bytes {at}..{}", at + 4),
                format!("the {what} (big-endian u32)"),
                format!("end of file after {} bytes", bytes.len()),
            )
        })
}

fn check_magic(file: &str, bytes: &[u8], magic: u32) -> FormatResult<()> {
    let found = be_u32(file, bytes, 0, "magic number")?;
    if found != magic {
        return Err(FormatError::invalid(
            file,
            "header bytes 0..4 (magic number)",
            format!("{magic}"),
            found,
        ));
    }
    Ok(())
}

fn check_len(file: &str, bytes: &[u8], header: usize, payload: usize) -> FormatResult<()> {
    if bytes.len() != header + payload {
        return Err(FormatError::invalid(
            file,
            "file length",
            format!("{header} header bytes + {payload} payload bytes"),
            format!("{} bytes", bytes.len()),
        ));
    }
    Ok(())
}

/// Decodes an IDX image file: (rows, cols, pixels of all images).
pub fn parse_images(file: &str, bytes: &[u8]) -> FormatResult<(usize, usize, Vec<u8>)> {
    check_magic(file, bytes, IMAGES_MAGIC)?;
    let n = be_u32(file, bytes, 4, "image count")? as usize;
    let rows = be_u32(file, bytes, 8, "row count")? as usize;
    let cols = be_u32(file, bytes, 12, "column count")? as usize;
    let payload = n
        .checked_mul(rows)
        .and_then(|v| v.checked_mul(cols))
        .ok_or_else(|| {
            FormatError::invalid(
                file,
                "header",
                "dimensions whose product fits in memory",
                format!("{n} × {rows} × {cols}"),
            )
        })?;
    check_len(file, bytes, 16, payload)?;
    Ok((rows, cols, bytes[16..].to_vec()))
}

/// Decodes an IDX label file.
pub fn parse_labels(file: &str, bytes: &[u8]) -> FormatResult<Vec<u8>> {
    check_magic(file, bytes, LABELS_MAGIC)?;
    let n = be_u32(file, bytes, 4, "label count")? as usize;
    check_len(file, bytes, 8, n)?;
    Ok(bytes[8..].to_vec())
}

/// Combines decoded images and labels, checking that the counts agree.
pub fn image_set(
    images_file: &str,
    (rows, cols, pixels): (usize, usize, Vec<u8>),
    labels_file: &str,
    labels: Vec<u8>,
) -> FormatResult<ImageSet> {
    let n = pixels.len() / (rows * cols).max(1);
    if n != labels.len() {
        return Err(FormatError::invalid(
            labels_file,
            "label count",
            format!("{n} labels, one per image of {images_file}"),
            labels.len(),
        ));
    }
    Ok(ImageSet {
        rows,
        cols,
        pixels,
        labels,
    })
}

/// Reads an image file and its label file (either may be gzip-compressed).
pub fn read_image_set(images: &Path, labels: &Path) -> FormatResult<ImageSet> {
    let (fi, fl) = (images.display().to_string(), labels.display().to_string());
    let decoded = parse_images(&fi, &read_file(images)?)?;
    image_set(&fi, decoded, &fl, parse_labels(&fl, &read_file(labels)?)?)
}

/// Encodes images as an IDX file (used to build the shipped subset).
pub fn encode_images(set: &ImageSet) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + set.pixels.len());
    for v in [
        IMAGES_MAGIC,
        set.len() as u32,
        set.rows as u32,
        set.cols as u32,
    ] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&set.pixels);
    out
}

/// Encodes labels as an IDX file (used to build the shipped subset).
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> ImageSet {
        ImageSet {
            rows: 2,
            cols: 3,
            pixels: vec![0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255],
            labels: vec![7, 1],
        }
    }

    #[test]
    fn known_bytes_decode_to_known_images() {
        // Hand-written header: magic 2051, 2 images of 2 × 3.
        let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
        bytes.extend([0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
        let labels = [0, 0, 8, 1, 0, 0, 0, 2, 7, 1];
        let set = image_set(
            "i",
            parse_images("i", &bytes).unwrap(),
            "l",
            parse_labels("l", &labels).unwrap(),
        )
        .unwrap();
        assert_eq!(set, fixture());
        assert_eq!(set.image(1), &[250, 251, 252, 253, 254, 255]);
        assert_eq!(encode_images(&set), bytes);
        assert_eq!(encode_labels(&set.labels), labels);
    }

    #[test]
    fn gzipped_files_on_disk_round_trip() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let set = fixture();
        let gz = |bytes: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        };
        std::fs::write(dir.path().join("img.gz"), gz(&encode_images(&set))).unwrap();
        std::fs::write(dir.path().join("lab"), encode_labels(&set.labels)).unwrap();
        let back = read_image_set(&dir.path().join("img.gz"), &dir.path().join("lab")).unwrap();
        assert_eq!(back, set);
    }

    #[test]
    fn bad_files_are_named_with_expected_and_actual() {
        let set = fixture();
        let img = encode_images(&set);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (encode_labels(&set.labels), "expected 2051, found 2049"),
            (img[..10].to_vec(), "header bytes 8..12"),
            (img[..img.len() - 1].to_vec(), "found 27 bytes"),
            ([img.clone(), vec![0]].concat(), "found 29 bytes"),
        ];
        for (bytes, want) in cases {
            let err = parse_images("train-images", &bytes)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("train-images:") && err.contains(want),
                "{err}"
            );
        }
        let err = image_set("i", parse_images("i", &img).unwrap(), "l", vec![1, 2, 3])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expected 2 labels") && err.contains("found 3"),
            "{err}"
        );
        let err = parse_labels("l", &img).unwrap_err().to_string();
        assert!(err.contains("expected 2049, found 2051"), "{err}");
    }
}
