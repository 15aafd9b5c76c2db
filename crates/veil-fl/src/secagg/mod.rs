//! Secure aggregation: the coordinator learns the sum of the clients' vectors in Z_2^32 and
//! nothing else, even when clients drop out mid-round.
//!
//! K. Bonawitz, V. Ivanov, B. Kreuter, A. Marcedone, H. B. McMahan, S. Patel, D. Ramage,
//! A. Segal and K. Seth, "Practical Secure Aggregation for Privacy-Preserving Machine
//! Learning" (CCS 2017), §4 (the protocol against an honest-but-curious server, with the
//! share commitments below added so that garbage shares are caught). Stages:
//!
//! 0. **Advertise keys**: each client u sends two X25519 public keys, one to encrypt shares
//!    (c_u) and one to agree pairwise masks (s_u). The server forwards the roster U1 (at
//!    least t clients).
//! 1. **Share keys**: u draws a 256-bit self-mask secret b_u and Shamir-shares (t of |U1|)
//!    both b_u and its mask key s_u^SK, one share of each to every v in U1, encrypted to v
//!    under a key agreed from the c keys (ChaCha20-Poly1305), with a SHA-256 commitment to
//!    each share for the server. Those who answer form U2.
//! 2. **Masked input**: u sends y_u = x_u + PRG(b_u) + Σ_{v∈U2, v≠u} ±PRG(s_{u,v}) mod 2^32
//!    (plus when u < v, minus when u > v; s_{u,v} from X25519 of u's and v's s keys, so the
//!    pair's masks cancel in the sum). Those who answer form U3.
//! 3. **Unmasking**: each v in U3 reveals, for every u in U3, its share of b_u, and for every
//!    u in U2 \ U3 (dropped after sharing), its share of s_u^SK — never both for one u. With
//!    t shares of each, the server removes the self masks of the survivors and the pairwise
//!    masks the survivors share with the dropped: Σ y_u − masks = Σ_{u∈U3} x_u.
//!
//! 4. **Consistency check** (§4.3 / Figure 4, round 3, between stages 2 and 3 here): the
//!    server sends every survivor the same U2 and U3; each signs (session, U2, U3) with its
//!    certificate's key, and before revealing any share a client requires t valid
//!    signatures on exactly its own view from clients of its roster.
//!
//! Clients also require t to be more than half of their roster. A client's secrets are
//! shared only within its roster R, and an honest client reveals shares for one view per
//! session, either of b_u (u survived) or of s_u (u dropped), never both. Rebuilding both
//! for one client u then takes t shares of each from R, so at least 2t − |R| colluders in R:
//! a coordinator that shows clients different views cannot otherwise unmask anyone alone.
//!
//! **Against a deviating server** (review F-08), beyond §4's honest-but-curious model:
//! - adverts are signed with each client's TLS key and the roster's certificates are
//!   checked against the CA, with distinct names (the caller checks, [`Advert::statement`]),
//!   so the server cannot slip in sybils whose shares it would hold;
//! - each client answers each stage once per session, in order ([`Client`] is a state
//!   machine; a refused step ends its round), so no second masked input under another U2;
//! - a client refuses a U2 that leaves out a peer whose share it holds, or names one whose
//!   share it does not;
//! - the server refuses a message that names a dealer twice, and checks every recovered
//!   self-mask seed against the commitment in its owner's (signed) advert.
//!
//! A round with fewer than t clients at any stage aborts, and reveals nothing: the server
//! unmasks nothing until it holds t shares for every client it needs. What the server sees
//! of one client is its public keys, encrypted shares, share commitments and a masked
//! vector that is uniformly random on its own; t colluding parties (server included) are
//! needed to learn more. Every key, mask and share is bound to the round's [`Session`], so
//! messages replayed from another round fail.
//!
//! **SecAgg+** (Bell et al., "Secure Single-Server Aggregation with (Poly)Logarithmic
//! Overhead", CCS 2020): with [`Graph::Harary`], each client deals shares to and agrees
//! masks with only its k neighbours on a random k-regular graph (k = O(log n)) instead of
//! everyone. Client cost falls from O(n) to O(k) key agreements and mask expansions; the
//! threshold t then applies within each neighbourhood. The server draws the graph when it
//! closes the roster and sends each client only its neighbourhood, so the client side is
//! the same protocol on a smaller roster.
//!
//! Limits: Shamir over GF(2⁸) gives at most 255 shares, so a complete-graph round has at
//! most 255 clients, and a SecAgg+ neighbourhood at most 254 (a round may have any number).

mod client;
mod crypto;
mod server;
pub mod timed;

pub use client::Client;
pub use server::Server;

/// A client's number in a round.
pub type ClientId = u32;

/// The round's identity, chosen at random by the coordinator: every key, mask and share is
/// bound to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session(pub [u8; 32]);

impl Session {
    /// A fresh random session.
    pub fn random() -> Session {
        Session(veil_core::random::bytes())
    }
}

/// Who shares with and masks against whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Graph {
    /// Everyone with everyone (Bonawitz et al.).
    Complete,
    /// SecAgg+: each client with `neighbours` others on a random ring (a Harary graph).
    Harary {
        /// k, the neighbours of each client.
        neighbours: usize,
    },
}

impl Graph {
    /// The graph for a round of `n` clients with `neighbours` each (SecAgg+) or with
    /// everyone (None, or a neighbourhood that would hold everyone anyway).
    pub fn for_round(neighbours: Option<usize>, n: usize) -> Graph {
        match neighbours {
            Some(k) if k + 1 < n => Graph::Harary { neighbours: k },
            _ => Graph::Complete,
        }
    }

