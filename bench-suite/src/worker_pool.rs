//! A rayon pool of its own for each thread that trains.
//!
//! The tensor work of a run (matrix products, the fused CPU ops, members side by side) goes
//! to the current rayon pool. Threads outside any pool share the global one: two sweep
//! workers at `-j 2 --threads 1` then took turns on its single thread and a two-core
//! machine trained on one core. Each worker, and the command itself, runs inside a pool of
//! its own with the thread setting's size instead, so `-j J --threads T` uses J × T threads.
//! Inside a pool, a one-thread pool's parallel loops run on the calling thread, without the
//! hand-off to another thread that every loop paid from outside. Work is split by the pool's
//! size, which stays the thread setting, so results do not change.

use crate::{Error, Result};

/// The thread setting: `--threads` (`RAYON_NUM_THREADS`), else one thread per core.
pub fn thread_setting() -> usize {
    rayon::current_num_threads()
}

/// Runs `f` on a new rayon pool of `threads` threads (named `{name}-{i}`) and returns what
/// it returns; the pool ends with the call.
pub fn run_in_own_pool<R: Send>(
    name: &str,
    threads: usize,
    f: impl FnOnce() -> R + Send,
) -> Result<R> {
    let name = name.to_owned();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(move |i| format!("{name}-{i}"))
        .build()
        .map_err(|e| Error::Internal(format!("starting a pool of {threads} threads: {e}")))?;
    Ok(pool.install(f))
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn one_thread_pools_of_two_threads_run_at_the_same_time() {
        // Each side signals that it is running, then waits for the other's signal. Sharing
        // one single-thread pool, the second could not start before the first ended, and the
        // first would wait in vain.
        let (to_b, from_a) = mpsc::channel();
        let (to_a, from_b) = mpsc::channel();
        let side = |to: mpsc::Sender<()>, from: mpsc::Receiver<()>| {
            move || {
                run_in_own_pool("test", 1, move || {
                    assert_eq!(rayon::current_num_threads(), 1);
                    to.send(()).unwrap();
                    from.recv_timeout(Duration::from_secs(20)).is_ok()
                })
                .unwrap()
            }
        };
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(side(to_b, from_b));
            let b = s.spawn(side(to_a, from_a));
            (a.join().unwrap(), b.join().unwrap())
        });
        assert!(a && b, "both sides saw the other running: {a}, {b}");
    }

    #[test]
    fn work_inside_runs_on_the_pool_of_the_given_size() {
        let (threads, index) = run_in_own_pool("test", 3, || {
            (rayon::current_num_threads(), rayon::current_thread_index())
        })
        .unwrap();
        assert_eq!(threads, 3);
        assert!(index.is_some(), "the closure runs on a pool thread");
    }
}
