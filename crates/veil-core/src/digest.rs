//! Content digests: streaming SHA-256 (FIPS 180-4) of files, readers and bytes.
//!
//! The hash itself comes from RustCrypto's `sha2`; this module only streams input through it
//! in fixed-size chunks, so a file of any size is hashed in constant memory.

use std::fmt;
use std::io::Read;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// A SHA-256 digest. Displays as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// SHA-256 of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Sha256Digest(Sha256::digest(bytes).into())
    }

    /// SHA-256 of everything `reader` yields, read in 64 KiB chunks.
    pub fn of_reader<R: Read>(mut reader: R) -> std::io::Result<Self> {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => hasher.update(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(Sha256Digest(hasher.finalize().into()))
    }

    /// SHA-256 of the file at `path`.
    pub fn of_file(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        Self::of_reader(file).map_err(|e| Error::io(path, e))
    }

    /// SHA-256 of a data source as commands name it: a file, or `builtin:NAME` (the
    /// embedded CSV's bytes).
    pub fn of_source(spec: &str) -> Result<Self> {
        match spec.strip_prefix("builtin:") {
            Some(name) => Ok(Self::of_bytes(crate::table::find_builtin(name)?.csv())),
            None => Self::of_file(Path::new(spec)),
        }
    }

    /// The digest as lowercase hex.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

/// Bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({self})")
    }
}

/// A file's digest and size, as `veil data digest` reports them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileDigest {
    /// The file.
    pub path: std::path::PathBuf,
    /// SHA-256 of its content, hex.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: u64,
}

impl FileDigest {
    /// Streams `path` through SHA-256 (any size, constant memory).
    pub fn of(path: &Path) -> Result<FileDigest> {
        let digest = Sha256Digest::of_file(path)?;
        let bytes = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        Ok(FileDigest {
            path: path.to_path_buf(),
            sha256: digest.to_hex(),
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // FIPS 180-4 examples (NIST CSRC "SHA256.pdf"): "abc" and the 448-bit message.
    #[test]
    fn known_answers() {
        assert_eq!(
            Sha256Digest::of_bytes(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            Sha256Digest::of_bytes(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                .to_hex(),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            Sha256Digest::of_bytes(b"").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn streaming_equals_one_shot_across_chunk_boundaries() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, &data).unwrap();
        assert_eq!(
            Sha256Digest::of_file(&path).unwrap(),
            Sha256Digest::of_bytes(&data)
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = Sha256Digest::of_file(Path::new("/no/such/file.csv")).unwrap_err();
        assert!(err.to_string().contains("/no/such/file.csv"));
    }
}
