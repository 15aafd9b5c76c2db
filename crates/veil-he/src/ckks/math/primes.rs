//! NTT-friendly primes: q ≡ 1 (mod 2N), so that Z_q holds a primitive 2N-th root of unity
//! ψ and X^N + 1 splits into linear factors mod q (the negacyclic NTT needs ψ).

use crypto_bigint::U64;
use crypto_primes::{Flavor, is_prime};

use super::modulus::Modulus;
use crate::error::{Error, Result};

/// The largest `count` distinct primes below 2^bits that are ≡ 1 (mod 2n), none in
/// `exclude`, in descending order.
pub fn ntt_primes(bits: u32, n: usize, count: usize, exclude: &[u64]) -> Result<Vec<u64>> {
    if !(20..=61).contains(&bits) || !n.is_power_of_two() {
        return Err(Error::out_of_range(
            "prime",
            format!("primes of {bits} bits for N = {n}: bits must be 20–61 and N a power of two"),
        ));
    }
    let step = 2 * n as u64;
    let mut candidate = (1u64 << bits) - step + 1;
    let floor = 1u64 << (bits - 1);
    let mut found = Vec::with_capacity(count);
    while found.len() < count {
        if candidate <= floor {
            return Err(Error::out_of_range(
                "prime",
                format!("fewer than {count} primes of {bits} bits are ≡ 1 mod {step}"),
            ));
        }
        if !exclude.contains(&candidate) && is_prime(Flavor::Any, &U64::from_u64(candidate)) {
            found.push(candidate);
        }
        candidate -= step;
    }
    Ok(found)
}

/// The smallest primitive 2n-th root of unity ψ mod q (q prime, q ≡ 1 mod 2n): the first
/// g^((q−1)/2n), g = 2, 3, …, whose n-th power is −1.
pub fn primitive_root(q: &Modulus, n: usize) -> Result<u64> {
    let order = 2 * n as u64;
    if !(q.value() - 1).is_multiple_of(order) {
        return Err(Error::out_of_range(
            "prime",
            format!("{} is not 1 mod {order}", q.value()),
        ));
    }
    (2..q.value().min(1 << 20))
        .map(|g| q.pow(g, (q.value() - 1) / order))
        .find(|&psi| q.pow(psi, n as u64) == q.value() - 1)
        .ok_or_else(|| Error::out_of_range("prime", format!("no primitive root mod {}", q.value())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes_are_ntt_friendly_distinct_and_the_roots_primitive() {
        let n = 8192;
        let primes = ntt_primes(60, n, 3, &[]).unwrap();
        assert_eq!(primes.len(), 3);
        for &q in &primes {
            assert_eq!(64 - q.leading_zeros(), 60);
            assert_eq!((q - 1) % (2 * n as u64), 0);
            let m = Modulus::new(q);
            let psi = primitive_root(&m, n).unwrap();
            assert_eq!(m.pow(psi, 2 * n as u64), 1);
            assert_eq!(m.pow(psi, n as u64), q - 1);
        }
        let more = ntt_primes(60, n, 2, &primes[..1]).unwrap();
        assert!(!more.contains(&primes[0]));
        assert!(ntt_primes(70, n, 1, &[]).is_err());
    }
}
