//! Test support (cargo feature `testing`): a small Hub-compatible HTTP server on 127.0.0.1 for
//! the real hf-hub client, fault modes for what it serves, and builders of fixture packages
//! (IDX, gzip, npm tarballs, wheels) and Hub-schema parquet files.
//!
//! The server answers the four requests hf-hub makes here, with the headers it reads:
//! * `GET /api/datasets/{repo}/revision/{rev}` → `{"id", "sha"}` (branch → commit);
//! * `GET /api/datasets/{repo}/tree/{rev}?recursive=true` → the file list (`oid`, `size`,
//!   `path`, `lfs: {oid, size, pointerSize}` as the Hub sends it);
//! * `HEAD /datasets/{repo}/resolve/{rev}/{path}` → `ETag` (+ `X-Linked-Etag` for LFS files:
//!   the sha256; else git's blob id), `X-Repo-Commit`, `Content-Length`/`X-Linked-Size`;
//! * `GET` of the same URL → the body, faithful or damaged per [`Serve`].
//!
//! It only listens on loopback, handles one connection at a time (`Connection: close`), and
//! stops when dropped, after [`HubServer::MAX_CONNECTIONS`] connections, or after
//! [`HubServer::LIFETIME`], whichever comes first.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::manifest::{hex, import_revision};
use crate::DataFile;

/// How the server sends a file's body on `GET` (the `HEAD` always describes the true file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serve {
    /// The true bytes.
    Good,
    /// Only the first `n` bytes (a short body with a consistent `Content-Length`).
    Truncated(usize),
    /// The true length with byte `i` flipped.
    FlipByte(usize),
    /// An HTML error page with status 200 (a proxy or captive portal).
    Html,
    /// The Hub's JSON error object with status 404 (hf-hub does not check the body's status).
    JsonError,
    /// An empty body.
    Empty,
}

/// One file of a fixture repo.
#[derive(Debug, Clone)]
pub struct FixtureFile {
    /// Repo path.
    pub path: String,
    /// True bytes.
    pub bytes: Vec<u8>,
    /// Stored with LFS (ETag = sha256) or plainly (ETag = git blob id).
    pub lfs: bool,
    /// How `GET` sends it.
    pub serve: Serve,
}

impl FixtureFile {
    /// An LFS file served faithfully.
    pub fn new(path: &str, bytes: Vec<u8>) -> Self {
        Self {
            path: path.to_owned(),
            bytes,
            lfs: true,
            serve: Serve::Good,
        }
    }

    /// The pins of the true bytes.
    pub fn data_file(&self) -> DataFile {
        DataFile {
            path: self.path.clone(),
            size: self.bytes.len() as u64,
            sha256: sha256_hex(&self.bytes),
        }
    }
}

/// A fixture dataset repo: one commit, branches pointing at it, files.
#[derive(Debug, Clone)]
pub struct FixtureRepo {
    /// `owner/name`.
    pub repo: String,
    /// The 40-hex commit.
    pub commit: String,
    /// Branch names resolving to the commit (e.g. `main`, `refs/convert/parquet`).
    pub branches: Vec<String>,
    /// Files.
    pub files: Vec<FixtureFile>,
}

#[derive(Default)]
struct State {
    repos: Vec<FixtureRepo>,
    requests: Vec<String>,
}

