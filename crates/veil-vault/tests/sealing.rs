//! Round trips, every tamper case, random access and rewrap of sealed files.

use std::io::{Cursor, Read, Seek, SeekFrom};

use proptest::prelude::*;
use veil_vault::{
    Error, Identity, KdfParams, Keyring, Passphrase, PublicIdentity, SealOptions, SealedReader,
};

const SEG: u32 = 64;

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

fn seal_for(plain: &[u8], recipients: &[PublicIdentity], signer: Option<&Identity>) -> Vec<u8> {
    let mut out = Vec::new();
    veil_vault::seal(
        plain,
        &mut out,
        &SealOptions {
            recipients,
            signer,
            segment_size: SEG,
            ..Default::default()
        },
    )
    .expect("seals");
    out
}

fn keyring(id: &Identity) -> Keyring {
    Keyring {
        identities: vec![id.clone()],
        passphrase: None,
    }
}

fn open(sealed: &[u8], keys: &Keyring, signer: Option<&PublicIdentity>) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    match signer {
        Some(signer) => {
            veil_vault::open_verified(std::io::Cursor::new(sealed), &mut out, keys, signer)
        }
        None => veil_vault::open(sealed, &mut out, keys),
    }
    .map(|_| out)
}

/// A file whose bytes are `before` until the reader seeks for the `flip`-th time, and `after`
/// from then on: a file changed between the signature check and the decryption.
struct Changing {
    before: std::io::Cursor<Vec<u8>>,
    after: Vec<u8>,
    seeks: usize,
    flip: usize,
}

impl std::io::Read for Changing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.before.read(buf)
    }
}

impl std::io::Seek for Changing {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        self.seeks += 1;
        if self.seeks == self.flip {
            let position = self.before.position();
            self.before = std::io::Cursor::new(std::mem::take(&mut self.after));
            self.before.set_position(position);
        }
        self.before.seek(to)
    }
}

#[test]
fn a_verified_open_writes_nothing_the_signature_does_not_cover() {
    let (alice, mallory) = (Identity::generate(), Identity::generate());
    let plain = data(3 * SEG as usize);
    let sealed = seal_for(&plain, &[*alice.public()], Some(&alice));
    // Signed by someone else: refused before a byte is written.
    let mut out = Vec::new();
    let err = veil_vault::open_verified(
        std::io::Cursor::new(&sealed),
        &mut out,
        &keyring(&alice),
        mallory.public(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::WrongSigner { .. }), "{err}");
    assert!(out.is_empty());
    // A bad signature (its last byte flipped): refused before a byte is written.
    let mut forged = sealed.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let err = veil_vault::open_verified(
        std::io::Cursor::new(&forged),
        &mut out,
        &keyring(&alice),
        alice.public(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::BadSignature { .. }), "{err}");
    assert!(out.is_empty());
    // The file changes after the signature was checked (the last of the first pass's seeks
    // back to the payload): the changed segment is not released.
    let mut changed = sealed.clone();
    let middle = header_len(&sealed) + SEG as usize + 16 + 5;
    changed[middle] ^= 1;
    let reader = Changing {
        before: std::io::Cursor::new(sealed.clone()),
        after: changed,
        seeks: 0,
        flip: 6,
    };
    let err =
        veil_vault::open_verified(reader, &mut out, &keyring(&alice), alice.public()).unwrap_err();
    assert!(matches!(err, Error::SegmentTampered { index: 1 }), "{err}");
    assert!(plain.starts_with(&out) && out.len() < 2 * SEG as usize);
    // The file is cut short after its length was read: not intact, and nothing written.
    let mut out = Vec::new();
    let reader = Changing {
        before: std::io::Cursor::new(sealed.clone()),
        after: sealed[..sealed.len() - 10].to_vec(),
        seeks: 0,
        flip: 3,
    };
    let err =
        veil_vault::open_verified(reader, &mut out, &keyring(&alice), alice.public()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadLength(veil_vault::error::LengthProblem::Shrank)
        ),
        "{err}"
    );
    assert_eq!(err.kind(), veil_core::ErrorKind::NotIntact);
    assert!(out.is_empty());
}

