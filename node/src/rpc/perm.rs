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
    module.register_method("perm_getNodesAllowlist", get_nodes_allowlist)?;
    Ok(())
}

/// The accounts that may send transactions (the permissions module's
/// allowlist as of the head); Besu's error when anyone may.
fn get_accounts_allowlist(_: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<Vec<Address>> {
    let permissions = ctx.chain.permissions();
    if !permissions.account_allowlist {
        return Err(server_error("Account allowlist has not been enabled"));
    }
    let mut accounts = permissions.accounts;
    accounts.sort_unstable();
    Ok(accounts)
}

/// The libp2p peer ids of the non-validator nodes allowed to connect, as the
/// permissions module records them (validators are always allowed). Besu
/// lists enode URLs here; dsec's nodes are named by peer id.
fn get_nodes_allowlist(_: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<Vec<String>> {
    let mut nodes = ctx.chain.permissions().nodes;
    nodes.sort_unstable();
    Ok(nodes)
}
