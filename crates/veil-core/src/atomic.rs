//! Writing files so that a failure loses nothing.
//!
//! Output goes to a temporary file in the target's directory, is flushed and synced, and only
//! then renamed over the target. If anything fails — an error while producing the content, a
//! full disk, a crash — the temporary file is removed (or, after a crash, left under a
//! `.veil-tmp-` name) and an existing file at the target is untouched.
//!
//! A [`Batch`] does the same for a set of files that belong together (a key pair, a key set,
//! the two halves of a split): every file is written in full first, then all are moved into
//! place; if any step fails, each target is left as it was before.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Who may read a file written by [`write_atomic_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// A new file gets what the umask allows of 0666, as `cp` or a shell's `>` would give
    /// it (0644 under the usual umask 022, 0600 under 077); a replaced file keeps the
    /// permissions it had.
    Public,
    /// Mode 0600, always — for secret keys. The file never exists with wider permissions,
    /// not even for a moment: the temporary file is created 0600.
    Secret,
}

/// Writes `path` atomically with the content produced by `produce`.
///
/// A new file gets what the umask allows of mode 0666 (on Unix); a replaced file keeps the
/// permissions it had.
pub fn write_atomic<T, E: From<Error>>(
    path: &Path,
    produce: impl FnOnce(&mut BufWriter<File>) -> Result<T, E>,
) -> Result<T, E> {
    write_atomic_with(path, Visibility::Public, produce)
}

/// Writes `path` atomically with the given visibility. `produce` may fail with any error type
/// that a `veil-core` error converts into; on failure nothing is left behind.
pub fn write_atomic_with<T, E: From<Error>>(
    path: &Path,
    visibility: Visibility,
    produce: impl FnOnce(&mut BufWriter<File>) -> Result<T, E>,
) -> Result<T, E> {
    let (tmp, value) = stage(path, visibility, produce)?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    // Make the rename itself durable; a failure here cannot undo it, so it is not an error.
    if let Ok(d) = File::open(parent(path)) {
        let _ = d.sync_all();
    }
    Ok(value)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes the content `produce` gives to a synced temporary file beside `path`, with the
/// permissions of `visibility`.
fn stage<T, E: From<Error>>(
    path: &Path,
    visibility: Visibility,
    produce: impl FnOnce(&mut BufWriter<File>) -> Result<T, E>,
) -> Result<(tempfile::NamedTempFile, T), E> {
    let dir = parent(path);
    let existing = match visibility {
        Visibility::Public => std::fs::metadata(path).ok().map(|m| m.permissions()),
        Visibility::Secret => None,
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".veil-tmp-");
    // tempfile creates 0600; a new public file is created 0666 for the kernel to apply the
    // umask to, never widened past what the user allows.
    #[cfg(unix)]
    if visibility == Visibility::Public && existing.is_none() {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let tmp = builder.tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
    // A secret goes straight to the file: a buffer would keep a copy that is not wiped.
    let capacity = if visibility == Visibility::Secret {
        0
    } else {
        1 << 16
    };
    let mut out = BufWriter::with_capacity(capacity, tmp.reopen().map_err(|e| Error::io(path, e))?);
    let value = produce(&mut out)?;
    out.flush().map_err(|e| Error::io(path, e))?;
    let file = out
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(path, e))?;
    if let Some(permissions) = existing {
        std::fs::set_permissions(tmp.path(), permissions).map_err(|e| Error::io(path, e))?;
    }
    Ok((tmp, value))
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_bytes_with(path, Visibility::Public, bytes)
}

/// Writes `bytes` to `path` atomically, with the permissions of `visibility`.
pub fn write_atomic_bytes_with(path: &Path, visibility: Visibility, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, visibility, |out| {
        out.write_all(bytes).map_err(|e| Error::io(path, e))
    })
}

/// A set of files written all or nothing.
///
/// [`Batch::add_with`] writes each file in full to a temporary file beside its target;
/// nothing at the targets changes until [`Batch::commit`], which moves every file into place.
/// If a commit fails part-way, the targets already replaced get their old content back (kept
/// as a hard link, or a copy where links are not possible) and new ones are removed. Dropping
/// an uncommitted batch removes its temporary files.
#[derive(Default)]
pub struct Batch {
    staged: Vec<(PathBuf, tempfile::TempPath)>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Stages `path` with the content `produce` writes, and the permissions of `visibility`
    /// (as [`write_atomic_with`]). Two files of one batch may not share a target.
    pub fn add_with<T, E: From<Error>>(
        &mut self,
        path: &Path,
        visibility: Visibility,
        produce: impl FnOnce(&mut BufWriter<File>) -> Result<T, E>,
    ) -> Result<T, E> {
        if self.staged.iter().any(|(p, _)| p == path) {
            return Err(Error::invalid(
                "output",
                format!("{} is named twice among the outputs", path.display()),
            )
            .into());
        }
        let (tmp, value) = stage(path, visibility, produce)?;
        self.staged.push((path.to_path_buf(), tmp.into_temp_path()));
        Ok(value)
    }

