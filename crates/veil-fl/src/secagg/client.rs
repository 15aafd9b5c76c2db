//! A client's side of a secure-aggregation round.

use std::collections::{BTreeMap, BTreeSet};

use blahaj::Sharks;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::crypto::{
    apply_mask, commit, open_share, pairwise_seed, seal_share, seed_commitment, self_seed,
};
use super::{
    Advert, ClientId, Commitments, Config, MASK_KEY, MaskedInput, SEED, SHARE_LEN, SealedShare,
    Session, ShareKeys, Unmasking,
};
use crate::error::{Error, Result};

/// The shares another client dealt to this one.
struct Held {
    seed: Zeroizing<Vec<u8>>,
    mask_key: Zeroizing<Vec<u8>>,
}

/// Where a client is in its round: each stage is answered once, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Keys advertised; the roster is due.
    Advertised,
    /// Shares dealt; the shares dealt to it and U2 are due.
    Shared,
    /// Masked input sent; U3 is due.
    Masked,
    /// View of the survivors signed; the others' signatures are due.
    Confirmed,
    /// Unmasking shares sent, or a step refused: nothing more is answered.
    Over,
}

/// One client in one round. Its secrets (the two X25519 keys and b) live only here and are
/// zeroized when it is dropped. It is a state machine: each stage is answered once and in
/// order, and a step it refuses ends its round (a deviating server gets no second try).
pub struct Client {
    id: ClientId,
    session: Session,
    config: Config,
    enc: StaticSecret,
    mask: StaticSecret,
    b: Zeroizing<[u8; 32]>,
    stage: Stage,
    roster: BTreeMap<ClientId, Advert>,
    held: BTreeMap<ClientId, Held>,
    /// U2 and U3 as the server announced them (the whole round's, for the signed view), and
    /// their parts within the roster (whom this client masks with and unmasks for).
    u2: BTreeSet<ClientId>,
    u3: BTreeSet<ClientId>,
    u2_near: BTreeSet<ClientId>,
    u3_near: BTreeSet<ClientId>,
}

fn public(secret: &StaticSecret) -> [u8; 32] {
    PublicKey::from(secret).to_bytes()
}

fn secret() -> StaticSecret {
    StaticSecret::from(veil_core::random::bytes::<32>())
}

impl Client {
    /// A client for `session`, and its stage-0 advert.
    pub fn new(id: ClientId, session: Session, config: Config) -> Result<(Client, Advert)> {
        config.check()?;
        let client = Client {
            id,
            session,
            config,
            enc: secret(),
            mask: secret(),
            b: Zeroizing::new(veil_core::random::bytes()),
            stage: Stage::Advertised,
            roster: BTreeMap::new(),
            held: BTreeMap::new(),
            u2: BTreeSet::new(),
            u3: BTreeSet::new(),
            u2_near: BTreeSet::new(),
            u3_near: BTreeSet::new(),
        };
        let advert = Advert {
            id,
            enc_pk: public(&client.enc),
            mask_pk: public(&client.mask),
            seed_commitment: seed_commitment(&client.b, id, &session),
        };
        Ok((client, advert))
    }

    /// This client's id in the round.
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// Runs `step` if the client is at stage `at`, moving it to `next`; any failure, or a
    /// step out of turn, ends the round.
    fn step<T>(
        &mut self,
        at: Stage,
        next: Stage,
        what: &str,
        step: impl FnOnce(&mut Client) -> Result<T>,
    ) -> Result<T> {
        if self.stage != at {
            self.stage = Stage::Over;
            return Err(Error::rejected(
                self.id,
                format!("{what} out of turn: each stage is answered once, in order"),
            ));
        }
        let outcome = step(self);
        self.stage = if outcome.is_ok() { next } else { Stage::Over };
        outcome
    }

    /// Stage 1: deals shares of b and of the mask key to every client in the roster U1.
    /// The caller has checked the adverts' signatures and names.
    pub fn share_keys(&mut self, roster: &[Advert]) -> Result<ShareKeys> {
        self.step(Stage::Advertised, Stage::Shared, "a roster", |c| {
            c.deal(roster)
        })
    }

