//! Walker's alias method with integer weights: 32 random bits pick an entry with
//! probability exactly weight/2^32.
//!
//! A. J. Walker, "An efficient method for generating discrete random variables with general
//! distributions" (ACM TOMS 1977), built as in M. D. Vose, "A linear algorithm for generating
//! random numbers with a given distribution" (IEEE TSE 1991). With n columns of capacity
//! 2^32/n each, the top log2(n) random bits choose a column and the others a point in it; a column holds its own entry below its threshold and one alias above. The
//! construction is integer arithmetic throughout, so the probabilities are exact.

/// An alias table over `n` entries (n a power of two, 2 ≤ n ≤ 2^16).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Alias {
    threshold: Vec<u32>,
    alias: Vec<u16>,
    shift: u32,
    mask: u32,
}

impl Alias {
    /// The table for `weights`, which must number a power of two and sum to exactly 2^32.
    pub fn new(weights: &[u64]) -> Alias {
        let n = weights.len();
        assert!(
            n.is_power_of_two() && (2..=1 << 16).contains(&n),
            "alias table of {n} entries"
        );
        assert_eq!(weights.iter().sum::<u64>(), 1 << 32, "weights sum to 2^32");
        let log_n = n.trailing_zeros();
        let capacity: u64 = 1 << (32 - log_n);
        let mut left: Vec<u64> = weights.to_vec();
        let mut threshold = vec![0u32; n];
        let mut alias: Vec<u16> = (0..n).map(|i| i as u16).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| left[i] < capacity);
        // Invariant: the columns not yet filled hold capacity·(their number) in all.
        while let Some(&l) = large.last() {
            let Some(s) = small.pop() else { break };
            threshold[s] = left[s] as u32;
            alias[s] = l as u16;
            left[l] -= capacity - left[s];
            if left[l] < capacity {
                large.pop();
                small.push(l);
            }
        }
        // What is left is full columns only (the invariant leaves no partial one).
        debug_assert!(small.is_empty());
        for l in large {
            debug_assert_eq!(left[l], capacity);
            threshold[l] = capacity as u32;
        }
        Alias {
            threshold,
            alias,
            shift: 32 - log_n,
            mask: (capacity - 1) as u32,
        }
    }

    /// The entry 32 uniform random bits pick.
    #[inline]
    pub fn pick(&self, word: u32) -> usize {
        let column = (word >> self.shift) as usize;
        if word & self.mask < self.threshold[column] {
            column
        } else {
            usize::from(self.alias[column])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact probabilities: count, for every entry, the words that pick it, column by
    /// column (each column's points are a contiguous range of words).
    fn mass(table: &Alias, n: usize) -> Vec<u64> {
        let capacity = 1u64 << table.shift;
        let mut mass = vec![0u64; n];
        for column in 0..n {
            let t = u64::from(table.threshold[column]);
            mass[column] += t;
            mass[usize::from(table.alias[column])] += capacity - t;
        }
        mass
    }

    #[test]
    fn every_entry_gets_exactly_its_weight() {
        let mut weights = vec![0u64; 8];
        weights[0] = (1 << 32) / 3;
        weights[3] = 12_345;
        weights[5] = 1;
        weights[7] = (1 << 32) - weights.iter().sum::<u64>();
        let table = Alias::new(&weights);
        assert_eq!(mass(&table, 8), weights);
        // And the pick agrees with the bookkeeping at the edges of a column.
        for column in 0..8u32 {
            let base = column << table.shift;
            let t = table.threshold[column as usize];
            if t > 0 {
                assert_eq!(table.pick(base + t - 1), column as usize);
            }
            if t < 1 << table.shift {
                assert_eq!(
                    table.pick(base + t),
                    usize::from(table.alias[column as usize])
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn random_weights_are_reproduced_exactly(raw in proptest::collection::vec(0u32..u32::MAX, 1..64)) {
            let n = raw.len().next_power_of_two().max(2);
            let total: u64 = raw.iter().map(|&w| u64::from(w)).sum::<u64>().max(1);
            let mut weights: Vec<u64> = raw.iter().map(|&w| (u64::from(w) << 32) / total).collect();
            weights.resize(n, 0);
            weights[n - 1] += (1u64 << 32) - weights.iter().sum::<u64>();
            let table = Alias::new(&weights);
            proptest::prop_assert_eq!(mass(&table, n), weights);
        }
    }
}
