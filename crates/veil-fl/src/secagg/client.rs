//! A client's side of a secure-aggregation round.

use std::collections::{BTreeMap, BTreeSet};

use blahaj::Sharks;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::crypto::{apply_mask, commit, open_share, pairwise_seed, seal_share, self_seed};
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

/// One client in one round. Its secrets (the two X25519 keys and b) live only here and are
/// zeroized when it is dropped.
pub struct Client {
    id: ClientId,
    session: Session,
    config: Config,
    enc: StaticSecret,
    mask: StaticSecret,
    b: Zeroizing<[u8; 32]>,
    roster: BTreeMap<ClientId, Advert>,
    held: BTreeMap<ClientId, Held>,
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
            roster: BTreeMap::new(),
            held: BTreeMap::new(),
        };
        let advert = Advert {
            id,
            enc_pk: public(&client.enc),
            mask_pk: public(&client.mask),
        };
        Ok((client, advert))
    }

    /// Stage 1: deals shares of b and of the mask key to every client in the roster U1.
    pub fn share_keys(&mut self, roster: &[Advert]) -> Result<ShareKeys> {
        let mut by_id = BTreeMap::new();
        for a in roster {
            if by_id.insert(a.id, a.clone()).is_some() {
                return Err(Error::rejected(a.id, "listed twice in the roster"));
            }
        }
        match by_id.get(&self.id) {
            Some(me) if me.enc_pk == public(&self.enc) && me.mask_pk == public(&self.mask) => {}
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
    /// someone else) is rejected.
    pub fn receive_shares(&mut self, sealed: &[SealedShare]) -> Result<()> {
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
    /// U2, all mod 2^32.
    pub fn masked_input(&self, input: &[u32], u2: &[ClientId]) -> Result<MaskedInput> {
        if input.len() != self.config.dims {
            return Err(Error::InvalidParameter {
                name: "input",
                why: format!("{} values for a round of {}", input.len(), self.config.dims),
            });
        }
        let u2 = self.check_subset(u2, &self.roster.keys().copied().collect(), "U2")?;
        if !u2.contains(&self.id) {
            return Err(Error::rejected(self.id, "this client is not in U2"));
        }
        let mut masked = input.to_vec();
        apply_mask(
            &mut masked,
            &self_seed(&self.b, self.id, &self.session),
            true,
        );
        for &v in u2.iter().filter(|&&v| v != self.id) {
            let seed = pairwise_seed(
                &self.mask,
                self.id,
                &PublicKey::from(self.roster[&v].mask_pk),
                v,
                &self.session,
            );
            apply_mask(&mut masked, &seed, self.id < v);
        }
        Ok(MaskedInput {
            from: self.id,
            masked,
        })
    }

    fn check_subset(
        &self,
        list: &[ClientId],
        of: &BTreeSet<ClientId>,
        name: &str,
    ) -> Result<BTreeSet<ClientId>> {
        let set: BTreeSet<ClientId> = list.iter().copied().collect();
        if set.len() != list.len() || !set.is_subset(of) {
            return Err(Error::rejected(
                self.id,
                format!("the server's {name} repeats clients or names unknown ones"),
            ));
        }
        if set.len() < self.config.threshold {
            return Err(Error::Aborted {
                stage: "unmasking",
                have: set.len(),
                threshold: self.config.threshold,
            });
        }
        Ok(set)
    }

    /// Stage 3: for the survivors U3, this client's shares of their b; for the clients of
    /// U2 that dropped (U2 \ U3), its shares of their mask keys. Refuses a U3 that is not
    /// part of U2 or is smaller than the threshold.
    pub fn unmask(&self, u2: &[ClientId], u3: &[ClientId]) -> Result<Unmasking> {
        let u2 = self.check_subset(u2, &self.roster.keys().copied().collect(), "U2")?;
        let u3 = self.check_subset(u3, &u2, "U3")?;
        let (mut seeds, mut mask_keys) = (Vec::new(), Vec::new());
        for u in &u2 {
            let Some(held) = self.held.get(u) else {
                continue;
            };
            if u3.contains(u) {
                seeds.push((*u, held.seed.to_vec()));
            } else {
                mask_keys.push((*u, held.mask_key.to_vec()));
            }
        }
        Ok(Unmasking {
            from: self.id,
            seeds,
            mask_keys,
        })
    }
}
