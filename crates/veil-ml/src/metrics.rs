//! Evaluation metrics, with the same definitions as scikit-learn's `sklearn.metrics`.
//!
//! * accuracy — fraction of rows whose predicted class (highest probability; for binary
//!   models, probability ≥ 0.5) is the true class;
//! * precision, recall, F1 — of the positive class for binary models, macro-averaged over
//!   classes for multiclass models; 0 where the denominator is 0 (scikit-learn's
//!   `zero_division=0`);
//! * ROC AUC — binary only; the Mann–Whitney statistic with tied scores counted as one half,
//!   which equals the area under the ROC curve with ties interpolated;
//! * log loss — mean negative log-probability of the true class, with probabilities clipped to
//!   [10⁻¹⁵, 1 − 10⁻¹⁵];
//! * confusion matrix — `matrix[true][predicted]`;
//! * MSE and R² for regression.

use ndarray::ArrayView2;
use serde::Serialize;

/// Fraction of equal entries.
pub fn accuracy(truth: &[usize], predicted: &[usize]) -> f64 {
    if truth.is_empty() {
        return f64::NAN;
    }
    truth.iter().zip(predicted).filter(|(a, b)| a == b).count() as f64 / truth.len() as f64
}

/// `matrix[t][p]` counts rows of true class `t` predicted as `p`.
pub fn confusion_matrix(truth: &[usize], predicted: &[usize], classes: usize) -> Vec<Vec<u64>> {
    let mut m = vec![vec![0u64; classes]; classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        m[t][p] += 1;
    }
    m
}

/// Precision, recall and F1 of class `c` from a confusion matrix.
pub fn precision_recall_f1(matrix: &[Vec<u64>], c: usize) -> (f64, f64, f64) {
    let tp = matrix[c][c] as f64;
    let predicted: u64 = matrix.iter().map(|row| row[c]).sum();
    let actual: u64 = matrix[c].iter().sum();
    let ratio = |a: f64, b: u64| if b == 0 { 0.0 } else { a / b as f64 };
    let (p, r) = (ratio(tp, predicted), ratio(tp, actual));
    let f1 = if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    };
    (p, r, f1)
}

/// Area under the ROC curve of `scores` for the positive rows of `truth`.
/// `None` when only one class is present (the AUC is undefined).
pub fn roc_auc(truth: &[bool], scores: &[f64]) -> Option<f64> {
    let positives = truth.iter().filter(|&&t| t).count();
    let negatives = truth.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    // Average ranks (1-based) with ties sharing the mean of their ranks.
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_pos += mean_rank * order[i..=j].iter().filter(|&&k| truth[k]).count() as f64;
        i = j + 1;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((rank_sum_pos - p * (p + 1.0) / 2.0) / (p * n))
}

/// Mean negative log-probability of the true class; `probs` has one column per class.
pub fn log_loss(truth: &[usize], probs: ArrayView2<'_, f64>) -> f64 {
    const EPS: f64 = 1e-15;
    let total: f64 = truth
        .iter()
        .zip(probs.rows())
        .map(|(&t, p)| {
            let sum: f64 = p.iter().map(|v| v.clamp(EPS, 1.0 - EPS)).sum();
            -(p[t].clamp(EPS, 1.0 - EPS) / sum).ln()
        })
        .sum();
    total / truth.len() as f64
}

/// Mean squared error.
pub fn mse(truth: &[f64], predicted: &[f64]) -> f64 {
    truth
        .iter()
        .zip(predicted)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        / truth.len() as f64
}

/// Coefficient of determination, `1 − SS_res / SS_tot` (`None` for a constant target).
pub fn r2(truth: &[f64], predicted: &[f64]) -> Option<f64> {
    let mean = truth.iter().sum::<f64>() / truth.len() as f64;
    let ss_tot: f64 = truth.iter().map(|a| (a - mean) * (a - mean)).sum();
    let ss_res: f64 = truth
        .iter()
        .zip(predicted)
        .map(|(a, b)| (a - b) * (a - b))
        .sum();
    (ss_tot > 0.0).then(|| 1.0 - ss_res / ss_tot)
}

