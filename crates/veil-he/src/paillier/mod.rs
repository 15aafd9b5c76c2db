//! Paillier's additively homomorphic encryption (P. Paillier, "Public-Key Cryptosystems
//! Based on Composite Degree Residuosity Classes", EUROCRYPT 1999, §3 and §7).
//!
//! Keys: n = p·q for random primes p, q of half the modulus size, each with its two top bits
//! set so that n has exactly the size asked for (2048 or 3072 bits); g = n + 1.
//!
//! - **Encryption** of m ∈ Z_n: c = (1 + m·n)·rⁿ mod n², r uniform in Z_n* — g^m = 1 + m·n mod n²
//!   needs no exponentiation. rⁿ mod n² does not depend on m: [`Obfuscator`]s can be made
//!   ahead of time, after which encryption is one multiplication.
//! - **Decryption** with the Chinese remainder theorem (§7): m_p = L_p(c^(p−1) mod p²)·h_p
//!   mod p, L_p(x) = (x − 1)/p, h_p = L_p(g^(p−1) mod p²)⁻¹ mod p; likewise mod q; then
//!   m = m_p + p·((m_q − m_p)·p⁻¹ mod q). Two half-size exponentiations instead of one
//!   full-size one.
//! - **Homomorphisms**: E(a)·E(b) = E(a + b); E(a)^k = E(k·a); E(a)·(1 + b·n) = E(a + b).
//!
//! Security: factoring n breaks the scheme; 2048-bit moduli give about 112 bits of security
//! and 3072-bit about 128 (NIST SP 800-57 Part 1, Table 2). A ciphertext is
//! indistinguishable from random under the decisional composite residuosity assumption,
//! and is malleable by design (anyone with the public key can add to it): authenticate
//! ciphertexts at the transport (Veil sends them over mutual TLS). Arithmetic runs in
//! constant time (`crypto-bigint`).
//!
//! Secret keys are zeroized when dropped: p, q, p², q², p − 1, q − 1, h_p, h_q and p⁻¹ mod q
//! are kept in integers that are wiped, and so are the values derived from them during key
//! setup and decryption (residues modulo p or q reveal the factor to whoever knows the
//! integer they are residues of). `crypto-bigint`'s Montgomery parameters cannot be wiped,
//! so those modulo p² and q² are rebuilt for each decryption (about 10 µs, against
//! milliseconds for the exponentiations) rather than kept with the key; the temporaries
//! inside `crypto-bigint`'s own arithmetic (and GMP's, with the `gmp` feature) are out of
//! reach.

mod encoding;
mod keyfile;
mod ring;

pub use encoding::{EncryptedNumber, FRACTION_BITS};
pub use keyfile::{read_public, read_secret, stage_public, stage_secret};

use crypto_bigint::rand_core::UnwrapErr;
use crypto_bigint::{BoxedUint, ConcatenatingMul, Odd, RandomMod};
use crypto_primes::hazmat::{SetBits, SmallFactorsSieveFactory};
use crypto_primes::{Flavor, is_prime, sieve_and_find};
use getrandom::SysRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{CiphertextProblem, Error, KeyProblem, Result};
use ring::{Ring, resize};

/// The modulus sizes Veil generates keys for.
pub const KEY_BITS: [u32; 2] = [2048, 3072];

/// The security level of a `bits`-bit modulus (NIST SP 800-57 Part 1, Table 2, as for RSA):
/// 112 bits at 2048, 128 at 3072.
pub fn security_bits(bits: u32) -> u32 {
    if bits >= 3072 { 128 } else { 112 }
}

/// A Paillier public key: n, and arithmetic modulo n².
#[derive(Clone, Debug)]
pub struct PublicKey {
    bits: u32,
    n: BoxedUint,
    n2: Ring,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.n == other.n
    }
}

/// A Paillier secret key: the factors of n and the values CRT decryption needs, all wiped
/// when dropped.
pub struct SecretKey {
    public: PublicKey,
    p: Factor,
    q: Factor,
    /// p⁻¹ mod q.
    p_inv_q: BoxedUint,
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.p_inv_q.zeroize();
    }
}

/// One prime factor f of n with what CRT decryption needs modulo it (§7), wiped when
/// dropped. Every field is a plain integer: the Montgomery parameters modulo f², which
/// could not be wiped, are made from `f2` when needed.
#[derive(Zeroize, ZeroizeOnDrop)]
struct Factor {
    /// f.
    f: Odd<BoxedUint>,
    /// f − 1, the exponent of decryption.
    f_minus_1: BoxedUint,
    /// f².
    f2: Odd<BoxedUint>,
    /// h_f = L_f(g^(f−1) mod f²)⁻¹ mod f.
    h: BoxedUint,
}

