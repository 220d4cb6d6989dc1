//! End-to-end: crash safety and resume through the real binary — kill -9 at random moments,
//! a crash between temp write and rename, corrupt records, a full disk, the folder lock,
//! changed configurations and stop signals (DESIGN.md §8, R4–R6 and R14–R18).

mod util;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use mtl_methods::testing::SplitMix64;

use util::{
    journal, journal_cells, records_in, records_without_timing, send_signal, unix_now, wait_for,
    Workdir,
};

/// 2 tasks, 1 model, 2 seeds, uniform and MGDA-UB plus the 2 single-task baselines: 8 short
/// runs.
const MICRO: &str = "seeds = [0, 1]
models = [\"linear-s\"]
[dataset]
name = \"synthetic-linear\"
tasks = 2
dim = 4
train = 64
val = 16
test = 16
[train]
epochs = 3
batch_size = 16
lr = 0.01
[[methods]]
name = \"uniform\"
[[methods]]
name = \"mgda-ub\"
";

/// The micro sweep with runs of `epochs` epochs of 16 steps (for signals and the lock).
fn slow(epochs: usize) -> String {
    MICRO
        .replace("epochs = 3", &format!("epochs = {epochs}"))
        .replace("train = 64", "train = 256")
}

/// The files in `dir` (none if it does not exist).
fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

/// Each cell's count of journal completions (`done`, or `recovered` for a record whose writer
/// died between the rename and the journal line).
fn completions(dir: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for id in journal_cells(dir, "done")
        .into_iter()
        .chain(journal_cells(dir, "recovered"))
    {
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

fn record_names(dir: &Path) -> Vec<String> {
    records_without_timing(dir)
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

#[test]
fn kill_9_at_20_random_moments_then_resume_gives_the_uninterrupted_records() {
    let w = Workdir::new();
    // 16 runs, long enough that the process start-up is a small part of each kill interval.
    w.write(
        "micro.toml",
        &MICRO
            .replace("seeds = [0, 1]", "seeds = [0, 1, 2, 3]")
            .replace("epochs = 3", "epochs = 10"),
    );
    let start = Instant::now();
    w.run(&["sweep", "micro.toml", "--out", "reference", "-q"])
        .expect_code(0);
    let full = start.elapsed();
    let dir = w.join("res");
    let run_time = full / 16;
    // A seeded source of kill moments.
    let mut rng = SplitMix64::new(2024);
    let mut mid_sweep = 0;
    for i in 0..20 {
        // The folder appears with the first sweep, which a kill can beat.
        let records = || {
            if dir.exists() {
                record_names(&dir).len()
            } else {
                0
            }
        };
        let had = records();
        let lines = journal(&dir).lines().count();
        // Odd rounds train two runs side by side: kills then cut two runs at once.
        let jobs = if i % 2 == 1 { "2" } else { "1" };
        let mut child = w.spawn(&["sweep", "micro.toml", "--out", "res", "-q", "-j", jobs]);
        // Every fourth kill comes at a moment counted from the start of the process (start-up,
        // scanning the folder); the others once the process has written to the journal,
        // within one and a half runs' time, so that the kills land at every point of a run
        // (training, writing the record, the journal) and the sweep advances between them.
        if i % 4 != 0 {
            wait_for("the sweep to start or end", || {
                journal(&dir).lines().count() > lines || child.try_wait().unwrap().is_some()
            });
        }
        // (Two runs side by side take about twice as long each.)
        let scale = if jobs == "2" { 3.0 } else { 1.5 };
        let at = run_time.mul_f64((rng.next_u64() % 1000) as f64 / 1000.0 * scale);
        std::thread::sleep(at);
        // SIGKILL: no handler runs, nothing is cleaned up.
        child.kill().expect("kill -9");
        let killed = child.wait().unwrap().code().is_none();
        mid_sweep += usize::from(killed && had < 16);
        eprintln!(
            "kill {i} at {at:?}: {had} → {} records, {} journal lines",
            records(),
            journal(&dir).lines().count()
        );
    }
    assert!(
        mid_sweep >= 8,
        "only {mid_sweep} of 20 kills hit a sweep with work left"
    );
    w.run(&["sweep", "micro.toml", "--out", "res", "-q"])
        .expect_code(0);
    assert_eq!(
        records_without_timing(&dir),
        records_without_timing(&w.join("reference"))
    );
    let counts = completions(&dir);
    assert_eq!(counts.len(), 16, "{}", journal(&dir));
    for (cell, n) in counts {
        assert_eq!(n, 1, "cell {cell} completed {n} times");
    }
}

#[test]
fn crash_between_temp_write_and_rename_leaves_no_record_and_resume_completes() {
    let w = Workdir::new();
    w.write("micro.toml", MICRO);
    let crashed = w.run_env(
        &["sweep", "micro.toml", "--out", "res"],
        &[("MTLBENCH_FAILPOINT", "crash-before-rename@3")],
    );
    assert_ne!(crashed.code(), 0, "the failpoint aborts the process");
    let dir = w.join("res");
    assert_eq!(
        record_names(&dir).len(),
        2,
        "two records renamed into place"
    );
    let temps: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert_eq!(temps.len(), 1, "the third record is only a temp file");
    let resumed = w
        .run(&["sweep", "micro.toml", "--out", "res"])
        .expect_code(0);
    assert!(
        resumed
            .stdout()
            .contains("8 runs (6 trained, 2 already recorded)"),
        "{}",
        resumed.stdout()
    );
    assert!(
        resumed.stderr().contains("left by an interrupted write"),
        "{}",
        resumed.stderr()
    );
    assert!(!dir.join(&temps[0]).exists());
    assert_eq!(record_names(&dir).len(), 8);
}

#[test]
fn empty_truncated_foreign_and_edited_records_are_reported_quarantined_and_rerun() {
    let w = Workdir::new();
    w.write("micro.toml", MICRO);
    w.run(&["sweep", "micro.toml", "--out", "res", "-q"])
        .expect_code(0);
    let dir = w.join("res");
    let reference = records_without_timing(&dir);
    let names = record_names(&dir);
    std::fs::write(dir.join(&names[0]), "").unwrap();
    let whole = std::fs::read(dir.join(&names[1])).unwrap();
    std::fs::write(dir.join(&names[1]), &whole[..whole.len() / 2]).unwrap();
    std::fs::copy(dir.join(&names[3]), dir.join(&names[2])).unwrap();
    // A record whose seed was edited by hand keeps its cell id but describes another run.
    let mut edited: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(&names[4])).unwrap()).unwrap();
    edited["seed"] = (edited["seed"].as_u64().unwrap() + 7).into();
    std::fs::write(dir.join(&names[4]), edited.to_string()).unwrap();
    let run = w
        .run(&["sweep", "micro.toml", "--out", "res"])
        .expect_code(0);
    let err = run.stderr();
    // names[3] stays valid: it was copied over names[2].
    let invalid = [&names[0], &names[1], &names[2], &names[4]];
    for name in invalid {
        assert!(
            err.contains(&format!("invalid record res/{name}")),
            "{name} reported:\n{err}"
        );
    }
    assert!(err.contains("EOF while parsing"), "{err}");
    assert!(err.contains("holds the record of cell"), "{err}");
    assert!(
        err.contains("its seed is") && err.contains("edited"),
        "{err}"
    );
    assert!(
        run.stdout()
            .contains("(4 trained, 4 already recorded, 4 invalid records quarantined)"),
        "{}",
        run.stdout()
    );
    let quarantine = dir.join("quarantine");
    for name in invalid {
        assert!(quarantine.join(name).exists(), "{name} quarantined");
        let reason =
            std::fs::read_to_string(quarantine.join(format!("{name}.reason.txt"))).unwrap();
        assert!(!reason.trim().is_empty());
    }
    assert_eq!(records_without_timing(&dir), reference);
}

/// A small tmpfs mounted for the test (needs root and a kernel that lets us mount);
/// unmounted on drop.
struct Tmpfs {
    path: std::path::PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(path).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self {
            path: path.to_owned(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_earlier_records_stay_intact() {
    let w = Workdir::new();
    // 24 runs of about 4 KB each: more than the 48 KiB file system holds.
    w.write(
        "micro.toml",
        &MICRO.replace("seeds = [0, 1]", "seeds = [0, 1, 2, 3, 4, 5]"),
    );
    // A real ENOSPC from a 48 KiB tmpfs where mounting works (root); otherwise the same
    // failure injected into the third record write.
    let mounted = Tmpfs::mount(&w.join("small"), "48k");
    eprintln!(
        "disk-full test: {}",
        if mounted.is_some() {
            "a real ENOSPC on a 48 KiB tmpfs"
        } else {
            "mounting failed; the record-enospc failpoint"
        }
    );
    let run = match &mounted {
        Some(_) => w.run(&["sweep", "micro.toml", "--out", "small/res"]),
        None => w.run_env(
            &["sweep", "micro.toml", "--out", "small/res"],
            &[("MTLBENCH_FAILPOINT", "record-enospc@3")],
        ),
    };
    let run = run.expect_code(1);
    let err = run.stderr();
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        err.contains("small/res"),
        "the error names the folder: {err}"
    );
    let dir = w.join("small/res");
    let kept = record_names(&dir);
    assert!(!kept.is_empty() && kept.len() < 24, "{kept:?}");
    // Every record that is there is whole and valid, and no temp file is left behind.
    let report = w.run(&["report", "small/res"]).expect_code(0);
    assert!(report.stdout().contains("| uniform") || report.stdout().contains("| stl"));
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    drop(mounted);
}

#[test]
fn a_second_sweep_on_a_busy_folder_is_refused_naming_the_holder() {
    let w = Workdir::new();
    w.write("slow.toml", &slow(1000));
    let mut first = w.spawn(&["sweep", "slow.toml", "--out", "res", "-q"]);
    let dir = w.join("res");
    wait_for("the first sweep to start training", || {
        journal(&dir).contains(" start ")
    });
    let second = w
        .run(&["sweep", "slow.toml", "--out", "res", "-q"])
        .expect_code(1);
    assert!(
        second.stderr().contains(&format!(
            "is in use by another mtlbench sweep (pid {})",
            first.id()
        )),
        "{}",
        second.stderr()
    );
    first.kill().unwrap();
    first.wait().unwrap();
}

#[test]
fn the_lock_of_a_killed_sweep_is_taken_over() {
    let w = Workdir::new();
    w.write("micro.toml", MICRO);
    w.write("slow.toml", &slow(1000));
    // The killed sweep was slow.toml; resuming with micro.toml needs --allow-config-change.
    let mut first = w.spawn(&["sweep", "slow.toml", "--out", "res"]);
    let dir = w.join("res");
    wait_for("the sweep to start training", || {
        journal(&dir).contains(" start ")
    });
    let pid = first.id();
    first.kill().unwrap();
    first.wait().unwrap();
    let lock = std::fs::read_to_string(dir.join("sweep-state/lock")).unwrap();
    assert_eq!(
        lock.trim(),
        format!("pid {pid}"),
        "the dead holder's pid stays"
    );
    let resumed = w
        .run(&[
            "sweep",
            "micro.toml",
            "--out",
            "res",
            "--allow-config-change",
        ])
        .expect_code(0);
    // A sweep that ended normally leaves no pid behind, so nothing is "taken over" next time.
    assert_eq!(
        std::fs::read_to_string(dir.join("sweep-state/lock")).unwrap(),
        ""
    );
    let again = w
        .run(&["sweep", "micro.toml", "--out", "res"])
        .expect_code(0);
    assert!(!again.stderr().contains("took over"), "{}", again.stderr());
    assert!(
        resumed.stderr().contains(&format!(
            "took over the lock of res left by pid {pid}, which is no longer running"
        )),
        "{}",
        resumed.stderr()
    );
    assert!(journal(&dir).contains("lock-taken-over"));
}

#[test]
fn resuming_with_a_changed_configuration_is_refused_unless_asked() {
    let w = Workdir::new();
    w.write("micro.toml", MICRO);
    w.run(&["sweep", "micro.toml", "--out", "res", "-q"])
        .expect_code(0);
    let before = w.listing();
    w.write(
        "micro.toml",
        &MICRO.replace("seeds = [0, 1]", "seeds = [0, 1, 2]"),
    );
    let refused = w
        .run(&["sweep", "micro.toml", "--out", "res", "-q"])
        .expect_code(2);
    let err = refused.stderr();
    assert!(err.contains("was made for plan"), "{err}");
    assert!(err.contains("8 cells from micro.toml"), "{err}");
    assert!(err.contains("12 cells from micro.toml"), "{err}");
    assert!(err.contains("--allow-config-change"), "{err}");
    assert_eq!(w.listing(), before, "a refused resume changes nothing");
    let allowed = w
        .run(&[
            "sweep",
            "micro.toml",
            "--out",
            "res",
            "-q",
            "--allow-config-change",
        ])
        .expect_code(0);
    assert!(
        allowed
            .stdout()
            .contains("12 runs (4 trained, 8 already recorded)"),
        "{}",
        allowed.stdout()
    );
    // The folder now belongs to the new plan: resuming it needs no flag.
    w.run(&["sweep", "micro.toml", "--out", "res", "-q"])
        .expect_code(0);
}

/// Stops a sweep with `signal` mid-run, expects exit `code`, then resumes it with `resume`.
fn stop_and_resume(signal: &str, code: i32, resume: &[&str]) {
    let w = Workdir::new();
    w.write("slow.toml", &slow(40));
    let mut child = w.spawn(&["sweep", "slow.toml", "--out", "res"]);
    let dir = w.join("res");
    wait_for("one run to finish and the next to start", || {
        journal_cells(&dir, "start").len() >= 2
    });
    let sent = Instant::now();
    send_signal(child.id(), signal);
    let status = child.wait().unwrap();
    let took = sent.elapsed();
    assert_eq!(status.code(), Some(code), "exit code after {signal}");
    assert!(
        took < Duration::from_secs(3),
        "{signal} took {took:?} to stop the sweep"
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("run the same command again to resume"),
        "{stderr}"
    );
    let interrupted = journal_cells(&dir, "interrupted");
    assert_eq!(interrupted.len(), 1, "{}", journal(&dir));
    assert!(
        !dir.join(format!("{}.json", interrupted[0])).exists(),
        "an interrupted run leaves no record"
    );
    let done_before = journal_cells(&dir, "done").len();
    let resumed = w.run(resume).expect_code(0);
    assert!(
        resumed.stdout().contains(&format!(
            "({} trained, {done_before} already recorded)",
            8 - done_before
        )),
        "{}",
        resumed.stdout()
    );
    assert!(journal_cells(&dir, "done").contains(&interrupted[0]));
    for (cell, n) in completions(&dir) {
        assert_eq!(n, 1, "cell {cell} completed {n} times");
    }
}

#[test]
fn sigint_stops_promptly_with_code_130_and_the_run_is_redone_on_resume() {
    stop_and_resume("-INT", 130, &["sweep", "slow.toml", "--out", "res", "-q"]);
}

#[test]
fn sigterm_stops_promptly_with_code_143_and_the_run_is_redone_on_resume() {
    // `mtlbench resume` finds the configuration in the folder.
    stop_and_resume("-TERM", 143, &["resume", "res", "-q"]);
}

#[test]
fn resume_needs_a_folder_that_a_sweep_wrote() {
    let w = Workdir::new();
    std::fs::create_dir(w.join("empty")).unwrap();
    let run = w.run(&["resume", "empty"]).expect_code(2);
    assert!(
        run.stderr().contains("empty: not a sweep results folder"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("mtlbench sweep FILE --out empty"));
    assert_eq!(w.listing(), vec!["empty".to_string()]);
}

/// Runs `sweep FILE --out cut` with the failpoint `stop` (a SIGINT before the process's N-th
/// step) until it finishes, calling `after_stop` after each stop (exit 130); returns the stops.
/// Panics on any other exit, or after `max_stops` stops (no progress).
fn sweep_stopping_at(
    w: &Workdir,
    file: &str,
    stop: &str,
    max_stops: usize,
    mut after_stop: impl FnMut(),
) -> usize {
    let mut stops = 0;
    loop {
        let out = w.run_env(
            &["sweep", file, "--out", "cut", "-q"],
            &[("MTLBENCH_FAILPOINT", stop)],
        );
        match out.code() {
            0 => return stops,
            130 => stops += 1,
            other => panic!("exit {other}: {}", out.stderr()),
        }
        assert!(stops < max_stops, "no progress");
        after_stop();
    }
}

/// Every run in `dir` that a process stopping at the Unix times `stopped_at` left unfinished
/// (at least one) has a time that starts in an earlier process than the one that finished it,
/// and counts no more than the wall time between the two.
fn assert_times_span_the_processes(dir: &Path, stopped_at: &[f64]) {
    let first_stop = stopped_at.iter().copied().fold(f64::MAX, f64::min);
    let cut: Vec<_> = records_in(dir)
        .into_iter()
        .filter(|r| r["timing"]["finished_unix"].as_f64().unwrap() > first_stop)
        .collect();
    assert!(!cut.is_empty(), "no run was cut");
    for record in cut {
        let timing = &record["timing"];
        let (started, finished) = (
            timing["started_unix"].as_f64().unwrap(),
            timing["finished_unix"].as_f64().unwrap(),
        );
        let last_stop = stopped_at
            .iter()
            .copied()
            .filter(|&t| t < finished)
            .fold(f64::MIN, f64::max);
        assert!(
            started < last_stop,
            "{timing} starts after the last stop {last_stop}"
        );
        let total = timing["total_s"].as_f64().unwrap();
        assert!(
            total > 0.0 && total <= finished - started + 1e-3,
            "{timing}"
        );
    }
}

/// Stateful methods, each with state a restart from scratch would lose: learned parameters
/// (uw, gradnorm), epoch history (dwa), logits with their own optimiser (famo), a refresh
/// interval (nash-mtl), running averages (db-mtl, gradvac), a measured prefix (autoscale),
/// seeded draws (rlw, pcgrad). 8 epochs of 16 steps each.
const STATEFUL: &str = "
seeds = [0]
models = [\"mlp-xs\"]
[dataset]
name = \"synthetic-linear\"
tasks = 3
train = 256
val = 32
test = 32
[train]
epochs = 8
batch_size = 16
lr = 0.01
[[methods]]
name = \"uw\"
[[methods]]
name = \"gradnorm\"
[[methods]]
name = \"dwa\"
[[methods]]
name = \"famo\"
[[methods]]
name = \"nash-mtl\"
update_weights_every = 3
[[methods]]
name = \"db-mtl\"
[[methods]]
name = \"gradvac\"
beta = 0.5
[[methods]]
name = \"autoscale\"
exploration = \"prefix\"
prefix = 0.3
measure_every = 2
[[methods]]
name = \"rlw\"
[[methods]]
name = \"pcgrad\"
";

#[test]
fn runs_stopped_at_step_boundaries_resume_from_checkpoints_to_the_uninterrupted_records() {
    let w = Workdir::new();
    w.write("stateful.toml", STATEFUL);
    w.run(&["sweep", "stateful.toml", "--out", "whole", "-q"])
        .expect_code(0);
    // Every process stops before its 37th step: each run is cut several times, at every
    // phase of an epoch, and continued from its checkpoint by the next process.
    let mut stopped_at = Vec::new();
    let stops = sweep_stopping_at(&w, "stateful.toml", "sigint@37", 100, || {
        stopped_at.push(unix_now())
    });
    assert!(stops >= 10 * 128 / 36, "{stops} stops");
    assert_eq!(
        records_without_timing(&w.join("cut")),
        records_without_timing(&w.join("whole"))
    );
    assert_times_span_the_processes(&w.join("cut"), &stopped_at);
    let left = files_in(&w.join("cut").join("checkpoints"));
    assert!(left.is_empty(), "checkpoints left: {left:?}");
}

#[test]
fn status_shows_each_cell_done_claimed_failed_or_missing_while_reading_without_the_lock() {
    let w = Workdir::new();
    w.write("micro.toml", MICRO);
    w.run(&["sweep", "micro.toml", "--out", "res", "-q"])
        .expect_code(0);
    let dir = w.join("res");
    let ids = record_names(&dir);
    assert_eq!(ids.len(), 8, "{ids:?}");
    let id = |i: usize| ids[i].trim_end_matches(".json").to_owned();
    for name in &ids[..4] {
        std::fs::remove_file(dir.join(name)).unwrap();
    }
    // Cell 0: claimed by a task of a Slurm array on another node.
    std::fs::create_dir_all(dir.join("claims")).unwrap();
    let holder = serde_json::json!({
        "host": "node-7", "pid": 4242, "job": "991", "array_task": "3",
        "claimed_unix": 1.0e9, "heartbeat_unix": 1.0e9,
    });
    std::fs::write(
        dir.join("claims").join(format!("{}.claim", id(0))),
        holder.to_string(),
    )
    .unwrap();
    // Cell 1: the journal's last word is a failure.
    let mut journal = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("sweep-state").join("journal.log"))
        .unwrap();
    use std::io::Write;
    writeln!(journal, "1 start {} uniform", id(1)).unwrap();
    writeln!(journal, "2 failed {} writing record: disk full", id(1)).unwrap();
    // Cell 3: started again, no record yet.
    writeln!(journal, "3 start {} uniform", id(3)).unwrap();
    // Cell 2: nothing left.
    let out = w.run(&["status", "res"]).expect_code(0).stdout();
    assert!(
        out.starts_with(
            "8 cells of micro.toml: 4 done, 1 claimed, 1 started, 0 stopped (resume from checkpoints), 1 failed, 1 missing"
        ),
        "{out}"
    );
    let line = |cell: String| {
        out.lines()
            .find(|l| l.contains(&cell))
            .unwrap_or_else(|| panic!("no line for {cell}:\n{out}"))
            .to_owned()
    };
    assert!(line(id(0)).contains("claimed by host node-7 pid 4242 job 991 task 3, heartbeat"));
    assert!(line(id(1)).ends_with("failed: writing record: disk full"));
    assert!(line(id(2)).ends_with(": missing"));
    assert!(line(id(3)).ends_with(": started: training, or interrupted without a checkpoint"));
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("finish with: mtlbench resume res"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 6, "{out}");
    // A folder that is not a sweep's is refused as configuration (exit 2).
    std::fs::create_dir_all(w.join("empty")).unwrap();
    let err = w.run(&["status", "empty"]).expect_code(2).stderr();
    assert!(err.contains("not a sweep results folder"), "{err}");
}

/// The slow micro sweep with a grid search of 5 candidates instead of its methods: 48 steps
/// per candidate (240 for the search), then two seeds' runs.
fn grid() -> String {
    let slow = slow(3);
    let head = &slow[..slow
        .find("[[methods]]")
        .expect("the micro sweep lists methods")];
    format!("{head}[[methods]]\nname = \"tuned\"\nstrategy = \"grid\"\nstep = 0.25\n")
}

#[test]
fn a_weight_search_cut_by_sigint_continues_from_its_finished_trials() {
    let w = Workdir::new();
    w.write("grid.toml", &grid());
    w.run(&["sweep", "grid.toml", "--out", "whole", "-q"])
        .expect_code(0);
    // Each process stops before its 100th step, fewer than the whole search's 240: started
    // over each time, the search would never end.
    let mut stopped_in_search = 0;
    let stops = sweep_stopping_at(&w, "grid.toml", "sigint@100", 10, || {
        // Stopped inside the search: `status` counts the trials it will not train again.
        let logs = files_in(&w.join("cut").join("searches"));
        if let Some(log) = logs
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == "trials"))
        {
            let trials = std::fs::read_to_string(log).unwrap().lines().count();
            let status = w.run(&["status", "cut"]).expect_code(0);
            assert!(
                status.stdout().contains(&format!(
                    "stopped after {trials} finished trials (continues from them)"
                )),
                "{}",
                status.stdout()
            );
            stopped_in_search += 1;
        }
    });
    assert!(
        stopped_in_search >= 2,
        "{stopped_in_search} stops inside the search"
    );
    assert!(stops >= 2, "{stops} stops");
    assert_eq!(
        records_without_timing(&w.join("cut")),
        records_without_timing(&w.join("whole"))
    );
    let search = |dir: &str| -> serde_json::Value {
        let folder = w.join(dir).join("searches");
        let files: Vec<_> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "only the search record is left: {files:?}");
        let mut s: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
        s.as_object_mut().unwrap().remove("wall_s");
        s
    };
    assert_eq!(
        search("cut"),
        search("whole"),
        "same trials, choice and budget"
    );
}

#[test]
fn a_pbt_population_cut_by_sigint_continues_from_its_save_point() {
    // PBT keeping its member: a population of 4 per seed, rounds of 8 steps (32 for the
    // population), 48 steps each. Each process stops before its 50th step: it restores the
    // last save point, finishes one round (saved at once: a process saves its first round
    // boundary), and is stopped in the next. Started over each time, a population would
    // never end.
    let w = Workdir::new();
    let slow = slow(3);
    let head = &slow[..slow.find("[[methods]]").expect("methods listed")];
    let file = format!(
        "{head}[[methods]]\nname = \"tuned\"\nstrategy = \"pbt\"\npopulation = 4\nready = 8\n"
    );
    w.write("pbt.toml", &file);
    w.run(&["sweep", "pbt.toml", "--out", "whole", "-q"])
        .expect_code(0);
    let mut stopped_with_save_point = 0;
    let mut stopped_at = Vec::new();
    let stops = sweep_stopping_at(&w, "pbt.toml", "sigint@50", 30, || {
        stopped_at.push(unix_now());
        let points = files_in(&w.join("cut").join("checkpoints"));
        if points
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".population.json"))
        {
            let status = w.run(&["status", "cut"]).expect_code(0).stdout();
            assert!(status.contains("1 stopped"), "{status}");
            assert!(
                status
                    .contains("stopped in its PBT population (continues from its last save point)"),
                "{status}"
            );
            stopped_with_save_point += 1;
        }
    });
    assert!(
        stopped_with_save_point >= 2,
        "{stopped_with_save_point} stops with a save point ({stops} stops)"
    );
    assert_eq!(
        records_without_timing(&w.join("cut")),
        records_without_timing(&w.join("whole"))
    );
    assert_times_span_the_processes(&w.join("cut"), &stopped_at);
    let left = files_in(&w.join("cut").join("checkpoints"));
    assert!(left.is_empty(), "save points left: {left:?}");
}
