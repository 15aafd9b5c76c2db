//! Known answers from the Milagro crypto library, round trips, the homomorphisms, the
//! fixed-point encoding, key files, and bad input.

use crypto_bigint::BoxedUint;
use proptest::prelude::*;

use super::*;

/// The vectors of a Milagro test file: one map from field name to value per test.
fn vectors(text: &str) -> Vec<std::collections::BTreeMap<String, BoxedUint>> {
    text.split("\n\n")
        .map(|block| {
            block
                .lines()
                .filter_map(|line| {
                    let (key, value) = line.split_once(" = ")?;
                    let hex = value.trim_end_matches(',');
                    (hex.len() > 8).then(|| {
                        let bytes: Vec<u8> = (0..hex.len())
                            .step_by(2)
                            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                            .collect();
                        let value =
                            BoxedUint::from_be_slice(&bytes, (bytes.len() * 8) as u32).unwrap();
                        (key.to_string(), value)
                    })
                })
                .collect()
        })
        .collect()
}

#[test]
fn encryption_matches_milagros_known_answers() {
    let tests = vectors(include_str!(
        "../../tests/data/milagro-paillier-encrypt.txt"
    ));
    assert_eq!(tests.len(), 2);
    for t in tests {
        let pk = PublicKey::from_modulus(t["N"].clone()).unwrap();
        let c = pk.encrypt_with_r(&t["PLAINTEXT"], &t["R"]).unwrap();
        let want = resize(&t["CIPHERTEXT"], c.0.bits_precision());
        assert_eq!(c.0, want);
        // G = N + 1 is the generator Veil uses.
        let g = t["N"].wrapping_add(BoxedUint::one_with_precision(t["N"].bits_precision()));
        assert_eq!(resize(&g, 2048), resize(&t["G"], 2048));
    }
}

#[test]
fn crt_decryption_matches_milagros_known_answers() {
    for t in vectors(include_str!(
        "../../tests/data/milagro-paillier-decrypt.txt"
    )) {
        // p and q from N and L = φ(N): p + q = N − φ + 1, and they are the roots of
        // x² − (p + q)x + N.
        let bits = 2048;
        let n = resize(&t["N"], bits);
        let s = n
            .wrapping_sub(resize(&t["L"], bits))
            .wrapping_add(BoxedUint::one_with_precision(bits));
        let disc = s
            .wrapping_mul(&s)
            .wrapping_sub(n.wrapping_add(&n).wrapping_add(&n).wrapping_add(&n));
        let root = disc.floor_sqrt_vartime();
        let p = s.wrapping_add(&root).shr_vartime(1).unwrap();
        let q = s.wrapping_sub(&root).shr_vartime(1).unwrap();
        let sk = SecretKey::from_factors(resize(&p, 1024), resize(&q, 1024)).unwrap();
        assert_eq!(sk.public().modulus(), &n);
        let c = sk.public().ciphertext(t["CIPHERTEXT"].clone()).unwrap();
        assert_eq!(sk.decrypt(&c), resize(&t["PLAINTEXT"], bits));
    }
}

/// One 2048-bit key for the tests that need a fresh one (generation takes a while).
fn key() -> &'static SecretKey {
    static KEY: std::sync::OnceLock<SecretKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| SecretKey::generate(2048).unwrap())
}

#[test]
fn generated_keys_have_the_size_asked_for_and_decrypt() {
    let sk = key();
    assert_eq!(sk.public().modulus().bits(), 2048);
    let m = BoxedUint::from(42u64);
    assert_eq!(
        sk.decrypt(&sk.public().encrypt(&m).unwrap()),
        resize(&m, 2048)
    );
    assert!(SecretKey::generate(1024).is_err());
    // Two encryptions of the same message differ (fresh randomness each time).
    let (a, b) = (
        sk.public().encrypt(&m).unwrap(),
        sk.public().encrypt(&m).unwrap(),
    );
    assert_ne!(a, b);
}