impl Factor {
    /// The factor f (a prime above 2, at the key's half precision) of the key `public`.
    fn new(f: &BoxedUint, public: &PublicKey) -> Result<Factor> {
        let odd = |x: BoxedUint| {
            Option::<Odd<BoxedUint>>::from(Odd::new(x)).ok_or_else(|| {
                Error::Key(KeyProblem::Malformed("p and q must be odd primes".into()))
            })
        };
        let half = f.bits_precision();
        // In its wiped home before anything is derived, h last.
        let mut factor = Factor {
            f: odd(f.clone())?,
            f_minus_1: f.wrapping_sub(BoxedUint::one_with_precision(half)),
            f2: odd(f.concatenating_mul(f))?,
            h: BoxedUint::zero_with_precision(half),
        };
        // h = L(g^(f−1) mod f²)⁻¹ mod f, with g = n + 1.
        let g = public
            .n
            .wrapping_add(BoxedUint::one_with_precision(public.bits));
        let g = Zeroizing::new(g.rem(factor.f2.as_nz_ref()));
        let ring = Ring::from_odd(factor.f2.clone());
        let x = Zeroizing::new(ring.pow(&g, &factor.f_minus_1, half));
        let l = l_function(&x, &factor.f);
        factor.h = Option::<BoxedUint>::from(l.invert_odd_mod(&factor.f)).ok_or_else(|| {
            Error::Key(KeyProblem::Malformed(
                "the factors do not give an invertible h".into(),
            ))
        })?;
        Ok(factor)
    }

    /// m_f = L_f(c^(f−1) mod f²)·h_f mod f.
    fn part(&self, c: &BoxedUint) -> Zeroizing<BoxedUint> {
        let half = self.f.bits_precision();
        let base = Zeroizing::new(c.rem(self.f2.as_nz_ref()));
        let x = Zeroizing::new(Ring::from_odd(self.f2.clone()).pow(&base, &self.f_minus_1, half));
        let l = l_function(&x, &self.f);
        Zeroizing::new(l.mul_mod(&self.h, self.f.as_nz_ref()))
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey")
            .field("bits", &self.public.bits)
            .finish_non_exhaustive()
    }
}

/// A ciphertext: an element of Z_n²*.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ciphertext(BoxedUint);

/// rⁿ mod n² for a fresh random r: the part of an encryption that does not depend on the
/// message. Use each one once.
pub struct Obfuscator(BoxedUint);

/// The operating system's cryptographic random generator, for `crypto-bigint`.
fn os_rng() -> UnwrapErr<SysRng> {
    UnwrapErr(SysRng)
}

