//! How the coordinator combines the clients' updates when it can see them (without secure
//! aggregation).
//!
//! FedAvg's weighted mean is the best estimate when every client is honest, and the worst
//! when one is not: a single update scaled by 10⁶ moves the mean anywhere. The
//! coordinate-wise median and trimmed mean (Yin et al., "Byzantine-Robust Distributed
//! Learning: Towards Optimal Statistical Rates", ICML 2018, §3) bound what a minority of
//! poisoned updates can do. They ignore the clients' row counts, which a poisoner could
//! inflate as easily as its update.

use std::fmt;
use std::str::FromStr;

/// A rule for combining updates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregator {
    /// FedAvg: the mean weighted by the clients' row counts.
    Mean,
    /// The plain mean: every client counts once, whatever its row count. What secure
    /// aggregation computes: a row-count lane in the sum would let the coordinator solve
    /// for each client's size from the sums of different subsets over rounds.
    Unweighted,
    /// In each coordinate, drop the ⌊β·n⌋ largest and smallest values and average the rest.
    TrimmedMean {
        /// β, the fraction trimmed from each side, in [0, 0.5).
        trim: f64,
    },
    /// In each coordinate, the median.
    Median,
}

impl fmt::Display for Aggregator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Aggregator::Mean => f.write_str("fedavg"),
            Aggregator::Unweighted => f.write_str("unweighted"),
            Aggregator::TrimmedMean { .. } => f.write_str("trimmed-mean"),
            Aggregator::Median => f.write_str("median"),
        }
    }
}

impl FromStr for Aggregator {
    type Err = String;

    /// `fedavg`, `unweighted`, `median` or `trimmed-mean` (trimming 20% from each side; see
    /// [`Aggregator::with_trim`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fedavg" | "mean" => Ok(Aggregator::Mean),
            "unweighted" => Ok(Aggregator::Unweighted),
            "trimmed-mean" => Ok(Aggregator::TrimmedMean { trim: 0.2 }),
            "median" => Ok(Aggregator::Median),
            other => Err(format!(
                "unknown aggregator {other:?}: use fedavg, unweighted, trimmed-mean or median"
            )),
        }
    }
}

impl Aggregator {
    /// The same rule trimming `trim` from each side if it is a trimmed mean; `trim` must be
    /// in [0, 0.5).
    pub fn with_trim(self, trim: f64) -> crate::Result<Aggregator> {
        if !(0.0..0.5).contains(&trim) {
            return Err(crate::Error::InvalidParameter {
                name: "trim",
                why: format!("{trim} must be at least 0 and below 0.5"),
            });
        }
        Ok(match self {
            Aggregator::TrimmedMean { .. } => Aggregator::TrimmedMean { trim },
            other => other,
        })
    }

    /// Combines `updates` (row count, delta), all of `dims` values; `None` if there are
    /// none.
    pub fn combine(&self, updates: &[(f64, Vec<f64>)], dims: usize) -> Option<Vec<f64>> {
        if updates.is_empty() {
            return None;
        }
        let n = updates.len();
        Some(match *self {
            Aggregator::Mean => {
                let total: f64 = updates.iter().map(|(w, _)| w).sum();
                let mut sum = vec![0.0; dims];
                for (w, delta) in updates {
                    sum.iter_mut().zip(delta).for_each(|(a, v)| *a += w * v);
                }
                sum.into_iter().map(|s| s / total).collect()
            }
            Aggregator::Unweighted => {
                let mut sum = vec![0.0; dims];
                for (_, delta) in updates {
                    sum.iter_mut().zip(delta).for_each(|(a, v)| *a += v);
                }
                sum.into_iter().map(|s| s / n as f64).collect()
            }
            Aggregator::Median => coordinate_wise(updates, dims, |sorted| {
                (sorted[(n - 1) / 2] + sorted[n / 2]) / 2.0
            }),
            Aggregator::TrimmedMean { trim } => {
                let k = (trim * n as f64).floor() as usize;
                coordinate_wise(updates, dims, |sorted| {
                    let kept = &sorted[k..n - k];
                    kept.iter().sum::<f64>() / kept.len() as f64
                })
            }
        })
    }
}

/// `statistic` of each coordinate's values, sorted, across `updates`.
fn coordinate_wise(
    updates: &[(f64, Vec<f64>)],
    dims: usize,
    statistic: impl Fn(&[f64]) -> f64,
) -> Vec<f64> {
    let mut column = vec![0.0; updates.len()];
    (0..dims)
        .map(|j| {
            column
                .iter_mut()
                .zip(updates)
                .for_each(|(c, (_, delta))| *c = delta[j]);
            column.sort_unstable_by(f64::total_cmp);
            statistic(&column)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four honest clients near (1, −1) and one that sends (10⁶, −10⁶) and claims 10⁴ rows.
    fn poisoned() -> Vec<(f64, Vec<f64>)> {
        vec![
            (10.0, vec![1.0, -1.0]),
            (20.0, vec![1.1, -0.9]),
            (10.0, vec![0.9, -1.1]),
            (30.0, vec![1.0, -1.0]),
            (1e4, vec![1e6, -1e6]),
        ]
    }

    #[test]
    fn the_mean_is_weighted_by_row_counts() {
        let updates = vec![(1.0, vec![0.0, 4.0]), (3.0, vec![4.0, 0.0])];
        assert_eq!(Aggregator::Mean.combine(&updates, 2), Some(vec![3.0, 1.0]));
        assert_eq!(Aggregator::Mean.combine(&[], 2), None);
        // Unweighted, each client counts once.
        assert_eq!(
            Aggregator::Unweighted.combine(&updates, 2),
            Some(vec![2.0, 2.0])
        );
    }

    #[test]
    fn median_and_trimmed_mean_resist_a_poisoned_update_that_the_mean_does_not() {
        let updates = poisoned();
        let mean = Aggregator::Mean.combine(&updates, 2).unwrap();
        assert!(mean[0] > 1e5);
        assert_eq!(
            Aggregator::Median.combine(&updates, 2),
            Some(vec![1.0, -1.0])
        );
        let trimmed = Aggregator::TrimmedMean { trim: 0.2 }
            .combine(&updates, 2)
            .unwrap();
        assert!((trimmed[0] - 1.0333).abs() < 1e-3, "{trimmed:?}");
        assert!((trimmed[1] + 1.0333).abs() < 1e-3, "{trimmed:?}");
        // An even count: the median is the middle pair's mean.
        let even = &updates[..4];
        assert_eq!(Aggregator::Median.combine(even, 2), Some(vec![1.0, -1.0]));
    }

    #[test]
    fn names_and_trim_fractions_are_checked() {
        assert_eq!("median".parse(), Ok(Aggregator::Median));
        assert_eq!(
            "trimmed-mean"
                .parse::<Aggregator>()
                .unwrap()
                .with_trim(0.1)
                .unwrap(),
            Aggregator::TrimmedMean { trim: 0.1 }
        );
        assert_eq!("unweighted".parse(), Ok(Aggregator::Unweighted));
        assert!("krum".parse::<Aggregator>().is_err());
        assert!(Aggregator::Median.with_trim(0.5).is_err());
        assert_eq!(Aggregator::Median.to_string(), "median");
    }
}
