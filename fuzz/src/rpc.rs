//! `rpc_params`: the parameter parsing of every JSON-RPC method.
//!
//! The node's methods are built once, on a devnet chain in a temporary
//! directory with one committed block (a transfer and an audit anchoring,
//! which logs), served by [`dsec_node::rpc::module`] without a server; each
//! input is one request run with `RpcModule::raw_json_request` on a tokio
//! runtime kept for the whole run. The chain keeps what requests leave
//! (installed filters, pooled transactions), as a node does. The temporary
//! directory is left behind when the fuzzer exits (its static is never
//! dropped): it is named `dsec-fuzz-rpc-*` in the system's temporary directory.
//!
//! # Input
//!
//! The first byte picks the method from [`METHODS`] (modulo its length); the
//! rest, as UTF-8 (lossily), is the `params` member: as it is when it is JSON,
//! else as the one string of an array. Without a rest there is no `params`
//! member. In the rest, `$tx0` and `$tx1` stand for the hashes of the block's
//! two transactions, `$block` for the block's hash and `$genesis` for the
//! genesis hash (`0x`-prefixed hex), so that inputs can name things that exist.
//!
//! # Checks
//!
//! The answer is a JSON-RPC response with the request's id (`1`) and a result
//! or an error, and the error is not `-32603`: an internal error is a node
//! failure, or a panic in a method run on the blocking pool, which jsonrpsee
//! answers as an internal error with a null id. (A panic elsewhere reaches the
//! fuzzer as a panic.)

use alloy::consensus::TxEip1559;
use alloy::sol_types::SolCall;
use alloy_primitives::{Address, B256, TxKind, U256};
use dsec_consensus::DevSealer;
use dsec_genesis::devnet::{DEMO_TENANT, DEVNET_CHAIN_ID, DevnetSpec, generate};
use dsec_node::chain::{Chain, ChainOptions, TxOrigin};
use dsec_node::metrics::Metrics;
use dsec_node::rpc::{Namespace, RpcConfig, RpcContext};
use dsec_node::store::Retention;
use dsec_sdk::chaincode::audit::{self, IAuditAnchor};
use dsec_sdk::validators::ValidatorKey;
use jsonrpsee::RpcModule;
use serde_json::Value;
use serde_json::value::RawValue;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Every method the node serves, in a fixed order (new methods go at the
/// end, so that corpus files keep naming the same method).
pub(crate) const METHODS: [&str; 56] = [
    "web3_clientVersion",
    "web3_sha3",
    "net_version",
    "net_listening",
    "net_peerCount",
    "eth_chainId",
    "eth_syncing",
    "eth_blockNumber",
    "eth_accounts",
    "eth_coinbase",
    "eth_mining",
    "eth_hashrate",
    "eth_gasPrice",
    "eth_maxPriorityFeePerGas",
    "eth_blobBaseFee",
    "eth_feeHistory",
    "eth_getBalance",
    "eth_getTransactionCount",
    "eth_getCode",
    "eth_getStorageAt",
    "eth_call",
    "eth_createAccessList",
    "eth_estimateGas",
    "eth_sendRawTransaction",
    "eth_getTransactionByHash",
    "eth_getTransactionReceipt",
    "eth_getBlockReceipts",
    "eth_getBlockByNumber",
    "eth_getBlockByHash",
    "eth_getBlockTransactionCountByNumber",
    "eth_getBlockTransactionCountByHash",
    "eth_getUncleCountByBlockNumber",
    "eth_getUncleCountByBlockHash",
    "eth_getTransactionByBlockNumberAndIndex",
    "eth_getTransactionByBlockHashAndIndex",
    "eth_getLogs",
    "eth_newFilter",
    "eth_newBlockFilter",
    "eth_newPendingTransactionFilter",
    "eth_getFilterChanges",
    "eth_getFilterLogs",
    "eth_uninstallFilter",
    "eth_subscribe",
    "eth_unsubscribe",
    "debug_traceTransaction",
    "debug_traceCall",
    "dsec_getCommit",
    "dsec_getValidators",
    "dsec_getEvidence",
    "dsec_genesisHash",
    "dsec_mempoolSize",
    "dsec_permissions",
    "perm_getAccountsAllowlist",
    "perm_getNodesAllowlist",
    "eth_sendRawTransactionSync",
    "dsec_getTransactionProof",
];

/// The methods, the runtime that runs them, and what exists on their chain.
pub(crate) struct Harness {
    runtime: tokio::runtime::Runtime,
    pub(crate) module: RpcModule<RpcContext>,
    /// Hashes of the committed block's two transactions (`$tx0`, `$tx1`).
    pub(crate) txs: [B256; 2],
    /// Hash of block 1 (`$block`).
    pub(crate) block: B256,
    /// The genesis hash (`$genesis`).
    pub(crate) genesis: B256,
    _dir: tempfile::TempDir,
}

/// The harness, built on first use.
pub(crate) fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Result<Harness, String>> = OnceLock::new();
    match HARNESS.get_or_init(build) {
        Ok(harness) => harness,
        Err(e) => panic!("the rpc_params harness cannot start: {e}"),
    }
}

