//! Per-cell claims, for several hosts writing one results folder (a Slurm job array on a
//! shared filesystem) where the folder's `flock` ([`crate::lock`]) cannot serve: `flock` is
//! not reliable across NFS clients, and a whole-folder lock would let one task run at a time.
//!
//! A claim is the file `<results>/claims/<cell id>.claim`, created with `O_EXCL` (exactly one
//! creator wins, on any filesystem with atomic exclusive create), holding who claimed the
//! cell (host, pid, Slurm job and array task) and a heartbeat time that the holder refreshes
//! by rewriting the file (a temporary file renamed over it, so the claim never disappears
//! meanwhile). A claim is taken over when
//! - its holder ran on this host and that pid is gone (a crash between claim and record), or
//! - its heartbeat is older than the stated timeout and its holder is not a live process on
//!   this host (another host's task that died, or lost the filesystem), or
//! - the caller's `ended` check says the holder's Slurm job has ended;
//!
//! and never while its holder is a live process on this host. A takeover first creates
//! `<cell id>.takeover` with `O_EXCL`, re-reads the claim under it and replaces it only if
//! it is still the stale one, so two hosts that both found it stale cannot both win.
//! Finishing removes the claim after the record is in place; a crash anywhere before that
//! leaves a claim that the rules above hand to the next task.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};
use mtl_reports::host::{alive, name as host_name};

/// Folder of the claims in a results folder.
pub const CLAIMS_DIR: &str = "claims";

/// Who holds a claim, and since when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    /// Slurm job id, when the holder runs under Slurm: `<array job>_<task>` for a task of a
    /// job array (as `squeue` shows it and `scancel` takes it), else `SLURM_JOB_ID`.
    pub job: Option<String>,
    /// Slurm array task id (`SLURM_ARRAY_TASK_ID`).
    pub array_task: Option<String>,
    /// When the cell was claimed and when the holder last said it is alive (Unix seconds).
    pub claimed_unix: f64,
    pub heartbeat_unix: f64,
}

impl Holder {
    /// This process, now: host name, pid and the Slurm ids from the environment.
    pub fn this_process() -> Self {
        let now = now_unix();
        Self {
            host: host_name(),
            pid: std::process::id(),
            job: slurm_job(),
            array_task: std::env::var("SLURM_ARRAY_TASK_ID").ok(),
            claimed_unix: now,
            heartbeat_unix: now,
        }
    }

    /// `host H pid P[ job J][ task T]`, as messages and the journal name a holder.
    pub fn describe(&self) -> String {
        let mut out = format!("host {} pid {}", self.host, self.pid);
        if let Some(job) = &self.job {
            out.push_str(&format!(" job {job}"));
        }
        if let Some(task) = &self.array_task {
            out.push_str(&format!(" task {task}"));
        }
        out
    }

    /// Seconds since the holder's last heartbeat.
    pub fn heartbeat_age_s(&self) -> f64 {
        (now_unix() - self.heartbeat_unix).max(0.0)
    }

    /// Whether the holder is a live process on this host (then its claim is never taken).
    fn alive_here(&self) -> bool {
        self.host == host_name() && alive(self.pid)
    }

    /// Why the claim may be taken over, or `None` while it holds.
    fn stale(&self, rules: &Rules<'_>) -> Option<Takeover> {
        if self.alive_here() {
            return None;
        }
        if self.host == host_name() {
            return Some(Takeover::HolderGone);
        }
        if let (Some(job), Some(ended)) = (&self.job, rules.job_ended) {
            if ended(job) {
                return Some(Takeover::JobEnded);
            }
        }
        (now_unix() - self.heartbeat_unix > rules.timeout_s).then_some(Takeover::HeartbeatTimeout)
    }
}

/// Why a claim was taken over (the journal says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takeover {
    /// Its holder ran on this host and is gone.
    HolderGone,
    /// Its heartbeat is older than the timeout.
    HeartbeatTimeout,
    /// Its Slurm job has ended.
    JobEnded,
}

