//! A Veil model as an arithmetic circuit: what a homomorphic scheme evaluates.
//!
//! Homomorphic encryption offers additions and multiplications only, so a model is evaluable
//! when everything between the raw features and the output layer's pre-activations is a
//! polynomial:
//!
//! * the standardisation `(x − mean) / scale` is affine, so it is folded into the first dense
//!   layer (`W' = W / scale`, `b' = b − W'·mean`): the client sends raw features and never
//!   learns the model's statistics (a clamped standardiser, from DP-SGD, is not a
//!   polynomial and is refused);
//! * dense layers are sums of products with plaintext weights;
//! * the `square` activation is one ciphertext product (CryptoNets, Gilad-Bachrach et al.,
//!   ICML 2016, §4.1); `relu` is not a polynomial and is refused;
//! * the output link (sigmoid, softmax) is applied by the client to the decrypted
//!   pre-activations, exactly as `veil predict` applies it.
//!
//! Paillier is additive only: it evaluates circuits without hidden layers. CKKS spends one
//! rescaling per dense layer and one per square, so a circuit with `h` hidden layers needs
//! `2h + 1` levels of the modulus chain.

use ndarray::{Array1, Array2, ArrayView2};
use veil_ml::{Activation, Model, Output, Task};

use crate::error::{Error, Result};

/// A homomorphic scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Approximate arithmetic on vectors of reals (CKKS).
    Ckks,
    /// Additive arithmetic on integers (Paillier), reals at fixed point.
    Paillier,
}

impl Scheme {
    /// `ckks` or `paillier`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Ckks => "ckks",
            Scheme::Paillier => "paillier",
        }
    }
}

impl std::str::FromStr for Scheme {
    type Err = Error;
    fn from_str(s: &str) -> Result<Scheme> {
        match s {
            "ckks" => Ok(Scheme::Ckks),
            "paillier" => Ok(Scheme::Paillier),
            _ => Err(Error::out_of_range(
                "scheme",
                format!("unknown scheme \"{s}\" (one of: ckks, paillier)"),
            )),
        }
    }
}

/// One dense layer `z = W·a + b`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    /// Weights, `outputs × inputs`.
    pub weights: Array2<f64>,
    /// Biases, one per output.
    pub bias: Array1<f64>,
}

/// A model compiled for homomorphic evaluation: dense layers with `square` between them,
/// on raw (unstandardised) features.
#[derive(Debug, Clone, PartialEq)]
pub struct Circuit {
    /// The dense layers, first to last; a square activation sits between consecutive ones.
    pub layers: Vec<Dense>,
    /// The feature columns the first layer takes, in order.
    pub features: Vec<String>,
    /// What the model predicts.
    pub task: Task,
    /// The link the client applies to the decrypted pre-activations.
    pub output: Output,
}

impl Circuit {
    /// Compiles `model`, or says which part cannot be evaluated under encryption and why.
    pub fn from_model(model: &Model) -> Result<Circuit> {
        model
            .validate()
            .map_err(|e| Error::unevaluable(e.to_string()))?;
        let arch = model.network.architecture();
        if !arch.hidden.is_empty() && arch.activation != Activation::Square {
            return Err(Error::unevaluable(format!(
                "layer 1 ({} hidden units) uses the {} activation, which is not a polynomial: \
                 homomorphic schemes add and multiply only (train with --activation square)",
                arch.hidden[0], arch.activation
            )));
        }
        let st = &model.standardizer;
        if st.clip.is_some() {
            return Err(Error::unevaluable(
                "the input standardisation clamps values (a DP-SGD model), which is not a \
                 polynomial",
            ));
        }
        let layers = (0..arch.layer_shapes().len())
            .map(|l| {
                let (w, b) = model.network.layer(l);
                let (mut weights, mut bias) = (w.to_owned(), b.to_owned());
                if l == 0 {
                    // z = W·(x − μ)/σ + b = (W/σ)·x + (b − (W/σ)·μ).
                    for (j, (&mu, &sd)) in st.mean.iter().zip(&st.scale).enumerate() {
                        let mut col = weights.column_mut(j);
                        col /= sd;
                        bias.scaled_add(-mu, &col);
                    }
                }
                Dense { weights, bias }
            })
            .collect();
        Ok(Circuit {
            layers,
            features: model.features.clone(),
            task: model.task.clone(),
            output: arch.output,
        })
    }