fn header_len(sealed: &[u8]) -> usize {
    veil_vault::inspect(sealed)
        .expect("a sealed file")
        .header_len as usize
}

#[test]
fn round_trip_at_segment_edges() {
    let alice = Identity::generate();
    for n in [
        0,
        1,
        SEG as usize - 1,
        SEG as usize,
        SEG as usize + 1,
        5 * SEG as usize + 7,
        8 * SEG as usize,
    ] {
        let plain = data(n);
        let sealed = seal_for(&plain, &[*alice.public()], Some(&alice));
        assert_eq!(
            open(&sealed, &keyring(&alice), Some(alice.public())).unwrap(),
            plain,
            "size {n}"
        );
        let info = veil_vault::inspect(&sealed[..]).unwrap();
        assert_eq!(info.plaintext_len, n as u64);
        assert_eq!(info.signer, Some(alice.public().key_id()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn round_trip_any_size(n in 0usize..1200, seg in 16u32..200) {
        let alice = Identity::generate();
        let plain = data(n);
        let mut sealed = Vec::new();
        veil_vault::seal(&plain[..], &mut sealed, &SealOptions { recipients: &[*alice.public()], segment_size: seg, ..Default::default() }).unwrap();
        prop_assert_eq!(open(&sealed, &keyring(&alice), None).unwrap(), plain);
    }

    #[test]
    fn seal_slice_opens_like_seal(n in 0usize..1200, seg in 16u32..200, signed: bool) {
        let alice = Identity::generate();
        let plain = data(n);
        let recipients = [*alice.public()];
        let options = SealOptions { recipients: &recipients, segment_size: seg, signer: signed.then_some(&alice), ..Default::default() };
        let sealed = veil_vault::seal_slice(&plain, &options).unwrap();
        let signer = signed.then_some(alice.public());
        prop_assert_eq!(open(&sealed, &keyring(&alice), signer).unwrap(), plain);
    }

    #[test]
    fn any_flipped_bit_is_detected(n in 1usize..400, pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let alice = Identity::generate();
        let mut sealed = seal_for(&data(n), &[*alice.public()], Some(&alice));
        let i = pos.index(sealed.len());
        sealed[i] ^= 1 << bit;
        prop_assert!(open(&sealed, &keyring(&alice), Some(alice.public())).is_err(), "flip at byte {} of {}", i, sealed.len());
    }

    #[test]
    fn any_truncation_is_detected(n in 1usize..400, cut in any::<prop::sample::Index>()) {
        let alice = Identity::generate();
        let sealed = seal_for(&data(n), &[*alice.public()], None);
        let keep = cut.index(sealed.len());
        prop_assert!(open(&sealed[..keep], &keyring(&alice), None).is_err(), "kept {} of {}", keep, sealed.len());
    }

    #[test]
    fn random_access_matches_slices(n in 1usize..1000, reads in prop::collection::vec((any::<prop::sample::Index>(), 0usize..300), 1..12)) {
        let alice = Identity::generate();
        let plain = data(n);
        let sealed = seal_for(&plain, &[*alice.public()], None);
        let mut reader = SealedReader::new(Cursor::new(sealed), &keyring(&alice)).unwrap();
        prop_assert_eq!(reader.plaintext_len(), n as u64);
        for (at, len) in reads {
            let start = at.index(n);
            let end = (start + len).min(n);
            reader.seek(SeekFrom::Start(start as u64)).unwrap();
            let mut buf = vec![0u8; end - start];
            reader.read_exact(&mut buf).unwrap();
            prop_assert_eq!(&buf[..], &plain[start..end]);
        }
    }
}

#[test]
fn the_random_access_length_is_authenticated() {
    // Cut at a segment boundary, every remaining segment still authenticates on its own;
    // the reader refuses the file at open rather than report a shorter length.
    let alice = Identity::generate();
    let sealed = seal_for(&data(4 * SEG as usize + 10), &[*alice.public()], None);
    let cut = header_len(&sealed) + 2 * (SEG as usize + 16);
    let err = SealedReader::new(Cursor::new(sealed[..cut].to_vec()), &keyring(&alice))
        .err()
        .expect("a truncated file is refused");
    assert!(matches!(err, Error::SegmentTampered { index: 1 }), "{err}");
}

#[test]
fn appended_reordered_and_spliced_segments_are_detected() {
    let alice = Identity::generate();
    let keys = keyring(&alice);
    let plain = data(4 * SEG as usize + 10);
    let sealed = seal_for(&plain, &[*alice.public()], None);
    let h = header_len(&sealed);
    let seg = SEG as usize + 16;

    // Appending a copy of a middle segment after the final one.
    let mut extended = sealed.clone();
    extended.extend_from_slice(&sealed[h + seg..h + 2 * seg]);
    assert!(open(&extended, &keys, None).is_err());

    // Swapping segments 0 and 1.
    let mut reordered = sealed.clone();
    reordered[h..h + seg].copy_from_slice(&sealed[h + seg..h + 2 * seg]);
    reordered[h + seg..h + 2 * seg].copy_from_slice(&sealed[h..h + seg]);
    assert!(matches!(
        open(&reordered, &keys, None),
        Err(Error::SegmentTampered { index: 0 })
    ));

    // Truncated exactly at a segment boundary (drop the final segment).
    let cut = &sealed[..h + 4 * seg];
    assert!(matches!(
        open(cut, &keys, None),
        Err(Error::SegmentTampered { index: 3 })
    ));

    // A segment from another file sealed to the same recipient.
    let other = seal_for(&plain, &[*alice.public()], None);
    let mut spliced = sealed.clone();
    spliced[h + seg..h + 2 * seg].copy_from_slice(&other[h + seg..h + 2 * seg]);
    assert!(matches!(
        open(&spliced, &keys, None),
        Err(Error::SegmentTampered { index: 1 })
    ));

    // The header of another file on this payload.
    let mut swapped = other[..h].to_vec();
    swapped.extend_from_slice(&sealed[h..]);
    assert!(open(&swapped, &keys, None).is_err());
}

#[test]
fn wrong_keys_versions_and_formats_have_distinct_errors() {
    let (alice, bob) = (Identity::generate(), Identity::generate());
    let sealed = seal_for(b"secret", &[*alice.public()], Some(&alice));
    assert!(matches!(
        open(&sealed, &keyring(&bob), None),
        Err(Error::NoMatchingKey { .. })
    ));

    let mut future = sealed.clone();
    future[8] = 2;
    assert!(matches!(
        open(&future, &keyring(&alice), None),
        Err(Error::UnsupportedVersion(2))
    ));
    assert!(matches!(
        open(b"PK\x03\x04 a zip file", &keyring(&alice), None),
        Err(Error::NotSealed)
    ));
    assert!(matches!(
        open(b"", &keyring(&alice), None),
        Err(Error::NotSealed) | Err(Error::MalformedHeader(_))
    ));

    // Signed by alice, but bob is expected; and an unsigned file when a signer is expected.
    let err = open(&sealed, &keyring(&alice), Some(bob.public())).unwrap_err();
    assert!(
        matches!(err, Error::WrongSigner { found, expected } if found == alice.public().key_id() && expected == bob.public().key_id()),
        "{err}"
    );
    let unsigned = seal_for(b"secret", &[*alice.public()], None);
    assert!(matches!(
        open(&unsigned, &keyring(&alice), Some(alice.public())),
        Err(Error::Unsigned)
    ));

    // A forged signer key id in the header breaks the MAC.
    let mut forged = sealed.clone();
    forged[78..86].copy_from_slice(&bob.public().key_id().0);
    assert!(matches!(
        open(&forged, &keyring(&alice), Some(bob.public())),
        Err(Error::HeaderTampered)
    ));
}

#[test]
fn a_recipient_cannot_alter_the_payload_of_a_signed_file() {
    // A recipient knows the file key, so can re-encrypt a segment so that it authenticates;
    // the sender's signature still catches it.
    let (alice, bob) = (Identity::generate(), Identity::generate());
    let plain = data(3 * SEG as usize);
    let sealed = seal_for(&plain, &[*bob.public()], Some(&alice));
    let mut reader = SealedReader::new(Cursor::new(sealed.clone()), &keyring(&bob)).unwrap();
    reader.verify_signature(alice.public()).unwrap();
    // Re-seal different content for bob under the same signer id but another key: the
    // signature does not transfer.
    let other = seal_for(&data(3 * SEG as usize + 1), &[*bob.public()], Some(&bob));
    let mut mixed = other[..other.len() - 64].to_vec();
    mixed.extend_from_slice(&sealed[sealed.len() - 64..]);
    assert!(open(&mixed, &keyring(&bob), Some(bob.public())).is_err());
}

#[test]
fn passphrase_sealing() {
    let pass = Passphrase::new("correct horse battery staple").unwrap();
    let seal_with = |params| {
        let mut sealed = Vec::new();
        veil_vault::seal(
            &b"by passphrase"[..],
            &mut sealed,
            &SealOptions {
                passphrase: Some((&pass, params)),
                ..Default::default()
            },
        )
        .map(|_| sealed)
    };
    // Costs below OWASP's argon2id minimum are refused when sealing (F-11).
    assert!(matches!(
        seal_with(KdfParams::insecure_for_tests()),
        Err(Error::Invalid { .. })
    ));
    let sealed = seal_with(KdfParams::FLOOR).unwrap();
    assert_eq!(sealed[88], 3, "a committing passphrase stanza");
    let good = Keyring {
        identities: vec![],
        passphrase: Some(pass.clone()),
    };
    assert_eq!(open(&sealed, &good, None).unwrap(), b"by passphrase");
    let bad = Keyring {
        identities: vec![],
        passphrase: Some(Passphrase::new("wrong").unwrap()),
    };
    assert!(matches!(
        open(&sealed, &bad, None),
        Err(Error::WrongPassphrase)
    ));
    assert_eq!(
        veil_vault::inspect(&sealed[..]).unwrap().recipients,
        ["passphrase"]
    );
    // Under a passphrase, every header failure is the same error (F-11): a changed file
    // salt (20), key commitment (50), stanza commitment (120), wrapped key (160) or header
    // MAC (200); argon2id costs below the floor (105..109); a header cut short.
    let mut damaged: Vec<Vec<u8>> = [20, 50, 120, 160, 200]
        .into_iter()
        .map(|at| {
            let mut t = sealed.clone();
            t[at] ^= 1;
            t
        })
        .collect();
    let mut cheap = sealed.clone();
    cheap[105..109].copy_from_slice(&64u32.to_be_bytes());
    damaged.extend([cheap.clone(), sealed[..150].to_vec()]);
    for (i, t) in damaged.iter().enumerate() {
        let e = open(t, &good, None).unwrap_err();
        assert!(matches!(e, Error::WrongPassphrase), "case {i}: {e}");
    }
    // Without a passphrase the damage is reported as what it is.
    let other = Keyring {
        identities: vec![Identity::generate()],
        passphrase: None,
    };
    assert!(matches!(
        open(&cheap, &other, None),
        Err(Error::MalformedHeader(_))
    ));
}

#[test]
fn rewrap_changes_recipients_and_keeps_the_signature() {
    let (alice, bob, carol) = (
        Identity::generate(),
        Identity::generate(),
        Identity::generate(),
    );
    let plain = data(300);
    let sealed = seal_for(&plain, &[*alice.public(), *bob.public()], Some(&alice));
    let mut rewrapped = Vec::new();
    veil_vault::rewrap(
        &sealed[..],
        &mut rewrapped,
        &keyring(&alice),
        &[*carol.public()],
        None,
        &[bob.public().key_id().to_string()],
    )
    .unwrap();
    let h_old = header_len(&sealed);
    let h_new = header_len(&rewrapped);
    assert_eq!(
        &sealed[h_old..],
        &rewrapped[h_new..],
        "payload and signature are copied unchanged"
    );
    assert_eq!(
        open(&rewrapped, &keyring(&carol), Some(alice.public())).unwrap(),
        plain
    );
    assert!(matches!(
        open(&rewrapped, &keyring(&bob), None),
        Err(Error::NoMatchingKey { .. })
    ));
    let info = veil_vault::inspect(&rewrapped[..]).unwrap();
    assert_eq!(
        info.recipients,
        [
            alice.public().key_id().to_string(),
            carol.public().key_id().to_string()
        ]
    );
    // Removing every recipient is refused; so is removing one that is not there.
    let all = [
        alice.public().key_id().to_string(),
        carol.public().key_id().to_string(),
    ];
    assert!(
        veil_vault::rewrap(
            &rewrapped[..],
            &mut Vec::new(),
            &keyring(&alice),
            &[],
            None,
            &all
        )
        .is_err()
    );
    assert!(
        veil_vault::rewrap(
            &rewrapped[..],
            &mut Vec::new(),
            &keyring(&alice),
            &[],
            None,
            &["0011223344556677".into()]
        )
        .is_err()
    );
    // Someone who cannot open the file cannot rewrap it.
    assert!(
        veil_vault::rewrap(
            &rewrapped[..],
            &mut Vec::new(),
            &keyring(&bob),
            &[*bob.public()],
            None,
            &[]
        )
        .is_err()
    );
}

#[test]
fn random_access_detects_tampering_in_the_segment_it_reads() {
    let alice = Identity::generate();
    let plain = data(5 * SEG as usize);
    let mut sealed = seal_for(&plain, &[*alice.public()], None);
    let h = header_len(&sealed);
    sealed[h + 3 * (SEG as usize + 16) + 5] ^= 1;
    let mut reader = SealedReader::new(Cursor::new(sealed), &keyring(&alice)).unwrap();
    let mut buf = vec![0u8; 10];
    reader.seek(SeekFrom::Start(u64::from(SEG))).unwrap();
    reader.read_exact(&mut buf).unwrap();
    assert_eq!(&buf[..], &plain[SEG as usize..SEG as usize + 10]);
    reader.seek(SeekFrom::Start(3 * u64::from(SEG))).unwrap();
    assert!(reader.read_exact(&mut buf).is_err());
}

#[test]
fn large_default_segments_in_parallel() {
    let alice = Identity::generate();
    let plain = data(5 * 1024 * 1024 + 3);
    let mut sealed = Vec::new();
    veil_vault::seal(
        &plain[..],
        &mut sealed,
        &SealOptions {
            recipients: &[*alice.public()],
            signer: Some(&alice),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(veil_vault::inspect(&sealed[..]).unwrap().segments, 6);
    assert_eq!(
        open(&sealed, &keyring(&alice), Some(alice.public())).unwrap(),
        plain
    );
}

/// A writer that fails once `limit` bytes have been written (a full disk).
struct FullDisk {
    written: usize,
    limit: usize,
}

impl std::io::Write for FullDisk {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written + buf.len() > self.limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left on device",
            ));
        }
        self.written += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A reader that fails after `limit` bytes (a disappearing network share).
struct Flaky {
    left: usize,
}

impl std::io::Read for Flaky {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("connection reset"));
        }
        let n = buf.len().min(self.left);
        buf[..n].fill(7);
        self.left -= n;
        Ok(n)
    }
}

#[test]
fn io_failures_during_sealing_are_errors_not_hangs() {
    let alice = Identity::generate();
    let recipients = [*alice.public()];
    let options = SealOptions {
        recipients: &recipients,
        ..Default::default()
    };
    let plain = data(40 << 20);
    for limit in [10, 3 << 20, 30 << 20] {
        let err =
            veil_vault::seal(&plain[..], FullDisk { written: 0, limit }, &options).unwrap_err();
        assert!(err.to_string().contains("no space left"), "{err}");
    }
    let err = veil_vault::seal(Flaky { left: 5 << 20 }, std::io::sink(), &options).unwrap_err();
    assert!(err.to_string().contains("connection reset"), "{err}");
}