    fn deal(&mut self, roster: &[Advert]) -> Result<ShareKeys> {
        let mut by_id = BTreeMap::new();
        for a in roster {
            if by_id.insert(a.id, a.clone()).is_some() {
                return Err(Error::rejected(a.id, "listed twice in the roster"));
            }
        }
        match by_id.get(&self.id) {
            Some(me)
                if me.enc_pk == public(&self.enc)
                    && me.mask_pk == public(&self.mask)
                    && me.seed_commitment == seed_commitment(&self.b, self.id, &self.session) => {}
            _ => {
                return Err(Error::rejected(
                    self.id,
                    "the roster does not carry this client's keys",
                ));
            }
        }
        if by_id.len() < self.config.threshold {
            return Err(Error::Aborted {
                stage: "share keys",
                have: by_id.len(),
                threshold: self.config.threshold,
            });
        }
        // t must be a majority of the roster: rebuilding both secrets of one client then
        // takes two disjoint groups of t from it (see the module docs).
        if 2 * self.config.threshold <= by_id.len() {
            return Err(Error::InvalidParameter {
                name: "threshold",
                why: format!(
                    "a threshold of {} is not more than half the roster of {}: two groups of this size could be shown different views",
                    self.config.threshold,
                    by_id.len()
                ),
            });
        }
        if by_id.len() > 255 {
            return Err(Error::InvalidParameter {
                name: "clients",
                why: format!("{} clients in one round; at most 255", by_id.len()),
            });
        }
        let sharks = Sharks(self.config.threshold as u8);
        let seed_shares = sharks.dealer(self.b.as_ref());
        let mask_bytes = Zeroizing::new(self.mask.to_bytes());
        let mask_shares = sharks.dealer(mask_bytes.as_ref());
        let (mut sealed, mut commitments) = (Vec::new(), Vec::new());
        for ((holder, advert), (seed_share, mask_share)) in
            by_id.iter().zip(seed_shares.zip(mask_shares))
        {
            let seed = Zeroizing::new(Vec::from(&seed_share));
            let mask_key = Zeroizing::new(Vec::from(&mask_share));
            let mut plaintext = Zeroizing::new(seed.to_vec());
            plaintext.extend_from_slice(&mask_key);
            sealed.push(SealedShare {
                from: self.id,
                to: *holder,
                ciphertext: seal_share(
                    &self.enc,
                    &PublicKey::from(advert.enc_pk),
                    self.id,
                    *holder,
                    &self.session,
                    &plaintext,
                ),
            });
            commitments.push(Commitments {
                holder: *holder,
                seed: commit(&seed, SEED, self.id, *holder, &self.session),
                mask_key: commit(&mask_key, MASK_KEY, self.id, *holder, &self.session),
            });
        }
        self.roster = by_id;
        Ok(ShareKeys {
            from: self.id,
            sealed,
            commitments,
        })
    }

    /// Stage 2, first half: keeps the shares dealt to this client by the clients of U2.
    /// A share that does not decrypt (tampered, replayed from another round, or sealed by
    /// someone else), or comes twice from one dealer, is rejected.
    pub fn receive_shares(&mut self, sealed: &[SealedShare]) -> Result<()> {
        self.step(Stage::Shared, Stage::Shared, "shares", |c| c.keep(sealed))
    }

    fn keep(&mut self, sealed: &[SealedShare]) -> Result<()> {
        for s in sealed {
            let dealer = self.roster.get(&s.from).ok_or_else(|| {
                Error::rejected(s.from, "a share from a client not in the roster")
            })?;
            if s.to != self.id {
                return Err(Error::rejected(
                    s.from,
                    "a share addressed to another client",
                ));
            }
            let plain = open_share(
                &self.enc,
                &PublicKey::from(dealer.enc_pk),
                s.from,
                self.id,
                &self.session,
                &s.ciphertext,
            )
            .filter(|p| p.len() == 2 * SHARE_LEN)
            .ok_or_else(|| Error::rejected(s.from, "a share that does not decrypt"))?;
            if self.held.contains_key(&s.from) {
                return Err(Error::rejected(s.from, "two shares from one dealer"));
            }
            self.held.insert(
                s.from,
                Held {
                    seed: Zeroizing::new(plain[..SHARE_LEN].to_vec()),
                    mask_key: Zeroizing::new(plain[SHARE_LEN..].to_vec()),
                },
            );
        }
        Ok(())
    }

    /// Stage 2: the masked input y = x + PRG(b) + Σ ±PRG(s_{u,v}) over the other clients of
    /// U2 in its roster, all mod 2^32. `u2` is the round's U2 as the server announced it;
    /// it must name exactly the roster's clients whose shares this client received (a U2
    /// that leaves one out would have this client mask against fewer peers than hold its
    /// shares).
    pub fn masked_input(&mut self, input: &[u32], u2: &[ClientId]) -> Result<MaskedInput> {
        self.step(Stage::Shared, Stage::Masked, "U2", |c| {
            c.mask_input(input, u2)
        })
    }

