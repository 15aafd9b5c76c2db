//! # veil-vault — sealed datasets and models
//!
//! Level 2 of the Veil workspace. A *sealed file* (`.veil`, format v1) keeps a dataset or a
//! model encrypted wherever it is stored or copied, readable only by the recipients it was
//! sealed for, and optionally signed by its sender.
//!
//! * A random 256-bit file key per file; payload keys derived with HKDF-SHA256 and a **key
//!   commitment** in the header, so a file opens to one plaintext only ([`schedule`]).
//! * The file key wrapped once per recipient with HPKE (RFC 9180, X25519), or under a
//!   passphrase with argon2id ([`header`]).
//! * The payload in fixed-size segments (default 1 MiB of ciphertext) of AES-256-GCM from aws-lc-rs, each
//!   nonce binding the segment index and a last-segment flag ([`payload`]): reordering,
//!   truncation, extension and splicing are all detected. Segments are sealed and opened in
//!   parallel with bounded memory ([`seal`]), and read at random ([`reader`]).
//! * An optional Ed25519 signature over the key commitment, metadata and payload digest —
//!   not over the recipients, so [`seal::rewrap`] keeps it valid.
//! * Identities ([`identity`]) in PEM files, secret ones protected by a passphrase; key
//!   custody by Shamir secret sharing ([`custody`]); compatibility with age ([`age_compat`]).
//!
//! ```
//! use veil_vault::{Identity, Keyring, SealOptions, seal, open};
//!
//! let alice = Identity::generate();
//! let recipients = [*alice.public()];
//! let mut sealed = Vec::new();
//! seal(&b"patient records"[..], &mut sealed, &SealOptions { recipients: &recipients, ..Default::default() })?;
//!
//! let keyring = Keyring { identities: vec![alice], passphrase: None };
//! let mut plain = Vec::new();
//! open(&sealed[..], &mut plain, &keyring)?;
//! assert_eq!(plain, b"patient records");
//! # Ok::<(), veil_vault::Error>(())
//! ```
//!
//! ## Threat model
//!
//! The attacker can read, modify, truncate, extend, reorder and splice sealed files, and can
//! create files of their own; they do not hold a recipient's secret key or the passphrase.
//! Then: the plaintext stays confidential (AES-256-GCM, HPKE, argon2id); any change to a file
//! is detected before a byte of its plaintext is returned; a file cannot be made to open to two
//! plaintexts under different keys (key commitment); and with `--expect-signer`, a file is
//! accepted only if the named sender signed exactly this payload. Recipients are trusted with
//! the file key: a recipient can re-seal the plaintext for others, and a recipient removed by
//! `rewrap` who kept the file key can still read old copies (only re-sealing revokes). File
//! length and recipient key ids are not hidden. Secrets are zeroized on drop and never
//! logged or printed.

pub mod aead;
pub mod age_compat;
pub mod bench;
pub mod custody;
pub mod error;
pub mod files;
pub mod header;
pub mod identity;
pub mod passphrase;
pub mod payload;
pub mod reader;
pub mod schedule;
pub mod seal;

pub use error::{Error, Result};
pub use header::Keyring;
pub use identity::{Identity, KeyId, PublicIdentity};
pub use passphrase::{KdfParams, Passphrase};
pub use reader::SealedReader;
pub use seal::{
    Inspection, OpenSummary, SealOptions, SealSummary, inspect, open, open_verified, rewrap, seal,
    seal_slice, seal_slice_into,
};
