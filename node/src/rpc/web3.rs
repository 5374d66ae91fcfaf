//! The `web3_` JSON-RPC methods: the client version and Keccak-256 of given
//! bytes. geth keeps this namespace apart from `eth_`, and so do we.

use super::{RpcContext, RpcResult, one};
use alloy_primitives::{B256, Bytes, keccak256};
use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::types::Params;
use jsonrpsee::{Extensions, RpcModule};

/// Register the `web3_` methods.
pub(super) fn register(module: &mut RpcModule<RpcContext>) -> Result<(), RegisterMethodError> {
    module.register_method("web3_clientVersion", client_version)?;
    module.register_method("web3_sha3", sha3)?;
    Ok(())
}

fn client_version(_: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<String> {
    Ok(ctx.client_version.clone())
}

fn sha3(params: Params<'_>, _: &RpcContext, _: &Extensions) -> RpcResult<B256> {
    let data: Bytes = one(&params, "data")?;
    Ok(keccak256(&data))
}
