//! Arithmetic modulo one word-sized prime q < 2^62 of the RNS chain.
//!
//! Products are reduced with Barrett's method on 128-bit values: with r = ⌊2^128/q⌋
//! precomputed, ⌊x·r/2^128⌋ underestimates ⌊x/q⌋ by at most 2, so x − that·q needs at most
//! two corrections (the method of SEAL's `barrett_reduce_128`; P. Barrett, CRYPTO '86). A
//! product with a fixed operand w uses Shoup's precomputed w' = ⌊w·2^64/q⌋ (V. Shoup, NTL;
//! D. Harvey, "Faster arithmetic for number-theoretic transforms", 2014, §2), one high and
//! two low multiplications. Every function returns a value in [0, q), and conditional
//! corrections are branch-free (`min(x, x − q)`, where the subtraction wraps when x < q).

/// A modulus with its reduction constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modulus {
    q: u64,
    /// ⌊2^128/q⌋ as (low word, high word).
    ratio: (u64, u64),
    /// ⌊2^64/q⌋, for reducing single words.
    ratio64: u64,
}

/// A fixed multiplier w with Shoup's w' = ⌊w·2^64/q⌋.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shoup {
    /// w < q.
    pub w: u64,
    /// w'.
    pub w_shoup: u64,
}

impl Modulus {
    /// The modulus q, which must be odd, above 1 and below 2^62.
    pub fn new(q: u64) -> Modulus {
        assert!(
            q > 1 && q < 1 << 62 && q % 2 == 1,
            "q = {q} is not an odd modulus below 2^62"
        );
        // ⌊2^128/q⌋ = ⌊(2^128 − 1)/q⌋ for q not a power of two.
        let ratio = u128::MAX / u128::from(q);
        Modulus {
            q,
            ratio: (ratio as u64, (ratio >> 64) as u64),
            ratio64: ((1u128 << 64) / u128::from(q)) as u64,
        }
    }

    /// q.
    #[inline]
    pub fn value(&self) -> u64 {
        self.q
    }

    /// x mod q for any x < 2^128.
    #[inline]
    pub fn reduce_u128(&self, x: u128) -> u64 {
        let (x_lo, x_hi) = (x as u64, (x >> 64) as u64);
        let (r_lo, r_hi) = self.ratio;
        // ⌊x·r / 2^128⌋, from the four partial products of (x_hi, x_lo)·(r_hi, r_lo).
        let lo_lo_hi = ((u128::from(x_lo) * u128::from(r_lo)) >> 64) as u64;
        let lo_hi = u128::from(x_lo) * u128::from(r_hi) + u128::from(lo_lo_hi);
        let hi_lo = u128::from(x_hi) * u128::from(r_lo) + u128::from(lo_hi as u64);
        let quotient = u128::from(x_hi) * u128::from(r_hi) + (lo_hi >> 64) + (hi_lo >> 64);
        let mut r = x.wrapping_sub(quotient.wrapping_mul(u128::from(self.q))) as u64;
        while r >= self.q {
            r -= self.q;
        }
        r
    }

    /// x mod q for a word x (Barrett with one word: the estimate ⌊x·⌊2^64/q⌋/2^64⌋ falls
    /// short of ⌊x/q⌋ by at most 2, so two conditional subtractions finish it).
    #[inline]
    pub fn reduce(&self, x: u64) -> u64 {
        let estimate = ((u128::from(x) * u128::from(self.ratio64)) >> 64) as u64;
        let r = x - estimate * self.q;
        let r = r.min(r.wrapping_sub(self.q));
        r.min(r.wrapping_sub(self.q))
    }

    /// a·b mod q, for a, b < q.
    #[inline]
    pub fn mul(&self, a: u64, b: u64) -> u64 {
        self.reduce_u128(u128::from(a) * u128::from(b))
    }

