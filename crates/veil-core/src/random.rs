//! Secure randomness: bytes straight from the operating system's CSPRNG (`getrandom(2)` on
//! Linux, through the `getrandom` crate).
//!
//! Everything secret in Veil — file keys, salts, nonces, key pairs, masks, noise — is drawn
//! from here or from a generator seeded from here, never from a user's `--seed`.

/// Fills `buf` with random bytes.
///
/// # Panics
/// If the operating system cannot provide randomness, which on a supported platform means the
/// system is unusable for cryptography; continuing without randomness would be worse.
pub fn fill(buf: &mut [u8]) {
    if let Err(e) = getrandom::fill(buf) {
        panic!("the operating system's random number generator failed: {e}");
    }
}

/// `N` random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill(&mut out);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn draws_differ_and_are_not_constant() {
        let (a, b) = (super::bytes::<32>(), super::bytes::<32>());
        assert_ne!(a, b);
        assert!(a.iter().any(|&x| x != a[0]));
    }
}
