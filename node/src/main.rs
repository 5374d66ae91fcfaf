//! `dsec`: the command-line interface of the dsec node.

use clap::{Args, Parser, Subcommand};
use dsec_consensus::DevSealerConfig;
use dsec_genesis::Genesis;
use dsec_genesis::devnet::{DEVNET_CHAIN_ID, DevnetSpec, generate};
use dsec_node::config::FileConfig;
use dsec_node::keys::{read_key, write_key};
use dsec_node::load::{self, LoadConfig, Workload};
use dsec_node::mempool::MempoolConfig;
use dsec_node::run::{self, NodeSettings};
use dsec_node::{devnet, rpc::RpcConfig};
use dsec_sdk::tx::LocalKey;
use dsec_sdk::validators::ValidatorKey;
use eyre::{WrapErr, bail, eyre};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(name = "dsec", version, about = "dsec: a BFT ledger node for consortiums, with an embedded EVM")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a node from a config file and/or flags.
    Node(NodeArgs),
    /// Start a local dev chain with prefunded dev accounts (JSON-RPC on 127.0.0.1:8545).
    Devnet(DevnetArgs),
    /// Create, check and inspect genesis files.
    #[command(subcommand)]
    Genesis(GenesisCommand),
    /// Create and inspect validator keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Send load to a node and measure throughput and latency.
    Load(LoadArgs),
    /// Tenant audit anchoring: anchor a log file, prove a line, verify a proof.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Cross-border settlement: roles, KYC, currencies, payments, holds, balances.
    Settle(SettleArgs),
    /// Shipment provenance: parties, shipments, custody hand-offs, reports.
    Provenance(ProvenanceArgs),
    /// Validator-set governance: show a height's set, approve and schedule changes.
    Validators(ValidatorsArgs),
}

#[derive(Args, Debug)]
struct ValidatorsArgs {
    /// JSON-RPC URL of a node.
    #[arg(long, default_value = "http://127.0.0.1:8545", global = true)]
    rpc: String,
    #[command(subcommand)]
    op: ValidatorsCommand,
}

#[derive(Subcommand, Debug)]
enum ValidatorsCommand {
    /// Print the validator set of a height (default: the next height).
    Show {
        /// Block height.
        #[arg(long)]
        height: Option<u64>,
    },
    /// Sign the next change with a validator key; prints the approval (JSON) to pass to `schedule`.
    Approve {
        /// This validator's key file.
        #[arg(long)]
        validator_key: PathBuf,
        /// The complete new set: a JSON array of {"name"?, "publicKey", "power"}.
        #[arg(long)]
        set: PathBuf,
        /// First height the new set signs (at least two after the block that includes the change).
        #[arg(long)]
        activation: u64,
    },
    /// Submit a change, with approvals of more than two thirds of the current
    /// voting power or, with --admin, as the genesis validator admin.
    Schedule {
        /// The complete new set (as for `approve`).
        #[arg(long)]
        set: PathBuf,
        /// First height the new set signs.
        #[arg(long)]
        activation: u64,
        /// Approval files written by `dsec validators approve` (repeat the flag).
        #[arg(long = "approval")]
        approvals: Vec<PathBuf>,
        /// Submit as the genesis validator admin instead of with approvals.
        #[arg(long, conflicts_with = "approvals")]
        admin: bool,
        /// Private key that sends the transaction (default: dev account 0).
        #[arg(long)]
        key: Option<String>,
    },
}

#[derive(Args, Debug)]
struct ProvenanceArgs {
    /// JSON-RPC URL of a node.
    #[arg(long, default_value = "http://127.0.0.1:8545", global = true)]
    rpc: String,
    /// Private key that signs (default: dev account 0).
    #[arg(long, global = true)]
    key: Option<String>,
    #[command(subcommand)]
    op: ProvenanceCommand,
}

