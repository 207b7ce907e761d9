//! The file-system operations the outbox's guarantees rest on: syncing a directory after a
//! file appears in it, replacing a file atomically, advisory locks, reading what is there.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Syncs the directory `dir`, so a file created, renamed or removed in it stays so after a
/// power loss (syncing the file itself does not record its name).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces `path` with `bytes` so that a reader, even after a crash at any point, finds the
/// old content or the new, never a mix: write a temporary file beside it, sync it, rename it
/// over `path`, sync the directory.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent(path);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// The directory `path` is in (`.` for a bare name).
pub fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Opens (creating it) the file at `path` for appending; syncs its directory when the file is
/// new, so the name outlives a power loss as the data will.
pub fn open_append(path: &Path) -> io::Result<File> {
    let existed = path.exists();
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)?;
    if !existed {
        sync_dir(parent(path))?;
    }
    Ok(file)
}

/// Up to `len` bytes of `file` from `offset`: fewer at the end of the file.
pub fn read_upto(file: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// An exclusive `flock` on a file, released when dropped (or when the process dies, however
/// it dies: the kernel drops the lock with the last descriptor).
pub struct Lock(#[allow(dead_code)] File);

impl Lock {
    /// Waits for the lock.
    pub fn acquire(path: &Path) -> io::Result<Lock> {
        let file = open_lock_file(path)?;
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive) {
                Ok(()) => return Ok(Lock(file)),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The lock if nobody holds it, `None` if someone does.
    pub fn try_acquire(path: &Path) -> io::Result<Option<Lock>> {
        let file = open_lock_file(path)?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(Lock(file))),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}
