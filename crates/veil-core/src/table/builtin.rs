//! The datasets embedded in every Veil binary, loaded with `builtin:NAME`.
//!
//! The CSV files live in the repository's `data/` folder with their sources and licences
//! (see `data/README.md`) and are compiled in with `include_bytes!`, so that Veil works from
//! any directory with nothing else on disk.

use super::Table;
use crate::error::{Error, Result};

/// An embedded dataset.
#[derive(Debug)]
pub struct Builtin {
    /// The name after `builtin:`.
    pub name: &'static str,
    /// The label column.
    pub label: &'static str,
    /// One line about the data, with its source.
    pub description: &'static str,
    /// The licence of the data.
    pub licence: &'static str,
    csv: &'static [u8],
}

impl Builtin {
    /// The embedded CSV text.
    pub fn csv(&self) -> &'static [u8] {
        self.csv
    }
}

/// Every embedded dataset.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "breast-cancer",
        label: "malignant",
        description: "Breast Cancer Wisconsin (Diagnostic), 569 tumours × 30 cell-nucleus measurements; \
                      label 1 = malignant (W. H. Wolberg, W. N. Street, O. L. Mangasarian, UCI, 1995)",
        licence: "CC BY 4.0 (UCI)",
        csv: include_bytes!("../../../../data/breast_cancer_wisconsin.csv"),
    },
    Builtin {
        name: "digits",
        label: "digit",
        description: "Optical Recognition of Handwritten Digits, 1797 images of 8×8 pixels (0–16); \
                      label 0–9 (E. Alpaydin, C. Kaynak, UCI, 1998)",
        licence: "CC BY 4.0 (UCI)",
        csv: include_bytes!("../../../../data/digits_8x8.csv"),
    },
];

/// Finds an embedded dataset by name.
pub fn find(name: &str) -> Result<&'static Builtin> {
    BUILTINS
        .iter()
        .find(|b| b.name == name)
        .ok_or_else(|| Error::UnknownBuiltin {
            name: name.to_string(),
            available: BUILTINS
                .iter()
                .map(|b| format!("builtin:{}", b.name))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

pub(super) fn load(name: &str) -> Result<Table> {
    let builtin = find(name)?;
    Table::from_csv_bytes(&format!("builtin:{name}"), builtin.csv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Role;

    #[test]
    fn breast_cancer_shape_and_classes() {
        let t = Table::load("builtin:breast-cancer").unwrap();
        assert_eq!((t.num_rows(), t.columns().len()), (569, 31));
        let y = t.class_labels("malignant").unwrap();
        assert_eq!(y.iter().filter(|c| *c == "1").count(), 212);
        assert_eq!(y.iter().filter(|c| *c == "0").count(), 357);
        assert_eq!(t.feature_matrix(&["radius_mean"]).unwrap()[[0, 0]], 17.99);
    }

    #[test]
    fn digits_shape() {
        let t = Table::load("builtin:digits").unwrap();
        assert_eq!((t.num_rows(), t.columns().len()), (1797, 65));
        assert!(t.column("digit", Role::Label).is_ok());
    }

    #[test]
    fn unknown_builtin_lists_the_known_ones() {
        let err = Table::load("builtin:iris").unwrap_err();
        assert!(err.to_string().contains("builtin:breast-cancer"), "{err}");
    }
}
