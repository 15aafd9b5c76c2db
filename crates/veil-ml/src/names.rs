//! Command-line and file-format names of Veil's small enums.

/// Implements `name()`, `Display` and `FromStr` for a fieldless enum from one table of
/// `Variant => "name"` pairs, so the spelling of each name lives in exactly one place.
macro_rules! named_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// The name used on the command line and in model files.
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err(format!(
                        "unknown {} \"{s}\" (one of: {})",
                        $what,
                        [$($name),+].join(", ")
                    )),
                }
            }
        }
    };
}

pub(crate) use named_enum;

#[cfg(test)]
mod tests {
    use crate::{Activation, ModelKind, OptimizerKind, Output};

    #[test]
    fn names_round_trip_and_unknown_names_list_the_choices() {
        for k in [
            ModelKind::Logreg,
            ModelKind::Softmax,
            ModelKind::Linear,
            ModelKind::Mlp,
        ] {
            assert_eq!(k.name().parse::<ModelKind>(), Ok(k));
        }
        assert_eq!("square".parse::<Activation>(), Ok(Activation::Square));
        assert_eq!("sgd".parse::<OptimizerKind>(), Ok(OptimizerKind::Sgd));
        assert_eq!(Output::Softmax.to_string(), "softmax");
        let err = "forest".parse::<ModelKind>().unwrap_err();
        assert_eq!(
            err,
            "unknown model \"forest\" (one of: logreg, softmax, linear, mlp)"
        );
    }
}
