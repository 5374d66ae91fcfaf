//! Transaction gossip between nodes: a libp2p (0.56, the version Malachite
//! uses) gossipsub swarm beside the consensus network.
//!
//! Transactions admitted from this node's clients are batched (up to
//! [`BATCH_MAX`] or every [`BATCH_INTERVAL`]) and published on one topic; a
//! batch received from a peer goes through the same admission checks as a
//! local submission (decode, signature, nonce, balance, permissions) before
//! gossipsub may relay it (manual validation): a batch that does not decode,
//! exceeds [`BATCH_MAX`], or carries a transaction whose signature or encoding
//! is bad is rejected, and a peer that sends [`MAX_INVALID_BATCHES`] of them is
//! disconnected and refused for [`PEER_BAN`]. Batches wait for admission in a
//! queue bounded in count and bytes; the admission thread survives a panic in
//! admission (counted, the batch dropped).
//!
//! Messages are not signed (gossipsub's anonymous mode): each connection is
//! authenticated by Noise, a peer is penalised for what it relays (the
//! propagation source, never a claimed author), and every transaction a batch
//! carries is signed by its sender and checked at admission. A message-level
//! signature would add an ed25519 verification for every copy of every batch
//! received — gossipsub checks it before it drops duplicates — and prove only
//! which node first published a batch, which nothing here uses. Messages that
//! do carry a signature (from an older node) are still checked (permissive
//! validation); an older node refuses this node's unsigned ones, so during a
//! rolling upgrade transactions reach the older nodes in proposals instead.
//!
//! Only allowed peers may connect ([`PeerGate`]): the validators of the next
//! heights (whose peer id is derived from their consensus key), the nodes on
//! the permissions module's node list and the operator's allowlist. Any other
//! peer's connection is denied when it is established, before a message is
//! read. The set is recomputed after every committed block: a peer added is
//! accepted, a peer removed is disconnected, without a restart.

use crate::chain::{Chain, SubmitError};
use crate::metrics::Metrics;
use crate::peers::PeerGate;
use alloy_primitives::{Bytes, keccak256};
use futures::StreamExt;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, allow_block_list, gossipsub, identity::Keypair};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

/// Most transactions in one gossip message.
pub const BATCH_MAX: usize = 2_000;
/// Longest a transaction waits before its batch is published.
pub const BATCH_INTERVAL: Duration = Duration::from_millis(20);
/// Transactions queued for gossip before new ones are dropped (they stay in the local pool).
pub const QUEUE: usize = 100_000;
/// Gossiped batches waiting for admission before new ones are dropped.
const ADMISSION_QUEUE: usize = 1_000;
/// Bytes of gossiped batches waiting for admission before new ones are dropped.
const ADMISSION_QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// Largest gossip message, bytes.
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// Invalid batches a peer may send before it is disconnected.
pub const MAX_INVALID_BATCHES: u32 = 3;
/// How long a peer that sent invalid batches stays refused.
pub const PEER_BAN: Duration = Duration::from_secs(60);
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
    /// Who may connect, as of the head.
    pub gate: Arc<PeerGate>,
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
        // Peers may be named by host (`/dns4/validator1/tcp/27656/p2p/…`), as in
        // the compose devnet, where a name resolves only once its container runs.
        .with_dns()
        .map_err(|e| setup(&e))?
        .with_behaviour(|_| {
            let config = gossipsub::ConfigBuilder::default()
                .max_transmit_size(MAX_MESSAGE_BYTES)
                .validation_mode(gossipsub::ValidationMode::Permissive)
                .validate_messages()
                .message_id_fn(|m: &gossipsub::Message| gossipsub::MessageId::from(keccak256(&m.data).to_vec()))
                .heartbeat_interval(Duration::from_millis(500))
                .build()
                .map_err(|e| e.to_string())?;
            let gossipsub = gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, config)
                .map_err(|e| e.to_string())?;
            Ok(Behaviour { allowed: Default::default(), gossipsub })
        })
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    for peer in config.gate.peers() {
        swarm.behaviour_mut().allowed.allow_peer(peer);
    }
    for (peer, _) in &dial {
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
    let task = tokio::spawn(run(swarm, topic, dial, rx, chain, config.gate, metrics));
    Ok((listen, task))
}

/// What a batch received from a peer is, before admission: its transactions,
/// or why it is refused outright.
fn screen(data: &[u8]) -> Result<Vec<Bytes>, &'static str> {
    // Exact: bytes after the list would let one batch travel under many message ids.
    let txs: Vec<Bytes> = alloy_rlp::decode_exact(data).map_err(|_| "undecodable batch")?;
    if txs.is_empty() {
        return Err("empty batch");
    }
    if txs.len() > BATCH_MAX {
        return Err("more transactions than a batch may carry");
    }
    Ok(txs)
}

