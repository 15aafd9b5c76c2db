//! # veil-ledger — a transparency log for training data and models
//!
//! Level 2 of the Veil workspace. Poisoned or silently altered training data is a main
//! threat to an AI system; the defence is a record that cannot be rewritten. This crate is an
//! append-only Merkle log in the manner of Certificate Transparency and Sigstore: every
//! dataset, transformation and model is an entry, and anyone holding only the log's public key
//! can check that an entry is in the log and that the log never rewound or forked.
//!
//! The pieces, bottom up: [`merkle`] (RFC 9162 hashing, inclusion and consistency proofs
//! and their verification, held to the RFC 6962 reference vectors and property tests),
//! [`store`] (SQLite in WAL mode, one transaction per append batch, every complete-subtree
//! hash stored once so proofs are O(log n) reads, concurrent appenders serialised, the
//! audit), [`entry`] (one canonical binary encoding, optionally Ed25519-signed by the adder),
//! [`note`] (C2SP signed notes and checkpoints, byte-compatible with Go's `sumdb/note`),
//! [`proof`] (C2SP `tlog-proof@v1`, verified offline from the verifier key alone), [`ledger`]
//! (the directory: `ledger.db`, `log.key`, `log.vkey`), and, for models, [`manifest`] and
//! [`model_signing`] (OpenSSF model-signing bundles with ECDSA P-256 keys).
//!
//! ```
//! # fn main() -> veil_ledger::Result<()> {
//! use veil_ledger::{Entry, Ledger, Subject, TlogProof, merkle::leaf_hash};
//! let dir = tempfile::tempdir().map_err(|e| veil_core::Error::io("tempdir", e))?;
//! let mut ledger = Ledger::init(dir.path(), "example.com/prov")?;
//! let entry = Entry {
//!     kind: "dataset".into(),
//!     name: "train.csv".into(),
//!     time: 1_795_000_000,
//!     subjects: vec![Subject { name: "train.csv".into(), sha256: [7; 32] }],
//!     parents: vec![],
//!     meta: vec![("source".into(), "hospital-a".into())],
//!     signature: None,
//! };
//! let (index, leaf) = ledger.add(&entry)?;
//! // The auditor's side: the proof's text and the verifier key, nothing else.
//! let proof = TlogProof::parse(&ledger.prove(index)?.to_text())?;
//! let checkpoint = proof.verify(ledger.verifier(), &leaf)?;
//! assert_eq!((checkpoint.size, leaf), (1, leaf_hash(&entry.encode()?)));
//! # Ok(())
//! # }
//! ```
//!
//! ## Threat model
//!
//! The log operator (or anyone who can write `ledger.db`) may try to rewrite history, show
//! different logs to different people, or drop entries. A changed, deleted, inserted or
//! reordered row is found by [`Ledger::audit`], which recomputes every hash from the stored
//! entries; a rewrite that recomputes the hashes too no longer matches the checkpoints the
//! log signed before, which the audit also checks, and which anyone who kept one can hold
//! against a consistency proof. A fork shown to some auditors only is detected when
//! checkpoints are compared (witness cosignatures are the C2SP answer; not built yet).

pub mod entry;
pub mod error;
pub mod ledger;
pub mod lineage;
pub mod manifest;
pub mod merkle;
pub mod model_signing;
pub mod note;
pub mod proof;
pub mod report;
pub mod store;

pub use entry::{Entry, EntrySigner, Subject};
pub use error::{AuditFinding, Error, ModelMismatch, ProofFailure, Result};
pub use ledger::Ledger;
pub use lineage::{Indexed, Keyed, Lineage, Step};
pub use note::{Checkpoint, NoteSigner, NoteVerifier};
pub use proof::{ConsistencyProof, ExpectedSigner, TlogProof, Verified, verify_offline};
