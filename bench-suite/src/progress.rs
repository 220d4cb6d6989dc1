//! Sweep progress: on a terminal, a bar for the whole sweep and one per run in training
//! (indicatif), with an ETA; elsewhere, one plain line per finished run on stderr, with the
//! same ETA; or nothing.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Bars (stderr is a terminal).
    Bars,
    /// One line per finished run on stderr.
    Lines,
    /// Nothing.
    Quiet,
}

impl ProgressMode {
    /// Nothing when `quiet`; bars when stderr is a terminal; one line per run otherwise.
    pub fn auto(quiet: bool) -> Self {
        use std::io::IsTerminal;
        if quiet {
            ProgressMode::Quiet
        } else if std::io::stderr().is_terminal() {
            ProgressMode::Bars
        } else {
            ProgressMode::Lines
        }
    }
}

/// Progress of a sweep, shared by its workers.
pub struct SweepProgress {
    mode: ProgressMode,
    multi: MultiProgress,
    total: ProgressBar,
    cells: AtomicUsize,
    finished: AtomicUsize,
    steps_total: AtomicU64,
    steps_done: AtomicU64,
    /// Steps not trained by this invocation (reused records, runs another process finished),
    /// excluded from the rate.
    steps_not_ours: AtomicU64,
    started: Instant,
    lines: Mutex<()>,
}

/// Progress of one run in training.
pub struct RunProgress<'a> {
    sweep: &'a SweepProgress,
    bar: ProgressBar,
    steps: u64,
    planned: u64,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).expect("static progress template")
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

impl SweepProgress {
    /// Progress over `cells` runs of `steps_total` training steps in all, of which `reused`
    /// runs (`steps_reused` steps) are already recorded.
    pub fn new(
        mode: ProgressMode,
        cells: usize,
        steps_total: u64,
        reused: usize,
        steps_reused: u64,
    ) -> Self {
        let multi = MultiProgress::with_draw_target(match mode {
            ProgressMode::Bars => ProgressDrawTarget::stderr(),
            _ => ProgressDrawTarget::hidden(),
        });
        let total = multi.add(ProgressBar::new(steps_total));
        total.set_style(style(
            "sweep [{elapsed_precise}] {wide_bar} {percent:>3}% eta {eta} {msg}",
        ));
        total.set_position(steps_reused);
        total.reset_eta();
        let progress = Self {
            mode,
            multi,
            total,
            cells: AtomicUsize::new(cells),
            finished: AtomicUsize::new(reused),
            steps_total: AtomicU64::new(steps_total),
            steps_done: AtomicU64::new(steps_reused),
            steps_not_ours: AtomicU64::new(steps_reused),
            started: Instant::now(),
            lines: Mutex::new(()),
        };
        progress.set_message();
        progress
    }

    fn set_message(&self) {
        self.total.set_message(format!(
            "{}/{} runs",
            self.finished.load(Ordering::SeqCst),
            self.cells.load(Ordering::SeqCst)
        ));
    }

    /// A run of `planned` steps joins the sweep (one the asked-for runs need).
    pub fn add_run(&self, planned: u64) {
        self.cells.fetch_add(1, Ordering::SeqCst);
        self.steps_total.fetch_add(planned, Ordering::SeqCst);
        self.total.inc_length(planned);
        self.set_message();
    }

    /// A run of `planned` steps was finished by another process.
    pub fn done_elsewhere(&self, planned: u64) {
        self.steps_not_ours.fetch_add(planned, Ordering::SeqCst);
        self.steps_done.fetch_add(planned, Ordering::SeqCst);
        self.total.inc(planned);
        self.finished.fetch_add(1, Ordering::SeqCst);
        self.set_message();
    }

