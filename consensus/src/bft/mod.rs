//! BFT consensus on Malachite (Tendermint), through its channel API.
//!
//! [`run`] starts Malachite's engine (consensus, libp2p network, write-ahead
//! log, value sync) with dsec's [`context::DsecContext`], [`codec::DsecCodec`]
//! and ed25519 [`signing`], and answers the engine's messages from the node's
//! [`Application`](crate::Application) in [`host`].
//!
//! The network identity of a validator is its consensus key, so the libp2p
//! peer id of every validator is known from the validator set. The node
//! keeps an [`AllowedPeers`] set (validators, the permissions module's node
//! list, the operator's allowlist) up to date after every commit; Malachite
//! runs with `persistent_peers_only` and discovery off, and its persistent
//! peers follow that set at run time (Malachite refuses a peer that is not
//! persistent once it identifies itself, and disconnects one removed).
//! Proposal parts from a peer outside the set are refused before reassembly;
//! votes and proposals are signature-checked against the validator set.

pub mod codec;
pub mod context;
mod host;
pub mod signing;
pub mod stream;

use crate::Application;
use bytesize::ByteSize;
use context::{DsecContext, PrivateKey, ValidatorAddress};
use libp2p::identity as libp2p_identity;
use libp2p_identity::{Keypair, PeerId as Libp2pPeerId};
use malachitebft_app_channel::app::config::{
    ConsensusConfig, DiscoveryConfig, GossipSubConfig, NodeConfig, P2pConfig, PubSubProtocol, ValuePayload,
    ValueSyncConfig,
};
use malachitebft_app_channel::app::types::PeerId;
use malachitebft_app_channel::app::types::core::LinearTimeouts;
use malachitebft_app_channel::{
    ByzantineContext, ConsensusContext, EngineBuilder, NetworkContext, NetworkIdentity, RequestContext, SyncContext,
    WalContext,
};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tracing::info;

pub use libp2p;
pub use libp2p::Multiaddr;
pub use malachitebft_engine_byzantine::{ByzantineConfig, Trigger};

/// Tunables of consensus.
#[derive(Debug, Clone)]
pub struct BftParams {
    /// Round timeouts (propose, prevote, precommit and their per-round growth).
    pub timeouts: LinearTimeouts,
    /// How long a proposer waits for transactions before proposing an empty block.
    pub empty_block_wait: Duration,
    /// Most time a proposer spends building a block.
    pub build_time: Duration,
    /// How long after its height starts a round-0 proposer that has
    /// transactions waits before building, so that blocks under steady load
    /// carry more transactions each: a height's fixed cost (votes and their
    /// signatures, proposal parts, a certificate, a synced commit on every
    /// validator) is paid per block. As CometBFT's `timeout_commit`, but only
    /// the proposer waits. Zero: build as soon as one transaction is ready.
    pub block_fill_wait: Duration,
    /// How often peers exchange their sync status (tip height).
    pub sync_status_interval: Duration,
    /// Timeout of one value-sync request.
    pub sync_request_timeout: Duration,
}

/// [`BftParams::block_fill_wait`]'s default.
pub const DEFAULT_BLOCK_FILL_WAIT: Duration = Duration::ZERO;

impl Default for BftParams {
    /// Tuned for a permissioned network of a few validators on a LAN or
    /// regional WAN: a dead proposer costs 1.2 s instead of Malachite's 3 s.
    fn default() -> Self {
        Self {
            timeouts: LinearTimeouts {
                propose: Duration::from_millis(1200),
                propose_delta: Duration::from_millis(300),
                prevote: Duration::from_millis(250),
                prevote_delta: Duration::from_millis(200),
                precommit: Duration::from_millis(250),
                precommit_delta: Duration::from_millis(200),
                rebroadcast: Duration::from_millis(2000),
                max_timeout: Duration::from_secs(30),
            },
            empty_block_wait: Duration::from_millis(500),
            build_time: Duration::from_millis(400),
            block_fill_wait: DEFAULT_BLOCK_FILL_WAIT,
            sync_status_interval: Duration::from_secs(1),
            sync_request_timeout: Duration::from_secs(5),
        }
    }
}

