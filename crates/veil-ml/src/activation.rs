//! Hidden-layer activations.
//!
//! * `relu(z) = max(z, 0)`, derivative `1[z > 0]` — the usual choice.
//! * `square(z) = z²`, derivative `2z` — a polynomial, so a network using it can be evaluated
//!   under homomorphic encryption (CryptoNets, Gilad-Bachrach et al., ICML 2016, §4.1), where
//!   only additions and multiplications are available.

use ndarray::{Array2, Zip};

use crate::names::named_enum;

/// A hidden-layer activation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `max(z, 0)`.
    Relu,
    /// `z²`.
    Square,
}

impl Activation {
    /// Applies the activation to `z`.
    pub fn apply(self, z: &Array2<f64>) -> Array2<f64> {
        match self {
            Activation::Relu => z.mapv(|v| v.max(0.0)),
            Activation::Square => z.mapv(|v| v * v),
        }
    }

    /// Multiplies `grad` (∂L/∂a) in place by the derivative at `z`, giving ∂L/∂z.
    pub fn backprop(self, z: &Array2<f64>, grad: &mut Array2<f64>) {
        match self {
            Activation::Relu => Zip::from(grad).and(z).for_each(|g, &v| {
                if v <= 0.0 {
                    *g = 0.0;
                }
            }),
            Activation::Square => Zip::from(grad).and(z).for_each(|g, &v| *g *= 2.0 * v),
        }
    }
}

named_enum!(Activation, "activation", { Relu => "relu", Square => "square" });
