//! End-to-end: the real benchmarks through the binary — the shipped image subset trains with
//! the convnet and stamps its provenance; the Hub's parquet (served on 127.0.0.1) is fetched,
//! pinned, verified and trained on; data that needs the Hub cache fails with the fix.

mod util;

use mtl_datasets::hub::testing::{
    commit_id, png_grey, sha256_hex, write_image_parquet, FixtureFile, FixtureRepo, HubServer,
};
use mtl_datasets::hub::RepoCache;
use mtl_datasets::image_sources::{FASHION_HUB, MNIST_HUB};
use mtl_datasets::raw::ImageSet;
use util::{Run, Workdir};

/// `mtlbench --threads 1 run --dataset multi-fashion` followed by `extra`.
fn multi_fashion_run<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--threads", "1", "run", "--dataset", "multi-fashion"];
    args.extend_from_slice(extra);
    args
}

#[test]
fn multi_fashion_subset_trains_lenet_and_records_its_files_and_seed() {
    let w = Workdir::new();
    let run = w
        .run(&multi_fashion_run(&[
            "--data",
            "max_train=128",
            "--data",
            "pair_seed=3",
            "--model",
            "lenet-xs",
            "--method",
            "mgda-ub",
            "--train",
            "epochs=1",
            "--out",
            "runs",
        ]))
        .expect_code(0);
    assert!(run.stdout().contains("| left "), "{}", run.stdout());
    let records: Vec<_> = std::fs::read_dir(w.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(records.len(), 1);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&records[0]).unwrap()).unwrap();
    let d = &r["dataset"];
    assert_eq!(d["id"], "multi-fashion/subset-sener-koltun-pair3-train128");
    assert_eq!(d["revision"], "subset-v1/multi-image-v1");
    assert_eq!(d["split_seed"], 3);
    let files = d["files"].as_array().unwrap();
    assert_eq!(files.len(), 4);
    assert!(files
        .iter()
        .all(|f| f["sha256"].as_str().unwrap().len() == 64));
    assert_eq!(r["model"]["arch"], "lenet");
}

#[test]
fn convnet_on_feature_vectors_is_a_config_error() {
    let w = Workdir::new();
    let run = w
        .run(&["run", "--model", "lenet-m", "--out", "runs"])
        .expect_code(2);
    assert!(
        run.stderr().contains("needs image inputs"),
        "{}",
        run.stderr()
    );
}

#[test]
fn cache_only_benchmarks_say_how_to_fill_the_cache() {
    let w = Workdir::new();
    let run = w
        .run(&["run", "--dataset", "qm9-11", "--data", "source=subset"])
        .expect_code(2);
    assert!(
        run.stderr().contains("mtlbench data import qm9pack"),
        "{}",
        run.stderr()
    );
}

/// `set`'s first `n` images as a parquet file in the Hub's schema (PNG Image struct +
/// ClassLabel), as bytes; `label` maps each (index, label) to the stored label.
fn hub_parquet(set: &ImageSet, n: usize, label: impl Fn(usize, u8) -> i64) -> Vec<u8> {
    let rows: Vec<(Vec<u8>, i64)> = (0..n)
        .map(|i| (png_grey(28, 28, set.image(i)), label(i, set.labels[i])))
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("fixture.parquet");
    write_image_parquet(&path, &rows);
    std::fs::read(&path).unwrap()
}

/// Real Fashion-MNIST images (the shipped subset) in the Hub's parquet conversion, as
/// `zalando-datasets/fashion_mnist` at `refs/convert/parquet` like the public Hub.
fn fashion_repo() -> FixtureRepo {
    let (train, test, _) = mtl_datasets::subset::fashion().unwrap();
    FixtureRepo {
        repo: "zalando-datasets/fashion_mnist".into(),
        commit: commit_id("fashion-mnist-parquet"),
        branches: vec!["refs/convert/parquet".into()],
        files: vec![
            FixtureFile::new(FASHION_HUB.train, hub_parquet(&train, 240, |_, l| l.into())),
            FixtureFile::new(FASHION_HUB.test, hub_parquet(&test, 60, |_, l| l.into())),
        ],
    }
}

/// Real MNIST digits (the shipped subset) as `ylecun/mnist` at the manifest's pinned commit;
/// `label` maps each test image's (index, label) to the stored one.
fn mnist_repo(label: impl Fn(usize, u8) -> i64) -> FixtureRepo {
    let (digits, _) = mtl_datasets::subset::mnist().unwrap();
    let test = mtl_datasets::image_split::select(&digits, |i| i >= 2000);
    FixtureRepo {
        repo: "ylecun/mnist".into(),
        commit: "77f3279092a1c1579b2250db8eafed0ad422088c".into(),
        branches: vec!["main".into()],
        files: vec![
            FixtureFile::new(MNIST_HUB.train, hub_parquet(&digits, 240, |_, l| l.into())),
            FixtureFile::new(MNIST_HUB.test, hub_parquet(&test, 60, label)),
        ],
    }
}

/// Runs `mtlbench args…` in `w` with the Hub cache `w/hub`, the Hub at `endpoint`, the
/// built-in manifests, online or offline.
fn hub_run(w: &Workdir, endpoint: &str, args: &[&str], offline: bool) -> Run {
    let hub = w.join("hub");
    w.run_env(
        args,
        &[
            ("HF_HUB_CACHE", hub.to_str().unwrap()),
            ("HF_ENDPOINT", endpoint),
            ("MTLBENCH_OFFLINE", if offline { "1" } else { "0" }),
            ("HF_HUB_OFFLINE", "0"),
            ("MTLBENCH_MANIFESTS", ""),
        ],
    )
}

