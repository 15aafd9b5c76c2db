#!/usr/bin/env bash
# Sealing and opening a 1 GiB file in /dev/shm with Veil and with the age tool, side by side;
# plus the raw single-core AES-256-GCM speed of aws-lc-rs (the ceiling) and Veil's
# single-threaded in-memory sealing speed.
#
# Usage: bash bench/vault.sh [SIZE_MIB]     (default 1024)
# Installs Debian's `age` and GNU `time` if missing (needs root and the package registry).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
MIB=${1:-1024}
command -v age >/dev/null || { apt-get install -y age >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y age >/dev/null; }; }
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null
build_veil
VEIL=$PWD/$VEIL
# In-memory speeds first, before the big files take memory.
RAW=$("$VEIL" vault bench --json --mib 256)
W=$(mktemp -d /dev/shm/veil-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
head -c "${MIB}M" /dev/urandom > plain.bin
"$VEIL" key new -o me.key --unprotected >/dev/null
age-keygen -o age.txt 2>/dev/null
AGE_RECIPIENT=$(grep -o 'age1[0-9a-z]*' age.txt | head -1)

# On a VM, the first touch of guest memory is slow (the host allocates it), and tmpfs pages
# are such memory: fault in more than the files will need once, so that neither tool pays
# for it in the timings.
head -c $((3 * MIB))M /dev/zero > warm.bin && rm warm.bin

# best-of-3 wall seconds and peak RSS (KiB) of a command writing the file $OUTPUT, which is
# removed before each run (so neither tool is timed replacing an existing file)
measure() {
  local best=999999 rss=0
  for _ in 1 2 3; do
    rm -f "$OUTPUT"
    /usr/bin/time -f "%e %M" -o t.txt "$@" >/dev/null
    read -r secs kib < t.txt
    best=$(python3 -c "print(min($best, $secs))")
    rss=$kib
  done
  echo "$best $rss"
}

OUTPUT=plain.veil; read -r veil_seal veil_seal_rss < <(measure "$VEIL" vault seal --to me.pub plain.bin -o plain.veil)
OUTPUT=out.bin; read -r veil_open veil_open_rss < <(measure "$VEIL" vault open -i me.key plain.veil -o out.bin)
cmp -s plain.bin out.bin || { echo "veil round trip differs" >&2; exit 1; }
rm -f out.bin
OUTPUT=plain.age; read -r age_seal age_seal_rss < <(measure age -r "$AGE_RECIPIENT" -o plain.age plain.bin)
OUTPUT=out.bin; read -r age_open age_open_rss < <(measure age -d -i age.txt -o out.bin plain.age)
cmp -s plain.bin out.bin || { echo "age round trip differs" >&2; exit 1; }

python3 - "$MIB" "$veil_seal" "$veil_open" "$age_seal" "$age_open" "$veil_seal_rss" "$veil_open_rss" "$age_seal_rss" "$age_open_rss" "$RAW" "$(age --version)" <<'PY'
import json, os, sys
mib, vs, vo, as_, ao = int(sys.argv[1]), *map(float, sys.argv[2:6])
vsr, vor, asr, aor = map(int, sys.argv[6:10])
raw = json.loads(sys.argv[10]); age_version = sys.argv[11]
gib = mib / 1024
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"machine: {cpu}, {os.cpu_count()} cores; file: {mib} MiB in /dev/shm; age {age_version}; best of 3")
print(f"{'':<6} {'veil s':>8} {'veil GiB/s':>11} {'age s':>8} {'age GiB/s':>10} {'speed-up':>9} {'veil peak MiB':>14} {'age peak MiB':>13}")
for name, v, a, vr, ar in [("seal", vs, as_, vsr, asr), ("open", vo, ao, vor, aor)]:
    print(f"{name:<6} {v:>8.3f} {gib / v:>11.2f} {a:>8.3f} {gib / a:>10.2f} {a / v:>8.2f}x {vr / 1024:>14.1f} {ar / 1024:>13.1f}")
print(f"raw AES-256-GCM (aws-lc-rs), 1 core: {raw['raw_aes_256_gcm_gib_s']:.2f} GiB/s in place, "
      f"{raw['raw_out_of_place_gib_s']:.2f} GiB/s out of place; "
      f"veil seal in memory, 1 thread: {raw['seal_single_thread_gib_s']:.2f} GiB/s "
      f"({100 * raw['single_thread_fraction_of_raw']:.0f}% of raw); all {raw['cores']} cores: {raw['seal_all_cores_gib_s']:.2f} GiB/s")
print(f"veil seal_slice_into (encrypts straight into the output buffer), 1 thread: "
      f"{raw['seal_slice_single_thread_gib_s']:.2f} GiB/s ({100 * raw['seal_slice_single_thread_fraction_of_raw']:.0f}% of raw); "
      f"all cores: {raw['seal_slice_all_cores_gib_s']:.2f} GiB/s")
PY