/// A devnet chain whose one validator key is fixed, one block on it, and its methods.
fn build() -> Result<Harness, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let dir = tempfile::Builder::new().prefix("dsec-fuzz-rpc-").tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let (module, txs, block, genesis) = {
        let _entered = runtime.enter();
        let key = ValidatorKey::from_seed(&[7; 32]);
        let mut devnet = generate(&DevnetSpec::default());
        for validator in &mut devnet.genesis.validators {
            validator.public_key = key.public_key();
        }
        let options = ChainOptions { retention: Retention::Archive, ..ChainOptions::default() };
        let chain = Chain::open(dir.path(), devnet.genesis, options, Arc::new(Metrics::default()))
            .map_err(|e| format!("opening the chain: {e}"))?;
        let chain = Arc::new(chain);
        let sender = dsec_sdk::dev::dev_accounts().first().map(|a| a.key()).ok_or("no development account")?;
        let tx = |nonce: u64, to: Address, gas_limit: u64, input: Vec<u8>| {
            sender.sign_tx_bytes(TxEip1559 {
                chain_id: DEVNET_CHAIN_ID,
                nonce,
                gas_limit,
                max_fee_per_gas: 10_000_000_000,
                max_priority_fee_per_gas: 1,
                to: TxKind::Call(to),
                value: U256::ZERO,
                input: input.into(),
                ..Default::default()
            })
        };
        let anchor = IAuditAnchor::anchorCall {
            tenant: audit::tenant_id(DEMO_TENANT),
            root: B256::repeat_byte(1),
            lineCount: 3,
            prevAnchor: B256::ZERO,
        };
        let raws =
            [tx(0, Address::repeat_byte(7), 21_000, Vec::new()), tx(1, audit::ADDRESS, 300_000, anchor.abi_encode())];
        let mut txs = [B256::ZERO; 2];
        for (hash, raw) in txs.iter_mut().zip(&raws) {
            *hash = chain.submit(raw, TxOrigin::Local).map_err(|e| format!("submitting a transaction: {e}"))?;
        }
        let sealed = DevSealer::seal_one(chain.as_ref(), &key, Duration::from_secs(2))
            .map_err(|e| format!("sealing block 1: {e}"))?;
        let genesis = chain.genesis_hash();
        let config = RpcConfig {
            apis: Namespace::ALL.to_vec(),
            gas_cap: 10_000_000,
            call_timeout: Duration::from_secs(2),
            max_filters: 64,
            // Nothing seals here: a sync send of a valid transaction waits out its timeout.
            send_sync_timeout: Duration::from_millis(1),
            send_sync_max_timeout: Duration::from_millis(1),
            ..RpcConfig::default()
        };
        let mut module = dsec_node::rpc::module(chain, config).map_err(|e| format!("registering methods: {e}"))?;
        // Requests come from one client, as they would over a socket.
        let client = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        module.extensions_mut().insert(dsec_node::rpc::client_limits::ClientIp(client));
        (module, txs, sealed.hash, genesis)
    };
    Ok(Harness { runtime, module, txs, block, genesis, _dir: dir })
}

/// The request `data` stands for: its method and its text.
pub(crate) fn request(harness: &Harness, data: &[u8]) -> Option<(&'static str, String)> {
    let (&selector, params) = data.split_first()?;
    let method = METHODS[usize::from(selector) % METHODS.len()];
    let mut text = String::from_utf8_lossy(params).into_owned();
    if text.contains('$') {
        for (token, hash) in [
            ("$tx0", harness.txs[0]),
            ("$tx1", harness.txs[1]),
            ("$block", harness.block),
            ("$genesis", harness.genesis),
        ] {
            text = text.replace(token, &hash.to_string());
        }
    }
    if text.trim().is_empty() {
        return Some((method, format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}"}}"#)));
    }
    let params =
        if serde_json::from_str::<&RawValue>(&text).is_ok() { text } else { format!("[{}]", Value::String(text)) };
    Some((method, format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#)))
}

/// Run the `rpc_params` target on `data`.
pub(crate) fn run(data: &[u8]) {
    let harness = harness();
    let Some((method, request)) = request(harness, data) else { return };
    // jsonrpsee refuses only a request it cannot parse; this one is valid
    // JSON, but may nest deeper than serde_json's recursion limit allows.
    let Ok((response, _subscription)) = harness.runtime.block_on(harness.module.raw_json_request(&request, 1)) else {
        return;
    };
    let response: Value = match serde_json::from_str(response.get()) {
        Ok(value) => value,
        Err(e) => panic!("{method}: the response is not JSON ({e}): {}", response.get()),
    };
    let shown = || {
        let mut text = response.to_string();
        text.truncate(2_000);
        text
    };
    assert_eq!(
        response.get("jsonrpc"),
        Some(&Value::from("2.0")),
        "{method}: not a JSON-RPC 2.0 response: {}",
        shown()
    );
    assert_eq!(
        response.get("id"),
        Some(&Value::from(1)),
        "{method}: the response does not carry the request's id: {}",
        shown()
    );
    match (response.get("result"), response.get("error")) {
        (Some(_), None) => {}
        (None, Some(error)) => {
            let code = error.get("code").and_then(Value::as_i64);
            assert!(code.is_some(), "{method}: an error without an integer code: {}", shown());
            assert!(
                error.get("message").is_some_and(Value::is_string),
                "{method}: an error without a message: {}",
                shown()
            );
            assert_ne!(code, Some(-32603), "{method}: internal error: {}", shown());
        }
        _ => panic!("{method}: neither a result nor an error: {}", shown()),
    }
}
