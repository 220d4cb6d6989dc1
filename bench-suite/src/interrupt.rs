//! Signals. Prompt, clean stops on SIGINT and SIGTERM. The handler only records the signal; training
//! checks it before every step ([`check`]), so a run ends within one step, writes no record,
//! and is trained again when the same sweep is resumed. A second signal of the same kind
//! ends the process at once (the handler is reset after the first).

use std::sync::atomic::{AtomicI32, Ordering};

use crate::{Error, Result};

/// The first stop signal received, 0 while none.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    let _ = SIGNAL.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
}

/// Installs the handler for SIGINT and SIGTERM.
pub fn install() -> Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is a valid starting value; the handler only performs an
        // atomic store, which is async-signal-safe.
        let failed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESETHAND | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut()) != 0
        };
        if failed {
            return Err(Error::Internal(format!(
                "cannot install a handler for signal {signal}: {}",
                std::io::Error::last_os_error()
            )));
        }
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
        // SAFETY: raising a signal whose handler only performs an atomic store.
        unsafe {
            libc::raise(libc::SIGINT);
        }
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
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        other => format!("signal {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_names_follow_the_shell_convention() {
        assert_eq!(exit_code(libc::SIGINT), 130);
        assert_eq!(exit_code(libc::SIGTERM), 143);
        assert_eq!(signal_name(libc::SIGINT), "SIGINT");
        assert_eq!(signal_name(libc::SIGTERM), "SIGTERM");
    }
}
