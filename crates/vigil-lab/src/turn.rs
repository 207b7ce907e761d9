//! Turns on the lab: one test at a time changes it, across every test process on the machine.

use std::fs::File;
use std::path::PathBuf;

use rustix::fs::{flock, FlockOperation};

use crate::LabError;

/// One test's exclusive use of the lab, from [`Lab::turn`](crate::Lab::turn) until it is
/// dropped.
///
/// A `flock(2)` on a file of its own: the kernel releases it when the holder ends, however it
/// ends (a panic, kill -9), so a crashed test never leaves the lab locked. Each turn opens the
/// file anew, and locks on separate opens exclude each other even inside one process, so the
/// turn serialises the tests of one test binary (cargo runs them on parallel threads) as well
/// as those of different binaries, which cargo happens to run one after another but
/// `cargo nextest` or two concurrent `cargo test` runs would not.
#[derive(Debug)]
pub struct LabTurn {
    _lock: File,
}

/// The lock file. Not `lab/lab`'s own lock: a test calls the script while it holds its turn.
pub(crate) fn lock_path() -> PathBuf {
    std::env::temp_dir().join("vigil-lab-tests.lock")
}

/// Blocks until the turn is ours.
pub(crate) fn take() -> Result<LabTurn, LabError> {
    take_at(lock_path())
}

fn take_at(path: PathBuf) -> Result<LabTurn, LabError> {
    let turn_error = |source| LabError::Turn {
        path: path.clone(),
        source,
    };
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(turn_error)?;
    flock(&file, FlockOperation::LockExclusive).map_err(|e| turn_error(e.into()))?;
    Ok(LabTurn { _lock: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_turn_waits_for_the_first() {
        // A file of this test's own: the real one may be held by a lab test of another process.
        let path = std::env::temp_dir().join(format!("vigil-lab-turn-{}", std::process::id()));
        let first = take_at(path.clone()).unwrap();
        let other_path = path.clone();
        let second = std::thread::spawn(move || {
            let other = File::options().write(true).open(other_path).unwrap();
            // Busy while the first turn is held, even though it is this same process.
            let busy = flock(&other, FlockOperation::NonBlockingLockExclusive).is_err();
            drop(other);
            busy
        });
        assert!(second.join().unwrap(), "a second turn was granted");
        drop(first);
        drop(take_at(path.clone()).unwrap());
        let _ = std::fs::remove_file(path);
    }
}
