//! Tests of the session: epochs, selection, checkpoints and state.

use super::*;
use crate::dropout::Dropout;
use crate::loss::{targets_tensor, task_loss};
use crate::selection::Objective;
use mtl_datasets::{SyntheticLinear, SyntheticLinearConfig};
use mtl_methods::uniform::FixedWeights;
use mtl_methods::Weights;
use mtl_reports::linear_front::LinearProblem;

fn finished(lr: f64, epochs: usize, selection: Objective) -> TrainedRun {
    let ds = SyntheticLinear::new(SyntheticLinearConfig {
        tasks: 2,
        dim: 8,
        train: 256,
        val: 128,
        test: 64,
        ..Default::default()
    })
    .unwrap();
    let train = TrainConfig {
        epochs,
        batch_size: 32,
        lr,
        selection,
        ..Default::default()
    };
    let method = Box::new(FixedWeights::new(Weights::uniform(2)));
    let spec = ModelSpec::parse("mlp-xs").unwrap();
    let mut s = Session::new(&ds, &spec, method, &train, 0, &Device::Cpu).unwrap();
    s.train_steps(s.total_steps(), &mut || {}).unwrap();
    s.finish().unwrap()
}

#[test]
fn the_untrained_epoch_is_never_selected_and_a_worse_run_is_not_improved() {
    // Adam at lr 1 wrecks the model in its first epoch; the initial parameters would win
    // the argmin, but only trained epochs are selectable.
    for objective in [Objective::Loss, Objective::Metric] {
        let run = finished(1.0, 2, objective);
        assert!(run.status == RunStatus::Completed, "{:?}", run.status);
        assert!(
            run.selected_epoch >= 1,
            "{objective:?}: {}",
            run.selected_epoch
        );
        let (score, initial) = (
            run.selection.score.unwrap(),
            run.selection.initial_score.unwrap(),
        );
        assert!(score > initial, "{objective:?}: {score} vs {initial}");
        assert!(!run.selection.improved);
        assert_eq!(run.selection.objective, objective.name());
        // The selected epoch is the argmin of the logged validation results.
        let logged = &run.epochs[run.selected_epoch - 1];
        assert_eq!(logged.epoch, run.selected_epoch);
    }
}

#[test]
fn a_sound_run_improves_and_selects_its_best_trained_epoch() {
    let run = finished(0.01, 3, Objective::Metric);
    assert!(run.selection.improved);
    assert!(run.selection.score.unwrap() < run.selection.initial_score.unwrap());
    assert!((1..=3).contains(&run.selected_epoch));
}

/// 48 training pairs of the shipped MultiFashion subset: 3 steps of 16 per epoch.
fn fashion() -> Box<dyn Dataset> {
    mtl_datasets::find("multi-fashion")
        .unwrap()
        .build(&serde_json::json!({"source": "subset", "max_train": 48}))
        .unwrap()
}

/// A `uniform` session of `lenet-xs` trained to the end of its schedule.
fn trained<'a>(ds: &'a dyn Dataset, config: &TrainConfig) -> Session<'a> {
    let method = mtl_methods::find("uniform")
        .unwrap()
        .build(&serde_json::Value::Null, 2)
        .unwrap();
    let spec = ModelSpec::parse("lenet-xs").unwrap();
    let mut s = Session::new(ds, &spec, method, config, 0, &Device::Cpu).unwrap();
    s.train_steps(s.total_steps(), &mut || {}).unwrap();
    s
}

