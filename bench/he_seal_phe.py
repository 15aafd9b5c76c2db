"""Homomorphic-encryption primitives in Microsoft SEAL (through TenSEAL) and in phe's Paillier.

    python bench/he_seal_phe.py                    # timings: one JSON object on stdout
    python bench/he_seal_phe.py --check-encoder    # SEAL's CKKS encoding of a fixed vector

Needs bench/he_requirements.txt (tenseal 0.3.18, which bundles SEAL 4.3; phe 1.5 with gmpy2).

CKKS is driven through `tenseal.sealapi`, TenSEAL's direct bindings of SEAL's C++ API, for
all four primitives. TenSEAL's high-level CKKSVector has no plain rotation (only `sum`,
`matmul` and the like, which rotate internally), and going through sealapi for the others
too keeps TenSEAL's Python/tensor layer out of every number. The parameters are those
`veil he bench` uses and that `ts.context(ts.SCHEME_TYPE.CKKS, N,
coeff_mod_bit_sizes=...)` would build: N = 8192 with coefficient-modulus bits
[60, 40, 40, 60], N = 16384 with [60, 40 x 6, 60], scale 2^40, 128-bit security check on;
the last prime is SEAL's special (key-switching) prime. Keys are made as TenSEAL makes
them: a public key, relinearisation keys and SEAL's default Galois keys
(KeyGenerator.create_galois_keys, every power-of-two step both ways, as
`ts.Context.generate_galois_keys()` calls it). Per primitive, at the top level, on a full
vector of N/2 real slots (sin(i), as Veil's bench):

* encrypt_ms: CKKSEncoder.encode + public-key Encryptor.encrypt;
* mul_relin_rescale_ms: Evaluator.multiply of two ciphertexts, relinearize_inplace,
  rescale_to_next_inplace (what TenSEAL's CKKSVector `*` does with auto_relin and
  auto_rescale on);
* rotate_ms: Evaluator.rotate_vector by 1 slot with the Galois keys;
* decrypt_ms: Decryptor.decrypt + CKKSEncoder.decode.

encrypt_ms and decrypt_ms include pybind11's conversion between a Python list of N/2
floats and std::vector<double> (tens of microseconds). Like `veil he bench`, encrypt_ms
includes encoding; the split into encode and encrypt-only goes to stderr.

Threads: SEAL runs each of these operations on one thread, and sealapi has none of
TenSEAL's thread pool (that pool, sized by `ts.context(n_threads=...)`, only parallelises
TenSEAL's tensor operations), so every CKKS number is single-threaded. phe is pure Python
over gmpy2, also one thread.

Paillier with a 2048-bit modulus (phe.paillier.generate_paillier_keypair(n_length=2048)):

* encrypt_ms: PaillierPublicKey.encrypt(123456789): encoding plus the r^n mod n^2
  obfuscation, which phe does eagerly;
* decrypt_ms: PaillierPrivateKey.decrypt, which phe does with the CRT over p and q;
* add_ms: `a + b` of two EncryptedNumbers of the same exponent (one multiplication mod n^2).

Every result is the median of time.perf_counter samples after warm-up runs. Each
primitive's output is checked once before it is timed (a decryption within 1e-3 of the
expected values, the Paillier sum exact); a failure exits 1. Progress goes to stderr.

--check-encoder encodes the values i/100 (i = 0 .. N/2 - 1) at N = 8192 and scale 2^40 with
SEAL's CKKSEncoder and prints the plaintext polynomial's first 8 coefficients, centred mod
the first prime q0, with q0, as {"n", "scale_bits", "q0", "coeffs"}. SEAL leaves a CKKS
plaintext in NTT form, and sealapi binds Evaluator.transform_from_ntt for ciphertexts only,
so the q0 residues (the plaintext's first N words) are taken out of NTT form with
sealapi.util.inverse_ntt_negacyclic_harvey and the context's own NTT table for q0, then
sent forward again with ntt_negacyclic_harvey to check they give back SEAL's words.
"""
import argparse
import json
import math
import statistics
import sys
import time

