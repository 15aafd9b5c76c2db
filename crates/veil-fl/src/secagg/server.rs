//! The coordinator's side of a secure-aggregation round: it relays, checks and finally
//! unmasks the sum, and never holds a secret it could use on one client alone.

use std::collections::{BTreeMap, BTreeSet};

use blahaj::{Share, Sharks};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha20Rng;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::crypto::{apply_mask, commit, pairwise_seed, seed_commitment, self_seed};
use super::{
    Advert, ClientId, Commitments, Config, Graph, MASK_KEY, MaskedInput, SEED, SHARE_LEN,
    SealedShare, Session, ShareKeys, Unmasking,
};
use crate::error::{Error, Result};

/// The server of one round.
pub struct Server {
    session: Session,
    config: Config,
    graph: Graph,
    roster: BTreeMap<ClientId, Advert>,
    /// Each client of U1 and the clients it deals shares to and masks with (itself
    /// included), fixed with the roster.
    neighbourhoods: BTreeMap<ClientId, BTreeSet<ClientId>>,
    sealed: BTreeMap<ClientId, ShareKeys>,
    /// U3 so far, and the running sum of their masked inputs (one vector, however many
    /// clients).
    masked: BTreeSet<ClientId>,
    masked_sum: Vec<u32>,
    /// Checked shares per dealer, from the holders of U3: (seed shares, mask-key shares).
    seeds: BTreeMap<ClientId, Vec<Zeroizing<Vec<u8>>>>,
    mask_keys: BTreeMap<ClientId, Vec<Zeroizing<Vec<u8>>>>,
    unmasked_by: BTreeSet<ClientId>,
}

