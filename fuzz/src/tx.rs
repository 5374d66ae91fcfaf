//! `raw_tx`: raw signed transactions as the node admits them.
//!
//! `eth_sendRawTransaction` and the transaction gossip both hand their bytes to
//! `Chain::submit`, which (after a size check) calls
//! [`RecoveredTx::decode`]: [`decode_envelope`] then [`recover_sender`]. The
//! whole input is one transaction.

use alloy::consensus::Transaction;
use alloy::consensus::transaction::SignerRecoverable;
use alloy::eips::eip2718::Encodable2718;
use alloy_primitives::{U256, keccak256};
use dsec_sdk::tx::{RecoveredTx, decode_envelope, recover_sender};

/// Base fees the fee arithmetic is checked at: none, tiny, typical, huge, the largest.
const BASE_FEES: [u64; 5] = [0, 1, 1_000_000_000, u64::MAX / 2, u64::MAX];

/// Run the `raw_tx` target on `data`.
pub(crate) fn run(data: &[u8]) {
    let Ok(envelope) = decode_envelope(data) else {
        assert!(RecoveredTx::decode(data).is_err(), "RecoveredTx::decode accepts what decode_envelope refuses");
        return;
    };
    // The two recoveries of the sender (libsecp256k1 in the SDK, alloy's own)
    // accept the same signatures, low `s` only, and agree on the signer. An
    // ML-DSA-65 transaction (type 0x4D) has no second implementation here:
    // `dsec_sdk::pq`'s own tests cross-check its verifier.
    let sdk_sender = recover_sender(&envelope);
    if let Some(eth) = envelope.as_eth() {
        let alloy_sender = eth.recover_signer();
        match (&sdk_sender, &alloy_sender) {
            (Ok(by_sdk), Ok(by_alloy)) => {
                assert_eq!(by_sdk, by_alloy, "libsecp256k1 and alloy recover different senders")
            }
            (Err(_), Err(_)) => {}
            _ => panic!("sender recovery disagrees: dsec-sdk {sdk_sender:?}, alloy {alloy_sender:?}"),
        }
    }
    let tx = match RecoveredTx::decode(data) {
        Ok(tx) => tx,
        Err(e) => {
            assert!(sdk_sender.is_err(), "RecoveredTx::decode refuses an envelope whose sender recovers: {e}");
            return;
        }
    };
    assert_eq!(tx.envelope, envelope, "RecoveredTx::decode and decode_envelope decode differently");
    assert_eq!(Ok(tx.sender), sdk_sender);

    // What was admitted is exactly what was received: the envelope re-encodes
    // to the input, and the hash the mempool and the receipts use is the one a
    // gossip peer computes from the raw bytes (`keccak256(raw)`).
    assert_eq!(&tx.raw[..], data, "RecoveredTx::raw is not the input");
    let encoded = tx.envelope.encoded_2718();
    assert_eq!(encoded.as_slice(), data, "the decoded transaction re-encodes to other bytes");
    assert_eq!(tx.envelope.encode_2718_len(), data.len(), "encode_2718_len disagrees with the encoding");
    assert_eq!(tx.hash, keccak256(data), "the transaction hash is not keccak256 of its bytes");
    match RecoveredTx::decode(&encoded) {
        Ok(again) => assert_eq!(again, tx, "decoding the re-encoded transaction gives another"),
        Err(e) => panic!("the re-encoded transaction does not decode: {e}"),
    }
    match RecoveredTx::from_trusted(tx.raw.clone(), tx.sender) {
        Ok(trusted) => assert_eq!(trusted, tx, "from_trusted rebuilds another transaction"),
        Err(e) => panic!("from_trusted refuses an admitted transaction: {e}"),
    }

    // The EIP-2718 type byte is the first byte of a typed envelope; legacy is 0.
    let expected_type = match data.first() {
        Some(&first) if first < 0x7f => first,
        _ => 0,
    };
    assert_eq!(tx.ty(), expected_type, "the transaction type is not the envelope's type byte");
    assert!(tx.envelope.chain_id().is_some(), "an admitted transaction has no chain id");

    // Fee arithmetic: in range at every base fee, never a panic.
    let max_fee = tx.max_fee_per_gas();
    let _ = (tx.nonce(), tx.gas_limit(), tx.is_create());
    for base_fee in BASE_FEES {
        let base = u128::from(base_fee);
        match tx.effective_gas_price(base_fee) {
            Some(price) => {
                assert!(base <= price && price <= max_fee, "effective gas price {price} outside [{base}, {max_fee}]");
                assert_eq!(tx.effective_tip(base_fee), price - base);
            }
            None => {
                assert!(max_fee < base, "no effective gas price although the fee cap {max_fee} covers {base}");
                assert_eq!(tx.effective_tip(base_fee), 0);
            }
        }
    }
    // The most the sender can be charged never wraps below its parts.
    let cost = tx.max_cost();
    assert!(cost >= tx.envelope.value(), "max_cost below the value sent");
    assert!(cost >= U256::from(tx.gas_limit()) * U256::from(max_fee), "max_cost below gas_limit * max_fee");
}
