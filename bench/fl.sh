#!/usr/bin/env bash
# Veil's secure aggregation against Flower 1.41's SecAgg+ (PyPI flwr), one round each on the
# same workload, side by side:
#
#   A. 100 clients x 100,000 parameters, 10% of them dropping out after sharing their keys
#      (the costly case: the coordinator rebuilds their mask keys and removes their pairwise
#      masks), everyone sharing with everyone (Bonawitz et al.'s SecAgg);
#   B. the same with 14 neighbours per client (SecAgg+; Flower's num_shares = 15, counting
#      the client itself, is the same graph), threshold 8 of each 15 in both tools;
#   C. the scale curve: 10 and 100 clients with everyone sharing, 1,000 with 20 neighbours
#      (threshold 11 of 21).
#
# Both tools run the protocol's stages in one process, client by client, with no network:
# `veil fl bench` (crates/veil-fl/src/secagg/timed.rs) and bench/flower_secaggplus.py (Flower's
# own client-mod stage functions, and its server workflow's steps). Times are compute only:
# the coordinator's over all stages, and a surviving client's over all its stages (mean).
# Upload is what a surviving client sends, against the size of one masked vector. Both check
# the unmasked sum against the plain sum of the survivors' updates.
#
# Usage: bash bench/fl.sh [--quick]   (--quick skips Flower's full-graph 100-client round, which
#                                     takes about 5 minutes here)
#        VEIL=path/to/veil bash bench/fl.sh   (use that binary, build nothing)
#        FLOWER_REUSE=1 bash bench/fl.sh   (keep Flower results already in bench/out/fl)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/fl
mkdir -p "$OUT"

source bench/lib.sh
venv_install -r bench/flower_requirements.txt
if [ -z "${VEIL:-}" ]; then build_veil; fi
QUICK="${1:-}"

# run NAME CLIENTS NEIGHBOURS [THRESHOLD]: one round in each tool, JSON lines to
# $OUT/NAME.{veil,flower}.json
run() {
  local name=$1 clients=$2 neighbours=$3 threshold=${4:-}
  local veil_k=() flower_k=()
  if [ "$neighbours" != all ]; then
    veil_k=(--secagg-neighbours "$neighbours" --threshold "$threshold")
    flower_k=(--neighbours "$neighbours" --reconstruction-threshold "$threshold")
  fi
  echo "== $name: $clients clients, neighbours $neighbours" >&2
  "$VEIL" fl bench --clients "$clients" --params 100000 --dropout 0.1 "${veil_k[@]}" --json \
    > "$OUT/$name.veil.json"
  if [ -n "${FLOWER_REUSE:-}" ] && [ -s "$OUT/$name.flower.json" ]; then
    echo "  (Flower's earlier result kept)" >&2
  elif [ "$QUICK" = --quick ] && [ "$neighbours" = all ] && [ "$clients" -ge 100 ]; then
    echo '{"skipped": true}' > "$OUT/$name.flower.json"
  else
    bench/.venv/bin/python bench/flower_secaggplus.py --clients "$clients" --params 100000 \
      --dropout 0.1 "${flower_k[@]}" > "$OUT/$name.flower.json"
  fi
}

run full-100 100 all
run plus-100 100 14 8
run full-10 10 all
run plus-1000 1000 20 11

bench/.venv/bin/python - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
rows = [("A  100 clients, all", "full-100"), ("B  100 clients, 14 nbrs", "plus-100"),
        ("C  10 clients, all", "full-10"), ("C  1000 clients, 20 nbrs", "plus-1000")]
print(f"{'round':26} {'coordinator s':>22} {'per client s':>22} {'round s (coord+client)':>30}"
      f" {'upload KB (x masked)':>30}")
print(f"{'':26} {'veil':>7} {'flower':>8} {'ratio':>5} {'veil':>7} {'flower':>8} {'ratio':>5}"
      f" {'veil':>9} {'flower':>9} {'ratio':>10} {'veil':>14} {'flower':>15}")
for label, name in rows:
    v = json.load(open(f"{out}/{name}.veil.json"))
    f = json.load(open(f"{out}/{name}.flower.json"))
    up = lambda r: f"{r['upload_bytes_per_client']/1e3:.0f} ({r['upload_bytes_per_client']/r['masked_vector_bytes']:.3f})"
    if f.get("skipped"):
        print(f"{label:26} {v['coordinator_seconds']:7.3f} {'-':>8} {'':5} {v['client_seconds']:7.4f}"
              f" {'-':>8} {'':5} {v['coordinator_seconds']+v['client_seconds']:9.3f} {'-':>9} {'':>10}"
              f" {up(v):>14} {'-':>15}")
        continue
    vr, fr = (r["coordinator_seconds"] + r["client_seconds"] for r in (v, f))
    print(f"{label:26} {v['coordinator_seconds']:7.3f} {f['coordinator_seconds']:8.2f}"
          f" {f['coordinator_seconds']/v['coordinator_seconds']:5.0f}"
          f" {v['client_seconds']:7.4f} {f['client_seconds']:8.4f} {f['client_seconds']/v['client_seconds']:5.1f}"
          f" {vr:9.3f} {fr:9.2f} {fr/vr:9.1f}x {up(v):>14} {up(f):>15}")
print("\nratio: Flower's time over Veil's. Veil's upload counts the gRPC messages; Flower's "
      "masked vector is int64 (8 bytes a value), Veil's fixed32.")
EOF
