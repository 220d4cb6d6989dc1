//! The real hf-hub client against a Hub-compatible server on 127.0.0.1: fetch, verify, load,
//! and every way a cached file can be wrong. No request leaves the loopback interface.

use std::path::Path;
use std::time::{Duration, Instant};

use mtl_datasets::hub::fetch::{fetch, Action};
use mtl_datasets::hub::parquet_file::read_image_set;
use mtl_datasets::hub::testing::{
    commit_id, hub_manifest, png_grey, sha256_hex, write_image_parquet, FixtureFile, FixtureRepo,
    HubServer, Serve,
};
use mtl_datasets::hub::{open_manifest, BodyKind, HubError, HubOptions, Manifest, RepoCache};

const REPO: &str = "fixture-org/tiny-images";

/// A repo with a Hub-schema parquet file of 6 grey 4×5 images and a small CSV.
fn fixture_repo(dir: &Path) -> FixtureRepo {
    let images: Vec<(Vec<u8>, i64)> = (0..6u8)
        .map(|i| {
            let pixels: Vec<u8> = (0..20u8)
                .map(|p| p.wrapping_mul(13).wrapping_add(i * 40))
                .collect();
            (png_grey(4, 5, &pixels), i64::from(i % 3))
        })
        .collect();
    let parquet = dir.join("train.parquet");
    write_image_parquet(&parquet, &images);
    FixtureRepo {
        repo: REPO.into(),
        commit: commit_id("tiny-images"),
        branches: vec!["main".into()],
        files: vec![
            FixtureFile::new("data/train/0000.parquet", std::fs::read(&parquet).unwrap()),
            FixtureFile::new(
                "meta.csv",
                b"id,label\n0,0\n1,1\n2,2\n3,0\n4,1\n5,2\n".to_vec(),
            ),
        ],
    }
}

struct Setup {
    _tmp: tempfile::TempDir,
    server: HubServer,
    opts: HubOptions,
    repo: FixtureRepo,
}

fn setup(serve: &[(&str, Serve)]) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let mut repo = fixture_repo(tmp.path());
    for (path, s) in serve {
        repo.files
            .iter_mut()
            .find(|f| f.path == *path)
            .unwrap()
            .serve = *s;
    }
    let server = HubServer::start(vec![repo.clone()]);
    let opts = HubOptions {
        cache_dir: Some(tmp.path().join("hub")),
        endpoint: Some(server.endpoint().to_owned()),
        offline: false,
        manifests: None,
    };
    Setup {
        _tmp: tmp,
        server,
        opts,
        repo,
    }
}

fn pinned(repo: &FixtureRepo) -> Manifest {
    Manifest::from_toml(&hub_manifest("tiny-images", repo, "main", true), "fixture").unwrap()
}

fn offline(opts: &HubOptions) -> HubOptions {
    HubOptions {
        offline: true,
        ..opts.clone()
    }
}

#[test]
fn fetch_verify_and_load_through_the_real_client() {
    let s = setup(&[]);
    let m = pinned(&s.repo);
    let snap = open_manifest(&m, &s.opts).unwrap();
    assert_eq!(snap.revision, s.repo.commit);
    assert_eq!(
        snap.files,
        s.repo
            .files
            .iter()
            .map(|f| f.data_file())
            .collect::<Vec<_>>()
    );

    // The standard cache layout: relative snapshot links into sha256-named blobs.
    let cache = RepoCache::new(s.opts.cache_dir.as_ref().unwrap(), REPO);
    assert!(cache
        .folder()
        .ends_with("datasets--fixture-org--tiny-images"));
    for f in &s.repo.files {
        let link = cache.snapshot_file(&s.repo.commit, &f.path);
        let target = std::fs::read_link(&link).unwrap();
        assert!(target.is_relative(), "{target:?}");
        assert!(
            target.ends_with(Path::new("blobs").join(sha256_hex(&f.bytes))),
            "{target:?}"
        );
        assert_eq!(std::fs::read(&link).unwrap(), f.bytes);
    }

    // Load what was fetched.
    let set = read_image_set(&snap.path("data/train/0000.parquet"), "image", "label").unwrap();
    assert_eq!((set.len(), set.rows, set.cols), (6, 4, 5));
    assert_eq!(set.labels, [0, 1, 2, 0, 1, 2]);
    assert_eq!(set.image(1)[..3], [40, 53, 66]);

    // A second open, even offline, needs no request.
    let before = s.server.requests().len();
    assert_eq!(open_manifest(&m, &offline(&s.opts)).unwrap(), snap);
    assert_eq!(open_manifest(&m, &s.opts).unwrap(), snap);
    assert_eq!(s.server.requests().len(), before);
    assert!(
        s.server
            .requests()
            .iter()
            .all(|r| r.contains(&s.repo.commit)),
        "requests at the pinned commit only"
    );
}

