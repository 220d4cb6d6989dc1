//! Downloads with the `hf-hub` client (1.0.0, pinned exactly), then verification.
//!
//! hf-hub stores a response body as the blob whatever it holds (it checks neither the final
//! size nor a hash, nor the status of the body request), so every file is verified here after
//! each download. Files are always requested at a 40-hex commit, never at a branch name, except
//! once when a manifest without a pinned commit is fetched for the first time: then the branch
//! is resolved to a commit through the Hub API, the repo tree at that commit gives the files and
//! their sizes, each download is checked against the digest the Hub serves as its ETag (the
//! sha256 of an LFS file, or git's blob id of a small file), and the result is recorded in a
//! lock file that later runs verify against.

use std::path::PathBuf;
use std::time::Duration;

use hf_hub::repository::RepoTreeEntry;
use hf_hub::{HFClientBuilder, HFClientSync, HFRepositorySync, RepoTypeDataset};

use super::cache::{git_blob_sha1_file, sha256_file, verify_file, FileState, RepoCache};
use super::manifest::{glob, is_hex, Lock, Manifest, Pins};
use super::{HubError, HubOptions};
use crate::DataFile;

/// What `mtlbench data fetch` did to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Already in the cache and verified.
    Cached,
    /// Downloaded and verified.
    Downloaded,
    /// Was damaged; downloaded again and verified.
    Repaired,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::Cached => "cached",
            Action::Downloaded => "downloaded",
            Action::Repaired => "repaired",
        })
    }
}

/// The result of fetching one manifest.
#[derive(Debug, Clone)]
pub struct FetchOutcome {
    /// The commit and files now verified in the cache.
    pub pins: Pins,
    /// The lock written by this fetch (first fetch of a manifest without digests).
    pub lock_written: Option<PathBuf>,
    /// What happened to each file, in pin order.
    pub actions: Vec<Action>,
}

/// `mtlbench data fetch NAME [--revision COMMIT]`: downloads what the cache lacks or holds
/// damaged, verifies everything, and pins a manifest without digests on its first fetch.
pub fn fetch(
    m: &Manifest,
    opts: &HubOptions,
    revision: Option<&str>,
) -> Result<FetchOutcome, HubError> {
    if m.is_import() {
        return Err(HubError::ImportOnly {
            name: m.name.clone(),
            remedy: m.remedy(),
        });
    }
    if opts.offline {
        return Err(HubError::Offline {
            name: m.name.clone(),
            reason: "--offline, MTLBENCH_OFFLINE or HF_HUB_OFFLINE".into(),
            remedy: "unset it to fetch, or run without fetching on what the cache holds".into(),
        });
    }
    if let (Some(pinned), Some(requested)) = (&m.revision, revision) {
        if pinned != requested {
            return Err(HubError::RevisionConflict {
                name: m.name.clone(),
                pinned: pinned.clone(),
                requested: requested.to_owned(),
            });
        }
    }
    let cache = RepoCache::new(&opts.cache_root(), &m.repo);
    let client = Client::new(m, opts)?;
    let (pins, lock_written) = match m.pins() {
        Some(p) => (p, None),
        None => {
            let requested = revision.map(str::to_owned).or_else(|| m.revision.clone());
            match cache.read_lock(&m.name)? {
                Some(lock)
                    if lock.selection == m.selection_digest()
                        && requested
                            .as_ref()
                            .is_none_or(|r| *r == lock.revision || *r == lock.resolved_from) =>
                {
                    (lock.pins(), None)
                }
                _ => {
                    let from = requested.unwrap_or_else(|| m.branch.clone());
                    let lock = pin_first_fetch(m, &cache, &client, &from)?;
                    let path = cache.write_lock(&lock)?;
                    (lock.pins(), Some(path))
                }
            }
        }
    };
    let remedy = "downloading it again".to_owned();
    let mut actions = Vec::with_capacity(pins.files.len());
    for f in &pins.files {
        let path = cache.snapshot_file(&pins.revision, &f.path);
        let action = match verify_file(&m.repo, f, &path, &remedy) {
            Ok(FileState::Verified) if lock_written.is_some() => Action::Downloaded,
            Ok(FileState::Verified) => Action::Cached,
            Ok(FileState::Missing) => {
                client.download_verified(&cache, &pins.revision, f, false)?;
                Action::Downloaded
            }
            Err(damage) => {
                tracing::warn!("{damage}");
                client.download_verified(&cache, &pins.revision, f, true)?;
                Action::Repaired
            }
        };
        actions.push(action);
    }
    Ok(FetchOutcome {
        pins,
        lock_written,
        actions,
    })
}

