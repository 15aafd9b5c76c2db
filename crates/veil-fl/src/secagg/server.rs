//! The coordinator's side of a secure-aggregation round: it relays, checks and finally
//! unmasks the sum, and never holds a secret it could use on one client alone.

use std::collections::{BTreeMap, BTreeSet};

use blahaj::{Share, Sharks};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::crypto::{apply_mask, commit, pairwise_seed, self_seed};
use super::{
    Advert, ClientId, Commitments, Config, MASK_KEY, MaskedInput, SEED, SHARE_LEN, SealedShare,
    Session, ShareKeys, Unmasking,
};
use crate::error::{Error, Result};

/// The server of one round.
pub struct Server {
    session: Session,
    config: Config,
    roster: BTreeMap<ClientId, Advert>,
    sealed: BTreeMap<ClientId, ShareKeys>,
    masked: BTreeMap<ClientId, Vec<u32>>,
    /// Checked shares per dealer, from the holders of U3: (seed shares, mask-key shares).
    seeds: BTreeMap<ClientId, Vec<Zeroizing<Vec<u8>>>>,
    mask_keys: BTreeMap<ClientId, Vec<Zeroizing<Vec<u8>>>>,
    unmasked_by: BTreeSet<ClientId>,
}

impl Server {
    /// The server of a round.
    pub fn new(session: Session, config: Config) -> Result<Server> {
        config.check()?;
        Ok(Server {
            session,
            config,
            roster: BTreeMap::new(),
            sealed: BTreeMap::new(),
            masked: BTreeMap::new(),
            seeds: BTreeMap::new(),
            mask_keys: BTreeMap::new(),
            unmasked_by: BTreeSet::new(),
        })
    }

    fn enough(&self, stage: &'static str, have: usize) -> Result<()> {
        if have < self.config.threshold {
            return Err(Error::Aborted {
                stage,
                have,
                threshold: self.config.threshold,
            });
        }
        Ok(())
    }

    /// Stage 0: a client's keys (once per client).
    pub fn advert(&mut self, advert: Advert) -> Result<()> {
        if !self.sealed.is_empty() {
            return Err(Error::rejected(advert.id, "keys after the roster was sent"));
        }
        if self.roster.len() >= 255 {
            return Err(Error::rejected(
                advert.id,
                "the round is full (255 clients)",
            ));
        }
        if self.roster.contains_key(&advert.id) {
            return Err(Error::rejected(advert.id, "keys sent twice"));
        }
        self.roster.insert(advert.id, advert);
        Ok(())
    }

    /// The roster U1 to send to every client, or an abort if it is below the threshold.
    pub fn roster(&self) -> Result<Vec<Advert>> {
        self.enough("advertise keys", self.roster.len())?;
        Ok(self.roster.values().cloned().collect())
    }

    /// Stage 1: a client's sealed shares and commitments — one of each per client of U1.
    pub fn share_keys(&mut self, msg: ShareKeys) -> Result<()> {
        let from = msg.from;
        if !self.roster.contains_key(&from) {
            return Err(Error::rejected(from, "not in the roster"));
        }
        if !self.masked.is_empty() {
            return Err(Error::rejected(from, "shares after masked inputs began"));
        }
        if self.sealed.contains_key(&from) {
            return Err(Error::rejected(from, "shares sent twice"));
        }
        let holders: BTreeSet<ClientId> = msg.sealed.iter().map(|s| s.to).collect();
        let committed: BTreeSet<ClientId> = msg.commitments.iter().map(|c| c.holder).collect();
        let roster: BTreeSet<ClientId> = self.roster.keys().copied().collect();
        if msg.sealed.iter().any(|s| s.from != from)
            || holders != roster
            || committed != roster
            || msg.sealed.len() != roster.len()
            || msg.commitments.len() != roster.len()
        {
            return Err(Error::rejected(
                from,
                "shares must be one per client of the roster, each from the sender",
            ));
        }
        self.sealed.insert(from, msg);
        Ok(())
    }

    /// U2: the clients whose shares arrived (an abort if too few).
    pub fn u2(&self) -> Result<Vec<ClientId>> {
        self.enough("share keys", self.sealed.len())?;
        Ok(self.sealed.keys().copied().collect())
    }

    /// The shares dealt to `holder` by the clients of U2, to forward to it.
    pub fn shares_for(&self, holder: ClientId) -> Vec<SealedShare> {
        self.sealed
            .values()
            .flat_map(|m| m.sealed.iter().filter(|s| s.to == holder).cloned())
            .collect()
    }

    /// Stage 2: a masked input, from a client of U2, of the round's length, once.
    pub fn masked_input(&mut self, msg: MaskedInput) -> Result<()> {
        let from = msg.from;
        if !self.sealed.contains_key(&from) {
            return Err(Error::rejected(from, "not in U2"));
        }
        if !self.unmasked_by.is_empty() {
            return Err(Error::rejected(from, "masked input after unmasking began"));
        }
        if msg.masked.len() != self.config.dims {
            return Err(Error::rejected(
                from,
                format!(
                    "{} values for a round of {}",
                    msg.masked.len(),
                    self.config.dims
                ),
            ));
        }
        if self.masked.contains_key(&from) {
            return Err(Error::rejected(from, "masked input sent twice"));
        }
        self.masked.insert(from, msg.masked);
        Ok(())
    }

