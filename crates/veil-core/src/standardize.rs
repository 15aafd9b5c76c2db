//! Standardisation: `z = (x − mean) / scale`, with statistics fitted on training rows only.
//!
//! The scale is the population standard deviation (as scikit-learn's `StandardScaler`). A
//! column whose spread is zero — or so small relative to its mean that it is zero up to
//! rounding — gets scale 1, so it becomes a constant 0 instead of a division by zero. An
//! optional clip bounds the standardised values (set by DP-SGD's private standardiser).

use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Per-column mean and scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Column means.
    pub mean: Vec<f64>,
    /// Column scales (never zero).
    pub scale: Vec<f64>,
    /// If set, standardised values are clamped to [−clip, clip]: the private standardiser
    /// of DP-SGD sets it so that a feature whose noisy statistics were far off cannot
    /// dominate the inputs (absent from older model files: no clamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<f64>,
}

impl Standardizer {
    /// Fits means and scales to the rows of `x`.
    pub fn fit(x: ArrayView2<'_, f64>) -> Result<Self> {
        let n = x.nrows();
        if n == 0 {
            return Err(Error::invalid("standardisation", "no rows to fit on"));
        }
        let mean = x.mean_axis(Axis(0)).map(|m| m.to_vec()).unwrap_or_default();
        let scale = x
            .axis_iter(Axis(1))
            .zip(&mean)
            .map(|(col, &m)| {
                let var = col.iter().map(|&v| (v - m) * (v - m)).sum::<f64>() / n as f64;
                let sd = var.sqrt();
                if sd > 1e-12 * m.abs().max(1.0) {
                    sd
                } else {
                    1.0
                }
            })
            .collect();
        Ok(Standardizer {
            mean,
            scale,
            clip: None,
        })
    }

    /// The identity transform for `d` columns.
    pub fn identity(d: usize) -> Self {
        Standardizer {
            mean: vec![0.0; d],
            scale: vec![1.0; d],
            clip: None,
        }
    }

    /// Number of columns.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Standardises `x` in place.
    pub fn transform_in_place(&self, x: &mut Array2<f64>) -> Result<()> {
        if x.ncols() != self.dim() {
            return Err(Error::invalid(
                "standardisation",
                format!("fitted on {} columns, applied to {}", self.dim(), x.ncols()),
            ));
        }
        let clip = self.clip.unwrap_or(f64::INFINITY);
        for mut row in x.rows_mut() {
            for ((v, &m), &s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = ((*v - m) / s).clamp(-clip, clip);
            }
        }
        Ok(())
    }

    /// A standardised copy of `x`.
    pub fn transform(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        let mut out = x.to_owned();
        self.transform_in_place(&mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn zero_mean_unit_variance() {
        let x = array![[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]];
        let s = Standardizer::fit(x.view()).unwrap();
        assert_eq!(s.mean, [3.0, 10.0]);
        assert!((s.scale[0] - (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(s.scale[1], 1.0, "constant column gets scale 1");
        let z = s.transform(x.view()).unwrap();
        assert!(z.iter().all(|v| v.is_finite()));
        assert!(z.column(0).sum().abs() < 1e-12);
        assert_eq!(z.column(1).to_vec(), [0.0, 0.0, 0.0]);
    }

    #[test]
    fn nearly_constant_large_column_gets_scale_one() {
        let x = array![[1e9], [1e9 + 1e-7]];
        assert_eq!(Standardizer::fit(x.view()).unwrap().scale, [1.0]);
    }

    #[test]
    fn dimension_mismatch_is_an_error() {
        let s = Standardizer::identity(2);
        assert!(s.transform(array![[1.0]].view()).is_err());
    }
}
