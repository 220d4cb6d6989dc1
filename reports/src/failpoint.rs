//! Failpoints for crash tests: with `MTLBENCH_FAILPOINT=<name>[@N]` (comma-separated for
//! several), the N-th pass (default: every pass) through the point called `name` fails.
//!
//! The variable is read only with the `failpoints` feature, which the workspace turns on for
//! `cargo test` alone (the root crate's dev-dependency), so the end-to-end tests can crash the
//! real binary at exact places; in every other build [`hit`] is the constant `false` and the
//! points cost nothing.
//!
//! Points: `crash-before-rename` (abort after a record's temp file is written and synced, before
//! it is renamed into place), `record-enospc` (a record write fails with ENOSPC halfway),
//! `nan-weights` (the method's weights at global training step N become NaN: a non-finite
//! update).

/// Whether the failpoint `name` fires on its `nth` pass (1-based).
#[cfg(not(feature = "failpoints"))]
pub fn hit(_name: &str, _nth: usize) -> bool {
    false
}

/// Whether the failpoint `name` fires on its `nth` pass (1-based).
#[cfg(feature = "failpoints")]
pub fn hit(name: &str, nth: usize) -> bool {
    // Read once per process: points sit on hot paths (every training step).
    static SPEC: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let Some(spec) = SPEC.get_or_init(|| std::env::var("MTLBENCH_FAILPOINT").ok()) else {
        return false;
    };
    spec.split(',')
        .any(|point| match point.trim().split_once('@') {
            Some((n, at)) => n == name && at.parse::<usize>().is_ok_and(|at| at == nth),
            None => point.trim() == name,
        })
}
