//! Fixture builders: digests and ids as the Hub computes them, hub and import manifests, and
//! the package formats the importers read (IDX, gzip, npm tarballs, wheels, PNG, Hub-schema
//! parquet).

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::FixtureRepo;
use crate::hub::manifest::{hex, import_revision};
use crate::DataFile;

/// Lower-case hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Git's blob id of bytes.
pub fn git_blob_id(bytes: &[u8]) -> String {
    use sha1::Sha1;
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    hex(&h.finalize())
}

/// A deterministic 40-hex commit id for a fixture.
pub fn commit_id(seed: &str) -> String {
    sha256_hex(seed.as_bytes())[..40].to_owned()
}

/// A hub manifest (TOML) for a fixture repo; `pinned` states commit and digests.
pub fn hub_manifest(name: &str, repo: &FixtureRepo, branch: &str, pinned: bool) -> String {
    let mut t = format!(
        "name = \"{name}\"\nrepo = \"{}\"\nbranch = \"{branch}\"\ndescription = \"fixture\"\nschema = \"fixture\"\n",
        repo.repo
    );
    if pinned {
        t.push_str(&format!("revision = \"{}\"\n", repo.commit));
    }
    t.push_str("\n[origin]\nkind = \"hub\"\n\n[[splits]]\nname = \"all\"\nrows = 1\n");
    for f in &repo.files {
        t.push_str(&format!("\n[[files]]\npath = \"{}\"\n", f.path));
        if pinned {
            t.push_str(&format!(
                "size = {}\nsha256 = \"{}\"\n",
                f.bytes.len(),
                sha256_hex(&f.bytes)
            ));
        }
    }
    t
}

/// One file of a fixture import manifest: the decoded bytes and where the package holds them.
#[derive(Debug, Clone)]
pub struct ImportFixture {
    /// Path in the cache.
    pub path: String,
    /// Decoded bytes.
    pub bytes: Vec<u8>,
    /// Member in the package.
    pub member: String,
    /// `none`, `gzip` or `zip`.
    pub decode: &'static str,
    /// Entry of an inner zip.
    pub entry: Option<String>,
    /// IDX magic to check.
    pub idx_magic: Option<u32>,
}

/// An import manifest (TOML) for fixture files, with the derived revision.
pub fn import_manifest(name: &str, repo: &str, files: &[ImportFixture]) -> String {
    let pins: Vec<DataFile> = files
        .iter()
        .map(|f| DataFile {
            path: f.path.clone(),
            size: f.bytes.len() as u64,
            sha256: sha256_hex(&f.bytes),
        })
        .collect();
    let mut t = format!(
        "name = \"{name}\"\nrepo = \"{repo}\"\nrevision = \"{}\"\ndescription = \"fixture\"\nschema = \"fixture\"\n\n\
         [origin]\nkind = \"import\"\npackage = \"fixture\"\nobtain = \"make-fixture\"\npath = \"fixture\"\n\n\
         [[splits]]\nname = \"all\"\nrows = 1\n",
        import_revision(repo, &pins)
    );
    for (f, p) in files.iter().zip(&pins) {
        t.push_str(&format!(
            "\n[[files]]\npath = \"{}\"\nsize = {}\nsha256 = \"{}\"\nmember = \"{}\"\ndecode = \"{}\"\n",
            p.path, p.size, p.sha256, f.member, f.decode
        ));
        if let Some(e) = &f.entry {
            t.push_str(&format!("entry = \"{e}\"\n"));
        }
        if let Some(m) = f.idx_magic {
            t.push_str(&format!("idx_magic = {m}\n"));
        }
    }
    t
}

/// IDX images (magic 2051): `n` images of `rows × cols` with pixel `(i*7 + p*3) % 256`.
pub fn idx_images(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [2051, n, rows, cols] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    for i in 0..n as usize {
        for p in 0..(rows * cols) as usize {
            v.push(((i * 7 + p * 3) % 256) as u8);
        }
    }
    v
}

/// IDX labels (magic 2049).
pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&2049u32.to_be_bytes());
    v.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

/// Gzip-compresses bytes.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("gzip to memory");
    e.finish().expect("gzip to memory")
}

/// A gzip tarball (as `npm pack` makes) of `(path, bytes)` entries.
pub fn tgz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, path, *bytes)
            .expect("tar to memory");
    }
    gzip(&builder.into_inner().expect("tar to memory"))
}

/// A deflate zip (a wheel) of `(path, bytes)` entries.
pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (path, bytes) in entries {
        w.start_file(*path, options).expect("zip to memory");
        w.write_all(bytes).expect("zip to memory");
    }
    w.finish().expect("zip to memory").into_inner()
}

/// An 8-bit grey PNG.
pub fn png_grey(rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, cols, rows);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().expect("png header");
        w.write_image_data(pixels).expect("png data");
    }
    out
}

