//! The `perm_` JSON-RPC methods, with Besu's names and shapes, so operator
//! tools written for Besu's permissioning read dsec's account list.

use super::{RpcContext, RpcResult, server_error};
use alloy_primitives::Address;
use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::types::Params;
use jsonrpsee::{Extensions, RpcModule};

/// Register the `perm_` methods.
pub(super) fn register(module: &mut RpcModule<RpcContext>) -> Result<(), RegisterMethodError> {
    module.register_method("perm_getAccountsAllowlist", get_accounts_allowlist)?;
    Ok(())
}

/// The accounts that may send transactions; Besu's error when anyone may.
fn get_accounts_allowlist(_: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<Vec<Address>> {
    ctx.chain.config().access.senders().ok_or_else(|| server_error("Account allowlist has not been enabled"))
}
