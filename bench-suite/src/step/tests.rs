//! Tests of the training step: every update form and head rule, gradient sources, losses.

use super::*;
use crate::model::ModelSpec;
use mtl_datasets::{Dataset, Split, SyntheticLinear, SyntheticLinearConfig};
use mtl_methods::{Needs, Weights};

/// Fixed weights behind any gradient source, to compare the trainer's three paths.
struct Probe {
    grads: GradSource,
    weights: Vec<f64>,
    seen_gram: Option<Gram>,
    seen_losses: Vec<f64>,
    own: Option<Vec<usize>>,
}

/// How [`Answering`] answers its fixed coefficients c.
#[derive(Debug, Clone, Copy)]
enum Answer {
    FreeWeights,
    Combination,
    /// Σ c_k g_k computed from the rows the trainer hands over.
    Direction,
}

/// Answers fixed coefficients in one of the non-simplex forms, with a head rule.
struct Answering {
    grads: GradSource,
    answer: Answer,
    heads: HeadScaling,
    c: Vec<f64>,
}

impl Method for Answering {
    fn needs(&self) -> Needs {
        Needs {
            rows: matches!(self.answer, Answer::Direction),
            ..Needs::grads(self.grads)
        }
    }

    fn head_scaling(&self) -> HeadScaling {
        self.heads
    }

    fn step(&mut self, input: &StepInput<'_>) -> mtl_methods::Result<Update> {
        Ok(match self.answer {
            Answer::FreeWeights => Update::FreeWeights(self.c.clone()),
            Answer::Combination => Update::Combination(self.c.clone()),
            Answer::Direction => {
                let rows = input.rows.expect("rows asked for");
                let mut d = vec![0f32; rows[0].len()];
                for (row, c) in rows.iter().zip(&self.c) {
                    for (x, g) in d.iter_mut().zip(row) {
                        *x += (*c as f32) * g;
                    }
                }
                Update::Direction(d)
            }
        })
    }
}

impl Method for Probe {
    fn needs(&self) -> Needs {
        Needs::grads(self.grads)
    }

    fn scored_tasks(&self) -> Option<Vec<usize>> {
        self.own.clone()
    }

    fn step(&mut self, input: &StepInput<'_>) -> mtl_methods::Result<Update> {
        self.seen_gram = input.gram.cloned();
        self.seen_losses = input.losses.to_vec();
        Ok(Update::Weights(Weights::simplex(self.weights.clone())?))
    }
}

/// Inputs of width 6, or 16 × 16 images (256 features) for the convnet.
fn setup(arch: &str) -> (SyntheticLinear, Model, Batch) {
    let shape = if arch.starts_with("lenet") {
        vec![1, 16, 16]
    } else {
        vec![6]
    };
    let ds = SyntheticLinear::new(SyntheticLinearConfig {
        tasks: 3,
        dim: shape.iter().product(),
        train: 32,
        val: 8,
        test: 8,
        ..Default::default()
    })
    .unwrap();
    let spec = ModelSpec::parse(arch).unwrap();
    let model = Model::new(&spec, &shape, &[1, 1, 1], 3, &Device::Cpu).unwrap();
    let batch = ds.batches(Split::Train, 16, 1, 0).remove(0);
    (ds, model, batch)
}

fn run(
    model: &Model,
    ds: &SyntheticLinear,
    batch: &Batch,
    grads: GradSource,
) -> (Vec<Vec<f32>>, Probe, BackwardCount) {
    run_masked(model, ds, batch, grads, &Masks::none())
}

fn run_masked(
    model: &Model,
    ds: &SyntheticLinear,
    batch: &Batch,
    grads: GradSource,
    masks: &Masks,
) -> (Vec<Vec<f32>>, Probe, BackwardCount) {
    let mut probe = Probe {
        grads,
        weights: vec![0.2, 0.3, 0.5],
        seen_gram: None,
        seen_losses: Vec::new(),
        own: None,
    };
    let (out, count) = step_with(model, ds, batch, &mut probe, masks).unwrap();
    (flatten(&out.ok().unwrap().grads), probe, count)
}

