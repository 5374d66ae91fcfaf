//! The permissions in force: the permissions module's state as of the head,
//! read at start-up and after every block that changed it, and the access
//! rules it sets for the next block's transactions. A change evicts the
//! pooled transactions of senders it refused.

use super::{Chain, ChainError};
use dsec_chaincode::permissions::{ADDRESS, PermissionState, read_state};
use dsec_evm::AccessRules;
use dsec_evm::db::StateReader;
use dsec_evm::executor::ChainConfig;
use std::sync::Arc;
use tracing::info;

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
        self.genesis.chaincode.iter().filter(|(_, m)| m.enabled).map(|(name, _)| name.clone()).collect()
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
        let in_force = self.read_permissions(&self.store.head_state())?;
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
            info!(changes = nonce, evicted = evicted.len(), "permissions in force from the next block");
        }
        Ok(())
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
