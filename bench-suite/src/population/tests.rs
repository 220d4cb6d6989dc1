//! A stacked population against the same members trained one by one.

use candle_core::Device;
use mtl_datasets::loaded::Loaded;
use mtl_datasets::tabular::{TabularData, TabularSplit};
use mtl_datasets::{LossKind, MetricKind, Targets, Task, TaskKind};
use mtl_methods::uniform::FixedWeights;
use mtl_methods::Weights;
use mtl_reports::record::RunStatus;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::config::TrainConfig;
use crate::model::ModelSpec;
use crate::trainer::TrainedRun;

/// Three tasks, one per loss: a regression target, a 3-way class and a binary label, all
/// functions of 5 seeded features; `nan_at` puts a NaN into that training row's target.
fn dataset(nan_at: Option<usize>) -> Loaded {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut split = |rows: usize, nan: Option<usize>| {
        let x: Vec<f32> = (0..rows * 5).map(|_| rng.random_range(-1.0..1.0)).collect();
        let row = |r: usize| &x[r * 5..r * 5 + 5];
        let mut real: Vec<f32> = (0..rows).map(|r| row(r)[0] * 2.0 - row(r)[1]).collect();
        if let Some(r) = nan {
            real[r] = f32::NAN;
        }
        let class = (0..rows)
            .map(|r| ((row(r)[2] + 1.0) * 1.5).clamp(0.0, 2.0) as u32)
            .collect();
        let binary = (0..rows)
            .map(|r| u32::from(row(r)[3] > row(r)[4]))
            .collect();
        TabularSplit {
            x: x.clone(),
            dim: 5,
            targets: vec![
                Targets::Real(real),
                Targets::Labels(class),
                Targets::Labels(binary),
            ],
        }
    };
    let binary = Task {
        name: "b".into(),
        kind: TaskKind::Binary,
        loss: LossKind::Bce,
        metric: MetricKind::Accuracy,
    };
    Loaded {
        id: "stack-test".into(),
        revision: "1".into(),
        tasks: vec![Task::regression("r"), Task::classification("c", 3), binary],
        input_shape: vec![5],
        data: TabularData {
            splits: [split(200, nan_at), split(60, None), split(60, None)],
        },
        files: Vec::new(),
        split_seed: None,
    }
}

/// The members' weights, as their methods hand them to the trainer.
fn weights() -> Vec<Weights> {
    [[1.0, 1.0, 1.0], [0.6, 0.3, 0.1], [0.05, 0.15, 0.8]]
        .iter()
        .map(|w| Weights::normalized(w).unwrap())
        .collect()
}

fn lambdas() -> Vec<Vec<f64>> {
    weights().iter().map(|w| w.as_slice().to_vec()).collect()
}

/// The three members, from `seeds` (one seed: one initialisation and batch order for all).
fn sessions<'a>(ds: &'a Loaded, train: &TrainConfig, seeds: [u64; 3]) -> Vec<Session<'a>> {
    let spec = ModelSpec::parse("mlp-w12").unwrap();
    weights()
        .into_iter()
        .zip(seeds)
        .map(|(w, seed)| {
            let method = Box::new(FixedWeights::new(w));
            Session::new(ds, &spec, method, train, seed, &Device::Cpu).unwrap()
        })
        .collect()
}

/// Each member trained alone, and the same members stacked (in calls of `chunk` steps).
fn both(
    ds: &Loaded,
    train: &TrainConfig,
    chunk: u64,
    seeds: [u64; 3],
) -> (Vec<TrainedRun>, Vec<TrainedRun>) {
    let alone = sessions(ds, train, seeds)
        .into_iter()
        .map(|mut s| {
            s.train_steps(s.total_steps(), &mut || {}).unwrap();
            s.finish().unwrap()
        })
        .collect();
    let mut stacked = sessions(ds, train, seeds);
    let total = stacked[0].total_steps();
    let refs: Vec<&Session<'_>> = stacked.iter().collect();
    assert_eq!(why_not_stacked(&refs), None);
    let mut done = 0;
    while done < total {
        let mut group: Vec<&mut Session<'_>> = stacked.iter_mut().collect();
        let taken = train_stacked(ds, &mut group, &lambdas(), train, chunk).unwrap();
        if taken < chunk.min(total - done) {
            // A member diverged; the rest goes on one by one.
            for s in &mut stacked {
                s.train_steps(total, &mut || {}).unwrap();
            }
            break;
        }
        done += taken;
    }
    let stacked = stacked.into_iter().map(|s| s.finish().unwrap()).collect();
    (alone, stacked)
}