#[test]
fn precomputed_obfuscators_encrypt_the_same() {
    let sk = key();
    let pk = sk.public();
    let pool = pk.obfuscators(3);
    assert_eq!(pool.len(), 3);
    for (i, o) in pool.into_iter().enumerate() {
        let m = BoxedUint::from(1000 + i as u64);
        assert_eq!(
            sk.decrypt(&pk.encrypt_with(&m, o).unwrap()),
            resize(&m, 2048)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn the_homomorphisms_hold(a in any::<u64>(), b in any::<u64>(), k in any::<i64>()) {
        let sk = key();
        let pk = sk.public();
        let (ea, eb) = (pk.encrypt(&BoxedUint::from(a)).unwrap(), pk.encrypt(&BoxedUint::from(b)).unwrap());
        let sum = BoxedUint::from(u128::from(a) + u128::from(b));
        prop_assert_eq!(sk.decrypt(&pk.add(&ea, &eb)), resize(&sum, 2048));
        prop_assert_eq!(sk.decrypt(&pk.add_plain(&ea, &BoxedUint::from(b)).unwrap()), resize(&sum, 2048));
        // k·a mod n, with k negative as n − |k·a|.
        let product = i128::from(k) * i128::from(a);
        let want = pk.signed(product);
        prop_assert_eq!(sk.decrypt(&pk.mul_plain(&ea, i128::from(k))), want);
    }

    #[test]
    fn reals_round_trip_through_a_linear_score(
        x in proptest::collection::vec(-50.0f64..50.0, 1..6),
        w in proptest::collection::vec(-5.0f64..5.0, 6),
        bias in -3.0f64..3.0,
    ) {
        // Σ wᵢxᵢ + b on ciphertexts, as an encrypted logistic-regression score is computed.
        let sk = key();
        let pk = sk.public();
        let mut score = pk.encrypt_real(0.0).unwrap();
        let mut plain = bias;
        for (xi, wi) in x.iter().zip(&w) {
            let term = pk.mul_real(&pk.encrypt_real(*xi).unwrap(), *wi).unwrap();
            score = pk.add_numbers(&score, &term).unwrap();
            plain += xi * wi;
        }
        let score = pk.add_real(&score, bias).unwrap();
        let got = sk.decrypt_real(&score);
        // Each product carries the rounding of x and w at 2^−40.
        prop_assert!((got - plain).abs() < 1e-9, "{} vs {}", got, plain);
    }
}

#[test]
fn bad_ciphertexts_and_plaintexts_are_refused() {
    let pk = key().public();
    let n = pk.modulus().clone();
    assert!(pk.encrypt(&n).is_err(), "a plaintext must be below n");
    assert!(pk.from_bytes(&[0u8; 512]).is_err(), "zero");
    assert!(pk.from_bytes(&[0xff; 600]).is_err(), "above n²");
    // A multiple of p: shares a factor with n.
    let (p, _) = key().factors();
    assert!(pk.ciphertext(p.clone()).is_err());
    let c = pk.encrypt(&BoxedUint::from(7u64)).unwrap();
    assert_eq!(pk.from_bytes(&pk.to_bytes(&c)).unwrap(), c);
    assert!(pk.encrypt_real(f64::NAN).is_err());
    assert!(pk.encrypt_real(1e300).is_err());
}

#[test]
fn key_files_round_trip_and_the_secret_one_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let (public, secret) = (dir.path().join("key.pub"), dir.path().join("key.secret"));
    let sk = key();
    let mut batch = veil_core::atomic::Batch::new();
    stage_public(&mut batch, &public, sk.public()).unwrap();
    stage_secret(&mut batch, &secret, sk).unwrap();
    batch.commit().unwrap();
    let pk = read_public(&public).unwrap();
    assert_eq!(&pk, sk.public());
    let again = read_secret(&secret).unwrap();
    let c = pk.encrypt(&BoxedUint::from(99u64)).unwrap();
    assert_eq!(again.decrypt(&c), resize(&BoxedUint::from(99u64), 2048));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The wrong kind of file, and a damaged one, are refused with a reason.
    let err = read_secret(&public).unwrap_err().to_string();
    assert!(err.contains("not a veil-paillier-secret-key"), "{err}");
    std::fs::write(
        &public,
        "{\"format\": \"veil-paillier-public-key\", \"version\": 1, \"bits\": 2048, \"n\": \"zz\"}",
    )
    .unwrap();
    assert!(read_public(&public).is_err());
}

/// serde's messages quote a field's value; a secret key file's problems are told without
/// them (before, `"p": 1234567` came back as "invalid type: integer `1234567`").
#[test]
fn a_damaged_secret_key_file_is_refused_without_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.secret");
    for (p, q) in [
        ("1234567", "\"8badf00d\""),
        ("\"8badf00d\"", "\"\\u0038badf00d\""),
        ("[12345, 67]", "\"8badf00d\""),
    ] {
        std::fs::write(
            &path,
            format!(
                "{{\"format\": \"veil-paillier-secret-key\", \"version\": 1, \"bits\": 2048, \
                 \"p\": {p}, \"q\": {q}}}"
            ),
        )
        .unwrap();
        #[cfg(unix)]
        std::fs::set_permissions(
            &path,
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
        )
        .unwrap();
        let err = read_secret(&path).unwrap_err().to_string();
        for secret in ["1234567", "12345", "8badf00d"] {
            assert!(!err.contains(secret), "{err}");
        }
        assert!(err.contains("line 1"), "{err}");
    }
    // And a good one still reads.
    let mut batch = veil_core::atomic::Batch::new();
    stage_secret(&mut batch, &path, key()).unwrap();
    batch.commit().unwrap();
    assert_eq!(read_secret(&path).unwrap().public(), key().public());
}

/// Every integer of a key's factorisation is wiped by `zeroize` (and so on drop): the
/// Montgomery parameters, which could not be, are no longer kept.
#[test]
fn the_factorisation_is_kept_only_in_integers_that_are_wiped() {
    fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}
    let (p, q) = key().factors();
    let sk = SecretKey::from_factors(p.clone(), q.clone()).unwrap();
    let mut p = Factor::new(&sk.p.f, &sk.public).unwrap();
    wiped_on_drop(&p);
    let c = sk.public().encrypt(&BoxedUint::from(5u64)).unwrap();
    assert_eq!(sk.decrypt(&c), resize(&BoxedUint::from(5u64), 2048));
    p.zeroize();
    // An odd integer is wiped to 1, the others to 0.
    let words = |x: &BoxedUint| x.as_words().to_vec();
    assert!(
        words(&p.f)[1..]
            .iter()
            .chain(&words(&p.f2)[1..])
            .all(|&w| w == 0)
    );
    assert_eq!((words(&p.f)[0], words(&p.f2)[0]), (1, 1));
    assert!(
        words(&p.f_minus_1)
            .iter()
            .chain(&words(&p.h))
            .all(|&w| w == 0)
    );
}
