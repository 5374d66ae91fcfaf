//! A typed JSON-RPC client for a dsec node (it speaks the Ethereum JSON-RPC,
//! so it also works against any Ethereum node). Used by `dsec load`, the CLI
//! and the end-to-end tests.

use crate::block::RpcReceipt;
use alloy::rpc::types::{BlockNumberOrTag, Log, TransactionRequest};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use jsonrpsee_core::client::ClientT;
use jsonrpsee_core::params::BatchRequestBuilder;
use jsonrpsee_core::rpc_params;
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use std::time::Duration;

pub use jsonrpsee_core::client::Error as RpcClientError;

/// A JSON-RPC client over HTTP.
#[derive(Debug, Clone)]
pub struct RpcClient {
    inner: HttpClient,
}

impl RpcClient {
    /// Connect to `url` (`http://host:port`).
    pub fn new(url: &str) -> Result<Self, RpcClientError> {
        let inner = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(60))
            .max_request_size(64 << 20)
            .max_response_size(64 << 20)
            .build(url)?;
        Ok(Self { inner })
    }

    /// Call any method with JSON parameters and decode the result.
    pub async fn call<R: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        params: Vec<serde_json::Value>,
    ) -> Result<R, RpcClientError> {
        self.inner.request(method, params).await
    }

    /// `eth_chainId`.
    pub async fn chain_id(&self) -> Result<u64, RpcClientError> {
        let id: U64 = self.inner.request("eth_chainId", rpc_params![]).await?;
        Ok(id.to())
    }

    /// `eth_blockNumber`.
    pub async fn block_number(&self) -> Result<u64, RpcClientError> {
        let n: U64 = self.inner.request("eth_blockNumber", rpc_params![]).await?;
        Ok(n.to())
    }

    /// `eth_gasPrice`.
    pub async fn gas_price(&self) -> Result<u128, RpcClientError> {
        let p: U256 = self.inner.request("eth_gasPrice", rpc_params![]).await?;
        Ok(p.to())
    }

    /// `eth_getBalance` at the latest block.
    pub async fn balance(&self, address: Address) -> Result<U256, RpcClientError> {
        self.inner.request("eth_getBalance", rpc_params![address, BlockNumberOrTag::Latest]).await
    }

    /// `eth_getTransactionCount` at the pending state.
    pub async fn pending_nonce(&self, address: Address) -> Result<u64, RpcClientError> {
        let n: U64 =
            self.inner.request("eth_getTransactionCount", rpc_params![address, BlockNumberOrTag::Pending]).await?;
        Ok(n.to())
    }

    /// `eth_sendRawTransaction`.
    pub async fn send_raw(&self, raw: &Bytes) -> Result<B256, RpcClientError> {
        self.inner.request("eth_sendRawTransaction", rpc_params![raw]).await
    }

    /// Send many raw transactions in one batch request; one result per transaction, in order.
    pub async fn send_raw_batch(&self, raws: &[Bytes]) -> Result<Vec<Result<B256, String>>, RpcClientError> {
        let mut batch = BatchRequestBuilder::new();
        for raw in raws {
            batch.insert("eth_sendRawTransaction", rpc_params![raw]).map_err(RpcClientError::ParseError)?;
        }
        let response = self.inner.batch_request::<B256>(batch).await?;
        Ok(response.into_iter().map(|r| r.map_err(|e| e.message().to_string())).collect())
    }

    /// `eth_getTransactionReceipt`.
    pub async fn receipt(&self, hash: B256) -> Result<Option<RpcReceipt>, RpcClientError> {
        self.inner.request("eth_getTransactionReceipt", rpc_params![hash]).await
    }

    /// Fetch many receipts in one batch request; `None` for those not yet included.
    pub async fn receipts_batch(&self, hashes: &[B256]) -> Result<Vec<Option<RpcReceipt>>, RpcClientError> {
        let mut batch = BatchRequestBuilder::new();
        for hash in hashes {
            batch.insert("eth_getTransactionReceipt", rpc_params![hash]).map_err(RpcClientError::ParseError)?;
        }
        let response = self.inner.batch_request::<Option<RpcReceipt>>(batch).await?;
        Ok(response.into_iter().map(|r| r.ok().flatten()).collect())
    }

    /// `eth_call` at the latest block.
    pub async fn call_latest(&self, request: &TransactionRequest) -> Result<Bytes, RpcClientError> {
        self.inner.request("eth_call", rpc_params![request, BlockNumberOrTag::Latest]).await
    }

    /// `eth_estimateGas`.
    pub async fn estimate_gas(&self, request: &TransactionRequest) -> Result<u64, RpcClientError> {
        let gas: U64 = self.inner.request("eth_estimateGas", rpc_params![request]).await?;
        Ok(gas.to())
    }

    /// `dsec_getTransactionProof`: the proof bundle of a committed transaction
    /// (`None` when the node has not committed it).
    pub async fn transaction_proof(&self, hash: B256) -> Result<Option<crate::proof::Bundle>, RpcClientError> {
        self.inner.request("dsec_getTransactionProof", rpc_params![hash]).await
    }

    /// `eth_getLogs` with a raw filter object.
    pub async fn logs(&self, filter: serde_json::Value) -> Result<Vec<Log>, RpcClientError> {
        self.inner.request("eth_getLogs", rpc_params![filter]).await
    }

    /// Poll `eth_getTransactionReceipt` until the receipt appears or `timeout` passes.
    pub async fn wait_for_receipt(&self, hash: B256, timeout: Duration) -> Result<Option<RpcReceipt>, RpcClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(receipt) = self.receipt(hash).await? {
                return Ok(Some(receipt));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
