#!/usr/bin/env bash
# Veil vs scikit-learn on the same splits: test accuracy and training time, side by side.
#
# Usage: bash bench/ml_vs_sklearn.sh
#
# Installs scikit-learn into bench/.venv (created on first run), builds Veil in release mode,
# splits each embedded dataset once with `veil data split` (stratified, seed 42, 20% test) and
# trains the same model kinds with both tools on the same training file, with the same
# hyperparameters where both have them, then scores the same test file. Times are the fit
# time reported by each tool (Veil: `train_seconds`; scikit-learn: `time.perf_counter` around
# `fit`, scaler included), not process start-up.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/ml
mkdir -p "$OUT"

source bench/lib.sh
venv_install "scikit-learn==1.7.*" numpy
build_veil

"$VEIL" data split builtin:breast-cancer --label malignant --seed 42 --train "$OUT/bc-train.csv" --test "$OUT/bc-test.csv" > /dev/null
"$VEIL" data split builtin:digits --label digit --seed 42 --train "$OUT/digits-train.csv" --test "$OUT/digits-test.csv" > /dev/null

veil_run() { # name data label extra-args...
  local name=$1 data=$2 label=$3; shift 3
  "$VEIL" train --data "$OUT/$data-train.csv" --test-data "$OUT/$data-test.csv" --label "$label" \
    --seed 42 --out "$OUT/$name.model" --json "$@" > "$OUT/$name.veil.json"
}
veil_run logreg bc malignant --model logreg
veil_run softmax digits digit --model softmax
veil_run mlp digits digit --model mlp --hidden 64

# Some machines set OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE to work around old OpenBLAS bugs; they
# slow a current numpy, so the comparison runs scikit-learn without them.
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE bench/.venv/bin/python - "$OUT" <<'PY'
import csv, json, sys, time, platform
import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
import warnings
warnings.filterwarnings("ignore")

out = sys.argv[1]

def load(path, label):
    with open(path) as f:
        rows = list(csv.reader(f))
    header, body = rows[0], np.array(rows[1:], dtype=float)
    j = header.index(label)
    return np.delete(body, j, axis=1), body[:, j].astype(int)

def sk(name, data, label, est):
    xtr, ytr = load(f"{out}/{data}-train.csv", label)
    xte, yte = load(f"{out}/{data}-test.csv", label)
    model = make_pipeline(StandardScaler(), est)
    t = time.perf_counter()
    model.fit(xtr, ytr)
    secs = time.perf_counter() - t
    return model.score(xte, yte), secs

cases = [
    ("logreg", "breast-cancer", "bc", "malignant", LogisticRegression(max_iter=1000)),
    ("softmax", "digits", "digits", "digit", LogisticRegression(max_iter=1000)),
    ("mlp 64", "digits", "digits", "digit",
     MLPClassifier(hidden_layer_sizes=(64,), solver="adam", learning_rate_init=0.003, batch_size=32,
                   max_iter=60, alpha=1e-4, random_state=42)),
]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
import os
print(f"machine: {cpu}, {os.cpu_count()} cores; scikit-learn {sklearn.__version__}, numpy {np.__version__}")
print(f"{'model':<9} {'dataset':<14} {'veil acc':>9} {'sklearn acc':>12} {'veil s':>8} {'sklearn s':>10} {'speed-up':>9}")
for name, dataset, data, label, est in cases:
    veil = json.load(open(f"{out}/{name.split()[0]}.veil.json"))
    acc, secs = sk(name, data, label, est)
    print(f"{name:<9} {dataset:<14} {veil['test_accuracy']:>9.4f} {acc:>12.4f} {veil['train_seconds']:>8.3f} {secs:>10.3f} {secs / veil['train_seconds']:>8.1f}x")
PY
