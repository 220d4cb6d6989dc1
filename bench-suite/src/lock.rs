//! The lock of a results folder: one sweep writes a folder at a time. It is an advisory
//! `flock` on `<results>/sweep-state/lock`, which the kernel releases when its holder exits
//! in any way (kill -9 included), so a lock left by a dead process is simply taken over. The
//! file records the holder's pid for the refusal message; a clean exit clears it, so a pid
//! found there by a new holder is that of a process that died holding the lock.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct DirLock {
    file: File,
    /// The lock file.
    pub path: PathBuf,
    /// The pid recorded by an earlier holder that is no longer running, if any.
    pub taken_over: Option<u32>,
}

impl DirLock {
    /// Takes the lock at `path` (creating the file), or fails with [`Error::Locked`] naming
    /// the holder's pid while another process holds it.
    pub fn acquire(path: &Path, folder: &Path) -> Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(Error::io("opening lock file", path))?;
        let mut before = String::new();
        let _ = file.read_to_string(&mut before);
        let recorded: Option<u32> = before
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok());
        // SAFETY: flock on a file descriptor we own.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(Error::Locked {
                    folder: folder.to_owned(),
                    pid: recorded,
                });
            }
            return Err(Error::io("locking", path)(e));
        }
        let me = std::process::id();
        let taken_over = recorded.filter(|&p| p != me && !mtl_reports::host::alive(p));
        let write = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            writeln!(file, "pid {me}")?;
            file.sync_all()
        };
        write(&mut file).map_err(Error::io("writing lock file", path))?;
        Ok(Self {
            file,
            path: path.to_owned(),
            taken_over,
        })
    }
}

impl Drop for DirLock {
    /// Clears the recorded pid before the kernel releases the lock with the file: a pid found
    /// in the file later means its holder died without getting here.
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_refused_with_the_holders_pid_and_free_again_once_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let held = DirLock::acquire(&path, dir.path()).unwrap();
        assert_eq!(held.taken_over, None);
        // flock conflicts between open files, even within one process.
        match DirLock::acquire(&path, dir.path()) {
            Err(Error::Locked { pid, folder }) => {
                assert_eq!(pid, Some(std::process::id()));
                assert_eq!(folder, dir.path());
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        drop(held);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        let again = DirLock::acquire(&path, dir.path()).unwrap();
        assert_eq!(again.taken_over, None);
    }

    #[test]
    fn the_pid_of_a_dead_holder_is_reported_as_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        // A pid above the kernel's maximum (2^22) never runs.
        std::fs::write(&path, "pid 99999999\n").unwrap();
        let lock = DirLock::acquire(&path, dir.path()).unwrap();
        assert_eq!(lock.taken_over, Some(99_999_999));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("pid {}\n", std::process::id())
        );
    }
}