/// What admission made of a batch: whether gossipsub may relay it.
fn verdict(outcomes: impl IntoIterator<Item = Result<(), SubmitError>>) -> gossipsub::MessageAcceptance {
    let mut useful = false;
    for outcome in outcomes {
        match outcome {
            Ok(()) => useful = true,
            // Bad encoding or signature: no honest node gossips that.
            Err(SubmitError::Decode(_)) => return gossipsub::MessageAcceptance::Reject,
            // Stale or refused by this pool's state (races between nodes): not relayed, not punished.
            Err(_) => {}
        }
    }
    if useful { gossipsub::MessageAcceptance::Accept } else { gossipsub::MessageAcceptance::Ignore }
}

/// A batch waiting for admission.
struct Pending {
    id: gossipsub::MessageId,
    source: PeerId,
    txs: Vec<Bytes>,
    bytes: usize,
}

/// Start the admission thread: it admits each batch (catching a panic, which
/// drops that batch and is counted) and reports a verdict per batch.
fn spawn_admission(
    chain: Arc<Chain>,
    metrics: Arc<Metrics>,
    queued_bytes: Arc<AtomicUsize>,
    verdicts: mpsc::Sender<(gossipsub::MessageId, PeerId, gossipsub::MessageAcceptance)>,
) -> std::io::Result<std::sync::mpsc::SyncSender<Pending>> {
    let (admit, admissions) = std::sync::mpsc::sync_channel::<Pending>(ADMISSION_QUEUE);
    std::thread::Builder::new().name("gossip-admission".into()).spawn(move || {
        for batch in admissions {
            let Pending { id, source, txs, bytes } = batch;
            let count = txs.len() as u64;
            let admitted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                verdict(txs.iter().map(|raw| {
                    let outcome = chain.submit(raw, crate::chain::TxOrigin::Gossip).map(|_| ());
                    if let Err(e) = &outcome {
                        debug!(error = %e, "gossiped transaction not admitted");
                    }
                    outcome
                }))
            }));
            queued_bytes.fetch_sub(bytes, Ordering::SeqCst);
            let acceptance = admitted.unwrap_or_else(|_| {
                metrics.gossip_dropped.add(count);
                error!(peer = %source, txs = count, "gossip admission panicked: batch dropped, admission goes on");
                gossipsub::MessageAcceptance::Ignore
            });
            if verdicts.blocking_send((id, source, acceptance)).is_err() {
                return;
            }
        }
    })?;
    Ok(admit)
}

async fn run(
    mut swarm: Swarm<Behaviour>,
    topic: gossipsub::IdentTopic,
    dial: Vec<(PeerId, Multiaddr)>,
    mut outgoing: mpsc::Receiver<Bytes>,
    chain: Arc<Chain>,
    gate: Arc<PeerGate>,
    metrics: Arc<Metrics>,
) {
    let mut commits = chain.subscribe_blocks();
    // Admission recovers signatures: one worker thread does it off the swarm's
    // task, so gossip never takes more than one core from block validation.
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    let (verdict_tx, mut verdicts) = mpsc::channel(ADMISSION_QUEUE);
    let admit = match spawn_admission(chain.clone(), metrics.clone(), queued_bytes.clone(), verdict_tx) {
        Ok(admit) => Some(admit),
        Err(e) => {
            warn!(error = %e, "cannot start the gossip admission thread: transactions from peers are ignored");
            None
        }
    };
    let mut invalid: HashMap<PeerId, u32> = HashMap::new();
    let mut banned: Vec<(PeerId, tokio::time::Instant)> = Vec::new();
    let mut redial = tokio::time::interval(Duration::from_secs(1));
    let mut flush = tokio::time::interval(BATCH_INTERVAL);
    let mut batch: Vec<Bytes> = Vec::new();
    loop {
        tokio::select! {
            _ = redial.tick() => {
                let now = tokio::time::Instant::now();
                banned.retain(|(peer, until)| {
                    if *until > now {
                        return true;
                    }
                    if gate.contains(peer) {
                        info!(%peer, "gossip peer allowed again after its ban");
                        swarm.behaviour_mut().allowed.allow_peer(*peer);
                    }
                    invalid.remove(peer);
                    false
                });
                for (peer, addr) in &dial {
                    if !swarm.is_connected(peer)
                        && gate.contains(peer)
                        && !banned.iter().any(|(b, _)| b == peer)
                        && let Err(e) = swarm.dial(addr.clone())
                    {
                        debug!(%peer, error = %e, "gossip dial failed");
                    }
                }
            }
            committed = commits.recv() => {
                // Lagging behind commits only means several at once: refresh all the same.
                if !matches!(committed, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                    let changes = gate.refresh(&chain);
                    for peer in changes.added {
                        info!(%peer, "peer allowed from now on (validator set or node list)");
                        if !banned.iter().any(|(b, _)| *b == peer) {
                            swarm.behaviour_mut().allowed.allow_peer(peer);
                        }
                    }
                    for peer in changes.removed {
                        warn!(%peer, "peer no longer allowed (validator set or node list): disconnecting");
                        metrics.peers_refused.inc();
                        swarm.behaviour_mut().allowed.disallow_peer(peer);
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
            Some((id, source, acceptance)) = verdicts.recv() => {
                let rejected = matches!(acceptance, gossipsub::MessageAcceptance::Reject);
                swarm.behaviour_mut().gossipsub.report_message_validation_result(&id, &source, acceptance);
                if rejected {
                    penalise(&mut swarm, &mut invalid, &mut banned, source, "a batch with an invalid transaction", &metrics);
                }
            }
            event = swarm.select_next_some() => match event {
                SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message { propagation_source, message_id, message })) => {
                    let txs = match screen(&message.data) {
                        Ok(txs) => txs,
                        Err(reason) => {
                            swarm.behaviour_mut().gossipsub.report_message_validation_result(
                                &message_id,
                                &propagation_source,
                                gossipsub::MessageAcceptance::Reject,
                            );
                            penalise(&mut swarm, &mut invalid, &mut banned, propagation_source, reason, &metrics);
                            continue;
                        }
                    };
                    let count = txs.len() as u64;
                    let bytes = message.data.len();
                    metrics.gossip_received.add(count);
                    let room = queued_bytes.load(Ordering::SeqCst).saturating_add(bytes) <= ADMISSION_QUEUE_BYTES;
                    let pending = Pending { id: message_id.clone(), source: propagation_source, txs, bytes };
                    let queued = room
                        && admit.as_ref().is_some_and(|admit| {
                            queued_bytes.fetch_add(bytes, Ordering::SeqCst);
                            let sent = admit.try_send(pending).is_ok();
                            if !sent {
                                queued_bytes.fetch_sub(bytes, Ordering::SeqCst);
                            }
                            sent
                        });
                    if !queued {
                        metrics.gossip_dropped.add(count);
                        warn!(peer = %propagation_source, "admission queue full: dropping a gossiped batch");
                        swarm.behaviour_mut().gossipsub.report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            gossipsub::MessageAcceptance::Ignore,
                        );
                    }
                }
                SwarmEvent::IncomingConnectionError { send_back_addr, error, .. } => {
                    metrics.peers_refused.inc();
                    warn!(addr = %send_back_addr, error = %error, "refused gossip connection");
                }
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    metrics.gossip_peers.set(swarm.connected_peers().count() as u64);
                    debug!(%peer_id, "gossip peer connected");
                }
                SwarmEvent::ConnectionClosed { peer_id, .. } => {
                    metrics.gossip_peers.set(swarm.connected_peers().count() as u64);
                    debug!(%peer_id, "gossip peer disconnected");
                }
                _ => {}
            }
        }
    }
}

