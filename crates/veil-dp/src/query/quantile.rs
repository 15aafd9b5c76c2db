//! Differentially private quantiles from a noisy hierarchical histogram.
//!
//! The bounded range [lo, hi] is cut into 16^4 = 65,536 equal leaves, grouped into a tree
//! of branching 16 and depth 4. Every node holds the count of values under it plus discrete
//! Laplace noise; one row changes one node per level, so a privacy unit of k rows moves the
//! tree's counts by at most 4k in L1, and noise of scale 4k/ε makes the whole tree ε-DP.
//! A quantile is read by walking from the root to the child whose noisy cumulative count
//! crosses the wanted rank, and interpolating inside the leaf. This is the quantile tree of
//! Google's differential-privacy library (Wilson et al., "Differentially private SQL with
//! bounded user contribution", PETS 2020, and the library's `QuantileTree`); all quantiles
//! of one column share one tree.
//!
//! Noise is drawn for a node the first time the walk needs it and then kept, which releases
//! exactly what noising every node up front would. The 95% interval is approximate: a
//! parametric bootstrap that re-walks the tree 200 times with fresh noise of the same scale
//! added to the released counts (post-processing, so it costs no privacy).

use std::collections::HashMap;

use crate::error::Result;
use crate::mechanism::DiscreteLaplace;
use veil_core::noise::NoiseRng;

/// Children per node.
pub(crate) const BRANCHING: u32 = 16;
/// Levels below the root.
pub(crate) const LEVELS: u32 = 4;
const LEAVES: u32 = BRANCHING.pow(LEVELS);
const BOOTSTRAP: usize = 200;

/// The leaf of `x` (already clamped to [lo, hi]).
pub(crate) fn leaf(x: f64, lo: f64, hi: f64) -> u32 {
    let i = ((x - lo) / (hi - lo) * f64::from(LEAVES)).floor();
    (i.max(0.0) as u32).min(LEAVES - 1)
}

/// One group's values of one column, as sorted leaves, with the noise drawn so far.
#[derive(Debug)]
pub(crate) struct NoisyTree {
    leaves: Vec<u32>,
    lo: f64,
    hi: f64,
    noise: DiscreteLaplace,
    released: HashMap<(u32, u32), i64>,
}

impl NoisyTree {
    /// A tree over `leaves` for ε-DP when a unit contributes at most `k` rows.
    pub(crate) fn new(
        mut leaves: Vec<u32>,
        lo: f64,
        hi: f64,
        k: u64,
        epsilon: f64,
    ) -> Result<NoisyTree> {
        leaves.sort_unstable();
        Ok(NoisyTree {
            leaves,
            lo,
            hi,
            noise: DiscreteLaplace::new(k * u64::from(LEVELS), epsilon)?,
            released: HashMap::new(),
        })
    }

    /// The noisy count of node `idx` at `level` (1 = the root's children).
    fn count(&mut self, level: u32, idx: u32, rng: &mut NoiseRng) -> i64 {
        if let Some(&c) = self.released.get(&(level, idx)) {
            return c;
        }
        let width = BRANCHING.pow(LEVELS - level);
        let (first, end) = (idx * width, (idx + 1) * width);
        let exact =
            self.leaves.partition_point(|&l| l < end) - self.leaves.partition_point(|&l| l < first);
        let noisy = self.noise.release(exact as i64, rng);
        self.released.insert((level, idx), noisy);
        noisy
    }

    /// The p-quantile and its approximate 95% interval.
    pub(crate) fn quantile(&mut self, p: f64, rng: &mut NoiseRng) -> (f64, (f64, f64)) {
        let value = self.walk(
            p,
            &mut |tree, level, idx, rng| tree.count(level, idx, rng).max(0) as f64,
            rng,
        );
        let mut boot: Vec<f64> = (0..BOOTSTRAP)
            .map(|_| {
                self.walk(
                    p,
                    &mut |tree, level, idx, rng| {
                        let released = tree.count(level, idx, rng);
                        tree.noise.release(released, rng).max(0) as f64
                    },
                    rng,
                )
            })
            .collect();
        boot.sort_by(f64::total_cmp);
        let at = |q: f64| boot[((q * (BOOTSTRAP - 1) as f64).round() as usize).min(BOOTSTRAP - 1)];
        let leaf_width = (self.hi - self.lo) / f64::from(LEAVES);
        let (lo, hi) = (at(0.025).min(value), at(0.975).max(value));
        (
            value,
            (
                (lo - leaf_width).max(self.lo),
                (hi + leaf_width).min(self.hi),
            ),
        )
    }