#[derive(Subcommand, Debug)]
enum ProvenanceCommand {
    /// Register a party: shipper, carrier, port, customs or consignee (administrators).
    Party {
        #[arg(long)]
        party: alloy_primitives::Address,
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: String,
    },
    /// Create a shipment (registered shippers).
    Create(dsec_node::provenance::NewShipment),
    /// Propose to hand the goods over (the current custodian).
    HandOver {
        #[arg(long)]
        shipment: String,
        #[arg(long)]
        to: alloy_primitives::Address,
        #[arg(long)]
        location: String,
    },
    /// Accept custody (the proposed receiver).
    Accept {
        #[arg(long)]
        shipment: String,
    },
    /// Print the shipment report as JSON: record, route and carbon, trail, events.
    Report {
        #[arg(long)]
        shipment: String,
    },
}

#[derive(Args, Debug)]
struct SettleArgs {
    /// JSON-RPC URL of a node.
    #[arg(long, default_value = "http://127.0.0.1:8545", global = true)]
    rpc: String,
    /// Private key that signs (default: dev account 0).
    #[arg(long, global = true)]
    key: Option<String>,
    #[command(subcommand)]
    op: SettleCommand,
}

#[derive(Subcommand, Debug)]
enum SettleCommand {
    /// Give a party a role: none, compliance or fx (administrators).
    Role {
        #[arg(long)]
        party: alloy_primitives::Address,
        #[arg(long)]
        role: String,
    },
    /// Set a party's KYC status: none, approved or frozen (compliance officers).
    Kyc {
        #[arg(long)]
        party: alloy_primitives::Address,
        #[arg(long)]
        status: String,
    },
    /// Create a currency ledger (administrators).
    Currency {
        #[arg(long)]
        code: String,
        #[arg(long)]
        decimals: u8,
        #[arg(long)]
        issuer: alloy_primitives::Address,
        /// Transfers above this many minor units wait for a compliance officer (0: never).
        #[arg(long, default_value = "0")]
        hold_threshold: alloy_primitives::U256,
    },
    /// Mint minor units to a party (the currency's issuer).
    Mint {
        #[arg(long)]
        code: String,
        #[arg(long)]
        to: alloy_primitives::Address,
        #[arg(long)]
        amount: alloy_primitives::U256,
    },
    /// Pay a party.
    Transfer {
        #[arg(long)]
        code: String,
        #[arg(long)]
        to: alloy_primitives::Address,
        #[arg(long)]
        amount: alloy_primitives::U256,
        #[arg(long, default_value = "")]
        reference: String,
    },
    /// Release a held transfer (compliance officers).
    ApproveHold {
        #[arg(long)]
        id: u64,
    },
    /// Return a held transfer to its sender (compliance officers).
    RejectHold {
        #[arg(long)]
        id: u64,
    },
    /// Show a party's balance in a currency.
    Balance {
        #[arg(long)]
        party: alloy_primitives::Address,
        #[arg(long)]
        code: String,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Anchor the Merkle root of FILE's lines for a tenant.
    Anchor {
        /// Tenant id (as declared in the genesis file or at creation).
        #[arg(long)]
        tenant: String,
        /// The audit log: one entry per line.
        file: PathBuf,
        /// JSON-RPC URL of a node.
        #[arg(long, default_value = "http://127.0.0.1:8545")]
        rpc: String,
        /// Private key of a tenant member (default: dev account 0).
        #[arg(long)]
        key: Option<String>,
    },
    /// Write a proof that line N of FILE belongs to an anchored batch.
    Prove {
        /// The anchored file.
        file: PathBuf,
        /// Line number, from 1.
        #[arg(long)]
        line: u64,
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Anchor sequence number (default: looked up on the node by the file's root).
        #[arg(long)]
        seq: Option<u64>,
        /// JSON-RPC URL used to look the anchor up.
        #[arg(long, default_value = "http://127.0.0.1:8545")]
        rpc: String,
        /// Where to write the proof (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a proof offline, and against a node with --rpc.
    Verify {
        /// The proof file.
        proof: PathBuf,
        /// JSON-RPC URL to check the anchor on chain.
        #[arg(long)]
        rpc: Option<String>,
    },
}

#[derive(Args, Debug, Default)]
struct NodeArgs {
    /// TOML config file; flags override its settings.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Directory of the database.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Genesis file.
    #[arg(long)]
    genesis: Option<PathBuf>,
    /// This validator's key file.
    #[arg(long)]
    validator_key: Option<PathBuf>,
    /// JSON-RPC listen address (HTTP and WebSocket).
    #[arg(long)]
    rpc_addr: Option<SocketAddr>,
    /// Prometheus metrics listen address.
    #[arg(long)]
    metrics_addr: Option<SocketAddr>,
    /// Log filter, e.g. `info` or `dsec_node=debug,info`.
    #[arg(long)]
    log_level: Option<String>,
    /// Keep the state of every block.
    #[arg(long)]
    archive: bool,
    /// Blocks of state history kept when not an archive.
    #[arg(long)]
    state_history_blocks: Option<u64>,
    /// Seal a block at least every this many milliseconds (0: only when transactions arrive).
    #[arg(long)]
    block_time_ms: Option<u64>,
    /// FAULT INJECTION FOR TESTS: sign two different votes in every round (equivocate).
    #[arg(long, hide = true)]
    byzantine_equivocate: bool,
}

#[derive(Args, Debug)]
struct DevnetArgs {
    /// Data directory (default: a fresh temporary directory, removed on exit).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// JSON-RPC listen address.
    #[arg(long, default_value = "127.0.0.1:8545")]
    rpc_addr: SocketAddr,
    /// Prometheus metrics listen address.
    #[arg(long, default_value = "127.0.0.1:9545")]
    metrics_addr: SocketAddr,
    /// Number of validators (each a process of its own; 1: a single sealing process).
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// First consensus p2p port (validator i listens on this + i).
    #[arg(long, default_value_t = 26656)]
    p2p_port: u16,
    /// First transaction-gossip port (validator i listens on this + i).
    #[arg(long, default_value_t = 27656)]
    gossip_port: u16,
    /// Write the network's genesis, keys and node configs into the data directory and exit.
    #[arg(long)]
    write_only: bool,
    /// Chain id.
    #[arg(long, default_value_t = DEVNET_CHAIN_ID)]
    chain_id: u64,
    /// Seal an empty block at least every this many milliseconds (0: only when transactions arrive).
    #[arg(long, default_value_t = 1000)]
    block_time_ms: u64,
    /// Run with zero gas price instead of an EIP-1559 base fee.
    #[arg(long)]
    zero_fee: bool,
    /// Keep the state of every block.
    #[arg(long)]
    archive: bool,
    /// Log filter.
    #[arg(long, default_value = "info")]
    log_level: String,
}

#[derive(Subcommand, Debug)]
enum GenesisCommand {
    /// Write a genesis file (and validator keys) for a new network.
    Init {
        /// Where to write the genesis file.
        #[arg(long, default_value = "genesis.json")]
        out: PathBuf,
        /// Directory for the generated validator keys.
        #[arg(long, default_value = "keys")]
        keys_dir: PathBuf,
        /// Number of validators to generate keys for.
        #[arg(long, default_value_t = 1)]
        validators: usize,
        /// Chain id.
        #[arg(long, default_value_t = DEVNET_CHAIN_ID)]
        chain_id: u64,
        /// Zero gas price instead of an EIP-1559 base fee.
        #[arg(long)]
        zero_fee: bool,
        /// Enable the chaincode modules with this administrator (default: no modules).
        #[arg(long)]
        chaincode_admin: Option<alloy_primitives::Address>,
        /// Let this account change the validator set alone (default: only a
        /// two-thirds majority of the validators can).
        #[arg(long)]
        validator_admin: Option<alloy_primitives::Address>,
    },
    /// Check a genesis file and print its hash.
    Validate {
        /// The genesis file.
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Generate a validator key file (mode 0600; never overwrites).
    Generate {
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the address and public key of a key file.
    Show {
        /// The key file.
        file: PathBuf,
    },
}

#[derive(Args, Debug)]
struct LoadArgs {
    /// JSON-RPC URL of the node.
    #[arg(long, default_value = "http://127.0.0.1:8545")]
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
    /// Concurrent submission requests.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Transactions per batch request.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Offered load in transactions per second (default: as fast as the node takes them).
    #[arg(long)]
    rate: Option<f64>,
    /// Private key that funds the senders (default: dev account 0).
    #[arg(long)]
    funder_key: Option<String>,
    /// Seconds to wait for inclusion.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

fn init_logging(filter: &str) -> eyre::Result<()> {
    // Malachite logs every vote at INFO; keep its consensus core at WARN unless the filter names it.
    let quiet;
    let filter = if filter.contains("arc_malachitebft") {
        filter
    } else {
        quiet = format!("{filter},arc_malachitebft_core_consensus=warn,arc_malachitebft_engine=warn");
        quiet.as_str()
    };
    let env =
        tracing_subscriber::EnvFilter::try_new(filter).map_err(|e| eyre!("invalid --log-level {filter:?}: {e}"))?;
    tracing_subscriber::fmt().with_env_filter(env).with_target(false).init();
    Ok(())
}

fn sealer_config(block_time_ms: u64) -> DevSealerConfig {
    DevSealerConfig {
        block_interval: (block_time_ms > 0).then(|| Duration::from_millis(block_time_ms)),
        ..DevSealerConfig::default()
    }
}

/// Prints what a newcomer needs to know once the node listens.
type Banner = fn(&NodeSettings, &str) -> String;

async fn run_until_signal(settings: NodeSettings, banner: Option<Banner>) -> eyre::Result<()> {
    let mut node = run::start(settings.clone()).await?;
    if let Some(banner) = banner {
        println!("{}", banner(&settings, &format!("http://{}", node.rpc_addr)));
    }
    let result = tokio::select! {
        r = node.wait() => r,
        _ = shutdown_signal() => Ok(()),
    };
    node.shutdown().await?;
    result
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn node_command(args: NodeArgs) -> eyre::Result<()> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    init_logging(args.log_level.as_deref().or(file.log_level.as_deref()).unwrap_or("info"))?;
    let data_dir =
        args.data_dir.or(file.data_dir.clone()).ok_or_else(|| eyre!("missing setting `data_dir` (--data-dir)"))?;
    let genesis_path =
        args.genesis.or(file.genesis.clone()).ok_or_else(|| eyre!("missing setting `genesis` (--genesis)"))?;
    let genesis = Genesis::load(&genesis_path)?;
    let validator_key = args.validator_key.or(file.validator_key.clone()).map(|p| read_key(&p)).transpose()?;
    let mut retention = file.retention();
    if args.archive {
        retention = dsec_node::store::Retention::Archive;
    } else if let Some(n) = args.state_history_blocks {
        retention = dsec_node::store::Retention::Blocks(n.max(1));
    }
    let mut mempool = MempoolConfig::default();
    if let Some(n) = file.mempool.max_transactions {
        mempool.max_transactions = n;
    }
    if let Some(n) = file.mempool.max_per_sender {
        mempool.max_per_sender = n;
    }
    if let Some(n) = file.mempool.max_tx_bytes {
        mempool.max_tx_bytes = n;
    }
    let block_time_ms = args.block_time_ms.or(file.sealer.block_time_ms).unwrap_or(1000);
    let mut sealer = sealer_config(block_time_ms);
    if let Some(seal) = file.sealer.seal_on_transactions {
        sealer.seal_on_transactions = seal;
    }
    if let Some(ms) = file.sealer.build_time_ms {
        sealer.build_time = Duration::from_millis(ms);
    }
    let consensus = match &file.p2p {
        Some(p2p) => Some(consensus_settings(p2p, &file.consensus, args.byzantine_equivocate)?),
        None if args.byzantine_equivocate => bail!("--byzantine-equivocate needs a [p2p] section"),
        None => None,
    };
    let settings = NodeSettings {
        consensus,
        data_dir,
        genesis,
        validator_key,
        rpc_addr: args.rpc_addr.or(file.rpc_addr).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8545))),
        metrics_addr: args.metrics_addr.or(file.metrics_addr),
        retention,
        rpc: file.rpc_config(),
        mempool,
        sealer,
        // With BFT a block must also be streamed to and re-executed by every
        // validator within the propose timeout: keep blocks smaller.
        max_block_transactions: file.sealer.max_block_transactions.unwrap_or(if file.p2p.is_some() {
            5_000
        } else {
            20_000
        }),
    };
    run_until_signal(settings, None).await
}

fn consensus_settings(
    p2p: &dsec_node::config::P2pSection,
    consensus: &dsec_node::config::ConsensusSection,
    equivocate: bool,
) -> eyre::Result<run::ConsensusSettings> {
    use dsec_consensus::bft::Multiaddr;
    let addr = |field: &str, s: &str| -> eyre::Result<Multiaddr> {
        s.parse().map_err(|e| eyre!("[p2p] {field}: invalid multiaddr {s:?}: {e}"))
    };
    let node_key = match &p2p.node_key {
        Some(path) => Some(read_key(path).wrap_err("[p2p] node_key")?.seed()),
        None => None,
    };
    Ok(run::ConsensusSettings {
        listen: addr("listen", &p2p.listen)?,
        peers: p2p.peers.iter().map(|p| addr("peers", p)).collect::<eyre::Result<_>>()?,
        gossip_listen: addr("gossip_listen", &p2p.gossip_listen)?,
        gossip_peers: p2p.gossip_peers.iter().map(|p| addr("gossip_peers", p)).collect::<eyre::Result<_>>()?,
        allowlist: p2p
            .allowlist
            .iter()
            .map(|p| p.parse().map_err(|e| eyre!("[p2p] allowlist: invalid peer id {p:?}: {e}")))
            .collect::<eyre::Result<_>>()?,
        node_key,
        params: consensus.params(),
        byzantine: equivocate.then(|| {
            dsec_consensus::bft::ByzantineConfig::default().with_equivocate_votes(dsec_consensus::bft::Trigger::Always)
        }),
    })
}

/// The genesis a new devnet gets from these arguments (timestamped now).
fn devnet_spec(args: &DevnetArgs) -> DevnetSpec {
    DevnetSpec {
        chain_id: args.chain_id,
        validators: args.validators,
        eip1559: !args.zero_fee,
        timestamp_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        ..DevnetSpec::default()
    }
}

async fn devnet_command(args: DevnetArgs) -> eyre::Result<()> {
    init_logging(&args.log_level)?;
    if args.validators == 0 {
        bail!("--validators must be at least 1");
    }
    if args.validators > 1 || args.write_only {
        return devnet_network(args).await;
    }
    let (dir, _temp) = match &args.data_dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let temp = tempfile::Builder::new()
                .prefix("dsec-devnet-")
                .tempdir()
                .wrap_err("cannot create a temporary directory")?;
            (temp.path().to_path_buf(), Some(temp))
        }
    };
    let spec = devnet_spec(&args);
    let (devnet_dir, key) = devnet::prepare(&dir, &spec)?;
    if !devnet_dir.created {
        tracing::info!(dir = %dir.display(), "restarting the existing devnet in this directory");
    }
    let settings = NodeSettings {
        data_dir: dir,
        genesis: devnet_dir.genesis,
        validator_key: Some(key),
        rpc_addr: args.rpc_addr,
        metrics_addr: Some(args.metrics_addr),
        retention: if args.archive {
            dsec_node::store::Retention::Archive
        } else {
            dsec_node::store::Retention::Blocks(10_000)
        },
        rpc: RpcConfig::default(),
        mempool: MempoolConfig::default(),
        sealer: sealer_config(args.block_time_ms),
        max_block_transactions: 20_000,
        consensus: None,
    };
    run_until_signal(settings, Some(devnet::banner)).await
}

/// `dsec devnet --validators N` (N > 1): write the network's files, start one
/// `dsec node` process per validator, print the banner, stop them on Ctrl-C.
async fn devnet_network(args: DevnetArgs) -> eyre::Result<()> {
    let dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("dsec-devnet-{}", std::process::id())),
    };
    let spec = devnet_spec(&args);
    let ports = devnet::NetworkPorts {
        host: args.rpc_addr.ip(),
        rpc: args.rpc_addr.port(),
        metrics: args.metrics_addr.port(),
        p2p: args.p2p_port,
        gossip: args.gossip_port,
    };
    let network = devnet::write_network(&dir, &spec, &ports, args.archive)?;
    if args.write_only {
        for node in &network.nodes {
            println!("{}", node.config.display());
        }
        return Ok(());
    }
    let exe = std::env::current_exe().wrap_err("cannot find the dsec executable")?;
    let mut children = Vec::new();
    for node in &network.nodes {
        let log = std::fs::File::create(&node.log).wrap_err_with(|| format!("cannot create {}", node.log.display()))?;
        let child = tokio::process::Command::new(&exe)
            .arg("node")
            .arg("--config")
            .arg(&node.config)
            .arg("--log-level")
            .arg(&args.log_level)
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .wrap_err("cannot start a validator process")?;
        children.push(child);
    }
    for node in &network.nodes {
        devnet::wait_for_rpc(node.rpc, &node.log, Duration::from_secs(60)).await?;
    }
    println!("{}", devnet::network_banner(&network, &dir));
    let result = tokio::select! {
        _ = shutdown_signal() => Ok(()),
        (exited, index, _) = futures::future::select_all(children.iter_mut().map(|c| Box::pin(c.wait()))) => {
            Err(eyre!("validator {index} exited ({exited:?}); see {}", network.nodes[index].log.display()))
        }
    };
    for child in &mut children {
        if let Some(pid) = child.id() {
            let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        }
    }
    for child in &mut children {
        if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
            let _ = child.kill().await;
        }
    }
    if args.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn genesis_command(cmd: GenesisCommand) -> eyre::Result<()> {
    match cmd {
        GenesisCommand::Init { out, keys_dir, validators, chain_id, zero_fee, chaincode_admin, validator_admin } => {
            if validators == 0 {
                bail!("--validators must be at least 1");
            }
            if out.exists() {
                bail!("{} already exists: refusing to overwrite a genesis file", out.display());
            }
            let mut devnet = generate(&DevnetSpec {
                chain_id,
                validators,
                eip1559: !zero_fee,
                chaincode: chaincode_admin.is_some(),
                validator_admin: false,
                ..DevnetSpec::default()
            });
            devnet.genesis.permissions.validator_admin = validator_admin;
            if let Some(admin) = chaincode_admin {
                for module in devnet.genesis.chaincode.values_mut() {
                    module.admins = vec![admin];
                }
                devnet.genesis.tenants.clear();
            }
            std::fs::create_dir_all(&keys_dir).wrap_err_with(|| format!("cannot create {}", keys_dir.display()))?;
            for (i, key) in devnet.validator_keys.iter().enumerate() {
                let path = keys_dir.join(format!("validator-{i}.key"));
                write_key(&path, key)?;
                println!("wrote {} ({})", path.display(), key.address());
            }
            std::fs::write(&out, devnet.genesis.to_json_pretty())
                .wrap_err_with(|| format!("cannot write {}", out.display()))?;
            println!("wrote {}\ngenesis hash {}", out.display(), devnet.genesis.hash());
            Ok(())
        }
        GenesisCommand::Validate { file } => {
            let genesis = Genesis::load(&file)?;
            println!(
                "valid: chain id {}, {} validators, {} accounts\ngenesis hash {}",
                genesis.chain_id,
                genesis.validators.len(),
                genesis.alloc.len(),
                genesis.hash()
            );
            Ok(())
        }
    }
}

