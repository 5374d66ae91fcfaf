//! Merkle trees over audit-log lines, as RFC 6962 (Certificate Transparency)
//! defines them: leaf hashes and node hashes are domain-separated
//! (`keccak256(0x00 || line)`, `keccak256(0x01 || left || right)`), and a tree
//! of `n` leaves splits at the largest power of two below `n`, so no leaf is
//! ever duplicated and a proof cannot be replayed for another tree size.

use alloy_primitives::{B256, keccak256};

/// Hash of one leaf (one log line).
pub fn leaf_hash(line: &[u8]) -> B256 {
    let mut buf = Vec::with_capacity(1 + line.len());
    buf.push(0x00);
    buf.extend_from_slice(line);
    keccak256(&buf)
}

/// Hash of an inner node.
pub fn node_hash(left: &B256, right: &B256) -> B256 {
    let mut buf = [0u8; 65];
    buf[0] = 0x01;
    buf[1..33].copy_from_slice(left.as_slice());
    buf[33..].copy_from_slice(right.as_slice());
    keccak256(buf)
}

fn split(n: usize) -> usize {
    // Largest power of two strictly smaller than n (n >= 2).
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// Root of the tree over these leaf hashes (`None` for no leaves).
pub fn root(leaves: &[B256]) -> Option<B256> {
    match leaves.len() {
        0 => None,
        1 => Some(leaves[0]),
        n => {
            let k = split(n);
            Some(node_hash(&root(&leaves[..k])?, &root(&leaves[k..])?))
        }
    }
}

/// Inclusion proof of leaf `index` (the audit path, bottom-up).
pub fn proof(leaves: &[B256], index: usize) -> Option<Vec<B256>> {
    if index >= leaves.len() {
        return None;
    }
    let mut path = Vec::new();
    collect(leaves, index, &mut path);
    Some(path)
}

fn collect(leaves: &[B256], index: usize, path: &mut Vec<B256>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if index < k {
        collect(&leaves[..k], index, path);
        path.extend(root(&leaves[k..]));
    } else {
        collect(&leaves[k..], index - k, path);
        path.extend(root(&leaves[..k]));
    }
}

/// Check that `leaf` is leaf `index` of a tree of `size` leaves with this root (RFC 6962 §2.1.1).
pub fn verify(root: &B256, leaf: &B256, index: u64, size: u64, proof: &[B256]) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<B256> {
        (0..n).map(|i| leaf_hash(format!("line {i}").as_bytes())).collect()
    }

    #[test]
    fn every_leaf_of_every_size_verifies() {
        for n in 1..=33 {
            let l = leaves(n);
            let r = root(&l).unwrap();
            for i in 0..n {
                let p = proof(&l, i).unwrap();
                assert!(verify(&r, &l[i], i as u64, n as u64, &p), "n={n} i={i}");
            }
        }
    }

    #[test]
    fn wrong_leaf_index_size_or_proof_fails() {
        let l = leaves(7);
        let r = root(&l).unwrap();
        let p = proof(&l, 3).unwrap();
        assert!(!verify(&r, &l[4], 3, 7, &p));
        assert!(!verify(&r, &l[3], 4, 7, &p));
        // The size is bound through the shape of the path: a 4-leaf tree needs two steps, not three.
        assert!(!verify(&r, &l[3], 3, 4, &p));
        assert!(!verify(&r, &l[3], 3, 7, &p[..p.len() - 1]));
        assert!(!verify(&r, &l[3], 7, 7, &p));
        // A leaf hash is never an inner node hash (domain separation).
        assert_ne!(leaf_hash(&[0u8; 64]), node_hash(&B256::ZERO, &B256::ZERO));
    }
}
