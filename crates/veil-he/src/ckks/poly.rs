//! Polynomials of Z_Q\[X\]/(X^N + 1) in residue-number-system form: one vector of N residues
//! per prime of Q = q₀·q₁·…, which the chain's primes index. Kept in NTT form, where
//! products are coefficient-wise, except when coefficients are needed.

use super::params::Context;

/// A polynomial over the primes `primes` of the context's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RnsPoly {
    /// Indices into the context's chain, one per limb.
    pub primes: Vec<usize>,
    /// `limbs[k][i]`: coefficient (or evaluation) i modulo prime `primes[k]`.
    pub limbs: Vec<Vec<u64>>,
}

impl RnsPoly {
    /// The zero polynomial over `primes`.
    pub fn zero(ctx: &Context, primes: &[usize]) -> RnsPoly {
        RnsPoly {
            primes: primes.to_vec(),
            limbs: vec![vec![0; ctx.degree()]; primes.len()],
        }
    }

    /// The polynomial with small signed coefficients `coeffs`, over `primes`.
    pub fn from_signed(ctx: &Context, primes: &[usize], coeffs: &[i64]) -> RnsPoly {
        let wide: Vec<i128> = coeffs.iter().map(|&c| i128::from(c)).collect();
        RnsPoly::from_i128(ctx, primes, &wide)
    }

    /// The polynomial with integer coefficients `coeffs` (|c| < 2^127), over `primes`.
    pub fn from_i128(ctx: &Context, primes: &[usize], coeffs: &[i128]) -> RnsPoly {
        let limbs = primes
            .iter()
            .map(|&p| {
                let m = ctx.modulus(p);
                coeffs
                    .iter()
                    .map(|&c| {
                        let r = m.reduce_u128(c.unsigned_abs());
                        if c < 0 { m.neg(r) } else { r }
                    })
                    .collect()
            })
            .collect();
        RnsPoly {
            primes: primes.to_vec(),
            limbs,
        }
    }

    /// To NTT form, in place.
    pub fn ntt(&mut self, ctx: &Context) {
        for (limb, &p) in self.limbs.iter_mut().zip(&self.primes) {
            ctx.ntt(p).forward(limb);
        }
    }

    /// From NTT form, in place.
    pub fn intt(&mut self, ctx: &Context) {
        for (limb, &p) in self.limbs.iter_mut().zip(&self.primes) {
            ctx.ntt(p).inverse(limb);
        }
    }

    fn zip_with(
        &mut self,
        ctx: &Context,
        other: &RnsPoly,
        op: impl Fn(&super::math::modulus::Modulus, u64, u64) -> u64,
    ) {
        debug_assert_eq!(self.primes, other.primes);
        for ((limb, other), &p) in self.limbs.iter_mut().zip(&other.limbs).zip(&self.primes) {
            let m = ctx.modulus(p);
            limb.iter_mut()
                .zip(other)
                .for_each(|(a, b)| *a = op(m, *a, *b));
        }
    }

    /// self += other.
    pub fn add_assign(&mut self, ctx: &Context, other: &RnsPoly) {
        self.zip_with(ctx, other, |m, a, b| m.add(a, b));
    }

    /// self −= other.
    pub fn sub_assign(&mut self, ctx: &Context, other: &RnsPoly) {
        self.zip_with(ctx, other, |m, a, b| m.sub(a, b));
    }

    /// self ·= other, both in NTT form.
    pub fn mul_assign(&mut self, ctx: &Context, other: &RnsPoly) {
        self.zip_with(ctx, other, |m, a, b| m.mul(a, b));
    }

    /// x·y, both in NTT form, as a new polynomial.
    pub fn product(ctx: &Context, x: &RnsPoly, y: &RnsPoly) -> RnsPoly {
        debug_assert_eq!(x.primes, y.primes);
        RnsPoly {
            primes: x.primes.clone(),
            limbs: x
                .limbs
                .iter()
                .zip(&y.limbs)
                .zip(&x.primes)
                .map(|((a, b), &p)| {
                    let m = ctx.modulus(p);
                    a.iter().zip(b).map(|(&a, &b)| m.mul(a, b)).collect()
                })
                .collect(),
        }
    }

    /// x₀·y₀ + x₁·y₁, all in NTT form, with one reduction per coefficient (the sum of two
    /// products of residues below 2^62 fits in 128 bits).
    pub fn product_sum(ctx: &Context, [x0, y0]: [&RnsPoly; 2], [x1, y1]: [&RnsPoly; 2]) -> RnsPoly {
        debug_assert!(x0.primes == y0.primes && x0.primes == x1.primes && x1.primes == y1.primes);
        RnsPoly {
            primes: x0.primes.clone(),
            limbs: (0..x0.limbs.len())
                .map(|k| {
                    let m = ctx.modulus(x0.primes[k]);
                    let (a0, b0, a1, b1) = (&x0.limbs[k], &y0.limbs[k], &x1.limbs[k], &y1.limbs[k]);
                    (0..a0.len())
                        .map(|i| {
                            m.reduce_u128(
                                u128::from(a0[i]) * u128::from(b0[i])
                                    + u128::from(a1[i]) * u128::from(b1[i]),
                            )
                        })
                        .collect()
                })
                .collect(),
        }
    }

