#!/usr/bin/env bash
# OpenSSF model signing, Veil against the PyPI `model-signing` tool, on the same model:
#   1. interop both ways: the tool verifies Veil's bundle, Veil verifies the tool's, and each
#      rejects a tampered model and another key;
#   2. speed: signing and verifying a model directory (default 1 GiB in 8 shards plus small
#      files, in /dev/shm when it exists), best of 3 for each tool; prints the ratios.
#
# Usage: bash bench/model_signing.sh [MODEL_MIB]
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${1:-1024}
source bench/lib.sh
# model-signing 1.1.1 imports OpenSSL without declaring it: install pyopenssl alongside.
venv_install model-signing pyopenssl
build_veil
MS=bench/.venv/bin/model_signing
TMP=$(mktemp -d "$( [ -d /dev/shm ] && echo /dev/shm || echo /tmp )/veil-msig.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

echo "== model-signing $(bench/.venv/bin/pip show model-signing | sed -n 's/^Version: //p'), $("$VEIL" --version)"
"$VEIL" key new --ecdsa-p256 -o "$TMP/signer.pem" > /dev/null
"$VEIL" key new --ecdsa-p256 -o "$TMP/other.pem" > /dev/null

# A small model for the interop checks: nested files, a hidden file, a non-ASCII name, git files.
M="$TMP/small-model"
mkdir -p "$M/tokenizer" "$M/.git"
printf 'weights' > "$M/model.safetensors"; printf '{"a":1}' > "$M/config.json"
printf 'a b c' > "$M/tokenizer/vocab.txt"; printf 'x' > "$M/.hidden"; printf 'ü' > "$M/ünïcode.txt"
printf 'ref' > "$M/.git/HEAD"

expect_fail() { if "$@" > "$TMP/out.txt" 2>&1; then echo "FAIL: accepted: $*"; cat "$TMP/out.txt"; exit 1; fi; }

echo "-- Veil signs, model-signing verifies"
"$VEIL" ledger sign-model "$M" --key "$TMP/signer.pem" -o "$TMP/veil.sig" > /dev/null
"$MS" verify key "$M" --signature "$TMP/veil.sig" --public_key "$TMP/signer.pub"
expect_fail "$MS" verify key "$M" --signature "$TMP/veil.sig" --public_key "$TMP/other.pub"
echo "   model-signing rejects another key: ok"

echo "-- model-signing signs (with Veil's PKCS#8 key), Veil verifies"
"$MS" sign key "$M" --private_key "$TMP/signer.pem" --signature "$TMP/tool.sig" > /dev/null
"$VEIL" ledger verify-model "$M" --bundle "$TMP/tool.sig" --key "$TMP/signer.pub"
expect_fail "$VEIL" ledger verify-model "$M" --bundle "$TMP/tool.sig" --key "$TMP/other.pub"
echo "   Veil rejects another key: ok"

echo "-- both reject a changed file"
printf 'a b c d' > "$M/tokenizer/vocab.txt"
expect_fail "$MS" verify key "$M" --signature "$TMP/veil.sig" --public_key "$TMP/signer.pub"
expect_fail "$VEIL" ledger verify-model "$M" --bundle "$TMP/tool.sig" --key "$TMP/signer.pub"
echo "   ok"

echo "-- a single-file model, both ways"
"$VEIL" ledger sign-model "$M/model.safetensors" --key "$TMP/signer.pem" -o "$TMP/file-veil.sig" > /dev/null
"$MS" verify key "$M/model.safetensors" --signature "$TMP/file-veil.sig" --public_key "$TMP/signer.pub"
"$MS" sign key "$M/model.safetensors" --private_key "$TMP/signer.pem" --signature "$TMP/file-tool.sig" > /dev/null
"$VEIL" ledger verify-model "$M/model.safetensors" --bundle "$TMP/file-tool.sig" --key "$TMP/signer.pub"

echo "== speed: a ${MIB} MiB model (8 shards + config), best of 3"
B="$TMP/big-model"
mkdir -p "$B"
for i in 1 2 3 4 5 6 7 8; do
  head -c $((MIB * 1024 * 1024 / 8)) /dev/urandom > "$B/model-0000$i-of-00008.safetensors"
done
printf '{"architectures":["Demo"]}' > "$B/config.json"

best() { # best TIMES... → prints the smallest
  printf '%s\n' "$@" | sort -g | head -1
}
timed() { # timed CMD... → prints seconds
  local s e
  s=$(date +%s.%N); "$@" > /dev/null 2>&1; e=$(date +%s.%N)
  echo "$e - $s" | bc -l
}
declare -a vs ts vv tv
for r in 1 2 3; do
  vs+=("$(timed "$VEIL" ledger sign-model "$B" --key "$TMP/signer.pem" -o "$TMP/big-veil.sig")")
  ts+=("$(timed "$MS" sign key "$B" --private_key "$TMP/signer.pem" --signature "$TMP/big-tool.sig")")
  vv+=("$(timed "$VEIL" ledger verify-model "$B" --bundle "$TMP/big-tool.sig" --key "$TMP/signer.pub")")
  tv+=("$(timed "$MS" verify key "$B" --signature "$TMP/big-veil.sig" --public_key "$TMP/signer.pub")")
done
VS=$(best "${vs[@]}"); TS=$(best "${ts[@]}"); VV=$(best "${vv[@]}"); TV=$(best "${tv[@]}")
printf 'sign:   veil %.3f s   model-signing %.3f s   → Veil %.2f× faster\n' "$VS" "$TS" "$(echo "$TS / $VS" | bc -l)"
printf 'verify: veil %.3f s   model-signing %.3f s   → Veil %.2f× faster\n' "$VV" "$TV" "$(echo "$TV / $VV" | bc -l)"
echo "interop: all checks passed"
