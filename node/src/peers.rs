//! Who may connect to this node's p2p swarms, as of the head: the validators
//! of the next heights (their peer id follows from their consensus key), the
//! non-validator nodes on the permissions module's node list, and the
//! operator's own `[p2p] allowlist` for this node. Recomputed after every
//! committed block, so a validator added by governance or a node added to the
//! list is accepted without a restart, and one removed is disconnected from
//! transaction gossip and its consensus messages refused.

use crate::chain::Chain;
use dsec_consensus::bft::{AllowedPeers, peer_id_of};
use libp2p::PeerId;
use std::collections::HashSet;
use std::sync::Arc;

/// Heights after the head whose validators are allowed: a change takes effect
/// at least two heights after the block that schedules it, so the next set is
/// known (and accepted) before it signs.
const LOOKAHEAD: u64 = 2;

/// The peers allowed now, shared by the gossip swarm and consensus.
#[derive(Debug)]
pub struct PeerGate {
    fixed: HashSet<PeerId>,
    allowed: AllowedPeers,
}

/// What a refresh changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GateChanges {
    /// Peers allowed now that were not before.
    pub added: Vec<PeerId>,
    /// Peers no longer allowed.
    pub removed: Vec<PeerId>,
}

impl PeerGate {
    /// A gate that always allows `fixed` (the operator's allowlist for this
    /// node) and otherwise follows `chain`'s committed state.
    pub fn new(fixed: impl IntoIterator<Item = PeerId>, chain: &Chain) -> Arc<Self> {
        let gate = Self { fixed: fixed.into_iter().collect(), allowed: AllowedPeers::default() };
        gate.allowed.replace(gate.compute(chain));
        Arc::new(gate)
    }

    /// The allowed set, for consensus to read.
    pub fn shared(&self) -> AllowedPeers {
        self.allowed.clone()
    }

    /// Whether `peer` is allowed now.
    pub fn contains(&self, peer: &PeerId) -> bool {
        self.allowed.contains(peer)
    }

    /// Every peer allowed now.
    pub fn peers(&self) -> HashSet<PeerId> {
        self.allowed.snapshot()
    }

    fn compute(&self, chain: &Chain) -> HashSet<PeerId> {
        let next = chain.head().header.number.saturating_add(1);
        let mut set = self.fixed.clone();
        for height in next..=next.saturating_add(LOOKAHEAD) {
            set.extend(chain.validators_at(height).validators.iter().filter_map(|v| peer_id_of(&v.public_key.0)));
        }
        set.extend(chain.permitted_nodes().iter().filter_map(|p| p.parse::<PeerId>().ok()));
        set
    }

    /// Recompute the set from the head; returns what changed.
    pub fn refresh(&self, chain: &Chain) -> GateChanges {
        let (added, removed) = self.allowed.replace(self.compute(chain));
        GateChanges { added, removed }
    }
}
