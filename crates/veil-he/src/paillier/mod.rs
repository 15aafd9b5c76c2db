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
//! constant time (`crypto-bigint`); secret keys are zeroized when dropped.

mod encoding;
mod keyfile;
mod ring;

pub use encoding::{EncryptedNumber, FRACTION_BITS};
pub use keyfile::{read_public, read_secret, stage_public, stage_secret};

use crypto_bigint::rand_core::UnwrapErr;
use crypto_bigint::{BoxedUint, ConcatenatingMul, RandomMod};
use crypto_primes::hazmat::{SetBits, SmallFactorsSieveFactory};
use crypto_primes::{Flavor, is_prime, sieve_and_find};
use getrandom::SysRng;
use zeroize::Zeroize;

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

/// A Paillier secret key: the factors of n and the values CRT decryption needs.
pub struct SecretKey {
    public: PublicKey,
    p: BoxedUint,
    q: BoxedUint,
    p2: Ring,
    q2: Ring,
    p_ring: Ring,
    q_ring: Ring,
    /// h_p, h_q of §7.
    hp: BoxedUint,
    hq: BoxedUint,
    /// p⁻¹ mod q.
    p_inv_q: BoxedUint,
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.p.zeroize();
        self.q.zeroize();
        self.hp.zeroize();
        self.hq.zeroize();
        self.p_inv_q.zeroize();
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
                let p = s.spawn(|| prime(bits / 2));
                let q = prime(bits / 2);
                (p.join().expect("the prime search panicked"), q)
            });
            let (p, q) = (p?, q?);
            if p != q {
                return SecretKey::from_factors(p, q);
            }
        }
    }

    /// The secret key for n = p·q.
    pub fn from_factors(p: BoxedUint, q: BoxedUint) -> Result<SecretKey> {
        let half = p.bits().max(q.bits());
        let (p, q) = (resize(&p, half), resize(&q, half));
        if p == q || !is_prime(Flavor::Any, &p) || !is_prime(Flavor::Any, &q) {
            return Err(Error::Key(KeyProblem::Malformed(
                "p and q must be distinct primes".into(),
            )));
        }
        let public = PublicKey::from_modulus(p.concatenating_mul(&q))?;
        let (p2, q2) = (
            Ring::new(&p.concatenating_mul(&p))?,
            Ring::new(&q.concatenating_mul(&q))?,
        );
        let (p_ring, q_ring) = (Ring::new(&p)?, Ring::new(&q)?);
        let one = BoxedUint::one_with_precision(half);
        let h = |f: &BoxedUint, f2: &Ring, ring: &Ring| -> Result<BoxedUint> {
            // h = L(g^(f−1) mod f²)⁻¹ mod f, with g = n + 1.
            let g = public
                .n
                .wrapping_add(BoxedUint::one_with_precision(public.bits));
            let x = f2.pow(&g, &f.wrapping_sub(&one), half);
            ring.invert(&l_function(&x, f)).ok_or_else(|| {
                Error::Key(KeyProblem::Malformed(
                    "the factors do not give an invertible h".into(),
                ))
            })
        };
        let hp = h(&p, &p2, &p_ring)?;
        let hq = h(&q, &q2, &q_ring)?;
        let p_inv_q = q_ring
            .invert(&q_ring.reduce(&p))
            .ok_or_else(|| Error::Key(KeyProblem::Malformed("p and q are not coprime".into())))?;
        Ok(SecretKey {
            public,
            p,
            q,
            p2,
            q2,
            p_ring,
            q_ring,
            hp,
            hq,
            p_inv_q,
        })
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The factors (p, q), for the key file.
    pub(crate) fn factors(&self) -> (&BoxedUint, &BoxedUint) {
        (&self.p, &self.q)
    }

    /// Decrypts `c` (CRT, §7).
    pub fn decrypt(&self, c: &Ciphertext) -> BoxedUint {
        let half = self.p.bits_precision();
        let one = BoxedUint::one_with_precision(half);
        let part = |f: &BoxedUint, f2: &Ring, ring: &Ring, h: &BoxedUint| {
            let x = f2.pow(&f2.reduce(&c.0), &f.wrapping_sub(&one), half);
            ring.mul(&l_function(&x, f), h)
        };
        let mp = part(&self.p, &self.p2, &self.p_ring, &self.hp);
        let mq = part(&self.q, &self.q2, &self.q_ring, &self.hq);
        // Garner: m = m_p + p·((m_q − m_p)·p⁻¹ mod q).
        let t = self.q_ring.mul(
            &self.q_ring.sub(&mq, &self.q_ring.reduce(&mp)),
            &self.p_inv_q,
        );
        let m = self
            .p
            .concatenating_mul(&t)
            .wrapping_add(resize(&mp, 2 * half));
        resize(&m, self.public.bits)
    }
}

/// L_f(x) = (x − 1)/f for x ≡ 1 mod f, x < f².
fn l_function(x: &BoxedUint, f: &BoxedUint) -> BoxedUint {
    let precision = x.bits_precision();
    let minus_one = x.wrapping_sub(BoxedUint::one_with_precision(precision));
    let divisor = crypto_bigint::NonZero::new(resize(f, precision)).expect("f is not zero");
    resize(&minus_one.wrapping_div(&divisor), f.bits_precision())
}

#[cfg(test)]
mod tests;
