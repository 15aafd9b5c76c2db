//! Dense codes for column values, and contribution bounding per privacy unit.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use veil_core::table::Values;

use veil_core::noise::NoiseRng;

/// The distinct values of a column over some rows: each row's code, and each code's key as
/// text (`None` for a missing value).
#[derive(Debug)]
pub(crate) struct Codes {
    pub code: Vec<u32>,
    pub keys: Vec<Option<String>>,
}

/// FxHash's multiply-rotate step (rustc's hasher): a fast hash for dictionary keys. Not
/// collision-resistant — crafted values could slow a query down, never change its answer.
#[derive(Default, Clone, Copy)]
struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) fn dictionary<K: Hash + Eq + Copy>(
    cells: impl Iterator<Item = Option<K>>,
) -> (Vec<u32>, Vec<Option<K>>) {
    let mut index: HashMap<Option<K>, u32, BuildHasherDefault<FastHasher>> = HashMap::default();
    let mut keys = Vec::new();
    let code = cells
        .map(|cell| {
            *index.entry(cell).or_insert_with(|| {
                keys.push(cell);
                (keys.len() - 1) as u32
            })
        })
        .collect();
    (code, keys)
}

/// Integers in a range not much wider than the number of rows (ids, ages, years) are coded
/// through a table indexed by value instead of a hash map.
fn dense_integers(v: &[Option<i64>], rows: &[u32]) -> Option<(Vec<u32>, Vec<Option<i64>>)> {
    let present = rows.iter().filter_map(|&r| v[r as usize]);
    let (lo, hi) = present.fold(None, |acc: Option<(i64, i64)>, x| {
        Some(acc.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))))
    })?;
    let span = usize::try_from(hi.checked_sub(lo)?).ok()?;
    if span > 2 * rows.len() + 1024 {
        return None;
    }
    const UNSEEN: u32 = u32::MAX;
    let (mut slot, mut missing) = (vec![UNSEEN; span + 1], UNSEEN);
    let mut keys = Vec::new();
    let code = rows
        .iter()
        .map(|&r| {
            let cell = v[r as usize];
            let s = match cell {
                Some(x) => &mut slot[(x - lo) as usize],
                None => &mut missing,
            };
            if *s == UNSEEN {
                keys.push(cell);
                *s = (keys.len() - 1) as u32;
            }
            *s
        })
        .collect();
    Some((code, keys))
}

/// Codes the cells of `values` at `rows`. Floats are keyed by their shortest round-trip text.
pub(crate) fn encode(values: &Values, rows: &[u32]) -> Codes {
    fn render<K>(keys: Vec<Option<K>>, f: impl Fn(K) -> String) -> Vec<Option<String>> {
        keys.into_iter().map(|k| k.map(&f)).collect()
    }
    let at = |r: &u32| *r as usize;
    let (code, keys) = match values {
        Values::Integer(v) => {
            let (code, keys) = dense_integers(v, rows)
                .unwrap_or_else(|| dictionary(rows.iter().map(|r| v[at(r)])));
            (code, render(keys, |k| k.to_string()))
        }
        Values::Float(v) => {
            let (code, keys) = dictionary(rows.iter().map(|r| v[at(r)].map(f64::to_bits)));
            (code, render(keys, |k| f64::from_bits(k).to_string()))
        }
        Values::Boolean(v) => {
            let (code, keys) = dictionary(rows.iter().map(|r| v[at(r)]));
            (code, render(keys, |k| k.to_string()))
        }
        Values::String(v) => {
            let (code, keys) = dictionary(rows.iter().map(|r| v[at(r)].as_deref()));
            (code, render(keys, str::to_string))
        }
    };
    Codes { code, keys }
}

