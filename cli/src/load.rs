//! `dsec load`: the load generator every performance figure of the project is
//! measured with. It funds S senders from a dev account, pre-signs N
//! transactions (value transfers, ERC-20 transfers, audit anchors, or the
//! settlement and provenance workloads), sends them through JSON-RPC as fast
//! as the node takes them — one transaction per HTTP request by default, as
//! wallets send, or in JSON-RPC batches — follows the new blocks to see when
//! each one is included, checks every receipt, and prints throughput and
//! submit-to-inclusion latency percentiles.

use crate::common::{DEFAULT_RPC_URL, parse_key};
use crate::keys::Scheme;
use alloy::consensus::TxEip1559;
use alloy::rpc::types::Block;
use alloy::sol;
use alloy::sol_types::{SolCall, SolValue};
use alloy_primitives::{Address, B256, Bytes, FixedBytes, TxKind, U256};
use clap::Args;
use dsec_sdk::client::RpcClient;
use dsec_sdk::tx::AccountKey;
use eyre::{WrapErr, bail, eyre};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

sol! {
    interface IErc20 {
        function transfer(address to, uint256 value) external returns (bool);
    }
}

/// The ERC-20 the load generator deploys (the project's test token, compiled by solc-js).
const TOKEN_ARTIFACT: &str = include_str!("../../tests/contracts/artifacts/Token.json");

/// Flags of `dsec load`.
#[derive(Args, Debug)]
pub(crate) struct LoadArgs {
    /// JSON-RPC URL of the node.
    #[arg(long, default_value = DEFAULT_RPC_URL)]
    rpc: String,
    /// Number of transactions.
    #[arg(long, default_value_t = 10_000)]
    txs: usize,
    /// Number of sending accounts.
    #[arg(long, default_value_t = 100)]
    senders: usize,
    /// Send ERC-20 transfers instead of value transfers.
    #[arg(long)]
    erc20: bool,
    /// Send audit anchors instead: `chaincode` (the native module) or `solidity` (the same logic as a contract).
    #[arg(long, conflicts_with = "erc20")]
    audit: Option<String>,
    /// A chaincode workload instead: `settlement` (transfers, FX payments, and
    /// every twentieth payment above the hold threshold, held) or `provenance`
    /// (signed sensor attestations, and custody hand-offs proposed and
    /// withdrawn). Needs --funder-key to be the module's administrator (dev
    /// account 0 on a devnet).
    #[arg(long, conflicts_with_all = ["erc20", "audit"])]
    workload: Option<String>,
    /// Concurrent submission requests.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Transactions per request: 1 sends each with its own eth_sendRawTransaction
    /// request, as wallets do; more sends JSON-RPC batches of that many.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Offered load in transactions per second (default: as fast as the node takes them).
    #[arg(long)]
    rate: Option<f64>,
    /// Key that funds the senders: a key file or a secp256k1 hex key (default: dev account 0).
    #[arg(long)]
    funder_key: Option<String>,
    /// Signature scheme of the senders: secp256k1, or ml-dsa-65 (dsec's post-quantum transaction type).
    #[arg(long, value_enum, default_value_t = Scheme::Secp256k1)]
    scheme: Scheme,
    /// Seconds to wait for inclusion.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
    /// Send each transaction with eth_sendRawTransactionSync (one per request,
    /// --batch is ignored) and report the latency from request to final receipt.
    #[arg(long)]
    sync: bool,
}

impl LoadArgs {
    /// Check the flags, run the load and print the report.
    pub(crate) async fn run(self) -> eyre::Result<()> {
        let funder = parse_key(self.funder_key.as_deref(), "--funder-key")?;
        if let Some(rate) = self.rate
            && !(rate.is_finite() && rate > 0.0)
        {
            bail!("--rate {rate}: expected a positive number of transactions per second");
        }
        let report = measure(LoadConfig {
            rpc_url: self.rpc,
            senders: self.senders,
            transactions: self.txs,
            workload: match (self.erc20, self.audit.as_deref(), self.workload.as_deref()) {
                (true, _, _) => Workload::Erc20,
                (false, None, None) => Workload::Transfer,
                (false, Some("chaincode"), _) => Workload::AuditChaincode,
                (false, Some("solidity"), _) => Workload::AuditSolidity,
                (false, Some(other), _) => bail!("--audit {other:?}: expected chaincode or solidity"),
                (false, None, Some("settlement")) => Workload::Settlement,
                (false, None, Some("provenance")) => Workload::Provenance,
                (false, None, Some(other)) => bail!("--workload {other:?}: expected settlement or provenance"),
            },
            concurrency: self.concurrency,
            batch: self.batch,
            rate: self.rate,
            funder,
            scheme: self.scheme,
            timeout: Duration::from_secs(self.timeout_secs),
            sync: self.sync,
        })
        .await?;
        println!("{report}");
        Ok(())
    }
}

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Workload {
    /// Plain value transfers.
    Transfer,
    /// ERC-20 `transfer` calls.
    Erc20,
    /// Audit anchors through the native chaincode module (one tenant per sender).
    AuditChaincode,
    /// The same anchors through the same logic written in Solidity (`AuditAnchorSol`).
    AuditSolidity,
    /// Settlement: transfers, FX payments, and some payments held for review.
    Settlement,
    /// Provenance: signed attestations, and hand-offs proposed and withdrawn.
    Provenance,
}

