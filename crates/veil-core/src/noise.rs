//! The randomness behind every noise draw.
//!
//! [`NoiseRng`] is ChaCha20 keyed from the operating system's CSPRNG. A user's `--seed` never
//! reaches it: noise that could be replayed from a seed would be no noise at all to whoever
//! knows the seed. Tests use [`NoiseRng::insecure_seeded`], whose name says what it is.

use rand::{Rng as _, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// A cryptographically secure generator for DP noise.
pub struct NoiseRng {
    chacha: ChaCha20Rng,
    /// Unused random bits, consumed from the low end, and how many are left.
    bits: u64,
    left: u32,
}

impl NoiseRng {
    fn new(chacha: ChaCha20Rng) -> NoiseRng {
        NoiseRng {
            chacha,
            bits: 0,
            left: 0,
        }
    }

    /// A generator keyed from the operating system.
    pub fn from_os() -> NoiseRng {
        NoiseRng::new(ChaCha20Rng::from_seed(crate::random::bytes::<32>()))
    }

    /// A generator that replays the same noise for the same seed: for tests and statistical
    /// checks only, never for a release. It exists only in this crate's tests and where the
    /// `insecure-test-rng` feature is on (other crates' tests and benchmarks, as a
    /// dev-dependency feature), so no release build can reach it.
    #[cfg(any(test, feature = "insecure-test-rng"))]
    pub fn insecure_seeded(seed: u64) -> NoiseRng {
        NoiseRng::new(ChaCha20Rng::seed_from_u64(seed))
    }

    /// One fair random bit (64 are drawn at a time).
    #[inline]
    pub fn bit(&mut self) -> bool {
        if self.left == 0 {
            self.bits = self.chacha.next_u64();
            self.left = 64;
        }
        let b = self.bits & 1 == 1;
        self.bits >>= 1;
        self.left -= 1;
        b
    }

    /// `k` fair random bits (k ≤ 64), as the low bits of a word.
    #[inline]
    pub fn bits(&mut self, k: u32) -> u64 {
        debug_assert!(k <= 64);
        if k == 0 {
            return 0;
        }
        let mask = u64::MAX >> (64 - k);
        if k <= self.left {
            let out = self.bits & mask;
            self.bits = self.bits.checked_shr(k).unwrap_or(0);
            self.left -= k;
            return out;
        }
        // The buffer's `left` bits, then the rest from a fresh word.
        let fresh = self.chacha.next_u64();
        let have = self.left;
        let out = (self.bits | fresh.checked_shl(have).unwrap_or(0)) & mask;
        let used = k - have;
        self.bits = fresh.checked_shr(used).unwrap_or(0);
        self.left = 64 - used;
        out
    }

    /// 64 fair random bits.
    #[inline]
    pub fn word(&mut self) -> u64 {
        self.chacha.next_u64()
    }

    /// A uniform integer in `0..n` (`n > 0`), without bias.
    pub fn below(&mut self, n: u128) -> u128 {
        debug_assert!(n > 0);
        if n <= u128::from(u64::MAX) {
            u128::from(self.chacha.random_range(0..n as u64))
        } else {
            self.chacha.random_range(0..n)
        }
    }

    /// A fair coin.
    pub fn coin(&mut self) -> bool {
        self.bit()
    }

    /// A uniform `f64` in `[0, 1)`, for sampling decisions that are not noise (for example
    /// Poisson subsampling, whose rate the accountant assumes exactly only up to 2^-53).
    pub fn unit(&mut self) -> f64 {
        self.chacha.random::<f64>()
    }

    /// Another independent generator (for parallel sampling), keyed from this one.
    pub fn fork(&mut self) -> NoiseRng {
        let mut seed = [0u8; 32];
        self.chacha.fill_bytes(&mut seed);
        NoiseRng::new(ChaCha20Rng::from_seed(seed))
    }
}
