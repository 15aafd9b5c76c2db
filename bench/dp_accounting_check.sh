#!/usr/bin/env bash
# Veil's DP-SGD accountants against Google's dp_accounting 0.6 (PyPI dp-accounting), live, on
# the same grid: sampling rates 0.001–1, noise multipliers 0.5–10, 1–10^5 steps, δ 1e-5 and
# 1e-7, the two published points, and calibration. Fails if any RDP ε differs by more than
# 1% or any PLD ε by more than 3% (relative), and prints the worst differences and the times.
#
# Usage: bash bench/dp_accounting_check.sh [--quick]   (--quick: δ = 1e-5 and T ≤ 10^4 only)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
venv_install "dp-accounting==0.6.0"
build_veil

bench/.venv/bin/python - "$VEIL" "${1:-}" <<'PY'
import json, logging, subprocess, sys, time
import dp_accounting as dpa
from dp_accounting.pld import pld_privacy_accountant
from dp_accounting.rdp import rdp_privacy_accountant

logging.getLogger("absl").setLevel(logging.ERROR)
veil, quick = sys.argv[1], sys.argv[2] == "--quick"

QS, SIGMAS = [0.001, 0.01, 0.1, 1.0], [0.5, 1.0, 4.0, 10.0]
STEPS = [1, 100, 10000] if quick else [1, 100, 10000, 100000]
DELTAS = [1e-5] if quick else [1e-5, 1e-7]
cells = [(q, s, t, d) for q in QS for s in SIGMAS for t in STEPS for d in DELTAS]
cells += [(0.01, 4.0, 10000, 1e-5), (256 / 60000, 1.1, 14062, 1e-5)]

def event(q, s):
    return dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(s))

def theirs(kind, q, s, t, d):
    acct = (rdp_privacy_accountant.RdpAccountant() if kind == "rdp"
            else pld_privacy_accountant.PLDAccountant())
    acct.compose(event(q, s), t)
    return acct.get_epsilon(d)

def ours(kind, q, s, t, d):
    out = subprocess.run([veil, "dp", "epsilon", "--sampling-rate", repr(q), "--noise-multiplier",
                          repr(s), "--steps", str(t), "--delta", repr(d), "--accountant", kind,
                          "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["epsilon"]

tolerance = {"rdp": 0.01, "pld": 0.03}
failed = False
for kind in ["rdp", "pld"]:
    worst, t_ours, t_theirs = (0.0, None), 0.0, 0.0
    for (q, s, t, d) in cells:
        a = time.perf_counter(); e_theirs = theirs(kind, q, s, t, d); b = time.perf_counter()
        e_ours = ours(kind, q, s, t, d); c = time.perf_counter()
        t_theirs += b - a; t_ours += c - b
        rel = abs(e_ours - e_theirs) / e_theirs if e_theirs not in (0, float("inf")) else (
            0.0 if e_ours == e_theirs else float("inf"))
        if rel > worst[0]:
            worst = (rel, (q, s, t, d, e_ours, e_theirs))
        if rel > tolerance[kind]:
            failed = True
            print(f"FAIL {kind} q={q} σ={s} T={t} δ={d}: veil {e_ours} vs dp_accounting {e_theirs}")
    print(f"{kind}: {len(cells)} cells, worst relative difference {worst[0]:.2e} at "
          f"q={worst[1][0]} σ={worst[1][1]} T={worst[1][2]} δ={worst[1][3]} "
          f"(veil {worst[1][4]:.6f}, dp_accounting {worst[1][5]:.6f}); "
          f"time veil {t_ours:.1f} s (one process per cell) vs dp_accounting {t_theirs:.1f} s "
          f"→ {t_theirs / t_ours:.1f}×")

for (q, s, t, d) in [(0.01, 4.0, 10000, 1e-5), (256 / 60000, 1.1, 14062, 1e-5)]:
    print(f"published q={q:.6g} σ={s} T={t} δ={d}: RDP veil {ours('rdp', q, s, t, d):.6f} "
          f"dp_accounting {theirs('rdp', q, s, t, d):.6f}; PLD veil {ours('pld', q, s, t, d):.6f} "
          f"dp_accounting {theirs('pld', q, s, t, d):.6f}")

for kind in ["rdp", "pld"]:
    for (q, t, eps, d) in [(0.01, 10000, 1.0, 1e-5), (256 / 60000, 14062, 3.0, 1e-5),
                           (0.001, 1000, 0.5, 1e-6), (0.1, 1000, 2.0, 1e-5), (1.0, 100, 8.0, 1e-5)]:
        make_acct = (rdp_privacy_accountant.RdpAccountant if kind == "rdp"
                     else pld_privacy_accountant.PLDAccountant)
        sigma_theirs = dpa.calibrate_dp_mechanism(
            make_acct, lambda s: dpa.SelfComposedDpEvent(event(q, s), t), eps, d)
        out = subprocess.run([veil, "dp", "calibrate", "--sampling-rate", repr(q), "--steps",
                              str(t), "--epsilon", repr(eps), "--delta", repr(d), "--accountant",
                              kind, "--json"], check=True, capture_output=True, text=True).stdout
        sigma_ours = json.loads(out)["noise_multiplier"]
        rel = abs(sigma_ours - sigma_theirs) / sigma_theirs
        if rel > tolerance[kind]:
            failed = True
        print(f"calibrate {kind} q={q:.6g} T={t} ε={eps} δ={d}: veil σ={sigma_ours:.6f} "
              f"dp_accounting σ={sigma_theirs:.6f} (relative {rel:.1e})")

sys.exit(1 if failed else 0)
PY