fn step_with(
    model: &Model,
    ds: &SyntheticLinear,
    batch: &Batch,
    method: &mut dyn Method,
    masks: &Masks,
) -> Result<(std::result::Result<StepResult, NonFinite>, BackwardCount)> {
    let mut count = BackwardCount::default();
    let out = train_step(
        model,
        ds.tasks(),
        batch,
        method,
        0,
        masks,
        &mut count,
        &Device::Cpu,
    )?;
    Ok((out, count))
}

fn flatten(grads: &[Tensor]) -> Vec<Vec<f32>> {
    grads
        .iter()
        .map(|g| g.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect()
}

/// A multi-domain batch (Royer et al., 2023): the first half of the rows is one domain
/// feeding task 0, the second half another domain feeding tasks 1 and 2.
fn multi_domain(batch: &Batch) -> Batch {
    let g = &batch.groups[0];
    let (half, dim) = (g.rows / 2, g.x.len() / g.rows);
    let part = |range: std::ops::Range<usize>, tasks: &[usize]| mtl_datasets::InputGroup {
        x: g.x[range.start * dim..range.end * dim].to_vec(),
        rows: range.len(),
        targets: tasks
            .iter()
            .map(|&t| match &g.targets[t].1 {
                mtl_datasets::Targets::Real(v) => {
                    (t, mtl_datasets::Targets::Real(v[range.clone()].to_vec()))
                }
                mtl_datasets::Targets::Labels(v) => {
                    (t, mtl_datasets::Targets::Labels(v[range.clone()].to_vec()))
                }
            })
            .collect(),
    };
    Batch {
        groups: vec![part(0..half, &[0]), part(half..g.rows, &[1, 2])],
    }
}

#[test]
fn all_gradient_paths_give_the_gradient_of_the_weighted_loss() {
    for (arch, domains) in [
        ("mlp-xs", 1),
        ("linear-s", 1),
        ("mlp-xs", 2),
        ("linear-s", 2),
        ("lenet-xs", 1),
        ("lenet-xs", 2),
    ] {
        let (ds, model, batch) = setup(arch);
        let batch = if domains == 2 {
            multi_domain(&batch)
        } else {
            batch
        };
        let (reference, _, c0) = run(&model, &ds, &batch, GradSource::None);
        assert_eq!((c0.encoder, c0.heads), (1, 0));
        for source in [
            GradSource::Params,
            GradSource::Representation,
            GradSource::LastSharedLayer,
        ] {
            let (grads, probe, count) = run(&model, &ds, &batch, source);
            for (a, b) in grads.iter().flatten().zip(reference.iter().flatten()) {
                assert!(
                    (a - b).abs() <= 1e-5 * b.abs().max(1e-2),
                    "{arch} {domains} domain(s) {source:?}: {a} vs {b}"
                );
            }
            let gram = probe.seen_gram.expect("gram passed");
            assert_eq!(gram.k(), 3);
            match source {
                GradSource::Representation => {
                    assert_eq!((count.encoder, count.heads), (1, 3))
                }
                _ => assert_eq!((count.encoder, count.heads), (3, 0)),
            }
            if source == GradSource::LastSharedLayer {
                // The Gram matrix of the last layer's gradients alone.
                let zs = encode_groups(&model, &batch, &Masks::none(), &Device::Cpu).unwrap();
                let losses = task_losses(
                    &model,
                    ds.tasks(),
                    &batch,
                    &zs,
                    &Masks::none(),
                    &Device::Cpu,
                )
                .unwrap();
                let (want, _, _) = params_grads(model.last_shared_layer(), &losses).unwrap();
                let (all, _) = params_gram(&model, &losses).unwrap();
                close_gram(&gram, &want, arch);
                if model.last_shared_layer().len() < model.encoder_params().len() {
                    assert_ne!(gram.as_slice(), all.as_slice(), "{arch}: a part, not all");
                }
            }
        }
    }
}

/// Each update form and head rule against the gradients assembled from one-hot runs: the
/// shared parameters get Σ c_k g_k, head k gets c_k ∇L_k (`Weighted`) or ∇L_k (`Own`).
#[test]
fn every_update_form_applies_its_coefficients_and_head_rule() {
    let c = [0.7, -0.4, 1.3];
    for arch in ["mlp-xs", "lenet-xs"] {
        let (ds, model, batch) = setup(arch);
        // Task k's gradient alone: the update of the one-hot weight e_k.
        let per_task: Vec<Vec<Vec<f32>>> = (0..3)
            .map(|k| {
                let mut probe = Probe {
                    grads: GradSource::None,
                    weights: (0..3).map(|i| f64::from(u8::from(i == k))).collect(),
                    seen_gram: None,
                    seen_losses: Vec::new(),
                    own: None,
                };
                let (out, _) = step_with(&model, &ds, &batch, &mut probe, &Masks::none()).unwrap();
                flatten(&out.ok().unwrap().grads)
            })
            .collect();
        let encoder_len = model.encoder_params().len();
        let want = |heads: HeadScaling| -> Vec<Vec<f32>> {
            (0..model.params().len())
                .map(|i| {
                    let tasks: Vec<usize> = if i < encoder_len {
                        (0..3).collect()
                    } else {
                        vec![(0..3).find(|&t| model.head_range(t).contains(&i)).unwrap()]
                    };
                    let mut g = vec![0f32; per_task[0][i].len()];
                    for t in tasks {
                        let f = if i < encoder_len {
                            c[t]
                        } else {
                            heads.factor(&c, t)
                        };
                        for (x, y) in g.iter_mut().zip(&per_task[t][i]) {
                            *x += f as f32 * y;
                        }
                    }
                    g
                })
                .collect()
        };
        let cases = [
            (GradSource::None, Answer::FreeWeights, HeadScaling::Weighted),
            (
                GradSource::Params,
                Answer::FreeWeights,
                HeadScaling::Weighted,
            ),
            (GradSource::Params, Answer::Combination, HeadScaling::Own),
            (
                GradSource::Representation,
                Answer::Combination,
                HeadScaling::Own,
            ),
            (
                GradSource::Representation,
                Answer::Combination,
                HeadScaling::Weighted,
            ),
            (GradSource::Params, Answer::Direction, HeadScaling::Own),
            (
                GradSource::Representation,
                Answer::Direction,
                HeadScaling::Own,
            ),
        ];
        for (grads, answer, heads) in cases {
            let ctx = format!("{arch} {grads:?} {answer:?} {heads:?}");
            let mut method = Answering {
                grads,
                answer,
                heads,
                c: c.to_vec(),
            };
            let (out, _) = step_with(&model, &ds, &batch, &mut method, &Masks::none()).unwrap();
            let out = out.ok().unwrap();
            close_all(&flatten(&out.grads), &want(heads), &ctx);
            let recorded = match answer {
                Answer::Direction => vec![1.0; 3],
                _ => c.to_vec(),
            };
            assert_eq!(out.weights, recorded, "{ctx}");
        }
    }
}

#[test]
fn an_update_the_needs_cannot_carry_is_refused() {
    let (ds, model, batch) = setup("mlp-xs");
    for (grads, answer, heads) in [
        (GradSource::None, Answer::Combination, HeadScaling::Own),
        (GradSource::None, Answer::FreeWeights, HeadScaling::Own),
        (GradSource::Params, Answer::Direction, HeadScaling::Weighted),
    ] {
        let mut method = Answering {
            grads,
            answer,
            heads,
            c: vec![1.0; 3],
        };
        let out = step_with(&model, &ds, &batch, &mut method, &Masks::none());
        assert!(out.is_err(), "{grads:?} {answer:?} {heads:?}");
    }
}

/// Steps of MGDA-UB under `params` with plain SGD over `epochs` epochs of the shipped
/// MultiFashion subset (K = 2, 512 pairs, batch 32) that left some task's head with an
/// exactly-zero gradient. `dead_head` zeroes task 1's head first: its gradient w.r.t. z is
/// then 0, and the min-norm point is that task's vertex, λ = (0, 1).
fn mgda_ub_zero_head_steps(params: serde_json::Value, epochs: usize, dead_head: bool) -> usize {
    let ds = mtl_datasets::find("multi-fashion")
        .unwrap()
        .build(&serde_json::json!({"source": "subset", "max_train": 512}))
        .unwrap();
    let spec = ModelSpec::parse("lenet-xs").unwrap();
    let outputs: Vec<usize> = ds.tasks().iter().map(|t| t.output_dim()).collect();
    let model = Model::new(&spec, &ds.input_shape(), &outputs, 0, &Device::Cpu).unwrap();
    if dead_head {
        for i in model.head_range(1) {
            let var = &model.params()[i].var;
            var.set(&var.zeros_like().unwrap()).unwrap();
        }
    }
    let mut method = mtl_methods::find("mgda-ub")
        .unwrap()
        .build(&params, 2)
        .unwrap();
    let mut zero_steps = 0;
    let mut step = 0;
    for epoch in 1..=epochs {
        for batch in ds.batches(Split::Train, 32, epoch, 0) {
            let mut count = BackwardCount::default();
            let out = train_step(
                &model,
                ds.tasks(),
                &batch,
                method.as_mut(),
                step,
                &Masks::none(),
                &mut count,
                &Device::Cpu,
            )
            .unwrap()
            .ok()
            .unwrap();
            let zero_head = (0..2).any(|t| {
                model.head_range(t).all(|i| {
                    let g = out.grads[i]
                        .flatten_all()
                        .unwrap()
                        .to_vec1::<f32>()
                        .unwrap();
                    g.iter().all(|x| *x == 0.0)
                })
            });
            zero_steps += usize::from(zero_head);
            for (p, g) in model.params().iter().zip(&out.grads) {
                let next = (p.var.as_tensor() - g.affine(0.1, 0.0).unwrap()).unwrap();
                p.var.set(&next).unwrap();
            }
            step += 1;
        }
    }
    zero_steps
}

/// Issue 11: at K = 2 the exact min-norm point can be a vertex (λ = 1/0), and weighted
/// heads then leave the other task's head without any gradient for that step. Over a run
/// of MGDA-UB on MultiFashion no head gets an exactly-zero gradient, with the default rule
/// and with both remedies; at a forced vertex (a dead head) only the default starves one,
/// and the reference code's floor (`min_weight = 0.001`) or the paper's rule
/// (`heads = "own"`) keeps every head training.
#[test]
fn mgda_ub_heads_keep_training_under_the_floor_or_their_own_gradients() {
    let exact = serde_json::json!({"normalization": "loss+"});
    let floor = serde_json::json!({"normalization": "loss+", "min_weight": 0.001});
    let own = serde_json::json!({"normalization": "loss+", "heads": "own"});
    for params in [&exact, &floor, &own] {
        assert_eq!(
            mgda_ub_zero_head_steps(params.clone(), 3, false),
            0,
            "{params}"
        );
    }
    assert!(
        mgda_ub_zero_head_steps(exact, 1, true) > 0,
        "a vertex starves a head"
    );
    for params in [floor, own] {
        assert_eq!(
            mgda_ub_zero_head_steps(params.clone(), 1, true),
            0,
            "{params}"
        );
    }
}

fn close_all(a: &[Vec<f32>], b: &[Vec<f32>], ctx: &str) {
    for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
        assert!(
            (x - y).abs() <= 1e-5 * y.abs().max(1e-2),
            "{ctx}: {x} vs {y}"
        );
    }
}

