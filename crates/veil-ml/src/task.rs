//! What a model predicts: a binary class, one of several classes, or a number.
//!
//! Classes are the label column's distinct canonical values (see
//! [`veil_core::Table::class_labels`]), sorted numerically when they are all numbers and
//! lexicographically otherwise. For a binary task the second class is the positive one, so
//! for 0/1 labels the model gives the probability of 1, and for `false`/`true` of `true`.

use ndarray::Array1;
use veil_core::{Role, Table};

use crate::error::{Error, Result};
use crate::names::named_enum;
use crate::output::Output;

/// The kinds of model Veil trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// Logistic regression (binary).
    Logreg,
    /// Softmax (multinomial logistic) regression.
    Softmax,
    /// Linear regression (least squares).
    Linear,
    /// Multi-layer perceptron.
    Mlp,
}

impl ModelKind {
    /// The linear model suited to `task`.
    pub fn linear_for(task: &Task) -> ModelKind {
        match task {
            Task::Binary { .. } => ModelKind::Logreg,
            Task::Multiclass { .. } => ModelKind::Softmax,
            Task::Regression => ModelKind::Linear,
        }
    }
}

named_enum!(ModelKind, "model", {
    Logreg => "logreg",
    Softmax => "softmax",
    Linear => "linear",
    Mlp => "mlp",
});

/// What a model predicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// Two classes; `classes[1]` is the positive class.
    Binary {
        /// The two classes, sorted.
        classes: Vec<String>,
    },
    /// Two or more classes, predicted with a softmax.
    Multiclass {
        /// The classes, sorted.
        classes: Vec<String>,
    },
    /// A real value.
    Regression,
}

/// Integer labels with more distinct values than this are taken as a regression target when
/// the model kind does not say otherwise.
const MAX_AUTO_CLASSES: usize = 50;

impl Task {
    /// Works out the task from the label column and, when given, the model kind:
    ///
    /// | model | task |
    /// |---|---|
    /// | `linear` | regression (the label must be numeric) |
    /// | `logreg` | binary (exactly two classes) |
    /// | `softmax` | multiclass (two or more classes) |
    /// | `mlp` or none | regression if the label has non-whole numbers or more than 50 distinct numbers; else binary for two classes, multiclass for more |
    pub fn infer(table: &Table, label: &str, kind: Option<ModelKind>) -> Result<Task> {
        if kind == Some(ModelKind::Linear) {
            table.numeric_column(label, Role::Label)?;
            return Ok(Task::Regression);
        }
        if kind != Some(ModelKind::Logreg)
            && kind != Some(ModelKind::Softmax)
            && table.is_continuous(label)?
        {
            return Ok(Task::Regression);
        }
        let classes = sorted_classes(&table.class_labels(label)?);
        let numeric = classes.iter().all(|c| c.parse::<f64>().is_ok());
        if kind.is_none_or(|k| k == ModelKind::Mlp) && numeric && classes.len() > MAX_AUTO_CLASSES {
            return Ok(Task::Regression);
        }
        Task::classify(label, classes, kind)
    }

    /// The classification task over `classes`, given in advance (public) rather than read
    /// from the data: sorted as [`Task::infer`] sorts them, duplicates dropped.
    pub fn from_classes(label: &str, classes: &[String], kind: Option<ModelKind>) -> Result<Task> {
        if kind == Some(ModelKind::Linear) {
            return Err(Error::Label {
                label: label.to_string(),
                message: "classes apply to classifiers; linear regression predicts a number".into(),
            });
        }
        Task::classify(label, sorted_classes(classes), kind)
    }

