//! The payload: fixed-size segments of AES-256-GCM, and where each one lives in the file.
//!
//! The plaintext is cut into segments of `S` bytes (the last may be shorter; an empty
//! plaintext is one empty segment). Segment `i` is encrypted under the payload key with the
//! 12-byte nonce `0x00 0x00 0x00 ‖ i (u64 big-endian) ‖ last`, where `last` is `0x01` for the
//! final segment and `0x00` otherwise (the STREAM construction of Hoang, Reyhanitabar,
//! Rogaway and Vizár, CRYPTO 2015, as used by age and C2SP chunked encryption), with no
//! additional data. Each ciphertext segment is the encrypted bytes followed by the 16-byte tag.
//!
//! So: reordering segments breaks their nonces; dropping the final segment leaves a
//! non-final one to be opened as final; appending after the final segment leaves a final one
//! opened as non-final; and splicing segments from another file fails because every file has
//! its own payload key. A final segment may be empty only if it is the only one, so a file
//! truncated exactly at a segment boundary cannot pass either.
//!
//! The *payload digest* that a signature covers is `SHA-256(H₀ ‖ H₁ ‖ … ‖ Hₙ₋₁)` with
//! `Hᵢ = SHA-256(ciphertext segment i)`: segments hash in parallel, and the digest is
//! collision-resistant over the whole ciphertext (a GCM tag alone is not, to whoever knows the
//! key).

use std::io::Read;

use aws_lc_rs::digest;

use crate::aead::TAG_LEN;
use crate::error::{Error, LengthProblem, Result};
use crate::header::{Header, SIGNATURE_LEN};

/// The nonce of segment `index`.
pub fn nonce(index: u64, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    n
}

/// SHA-256 of one ciphertext segment.
pub fn segment_hash(ciphertext: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, ciphertext).as_ref());
    out
}

/// The running payload digest.
pub struct PayloadDigest(digest::Context);

impl Default for PayloadDigest {
    fn default() -> Self {
        PayloadDigest(digest::Context::new(&digest::SHA256))
    }
}

impl PayloadDigest {
    /// An empty digest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next segment's hash.
    pub fn push(&mut self, segment_hash: &[u8; 32]) {
        self.0.update(segment_hash);
    }

    /// The message the sender signs: a label, the header's metadata and the payload digest.
    pub fn signing_message(self, header: &Header) -> Vec<u8> {
        let mut m = b"veil/v1 signature\0".to_vec();
        m.extend_from_slice(&header.metadata());
        m.extend_from_slice(self.0.finish().as_ref());
        m
    }
}

/// Where things are in a sealed file of known length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Bytes of header.
    pub header_len: u64,
    /// Plaintext bytes per segment.
    pub segment_size: u64,
    /// Number of segments.
    pub segments: u64,
    /// Plaintext bytes in all.
    pub plaintext_len: u64,
    /// Bytes of signature trailer (0 or 64).
    pub trailer_len: u64,
}

impl Layout {
    /// The layout of a file of `total_len` bytes with this header, or an error if no payload
    /// can have that length.
    pub fn new(header: &Header, total_len: u64) -> Result<Self> {
        let header_len = header.encoded_len();
        let trailer_len = if header.signer.is_some() {
            SIGNATURE_LEN
        } else {
            0
        };
        let payload = total_len
            .checked_sub(header_len + trailer_len)
            .ok_or(Error::BadLength(LengthProblem::NoPayload))?;
        let s = u64::from(header.segment_size);
        let full = s + TAG_LEN as u64;
        let (mut segments, rem) = (payload / full, payload % full);
        if rem > 0 {
            segments += 1;
        }
        let bad = |problem| Err(Error::BadLength(problem));
        if segments == 0 {
            return bad(LengthProblem::EmptyPayload);
        }
        if rem > 0 && rem < TAG_LEN as u64 {
            return bad(LengthProblem::ShortLastSegment);
        }
        if rem == TAG_LEN as u64 && segments > 1 {
            return bad(LengthProblem::EmptyFinalSegment);
        }
        Ok(Layout {
            header_len,
            segment_size: s,
            segments,
            plaintext_len: payload - segments * TAG_LEN as u64,
            trailer_len,
        })
    }

