//! Seeded train/test splits, stratified by class when labels are given.
//!
//! A seed fixes the split and nothing else. The generator is ChaCha8 (`rand_chacha`), whose
//! output is specified and portable, so the same seed gives the same split on every machine.
//!
//! Stratification keeps each class's share of the test set equal to its share of the data, up
//! to rounding: every class gets `⌊n_c · f⌋` test rows, and the remaining rows up to
//! `round(n · f)` go to the classes with the largest fractional remainders (ties to the smaller
//! class index). A class never gives away its last training row.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::atomic::Batch;
use crate::error::{Error, Result};
use crate::table::{Table, sorted_classes};

/// What `veil data split` wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SplitFiles {
    /// The training file.
    pub train: PathBuf,
    /// The test file.
    pub test: PathBuf,
    /// Rows in the training file.
    pub train_rows: usize,
    /// Rows in the test file.
    pub test_rows: usize,
    /// The seed of the split.
    pub seed: u64,
    /// Whether the split kept each class's share (a label was given).
    pub stratified: bool,
}

/// Splits `table` into a training file and a test file, both written or neither (an
/// existing file at either path keeps its content if anything fails). With `label`, the
/// split is stratified by that column's classes.
pub fn split_table(
    table: &Table,
    label: Option<&str>,
    test_fraction: f64,
    seed: u64,
    (train, test): (&Path, &Path),
) -> Result<SplitFiles> {
    table.require_rows()?;
    let strata = match label {
        Some(label) => {
            let labels = table.class_labels(label)?;
            let classes = sorted_classes(&labels);
            Some(
                labels
                    .iter()
                    .map(|l| classes.iter().position(|c| c == l).unwrap_or(0))
                    .collect::<Vec<_>>(),
            )
        }
        None => None,
    };
    let split = train_test_split(table.num_rows(), strata.as_deref(), test_fraction, seed)?;
    let mut batch = Batch::new();
    table.take(&split.train).save_in(&mut batch, train)?;
    table.take(&split.test).save_in(&mut batch, test)?;
    batch.commit()?;
    Ok(SplitFiles {
        train: train.to_path_buf(),
        test: test.to_path_buf(),
        train_rows: split.train.len(),
        test_rows: split.test.len(),
        seed,
        stratified: label.is_some(),
    })
}

/// Row indices of a split, each list sorted ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Training rows.
    pub train: Vec<usize>,
    /// Test rows.
    pub test: Vec<usize>,
}

