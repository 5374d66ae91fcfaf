//! The validator-set schedule: which validator set signs each height, from the
//! genesis set and the changes the governance module recorded in committed
//! state. Loaded at start-up and after every commit; read by consensus, by
//! commit-certificate checks and by the header rule (validator hashes).

use super::{Chain, ChainError};
use dsec_evm::db::StateReader;
use dsec_sdk::validators::ValidatorSet;
use std::collections::BTreeMap;
use tracing::info;

/// Validator sets by the first height they sign (the genesis set at 0), as
/// scheduled by the governance module in committed state.
#[derive(Debug)]
pub(super) struct Schedule {
    pub(super) sets: BTreeMap<u64, ValidatorSet>,
    /// Number of governance changes loaded.
    changes: u64,
}

impl Schedule {
    /// A schedule with only the genesis set, signing from height 0, and no change loaded yet.
    pub(super) fn new(genesis_set: ValidatorSet) -> Self {
        Self { sets: BTreeMap::from([(0, genesis_set)]), changes: 0 }
    }
}

impl Chain {
    /// Load governance changes committed since the last call (all of them at start-up).
    pub(super) fn load_schedule(&self) -> Result<(), ChainError> {
        use dsec_chaincode::validator_set::{ADDRESS, scheduled_changes};
        let from = self.schedule.read().changes + 1;
        let state = self.store.head_state();
        let mut read = |slot| state.storage(&ADDRESS, &slot).map_err(|e| e.to_string());
        let changes = scheduled_changes(&mut read, from).map_err(ChainError::Schedule)?;
        let mut schedule = self.schedule.write();
        for change in changes {
            info!(
                change = change.number,
                activation = change.activation_height,
                validators = change.validators.validators.len(),
                power = change.validators.total_power(),
                hash = %change.validators.hash(),
                "validator set change scheduled"
            );
            schedule.sets.insert(change.activation_height, change.validators);
            schedule.changes = change.number;
        }
        Ok(())
    }

    /// The validator set that signs `height`, as scheduled in committed state.
    /// Final for every height up to two after the head: a change takes effect
    /// at least two heights after the block that includes it.
    pub fn validators_at(&self, height: u64) -> ValidatorSet {
        self.schedule.read().sets.range(..=height).next_back().map(|(_, set)| set.clone()).unwrap_or_default()
    }
}