    /// Stages `bytes` for `path`.
    pub fn add(&mut self, path: &Path, visibility: Visibility, bytes: &[u8]) -> Result<()> {
        self.add_with(path, visibility, |out| {
            out.write_all(bytes).map_err(|e| Error::io(path, e))
        })
    }

    /// Moves every staged file into place, or none.
    pub fn commit(self) -> Result<()> {
        let mut kept: Vec<(PathBuf, Option<PathBuf>)> = Vec::new();
        let result = self.place(&mut kept);
        if result.is_err() {
            for (target, backup) in kept.iter().rev() {
                let _ = match backup {
                    Some(backup) => std::fs::rename(backup, target),
                    None => std::fs::remove_file(target),
                };
            }
        } else {
            for backup in kept.iter().filter_map(|(_, b)| b.as_ref()) {
                let _ = std::fs::remove_file(backup);
            }
        }
        result
    }

    /// Replaces each target, recording in `kept` what undoes it.
    fn place(self, kept: &mut Vec<(PathBuf, Option<PathBuf>)>) -> Result<()> {
        for (target, tmp) in self.staged {
            let backup = if target.exists() {
                Some(keep_aside(&target)?)
            } else {
                None
            };
            tmp.persist(&target)
                .map_err(|e| Error::io(&target, e.error))?;
            kept.push((target.clone(), backup));
            if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty())
                && let Ok(d) = File::open(dir)
            {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

/// A second name (or, failing that, a copy) of `target`'s current content, beside it.
fn keep_aside(target: &Path) -> Result<PathBuf> {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let backup = tempfile::Builder::new()
        .prefix(".veil-old-")
        .make_in(dir, |p| {
            std::fs::hard_link(target, p).or_else(|_| std::fs::copy(target, p).map(|_| ()))
        })
        .map_err(|e| Error::io(target, e))?;
    // Kept until the batch decides; a crash leaves it under its `.veil-old-` name.
    backup
        .into_temp_path()
        .keep()
        .map_err(|e| Error::io(target, e.error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_leaves_existing_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        std::fs::write(&path, b"original").unwrap();
        let result: Result<()> = write_atomic(&path, |out| {
            out.write_all(b"partial").unwrap();
            Err(Error::invalid("test", "fails midway"))
        });
        assert!(result.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"original");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn success_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        std::fs::write(&path, b"original").unwrap();
        write_atomic_bytes(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }

    #[cfg(unix)]
    #[test]
    fn secret_files_are_0600_and_public_files_follow_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (secret, public) = (dir.path().join("k.key"), dir.path().join("k.pub"));
        write_atomic_with(&secret, Visibility::Secret, |out| {
            out.write_all(b"s").map_err(|e| Error::io(&secret, e))
        })
        .unwrap();
        write_atomic_bytes(&public, b"p").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        // A new public file gets what the umask allows of 0666 (read from Linux's
        // /proc/self/status; elsewhere the usual 022 is assumed).
        let umask = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("Umask:"))?;
                u32::from_str_radix(line["Umask:".len()..].trim(), 8).ok()
            })
            .unwrap_or(0o022);
        assert_eq!((mode(&secret), mode(&public)), (0o600, 0o666 & !umask));
        // A replaced file keeps its permissions.
        std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic_bytes(&public, b"q").unwrap();
        assert_eq!(mode(&public), 0o640);
    }

    #[test]
    fn a_batch_writes_every_file_or_none_and_never_loses_an_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"old a").unwrap();
        // Staged files change nothing until the commit.
        let mut batch = Batch::new();
        batch.add(&a, Visibility::Secret, b"new a").unwrap();
        batch.add(&b, Visibility::Public, b"new b").unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"old a");
        assert!(!b.exists());
        batch.commit().unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"new a");
        assert_eq!(std::fs::read(&b).unwrap(), b"new b");
        // A commit that fails part-way (the second target is a directory) restores the first.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("x"), b"x").unwrap();
        let mut batch = Batch::new();
        batch.add(&a, Visibility::Public, b"newer a").unwrap();
        batch.add(&blocked, Visibility::Public, b"file").unwrap();
        assert!(batch.commit().is_err());
        assert_eq!(std::fs::read(&a).unwrap(), b"new a");
        assert!(blocked.is_dir());
        // A failure while staging leaves nothing behind; a dropped batch neither.
        let mut batch = Batch::new();
        batch.add(&b, Visibility::Public, b"staged").unwrap();
        let failed: Result<()> = batch.add_with(&a, Visibility::Public, |_| {
            Err(Error::invalid("test", "fails midway"))
        });
        assert!(failed.is_err());
        drop(batch);
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a", "b", "blocked"]);
        assert_eq!(std::fs::read(&b).unwrap(), b"new b");
        // One target twice is refused.
        let mut batch = Batch::new();
        batch.add(&a, Visibility::Public, b"1").unwrap();
        assert!(batch.add(&a, Visibility::Public, b"2").is_err());
    }

    #[test]
    fn missing_directory_is_an_io_error() {
        let err = write_atomic_bytes(Path::new("/nonexistent-veil-dir/x"), b"x").unwrap_err();
        assert!(err.is_io());
    }
}
