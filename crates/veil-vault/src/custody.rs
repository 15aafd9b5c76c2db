//! Key custody: an identity split into `n` shares of which any `t` restore it (Shamir secret
//! sharing over GF(2⁸), Shamir 1979, with the `blahaj` crate). Fewer than `t` shares reveal
//! nothing about the secret — each byte is the constant term of a random polynomial of degree
//! `t − 1` — and combining them is refused with a clear error.
//!
//! Share files are PEM (`VEIL IDENTITY SHARE`), written with mode 0600:
//! `"VEILSH" ‖ 0x01 ‖ threshold (1) ‖ shares (1) ‖ x25519 public (32) ‖ ed25519 public (32) ‖
//! share (65: the x-coordinate, then one byte per secret byte)`. The public keys let
//! `combine` check that the shares rebuilt exactly the identity they came from, so a corrupted
//! or foreign share is caught instead of producing a wrong key.

use std::path::Path;

use blahaj::{Share as RawShare, Sharks};
use zeroize::Zeroizing;

use crate::error::{Error, Result, SharesProblem};
use crate::identity::{Identity, KeyId, PublicIdentity};

const LABEL: &str = "VEIL IDENTITY SHARE";
const MAGIC: &[u8; 6] = b"VEILSH";
const VERSION: u8 = 1;

/// One share of an identity.
pub struct Share {
    threshold: u8,
    total: u8,
    public: PublicIdentity,
    bytes: Zeroizing<Vec<u8>>,
}

impl Share {
    /// How many shares restore the identity.
    pub fn threshold(&self) -> u8 {
        self.threshold
    }

    /// The key id of the identity this share belongs to.
    pub fn key_id(&self) -> KeyId {
        self.public.key_id()
    }

    /// The share's number (its x-coordinate, 1-based).
    pub fn index(&self) -> u8 {
        self.bytes[0]
    }

    /// PEM text of a share file.
    pub fn to_pem(&self) -> Result<Zeroizing<String>> {
        let mut body = Zeroizing::new(Vec::with_capacity(140));
        body.extend_from_slice(MAGIC);
        body.extend_from_slice(&[VERSION, self.threshold, self.total]);
        body.extend_from_slice(&public_bytes(&self.public));
        body.extend_from_slice(&self.bytes);
        let pem = pem_rfc7468::encode_string(LABEL, pem_rfc7468::LineEnding::LF, &body)
            .map_err(|e| Error::invalid("share", e.to_string()))?;
        Ok(Zeroizing::new(format!(
            "# Veil identity share {} (any {} of {} restore key id {}). Keep this file secret.\n{pem}",
            self.index(),
            self.threshold,
            self.total,
            self.key_id()
        )))
    }

    /// Parses a share file's text; `path` names it in errors.
    pub fn from_pem(text: &str, path: &Path) -> Result<Share> {
        let pem: String = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let bad = |m: &str| Error::key_file(path, m.to_string());
        let (label, body) = pem_rfc7468::decode_vec(pem.trim_start().as_bytes())
            .map_err(|_| bad("not a Veil identity share"))?;
        let body = Zeroizing::new(body);
        if label != LABEL || body.len() != 9 + 64 + 65 || &body[..6] != MAGIC {
            return Err(bad("not a Veil identity share"));
        }
        if body[6] != VERSION {
            return Err(bad("unsupported share version"));
        }
        let public = PublicIdentity::from_raw(
            body[9..41].try_into().expect("32"),
            body[41..73].try_into().expect("32"),
        );
        Ok(Share {
            threshold: body[7],
            total: body[8],
            public,
            bytes: Zeroizing::new(body[73..].to_vec()),
        })
    }
}

fn public_bytes(p: &PublicIdentity) -> [u8; 64] {
    let (x, e) = p.raw();
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&x);
    out[32..].copy_from_slice(&e);
    out
}

/// Splits `identity` into `shares` shares, any `threshold` of which restore it
/// (2 ≤ threshold ≤ shares ≤ 255).
pub fn split(identity: &Identity, shares: u8, threshold: u8) -> Result<Vec<Share>> {
    if threshold < 2 || threshold > shares {
        return Err(Error::invalid(
            "shares",
            format!("need 2 ≤ threshold ≤ shares ≤ 255; got threshold {threshold} of {shares}"),
        ));
    }
    let secret = identity.secret_bytes();
    Ok(Sharks(threshold)
        .dealer(secret.as_ref())
        .take(usize::from(shares))
        .map(|s| Share {
            threshold,
            total: shares,
            public: *identity.public(),
            bytes: Zeroizing::new(Vec::from(&s)),
        })
        .collect())
}

