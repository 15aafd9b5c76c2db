//! Arithmetic modulo an odd modulus (n², and p², q² during a decryption), on
//! `crypto-bigint`'s heap-allocated integers in Montgomery form. Exponentiation and
//! multiplication are constant-time, which matters here: decryption raises to secret
//! exponents, and encryption to secret bases.
//!
//! A ring's Montgomery parameters (the modulus m, R mod m and R² mod m for R = 2^bits) are
//! shared behind an `Arc` that `crypto-bigint` gives no way to wipe: a ring modulo a secret
//! is made for one operation and dropped, and what it is made from is kept in zeroizing
//! storage instead.

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, Odd, Resize};

use crate::error::{Error, KeyProblem, Result};

/// Integers modulo one odd modulus.
#[derive(Clone, Debug)]
pub(crate) struct Ring {
    params: BoxedMontyParams,
}

impl Ring {
    /// The ring modulo `modulus`, which must be odd.
    pub(crate) fn new(modulus: &BoxedUint) -> Result<Ring> {
        let odd = Option::<Odd<BoxedUint>>::from(Odd::new(modulus.clone()))
            .ok_or_else(|| Error::Key(KeyProblem::Malformed("a modulus is even".into())))?;
        Ok(Ring::from_odd(odd))
    }

    /// The ring modulo `modulus`, which takes charge of it.
    pub(crate) fn from_odd(modulus: Odd<BoxedUint>) -> Ring {
        Ring {
            params: BoxedMontyParams::new(modulus),
        }
    }

    /// Bits of precision of the ring's elements.
    pub(crate) fn bits(&self) -> u32 {
        self.params.bits_precision()
    }

    /// The modulus.
    pub(crate) fn modulus(&self) -> &BoxedUint {
        self.params.modulus()
    }

    /// `x` at this ring's precision; `x` must be below 2^bits.
    pub(crate) fn fit(&self, x: &BoxedUint) -> BoxedUint {
        resize(x, self.bits())
    }

    /// `x` mod the modulus, at this ring's precision.
    fn reduce(&self, x: &BoxedUint) -> BoxedUint {
        x.rem(self.params.modulus().as_nz_ref())
    }

    /// `x` mod the modulus, skipping the division when `x` is already reduced, as
    /// ciphertexts and keys are. (Whether a value is below the modulus is public here: it
    /// always is for secrets.)
    fn reduced(&self, x: &BoxedUint) -> BoxedUint {
        if x.bits_precision() <= self.bits() && self.fit(x).cmp_vartime(self.modulus()).is_lt() {
            self.fit(x)
        } else {
            self.reduce(x)
        }
    }

    fn form(&self, x: &BoxedUint) -> BoxedMontyForm {
        BoxedMontyForm::new(self.reduced(x), &self.params)
    }

    /// base^exp mod the modulus, for an exponent below 2^exp_bits.
    #[cfg(not(feature = "gmp"))]
    pub(crate) fn pow(&self, base: &BoxedUint, exp: &BoxedUint, exp_bits: u32) -> BoxedUint {
        self.form(base).pow_bounded_exp(exp, exp_bits).retrieve()
    }

    /// base^exp mod the modulus, in GMP (`mpz_powm_sec`: constant-time, as the default
    /// backend is), for the `gmp` feature. The byte strings on the way are wiped; GMP's own
    /// integers are not.
    #[cfg(feature = "gmp")]
    pub(crate) fn pow(&self, base: &BoxedUint, exp: &BoxedUint, _exp_bits: u32) -> BoxedUint {
        use rug::integer::Order;
        use zeroize::Zeroizing;
        let big =
            |x: &BoxedUint| rug::Integer::from_digits(&Zeroizing::new(x.to_be_bytes()), Order::Msf);
        let modulus = big(self.modulus());
        let base = big(&Zeroizing::new(self.reduced(base)));
        let exp = big(exp);
        if exp == 0 {
            return self.fit(&BoxedUint::one());
        }
        let power = Zeroizing::new(
            base.secure_pow_mod(&exp, &modulus)
                .to_digits::<u8>(Order::Msf),
        );
        let bytes = (self.bits() as usize).div_ceil(8);
        let mut padded = Zeroizing::new(vec![0u8; bytes]);
        padded[bytes - power.len()..].copy_from_slice(&power);
        BoxedUint::from_be_slice(&padded, self.bits()).expect("a power below the modulus fits")
    }

    /// a·b mod the modulus, in two Montgomery multiplications: taking a's bits as a
    /// Montgomery representation (the value a·R⁻¹) and multiplying by b in Montgomery form
    /// (b·R) gives the representation a·b, which is the answer itself.
    pub(crate) fn mul(&self, a: &BoxedUint, b: &BoxedUint) -> BoxedUint {
        let a_over_r = BoxedMontyForm::from_montgomery(self.reduced(a), &self.params);
        (a_over_r * self.form(b)).as_montgomery().clone()
    }

    /// a⁻¹ mod the modulus, if it exists.
    pub(crate) fn invert(&self, a: &BoxedUint) -> Option<BoxedUint> {
        Option::from(self.form(a).invert()).map(|f: BoxedMontyForm| f.retrieve())
    }
}

/// `x` with `bits` of precision (rounded up to whole limbs), dropping any higher limbs: the
/// caller knows that `x` fits.
pub(crate) fn resize(x: &BoxedUint, bits: u32) -> BoxedUint {
    x.resize_unchecked(bits)
}