    /// File offset and ciphertext length of segment `i`.
    pub fn segment(&self, i: u64) -> (u64, usize) {
        let full = self.segment_size + TAG_LEN as u64;
        let start = self.header_len + i * full;
        let plain = if i + 1 == self.segments {
            self.plaintext_len - i * self.segment_size
        } else {
            self.segment_size
        };
        (start, (plain + TAG_LEN as u64) as usize)
    }

    /// File offset of the signature trailer.
    pub fn trailer_offset(&self) -> u64 {
        self.header_len + self.plaintext_len + self.segments * TAG_LEN as u64
    }
}

/// Reads into `buf[filled..]` until it is full or the input ends; returns the new fill.
fn read_full<R: Read>(input: &mut R, buf: &mut [u8], mut filled: usize) -> std::io::Result<usize> {
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A reusable segment buffer: allocated once at full size (plaintext plus tag), with the
/// number of bytes in use beside it, so that no segment pays for clearing memory.
pub struct SegmentBuf {
    data: Vec<u8>,
    len: usize,
}

impl SegmentBuf {
    /// A buffer for segments of up to `size` plaintext bytes.
    pub fn new(size: usize) -> Self {
        SegmentBuf {
            data: vec![0; size + TAG_LEN],
            len: 0,
        }
    }

    /// The bytes in use.
    pub fn bytes(&self) -> &[u8] {
        &self.data[..self.len]
    }

    /// Encrypts the bytes in use in place and appends the tag.
    pub fn seal(&mut self, key: &crate::aead::Key, nonce: [u8; 12]) {
        let n = self.len;
        let tag = key.seal(nonce, b"", &mut self.data[..n]);
        self.data[n..n + TAG_LEN].copy_from_slice(&tag);
        self.len = n + TAG_LEN;
    }

    /// Authenticates and decrypts the bytes in use (ciphertext and tag) in place.
    pub fn open(
        &mut self,
        key: &crate::aead::Key,
        nonce: [u8; 12],
    ) -> Result<(), crate::aead::Unauthentic> {
        self.len = key.open(nonce, b"", &mut self.data[..self.len])?;
        Ok(())
    }
}

/// Cuts a plaintext stream into segments; each call yields the next segment and whether it is
/// the last, which takes one byte of lookahead.
pub struct PlainSegments<R> {
    input: R,
    size: usize,
    pending: Option<u8>,
    done: bool,
}

impl<R: Read> PlainSegments<R> {
    /// Segments of `size` bytes from `input`.
    pub fn new(input: R, size: usize) -> Self {
        PlainSegments {
            input,
            size,
            pending: None,
            done: false,
        }
    }

    /// Fills `buf` with the next segment: `Ok(Some(is_last))`, or `Ok(None)` after the last.
    pub fn next_into(&mut self, buf: &mut SegmentBuf) -> std::io::Result<Option<bool>> {
        if self.done {
            return Ok(None);
        }
        let mut start = 0;
        if let Some(b) = self.pending.take() {
            buf.data[0] = b;
            start = 1;
        }
        let filled = read_full(&mut self.input, &mut buf.data[..self.size], start)?;
        buf.len = filled;
        let last = if filled < self.size {
            true
        } else {
            let mut one = [0u8; 1];
            let got = read_full(&mut self.input, &mut one, 0)?;
            self.pending = (got == 1).then_some(one[0]);
            got == 0
        };
        self.done = last;
        Ok(Some(last))
    }
}

/// Cuts a sealed payload stream into ciphertext segments, holding back the final `hold` bytes
/// (the signature trailer) so that it can tell which segment is the last.
pub struct CipherSegments<R> {
    input: R,
    size: usize,
    hold: usize,
    carry: Vec<u8>,
    rest: Vec<u8>,
    done: bool,
}

impl<R: Read> CipherSegments<R> {
    /// Ciphertext segments of `size` bytes (plaintext size plus tag), then `hold` trailer bytes.
    pub fn new(input: R, size: usize, hold: usize) -> Self {
        CipherSegments {
            input,
            size,
            hold,
            carry: Vec::with_capacity(hold + 1),
            rest: Vec::new(),
            done: false,
        }
    }

    /// Fills `out` with the next ciphertext segment: `Ok(Some(is_last))`, or `Ok(None)`.
    pub fn next_into(&mut self, out: &mut SegmentBuf) -> std::io::Result<Option<bool>> {
        if self.done {
            return Ok(None);
        }
        // Bytes read ahead last time come first (they may exceed a segment when segments are
        // smaller than the trailer).
        let k = self.carry.len().min(self.size);
        out.data[..k].copy_from_slice(&self.carry[..k]);
        self.carry.drain(..k);
        let filled = read_full(&mut self.input, &mut out.data[..self.size], k)?;
        // Look `hold + 1` bytes ahead: if they exist, more payload follows this segment.
        let have = self.carry.len();
        if filled == self.size && have < self.hold + 1 {
            self.carry.resize(self.hold + 1, 0);
            let got = read_full(&mut self.input, &mut self.carry, have)?;
            self.carry.truncate(got);
        }
        if filled == self.size && self.carry.len() > self.hold {
            out.len = filled;
            return Ok(Some(false));
        }
        // The stream ends within this segment and the lookahead: its last `hold` bytes are the
        // trailer, everything before them is the final segment.
        self.done = true;
        let seg = (filled + self.carry.len())
            .saturating_sub(self.hold)
            .min(filled);
        let mut rest = out.data[seg..filled].to_vec();
        rest.append(&mut self.carry);
        self.rest = rest;
        out.len = seg;
        Ok(Some(true))
    }

    /// The bytes left after the last segment (the trailer, if the file is intact).
    pub fn rest(self) -> Vec<u8> {
        self.rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_bind_index_and_finality() {
        assert_eq!(nonce(1, false), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(nonce(1, true), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
        assert_ne!(nonce(256, false), nonce(1, false));
    }

    fn plain_segments(data: &[u8], size: usize) -> Vec<(usize, bool)> {
        let mut s = PlainSegments::new(data, size);
        let mut buf = SegmentBuf::new(size);
        let mut out = Vec::new();
        while let Some(last) = s.next_into(&mut buf).unwrap() {
            out.push((buf.bytes().len(), last));
        }
        out
    }

    #[test]
    fn plain_segmentation_edges() {
        assert_eq!(plain_segments(b"", 4), [(0, true)]);
        assert_eq!(plain_segments(b"abc", 4), [(3, true)]);
        assert_eq!(plain_segments(b"abcd", 4), [(4, true)]);
        assert_eq!(plain_segments(b"abcde", 4), [(4, false), (1, true)]);
        assert_eq!(plain_segments(b"abcdefgh", 4), [(4, false), (4, true)]);
    }

    #[test]
    fn cipher_segmentation_holds_back_the_trailer() {
        for (len, want) in [
            (30, vec![(10, false), (10, false), (6, true)]),
            (24, vec![(10, false), (10, true)]),
            (25, vec![(10, false), (10, false), (1, true)]),
            (27, vec![(10, false), (10, false), (3, true)]),
            (3, vec![(0, true)]),
        ] {
            check_cipher_segments(len, 10, 4, &want);
        }
        // Segments smaller than the trailer.
        check_cipher_segments(13, 3, 4, &[(3, false), (3, false), (3, true)]);
        check_cipher_segments(11, 3, 4, &[(3, false), (3, false), (1, true)]);
    }

    fn check_cipher_segments(len: u8, size: usize, hold: usize, want: &[(usize, bool)]) {
        {
            let data: Vec<u8> = (0..len).collect();
            let mut s = CipherSegments::new(&data[..], size, hold);
            let mut buf = SegmentBuf::new(size);
            let mut lens = Vec::new();
            let mut seen = Vec::new();
            while let Some(last) = s.next_into(&mut buf).unwrap() {
                lens.push((buf.bytes().len(), last));
                seen.extend_from_slice(buf.bytes());
            }
            assert_eq!(lens, want, "stream of {len}");
            seen.extend(s.rest());
            assert_eq!(seen, data, "every byte comes out once, in order");
        }
    }
}
