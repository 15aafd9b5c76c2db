//! Sealing and opening streams, changing recipients, and reading a header.
//!
//! Segments are processed in batches: a batch is read, its segments are encrypted (or
//! authenticated and decrypted) in parallel on the rayon pool, and written out in order. The
//! batch is bounded (32 MiB of segments), so memory stays flat whatever the file size.
//! [`open`] writes a segment only after it has authenticated; a stream that is cut short is
//! detected at its end, so callers that must not release any plaintext of a bad file write to
//! a temporary file and keep it only on success (as the `veil` command does).
//! [`open_verified`] checks the sender's signature before it decrypts anything.

use std::io::{Read, Seek, SeekFrom, Write};

use rayon::prelude::*;

use crate::aead::{self, TAG_LEN};
use crate::error::{Error, LengthProblem, Result};
use crate::header::{
    DEFAULT_SEGMENT, Header, Keyring, MAX_SEGMENT, MIN_SEGMENT, SIGNATURE_LEN, Stanza, VERSION,
};
use crate::identity::{Identity, KeyId, PublicIdentity};
use crate::passphrase::{KdfParams, Passphrase};
use crate::payload::{
    CipherSegments, Layout, PayloadDigest, PlainSegments, SegmentBuf, nonce, segment_hash,
};
use crate::schedule::{FileKey, FileKeys};

/// Memory for one batch of segments.
const BATCH_BYTES: usize = 16 << 20;

/// Segments per batch: enough to keep every core busy, within [`BATCH_BYTES`].
fn batch_len(segment_size: usize) -> usize {
    let fit = (BATCH_BYTES / (segment_size + TAG_LEN)).max(1);
    fit.min(4 * rayon::current_num_threads()).max(1)
}

/// Who a file is sealed for, and by whom.
pub struct SealOptions<'a> {
    /// Public identities that can open the file.
    pub recipients: &'a [PublicIdentity],
    /// A passphrase that can open the file, with its argon2id costs.
    pub passphrase: Option<(&'a Passphrase, KdfParams)>,
    /// Sign the file as this identity.
    pub signer: Option<&'a Identity>,
    /// Plaintext bytes per segment.
    pub segment_size: u32,
}

impl Default for SealOptions<'_> {
    fn default() -> Self {
        SealOptions {
            recipients: &[],
            passphrase: None,
            signer: None,
            segment_size: DEFAULT_SEGMENT,
        }
    }
}

/// What [`seal`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealSummary {
    /// Plaintext bytes sealed.
    pub plaintext_len: u64,
    /// Segments written.
    pub segments: u64,
    /// Bytes written in all.
    pub sealed_len: u64,
}

/// A fresh file key and the header that wraps it for `options`' recipients.
fn new_header(options: &SealOptions<'_>) -> Result<(Header, FileKeys)> {
    if options.recipients.is_empty() && options.passphrase.is_none() {
        return Err(Error::invalid(
            "recipients",
            "seal to at least one recipient or a passphrase",
        ));
    }
    if !(MIN_SEGMENT..=MAX_SEGMENT).contains(&options.segment_size) {
        return Err(Error::invalid(
            "segment size",
            format!(
                "{} is outside {MIN_SEGMENT}..={MAX_SEGMENT}",
                options.segment_size
            ),
        ));
    }
    let key = FileKey::random();
    let salt = veil_core::random::bytes();
    let keys = FileKeys::derive(&key, &salt);
    let mut stanzas = Vec::new();
    for r in options.recipients {
        if !stanzas
            .iter()
            .any(|s: &Stanza| s.key_id() == Some(r.key_id()))
        {
            stanzas.push(Stanza::for_recipient(&key, &salt, r)?);
        }
    }
    if let Some((passphrase, params)) = options.passphrase {
        stanzas.push(Stanza::for_passphrase(&key, &salt, passphrase, params)?);
    }
    let mut header = Header {
        segment_size: options.segment_size,
        signer: options.signer.map(|s| s.public().key_id()),
        salt,
        commitment: keys.commitment,
        stanzas,
        mac: [0; 32],
    };
    header.seal_mac(&keys);
    Ok((header, keys))
}

