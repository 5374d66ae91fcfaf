//! Transaction gossip between nodes: a libp2p (0.56, the version Malachite
//! uses) gossipsub swarm beside the consensus network.
//!
//! Transactions admitted from this node's clients are batched (up to
//! [`BATCH_MAX`] or every [`BATCH_INTERVAL`]) and published on one topic; a
//! batch received from a peer goes through the same admission checks as a
//! local submission (decode, signature, nonce, balance, permissions) and is not
//! forwarded again by the node (gossipsub relays it within the mesh).
//!
//! Only allowed peers may connect: the validators (whose peer id is derived
//! from their consensus key) and the operator's allowlist. Any other peer's
//! connection is denied when it is established, before a message is read.

use crate::chain::Chain;
use crate::metrics::Metrics;
use alloy_primitives::{Bytes, keccak256};
use futures::StreamExt;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, allow_block_list, gossipsub, identity::Keypair};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// Most transactions in one gossip message.
pub const BATCH_MAX: usize = 2_000;
/// Longest a transaction waits before its batch is published.
pub const BATCH_INTERVAL: Duration = Duration::from_millis(20);
/// Transactions queued for gossip before new ones are dropped (they stay in the local pool).
pub const QUEUE: usize = 100_000;
/// Gossiped batches waiting for admission before new ones are dropped.
const ADMISSION_QUEUE: usize = 1_000;
const TOPIC: &str = "dsec/transactions/1";

#[derive(NetworkBehaviour)]
struct Behaviour {
    allowed: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    gossipsub: gossipsub::Behaviour,
}

/// Settings of the gossip swarm.
#[derive(Debug, Clone)]
pub struct GossipConfig {
    /// Listen address (`/ip4/127.0.0.1/tcp/27656`).
    pub listen: Multiaddr,
    /// Peers to keep connected, each ending in `/p2p/<peer id>`.
    pub peers: Vec<Multiaddr>,
    /// Every peer allowed to connect (validators and the allowlist).
    pub allowed: HashSet<PeerId>,
}

/// Why the gossip swarm could not start.
#[derive(Debug, thiserror::Error)]
pub enum GossipError {
    /// Building the transport or behaviour failed.
    #[error("gossip: {0}")]
    Setup(String),
    /// A peer address has no `/p2p/<peer id>` suffix.
    #[error("gossip peer address {0} must end in /p2p/<peer id>")]
    PeerWithoutId(Multiaddr),
}

/// Start the gossip swarm for `chain`; returns the bound listen address.
pub async fn start(
    chain: Arc<Chain>,
    keypair: Keypair,
    config: GossipConfig,
    metrics: Arc<Metrics>,
) -> Result<(Multiaddr, tokio::task::JoinHandle<()>), GossipError> {
    let mut dial: Vec<(PeerId, Multiaddr)> = Vec::new();
    for addr in &config.peers {
        dial.push((
            dsec_consensus::bft::peer_id_in(addr).ok_or_else(|| GossipError::PeerWithoutId(addr.clone()))?,
            addr.clone(),
        ));
    }
    let setup = |e: &dyn std::fmt::Display| GossipError::Setup(e.to_string());
    let mut swarm: Swarm<Behaviour> = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default().nodelay(true),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .map_err(|e| setup(&e))?
        .with_behaviour(|key| {
            let config = gossipsub::ConfigBuilder::default()
                .max_transmit_size(16 * 1024 * 1024)
                .validation_mode(gossipsub::ValidationMode::Strict)
                .message_id_fn(|m: &gossipsub::Message| gossipsub::MessageId::from(keccak256(&m.data).to_vec()))
                .heartbeat_interval(Duration::from_millis(500))
                .build()
                .map_err(|e| e.to_string())?;
            let gossipsub = gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), config)
                .map_err(|e| e.to_string())?;
            Ok(Behaviour { allowed: Default::default(), gossipsub })
        })
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    for peer in &config.allowed {
        swarm.behaviour_mut().allowed.allow_peer(*peer);
    }
    for (peer, _) in &dial {
        swarm.behaviour_mut().allowed.allow_peer(*peer);
        swarm.behaviour_mut().gossipsub.add_explicit_peer(peer);
    }
    let topic = gossipsub::IdentTopic::new(TOPIC);
    swarm.behaviour_mut().gossipsub.subscribe(&topic).map_err(|e| setup(&e))?;
    swarm.listen_on(config.listen.clone()).map_err(|e| setup(&e))?;
    // Wait for the listener to bind (port 0 becomes a real port).
    let listen = loop {
        match swarm.select_next_some().await {
            SwarmEvent::NewListenAddr { address, .. } => break address,
            SwarmEvent::ListenerError { error, .. } => return Err(setup(&error)),
            SwarmEvent::ListenerClosed { reason: Err(error), .. } => return Err(setup(&error)),
            _ => {}
        }
    };
    let (tx, rx) = mpsc::channel::<Bytes>(QUEUE);
    chain.set_gossip(tx);
    info!(%listen, peer_id = %swarm.local_peer_id(), peers = dial.len(), "transaction gossip listening");
    let task = tokio::spawn(run(swarm, topic, dial, rx, chain, metrics));
    Ok((listen, task))
}

