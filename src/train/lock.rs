//! One writer per run directory.
//!
//! Two processes training into one run (two `somnium resume` at once, or a
//! resume of a run still training) would interleave `metrics.jsonl` rows
//! and collide on the temporary checkpoint directory. A writer therefore
//! holds an exclusive OS lock (`flock` on Unix, `LockFileEx` on Windows) on
//! `<run>/run.lock` for as long as it runs. The operating system releases
//! the lock when the process exits or dies, so a `kill -9` never leaves a
//! stale lock behind; the file itself stays, holding the last holder's pid
//! for the refusal message.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The lock file's name inside a run directory.
pub const LOCK_FILE: &str = "run.lock";

/// An exclusive lock on a run directory, released when dropped (or when
/// the process ends, however it ends).
#[derive(Debug)]
pub struct RunLock {
    // Held open for the lock; closing it releases the lock.
    _file: File,
    path: PathBuf,
}

impl RunLock {
    /// Take the lock of the run in `root`, or fail naming the process that
    /// holds it.
    pub fn acquire(root: &Path) -> Result<RunLock> {
        let path = root.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("opening the run's lock file", &path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "another process".to_string(),
                    pid => format!("process {pid}"),
                };
                return Err(Error::RunInUse {
                    path: root.to_path_buf(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => {
                return Err(Error::io("locking the run directory", &path, e));
            }
        }
        // Ours now: record who holds it.
        file.set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .and_then(|_| file.flush())
            .map_err(|e| Error::io("writing the run's lock file", &path, e))?;
        Ok(RunLock { _file: file, path })
    }

    /// Who holds the lock of the run in `root` (e.g. `process 4242`), or
    /// `None` when nobody does. Looks without writing anything: the lock
    /// file keeps its last holder's pid.
    pub fn holder(root: &Path) -> Result<Option<String>> {
        let path = root.join(LOCK_FILE);
        let mut file = match OpenOptions::new().read(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("opening the run's lock file", &path, e)),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(None),
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                Ok(Some(match holder.trim() {
                    "" => "another process".to_string(),
                    pid => format!("process {pid}"),
                }))
            }
            Err(TryLockError::Error(e)) => Err(Error::io("probing the run's lock", &path, e)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        // A second open file description is refused, as another process
        // would be.
        let err = RunLock::acquire(dir.path()).unwrap_err().to_string();
        let pid = std::process::id().to_string();
        assert!(err.contains("in use") && err.contains(&pid), "{err}");
        assert_eq!(
            RunLock::holder(dir.path()).unwrap(),
            Some(format!("process {pid}"))
        );
        drop(first);
        assert_eq!(RunLock::holder(dir.path()).unwrap(), None);
        RunLock::acquire(dir.path()).unwrap();
    }
}
