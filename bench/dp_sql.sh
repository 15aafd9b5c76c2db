#!/usr/bin/env bash
# DP SQL throughput: `veil dp query` over a generated table of 10^7 rows (2·10^6 patients,
# 5 visits each on average), from CSV and from Parquet, end to end (load + query + noise).
# The query alone, on a table already in memory, is `cargo bench -p veil-dp --bench dp_sql`.
#
# Usage: bash bench/dp_sql.sh [ROWS]   (default 10000000)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
build_veil
rows=${1:-10000000}
out=bench/out/dp_sql
mkdir -p "$out"
if [ ! -f "$out/rows_$rows.csv" ]; then
  python3 - "$rows" "$out/rows_$rows.csv" <<'PY'
import random, sys
rows, path = int(sys.argv[1]), sys.argv[2]
random.seed(1)
with open(path, "w") as f:
    f.write("patient,sex,age,income\n")
    for _ in range(rows):
        p = random.randrange(rows // 5)
        f.write(f"{p},{'F' if p % 2 == 0 else 'M'},{18 + p % 80},{(p * 37) % 100000}\n")
PY
  "$VEIL" data export "$out/rows_$rows.csv" -o "$out/rows_$rows.parquet" >/dev/null
fi
sql="SELECT sex, COUNT(*), AVG(age), MEDIAN(income) FROM data WHERE age > 30 GROUP BY sex"
for format in csv parquet; do
  start=$(date +%s.%N)
  "$VEIL" dp query --data "$out/rows_$rows.$format" --sql "$sql" --epsilon 1 \
    --privacy-unit patient --max-contributions 5 --keys sex=F,M \
    --bounds age=0:120 --bounds income=0:100000 >/dev/null
  end=$(date +%s.%N)
  python3 -c "import sys; r, s = int(sys.argv[1]), float(sys.argv[3]) - float(sys.argv[2]); print(f'$format: {r} rows in {s:.2f} s = {r / s / 1e6:.2f} M rows/s end to end')" "$rows" "$start" "$end"
done