/// Downloads `files` (missing from the cache) at the pinned commit and verifies them; used by
/// [`super::open`] when online.
pub(crate) fn download_verified(
    m: &Manifest,
    cache: &RepoCache,
    opts: &HubOptions,
    pins: &Pins,
    files: &[DataFile],
) -> Result<(), HubError> {
    let client = Client::new(m, opts)?;
    for f in files {
        client.download_verified(cache, &pins.revision, f, false)?;
    }
    Ok(())
}

/// The remedy for bad bytes just downloaded.
fn refetch_remedy(name: &str) -> String {
    format!(
        "the endpoint served these bytes: run `mtlbench data fetch {name}` again, and if it \
         persists check `--endpoint`/`HF_ENDPOINT` or a proxy between you and the Hub"
    )
}

/// The first fetch of a manifest without digests: resolve, list, download, check, record.
fn pin_first_fetch(
    m: &Manifest,
    cache: &RepoCache,
    client: &Client,
    from: &str,
) -> Result<Lock, HubError> {
    let commit = client.resolve(from)?;
    let tree = client.tree(&commit)?;
    let entries: Vec<(String, u64)> = tree
        .into_iter()
        .filter_map(|e| match e {
            RepoTreeEntry::File { path, size, .. } => Some((path, size)),
            RepoTreeEntry::Directory { .. } => None,
        })
        .collect();
    let mut selected: Vec<(String, u64)> = Vec::new();
    if m.include.is_empty() {
        for f in &m.files {
            let entry =
                entries
                    .iter()
                    .find(|(p, _)| *p == f.path)
                    .ok_or_else(|| HubError::NoSuchFile {
                        repo: m.repo.clone(),
                        revision: commit.clone(),
                        pattern: f.path.clone(),
                    })?;
            selected.push(entry.clone());
        }
    } else {
        for pattern in &m.include {
            let before = selected.len();
            // Checked when the manifest was loaded; a malformed glob would select nothing.
            let matcher = glob(pattern).ok();
            selected.extend(
                entries
                    .iter()
                    .filter(|(p, _)| matcher.as_ref().is_some_and(|m| m.is_match(p)))
                    .cloned(),
            );
            if selected.len() == before {
                return Err(HubError::NoSuchFile {
                    repo: m.repo.clone(),
                    revision: commit.clone(),
                    pattern: pattern.clone(),
                });
            }
        }
        selected.sort();
        selected.dedup();
    }
    let remedy = refetch_remedy(&m.name);
    let mut files = Vec::with_capacity(selected.len());
    for (path, size) in selected {
        let snapshot = cache.snapshot_file(&commit, &path);
        let damaged = std::fs::symlink_metadata(&snapshot).is_ok();
        client.download(&commit, &path, damaged)?;
        let pinned = m.file(&path).and_then(|f| f.sha256.clone());
        let etag = std::fs::read_link(&snapshot)
            .ok()
            .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()));
        // The sha256 to hold the bytes to: the manifest's, else the LFS sha256 the Hub serves as ETag.
        let expected_sha = pinned.or_else(|| etag.clone().filter(|e| is_hex(e, 64)));
        let probe = DataFile {
            path: path.clone(),
            size,
            sha256: match &expected_sha {
                Some(s) => s.clone(),
                None => sha256_file_or_empty(&snapshot),
            },
        };
        if verify_file(&m.repo, &probe, &snapshot, &remedy)? == FileState::Missing {
            return Err(missing_after_download(
                &m.repo, &m.name, &commit, &path, &snapshot,
            ));
        }
        if expected_sha.is_none() {
            match etag.as_deref().filter(|e| is_hex(e, 40)) {
                Some(git_id) => {
                    let actual = git_blob_sha1_file(&snapshot)?;
                    if actual != git_id {
                        return Err(HubError::HashMismatch {
                            repo: m.repo.clone(),
                            file: path.clone(),
                            path: snapshot.clone(),
                            expected: format!("git blob id {git_id}"),
                            actual: format!("git blob id {actual}"),
                            remedy,
                        });
                    }
                }
                None => tracing::warn!(
                    "{}: `{path}` has no content digest to check against (ETag {etag:?}); its size \
                     matched and its sha256 is recorded as fetched",
                    m.repo
                ),
            }
        }
        files.push(probe);
    }
    if !is_hex(from, 40) {
        // What hf-hub and huggingface_hub record when they resolve a branch.
        cache.write_ref(from, &commit)?;
    }
    Ok(Lock {
        name: m.name.clone(),
        repo: m.repo.clone(),
        selection: m.selection_digest(),
        resolved_from: from.to_owned(),
        revision: commit,
        files,
    })
}

