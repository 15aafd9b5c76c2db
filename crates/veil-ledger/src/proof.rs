//! Offline-verifiable inclusion proofs in the C2SP `tlog-proof@v1` text format:
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! [extra <base64>]
//! index <N>
//! <base64 hash, one per line, leaf to root>
//!
//! <signed checkpoint>
//! ```
//!
//! Verifying needs nothing but the log's verifier key and the entry: the checkpoint's
//! signature and origin are checked, then the Merkle path from the entry's leaf hash to the
//! checkpoint's root.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::error::{Error, ProofFailure, Result};
use crate::merkle::{Hash, verify_inclusion};
use crate::note::{Checkpoint, NoteVerifier};

const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// An inclusion proof with the signed checkpoint it leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Optional opaque application data.
    pub extra: Option<Vec<u8>>,
    /// The entry's index.
    pub index: u64,
    /// The Merkle inclusion path.
    pub hashes: Vec<Hash>,
    /// The signed checkpoint note.
    pub checkpoint: String,
}

impl TlogProof {
    /// The proof's text.
    pub fn to_text(&self) -> String {
        let mut out = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", B64.encode(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.hashes {
            out.push_str(&B64.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses a proof's text.
    pub fn parse(text: &str) -> Result<TlogProof> {
        let bad = |why: &str| Error::malformed("tlog-proof", why);
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line before the checkpoint"))?;
        let mut lines = head.lines();
        if lines.next() != Some(HEADER) {
            return Err(bad("the first line is not c2sp.org/tlog-proof@v1"));
        }
        let mut line = lines.next().ok_or_else(|| bad("no index line"))?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            extra = Some(
                B64.decode(b64)
                    .map_err(|_| bad("the extra data is not base64"))?,
            );
            line = lines.next().ok_or_else(|| bad("no index line"))?;
        }
        let index_text = line
            .strip_prefix("index ")
            .ok_or_else(|| bad("no index line"))?;
        if index_text.len() > 1 && index_text.starts_with('0') {
            return Err(bad("the index is not a canonical decimal number"));
        }
        let index = index_text
            .parse()
            .map_err(|_| bad("the index is not a number"))?;
        let hashes = lines
            .map(|l| {
                B64.decode(l)
                    .ok()
                    .and_then(|h| Hash::try_from(h.as_slice()).ok())
                    .ok_or_else(|| bad("a proof hash is not 32 bytes of base64"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(TlogProof {
            extra,
            index,
            hashes,
            checkpoint: checkpoint.to_string(),
        })
    }

    /// Verifies the proof for the entry whose leaf hash is `leaf`, against the log's key;
    /// returns the checkpoint it proves inclusion in.
    pub fn verify(&self, log: &NoteVerifier, leaf: &Hash) -> Result<Checkpoint> {
        let checkpoint = Checkpoint::parse(&log.open(&self.checkpoint)?)?;
        if checkpoint.origin != log.name() {
            return Err(Error::ProofFailed(ProofFailure::OtherLog));
        }
        verify_inclusion(
            self.index,
            checkpoint.size,
            leaf,
            &self.hashes,
            &checkpoint.root,
        )?;
        Ok(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_malformed_proofs() {
        let proof = TlogProof {
            extra: Some(b"veil".to_vec()),
            index: 73894,
            hashes: vec![[1; 32], [2; 32]],
            checkpoint:
                "origin\n1\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n\n\u{2014} origin AAAA\n"
                    .into(),
        };
        let text = proof.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra dmVpbA==\nindex 73894\n"));
        assert_eq!(TlogProof::parse(&text).unwrap(), proof);
        for bad in [
            "c2sp.org/tlog-proof@v2\nindex 1\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex 01\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex one\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex 1\nnot-base64!\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex 1\nAQID\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex 1\n",
        ] {
            assert!(TlogProof::parse(bad).is_err(), "{bad:?}");
        }
    }
}