/// The Solidity version of audit anchoring, for comparison with the chaincode.
const AUDIT_SOL_ARTIFACT: &str = include_str!("../../tests/contracts/artifacts/AuditAnchorSol.json");

sol! {
    interface IAuditAnchorSol {
        function createTenant(bytes32 tenant, uint64 anchorsPerDay) external;
        function addMember(bytes32 tenant, address member) external;
    }
}

/// Load settings.
#[derive(Debug)]
pub(crate) struct LoadConfig {
    /// JSON-RPC URL.
    pub(crate) rpc_url: String,
    /// Number of sending accounts.
    pub(crate) senders: usize,
    /// Number of transactions.
    pub(crate) transactions: usize,
    /// What to send.
    pub(crate) workload: Workload,
    /// Concurrent submission requests.
    pub(crate) concurrency: usize,
    /// Transactions per batch request.
    pub(crate) batch: usize,
    /// Offered load in transactions per second (`None`: as fast as the node takes them).
    pub(crate) rate: Option<f64>,
    /// Key that funds the senders (a dev account by default).
    pub(crate) funder: AccountKey,
    /// Signature scheme of the senders.
    pub(crate) scheme: Scheme,
    /// Give up waiting for inclusion after this long.
    pub(crate) timeout: Duration,
    /// Send with `eth_sendRawTransactionSync`, one transaction per request.
    pub(crate) sync: bool,
}

/// What a load run measured.
#[derive(Debug, Clone)]
pub(crate) struct LoadReport {
    /// How the transactions were sent.
    pub(crate) mode: String,
    /// Transactions sent.
    pub(crate) sent: usize,
    /// Transactions refused at submission.
    pub(crate) rejected: usize,
    /// Transactions included with a successful receipt.
    pub(crate) succeeded: usize,
    /// Transactions included with a failed receipt.
    pub(crate) failed: usize,
    /// Transactions never seen included.
    pub(crate) missing: usize,
    /// Submission rate, tx/s.
    pub(crate) submitted_per_sec: f64,
    /// Confirmation rate (from first submission to last inclusion), tx/s.
    pub(crate) confirmed_per_sec: f64,
    /// Latency percentiles (p50, p95, p99), submit to inclusion.
    pub(crate) latency: (Duration, Duration, Duration),
    /// Blocks that carried the load.
    pub(crate) blocks: usize,
    /// Average gas used per transaction, from the receipts.
    pub(crate) gas_per_tx: u64,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "mode:           {}", self.mode)?;
        writeln!(f, "sent:           {} transactions in {} blocks", self.sent, self.blocks)?;
        writeln!(
            f,
            "outcome:        {} succeeded, {} failed, {} rejected, {} missing",
            self.succeeded, self.failed, self.rejected, self.missing
        )?;
        writeln!(f, "submitted/s:    {:.0}", self.submitted_per_sec)?;
        writeln!(f, "confirmed/s:    {:.0}", self.confirmed_per_sec)?;
        writeln!(f, "gas per tx:     {}", self.gas_per_tx)?;
        let (p50, p95, p99) = self.latency;
        write!(
            f,
            "latency:        p50 {} ms, p95 {} ms, p99 {} ms (submit to receipt)",
            p50.as_millis(),
            p95.as_millis(),
            p99.as_millis()
        )
    }
}

struct Fees {
    chain_id: u64,
    max_fee: u128,
    tip: u128,
}

fn transfer(
    key: &AccountKey,
    fees: &Fees,
    nonce: u64,
    to: TxKind,
    value: U256,
    input: Bytes,
    gas: u64,
) -> eyre::Result<Bytes> {
    Ok(key.sign_dynamic_fee(TxEip1559 {
        chain_id: fees.chain_id,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: fees.max_fee,
        max_priority_fee_per_gas: fees.tip,
        to,
        value,
        input,
        ..Default::default()
    })?)
}