    /// Hidden layers (each followed by a square).
    pub fn hidden_layers(&self) -> usize {
        self.layers.len() - 1
    }

    /// Output units.
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.bias.len())
    }

    /// CKKS rescalings the circuit needs: one per dense layer and one per square.
    pub fn depth(&self) -> usize {
        2 * self.layers.len() - 1
    }

    /// Whether `scheme` can evaluate the circuit, and if not, why.
    pub fn check(&self, scheme: Scheme) -> Result<()> {
        if scheme == Scheme::Paillier && self.hidden_layers() > 0 {
            return Err(Error::unevaluable(format!(
                "layer 2 (the square activation after {} hidden units) multiplies two \
                 ciphertexts, which Paillier cannot do: use --scheme ckks",
                self.layers[0].bias.len()
            )));
        }
        Ok(())
    }

    /// The output pre-activations in the clear (`rows × outputs`), on raw features: what the
    /// encrypted evaluation approximates.
    pub fn plain_scores(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        let mut a = x.to_owned();
        for (l, layer) in self.layers.iter().enumerate() {
            let z = a.dot(&layer.weights.t()) + &layer.bias;
            a = if l + 1 < self.layers.len() {
                z.mapv(|v| v * v)
            } else {
                z
            };
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use ndarray::array;
    use veil_core::Standardizer;
    use veil_ml::{Architecture, ModelKind, Network};

    use super::*;

    fn model(hidden: Vec<usize>, activation: Activation, clip: Option<f64>) -> Model {
        let arch = Architecture {
            inputs: 2,
            hidden,
            activation,
            outputs: 1,
            output: Output::Sigmoid,
        };
        Model {
            kind: ModelKind::Mlp,
            network: Network::init(arch, 7).unwrap(),
            features: vec!["a".into(), "b".into()],
            standardizer: Standardizer {
                mean: vec![10.0, -3.0],
                scale: vec![2.0, 0.5],
                clip,
            },
            label: "y".into(),
            task: Task::Binary {
                classes: vec!["0".into(), "1".into()],
            },
        }
    }

    #[test]
    fn folding_the_standardiser_gives_the_models_own_logits() {
        let x = array![[11.0, -2.5], [7.0, -3.2], [10.0, -3.0]];
        for hidden in [vec![], vec![3], vec![4, 2]] {
            let m = model(hidden, Activation::Square, None);
            let circuit = Circuit::from_model(&m).unwrap();
            let std = m.standardizer.transform(x.view()).unwrap();
            let want = m.network.forward(std.view()).unwrap();
            let got = circuit.plain_scores(x.view());
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-12, "{g} vs {w}");
            }
            assert_eq!(circuit.depth(), 2 * circuit.hidden_layers() + 1);
        }
    }

    #[test]
    fn relu_clamps_and_paillier_products_are_refused_with_the_layer() {
        let err = Circuit::from_model(&model(vec![3], Activation::Relu, None))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("layer 1") && err.contains("relu") && err.contains("square"),
            "{err}"
        );
        let err = Circuit::from_model(&model(vec![], Activation::Relu, Some(3.0)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("clamps"), "{err}");
        let mlp = Circuit::from_model(&model(vec![3], Activation::Square, None)).unwrap();
        let err = mlp.check(Scheme::Paillier).unwrap_err().to_string();
        assert!(err.contains("layer 2") && err.contains("ckks"), "{err}");
        assert!(mlp.check(Scheme::Ckks).is_ok());
        let linear = Circuit::from_model(&model(vec![], Activation::Relu, None)).unwrap();
        assert!(linear.check(Scheme::Paillier).is_ok());
        assert_eq!(linear.depth(), 1);
    }
}
