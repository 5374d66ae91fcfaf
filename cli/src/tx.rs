//! Sending a signed call to a contract or chaincode module from the CLI, and
//! reading views, with the module's revert reason in the error: what every
//! operator command that changes or reads a module goes through.

use alloy::consensus::TxEip1559;
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol_types::SolCall;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use dsec_sdk::client::RpcClient;
use dsec_sdk::tx::LocalKey;
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
    key: &LocalKey,
    to: Address,
    call: &C,
) -> eyre::Result<TransactionReceipt> {
    send_calldata(client, key, to, call.abi_encode().into()).await
}

/// Sign and send calldata already encoded to `to` from `key`, as [`send`] does.
pub(crate) async fn send_calldata(
    client: &RpcClient,
    key: &LocalKey,
    to: Address,
    data: Bytes,
) -> eyre::Result<TransactionReceipt> {
    // Estimating first surfaces a revert reason before anything is signed.
    let request = TransactionRequest::default().from(key.address()).to(to).input(data.clone().into());
    let gas = client.estimate_gas(&request).await.map_err(|e| eyre!("refused: {e}"))?;
    let chain_id = client.chain_id().await?;
    let nonce = client.pending_nonce(key.address()).await?;
    let price = client.gas_price().await?;
    let raw = key.sign_tx_bytes(TxEip1559 {
        chain_id,
        nonce,
        gas_limit: gas + gas / 5,
        max_fee_per_gas: price.saturating_mul(2).max(1),
        max_priority_fee_per_gas: price.min(1_000_000_000),
        to: TxKind::Call(to),
        value: U256::ZERO,
        input: data,
        ..Default::default()
    });
    let hash = client.send_raw(&raw).await.map_err(|e| eyre!("transaction refused: {e}"))?;
    let receipt = client
        .wait_for_receipt(hash, Duration::from_secs(60))
        .await?
        .ok_or_else(|| eyre!("transaction {hash} not included within 60 s"))?;
    if !receipt.status() {
        let reason = client.call_latest(&request).await.err().map(|e| e.to_string()).unwrap_or_default();
        bail!("transaction {hash} failed: {reason}");
    }
    Ok(receipt)
}
