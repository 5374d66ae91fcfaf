//! The chain as consensus sees it: the [`Application`] interface through which
//! the dev sealer and the BFT engine ask for blocks to propose, have proposals
//! validated, commit decided blocks and keep proposals and evidence. Each
//! method delegates to the chain's concern that does the work.

use super::{Chain, ChainError};
use alloy_primitives::{Address, B256};
use dsec_consensus::{Application, EvidenceRecord, ProposedBlock, Verdict};
use dsec_sdk::block::{Block, CommitCertificate};
use dsec_sdk::validators::ValidatorSet;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

impl Application for Chain {
    type Error = ChainError;

    fn last_committed(&self) -> (u64, B256) {
        let head = self.head.read();
        (head.header.number, head.hash)
    }

    fn validator_set(&self, height: u64) -> Result<ValidatorSet, ChainError> {
        Ok(self.validators_at(height))
    }

    fn chain_hash(&self) -> B256 {
        self.genesis_hash
    }

    fn build_block(&self, height: u64, proposer: Address, deadline: Instant) -> Result<ProposedBlock, ChainError> {
        self.build(height, proposer, deadline)
    }

    fn validate_block(&self, block: &Block) -> Result<Verdict, ChainError> {
        self.validate(block)
    }

    fn commit_block(&self, block_hash: B256, certificate: CommitCertificate) -> Result<(), ChainError> {
        self.commit(block_hash, certificate)
    }

    fn has_ready_transactions(&self) -> bool {
        self.mempool.lock().has_ready()
    }

    fn tx_notify(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    fn knows_block(&self, hash: &B256) -> bool {
        self.executed.lock().contains_key(hash)
    }

    fn save_proposal(&self, height: u64, round: u32, block: &Block) -> Result<(), ChainError> {
        Ok(self.store.save_proposal(height, round, &block.header.hash_slow(), block)?)
    }

    fn proposals(&self, height: u64) -> Result<Vec<(u32, Block)>, ChainError> {
        Ok(self.store.proposals(height)?)
    }

    fn decided_block(&self, height: u64) -> Result<Option<(Block, CommitCertificate)>, ChainError> {
        let Some(block) = self.store.block(height)? else { return Ok(None) };
        Ok(self.store.certificate(height)?.map(|cert| (block, cert)))
    }

    fn earliest_decided(&self) -> u64 {
        1
    }

    fn record_evidence(&self, height: u64, evidence: Vec<EvidenceRecord>) -> Result<(), ChainError> {
        self.metrics.evidence.add(evidence.len() as u64);
        Ok(self.store.add_evidence(height, &evidence)?)
    }
}
