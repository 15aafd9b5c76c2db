//! Distributed differential privacy: each client noises its own update, so that the sum the
//! coordinator unmasks is differentially private at the client level, and no party ever
//! holds an un-noised aggregate.
//!
//! The distributed discrete Gaussian mechanism (DDGauss) of Kairouz, Liu and Steinke, "The
//! Distributed Discrete Gaussian Mechanism for Federated Learning with Secure Aggregation",
//! ICML 2021 (arXiv 2102.06387), as its reference code (google-research/federated,
//! `distributed_dp`) runs it. A client:
//!
//! 1. clips its update to L2 norm c;
//! 2. flattens it: zero-pads to d, a power of two, flips signs by a Rademacher vector and
//!    applies the normalised Walsh–Hadamard transform (an orthogonal map, so norms are
//!    kept, that spreads the mass over all coordinates; the signs come from the round's
//!    public session id);
//! 3. scales by 1/γ and rounds each coordinate stochastically to an integer, drawing again
//!    until the rounded vector's norm is at most Δ₂/γ (conditional randomised rounding), with
//!    Δ₂² = min{(c + γ√d)², c² + γ²d/4 + √(2 ln(1/β))·γ·(c + γ√d/2)}, β = e^(−1/2);
//! 4. adds exact discrete Gaussian noise N_Z(0, σ²/γ²) to each coordinate (veil-dp's
//!    sampler) and reduces mod 2^32, the ring secure aggregation sums in.
//!
//! The coordinator centres the unmasked sum, multiplies by γ, undoes the rotation and
//! divides by the number of clients in it.
//!
//! **Accounting** (the paper's Theorem 1 in Rényi form, as `compute_rdp_dgaussian` in the
//! reference code). The sum of n clients' noise is close to N_Z(0, nσ²/γ²); one round is
//! (α, ε(α))-RDP for every order α with, in integer units (sensitivity Δ = Δ₂/γ, noise
//! s = σ/γ), x = Δ/(√n·s) and τ = 10·Σ_{k=1}^{n−1} e^{−2π²s²·k/(k+1)}:
//!
//! ε(α) = min{ α/2·x² + τd,  α/2·(x + τ√d)² }.
//!
//! n is the round's threshold t, the fewest clients whose noise can be in a sum the
//! coordinator unmasks (a round with fewer aborts and reveals nothing). Rounds compose by
//! adding RDP curves; no amplification from client selection is claimed. The curve is
//! turned into (ε, δ) by veil-dp's conversion (Balle et al. 2020, Proposition 12), and σ is
//! the smallest (bisection) that meets the target over all rounds.
//!
//! γ is chosen (the reference code's `heuristic_scale_factor`, §4.2) so that the sum of n
//! clients stays within ±2^31 with four standard deviations to spare:
//! 1/γ = √(2^64 − n·k²) / (2k·√(c²n²/d + nσ²)), k = 4. γ does not affect privacy (Δ₂ is
//! computed for it); a sum that wraps anyway only loses accuracy.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use veil_core::fixed::round_stochastic;
use veil_core::noise::NoiseRng;
use veil_core::sample::DiscreteGaussianTable;
use veil_dp::accountant::rdp;

use crate::error::{Error, ProtocolViolation, Result};
use crate::secagg::Session;

/// β of the conditional rounding: the chance that one rounding exceeds the bound.
const BETA_LN_INV: f64 = 0.5;
/// Standard deviations of the sum that must fit in the ring.
const K_STDDEVS: f64 = 4.0;
/// Draws allowed before conditional rounding gives up (each fails with probability < 0.61).
const ROUNDING_ATTEMPTS: usize = 200;
/// The noise's σ/γ is kept below this, so that σ² is an exact ratio veil-dp can sample.
const MAX_NOISE_UNITS: f64 = (1u64 << 24) as f64;

/// What the coordinator is asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DpTarget {
    /// ε over the whole run.
    pub epsilon: f64,
    /// δ over the whole run.
    pub delta: f64,
    /// c, the L2 norm each client's update is clipped to.
    pub clip: f64,
}

/// Which of a run's distributed-DP contributions a client is asked for
/// ([`crate::contributions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    /// The run's id (hex), the same across coordinator restarts.
    pub run: String,
    /// This contribution's number, 1..=rounds.
    pub number: usize,
    /// The contributions the run may ask for: its planned rounds.
    pub rounds: usize,
}