/// The class with the highest probability in each row.
pub fn argmax_rows(probs: ArrayView2<'_, f64>) -> Vec<usize> {
    probs
        .rows()
        .into_iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .fold((0, f64::NEG_INFINITY), |best, (i, &v)| {
                    if v > best.1 { (i, v) } else { best }
                })
                .0
        })
        .collect()
}

/// All metrics of one evaluation. Classification fields are absent for regression and vice
/// versa; `auc` is present for binary models only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Rows evaluated.
    pub rows: usize,
    /// Accuracy, in [0, 1].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Precision (positive class, or macro average).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<f64>,
    /// Recall (positive class, or macro average).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recall: Option<f64>,
    /// F1 (positive class, or macro average).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f1: Option<f64>,
    /// ROC AUC (binary only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auc: Option<f64>,
    /// Log loss.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_loss: Option<f64>,
    /// `matrix[true][predicted]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confusion_matrix: Option<Vec<Vec<u64>>>,
    /// Mean squared error (regression).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mse: Option<f64>,
    /// R² (regression).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r2: Option<f64>,
}

/// The headline metrics for people: `(N rows): accuracy … AUC … precision … recall … F1 …`,
/// or MSE and R² for regression.
impl std::fmt::Display for Evaluation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v:.3}"));
        if self.mse.is_some() {
            return write!(
                f,
                "({} rows): MSE {}  R² {}",
                self.rows,
                m(self.mse),
                m(self.r2)
            );
        }
        let auc = self
            .auc
            .map(|a| format!("  AUC {a:.3}"))
            .unwrap_or_default();
        write!(
            f,
            "({} rows): accuracy {}{auc}  precision {}  recall {}  F1 {}",
            self.rows,
            m(self.accuracy),
            m(self.precision),
            m(self.recall),
            m(self.f1)
        )
    }
}

/// An evaluation on test rows as training reports print it: each headline metric under a
/// `test_` key (`null` where the task has none).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TestMetrics {
    /// Test accuracy (classifiers).
    pub test_accuracy: Option<f64>,
    /// Test ROC AUC (binary).
    pub test_auc: Option<f64>,
    /// Test precision.
    pub test_precision: Option<f64>,
    /// Test recall.
    pub test_recall: Option<f64>,
    /// Test F1.
    pub test_f1: Option<f64>,
    /// Test log loss.
    pub test_log_loss: Option<f64>,
    /// Test confusion matrix, `[true][predicted]`.
    pub test_confusion_matrix: Option<Vec<Vec<u64>>>,
    /// Test mean squared error (regression).
    pub test_mse: Option<f64>,
    /// Test R² (regression).
    pub test_r2: Option<f64>,
}

impl TestMetrics {
    /// The headline metrics a provenance record keeps, those present: test accuracy, AUC,
    /// MSE and R², to six decimals.
    pub fn provenance(&self) -> Vec<(String, String)> {
        [
            ("test_accuracy", self.test_accuracy),
            ("test_auc", self.test_auc),
            ("test_mse", self.test_mse),
            ("test_r2", self.test_r2),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name.to_string(), format!("{v:.6}"))))
        .collect()
    }
}

impl From<&Evaluation> for TestMetrics {
    fn from(e: &Evaluation) -> Self {
        TestMetrics {
            test_accuracy: e.accuracy,
            test_auc: e.auc,
            test_precision: e.precision,
            test_recall: e.recall,
            test_f1: e.f1,
            test_log_loss: e.log_loss,
            test_confusion_matrix: e.confusion_matrix.clone(),
            test_mse: e.mse,
            test_r2: e.r2,
        }
    }
}

impl Evaluation {
    /// Metrics of class probabilities `probs` (one column per class) against `truth`.
    /// With two classes, class 1 is the positive class.
    pub fn classification(truth: &[usize], probs: ArrayView2<'_, f64>) -> Self {
        let k = probs.ncols();
        let predicted = argmax_rows(probs);
        let matrix = confusion_matrix(truth, &predicted, k);
        let (precision, recall, f1, auc) = if k == 2 {
            let (p, r, f) = precision_recall_f1(&matrix, 1);
            let positive: Vec<bool> = truth.iter().map(|&t| t == 1).collect();
            let scores: Vec<f64> = probs.column(1).to_vec();
            (p, r, f, roc_auc(&positive, &scores))
        } else {
            let per: Vec<(f64, f64, f64)> =
                (0..k).map(|c| precision_recall_f1(&matrix, c)).collect();
            let mean = |f: fn(&(f64, f64, f64)) -> f64| per.iter().map(f).sum::<f64>() / k as f64;
            (mean(|t| t.0), mean(|t| t.1), mean(|t| t.2), None)
        };
        Evaluation {
            rows: truth.len(),
            accuracy: Some(accuracy(truth, &predicted)),
            precision: Some(precision),
            recall: Some(recall),
            f1: Some(f1),
            auc,
            log_loss: Some(log_loss(truth, probs)),
            confusion_matrix: Some(matrix),
            mse: None,
            r2: None,
        }
    }

