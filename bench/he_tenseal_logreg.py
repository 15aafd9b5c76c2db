"""Encrypted logistic-regression scoring in TenSEAL (Microsoft SEAL 4.3), in one process.

Reads a CSV of feature rows (the same file `veil he infer` scores) and times, with
N = 8192, [60, 40, 40, 60], scale 2^40 (Veil's parameters):

* columns: one ciphertext per feature holding up to 4,096 rows (Veil's layout), the
  server's work a sum of ciphertexts times the weights, plus the bias; rows per second
  from encryption to decryption;
* one row: the row encrypted as one vector, a dot product with the weights (which needs
  rotations and Galois keys), decrypted; the median of 20 rows, in milliseconds.

No network: client and server share the process, so these are the computation's costs
only. Weights are random (the cost does not depend on them). Prints one JSON object.
"""

import csv
import json
import statistics
import sys
import time

import numpy as np
import tenseal as ts


def context(galois):
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, 8192, coeff_mod_bit_sizes=[60, 40, 40, 60])
    ctx.global_scale = 2**40
    if galois:
        ctx.generate_galois_keys()
    return ctx


def main(path, label):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    features = [k for k in rows[0] if k != label]
    x = np.array([[float(r[k]) for k in features] for r in rows])
    rng = np.random.default_rng(1)
    w, b = rng.normal(size=x.shape[1]) / 100, 0.1

    ctx = context(galois=False)
    spent = {"encrypt": 0.0, "score": 0.0, "decrypt": 0.0}
    start = time.perf_counter()
    for lo in range(0, len(x), 4096):  # N/2 slots per ciphertext
        chunk = x[lo:lo + 4096]
        t0 = time.perf_counter()
        cols = [ts.ckks_vector(ctx, chunk[:, j].tolist()) for j in range(chunk.shape[1])]
        t1 = time.perf_counter()
        acc = cols[0] * float(w[0])
        for j in range(1, len(cols)):
            acc += cols[j] * float(w[j])
        acc += b
        t2 = time.perf_counter()
        z = np.array(acc.decrypt())
        t3 = time.perf_counter()
        want = chunk @ w + b
        assert np.allclose(z, want, atol=1e-3 * max(1.0, np.abs(want).max()))
        spent["encrypt"] += t1 - t0
        spent["score"] += t2 - t1
        spent["decrypt"] += t3 - t2
    done = time.perf_counter()

    ctx_g = context(galois=True)
    singles = []
    for i in range(20):
        t = time.perf_counter()
        v = ts.ckks_vector(ctx_g, x[i].tolist())
        s = v.dot(w.tolist()) + b
        s.decrypt()
        singles.append((time.perf_counter() - t) * 1e3)
    print(json.dumps({
        "tenseal": ts.__version__,
        "rows": len(rows),
        "columns_rows_per_second": len(rows) / (done - start),
        "columns_encrypt_s": spent["encrypt"],
        "columns_score_s": spent["score"],
        "columns_decrypt_s": spent["decrypt"],
        "single_row_ms": statistics.median(singles),
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