/// The mechanism's parameters for a run, the same for every client (kept in the
/// coordinator's `state.json`, so that a resumed run goes on with the very same noise).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ddp {
    /// c, the clipping norm.
    pub clip: f64,
    /// d, the padded dimension (a power of two).
    pub padded: usize,
    /// γ, the rounding granularity.
    pub gamma: f64,
    /// The variance of each client's noise in integer units, (σ/γ)² = num/den exactly.
    pub noise_units2: (u64, u64),
    /// Δ₂, the L2 sensitivity after rounding (original units).
    pub l2_bound: f64,
}

impl Ddp {
    /// σ, each client's noise standard deviation in the update's units.
    pub fn sigma(&self) -> f64 {
        self.gamma * (self.noise_units2.0 as f64 / self.noise_units2.1 as f64).sqrt()
    }

    /// Calibrates the mechanism for `rounds` rounds of sums of `dims`-long updates, over
    /// rounds of at most `clients` clients of which at least `threshold` survive; with the
    /// ε the run spends at the target's δ (at most the target).
    pub fn calibrate(
        target: &DpTarget,
        rounds: usize,
        dims: usize,
        clients: usize,
        threshold: usize,
    ) -> Result<(Ddp, f64)> {
        let bad = |why: String| Error::InvalidParameter {
            name: "distributed DP",
            why,
        };
        if !(target.epsilon.is_finite() && target.epsilon > 0.0) {
            return Err(bad(format!("ε = {} must be positive", target.epsilon)));
        }
        if !(target.delta > 0.0 && target.delta < 1.0) {
            return Err(bad(format!("δ = {} must be in (0, 1)", target.delta)));
        }
        if !(target.clip.is_finite() && target.clip > 0.0) {
            return Err(bad(format!("the clip {} must be positive", target.clip)));
        }
        if rounds == 0 || dims == 0 || threshold < 2 || clients < threshold {
            return Err(bad(format!(
                "{rounds} rounds of {dims} values over {clients} clients with threshold {threshold}"
            )));
        }
        let d = dims.next_power_of_two();
        let c = target.clip;
        // σ for a sensitivity, then γ for that σ, then the sensitivity γ gives: a few
        // passes settle all three; the last σ is calibrated to the last Δ₂ exactly.
        let mut l2_bound = c;
        let mut gamma = f64::NAN;
        for _ in 0..4 {
            let sigma = calibrate_sigma(target, rounds, d, threshold, l2_bound, |s| {
                gamma_for(c, d, clients, s)
            })?;
            gamma = gamma_for(c, d, clients, sigma);
            l2_bound = rounded_l2_bound(c, gamma, d);
        }
        let sigma = calibrate_sigma(target, rounds, d, threshold, l2_bound, |_| gamma)?;
        let units2 = (sigma / gamma).powi(2);
        // σ²/γ² as num/den with den a power of two, rounded up (more noise, never less).
        let den = 2f64.powi((52.0 - units2.log2().ceil()).clamp(0.0, 52.0) as i32);
        let num = (units2 * den).ceil();
        let noise_units2 = (num as u64, den as u64);
        let ddp = Ddp {
            clip: c,
            padded: d,
            gamma,
            noise_units2,
            l2_bound,
        };
        let epsilon = ddp.epsilon_after(target.delta, rounds, threshold)?;
        Ok((ddp, epsilon))
    }

    /// ε at `delta` once `rounds` sums of at least `threshold` clients' contributions have
    /// been unmasked: the composition of that many rounds of this mechanism (0 for none).
    pub fn epsilon_after(&self, delta: f64, rounds: usize, threshold: usize) -> Result<f64> {
        if rounds == 0 {
            return Ok(0.0);
        }
        epsilon_of(
            delta,
            rounds,
            self.padded,
            threshold,
            self.l2_bound / self.gamma,
            (self.noise_units2.0 as f64 / self.noise_units2.1 as f64).sqrt(),
        )
    }

    /// Checks parameters that came from the coordinator.
    pub fn check(&self) -> Result<()> {
        let ok = self.clip.is_finite()
            && self.clip > 0.0
            && self.padded.is_power_of_two()
            && self.gamma.is_finite()
            && self.gamma > 0.0
            && self.l2_bound.is_finite()
            && self.l2_bound >= self.clip
            && veil_core::sample::check_sigma2(
                u128::from(self.noise_units2.0),
                u128::from(self.noise_units2.1),
            )
            .is_ok();
        if ok {
            Ok(())
        } else {
            Err(Error::Protocol(ProtocolViolation::BadDpPlan))
        }
    }