/// A snappy-compressed parquet writer for `schema` at `path`, with optional key-value metadata.
fn parquet_writer(
    path: &Path,
    schema: parquet::schema::types::Type,
    metadata: Option<Vec<parquet::file::metadata::KeyValue>>,
) -> parquet::file::writer::SerializedFileWriter<std::fs::File> {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .set_key_value_metadata(metadata)
        .build();
    let file = std::fs::File::create(path).expect("create parquet");
    parquet::file::writer::SerializedFileWriter::new(
        file,
        std::sync::Arc::new(schema),
        std::sync::Arc::new(props),
    )
    .expect("parquet writer")
}

/// Writes a parquet file in the Hub's image-classification schema
/// (`image: struct {bytes, path}`, `label: int64`), snappy-compressed, with a `huggingface`
/// metadata entry naming the features as the `datasets` library does.
pub fn write_image_parquet(path: &Path, images: &[(Vec<u8>, i64)]) {
    use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    use parquet::file::metadata::KeyValue;
    use parquet::schema::parser::parse_message_type;

    let schema = parse_message_type(
        "message schema {
            optional group image {
                optional binary bytes;
                optional binary path (STRING);
            }
            optional int64 label;
        }",
    )
    .expect("schema");
    let features = r#"{"info": {"features": {"image": {"_type": "Image"}, "label": {"names": ["0","1","2","3","4","5","6","7","8","9"], "_type": "ClassLabel"}}}}"#;
    let mut writer = parquet_writer(
        path,
        schema,
        Some(vec![KeyValue::new(
            "huggingface".into(),
            features.to_owned(),
        )]),
    );
    let mut rg = writer.next_row_group().expect("row group");
    let n = images.len();
    // image.bytes: present (def 2); image.path: null inside a present struct (def 1).
    let mut col = rg.next_column().expect("column").expect("image.bytes");
    let bytes: Vec<ByteArray> = images
        .iter()
        .map(|(b, _)| ByteArray::from(b.clone()))
        .collect();
    col.typed::<ByteArrayType>()
        .write_batch(&bytes, Some(&vec![2; n]), None)
        .expect("write bytes");
    col.close().expect("close");
    let mut col = rg.next_column().expect("column").expect("image.path");
    col.typed::<ByteArrayType>()
        .write_batch(&[], Some(&vec![1; n]), None)
        .expect("write path");
    col.close().expect("close");
    let mut col = rg.next_column().expect("column").expect("label");
    let labels: Vec<i64> = images.iter().map(|(_, l)| *l).collect();
    col.typed::<Int64Type>()
        .write_batch(&labels, Some(&vec![1; n]), None)
        .expect("write labels");
    col.close().expect("close");
    rg.close().expect("close row group");
    writer.close().expect("close parquet");
}

/// Writes a numeric parquet file: `energy: double`, `atoms: int64`, `flag: boolean` and
/// `pos: list<float>` (3 values per row), all required except the list's nullable wrapper.
pub fn write_numeric_parquet(
    path: &Path,
    energy: &[f64],
    atoms: &[i64],
    flag: &[bool],
    pos: &[[f32; 3]],
) {
    use parquet::data_type::{BoolType, DoubleType, FloatType, Int64Type};
    use parquet::schema::parser::parse_message_type;

    let schema = parse_message_type(
        "message schema {
            required double energy;
            required int64 atoms;
            required boolean flag;
            optional group pos (LIST) {
                repeated group list {
                    optional float element;
                }
            }
        }",
    )
    .expect("schema");
    let mut writer = parquet_writer(path, schema, None);
    let mut rg = writer.next_row_group().expect("row group");
    let mut col = rg.next_column().expect("column").expect("energy");
    col.typed::<DoubleType>()
        .write_batch(energy, None, None)
        .expect("write");
    col.close().expect("close");
    let mut col = rg.next_column().expect("column").expect("atoms");
    col.typed::<Int64Type>()
        .write_batch(atoms, None, None)
        .expect("write");
    col.close().expect("close");
    let mut col = rg.next_column().expect("column").expect("flag");
    col.typed::<BoolType>()
        .write_batch(flag, None, None)
        .expect("write");
    col.close().expect("close");
    let mut col = rg.next_column().expect("column").expect("pos");
    let values: Vec<f32> = pos.iter().flatten().copied().collect();
    let def = vec![3i16; values.len()];
    let rep: Vec<i16> = (0..values.len())
        .map(|i| if i % 3 == 0 { 0 } else { 1 })
        .collect();
    col.typed::<FloatType>()
        .write_batch(&values, Some(&def), Some(&rep))
        .expect("write");
    col.close().expect("close");
    rg.close().expect("close row group");
    writer.close().expect("close parquet");
}