/// Bytes of a sealed file with `plaintext_len` bytes of plaintext, for a header of
/// `header_len` bytes.
fn sealed_len(header_len: usize, plaintext_len: usize, segment_size: usize, signed: bool) -> usize {
    let segments = plaintext_len.div_ceil(segment_size).max(1);
    header_len
        + plaintext_len
        + segments * TAG_LEN
        + if signed { SIGNATURE_LEN as usize } else { 0 }
}

/// Seals a plaintext held in memory into a new buffer, with no intermediate copy: each
/// segment is encrypted straight from `plain` into its place in the output, in parallel.
pub fn seal_slice(plain: &[u8], options: &SealOptions<'_>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    seal_slice_into(plain, &mut out, options)?;
    Ok(out)
}

/// Like [`seal_slice`], but replaces the contents of `out`, reusing its memory — for callers
/// that seal many buffers.
pub fn seal_slice_into(plain: &[u8], out: &mut Vec<u8>, options: &SealOptions<'_>) -> Result<()> {
    let (header, keys) = new_header(options)?;
    let header_bytes = header.to_bytes();
    let size = options.segment_size as usize;
    // Every byte is overwritten below, so memory already in `out` is reused without clearing.
    out.resize(
        sealed_len(
            header_bytes.len(),
            plain.len(),
            size,
            options.signer.is_some(),
        ),
        0,
    );
    out[..header_bytes.len()].copy_from_slice(&header_bytes);
    let payload_end = out.len()
        - if options.signer.is_some() {
            SIGNATURE_LEN as usize
        } else {
            0
        };
    let segments = plain.len().div_ceil(size).max(1) as u64;
    let aes = aead::Key::new(&keys.payload);
    let sign = options.signer.is_some();
    let hashes: Vec<Option<[u8; 32]>> = out[header_bytes.len()..payload_end]
        .par_chunks_mut(size + TAG_LEN)
        .enumerate()
        .map(|(i, segment)| {
            let start = i * size;
            let input = &plain[start..(start + size).min(plain.len())];
            let (ciphertext, tag) = segment.split_at_mut(input.len());
            aes.seal_into(
                nonce(i as u64, i as u64 + 1 == segments),
                input,
                ciphertext,
                tag,
            );
            sign.then(|| segment_hash(segment))
        })
        .collect();
    if let Some(signer) = options.signer {
        let mut digest = PayloadDigest::new();
        hashes.iter().flatten().for_each(|h| digest.push(h));
        let signature = signer.sign(&digest.signing_message(&header));
        out[payload_end..].copy_from_slice(&signature);
    }
    Ok(())
}

/// A batch of segments on its way from the reader thread to the sealer.
struct Batch {
    bufs: Vec<SegmentBuf>,
    count: usize,
    finished: bool,
}

impl Batch {
    fn new(segments: usize, size: usize) -> Self {
        Batch {
            bufs: (0..segments).map(|_| SegmentBuf::new(size)).collect(),
            count: 0,
            finished: false,
        }
    }

    /// Reads up to a batch of segments.
    fn fill<R: Read>(&mut self, source: &mut PlainSegments<R>) -> std::io::Result<()> {
        self.count = 0;
        while self.count < self.bufs.len() && !self.finished {
            match source.next_into(&mut self.bufs[self.count])? {
                Some(last) => {
                    self.finished = last;
                    self.count += 1;
                }
                None => self.finished = true,
            }
        }
        Ok(())
    }
}

