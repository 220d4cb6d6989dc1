//! End-to-end: sweeps as job arrays over one shared results folder — `sweep --plan-only`,
//! `run-cell` tasks racing under per-cell claims, a task killed mid-run, and a real
//! single-node Slurm (`mtlbench slurm --submit`, `scancel`, resubmission).

mod util;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use util::{journal, journal_cells, records_without_timing, send_signal, wait_for, Workdir};

/// 2 tasks, 3 seeds: the single-task baselines (6), uniform, tuned (one weight search shared
/// by the seeds) and MGDA-UB, selected on validation Δm, so that cells need the baselines of
/// other cells: 15 cells.
fn sweep_file(epochs: usize, train: usize) -> String {
    format!(
        "seeds = [0, 1, 2]
models = [\"linear-s\"]
[dataset]
name = \"synthetic-linear\"
tasks = 2
dim = 4
train = {train}
val = 16
test = 16
[train]
epochs = {epochs}
batch_size = 16
lr = 0.01
selection = \"dm\"
[[methods]]
name = \"uniform\"
[[methods]]
name = \"tuned\"
step = 0.5
[[methods]]
name = \"mgda-ub\"
[slurm]
cpus_per_task = 1
time = \"00:20:00\"
"
    )
}

/// The sweep with 2 seeds and MGDA added: 12 cells.
fn sweep_file_12(epochs: usize, train: usize) -> String {
    sweep_file(epochs, train)
        .replace("seeds = [0, 1, 2]", "seeds = [0, 1]")
        .replace("[slurm]", "[[methods]]\nname = \"mgda\"\n[slurm]")
}

/// Each cell's (and search's) count of `done` lines in the journal.
fn completions(dir: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for id in journal_cells(dir, "done") {
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

/// The plan's cell ids, from `sweep-state/cells.tsv`.
fn cell_ids(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("sweep-state").join("cells.tsv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(1).unwrap().to_owned())
        .collect()
}

/// Every cell of the plan trained exactly once, and one weight search.
fn assert_each_trained_once(dir: &Path) {
    let done = completions(dir);
    for id in cell_ids(dir) {
        assert_eq!(done.get(&id), Some(&1), "cell {id}:\n{}", journal(dir));
    }
    let searches: Vec<_> = done.keys().filter(|k| k.starts_with("search-")).collect();
    assert_eq!(searches.len(), 1, "{done:?}");
    assert_eq!(done[searches[0]], 1);
}

#[test]
fn run_cell_tasks_racing_over_one_folder_give_the_local_sweeps_records_once_each() {
    let w = Workdir::new();
    w.write("s.toml", &sweep_file(3, 64));
    let plan = w
        .run(&["sweep", "s.toml", "--plan-only", "--out", "arr"])
        .expect_code(0)
        .stdout();
    assert!(
        plan.starts_with("plan ") && plan.contains("15 cells (0 already recorded)"),
        "{plan}"
    );
    assert_eq!(cell_ids(&w.join("arr")).len(), 15);
    // Five tasks of three cells, and two processes asked for everything, all at once: the
    // cells that need baselines or the search from another task's chunk wait for it or
    // train it themselves.
    let mut children: Vec<_> = (0..5)
        .map(|t| {
            w.spawn(&[
                "run-cell",
                "arr",
                "--task",
                &t.to_string(),
                "--chunk",
                "3",
                "-q",
            ])
        })
        .collect();
    children.extend((0..2).map(|_| w.spawn(&["run-cell", "arr", "--task", "0", "--chunk", "15"])));
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_each_trained_once(&w.join("arr"));
    assert!(
        std::fs::read_dir(w.join("arr").join("claims"))
            .unwrap()
            .next()
            .is_none(),
        "claims left behind"
    );
    w.run(&["sweep", "s.toml", "--out", "local", "-q"])
        .expect_code(0);
    assert_eq!(
        records_without_timing(&w.join("arr")),
        records_without_timing(&w.join("local"))
    );
    // Asked again, every cell is recorded: nothing is trained.
    let again = w
        .run(&["run-cell", "arr", "--task", "0", "--chunk", "15"])
        .expect_code(0);
    assert!(
        again.stdout().contains("15 cells (0 trained here"),
        "{}",
        again.stdout()
    );
}

#[test]
fn a_task_killed_between_claim_and_record_leaves_its_cell_to_the_next_task() {
    let w = Workdir::new();
    // Runs of about half a second: the kill lands long before the record.
    w.write("s.toml", &sweep_file(100, 512));
    w.run(&["sweep", "s.toml", "--plan-only", "--out", "arr"])
        .expect_code(0);
    let first = cell_ids(&w.join("arr"))[0].clone();
    let claim = w.join("arr").join("claims").join(format!("{first}.claim"));
    let mut task = w.spawn(&["run-cell", "arr", &first]);
    wait_for("the claim", || claim.exists());
    send_signal(task.id(), "-KILL");
    task.wait().unwrap();
    assert!(claim.exists(), "the killed task's claim stays");
    assert!(!w.join("arr").join(format!("{first}.json")).exists());
    let status = w.run(&["status", "arr"]).expect_code(0).stdout();
    assert!(
        status.contains(&format!("{first}  stl")) && status.contains("claimed by host"),
        "{status}"
    );
    // The next task finds its holder gone from this host and takes the cell over.
    let next = w.run(&["run-cell", "arr", &first]).expect_code(0);
    assert!(
        next.stderr().contains("took over")
            && next.stderr().contains("its process on this host is gone"),
        "{}",
        next.stderr()
    );
    assert_eq!(
        journal_cells(&w.join("arr"), "takeover"),
        vec![first.clone()]
    );
    assert_eq!(completions(&w.join("arr")).get(&first), Some(&1));
    assert!(!claim.exists());
    // The record is the one an uninterrupted task writes.
    w.run(&["sweep", "s.toml", "--plan-only", "--out", "fresh"])
        .expect_code(0);
    w.run(&["run-cell", "fresh", &first, "-q"]).expect_code(0);
    assert_eq!(
        records_without_timing(&w.join("arr")),
        records_without_timing(&w.join("fresh"))
    );
}

#[test]
fn resume_finishes_what_the_tasks_of_an_array_left() {
    let w = Workdir::new();
    w.write("s.toml", &sweep_file(3, 64));
    w.run(&["sweep", "s.toml", "--plan-only", "--out", "arr"])
        .expect_code(0);
    // Only the first task ran (its cells need nothing from others).
    w.run(&["run-cell", "arr", "--task", "0", "--chunk", "5", "-q"])
        .expect_code(0);
    let status = w.run(&["status", "arr"]).expect_code(0).stdout();
    assert!(status.starts_with("15 cells of s.toml: 5 done"), "{status}");
    let resumed = w.run(&["resume", "arr", "-q"]).expect_code(0).stdout();
    assert!(
        resumed.contains("15 runs (10 trained, 5 already recorded)"),
        "{resumed}"
    );
    assert_each_trained_once(&w.join("arr"));
}

#[test]
fn the_slurm_script_covers_only_the_tasks_with_cells_left_and_says_what_it_asks_for() {
    let w = Workdir::new();
    w.write(
        "s.toml",
        &sweep_file(3, 64).replace("cpus_per_task = 1", "cpus_per_task = 1\ngpus = 1"),
    );
    let out = w
        .run(&["slurm", "s.toml", "--out", "arr", "--chunk", "2"])
        .expect_code(0);
    let script = std::fs::read_to_string(w.join("arr/slurm/sweep.sbatch")).unwrap();
    assert!(out.stdout().contains(&script), "the script is shown");
    assert!(script.contains("#SBATCH --array=0-7\n"), "{script}");
    assert!(
        script.contains("#SBATCH --gres=gpu:1\n") && script.contains("#SBATCH --time=00:20:00\n")
    );
    assert!(
        script.contains("run-cell ")
            && script.contains(" --chunk 2 --task \"$SLURM_ARRAY_TASK_ID\"")
    );
    assert!(
        out.stderr()
            .contains("warning: the tasks ask for 1 GPU(s) but the plan trains on cpu"),
        "{}",
        out.stderr()
    );
    assert!(Command::new("bash")
        .args(["-n", "-c", &script])
        .status()
        .unwrap()
        .success());
    // Tasks 0, 1 and 3 done (cells 0-3 and 6-7): the next array holds the others only.
    for task in ["0", "1", "3"] {
        w.run(&["run-cell", "arr", "--task", task, "--chunk", "2", "-q"])
            .expect_code(0);
    }
    w.run(&["slurm", "s.toml", "--out", "arr", "--chunk", "2"])
        .expect_code(0);
    let script = std::fs::read_to_string(w.join("arr/slurm/sweep.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=2,4-7\n"), "{script}");
    // A bad extra option is refused before anything is written.
    let err = w
        .run(&[
            "slurm",
            "s.toml",
            "--out",
            "other",
            "--sbatch-arg",
            "qos=long",
        ])
        .expect_code(2)
        .stderr();
    assert!(err.contains("not an sbatch option"), "{err}");
    assert!(!w.join("other").exists());
}

#[test]
fn run_cell_refuses_a_folder_without_a_plan_and_cells_it_does_not_have() {
    let w = Workdir::new();
    std::fs::create_dir_all(w.join("empty")).unwrap();
    let err = w
        .run(&["run-cell", "empty", "--task", "0"])
        .expect_code(2)
        .stderr();
    assert!(err.contains("not a sweep results folder"), "{err}");
    w.write("s.toml", &sweep_file(1, 64));
    w.run(&["sweep", "s.toml", "--plan-only", "--out", "arr"])
        .expect_code(0);
    let err = w
        .run(&["run-cell", "arr", "0123456789abcdef"])
        .expect_code(2)
        .stderr();
    assert!(
        err.contains("no cell of the sweep") && err.contains("mtlbench status"),
        "{err}"
    );
    let err = w
        .run(&["run-cell", "arr", "--task", "5", "--chunk", "3"])
        .expect_code(2)
        .stderr();
    assert!(
        err.contains("task 5 with --chunk 3 has no cells: the plan has")
            && err.contains(" cells, so tasks 0.."),
        "{err}"
    );
    // Nothing was trained or claimed.
    assert!(records_without_timing(&w.join("arr")).is_empty());
}

#[test]
fn submit_without_sbatch_is_refused_before_anything_is_written() {
    let w = Workdir::new();
    w.write("s.toml", &sweep_file(1, 64));
    std::fs::create_dir(w.join("no-slurm")).unwrap();
    let err = w
        .run_env(
            &["slurm", "s.toml", "--out", "arr", "--submit"],
            &[("PATH", w.join("no-slurm").to_str().unwrap())],
        )
        .expect_code(2)
        .stderr();
    assert!(
        err.contains("cannot run sbatch") && err.contains("--submit"),
        "{err}"
    );
    assert!(!w.join("arr").exists(), "{:?}", w.listing());
}

// ---- a real single-node Slurm ----

/// A single-node Slurm cluster started by `tests/slurm/start-cluster.sh`, stopped on drop.
struct Cluster {
    state: tempfile::TempDir,
    conf: String,
}

impl Cluster {
    /// Starts the cluster, or `None` (with the reason on stderr) where Slurm cannot be
    /// installed or started here; `MTLBENCH_REQUIRE_SLURM=1` turns that into a failure.
    fn start() -> Option<Self> {
        let state = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slurm/start-cluster.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(state.path())
            .output()
            .expect("run bash");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            let why = format!(
                "no single-node Slurm here ({} exited {:?}): {}",
                script.display(),
                out.status.code(),
                stderr.trim().lines().last().unwrap_or("")
            );
            if std::env::var_os("MTLBENCH_REQUIRE_SLURM").is_some() {
                panic!("{why}\n{stdout}\n{stderr}");
            }
            eprintln!("skipped: {why}");
            return None;
        }
        let conf = stdout
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("export SLURM_CONF="))
            .unwrap_or_else(|| panic!("no SLURM_CONF line:\n{stdout}"))
            .trim()
            .to_owned();
        Some(Self { state, conf })
    }

    /// A Slurm client command run against this cluster.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("SLURM_CONF", &self.conf);
        cmd
    }

    /// `squeue` lines (`%i %T`) of job `job` and its array tasks.
    fn queue(&self, job: &str) -> Vec<String> {
        let out = self
            .command("squeue")
            .args(["--noheader", "--jobs", job, "--format=%i %T"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits (up to `limit`) until no task of job `job` is left in the queue.
    fn wait_done(&self, job: &str, limit: Duration) {
        let start = Instant::now();
        while !self.queue(job).is_empty() {
            assert!(
                start.elapsed() < limit,
                "job {job} still queued after {limit:?}: {:?}",
                self.queue(job)
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slurm/stop-cluster.sh");
        let _ = Command::new("bash")
            .arg(script)
            .arg(self.state.path())
            .status();
    }
}

/// `mtlbench slurm … --submit` against the cluster; returns the job id.
fn submit(w: &Workdir, cluster: &Cluster) -> (String, String) {
    let run = w.run_env(
        &["slurm", "s.toml", "--out", "arr", "--submit"],
        &[("SLURM_CONF", cluster.conf.as_str())],
    );
    let out = run.expect_code(0).stdout();
    let job = out
        .lines()
        .find_map(|l| l.strip_prefix("submitted job "))
        .and_then(|l| l.split(';').next())
        .unwrap_or_else(|| panic!("no job id:\n{out}"))
        .to_owned();
    (job, out)
}

#[test]
fn a_slurm_array_with_a_cancelled_task_is_finished_by_a_second_submission() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let w = Workdir::new();
    // Runs of about two seconds each, so that a task is cancelled in the middle of one.
    w.write("s.toml", &sweep_file_12(400, 2048));
    let (job, out) = submit(&w, &cluster);
    assert!(out.contains("#SBATCH --array=0-11"), "{out}");
    let dir = w.join("arr");
    // Cancel the first task seen training a cell that no other cell needs (not a baseline):
    // its job id is in the claim.
    let methods: BTreeMap<String, String> =
        std::fs::read_to_string(dir.join("sweep-state/cells.tsv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[1].to_owned(), f[2].to_owned())
            })
            .collect();
    let claims = dir.join("claims");
    let mut victim = None;
    let start = Instant::now();
    while victim.is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "no task claimed a cell"
        );
        for (cell, method) in &methods {
            if method != "uniform" && method != "mgda-ub" {
                continue;
            }
            let text =
                std::fs::read_to_string(claims.join(format!("{cell}.claim"))).unwrap_or_default();
            if let Ok(h) = serde_json::from_str::<serde_json::Value>(&text) {
                if let Some(task_job) = h["job"].as_str() {
                    victim = Some((task_job.to_owned(), cell.clone()));
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (task_job, cell) = victim.unwrap();
    let cancelled = cluster.command("scancel").arg(&task_job).status().unwrap();
    assert!(cancelled.success());
    cluster.wait_done(&job, Duration::from_secs(300));
    // The cancelled task stopped its cell at a step boundary and let it go.
    let status = w.run(&["status", "arr"]).expect_code(0).stdout();
    assert!(
        status.contains(&format!("{cell}  ")) && status.contains("stopped at a step boundary"),
        "{status}"
    );
    assert!(
        journal_cells(&dir, "interrupted").contains(&cell),
        "{}",
        journal(&dir)
    );
    assert!(!completions(&dir).contains_key(&cell));
    // The second submission covers only what is left, and finishes it.
    let (second, out) = submit(&w, &cluster);
    assert_ne!(second, job);
    assert!(!out.contains("#SBATCH --array=0-11"), "{out}");
    cluster.wait_done(&second, Duration::from_secs(300));
    let status = w.run(&["status", "arr"]).expect_code(0).stdout();
    assert!(
        status.starts_with("12 cells of s.toml: 12 done"),
        "{status}"
    );
    assert_each_trained_once(&dir);
    // Every record equals a local sweep's of the same file (on the tasks' one thread: the
    // records agree across thread counts only up to float rounding).
    w.run(&["--threads", "1", "sweep", "s.toml", "--out", "local", "-q"])
        .expect_code(0);
    assert_eq!(
        records_without_timing(&dir),
        records_without_timing(&w.join("local"))
    );
    // Nothing left to submit.
    let run = w.run_env(
        &["slurm", "s.toml", "--out", "arr", "--submit"],
        &[("SLURM_CONF", cluster.conf.as_str())],
    );
    assert!(run.expect_code(0).stdout().contains("nothing to submit"));
}
