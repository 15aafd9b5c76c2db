#!/usr/bin/env bash
# Veil's homomorphic-encryption primitives against Microsoft SEAL 4.3 (through TenSEAL 0.3.18's
# sealapi bindings) and Python phe 1.5 with gmpy2, in the same run on the same machine:
#
#   CKKS at N = 8192 ([60, 40, 40, 60], Δ = 2^40) and N = 16384 ([60, 40 × 6, 60]): encrypt a
#   full vector (with encoding), multiply + relinearise + rescale, rotate by one slot,
#   decrypt (with decoding); Paillier-2048: encrypt, decrypt, add. Medians.
#
# `veil he bench --json` and bench/he_seal_phe.py print the same JSON shape; this script
# prints each primitive side by side with the ratio Veil / other (below 1: Veil is faster).
#
# Usage: bash bench/he_vs_seal.sh          (builds Veil first)
#        VEIL=path/to/veil bash bench/he_vs_seal.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/he
mkdir -p "$OUT"

source bench/lib.sh
venv_install -r bench/he_requirements.txt
if [ -z "${VEIL:-}" ]; then build_veil; fi

"$VEIL" he bench --json --repeat 30 > "$OUT/veil.json"
bench/.venv/bin/python bench/he_seal_phe.py > "$OUT/others.json"

bench/.venv/bin/python - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
veil = json.load(open(f"{out}/veil.json"))
other = json.load(open(f"{out}/others.json"))
print(f"TenSEAL {other['tenseal']} (SEAL 4.3) and phe {other['phe']}; medians in ms; ratio = Veil / other")
print(f"{'primitive':38} {'Veil':>9} {'other':>9} {'ratio':>7}")
rows = [(f"CKKS N={n} {k[:-3]}", veil["ckks"][n][k], other["ckks"][n][k])
        for n in ("8192", "16384")
        for k in ("encrypt_ms", "mul_relin_rescale_ms", "rotate_ms", "decrypt_ms")]
rows += [(f"Paillier-2048 {k[:-3]}", veil["paillier"]["2048"][k], other["paillier"]["2048"][k])
         for k in ("encrypt_ms", "decrypt_ms", "add_ms")]
for name, v, o in rows:
    print(f"{name:38} {v:9.3f} {o:9.3f} {v / o:7.2f}")
PY
