//! Sending a signed call to a contract or chaincode module from the CLI, and
//! reading views, with the module's revert reason in the error: what every
//! operator command that changes or reads a module goes through.

use alloy::consensus::TxEip1559;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use dsec_sdk::block::RpcReceipt;
use dsec_sdk::client::RpcClient;
use dsec_sdk::tx::AccountKey;
use eyre::{bail, eyre};
use std::time::Duration;

/// Call a view function of `to`.
pub(crate) async fn view<C: SolCall>(client: &RpcClient, to: Address, call: &C) -> eyre::Result<C::Return> {
    let req = TransactionRequest::default().to(to).input(Bytes::from(call.abi_encode()).into());
    let out = client.call_latest(&req).await.map_err(|e| eyre!("call to {to} failed: {e}"))?;
    C::abi_decode_returns(&out).map_err(|e| eyre!("{to} answered something unexpected: {e}"))
}

/// Sign and send `call` to `to` from `key`, wait for the receipt, and fail
/// with the revert reason if the transaction failed.
pub(crate) async fn send<C: SolCall>(
    client: &RpcClient,
    key: &AccountKey,
    to: Address,
    call: &C,
) -> eyre::Result<RpcReceipt> {
    send_calldata(client, key, to, call.abi_encode().into()).await
}

/// Sign and send calldata already encoded to `to` from `key`, as [`send`] does.
pub(crate) async fn send_calldata(
    client: &RpcClient,
    key: &AccountKey,
    to: Address,
    data: Bytes,
) -> eyre::Result<RpcReceipt> {
    send_tx(client, key, TxKind::Call(to), U256::ZERO, data, None).await
}

/// Sign (with either scheme) and send a transaction, wait for its receipt,
/// and fail with the revert reason if it failed. Without `gas`, the gas is
/// estimated first (plus 20 %), which surfaces a revert reason before
/// anything is signed.
pub(crate) async fn send_tx(
    client: &RpcClient,
    key: &AccountKey,
    to: TxKind,
    value: U256,
    data: Bytes,
    gas: Option<u64>,
) -> eyre::Result<RpcReceipt> {
    let chain_id = client.chain_id().await.map_err(|e| eyre!("cannot reach the node's JSON-RPC: {e}"))?;
    let mut request = TransactionRequest::default().from(key.address()).value(value).input(data.clone().into());
    request.to = Some(to);
    let gas_limit = match gas {
        Some(gas) => gas,
        None => {
            let gas = client.estimate_gas(&request).await.map_err(|e| eyre!("refused: {e}"))?;
            gas.saturating_add(gas / 5)
        }
    };
    let nonce = client.pending_nonce(key.address()).await?;
    let price = client.gas_price().await?;
    let raw = key.sign_dynamic_fee(TxEip1559 {
        chain_id,
        nonce,
        gas_limit,
        max_fee_per_gas: price.saturating_mul(2).max(1),
        max_priority_fee_per_gas: price.min(1_000_000_000),
        to,
        value,
        input: data,
        ..Default::default()
    })?;
    let hash = client.send_raw(&raw).await.map_err(|e| eyre!("transaction refused: {e}"))?;
    let receipt = client
        .wait_for_receipt(hash, Duration::from_secs(60))
        .await?
        .ok_or_else(|| eyre!("transaction {hash} not included within 60 s"))?;
    if !receipt.inner.status() {
        let reason = client.call_latest(&request).await.err().map(|e| e.to_string()).unwrap_or_default();
        bail!("transaction {hash} failed: {reason}");
    }
    Ok(receipt)
}