impl std::fmt::Display for Takeover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Takeover::HolderGone => "its process on this host is gone",
            Takeover::HeartbeatTimeout => "its heartbeat stopped",
            Takeover::JobEnded => "its Slurm job has ended",
        })
    }
}

/// When a claim counts as abandoned.
pub struct Rules<'a> {
    /// Seconds without a heartbeat after which another host's claim is taken over.
    pub timeout_s: f64,
    /// Whether a Slurm job has ended (e.g. by `squeue`); `None` skips the check.
    pub job_ended: Option<&'a dyn Fn(&str) -> bool>,
}

/// The outcome of trying to claim a cell.
#[derive(Debug)]
pub enum Attempt {
    /// This process holds the cell now (after taking over an abandoned claim, if said).
    Claimed(Claim, Option<(Holder, Takeover)>),
    /// Another holder has it.
    Held(Holder),
}

/// A claim this process holds; [`Claim::finish`] removes it once the record is written.
#[derive(Debug)]
pub struct Claim {
    path: PathBuf,
    holder: Holder,
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The Slurm job this process runs in (see [`Holder::job`]).
fn slurm_job() -> Option<String> {
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
        (Some(array), Some(task)) => Some(format!("{array}_{task}")),
        _ => var("SLURM_JOB_ID"),
    }
}

/// The claim file of `cell` in `results`.
pub fn claim_path(results: &Path, cell: &str) -> PathBuf {
    results.join(CLAIMS_DIR).join(format!("{cell}.claim"))
}

/// Reads the holder of a claim file; `None` when there is none (or it vanished meanwhile).
pub fn read_holder(path: &Path) -> Result<Option<Holder>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Config {
                path: path.display().to_string(),
                message: format!(
                    "not a claim file ({e}); if no task is running, delete it to free the cell"
                ),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("reading claim", path)(e)),
    }
}

/// Creates `path` holding `holder`, failing with `AlreadyExists` when it exists. The content
/// is written to a private file first and hard-linked into place (atomic, and exclusive like
/// `O_EXCL`, NFS included), so no reader ever sees a claim half written.
fn create_exclusive(path: &Path, holder: &Holder) -> std::io::Result<()> {
    let tmp = private_temp(path);
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        let text = serde_json::to_string(holder).expect("a holder serialises");
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

/// A temporary name beside `path` that no other process or thread uses.
fn private_temp(path: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path
        .file_name()
        .map_or("claim".into(), |n| n.to_string_lossy());
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Claims `cell` of `results` for `holder` under `rules`.
pub fn acquire(results: &Path, cell: &str, holder: Holder, rules: &Rules<'_>) -> Result<Attempt> {
    let path = claim_path(results, cell);
    let dir = results.join(CLAIMS_DIR);
    std::fs::create_dir_all(&dir).map_err(Error::io("creating claims folder", &dir))?;
    loop {
        match create_exclusive(&path, &holder) {
            Ok(()) => return Ok(Attempt::Claimed(Claim { path, holder }, None)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("creating claim", &path)(e)),
        }
        let Some(current) = read_holder(&path)? else {
            continue; // released meanwhile: try again
        };
        let Some(why) = current.stale(rules) else {
            return Ok(Attempt::Held(current));
        };
        match take_over(&path, &current, &holder, rules)? {
            Some(claim) => return Ok(Attempt::Claimed(claim, Some((current, why)))),
            None => {
                return Ok(Attempt::Held(
                    read_holder(&path)?.unwrap_or(current), // someone else took it over
                ));
            }
        }
    }
}

/// Replaces the stale claim of `stale` by one of `holder` (under the takeover guard, and only
/// if the claim is still `stale`), unless another process is doing the same or already did.
fn take_over(
    path: &Path,
    stale: &Holder,
    holder: &Holder,
    rules: &Rules<'_>,
) -> Result<Option<Claim>> {
    let guard = path.with_extension("takeover");
    match create_exclusive(&guard, holder) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // A takeover in progress; or left by a crash in the middle of one, which the
            // same rules release.
            if let Some(other) = read_holder(&guard).ok().flatten() {
                if other.stale(rules).is_some() {
                    let _ = std::fs::remove_file(&guard);
                }
            }
            return Ok(None);
        }
        Err(e) => return Err(Error::io("creating takeover guard", &guard)(e)),
    }
    let result = (|| {
        if read_holder(path)?.as_ref() != Some(stale) {
            return Ok(None); // changed since we read it: not ours to take
        }
        // Renamed over the stale claim: the path never disappears, so no exclusive create
        // can slip in between.
        let claim = Claim {
            path: path.to_owned(),
            holder: holder.clone(),
        };
        claim.write()?;
        Ok(Some(claim))
    })();
    let _ = std::fs::remove_file(&guard);
    result
}

