//! Feed-forward networks whose parameters live in one flat vector.
//!
//! Every Veil model — linear, logistic and softmax regression, and the MLP — is a
//! [`Network`]: zero or more hidden dense layers with an [`Activation`], then a dense output
//! layer with an [`Output`] (link and loss). Linear models are simply networks without hidden
//! layers, so everything below holds for all of them.
//!
//! ## The flat parameter vector
//!
//! Federated averaging, secure aggregation, MPC and HE all treat a model as one vector of
//! numbers, so that is how it is stored. Layers are laid out from input to output; each layer
//! is its weight matrix `W` (shape `outputs × inputs`, row-major: `W[o][i]` at
//! `offset + o·inputs + i`) followed by its bias `b` (`outputs` entries). A layer computes
//! `z = W·a + b` for an input column `a`. [`Network::params`] and [`Network::set_params`] read
//! and write this vector; [`Network::layer`] views one layer inside it.
//!
//! ## Gradients
//!
//! [`Network::gradient`] returns the mean gradient over a batch (fast: two matrix products per
//! layer). [`Network::per_example_gradients`] returns one gradient *per example* as the rows of
//! an `n × p` matrix — what DP-SGD clips and noises (Abadi et al., CCS 2016, Algorithm 1). Both
//! come from the same backward pass: with `δ_l` the per-example ∂loss/∂z of layer `l` and `a_l`
//! its input, example `i`'s weight gradient is the outer product `δ_l[i] ⊗ a_l[i]` and its bias
//! gradient is `δ_l[i]`; the mean gradient is `δ_lᵀ a_l / n`. Neither includes L2
//! regularisation, which is data-independent and added by the optimiser step.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, Axis, Slice};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::output::Output;

/// The shape of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Architecture {
    /// Number of input features.
    pub inputs: usize,
    /// Widths of the hidden layers (empty for linear models).
    pub hidden: Vec<usize>,
    /// Activation of the hidden layers.
    pub activation: Activation,
    /// Number of output units (1 for sigmoid and identity, the class count for softmax).
    pub outputs: usize,
    /// Output link and loss.
    pub output: Output,
}

impl Architecture {
    /// `(outputs, inputs)` of each dense layer, from input to output.
    pub fn layer_shapes(&self) -> Vec<(usize, usize)> {
        let mut widths = vec![self.inputs];
        widths.extend(&self.hidden);
        widths.push(self.outputs);
        widths.windows(2).map(|w| (w[1], w[0])).collect()
    }

    /// Total number of parameters (saturating at `usize::MAX`, for shapes read from a file
    /// that no memory could hold).
    pub fn num_params(&self) -> usize {
        self.layer_shapes()
            .iter()
            .map(|&(o, i)| o.saturating_mul(i).saturating_add(o))
            .fold(0, usize::saturating_add)
    }

    fn validate(&self) -> Result<()> {
        if self.inputs == 0 {
            return Err(Error::config(
                "model",
                "it needs at least one input feature",
            ));
        }
        if self.hidden.contains(&0) {
            return Err(Error::config(
                "hidden layers",
                "every hidden layer needs at least one unit",
            ));
        }
        let ok = match self.output {
            Output::Sigmoid | Output::Identity => self.outputs == 1,
            Output::Softmax => self.outputs >= 2,
        };
        if !ok {
            return Err(Error::config(
                "model",
                format!(
                    "a {} output cannot have {} units",
                    self.output, self.outputs
                ),
            ));
        }
        Ok(())
    }
}

/// A feed-forward network with a flat parameter vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    arch: Architecture,
    shapes: Vec<(usize, usize)>,
    offsets: Vec<usize>,
    params: Array1<f64>,
}

/// What the forward pass keeps for the backward pass.
struct Trace {
    /// Pre-activations of every layer (the last is the output layer's `z`).
    z: Vec<Array2<f64>>,
    /// Activations of the hidden layers (the inputs of layers 1..L).
    a: Vec<Array2<f64>>,
}

impl Network {
    /// A network with all parameters zero — the usual start for convex (linear) models.
    pub fn zeros(arch: Architecture) -> Result<Self> {
        let p = arch.num_params();
        Self::from_params(arch, Array1::zeros(p))
    }