fn sha256_file_or_empty(path: &std::path::Path) -> String {
    sha256_file(path).unwrap_or_default()
}

fn missing_after_download(
    repo: &str,
    name: &str,
    commit: &str,
    file: &str,
    looked: &std::path::Path,
) -> HubError {
    HubError::NotInCache {
        repo: repo.to_owned(),
        revision: commit.to_owned(),
        file: file.to_owned(),
        looked: looked.to_path_buf(),
        why: " after a download that reported success".into(),
        remedy: refetch_remedy(name),
    }
}

/// An hf-hub client bound to one manifest's repo.
struct Client {
    repo_id: String,
    name: String,
    endpoint: String,
    repo: HFRepositorySync<RepoTypeDataset>,
}

impl Client {
    fn new(m: &Manifest, opts: &HubOptions) -> Result<Self, HubError> {
        let mut builder = HFClientBuilder::new()
            .cache_dir(opts.cache_root())
            .retry_max_attempts(2)
            .retry_base_delay(Duration::from_millis(100));
        if let Some(endpoint) = &opts.endpoint {
            builder = builder.endpoint(endpoint.clone());
        }
        let endpoint = opts.endpoint_name();
        let client: HFClientSync = builder.build_sync().map_err(|e| {
            HubError::fetch(
                &m.repo,
                "nothing (building the client)".into(),
                &endpoint,
                e,
            )
        })?;
        let (owner, name) = m.repo.split_once('/').unwrap_or(("", &m.repo));
        Ok(Self {
            repo_id: m.repo.clone(),
            name: m.name.clone(),
            endpoint,
            repo: client.dataset(owner, name),
        })
    }

    fn err(&self, what: String) -> impl FnOnce(hf_hub::HFError) -> HubError + '_ {
        move |e| HubError::fetch(&self.repo_id, what, &self.endpoint, e)
    }

    /// The commit a revision (branch, tag or commit) names.
    fn resolve(&self, revision: &str) -> Result<String, HubError> {
        if is_hex(revision, 40) {
            return Ok(revision.to_owned());
        }
        let info = self
            .repo
            .info()
            .revision(revision.to_owned())
            .send()
            .map_err(self.err(format!("the commit of `{revision}`")))?;
        match info.sha {
            Some(sha) if is_hex(&sha, 40) => Ok(sha),
            other => Err(HubError::fetch(
                &self.repo_id,
                format!("the commit of `{revision}`"),
                &self.endpoint,
                hf_hub::HFError::Other(format!("the Hub answered no commit id ({other:?})")),
            )),
        }
    }

    fn tree(&self, commit: &str) -> Result<Vec<RepoTreeEntry>, HubError> {
        self.repo
            .list_tree()
            .revision(commit.to_owned())
            .recursive(true)
            .send()
            .map_err(self.err(format!("the file list at {commit}")))
    }

    fn download(&self, commit: &str, path: &str, force: bool) -> Result<PathBuf, HubError> {
        tracing::info!("{}: downloading {path} at {commit}", self.repo_id);
        self.repo
            .download_file()
            .filename(path.to_owned())
            .revision(commit.to_owned())
            .force_download(force)
            .send()
            .map_err(self.err(format!("`{path}` at {commit}")))
    }

    /// Downloads one pinned file and verifies it. A damaged blob left by an earlier run may be
    /// reused by hf-hub, so a failed check is retried once with a forced download.
    fn download_verified(
        &self,
        cache: &RepoCache,
        commit: &str,
        f: &DataFile,
        force: bool,
    ) -> Result<(), HubError> {
        let remedy = refetch_remedy(&self.name);
        let snapshot = cache.snapshot_file(commit, &f.path);
        let mut force = force;
        loop {
            self.download(commit, &f.path, force)?;
            match verify_file(&self.repo_id, f, &snapshot, &remedy) {
                Ok(FileState::Verified) => return Ok(()),
                Ok(FileState::Missing) => {
                    return Err(missing_after_download(
                        &self.repo_id,
                        &self.name,
                        commit,
                        &f.path,
                        &snapshot,
                    ))
                }
                Err(_) if !force => force = true,
                Err(e) => return Err(e),
            }
        }
    }
}
