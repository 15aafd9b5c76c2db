//! The byte format of CKKS keys and ciphertexts (version 1; docs/formats.md, "CKKS keys and
//! ciphertexts").
//!
//! Every object starts with a header that names its parameters exactly, so that an object
//! made for other parameters, or another key set, is refused rather than misread:
//!
//! ```text
//! "VEILCKKS" | version u8 = 1 | kind u8 | N u32 | prime count u8 | primes u64 × count
//!            | scale bits u8 | key-set id [u8; 16]
//! ```
//!
//! Kinds: 1 secret key (s over all primes), 2 public key (b, a over the data primes),
//! 3 evaluation keys (the relinearisation key — or a 0 byte when a subset has none — then
//! a u16 count of Galois keys, each a u32 Galois element and a key), 4 ciphertext (scale
//! f64, c₀, c₁), 5 seeded ciphertext (scale f64, a 32-byte ChaCha20 seed from which c₁ is
//! drawn, c₀). A key-switching key is a u8 digit count and two polynomials per digit. A
//! polynomial is a u8 limb count, the limbs' prime indices (u8 each), then N residues (u64)
//! per limb, each below its prime. All integers are little-endian.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::cipher::Ciphertext;
use super::eval::EvaluationKeys;
use super::keys::{KeyId, PublicKey, SecretKey};
use super::keyswitch::KeySwitchKey;
use super::params::{Context, Parameters};
use super::poly::{Ntt, RnsPoly, SecretPoly};
use crate::error::{CiphertextProblem, Error, Result};

const MAGIC: &[u8; 8] = b"VEILCKKS";
const VERSION: u8 = 1;

/// What a serialised object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A secret key.
    SecretKey = 1,
    /// A public key.
    PublicKey = 2,
    /// Relinearisation and Galois keys.
    EvaluationKeys = 3,
    /// A ciphertext.
    Ciphertext = 4,
    /// A fresh secret-key ciphertext whose uniform half c₁ is given by its ChaCha20 seed:
    /// half the size.
    SeededCiphertext = 5,
}

struct Writer(Vec<u8>);

impl Writer {
    fn header(ctx: &Context, kind: Kind, id: KeyId) -> Writer {
        let mut w = Writer(Vec::new());
        w.0.extend_from_slice(MAGIC);
        w.0.push(VERSION);
        w.0.push(kind as u8);
        w.0.extend_from_slice(&(ctx.degree() as u32).to_le_bytes());
        let count = ctx.data_primes() + 1;
        w.0.push(count as u8);
        for i in 0..count {
            w.0.extend_from_slice(&ctx.modulus(i).value().to_le_bytes());
        }
        w.0.push(ctx.params().scale_bits as u8);
        w.0.extend_from_slice(&id.0);
        w
    }

    fn poly(&mut self, p: &RnsPoly<Ntt>) {
        self.0.push(p.primes().len() as u8);
        self.0.extend(p.primes().iter().map(|&i| i as u8));
        for limb in p.limbs() {
            for x in limb {
                self.0.extend_from_slice(&x.to_le_bytes());
            }
        }
    }

    fn key(&mut self, k: &KeySwitchKey) {
        self.0.push(k.digits.len() as u8);
        for [b, a] in &k.digits {
            self.poly(b);
            self.poly(a);
        }
    }
}

struct Reader<'a>(veil_core::cursor::ByteCursor<'a>);