/// Restores an identity from at least its threshold of distinct shares.
pub fn combine(shares: &[Share]) -> Result<Identity> {
    let first = shares.first().ok_or(Error::Shares(SharesProblem::None))?;
    if shares
        .iter()
        .any(|s| s.public != first.public || s.threshold != first.threshold)
    {
        return Err(Error::Shares(SharesProblem::Mixed));
    }
    // One share per index: the same share given twice would enter the interpolation twice
    // and cancel out (in GF(2⁸), x + x = 0), restoring a wrong secret.
    let mut distinct: Vec<&Share> = shares.iter().collect();
    distinct.sort_by_key(|s| s.index());
    distinct.dedup_by(|a, b| a.index() == b.index() && a.bytes == b.bytes);
    if distinct.windows(2).any(|w| w[0].index() == w[1].index()) {
        return Err(Error::Shares(SharesProblem::Malformed(
            "two different shares have the same index",
        )));
    }
    if distinct.len() < usize::from(first.threshold) {
        return Err(Error::Shares(SharesProblem::TooFew {
            have: distinct.len(),
            need: first.threshold,
            key_id: first.key_id(),
        }));
    }
    let raw: Vec<RawShare> = distinct
        .iter()
        .map(|s| {
            RawShare::try_from(s.bytes.as_slice())
                .map_err(|e| Error::Shares(SharesProblem::Malformed(e)))
        })
        .collect::<Result<_>>()?;
    let secret = Zeroizing::new(
        Sharks(first.threshold)
            .recover(&raw)
            .map_err(|_| Error::Shares(SharesProblem::Malformed("they do not interpolate")))?,
    );
    let secret: &[u8; 64] = secret
        .as_slice()
        .try_into()
        .map_err(|_| Error::Shares(SharesProblem::Malformed("the wrong length")))?;
    let identity = Identity::from_secret_bytes(secret);
    if identity.public() != &first.public {
        return Err(Error::Shares(SharesProblem::WrongIdentity(first.key_id())));
    }
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_threshold_subset_restores_fewer_do_not() {
        let id = Identity::generate();
        let shares = split(&id, 5, 3).unwrap();
        for pick in [[0, 1, 2], [0, 2, 4], [4, 3, 1]] {
            let texts: Vec<_> = pick.iter().map(|&i| shares[i].to_pem().unwrap()).collect();
            let parsed: Vec<Share> = texts
                .iter()
                .map(|t| Share::from_pem(t, Path::new("s")).unwrap())
                .collect();
            assert_eq!(combine(&parsed).unwrap().public(), id.public());
        }
        let two: Vec<Share> = [0, 3]
            .iter()
            .map(|&i| Share::from_pem(&shares[i].to_pem().unwrap(), Path::new("s")).unwrap())
            .collect();
        let err = combine(&two).unwrap_err();
        assert!(
            err.to_string()
                .contains("2 distinct share(s) given, but 3 are needed"),
            "{err}"
        );
    }

    #[test]
    fn a_share_given_twice_counts_once() {
        let id = Identity::generate();
        let shares = split(&id, 3, 2).unwrap();
        let parse =
            |i: usize| Share::from_pem(&shares[i].to_pem().unwrap(), Path::new("s")).unwrap();
        // Given twice, a share would cancel itself out of the interpolation.
        let restored = combine(&[parse(0), parse(0), parse(1)]).unwrap();
        assert_eq!(restored.public(), id.public());
        let err = combine(&[parse(0), parse(0)]).unwrap_err();
        assert!(err.to_string().contains("1 distinct share(s)"), "{err}");
        let mut other = parse(0);
        other.bytes[10] ^= 1;
        let err = combine(&[parse(0), other, parse(1)]).unwrap_err();
        assert!(err.to_string().contains("same index"), "{err}");
    }

    #[test]
    fn corrupted_share_is_detected() {
        let id = Identity::generate();
        let mut shares = split(&id, 3, 2).unwrap();
        shares[1].bytes[10] ^= 0x55;
        assert!(matches!(combine(&shares[..2]), Err(Error::Shares(_))));
    }

    #[test]
    fn bad_parameters() {
        let id = Identity::generate();
        assert!(split(&id, 3, 1).is_err());
        assert!(split(&id, 3, 4).is_err());
    }
}