fn keys_command(cmd: KeysCommand) -> eyre::Result<()> {
    match cmd {
        KeysCommand::Generate { out } => {
            let key = ValidatorKey::generate();
            write_key(&out, &key)?;
            print_key(&key);
        }
        KeysCommand::Show { file } => print_key(&read_key(&file)?),
    }
    Ok(())
}

/// Print what operators exchange about a key: address, public key, libp2p peer id.
fn print_key(key: &ValidatorKey) {
    let peer = dsec_consensus::bft::peer_id_of(&key.public_key().0).map(|p| p.to_string()).unwrap_or_default();
    println!("address    {}\npublic key {}\npeer id    {peer}", key.address(), key.public_key());
}

async fn load_command(args: LoadArgs) -> eyre::Result<()> {
    let funder = parse_key(args.funder_key.as_deref(), "--funder-key")?;
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        bail!("--rate {rate}: expected a positive number of transactions per second");
    }
    let report = load::run(LoadConfig {
        rpc_url: args.rpc,
        senders: args.senders,
        transactions: args.txs,
        workload: match (args.erc20, args.audit.as_deref()) {
            (true, _) => Workload::Erc20,
            (false, None) => Workload::Transfer,
            (false, Some("chaincode")) => Workload::AuditChaincode,
            (false, Some("solidity")) => Workload::AuditSolidity,
            (false, Some(other)) => bail!("--audit {other:?}: expected chaincode or solidity"),
        },
        concurrency: args.concurrency,
        batch: args.batch,
        rate: args.rate,
        funder,
        timeout: Duration::from_secs(args.timeout_secs),
    })
    .await?;
    println!("{report}");
    Ok(())
}