/// Seals everything `input` yields into `output`.
///
/// Three stages run at once: a thread reads the next batch of segments, the rayon pool
/// encrypts the current one, and a thread writes the previous one — so on a machine with
/// several cores, input, encryption and output overlap. At most three batches (each at most
/// 16 MiB) are in memory at once.
pub fn seal<R: Read + Send, W: Write + Send>(
    input: R,
    mut output: W,
    options: &SealOptions<'_>,
) -> Result<SealSummary> {
    let (header, keys) = new_header(options)?;
    let header_bytes = header.to_bytes();
    let io = |e| Error::io("sealed output", e);
    output.write_all(&header_bytes).map_err(io)?;

    let aes = aead::Key::new(&keys.payload);
    let size = options.segment_size as usize;
    let batch = batch_len(size);
    let mut digest = options.signer.map(|_| PayloadDigest::new());
    let mut summary = SealSummary {
        plaintext_len: 0,
        segments: 0,
        sealed_len: header_bytes.len() as u64,
    };
    let out = &mut output;
    std::thread::scope(|scope| -> Result<()> {
        use std::sync::mpsc::sync_channel;
        let (empty_tx, empty_rx) = sync_channel::<Batch>(3);
        let (full_tx, full_rx) = sync_channel::<std::io::Result<Batch>>(1);
        let (sealed_tx, sealed_rx) = sync_channel::<Batch>(1);
        for _ in 0..3 {
            empty_tx
                .send(Batch::new(batch, size))
                .expect("the channel has room for three batches");
        }
        scope.spawn(move || {
            let mut source = PlainSegments::new(input, size);
            while let Ok(mut b) = empty_rx.recv() {
                let read = b.fill(&mut source);
                let done = read.is_err() || b.finished;
                if full_tx.send(read.map(|()| b)).is_err() || done {
                    break;
                }
            }
        });
        let writer = scope.spawn(move || -> std::io::Result<()> {
            while let Ok(b) = sealed_rx.recv() {
                for buf in &b.bufs[..b.count] {
                    out.write_all(buf.bytes())?;
                }
                // The reader may have stopped after its last batch; nothing to return then.
                let _ = empty_tx.send(b);
            }
            Ok(())
        });
        let sealed = (|| -> Result<()> {
            loop {
                let mut b = full_rx
                    .recv()
                    .map_err(|_| Error::io("input", std::io::Error::other("the reader stopped")))?
                    .map_err(|e| Error::io("input", e))?;
                let (count, finished, first) = (b.count, b.finished, summary.segments);
                let sign = digest.is_some();
                let hashes: Vec<Option<[u8; 32]>> = b.bufs[..count]
                    .par_iter_mut()
                    .enumerate()
                    .map(|(j, buf)| {
                        let last = finished && j + 1 == count;
                        buf.seal(&aes, nonce(first + j as u64, last));
                        sign.then(|| segment_hash(buf.bytes()))
                    })
                    .collect();
                for (buf, hash) in b.bufs[..count].iter().zip(hashes) {
                    let len = buf.bytes().len() as u64;
                    summary.plaintext_len += len - TAG_LEN as u64;
                    summary.sealed_len += len;
                    if let (Some(d), Some(h)) = (digest.as_mut(), hash) {
                        d.push(&h);
                    }
                }
                summary.segments += count as u64;
                if sealed_tx.send(b).is_err() {
                    // The writer stopped: its error is reported below.
                    return Ok(());
                }
                if finished {
                    return Ok(());
                }
            }
        })();
        drop(sealed_tx);
        let written = writer.join().map_err(|_| {
            Error::io(
                "sealed output",
                std::io::Error::other("the writer panicked"),
            )
        })?;
        sealed?;
        written.map_err(io)
    })?;
    if let (Some(signer), Some(digest)) = (options.signer, digest) {
        let signature = signer.sign(&digest.signing_message(&header));
        output.write_all(&signature).map_err(io)?;
        summary.sealed_len += SIGNATURE_LEN;
    }
    output.flush().map_err(io)?;
    Ok(summary)
}

/// What [`open`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenSummary {
    /// Plaintext bytes written.
    pub plaintext_len: u64,
    /// Segments read.
    pub segments: u64,
    /// The signer's key id, if the file is signed.
    pub signer: Option<KeyId>,
    /// True when the signature was checked against an expected signer and holds.
    pub signature_verified: bool,
}

/// Checks that the header names `expected` as its signer.
pub(crate) fn check_signer(header: &Header, expected: Option<&PublicIdentity>) -> Result<()> {
    let Some(expected) = expected else {
        return Ok(());
    };
    match header.signer {
        None => Err(Error::Unsigned),
        Some(found) if found != expected.key_id() => Err(Error::WrongSigner {
            found,
            expected: expected.key_id(),
        }),
        Some(_) => Ok(()),
    }
}

/// Authenticates and decrypts a sealed stream into `output`. A signature, if the file
/// carries one, is not checked: to require one, use [`open_verified`].
pub fn open<R: Read, W: Write>(mut input: R, output: W, keyring: &Keyring) -> Result<OpenSummary> {
    let header = keyring.conceal(Header::read_from(&mut input))?;
    let (_, keys) = keyring.conceal(header.unlock(keyring))?;
    decrypt(input, output, &header, &keys, None)
}

