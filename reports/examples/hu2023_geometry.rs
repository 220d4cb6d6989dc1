//! The closed-form front analysis of study S1's sweep files (`reports/studies/hu2023/`):
//! reads each file's `synthetic-linear` task vectors, scales, noise and `linear-w<q>`
//! models, prints the table of [`front_sheet`] and, with `--out DIR`, writes one SVG per
//! configuration.
//!
//! ```sh
//! cargo run --release -p mtl-reports --example hu2023_geometry -- \
//!     reports/studies/hu2023/aligned.toml ... [--out DIR] [--coarse]
//! ```

use std::path::PathBuf;

use mtl_reports::linear_front::{analyse, front_sheet, front_svg, LinearProblem, Resolution};

fn numbers(v: &toml::Value) -> Option<Vec<f64>> {
    v.as_array()?
        .iter()
        .map(|x| x.as_float().or_else(|| x.as_integer().map(|i| i as f64)))
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut files = Vec::new();
    let mut out: Option<PathBuf> = None;
    let mut coarse = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = args.next().map(PathBuf::from),
            "--coarse" => coarse = true,
            _ => files.push(PathBuf::from(a)),
        }
    }
    let mut analyses = Vec::new();
    for file in &files {
        let sweep: toml::Value = toml::from_str(&std::fs::read_to_string(file)?)?;
        let data = &sweep["dataset"];
        let thetas: Vec<Vec<f64>> = data["thetas"]
            .as_array()
            .ok_or("dataset.thetas missing")?
            .iter()
            .map(|r| numbers(r).ok_or("dataset.thetas must hold numbers"))
            .collect::<Result<_, _>>()?;
        let scales = data.get("task_scales").and_then(numbers);
        let noise = data.get("noise").and_then(|n| n.as_float()).unwrap_or(0.1);
        let task_vectors: Vec<Vec<f64>> = thetas
            .iter()
            .enumerate()
            .map(|(k, t)| {
                let s = scales.as_ref().map_or(1.0, |s| s[k]);
                t.iter().map(|v| s * v).collect()
            })
            .collect();
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("sweep");
        for model in sweep["models"].as_array().ok_or("models missing")? {
            let Some(q) = model.as_str().and_then(|m| m.strip_prefix("linear-w")) else {
                continue;
            };
            let width: usize = q.parse()?;
            let problem = LinearProblem {
                task_vectors: task_vectors.clone(),
                noise,
                width,
            };
            let k = task_vectors.len();
            let res = if coarse {
                Resolution::coarse(k)
            } else {
                Resolution::fine(k)
            };
            let start = std::time::Instant::now();
            let a = analyse(&problem, &res)?;
            eprintln!("{stem} q={width}: {:.1} s", start.elapsed().as_secs_f64());
            if let Some(dir) = &out {
                std::fs::create_dir_all(dir)?;
                let title = format!("{stem}, q = {width}: closed-form front (no runs)");
                std::fs::write(
                    dir.join(format!("{stem}-q{width}.svg")),
                    front_svg(&a, &title, &[])?,
                )?;
            }
            analyses.push((format!("{stem} q={width}"), a));
        }
    }
    let rows: Vec<(&str, _)> = analyses.iter().map(|(n, a)| (n.as_str(), a)).collect();
    println!("{}", front_sheet(&rows).markdown());
    Ok(())
}