fn parse_key(hex: Option<&str>, what: &str) -> eyre::Result<LocalKey> {
    match hex {
        Some(hex) => {
            let bytes: alloy_primitives::B256 = hex.parse().map_err(|e| eyre!("{what}: not a 32-byte hex key: {e}"))?;
            LocalKey::from_bytes(&bytes).map_err(|e| eyre!("{what}: {e}"))
        }
        None => Ok(dsec_sdk::dev::dev_accounts().first().ok_or_else(|| eyre!("no dev accounts"))?.key()),
    }
}

fn client(url: &str) -> eyre::Result<dsec_sdk::client::RpcClient> {
    dsec_sdk::client::RpcClient::new(url).map_err(|e| eyre!("--rpc {url}: {e}"))
}

async fn audit_command(cmd: AuditCommand) -> eyre::Result<()> {
    use dsec_node::audit;
    match cmd {
        AuditCommand::Anchor { tenant, file, rpc, key } => {
            let key = parse_key(key.as_deref(), "--key")?;
            let (seq, hash, root) = audit::anchor(&client(&rpc)?, &key, &tenant, &file).await?;
            println!(
                "anchored {} as anchor {seq} of tenant {tenant:?}
root        {root}
anchor hash {hash}",
                file.display()
            );
        }
        AuditCommand::Prove { file, line, tenant, seq, rpc, out } => {
            let c = client(&rpc)?;
            let proof = audit::prove(Some(&c), &tenant, &file, line, seq).await?;
            let json = serde_json::to_string_pretty(&proof)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, json).wrap_err_with(|| format!("cannot write {}", path.display()))?;
                    println!("wrote {}", path.display());
                }
                None => println!("{json}"),
            }
        }
        AuditCommand::Verify { proof, rpc } => {
            let text = std::fs::read_to_string(&proof).wrap_err_with(|| format!("cannot read {}", proof.display()))?;
            let parsed: audit::LineProof =
                serde_json::from_str(&text).map_err(|e| eyre!("{}: not a line proof: {e}", proof.display()))?;
            let c = rpc.as_deref().map(client).transpose()?;
            let verified = audit::verify(&parsed, c.as_ref()).await?;
            if !verified.offline {
                bail!("invalid: the line does not hash to the proof's root");
            }
            match verified.on_chain {
                Some((block, time)) => println!(
                    "valid: line {} is in anchor {} of tenant {:?}, anchored in block {block} at unix time {time}",
                    parsed.line, parsed.seq, parsed.tenant
                ),
                None => println!(
                    "valid offline: line {} hashes to root {} (give --rpc to check the anchor on chain)",
                    parsed.line, parsed.root
                ),
            }
        }
    }
    Ok(())
}

