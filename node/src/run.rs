//! Starting and stopping a node: store, JSON-RPC, metrics and block
//! production (the dev sealer, or transaction gossip and BFT consensus). The
//! one entry point is [`start`]; what it is given comes from
//! [`crate::config::resolve`].

use crate::chain::{Chain, ChainError, ChainOptions};
use crate::mempool::MempoolConfig;
use crate::metrics::{self, Metrics};
use crate::rpc::{self, RpcConfig};
use crate::store::{Retention, StoreError};
use alloy_primitives::Address;
use dsec_consensus::bft::{self, BftConfig, BftError, BftParams, ByzantineConfig, Multiaddr};
use dsec_consensus::{DevSealer, DevSealerConfig, SealerError};
use dsec_genesis::Genesis;
use dsec_sdk::validators::ValidatorSigner;
use libp2p::PeerId;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::{info, warn};

/// Everything a node needs to start.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// Directory of the database.
    pub data_dir: PathBuf,
    /// The genesis.
    pub genesis: Genesis,
    /// This node's validator key, if it is a validator.
    pub validator_key: Option<Arc<dyn ValidatorSigner>>,
    /// JSON-RPC address.
    pub rpc_addr: SocketAddr,
    /// Metrics address (none: no metrics server).
    pub metrics_addr: Option<SocketAddr>,
    /// State history kept.
    pub retention: Retention,
    /// JSON-RPC limits.
    pub rpc: RpcConfig,
    /// Mempool limits.
    pub mempool: MempoolConfig,
    /// Block production.
    pub sealer: DevSealerConfig,
    /// Most transactions per block.
    pub max_block_transactions: usize,
    /// Most bytes of signed transactions per block this node proposes.
    pub max_block_bytes: usize,
    /// FAULT INJECTION FOR TESTS: admit and propose transactions the permissions refuse.
    pub byzantine_ignore_permissions: bool,
    /// FAULT INJECTION FOR TESTS: corrupt the ML-DSA-65 half of every consensus signature.
    pub byzantine_bad_ml_dsa: bool,
    /// BFT consensus with peers (`None`: a single validator sealing alone).
    pub consensus: Option<ConsensusSettings>,
}

/// Networking and consensus of a node in a multi-validator network.
#[derive(Debug, Clone)]
pub struct ConsensusSettings {
    /// Consensus listen multiaddr.
    pub listen: Multiaddr,
    /// Consensus peers.
    pub peers: Vec<Multiaddr>,
    /// Transaction-gossip listen multiaddr.
    pub gossip_listen: Multiaddr,
    /// Transaction-gossip peers.
    pub gossip_peers: Vec<Multiaddr>,
    /// Peer ids this node allows besides the validators and the ledger's node list.
    pub allowlist: Vec<PeerId>,
    /// Network key seed of a full node (a validator uses its validator key).
    pub node_key: Option<[u8; 32]>,
    /// Timeouts and block pacing.
    pub params: BftParams,
    /// Fault injection (tests only).
    pub byzantine: Option<ByzantineConfig>,
}