    /// Metrics of predicted values against `truth`.
    pub fn regression(truth: &[f64], predicted: &[f64]) -> Self {
        Evaluation {
            rows: truth.len(),
            accuracy: None,
            precision: None,
            recall: None,
            f1: None,
            auc: None,
            log_loss: None,
            confusion_matrix: None,
            mse: Some(mse(truth, predicted)),
            r2: r2(truth, predicted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    // Expected values below are the outputs of the scikit-learn documentation's examples.
    #[test]
    fn roc_auc_matches_scikit_learn_example() {
        // sklearn.metrics.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
        let auc = roc_auc(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8]).unwrap();
        assert!((auc - 0.75).abs() < 1e-12);
        // All scores tied: 0.5.
        assert_eq!(roc_auc(&[false, true, true], &[0.3, 0.3, 0.3]), Some(0.5));
        assert_eq!(roc_auc(&[true, true], &[0.1, 0.2]), None);
    }

    #[test]
    fn log_loss_matches_scikit_learn_example() {
        // log_loss(["spam", "ham", "ham", "spam"], [[.1, .9], [.9, .1], [.8, .2], [.35, .65]])
        //   == 0.21616187468057912 (classes sorted: ham = 0, spam = 1)
        let probs = array![[0.1, 0.9], [0.9, 0.1], [0.8, 0.2], [0.35, 0.65]];
        assert!((log_loss(&[1, 0, 0, 1], probs.view()) - 0.216_161_874_680_579_12).abs() < 1e-12);
    }

    #[test]
    fn precision_recall_f1_match_scikit_learn_example() {
        // y_true = [0, 1, 2, 0, 1, 2], y_pred = [0, 2, 1, 0, 0, 1]:
        // macro precision 0.2222…, recall 0.3333…, F1 0.2666…
        let m = confusion_matrix(&[0, 1, 2, 0, 1, 2], &[0, 2, 1, 0, 0, 1], 3);
        let per: Vec<_> = (0..3).map(|c| precision_recall_f1(&m, c)).collect();
        let mean = |i: usize| per.iter().map(|t| [t.0, t.1, t.2][i]).sum::<f64>() / 3.0;
        assert!((mean(0) - 2.0 / 9.0).abs() < 1e-12);
        assert!((mean(1) - 1.0 / 3.0).abs() < 1e-12);
        assert!((mean(2) - 4.0 / 15.0).abs() < 1e-12);
        assert_eq!(m, vec![vec![2, 0, 0], vec![1, 0, 1], vec![0, 2, 0]]);
    }

    #[test]
    fn binary_evaluation() {
        let probs = array![[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]];
        let e = Evaluation::classification(&[0, 1, 1, 0], probs.view());
        assert_eq!(e.accuracy, Some(0.5));
        assert_eq!(e.confusion_matrix, Some(vec![vec![1, 1], vec![1, 1]]));
        assert_eq!((e.precision, e.recall), (Some(0.5), Some(0.5)));
        assert_eq!(e.auc, Some(0.75));
    }

    #[test]
    fn regression_metrics() {
        // sklearn: mean_squared_error([3, -0.5, 2, 7], [2.5, 0.0, 2, 8]) == 0.375,
        //          r2_score(...) == 0.9486081370449679
        let e = Evaluation::regression(&[3.0, -0.5, 2.0, 7.0], &[2.5, 0.0, 2.0, 8.0]);
        assert_eq!(e.mse, Some(0.375));
        assert!((e.r2.unwrap() - 0.948_608_137_044_967_9).abs() < 1e-12);
    }
}