async fn send_and_wait(
    client: &RpcClient,
    raws: &[Bytes],
    timeout: Duration,
) -> eyre::Result<Vec<dsec_sdk::block::RpcReceipt>> {
    let mut hashes = Vec::new();
    for chunk in raws.chunks(500) {
        for r in client.send_raw_batch(chunk).await? {
            hashes.push(r.map_err(|e| eyre!("setup transaction refused: {e}"))?);
        }
    }
    let deadline = Instant::now() + timeout;
    let mut receipts = Vec::with_capacity(hashes.len());
    for hash in hashes {
        let left = deadline.saturating_duration_since(Instant::now());
        let receipt = client
            .wait_for_receipt(hash, left)
            .await?
            .ok_or_else(|| eyre!("setup transaction {hash} not included in time"))?;
        if !receipt.inner.status() {
            bail!("setup transaction {hash} failed");
        }
        receipts.push(receipt);
    }
    Ok(receipts)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Run a load test.
pub(crate) async fn measure(cfg: LoadConfig) -> eyre::Result<LoadReport> {
    if cfg.senders == 0 || cfg.transactions == 0 {
        bail!("--senders and --txs must be at least 1");
    }
    let client = RpcClient::new(&cfg.rpc_url).wrap_err("bad --rpc url")?;
    let chain_id = client.chain_id().await.wrap_err_with(|| format!("cannot reach {}", cfg.rpc_url))?;
    let price = client.gas_price().await?;
    let fees = Fees { chain_id, max_fee: (price * 4).max(10_000_000_000), tip: 1_000 };
    let funder = &cfg.funder;
    let mut funder_nonce = client.pending_nonce(funder.address()).await?;

    let run_tag: u64 = rand::random();
    // 1. Senders, funded.
    let senders: Vec<AccountKey> = (0..cfg.senders).map(|_| cfg.scheme.generate()).collect();
    let per_sender = cfg.transactions.div_ceil(cfg.senders) as u64;
    // Enough for every transaction at the largest gas limit any workload signs.
    let fund = U256::from(fees.max_fee) * U256::from(MAX_WORKLOAD_GAS * (per_sender + 1)) + U256::from(10u64.pow(18));
    let funding: Vec<Bytes> = senders
        .iter()
        .map(|s| {
            let raw = transfer(funder, &fees, funder_nonce, TxKind::Call(s.address()), fund, Bytes::new(), 21_000);
            funder_nonce += 1;
            raw
        })
        .collect::<eyre::Result<_>>()?;
    eprintln!("funding {} senders from {}", senders.len(), funder.address());
    send_and_wait(&client, &funding, cfg.timeout).await?;

    // On a chain with an account allowlist, the funder (an administrator)
    // lists the senders through the permissions module first.
    let permissions: serde_json::Value =
        client.call("dsec_permissions", Vec::<serde_json::Value>::new()).await.unwrap_or_default();
    if permissions["accounts"]["mode"] == "allowlist" {
        use dsec_sdk::chaincode::permissions::{ADDRESS, IPermissions};
        let listing: Vec<Bytes> = senders
            .iter()
            .map(|s| {
                let data = IPermissions::addAccountCall { account: s.address() }.abi_encode();
                let raw =
                    transfer(funder, &fees, funder_nonce, TxKind::Call(ADDRESS), U256::ZERO, data.into(), 200_000);
                funder_nonce += 1;
                raw
            })
            .collect::<eyre::Result<_>>()?;
        eprintln!("listing {} senders on the account allowlist", senders.len());
        let receipts = send_and_wait(&client, &listing, cfg.timeout).await?;
        if receipts.iter().any(|r| !r.inner.status()) {
            bail!("listing the senders failed: --key must be a permission administrator on an allowlisted chain");
        }
    }

    // 2. For ERC-20: a token, and tokens for every sender.
    let (target, gas) = match cfg.workload {
        Workload::Transfer | Workload::Settlement | Workload::Provenance => (None, 21_000u64),
        Workload::Erc20 => {
            let artifact: serde_json::Value = serde_json::from_str(TOKEN_ARTIFACT)?;
            let code: Bytes =
                artifact["bytecode"].as_str().ok_or_else(|| eyre!("artifact has no bytecode"))?.parse()?;
            let supply = U256::from(10u128.pow(30));
            let initcode: Bytes =
                [code.to_vec(), ("Load".to_string(), "LOAD".to_string(), supply).abi_encode_params()].concat().into();
            let deploy = transfer(funder, &fees, funder_nonce, TxKind::Create, U256::ZERO, initcode, 3_000_000)?;
            funder_nonce += 1;
            let receipt = send_and_wait(&client, &[deploy], cfg.timeout).await?.remove(0);
            let token = receipt.contract_address.ok_or_else(|| eyre!("token deployment created no contract"))?;
            eprintln!("deployed ERC-20 at {token}");
            let grants: Vec<Bytes> = senders
                .iter()
                .map(|s| {
                    let data = IErc20::transferCall { to: s.address(), value: U256::from(10u128.pow(24)) }.abi_encode();
                    let raw =
                        transfer(funder, &fees, funder_nonce, TxKind::Call(token), U256::ZERO, data.into(), 100_000);
                    funder_nonce += 1;
                    raw
                })
                .collect::<eyre::Result<_>>()?;
            send_and_wait(&client, &grants, cfg.timeout).await?;
            (Some(token), 60_000u64)
        }
        Workload::AuditChaincode | Workload::AuditSolidity => {
            let target = if cfg.workload == Workload::AuditChaincode {
                dsec_sdk::chaincode::audit::ADDRESS
            } else {
                let artifact: serde_json::Value = serde_json::from_str(AUDIT_SOL_ARTIFACT)?;
                let code: Bytes =
                    artifact["bytecode"].as_str().ok_or_else(|| eyre!("artifact has no bytecode"))?.parse()?;
                let deploy = transfer(funder, &fees, funder_nonce, TxKind::Create, U256::ZERO, code, 3_000_000)?;
                funder_nonce += 1;
                let receipt = send_and_wait(&client, &[deploy], cfg.timeout).await?.remove(0);
                receipt.contract_address.ok_or_else(|| eyre!("AuditAnchorSol deployment created no contract"))?
            };
            let mut setup = Vec::new();
            for (i, s) in senders.iter().enumerate() {
                let tenant = load_tenant(run_tag, i);
                let (create, member): (Vec<u8>, Vec<u8>) = if cfg.workload == Workload::AuditChaincode {
                    use dsec_sdk::chaincode::audit::IAuditAnchor;
                    (
                        IAuditAnchor::createTenantCall {
                            tenant,
                            name: "load".into(),
                            zone: "local".into(),
                            anchorsPerDay: u64::MAX,
                        }
                        .abi_encode(),
                        IAuditAnchor::addMemberCall { tenant, member: s.address() }.abi_encode(),
                    )
                } else {
                    (
                        IAuditAnchorSol::createTenantCall { tenant, anchorsPerDay: u64::MAX }.abi_encode(),
                        IAuditAnchorSol::addMemberCall { tenant, member: s.address() }.abi_encode(),
                    )
                };
                for data in [create, member] {
                    setup.push(transfer(
                        funder,
                        &fees,
                        funder_nonce,
                        TxKind::Call(target),
                        U256::ZERO,
                        data.into(),
                        300_000,
                    )?);
                    funder_nonce += 1;
                }
            }
            eprintln!("creating {} tenants", senders.len());
            send_and_wait(&client, &setup, cfg.timeout).await?;
            (Some(target), 300_000u64)
        }
    };
    let mut nonces = vec![0u64; senders.len()];
    let chaincode = match cfg.workload {
        Workload::Settlement => {
            Some(setup_settlement(&client, &cfg, &fees, &mut funder_nonce, &senders, &mut nonces, run_tag).await?)
        }
        Workload::Provenance => {
            Some(setup_provenance(&client, &cfg, &fees, &mut funder_nonce, &senders, &mut nonces, run_tag).await?)
        }
        _ => None,
    };
    let mut heads = vec![B256::ZERO; senders.len()];

    // 3. Pre-sign everything, so signing is not measured.
    let scheme = senders.first().map_or("", AccountKey::scheme);
    eprintln!("signing {} transactions with {scheme} keys", cfg.transactions);
    let mut txs: Vec<(B256, Bytes)> = Vec::with_capacity(cfg.transactions);
    for i in 0..cfg.transactions {
        let s = i % senders.len();
        let recipient = senders[(s + 1) % senders.len()].address();
        let raw = match (cfg.workload, target) {
            (Workload::Settlement | Workload::Provenance, _) => {
                let plan = chaincode.as_ref().ok_or_else(|| eyre!("the chaincode workload was not set up"))?;
                let round = i / senders.len();
                let (to, data) = plan.call(s, round, recipient);
                transfer(&senders[s], &fees, nonces[s], TxKind::Call(to), U256::ZERO, data, MAX_WORKLOAD_GAS)?
            }
            (Workload::Transfer, _) | (_, None) => {
                transfer(&senders[s], &fees, nonces[s], TxKind::Call(recipient), U256::from(1), Bytes::new(), gas)?
            }
            (Workload::Erc20, Some(token)) => {
                let data = IErc20::transferCall { to: recipient, value: U256::from(1) }.abi_encode();
                transfer(&senders[s], &fees, nonces[s], TxKind::Call(token), U256::ZERO, data.into(), gas)?
            }
            (Workload::AuditChaincode | Workload::AuditSolidity, Some(target)) => {
                // Anchors chain per tenant: the previous hash is known before sending.
                let tenant = load_tenant(run_tag, s);
                let seq = nonces[s] + 1;
                let root = alloy_primitives::keccak256(format!("batch {i}").as_bytes());
                let data = dsec_sdk::chaincode::audit::IAuditAnchor::anchorCall {
                    tenant,
                    root,
                    lineCount: 100,
                    prevAnchor: heads[s],
                }
                .abi_encode();
                heads[s] = dsec_sdk::chaincode::audit::anchor_hash(&tenant, seq, &root, 100, &heads[s]);
                transfer(&senders[s], &fees, nonces[s], TxKind::Call(target), U256::ZERO, data.into(), gas)?
            }
        };
        nonces[s] += 1;
        txs.push((alloy_primitives::keccak256(&raw), raw));
    }
    let bytes: usize = txs.iter().map(|(_, raw)| raw.len()).sum();
    eprintln!("{} bytes per transaction on average", bytes / txs.len().max(1));

    // 4. Follow blocks in the background, recording when each hash is included.
    let start_block = client.block_number().await?;
    let follower = {
        let client = client.clone();
        let expected = cfg.transactions;
        let timeout = cfg.timeout;
        tokio::spawn(async move { follow_blocks(client, start_block, expected, timeout).await })
    };

    // 5. Submit as fast as the node takes them.
    match cfg.rate {
        Some(rate) => eprintln!(
            "sending {rate} transactions/s with {} concurrent requests of {} transactions",
            cfg.concurrency, cfg.batch
        ),
        None => eprintln!("sending with {} concurrent requests of {} transactions", cfg.concurrency, cfg.batch),
    }
    let mode = if cfg.sync {
        format!("eth_sendRawTransactionSync, one per request, {} concurrent", cfg.concurrency)
    } else if cfg.batch <= 1 {
        format!("eth_sendRawTransaction, one per request over {} keep-alive connections", cfg.concurrency)
    } else {
        format!("JSON-RPC batches of {}, {} concurrent", cfg.batch, cfg.concurrency)
    };
    if cfg.sync {
        eprintln!("each with eth_sendRawTransactionSync: the latency is request to final receipt");
    }
    let batch = if cfg.sync { 1 } else { cfg.batch.max(1) };
    // One per request: the requests are serialised now, before the clock
    // starts, and posted over one keep-alive connection per sender task.
    let lean = !cfg.sync && batch == 1;
    let endpoint = if lean { Some(crate::wire::Endpoint::parse(&cfg.rpc_url)?) } else { None };
    let bodies: Arc<Vec<bytes::Bytes>> =
        Arc::new(if lean { txs.iter().map(|(_, raw)| crate::wire::send_raw_body(raw)).collect() } else { Vec::new() });
    let sync_latencies = Arc::new(parking_lot::Mutex::new(Vec::with_capacity(cfg.transactions)));
    let sync_timeout_ms = u64::try_from(cfg.timeout.as_millis()).unwrap_or(u64::MAX).min(60_000);
    let rate = cfg.rate.filter(|r| r.is_finite() && *r > 0.0);
    let txs = Arc::new(txs);
    let started = Instant::now();
    let submit_times = Arc::new(parking_lot::Mutex::new(HashMap::with_capacity(cfg.transactions)));
    let rejected = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let chunks: Vec<std::ops::Range<usize>> =
        (0..txs.len()).step_by(batch).map(|s| s..(s + batch).min(txs.len())).collect();
    let queue = Arc::new(parking_lot::Mutex::new(chunks.into_iter()));
    let mut workers = Vec::new();
    for _ in 0..cfg.concurrency.max(1) {
        let (client, txs, queue, submit_times, rejected) =
            (client.clone(), txs.clone(), queue.clone(), submit_times.clone(), rejected.clone());
        let (sync, sync_latencies) = (cfg.sync, sync_latencies.clone());
        let mut connection = endpoint.clone().map(crate::wire::Connection::new);
        let bodies = bodies.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let Some(range) = queue.lock().next() else { break };
                if let Some(rate) = rate {
                    // Paced: batch k leaves no earlier than its place in a steady stream.
                    tokio::time::sleep_until((started + Duration::from_secs_f64(range.start as f64 / rate)).into())
                        .await;
                }
                let at = Instant::now();
                if sync {
                    let (hash, raw) = &txs[range.start];
                    submit_times.lock().insert(*hash, at);
                    let params = vec![serde_json::json!(raw), serde_json::json!(sync_timeout_ms)];
                    match client.call::<serde_json::Value>("eth_sendRawTransactionSync", params).await {
                        Ok(_) => sync_latencies.lock().push(at.elapsed()),
                        Err(e) => {
                            submit_times.lock().remove(hash);
                            if rejected.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 5 {
                                eprintln!("rejected: {e}");
                            }
                        }
                    }
                    continue;
                }
                if range.len() == 1 {
                    // One transaction per request, as a wallet sends it (the
                    // general client only for the one left over by --batch).
                    let (hash, raw) = &txs[range.start];
                    let sent = match &mut connection {
                        Some(connection) => connection.send_raw(bodies[range.start].clone()).await,
                        None => client.send_raw(raw).await.map_err(eyre::Report::from),
                    };
                    match sent {
                        Ok(_) => {
                            submit_times.lock().insert(*hash, at);
                        }
                        Err(e) => {
                            if rejected.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 5 {
                                eprintln!("rejected: {e:#}");
                            }
                        }
                    }
                    continue;
                }
                let raws: Vec<Bytes> = txs[range.clone()].iter().map(|(_, r)| r.clone()).collect();
                match client.send_raw_batch(&raws).await {
                    Ok(results) => {
                        let mut times = submit_times.lock();
                        for (i, r) in results.into_iter().enumerate() {
                            match r {
                                Ok(_) => {
                                    times.insert(txs[range.start + i].0, at);
                                }
                                Err(e) => {
                                    if rejected.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 5 {
                                        eprintln!("rejected: {e}");
                                    }
                                }
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!("batch failed: {e}");
                        rejected.fetch_add(raws.len(), std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    let submit_elapsed = started.elapsed();
    let (inclusions, blocks) = follower.await??;
    eprintln!(
        "{} of {} included after {:.2} s; checking every receipt",
        inclusions.len(),
        cfg.transactions,
        started.elapsed().as_secs_f64()
    );

    // 6. Check every receipt's status.
    let hashes: Vec<B256> = txs.iter().map(|(h, _)| *h).collect();
    let (mut succeeded, mut failed, mut gas_total) = (0, 0, 0u64);
    for chunk in hashes.chunks(500) {
        for r in client.receipts_batch(chunk).await? {
            match r {
                Some(r) if r.inner.status() => {
                    succeeded += 1;
                    gas_total += r.gas_used;
                }
                Some(_) => failed += 1,
                None => {}
            }
        }
    }
    let submit_times = submit_times.lock();
    let mut latencies: Vec<Duration> = Vec::with_capacity(inclusions.len());
    let mut last_inclusion = started;
    for (hash, seen) in &inclusions {
        if let Some(sent) = submit_times.get(hash) {
            latencies.push(seen.saturating_duration_since(*sent));
            last_inclusion = last_inclusion.max(*seen);
        }
    }
    let confirmed = latencies.len();
    if cfg.sync {
        // What the client waited for: request to final receipt.
        latencies = std::mem::take(&mut *sync_latencies.lock());
    }
    latencies.sort_unstable();
    let rejected = rejected.load(std::sync::atomic::Ordering::Relaxed);
    Ok(LoadReport {
        mode,
        sent: cfg.transactions,
        rejected,
        succeeded,
        failed,
        missing: cfg.transactions.saturating_sub(confirmed + rejected),
        submitted_per_sec: cfg.transactions as f64 / submit_elapsed.as_secs_f64().max(1e-9),
        confirmed_per_sec: confirmed as f64 / last_inclusion.duration_since(started).as_secs_f64().max(1e-9),
        latency: (percentile(&latencies, 0.50), percentile(&latencies, 0.95), percentile(&latencies, 0.99)),
        blocks,
        gas_per_tx: gas_total / (succeeded as u64).max(1),
    })
}

/// The tenant a load sender anchors for (unique per run, so runs can repeat on one chain).
/// The gas limit of every transaction of the chaincode workloads (a settlement
/// FX payment writes two payment records, the largest of them).
const MAX_WORKLOAD_GAS: u64 = 700_000;

/// How a chaincode workload's transactions are made, once its setup is done.
enum ChaincodePlan {
    /// Settlement: currency A (held above 1,000,000), an FX quote from A to B.
    Settlement { a: FixedBytes<3>, quote: u64 },
    /// Provenance: one shipment and one registered device per sender.
    Provenance {
        chain_hash: B256,
        shipments: Vec<B256>,
        devices: Vec<ed25519_dalek::SigningKey>,
        consignee: Address,
        observed_at: u64,
    },
}

impl ChaincodePlan {
    /// The call sender `s` makes in its `round`-th transaction (rounds start at 0).
    fn call(&self, s: usize, round: usize, recipient: Address) -> (Address, Bytes) {
        match self {
            Self::Settlement { a, quote } => {
                use dsec_sdk::chaincode::settlement::{ADDRESS, ISettlement};
                let data = match round % 20 {
                    // Every twentieth payment is above the hold threshold.
                    0 => ISettlement::transferCall {
                        code: *a,
                        to: recipient,
                        amount: U256::from(2_000_000),
                        memo: B256::ZERO,
                    }
                    .abi_encode(),
                    r if r % 5 == 1 => ISettlement::payFxCall {
                        quoteId: *quote,
                        to: recipient,
                        baseAmount: U256::from(100),
                        memo: B256::ZERO,
                    }
                    .abi_encode(),
                    _ => {
                        ISettlement::transferCall { code: *a, to: recipient, amount: U256::from(100), memo: B256::ZERO }
                            .abi_encode()
                    }
                };
                (ADDRESS, data.into())
            }
            Self::Provenance { chain_hash, shipments, devices, consignee, observed_at } => {
                use dsec_sdk::chaincode::provenance::{ADDRESS, IProvenance, attestation_digest};
                use ed25519_dalek::Signer;
                let id = shipments[s];
                let data = match round % 4 {
                    0 => IProvenance::handOverCall { id, to: *consignee, location: FixedBytes::from_slice(b"CNSHA") }
                        .abi_encode(),
                    1 => IProvenance::cancelHandOverCall { id }.abi_encode(),
                    _ => {
                        let key = B256::from(devices[s].verifying_key().to_bytes());
                        // Each reading differs by its value, so no two share a digest.
                        let value = 400 + round as i64;
                        let digest = attestation_digest(chain_hash, &id, &key, 1, value, *observed_at);
                        let signature = devices[s].sign(digest.as_slice()).to_bytes().to_vec();
                        IProvenance::attestCall {
                            id,
                            deviceKey: key,
                            kind: 1,
                            value,
                            observedAt: *observed_at,
                            signature: signature.into(),
                        }
                        .abi_encode()
                    }
                };
                (ADDRESS, data.into())
            }
        }
    }
}

/// Send the funder's setup calls to a module and wait for them; a failure names what the funder must be.
async fn admin_calls(
    client: &RpcClient,
    cfg: &LoadConfig,
    fees: &Fees,
    funder_nonce: &mut u64,
    to: Address,
    calls: Vec<Vec<u8>>,
    module: &str,
) -> eyre::Result<()> {
    let mut raws = Vec::new();
    for data in calls {
        raws.push(transfer(&cfg.funder, fees, *funder_nonce, TxKind::Call(to), U256::ZERO, data.into(), 1_000_000)?);
        *funder_nonce += 1;
    }
    send_and_wait(client, &raws, cfg.timeout).await.map(|_| ()).wrap_err_with(|| {
        format!("setting up the {module} workload: --funder-key must be the {module} module's administrator")
    })
}

/// Settlement setup: the funder is compliance officer and issuer of two new
/// currencies, the senders are KYC-approved and hold the first, and sender 0
/// is an FX provider with a quote from the first to the second.
async fn setup_settlement(
    client: &RpcClient,
    cfg: &LoadConfig,
    fees: &Fees,
    funder_nonce: &mut u64,
    senders: &[AccountKey],
    nonces: &mut [u64],
    run_tag: u64,
) -> eyre::Result<ChaincodePlan> {
    use dsec_sdk::chaincode::settlement::{ADDRESS, ISettlement, KYC_APPROVED, ROLE_COMPLIANCE, ROLE_FX_PROVIDER};
    let letter = |shift: u32| b'A' + ((run_tag >> shift) % 26) as u8;
    let (a, b) = (FixedBytes::from([b'L', letter(0), letter(8)]), FixedBytes::from([b'M', letter(16), letter(24)]));
    let funder = cfg.funder.address();
    let provider = senders.first().ok_or_else(|| eyre!("no senders"))?;
    let mut calls = vec![
        ISettlement::setRoleCall { party: funder, role: ROLE_COMPLIANCE }.abi_encode(),
        ISettlement::setRoleCall { party: provider.address(), role: ROLE_FX_PROVIDER }.abi_encode(),
        ISettlement::createCurrencyCall { code: a, decimals: 2, issuer: funder, holdThreshold: U256::from(1_000_000) }
            .abi_encode(),
        ISettlement::createCurrencyCall { code: b, decimals: 2, issuer: funder, holdThreshold: U256::ZERO }
            .abi_encode(),
    ];
    for s in senders {
        calls.push(ISettlement::setKycCall { party: s.address(), status: KYC_APPROVED }.abi_encode());
        calls.push(ISettlement::mintCall { code: a, to: s.address(), amount: U256::from(10u64.pow(12)) }.abi_encode());
    }
    calls.push(
        ISettlement::mintCall { code: b, to: provider.address(), amount: U256::from(10u64.pow(15)) }.abi_encode(),
    );
    eprintln!(
        "settlement: currencies {} and {}, {} parties approved",
        String::from_utf8_lossy(a.as_slice()),
        String::from_utf8_lossy(b.as_slice()),
        senders.len()
    );
    admin_calls(client, cfg, fees, funder_nonce, ADDRESS, calls, "settlement").await?;
    let expires =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) + 86_400;
    let post = ISettlement::postQuoteCall {
        base: a,
        quote: b,
        rateNum: 108,
        rateDen: 100,
        feeBps: 10,
        expiresAt: expires,
        maxNotional: U256::MAX,
    };
    let raw =
        transfer(provider, fees, nonces[0], TxKind::Call(ADDRESS), U256::ZERO, post.abi_encode().into(), 1_000_000)?;
    nonces[0] += 1;
    let receipt = send_and_wait(client, &[raw], cfg.timeout).await?.remove(0);
    let quote = receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| <ISettlement::QuotePosted as alloy::sol_types::SolEvent>::decode_log_data(l.data()).ok())
        .map(|q| q.id)
        .ok_or_else(|| eyre!("the FX quote was not posted"))?;
    Ok(ChaincodePlan::Settlement { a, quote })
}

/// Provenance setup: every sender a registered shipper with a shipment of its
/// own and a sensor device registered to it; one consignee.
async fn setup_provenance(
    client: &RpcClient,
    cfg: &LoadConfig,
    fees: &Fees,
    funder_nonce: &mut u64,
    senders: &[AccountKey],
    nonces: &mut [u64],
    run_tag: u64,
) -> eyre::Result<ChaincodePlan> {
    use dsec_sdk::chaincode::provenance::{
        ADDRESS, IProvenance, ROLE_CONSIGNEE, ROLE_SHIPPER, device_registration_digest,
    };
    use ed25519_dalek::Signer;
    let genesis: serde_json::Value =
        client.call("eth_getBlockByNumber", vec![serde_json::json!("0x0"), serde_json::json!(false)]).await?;
    let chain_hash: B256 =
        serde_json::from_value(genesis["hash"].clone()).map_err(|_| eyre!("the node returned no genesis block"))?;
    let consignee = crate::keys::Scheme::Secp256k1.generate().address();
    let devices: Vec<ed25519_dalek::SigningKey> =
        (0..senders.len()).map(|_| ed25519_dalek::SigningKey::from_bytes(&rand::random())).collect();
    let mut calls = vec![
        IProvenance::registerPartyCall { party: consignee, role: ROLE_CONSIGNEE, name: "load consignee".into() }
            .abi_encode(),
    ];
    for (i, (s, device)) in senders.iter().zip(&devices).enumerate() {
        calls.push(
            IProvenance::registerPartyCall {
                party: s.address(),
                role: ROLE_SHIPPER,
                name: format!("load shipper {i}"),
            }
            .abi_encode(),
        );
        let key = B256::from(device.verifying_key().to_bytes());
        let digest = device_registration_digest(&chain_hash, &key, &s.address());
        let signature = device.sign(digest.as_slice()).to_bytes().to_vec();
        calls.push(
            IProvenance::registerDeviceCall { deviceKey: key, owner: s.address(), signature: signature.into() }
                .abi_encode(),
        );
    }
    eprintln!("provenance: {} shippers with a device each", senders.len());
    admin_calls(client, cfg, fees, funder_nonce, ADDRESS, calls, "provenance").await?;
    let mut shipments = Vec::new();
    let mut creations = Vec::new();
    for (i, s) in senders.iter().enumerate() {
        let id = alloy_primitives::keccak256(format!("dsec-load-{run_tag}-shipment-{i}").as_bytes());
        let leg = IProvenance::Leg {
            from: FixedBytes::from_slice(b"CNSHA"),
            to: FixedBytes::from_slice(b"NLRTM"),
            mode: 3,
            distanceKm: 19_000,
        };
        let create = IProvenance::createShipmentCall {
            id,
            consignee,
            origin: leg.from,
            destination: leg.to,
            goodsHash: B256::repeat_byte(1),
            hsCode: 848_210,
            declaredValue: U256::from(1_000),
            weightKg: 1_000,
            legs: vec![leg],
        };
        creations.push(transfer(
            s,
            fees,
            nonces[i],
            TxKind::Call(ADDRESS),
            U256::ZERO,
            create.abi_encode().into(),
            1_000_000,
        )?);
        nonces[i] += 1;
        shipments.push(id);
    }
    send_and_wait(client, &creations, cfg.timeout).await?;
    // Readings observed a minute ago: never in the future of the blocks that carry them.
    let observed_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .saturating_sub(60);
    Ok(ChaincodePlan::Provenance { chain_hash, shipments, devices, consignee, observed_at })
}

fn load_tenant(run: u64, sender: usize) -> B256 {
    alloy_primitives::keccak256(format!("dsec-load-{run}-{sender}").as_bytes())
}

/// Poll new blocks until `expected` transactions were seen or `timeout` passes.
async fn follow_blocks(
    client: RpcClient,
    from: u64,
    expected: usize,
    timeout: Duration,
) -> eyre::Result<(HashMap<B256, Instant>, usize)> {
    let deadline = Instant::now() + timeout;
    let mut seen: HashMap<B256, Instant> = HashMap::with_capacity(expected);
    let mut next = from + 1;
    let mut blocks = 0;
    let mut idle_since = Instant::now();
    while seen.len() < expected && Instant::now() < deadline {
        let head = client.block_number().await?;
        if head < next {
            // No new block: stop once nothing has happened for a while after the load.
            if idle_since.elapsed() > Duration::from_secs(20) && !seen.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        idle_since = Instant::now();
        while next <= head {
            let block: Option<Block> = client
                .call("eth_getBlockByNumber", vec![serde_json::json!(format!("0x{next:x}")), serde_json::json!(false)])
                .await?;
            let now = Instant::now();
            if let Some(block) = block {
                let hashes: Vec<B256> = block.transactions.hashes().collect();
                if !hashes.is_empty() {
                    blocks += 1;
                }
                for h in hashes {
                    seen.entry(h).or_insert(now);
                }
            }
            next += 1;
        }
    }
    Ok((seen, blocks))
}