impl PublicKey {
    /// The public key with modulus `n` (its size must be one of [`KEY_BITS`]). A product of
    /// two primes with only their top bit set may be one bit short, as in other libraries'
    /// keys: a modulus of 2047 bits counts as a 2048-bit key.
    pub fn from_modulus(n: BoxedUint) -> Result<PublicKey> {
        let actual = n.bits();
        let Some(&bits) = KEY_BITS.iter().find(|&&b| actual == b || actual + 1 == b) else {
            return Err(Error::Key(KeyProblem::Malformed(format!(
                "a {actual}-bit modulus; Veil uses {KEY_BITS:?}"
            ))));
        };
        let n = resize(&n, bits);
        let n2 = Ring::new(&n.concatenating_mul(&n))?;
        Ok(PublicKey { bits, n, n2 })
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// n.
    pub fn modulus(&self) -> &BoxedUint {
        &self.n
    }

    /// A fresh rⁿ mod n².
    pub fn obfuscator(&self) -> Obfuscator {
        let modulus = crypto_bigint::NonZero::new(self.n.clone()).expect("n is not zero");
        loop {
            let r = BoxedUint::random_mod_vartime(&mut os_rng(), &modulus);
            if !bool::from(r.is_zero()) {
                return Obfuscator(self.n2.pow(&r, &self.n, self.bits));
            }
        }
    }

    /// `count` obfuscators, made on all cores: encryption with them is one multiplication.
    pub fn obfuscators(&self, count: usize) -> Vec<Obfuscator> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per = count.div_ceil(threads.max(1));
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let take = per.min(count.saturating_sub(t * per));
                    s.spawn(move || (0..take).map(|_| self.obfuscator()).collect::<Vec<_>>())
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("an obfuscator thread panicked"))
                .collect()
        })
    }

    fn check_plaintext(&self, m: &BoxedUint) -> Result<BoxedUint> {
        let below_n = m.bits() <= self.bits && resize(m, self.bits).cmp_vartime(&self.n).is_lt();
        if !below_n {
            return Err(Error::out_of_range(
                "parameter",
                "a plaintext must be below n",
            ));
        }
        Ok(resize(m, self.bits))
    }

    /// g^m = 1 + m·n mod n².
    fn g_pow(&self, m: &BoxedUint) -> BoxedUint {
        let mn = m.concatenating_mul(&self.n);
        self.n2
            .fit(&mn.wrapping_add(BoxedUint::one_with_precision(mn.bits_precision())))
    }

    /// Encrypts m ∈ [0, n).
    pub fn encrypt(&self, m: &BoxedUint) -> Result<Ciphertext> {
        self.encrypt_with(m, self.obfuscator())
    }

    /// Encrypts m ∈ [0, n) with a precomputed obfuscator.
    pub fn encrypt_with(&self, m: &BoxedUint, obfuscator: Obfuscator) -> Result<Ciphertext> {
        let m = self.check_plaintext(m)?;
        Ok(Ciphertext(self.n2.mul(&self.g_pow(&m), &obfuscator.0)))
    }

    /// Encrypts m with the given r (known-answer tests only: r must be fresh and secret).
    pub fn encrypt_with_r(&self, m: &BoxedUint, r: &BoxedUint) -> Result<Ciphertext> {
        let m = self.check_plaintext(m)?;
        let rn = self.n2.pow(r, &self.n, self.bits);
        Ok(Ciphertext(self.n2.mul(&self.g_pow(&m), &rn)))
    }

    /// Checks that `c` is a ciphertext for this key (an element of [1, n²) coprime to n).
    pub fn ciphertext(&self, c: BoxedUint) -> Result<Ciphertext> {
        let c = resize(&c, c.bits_precision().max(self.n2.bits()));
        let n2 = resize(self.n2.modulus(), c.bits_precision());
        if bool::from(c.is_zero()) || c.cmp_vartime(&n2).is_ge() {
            return Err(Error::Ciphertext(CiphertextProblem::NotInGroup(
                "zero or not below n²",
            )));
        }
        let c = self.n2.fit(&c);
        if self.n2.invert(&c).is_none() {
            return Err(Error::Ciphertext(CiphertextProblem::NotInGroup(
                "it shares a factor with the modulus",
            )));
        }
        Ok(Ciphertext(c))
    }

    /// E(a + b) from E(a) and E(b).
    pub fn add(&self, a: &Ciphertext, b: &Ciphertext) -> Ciphertext {
        Ciphertext(self.n2.mul(&a.0, &b.0))
    }

    /// E(a + m) from E(a) and a plaintext m ∈ [0, n).
    pub fn add_plain(&self, a: &Ciphertext, m: &BoxedUint) -> Result<Ciphertext> {
        let m = self.check_plaintext(m)?;
        Ok(Ciphertext(self.n2.mul(&a.0, &self.g_pow(&m))))
    }

    /// E(k·a) from E(a) and a signed integer k.
    pub fn mul_plain(&self, a: &Ciphertext, k: i128) -> Ciphertext {
        let magnitude = BoxedUint::from(k.unsigned_abs());
        let powered = self.n2.pow(&a.0, &magnitude, 128);
        if k < 0 {
            Ciphertext(
                self.n2
                    .invert(&powered)
                    .expect("a ciphertext is invertible modulo n²"),
            )
        } else {
            Ciphertext(powered)
        }
    }

    /// The ciphertext's bytes (big-endian, the size of n²).
    pub fn to_bytes(&self, c: &Ciphertext) -> Vec<u8> {
        c.0.to_be_bytes().to_vec()
    }

    /// A ciphertext from its bytes, checked ([`PublicKey::ciphertext`]).
    pub fn from_bytes(&self, bytes: &[u8]) -> Result<Ciphertext> {
        let c = BoxedUint::from_be_slice(bytes, (bytes.len() * 8) as u32)
            .map_err(|_| Error::Ciphertext(CiphertextProblem::Malformed("unreadable".into())))?;
        self.ciphertext(c)
    }
}

