//! Real numbers in Paillier plaintexts: fixed point in Z_n.
//!
//! A real x at scale s is the integer round(x·2^s), stored mod n (a negative v as n − |v|);
//! plaintexts above n/2 decode as negative. Sums keep the scale; a product with a plaintext
//! weight encoded at [`FRACTION_BITS`] adds its scale. The decoded value is exact up to the
//! rounding of the encodings (2^−41 per value at the default scale), as long as every
//! intermediate |value|·2^scale stays below n/2 — with 2048-bit keys, far beyond any model
//! score.

use crypto_bigint::BoxedUint;

use super::{Ciphertext, PublicKey, SecretKey, ring::resize};
use crate::error::{Error, Result};

/// Fractional bits of an encoded real.
pub const FRACTION_BITS: u32 = 40;

/// An encrypted real: a ciphertext and the scale its plaintext is at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptedNumber {
    /// The ciphertext of round(x·2^scale) mod n.
    pub ciphertext: Ciphertext,
    /// The number of fractional bits.
    pub scale: u32,
}

/// round(x·2^scale) as an integer, if it fits in 126 bits.
fn fixed(x: f64, scale: u32) -> Result<i128> {
    let v = (x * 2f64.powi(scale as i32)).round();
    if !v.is_finite() || v.abs() >= 2f64.powi(126) {
        return Err(Error::out_of_range(
            "value",
            format!("{x} cannot be encoded with {scale} fractional bits"),
        ));
    }
    Ok(v as i128)
}

impl PublicKey {
    /// The plaintext of the signed integer v: v mod n.
    pub(crate) fn signed(&self, v: i128) -> BoxedUint {
        let magnitude = resize(&BoxedUint::from(v.unsigned_abs()), self.bits);
        if v < 0 {
            self.n.wrapping_sub(&magnitude)
        } else {
            magnitude
        }
    }

    /// Encrypts x at the default scale.
    pub fn encrypt_real(&self, x: f64) -> Result<EncryptedNumber> {
        Ok(EncryptedNumber {
            ciphertext: self.encrypt(&self.signed(fixed(x, FRACTION_BITS)?))?,
            scale: FRACTION_BITS,
        })
    }

    /// `a` at a larger scale: its plaintext times 2^(scale − a.scale).
    fn rescale(&self, a: &EncryptedNumber, scale: u32) -> Result<EncryptedNumber> {
        let up = scale - a.scale;
        if up >= 126 {
            return Err(Error::out_of_range(
                "value",
                format!("scales {} and {scale} are too far apart", a.scale),
            ));
        }
        Ok(EncryptedNumber {
            ciphertext: self.mul_plain(&a.ciphertext, 1i128 << up),
            scale,
        })
    }

    /// E(a + b).
    pub fn add_numbers(&self, a: &EncryptedNumber, b: &EncryptedNumber) -> Result<EncryptedNumber> {
        let scale = a.scale.max(b.scale);
        let (a, b) = (self.rescale(a, scale)?, self.rescale(b, scale)?);
        Ok(EncryptedNumber {
            ciphertext: self.add(&a.ciphertext, &b.ciphertext),
            scale,
        })
    }

    /// E(a + x) for a plaintext real x.
    pub fn add_real(&self, a: &EncryptedNumber, x: f64) -> Result<EncryptedNumber> {
        Ok(EncryptedNumber {
            ciphertext: self.add_plain(&a.ciphertext, &self.signed(fixed(x, a.scale)?))?,
            scale: a.scale,
        })
    }

    /// E(w·a) for a plaintext real w (encoded at [`FRACTION_BITS`]).
    pub fn mul_real(&self, a: &EncryptedNumber, w: f64) -> Result<EncryptedNumber> {
        Ok(EncryptedNumber {
            ciphertext: self.mul_plain(&a.ciphertext, fixed(w, FRACTION_BITS)?),
            scale: a.scale + FRACTION_BITS,
        })
    }
}

impl SecretKey {
    /// Decrypts an encrypted real.
    pub fn decrypt_real(&self, a: &EncryptedNumber) -> f64 {
        let n = &self.public.n;
        let m = self.decrypt(&a.ciphertext);
        let half = n.shr_vartime(1).expect("a shift by one bit");
        let (magnitude, negative) = if m.cmp_vartime(&half).is_gt() {
            (n.wrapping_sub(&m), true)
        } else {
            (m, false)
        };
        let value = magnitude
            .as_words()
            .iter()
            .rev()
            .fold(0.0, |acc, &w| acc * 2f64.powi(64) + w as f64);
        let value = value / 2f64.powi(a.scale as i32);
        if negative { -value } else { value }
    }
}