    /// A client's contribution: `update` clipped, flattened, rounded, noised and reduced
    /// mod 2^32.
    pub fn encode(
        &self,
        update: &[f64],
        session: &Session,
        noise: &mut NoiseRng,
    ) -> Result<Vec<u32>> {
        if update.len() > self.padded || update.iter().any(|v| !v.is_finite()) {
            return Err(Error::InvalidParameter {
                name: "update",
                why: format!(
                    "{} values (at most {}), all finite, were expected",
                    update.len(),
                    self.padded
                ),
            });
        }
        let norm = update.iter().map(|v| v * v).sum::<f64>().sqrt();
        let shrink = if norm > self.clip {
            self.clip / norm
        } else {
            1.0
        };
        let mut x = vec![0.0; self.padded];
        x.iter_mut()
            .zip(update)
            .for_each(|(x, v)| *x = v * shrink / self.gamma);
        rotate(&mut x, session);
        let bound2 = (self.l2_bound / self.gamma).powi(2) * (1.0 + 1e-9);
        let mut rounded = vec![0i64; self.padded];
        let mut fits = false;
        for _ in 0..ROUNDING_ATTEMPTS {
            let mut norm2 = 0.0;
            for (r, v) in rounded.iter_mut().zip(&x) {
                *r = round_stochastic(*v, noise);
                norm2 += (*r as f64).powi(2);
            }
            if norm2 <= bound2 {
                fits = true;
                break;
            }
        }
        if !fits {
            return Err(Error::InvalidParameter {
                name: "distributed DP",
                why: "conditional rounding failed; the granularity is too coarse for the clip"
                    .into(),
            });
        }
        let table = DiscreteGaussianTable::new(
            u128::from(self.noise_units2.0),
            u128::from(self.noise_units2.1),
        )?;
        Ok(rounded
            .iter()
            .map(|&r| (i128::from(r) + table.sample(noise)) as u32)
            .collect())
    }

    /// The mean of the `clients` updates summed in `sum`.
    pub fn decode_mean(
        &self,
        sum: &[u32],
        session: &Session,
        dims: usize,
        clients: usize,
    ) -> Vec<f64> {
        let mut x: Vec<f64> = sum
            .iter()
            .map(|&v| f64::from(v as i32) * self.gamma)
            .collect();
        unrotate(&mut x, session);
        x.truncate(dims);
        x.iter_mut().for_each(|v| *v /= clients.max(1) as f64);
        x
    }
}

/// Δ₂ after conditional rounding at granularity γ (the reference code's
/// `compute_l2_sensitivy_squared`).
fn rounded_l2_bound(c: f64, gamma: f64, d: usize) -> f64 {
    let d = d as f64;
    let plain = (c + gamma * d.sqrt()).powi(2);
    let conditional = c * c
        + gamma * gamma * d / 4.0
        + (2.0 * BETA_LN_INV).sqrt() * gamma * (c + gamma * d.sqrt() / 2.0);
    plain.min(conditional).sqrt()
}

/// γ such that the sum of n clients fits in ±2^31 with k standard deviations to spare, for
/// per-client noise σ; at least σ/2^24.
fn gamma_for(c: f64, d: usize, n: usize, sigma: f64) -> f64 {
    let n = n as f64;
    let room = (2f64.powi(64) - n * K_STDDEVS * K_STDDEVS).sqrt();
    let spread = 2.0 * K_STDDEVS * (c * c * n * n / d as f64 + n * sigma * sigma).sqrt();
    (spread / room).max(sigma / MAX_NOISE_UNITS)
}

/// ε at δ after `rounds` rounds, for sensitivity `delta2` and per-client noise `s` (both in
/// integer units) summed over n clients, in dimension d.
fn epsilon_of(delta: f64, rounds: usize, d: usize, n: usize, delta2: f64, s: f64) -> Result<f64> {
    let tau: f64 = 10.0
        * (1..n)
            .map(|k| {
                (-2.0 * std::f64::consts::PI.powi(2) * s * s * k as f64 / (k + 1) as f64).exp()
            })
            .sum::<f64>();
    let x = delta2 / ((n as f64).sqrt() * s);
    let d = d as f64;
    let orders = rdp::default_orders();
    let curve: Vec<f64> = orders
        .iter()
        .map(|&a| {
            let one = (a / 2.0 * x * x + tau * d).min(a / 2.0 * (x + tau * d.sqrt()).powi(2));
            one * rounds as f64
        })
        .collect();
    Ok(rdp::epsilon(&orders, &curve, delta)?.0)
}