/// Count an invalid batch from `peer`; at [`MAX_INVALID_BATCHES`], disconnect
/// it and refuse it for [`PEER_BAN`].
fn penalise(
    swarm: &mut Swarm<Behaviour>,
    invalid: &mut HashMap<PeerId, u32>,
    banned: &mut Vec<(PeerId, tokio::time::Instant)>,
    peer: PeerId,
    reason: &str,
    metrics: &Metrics,
) {
    let count = invalid.entry(peer).or_insert(0);
    *count = count.saturating_add(1);
    warn!(%peer, reason, invalid = *count, "invalid gossip batch from peer");
    if *count >= MAX_INVALID_BATCHES && !banned.iter().any(|(b, _)| *b == peer) {
        warn!(%peer, ban = ?PEER_BAN, "disconnecting a gossip peer that sent invalid batches");
        metrics.peers_refused.inc();
        swarm.behaviour_mut().allowed.disallow_peer(peer);
        banned.push((peer, tokio::time::Instant::now() + PEER_BAN));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mempool::PoolError;
    use dsec_sdk::tx::TxDecodeError;

    #[test]
    fn batches_are_screened_before_admission() {
        let txs: Vec<Bytes> = vec![Bytes::from_static(&[1, 2, 3])];
        assert_eq!(screen(&alloy_rlp::encode(&txs)), Ok(txs.clone()));
        assert_eq!(screen(b"\xff\x00garbage"), Err("undecodable batch"));
        let mut trailing = alloy_rlp::encode(&txs);
        trailing.push(0);
        assert_eq!(screen(&trailing), Err("undecodable batch"), "bytes after the batch");
        assert_eq!(screen(&alloy_rlp::encode(Vec::<Bytes>::new())), Err("empty batch"));
        let too_many: Vec<Bytes> = (0..=BATCH_MAX).map(|_| Bytes::from_static(&[0])).collect();
        assert_eq!(screen(&alloy_rlp::encode(&too_many)), Err("more transactions than a batch may carry"));
    }

    #[test]
    fn a_batch_is_relayed_only_if_admission_found_it_sound() {
        use gossipsub::MessageAcceptance::{Accept, Ignore, Reject};
        let admitted = || Ok(());
        let stale = || Err(SubmitError::Pool(PoolError::AlreadyKnown));
        let forged = || Err(SubmitError::Decode(TxDecodeError::InvalidSignature));
        assert!(matches!(verdict([admitted(), stale()]), Accept));
        assert!(matches!(verdict([stale(), stale()]), Ignore), "nothing new: not relayed, not punished");
        assert!(matches!(verdict([admitted(), forged()]), Reject), "one forged transaction taints the batch");
    }
}