import phe
import tenseal
import tenseal.sealapi as sealapi
import tenseal.sealapi.util as sealutil
from phe import paillier
from phe import util as phe_util

SCALE_BITS = 40
SCALE = 2.0**SCALE_BITS
COEFF_MODULUS_BITS = {8192: [60, 40, 40, 60], 16384: [60] + [40] * 6 + [60]}
# (warm-up runs, timed repetitions): fewer for the slower primitives at N = 16384.
CKKS_REPS = {8192: (5, 50), 16384: (3, 30)}
PAILLIER_BITS = 2048
PAILLIER_REPS = (5, 50)
PAILLIER_ADD_REPS = (100, 1000)


def log(message):
    print(message, file=sys.stderr, flush=True)


def fail(message):
    log(f"error: {message}")
    sys.exit(1)


def median_ms(fn, warmup, reps):
    """Median wall time of fn() in milliseconds over reps calls, after warmup calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return round(statistics.median(samples) * 1e3, 4)


def seal_context(n):
    parms = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.CKKS)
    parms.set_poly_modulus_degree(n)
    parms.set_coeff_modulus(sealapi.CoeffModulus.Create(n, COEFF_MODULUS_BITS[n]))
    context = sealapi.SEALContext(parms, True, sealapi.SEC_LEVEL_TYPE.TC128)
    if not context.parameters_set():
        fail(f"SEAL rejects N = {n}: {context.parameters_error_message()}")
    return context


def check_close(name, got, want):
    error = max(abs(g - w) for g, w in zip(got, want))
    if error > 1e-3:
        fail(f"{name}: max error {error:.3g} against the expected slots")


def bench_ckks(n):
    context = seal_context(n)
    keygen = sealapi.KeyGenerator(context)
    public_key = sealapi.PublicKey()
    keygen.create_public_key(public_key)
    relin_keys = sealapi.RelinKeys()
    keygen.create_relin_keys(relin_keys)
    galois_keys = sealapi.GaloisKeys()
    keygen.create_galois_keys(galois_keys)
    encoder = sealapi.CKKSEncoder(context)
    encryptor = sealapi.Encryptor(context, public_key)
    decryptor = sealapi.Decryptor(context, keygen.secret_key())
    evaluator = sealapi.Evaluator(context)
    slots = encoder.slot_count()
    values = [math.sin(i) for i in range(slots)]

    def encode():
        plain = sealapi.Plaintext()
        encoder.encode(values, SCALE, plain)  # at the first (top) level
        return plain

    def encrypt_encoded(plain):
        cipher = sealapi.Ciphertext()
        encryptor.encrypt(plain, cipher)
        return cipher

    def encrypt():
        return encrypt_encoded(encode())

    def mul_relin_rescale(a, b):
        product = sealapi.Ciphertext()
        evaluator.multiply(a, b, product)
        evaluator.relinearize_inplace(product, relin_keys)
        evaluator.rescale_to_next_inplace(product)
        return product

    def rotate(cipher):
        rotated = sealapi.Ciphertext()
        evaluator.rotate_vector(cipher, 1, galois_keys, rotated)
        return rotated

    def decrypt(cipher):
        plain = sealapi.Plaintext()
        decryptor.decrypt(cipher, plain)
        return encoder.decode_double(plain)

    a, b = encrypt(), encrypt()
    check_close(f"N = {n} decrypt", decrypt(a), values)
    squares = [v * v for v in values]
    check_close(f"N = {n} multiply", decrypt(mul_relin_rescale(a, b)), squares)
    # A positive step rotates left: slot i takes slot i + 1.
    check_close(f"N = {n} rotate", decrypt(rotate(a)), values[1:] + values[:1])

    warmup, reps = CKKS_REPS[n]
    result = {
        "encrypt_ms": median_ms(encrypt, warmup, reps),
        "mul_relin_rescale_ms": median_ms(lambda: mul_relin_rescale(a, b), warmup, reps),
        "rotate_ms": median_ms(lambda: rotate(a), warmup, reps),
        "decrypt_ms": median_ms(lambda: decrypt(a), warmup, reps),
    }
    plain = encode()
    encode_ms = median_ms(encode, warmup, reps)
    encrypt_only_ms = median_ms(lambda: encrypt_encoded(plain), warmup, reps)
    log(
        f"CKKS N = {n}: encode alone {encode_ms:.3f} ms, "
        f"encrypt of an encoded plaintext {encrypt_only_ms:.3f} ms"
    )
    return result


def bench_paillier():
    if not phe_util.HAVE_GMP:
        fail("phe did not find gmpy2")
    public_key, private_key = paillier.generate_paillier_keypair(n_length=PAILLIER_BITS)
    x, y = 123456789, 987654321
    a, b = public_key.encrypt(x), public_key.encrypt(y)
    if private_key.decrypt(a + b) != x + y:
        fail("Paillier: the decrypted sum is wrong")
    warmup, reps = PAILLIER_REPS
    add_warmup, add_reps = PAILLIER_ADD_REPS
    return {
        "encrypt_ms": median_ms(lambda: public_key.encrypt(x), warmup, reps),
        "decrypt_ms": median_ms(lambda: private_key.decrypt(a), warmup, reps),
        "add_ms": median_ms(lambda: a + b, add_warmup, add_reps),
    }


def check_encoder():
    n = 8192
    context = seal_context(n)
    encoder = sealapi.CKKSEncoder(context)
    plain = sealapi.Plaintext()
    encoder.encode([i / 100 for i in range(n // 2)], SCALE, plain)
    if not plain.is_ntt_form():
        fail("SEAL's CKKS plaintext is not in NTT form")
    data = context.first_context_data()
    q0 = data.parms().coeff_modulus()[0].value()
    # small_ntt_tables() is bound to return the first table of the level's array: q0's.
    table = data.small_ntt_tables()
    if table.modulus().value() != q0:
        fail("the NTT table is not q0's")
    # The plaintext holds one block of N words per prime, q0's first.
    ntt_words = [plain[i] for i in range(n)]
    # sealapi's inverse_ntt_negacyclic_harvey runs SEAL's lazy inverse (output below 2 q0).
    coeffs = [c % q0 for c in sealutil.inverse_ntt_negacyclic_harvey(list(ntt_words), table)]
    if sealutil.ntt_negacyclic_harvey(list(coeffs), table) != ntt_words:
        fail("the inverse NTT does not give back SEAL's plaintext")
    centred = [c - q0 if c > q0 // 2 else c for c in coeffs[:8]]
    print(json.dumps({"n": n, "scale_bits": SCALE_BITS, "q0": q0, "coeffs": centred}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check-encoder",
        action="store_true",
        help="print SEAL's CKKS encoding of i/100 at N = 8192 instead of timing",
    )
    args = parser.parse_args()
    if args.check_encoder:
        check_encoder()
        return
    header = sealapi.Serialization.SEALHeader()  # defaults to the bundled SEAL's version
    seal_version = f"{header.version_major}.{header.version_minor}"
    log(f"tenseal {tenseal.__version__} (SEAL {seal_version}), phe {phe.__version__}")
    ckks = {}
    for n in COEFF_MODULUS_BITS:
        log(f"CKKS N = {n} ...")
        ckks[str(n)] = bench_ckks(n)
    log(f"Paillier {PAILLIER_BITS} ...")
    report = {
        "tool": "tenseal+phe",
        "tenseal": tenseal.__version__,
        "phe": phe.__version__,
        "ckks": ckks,
        "paillier": {str(PAILLIER_BITS): bench_paillier()},
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
