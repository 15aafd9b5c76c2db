//! Random access to a sealed file: a `Read + Seek` over the plaintext that authenticates and
//! decrypts only the segments it touches.
//!
//! Every byte returned comes from a segment that authenticated under the file's payload key
//! with its own index and finality, so a byte can be read from segment N without decrypting
//! segments 0..N−1 — and still no unauthenticated byte is ever returned. Opening
//! authenticates the last segment, the only one sealed as final, so the plaintext length is
//! authenticated too (a file cut at a segment boundary is refused). The sender's
//! signature covers the whole payload; [`SealedReader::verify_signature`] checks it by
//! hashing every ciphertext segment (no decryption), and from then on a segment is decrypted
//! only if its ciphertext is the one the signature covered, so a file changed after the check
//! yields an error, not unsigned bytes.

use std::io::{Read, Seek, SeekFrom};

use crate::aead::{self, TAG_LEN};
use crate::error::{Error, Result};
use crate::header::{Header, Keyring};
use crate::identity::{KeyId, PublicIdentity};
use crate::payload::{Layout, PayloadDigest, nonce, segment_hash};
use crate::seal::check_signer;

/// A random-access plaintext view of a sealed file.
pub struct SealedReader<R> {
    inner: R,
    header: Header,
    layout: Layout,
    key: aead::Key,
    position: u64,
    cached: Option<(u64, Vec<u8>)>,
    /// After a signature check: the hash of each ciphertext segment it covered.
    pinned: Option<Vec<[u8; 32]>>,
}

impl<R: Read + Seek> SealedReader<R> {
    /// Opens the sealed file in `inner` with `keyring`.
    pub fn new(mut inner: R, keyring: &Keyring) -> Result<Self> {
        let io = |e| Error::io("sealed input", e);
        inner.seek(SeekFrom::Start(0)).map_err(io)?;
        let header = keyring.conceal(Header::read_from(&mut inner))?;
        let (_, keys) = keyring.conceal(header.unlock(keyring))?;
        let total = inner.seek(SeekFrom::End(0)).map_err(io)?;
        let layout = Layout::new(&header, total)?;
        let mut reader = SealedReader {
            inner,
            key: aead::Key::new(&keys.payload),
            header,
            layout,
            position: 0,
            cached: None,
            pinned: None,
        };
        // The length comes from the file's size: authenticating the last segment, which
        // only the final one does under its nonce, confirms it (a file cut at a segment
        // boundary would otherwise read as a shorter, intact one).
        if reader.layout.segments > 0 {
            reader.load(reader.layout.segments - 1)?;
        }
        Ok(reader)
    }

    /// Plaintext length, authenticated when the reader was opened.
    pub fn plaintext_len(&self) -> u64 {
        self.layout.plaintext_len
    }

    /// The signer's key id, if the file is signed.
    pub fn signer(&self) -> Option<KeyId> {
        self.header.signer
    }

    /// Checks the sender's signature over the whole payload against `signer`.
    pub fn verify_signature(&mut self, signer: &PublicIdentity) -> Result<()> {
        check_signer(&self.header, Some(signer))?;
        let io = |e| Error::io("sealed input", e);
        let mut digest = PayloadDigest::new();
        let mut hashes = Vec::new();
        let mut buf = Vec::new();
        for i in 0..self.layout.segments {
            let (offset, len) = self.layout.segment(i);
            buf.resize(len, 0);
            self.inner.seek(SeekFrom::Start(offset)).map_err(io)?;
            self.inner.read_exact(&mut buf).map_err(io)?;
            let hash = segment_hash(&buf);
            digest.push(&hash);
            hashes.push(hash);
        }
        let mut signature = [0u8; 64];
        self.inner
            .seek(SeekFrom::Start(self.layout.trailer_offset()))
            .map_err(io)?;
        self.inner.read_exact(&mut signature).map_err(io)?;
        signer.verify(&digest.signing_message(&self.header), &signature)?;
        self.cached = None;
        self.pinned = Some(hashes);
        Ok(())
    }

    /// Loads, authenticates and decrypts segment `i` into the cache.
    fn load(&mut self, i: u64) -> Result<&[u8]> {
        if self.cached.as_ref().is_none_or(|(c, _)| *c != i) {
            let (offset, len) = self.layout.segment(i);
            let mut buf = self.cached.take().map(|(_, b)| b).unwrap_or_default();
            buf.resize(len, 0);
            let io = |e| Error::io("sealed input", e);
            self.inner.seek(SeekFrom::Start(offset)).map_err(io)?;
            self.inner.read_exact(&mut buf).map_err(io)?;
            if let Some(pinned) = &self.pinned
                && usize::try_from(i).ok().and_then(|i| pinned.get(i)) != Some(&segment_hash(&buf))
            {
                return Err(Error::SegmentTampered { index: i });
            }
            let n = self
                .key
                .open(nonce(i, i + 1 == self.layout.segments), b"", &mut buf)
                .map_err(|_| Error::SegmentTampered { index: i })?;
            buf.truncate(n);
            debug_assert!(n + TAG_LEN == len);
            self.cached = Some((i, buf));
        }
        Ok(self
            .cached
            .as_ref()
            .map(|(_, b)| b.as_slice())
            .unwrap_or_default())
    }
}

impl<R: Read + Seek> Read for SealedReader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if out.is_empty() || self.position >= self.layout.plaintext_len {
            return Ok(0);
        }
        let s = self.layout.segment_size;
        let (index, within) = (self.position / s, (self.position % s) as usize);
        let segment = self.load(index).map_err(std::io::Error::other)?;
        let n = (segment.len() - within).min(out.len());
        out[..n].copy_from_slice(&segment[within..within + n]);
        self.position += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for SealedReader<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.layout.plaintext_len.checked_add_signed(d),
            SeekFrom::Current(d) => self.position.checked_add_signed(d),
        };
        let target = target.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before the start of the plaintext",
            )
        })?;
        self.position = target;
        Ok(target)
    }
}