    /// Estimated time left, from the step rate of this invocation.
    fn eta(&self) -> Option<Duration> {
        let done = self.steps_done.load(Ordering::SeqCst);
        let fresh = done.saturating_sub(self.steps_not_ours.load(Ordering::SeqCst));
        if fresh == 0 {
            return None;
        }
        let per_step = self.started.elapsed().as_secs_f64() / fresh as f64;
        Some(Duration::from_secs_f64(
            per_step * self.steps_total.load(Ordering::SeqCst).saturating_sub(done) as f64,
        ))
    }

    /// Prints a line (not in quiet mode), above the bars on a terminal.
    pub fn note(&self, line: &str) {
        match self.mode {
            ProgressMode::Bars => self.multi.suspend(|| eprintln!("{line}")),
            ProgressMode::Lines => {
                let _guard = self.lines.lock();
                eprintln!("{line}");
            }
            ProgressMode::Quiet => {}
        }
    }

    /// A run of `planned` steps starts; `label` names it.
    pub fn start_run(&self, label: &str, planned: u64) -> RunProgress<'_> {
        let bar = if self.mode == ProgressMode::Bars {
            let bar = self.multi.add(ProgressBar::new(planned));
            bar.set_style(style("  {msg:40!} {bar:30} {pos}/{len} steps, eta {eta}"));
            bar.set_message(label.to_owned());
            bar
        } else {
            ProgressBar::hidden()
        };
        RunProgress {
            sweep: self,
            bar,
            steps: 0,
            planned,
        }
    }

    /// Clears the bars.
    pub fn finish(&self) {
        self.total.finish_and_clear();
    }
}

impl RunProgress<'_> {
    /// One training step done.
    pub fn step(&mut self) {
        self.bar.inc(1);
        if self.steps < self.planned {
            self.steps += 1;
            self.sweep.steps_done.fetch_add(1, Ordering::SeqCst);
            self.sweep.total.inc(1);
        }
    }

    /// The run ended; `outcome` says how (e.g. `completed in 1.2 s`).
    pub fn finish(self, label: &str, outcome: &str) {
        let rest = self.planned - self.steps;
        self.sweep.steps_done.fetch_add(rest, Ordering::SeqCst);
        self.sweep.total.inc(rest);
        let n = self.sweep.finished.fetch_add(1, Ordering::SeqCst) + 1;
        self.sweep.set_message();
        self.bar.finish_and_clear();
        self.sweep.multi.remove(&self.bar);
        let eta = self
            .sweep
            .eta()
            .map(|d| format!(", eta {}", clock(d)))
            .unwrap_or_default();
        if self.sweep.mode == ProgressMode::Lines {
            self.sweep.note(&format!(
                "[{n}/{}] {label}: {outcome}{eta}",
                self.sweep.cells.load(Ordering::SeqCst)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_count_their_planned_steps_once_and_the_eta_uses_only_fresh_work() {
        // 3 runs of 10 steps; one was already recorded.
        let p = SweepProgress::new(ProgressMode::Quiet, 3, 30, 1, 10);
        assert_eq!(p.eta(), None, "no rate before any fresh step");
        let mut run = p.start_run("a", 10);
        for _ in 0..4 {
            run.step();
        }
        assert_eq!(p.steps_done.load(Ordering::SeqCst), 14);
        assert!(p.eta().is_some());
        // A run that stops early (diverged) still counts all its planned steps when done.
        run.finish("a", "diverged");
        assert_eq!(p.steps_done.load(Ordering::SeqCst), 20);
        assert_eq!(p.finished.load(Ordering::SeqCst), 2);
        // Steps beyond the plan (none should come) never push the total past it.
        let mut run = p.start_run("b", 10);
        for _ in 0..15 {
            run.step();
        }
        run.finish("b", "completed");
        assert_eq!(p.steps_done.load(Ordering::SeqCst), 30);
        assert_eq!(p.eta(), Some(Duration::ZERO));
    }

    #[test]
    fn clock_prints_hours_minutes_seconds() {
        assert_eq!(clock(Duration::from_secs(3725)), "1:02:05");
    }
}