impl Claim {
    /// Who holds it (this process).
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// Says this process is alive: rewrites the heartbeat (temporary file renamed over the
    /// claim, so the claim never disappears).
    pub fn heartbeat(&mut self) -> Result<()> {
        if !self.still_ours()? {
            return Err(Error::Internal(format!(
                "the claim {} was taken over while this process held it (its heartbeat \
                 stalled past the timeout); another task may train the cell too",
                self.path.display()
            )));
        }
        self.holder.heartbeat_unix = now_unix();
        self.write()
    }

    /// Whether the claim file still names this claim's holder (not a holder that took it
    /// over after this one's heartbeat stalled).
    fn still_ours(&self) -> Result<bool> {
        Ok(read_holder(&self.path)?.is_some_and(|h| {
            h.host == self.holder.host
                && h.pid == self.holder.pid
                && h.claimed_unix == self.holder.claimed_unix
        }))
    }

    /// Replaces the claim file by this claim (a temporary file renamed over it).
    fn write(&self) -> Result<()> {
        let tmp = private_temp(&self.path);
        std::fs::write(
            &tmp,
            serde_json::to_string(&self.holder).expect("serialises"),
        )
        .map_err(Error::io("writing heartbeat", &tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(Error::io("replacing claim", &self.path))
    }

    /// Keeps the claim alive from a background thread, which rewrites the heartbeat every
    /// `interval` until [`Alive::finish`] (or the process ends: a killed holder's heartbeat
    /// stops with it, which is what the timeout rule detects).
    pub fn keep_alive(self, interval: std::time::Duration) -> Alive {
        let claim = std::sync::Arc::new(std::sync::Mutex::new(self));
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let beating = std::sync::Arc::clone(&claim);
        let thread = std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(interval)
            {
                if let Ok(mut c) = beating.lock() {
                    if let Err(e) = c.heartbeat() {
                        tracing::warn!(claim = %c.path.display(), error = %e, "heartbeat failed");
                    }
                }
            }
        });
        Alive {
            claim,
            stop,
            thread,
        }
    }

    /// Releases the cell: its record is written (or its failure recorded). A claim that
    /// another holder took over meanwhile is left to it.
    pub fn finish(self) -> Result<()> {
        if !self.still_ours()? {
            return Ok(()); // taken over meanwhile: the claim is its new holder's
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("removing claim", &self.path)(e)),
        }
    }
}

/// A claim kept alive by its heartbeat thread.
#[derive(Debug)]
pub struct Alive {
    claim: std::sync::Arc<std::sync::Mutex<Claim>>,
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Alive {
    /// Stops the heartbeat and releases the cell.
    pub fn finish(self) -> Result<()> {
        let _ = self.stop.send(());
        let _ = self.thread.join();
        let claim = std::sync::Arc::try_unwrap(self.claim)
            .map_err(|_| Error::Internal("a claim outlived its heartbeat".into()))?
            .into_inner()
            .map_err(|_| Error::Internal("claim lock poisoned".into()))?;
        claim.finish()
    }
}

#[cfg(test)]
mod tests;
