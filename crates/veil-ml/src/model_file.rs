//! Model files: safetensors with Veil's metadata.
//!
//! A model file is a standard safetensors file (an 8-byte little-endian header length, a JSON
//! header, then the raw tensor bytes), so any safetensors reader — Python's `safetensors`
//! package, for one — opens it. Tensors, all `F64` little-endian:
//!
//! * `layers.{l}.weight` — shape `[outputs, inputs]` of dense layer `l` (0 is next to the input);
//! * `layers.{l}.bias` — shape `[outputs]`.
//!
//! The header's `__metadata__` (strings only, as safetensors requires) carries:
//!
//! | key | value |
//! |---|---|
//! | `format` | `veil-model` |
//! | `format_version` | `1` |
//! | `veil_version` | the Veil version that wrote the file |
//! | `kind` | `logreg`, `softmax`, `linear` or `mlp` |
//! | `task` | `binary`, `multiclass` or `regression` |
//! | `activation` | `relu` or `square` (hidden layers; present for every model) |
//! | `output` | `sigmoid`, `softmax` or `identity` |
//! | `layer_shapes` | JSON `[[outputs, inputs], ...]` |
//! | `feature_names` | JSON array of the input columns |
//! | `standardization` | JSON `{"mean": [...], "scale": [...]}` and optionally `"clip": c`; inputs are `(x − mean) / scale`, clamped to [−c, c] when `clip` is present |
//! | `label` | the label column |
//! | `classes` | JSON array of class names (empty for regression); for binary models the second is positive |
//!
//! Readers reject another `format`, an unknown `format_version`, missing keys, and tensors
//! whose shapes disagree with `layer_shapes`.

use std::collections::HashMap;
use std::path::Path;

use ndarray::Array1;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use veil_core::Standardizer;
use veil_core::atomic::write_atomic_bytes;

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::network::{Architecture, Network};
use crate::output::Output;
use crate::task::{ModelKind, Task};

/// The value of the `format` metadata key.
pub const FORMAT: &str = "veil-model";
/// The model-file version this build writes and reads.
pub const FORMAT_VERSION: &str = "1";

