//! Exports what the PyTorch twin needs (see `bench-suite/compare/README.md`):
//!
//! ```sh
//! cargo run --release -p mtl-bench --example twin_export -- --out DIR \
//!     --dataset multi-fashion --data source=cache --data max_train=10000 --model lenet-m \
//!     --train epochs=15 --train batch_size=256 --seeds 0,1,2 \
//!     [--steps 50 --method uniform --method mgda-ub]
//! ```
//!
//! Writes `DIR/meta.json`, `DIR/data.safetensors` and per seed `DIR/seed{S}/init.safetensors`
//! and `DIR/seed{S}/order.safetensors` (epochs 1..=epochs, or as many as `--steps` needs).
//! With `--steps N`, per method also `steps-{label}.json` (losses, Gram, λ of every step),
//! `final-{label}.safetensors` and `trajectory-{label}.safetensors`, from a real `Session`, and
//! `grads-{label}.safetensors` (the gradient at each step's starting parameters, a diagnostic).
//! A `--method` is a registry name with optional parameters: `stl:task=1`,
//! `mgda-ub:normalization=l2`.

mod export;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use mtl_bench::config::params_from_pairs;
use mtl_bench::model::Model;
use mtl_bench::{ModelSpec, TrainConfig};
use serde_json::{json, Value};

use export::Result;

#[derive(Default)]
struct Args {
    out: Option<PathBuf>,
    dataset: String,
    data: Vec<String>,
    model: String,
    train: Vec<String>,
    seeds: Vec<u64>,
    steps: Option<u64>,
    methods: Vec<String>,
}

const USAGE: &str = "usage: twin_export --out DIR --dataset NAME [--data KEY=VALUE]... \
--model NAME [--train KEY=VALUE]... [--seeds 0,1,2] [--steps N --method NAME[:KEY=VALUE,...]...]";

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args> {
    let mut a = Args {
        dataset: "multi-fashion".into(),
        model: "lenet-m".into(),
        seeds: vec![0],
        ..Args::default()
    };
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value; {USAGE}"))
        };
        match flag.as_str() {
            "--out" => a.out = Some(PathBuf::from(value()?)),
            "--dataset" => a.dataset = value()?,
            "--data" => a.data.push(value()?),
            "--model" => a.model = value()?,
            "--train" => a.train.push(value()?),
            "--method" => a.methods.push(value()?),
            "--seeds" => {
                let v = value()?;
                a.seeds = v
                    .split(',')
                    .map(|s| s.trim().parse::<u64>())
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| format!("--seeds: expected integers like 0,1,2, got `{v}`"))?;
            }
            "--steps" => {
                let v = value()?;
                match v.parse::<u64>() {
                    Ok(n) if n > 0 => a.steps = Some(n),
                    _ => return Err(format!("--steps: expected an integer ≥ 1, got `{v}`").into()),
                }
            }
            other => return Err(format!("unknown argument `{other}`; {USAGE}").into()),
        }
    }
    if a.out.is_none() {
        return Err(format!("--out is required; {USAGE}").into());
    }
    if a.steps.is_some() == a.methods.is_empty() {
        return Err("--steps and --method go together (the step test needs both)".into());
    }
    Ok(a)
}

/// `name[:k=v,k=v]` → (name, canonical params, file label).
fn parse_method(text: &str) -> Result<(String, Value, String)> {
    let (name, rest) = text.split_once(':').unwrap_or((text, ""));
    let pairs: Vec<String> = rest
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let params = params_from_pairs(&pairs, "--method")?;
    let canonical = mtl_methods::find(name)?.canonical_config(&params)?;
    let label: String = std::iter::once(name.to_owned())
        .chain(pairs.iter().map(|p| p.replace('=', "")))
        .collect::<Vec<_>>()
        .join("-");
    Ok((name.to_owned(), canonical, label))
}

fn write_json(value: &Value, path: &std::path::Path) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(())
}

fn run(a: Args) -> Result<()> {
    let out = a.out.clone().unwrap_or_default();
    let data_params = params_from_pairs(&a.data, "--data")?;
    let ds = mtl_datasets::find(&a.dataset)?.build(&data_params)?;
    let spec = ModelSpec::parse(&a.model)?;
    spec.check_input(&ds.input_shape())?;
    let train = TrainConfig::from_params(&params_from_pairs(&a.train, "--train")?, "--train")?;
    if a.steps.is_some() && !train.dropout.is_none() {
        return Err(
            "--steps with dropout: the step log would need the dropout masks, which \
                    are not exported; run the step test without dropout"
                .into(),
        );
    }
    let methods = a
        .methods
        .iter()
        .map(|m| parse_method(m))
        .collect::<Result<Vec<_>>>()?;
    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;

    let splits = export::SPLITS
        .iter()
        .map(|(s, _)| export::whole_split(ds.as_ref(), *s))
        .collect::<Result<Vec<_>>>()?;
    let mut data = BTreeMap::new();
    for (group, (_, prefix)) in splits.iter().zip(export::SPLITS) {
        export::split_tensors(group, &ds.input_shape(), prefix, &mut data)?;
    }
    export::save(data, &out.join("data.safetensors"))?;
    let index = export::RowIndex::new(&splits[0]);
    let outputs: Vec<usize> = ds.tasks().iter().map(|t| t.output_dim()).collect();
    let epochs = match a.steps {
        Some(n) => export::epochs_for(ds.as_ref(), train.batch_size, n),
        None => train.epochs,
    };
    let mut meta = Value::Null;
    for &seed in &a.seeds {
        let dir = out.join(format!("seed{seed}"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let model = Model::new(
            &spec,
            &ds.input_shape(),
            &outputs,
            seed,
            &candle_core::Device::Cpu,
        )?;
        if meta.is_null() {
            meta = export::meta(ds.as_ref(), (&a.dataset, &data_params), &model, &train);
        }
        export::save(
            export::param_tensors(&model, "")?,
            &dir.join("init.safetensors"),
        )?;
        let orders = export::epoch_orders(ds.as_ref(), &index, train.batch_size, epochs, seed)?;
        export::save(orders, &dir.join("order.safetensors"))?;
        for (name, params, label) in &methods {
            let steps = a.steps.unwrap_or(0);
            let run = export::run_steps(ds.as_ref(), &spec, (name, params), &train, seed, steps)?;
            if let Some(name) =
                export::first_difference(&run.init, &export::param_tensors(&model, "")?)?
            {
                return Err(format!(
                    "internal: the session's initial `{name}` differs from the exported one"
                )
                .into());
            }
            write_json(
                &json!({"method": name, "params": params, "seed": seed, "steps": run.log}),
                &dir.join(format!("steps-{label}.json")),
            )?;
            let grads = export::forced_gradients(ds.as_ref(), &spec, &run, train.batch_size, seed)?;
            export::save(grads, &dir.join(format!("grads-{label}.safetensors")))?;
            export::save(run.last, &dir.join(format!("final-{label}.safetensors")))?;
            export::save(
                run.trajectory,
                &dir.join(format!("trajectory-{label}.safetensors")),
            )?;
        }
    }
    meta["seeds"] = json!(a.seeds);
    meta["epochs_exported"] = json!(epochs);
    write_json(&meta, &out.join("meta.json"))?;
    println!("wrote {}", out.display());
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("twin_export: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("twin_export: {e}");
            ExitCode::FAILURE
        }
    }
}
