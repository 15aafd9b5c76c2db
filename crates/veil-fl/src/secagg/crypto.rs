//! The primitives secure aggregation is built from, all from vetted crates: X25519 key
//! agreement (`x25519-dalek`), HKDF-SHA-256 (`hkdf`), ChaCha20-Poly1305 (`chacha20poly1305`)
//! for the shares in transit, ChaCha20 as the PRG that expands 256-bit seeds into masks
//! (`rand_chacha`), SHA-256 commitments, and Shamir sharing over GF(2⁸) (`blahaj`).
//!
//! Every derived key and mask is bound to the round's session id and to the parties, so
//! nothing from one round or one pair of clients is valid in another.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::{ClientId, Session};

/// 32 bytes from HKDF-SHA-256 over a key-agreement output, salted with the session.
fn derive(
    ikm: &[u8],
    session: &Session,
    label: &[u8],
    parties: &[ClientId],
) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf::<Sha256>::new(Some(&session.0), ikm);
    let mut info = label.to_vec();
    for p in parties {
        info.extend_from_slice(&p.to_be_bytes());
    }
    let mut out = Zeroizing::new([0u8; 32]);
    hk.expand(&info, out.as_mut())
        .expect("32 bytes is a valid HKDF-SHA-256 output length");
    out
}

/// The seed of the pairwise mask of clients `a` and `b` (symmetric in the two).
pub fn pairwise_seed(
    own: &StaticSecret,
    own_id: ClientId,
    peer: &PublicKey,
    peer_id: ClientId,
    session: &Session,
) -> Zeroizing<[u8; 32]> {
    let shared = own.diffie_hellman(peer);
    let (lo, hi) = (own_id.min(peer_id), own_id.max(peer_id));
    derive(
        shared.as_bytes(),
        session,
        b"veil secagg v1 pairwise mask",
        &[lo, hi],
    )
}

/// The seed of a client's self mask, from its secret b.
pub fn self_seed(b: &[u8; 32], id: ClientId, session: &Session) -> Zeroizing<[u8; 32]> {
    derive(b, session, b"veil secagg v1 self mask", &[id])
}

/// Adds (`sign` = true) or subtracts the mask expanded from `seed` to `acc`, mod 2^32.
pub fn apply_mask(acc: &mut [u32], seed: &[u8; 32], add: bool) {
    let mut prg = ChaCha20Rng::from_seed(*seed);
    let mut block = [0u32; 256];
    for chunk in acc.chunks_mut(256) {
        let words = &mut block[..chunk.len()];
        // The stream's bytes as little-endian words, a whole buffer at a time.
        prg.fill(words);
        if add {
            chunk
                .iter_mut()
                .zip(words.iter())
                .for_each(|(a, m)| *a = a.wrapping_add(*m));
        } else {
            chunk
                .iter_mut()
                .zip(words.iter())
                .for_each(|(a, m)| *a = a.wrapping_sub(*m));
        }
    }
}

fn share_cipher(
    own: &StaticSecret,
    peer: &PublicKey,
    from: ClientId,
    to: ClientId,
    session: &Session,
) -> (ChaCha20Poly1305, Vec<u8>) {
    let shared = own.diffie_hellman(peer);
    // One key per direction, session and pair: the all-zero nonce is never reused.
    let key = derive(
        shared.as_bytes(),
        session,
        b"veil secagg v1 share key",
        &[from, to],
    );
    let mut aad = session.0.to_vec();
    aad.extend_from_slice(&from.to_be_bytes());
    aad.extend_from_slice(&to.to_be_bytes());
    (ChaCha20Poly1305::new(Key::from_slice(key.as_ref())), aad)
}

/// Encrypts `plaintext` from `from` to `to`.
pub fn seal_share(
    own: &StaticSecret,
    peer: &PublicKey,
    from: ClientId,
    to: ClientId,
    session: &Session,
    plaintext: &[u8],
) -> Vec<u8> {
    let (cipher, aad) = share_cipher(own, peer, from, to, session);
    cipher
        .encrypt(
            Nonce::from_slice(&[0; 12]),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .expect("ChaCha20-Poly1305 encrypts any message under 256 GiB")
}

/// Decrypts what `from` sealed to `to`; `None` if it was not sealed by `from` for `to` in
/// this session.
pub fn open_share(
    own: &StaticSecret,
    peer: &PublicKey,
    from: ClientId,
    to: ClientId,
    session: &Session,
    ciphertext: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let (cipher, aad) = share_cipher(own, peer, from, to, session);
    cipher
        .decrypt(
            Nonce::from_slice(&[0; 12]),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .ok()
        .map(Zeroizing::new)
}

/// The commitment to a client's self-mask secret b, published in its advert.
pub fn seed_commitment(b: &[u8; 32], id: ClientId, session: &Session) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"veil secagg v1 self-mask seed commitment");
    h.update(session.0);
    h.update(id.to_be_bytes());
    h.update(b);
    h.finalize().into()
}

/// The commitment to one share: what lets the server tell a genuine share from garbage
/// without learning it (a share is 32 uniformly random bytes).
pub fn commit(
    share: &[u8],
    kind: &[u8],
    dealer: ClientId,
    holder: ClientId,
    session: &Session,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"veil secagg v1 share commitment");
    h.update(kind);
    h.update(session.0);
    h.update(dealer.to_be_bytes());
    h.update(holder.to_be_bytes());
    h.update(share);
    h.finalize().into()
}