/// Why a node could not start, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The settings do not describe a node that can run (key, genesis and `[p2p]` disagree).
    #[error("{0}")]
    Settings(String),
    /// The data directory could not be created.
    #[error("cannot create data directory {path}")]
    DataDir {
        /// The directory.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The chain could not be opened.
    #[error("cannot open the chain")]
    Open(#[source] ChainError),
    /// A listener could not be started.
    #[error("cannot start {what} on {addr}")]
    Listen {
        /// Which server.
        what: &'static str,
        /// Its address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// Transaction gossip could not be started.
    #[error("cannot start transaction gossip")]
    Gossip(#[from] crate::gossip::GossipError),
    /// The dev sealer stopped with an error.
    #[error("block production failed")]
    Sealer(#[from] SealerError<ChainError>),
    /// Consensus stopped with an error.
    #[error("consensus failed")]
    Consensus(#[from] BftError),
    /// The block production task panicked or was cancelled.
    #[error("block production task failed")]
    Task(#[from] tokio::task::JoinError),
    /// The store could not be flushed at shutdown.
    #[error("cannot flush the database")]
    Flush(#[source] StoreError),
}

/// A started node.
#[derive(Debug)]
pub struct RunningNode {
    /// The chain core.
    pub chain: Arc<Chain>,
    /// Where JSON-RPC listens.
    pub rpc_addr: SocketAddr,
    /// Where metrics are served.
    pub metrics_addr: Option<SocketAddr>,
    rpc: rpc::RpcServer,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    sealer: Option<tokio::task::JoinHandle<Result<(), NodeError>>>,
    stop: Arc<tokio::sync::Notify>,
    bft: bool,
}

/// Start a node. Block production runs in the background until [`RunningNode::shutdown`].
pub async fn start(settings: NodeSettings) -> Result<RunningNode, NodeError> {
    let validators = settings.genesis.validator_set();
    if let Some(key) = &settings.validator_key
        && validators.get(&key.address()).is_none()
    {
        if settings.consensus.is_none() {
            return Err(NodeError::Settings(format!(
                "validator key {} is not in the genesis validator set",
                key.address()
            )));
        }
        // A validator joining by governance: it follows until a change adds it.
        warn!(
            validator = %key.address(),
            "validator key is not in the genesis set: this node votes only at heights where a governance change has added it"
        );
    }
    let sealer_key = match &settings.validator_key {
        _ if settings.consensus.is_some() => None,
        // (A key outside the genesis set was refused above when there is no [p2p].)
        Some(key) if validators.validators.len() == 1 && validators.get(&key.address()).is_some() => Some(key.clone()),
        Some(_) => {
            return Err(NodeError::Settings(format!(
                "the genesis names {} validators: give the node a [p2p] section (listen address and peers) to run BFT consensus with them",
                validators.validators.len()
            )));
        }
        None => {
            return Err(NodeError::Settings(
                "no validator key given (--validator-key), and no [p2p] section to follow a network as a full node"
                    .into(),
            ));
        }
    };
    std::fs::create_dir_all(&settings.data_dir)
        .map_err(|source| NodeError::DataDir { path: settings.data_dir.display().to_string(), source })?;
    let metrics = Arc::new(Metrics::default());
    let beneficiary = settings.validator_key.as_ref().map(|k| k.address()).unwrap_or(Address::ZERO);
    let options = ChainOptions {
        retention: settings.retention,
        mempool: settings.mempool.clone(),
        max_block_transactions: settings.max_block_transactions,
        max_block_bytes: settings.max_block_bytes,
        beneficiary,
        byzantine_ignore_permissions: settings.byzantine_ignore_permissions,
    };
    let chain = Arc::new(
        Chain::open(&settings.data_dir, settings.genesis.clone(), options, metrics.clone()).map_err(NodeError::Open)?,
    );
    let head = chain.head();
    info!(genesis = %chain.genesis_hash(), head = head.header.number, hash = %head.hash, "chain opened");
    if let Some(key) = &settings.validator_key {
        // Checked against the set it signs now (the genesis set on a new
        // chain; the governance-changed one for a validator that joined later).
        let next = head.header.number.saturating_add(1);
        check_signature_scheme(&settings.genesis, &chain.validators_at(next), key.as_ref())?;
    }

    let rpc = rpc::start(settings.rpc_addr, chain.clone(), settings.rpc.clone())
        .await
        .map_err(|source| NodeError::Listen { what: "JSON-RPC", addr: settings.rpc_addr, source })?;
    info!(addr = %rpc.local_addr, "JSON-RPC listening (HTTP and WebSocket)");

    let mut tasks = Vec::new();
    let connected = settings.consensus.as_ref().map(|_| bft::ConnectedPeers::default());
    let health: Arc<dyn metrics::HealthCheck> = Arc::new(NodeHealth { chain: chain.clone(), bft: connected.is_some() });
    let metrics_addr = match settings.metrics_addr {
        Some(addr) => {
            let (bound, task) = metrics::serve(addr, metrics.clone(), health)
                .await
                .map_err(|source| NodeError::Listen { what: "metrics", addr, source })?;
            info!(addr = %bound, "metrics at /metrics, health checks at /health and /ready");
            tasks.push(task);
            Some(bound)
        }
        None => None,
    };
    let housekeeping = chain.clone();
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let evicted = housekeeping.evict_stale();
            housekeeping.record_mempool_metrics();
            if evicted > 0 {
                info!(evicted, "evicted stale queued transactions");
            }
        }
    }));

    let stop = Arc::new(tokio::sync::Notify::new());
    let sealer = sealer_key.map(|key| {
        let sealer = DevSealer::new(chain.clone(), key, settings.sealer.clone(), chain.wake_handle());
        let stop = stop.clone();
        tokio::spawn(async move { Ok(sealer.run(async move { stop.notified().await }).await?) })
    });
    let mut sealer = sealer;
    if let (Some(consensus), Some(connected)) = (settings.consensus.clone(), connected) {
        let own = settings.validator_key.as_ref().map(|k| k.address());
        tasks.push(tokio::spawn(follow_connected_power(chain.clone(), connected.clone(), own)));
        sealer =
            Some(start_consensus(&settings, consensus, chain.clone(), metrics.clone(), connected, &mut tasks).await?);
    }
    let bft = settings.consensus.is_some();
    Ok(RunningNode { chain, rpc_addr: rpc.local_addr, metrics_addr, rpc, tasks, sealer, stop, bft })
}

/// Start transaction gossip and the Malachite engine; the handle ends when consensus stops.
async fn start_consensus(
    settings: &NodeSettings,
    consensus: ConsensusSettings,
    chain: Arc<Chain>,
    metrics: Arc<Metrics>,
    connected: bft::ConnectedPeers,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<tokio::task::JoinHandle<Result<(), NodeError>>, NodeError> {
    // A validator's libp2p identity is its consensus key when the key is in
    // memory; a key in a token cannot derive one, so it needs [p2p] node_key.
    let seed = match (settings.validator_key.as_ref().map(|k| k.seed()), consensus.node_key) {
        (Some(Some(seed)), _) => seed,
        (_, Some(seed)) => seed,
        (Some(None), None) => {
            return Err(NodeError::Settings(
                "the validator key is in a PKCS#11 token, so it cannot be the node's network identity: set [p2p] node_key to a key file (dsec keys generate)".into(),
            ));
        }
        (None, None) => return Err(NodeError::Settings("a full node needs a network key: set [p2p] node_key".into())),
    };
    let network_key = bft::network_keypair(seed).ok_or_else(|| NodeError::Settings("invalid network key".into()))?;
    if let Some(key) = settings.validator_key.as_ref().filter(|k| k.seed().is_none()) {
        // Peers derive a validator's peer id from its consensus key; this one differs.
        warn!(
            validator = %key.address(),
            peer_id = %network_key.public().to_peer_id(),
            "the validator key is in a token: peers admit this node only if its peer id is on the permissions node list (dsec perm add-node) or in their [p2p] allowlist"
        );
    }
    // Validators of the next heights, the permissions module's node list and
    // this node's [p2p] allowlist; refreshed after every commit.
    let gate = crate::peers::PeerGate::new(consensus.allowlist.iter().copied(), &chain);
    for addr in consensus.peers.iter().chain(&consensus.gossip_peers) {
        if let Some(peer) = bft::peer_id_in(addr)
            && !gate.contains(&peer)
        {
            warn!(%peer, "a configured peer is neither a validator, on the node list nor in [p2p] allowlist: it will be refused until it is");
        }
    }
    let gossip = crate::gossip::GossipConfig {
        listen: consensus.gossip_listen.clone(),
        peers: consensus.gossip_peers.clone(),
        gate: gate.clone(),
    };
    let (gossip_addr, gossip_task) = crate::gossip::start(chain.clone(), network_key.clone(), gossip, metrics).await?;
    tasks.push(gossip_task);
    info!(addr = %gossip_addr, "transaction gossip started");
    let cfg = BftConfig {
        moniker: settings
            .validator_key
            .as_ref()
            .map(|k| format!("validator-{}", k.address()))
            .unwrap_or_else(|| "full-node".into()),
        validator_key: settings.validator_key.clone().map(|signer| {
            let key = bft::context::PrivateKey::new(signer);
            if settings.byzantine_bad_ml_dsa {
                warn!("BYZANTINE FAULT INJECTION: every ML-DSA-65 signature half is corrupted (testing only)");
                key.with_corrupt_ml_dsa()
            } else {
                key
            }
        }),
        network_key,
        listen: consensus.listen.clone(),
        peers: consensus.peers.clone(),
        allowed: gate.shared(),
        wal_dir: settings.data_dir.join("wal"),
        params: consensus.params.clone(),
        byzantine: consensus.byzantine.clone(),
        connected,
    };
    Ok(tokio::spawn(async move { Ok(bft::run(chain, cfg).await?) }))
}

/// A head older than this makes a BFT node not ready: it is catching up, or
/// the network has stalled (blocks come every second or so, empty or not).
pub const READY_MAX_HEAD_AGE: Duration = Duration::from_secs(30);

/// Every two seconds, the peers of this node's consensus network, and the
/// power of the validators of the next height among them (itself included).
async fn follow_connected_power(chain: Arc<Chain>, connected: bft::ConnectedPeers, own: Option<Address>) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tick.tick().await;
        let set = chain.validators_at(chain.head().header.number.saturating_add(1));
        let peers = connected.snapshot();
        chain.metrics().consensus_peers.set(peers.len() as u64);
        let power = set
            .validators
            .iter()
            .filter(|v| Some(v.address) == own || bft::peer_id_of(&v.public_key.0).is_some_and(|p| peers.contains(&p)))
            .map(|v| v.power)
            .fold(0u64, u64::saturating_add);
        chain.metrics().connected_power.set(power);
    }
}

/// `/health` and `/ready` of a node.
struct NodeHealth {
    chain: Arc<Chain>,
    /// The node runs BFT consensus (a single sealing validator has no one to wait for).
    bft: bool,
}

impl metrics::HealthCheck for NodeHealth {
    fn health(&self) -> Result<(), String> {
        let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        self.chain.store().check_writable(stamp).map_err(|e| format!("unhealthy: the store takes no writes: {e}"))
    }

    fn ready(&self) -> Result<String, String> {
        self.health()?;
        let head = self.chain.head().header;
        if !self.bft {
            return Ok(format!("ready: height {}, a single sealing validator", head.number));
        }
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let age = Duration::from_millis(now_ms.saturating_sub(head.timestamp_ms));
        if age > READY_MAX_HEAD_AGE {
            return Err(format!(
                "not ready: the head block {} is {} s old (catching up, or the network has stalled)",
                head.number,
                age.as_secs()
            ));
        }
        let set = self.chain.validators_at(head.number.saturating_add(1));
        let power = self.chain.metrics().connected_power.get();
        if !set.is_quorum(power) {
            return Err(format!(
                "not ready: connected to validators holding {power} of {} voting power, need more than two thirds",
                set.total_power()
            ));
        }
        Ok(format!(
            "ready: height {}, connected to validators holding {power} of {} voting power",
            head.number,
            set.total_power()
        ))
    }
}

/// A validator key fits the chain's consensus signatures: on a hybrid chain
/// it has an ML-DSA-65 half (the one `validators` lists, if it is a member),
/// on an ed25519 chain it has none.
fn check_signature_scheme(
    genesis: &dsec_genesis::Genesis,
    validators: &dsec_sdk::validators::ValidatorSet,
    key: &dyn ValidatorSigner,
) -> Result<(), NodeError> {
    let scheme = genesis.consensus_signatures;
    match (scheme.is_hybrid(), key.ml_dsa_public_key()) {
        (true, None) => Err(NodeError::Settings(format!(
            "this chain's consensus signatures are {scheme}, but the validator key {} has no ML-DSA-65 half (generate a hybrid key with `dsec keys generate --pq`, or pair a key in a PKCS#11 token with an ML-DSA-65 key file through validator_ml_dsa_key)",
            key.address()
        ))),
        (false, Some(_)) => Err(NodeError::Settings(format!(
            "this chain's consensus signatures are {scheme}, but the validator key {} is hybrid: its ML-DSA-65 signatures would be refused (use an ed25519-only key)",
            key.address()
        ))),
        (true, Some(public)) => match validators.get(&key.address()).and_then(|v| v.ml_dsa_public_key.as_ref()) {
            Some(listed) if listed.as_ref() != public.as_bytes() => Err(NodeError::Settings(format!(
                "the ML-DSA-65 public key of validator key {} differs from the one its validator set lists for it: its votes would be refused",
                key.address()
            ))),
            _ => Ok(()),
        },
        (false, None) => Ok(()),
    }
}

impl RunningNode {
    /// Wait until block production fails (it runs until shutdown otherwise).
    pub async fn wait(&mut self) -> Result<(), NodeError> {
        match self.sealer.as_mut() {
            Some(handle) => {
                let result = handle.await?;
                self.sealer = None;
                result
            }
            None => std::future::pending().await,
        }
    }

    /// Stop block production and the servers, and flush the store.
    pub async fn shutdown(mut self) -> Result<(), NodeError> {
        self.stop.notify_one();
        if self.bft
            && let Some(handle) = self.sealer.take()
        {
            // Consensus keeps no state outside its WAL and the store, both
            // written before anything leaves the node: stopping it anywhere is safe.
            handle.abort();
            let _ = handle.await;
        }
        if let Some(handle) = self.sealer.take() {
            match tokio::time::timeout(Duration::from_secs(10), handle).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => warn!(error = %e, "block production ended with an error"),
                Ok(Err(e)) => warn!(error = %e, "block production task failed"),
                Err(_) => warn!("block production did not stop within 10 s"),
            }
        }
        let _ = self.rpc.handle.stop();
        self.rpc.maintenance.abort();
        for task in self.tasks.drain(..) {
            task.abort();
        }
        self.chain.store().flush().map_err(NodeError::Flush)?;
        info!("node stopped");
        Ok(())
    }
}