    /// A network with seeded random weights and zero biases: He-uniform (variance 2/fan-in)
    /// before ReLU, LeCun-uniform (variance 1/fan-in) before `square` and at the output.
    /// Networks without hidden layers start at zero.
    pub fn init(arch: Architecture, seed: u64) -> Result<Self> {
        let mut net = Self::zeros(arch)?;
        if net.arch.hidden.is_empty() {
            return Ok(net);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let last = net.shapes.len() - 1;
        for l in 0..net.shapes.len() {
            let (out, inp) = net.shapes[l];
            let gain = if l < last && net.arch.activation == Activation::Relu {
                2.0
            } else {
                1.0
            };
            let bound = (3.0 * gain / inp as f64).sqrt();
            let off = net.offsets[l];
            for w in net
                .params
                .slice_axis_mut(Axis(0), Slice::from(off..off + out * inp))
            {
                *w = rng.random_range(-bound..bound);
            }
        }
        Ok(net)
    }

    /// A network with the given flat parameters (layout in the module docs).
    pub fn from_params(arch: Architecture, params: Array1<f64>) -> Result<Self> {
        arch.validate()?;
        let shapes = arch.layer_shapes();
        let mut offsets = Vec::with_capacity(shapes.len());
        let mut total = 0;
        for (o, i) in &shapes {
            offsets.push(total);
            total += o * i + o;
        }
        if params.len() != total {
            return Err(Error::shape("parameter vector", total, params.len()));
        }
        Ok(Network {
            arch,
            shapes,
            offsets,
            params,
        })
    }

    /// The network's shape.
    pub fn architecture(&self) -> &Architecture {
        &self.arch
    }

    /// `(outputs, inputs)` of each layer.
    pub fn layer_shapes(&self) -> &[(usize, usize)] {
        &self.shapes
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.params.len()
    }

    /// The flat parameter vector.
    pub fn params(&self) -> ArrayView1<'_, f64> {
        self.params.view()
    }