    /// The clients a secret is shared among: all n, or a neighbourhood (a client and its
    /// neighbours).
    pub fn group(&self, n: usize) -> usize {
        match *self {
            Graph::Complete => n,
            Graph::Harary { neighbours } => (neighbours + 1).min(n),
        }
    }

    /// The default threshold t: fewer than t colluding clients (helping the server) learn
    /// nothing, and a group may lose m − t clients. Everyone sharing: ⌊2n/3⌋ + 1, so a third
    /// may drop out. SecAgg+: ⌊m/2⌋ + 1 of a neighbourhood of m, an honest majority in each —
    /// small neighbourhoods lose a third of their members too often by chance (with 14
    /// neighbours and 10% dropouts, a round of 100 would often abort).
    pub fn default_threshold(&self, n: usize) -> usize {
        let m = self.group(n);
        let t = match self {
            Graph::Complete => 2 * m / 3 + 1,
            Graph::Harary { .. } => m / 2 + 1,
        };
        t.clamp(2, 255)
    }
}

/// A round's parameters, the same for all parties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// t: the fewest clients that may be left at any stage, and the shares that reconstruct
    /// a secret (2 ≤ t ≤ 255).
    pub threshold: usize,
    /// Length of the vectors summed.
    pub dims: usize,
}

impl Config {
    /// Checks the parameters.
    pub fn check(&self) -> crate::Result<()> {
        if !(2..=255).contains(&self.threshold) {
            return Err(crate::Error::InvalidParameter {
                name: "threshold",
                why: format!("{} is outside 2..=255", self.threshold),
            });
        }
        Ok(())
    }
}

/// Stage 0, client → server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// The sender.
    pub id: ClientId,
    /// X25519 public key for encrypting shares to this client.
    pub enc_pk: [u8; 32],
    /// X25519 public key for agreeing pairwise masks.
    pub mask_pk: [u8; 32],
    /// SHA-256 commitment to the self-mask secret b (checked after b is rebuilt).
    pub seed_commitment: [u8; 32],
}

/// What a client signs to vouch for its advert.
pub const ADVERT_CONTEXT: &str = "veil secagg v1 advert";
/// What a client signs to vouch for its view of the survivors.
pub const VIEW_CONTEXT: &str = "veil secagg v1 survivors";

impl Advert {
    /// The bytes a client signs for its advert: the session, its id and its three keys and
    /// commitment, so that a signature cannot be moved to another round or id.
    pub fn statement(&self, session: &Session) -> Vec<u8> {
        let mut m = session.0.to_vec();
        m.extend_from_slice(&self.id.to_be_bytes());
        m.extend_from_slice(&self.enc_pk);
        m.extend_from_slice(&self.mask_pk);
        m.extend_from_slice(&self.seed_commitment);
        m
    }
}

/// The bytes a client signs for its view of a round (§4.3): the session, then U2 and U3 (the
/// whole round's, as every client is told them), each sorted and prefixed with its length.
pub fn view_statement(session: &Session, u2: &[ClientId], u3: &[ClientId]) -> Vec<u8> {
    let mut m = session.0.to_vec();
    for list in [u2, u3] {
        let mut sorted = list.to_vec();
        sorted.sort_unstable();
        m.extend_from_slice(&(sorted.len() as u32).to_be_bytes());
        sorted
            .iter()
            .for_each(|id| m.extend_from_slice(&id.to_be_bytes()));
    }
    m
}

/// One client's two shares, encrypted to their holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedShare {
    /// The dealer.
    pub from: ClientId,
    /// The holder.
    pub to: ClientId,
    /// ChaCha20-Poly1305 of (share of b, share of the mask key).
    pub ciphertext: Vec<u8>,
}

/// The commitments to the shares dealt to one holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commitments {
    /// The holder.
    pub holder: ClientId,
    /// SHA-256 commitment to the holder's share of b.
    pub seed: [u8; 32],
    /// SHA-256 commitment to the holder's share of the mask key.
    pub mask_key: [u8; 32],
}

/// Stage 1, client → server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareKeys {
    /// The dealer.
    pub from: ClientId,
    /// One sealed pair of shares per holder in U1.
    pub sealed: Vec<SealedShare>,
    /// One pair of commitments per holder in U1.
    pub commitments: Vec<Commitments>,
}

/// Stage 2, client → server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedInput {
    /// The sender.
    pub from: ClientId,
    /// y_u in Z_2^32.
    pub masked: Vec<u32>,
}

/// Stage 3, client → server: shares the sender holds, each tagged with its dealer. Its
/// `Debug` names the dealers, never the shares.
#[derive(Clone, PartialEq, Eq)]
pub struct Unmasking {
    /// The holder.
    pub from: ClientId,
    /// Shares of b_u for the survivors u.
    pub seeds: Vec<(ClientId, Vec<u8>)>,
    /// Shares of s_u^SK for the clients u that dropped after sharing.
    pub mask_keys: Vec<(ClientId, Vec<u8>)>,
}

impl std::fmt::Debug for Unmasking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dealers = |shares: &[(ClientId, Vec<u8>)]| -> Vec<ClientId> {
            shares.iter().map(|(dealer, _)| *dealer).collect()
        };
        f.debug_struct("Unmasking")
            .field("from", &self.from)
            .field("seeds_for", &dealers(&self.seeds))
            .field("mask_keys_for", &dealers(&self.mask_keys))
            .finish()
    }
}

const SEED: &[u8] = b"seed";
const MASK_KEY: &[u8] = b"mask key";
/// A serialised GF(2⁸) share of a 32-byte secret: its x, then 32 bytes.
const SHARE_LEN: usize = 33;

#[cfg(test)]
mod tests;