fn corrupt(why: &str) -> Error {
    Error::Ciphertext(CiphertextProblem::Malformed(why.to_string()))
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        self.0.take(n).ok_or_else(|| corrupt("truncated"))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.0.array().ok_or_else(|| corrupt("truncated"))
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    /// The header: the parameters it names, their primes, the kind and the key-set id.
    fn header(&mut self) -> Result<Header> {
        if self.take(8)? != MAGIC {
            return Err(corrupt("no VEILCKKS header"));
        }
        let version = self.u8()?;
        if version != VERSION {
            return Err(corrupt(&format!(
                "version {version}; this Veil reads version 1"
            )));
        }
        let kind = match self.u8()? {
            1 => Kind::SecretKey,
            2 => Kind::PublicKey,
            3 => Kind::EvaluationKeys,
            4 => Kind::Ciphertext,
            5 => Kind::SeededCiphertext,
            k => return Err(corrupt(&format!("unknown kind {k}"))),
        };
        let degree = u32::from_le_bytes(self.array()?) as usize;
        let count = self.u8()? as usize;
        let primes = (0..count)
            .map(|_| self.array().map(u64::from_le_bytes))
            .collect::<Result<Vec<u64>>>()?;
        let scale_bits = u32::from(self.u8()?);
        let params = Parameters {
            degree,
            chain: primes.iter().map(|q| 64 - q.leading_zeros()).collect(),
            scale_bits,
        };
        let id = KeyId(self.array()?);
        Ok(Header {
            params,
            primes,
            kind,
            id,
        })
    }

    /// A polynomial's limb list, as the zero polynomial over those primes.
    fn limb_list(&mut self, ctx: &Context) -> Result<RnsPoly<Ntt>> {
        let count = self.u8()? as usize;
        let primes = (0..count)
            .map(|_| self.u8().map(usize::from))
            .collect::<Result<Vec<usize>>>()?;
        RnsPoly::zero(ctx, &primes)
            .map_err(|_| corrupt("a limb list that is not increasing primes of the chain"))
    }

    /// The residues of `poly`'s limbs, read into them in place.
    fn residues(&mut self, ctx: &Context, poly: &mut RnsPoly<Ntt>) -> Result<()> {
        let (primes, limbs) = poly.parts_mut();
        for (limb, &p) in limbs.iter_mut().zip(primes) {
            let q = ctx.modulus(p).value();
            for x in limb.iter_mut() {
                *x = self.array().map(u64::from_le_bytes)?;
                if *x >= q {
                    return Err(corrupt("a residue above its prime"));
                }
            }
        }
        Ok(())
    }

    fn poly(&mut self, ctx: &Context) -> Result<RnsPoly<Ntt>> {
        let mut poly = self.limb_list(ctx)?;
        self.residues(ctx, &mut poly)?;
        Ok(poly)
    }

    /// A polynomial that is a secret: read straight into memory that is wiped when
    /// dropped, also when the bytes turn out to be bad.
    fn secret_poly(&mut self, ctx: &Context) -> Result<SecretPoly<Ntt>> {
        let mut poly = SecretPoly::new(self.limb_list(ctx)?);
        self.residues(ctx, &mut poly)?;
        Ok(poly)
    }

    fn key(&mut self, ctx: &Context) -> Result<KeySwitchKey> {
        let count = self.u8()? as usize;
        let all: Vec<usize> = (0..=ctx.data_primes()).collect();
        let digits = (0..count)
            .map(|_| {
                let (b, a) = (self.poly(ctx)?, self.poly(ctx)?);
                if b.primes() != all || a.primes() != all {
                    return Err(corrupt("a key-switching key not over every prime"));
                }
                Ok([b, a])
            })
            .collect::<Result<Vec<_>>>()?;
        if digits.len() != ctx.data_primes() {
            return Err(corrupt(
                "a key-switching key with the wrong number of digits",
            ));
        }
        Ok(KeySwitchKey { digits })
    }

    /// A key-switching key, or none if its digit count is 0.
    fn optional_key(&mut self, ctx: &Context) -> Result<Option<KeySwitchKey>> {
        if self.0.peek() == Some(0) {
            self.u8()?;
            return Ok(None);
        }
        self.key(ctx).map(Some)
    }

    fn end(&self) -> Result<()> {
        if !self.0.is_empty() {
            return Err(corrupt("trailing bytes"));
        }
        Ok(())
    }
}

/// What a header says.
struct Header {
    params: Parameters,
    primes: Vec<u64>,
    kind: Kind,
    id: KeyId,
}

