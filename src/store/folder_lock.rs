//! One service per data folder: an exclusive OS lock (`flock`) on `<data>/blackant.lock`,
//! held for as long as the [`FolderLock`] lives — the service's life. Two services on one
//! folder would mean two writers per SQLite file, two schedulers and two order placers reading
//! one outbox; the second start is refused instead, naming the folder and the holder's PID.
//!
//! The lock belongs to the open file, not to the file's existence: a SIGKILLed holder releases
//! it with its descriptors, so a stale `blackant.lock` never blocks a start (it is not a PID
//! file). The PID written into it is only there to name the holder in the refusal. The
//! descriptor is close-on-exec, so Chromium and other children never inherit the lock.
//!
//! Must NOT decide what runs under the lock: `Service::start` and the CLI's `restore` take it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside the data folder.
pub const LOCK_FILE: &str = "blackant.lock";

/// Why the folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock: a service is running on this folder.
    #[error(
        "the data folder {} is in use by another blackant process{}: one service per data folder",
        folder.display(),
        holder.map(|p| format!(" (PID {p})")).unwrap_or_default()
    )]
    InUse {
        folder: PathBuf,
        /// The holder's PID as it wrote it, when it could be read.
        holder: Option<u32>,
    },
    /// The folder or its lock file could not be created or opened.
    #[error("cannot lock the data folder {}: {source}", folder.display())]
    Io {
        folder: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The held lock of a data folder; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct FolderLock {
    file: File,
    folder: PathBuf,
}

impl FolderLock {
    /// Lock `folder` (created if missing) for this process, at once or not at all: a folder
    /// in use is refused without waiting.
    pub fn acquire(folder: &Path) -> Result<FolderLock, LockError> {
        let io = |source| LockError::Io {
            folder: folder.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(folder).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(folder.join(LOCK_FILE))
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::InUse {
                    folder: folder.to_path_buf(),
                    holder: read_pid(&mut file),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        // Ours now: say who holds it (for the refusal of a second start).
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(FolderLock {
            file,
            folder: folder.to_path_buf(),
        })
    }

    /// The folder this lock holds.
    pub fn folder(&self) -> &Path {
        &self.folder
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        // Closing the descriptor releases the lock anyway; unlocking first makes it explicit.
        let _ = self.file.unlock();
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_folder_is_refused_naming_the_holder_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = FolderLock::acquire(dir.path()).unwrap();
        match FolderLock::acquire(dir.path()) {
            Err(e @ LockError::InUse { holder, .. }) => {
                assert_eq!(holder, Some(std::process::id()));
                let text = e.to_string();
                assert!(text.contains(&dir.path().display().to_string()), "{text}");
                assert!(
                    text.contains(&format!("PID {}", std::process::id())),
                    "{text}"
                );
            }
            other => panic!("the second lock was not refused: {other:?}"),
        }
        drop(first);
        FolderLock::acquire(dir.path()).expect("free again once dropped");
    }

    #[test]
    fn a_missing_folder_is_created_and_a_left_over_lock_file_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("nested").join("data");
        std::fs::create_dir_all(&folder).unwrap();
        // A lock file left by a killed process (no one holds its lock).
        std::fs::write(folder.join(LOCK_FILE), "999999\n").unwrap();
        let lock = FolderLock::acquire(&folder).unwrap();
        assert_eq!(
            std::fs::read_to_string(folder.join(LOCK_FILE))
                .unwrap()
                .trim(),
            std::process::id().to_string()
        );
        assert_eq!(lock.folder(), folder);
    }
}
