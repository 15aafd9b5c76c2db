//! A trained model as a deployable unit: the network plus everything needed to apply it to
//! raw data — feature names, the standardisation fitted on the training rows, the label and
//! its classes.

use ndarray::{Array2, ArrayView2, Axis, concatenate};
use serde::Serialize;
use veil_core::{Column, Standardizer, Table, Values};

use crate::error::{Error, Result};
use crate::metrics::{Evaluation, argmax_rows};
use crate::network::Network;
use crate::task::{ModelKind, Task};

/// A trained model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// What kind of model this is.
    pub kind: ModelKind,
    /// The network and its parameters.
    pub network: Network,
    /// Input feature columns, in order.
    pub features: Vec<String>,
    /// Standardisation of the raw features (fitted on the training rows).
    pub standardizer: Standardizer,
    /// The label column's name.
    pub label: String,
    /// What the model predicts.
    pub task: Task,
}

/// Predictions for a batch of rows, in row order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Predictions {
    /// Binary models: the probability of the positive class.
    Positive(Vec<f64>),
    /// Multiclass models: one probability per class, in the model's class order.
    Classes(Vec<Vec<f64>>),
    /// Regression models: the predicted values.
    Values(Vec<f64>),
}

impl Predictions {
    /// Predictions from the output layer's values (`n × outputs`: the positive-class
    /// probability, the class probabilities, or the value) — however they were computed, in
    /// the clear or decrypted from a homomorphic evaluation.
    pub fn from_outputs(task: &Task, outputs: ArrayView2<'_, f64>) -> Predictions {
        match task {
            Task::Binary { .. } => Predictions::Positive(outputs.column(0).to_vec()),
            Task::Multiclass { .. } => {
                Predictions::Classes(outputs.rows().into_iter().map(|r| r.to_vec()).collect())
            }
            Task::Regression => Predictions::Values(outputs.column(0).to_vec()),
        }
    }

    /// The predicted class of each row (empty for regression): the positive class when its
    /// probability is at least ½, else the most probable class.
    pub fn labels(&self, task: &Task) -> Vec<String> {
        let classes = task.classes();
        match self {
            Predictions::Positive(p) => p
                .iter()
                .map(|&p| classes[usize::from(p >= 0.5)].clone())
                .collect(),
            Predictions::Classes(rows) => {
                let probs = Array2::from_shape_fn((rows.len(), classes.len()), |(i, j)| rows[i][j]);
                argmax_rows(probs.view())
                    .into_iter()
                    .map(|c| classes[c].clone())
                    .collect()
            }
            Predictions::Values(_) => Vec::new(),
        }
    }
}

impl Predictions {
    /// The predictions as a table, the schema of `veil predict --out`: `predicted,probability`
    /// (binary), `predicted,p_<class>...` (multiclass) or `prediction` (regression).
    pub fn to_table(&self, task: &Task) -> Result<Table> {
        let floats = |v: &[f64]| Values::Float(v.iter().copied().map(Some).collect());
        let predicted = || {
            Column::new(
                "predicted",
                Values::String(self.labels(task).into_iter().map(Some).collect()),
            )
        };
        let columns = match self {
            Predictions::Positive(p) => vec![predicted(), Column::new("probability", floats(p))],
            Predictions::Classes(rows) => {
                let mut columns = vec![predicted()];
                for (j, class) in task.classes().iter().enumerate() {
                    columns.push(Column::new(
                        format!("p_{class}"),
                        Values::Float(rows.iter().map(|r| r.get(j).copied()).collect()),
                    ));
                }
                columns
            }
            Predictions::Values(v) => vec![Column::new("prediction", floats(v))],
        };
        Ok(Table::new("predictions", columns)?)
    }
}

impl Model {
    /// Checks that the parts fit together (feature count, output width).
    pub fn validate(&self) -> Result<()> {
        let arch = self.network.architecture();
        if arch.inputs != self.features.len() || self.standardizer.dim() != self.features.len() {
            return Err(Error::shape(
                "model features",
                self.features.len(),
                format!(
                    "{} network inputs, {} standardisation columns",
                    arch.inputs,
                    self.standardizer.dim()
                ),
            ));
        }
        if (arch.output, arch.outputs) != self.task.output() {
            return Err(Error::config(
                "model",
                format!(
                    "a {} output with {} units cannot serve a {} task",
                    arch.output,
                    arch.outputs,
                    self.task.name()
                ),
            ));
        }
        Ok(())
    }

    /// The model's features of `table`, standardised.
    pub fn inputs(&self, table: &Table) -> Result<Array2<f64>> {
        let mut x = table.feature_matrix(&self.features)?;
        self.standardizer.transform_in_place(&mut x)?;
        Ok(x)
    }

    /// Class probabilities (`n × classes`; binary models get `[1 − p, p]`) or, for regression,
    /// the values as one column — for inputs that are already standardised.
    pub fn scores(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        let out = self.network.predict(x)?;
        Ok(match self.task {
            Task::Binary { .. } => {
                let neg = out.mapv(|p| 1.0 - p);
                concatenate(Axis(1), &[neg.view(), out.view()]).expect("two n × 1 columns")
            }
            _ => out,
        })
    }

    /// Predictions for the rows of a raw table (features are selected by name and standardised).
    pub fn predict(&self, table: &Table) -> Result<Predictions> {
        let outputs = self.network.predict(self.inputs(table)?.view())?;
        Ok(Predictions::from_outputs(&self.task, outputs.view()))
    }

    /// Metrics on a raw table that has the label column.
    pub fn evaluate(&self, table: &Table) -> Result<Evaluation> {
        table.require_rows()?;
        let x = self.inputs(table)?;
        let y = self.task.encode(table, &self.label)?;
        self.evaluate_inputs(x.view(), &y.to_vec())
    }

    /// Metrics on standardised inputs and encoded targets.
    pub fn evaluate_inputs(&self, x: ArrayView2<'_, f64>, y: &[f64]) -> Result<Evaluation> {
        let scores = self.scores(x)?;
        Ok(match self.task {
            Task::Regression => Evaluation::regression(y, &scores.column(0).to_vec()),
            _ => {
                let truth: Vec<usize> = y.iter().map(|&v| v as usize).collect();
                Evaluation::classification(&truth, scores.view())
            }
        })
    }
}