async fn run(
    mut swarm: Swarm<Behaviour>,
    topic: gossipsub::IdentTopic,
    dial: Vec<(PeerId, Multiaddr)>,
    mut outgoing: mpsc::Receiver<Bytes>,
    chain: Arc<Chain>,
    metrics: Arc<Metrics>,
) {
    // Admission recovers signatures: one worker thread does it off the swarm's
    // task, so gossip never takes more than one core from block validation.
    let (admit, admissions) = std::sync::mpsc::sync_channel::<Vec<Bytes>>(ADMISSION_QUEUE);
    let worker_chain = chain.clone();
    let spawned = std::thread::Builder::new().name("gossip-admission".into()).spawn(move || {
        for txs in admissions {
            for raw in txs {
                if let Err(e) = worker_chain.submit(&raw, crate::chain::TxOrigin::Gossip) {
                    debug!(error = %e, "gossiped transaction not admitted");
                }
            }
        }
    });
    if let Err(e) = spawned {
        warn!(error = %e, "cannot start the gossip admission thread: transactions from peers are ignored");
    }
    let mut redial = tokio::time::interval(Duration::from_secs(1));
    let mut flush = tokio::time::interval(BATCH_INTERVAL);
    let mut batch: Vec<Bytes> = Vec::new();
    loop {
        tokio::select! {
            _ = redial.tick() => {
                for (peer, addr) in &dial {
                    if !swarm.is_connected(peer)
                        && let Err(e) = swarm.dial(addr.clone())
                    {
                        debug!(%peer, error = %e, "gossip dial failed");
                    }
                }
            }
            Some(raw) = outgoing.recv() => {
                batch.push(raw);
                if batch.len() >= BATCH_MAX {
                    publish(&mut swarm, &topic, &mut batch, &metrics);
                }
            }
            _ = flush.tick() => {
                if !batch.is_empty() {
                    publish(&mut swarm, &topic, &mut batch, &metrics);
                }
            }
            event = swarm.select_next_some() => match event {
                SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message { propagation_source, message, .. })) => {
                    let Ok(txs) = <Vec<Bytes> as alloy_rlp::Decodable>::decode(&mut message.data.as_ref()) else {
                        warn!(peer = %propagation_source, "undecodable transaction batch from peer");
                        continue;
                    };
                    let count = txs.len() as u64;
                    metrics.gossip_received.add(count);
                    if admit.try_send(txs).is_err() {
                        metrics.gossip_dropped.add(count);
                        warn!(peer = %propagation_source, "admission queue full: dropping a gossiped batch");
                    }
                }
                SwarmEvent::IncomingConnectionError { send_back_addr, error, .. } => {
                    metrics.peers_refused.inc();
                    warn!(addr = %send_back_addr, error = %error, "refused gossip connection");
                }
                SwarmEvent::ConnectionEstablished { peer_id, .. } => debug!(%peer_id, "gossip peer connected"),
                SwarmEvent::ConnectionClosed { peer_id, .. } => debug!(%peer_id, "gossip peer disconnected"),
                _ => {}
            }
        }
    }
}

fn publish(swarm: &mut Swarm<Behaviour>, topic: &gossipsub::IdentTopic, batch: &mut Vec<Bytes>, metrics: &Metrics) {
    let txs = std::mem::take(batch);
    let count = txs.len() as u64;
    match swarm.behaviour_mut().gossipsub.publish(topic.clone(), alloy_rlp::encode(&txs)) {
        Ok(_) => metrics.gossip_sent.add(count),
        Err(e) => debug!(error = %e, txs = count, "transactions not gossiped (no peer yet)"),
    }
}