/// Codes the cells at `rows` by their position in the public `keys` (matched as text); a
/// row whose value is missing or not among the keys gets `None` and is left out.
pub(crate) fn encode_with_keys(values: &Values, rows: &[u32], keys: &[String]) -> Vec<Option<u32>> {
    let codes = encode(values, rows);
    let position: Vec<Option<u32>> = codes
        .keys
        .iter()
        .map(|k| {
            k.as_ref()
                .and_then(|k| keys.iter().position(|p| p == k).map(|p| p as u32))
        })
        .collect();
    codes.code.iter().map(|&c| position[c as usize]).collect()
}

/// Keeps at most `k` of each privacy unit's rows, a uniformly random subset, so that adding
/// or removing one unit changes at most `k` rows of what the aggregates see. `unit` holds
/// the unit code of each row in `rows`. Rows whose unit is missing share one unit. Returns
/// the kept rows in table order.
///
/// The rows are bucketed by unit with a counting sort; a unit with more than `k` rows keeps
/// the first `k` of a partial Fisher–Yates shuffle of its bucket.
pub(crate) fn bound_contributions(
    unit: &Codes,
    rows: &[u32],
    k: usize,
    rng: &mut NoiseRng,
) -> Vec<u32> {
    let units = unit.keys.len();
    let mut start = vec![0usize; units + 1];
    for &u in &unit.code {
        start[u as usize + 1] += 1;
    }
    for u in 0..units {
        start[u + 1] += start[u];
    }
    let mut next = start.clone();
    let mut bucketed = vec![0u32; rows.len()];
    for (&row, &u) in rows.iter().zip(&unit.code) {
        bucketed[next[u as usize]] = row;
        next[u as usize] += 1;
    }
    let mut out = Vec::with_capacity(rows.len().min(units.saturating_mul(k)));
    for u in 0..units {
        let bucket = &mut bucketed[start[u]..start[u + 1]];
        if bucket.len() > k {
            for i in 0..k {
                let j = i + rng.below((bucket.len() - i) as u128) as usize;
                bucket.swap(i, j);
            }
            out.extend_from_slice(&bucket[..k]);
        } else {
            out.extend_from_slice(bucket);
        }
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dense_and_keep_missing_apart() {
        let v = Values::String(vec![
            Some("b".into()),
            None,
            Some("a".into()),
            Some("b".into()),
        ]);
        let c = encode(&v, &[0, 1, 2, 3]);
        assert_eq!(c.code, [0, 1, 2, 0]);
        assert_eq!(c.keys, [Some("b".into()), None, Some("a".into())]);
        let keys = ["a".to_string(), "c".to_string()];
        assert_eq!(
            encode_with_keys(&v, &[0, 1, 2, 3], &keys),
            [None, None, Some(0), None]
        );
        let ints = Values::Integer(vec![Some(1), Some(0)]);
        assert_eq!(
            encode_with_keys(&ints, &[0, 1], &["0".into(), "1".into()]),
            [Some(1), Some(0)]
        );
    }

    #[test]
    fn each_unit_keeps_at_most_k_rows_chosen_uniformly() {
        // Unit 0 has 10 rows, unit 1 has 2: with k = 3 unit 0 keeps 3, unit 1 both.
        let units = Values::Integer([0; 10].iter().chain(&[1, 1]).map(|&u| Some(u)).collect());
        let rows: Vec<u32> = (0..12).collect();
        let codes = encode(&units, &rows);
        let mut rng = NoiseRng::insecure_seeded(7);
        let mut hits = [0u32; 10];
        let trials = 20_000;
        for _ in 0..trials {
            let kept = bound_contributions(&codes, &rows, 3, &mut rng);
            assert_eq!(kept.len(), 5);
            assert!(kept.ends_with(&[10, 11]));
            for &r in &kept[..3] {
                hits[r as usize] += 1;
            }
        }
        // Each of unit 0's rows is kept with probability 3/10: 6,000 of 20,000 expected,
        // standard deviation 65; allow 5 standard deviations.
        for h in hits {
            assert!((f64::from(h) - 6000.0).abs() < 325.0, "{hits:?}");
        }
    }
}
