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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::DataFile;

mod fixtures;

pub use fixtures::*;

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