    /// −self.
    pub fn neg_assign(&mut self, ctx: &Context) {
        for (limb, &p) in self.limbs.iter_mut().zip(&self.primes) {
            let m = ctx.modulus(p);
            limb.iter_mut().for_each(|a| *a = m.neg(*a));
        }
    }

    /// The same polynomial over the first `count` of its primes.
    pub fn truncated(&self, count: usize) -> RnsPoly {
        RnsPoly {
            primes: self.primes[..count].to_vec(),
            limbs: self.limbs[..count].to_vec(),
        }
    }

    /// The coefficients (not NTT form) as reals: each lifted to (−Q/2, Q/2) exactly by
    /// Garner's mixed-radix conversion, then rounded to f64 (53 bits of relative precision).
    pub fn to_centered_f64(&self, ctx: &Context) -> Vec<f64> {
        let crt = Garner::new(ctx, &self.primes);
        let n = ctx.degree();
        let mut residues = vec![0u64; self.primes.len()];
        (0..n)
            .map(|i| {
                for (r, limb) in residues.iter_mut().zip(&self.limbs) {
                    *r = limb[i];
                }
                crt.centered(&residues)
            })
            .collect()
    }
}

/// Garner's algorithm for one set of primes: residues to mixed-radix digits
/// x = v₀ + v₁q₀ + v₂q₀q₁ + …, with word-size arithmetic only (D. Knuth, TAOCP vol. 2,
/// §4.3.2).
struct Garner {
    moduli: Vec<super::math::modulus::Modulus>,
    /// inv[i] = (q₀⋯q_{i−1})⁻¹ mod q_i.
    inv: Vec<u64>,
    /// The digits of (Q − 1)/2, to tell the upper half (negative numbers).
    half: Vec<u64>,
}

impl Garner {
    fn new(ctx: &Context, primes: &[usize]) -> Garner {
        let moduli: Vec<_> = primes.iter().map(|&p| *ctx.modulus(p)).collect();
        let inv = moduli
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let prefix = moduli[..i]
                    .iter()
                    .fold(1u64, |acc, q| m.mul(acc, m.reduce(q.value())));
                m.inv(prefix)
            })
            .collect();
        let mut garner = Garner {
            moduli,
            inv,
            half: Vec::new(),
        };
        // (Q − 1)/2 mod q_i = (q_i − 1)·2⁻¹ mod q_i, since Q ≡ 0.
        let half_residues: Vec<u64> = garner
            .moduli
            .iter()
            .map(|m| m.mul(m.value() - 1, m.inv(2)))
            .collect();
        garner.half = garner.digits(&half_residues);
        garner
    }

    fn digits(&self, residues: &[u64]) -> Vec<u64> {
        let mut digits: Vec<u64> = Vec::with_capacity(residues.len());
        for (i, (m, &x)) in self.moduli.iter().zip(residues).enumerate() {
            // (v₀ + v₁q₀ + … + v_{i−1}q₀⋯q_{i−2}) mod q_i, by Horner from the top digit.
            let mut partial = 0u64;
            for j in (0..i).rev() {
                partial = m.add(
                    m.mul(partial, m.reduce(self.moduli[j].value())),
                    m.reduce(digits[j]),
                );
            }
            digits.push(m.mul(m.sub(x, partial), self.inv[i]));
        }
        digits
    }

    fn value(&self, digits: &[u64]) -> f64 {
        digits
            .iter()
            .zip(&self.moduli)
            .rev()
            .fold(0.0, |acc, (&v, m)| acc * m.value() as f64 + v as f64)
    }

    /// The residues' integer in (−Q/2, Q/2], as an f64.
    fn centered(&self, residues: &[u64]) -> f64 {
        let digits = self.digits(residues);
        let upper = digits.iter().rev().cmp(self.half.iter().rev()) == std::cmp::Ordering::Greater;
        if upper {
            let negated: Vec<u64> = self
                .moduli
                .iter()
                .zip(residues)
                .map(|(m, &r)| m.neg(r))
                .collect();
            -self.value(&self.digits(&negated))
        } else {
            self.value(&digits)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::params::Parameters;
    use super::*;

    #[test]
    fn big_signed_coefficients_come_back_exactly_through_three_primes() {
        let ctx = Context::new(Parameters::n8192()).unwrap();
        let primes = [0, 1, 2];
        let mut coeffs = vec![0i128; 8192];
        let samples = [
            0i128,
            1,
            -1,
            (1 << 100) + 12345,
            -(1 << 120) - 7,
            (1 << 126) + 1,
            -(1 << 126),
        ];
        coeffs[..samples.len()].copy_from_slice(&samples);
        let mut p = RnsPoly::from_i128(&ctx, &primes, &coeffs);
        p.ntt(&ctx);
        p.intt(&ctx);
        let back = p.to_centered_f64(&ctx);
        for (got, want) in back.iter().zip(&samples) {
            assert_eq!(*got, *want as f64);
        }
    }
}
