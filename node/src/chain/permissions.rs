//! The permissions in force: the permissions module's state as of the head,
//! read at start-up and after every block that changed it, and the access
//! rules it sets for the next block's transactions. A change evicts the
//! pooled transactions of senders it refused.

use super::{Chain, ChainError};
use dsec_chaincode::permissions::{ADDRESS, PermissionState, read_state, read_summary};
use dsec_evm::AccessRules;
use dsec_evm::db::StateReader;
use dsec_evm::executor::ChainConfig;
use dsec_sdk::block::StoredReceipt;
use std::sync::Arc;
use std::time::Instant;
use tracing::{info, warn};

/// The permissions module's state as of a block, and the rules it sets.
#[derive(Debug, Clone, Default)]
pub(super) struct InForce {
    /// The module's state.
    pub(super) state: PermissionState,
    /// The account and deployer rules from that state.
    pub(super) access: Arc<AccessRules>,
}

impl Chain {
    /// The names of the chaincode modules the genesis enables (whose administrators the module keeps).
    pub(super) fn module_names(&self) -> Vec<String> {
        self.genesis.enabled_chaincode().map(|(name, _)| name.to_string()).collect()
    }

    /// Read the permissions module from `state`.
    fn read_permissions(&self, state: &impl StateReader) -> Result<InForce, ChainError> {
        let mut read = |slot| state.storage(&ADDRESS, &slot).map_err(|e| e.to_string());
        let state = read_state(&mut read, &self.module_names()).map_err(ChainError::Permissions)?;
        Ok(InForce { access: Arc::new(AccessRules::from_permissions(&state)), state })
    }

    /// Read the permissions as of the head and put them in force; evict the
    /// pooled transactions of senders they refuse.
    pub(super) fn load_permissions(&self) -> Result<(), ChainError> {
        let started = Instant::now();
        let state = self.read_permissions(&self.store.head_state())?;
        self.put_in_force(state, "read whole", started);
        Ok(())
    }

    /// After a block that touched the permissions module: follow its events
    /// (`receipts` are the block's) from the state in force, check the result
    /// against a dozen slots of committed storage, and read the whole module
    /// only if they disagree. A change to a list of 10,000 accounts costs
    /// microseconds, not a read of 10,000 slots.
    pub(super) fn follow_permissions(&self, receipts: &[StoredReceipt]) -> Result<(), ChainError> {
        let started = Instant::now();
        let mut state = self.permissions.read().state.clone();
        state.apply_events(
            receipts
                .iter()
                .flat_map(|r| r.logs.iter())
                .filter(|log| log.address == ADDRESS)
                .map(|log| (log.data.topics(), log.data.data.as_ref())),
        );
        let head = self.store.head_state();
        let mut read = |slot| head.storage(&ADDRESS, &slot).map_err(|e| e.to_string());
        let summary = read_summary(&mut read, &self.module_names()).map_err(ChainError::Permissions)?;
        if summary != state.summary() {
            warn!(
                followed = ?state.summary(),
                stored = ?summary,
                "the permissions module's events and storage disagree: reading it whole"
            );
            return self.load_permissions();
        }
        let access = Arc::new(AccessRules::from_permissions(&state));
        self.put_in_force(InForce { state, access }, "followed its events", started);
        Ok(())
    }

    /// Put `in_force` in force; if it differs from what was, evict the pooled
    /// transactions of senders it refuses and say so.
    fn put_in_force(&self, in_force: InForce, how: &'static str, started: Instant) {
        let access = in_force.access.clone();
        let nonce = in_force.state.nonce;
        let changed = {
            let mut current = self.permissions.write();
            let changed = current.state != in_force.state;
            *current = in_force;
            changed
        };
        if changed {
            let evicted = self.mempool.lock().evict_senders(|sender| access.may_send(sender));
            info!(
                changes = nonce,
                evicted = evicted.len(),
                how,
                took_us = started.elapsed().as_micros() as u64,
                "permissions in force from the next block"
            );
        }
    }

    /// The permissions module's state as of the head.
    pub fn permissions(&self) -> PermissionState {
        self.permissions.read().state.clone()
    }

    /// The peer ids on the permissions module's node list as of the head.
    pub fn permitted_nodes(&self) -> Vec<String> {
        self.permissions.read().state.nodes.clone()
    }

    /// Execution settings for the block after the head: the chain's settings
    /// with the access rules as of the head.
    pub fn config(&self) -> ChainConfig {
        ChainConfig { access: self.permissions.read().access.clone(), ..self.config.clone() }
    }

    /// Execution settings for a block this node builds: [`Chain::config`],
    /// or open rules under the test-only fault injection.
    pub(super) fn build_config(&self) -> ChainConfig {
        if self.options.byzantine_ignore_permissions {
            return ChainConfig { access: Arc::new(AccessRules::open()), ..self.config.clone() };
        }
        self.config()
    }

    /// Execution settings for a block following block `parent`: the access
    /// rules as of `parent` (read from its state when it is not the head).
    pub fn config_after(&self, parent: u64) -> Result<ChainConfig, ChainError> {
        if parent >= self.head().header.number {
            return Ok(self.config());
        }
        let state = self.store.state_at(parent)?;
        Ok(ChainConfig { access: self.read_permissions(&state)?.access, ..self.config.clone() })
    }
}