/// Splits `n` rows with a fraction `test_fraction` (in (0, 1)) held out for testing.
///
/// With `strata` (a class index per row), the split is stratified by class.
pub fn train_test_split(
    n: usize,
    strata: Option<&[usize]>,
    test_fraction: f64,
    seed: u64,
) -> Result<Split> {
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(Error::invalid(
            "test fraction",
            format!("{test_fraction} is not strictly between 0 and 1"),
        ));
    }
    if n < 2 {
        return Err(Error::invalid(
            "test fraction",
            format!("{n} row(s) cannot be split into a training and a test set"),
        ));
    }
    let target = ((n as f64 * test_fraction).round() as usize).clamp(1, n - 1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let groups: Vec<Vec<usize>> = match strata {
        None => vec![(0..n).collect()],
        Some(s) => {
            if s.len() != n {
                return Err(Error::invalid(
                    "strata",
                    format!("{} labels for {n} rows", s.len()),
                ));
            }
            let k = s.iter().max().map_or(0, |m| m + 1);
            let mut groups = vec![Vec::new(); k];
            for (row, &class) in s.iter().enumerate() {
                groups[class].push(row);
            }
            groups
        }
    };

    // Test rows per group: floor of the exact share, then largest remainders up to the target.
    let exact: Vec<f64> = groups
        .iter()
        .map(|g| g.len() as f64 * test_fraction)
        .collect();
    let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())));
    let mut assigned: usize = counts.iter().sum();
    for &g in order.iter().cycle().take(order.len() * 2) {
        if assigned >= target {
            break;
        }
        if counts[g] + 1 < groups[g].len() {
            counts[g] += 1;
            assigned += 1;
        }
    }

    // Classes too small to give a row without losing their last training row: the test set
    // still gets one row, from the largest class.
    if assigned == 0 {
        let largest = (0..groups.len()).max_by_key(|&g| (groups[g].len(), usize::MAX - g));
        if let Some(g) = largest {
            counts[g] = 1;
        }
    }

    let mut split = Split {
        train: Vec::with_capacity(n - target),
        test: Vec::with_capacity(target),
    };
    for (mut group, count) in groups.into_iter().zip(counts) {
        group.shuffle(&mut rng);
        split.test.extend_from_slice(&group[..count]);
        split.train.extend_from_slice(&group[count..]);
    }
    split.train.sort_unstable();
    split.test.sort_unstable();
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_writes_both_files_or_neither() {
        let dir = tempfile::tempdir().unwrap();
        let (train, test) = (dir.path().join("train.csv"), dir.path().join("test.csv"));
        std::fs::write(&train, b"the user's own file").unwrap();
        let table = Table::load("builtin:breast-cancer").unwrap();
        // The test path is a directory: nothing is written, the old train.csv is intact.
        std::fs::create_dir(&test).unwrap();
        let blocked = split_table(&table, Some("malignant"), 0.2, 42, (&train, &test));
        assert!(blocked.is_err());
        assert_eq!(std::fs::read(&train).unwrap(), b"the user's own file");
        std::fs::remove_dir(&test).unwrap();
        let done = split_table(&table, Some("malignant"), 0.2, 42, (&train, &test)).unwrap();
        assert_eq!((done.train_rows, done.test_rows), (455, 114));
        assert_eq!(
            Table::load(&test.to_string_lossy()).unwrap().num_rows(),
            114
        );
    }
    use proptest::prelude::*;

    #[test]
    fn same_seed_same_split_other_seed_other_split() {
        let a = train_test_split(100, None, 0.2, 7).unwrap();
        assert_eq!(a, train_test_split(100, None, 0.2, 7).unwrap());
        assert_ne!(a, train_test_split(100, None, 0.2, 8).unwrap());
        assert_eq!(a.test.len(), 20);
    }

    #[test]
    fn stratified_keeps_class_shares() {
        // 357 / 212 as in the breast-cancer data.
        let strata: Vec<usize> = (0..569).map(|i| usize::from(i >= 357)).collect();
        let s = train_test_split(569, Some(&strata), 0.2, 42).unwrap();
        assert_eq!(s.test.len(), 114);
        let pos = s.test.iter().filter(|&&i| strata[i] == 1).count();
        assert!((42..=43).contains(&pos), "{pos} positives in test");
    }

    #[test]
    fn bad_fraction_is_rejected() {
        assert!(train_test_split(10, None, 0.0, 1).is_err());
        assert!(train_test_split(10, None, 1.0, 1).is_err());
        assert!(train_test_split(10, None, f64::NAN, 1).is_err());
        assert!(train_test_split(1, None, 0.5, 1).is_err());
    }

    proptest! {
        #[test]
        fn partition_of_all_rows(n in 2usize..300, k in 1usize..6, f in 0.05f64..0.95, seed: u64) {
            let strata: Vec<usize> = (0..n).map(|i| (i * 7 + i / 3) % k).collect();
            let s = train_test_split(n, Some(&strata), f, seed).unwrap();
            let mut all: Vec<usize> = s.train.iter().chain(&s.test).copied().collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
            prop_assert!(!s.train.is_empty() && !s.test.is_empty());
            // Every class with two or more rows keeps at least one training row.
            for c in 0..k {
                if strata.iter().filter(|&&s| s == c).count() >= 2 {
                    prop_assert!(s.train.iter().any(|&i| strata[i] == c));
                }
            }
        }
    }
}
