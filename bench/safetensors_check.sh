#!/usr/bin/env bash
# Opens Veil model files with Python's `safetensors` package and recomputes the predictions
# in numpy from the tensors and metadata alone; they must equal `veil predict` to 1e-12.
#
# Usage: bash bench/safetensors_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/safetensors
mkdir -p "$OUT"
source bench/lib.sh
venv_install safetensors numpy
build_veil

"$VEIL" train --data builtin:breast-cancer --label malignant --out "$OUT/logreg.model" --json > /dev/null
"$VEIL" train --data builtin:digits --label digit --model mlp --hidden 32,16 --out "$OUT/mlp.model" --json > /dev/null
"$VEIL" train --data builtin:digits --label digit --model mlp --activation square --hidden 16 --out "$OUT/square.model" --json > /dev/null
"$VEIL" train --data builtin:breast-cancer --label perimeter_mean --features radius_mean,texture_mean --model linear --out "$OUT/linear.model" --json > /dev/null
for m in logreg mlp square linear; do
  data=builtin:digits; [ "$m" = logreg ] || [ "$m" = linear ] && data=builtin:breast-cancer
  "$VEIL" predict --model "$OUT/$m.model" --data "$data" --json > "$OUT/$m.pred.json"
  "$VEIL" data export "$data" -o "$OUT/$m.data.csv" > /dev/null
done

bench/.venv/bin/python - "$OUT" <<'PY'
import csv, json, sys
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

out = sys.argv[1]
for m in ["logreg", "mlp", "square", "linear"]:
    path = f"{out}/{m}.model"
    with safe_open(path, framework="numpy") as f:
        meta = f.metadata()
    tensors = load_file(path)
    assert meta["format"] == "veil-model", meta
    shapes = json.loads(meta["layer_shapes"])
    features = json.loads(meta["feature_names"])
    std = json.loads(meta["standardization"])
    with open(f"{out}/{m}.data.csv") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    cols = [header.index(c) for c in features]
    x = np.array([[float(r[c]) for c in cols] for r in rows[1:]])
    a = (x - np.array(std["mean"])) / np.array(std["scale"])
    for l, (o, i) in enumerate(shapes):
        w, b = tensors[f"layers.{l}.weight"], tensors[f"layers.{l}.bias"]
        assert w.shape == (o, i) and w.dtype == np.float64
        z = a @ w.T + b
        last = l == len(shapes) - 1
        a = z if last else (np.maximum(z, 0) if meta["activation"] == "relu" else z * z)
    if meta["output"] == "sigmoid":
        p = 1 / (1 + np.exp(-a[:, 0]))
    elif meta["output"] == "softmax":
        e = np.exp(a - a.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
    else:
        p = a[:, 0]
    veil = np.array(json.load(open(f"{out}/{m}.pred.json"))["predictions"])
    err = np.abs(p - veil).max()
    assert err < 1e-12, (m, err)
    print(f"{m:<7} {meta['kind']:<8} tensors {sorted(tensors)[:2]}... metadata keys {len(meta)}; "
          f"numpy predictions == veil predict (max |diff| {err:.1e}, {len(veil)} rows)")
print("OK: Python safetensors opens Veil model files")
PY