    /// The flat parameter vector, for in-place updates by an optimiser.
    pub fn params_mut(&mut self) -> ArrayViewMut1<'_, f64> {
        self.params.view_mut()
    }

    /// Replaces all parameters; the length must equal [`Network::num_params`].
    pub fn set_params(&mut self, params: ArrayView1<'_, f64>) -> Result<()> {
        if params.len() != self.params.len() {
            return Err(Error::shape(
                "parameter vector",
                self.params.len(),
                params.len(),
            ));
        }
        if let Some(i) = params.iter().position(|v| !v.is_finite()) {
            return Err(Error::config(
                "parameters",
                format!("parameter {i} is not finite"),
            ));
        }
        self.params.assign(&params);
        Ok(())
    }

    /// 1 for each weight, 0 for each bias: the parameters L2 regularisation applies to.
    pub fn weight_mask(&self) -> Array1<f64> {
        let mut mask = Array1::zeros(self.params.len());
        for (&(o, i), &off) in self.shapes.iter().zip(&self.offsets) {
            mask.slice_axis_mut(Axis(0), Slice::from(off..off + o * i))
                .fill(1.0);
        }
        mask
    }

    /// Weight matrix (`outputs × inputs`) and bias of layer `l` (0 is next to the input).
    pub fn layer(&self, l: usize) -> (ArrayView2<'_, f64>, ArrayView1<'_, f64>) {
        let (o, i) = self.shapes[l];
        let off = self.offsets[l];
        let w = self
            .params
            .slice_axis(Axis(0), Slice::from(off..off + o * i))
            .into_shape_with_order((o, i))
            .expect("a contiguous slice of o·i elements reshapes to o × i");
        (
            w,
            self.params
                .slice_axis(Axis(0), Slice::from(off + o * i..off + o * i + o)),
        )
    }

    fn check_input(&self, x: ArrayView2<'_, f64>) -> Result<()> {
        if x.ncols() != self.arch.inputs {
            return Err(Error::shape("input features", self.arch.inputs, x.ncols()));
        }
        Ok(())
    }

    fn trace(&self, x: ArrayView2<'_, f64>) -> Trace {
        let layers = self.shapes.len();
        let mut trace = Trace {
            z: Vec::with_capacity(layers),
            a: Vec::with_capacity(layers - 1),
        };
        for l in 0..layers {
            let (w, b) = self.layer(l);
            let input = if l == 0 { x } else { trace.a[l - 1].view() };
            let z = input.dot(&w.t()) + b;
            if l + 1 < layers {
                trace.a.push(self.arch.activation.apply(&z));
            }
            trace.z.push(z);
        }
        trace
    }

    /// The output layer's pre-activations `z` (logits, or values for regression).
    pub fn forward(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        self.check_input(x)?;
        Ok(self
            .trace(x)
            .z
            .pop()
            .expect("a network has at least one layer"))
    }

    /// Predictions: probabilities for classification, values for regression.
    pub fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        Ok(self.arch.output.predict(self.forward(x)?.view()))
    }

    /// Per-example losses.
    pub fn losses(&self, x: ArrayView2<'_, f64>, y: ArrayView1<'_, f64>) -> Result<Array1<f64>> {
        self.check_batch(x, y)?;
        let z = self.forward(x)?;
        Ok(self.arch.output.loss_and_delta(z.view(), y).0)
    }

    fn check_batch(&self, x: ArrayView2<'_, f64>, y: ArrayView1<'_, f64>) -> Result<()> {
        self.check_input(x)?;
        if x.nrows() != y.len() {
            return Err(Error::shape("targets", x.nrows(), y.len()));
        }
        self.arch.output.check_targets(y, self.arch.outputs)
    }

    /// Per-example losses and the per-example `δ` of every layer.
    fn backward(
        &self,
        x: ArrayView2<'_, f64>,
        y: ArrayView1<'_, f64>,
    ) -> Result<(Array1<f64>, Trace, Vec<Array2<f64>>)> {
        self.check_batch(x, y)?;
        let trace = self.trace(x);
        let layers = self.shapes.len();
        let (losses, delta_out) = self
            .arch
            .output
            .loss_and_delta(trace.z[layers - 1].view(), y);
        let mut deltas = vec![Array2::zeros((0, 0)); layers];
        deltas[layers - 1] = delta_out;
        for l in (0..layers - 1).rev() {
            let (w_next, _) = self.layer(l + 1);
            let mut d = deltas[l + 1].dot(&w_next);
            self.arch.activation.backprop(&trace.z[l], &mut d);
            deltas[l] = d;
        }
        Ok((losses, trace, deltas))
    }

    /// Mean loss and mean gradient over the batch (no regularisation).
    pub fn gradient(
        &self,
        x: ArrayView2<'_, f64>,
        y: ArrayView1<'_, f64>,
    ) -> Result<(f64, Array1<f64>)> {
        let (losses, trace, deltas) = self.backward(x, y)?;
        let n = x.nrows().max(1) as f64;
        let mut grad = Array1::zeros(self.params.len());
        for (l, delta) in deltas.iter().enumerate() {
            let (o, i) = self.shapes[l];
            let off = self.offsets[l];
            let input = if l == 0 { x } else { trace.a[l - 1].view() };
            let gw = delta.t().dot(&input) / n;
            grad.slice_axis_mut(Axis(0), Slice::from(off..off + o * i))
                .iter_mut()
                .zip(gw.iter())
                .for_each(|(g, &v)| *g = v);
            grad.slice_axis_mut(Axis(0), Slice::from(off + o * i..off + o * i + o))
                .assign(&(delta.sum_axis(Axis(0)) / n));
        }
        Ok((losses.sum() / n, grad))
    }

    /// Per-example losses, and the sum over the batch of every example's gradient scaled to
    /// L2 norm at most `clip` — what DP-SGD needs — without materialising the per-example
    /// gradients. A dense layer's per-example weight gradient is the outer product δᵣ ⊗ aᵣ,
    /// whose norm is ‖δᵣ‖·‖aᵣ‖, so each example's norm comes from the layer's activations
    /// and deltas; the clipped sum is then one product (diag(c)·Δ)ᵀ·A per layer, like the
    /// ordinary gradient (I. Goodfellow, "Efficient Per-Example Gradient Computations",
    /// 2015). Returns (losses, clipped sum, each example's gradient norm before clipping).
    pub fn clipped_gradient_sum(
        &self,
        x: ArrayView2<'_, f64>,
        y: ArrayView1<'_, f64>,
        clip: f64,
    ) -> Result<(Array1<f64>, Array1<f64>, Array1<f64>)> {
        let (losses, trace, deltas) = self.backward(x, y)?;
        let rows = x.nrows();
        let mut norm2 = Array1::<f64>::zeros(rows);
        for (l, delta) in deltas.iter().enumerate() {
            let input = if l == 0 { x } else { trace.a[l - 1].view() };
            for r in 0..rows {
                let d2 = delta.row(r).dot(&delta.row(r));
                let a2 = input.row(r).dot(&input.row(r));
                norm2[r] += d2 * a2 + d2;
            }
        }
        let norms = norm2.mapv(f64::sqrt);
        let scale = norms.mapv(|n| if n > clip { clip / n } else { 1.0 });
        let mut sum = Array1::zeros(self.params.len());
        for (l, delta) in deltas.iter().enumerate() {
            let (o, i) = self.shapes[l];
            let off = self.offsets[l];
            let input = if l == 0 { x } else { trace.a[l - 1].view() };
            let scaled = delta * &scale.view().insert_axis(Axis(1));
            let gw = scaled.t().dot(&input);
            sum.slice_axis_mut(Axis(0), Slice::from(off..off + o * i))
                .iter_mut()
                .zip(gw.iter())
                .for_each(|(g, &v)| *g = v);
            sum.slice_axis_mut(Axis(0), Slice::from(off + o * i..off + o * i + o))
                .assign(&scaled.sum_axis(Axis(0)));
        }
        Ok((losses, sum, norms))
    }

    /// Per-example losses and gradients: row `i` of the matrix is the gradient of example
    /// `i`'s loss with respect to the flat parameter vector.
    pub fn per_example_gradients(
        &self,
        x: ArrayView2<'_, f64>,
        y: ArrayView1<'_, f64>,
    ) -> Result<(Array1<f64>, Array2<f64>)> {
        let (losses, trace, deltas) = self.backward(x, y)?;
        let mut grads = Array2::zeros((x.nrows(), self.params.len()));
        for (l, delta) in deltas.iter().enumerate() {
            let (o, i) = self.shapes[l];
            let off = self.offsets[l];
            let input = if l == 0 { x } else { trace.a[l - 1].view() };
            for (mut g, (d, a)) in grads
                .rows_mut()
                .into_iter()
                .zip(delta.rows().into_iter().zip(input.rows()))
            {
                for (unit, &du) in d.iter().enumerate() {
                    if du != 0.0 {
                        let mut gw = g.slice_axis_mut(
                            Axis(0),
                            Slice::from(off + unit * i..off + (unit + 1) * i),
                        );
                        gw.zip_mut_with(&a, |gv, &av| *gv = du * av);
                    }
                }
                g.slice_axis_mut(Axis(0), Slice::from(off + o * i..off + o * i + o))
                    .assign(&d);
            }
        }
        Ok((losses, grads))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;
    use proptest::{prop_assert_eq, proptest};

    fn arch(
        hidden: Vec<usize>,
        activation: Activation,
        output: Output,
        outputs: usize,
    ) -> Architecture {
        Architecture {
            inputs: 4,
            hidden,
            activation,
            outputs,
            output,
        }
    }

    /// All the model shapes Veil trains.
    fn all_architectures() -> Vec<Architecture> {
        vec![
            arch(vec![], Activation::Relu, Output::Sigmoid, 1), // logistic regression
            arch(vec![], Activation::Relu, Output::Softmax, 3), // softmax regression
            arch(vec![], Activation::Relu, Output::Identity, 1), // linear regression
            arch(vec![5, 3], Activation::Relu, Output::Softmax, 3),
            arch(vec![6], Activation::Square, Output::Sigmoid, 1),
            arch(vec![4], Activation::Relu, Output::Identity, 1),
        ]
    }

    fn data(seed: u64, n: usize, output: Output, k: usize) -> (Array2<f64>, Array1<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = Array::from_shape_fn((n, 4), |_| rng.random_range(-1.5..1.5));
        let y = Array::from_shape_fn(n, |_| match output {
            Output::Sigmoid => f64::from(rng.random_range(0..2u8)),
            Output::Softmax => rng.random_range(0..k) as f64,
            Output::Identity => rng.random_range(-2.0..2.0),
        });
        (x, y)
    }

    fn random_params(net: &mut Network, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let p = Array::from_shape_fn(net.num_params(), |_| rng.random_range(-0.8..0.8));
        net.set_params(p.view()).unwrap();
    }

    /// Central finite differences of every example's loss against its gradient row.
    #[test]
    fn per_example_gradients_match_finite_differences() {
        for (case, a) in all_architectures().into_iter().enumerate() {
            let (output, k) = (a.output, a.outputs);
            let mut net = Network::zeros(a).unwrap();
            random_params(&mut net, case as u64);
            let (x, y) = data(100 + case as u64, 5, output, k);
            let (_, grads) = net.per_example_gradients(x.view(), y.view()).unwrap();
            let base = net.params().to_owned();
            let h = 1e-6;
            for j in 0..net.num_params() {
                let mut plus = base.clone();
                plus[j] += h;
                let mut minus = base.clone();
                minus[j] -= h;
                net.set_params(plus.view()).unwrap();
                let lp = net.losses(x.view(), y.view()).unwrap();
                net.set_params(minus.view()).unwrap();
                let lm = net.losses(x.view(), y.view()).unwrap();
                for i in 0..x.nrows() {
                    let numeric = (lp[i] - lm[i]) / (2.0 * h);
                    let analytic = grads[[i, j]];
                    assert!(
                        (numeric - analytic).abs() <= 1e-5 * (1.0 + numeric.abs()),
                        "case {case}, example {i}, parameter {j}: numeric {numeric}, analytic {analytic}"
                    );
                }
            }
            net.set_params(base.view()).unwrap();
        }
    }

    #[test]
    fn mean_gradient_is_mean_of_per_example_gradients() {
        for (case, a) in all_architectures().into_iter().enumerate() {
            let (output, k) = (a.output, a.outputs);
            let mut net = Network::zeros(a).unwrap();
            random_params(&mut net, 7 + case as u64);
            let (x, y) = data(case as u64, 9, output, k);
            let (loss, g) = net.gradient(x.view(), y.view()).unwrap();
            let (losses, per) = net.per_example_gradients(x.view(), y.view()).unwrap();
            assert!((loss - losses.mean().unwrap()).abs() < 1e-12);
            let mean = per.mean_axis(Axis(0)).unwrap();
            assert!((&g - &mean).iter().all(|d| d.abs() < 1e-12), "case {case}");
        }
    }

    #[test]
    fn layer_views_follow_the_documented_layout() {
        let a = arch(vec![2], Activation::Relu, Output::Sigmoid, 1);
        // Layer 0: W 2×4 then b 2; layer 1: W 1×2 then b 1 → 8 + 2 + 2 + 1 = 13.
        let net = Network::from_params(a, Array1::from_iter((0..13).map(f64::from))).unwrap();
        let (w0, b0) = net.layer(0);
        assert_eq!(w0[[1, 3]], 7.0);
        assert_eq!(b0.to_vec(), [8.0, 9.0]);
        let (w1, b1) = net.layer(1);
        assert_eq!(w1.to_owned().into_raw_vec_and_offset().0, [10.0, 11.0]);
        assert_eq!(b1.to_vec(), [12.0]);
        assert_eq!(net.weight_mask().sum(), 10.0);
    }

    #[test]
    fn bad_shapes_are_errors() {
        let a = arch(vec![], Activation::Relu, Output::Sigmoid, 1);
        assert!(Network::from_params(a.clone(), Array1::zeros(3)).is_err());
        let mut net = Network::zeros(a).unwrap();
        assert!(net.set_params(Array1::zeros(2).view()).is_err());
        assert!(
            net.set_params(Array1::from_elem(5, f64::NAN).view())
                .is_err()
        );
        assert!(net.forward(Array2::zeros((2, 3)).view()).is_err());
        assert!(
            net.gradient(Array2::zeros((2, 4)).view(), Array1::zeros(3).view())
                .is_err()
        );
        let bad = arch(vec![], Activation::Relu, Output::Softmax, 1);
        assert!(Network::zeros(bad).is_err());
    }

    /// The clipped sum without per-example gradients equals clipping each explicit row.
    #[test]
    fn clipped_gradient_sum_equals_clipping_each_example() {
        for (case, a) in all_architectures().into_iter().enumerate() {
            let (output, k) = (a.output, a.outputs);
            let mut net = Network::zeros(a).unwrap();
            random_params(&mut net, 50 + case as u64);
            let (x, y) = data(200 + case as u64, 9, output, k);
            let (losses, grads) = net.per_example_gradients(x.view(), y.view()).unwrap();
            for clip in [1e-3, 0.1, 1.0, 1e6] {
                let (l2, sum, norms) = net.clipped_gradient_sum(x.view(), y.view(), clip).unwrap();
                assert_eq!(l2, losses);
                let mut want = Array1::<f64>::zeros(net.num_params());
                for (r, row) in grads.rows().into_iter().enumerate() {
                    let n = row.dot(&row).sqrt();
                    assert!(
                        (norms[r] - n).abs() <= 1e-9 * n.max(1.0),
                        "case {case}: {} vs {n}",
                        norms[r]
                    );
                    let c = if n > clip { clip / n } else { 1.0 };
                    want.scaled_add(c, &row);
                }
                for (g, w) in sum.iter().zip(want.iter()) {
                    assert!(
                        (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                        "case {case}, clip {clip}: {g} vs {w}"
                    );
                }
            }
        }
    }

    proptest! {
        #[test]
        fn flat_parameters_round_trip(seed: u64, hidden in proptest::collection::vec(1usize..6, 0..3)) {
            let a = arch(hidden, Activation::Relu, Output::Softmax, 3);
            let net = Network::init(a.clone(), seed).unwrap();
            let copy = Network::from_params(a, net.params().to_owned()).unwrap();
            prop_assert_eq!(&copy, &net);
            let x = Array2::from_elem((2, 4), 0.5);
            prop_assert_eq!(copy.predict(x.view()).unwrap(), net.predict(x.view()).unwrap());
        }
    }
}
