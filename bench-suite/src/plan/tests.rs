//! Tests of sweep files and plans.

use std::collections::BTreeSet;

use super::*;
use crate::dropout::Dropout;

#[test]
fn default_sweep_is_valid() {
    let plan = SweepPlan::from_toml(DEFAULT_SWEEP, "default").unwrap();
    assert!(plan.seeds.len() >= 2);
    assert!(plan.models.len() >= 3);
    let names: Vec<_> = plan.methods.iter().map(|m| m.name.as_str()).collect();
    for m in ["uniform", "mgda", "mgda-ub"] {
        assert!(names.contains(&m), "{names:?}");
    }
}

#[test]
fn the_readme_sweep_example_is_valid() {
    let readme = include_str!("../../../README.md");
    let start = readme.find("```toml\n").expect("README has a TOML example") + "```toml\n".len();
    let end = start + readme[start..].find("```").expect("closed code block");
    let plan = SweepPlan::from_toml(&readme[start..end], "README.md").unwrap();
    assert!(plan.stl && plan.train.diagnostics);
    assert!(plan.methods.len() >= 5);
}

#[test]
fn the_sener_koltun_study_files_parse() {
    // Parsed without their data (the full files read the Hub cache); `check` opens it.
    macro_rules! study {
        ($($name:literal),*) => {
            [$(($name, include_str!(concat!("../../../reports/studies/sener-koltun/", $name)))),*]
        };
    }
    for (name, text) in study!(
        "multifashion-sk.toml",
        "multifashion-sk-quick.toml",
        "multifashion-15ep.toml",
        "multifashion-15ep-quick.toml",
        "multimnist10k-sk.toml",
        "multimnist10k-sk-quick.toml",
        "multimnist10k-15ep.toml",
        "multimnist10k-15ep-quick.toml"
    ) {
        let spec = SweepSpec::parse(text, name).unwrap();
        let sk = name.contains("-sk");
        assert_eq!(spec.train.dropout != Dropout::None, sk, "{name}");
        assert_eq!(spec.train.lr_decay_every, if sk { 10 } else { 0 }, "{name}");
        // Sener & Koltun's six configurations; the 15-epoch MultiMNIST-10k part adds every
        // other multi-task method of the registry (all but the user-weighted `fixed`, the
        // searched `tuned` and `autoscale`, and the `stl` baseline).
        let names: BTreeSet<&str> = spec.methods.iter().map(|m| m.named.name.as_str()).collect();
        if name.starts_with("multimnist10k-15ep") {
            let registry: BTreeSet<&str> = mtl_methods::METHODS
                .iter()
                .map(|m| m.name)
                .filter(|n| !["fixed", "autoscale", "stl"].contains(n))
                .collect();
            assert_eq!(names, registry, "{name}");
            assert_eq!(spec.methods.len(), 6 + 21, "{name}");
        } else {
            assert_eq!(spec.methods.len(), 6, "{name}");
        }
    }
}

#[test]
fn cell_ids_are_stable_and_distinct() {
    let plan = SweepPlan::from_toml(DEFAULT_SWEEP, "default").unwrap();
    let ids: BTreeSet<String> = plan.cells().iter().map(|c| c.cell_id()).collect();
    assert_eq!(ids.len(), plan.cells().len());
    assert_eq!(plan.cells()[0].cell_id(), plan.cells()[0].clone().cell_id());
}

const BASE: &str = "seeds = [0]\nmodels = [\"mlp-s\"]\n[dataset]\nname = \"synthetic-linear\"\ntrain = 64\nval = 16\ntest = 16\n";

#[test]
fn list_values_expand_into_a_grid_but_list_parameters_stay_whole() {
    let text = format!(
        "{BASE}[[methods]]\nname = \"mgda-ub\"\nnormalization = [\"l2\", \"loss+\", \"none\"]\n\
         [[methods]]\nname = \"fixed\"\nweights = [[0.25, 0.25, 0.25, 0.25], [0.7, 0.1, 0.1, 0.1]]\n\
         [[methods]]\nname = \"fixed\"\nweights = [0.4, 0.2, 0.2, 0.2]\n"
    );
    let plan = SweepPlan::from_toml(&text, "t.toml").unwrap();
    let names: Vec<_> = plan.methods.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["mgda-ub", "mgda-ub", "mgda-ub", "fixed", "fixed", "fixed"]
    );
    assert_eq!(plan.methods[1].params["normalization"], "loss+");
    assert_eq!(
        plan.methods[4].params["weights"],
        serde_json::json!([0.7, 0.1, 0.1, 0.1])
    );
    assert_eq!(plan.cells().len(), 4 + 6);
}

#[test]
fn several_datasets_multiply_the_cells_with_their_own_baselines() {
    let text = "seeds = [0, 1]\nmodels = [\"mlp-s\"]\n\
        [[datasets]]\nname = \"synthetic-linear\"\ntasks = 2\ntrain = 64\nval = 16\ntest = 16\n\
        [[datasets]]\nname = \"synthetic-linear\"\ntasks = 3\ntrain = 64\nval = 16\ntest = 16\n\
        [[methods]]\nname = \"uniform\"\n";
    let plan = SweepPlan::from_toml(text, "t.toml").unwrap();
    assert_eq!(plan.datasets.len(), 2);
    assert_eq!(plan.cells().len(), (2 + 1) * 2 + (3 + 1) * 2);
    let run = &plan.cells()[2 * 2];
    assert_eq!(run.method.name, "uniform");
    assert_eq!(plan.stl_cells(run).len(), 2);
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (
            format!("{BASE}[[methods]]\nname = \"mgda\"\nnormalisation = \"l2\""),
            "methods[0]",
        ),
        (
            format!("{BASE}[[methods]]\nname = \"nope\""),
            "methods[0].name",
        ),
        (
            format!("{BASE}[train]\nlr = -1.0\n[[methods]]\nname = \"uniform\""),
            "train.lr",
        ),
        (
            format!("{BASE}[[methods]]\nname = \"fixed\"\nweights = [0.5, 0.5]"),
            "methods[0]",
        ),
        (
            format!("{BASE}epochs = 3\n[[methods]]\nname = \"uniform\""),
            "epochs",
        ),
        (
            format!("{BASE}[[methods]]\nname = \"mgda\"\nnormalization = []"),
            "methods[0].normalization",
        ),
        (
            format!("{BASE}[[methods]]\nname = \"mgda\"\nnormalization = [\"l2\", \"l3\"]"),
            "grid point normalization = \"l3\"",
        ),
        (
            format!("{BASE}[train]\ndropout = \"sener-koltun\"\n[[methods]]\nname = \"uniform\""),
            "train.dropout: dropout = \"sener-koltun\" acts on MultiLeNet",
        ),
        (
            format!("{BASE}[train]\nlr_decay = 0.85\n[[methods]]\nname = \"uniform\""),
            "train.lr_decay_every",
        ),
        (
            format!("{BASE}[[methods]]\nname = \"mgda\"\nmin_weight = 0.001"),
            "min_weight",
        ),
    ];
    for (text, want) in cases {
        let err = SweepPlan::from_toml(&text, "t.toml").unwrap_err();
        assert!(err.is_config());
        assert!(err.to_string().contains(want), "{want}: {err}");
    }
}