fn fetch_error(serve: Serve) -> HubError {
    let s = setup(&[("meta.csv", serve)]);
    let err = open_manifest(&pinned(&s.repo), &s.opts).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("meta.csv"), "{msg}");
    assert!(msg.contains("mtlbench data fetch tiny-images"), "{msg}");
    err
}

#[test]
fn truncated_body_is_a_size_error() {
    let err = fetch_error(Serve::Truncated(10));
    assert!(
        matches!(
            err,
            HubError::SizeMismatch {
                expected: 33,
                actual: 10,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn same_size_corruption_is_a_hash_error() {
    let err = fetch_error(Serve::FlipByte(12));
    match &err {
        HubError::HashMismatch {
            expected, actual, ..
        } => {
            assert_ne!(expected, actual);
            assert!(err.to_string().contains(expected.as_str()));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn html_error_page_stored_as_blob_is_detected() {
    let err = fetch_error(Serve::Html);
    assert!(
        matches!(
            err,
            HubError::ErrorBody {
                kind: BodyKind::Html,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("HTML"), "{err}");
}

#[test]
fn json_error_body_stored_as_blob_is_detected() {
    let err = fetch_error(Serve::JsonError);
    assert!(
        matches!(
            err,
            HubError::ErrorBody {
                kind: BodyKind::Json,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("Entry not found"), "{err}");
}

#[test]
fn zero_length_blob_is_detected() {
    let err = fetch_error(Serve::Empty);
    assert!(
        matches!(err, HubError::ZeroLength { expected: 33, .. }),
        "{err}"
    );
}

#[test]
fn damage_in_the_cache_is_reported_then_repaired_by_fetch() {
    let s = setup(&[]);
    let m = pinned(&s.repo);
    open_manifest(&m, &s.opts).unwrap();
    let cache = RepoCache::new(s.opts.cache_dir.as_ref().unwrap(), REPO);
    let csv = &s.repo.files[1];
    let blob = cache.blob(&sha256_hex(&csv.bytes));

    // Truncated blob: a size error, offline or online, before anything uses it.
    std::fs::write(&blob, &csv.bytes[..5]).unwrap();
    for opts in [offline(&s.opts), s.opts.clone()] {
        let err = open_manifest(&m, &opts).unwrap_err();
        assert!(
            matches!(err, HubError::SizeMismatch { actual: 5, .. }),
            "{err}"
        );
    }
    // `data fetch` re-downloads it.
    let out = fetch(&m, &s.opts, None).unwrap();
    assert_eq!(out.actions, [Action::Cached, Action::Repaired]);
    open_manifest(&m, &offline(&s.opts)).unwrap();

    // Dangling link: the blob is gone.
    std::fs::remove_file(&blob).unwrap();
    let err = open_manifest(&m, &offline(&s.opts)).unwrap_err();
    match &err {
        HubError::DanglingSymlink { link, target, .. } => {
            assert_eq!(*link, cache.snapshot_file(&s.repo.commit, "meta.csv"));
            assert_eq!(*target, blob);
        }
        other => panic!("{other}"),
    }
    assert!(
        err.to_string().contains("mtlbench data fetch tiny-images"),
        "{err}"
    );
    let out = fetch(&m, &s.opts, None).unwrap();
    assert_eq!(out.actions, [Action::Cached, Action::Repaired]);
    assert_eq!(open_manifest(&m, &offline(&s.opts)).unwrap().files.len(), 2);
}

#[test]
fn offline_with_an_empty_cache_fails_fast_and_says_what_to_run() {
    let s = setup(&[]);
    let start = Instant::now();
    let err = open_manifest(&pinned(&s.repo), &offline(&s.opts)).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    match &err {
        HubError::NotInCache { looked, .. } => {
            assert!(
                looked.starts_with(s.opts.cache_dir.as_ref().unwrap()),
                "{looked:?}"
            );
            assert!(err.to_string().contains(&looked.display().to_string()));
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("offline mode"), "{err}");
    assert!(
        err.to_string().contains("mtlbench data fetch tiny-images"),
        "{err}"
    );
    assert!(s.server.requests().is_empty(), "{:?}", s.server.requests());
    // `data fetch` refuses offline too, without a request.
    assert!(matches!(
        fetch(&pinned(&s.repo), &offline(&s.opts), None),
        Err(HubError::Offline { .. })
    ));
    assert!(s.server.requests().is_empty());
}

#[test]
fn first_fetch_of_an_unpinned_manifest_resolves_the_branch_and_locks_digests() {
    let s = setup(&[]);
    let m = Manifest::from_toml(
        &hub_manifest("tiny-images", &s.repo, "main", false),
        "fixture",
    )
    .unwrap();
    assert!(m.pins().is_none());
    // Before any fetch: not pinned, with the command that pins it.
    let err = open_manifest(&m, &offline(&s.opts)).unwrap_err();
    assert!(matches!(err, HubError::NotPinned { .. }), "{err}");
    assert!(
        err.to_string().contains("mtlbench data fetch tiny-images"),
        "{err}"
    );

    let out = fetch(&m, &s.opts, None).unwrap();
    assert_eq!(out.pins.revision, s.repo.commit);
    assert_eq!(
        out.pins.files,
        s.repo
            .files
            .iter()
            .map(|f| f.data_file())
            .collect::<Vec<_>>()
    );
    let lock = out.lock_written.expect("a lock is written");
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(
        text.contains(&s.repo.commit) && text.contains(&sha256_hex(&s.repo.files[0].bytes)),
        "{text}"
    );
    let cache = RepoCache::new(s.opts.cache_dir.as_ref().unwrap(), REPO);
    assert_eq!(
        cache.read_ref("main").unwrap().as_deref(),
        Some(s.repo.commit.as_str())
    );
    let reqs = s.server.requests();
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("GET /api/datasets/fixture-org/tiny-images/revision/main")),
        "{reqs:?}"
    );

    // From now on the lock is the pin, offline included.
    let snap = open_manifest(&m, &offline(&s.opts)).unwrap();
    assert_eq!(snap.files, out.pins.files);
    let again = fetch(&m, &s.opts, None).unwrap();
    assert!(again.lock_written.is_none());
    assert_eq!(again.actions, [Action::Cached, Action::Cached]);
}

#[test]
fn first_fetch_checks_bytes_against_the_hub_digest() {
    // LFS file: the ETag is the sha256; a plain file: the ETag is git's blob id.
    for lfs in [true, false] {
        let tmp = tempfile::tempdir().unwrap();
        let mut repo = fixture_repo(tmp.path());
        repo.files[1].lfs = lfs;
        repo.files[1].serve = Serve::FlipByte(3);
        let server = HubServer::start(vec![repo.clone()]);
        let opts = HubOptions {
            cache_dir: Some(tmp.path().join("hub")),
            endpoint: Some(server.endpoint().to_owned()),
            ..HubOptions::default()
        };
        let m = Manifest::from_toml(
            &hub_manifest("tiny-images", &repo, "main", false),
            "fixture",
        )
        .unwrap();
        let err = fetch(&m, &opts, None).unwrap_err();
        assert!(
            matches!(err, HubError::HashMismatch { .. }),
            "lfs={lfs}: {err}"
        );
        if !lfs {
            assert!(err.to_string().contains("git blob id"), "{err}");
        }
        let cache = RepoCache::new(opts.cache_dir.as_ref().unwrap(), REPO);
        assert!(
            !cache.lock_path("tiny-images").exists(),
            "no lock for unverified bytes"
        );
    }
}

#[test]
fn include_patterns_select_files_at_the_resolved_commit() {
    let s = setup(&[]);
    let text = hub_manifest("tiny-images", &s.repo, "main", false)
        .split("\n[[files]]")
        .next()
        .unwrap()
        .replace(
            "branch = \"main\"\n",
            "branch = \"main\"\ninclude = [\"**/*.parquet\"]\n",
        );
    let m = Manifest::from_toml(&text, "fixture").unwrap();
    let out = fetch(&m, &s.opts, None).unwrap();
    let paths: Vec<&str> = out.pins.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["data/train/0000.parquet"]);

    let none = text.replace("**/*.parquet", "**/*.arrow");
    let err = fetch(
        &Manifest::from_toml(&none, "fixture").unwrap(),
        &s.opts,
        None,
    )
    .unwrap_err();
    assert!(matches!(err, HubError::NoSuchFile { .. }), "{err}");
}

#[test]
fn revisions_are_never_silently_replaced() {
    let s = setup(&[]);
    let m = pinned(&s.repo);
    let other = "f".repeat(40);
    let err = fetch(&m, &s.opts, Some(&other)).unwrap_err();
    assert!(matches!(err, HubError::RevisionConflict { .. }), "{err}");
    assert!(err.is_config());

    // An unknown commit: the endpoint says so, quickly, and nothing is locked.
    let unpinned = Manifest::from_toml(
        &hub_manifest("tiny-images", &s.repo, "main", false),
        "fixture",
    )
    .unwrap();
    let start = Instant::now();
    let err = fetch(&unpinned, &s.opts, Some(&other)).unwrap_err();
    assert!(matches!(err, HubError::Fetch { .. }), "{err}");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(err.to_string().contains(s.server.endpoint()), "{err}");
}