fn close_gram(a: &Gram, b: &Gram, ctx: &str) {
    for (x, y) in a.as_slice().iter().zip(b.as_slice()) {
        assert!(
            (x - y).abs() <= 1e-5 * y.abs().max(1e-6),
            "{ctx}: {x} vs {y}"
        );
    }
}

/// The Gram of ∂L_k/∂z with the heads under `masks`, computed directly.
fn z_gram(model: &Model, ds: &SyntheticLinear, batch: &Batch, masks: &Masks) -> Gram {
    let zs = encode_groups(model, batch, masks, &Device::Cpu).unwrap();
    let z = Var::from_tensor(&zs[0].detach()).unwrap();
    let losses = task_losses(
        model,
        ds.tasks(),
        batch,
        &[z.as_tensor().clone()],
        masks,
        &Device::Cpu,
    )
    .unwrap();
    let rows: Vec<Vec<f32>> = losses
        .iter()
        .map(|l| {
            let store = l.backward().unwrap();
            let g = store.get(z.as_tensor()).unwrap();
            g.flatten_all().unwrap().to_vec1().unwrap()
        })
        .collect();
    Gram::from_rows(&rows)
}

#[test]
fn dropout_masks_are_shared_by_the_gradient_pass_and_the_update() {
    use crate::dropout::Dropout;
    let (ds, model, batch) = setup("lenet-xs");
    let draw =
        |step| Masks::draw(Dropout::SenerKoltun, &model, &batch, 9, step, &Device::Cpu).unwrap();
    let (masks, other) = (draw(0), draw(1));
    // Reference: the gradient of Σ λ_k L_k under `masks`, and the per-task losses.
    let (reference, plain_probe, _) = run_masked(&model, &ds, &batch, GradSource::None, &masks);
    let zs = encode_groups(&model, &batch, &masks, &Device::Cpu).unwrap();
    let losses = task_losses(&model, ds.tasks(), &batch, &zs, &masks, &Device::Cpu).unwrap();
    let want_losses = loss_values(losses.iter().map(Some)).unwrap().ok().unwrap();
    assert_eq!(plain_probe.seen_losses, want_losses);
    let (params_gram_masked, _) = params_gram(&model, &losses).unwrap();
    for source in [GradSource::Params, GradSource::Representation] {
        let ctx = format!("{source:?}");
        let (grads, probe, _) = run_masked(&model, &ds, &batch, source, &masks);
        // The update's gradient is that of the masked network ...
        close_all(&grads, &reference, &ctx);
        // ... and so are the losses and per-task gradients the method saw.
        assert_eq!(probe.seen_losses, want_losses, "{ctx}");
        let gram = probe.seen_gram.unwrap();
        let want = match source {
            GradSource::Params => params_gram_masked.clone(),
            _ => z_gram(&model, &ds, &batch, &masks),
        };
        close_gram(&gram, &want, &ctx);
        // Another step's masks give another Gram matrix.
        let (_, probe_other, _) = run_masked(&model, &ds, &batch, source, &other);
        assert_ne!(
            probe_other.seen_gram.unwrap().as_slice(),
            gram.as_slice(),
            "{ctx}"
        );
    }
    // Without masks the gradient differs: the masks took effect.
    let (plain, _, _) = run(&model, &ds, &batch, GradSource::None);
    assert_ne!(plain, reference);
}