/// Opens a sealed file that must carry `signer`'s valid signature, and releases no byte of
/// plaintext the signature does not cover.
///
/// A first pass over the ciphertext (no decryption) hashes every segment and checks the
/// signature over those hashes; only then does a second pass decrypt, writing each segment
/// after checking that its ciphertext is the one the first pass hashed. A file that changes
/// between the passes fails at the first changed segment. With one handle and the
/// signature checked first, nothing unverified reaches `output`, not even a prefix.
pub fn open_verified<R: Read + Seek, W: Write>(
    mut input: R,
    output: W,
    keyring: &Keyring,
    signer: &PublicIdentity,
) -> Result<OpenSummary> {
    let io = |e| Error::io("sealed input", e);
    // Past the header, the file's length is known: ending early means it changed.
    let read = |input: &mut R, buf: &mut [u8]| {
        input.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => Error::BadLength(LengthProblem::Shrank),
            _ => io(e),
        })
    };
    let header = keyring.conceal(Header::read_from(&mut input))?;
    check_signer(&header, Some(signer))?;
    let (_, keys) = keyring.conceal(header.unlock(keyring))?;
    let payload = input.stream_position().map_err(io)?;
    let total = input.seek(SeekFrom::End(0)).map_err(io)?;
    let layout = Layout::new(&header, total)?;
    let mut digest = PayloadDigest::new();
    let mut hashes = Vec::with_capacity(usize::try_from(layout.segments).unwrap_or(0));
    let mut buf = Vec::new();
    for i in 0..layout.segments {
        let (offset, len) = layout.segment(i);
        buf.resize(len, 0);
        input.seek(SeekFrom::Start(offset)).map_err(io)?;
        read(&mut input, &mut buf)?;
        let hash = segment_hash(&buf);
        digest.push(&hash);
        hashes.push(hash);
    }
    let mut signature = [0u8; 64];
    input
        .seek(SeekFrom::Start(layout.trailer_offset()))
        .map_err(io)?;
    read(&mut input, &mut signature)?;
    signer.verify(&digest.signing_message(&header), &signature)?;
    input.seek(SeekFrom::Start(payload)).map_err(io)?;
    let mut summary = decrypt(input, output, &header, &keys, Some(&hashes))?;
    summary.signature_verified = true;
    Ok(summary)
}

/// Authenticates and decrypts the payload after `header` into `output`; with `pinned`, each
/// segment's ciphertext must hash to the value at its index (what a signature covered).
fn decrypt<R: Read, W: Write>(
    input: R,
    mut output: W,
    header: &Header,
    keys: &FileKeys,
    pinned: Option<&[[u8; 32]]>,
) -> Result<OpenSummary> {
    let aes = aead::Key::new(&keys.payload);
    let size = header.segment_size as usize;
    let hold = if header.signer.is_some() {
        SIGNATURE_LEN as usize
    } else {
        0
    };
    let mut segments = CipherSegments::new(input, size + TAG_LEN, hold);
    let batch = batch_len(size);
    let mut bufs: Vec<SegmentBuf> = (0..batch).map(|_| SegmentBuf::new(size)).collect();
    let mut summary = OpenSummary {
        plaintext_len: 0,
        segments: 0,
        signer: header.signer,
        signature_verified: false,
    };
    let io = |e| Error::io("sealed input", e);
    let mut finished = false;
    while !finished {
        let mut count = 0;
        while count < batch && !finished {
            match segments.next_into(&mut bufs[count]).map_err(io)? {
                Some(last) => {
                    finished = last;
                    count += 1;
                }
                None => finished = true,
            }
        }
        let first = summary.segments;
        if let Some(last) = count.checked_sub(1) {
            let len = bufs[last].bytes().len();
            if len < TAG_LEN || (len == TAG_LEN && first + last as u64 > 0) {
                return Err(Error::BadLength(LengthProblem::FinalCutShort));
            }
        }
        let results: Vec<Result<()>> = bufs[..count]
            .par_iter_mut()
            .enumerate()
            .map(|(j, buf)| {
                let index = first + j as u64;
                if let Some(pinned) = pinned {
                    let expected = usize::try_from(index).ok().and_then(|i| pinned.get(i));
                    if expected != Some(&segment_hash(buf.bytes())) {
                        return Err(Error::SegmentTampered { index });
                    }
                }
                buf.open(&aes, nonce(index, finished && j + 1 == count))
                    .map_err(|_| Error::SegmentTampered { index })
            })
            .collect();
        for (buf, result) in bufs[..count].iter().zip(results) {
            result?;
            output
                .write_all(buf.bytes())
                .map_err(|e| Error::io("output", e))?;
            summary.plaintext_len += buf.bytes().len() as u64;
        }
        summary.segments += count as u64;
    }
    let rest = segments.rest();
    if rest.len() != hold {
        return Err(Error::BadLength(LengthProblem::StrayBytes(rest.len())));
    }
    if pinned.is_some_and(|p| p.len() as u64 != summary.segments) {
        return Err(Error::BadLength(LengthProblem::StrayBytes(0)));
    }
    output.flush().map_err(|e| Error::io("output", e))?;
    Ok(summary)
}