    /// Walks from the root towards rank p·(total), reading counts through `count`.
    fn walk(
        &mut self,
        p: f64,
        count: &mut dyn FnMut(&mut NoisyTree, u32, u32, &mut NoiseRng) -> f64,
        rng: &mut NoiseRng,
    ) -> f64 {
        let (mut node, mut frac) = (0u32, p);
        for level in 1..=LEVELS {
            let children: Vec<f64> = (0..BRANCHING)
                .map(|j| count(self, level, node * BRANCHING + j, rng))
                .collect();
            let total: f64 = children.iter().sum();
            if total <= 0.0 {
                // No signal below this node: spread the rank evenly over its range.
                let width = f64::from(BRANCHING.pow(LEVELS - level + 1));
                let start = f64::from(node) * width;
                return self.at_leaf_position(start + frac * width);
            }
            let target = frac * total;
            let mut before = 0.0;
            let mut chosen = BRANCHING - 1;
            for (j, &c) in children.iter().enumerate() {
                if c > 0.0 && before + c >= target {
                    chosen = j as u32;
                    break;
                }
                before += c;
            }
            let c = children[chosen as usize];
            frac = if c > 0.0 {
                ((target - before) / c).clamp(0.0, 1.0)
            } else {
                1.0
            };
            node = node * BRANCHING + chosen;
        }
        self.at_leaf_position(f64::from(node) + frac)
    }

    /// The value at a position measured in leaves from lo.
    fn at_leaf_position(&self, position: f64) -> f64 {
        let x = self.lo + position / f64::from(LEAVES) * (self.hi - self.lo);
        x.clamp(self.lo, self.hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(values: &[f64], epsilon: f64) -> NoisyTree {
        let leaves = values.iter().map(|&x| leaf(x, 0.0, 100.0)).collect();
        NoisyTree::new(leaves, 0.0, 100.0, 1, epsilon).unwrap()
    }

    #[test]
    fn quantiles_of_a_large_sample_are_close_and_inside_their_intervals() {
        // 10,000 values evenly over [0, 100): the p-quantile is 100·p.
        let values: Vec<f64> = (0..10_000).map(|i| f64::from(i) / 100.0).collect();
        let mut rng = NoiseRng::insecure_seeded(3);
        let mut t = tree(&values, 1.0);
        for p in [0.1, 0.5, 0.9] {
            let (q, (lo, hi)) = t.quantile(p, &mut rng);
            // Noise of scale 4 on counts in the thousands: well within half a unit.
            assert!((q - 100.0 * p).abs() < 0.5, "p {p}: {q}");
            assert!(
                lo <= q && q <= hi && hi - lo < 5.0,
                "p {p}: {q} in [{lo}, {hi}]"
            );
            assert!(
                lo <= 100.0 * p + 0.05 && 100.0 * p - 0.05 <= hi,
                "p {p}: [{lo}, {hi}]"
            );
        }
    }

    #[test]
    fn an_empty_group_gives_a_value_in_range_with_a_wide_interval() {
        let mut rng = NoiseRng::insecure_seeded(4);
        let (q, (lo, hi)) = tree(&[], 1.0).quantile(0.5, &mut rng);
        assert!((0.0..=100.0).contains(&q));
        assert!(hi - lo > 20.0, "[{lo}, {hi}]");
    }

    #[test]
    fn leaves_cover_the_range() {
        assert_eq!(leaf(0.0, 0.0, 100.0), 0);
        assert_eq!(leaf(100.0, 0.0, 100.0), LEAVES - 1);
        assert_eq!(leaf(50.0, 0.0, 100.0), LEAVES / 2);
    }
}
