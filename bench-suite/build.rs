//! Stamps the build with its git commit, dirty flag, rustc, target and candle version, so
//! every run record says exactly what produced it.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() {
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    // The code paths of `stamp::CODE_PATHS`: sources and manifests, untracked ones included.
    let dirty = git(&[
        "status",
        "--porcelain",
        "--untracked-files=normal",
        "--",
        ":(top,glob)**/*.rs",
        ":(top,glob)**/Cargo.toml",
        ":(top)Cargo.lock",
    ])
    .map(|s| !s.is_empty())
    .unwrap_or(false);
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let lock: toml::Table = std::fs::read_to_string("../Cargo.lock")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_default();
    let packages = lock.get("package").and_then(toml::Value::as_array);
    // The first `[[package]]` of that name: the lowest version where several are locked.
    let version = |name: &str| {
        packages
            .into_iter()
            .flatten()
            .find(|p| p.get("name").and_then(toml::Value::as_str) == Some(name))
            .and_then(|p| p.get("version")?.as_str())
            .unwrap_or("unknown")
            .to_owned()
    };
    let candle = version("candle-core");
    // The dependencies whose code computes the numbers in a record.
    let deps: Vec<String> = [
        "candle-core",
        "candle-nn",
        "gemm",
        "half",
        "rand",
        "rand_chacha",
        "rand_distr",
        "serde_json",
    ]
    .iter()
    .map(|name| format!("{name}={}", version(name)))
    .collect();
    println!("cargo:rustc-env=MTLBENCH_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=MTLBENCH_GIT_DIRTY={dirty}");
    println!("cargo:rustc-env=MTLBENCH_RUSTC={rustc_version}");
    println!(
        "cargo:rustc-env=MTLBENCH_TARGET={}",
        std::env::var("TARGET").unwrap_or_default()
    );
    println!("cargo:rustc-env=MTLBENCH_CANDLE={candle}");
    println!("cargo:rustc-env=MTLBENCH_DEPENDENCIES={}", deps.join(","));
    // A commit moves the branch's ref, not HEAD (which names the branch) and not always the
    // index: without the ref, a build right after a commit kept the commit before it.
    let mut watched: Vec<String> = ["../.git/HEAD", "../.git/index", "../Cargo.lock"]
        .map(String::from)
        .to_vec();
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(format!("../.git/{branch}"));
    }
    // Only a file that exists: cargo reruns the script on every build for a missing one.
    if std::path::Path::new("../.git/packed-refs").exists() {
        watched.push("../.git/packed-refs".into());
    }
    for path in watched {
        println!("cargo:rerun-if-changed={path}");
    }
}
