//! Gas prices of chaincode work other than storage and logs, and how they were
//! set.
//!
//! Storage and logs are charged by the [`Host`](crate::Host) at the EVM's own
//! prices. Computation whose cost grows with the input is charged here, per
//! unit and before the work, at [`GAS_PER_MICROSECOND`] or more: so a block of
//! 30 M gas spent on the most expensive work per gas that chaincode offers
//! executes in a second or less. Timings are from the reference machine (2
//! cores of an AMD EPYC, the workspace's dev profile, which optimises
//! dependencies) with the ignored test `gas::tests::measure`:
//! `cargo test --workspace --lib -- --ignored --nocapture measure`.
//!
//! The worst cases found, each a contract calling a module in a loop until a
//! 30 M gas transaction runs out of gas (the ignored `dsec-evm` test
//! `worst_case`), run in 0.08 to 0.5 s: forged attestations, forged
//! device registrations, forged validator approvals, sets of 150 keys to
//! decompress (the slowest: 0.34 to 0.51 s, measured while other builds
//! shared the machine), and 256 KiB arguments decoded on every call.

/// The rate prices are set at, at least: 30 gas per microsecond of work, so
/// 30 M gas is one second.
pub const GAS_PER_MICROSECOND: u64 = 30;

/// Gas charged to every chaincode call for dispatch.
pub const DISPATCH_GAS: u64 = 2_000;

/// Gas per 32-byte word of calldata, charged before the calldata is decoded:
/// what `CALLDATACOPY` and the identity precompile charge per word (decoding
/// copies the arguments, and a contract can pass the same large buffer to a
/// module many times). Decoding measured at about 2 ns a word.
pub const CALLDATA_WORD_GAS: u64 = 3;

/// Gas for decompressing and checking one ed25519 public key (a field square
/// root): measured at 5 to 9 µs, 150 to 270 gas at [`GAS_PER_MICROSECOND`];
/// priced above that.
pub const ED25519_KEY_GAS: u64 = 500;

/// Gas for checking one ed25519 signature, the decompression of its public
/// key included: measured at 44 to 65 µs, 1,300 to 1,950 gas at
/// [`GAS_PER_MICROSECOND`]; priced at what `ecrecover` costs, above the 2,000
/// EIP-665 proposes.
pub const ED25519_VERIFY_GAS: u64 = 3_000;

/// Gas for `len` bytes of calldata: [`CALLDATA_WORD_GAS`] per 32-byte word or part of one (saturating).
pub(crate) fn calldata_gas(len: usize) -> u64 {
    let words = u64::try_from(len.div_ceil(32)).unwrap_or(u64::MAX);
    words.saturating_mul(CALLDATA_WORD_GAS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
    use std::time::{Duration, Instant};

    /// Mean time of `f` over `inputs`.
    fn time<T>(inputs: &[T], mut f: impl FnMut(&T) -> bool) -> Duration {
        let start = Instant::now();
        let mut ok = 0usize;
        for input in inputs {
            ok += usize::from(f(input));
        }
        let elapsed = start.elapsed();
        std::hint::black_box(ok);
        elapsed / u32::try_from(inputs.len()).unwrap()
    }

    /// Times the priced work on this machine and prints the gas it is worth at
    /// [`GAS_PER_MICROSECOND`] beside its price. Not a timed assertion: run it
    /// with `--ignored --nocapture` when the prices are reviewed.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn measure() {
        const N: usize = 3_000;
        let keys: Vec<SigningKey> = (0..N)
            .map(|i| {
                let mut seed = [0u8; 32];
                seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
                SigningKey::from_bytes(&seed)
            })
            .collect();
        let public: Vec<[u8; 32]> = keys.iter().map(|k| k.verifying_key().to_bytes()).collect();
        let messages: Vec<[u8; 32]> = (0..N).map(|i| *alloy_primitives::keccak256(i.to_be_bytes())).collect();
        let signed: Vec<([u8; 32], [u8; 32], Signature)> =
            (0..N).map(|i| (public[i], messages[i], keys[i].sign(&messages[i]))).collect();
        // A signature that is well-formed (R on the curve) over another message: the full cost to reject.
        let wrong: Vec<([u8; 32], [u8; 32], Signature)> =
            (0..N).map(|i| (public[i], messages[(i + 1) % N], keys[i].sign(&messages[i]))).collect();
        let off_curve: Vec<[u8; 32]> = (0u64..)
            .map(|i| *alloy_primitives::keccak256(i.to_be_bytes()))
            .filter(|k| VerifyingKey::from_bytes(k).is_err())
            .take(N)
            .collect();

        let decompress = |k: &[u8; 32]| VerifyingKey::from_bytes(k).is_ok_and(|k| !k.is_weak());
        let verify = |(k, m, s): &([u8; 32], [u8; 32], Signature)| {
            VerifyingKey::from_bytes(k).is_ok_and(|k| k.verify_strict(m, s).is_ok())
        };
        // Warm up.
        time(&signed[..100], verify);
        let rows = [
            ("key decompression, valid key", time(&public, decompress), ED25519_KEY_GAS),
            ("key decompression, off-curve key", time(&off_curve, decompress), ED25519_KEY_GAS),
            ("decompress + verify, valid signature", time(&signed, verify), ED25519_VERIFY_GAS),
            ("decompress + verify, wrong message", time(&wrong, verify), ED25519_VERIFY_GAS),
        ];
        let calldata: Vec<Vec<u8>> = (0..20)
            .map(|i| {
                let call = crate::provenance::IProvenance::attestCall {
                    id: alloy_primitives::B256::repeat_byte(i),
                    deviceKey: alloy_primitives::B256::repeat_byte(i),
                    kind: 1,
                    value: 0,
                    observedAt: 0,
                    signature: vec![i; 1 << 20].into(),
                };
                alloy::sol_types::SolCall::abi_encode(&call)
            })
            .collect();
        let decode = |data: &Vec<u8>| {
            <crate::provenance::IProvenance::IProvenanceCalls as alloy::sol_types::SolInterface>::abi_decode(data)
                .is_ok()
        };
        let per_mib = time(&calldata, decode);
        let per_word = per_mib / (1 << 15);
        // What `documents.publishKey` checks before it stores a key: the ML-KEM-768
        // modulus check, the X25519 small-order check and the key id.
        let document_keys: Vec<(Vec<u8>, [u8; 32])> = (0..300)
            .map(|_| {
                let key = dsec_sdk::envelope::RecipientKey::generate();
                (key.public_key().mlkem().as_bytes().to_vec(), *key.public_key().x25519())
            })
            .collect();
        let check_key = |(mlkem, x25519): &(Vec<u8>, [u8; 32])| {
            dsec_sdk::envelope::RecipientPublicKey::from_parts(mlkem, x25519).is_ok_and(|k| !k.key_id().is_zero())
        };
        let key_check = time(&document_keys, check_key);
        for (what, mean, price) in rows.into_iter().chain([
            ("decoding calldata, per word", per_word, CALLDATA_WORD_GAS),
            ("documents.publishKey key check", key_check, crate::documents::KEY_CHECK_GAS),
        ]) {
            let worth = mean.as_secs_f64() * 1e6 * GAS_PER_MICROSECOND as f64;
            println!("{what:40} {:>9.3} µs  worth {worth:>8.1} gas  priced {price:>6}", mean.as_secs_f64() * 1e6);
        }
    }
}
