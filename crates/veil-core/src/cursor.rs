//! A cursor over bytes for fixed-layout binary formats (ledger entries, CKKS keys and
//! ciphertexts): each read takes the next bytes, or reports that too few remain, so a
//! truncated input is an error and never a panic.

/// Reads a byte slice front to back.
#[derive(Debug, Clone)]
pub struct ByteCursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> ByteCursor<'a> {
    /// A cursor at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> ByteCursor<'a> {
        ByteCursor { bytes, at: 0 }
    }

    /// The next `n` bytes, or `None` if fewer remain (nothing is consumed then).
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len())?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Some(out)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// The next byte, without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.at == self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_order_and_refuses_to_run_past_the_end() {
        let mut c = ByteCursor::new(&[1, 2, 3, 4, 5]);
        assert_eq!(c.take(1), Some(&[1u8][..]));
        assert_eq!(c.array::<2>(), Some([2, 3]));
        assert_eq!(c.array::<4>(), None);
        assert!(!c.is_empty());
        assert_eq!(c.take(2), Some(&[4u8, 5][..]));
        assert!(c.is_empty());
        assert_eq!(c.take(usize::MAX), None);
    }
}
