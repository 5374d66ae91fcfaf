//! The `net_` JSON-RPC methods that wallets and tools probe: the network id
//! (the chain id, in decimal), whether the node listens (always), and its
//! peer count (always zero: no peers are reported through this namespace).
//! geth keeps this namespace apart from `eth_`, and so do we.

use super::{RpcContext, RpcResult};
use alloy_primitives::U64;
use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::types::Params;
use jsonrpsee::{Extensions, RpcModule};

/// Register the `net_` methods.
pub(super) fn register(module: &mut RpcModule<RpcContext>) -> Result<(), RegisterMethodError> {
    module.register_method("net_version", version)?;
    module.register_method("net_listening", listening)?;
    module.register_method("net_peerCount", peer_count)?;
    Ok(())
}

fn version(_: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<String> {
    Ok(ctx.chain.config().chain_id.to_string())
}

fn listening(_: Params<'_>, _: &RpcContext, _: &Extensions) -> RpcResult<bool> {
    Ok(true)
}

/// The peers connected to this node's consensus network (refreshed every two
/// seconds; 0 for a single sealing validator, which has no network).
fn peer_count(_: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<U64> {
    Ok(U64::from(ctx.chain.metrics().consensus_peers.get()))
}
