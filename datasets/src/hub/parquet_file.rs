//! Hub-format parquet files, read without arrow (the `parquet` crate's record API, snappy only).
//!
//! The Hub's `datasets` library writes images as a struct column
//! `image: struct { bytes: binary (the encoded image), path: string }` and class labels as an
//! `int64` column (a `ClassLabel`; the class names live in the file's `huggingface` metadata).
//! * [`read_image_set`] decodes such a file into a grey-scale [`ImageSet`]: PNG images
//!   (8-bit grey, or palette / low bit depth expanded to 8-bit grey); 16-bit grey keeps the
//!   high byte; colour images are refused (the set is grey-scale).
//! * [`read_numeric`] reads numeric columns generically for tabular sets such as QM9 or
//!   CelebA's attributes: `bool`, signed/unsigned integers, `float`, `double`, and lists of
//!   them (every row of a list column must have the same length: the column's `width`).
//!   Nulls are refused rather than guessed.

use std::fs::File;
use std::io::Cursor;
use std::path::Path;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, Row};
use parquet::schema::types::Type;

use super::HubError;
use crate::raw::ImageSet;

/// One numeric column: `len × width` values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericColumn {
    /// Column name.
    pub name: String,
    /// Values per row (1 for a scalar column).
    pub width: usize,
    /// The values, row after row.
    pub values: Vec<f64>,
}

impl NumericColumn {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.values.len().checked_div(self.width).unwrap_or(0)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

fn err(path: &Path, message: impl Into<String>) -> HubError {
    HubError::Parquet {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn open(path: &Path) -> Result<SerializedFileReader<File>, HubError> {
    let file = File::open(path).map_err(HubError::io("opening", path))?;
    SerializedFileReader::new(file).map_err(|e| err(path, e.to_string()))
}

/// Number of rows in a parquet file (from its footer).
pub fn row_count(path: &Path) -> Result<u64, HubError> {
    Ok(open(path)?.metadata().file_metadata().num_rows().max(0) as u64)
}

/// The top-level column names of a parquet file, in order.
pub fn column_names(path: &Path) -> Result<Vec<String>, HubError> {
    let reader = open(path)?;
    let names = reader
        .metadata()
        .file_metadata()
        .schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    Ok(names)
}

/// The rows of `columns` only (a projection), in file order.
fn rows(path: &Path, columns: &[&str]) -> Result<Vec<Row>, HubError> {
    let reader = open(path)?;
    let schema = reader.metadata().file_metadata().schema();
    let mut fields = Vec::with_capacity(columns.len());
    for c in columns {
        let f = schema
            .get_fields()
            .iter()
            .find(|f| f.name() == *c)
            .ok_or_else(|| {
                let known: Vec<&str> = schema.get_fields().iter().map(|f| f.name()).collect();
                err(
                    path,
                    format!("no column `{c}` (columns: {})", known.join(", ")),
                )
            })?;
        fields.push(f.clone());
    }
    let projection = Type::group_type_builder(schema.name())
        .with_fields(fields)
        .build()
        .map_err(|e| err(path, e.to_string()))?;
    let iter = reader
        .get_row_iter(Some(projection))
        .map_err(|e| err(path, e.to_string()))?;
    iter.map(|r| r.map_err(|e| err(path, e.to_string())))
        .collect()
}

fn field<'a>(row: &'a Row, name: &str) -> Option<&'a Field> {
    row.get_column_iter()
        .find(|(n, _)| n.as_str() == name)
        .map(|(_, f)| f)
}

/// Reads an image-classification file in the Hub schema (`image` struct of PNG bytes and
/// path, integer `label`) into a grey-scale image set; every image must have one size.
pub fn read_image_set(
    path: &Path,
    image_column: &str,
    label_column: &str,
) -> Result<ImageSet, HubError> {
    let rows = rows(path, &[image_column, label_column])?;
    let mut set = ImageSet {
        rows: 0,
        cols: 0,
        pixels: Vec::new(),
        labels: Vec::with_capacity(rows.len()),
    };
    for (i, row) in rows.iter().enumerate() {
        let bytes = match field(row, image_column) {
            Some(Field::Group(image)) => match field(image, "bytes") {
                Some(Field::Bytes(b)) => b.data(),
                other => {
                    return Err(err(
                        path,
                        format!("row {i}: `{image_column}.bytes` is {other:?}, expected binary image bytes"),
                    ))
                }
            },
            Some(Field::Bytes(b)) => b.data(),
            other => {
                return Err(err(
                    path,
                    format!("row {i}: `{image_column}` is {other:?}, expected an Image struct {{bytes, path}}"),
                ))
            }
        };
        let label = match field(row, label_column) {
            Some(Field::Long(v)) => *v,
            Some(Field::Int(v)) => i64::from(*v),
            Some(Field::Short(v)) => i64::from(*v),
            Some(Field::Byte(v)) => i64::from(*v),
            Some(Field::UByte(v)) => i64::from(*v),
            other => {
                return Err(err(
                    path,
                    format!("row {i}: `{label_column}` is {other:?}, expected an integer class"),
                ))
            }
        };
        let label = u8::try_from(label)
            .map_err(|_| err(path, format!("row {i}: label {label} is outside 0..=255")))?;
        let (rows_, cols, pixels) = decode_grey_png(bytes)
            .map_err(|m| err(path, format!("row {i}: `{image_column}`: {m}")))?;
        if i == 0 {
            set.rows = rows_;
            set.cols = cols;
            set.pixels.reserve(rows.len() * rows_ * cols);
        } else if (rows_, cols) != (set.rows, set.cols) {
            return Err(err(
                path,
                format!(
                    "row {i}: `{image_column}` is {rows_}×{cols}, earlier ones {}×{}",
                    set.rows, set.cols
                ),
            ));
        }
        set.pixels.extend_from_slice(&pixels);
        set.labels.push(label);
    }
    Ok(set)
}

/// Decodes a PNG into 8-bit grey pixels: (rows, cols, pixels).
pub fn decode_grey_png(bytes: &[u8]) -> Result<(usize, usize, Vec<u8>), String> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder
        .read_info()
        .map_err(|e| format!("not a readable PNG: {e}"))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| "PNG too large".to_owned())?;
    let mut buf = vec![0u8; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("not a readable PNG: {e}"))?;
    buf.truncate(info.buffer_size());
    let (rows, cols) = (info.height as usize, info.width as usize);
    let pixels = match (info.color_type, info.bit_depth) {
        (png::ColorType::Grayscale, png::BitDepth::Eight) => buf,
        (png::ColorType::Grayscale, png::BitDepth::Sixteen) => buf.chunks_exact(2).map(|c| c[0]).collect(),
        (color, depth) => {
            return Err(format!(
                "{color:?} {depth:?} PNG: only grey-scale images fit an ImageSet (read colour sets another way)"
            ))
        }
    };
    Ok((rows, cols, pixels))
}

