//! Merkle tree hashing and proofs, exactly as RFC 9162 §2.1 (Certificate Transparency 2.0,
//! unchanged from RFC 6962 §2.1) defines them.
//!
//! * `MTH({}) = SHA-256()`, `MTH({d}) = SHA-256(0x00 ‖ d)`;
//! * for `n > 1`, with `k` the largest power of two smaller than `n`:
//!   `MTH(D[n]) = SHA-256(0x01 ‖ MTH(D[0:k]) ‖ MTH(D[k:n]))`.
//!
//! The tree is read through [`Subtrees`], which yields the hash of any *complete* subtree —
//! `2^level` leaves starting at a multiple of `2^level` — so a store keeps each such hash once
//! (as tlog tiles do) and every root or proof costs O(log n) reads, never a rehash of the log.

use sha2::{Digest, Sha256};

use crate::error::{Error, ProofFailure, Result};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The hash of a leaf: `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Read access to the hashes of complete subtrees.
pub trait Subtrees {
    /// The hash of the `2^level` leaves starting at leaf `index · 2^level`.
    fn subtree(&self, level: u32, index: u64) -> Result<Hash>;
}

/// The largest power of two strictly smaller than `n` (`n ≥ 2`).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[start:end])`, where the range is a node of the tree (so it is either complete, or
/// its left part is).
fn range_hash(tree: &impl Subtrees, start: u64, end: u64) -> Result<Hash> {
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return tree.subtree(n.trailing_zeros(), start / n);
    }
    let k = split(n);
    Ok(node_hash(
        &range_hash(tree, start, start + k)?,
        &range_hash(tree, start + k, end)?,
    ))
}