impl Header {
    fn require(&self, want: Kind) -> Result<()> {
        if self.kind != want {
            return Err(Error::Ciphertext(CiphertextProblem::Kind {
                found: format!("{:?}", self.kind),
                want: format!("{want:?}"),
            }));
        }
        Ok(())
    }

    /// Refuses a header whose primes are not `ctx`'s.
    fn check_primes(&self, ctx: &Context) -> Result<()> {
        if self.primes.len() != ctx.data_primes() + 1
            || (0..self.primes.len()).any(|i| ctx.modulus(i).value() != self.primes[i])
        {
            return Err(Error::Ciphertext(CiphertextProblem::OtherParameters(
                "its primes differ from Veil's for this chain".into(),
            )));
        }
        Ok(())
    }
}

/// Opens an object of kind `want`, building the context its header names (keys carry
/// their parameters with them).
fn open(bytes: &[u8], want: Kind) -> Result<(Reader<'_>, Arc<Context>, KeyId)> {
    open_in(bytes, want, &|params| Context::new(params.clone()))
}

/// [`open`] with the context `contexts` gives for the header's parameters, asked before
/// anything else is read or built (a service refuses parameters other than its own
/// without building a context for them: F-12).
fn open_in<'a>(
    bytes: &'a [u8],
    want: Kind,
    contexts: &dyn Fn(&Parameters) -> Result<Arc<Context>>,
) -> Result<(Reader<'a>, Arc<Context>, KeyId)> {
    let mut r = Reader(veil_core::cursor::ByteCursor::new(bytes));
    let header = r.header()?;
    header.require(want)?;
    let ctx = contexts(&header.params)?;
    header.check_primes(&ctx)?;
    Ok((r, ctx, header.id))
}

impl SecretKey {
    /// The key's bytes (keep them secret: write them with mode 0600); zeroized when
    /// dropped.
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut w = Writer::header(&self.ctx, Kind::SecretKey, self.id);
        // Room for all of s before any of it is written: growing the buffer would leave
        // copies of the first residues in the memory given back.
        let limbs = self.s.primes().len();
        w.0.reserve_exact(1 + limbs + 8 * limbs * self.ctx.degree());
        w.poly(&self.s);
        zeroize::Zeroizing::new(w.0)
    }

    /// A secret key from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<SecretKey> {
        let (mut r, ctx, id) = open(bytes, Kind::SecretKey)?;
        let s = r.secret_poly(&ctx)?;
        r.end()?;
        let all: Vec<usize> = (0..=ctx.data_primes()).collect();
        if s.primes() != all {
            return Err(corrupt("a secret key not over every prime"));
        }
        Ok(SecretKey { ctx, s, id })
    }
}

impl PublicKey {
    /// The key's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::header(&self.ctx, Kind::PublicKey, self.id);
        w.poly(&self.b);
        w.poly(&self.a);
        w.0
    }

    /// A public key from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<PublicKey> {
        let (mut r, ctx, id) = open(bytes, Kind::PublicKey)?;
        let (b, a) = (r.poly(&ctx)?, r.poly(&ctx)?);
        r.end()?;
        let data: Vec<usize> = (0..ctx.data_primes()).collect();
        if b.primes() != data || a.primes() != data {
            return Err(corrupt("a public key not over the data primes"));
        }
        Ok(PublicKey { ctx, b, a, id })
    }

    /// The context the key belongs to.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }
}

impl EvaluationKeys {
    /// The keys' bytes.
    pub fn to_bytes(&self, ctx: &Context) -> Vec<u8> {
        let mut w = Writer::header(ctx, Kind::EvaluationKeys, self.id);
        match &self.relin {
            Some(key) => w.key(key),
            None => w.0.push(0),
        }
        w.0.extend_from_slice(&(self.galois.len() as u16).to_le_bytes());
        for (g, key) in &self.galois {
            w.0.extend_from_slice(&(*g as u32).to_le_bytes());
            w.key(key);
        }
        w.0
    }

    /// Evaluation keys from their bytes, and the context they belong to.
    pub fn from_bytes(bytes: &[u8]) -> Result<(Arc<Context>, EvaluationKeys)> {
        EvaluationKeys::from_bytes_in(bytes, &|params| Context::new(params.clone()))
    }

