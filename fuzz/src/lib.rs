//! `dsec-fuzz`: the fuzz targets of dsec, as plain functions over bytes.
//!
//! Each target is one `pub fn <target>(data: &[u8])` here. It must not panic
//! on any input while the code it drives is correct: where it panics (an
//! `assert!` of an invariant that must hold, or a panic in the code under
//! test), it has found a bug. The libFuzzer entry points in `fuzz_targets/`
//! (built by `cargo fuzz` with the `libfuzzer` feature) only call these; the
//! tests of this crate replay every file of `corpus/<target>/` and a few
//! inputs built in code through the same functions, so `cargo test -p
//! dsec-fuzz` catches regressions without a fuzzing engine. See `README.md`.
//!
//! - [`raw_tx`]: the decoding and sender recovery of raw signed transactions
//!   that `eth_sendRawTransaction` and the transaction gossip go through;
//! - [`consensus_codec`]: the Borsh codec of consensus, sync and WAL messages;
//! - [`proposal_stream`]: the reassembly of streamed block proposals;
//! - [`chaincode_dispatch`]: the calldata dispatch of every chaincode module;
//! - `rpc_params` (feature `rpc`): the parameter parsing of every JSON-RPC method.

mod bft;
mod chaincode;
mod codec;
mod input;
#[cfg(feature = "rpc")]
mod rpc;
mod tx;

/// Decode `data` as a raw signed transaction the way the node admits one
/// ([`dsec_sdk::tx::RecoveredTx::decode`]); when it decodes, check that it
/// re-encodes to exactly `data`, that its hash is `keccak256(data)`, that
/// decoding again gives the same transaction, that alloy's own sender recovery
/// agrees, and that the fee arithmetic stays in range.
pub fn raw_tx(data: &[u8]) {
    tx::run(data);
}

/// Decode `data` as every message kind of the consensus codec
/// ([`dsec_consensus::bft::codec::DsecCodec`]); for each kind it decodes as,
/// check that it encodes to exactly `data` (one encoding per message), that
/// the encoding decodes to an equal message, and that sync responses report
/// their encoded length right.
pub fn consensus_codec(data: &[u8]) {
    codec::run(data);
}

/// Read `data` as a sequence of proposal parts (publisher, stream id, sequence
/// number, content) fed to the proposal-stream reassembler, and check after
/// every step that each answer is the one its documented rules give and that
/// the documented bounds hold (parts per stream, bytes per stream and per
/// publisher). The input format is described in `src/bft.rs`.
pub fn proposal_stream(data: &[u8]) {
    bft::run(data);
}

/// Call a chaincode module with `data`: the first byte picks the module (and
/// whether the rest is one call or a sequence of calls by several callers on
/// one state), the rest is calldata. Check that no call panics, fails fatally,
/// uses more gas than its limit without running out of gas, accepts value,
/// writes in a read-only call, or answers differently when repeated on the
/// same state; and the module's own invariants (settlement balances add up to
/// the supply, the validator-set schedule reads back). The input format is
/// described in `src/chaincode.rs`.
pub fn chaincode_dispatch(data: &[u8]) {
    chaincode::run(data);
}

/// Send one JSON-RPC request to every method the node serves, on a devnet
/// chain with one committed block: the first byte picks the method, the rest
/// (as UTF-8, lossily) is its `params`. Check that the answer is a JSON-RPC
/// response (a result or an error) with the request's id.
#[cfg(feature = "rpc")]
pub fn rpc_params(data: &[u8]) {
    rpc::run(data);
}

#[cfg(test)]
mod tests;
