//! Every committed study, end to end in its quick (CI) variant through the real binary: the
//! sweeps train, the generated tables match their snapshot, and a second invocation reuses
//! the records and regenerates the same bytes.

mod util;

use std::path::Path;

use util::Workdir;

fn studies_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/studies")
}

fn study_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(studies_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("study.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs `mtlbench study NAME --quick` into the work folder; returns the generated folder.
fn quick(w: &Workdir, name: &str) -> std::path::PathBuf {
    let studies = studies_dir();
    let run = w.run(&[
        "--threads",
        "1",
        "study",
        name,
        "--quick",
        "--quiet",
        "--studies",
        studies.to_str().unwrap(),
        "--out",
        "report",
        "--runs",
        "runs",
    ]);
    run.expect_code(0);
    w.join("report")
}

#[test]
fn every_study_regenerates_its_quick_tables_identically() {
    let names = study_names();
    assert!(!names.is_empty(), "no study.toml under reports/studies");
    for name in names {
        let w = Workdir::new();
        let out = quick(&w, &name);
        let tables = std::fs::read_to_string(out.join("tables.md")).unwrap();
        assert!(tables.contains("--quick"), "{tables}");
        assert!(std::fs::read_to_string(out.join("timing.md")).is_ok());
        insta::assert_snapshot!(format!("study-{name}-quick-tables"), tables);
        // Again: every record is reused and every file comes out byte-identical.
        let before: Vec<(String, Vec<u8>)> = files(&out);
        quick(&w, &name);
        let after = files(&out);
        let changed: Vec<&str> = before
            .iter()
            .zip(&after)
            .filter(|(a, b)| a != b && a.0 != "timing.md")
            .map(|(a, _)| a.0.as_str())
            .collect();
        assert_eq!(before.len(), after.len());
        assert!(changed.is_empty(), "{name}: {changed:?} changed");
        // Every plot the tables link is there and is an SVG.
        for link in tables
            .lines()
            .filter_map(|l| l.strip_prefix("![").and_then(|l| l.split_once("](")))
        {
            let file = link.1.trim_end_matches(')');
            let svg = std::fs::read_to_string(out.join(file)).unwrap();
            assert!(svg.contains("<svg"), "{file}");
        }
    }
}

/// The committed studies whose records are committed beside them, with the parts their
/// committed tables cover (empty: all). S2's `multifashion-sk` joins when its runs are
/// complete.
const COMMITTED: [(&str, &[&str]); 4] = [
    ("hu2023", &[]),
    ("autoscale", &[]),
    ("royer-scale", &[]),
    (
        "sener-koltun",
        &[
            "multifashion-15ep",
            "multimnist10k-15ep",
            "multimnist10k-sk",
        ],
    ),
];

#[test]
fn every_committed_study_regenerates_byte_for_byte_from_its_committed_records_without_data() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, parts) in COMMITTED {
        let w = Workdir::new();
        let committed = root.join("reports/results").join(name);
        // The page embeds the README, so the regenerated folder starts with it.
        std::fs::create_dir(w.join("out")).unwrap();
        std::fs::copy(committed.join("README.md"), w.join("out/README.md")).unwrap();
        std::fs::create_dir(w.join("no-data")).unwrap();
        let runs = root.join("reports/runs").join(name);
        let studies = studies_dir();
        let mut args = vec![
            "--threads",
            "1",
            "study",
            name,
            "--recorded-only",
            "--quiet",
            "--studies",
            studies.to_str().unwrap(),
            "--runs",
            runs.to_str().unwrap(),
            "--out",
            "out",
        ];
        for part in parts {
            args.extend(["--part", part]);
        }
        // An empty Hub cache: reading the records needs none of the studies' data.
        w.run_env(
            &args,
            &[("HF_HUB_CACHE", w.join("no-data").to_str().unwrap())],
        )
        .expect_code(0);
        let regenerated = files(&w.join("out"));
        assert!(regenerated.len() > 3, "{name}: {regenerated:?}");
        for (file, bytes) in regenerated {
            let kept = std::fs::read(committed.join(&file))
                .unwrap_or_else(|_| panic!("{name}: {file} is generated but not committed"));
            assert!(
                kept == bytes,
                "{name}: {file} differs from reports/results/{name}/{file}; regenerate it with \
                 `mtlbench study {name} --recorded-only --runs reports/runs/{name}` (with the \
                 same --part flags) and commit it"
            );
        }
    }
}

#[test]
fn an_unknown_study_is_a_configuration_error_naming_the_folder() {
    let w = Workdir::new();
    let run = w.run(&[
        "study",
        "nope",
        "--studies",
        studies_dir().to_str().unwrap(),
    ]);
    let run = run.expect_code(2);
    assert!(run.stderr().contains("nope"), "{}", run.stderr());
    assert!(w.listing().is_empty(), "nothing created: {:?}", w.listing());
}

#[test]
fn an_unknown_part_is_refused_with_the_parts_there_are() {
    let w = Workdir::new();
    let studies = studies_dir();
    let run = w
        .run(&[
            "study",
            "autoscale",
            "--part",
            "nope",
            "--studies",
            studies.to_str().unwrap(),
        ])
        .expect_code(2);
    assert!(
        run.stderr().contains("nope") && run.stderr().contains("qm9"),
        "{}",
        run.stderr()
    );
    assert!(w.listing().is_empty(), "nothing created: {:?}", w.listing());
}