    /// U3: the clients whose masked inputs arrived (an abort if too few).
    pub fn u3(&self) -> Result<Vec<ClientId>> {
        self.enough("masked input", self.masked.len())?;
        Ok(self.masked.keys().copied().collect())
    }

    fn commitment(&self, dealer: ClientId, holder: ClientId) -> Option<&Commitments> {
        self.sealed
            .get(&dealer)?
            .commitments
            .iter()
            .find(|c| c.holder == holder)
    }

    /// Stage 3: a survivor's shares. Each must match its dealer's commitment, be of the
    /// right kind for its dealer (b for survivors, mask keys for the dropped): one bad share
    /// rejects the whole message, and none of it is kept.
    pub fn unmasking(&mut self, msg: Unmasking) -> Result<()> {
        let from = msg.from;
        if !self.masked.contains_key(&from) {
            return Err(Error::rejected(from, "not in U3"));
        }
        if !self.unmasked_by.insert(from) {
            return Err(Error::rejected(from, "shares sent twice"));
        }
        let check = |dealer: ClientId, share: &[u8], kind: &[u8], survivor: bool| -> Result<()> {
            if self.masked.contains_key(&dealer) != survivor || !self.sealed.contains_key(&dealer) {
                return Err(Error::rejected(
                    from,
                    format!("a share of the wrong kind for client {dealer}"),
                ));
            }
            let want = self
                .commitment(dealer, from)
                .map(|c| if survivor { c.seed } else { c.mask_key });
            if share.len() != SHARE_LEN
                || want != Some(commit(share, kind, dealer, from, &self.session))
            {
                return Err(Error::rejected(
                    from,
                    format!("its share for client {dealer} does not match the dealer's commitment"),
                ));
            }
            Ok(())
        };
        for (dealer, share) in &msg.seeds {
            check(*dealer, share, SEED, true)?;
        }
        for (dealer, share) in &msg.mask_keys {
            check(*dealer, share, MASK_KEY, false)?;
        }
        for (dealer, share) in msg.seeds {
            self.seeds
                .entry(dealer)
                .or_default()
                .push(Zeroizing::new(share));
        }
        for (dealer, share) in msg.mask_keys {
            self.mask_keys
                .entry(dealer)
                .or_default()
                .push(Zeroizing::new(share));
        }
        Ok(())
    }

    fn recover(
        &self,
        shares: Option<&Vec<Zeroizing<Vec<u8>>>>,
        dealer: ClientId,
    ) -> Result<Zeroizing<[u8; 32]>> {
        let shares = shares.map(Vec::as_slice).unwrap_or_default();
        self.enough("unmasking", shares.len())?;
        let parsed: Vec<Share> = shares
            .iter()
            .map(|s| Share::try_from(s.as_slice()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::rejected(dealer, format!("an unreadable share: {e}")))?;
        let secret = Zeroizing::new(
            Sharks(self.config.threshold as u8)
                .recover(&parsed)
                .map_err(|e| Error::rejected(dealer, format!("shares do not combine: {e}")))?,
        );
        let mut out = Zeroizing::new([0u8; 32]);
        if secret.len() != 32 {
            return Err(Error::rejected(dealer, "a secret of the wrong length"));
        }
        out.copy_from_slice(&secret);
        Ok(out)
    }

    /// The sum of the survivors' inputs, mod 2^32: their masked inputs, minus their self
    /// masks and the pairwise masks they share with the clients that dropped after sharing.
    /// Aborts (revealing nothing) unless t checked shares are in for every secret needed.
    pub fn finish(&self) -> Result<Vec<u32>> {
        let u3: Vec<ClientId> = self.u3()?;
        self.enough("unmasking", self.unmasked_by.len())?;
        let dropped: Vec<ClientId> = self
            .sealed
            .keys()
            .filter(|u| !self.masked.contains_key(u))
            .copied()
            .collect();
        // Recover everything before unmasking anything.
        let seeds = u3
            .iter()
            .map(|u| self.recover(self.seeds.get(u), *u))
            .collect::<Result<Vec<_>>>()?;
        let keys = dropped
            .iter()
            .map(|u| {
                let key = StaticSecret::from(*self.recover(self.mask_keys.get(u), *u)?);
                if PublicKey::from(&key).to_bytes() != self.roster[u].mask_pk {
                    return Err(Error::rejected(
                        *u,
                        "its recovered mask key does not match its advert",
                    ));
                }
                Ok(key)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut sum = vec![0u32; self.config.dims];
        for y in self.masked.values() {
            sum.iter_mut()
                .zip(y)
                .for_each(|(s, v)| *s = s.wrapping_add(*v));
        }
        for (u, b) in u3.iter().zip(&seeds) {
            apply_mask(&mut sum, &self_seed(b, *u, &self.session), false);
        }
        for (u, key) in dropped.iter().zip(&keys) {
            for v in &u3 {
                let seed = pairwise_seed(
                    key,
                    *u,
                    &PublicKey::from(self.roster[v].mask_pk),
                    *v,
                    &self.session,
                );
                // v added this mask if v < u, subtracted it otherwise: undo that.
                apply_mask(&mut sum, &seed, *v > *u);
            }
        }
        Ok(sum)
    }
}