#[test]
fn a_single_task_method_never_reads_the_other_domains() {
    let (ds, model, batch) = setup("mlp-xs");
    let clean = multi_domain(&batch);
    let probe = |own: Option<Vec<usize>>, weights: Vec<f64>| Probe {
        grads: GradSource::None,
        weights,
        seen_gram: None,
        seen_losses: Vec::new(),
        own,
    };
    let none = Masks::none();
    let (full, _) = step_with(
        &model,
        &ds,
        &clean,
        &mut probe(None, vec![1.0, 0.0, 0.0]),
        &none,
    )
    .unwrap();
    let full = full.ok().unwrap();
    // Poison the second domain: a step that encoded it would see non-finite losses.
    let mut poisoned = clean.clone();
    poisoned.groups[1].x.fill(f32::NAN);
    let (only, count) = step_with(
        &model,
        &ds,
        &poisoned,
        &mut probe(Some(vec![0]), vec![1.0, 0.0, 0.0]),
        &none,
    )
    .unwrap();
    let only = only.ok().expect("the second domain is not read");
    assert_eq!(only.losses[0], full.losses[0]);
    assert_eq!(&only.losses[1..], [0.0, 0.0], "not computed");
    assert_eq!(flatten(&only.grads), flatten(&full.grads));
    assert_eq!((count.encoder, count.heads), (1, 0));
    // Weight on a task that was not computed is the method's bug, not silently dropped.
    let err = step_with(
        &model,
        &ds,
        &clean,
        &mut probe(Some(vec![0]), vec![0.5, 0.5, 0.0]),
        &none,
    )
    .err()
    .expect("an error");
    assert!(err.to_string().contains("task 1"), "{err}");
}