#[test]
fn a_changed_sweep_file_is_refused_unless_allowed_and_then_only_its_cells_are_tabled() {
    let w = Workdir::new();
    std::fs::create_dir_all(w.join("studies/mini")).unwrap();
    let sweep = |methods: &str| {
        format!(
            "seeds = [0]\nmodels = [\"linear-w1\"]\n[dataset]\nname = \"synthetic-linear\"\n\
             tasks = 2\ndim = 4\ntrain = 64\nval = 32\ntest = 32\n[train]\nepochs = 1\n\
             batch_size = 32\n{methods}"
        )
    };
    w.write(
        "studies/mini/study.toml",
        "title = \"Mini\"\nout = \"mini-out\"\n[[parts]]\nname = \"only\"\n\
         title = \"Only\"\nsweep = \"only.toml\"\nquick = \"only.toml\"\n",
    );
    let uniform = "[[methods]]\nname = \"uniform\"\n";
    w.write(
        "studies/mini/only.toml",
        &sweep(&format!("{uniform}[[methods]]\nname = \"mgda\"\n")),
    );
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "--threads",
            "1",
            "study",
            "mini",
            "--quiet",
            "--studies",
            "studies",
        ];
        a.extend_from_slice(extra);
        a
    };
    w.run(&args(&[])).expect_code(0);
    let runs = w.join("results/studies/mini/runs/only");
    let before = records(&runs);
    // Replace mgda by fixed weights: the plan changes.
    w.write(
        "studies/mini/only.toml",
        &sweep(&format!(
            "{uniform}[[methods]]\nname = \"fixed\"\nweights = [0.25, 0.75]\n"
        )),
    );
    let refused = w.run(&args(&[])).expect_code(2);
    assert!(
        refused.stderr().contains("--allow-config-change"),
        "{}",
        refused.stderr()
    );
    w.run(&args(&["--allow-config-change"])).expect_code(0);
    let after = records(&runs);
    // The shared cells (uniform, stl) were reused byte for byte; the old mgda record stays in
    // the folder but not in the tables, which show the current cells.
    for (name, bytes) in &before {
        assert_eq!(
            after.get(name),
            Some(bytes),
            "{name} was retrained or removed"
        );
    }
    assert!(after.len() > before.len());
    let tables = std::fs::read_to_string(w.join("mini-out/tables.md")).unwrap();
    assert!(tables.contains("| fixed"), "{tables}");
    assert!(!tables.contains("| mgda"), "{tables}");
}

#[test]
fn recorded_only_tables_what_is_there_trains_nothing_and_counts_the_rest() {
    let w = Workdir::new();
    std::fs::create_dir_all(w.join("studies/mini")).unwrap();
    w.write(
        "studies/mini/study.toml",
        "title = \"Mini\"\nout = \"mini-out\"\n[[parts]]\nname = \"only\"\n\
         title = \"Only\"\nsweep = \"only.toml\"\nquick = \"only.toml\"\n",
    );
    let sweep = |methods: &str| {
        format!(
            "seeds = [0, 1]\nmodels = [\"linear-w1\"]\n[dataset]\nname = \"synthetic-linear\"\n\
             tasks = 2\ndim = 4\ntrain = 64\nval = 32\ntest = 32\n[train]\nepochs = 1\n\
             batch_size = 32\n[[methods]]\nname = \"uniform\"\n{methods}"
        )
    };
    w.write("studies/mini/only.toml", &sweep(""));
    let args = |extra: &[&'static str]| {
        let mut a = vec!["--threads", "1", "study", "mini", "--studies", "studies"];
        a.extend_from_slice(extra);
        a
    };
    // Nothing recorded yet: a clear refusal, nothing created.
    let empty = w.run(&args(&["--recorded-only"])).expect_code(2);
    assert!(
        empty.stderr().contains("without --recorded-only"),
        "{}",
        empty.stderr()
    );
    assert!(!w.join("mini-out").exists());
    w.run(&args(&["--quiet"])).expect_code(0);
    let runs = w.join("results/studies/mini/runs/only");
    let before = records(&runs);
    // A method joins the part and one seed's uniform record is gone: the look at the part
    // under way needs no --allow-config-change, trains nothing and says what it left out.
    w.write(
        "studies/mini/only.toml",
        &sweep("[[methods]]\nname = \"mgda\"\n"),
    );
    let (gone, _) = before
        .iter()
        .find(|(_, b)| {
            let text = String::from_utf8_lossy(b);
            text.contains("\"name\": \"uniform\"") && text.contains("\"seed\": 1")
        })
        .expect("uniform's seed-1 record");
    std::fs::remove_file(runs.join(gone)).unwrap();
    let look = w.run(&args(&["--recorded-only"])).expect_code(0);
    assert!(
        look.stderr()
            .contains("part only: 3 of 8 cells have no record yet"),
        "{}",
        look.stderr()
    );
    let after = records(&runs);
    assert_eq!(after.len(), before.len() - 1, "nothing was trained");
    let tables = std::fs::read_to_string(w.join("mini-out/tables.md")).unwrap();
    assert!(tables.contains("| uniform | linear-w1 | 1 "), "{tables}");
    assert!(!tables.contains("| mgda"), "{tables}");
}

/// The record files of a runs folder by name.
fn records(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}