/// Valid blocks received through value sync (catching up) since start.
pub(crate) static SYNCED_BLOCKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Malachite's consensus, network and sync metrics (its process-wide
/// registry) and dsec's own consensus counters, in the Prometheus text
/// format, appended to `out`. Malachite writes OpenMetrics: its `# EOF` and
/// `# UNIT` lines are dropped and its counters' `HELP`/`TYPE` lines renamed
/// after their samples, which OpenMetrics always suffixes with `_total`, so
/// the node serves one valid exposition.
pub fn export_metrics(out: &mut String) {
    use std::fmt::Write as _;
    let mut text = String::new();
    malachitebft_app_channel::app::metrics::export(&mut text);
    let counters: HashSet<&str> =
        text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.strip_suffix(" counter")).collect();
    for line in text.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = line
            .strip_prefix("# TYPE ")
            .map(|r| ("# TYPE ", r))
            .or_else(|| line.strip_prefix("# HELP ").map(|r| ("# HELP ", r)));
        match meta {
            Some((kind, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let renamed = if counters.contains(name) { format!("{name}_total") } else { name.to_string() };
                let _ = writeln!(out, "{kind}{renamed} {tail}");
            }
            None => {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP dsec_sync_blocks_total Valid blocks received through value sync (catching up) since start.\n# TYPE dsec_sync_blocks_total counter\ndsec_sync_blocks_total {}",
        SYNCED_BLOCKS.load(std::sync::atomic::Ordering::Relaxed)
    );
}

/// The peers this node's consensus network is connected to, refreshed every
/// two seconds from Malachite's network state (for readiness and metrics).
#[derive(Debug, Clone, Default)]
pub struct ConnectedPeers(Arc<parking_lot::RwLock<HashSet<Libp2pPeerId>>>);

impl ConnectedPeers {
    /// The peers connected at the last refresh.
    pub fn snapshot(&self) -> HashSet<Libp2pPeerId> {
        self.0.read().clone()
    }

    fn replace(&self, now: HashSet<Libp2pPeerId>) {
        *self.0.write() = now;
    }
}

/// Refresh `connected` from the network's state every two seconds.
async fn follow_connected_peers(
    connected: ConnectedPeers,
    requests: tokio::sync::mpsc::Sender<malachitebft_app_channel::NetworkRequest>,
) {
    use malachitebft_app_channel::NetworkRequest;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    loop {
        tick.tick().await;
        match NetworkRequest::dump_state(&requests).await {
            Ok(Some(dump)) => connected
                .replace(dump.peers.keys().filter_map(|p| Libp2pPeerId::from_bytes(&p.to_bytes()).ok()).collect()),
            Ok(None) => {}
            // The network is gone: consensus is stopping.
            Err(_) => return,
        }
    }
}

/// Everything [`run`] needs besides the application.
pub struct BftConfig {
    /// Name of this node in logs.
    pub moniker: String,
    /// The validator's consensus key (`None`: a full node that follows and verifies).
    pub validator_key: Option<PrivateKey>,
    /// The libp2p identity (for a validator, the same ed25519 key).
    pub network_key: Keypair,
    /// Where the p2p listener binds (`/ip4/127.0.0.1/tcp/26656`).
    pub listen: Multiaddr,
    /// Peers to keep connected (`/ip4/../tcp/../p2p/<peer id>`).
    pub peers: Vec<Multiaddr>,
    /// Every peer allowed to talk to this node now;
    /// the node updates it as validators and its node list change.
    pub allowed: AllowedPeers,
    /// Directory of the engine's write-ahead log.
    pub wal_dir: PathBuf,
    /// Tunables.
    pub params: BftParams,
    /// Fault injection for tests (equivocation); `None` in production.
    pub byzantine: Option<ByzantineConfig>,
    /// Where the connected consensus peers are published.
    pub connected: ConnectedPeers,
}

/// Why consensus stopped.
#[derive(Debug, thiserror::Error)]
pub enum BftError {
    /// The application failed (disk, corruption): the node must stop.
    #[error("application: {0}")]
    Application(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The engine failed to start or stopped.
    #[error("consensus engine: {0}")]
    Engine(String),
    /// The engine closed its channel.
    #[error("consensus engine stopped")]
    EngineStopped,
    /// A blocking task panicked.
    #[error("task failed: {0}")]
    Task(String),
    /// No validator has power at this height.
    #[error("the validator set of height {0} is empty")]
    EmptyValidatorSet(u64),
}

/// The peers allowed to talk to a node, shared between the node (which
/// replaces the set after commits) and consensus (which reads it per message
/// and keeps Malachite's persistent peers in step with it).
#[derive(Debug, Clone, Default)]
pub struct AllowedPeers {
    set: Arc<std::sync::RwLock<HashSet<Libp2pPeerId>>>,
    changed: Arc<tokio::sync::Notify>,
}

impl AllowedPeers {
    /// Whether `peer` is allowed now.
    pub fn contains(&self, peer: &Libp2pPeerId) -> bool {
        self.set.read().is_ok_and(|set| set.contains(peer))
    }

    /// Every peer allowed now.
    pub fn snapshot(&self) -> HashSet<Libp2pPeerId> {
        self.set.read().map(|set| set.clone()).unwrap_or_default()
    }

    /// Replace the set; returns the peers added and removed (and wakes [`AllowedPeers::changed`] if any).
    pub fn replace(&self, now: HashSet<Libp2pPeerId>) -> (Vec<Libp2pPeerId>, Vec<Libp2pPeerId>) {
        let Ok(mut set) = self.set.write() else { return (Vec::new(), Vec::new()) };
        let added: Vec<Libp2pPeerId> = now.difference(&set).copied().collect();
        let removed: Vec<Libp2pPeerId> = set.difference(&now).copied().collect();
        *set = now;
        if !added.is_empty() || !removed.is_empty() {
            self.changed.notify_one();
        }
        (added, removed)
    }

    /// Resolves after the next [`AllowedPeers::replace`] that changed the set.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// The libp2p peer id of a validator whose ed25519 public key is `public_key`.
pub fn peer_id_of(public_key: &[u8; 32]) -> Option<Libp2pPeerId> {
    let key = libp2p_identity::ed25519::PublicKey::try_from_bytes(public_key).ok()?;
    Some(libp2p_identity::PublicKey::from(key).to_peer_id())
}

/// The address `/p2p/<peer>`: a persistent-peer entry Malachite accepts
/// connections from but does not dial.
fn bare_address(peer: Libp2pPeerId) -> Multiaddr {
    Multiaddr::empty().with(libp2p::multiaddr::Protocol::P2p(peer))
}

/// Keep Malachite's persistent peers in step with the allowed set: a peer
/// added becomes persistent (its configured addresses, which are dialled, or
/// its bare id), a peer removed loses every entry and is disconnected.
async fn follow_allowed_peers(
    allowed: AllowedPeers,
    configured: Vec<Multiaddr>,
    own: Libp2pPeerId,
    requests: tokio::sync::mpsc::Sender<malachitebft_app_channel::NetworkRequest>,
) {
    use malachitebft_app_channel::NetworkRequest;
    let addresses_of = |peer: &Libp2pPeerId| -> Vec<Multiaddr> {
        let listed: Vec<Multiaddr> =
            configured.iter().filter(|a| peer_id_in(a).as_ref() == Some(peer)).cloned().collect();
        if listed.is_empty() { vec![bare_address(*peer)] } else { listed }
    };
    let mut known = allowed.snapshot();
    loop {
        allowed.changed().await;
        let now = allowed.snapshot();
        for peer in now.difference(&known).filter(|p| **p != own) {
            for addr in addresses_of(peer) {
                match NetworkRequest::add_persistent_peer(&requests, addr.clone()).await {
                    Ok(Ok(())) => info!(%peer, %addr, "consensus peer allowed"),
                    Ok(Err(e)) => tracing::debug!(%peer, %addr, error = %e, "consensus peer not added"),
                    Err(e) => tracing::warn!(%peer, error = %e, "consensus network unreachable"),
                }
            }
        }
        for peer in known.difference(&now).filter(|p| **p != own) {
            // Every entry that may hold it: its configured addresses and its bare id.
            let mut entries = addresses_of(peer);
            entries.push(bare_address(*peer));
            entries.dedup();
            for addr in entries {
                match NetworkRequest::remove_persistent_peer(&requests, addr.clone()).await {
                    Ok(Ok(())) => info!(%peer, %addr, "consensus peer no longer allowed: disconnected"),
                    Ok(Err(_)) => {}
                    Err(e) => tracing::warn!(%peer, error = %e, "consensus network unreachable"),
                }
            }
        }
        known = now;
    }
}

/// The peer id at the end of an address (`…/p2p/<peer id>`), if it has one.
pub fn peer_id_in(addr: &Multiaddr) -> Option<Libp2pPeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

/// The libp2p identity of an ed25519 seed (a validator uses its consensus key).
pub fn network_keypair(seed: [u8; 32]) -> Option<Keypair> {
    let mut seed = seed;
    Keypair::ed25519_from_bytes(&mut seed).ok()
}

#[derive(Clone, Debug)]
struct EngineConfig {
    moniker: String,
    consensus: ConsensusConfig,
    value_sync: ValueSyncConfig,
}

impl NodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }
    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }
    fn consensus_mut(&mut self) -> &mut ConsensusConfig {
        &mut self.consensus
    }
    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }
    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}

