#!/usr/bin/env bash
# Veil's DP-SGD against Opacus 1.6.0 (PyPI opacus, torch 2.15.0 on the CPU), side by side on
# the same train/test split, model, expected batch size, epochs and privacy target:
#
#   A. time per DP-SGD step and per non-private step, and the ratio of the two, for logistic
#      regression on breast-cancer (30 features → 1 logit) and the 64-unit ReLU MLP on
#      digits (64 → 64 → 10, 4,810 parameters); batch 128 (Poisson sampling under DP),
#      20 epochs; then Opacus's DP step time over Veil's;
#   B. mean test accuracy over seeds 1–5 at ε = 1 and ε = 8 (breast-cancer logistic
#      regression) and ε = 3 (digits MLP), δ = 1e-5, Veil with its --dp defaults and Opacus
#      both with Veil's settings and through make_private_with_epsilon.
#
# Usage: bash bench/dp_sgd_vs_opacus.sh [--quick]   (--quick: seeds 1–2, 5 epochs in part A)
#        VEIL=path/to/veil bash bench/dp_sgd_vs_opacus.sh   (use that binary, build nothing)
#
# torch gets 2 threads (the machine has 2 cores). Opacus's feature standardisation is the
# exact, NOT private one; Veil's is private and spends part of ε. The comparison logic is in
# bench/opacus_dp_sgd.py.
#
# torch comes from PyPI: its only Linux x86_64 wheels there are CUDA builds, so pip also pulls
# the nvidia-* runtime packages (bench/.venv grows by about 5.5 GB); the GPU is never used.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/dp-sgd
mkdir -p "$OUT"

source bench/lib.sh
venv_install "torch==2.15.0" "opacus==1.6.0"
# VEIL=path uses that binary as it is; otherwise the checkout is built first.
if [ -z "${VEIL:-}" ]; then build_veil; fi

# One fixed split (stratified, seed 42, 20% test) that both tools read.
"$VEIL" data split builtin:breast-cancer --label malignant --seed 42 --test-fraction 0.2 \
  --train "$OUT/bc-train.csv" --test "$OUT/bc-test.csv" > /dev/null
"$VEIL" data split builtin:digits --label digit --seed 42 --test-fraction 0.2 \
  --train "$OUT/digits-train.csv" --test "$OUT/digits-test.csv" > /dev/null

bench/.venv/bin/python bench/opacus_dp_sgd.py "$VEIL" "$OUT" "${1:-}"
