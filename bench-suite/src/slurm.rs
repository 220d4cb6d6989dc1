//! Slurm job arrays over one shared results folder: the `[slurm]` table of a sweep file, the
//! `sbatch --array` script whose tasks each train a chunk of the plan's cells with
//! `mtlbench run-cell`, submission, and the "has this job ended?" check that lets a claim of
//! a cancelled task be taken over at once.
//!
//! No scheduler of our own: Slurm places the tasks; the per-cell claims ([`crate::claim`])
//! keep two tasks off one cell, and a resubmission (or `mtlbench resume`) trains what a
//! cancelled or failed task left.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::{Error, Result};

/// The `[slurm]` table of a sweep file: what each array task asks for.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSettings {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--cpus-per-task`; also the task's `mtlbench --threads`.
    pub cpus_per_task: Option<u32>,
    /// GPUs per task (`--gres=gpu:N`).
    pub gpus: Option<u32>,
    /// `--mem`, e.g. `"16G"`.
    pub mem: Option<String>,
    /// `--time`, e.g. `"04:00:00"` or `"1-00:00:00"`.
    pub time: Option<String>,
    /// Cells per array task [default 1].
    pub chunk: Option<usize>,
    /// Array tasks running at once (`--array=…%N`).
    pub max_parallel: Option<u32>,
    /// Further `sbatch` options, each one `--name=value` word.
    #[serde(default)]
    pub sbatch_args: Vec<String>,
}

impl SlurmSettings {
    /// Checks the table (`at` names the file in errors): values that would break the script
    /// or that `sbatch` would reject late.
    pub fn validate(&self, at: &str) -> Result<()> {
        let bad = |field: &str, message: String| Error::Config {
            path: format!("{at}: slurm.{field}"),
            message,
        };
        for (field, value) in [
            ("partition", &self.partition),
            ("account", &self.account),
            ("mem", &self.mem),
            ("time", &self.time),
        ] {
            if let Some(v) = value {
                check_word(v).map_err(|m| bad(field, m))?;
            }
        }
        if let Some(t) = &self.time {
            if !t
                .chars()
                .all(|c| c.is_ascii_digit() || c == ':' || c == '-')
            {
                return Err(bad(
                    "time",
                    format!("`{t}` is not a Slurm time such as \"04:00:00\" or \"1-00:00:00\""),
                ));
            }
        }
        for (field, value) in [
            ("cpus_per_task", self.cpus_per_task),
            ("max_parallel", self.max_parallel),
        ] {
            if value == Some(0) {
                return Err(bad(field, "must be at least 1".into()));
            }
        }
        if self.chunk == Some(0) {
            return Err(bad("chunk", "must be at least 1".into()));
        }
        for (i, arg) in self.sbatch_args.iter().enumerate() {
            check_sbatch_arg(arg).map_err(|m| bad(&format!("sbatch_args[{i}]"), m))?;
        }
        Ok(())
    }
}

/// One word of an `#SBATCH` line: non-empty, no white space or quotes.
fn check_word(value: &str) -> std::result::Result<(), String> {
    if value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "'\"\\`$".contains(c))
    {
        return Err(format!(
            "`{value}` must be one word without spaces, quotes or `$`"
        ));
    }
    Ok(())
}

/// An extra `sbatch` option: one word starting with `-`.
pub fn check_sbatch_arg(arg: &str) -> std::result::Result<(), String> {
    check_word(arg)?;
    if !arg.starts_with('-') {
        return Err(format!(
            "`{arg}` is not an sbatch option; write options as one word, e.g. --qos=normal"
        ));
    }
    Ok(())
}

/// The plan indices of array task `task` when each task trains `chunk` of `cells` cells.
pub fn task_cells(task: usize, chunk: usize, cells: usize) -> std::ops::Range<usize> {
    let start = task.saturating_mul(chunk).min(cells);
    start..start.saturating_add(chunk).min(cells)
}

/// Array tasks for `cells` cells in chunks of `chunk`.
pub fn task_count(chunk: usize, cells: usize) -> usize {
    cells.div_ceil(chunk.max(1))
}

/// A job array to write as an `sbatch` script.
#[derive(Debug)]
pub struct ArrayJob<'a> {
    /// The `mtlbench` binary the tasks run (the same path on every node).
    pub binary: &'a Path,
    /// The results folder (absolute: tasks start in the submission folder, but say it).
    pub dir: &'a Path,
    pub plan_id: &'a str,
    /// Cells in the plan.
    pub cells: usize,
    /// Cells per task.
    pub chunk: usize,
    /// The array's task indices (those with cells left to train).
    pub tasks: &'a [usize],
    pub settings: &'a SlurmSettings,
    /// `sbatch` options from the command line, after the file's.
    pub extra_args: &'a [String],
}

