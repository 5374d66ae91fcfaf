//! The `dsec_` JSON-RPC methods, for what Ethereum's namespaces have no word
//! for: a block's commit certificate, the validator set at a height, recorded
//! misbehaviour evidence, a transaction's proof bundle, the genesis hash, the
//! mempool size and who may transact.

use super::{RpcContext, RpcResult, one, param_error, store_err};
use alloy_primitives::{B256, U64};
use dsec_consensus::EvidenceRecord;
use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::types::Params;
use jsonrpsee::{Extensions, RpcModule};

/// Register the `dsec_` methods.
pub(super) fn register(module: &mut RpcModule<RpcContext>) -> Result<(), RegisterMethodError> {
    module.register_method("dsec_getCommit", get_commit)?;
    module.register_method("dsec_getValidators", get_validators)?;
    // Evidence lists can be long: read them on the blocking pool.
    module.register_blocking_method("dsec_getEvidence", |p, ctx, ext| get_evidence(p, &ctx, &ext))?;
    // A proof reads a block's transactions and receipts and builds two tries: the blocking pool.
    module.register_blocking_method("dsec_getTransactionProof", |p, ctx, ext| get_transaction_proof(p, &ctx, &ext))?;
    module.register_method("dsec_genesisHash", genesis_hash)?;
    module.register_method("dsec_mempoolSize", mempool_size)?;
    module.register_method("dsec_permissions", permissions)?;
    Ok(())
}

/// Everything the permissions module holds as of the head: who may transact
/// (`mode` `open` or `allowlist`, the allowlist and the blocklist) and deploy,
/// the nodes allowed to connect, the administrators of each chaincode module,
/// the permission administrators with their threshold and change nonce, and
/// who administers the validator set.
fn permissions(_: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<serde_json::Value> {
    let p = ctx.chain.permissions();
    let sorted = |mut list: Vec<alloy_primitives::Address>| {
        list.sort_unstable();
        list
    };
    let mode = |allowlist: bool| if allowlist { "allowlist" } else { "open" };
    let modules: serde_json::Map<String, serde_json::Value> =
        p.module_admins.into_iter().map(|(name, admins)| (name, serde_json::json!(sorted(admins)))).collect();
    let mut nodes = p.nodes;
    nodes.sort_unstable();
    Ok(serde_json::json!({
        "accounts": {
            "mode": mode(p.account_allowlist),
            "allowlist": sorted(p.accounts),
            "blocklist": sorted(p.blocked),
        },
        "deployers": { "mode": mode(p.deployer_allowlist), "allowlist": sorted(p.deployers) },
        "nodes": nodes,
        "moduleAdmins": modules,
        "admins": sorted(p.admins),
        "threshold": U64::from(p.threshold),
        "changeNonce": U64::from(p.nonce),
        "validatorAdmin": ctx.chain.validator_admin(),
    }))
}

/// The commit certificate of a block, or `null` if none is stored.
fn get_commit(params: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<Option<serde_json::Value>> {
    let number: U64 = one(&params, "block number")?;
    let number: u64 = number.to();
    let Some(cert) = ctx.chain.store().certificate(number).map_err(store_err)? else { return Ok(None) };
    Ok(Some(serde_json::json!({
        "height": U64::from(cert.height),
        "round": cert.round,
        "blockHash": cert.block_hash,
        "signatures": cert.signatures,
    })))
}

/// The validator set that signs height `n` (the next block's if no height is given).
fn get_validators(params: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<serde_json::Value> {
    let mut seq = params.sequence();
    let height: Option<U64> = seq.optional_next().map_err(|e| param_error("block number", e))?;
    let height = height.map(|h| h.to::<u64>()).unwrap_or_else(|| ctx.chain.head().header.number + 1);
    let set = ctx.chain.validators_at(height);
    Ok(serde_json::json!({
        "height": U64::from(height),
        "hash": set.hash(),
        "totalPower": U64::from(set.total_power()),
        "validators": set.validators.iter().map(|v| serde_json::json!({
            "address": v.address,
            "publicKey": v.public_key,
            "power": U64::from(v.power),
            "mlDsaPublicKey": v.ml_dsa_public_key,
        })).collect::<Vec<_>>(),
    }))
}

/// Recorded evidence of misbehaviour, all of it or that of one height.
fn get_evidence(params: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<Vec<EvidenceRecord>> {
    let mut seq = params.sequence();
    let height: Option<U64> = seq.optional_next().map_err(|e| param_error("block number", e))?;
    ctx.chain.store().evidence(height.map(|h| h.to::<u64>())).map_err(store_err)
}

/// The proof bundle (`dsec-proof/1`) of a committed transaction, or null
/// for a transaction this node has not committed.
fn get_transaction_proof(
    params: Params<'_>,
    ctx: &RpcContext,
    _: &Extensions,
) -> RpcResult<Option<dsec_sdk::proof::Bundle>> {
    let hash: B256 = one(&params, "transaction hash")?;
    ctx.chain.transaction_proof(&hash).map_err(store_err)
}

fn genesis_hash(_: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<B256> {
    Ok(ctx.chain.genesis_hash())
}

fn mempool_size(_: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<U64> {
    Ok(U64::from(ctx.chain.mempool_len()))
}
