//! # veil-ledger — a transparency log for training data and models
//!
//! Level 2 of the Veil workspace. Poisoned or silently altered training data is a main
//! threat to an AI system; the defence is a record that cannot be rewritten. This crate is an
//! append-only Merkle log in the manner of Certificate Transparency and Sigstore: every
//! dataset, transformation and model is an entry, and anyone holding only the log's public key
//! can check that an entry is in the log and that the log never rewound or forked.
//!
//! **Status.** Done: the tree ([`merkle`]: RFC 9162 hashing, inclusion and consistency proofs
//! and their verification, held to the RFC 6962 reference vectors and property tests) and its
//! storage ([`store`]: SQLite in WAL mode, one transaction per append batch, complete-subtree
//! hashes stored once, concurrent appenders serialised) and the entries ([`entry`]: one
//! canonical binary encoding, optionally Ed25519-signed by the adder), and C2SP signed notes
//! and checkpoints ([`note`]: byte-for-byte compatible with Go's `sumdb/note`),
//! `tlog-proof@v1` inclusion proofs verifiable offline ([`proof`]), and the ledger directory
//! ([`ledger`]: `ledger.db`, `log.key` (0600), `log.vkey`). and the audit. Still to come: the
//! `veil ledger` commands, `--ledger` integration, lineage and model signing.
//!
//! ## Threat model
//!
//! The log operator may try to rewrite history, show different logs to different people, or
//! drop entries. Proofs make the first two detectable by anyone who keeps an old checkpoint;
//! the signed checkpoints (next step) bind the operator to what it showed.

pub mod entry;
pub mod error;
pub mod ledger;
pub mod manifest;
pub mod merkle;
pub mod model_signing;
pub mod note;
pub mod proof;
pub mod store;

pub use entry::{Entry, EntrySigner, Subject};
pub use error::{Error, Result};
pub use ledger::Ledger;
pub use note::{Checkpoint, NoteSigner, NoteVerifier};
pub use proof::TlogProof;