fn close(a: &[f64], b: &[f64], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= 1e-5 * (1.0 + x.abs()),
            "{what}: {a:?} vs {b:?}"
        );
    }
}

fn assert_runs_agree(alone: &[TrainedRun], stacked: &[TrainedRun]) {
    for (p, (a, s)) in alone.iter().zip(stacked).enumerate() {
        assert_eq!(a.status, s.status, "member {p}");
        assert_eq!(a.cost.steps, s.cost.steps, "member {p}");
        assert_eq!(
            a.cost.encoder_backward_per_step, s.cost.encoder_backward_per_step,
            "member {p}"
        );
        assert_eq!(a.epochs.len(), s.epochs.len(), "member {p}");
        for (ea, es) in a.epochs.iter().zip(&s.epochs) {
            close(&ea.train_loss, &es.train_loss, "train loss");
            close(&ea.val_loss, &es.val_loss, "validation loss");
            close(&ea.val_metric, &es.val_metric, "validation metric");
            assert_eq!(ea.weights_mean, es.weights_mean);
        }
        assert_eq!(a.selected_epoch, s.selected_epoch, "member {p}");
        close(&a.test_loss, &s.test_loss, "test loss");
        close(&a.test_metric, &s.test_metric, "test metric");
        assert_eq!(a.step_ms.len(), s.step_ms.len());
    }
}

#[test]
fn stacked_members_train_as_they_would_alone() {
    let ds = dataset(None);
    for (optimizer, weight_decay, momentum) in [
        (OptimizerKind::Adamw, 0.01, 0.0),
        (OptimizerKind::Adam, 0.001, 0.0),
        (OptimizerKind::Sgd, 0.001, 0.9),
    ] {
        let train = TrainConfig {
            epochs: 3,
            batch_size: 32,
            optimizer,
            lr: if optimizer == OptimizerKind::Sgd {
                0.05
            } else {
                0.01
            },
            weight_decay,
            momentum,
            lr_decay: 0.5,
            lr_decay_every: 2,
            ..Default::default()
        };
        // Calls of 5 steps cross epoch ends (7 steps each) and hand the state back between.
        let (alone, stacked) = both(&ds, &train, 5, [7; 3]);
        assert_runs_agree(&alone, &stacked);
        // The members differ from each other: the weights reach each member's own loss.
        assert_ne!(alone[1].test_loss, alone[2].test_loss);
    }
}

#[test]
fn a_member_that_meets_a_nan_diverges_as_it_would_alone() {
    let ds = dataset(Some(41));
    let train = TrainConfig {
        epochs: 2,
        batch_size: 32,
        ..Default::default()
    };
    let (alone, stacked) = both(&ds, &train, 100, [7; 3]);
    assert!(
        matches!(alone[0].status, RunStatus::Diverged { .. }),
        "{:?}",
        alone[0].status
    );
    assert_runs_agree(&alone, &stacked);
}

#[test]
fn members_from_different_seeds_stack_with_a_batch_each() {
    // PBT's members: own initialisations and batch orders, one product per member's first
    // layer.
    let ds = dataset(None);
    let train = TrainConfig {
        epochs: 2,
        batch_size: 32,
        ..Default::default()
    };
    let (alone, stacked) = both(&ds, &train, 5, [7, 8, 9]);
    assert_runs_agree(&alone, &stacked);
}

#[test]
fn members_at_different_steps_do_not_stack() {
    let ds = dataset(None);
    let train = TrainConfig::default();
    let mut members = sessions(&ds, &train, [1, 2, 3]);
    members[0].train_steps(1, &mut || {}).unwrap();
    let refs: Vec<&Session<'_>> = members.iter().collect();
    let why = why_not_stacked(&refs).unwrap();
    assert!(why.contains("different steps"), "{why}");
}