    fn mask_input(&mut self, input: &[u32], u2: &[ClientId]) -> Result<MaskedInput> {
        if input.len() != self.config.dims {
            return Err(Error::InvalidParameter {
                name: "input",
                why: format!("{} values for a round of {}", input.len(), self.config.dims),
            });
        }
        let (all, near) = self.check_view(u2, "U2")?;
        if !near.contains(&self.id) {
            return Err(Error::rejected(self.id, "this client is not in U2"));
        }
        if near.iter().ne(self.held.keys()) {
            return Err(Error::rejected(
                self.id,
                "the server's U2 does not match the shares it forwarded",
            ));
        }
        let mut masked = input.to_vec();
        apply_mask(
            &mut masked,
            &self_seed(&self.b, self.id, &self.session),
            true,
        );
        for &v in near.iter().filter(|&&v| v != self.id) {
            let seed = pairwise_seed(
                &self.mask,
                self.id,
                &PublicKey::from(self.roster[&v].mask_pk),
                v,
                &self.session,
            );
            apply_mask(&mut masked, &seed, self.id < v);
        }
        (self.u2, self.u2_near) = (all, near);
        Ok(MaskedInput {
            from: self.id,
            masked,
        })
    }

    /// Stage 3, first half (§4.3): takes the round's U3 as the server announced it and
    /// returns the view statement to sign ([`super::view_statement`] of U2 and U3). U3 must
    /// be part of U2, include this client, and leave at least t of its roster.
    pub fn survivors(&mut self, u3: &[ClientId]) -> Result<Vec<u8>> {
        self.step(Stage::Masked, Stage::Confirmed, "U3", |c| {
            let (all, near) = c.check_view(u3, "U3")?;
            if !all.is_subset(&c.u2) || !near.contains(&c.id) {
                return Err(Error::rejected(
                    c.id,
                    "the server's U3 is not part of its U2, or leaves this client out",
                ));
            }
            (c.u3, c.u3_near) = (all, near);
            let (u2, u3): (Vec<_>, Vec<_>) = (
                c.u2.iter().copied().collect(),
                c.u3.iter().copied().collect(),
            );
            Ok(super::view_statement(&c.session, &u2, &u3))
        })
    }

    /// A list from the server (U2 or U3) as a set, and its part within the roster; refused
    /// if it repeats a client or leaves fewer than t of the roster.
    fn check_view(
        &self,
        list: &[ClientId],
        name: &str,
    ) -> Result<(BTreeSet<ClientId>, BTreeSet<ClientId>)> {
        let set: BTreeSet<ClientId> = list.iter().copied().collect();
        if set.len() != list.len() {
            return Err(Error::rejected(
                self.id,
                format!("the server's {name} repeats clients"),
            ));
        }
        let near: BTreeSet<ClientId> = set
            .iter()
            .filter(|u| self.roster.contains_key(u))
            .copied()
            .collect();
        if near.len() < self.config.threshold {
            return Err(Error::Aborted {
                stage: "unmasking",
                have: near.len(),
                threshold: self.config.threshold,
            });
        }
        Ok((set, near))
    }

    /// Stage 3: once the clients in `confirmed_by` have been checked to have signed this
    /// client's very view (the caller verifies the signatures), and at least t of them are
    /// survivors of its roster: for the survivors, this client's shares of their b; for the
    /// clients of U2 that dropped (U2 \ U3), its shares of their mask keys — never both for
    /// one client.
    pub fn unmask(&mut self, confirmed_by: &[ClientId]) -> Result<Unmasking> {
        self.step(Stage::Confirmed, Stage::Over, "signatures", |c| {
            let signers: BTreeSet<ClientId> = confirmed_by
                .iter()
                .filter(|u| c.u3_near.contains(u))
                .copied()
                .collect();
            if signers.len() < c.config.threshold {
                // Too few confirmed this view: the round cannot safely go on.
                return Err(Error::Aborted {
                    stage: "consistency check",
                    have: signers.len(),
                    threshold: c.config.threshold,
                });
            }
            let (mut seeds, mut mask_keys) = (Vec::new(), Vec::new());
            for u in &c.u2_near {
                let Some(held) = c.held.get(u) else {
                    continue;
                };
                if c.u3_near.contains(u) {
                    seeds.push((*u, held.seed.to_vec()));
                } else {
                    mask_keys.push((*u, held.mask_key.to_vec()));
                }
            }
            Ok(Unmasking {
                from: c.id,
                seeds,
                mask_keys,
            })
        })
    }
}
