//! Secure-aggregation messages between their protocol types ([`crate::secagg`]) and their
//! gRPC form ([`crate::proto`]). Whatever comes off the wire is checked here: a key must be
//! 32 bytes, and the sender is the stream's client, never what the message says.

use crate::ddp::{Contribution, Ddp};
use crate::error::{Error, ProtocolViolation, Result};
use crate::proto;
use crate::secagg::{self, ClientId};
use veil_net::signed::Signed;

fn key(from: ClientId, bytes: &[u8], what: &str) -> Result<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| Error::rejected(from, format!("{what} is {} bytes, not 32", bytes.len())))
}

/// An advert to send, with its signature.
pub fn advert_out(a: &secagg::Advert, signed: &Signed) -> proto::SecAggAdvert {
    proto::SecAggAdvert {
        id: a.id,
        enc_pk: a.enc_pk.to_vec(),
        mask_pk: a.mask_pk.to_vec(),
        seed_commitment: a.seed_commitment.to_vec(),
        certificate: signed.certificate.clone(),
        signature: signed.signature.clone(),
    }
}

/// An advert received on client `from`'s stream (`from` also for a roster entry), and its
/// signature (checked by the clients that receive it in a roster).
pub fn advert_in(from: ClientId, a: &proto::SecAggAdvert) -> Result<(secagg::Advert, Signed)> {
    Ok((
        secagg::Advert {
            id: from,
            enc_pk: key(from, &a.enc_pk, "an encryption key")?,
            mask_pk: key(from, &a.mask_pk, "a mask key")?,
            seed_commitment: key(from, &a.seed_commitment, "a seed commitment")?,
        },
        Signed {
            certificate: a.certificate.clone(),
            signature: a.signature.clone(),
        },
    ))
}

fn sealed_out(s: &secagg::SealedShare) -> proto::SealedShare {
    proto::SealedShare {
        from: s.from,
        to: s.to,
        ciphertext: s.ciphertext.clone(),
    }
}

fn sealed_in(s: &proto::SealedShare) -> secagg::SealedShare {
    secagg::SealedShare {
        from: s.from,
        to: s.to,
        ciphertext: s.ciphertext.clone(),
    }
}

/// A client's shares to send.
pub fn share_keys_out(m: &secagg::ShareKeys) -> proto::SecAggShareKeys {
    proto::SecAggShareKeys {
        sealed: m.sealed.iter().map(sealed_out).collect(),
        commitments: m
            .commitments
            .iter()
            .map(|c| proto::ShareCommitment {
                holder: c.holder,
                seed: c.seed.to_vec(),
                mask_key: c.mask_key.to_vec(),
            })
            .collect(),
    }
}

/// Shares received from client `from`.
pub fn share_keys_in(from: ClientId, m: &proto::SecAggShareKeys) -> Result<secagg::ShareKeys> {
    Ok(secagg::ShareKeys {
        from,
        sealed: m.sealed.iter().map(sealed_in).collect(),
        commitments: m
            .commitments
            .iter()
            .map(|c| {
                Ok(secagg::Commitments {
                    holder: c.holder,
                    seed: key(from, &c.seed, "a commitment")?,
                    mask_key: key(from, &c.mask_key, "a commitment")?,
                })
            })
            .collect::<Result<_>>()?,
    })
}

/// U2 and the shares for one holder, to send.
pub fn shares_out(u2: &[ClientId], sealed: &[secagg::SealedShare]) -> proto::SecAggShares {
    proto::SecAggShares {
        u2: u2.to_vec(),
        sealed: sealed.iter().map(sealed_out).collect(),
    }
}

/// The shares a client received.
pub fn shares_in(m: &proto::SecAggShares) -> Vec<secagg::SealedShare> {
    m.sealed.iter().map(sealed_in).collect()
}

/// Unmasking shares to send.
pub fn unmasking_out(m: &secagg::Unmasking) -> proto::SecAggUnmasking {
    let held = |v: &[(ClientId, Vec<u8>)]| {
        v.iter()
            .map(|(dealer, share)| proto::HeldShare {
                dealer: *dealer,
                share: share.clone(),
            })
            .collect()
    };
    proto::SecAggUnmasking {
        seeds: held(&m.seeds),
        mask_keys: held(&m.mask_keys),
    }
}

/// Unmasking shares received from client `from`.
pub fn unmasking_in(from: ClientId, m: &proto::SecAggUnmasking) -> secagg::Unmasking {
    let held = |v: &[proto::HeldShare]| v.iter().map(|h| (h.dealer, h.share.clone())).collect();
    secagg::Unmasking {
        from,
        seeds: held(&m.seeds),
        mask_keys: held(&m.mask_keys),
    }
}

/// The distributed-DP parameters to send, for contribution `c`.
pub fn ddp_out(d: &Ddp, c: &Contribution) -> proto::Ddp {
    proto::Ddp {
        clip: d.clip,
        padded: d.padded as u32,
        gamma: d.gamma,
        noise_num: d.noise_units2.0,
        noise_den: d.noise_units2.1,
        l2_bound: d.l2_bound,
        run: c.run.clone(),
        contribution: c.number as u32,
        rounds: c.rounds as u32,
    }
}

/// The distributed-DP parameters received, checked, and the contribution asked for.
pub fn ddp_in(d: &proto::Ddp) -> Result<(Ddp, Contribution)> {
    let ddp = Ddp {
        clip: d.clip,
        padded: d.padded as usize,
        gamma: d.gamma,
        noise_units2: (d.noise_num, d.noise_den),
        l2_bound: d.l2_bound,
    };
    ddp.check()?;
    let contribution = Contribution {
        run: d.run.clone(),
        number: d.contribution as usize,
        rounds: d.rounds as usize,
    };
    if contribution.run.is_empty() || contribution.run.len() > 128 {
        return Err(Error::Protocol(ProtocolViolation::BadDpPlan));
    }
    Ok((ddp, contribution))
}
