//! Signals. Prompt, clean stops on SIGINT and SIGTERM. The handler only records the signal; training
//! checks it before every step ([`check`]), so a run ends within one step, writes no record,
//! and is trained again when the same sweep is resumed. A second signal of the same kind
//! ends the process at once, as the signal's default action.
//!
//! Handlers are registered through `signal-hook`. Restoring SIGPIPE's default disposition
//! ([`default_sigpipe`]) stays a direct `libc::signal` call: `signal-hook` only adds handlers
//! and has no call that puts a signal back to `SIG_DFL`.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::{flag, low_level};

use crate::{Error, Result};

/// The first stop signal received, 0 while none.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// Installs the handlers for SIGINT and SIGTERM (once per process: each call adds handlers).
pub fn install() -> Result<()> {
    for signal in [SIGINT, SIGTERM] {
        let failed = |e: std::io::Error| {
            Error::Internal(format!("cannot install a handler for signal {signal}: {e}"))
        };
        // Actions run in the order they were registered: the default action is taken from
        // the second signal of this kind on, and only the first stop signal is kept.
        let again = Arc::new(AtomicBool::new(false));
        flag::register_conditional_default(signal, Arc::clone(&again)).map_err(failed)?;
        flag::register(signal, again).map_err(failed)?;
        // SAFETY: the action is one atomic compare-and-swap, which is async-signal-safe.
        unsafe {
            low_level::register(signal, move || {
                let _ = SIGNAL.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
            })
        }
        .map_err(failed)?;
    }
    Ok(())
}

/// Lets SIGPIPE end the process quietly, as it does other command-line tools, instead of a
/// panic in `println!` when the reader of stdout goes away (`mtlbench report DIR | head`).
pub fn default_sigpipe() {
    // SAFETY: restoring the default disposition of a signal.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The stop signal received so far, if any.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Test hook, called before every training step: with `MTLBENCH_FAILPOINT=sigint@N` (builds
/// with the `failpoints` feature) the process sends itself a real SIGINT before its N-th step, so tests can stop a
/// run at an exact step boundary.
pub fn failpoint_before_step() {
    static STEPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = STEPS.fetch_add(1, Ordering::SeqCst) + 1;
    if mtl_reports::failpoint::hit("sigint", n) {
        let _ = low_level::raise(SIGINT);
    }
}

/// Errors with [`Error::Interrupted`] once a stop signal has arrived.
pub fn check() -> Result<()> {
    match requested() {
        Some(signal) => Err(Error::Interrupted { signal }),
        None => Ok(()),
    }
}

/// The conventional exit code of a process stopped by `signal`: 128 + its number
/// (130 for SIGINT, 143 for SIGTERM).
pub fn exit_code(signal: i32) -> u8 {
    (128 + signal).clamp(0, 255) as u8
}

/// The name of a stop signal for messages.
pub fn signal_name(signal: i32) -> String {
    match signal {
        SIGINT => "SIGINT".into(),
        SIGTERM => "SIGTERM".into(),
        other => format!("signal {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_names_follow_the_shell_convention() {
        assert_eq!(exit_code(SIGINT), 130);
        assert_eq!(exit_code(SIGTERM), 143);
        assert_eq!(signal_name(SIGINT), "SIGINT");
        assert_eq!(signal_name(SIGTERM), "SIGTERM");
    }

    /// In a child process (the handlers are process-wide): the first stop signal is kept, a
    /// signal of the other kind does not end the process, a second SIGINT does, as SIGINT.
    #[test]
    fn the_first_signal_is_kept_and_a_second_of_its_kind_ends_the_process() {
        const CHILD: &str = "MTLBENCH_INTERRUPT_TEST_CHILD";
        if std::env::var_os(CHILD).is_some() {
            install().unwrap();
            assert_eq!(requested(), None);
            low_level::raise(SIGINT).unwrap();
            assert_eq!(requested(), Some(SIGINT));
            low_level::raise(SIGTERM).unwrap();
            assert_eq!(requested(), Some(SIGINT));
            println!("survived one SIGINT and one SIGTERM");
            low_level::raise(SIGINT).unwrap();
            println!("survived a second SIGINT");
            return;
        }
        let name =
            "interrupt::tests::the_first_signal_is_kept_and_a_second_of_its_kind_ends_the_process";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(SIGINT),
            "{:?}\n{stdout}",
            out.status
        );
        assert!(
            stdout.contains("survived one SIGINT and one SIGTERM"),
            "{stdout}"
        );
        assert!(!stdout.contains("survived a second SIGINT"), "{stdout}");
    }
}