/// Reads numeric columns (scalars or fixed-length lists) as `f64`.
pub fn read_numeric(path: &Path, columns: &[&str]) -> Result<Vec<NumericColumn>, HubError> {
    let rows = rows(path, columns)?;
    let mut out: Vec<NumericColumn> = columns
        .iter()
        .map(|c| NumericColumn {
            name: (*c).to_owned(),
            width: 0,
            values: Vec::with_capacity(rows.len()),
        })
        .collect();
    for (i, row) in rows.iter().enumerate() {
        for col in &mut out {
            let f = field(row, &col.name)
                .ok_or_else(|| err(path, format!("row {i}: no `{}`", col.name)))?;
            let before = col.values.len();
            match f {
                Field::ListInternal(list) => {
                    for (j, e) in list.elements().iter().enumerate() {
                        let v = scalar(e).ok_or_else(|| {
                            err(
                                path,
                                format!("row {i}: `{}`[{j}] is {e:?}, expected a number", col.name),
                            )
                        })?;
                        col.values.push(v);
                    }
                }
                other => {
                    let v = scalar(other).ok_or_else(|| {
                        err(
                            path,
                            format!("row {i}: `{}` is {other:?}, expected a number", col.name),
                        )
                    })?;
                    col.values.push(v);
                }
            }
            let width = col.values.len() - before;
            if i == 0 {
                col.width = width;
            } else if width != col.width {
                return Err(err(
                    path,
                    format!(
                        "row {i}: `{}` has {width} values, earlier rows {}",
                        col.name, col.width
                    ),
                ));
            }
        }
    }
    Ok(out)
}

fn scalar(f: &Field) -> Option<f64> {
    Some(match *f {
        Field::Bool(b) => f64::from(u8::from(b)),
        Field::Byte(v) => f64::from(v),
        Field::Short(v) => f64::from(v),
        Field::Int(v) => f64::from(v),
        Field::Long(v) => v as f64,
        Field::UByte(v) => f64::from(v),
        Field::UShort(v) => f64::from(v),
        Field::UInt(v) => f64::from(v),
        Field::ULong(v) => v as f64,
        Field::Float16(v) => f64::from(v),
        Field::Float(v) => f64::from(v),
        Field::Double(v) => v,
        _ => return None,
    })
}