/// The root of the first `size` leaves.
pub fn root(tree: &impl Subtrees, size: u64) -> Result<Hash> {
    if size == 0 {
        Ok(empty_root())
    } else {
        range_hash(tree, 0, size)
    }
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves: `PATH(m, D[n])`,
/// RFC 9162 §2.1.3.1.
pub fn inclusion_proof(tree: &impl Subtrees, index: u64, size: u64) -> Result<Vec<Hash>> {
    if index >= size {
        return Err(Error::UnknownEntry { index, size });
    }
    let mut proof = Vec::new();
    let (mut start, mut end) = (0, size);
    // Walk down from the root, collecting the sibling of each node on the path; the RFC lists
    // them from the leaf up, so they are reversed at the end.
    while end - start > 1 {
        let k = split(end - start);
        if index < start + k {
            proof.push(range_hash(tree, start + k, end)?);
            end = start + k;
        } else {
            proof.push(range_hash(tree, start, start + k)?);
            start += k;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// The consistency proof between the trees of `old` and `new` leaves:
/// `PROOF(m, D[n]) = SUBPROOF(m, D[n], true)`, RFC 9162 §2.1.4.1.
pub fn consistency_proof(tree: &impl Subtrees, old: u64, new: u64) -> Result<Vec<Hash>> {
    if old > new {
        return Err(Error::invalid(
            "--from",
            format!("a tree of {old} leaves cannot precede one of {new}"),
        ));
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    let mut proof = Vec::new();
    let (mut m, mut start, mut end, mut whole) = (old, 0, new, true);
    loop {
        let n = end - start;
        if m == n {
            if !whole {
                proof.push(range_hash(tree, start, end)?);
            }
            break;
        }
        let k = split(n);
        if m <= k {
            proof.push(range_hash(tree, start + k, end)?);
            end = start + k;
        } else {
            proof.push(range_hash(tree, start, start + k)?);
            start += k;
            m -= k;
            whole = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// The path walk shared by both verifiers (RFC 9162 §2.1.3.2 step 4 and §2.1.4.2 step 6):
/// for each proof hash, tells `step` whether it is the left sibling, shifting the node
/// indexes `fnode` and `snode` as the RFC says, and fails if the proof's length does not
/// match the tree's depth.
fn walk(
    mut fnode: u64,
    mut snode: u64,
    path: &[Hash],
    mut step: impl FnMut(&Hash, bool),
) -> Result<()> {
    for p in path {
        if snode == 0 {
            return Err(Error::ProofFailed(ProofFailure::TooLong));
        }
        if fnode & 1 == 1 || fnode == snode {
            step(p, true);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            step(p, false);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(Error::ProofFailed(ProofFailure::TooShort));
    }
    Ok(())
}

/// Checks an inclusion proof, RFC 9162 §2.1.3.2.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<()> {
    if index >= size {
        return Err(Error::ProofFailed(ProofFailure::IndexOutOfRange));
    }
    let mut r = *leaf;
    walk(index, size - 1, proof, |p, left| {
        r = if left {
            node_hash(p, &r)
        } else {
            node_hash(&r, p)
        };
    })?;
    if &r != root {
        return Err(Error::ProofFailed(ProofFailure::RootDiffers));
    }
    Ok(())
}

/// Checks a consistency proof between two tree heads, RFC 9162 §2.1.4.2.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<()> {
    if old > new {
        return Err(Error::ProofFailed(ProofFailure::Shrinks));
    }
    if old == new {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else {
            Err(Error::ProofFailed(ProofFailure::EqualSizes))
        };
    }
    if old == 0 {
        // Every tree extends the empty one, whose root is SHA-256 of nothing: a claimed old
        // root that is anything else is not the empty tree's.
        return if proof.is_empty() && *old_root == empty_root() {
            Ok(())
        } else {
            Err(Error::ProofFailed(ProofFailure::FromEmpty))
        };
    }
    if proof.is_empty() {
        return Err(Error::ProofFailed(ProofFailure::Empty));
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    walk(fnode, snode, &path[1..], |c, left| {
        if left {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
        } else {
            sr = node_hash(&sr, c);
        }
    })?;
    if &fr != old_root {
        return Err(Error::ProofFailed(ProofFailure::OldRootDiffers));
    }
    if &sr != new_root {
        return Err(Error::ProofFailed(ProofFailure::NewRootDiffers));
    }
    Ok(())
}

/// A tree held in memory: every complete subtree's hash, level by level. It is the reference
/// the persistent store is tested against, and the tool for building small trees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends a leaf hash and every complete subtree it finishes; returns the leaf's index.
    pub fn push(&mut self, leaf: Hash) -> u64 {
        let index = self.size();
        let mut hash = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(hash);
            let len = self.levels[level].len();
            if len % 2 == 1 {
                break;
            }
            hash = node_hash(&self.levels[level][len - 2], &self.levels[level][len - 1]);
            level += 1;
        }
        index
    }
}

impl Subtrees for MemoryTree {
    fn subtree(&self, level: u32, index: u64) -> Result<Hash> {
        self.levels
            .get(level as usize)
            .and_then(|l| l.get(index as usize))
            .copied()
            .ok_or(Error::MissingHash { level, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unhex(s: &str) -> Hash {
        let v: Vec<u8> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect();
        v.try_into().unwrap()
    }

    fn unhex_bytes(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // The RFC 6962 reference leaves and roots, as in transparency-dev/merkle's
    // testonly/constants.go.
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn reference_tree() -> MemoryTree {
        let mut t = MemoryTree::new();
        for l in LEAVES {
            t.push(leaf_hash(&unhex_bytes(l)));
        }
        t
    }

    #[test]
    fn rfc6962_roots_for_every_size() {
        let t = reference_tree();
        for (size, want) in ROOTS.iter().enumerate() {
            assert_eq!(root(&t, size as u64).unwrap(), unhex(want), "size {size}");
        }
    }

    #[test]
    fn rfc6962_inclusion_and_consistency_vectors() {
        let t = reference_tree();
        let inclusion = [
            (
                0,
                vec![
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                vec![
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        for (index, want) in inclusion {
            let proof = inclusion_proof(&t, index, 8).unwrap();
            assert_eq!(
                proof,
                want.iter().map(|h| unhex(h)).collect::<Vec<_>>(),
                "leaf {index}"
            );
            let leaf = leaf_hash(&unhex_bytes(LEAVES[index as usize]));
            verify_inclusion(index, 8, &leaf, &proof, &unhex(ROOTS[8])).unwrap();
        }
        let proof = consistency_proof(&t, 2, 8).unwrap();
        assert_eq!(
            proof,
            [
                unhex("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                unhex("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ]
        );
        verify_consistency(2, 8, &unhex(ROOTS[2]), &unhex(ROOTS[8]), &proof).unwrap();
    }

    fn tree_of(n: u64) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.push(leaf_hash(&i.to_be_bytes()));
        }
        t
    }

    proptest! {
        #[test]
        fn every_inclusion_proof_verifies_and_alterations_fail(n in 1u64..300, pick in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>()) {
            let t = tree_of(n);
            let r = root(&t, n).unwrap();
            let i = pick.index(n as usize) as u64;
            let leaf = leaf_hash(&i.to_be_bytes());
            let proof = inclusion_proof(&t, i, n).unwrap();
            prop_assert!(verify_inclusion(i, n, &leaf, &proof, &r).is_ok());
            // Another leaf, index, tree head, root, or a changed proof hash: all rejected. (The
            // size alone is not checked by the path: a signed checkpoint binds size and root.)
            prop_assert!(verify_inclusion(i, n, &leaf_hash(b"other"), &proof, &r).is_err());
            if n > 1 {
                prop_assert!(verify_inclusion((i + 1) % n, n, &leaf, &proof, &r).is_err());
            }
            // The same proof against the next tree head (size and root of n + 1 leaves).
            let r_next = root(&tree_of(n + 1), n + 1).unwrap();
            prop_assert!(verify_inclusion(i, n + 1, &leaf, &proof, &r_next).is_err());
            prop_assert!(verify_inclusion(i, n, &leaf, &proof, &leaf_hash(b"root")).is_err());
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let j = flip.index(bad.len());
                bad[j][0] ^= 1;
                prop_assert!(verify_inclusion(i, n, &leaf, &bad, &r).is_err());
                prop_assert!(verify_inclusion(i, n, &leaf, &proof[..proof.len() - 1], &r).is_err());
            }
        }

        #[test]
        fn every_consistency_proof_verifies_and_alterations_fail(n in 1u64..300, pick in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>()) {
            let t = tree_of(n);
            let m = 1 + pick.index(n as usize) as u64;
            let (rm, rn) = (root(&t, m).unwrap(), root(&t, n).unwrap());
            let proof = consistency_proof(&t, m, n).unwrap();
            prop_assert!(verify_consistency(m, n, &rm, &rn, &proof).is_ok());
            if m < n {
                prop_assert!(verify_consistency(m, n, &rn, &rn, &proof).is_err());
                prop_assert!(verify_consistency(m, n, &rm, &rm, &proof).is_err());
                let r_next = root(&tree_of(n + 1), n + 1).unwrap();
                prop_assert!(verify_consistency(m, n + 1, &rm, &r_next, &proof).is_err());
                let mut bad = proof.clone();
                let j = flip.index(bad.len());
                bad[j][31] ^= 0x80;
                prop_assert!(verify_consistency(m, n, &rm, &rn, &bad).is_err());
                prop_assert!(verify_consistency(m, n, &rm, &rn, &proof[1..]).is_err());
            }
        }
    }

    #[test]
    fn requests_outside_the_tree_are_errors() {
        let t = tree_of(5);
        assert!(inclusion_proof(&t, 5, 5).is_err());
        assert!(consistency_proof(&t, 6, 5).is_err());
        assert!(matches!(root(&t, 9), Err(Error::MissingHash { .. })));
        assert!(verify_consistency(3, 2, &[0; 32], &[0; 32], &[]).is_err());
        // From the empty tree: only the empty tree's root is its root.
        let r5 = root(&t, 5).unwrap();
        assert!(verify_consistency(0, 5, &empty_root(), &r5, &[]).is_ok());
        assert!(verify_consistency(0, 5, &[0; 32], &r5, &[]).is_err());
    }
}