    /// Binary or multiclass over sorted `classes`, as `kind` allows.
    fn classify(label: &str, classes: Vec<String>, kind: Option<ModelKind>) -> Result<Task> {
        let err = |message: String| Error::Label {
            label: label.to_string(),
            message,
        };
        match (kind, classes.len()) {
            (_, 0 | 1) => Err(err(format!(
                "{} class(es) found; classification needs at least two",
                classes.len()
            ))),
            (Some(ModelKind::Logreg), 2) | (None | Some(ModelKind::Mlp), 2) => {
                Ok(Task::Binary { classes })
            }
            (Some(ModelKind::Logreg), k) => Err(err(format!(
                "logistic regression needs exactly two classes, found {k}; use --model softmax"
            ))),
            _ => Ok(Task::Multiclass { classes }),
        }
    }

    /// The class names (empty for regression).
    pub fn classes(&self) -> &[String] {
        match self {
            Task::Binary { classes } | Task::Multiclass { classes } => classes,
            Task::Regression => &[],
        }
    }

    /// `binary`, `multiclass` or `regression`.
    pub fn name(&self) -> &'static str {
        match self {
            Task::Binary { .. } => "binary",
            Task::Multiclass { .. } => "multiclass",
            Task::Regression => "regression",
        }
    }

    /// The output layer and its width for this task.
    pub fn output(&self) -> (Output, usize) {
        match self {
            Task::Binary { .. } => (Output::Sigmoid, 1),
            Task::Multiclass { classes } => (Output::Softmax, classes.len()),
            Task::Regression => (Output::Identity, 1),
        }
    }

    /// The label column as training targets: 0/1 for binary, class index for multiclass,
    /// the value for regression. A class the task does not know is an error naming its line.
    pub fn encode(&self, table: &Table, label: &str) -> Result<Array1<f64>> {
        match self {
            Task::Regression => Ok(Array1::from(table.numeric_column(label, Role::Label)?)),
            Task::Binary { classes } | Task::Multiclass { classes } => {
                let labels = table.class_labels(label)?;
                labels
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        classes
                            .iter()
                            .position(|c| c == l)
                            .map(|c| c as f64)
                            .ok_or_else(|| Error::Label {
                                label: label.to_string(),
                                message: format!(
                                    "{}: {}: class \"{l}\" is not one of the model's classes ({})",
                                    table.source(),
                                    table.row_ref(i),
                                    classes.join(", ")
                                ),
                            })
                    })
                    .collect()
            }
        }
    }
}

pub use veil_core::table::sorted_classes;

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        Table::from_csv_bytes("t.csv", text.as_bytes()).unwrap()
    }

    #[test]
    fn numeric_classes_sort_numerically() {
        let labels: Vec<String> = ["10", "9", "2", "10"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(sorted_classes(&labels), ["2", "9", "10"]);
    }

    #[test]
    fn inference_rules() {
        let t = table("y,z,w\n0,0.5,a\n1,1.5,b\n1,2.5,c\n");
        assert_eq!(
            Task::infer(&t, "y", None).unwrap(),
            Task::Binary {
                classes: vec!["0".into(), "1".into()]
            }
        );
        assert_eq!(Task::infer(&t, "z", None).unwrap(), Task::Regression);
        assert_eq!(
            Task::infer(&t, "w", Some(ModelKind::Mlp))
                .unwrap()
                .classes()
                .len(),
            3
        );
        assert!(Task::infer(&t, "w", Some(ModelKind::Logreg)).is_err());
        assert!(Task::infer(&t, "w", Some(ModelKind::Linear)).is_err());
        assert_eq!(
            Task::infer(&t, "y", Some(ModelKind::Softmax)).unwrap(),
            Task::Multiclass {
                classes: vec!["0".into(), "1".into()]
            }
        );
    }

    #[test]
    fn single_class_is_an_error() {
        let t = table("y\n1\n1\n");
        assert!(matches!(
            Task::infer(&t, "y", None),
            Err(Error::Label { .. })
        ));
    }

    #[test]
    fn unknown_class_names_the_line() {
        let task = Task::Binary {
            classes: vec!["a".into(), "b".into()],
        };
        let err = task.encode(&table("y\na\nc\n"), "y").unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
    }
}