/// The smallest σ (in the update's units, to 10⁻⁶ relative) whose ε over the run is at
/// most the target, for sensitivity `l2_bound` and γ as a function of σ.
fn calibrate_sigma(
    target: &DpTarget,
    rounds: usize,
    d: usize,
    n: usize,
    l2_bound: f64,
    gamma: impl Fn(f64) -> f64,
) -> Result<f64> {
    let eps = |sigma: f64| {
        let g = gamma(sigma);
        epsilon_of(target.delta, rounds, d, n, l2_bound / g, sigma / g)
    };
    let (mut lo, mut hi) = (1e-6 * l2_bound, l2_bound);
    while eps(hi)? > target.epsilon {
        lo = hi;
        hi *= 2.0;
        if hi > 1e12 * l2_bound {
            return Err(Error::InvalidParameter {
                name: "distributed DP",
                why: format!("no noise level reaches ε = {}", target.epsilon),
            });
        }
    }
    while hi / lo > 1.0 + 1e-6 {
        let mid = (lo * hi).sqrt();
        if eps(mid)? > target.epsilon {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(hi)
}

/// The round's Rademacher signs, from its public session id.
fn signs(session: &Session, d: usize) -> Vec<f64> {
    let seed: [u8; 32] = Sha256::new()
        .chain_update(b"veil ddp v1 rotation")
        .chain_update(session.0)
        .finalize()
        .into();
    let mut rng = ChaCha20Rng::from_seed(seed);
    (0..d)
        .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
        .collect()
}

/// The normalised Walsh–Hadamard transform, in place (its own inverse).
fn hadamard(x: &mut [f64]) {
    let n = x.len();
    let mut h = 1;
    while h < n {
        for block in x.chunks_mut(2 * h) {
            let (a, b) = block.split_at_mut(h);
            for (u, v) in a.iter_mut().zip(b.iter_mut()) {
                (*u, *v) = (*u + *v, *u - *v);
            }
        }
        h *= 2;
    }
    let norm = 1.0 / (n as f64).sqrt();
    x.iter_mut().for_each(|v| *v *= norm);
}

/// x ← H·D·x.
fn rotate(x: &mut [f64], session: &Session) {
    let signs = signs(session, x.len());
    x.iter_mut().zip(signs).for_each(|(v, s)| *v *= s);
    hadamard(x);
}

/// x ← D·H·x, the inverse of [`rotate`].
fn unrotate(x: &mut [f64], session: &Session) {
    hadamard(x);
    let signs = signs(session, x.len());
    x.iter_mut().zip(signs).for_each(|(v, s)| *v *= s);
}

#[cfg(test)]
mod tests {
    use veil_dp::accountant::SubsampledGaussian;

    use super::*;

    #[test]
    fn the_rotation_keeps_norms_and_inverts() {
        let session = Session([7; 32]);
        let x: Vec<f64> = (0..64).map(|i| (i as f64 * 0.7).sin()).collect();
        let mut y = x.clone();
        rotate(&mut y, &session);
        let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
        assert!((norm(&x) - norm(&y)).abs() < 1e-12);
        assert!(x.iter().zip(&y).any(|(a, b)| (a - b).abs() > 0.1));
        unrotate(&mut y, &session);
        assert!(x.iter().zip(&y).all(|(a, b)| (a - b).abs() < 1e-12));
        // A spike is spread flat: every coordinate ±1/8.
        let mut spike = vec![0.0; 64];
        spike[5] = 1.0;
        rotate(&mut spike, &session);
        assert!(spike.iter().all(|v| (v.abs() - 0.125).abs() < 1e-12));
    }

    #[test]
    fn with_little_noise_the_accounting_is_the_gaussian_mechanisms() {
        // When σ/γ is large, τ vanishes and one round is the Gaussian mechanism with noise
        // multiplier √n·σ/Δ₂: T rounds give what veil-dp's accountant gives for T
        // unsubsampled Gaussian steps.
        let (n, rounds, z) = (10, 20, 3.0);
        let s = 1000.0;
        let delta2 = (n as f64).sqrt() * s / z;
        let ours = epsilon_of(1e-5, rounds, 1024, n, delta2, s).unwrap();
        let gaussian = SubsampledGaussian {
            sampling_rate: 1.0,
            noise_multiplier: z,
            steps: rounds as u64,
        }
        .epsilon(1e-5)
        .unwrap();
        assert!(
            (ours - gaussian).abs() < 1e-9 * gaussian,
            "{ours} vs {gaussian}"
        );
    }

    #[test]
    fn calibration_meets_the_target_and_no_less_noise_would() {
        let target = DpTarget {
            epsilon: 2.0,
            delta: 1e-5,
            clip: 1.0,
        };
        let (ddp, epsilon) = Ddp::calibrate(&target, 20, 31, 5, 4).unwrap();
        assert!(epsilon <= 2.0 && epsilon > 1.99, "{epsilon} {ddp:?}");
        assert_eq!(ddp.padded, 32);
        let less = epsilon_of(
            1e-5,
            20,
            32,
            4,
            ddp.l2_bound / ddp.gamma,
            0.999 * ddp.sigma() / ddp.gamma,
        )
        .unwrap();
        assert!(less > 2.0);
        assert!(
            Ddp::calibrate(
                &DpTarget {
                    epsilon: 0.0,
                    ..target
                },
                20,
                31,
                5,
                4
            )
            .is_err()
        );
    }

    #[test]
    fn an_encoding_draws_all_its_randomness_from_the_generator_it_is_given() {
        // Rounding and noise alike: the same seeded generator gives the same encoding.
        let target = DpTarget {
            epsilon: 4.0,
            delta: 1e-5,
            clip: 1.0,
        };
        let (ddp, _) = Ddp::calibrate(&target, 10, 50, 5, 4).unwrap();
        let update: Vec<f64> = (0..50).map(|j| (j as f64 * 0.7).sin() * 0.1).collect();
        let session = Session([3; 32]);
        let encode = |seed| {
            ddp.encode(&update, &session, &mut NoiseRng::insecure_seeded(seed))
                .unwrap()
        };
        assert_eq!(encode(1), encode(1));
        assert_ne!(encode(1), encode(2));
    }

    #[test]
    fn the_decoded_mean_is_the_clipped_mean_plus_noise_of_the_calibrated_spread() {
        // 5 clients, 200 values each; client i's update has norm > c and is clipped. The
        // error of the decoded mean has the spread √(nσ²)/n in every coordinate (within
        // 15% over 200 × 40 draws) and no bias (mean within 5 standard errors).
        let target = DpTarget {
            epsilon: 4.0,
            delta: 1e-5,
            clip: 1.0,
        };
        let (n, dims) = (5, 200);
        let (ddp, _) = Ddp::calibrate(&target, 10, dims, n, 4).unwrap();
        let updates: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..dims)
                    .map(|j| ((i * dims + j) as f64).cos() * 0.3)
                    .collect()
            })
            .collect();
        let clipped: Vec<Vec<f64>> = updates
            .iter()
            .map(|u| {
                let norm = u.iter().map(|v| v * v).sum::<f64>().sqrt();
                u.iter().map(|v| v * (1.0f64).min(1.0 / norm)).collect()
            })
            .collect();
        let mut noise = NoiseRng::insecure_seeded(9);
        let (mut errors, mut sum_e) = (Vec::new(), 0.0);
        for trial in 0..40 {
            let session = Session([trial as u8; 32]);
            let mut sum = vec![0u32; ddp.padded];
            for u in &updates {
                let e = ddp.encode(u, &session, &mut noise).unwrap();
                sum.iter_mut()
                    .zip(e)
                    .for_each(|(s, v)| *s = s.wrapping_add(v));
            }
            let mean = ddp.decode_mean(&sum, &session, dims, n);
            for j in 0..dims {
                let want: f64 = clipped.iter().map(|c| c[j]).sum::<f64>() / n as f64;
                errors.push(mean[j] - want);
                sum_e += mean[j] - want;
            }
        }
        let m = errors.len() as f64;
        let sd = (errors.iter().map(|e| e * e).sum::<f64>() / m).sqrt();
        let want_sd = (n as f64).sqrt() * ddp.sigma() / n as f64;
        assert!((sd / want_sd - 1.0).abs() < 0.15, "{sd} vs {want_sd}");
        assert!((sum_e / m).abs() < 5.0 * want_sd / m.sqrt());
    }
}