/// The one record under `w/dir`.
fn record(w: &Workdir, dir: &str) -> serde_json::Value {
    let records: Vec<_> = std::fs::read_dir(w.join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    serde_json::from_str(&std::fs::read_to_string(&records[0]).unwrap()).unwrap()
}

/// One epoch of `mlp-xs` on `dataset` with `data` parameters, the record under `out`.
fn tiny_run<'a>(dataset: &'a str, data: &[&'a str], out: &'a str) -> Vec<&'a str> {
    let mut args = vec!["--threads", "1", "run", "--dataset", dataset];
    for d in data {
        args.extend(["--data", d]);
    }
    args.extend(["--model", "mlp-xs", "--train", "epochs=1", "--out", out]);
    args
}

#[test]
fn multi_fashion_from_hub_parquet_fetches_pins_trains_and_fails_on_damage() {
    let w = Workdir::new();
    let repo = fashion_repo();
    let server = HubServer::start(vec![repo.clone()]);
    let endpoint = server.endpoint().to_owned();
    let run = |args: &[&str], offline: bool| hub_run(&w, &endpoint, args, offline);

    // Not fetched yet: the manifest has no pins, so the run says how to pin it.
    let unpinned = run(&tiny_run("multi-fashion", &["source=hub"], "early"), false).expect_code(3);
    assert!(
        unpinned
            .stderr()
            .contains("run `mtlbench data fetch fashion-mnist` once"),
        "{}",
        unpinned.stderr()
    );

    // The built-in `fashion-mnist` manifest: the first fetch resolves the branch and pins it.
    let fetch = run(&["data", "fetch", "fashion-mnist"], false).expect_code(0);
    assert!(
        fetch.stdout().contains(&format!(
            "fashion-mnist (zalando-datasets/fashion_mnist@{})",
            repo.commit
        )),
        "{}",
        fetch.stdout()
    );

    run(&tiny_run("multi-fashion", &["source=hub"], "online"), false).expect_code(0);
    let r = record(&w, "online");
    let d = &r["dataset"];
    assert_eq!(d["id"], "multi-fashion/hub-sener-koltun-pair0");
    assert_eq!(
        d["revision"],
        format!(
            "zalando-datasets/fashion_mnist@{}/multi-image-v1",
            repo.commit
        )
    );
    let files: Vec<(String, String)> = d["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = repo
        .files
        .iter()
        .map(|f| (f.path.clone(), sha256_hex(&f.bytes)))
        .collect();
    assert_eq!(files, want);

    // Offline with the cache filled and the server gone: the same data, the same record.
    drop(server);
    run(&tiny_run("multi-fashion", &["source=hub"], "offline"), true).expect_code(0);
    assert_eq!(record(&w, "offline")["dataset"], *d);

    // A flipped byte in the cached training parquet: exit 3 naming the file.
    let blob = RepoCache::new(&w.join("hub"), &repo.repo).blob(&want[0].1);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let failed = run(&tiny_run("multi-fashion", &["source=hub"], "damaged"), true).expect_code(3);
    assert!(
        failed.stderr().contains(FASHION_HUB.train)
            && failed.stderr().contains("sha256")
            && failed
                .stderr()
                .contains("mtlbench data fetch fashion-mnist"),
        "{}",
        failed.stderr()
    );
}

#[test]
fn full_mnist_from_the_hub_feeds_multi_mnist_and_multi_fashion_mnist() {
    let w = Workdir::new();
    let (fashion, mnist) = (fashion_repo(), mnist_repo(|_, l| l.into()));
    let server = HubServer::start(vec![fashion.clone(), mnist.clone()]);
    let run = |args: &[&str]| hub_run(&w, server.endpoint(), args, false);
    run(&["data", "fetch", "fashion-mnist", "mnist"]).expect_code(0);

    run(&tiny_run("multi-fashion-mnist", &["source=hub"], "fm")).expect_code(0);
    let d = &record(&w, "fm")["dataset"];
    assert_eq!(d["id"], "multi-fashion-mnist/hub-sener-koltun-pair0");
    assert_eq!(
        d["revision"],
        format!(
            "zalando-datasets/fashion_mnist@{}+ylecun/mnist@{}/multi-image-v1",
            fashion.commit, mnist.commit
        )
    );
    assert_eq!(d["files"].as_array().unwrap().len(), 4);

    // `multi-mnist` is the full MNIST: the Hub is its default (and only) source.
    run(&tiny_run("multi-mnist", &[], "mm")).expect_code(0);
    let d = &record(&w, "mm")["dataset"];
    assert_eq!(d["id"], "multi-mnist/hub-sener-koltun-pair0");
    assert_eq!(d["files"][1]["path"], MNIST_HUB.test);
    let wrong = run(&tiny_run("multi-mnist-10k", &["source=hub"], "x")).expect_code(2);
    assert!(
        wrong.stderr().contains("`multi-mnist`"),
        "{}",
        wrong.stderr()
    );
}

#[test]
fn hub_parquet_with_a_label_out_of_range_fails_naming_file_and_field() {
    let w = Workdir::new();
    let mnist = mnist_repo(|i, l| if i == 7 { 12 } else { l.into() });
    let server = HubServer::start(vec![mnist]);
    let run = |args: &[&str]| hub_run(&w, server.endpoint(), args, false);
    run(&["data", "fetch", "mnist"]).expect_code(0);
    let failed = run(&tiny_run("multi-mnist", &[], "runs")).expect_code(3);
    let stderr = failed.stderr();
    for want in [MNIST_HUB.test, "`label`", "label of image 7", "found 12"] {
        assert!(stderr.contains(want), "{want}: {stderr}");
    }
}
