//! Helpers for end-to-end tests: a temporary working folder and the real binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A temporary folder the binary runs in; removed on drop.
pub struct Workdir {
    dir: tempfile::TempDir,
}

impl Default for Workdir {
    fn default() -> Self {
        Self::new()
    }
}

impl Workdir {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Writes a file under the folder.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, text).expect("write fixture");
        path
    }

    /// Runs `mtlbench args…` in the folder.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// Runs `mtlbench args…` in the folder with extra environment variables.
    pub fn run_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Run {
        let output = self.command(args, envs).output().expect("spawn mtlbench");
        Run { output }
    }

    /// Starts `mtlbench args…` in the folder without waiting (output captured).
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args, &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mtlbench")
    }

    fn command(&self, args: &[&str], envs: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mtlbench"));
        cmd.args(args)
            .current_dir(self.path())
            .env_remove("MTLBENCH_LOG")
            .env_remove("MTLBENCH_FAILPOINT");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd
    }

    /// Every entry under the folder, relative, sorted.
    pub fn listing(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in walk(self.path()) {
            out.push(e.strip_prefix(self.path()).unwrap().display().to_string());
        }
        out.sort();
        out
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

/// A finished run of the binary.
pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Panics with both streams unless the exit code is `code`.
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

/// `mtlbench run` on a small synthetic dataset (64 training rows, 32 validation and test
/// rows, 2 epochs) followed by `extra` flags (later flags override earlier ones).
pub fn small_run<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run", "--data", "train=64", "--data", "val=32", "--data", "test=32", "--train", "epochs=2",
    ];
    args.extend_from_slice(extra);
    args
}

/// The tiny sweep file used by several tests.
pub const TINY_SWEEP: &str = include_str!("../fixtures/tiny_sweep.toml");

/// Every record in `dir` as JSON with the `timing` field removed, by file name.
pub fn records_without_timing(dir: &Path) -> Vec<(String, serde_json::Value)> {
    records_named(dir)
        .into_iter()
        .map(|(name, mut v)| {
            v.as_object_mut().unwrap().remove("timing");
            (name, v)
        })
        .collect()
}

/// The run records (`*.json`) directly in `dir`, whole, in file-name order.
pub fn records_in(dir: &Path) -> Vec<serde_json::Value> {
    records_named(dir).into_iter().map(|(_, v)| v).collect()
}

/// The run records directly in `dir` with their file names, in file-name order.
fn records_named(dir: &Path) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            out.push((p.file_name().unwrap().to_string_lossy().into_owned(), v));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Seconds since the Unix epoch, as records write them.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Waits (up to 60 s) until `cond` holds, polling every 5 ms.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The journal of a results folder (empty if none).
pub fn journal(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("sweep-state").join("journal.log")).unwrap_or_default()
}

/// Journal lines with `event`, as cell ids.
pub fn journal_cells(dir: &Path, event: &str) -> Vec<String> {
    journal(dir)
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace().skip(1);
            (parts.next() == Some(event)).then(|| parts.next().unwrap_or("").to_owned())
        })
        .collect()
}

/// Sends `signal` (e.g. `-INT`, `-TERM`, `-KILL`) to the process with the `kill` command.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid}");
}