/// Serialises a model to safetensors bytes.
pub fn to_bytes(model: &Model) -> Result<Vec<u8>> {
    model.validate()?;
    let net = &model.network;
    let arch = net.architecture();
    let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (l, &(o, i)) in net.layer_shapes().iter().enumerate() {
        let (w, b) = net.layer(l);
        buffers.push((format!("layers.{l}.weight"), vec![o, i], le_bytes(w.iter())));
        buffers.push((format!("layers.{l}.bias"), vec![o], le_bytes(b.iter())));
    }
    let metadata: HashMap<String, String> = [
        ("format", FORMAT.to_string()),
        ("format_version", FORMAT_VERSION.to_string()),
        ("veil_version", env!("CARGO_PKG_VERSION").to_string()),
        ("kind", model.kind.name().to_string()),
        ("task", model.task.name().to_string()),
        ("activation", arch.activation.name().to_string()),
        ("output", arch.output.name().to_string()),
        (
            "layer_shapes",
            json(
                &net.layer_shapes()
                    .iter()
                    .map(|&(o, i)| [o, i])
                    .collect::<Vec<_>>(),
            ),
        ),
        ("feature_names", json(&model.features)),
        ("standardization", json(&model.standardizer)),
        ("label", model.label.clone()),
        ("classes", json(&model.task.classes().to_vec())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let views = buffers
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F64, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::config("model tensors", e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::config("model file", e.to_string()))
}

/// Writes a model file atomically.
pub fn save(model: &Model, path: &Path) -> Result<()> {
    let bytes = to_bytes(model)?;
    Ok(write_atomic_bytes(path, &bytes)?)
}

/// Reads a model file.
pub fn load(path: &Path) -> Result<Model> {
    let bytes = std::fs::read(path).map_err(|e| veil_core::Error::io(path, e))?;
    from_bytes(&bytes, &path.display().to_string())
}

/// Parses model-file bytes; `name` is used in error messages.
pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Model> {
    let bad = |message: String| Error::ModelFile {
        path: name.to_string(),
        message,
    };
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("not a safetensors file ({e})")))?;
    let meta = header
        .metadata()
        .as_ref()
        .ok_or_else(|| bad("no __metadata__ (is it a Veil model?)".into()))?;
    let get = |key: &str| {
        meta.get(key)
            .ok_or_else(|| bad(format!("metadata key \"{key}\" is missing")))
    };
    let parse = |key: &str| -> Result<serde_json::Value> {
        serde_json::from_str(get(key)?)
            .map_err(|e| bad(format!("metadata \"{key}\" is not valid JSON: {e}")))
    };
    if get("format")? != FORMAT {
        return Err(bad(format!(
            "format is \"{}\", expected \"{FORMAT}\"",
            get("format")?
        )));
    }
    if get("format_version")? != FORMAT_VERSION {
        return Err(bad(format!(
            "format version {} is not supported by this Veil (it reads version {FORMAT_VERSION}); upgrade Veil",
            get("format_version")?
        )));
    }
    let kind: ModelKind = get("kind")?.parse().map_err(bad)?;
    let activation: Activation = get("activation")?.parse().map_err(bad)?;
    let output: Output = get("output")?.parse().map_err(bad)?;
    let shapes: Vec<(usize, usize)> =
        serde_json::from_value::<Vec<[usize; 2]>>(parse("layer_shapes")?)
            .map_err(|e| bad(format!("layer_shapes: {e}")))?
            .into_iter()
            .map(|[o, i]| (o, i))
            .collect();
    let features: Vec<String> = serde_json::from_value(parse("feature_names")?)
        .map_err(|e| bad(format!("feature_names: {e}")))?;
    let standardizer: Standardizer = serde_json::from_value(parse("standardization")?)
        .map_err(|e| bad(format!("standardization: {e}")))?;
    let classes: Vec<String> =
        serde_json::from_value(parse("classes")?).map_err(|e| bad(format!("classes: {e}")))?;
    let task = match get("task")?.as_str() {
        "binary" => Task::Binary { classes },
        "multiclass" => Task::Multiclass { classes },
        "regression" => Task::Regression,
        other => return Err(bad(format!("unknown task \"{other}\""))),
    };
    let (first, last) = match (shapes.first(), shapes.last()) {
        (Some(f), Some(l)) => (*f, *l),
        _ => return Err(bad("layer_shapes is empty".into())),
    };
    if shapes.windows(2).any(|w| w[1].1 != w[0].0) {
        return Err(bad(
            "layer_shapes do not chain (a layer's inputs must be the previous layer's outputs)"
                .into(),
        ));
    }
    let arch = Architecture {
        inputs: first.1,
        hidden: shapes[..shapes.len() - 1].iter().map(|s| s.0).collect(),
        activation,
        outputs: last.0,
        output,
    };

    // The shapes come from the file: they may ask for no more parameters than the file's
    // bytes hold, checked before anything is allocated for them.
    let wanted = arch.num_params();
    if wanted.saturating_mul(8) > bytes.len() {
        return Err(bad(format!(
            "layer_shapes need {wanted} parameters, more than the file's {} bytes hold",
            bytes.len()
        )));
    }
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
    let mut params = Vec::with_capacity(wanted);
    for (l, &(o, i)) in shapes.iter().enumerate() {
        for (suffix, shape) in [("weight", vec![o, i]), ("bias", vec![o])] {
            let tname = format!("layers.{l}.{suffix}");
            let t = tensors
                .tensor(&tname)
                .map_err(|_| bad(format!("tensor \"{tname}\" is missing")))?;
            if t.dtype() != Dtype::F64 || t.shape() != shape.as_slice() {
                return Err(bad(format!(
                    "tensor \"{tname}\" is {:?} {:?}, expected F64 {shape:?}",
                    t.dtype(),
                    t.shape()
                )));
            }
            params.extend(
                t.data()
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8 bytes"))),
            );
        }
    }
    if let Some(i) = params.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!("parameter {i} is not a finite number")));
    }
    let network =
        Network::from_params(arch, Array1::from(params)).map_err(|e| bad(e.to_string()))?;
    let label = get("label")?.clone();
    let model = Model {
        kind,
        network,
        features,
        standardizer,
        label,
        task,
    };
    model.validate().map_err(|e| bad(e.to_string()))?;
    Ok(model)
}

