//! Provenance stamped into every record: versions, commit, target, dependencies, device,
//! threads; and the process's peak memory.

use candle_core::{Device, DeviceLocation};
use mtl_reports::record::Stamp;

/// Name of a device as records show it: `cpu`, `cuda:0`, `metal:0`.
pub fn device_name(device: &Device) -> String {
    match device.location() {
        DeviceLocation::Cpu => "cpu".into(),
        DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

/// The stamp of this build running on `device`.
pub fn stamp(device: &Device) -> Stamp {
    Stamp {
        mtlbench_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: env!("MTLBENCH_GIT_COMMIT").into(),
        git_dirty: git_dirty(),
        rustc: env!("MTLBENCH_RUSTC").into(),
        target: env!("MTLBENCH_TARGET").into(),
        candle: env!("MTLBENCH_CANDLE").into(),
        device: device_name(device),
        threads: candle_core::utils::get_num_threads(),
        dependencies: env!("MTLBENCH_DEPENDENCIES")
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, version)| (name.to_owned(), version.to_owned()))
            .collect(),
    }
}

/// The code paths whose changes make a build dirty: the Rust sources and the manifests. Data,
/// configurations and documentation are recorded by other fields or do not change results.
pub const CODE_PATHS: [&str; 3] = [
    ":(top,glob)**/*.rs",
    ":(top,glob)**/Cargo.toml",
    ":(top)Cargo.lock",
];

/// Whether this binary's code differs from its commit: as the build saw it, or as the source
/// tree it was built from shows now. The build script reruns only when git's HEAD or index
/// change, so an edit that was never added would otherwise leave a clean stamp; the tree is
/// asked once per process, and only while it is still at the build's commit (a binary run
/// elsewhere, without its tree, keeps the build's answer).
fn git_dirty() -> bool {
    static DIRTY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DIRTY.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        env!("MTLBENCH_GIT_DIRTY") == "true"
            || code_changed(&root, env!("MTLBENCH_GIT_COMMIT")).unwrap_or(false)
    })
}

/// Whether the code of the git work tree at `root` differs from `commit` (tracked changes or
/// untracked, unignored files under [`CODE_PATHS`]); `None` when `root` is not at `commit` or
/// git cannot say.
pub fn code_changed(root: &std::path::Path, commit: &str) -> Option<bool> {
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    if git(&["rev-parse", "HEAD"])? != commit {
        return None;
    }
    let mut status = vec!["status", "--porcelain", "--untracked-files=normal", "--"];
    status.extend(CODE_PATHS);
    Some(!git(&status)?.is_empty())
}

/// Peak resident memory of this process, bytes: Linux's `VmHWM` (since the process started
/// or since the last [`reset_peak_rss`]), else the `getrusage` high-water mark; 0 where the
/// platform says neither.
pub fn peak_rss_bytes() -> u64 {
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        });
    if let Some(bytes) = hwm {
        return bytes;
    }
    // SAFETY: getrusage fills the zeroed struct we own.
    let (r, usage) = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        (libc::getrusage(libc::RUSAGE_SELF, &mut usage), usage)
    };
    if r != 0 {
        return 0;
    }
    let max = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    // Linux reports KiB, macOS bytes.
    if cfg!(target_os = "macos") {
        max
    } else {
        max * 1024
    }
}

/// Resets the process's peak-memory counter to the current resident size (Linux:
/// `/proc/self/clear_refs`), so that [`peak_rss_bytes`] measures from now on; false where the
/// platform cannot.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Checks a device name (`cpu`, `cuda` or `cuda:N`) without opening the device; returns the
/// CUDA ordinal, if any.
pub fn check_device_name(name: &str) -> std::result::Result<Option<usize>, String> {
    match name {
        "cpu" => Ok(None),
        "cuda" => Ok(Some(0)),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => Ok(Some(n)),
            Some(Err(_)) => Err(format!(
                "bad GPU ordinal in `{other}`; use cuda:N, e.g. cuda:0"
            )),
            None => Err(format!("unknown device `{other}`; use cpu, cuda or cuda:N")),
        },
    }
}

/// Parses `cpu`, `cuda` or `cuda:N` into a device; CUDA needs the `cuda` build feature.
pub fn parse_device(name: &str) -> crate::Result<Device> {
    let bad = |message: String| crate::Error::Config {
        path: "--device".into(),
        message,
    };
    match check_device_name(name).map_err(bad)? {
        None => Ok(Device::Cpu),
        Some(ordinal) => Device::new_cuda(ordinal).map_err(|e| {
            let fix = if cfg!(feature = "cuda") {
                "check that an NVIDIA GPU and driver are visible (nvidia-smi)"
            } else {
                "this binary was built without CUDA: rebuild with `--features cuda`"
            };
            // candle appends a backtrace when RUST_BACKTRACE is set: keep the message.
            let e = e.to_string();
            let e = e.lines().next().unwrap_or_default();
            bad(format!("cannot open {name}: {e}; {fix}"))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &std::path::Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A real repository: clean at its commit; dirty with an edited tracked source that was
    /// never added, or a new untracked source; not with a new data file or README edit; no
    /// answer once HEAD moved on.
    #[test]
    fn code_changes_are_seen_without_git_add() {
        if Command::new("git").arg("--version").output().is_err() {
            eprintln!("skipped: git is not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/lib.rs"), "fn a() {}\n").unwrap();
        std::fs::write(root.join("README.md"), "doc\n").unwrap();
        git(root, &["add", "."]);
        git(root, &["commit", "-q", "-m", "one"]);
        let commit = git(root, &["rev-parse", "HEAD"]);
        assert_eq!(code_changed(root, &commit), Some(false));
        std::fs::write(root.join("README.md"), "more doc\n").unwrap();
        std::fs::write(root.join("records.json"), "{}\n").unwrap();
        assert_eq!(code_changed(root, &commit), Some(false), "not code");
        std::fs::write(root.join("src/lib.rs"), "fn b() {}\n").unwrap();
        assert_eq!(code_changed(root, &commit), Some(true), "edited, not added");
        git(root, &["checkout", "-q", "--", "src/lib.rs"]);
        std::fs::write(root.join("src/new.rs"), "fn c() {}\n").unwrap();
        assert_eq!(code_changed(root, &commit), Some(true), "untracked source");
        assert_eq!(code_changed(root, "0000000"), None, "another commit");
    }
}