/// Run consensus for `app` until the engine stops or the application fails.
pub async fn run<A: Application>(app: Arc<A>, cfg: BftConfig) -> Result<(), BftError> {
    let ctx = DsecContext::new(app.chain_hash());
    // Malachite hands us its own peer-id type: compare by bytes.
    let own = cfg.network_key.public().to_peer_id();
    let allowed = cfg.allowed.clone();
    let allowed_peers: Arc<dyn Fn(&PeerId) -> bool + Send + Sync> = Arc::new(move |peer: &PeerId| {
        Libp2pPeerId::from_bytes(&peer.to_bytes()).is_ok_and(|id| id == own || allowed.contains(&id))
    });
    // Malachite accepts only its persistent peers: the configured ones (which
    // this node dials) and, by bare `/p2p/<id>` entries it does not dial,
    // every other allowed peer, so a node on the node list may connect in.
    let mut persistent = cfg.peers.clone();
    let configured: HashSet<Libp2pPeerId> = cfg.peers.iter().filter_map(peer_id_in).collect();
    for peer in cfg.allowed.snapshot() {
        if peer != own && !configured.contains(&peer) {
            persistent.push(bare_address(peer));
        }
    }

    let p2p = P2pConfig {
        listen_addr: cfg.listen.clone(),
        persistent_peers: persistent,
        persistent_peers_only: true,
        discovery: DiscoveryConfig { enabled: false, ..Default::default() },
        // Validators are a full mesh of persistent peers: make them explicit
        // gossipsub peers so every message goes to each directly, and flood-publish.
        protocol: PubSubProtocol::GossipSub(GossipSubConfig::new(6, 12, 4, 2, false, true, true)),
        // Value sync answers with up to `batch_size` whole blocks.
        rpc_max_size: ByteSize::mib(64),
        ..Default::default()
    };
    let engine_config = EngineConfig {
        moniker: cfg.moniker.clone(),
        consensus: ConsensusConfig {
            enabled: true,
            p2p,
            value_payload: ValuePayload::ProposalAndParts,
            ..Default::default()
        },
        value_sync: ValueSyncConfig {
            enabled: true,
            status_update_interval: cfg.params.sync_status_interval,
            request_timeout: cfg.params.sync_request_timeout,
            max_response_size: ByteSize::mib(64),
            ..Default::default()
        },
    };

    let verifier = Box::new(signing::ConsensusVerifier::new(ctx.clone()));
    let (address, consensus_ctx, signer) = match &cfg.validator_key {
        Some(key) => {
            let address = key.address();
            let signer = signing::ConsensusSigner::new(ctx.clone(), key.clone());
            (address, ConsensusContext::new_validator(address, verifier, Box::new(signer.clone())), Some(signer))
        }
        None => {
            // A full node has no consensus key; its address is never in the set.
            let peer = cfg.network_key.public().to_peer_id().to_bytes();
            let digest = alloy_primitives::keccak256(&peer);
            let address = ValidatorAddress(digest[12..].try_into().unwrap_or([0; 20]));
            (address, ConsensusContext::new_full_node(address, verifier), None)
        }
    };
    let identity = NetworkIdentity::new(
        cfg.moniker.clone(),
        cfg.network_key.clone(),
        cfg.validator_key.as_ref().map(|_| address.to_string()),
    );

    std::fs::create_dir_all(&cfg.wal_dir).map_err(|e| BftError::Engine(format!("creating the WAL directory: {e}")))?;
    let wal = WalContext::new(cfg.wal_dir.join("consensus.wal"), codec::DsecCodec);
    let builder = EngineBuilder::new(ctx.clone(), engine_config).with_default_wal(wal);
    let started = match (cfg.byzantine.clone(), signer) {
        (Some(byzantine), Some(signer)) => {
            info!(?byzantine, "BYZANTINE FAULT INJECTION ENABLED (testing only)");
            builder
                .with_byzantine_network(ByzantineContext {
                    identity,
                    codec: codec::DsecCodec,
                    config: byzantine,
                    signer: Box::new(signer),
                    address,
                    conflicting_value_fn: None,
                    conflicting_vote_value_fn: Some(Box::new(|id: Option<&context::BlockId>| {
                        let mut other = id.map(|i| i.0).unwrap_or([0; 32]);
                        other[0] ^= 0xff;
                        context::BlockId(other)
                    })),
                })
                .await
                .map_err(|e| BftError::Engine(e.to_string()))?
                .with_default_sync(SyncContext::new(codec::DsecCodec))
                .with_default_consensus(consensus_ctx)
                .with_default_request(RequestContext::new(16))
                .build()
                .await
        }
        _ => {
            builder
                .with_default_network(NetworkContext::new(identity, codec::DsecCodec))
                .with_default_sync(SyncContext::new(codec::DsecCodec))
                .with_default_consensus(consensus_ctx)
                .with_default_request(RequestContext::new(16))
                .build()
                .await
        }
    };
    let (channels, _engine) = started.map_err(|e| BftError::Engine(e.to_string()))?;
    info!(
        %address,
        peer_id = %cfg.network_key.public().to_peer_id(),
        listen = %cfg.listen,
        peers = cfg.peers.len(),
        "consensus engine started"
    );
    tokio::spawn(follow_allowed_peers(cfg.allowed.clone(), cfg.peers.clone(), own, channels.net_requests.clone()));
    tokio::spawn(follow_connected_peers(cfg.connected.clone(), channels.net_requests.clone()));
    let network = channels.network.clone();
    host::Host::new(app, ctx, cfg.params, cfg.validator_key, address, network, allowed_peers).run(channels).await
}