/// `s` quoted for a POSIX shell.
fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@+,%".contains(c))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Task indices as `sbatch --array` writes them: runs of consecutive indices as ranges.
fn array_spec(tasks: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < tasks.len() {
        let mut j = i;
        while j + 1 < tasks.len() && tasks[j + 1] == tasks[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            tasks[i].to_string()
        } else {
            format!("{}-{}", tasks[i], tasks[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

impl ArrayJob<'_> {
    /// The `sbatch` script.
    pub fn script(&self) -> String {
        let s = self.settings;
        let dir = self.dir.display().to_string();
        let mut out = String::from("#!/bin/bash\n");
        let _ = writeln!(
            out,
            "# mtlbench sweep {plan}: {cells} cells, {chunk} per array task, into {dir}.\n\
             # Each task trains its cells with `mtlbench run-cell` under per-cell claims; a\n\
             # cell another task holds is waited for, one left by a cancelled task is taken\n\
             # over. Resubmit (`mtlbench slurm ... --submit`) or `mtlbench resume {dir}` to\n\
             # finish what this array leaves; `mtlbench status {dir}` shows where it stands.",
            plan = self.plan_id,
            cells = self.cells,
            chunk = self.chunk,
        );
        let mut sbatch = |option: String| {
            let _ = writeln!(out, "#SBATCH {option}");
        };
        sbatch(format!("--job-name=mtlbench-{}", self.plan_id));
        sbatch(format!(
            "--array={}{}",
            array_spec(self.tasks),
            s.max_parallel.map_or(String::new(), |n| format!("%{n}"))
        ));
        sbatch(format!(
            "--output={}",
            quote(&format!("{dir}/slurm/%A_%a.out"))
        ));
        if let Some(p) = &s.partition {
            sbatch(format!("--partition={p}"));
        }
        if let Some(a) = &s.account {
            sbatch(format!("--account={a}"));
        }
        if let Some(n) = s.cpus_per_task {
            sbatch(format!("--cpus-per-task={n}"));
        }
        if let Some(n) = s.gpus.filter(|&n| n > 0) {
            sbatch(format!("--gres=gpu:{n}"));
        }
        if let Some(m) = &s.mem {
            sbatch(format!("--mem={m}"));
        }
        if let Some(t) = &s.time {
            sbatch(format!("--time={t}"));
        }
        for arg in s.sbatch_args.iter().chain(self.extra_args) {
            sbatch(arg.clone());
        }
        let threads = s
            .cpus_per_task
            .map_or(String::new(), |n| format!(" --threads {n}"));
        let _ = writeln!(
            out,
            "set -euo pipefail\nexec {}{threads} run-cell {} --chunk {} --task \"$SLURM_ARRAY_TASK_ID\"",
            quote(&self.binary.display().to_string()),
            quote(&dir),
            self.chunk
        );
        out
    }
}

/// Whether `sbatch` can be run here: a configuration error (`--submit` on a machine without
/// Slurm) when it cannot.
pub fn check_sbatch() -> Result<()> {
    match Command::new("sbatch").arg("--version").output() {
        Ok(_) => Ok(()),
        Err(e) => Err(Error::Config {
            path: "--submit".into(),
            message: format!(
                "cannot run sbatch ({e}); run this on a Slurm login node, or leave out \
                 --submit to write the job script and submit it there yourself"
            ),
        }),
    }
}

/// Submits `script` with `sbatch --parsable`; returns the job id.
pub fn submit(script: &Path) -> Result<String> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(script)
        .output()
        .map_err(|e| Error::Config {
            path: "--submit".into(),
            message: format!(
                "cannot run sbatch ({e}); submit {} on a Slurm login node, or run \
                 `sbatch {}` there yourself",
                script.display(),
                script.display()
            ),
        })?;
    if !out.status.success() {
        return Err(Error::Internal(format!(
            "sbatch refused {}: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // `--parsable` prints `jobid` or `jobid;cluster`.
    let id = text.trim().split(';').next().unwrap_or("").to_owned();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::Internal(format!(
            "sbatch printed no job id for {}: {text:?}",
            script.display()
        )));
    }
    Ok(id)
}

/// How long an answer of `squeue` about one job is reused.
const JOB_STATE_TTL: Duration = Duration::from_secs(30);

/// Whether Slurm says job `job` (a `SLURM_JOB_ID`) has ended: `squeue` no longer lists it
/// as pending, running or completing. `false` whenever Slurm cannot be asked (no `squeue`
/// here, the controller unreachable): then only the heartbeat timeout frees its claims.
/// Answers are cached for 30 s (`JOB_STATE_TTL`), so waiting workers do not flood the controller.
pub fn job_ended(job: &str) -> bool {
    static CACHE: Mutex<BTreeMap<String, (Instant, bool)>> = Mutex::new(BTreeMap::new());
    if let Ok(cache) = CACHE.lock() {
        if let Some((at, ended)) = cache.get(job) {
            if at.elapsed() < JOB_STATE_TTL {
                return *ended;
            }
        }
    }
    let ended = ask_squeue(job).unwrap_or(false);
    if let Ok(mut cache) = CACHE.lock() {
        cache.insert(job.to_owned(), (Instant::now(), ended));
    }
    ended
}

/// `Some(true)` when `squeue` knows no live job `job`, `Some(false)` when it lists it, `None`
/// when it cannot tell.
fn ask_squeue(job: &str) -> Option<bool> {
    if job.is_empty() || !job.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return None;
    }
    let out = Command::new("squeue")
        .args(["--noheader", "--jobs", job, "--format=%T"])
        .output()
        .ok()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        let live = stdout.lines().any(|state| {
            matches!(
                state.trim(),
                "PENDING"
                    | "RUNNING"
                    | "CONFIGURING"
                    | "COMPLETING"
                    | "SUSPENDED"
                    | "REQUEUED"
                    | "RESIZING"
                    | "SIGNALING"
                    | "STAGE_OUT"
                    | "STOPPED"
            )
        });
        return Some(!live);
    }
    // A job purged from the controller's memory is an unknown id.
    stderr.contains("Invalid job id").then_some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SlurmSettings {
        SlurmSettings {
            partition: Some("gpu".into()),
            cpus_per_task: Some(4),
            gpus: Some(1),
            time: Some("02:00:00".into()),
            max_parallel: Some(8),
            sbatch_args: vec!["--qos=normal".into()],
            ..Default::default()
        }
    }

    #[test]
    fn tasks_cover_the_plan_in_chunks_once() {
        for (chunk, cells) in [(1, 12), (5, 12), (12, 12), (20, 3)] {
            let covered: Vec<usize> = (0..task_count(chunk, cells))
                .flat_map(|t| task_cells(t, chunk, cells))
                .collect();
            assert_eq!(covered, (0..cells).collect::<Vec<_>>(), "chunk {chunk}");
        }
        assert!(task_cells(9, 5, 12).is_empty());
    }

    #[test]
    fn the_script_asks_for_the_tables_resources_and_runs_each_tasks_chunk() {
        let settings = settings();
        let job = ArrayJob {
            binary: Path::new("/shared/bin/mtlbench"),
            dir: Path::new("/shared/results/my sweep"),
            plan_id: "abcd1234",
            cells: 12,
            chunk: 2,
            tasks: &[0, 1, 2, 4, 5],
            settings: &settings,
            extra_args: &["--mail-type=END".into()],
        };
        let script = job.script();
        let lines: Vec<&str> = script
            .lines()
            .filter(|l| l.starts_with("#SBATCH"))
            .collect();
        assert_eq!(
            lines,
            [
                "#SBATCH --job-name=mtlbench-abcd1234",
                "#SBATCH --array=0-2,4-5%8",
                "#SBATCH --output='/shared/results/my sweep/slurm/%A_%a.out'",
                "#SBATCH --partition=gpu",
                "#SBATCH --cpus-per-task=4",
                "#SBATCH --gres=gpu:1",
                "#SBATCH --time=02:00:00",
                "#SBATCH --qos=normal",
                "#SBATCH --mail-type=END",
            ]
        );
        assert!(script.ends_with(
            "exec /shared/bin/mtlbench --threads 4 run-cell '/shared/results/my sweep' --chunk 2 --task \"$SLURM_ARRAY_TASK_ID\"\n"
        ));
        // The script is valid shell.
        let check = Command::new("bash")
            .args(["-n", "-c", &script])
            .status()
            .unwrap();
        assert!(check.success());
    }

    #[test]
    fn bad_slurm_settings_are_refused_with_their_field() {
        let cases = [
            (
                SlurmSettings {
                    time: Some("2 hours".into()),
                    ..Default::default()
                },
                "slurm.time",
            ),
            (
                SlurmSettings {
                    chunk: Some(0),
                    ..Default::default()
                },
                "slurm.chunk",
            ),
            (
                SlurmSettings {
                    sbatch_args: vec!["qos=normal".into()],
                    ..Default::default()
                },
                "slurm.sbatch_args[0]",
            ),
            (
                SlurmSettings {
                    partition: Some("gpu; rm -rf ~".into()),
                    ..Default::default()
                },
                "slurm.partition",
            ),
        ];
        for (s, field) in cases {
            match s.validate("sweep.toml") {
                Err(Error::Config { path, .. }) => assert_eq!(path, format!("sweep.toml: {field}")),
                other => panic!("{field}: {other:?}"),
            }
        }
        settings().validate("sweep.toml").unwrap();
    }

    #[test]
    fn a_job_slurm_does_not_know_is_not_called_ended_without_slurm() {
        // Without a reachable controller nothing can be said: only the timeout frees claims.
        if Command::new("squeue").arg("--version").output().is_err() {
            assert!(!job_ended("123456789"));
        }
        assert_eq!(ask_squeue("12; rm"), None);
    }
}