/// Every parameter value of `model`.
fn values(model: &Model) -> Vec<f32> {
    model
        .params()
        .iter()
        .flat_map(|p| p.var.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect()
}

/// Every parameter value after training with `config`.
fn params(ds: &dyn Dataset, config: &TrainConfig) -> Vec<f32> {
    values(trained(ds, config).model())
}

fn base() -> TrainConfig {
    TrainConfig {
        epochs: 1,
        batch_size: 16,
        lr: 2e-3,
        ..Default::default()
    }
}

#[test]
fn the_schedule_sets_each_epochs_learning_rate() {
    let ds = fashion();
    let decayed = |every| TrainConfig {
        lr_decay: 0.5,
        lr_decay_every: every,
        ..base()
    };
    // Epoch 1 with a decay every epoch runs at lr · ½: the same parameters as lr / 2.
    let halved = params(ds.as_ref(), &TrainConfig { lr: 1e-3, ..base() });
    assert_eq!(params(ds.as_ref(), &decayed(1)), halved);
    // A decay every 2 epochs leaves epoch 1 at lr.
    let later = params(ds.as_ref(), &decayed(2));
    assert_eq!(later, params(ds.as_ref(), &base()));
    assert_ne!(later, halved);
}

#[test]
fn dropout_training_is_seeded_and_evaluation_is_plain() {
    let ds = fashion();
    let sk = TrainConfig {
        dropout: Dropout::SenerKoltun,
        ..base()
    };
    let s = trained(ds.as_ref(), &sk);
    let after = values(s.model());
    assert_eq!(params(ds.as_ref(), &sk), after);
    assert_ne!(params(ds.as_ref(), &base()), after);
    // Evaluation applies no mask: the loss it reports is the plain network's.
    let mut batches = ds.batches(Split::Val, 4096, 0, 0);
    assert_eq!(batches.len(), 1, "the whole validation split in one batch");
    let batch = batches.remove(0);
    let group = &batch.groups[0];
    let x = Tensor::from_slice(&group.x, (group.rows, 784), &Device::Cpu).unwrap();
    let loss_with = |masks: &Masks| {
        let z = s.model().encode_masked(&x, masks.channels()).unwrap();
        let out = s.model().head_masked(0, &z, masks.head(0, 0)).unwrap();
        let y = targets_tensor(&group.targets[0].1, &Device::Cpu).unwrap();
        task_loss(&ds.tasks()[0], &out, &y)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let (loss, _) = evaluate(s.model(), ds.as_ref(), Split::Val, &Device::Cpu).unwrap();
    let masks = Masks::draw(Dropout::SenerKoltun, s.model(), &batch, 0, 3, &Device::Cpu).unwrap();
    assert!((loss[0] as f32 - loss_with(&Masks::none())).abs() < 1e-5);
    assert!((loss[0] as f32 - loss_with(&masks)).abs() > 1e-3);
}

/// The test loss the trainer records (`evaluate`: the row mean of `task_loss`, squared
/// error without ½) is the closed-form population loss the front analysis uses, for a
/// linear model with encoder u and optimal heads ⟨s_k θ_k, u⟩.
#[test]
fn evaluated_loss_is_the_closed_form_population_loss() {
    let ds = SyntheticLinear::new(SyntheticLinearConfig {
        tasks: 3,
        dim: 3,
        noise: 0.3,
        train: 8,
        val: 8,
        test: 40_000,
        task_scales: vec![1.0, 2.0, 0.5],
        thetas: vec![
            vec![1.0, 0.0, 0.0],
            vec![0.3, 0.9, 0.1],
            vec![-0.2, 0.4, 0.9],
        ],
        ..Default::default()
    })
    .unwrap();
    let u = [0.6f64, 0.8, 0.0];
    let t = ds.scaled_task_vectors();
    let spec = ModelSpec::parse("linear-w1").unwrap();
    let model = Model::new(&spec, &[3], &[1, 1, 1], 0, &Device::Cpu).unwrap();
    let mut weights = vec![Tensor::from_slice(&u.map(|v| v as f32), (1, 3), &Device::Cpu).unwrap()];
    for tk in &t {
        let head: f64 = tk.iter().zip(u).map(|(a, b)| a * b).sum();
        weights.push(Tensor::from_slice(&[head as f32], (1, 1), &Device::Cpu).unwrap());
    }
    model.restore(&weights).unwrap();
    let (loss, _) = evaluate(&model, &ds, Split::Test, &Device::Cpu).unwrap();
    let want = LinearProblem {
        task_vectors: t,
        noise: ds.noise(),
        width: 1,
    }
    .losses(&[u.to_vec()])
    .unwrap();
    // 40 000 rows: the mean of squared Gaussian residuals is within ~1 % (1 σ) of its
    // expectation; a ½ factor or a missing s_k² would be off by ≥ 25 %.
    for (got, want) in loss.iter().zip(&want) {
        assert!((got / want - 1.0).abs() < 0.04, "{loss:?} vs {want:?}");
    }
}