async fn settle_command(args: SettleArgs) -> eyre::Result<()> {
    use dsec_node::settle::{SettleOp, run};
    let key = parse_key(args.key.as_deref(), "--key")?;
    let op = match args.op {
        SettleCommand::Role { party, role } => SettleOp::Role { party, role },
        SettleCommand::Kyc { party, status } => SettleOp::Kyc { party, status },
        SettleCommand::Currency { code, decimals, issuer, hold_threshold } => {
            SettleOp::Currency { code, decimals, issuer, hold_threshold }
        }
        SettleCommand::Mint { code, to, amount } => SettleOp::Mint { code, to, amount },
        SettleCommand::Transfer { code, to, amount, reference } => SettleOp::Transfer { code, to, amount, reference },
        SettleCommand::ApproveHold { id } => SettleOp::Hold { id, approve: true },
        SettleCommand::RejectHold { id } => SettleOp::Hold { id, approve: false },
        SettleCommand::Balance { party, code } => SettleOp::Balance { party, code },
    };
    println!("{}", run(&client(&args.rpc)?, &key, op).await?);
    Ok(())
}

async fn validators_command(args: ValidatorsArgs) -> eyre::Result<()> {
    use dsec_node::governance::{self, Authority};
    let c = client(&args.rpc)?;
    match args.op {
        ValidatorsCommand::Show { height } => {
            println!("{}", serde_json::to_string_pretty(&governance::show(&c, height).await?)?);
        }
        ValidatorsCommand::Approve { validator_key, set, activation } => {
            let key = read_key(&validator_key)?;
            let approval = governance::approve(&c, &key, &governance::read_set(&set)?, activation).await?;
            println!("{}", serde_json::to_string_pretty(&approval)?);
        }
        ValidatorsCommand::Schedule { set, activation, approvals, admin, key } => {
            let sender = parse_key(key.as_deref(), "--key")?;
            let authority = if admin {
                Authority::Admin
            } else {
                if approvals.is_empty() {
                    bail!("give --approval files (from `dsec validators approve`) or --admin");
                }
                Authority::Validators(
                    approvals.iter().map(|p| governance::read_approval(p)).collect::<eyre::Result<_>>()?,
                )
            };
            let set = governance::read_set(&set)?;
            let (number, block) = governance::schedule(&c, &sender, set, activation, authority).await?;
            println!("change {number} scheduled in block {block}: the new set signs from height {activation}");
        }
    }
    Ok(())
}

