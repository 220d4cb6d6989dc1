//! Hub-format parquet written with the parquet writer in the Hub's schema, read back.

use mtl_datasets::hub::parquet_file::{column_names, read_image_set, read_numeric, row_count};
use mtl_datasets::hub::testing::{png_grey, write_image_parquet, write_numeric_parquet};
use mtl_datasets::hub::HubError;

#[test]
fn image_struct_and_class_label_read_into_an_image_set() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("train.parquet");
    let pixels: Vec<Vec<u8>> = (0..7u8)
        .map(|i| {
            (0..28 * 28)
                .map(|p| ((p as u32 * 5 + i as u32 * 17) % 256) as u8)
                .collect()
        })
        .collect();
    let rows: Vec<(Vec<u8>, i64)> = pixels
        .iter()
        .enumerate()
        .map(|(i, px)| (png_grey(28, 28, px), (9 - i) as i64))
        .collect();
    write_image_parquet(&path, &rows);

    assert_eq!(row_count(&path).unwrap(), 7);
    assert_eq!(column_names(&path).unwrap(), ["image", "label"]);
    let set = read_image_set(&path, "image", "label").unwrap();
    assert_eq!((set.len(), set.rows, set.cols), (7, 28, 28));
    assert_eq!(set.labels, [9, 8, 7, 6, 5, 4, 3]);
    for (i, px) in pixels.iter().enumerate() {
        assert_eq!(set.image(i), px.as_slice());
    }
}

#[test]
fn colour_images_and_wrong_columns_are_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("rgb.parquet");
    let mut rgb = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut rgb, 2, 2);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header()
            .unwrap()
            .write_image_data(&[7; 12])
            .unwrap();
    }
    write_image_parquet(&path, &[(rgb, 1)]);
    let err = read_image_set(&path, "image", "label").unwrap_err();
    assert!(matches!(err, HubError::Parquet { .. }), "{err}");
    assert!(err.to_string().contains("grey-scale"), "{err}");

    let err = read_image_set(&path, "img", "label").unwrap_err();
    assert!(
        err.to_string()
            .contains("no column `img` (columns: image, label)"),
        "{err}"
    );

    std::fs::write(tmp.path().join("bad.parquet"), b"<html>not parquet</html>").unwrap();
    assert!(matches!(
        row_count(&tmp.path().join("bad.parquet")),
        Err(HubError::Parquet { .. })
    ));
}

#[test]
fn numeric_columns_and_float_lists_read_generically() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("qm9.parquet");
    write_numeric_parquet(
        &path,
        &[-40.47, -56.52, -76.4],
        &[5, 4, 3],
        &[true, false, true],
        &[[0.0, 1.5, -2.0], [0.25, 0.5, 0.75], [-1.0, 0.0, 1.0]],
    );
    let cols = read_numeric(&path, &["energy", "atoms", "flag", "pos"]).unwrap();
    let widths: Vec<usize> = cols.iter().map(|c| c.width).collect();
    assert_eq!(widths, [1, 1, 1, 3]);
    assert!(cols.iter().all(|c| c.len() == 3));
    assert_eq!(cols[0].values, [-40.47, -56.52, -76.4]);
    assert_eq!(cols[1].values, [5.0, 4.0, 3.0]);
    assert_eq!(cols[2].values, [1.0, 0.0, 1.0]);
    assert_eq!(
        cols[3].values,
        [0.0, 1.5, -2.0, 0.25, 0.5, 0.75, -1.0, 0.0, 1.0]
    );
}