impl Server {
    /// The server of a round whose clients share and mask along `graph`.
    pub fn new(session: Session, config: Config, graph: Graph) -> Result<Server> {
        config.check()?;
        if let Graph::Harary { neighbours } = graph
            && !(config.threshold..=254).contains(&neighbours.saturating_add(1))
        {
            return Err(Error::InvalidParameter {
                name: "neighbours",
                why: format!(
                    "{neighbours} neighbours: a neighbourhood (a client and its neighbours) must hold at least the threshold of {} and at most 254 clients",
                    config.threshold
                ),
            });
        }
        Ok(Server {
            session,
            config,
            graph,
            roster: BTreeMap::new(),
            neighbourhoods: BTreeMap::new(),
            sealed: BTreeMap::new(),
            masked: BTreeSet::new(),
            masked_sum: vec![0; config.dims],
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
        if !self.neighbourhoods.is_empty() {
            return Err(Error::rejected(advert.id, "keys after the roster was sent"));
        }
        if self.graph == Graph::Complete && self.roster.len() >= 255 {
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

    /// Closes stage 0: U1 is the clients whose keys arrived (an abort if too few), and
    /// each one's neighbourhood is drawn.
    pub fn close_roster(&mut self) -> Result<Vec<ClientId>> {
        self.enough("advertise keys", self.roster.len())?;
        let u1: Vec<ClientId> = self.roster.keys().copied().collect();
        self.neighbourhoods = match self.graph {
            Graph::Complete => {
                let all: BTreeSet<ClientId> = u1.iter().copied().collect();
                u1.iter().map(|&u| (u, all.clone())).collect()
            }
            Graph::Harary { neighbours } => harary(&u1, neighbours),
        };
        Ok(u1)
    }

    /// The part of the roster client `u` deals with: the adverts of its neighbourhood
    /// (everyone, without SecAgg+).
    pub fn roster_for(&self, u: ClientId) -> Vec<Advert> {
        self.neighbourhood(u)
            .map(|v| self.roster[v].clone())
            .collect()
    }

    fn neighbourhood(&self, u: ClientId) -> impl Iterator<Item = &ClientId> {
        self.neighbourhoods.get(&u).into_iter().flatten()
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
        let roster = self.neighbourhoods.get(&from).cloned().unwrap_or_default();
        if msg.sealed.iter().any(|s| s.from != from)
            || holders != roster
            || committed != roster
            || msg.sealed.len() != roster.len()
            || msg.commitments.len() != roster.len()
        {
            return Err(Error::rejected(
                from,
                "shares must be one per client of its neighbourhood, each from the sender",
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

    /// The clients of U2 that `u` masks with: those in its neighbourhood.
    pub fn u2_for(&self, u: ClientId) -> Vec<ClientId> {
        self.neighbourhood(u)
            .filter(|v| self.sealed.contains_key(v))
            .copied()
            .collect()
    }

    /// The clients of U3 in `u`'s neighbourhood.
    pub fn u3_for(&self, u: ClientId) -> Vec<ClientId> {
        self.neighbourhood(u)
            .filter(|v| self.masked.contains(v))
            .copied()
            .collect()
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
        if !self.masked.insert(from) {
            return Err(Error::rejected(from, "masked input sent twice"));
        }
        self.masked_sum
            .iter_mut()
            .zip(&msg.masked)
            .for_each(|(s, v)| *s = s.wrapping_add(*v));
        Ok(())
    }

    /// U3: the clients whose masked inputs arrived (an abort if too few).
    pub fn u3(&self) -> Result<Vec<ClientId>> {
        self.enough("masked input", self.masked.len())?;
        Ok(self.masked.iter().copied().collect())
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
        if !self.masked.contains(&from) {
            return Err(Error::rejected(from, "not in U3"));
        }
        // One share per dealer: blahaj would count a repeated share twice, and a repeated x
        // cancels in GF(2⁸), so the secret would come out wrong without an error.
        let mut dealers = std::collections::HashSet::new();
        if let Some((dealer, _)) = msg
            .seeds
            .iter()
            .chain(&msg.mask_keys)
            .find(|(dealer, _)| !dealers.insert(*dealer))
        {
            return Err(Error::rejected(
                from,
                format!("two shares for client {dealer} in one message"),
            ));
        }
        if !self.unmasked_by.insert(from) {
            return Err(Error::rejected(from, "shares sent twice"));
        }
        let check = |dealer: ClientId, share: &[u8], kind: &[u8], survivor: bool| -> Result<()> {
            if self.masked.contains(&dealer) != survivor || !self.sealed.contains_key(&dealer) {
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
            .filter(|u| !self.masked.contains(u))
            .copied()
            .collect();
        // Recover everything before unmasking anything.
        let seeds = u3
            .iter()
            .map(|u| {
                let b = self.recover(self.seeds.get(u), *u)?;
                if seed_commitment(&b, *u, &self.session) != self.roster[u].seed_commitment {
                    return Err(Error::rejected(
                        *u,
                        "its recovered self-mask seed does not match the commitment in its advert",
                    ));
                }
                Ok(b)
            })
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
        let mut sum = self.masked_sum.clone();
        for (u, b) in u3.iter().zip(&seeds) {
            apply_mask(&mut sum, &self_seed(b, *u, &self.session), false);
        }
        for (u, key) in dropped.iter().zip(&keys) {
            for v in self.neighbourhood(*u).filter(|v| self.masked.contains(v)) {
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

/// The neighbourhoods of a Harary graph H(k, n) with randomly permuted labels: the clients
/// in a random order on a ring, each joined to the ⌈k/2⌉ on either side (Bell et al.,
/// "Secure Single-Server Aggregation with (Poly)Logarithmic Overhead", CCS 2020, §3: a
/// k-regular graph of logarithmic degree replaces the complete graph). A neighbourhood
/// includes the client itself; with k ≥ n − 1 every neighbourhood is everyone.
fn harary(u1: &[ClientId], k: usize) -> BTreeMap<ClientId, BTreeSet<ClientId>> {
    let mut ring = u1.to_vec();
    ring.shuffle(&mut ChaCha20Rng::from_seed(veil_core::random::bytes()));
    let (n, side) = (ring.len(), k.div_ceil(2));
    ring.iter()
        .enumerate()
        .map(|(i, &u)| {
            let mut near = BTreeSet::from([u]);
            for d in 1..=side.min(n / 2) {
                near.insert(ring[(i + d) % n]);
                near.insert(ring[(i + n - d) % n]);
            }
            (u, near)
        })
        .collect()
}