async fn provenance_command(args: ProvenanceArgs) -> eyre::Result<()> {
    use dsec_node::provenance;
    let c = client(&args.rpc)?;
    let key = || parse_key(args.key.as_deref(), "--key");
    let tx = match args.op {
        ProvenanceCommand::Party { party, role, name } => {
            provenance::register_party(&c, &key()?, party, &role, &name).await?
        }
        ProvenanceCommand::Create(new) => provenance::create(&c, &key()?, new).await?,
        ProvenanceCommand::HandOver { shipment, to, location } => {
            provenance::hand_over(&c, &key()?, &shipment, to, &location).await?
        }
        ProvenanceCommand::Accept { shipment } => provenance::accept(&c, &key()?, &shipment).await?,
        ProvenanceCommand::Report { shipment } => {
            println!("{}", serde_json::to_string_pretty(&provenance::report(&c, &shipment).await?)?);
            return Ok(());
        }
    };
    println!("ok: transaction {tx}");
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    // At least four workers even on a two-core machine: consensus messages must
    // be answered within their deadlines while RPC work keeps workers busy.
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(4);
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Node(args) => node_command(args).await,
            Command::Devnet(args) => devnet_command(args).await,
            Command::Genesis(cmd) => genesis_command(cmd),
            Command::Keys(cmd) => keys_command(cmd),
            Command::Load(args) => load_command(args).await,
            Command::Audit(cmd) => audit_command(cmd).await,
            Command::Settle(args) => settle_command(args).await,
            Command::Provenance(args) => provenance_command(args).await,
            Command::Validators(args) => validators_command(args).await,
        }
    });
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
