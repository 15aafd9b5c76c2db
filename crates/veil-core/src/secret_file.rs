//! Reading secret files: refused when other users may read or change them, as ssh refuses a
//! private key that others can read (security review F-24).
//!
//! Veil writes every secret 0600 ([`crate::atomic::Visibility::Secret`]). A key file that
//! has since become group- or world-accessible (copied with another umask, unpacked from an
//! archive, edited) has been exposed to other accounts, and one that others can write may
//! have been replaced: either way it is refused with the `chmod` that fixes it. The mode is
//! read from the opened file, so it is the mode of the bytes that are read. On systems
//! without Unix modes nothing is checked.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// Opens the secret file at `path` for reading, if only its owner may read or write it.
pub fn open(path: &Path) -> Result<File> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    check(&file, path)?;
    Ok(file)
}

/// The bytes of the secret file at `path` (see [`open`]).
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open(path)?
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    Ok(bytes)
}

/// The text of the secret file at `path` (see [`open`]).
pub fn read_to_string(path: &Path) -> Result<String> {
    std::io::read_to_string(open(path)?).map_err(|e| Error::io(path, e))
}

/// Refuses `file`, opened from `path`, when users other than its owner may read or change it.
#[cfg(unix)]
pub fn check(file: &File, path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = file
        .metadata()
        .map_err(|e| Error::io(path, e))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::ExposedSecret {
            path: path.display().to_string(),
            mode,
        });
    }
    Ok(())
}

/// Refuses `file`, opened from `path`, when users other than its owner may read or change it.
#[cfg(not(unix))]
pub fn check(_: &File, _: &Path) -> Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_a_file_its_owner_alone_can_use_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        std::fs::write(&path, "secret").unwrap();
        for (mode, ok) in [
            (0o600, true),
            (0o400, true),
            (0o640, false),
            (0o604, false),
            (0o620, false),
            (0o644, false),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            match read_to_string(&path) {
                Ok(text) => assert!(ok && text == "secret", "{mode:o}"),
                Err(e) => {
                    assert!(!ok, "{mode:o}: {e}");
                    assert!(e.to_string().contains("chmod 600"), "{e}");
                    assert_eq!(e.kind(), crate::ErrorKind::Io);
                }
            }
        }
        assert!(read(&dir.path().join("missing")).is_err());
    }
}