    /// a + b mod q, for a, b < q.
    #[inline]
    pub fn add(&self, a: u64, b: u64) -> u64 {
        let s = a + b;
        s.min(s.wrapping_sub(self.q))
    }

    /// a − b mod q, for a, b < q.
    #[inline]
    pub fn sub(&self, a: u64, b: u64) -> u64 {
        let d = a.wrapping_sub(b);
        d.min(d.wrapping_add(self.q))
    }

    /// −a mod q, for a < q.
    #[inline]
    pub fn neg(&self, a: u64) -> u64 {
        if a == 0 { 0 } else { self.q - a }
    }

    /// w with its Shoup constant, for w < q.
    pub fn shoup(&self, w: u64) -> Shoup {
        Shoup {
            w,
            w_shoup: ((u128::from(w) << 64) / u128::from(self.q)) as u64,
        }
    }

    /// a·w mod q, for a < 2^64 and a prepared w.
    #[inline]
    pub fn mul_shoup(&self, a: u64, w: Shoup) -> u64 {
        let r = self.mul_shoup_lazy(a, w);
        r.min(r.wrapping_sub(self.q))
    }

    /// a·w mod q, in [0, 2q).
    #[inline]
    pub fn mul_shoup_lazy(&self, a: u64, w: Shoup) -> u64 {
        let quotient = ((u128::from(a) * u128::from(w.w_shoup)) >> 64) as u64;
        a.wrapping_mul(w.w)
            .wrapping_sub(quotient.wrapping_mul(self.q))
    }

    /// base^exp mod q.
    pub fn pow(&self, base: u64, mut exp: u64) -> u64 {
        let (mut result, mut base) = (1 % self.q, self.reduce(base));
        while exp > 0 {
            if exp & 1 == 1 {
                result = self.mul(result, base);
            }
            base = self.mul(base, base);
            exp >>= 1;
        }
        result
    }

    /// a⁻¹ mod q (q prime), for a ≠ 0 mod q.
    pub fn inv(&self, a: u64) -> u64 {
        self.pow(a, self.q - 2)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Odd moduli of 60, 61, 40 and 17 bits.
    const PRIMES: [u64; 4] = [
        0x0fff_ffff_ffc0_0001,
        (1 << 61) - 1,
        1_099_511_480_321,
        65_537,
    ];

    proptest! {
        #[test]
        fn barrett_and_shoup_agree_with_division(a in any::<u64>(), b in any::<u64>(), which in 0usize..4) {
            let m = Modulus::new(PRIMES[which]);
            let q = m.value();
            let (a, b) = (a % q, b % q);
            let want = ((u128::from(a) * u128::from(b)) % u128::from(q)) as u64;
            prop_assert_eq!(m.mul(a, b), want);
            prop_assert_eq!(m.mul_shoup(a, m.shoup(b)), want);
            let wide = (u128::from(a) << 64) | u128::from(b);
            prop_assert_eq!(m.reduce_u128(wide), (wide % u128::from(q)) as u64);
            prop_assert_eq!(m.reduce_u128(u128::MAX), (u128::MAX % u128::from(q)) as u64);
            let word = (a << 3) ^ b.rotate_left(17) ^ (1 << 63);
            prop_assert_eq!(m.reduce(word), word % q);
            prop_assert_eq!(m.reduce(u64::MAX), u64::MAX % q);
            prop_assert_eq!(m.add(a, b), ((u128::from(a) + u128::from(b)) % u128::from(q)) as u64);
            prop_assert_eq!(m.add(m.sub(a, b), b), a);
            prop_assert_eq!(m.add(m.neg(a), a), 0);
        }
    }

    #[test]
    fn inverses_and_powers() {
        let m = Modulus::new((1 << 61) - 1);
        for a in [1u64, 2, 3, 12345, (1 << 61) - 2] {
            assert_eq!(m.mul(a, m.inv(a)), 1);
        }
        assert_eq!(m.pow(3, 0), 1);
        assert_eq!(m.pow(2, 61), 1);
    }
}