/// A random prime of `bits` bits with its two top bits set.
fn prime(bits: u32) -> Result<BoxedUint> {
    let factory = SmallFactorsSieveFactory::<BoxedUint>::new(Flavor::Any, bits, SetBits::TwoMsb)
        .map_err(|_| Error::Key(KeyProblem::Generation("the prime sieve")))?;
    sieve_and_find(&mut os_rng(), factory, |_, p| is_prime(Flavor::Any, p))
        .map_err(|_| Error::Key(KeyProblem::Generation("the prime search")))?
        .ok_or(Error::Key(KeyProblem::Generation("no prime found")))
}

impl SecretKey {
    /// A new key pair with a modulus of `bits` bits (one of [`KEY_BITS`]).
    pub fn generate(bits: u32) -> Result<SecretKey> {
        if !KEY_BITS.contains(&bits) {
            return Err(Error::out_of_range(
                "parameter",
                format!("a {bits}-bit modulus; choose one of {KEY_BITS:?}"),
            ));
        }
        loop {
            let (p, q) = std::thread::scope(|s| {
                let p = s.spawn(|| prime(bits / 2).map(Zeroizing::new));
                let q = prime(bits / 2).map(Zeroizing::new);
                (p.join().expect("the prime search panicked"), q)
            });
            let (p, q) = (p?, q?);
            if p != q {
                return SecretKey::from_secret_factors(p, q);
            }
        }
    }

    /// The secret key for n = p·q (`p` and `q` are wiped, as is every copy made of them).
    pub fn from_factors(p: BoxedUint, q: BoxedUint) -> Result<SecretKey> {
        SecretKey::from_secret_factors(Zeroizing::new(p), Zeroizing::new(q))
    }

    /// [`SecretKey::from_factors`] for factors already in zeroizing storage.
    pub(crate) fn from_secret_factors(
        p: Zeroizing<BoxedUint>,
        q: Zeroizing<BoxedUint>,
    ) -> Result<SecretKey> {
        let half = p.bits().max(q.bits());
        let (p, q) = (
            Zeroizing::new(resize(&p, half)),
            Zeroizing::new(resize(&q, half)),
        );
        if p == q || !is_prime(Flavor::Any, &*p) || !is_prime(Flavor::Any, &*q) {
            return Err(Error::Key(KeyProblem::Malformed(
                "p and q must be distinct primes".into(),
            )));
        }
        let public = PublicKey::from_modulus(p.concatenating_mul(&*q))?;
        let (p, q) = (Factor::new(&p, &public)?, Factor::new(&q, &public)?);
        let p_mod_q = Zeroizing::new(p.f.rem(q.f.as_nz_ref()));
        let p_inv_q = Option::<BoxedUint>::from(p_mod_q.invert_odd_mod(&q.f))
            .ok_or_else(|| Error::Key(KeyProblem::Malformed("p and q are not coprime".into())))?;
        Ok(SecretKey {
            public,
            p,
            q,
            p_inv_q,
        })
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The factors (p, q), for the key file.
    pub(crate) fn factors(&self) -> (&BoxedUint, &BoxedUint) {
        (&self.p.f, &self.q.f)
    }

    /// Decrypts `c` (CRT, §7).
    pub fn decrypt(&self, c: &Ciphertext) -> BoxedUint {
        let half = self.p.f.bits_precision();
        let (mp, mq) = (self.p.part(&c.0), self.q.part(&c.0));
        // Garner: m = m_p + p·((m_q − m_p)·p⁻¹ mod q).
        let q = self.q.f.as_nz_ref();
        let mp_mod_q = Zeroizing::new(mp.rem(q));
        let difference = Zeroizing::new(mq.sub_mod(&mp_mod_q, q));
        let t = Zeroizing::new(difference.mul_mod(&self.p_inv_q, q));
        // p·t and m_p are multiples of p and m mod p: secrets beside m, which is not.
        let pt = Zeroizing::new(self.p.f.concatenating_mul(&*t));
        let m = pt.wrapping_add(&*Zeroizing::new(resize(&mp, 2 * half)));
        resize(&m, self.public.bits)
    }
}

/// L_f(x) = (x − 1)/f for x ≡ 1 mod f, x < f², at f's precision.
fn l_function(x: &BoxedUint, f: &Odd<BoxedUint>) -> Zeroizing<BoxedUint> {
    let minus_one =
        Zeroizing::new(x.wrapping_sub(BoxedUint::one_with_precision(x.bits_precision())));
    let quotient = Zeroizing::new(minus_one.wrapping_div(f.as_nz_ref()));
    Zeroizing::new(resize(&quotient, f.bits_precision()))
}

#[cfg(test)]
mod tests;