/// A header's public facts, for `veil vault inspect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// Format version.
    pub version: u8,
    /// Plaintext bytes per segment.
    pub segment_size: u32,
    /// Plaintext bytes, from the file's length.
    pub plaintext_len: u64,
    /// Number of segments.
    pub segments: u64,
    /// Recipients: key ids, and `passphrase`.
    pub recipients: Vec<String>,
    /// The signer's key id, if signed.
    pub signer: Option<KeyId>,
    /// Header bytes.
    pub header_len: u64,
}

/// Reads a sealed file's header and measures its payload; needs no key. The payload is not
/// authenticated (that takes a key), only its length is checked.
pub fn inspect<R: Read>(mut input: R) -> Result<Inspection> {
    let header = Header::read_from(&mut input)?;
    let rest = std::io::copy(&mut input, &mut std::io::sink())
        .map_err(|e| Error::io("sealed input", e))?;
    let layout = crate::payload::Layout::new(&header, header.encoded_len() + rest)?;
    Ok(Inspection {
        version: VERSION,
        segment_size: header.segment_size,
        plaintext_len: layout.plaintext_len,
        segments: layout.segments,
        recipients: header.stanzas.iter().map(Stanza::label).collect(),
        signer: header.signer,
        header_len: layout.header_len,
    })
}

/// Changes the recipients of a sealed file without re-encrypting its payload: removes the
/// stanzas named in `remove` (key ids, or `passphrase`), adds `add` (and a passphrase), and
/// copies the payload and any signature unchanged, which therefore stays valid. The caller
/// must be able to open the file. A removed recipient who kept the file key can still read
/// copies of the file; only re-sealing revokes that.
pub fn rewrap<R: Read, W: Write>(
    mut input: R,
    mut output: W,
    keyring: &Keyring,
    add: &[PublicIdentity],
    add_passphrase: Option<(&Passphrase, KdfParams)>,
    remove: &[String],
) -> Result<Header> {
    let mut header = keyring.conceal(Header::read_from(&mut input))?;
    let (key, keys) = keyring.conceal(header.unlock(keyring))?;
    for r in remove {
        if !header.stanzas.iter().any(|s| s.label() == *r) {
            return Err(Error::invalid(
                "--remove",
                format!(
                    "{r} is not a recipient of this file (recipients: {})",
                    labels(&header)
                ),
            ));
        }
    }
    header.stanzas.retain(|s| !remove.contains(&s.label()));
    for a in add {
        if !header
            .stanzas
            .iter()
            .any(|s| s.key_id() == Some(a.key_id()))
        {
            header
                .stanzas
                .push(Stanza::for_recipient(&key, &header.salt, a)?);
        }
    }
    if let Some((passphrase, params)) = add_passphrase {
        header.stanzas.retain(|s| s.key_id().is_some());
        header.stanzas.push(Stanza::for_passphrase(
            &key,
            &header.salt,
            passphrase,
            params,
        )?);
    }
    if header.stanzas.is_empty() {
        return Err(Error::invalid(
            "recipients",
            "a sealed file must keep at least one recipient",
        ));
    }
    if header.stanzas.len() > crate::header::MAX_STANZAS {
        return Err(Error::invalid("recipients", "too many recipients"));
    }
    header.seal_mac(&keys);
    let io = |e| Error::io("output", e);
    output.write_all(&header.to_bytes()).map_err(io)?;
    std::io::copy(&mut input, &mut output).map_err(io)?;
    output.flush().map_err(io)?;
    Ok(header)
}

fn labels(header: &Header) -> String {
    header
        .stanzas
        .iter()
        .map(Stanza::label)
        .collect::<Vec<_>>()
        .join(", ")
}