/// A Hub-compatible HTTP server on 127.0.0.1 serving fixture repos; stops when dropped.
pub struct HubServer {
    endpoint: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HubServer {
    /// The most connections one server accepts before it stops by itself.
    pub const MAX_CONNECTIONS: usize = 2000;
    /// The longest a server runs before it stops by itself.
    pub const LIFETIME: Duration = Duration::from_secs(120);

    /// Starts serving `repos` on an ephemeral loopback port.
    pub fn start(repos: Vec<FixtureRepo>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let endpoint = format!("http://{}", listener.local_addr().expect("local addr"));
        let state = Arc::new(Mutex::new(State {
            repos,
            requests: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || serve(listener, state, stop))
        };
        Self {
            endpoint,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Every request so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.state
            .lock()
            .map(|s| s.requests.clone())
            .unwrap_or_default()
    }

    /// Changes how a file is served from now on.
    pub fn set_serve(&self, repo: &str, path: &str, serve: Serve) {
        let mut state = self.state.lock().expect("server state");
        for r in state.repos.iter_mut().filter(|r| r.repo == repo) {
            for f in r.files.iter_mut().filter(|f| f.path == path) {
                f.serve = serve;
            }
        }
    }
}

impl Drop for HubServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(listener: TcpListener, state: Arc<Mutex<State>>, stop: Arc<AtomicBool>) {
    let deadline = Instant::now() + HubServer::LIFETIME;
    let mut served = 0;
    while !stop.load(Ordering::SeqCst)
        && Instant::now() < deadline
        && served < HubServer::MAX_CONNECTIONS
    {
        match listener.accept() {
            Ok((stream, _)) => {
                served += 1;
                let _ = handle(stream, &state);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// `Content-Length` to announce (HEAD announces the true size without a body).
    length: usize,
}

impl Response {
    fn new(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            length: body.len(),
            body,
        }
    }

    fn json(status: u16, value: serde_json::Value) -> Self {
        let mut r = Self::new(status, value.to_string().into_bytes());
        r.headers
            .push(("Content-Type".into(), "application/json".into()));
        r
    }

    fn not_found(code: &str, message: &str) -> Self {
        let mut r = Self::json(404, serde_json::json!({ "error": message }));
        r.headers.push(("X-Error-Code".into(), code.into()));
        r.headers.push(("X-Error-Message".into(), message.into()));
        r
    }
}

fn handle(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                content_length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; content_length.min(1 << 20)];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("/").to_owned();
    let response = {
        let mut st = state
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?;
        st.requests.push(format!("{method} {target}"));
        route(&method, &target, &st.repos)
    };
    write_response(stream, &method, response)
}

fn write_response(mut stream: TcpStream, method: &str, r: Response) -> std::io::Result<()> {
    let reason = match r.status {
        200 => "OK",
        404 => "Not Found",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        r.status, r.length
    );
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if method != "HEAD" {
        stream.write_all(&r.body)?;
    }
    stream.flush()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn route(method: &str, target: &str, repos: &[FixtureRepo]) -> Response {
    let path = target.split('?').next().unwrap_or("");
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let seg = |i: usize| segs.get(i).map(String::as_str).unwrap_or("");
    let find_repo =
        |owner: &str, name: &str| repos.iter().find(|r| r.repo == format!("{owner}/{name}"));
    let resolve = |r: &FixtureRepo, rev: &str| {
        (rev == r.commit || r.branches.iter().any(|b| b == rev)).then(|| r.commit.clone())
    };
    let resolve_url = seg(0) == "datasets" && seg(3) == "resolve";
    match (method, seg(0), seg(1), seg(4)) {
        ("GET", "api", "datasets", "revision") => {
            let Some(r) = find_repo(seg(2), seg(3)) else {
                return Response::not_found("RepoNotFound", "Repository not found");
            };
            match resolve(r, seg(5)) {
                Some(sha) => Response::json(
                    200,
                    serde_json::json!({ "id": r.repo, "sha": sha, "private": false }),
                ),
                None => Response::not_found("RevisionNotFound", "Invalid rev id"),
            }
        }
        ("GET", "api", "datasets", "tree") => {
            let Some(r) = find_repo(seg(2), seg(3)) else {
                return Response::not_found("RepoNotFound", "Repository not found");
            };
            if resolve(r, seg(5)).is_none() {
                return Response::not_found("RevisionNotFound", "Invalid rev id");
            }
            Response::json(200, tree_json(r))
        }
        ("HEAD" | "GET", _, _, _) if resolve_url => {
            let Some(r) = find_repo(seg(1), seg(2)) else {
                return Response::not_found("RepoNotFound", "Repository not found");
            };
            let Some(commit) = resolve(r, seg(4)) else {
                return Response::not_found("RevisionNotFound", "Invalid rev id");
            };
            let file_path = segs[5.min(segs.len())..].join("/");
            let Some(f) = r.files.iter().find(|f| f.path == file_path) else {
                let mut resp = Response::not_found("EntryNotFound", "Entry not found");
                resp.headers.push(("X-Repo-Commit".into(), commit));
                return resp;
            };
            file_response(method, f, &commit)
        }
        _ => Response::not_found("NotFound", "Not found"),
    }
}

fn tree_json(r: &FixtureRepo) -> serde_json::Value {
    let mut dirs = std::collections::BTreeSet::new();
    for f in &r.files {
        let parts: Vec<&str> = f.path.split('/').collect();
        for i in 1..parts.len() {
            dirs.insert(parts[..i].join("/"));
        }
    }
    let mut entries: Vec<serde_json::Value> = dirs
        .into_iter()
        .map(|d| serde_json::json!({ "type": "directory", "oid": "0".repeat(40), "path": d }))
        .collect();
    for f in &r.files {
        let mut e = serde_json::json!({
            "type": "file",
            "oid": git_blob_id(&f.bytes),
            "size": f.bytes.len(),
            "path": f.path,
        });
        if f.lfs {
            e["lfs"] = serde_json::json!({ "oid": sha256_hex(&f.bytes), "size": f.bytes.len(), "pointerSize": 134 });
        }
        entries.push(e);
    }
    serde_json::Value::Array(entries)
}

fn file_response(method: &str, f: &FixtureFile, commit: &str) -> Response {
    let etag = if f.lfs {
        sha256_hex(&f.bytes)
    } else {
        git_blob_id(&f.bytes)
    };
    let mut headers = vec![
        ("ETag".to_owned(), format!("\"{etag}\"")),
        ("X-Repo-Commit".to_owned(), commit.to_owned()),
        ("Accept-Ranges".to_owned(), "bytes".to_owned()),
    ];
    if f.lfs {
        headers.push(("X-Linked-Etag".into(), format!("\"{etag}\"")));
        headers.push(("X-Linked-Size".into(), f.bytes.len().to_string()));
    }
    if method == "HEAD" {
        return Response {
            status: 200,
            headers,
            body: Vec::new(),
            length: f.bytes.len(),
        };
    }
    let (status, body) = match f.serve {
        Serve::Good => (200, f.bytes.clone()),
        Serve::Truncated(n) => (200, f.bytes[..n.min(f.bytes.len())].to_vec()),
        Serve::FlipByte(i) => {
            let mut b = f.bytes.clone();
            if let Some(x) = b.get_mut(i) {
                *x ^= 0x01;
            }
            (200, b)
        }
        Serve::Html => (
            200,
            b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>\n".to_vec(),
        ),
        Serve::JsonError => (404, br#"{"error":"Entry not found"}"#.to_vec()),
        Serve::Empty => (200, Vec::new()),
    };
    Response {
        status,
        headers,
        length: body.len(),
        body,
    }
}

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