fn le_bytes<'a>(values: impl Iterator<Item = &'a f64>) -> Vec<u8> {
    values.flat_map(|v| v.to_le_bytes()).collect()
}

/// JSON text of a metadata value (vectors of numbers and strings: serialising cannot fail).
fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        let arch = Architecture {
            inputs: 3,
            hidden: vec![4],
            activation: Activation::Square,
            outputs: 3,
            output: Output::Softmax,
        };
        Model {
            kind: ModelKind::Mlp,
            network: Network::init(arch, 9).unwrap(),
            features: vec!["a".into(), "b".into(), "c".into()],
            // Values with long expansions: the JSON metadata must carry them exactly.
            standardizer: Standardizer {
                mean: vec![0.1 + 0.2, 14.127291739894552, -3.0e-7 / 7.0],
                scale: vec![1.0 / 3.0, 2.0f64.sqrt(), 6.02214076e23 / 9.0],
                clip: Some(4.5),
            },
            label: "y".into(),
            task: Task::Multiclass {
                classes: vec!["x".into(), "y".into(), "z".into()],
            },
        }
    }

    #[test]
    fn round_trip_is_exact() {
        let m = model();
        let bytes = to_bytes(&m).unwrap();
        assert_eq!(from_bytes(&bytes, "m").unwrap(), m);
    }

    #[test]
    fn file_is_plain_safetensors_with_metadata() {
        let bytes = to_bytes(&model()).unwrap();
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
        assert_eq!(header["__metadata__"]["format"], "veil-model");
        assert_eq!(header["__metadata__"]["layer_shapes"], "[[4,3],[3,4]]");
        assert_eq!(header["layers.0.weight"]["dtype"], "F64");
        assert_eq!(
            header["layers.0.weight"]["shape"],
            serde_json::json!([4, 3])
        );
    }

    #[test]
    fn corrupt_or_foreign_files_are_rejected() {
        let bytes = to_bytes(&model()).unwrap();
        assert!(from_bytes(&bytes[..bytes.len() - 1], "m").is_err());
        assert!(from_bytes(b"hello", "m").is_err());
        let mut future = bytes.clone();
        let at = future
            .windows(19)
            .position(|w| w == b"\"format_version\":\"1")
            .unwrap();
        future[at + 18] = b'9';
        let err = from_bytes(&future, "m").unwrap_err();
        assert!(err.to_string().contains("format version 9"), "{err}");
    }

    #[test]
    fn shapes_that_ask_for_more_than_the_file_holds_are_refused_before_allocating() {
        let bytes = to_bytes(&model()).unwrap();
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let mut header: serde_json::Value =
            serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
        // 10¹⁸ weights in each layer: an allocation that would abort the process.
        let huge = 1_000_000_000u64;
        header["__metadata__"]["layer_shapes"] =
            format!("[[{huge},3],[{huge},{huge}],[3,{huge}]]").into();
        let header = serde_json::to_vec(&header).unwrap();
        let mut crafted = (header.len() as u64).to_le_bytes().to_vec();
        crafted.extend(&header);
        crafted.extend(&bytes[8 + header_len..]);
        let err = from_bytes(&crafted, "m").unwrap_err();
        assert!(err.to_string().contains("more than the file"), "{err}");
    }
}