    /// Evaluation keys from their bytes, in the context `contexts` gives for the
    /// parameters their header names — or its error, before anything else is built.
    pub fn from_bytes_in(
        bytes: &[u8],
        contexts: &dyn Fn(&Parameters) -> Result<Arc<Context>>,
    ) -> Result<(Arc<Context>, EvaluationKeys)> {
        let (mut r, ctx, id) = open_in(bytes, Kind::EvaluationKeys, contexts)?;
        let relin = r.optional_key(&ctx)?;
        let count = u16::from_le_bytes(r.array()?);
        let mut galois = BTreeMap::new();
        for _ in 0..count {
            let g = u32::from_le_bytes(r.array()?) as usize;
            if g.is_multiple_of(2) || g >= 2 * ctx.degree() {
                return Err(corrupt("a Galois element that is not odd and below 2N"));
            }
            galois.insert(g, r.key(&ctx)?);
        }
        r.end()?;
        Ok((ctx, EvaluationKeys { relin, galois, id }))
    }
}

impl SecretKey {
    /// Encrypts `pt` with the secret key straight to bytes, sending the uniform half c₁ as
    /// the 32-byte seed it is drawn from: half the size of [`Ciphertext::to_bytes`]. The
    /// seed is public; c₁ is uniform to whoever lacks the secret key either way.
    pub fn encrypt_to_bytes(&self, pt: &super::cipher::Plaintext) -> Result<Vec<u8>> {
        let seed: [u8; 32] = veil_core::random::bytes();
        let ct = self.encrypt_seeded(pt, seed)?;
        let mut w = Writer::header(&self.ctx, Kind::SeededCiphertext, self.id);
        w.0.extend_from_slice(&ct.scale.to_le_bytes());
        w.0.extend_from_slice(&seed);
        w.poly(&ct.c[0]);
        Ok(w.0)
    }
}

impl Ciphertext {
    /// The ciphertext's bytes.
    pub fn to_bytes(&self, ctx: &Context) -> Vec<u8> {
        let mut w = Writer::header(ctx, Kind::Ciphertext, self.key);
        w.0.extend_from_slice(&self.scale.to_le_bytes());
        w.poly(&self.c[0]);
        w.poly(&self.c[1]);
        w.0
    }