#[test]
fn a_single_task_method_keeps_its_dropout_masks_on_a_multi_domain_batch() {
    use crate::dropout::Dropout;
    let (ds, model, batch) = setup("lenet-xs");
    let batch = multi_domain(&batch);
    let masks = Masks::draw(Dropout::SenerKoltun, &model, &batch, 5, 0, &Device::Cpu).unwrap();
    let probe = |own: Option<Vec<usize>>| Probe {
        grads: GradSource::None,
        weights: vec![0.0, 1.0, 0.0],
        seen_gram: None,
        seen_losses: Vec::new(),
        own,
    };
    // Task 1 is fed by the second domain only: training it alone (its domain restricted
    // out of the batch) must see the masks the full batch drew for it.
    let step = |own, masks: &Masks| {
        let (out, _) = step_with(&model, &ds, &batch, &mut probe(own), masks).unwrap();
        let out = out.ok().unwrap();
        (out.losses[1], flatten(&out.grads))
    };
    let full = step(None, &masks);
    assert_eq!(step(Some(vec![1]), &masks), full);
    assert_ne!(
        step(Some(vec![1]), &Masks::none()),
        full,
        "the masks took effect"
    );
}

#[test]
fn representation_gram_holds_gradients_wrt_z() {
    // For the linear model z = W x and heads a_k (no bias), ∂L_k/∂z = (2/n)(ŷ_k − y_k) a_kᵀ
    // row-wise, so the Gram is (4/n²) Σ_rows r_k r_j ⟨a_k, a_j⟩ with r the residuals.
    let (ds, model, batch) = setup("linear-s");
    let (_, probe, _) = run(&model, &ds, &batch, GradSource::Representation);
    let gram = probe.seen_gram.unwrap();
    let g = &batch.groups[0];
    let x = Tensor::from_slice(&g.x, (g.rows, 6), &Device::Cpu).unwrap();
    let z = model.encode(&x).unwrap();
    let n = g.rows as f64;
    let mut residuals = Vec::new();
    let mut heads = Vec::new();
    for (t, targets) in &g.targets {
        let pred = model
            .head(*t, &z)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let mtl_datasets::Targets::Real(y) = targets else {
            unreachable!()
        };
        residuals.push(
            pred.iter()
                .zip(y)
                .map(|(p, y)| (p - y) as f64)
                .collect::<Vec<_>>(),
        );
        let a = model.params()[model.head_range(*t).start]
            .var
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        heads.push(a);
    }
    for i in 0..3 {
        for j in 0..3 {
            let aa: f64 = heads[i]
                .iter()
                .zip(&heads[j])
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum();
            let rr: f64 = residuals[i]
                .iter()
                .zip(&residuals[j])
                .map(|(a, b)| a * b)
                .sum();
            let want = 4.0 / (n * n) * rr * aa;
            assert!(
                (gram.get(i, j) - want).abs() < 1e-5 * want.abs().max(1e-6),
                "{i}{j}: {} vs {want}",
                gram.get(i, j)
            );
        }
    }
}
