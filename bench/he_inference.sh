#!/usr/bin/env bash
# End-to-end encrypted inference: `veil he serve` and `veil he infer` as two processes on
# loopback over mutual TLS, timed by the client from its first message to its last reply
# (encryption, upload, the service's evaluation, download, decryption), and the same
# scoring in TenSEAL (SEAL 4.3) in one process, without a network, in the same run.
#
#   * breast-cancer logistic regression, CKKS N = 8192: 32,768 rows batched (the rows of
#     the data set repeated; 8 batches of 4,096, one ciphertext per feature per batch), and one row (median of 5 runs,
#     after a first that registers the rotation keys of the feature-packed layout);
#     Paillier-2048: 8 rows and one;
#   * a square-activation MLP (784-32-10) on 28×28 MNIST (../shared/data/mnist_5k.csv.gz,
#     trained on 4,000 of its rows): all 5,000 rows, CKKS N = 16384, in predictions per
#     hour beside CryptoNets' published 58,982 per hour (Gilad-Bachrach et al., ICML 2016,
#     §5: 8,192 images in 250 s at 99% accuracy, on one Xeon core at 3.5 GHz).
#
# Usage: bash bench/he_inference.sh          (builds Veil first)
#        VEIL=path/to/veil bash bench/he_inference.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
venv_install -r bench/he_requirements.txt
if [ -z "${VEIL:-}" ]; then build_veil; fi
VEIL=$(realpath "$VEIL")
PY="$PWD/bench/.venv/bin/python"  # not realpath: the venv is in the link
MNIST=$(realpath ../shared/data/mnist_5k.csv.gz)
CANCER=$(realpath data/breast_cancer_wisconsin.csv)
TENSEAL=$(realpath bench/he_tenseal_logreg.py)
OUT=bench/out/he-inference
rm -rf "$OUT" && mkdir -p "$OUT" && cd "$OUT"

q() { "$VEIL" "$@" --json > /dev/null; }
q pki init pki
q pki issue pki --name scorer --ip 127.0.0.1
q pki issue pki --name clinic
q he keygen --out k8
q he keygen --out k16 --poly-degree 16384
q he keygen --out kp --scheme paillier
"$PY" - "$CANCER" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
header, rows = lines[0], lines[1:]
many = (rows * 58)[:32768]
for name, body in [("cancer32k.csv", many), ("one.csv", rows[:1]), ("eight.csv", rows[:8])]:
    open(name, "w").write("\n".join([header] + body) + "\n")
PY
q train --data builtin:breast-cancer --label malignant --seed 1 --out cancer.model
q data split "$MNIST" --label digit --seed 1 --test-fraction 0.2 --train mtrain.csv --test mtest.csv
q train --data mtrain.csv --label digit --model mlp --hidden 32 --activation square --epochs 100 --seed 1 --out mnist.model

# serve MODEL NAME: starts a service on a free port; its address goes in NAME.addr.
serve() {
  "$VEIL" he serve --model "$1" --listen 127.0.0.1:0 --tls pki --name scorer --json > "$2.json" 2> "$2.log" &
  echo $! >> pids
  for _ in $(seq 100); do
    if [ -s "$2.json" ]; then break; fi
    sleep 0.1
  done
  "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['listening'])" "$2.json" > "$2.addr"
}
trap 'kill $(cat pids 2>/dev/null) 2>/dev/null || true' EXIT
serve cancer.model logreg
serve mnist.model mlp

# infer ADDR KEYS SCHEME DATA OUT: one scoring run; the client's JSON in OUT.
infer() {
  "$VEIL" he infer --server "$(cat "$1.addr")" --tls pki --name clinic --keys "$2" \
    --scheme "$3" --data "$4" --json > "$5"
}
infer logreg k8 ckks cancer32k.csv batch.json
# The first row registers the rotation keys of the feature-packed layout; the next five
# find them held by the service.
for i in 0 1 2 3 4 5; do infer logreg k8 ckks one.csv "one-$i.json"; done
infer logreg kp paillier eight.csv paillier8.json
infer logreg kp paillier one.csv paillier1.json
infer mlp k16 ckks "$MNIST" mnist.json
infer mlp k16 ckks mtest.csv mnist-test.json
"$VEIL" eval --model mnist.model --data mtest.csv --json > mnist-plain.json
"$PY" "$TENSEAL" cancer32k.csv malignant > tenseal.json

"$PY" - <<'PY'
import csv, gzip, json, statistics
j = lambda f: json.load(open(f))
batch, tenseal = j("batch.json"), j("tenseal.json")
ones = [j(f"one-{i}.json")["seconds"] for i in range(1, 6)]
p8, p1 = j("paillier8.json"), j("paillier1.json")
mnist, test, plain = j("mnist.json"), j("mnist-test.json"), j("mnist-plain.json")
truth = [r["digit"] for r in csv.DictReader(open("mtest.csv"))]
encrypted_accuracy = sum(p == t for p, t in zip(test["predicted"], truth)) / len(truth)
rate = batch["rows"] / batch["seconds"]
one_ms = statistics.median(ones) * 1e3
print(f"TenSEAL {tenseal['tenseal']} (SEAL 4.3); Veil over gRPC + mutual TLS on loopback, TenSEAL in one process")
print(f"{'':52} {'Veil':>12} {'TenSEAL':>12} {'ratio':>7}")
print(f"{'breast-cancer logreg, 32,768 rows batched: rows/s':52} {rate:12.0f} {tenseal['columns_rows_per_second']:12.0f} {rate / tenseal['columns_rows_per_second']:7.2f}")
print(f"{'breast-cancer logreg, one row: ms (median of 5)':52} {one_ms:12.1f} {tenseal['single_row_ms']:12.1f} {one_ms / tenseal['single_row_ms']:7.2f}")
first = j("one-0.json")
print(f"  Veil batch ({batch['layout']['name']}): {batch['bytes_sent'] / 1e6:.1f} MB up, {batch['bytes_received'] / 1e6:.2f} MB down, {batch['seconds']:.3f} s")
print(f"  Veil one row ({j('one-1.json')['layout']['name']}): {j('one-1.json')['bytes_sent'] / 1e6:.2f} MB up; the first time {first['seconds'] * 1e3:.1f} ms, registering {first['key_bytes_registered'] / 1e6:.1f} MB of rotation keys")
print(f"{'Paillier-2048 logreg, 8 rows: rows/s':52} {p8['rows'] / p8['seconds']:12.1f}")
print(f"{'Paillier-2048 logreg, one row: ms':52} {p1['seconds'] * 1e3:12.1f}")
per_hour = mnist["rows"] / mnist["seconds"] * 3600
print(f"{'MNIST square MLP 784-32-10, 5,000 rows: predictions/hour':52} {per_hour:12.0f} {'CryptoNets':>12} {per_hour / 58982:7.1f}x of 58,982")
print(f"  {mnist['rows']} rows in {mnist['seconds']:.1f} s ({mnist['bytes_sent'] / 1e6:.0f} MB up); accuracy on the 1,000 held-out rows: encrypted {encrypted_accuracy:.3f}, plaintext {plain['accuracy']:.3f} (CryptoNets: 0.99 with a convolutional network)")
PY