    /// A ciphertext from its bytes, full or seeded, for the context `ctx` (refused if made
    /// for another).
    pub fn from_bytes(ctx: &Context, bytes: &[u8]) -> Result<Ciphertext> {
        // Checked against `ctx` rather than built: a context costs far more than a
        // ciphertext to make.
        let mut r = Reader(veil_core::cursor::ByteCursor::new(bytes));
        let header = r.header()?;
        if header.kind != Kind::SeededCiphertext {
            header.require(Kind::Ciphertext)?;
        }
        let theirs = &header.params;
        if theirs != ctx.params() {
            return Err(Error::Ciphertext(CiphertextProblem::OtherParameters(
                format!(
                    "N = {} with {:?}, not N = {} with {:?}",
                    theirs.degree,
                    theirs.chain,
                    ctx.degree(),
                    ctx.params().chain
                ),
            )));
        }
        header.check_primes(ctx)?;
        let key = header.id;
        let scale = f64::from_le_bytes(r.array()?);
        let (c0, c1) = if header.kind == Kind::SeededCiphertext {
            let seed: [u8; 32] = r.array()?;
            let c0 = r.poly(ctx)?;
            let c1 = super::keys::uniform(ctx, c0.primes(), &mut ChaCha20Rng::from_seed(seed));
            (c0, c1)
        } else {
            (r.poly(ctx)?, r.poly(ctx)?)
        };
        r.end()?;
        let prefix: Vec<usize> = (0..c0.primes().len()).collect();
        if c0.primes() != c1.primes()
            || c0.primes() != prefix
            || c0.primes().is_empty()
            || c0.primes().len() > ctx.data_primes()
        {
            return Err(corrupt("the two halves are not over one level's primes"));
        }
        if !(scale.is_finite() && scale >= 1.0) {
            return Err(corrupt("a scale that is not a finite number ≥ 1"));
        }
        Ok(Ciphertext {
            c: [c0, c1],
            scale,
            key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::cipher::{decode, encode};
    use super::*;

    #[test]
    fn keys_and_ciphertexts_round_trip_and_bad_bytes_are_refused() {
        let ctx = Context::new(Parameters::n8192()).unwrap();
        let sk = SecretKey::generate(&ctx);
        let pk = sk.public_key().unwrap();
        let sk2 = SecretKey::from_bytes(&sk.to_bytes()).unwrap();
        let pk2 = PublicKey::from_bytes(&pk.to_bytes()).unwrap();
        let ct = pk2
            .encrypt(&encode(&ctx, &[1.5, -2.25], 2, ctx.scale()).unwrap())
            .unwrap();
        let bytes = ct.to_bytes(&ctx);
        let back = Ciphertext::from_bytes(&ctx, &bytes).unwrap();
        assert_eq!(back, ct);
        let values = decode(&ctx, &sk2.decrypt(&back).unwrap()).unwrap();
        assert!((values[0] - 1.5).abs() < 1e-6 && (values[1] + 2.25).abs() < 1e-6);
        // Truncated, tampered header, a residue out of range, another kind, other parameters.
        assert!(Ciphertext::from_bytes(&ctx, &bytes[..bytes.len() - 1]).is_err());
        let mut bad = bytes.clone();
        bad[0] ^= 1;
        assert!(Ciphertext::from_bytes(&ctx, &bad).is_err());
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] = 0xff;
        assert!(Ciphertext::from_bytes(&ctx, &bad).is_err());
        assert!(matches!(
            PublicKey::from_bytes(&bytes),
            Err(Error::Ciphertext(CiphertextProblem::Kind { found, want }))
                if found == "Ciphertext" && want == "PublicKey"
        ));
        let big = Context::new(Parameters::n16384()).unwrap();
        let err = Ciphertext::from_bytes(&big, &bytes).unwrap_err();
        assert!(
            matches!(&err, Error::Ciphertext(CiphertextProblem::OtherParameters(p)) if p.starts_with("N = 8192")),
            "{err}"
        );
    }

    #[test]
    fn a_seeded_ciphertext_is_half_the_size_and_decrypts_alike() {
        let ctx = Context::new(Parameters::n8192()).unwrap();
        let sk = SecretKey::generate(&ctx);
        let pt = encode(&ctx, &[3.5, -0.125, 1e3], 1, ctx.scale()).unwrap();
        let seeded = sk.encrypt_to_bytes(&pt).unwrap();
        let full = sk.encrypt(&pt).unwrap().to_bytes(&ctx);
        // One polynomial of two limbs (and its 3-byte limb list) instead of two, plus the
        // 32-byte seed.
        assert_eq!(seeded.len() + 2 * 8192 * 8 + 3, full.len() + 32);
        let ct = Ciphertext::from_bytes(&ctx, &seeded).unwrap();
        assert_eq!(ct.level(), 1);
        let values = decode(&ctx, &sk.decrypt(&ct).unwrap()).unwrap();
        for (v, want) in values.iter().zip([3.5, -0.125, 1e3]) {
            assert!((v - want).abs() < 1e-7, "{v} vs {want}");
        }
        // The seed is c₁: another seed gives another ciphertext, which decrypts to noise.
        let mut other = seeded.clone();
        let seed_at = 8 + 1 + 1 + 4 + 1 + 8 * 4 + 1 + 16 + 8;
        other[seed_at] ^= 1;
        let wrong = Ciphertext::from_bytes(&ctx, &other).unwrap();
        let noise = decode(&ctx, &sk.decrypt(&wrong).unwrap()).unwrap();
        assert!((noise[0] - 3.5).abs() > 1.0);
        assert!(Ciphertext::from_bytes(&ctx, &seeded[..seeded.len() - 8]).is_err());
    }
}
