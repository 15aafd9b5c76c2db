//! Writing files so that a failure loses nothing.
//!
//! Output goes to a temporary file in the target's directory, is flushed and synced, and only
//! then renamed over the target. If anything fails — an error while producing the content, a
//! full disk, a crash — the temporary file is removed (or, after a crash, left under a
//! `.veil-tmp-` name) and an existing file at the target is untouched.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// Who may read a file written by [`write_atomic_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Mode 0644 for a new file; a replaced file keeps the permissions it had.
    Public,
    /// Mode 0600, always — for secret keys. The file never exists with wider permissions,
    /// not even for a moment: the temporary file is created 0600.
    Secret,
}

/// Writes `path` atomically with the content produced by `produce`.
///
/// A new file gets mode 0644 (on Unix); a replaced file keeps the permissions it had.
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
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".veil-tmp-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    let mut out = BufWriter::with_capacity(1 << 16, tmp.reopen().map_err(|e| Error::io(path, e))?);
    let value = produce(&mut out)?;
    out.flush().map_err(|e| Error::io(path, e))?;
    let file = out
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(path, e))?;
    if visibility == Visibility::Public {
        let permissions = match std::fs::metadata(path) {
            Ok(m) => m.permissions(),
            Err(_) => default_permissions(&file).map_err(|e| Error::io(path, e))?,
        };
        std::fs::set_permissions(tmp.path(), permissions).map_err(|e| Error::io(path, e))?;
    }
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    // Make the rename itself durable; a failure here cannot undo it, so it is not an error.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(value)
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

#[cfg(unix)]
fn default_permissions(file: &File) -> std::io::Result<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    let mut p = file.metadata()?.permissions();
    p.set_mode(0o644);
    Ok(p)
}

#[cfg(not(unix))]
fn default_permissions(file: &File) -> std::io::Result<std::fs::Permissions> {
    Ok(file.metadata()?.permissions())
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
    fn secret_files_are_0600_and_public_files_0644() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (secret, public) = (dir.path().join("k.key"), dir.path().join("k.pub"));
        write_atomic_with(&secret, Visibility::Secret, |out| {
            out.write_all(b"s").map_err(|e| Error::io(&secret, e))
        })
        .unwrap();
        write_atomic_bytes(&public, b"p").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&secret), mode(&public)), (0o600, 0o644));
    }

    #[test]
    fn missing_directory_is_an_io_error() {
        let err = write_atomic_bytes(Path::new("/nonexistent-veil-dir/x"), b"x").unwrap_err();
        assert!(err.is_io());
    }
}
