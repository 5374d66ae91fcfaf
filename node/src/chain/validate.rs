//! Validation and commit of blocks: a block proposed by another validator (or
//! synced) is checked against the head and re-executed under the same rules
//! block production follows, and a decided block — built or validated here —
//! is written to the store with its commit certificate, which moves the head,
//! the mempool and the validator-set schedule on.

use super::{Chain, ChainError, CommittedEvent, Executed, Head, now_ms};
use crate::store::BlockWrite;
use alloy_primitives::B256;
use dsec_consensus::Verdict;
use dsec_evm::executor::{BlockExecutor, TxExecError};
use dsec_sdk::block::{Block, CommitCertificate};
use dsec_sdk::tx::RecoveredTx;
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, info, info_span};

impl Chain {
    /// Check `block` against the head and re-execute it; a valid block's
    /// execution is kept for the commit.
    pub(super) fn validate(&self, block: &Block) -> Result<Verdict, ChainError> {
        let header = &block.header;
        let span = info_span!("validate", height = header.number);
        let _enter = span.enter();
        let started = Instant::now();
        let hash = header.hash_slow();
        if self.executed.lock().contains_key(&hash) {
            return Ok(Verdict::Valid);
        }
        let parent = self.head();
        let expect = |ok: bool, what: &str| if ok { None } else { Some(Verdict::Invalid(what.to_string())) };
        let checks = [
            expect(header.number == parent.header.number + 1, "height does not follow the head"),
            expect(header.parent_hash == parent.hash, "parent hash is not the head"),
            expect(header.timestamp_ms >= parent.header.timestamp_ms, "timestamp before the parent's"),
            expect(header.timestamp_ms <= now_ms() + 15_000, "timestamp more than 15 s in the future"),
            expect(header.gas_limit == parent.header.gas_limit, "gas limit changed"),
            expect(header.base_fee_per_gas == self.next_base_fee(&parent.header), "wrong base fee"),
        ];
        if let Some(verdict) = checks.into_iter().flatten().next() {
            return Ok(verdict);
        }
        // The checks above tie the header's environment to the head (its parent
        // hash is the head's hash), so the header's own context is the one the
        // block must have been built in.
        let ctx = self.block_context_of(header);
        let mut exec = BlockExecutor::new(self.store.head_state(), &self.config(), &ctx);
        let mut transactions = Vec::with_capacity(block.body.transactions.len());
        // Transactions this node already admitted were decoded and their sender
        // recovered then: re-use that work (the hash covers the signed bytes).
        let hashes: Vec<B256> = block.body.transactions.iter().map(|t| alloy_primitives::keccak256(&t.raw)).collect();
        let mut known: Vec<Option<RecoveredTx>> = {
            let pool = self.mempool.lock();
            hashes.iter().map(|hash| pool.get(hash).map(|p| p.tx.clone())).collect()
        };
        // The rest: those recovered here for an earlier proposal are kept by
        // hash; the others were not seen yet, so recover them, from the last
        // one back, looking in the pool again before each. Their gossip is
        // likely being admitted at this moment, in block order, on the gossip
        // thread; working from the other end, the two meet instead of
        // recovering the same transactions twice.
        for (i, (slot, hash)) in known.iter_mut().zip(&hashes).enumerate().rev() {
            if slot.is_some() {
                continue;
            }
            let pooled = self.mempool.lock().get(hash).map(|p| p.tx.clone());
            if let Some(tx) = pooled.or_else(|| self.recovered_senders.lock().get(hash)) {
                *slot = Some(tx);
                continue;
            }
            self.metrics.validate_recovered.inc();
            match RecoveredTx::decode(&block.body.transactions[i].raw) {
                Ok(tx) => {
                    self.recovered_senders.lock().insert(tx.hash, tx.clone());
                    *slot = Some(tx);
                }
                Err(e) => return Ok(Verdict::Invalid(format!("transaction {i}: {e}"))),
            }
        }
        for ((i, body_tx), known) in block.body.transactions.iter().enumerate().zip(known) {
            let decoded = known.ok_or_else(|| format!("transaction {i}: not recovered"));
            let tx = match decoded {
                Ok(tx) if tx.sender == body_tx.sender => tx,
                Ok(_) => return Ok(Verdict::Invalid(format!("transaction {i}: sender does not match the signature"))),
                Err(e) => return Ok(Verdict::Invalid(e)),
            };
            match exec.execute(&tx) {
                Ok(_) => transactions.push((tx.hash, body_tx.clone())),
                Err(TxExecError::Invalid(e)) => return Ok(Verdict::Invalid(format!("transaction {i}: {e}"))),
                Err(TxExecError::Fatal(e)) => return Err(e.into()),
            }
        }
        let out = exec.finish();
        let expected = self.seal_header(&parent, &ctx, header.timestamp_ms, header.proposer, &transactions, &out);
        if &expected != header {
            return Ok(Verdict::Invalid(format!(
                "re-execution differs: state root {} (header {}), receipts root {} (header {}), gas {} (header {})",
                expected.state_root,
                header.state_root,
                expected.receipts_root,
                header.receipts_root,
                expected.gas_used,
                header.gas_used
            )));
        }
        self.executed.lock().insert(
            hash,
            Executed {
                header: header.clone(),
                transactions,
                receipts: out.receipts,
                changes: out.changes,
                since: started,
            },
        );
        self.metrics.block_validate.observe_duration(started.elapsed());
        debug!(txs = block.body.transactions.len(), ms = started.elapsed().as_millis() as u64, "validated block");
        Ok(Verdict::Valid)
    }

    /// Write the decided block `block_hash`, built or validated here, with its
    /// `certificate`; then move the head, the schedule and the mempool on and
    /// announce the block.
    pub(super) fn commit(&self, block_hash: B256, certificate: CommitCertificate) -> Result<(), ChainError> {
        let started = Instant::now();
        let executed = self.executed.lock().remove(&block_hash).ok_or(ChainError::UnknownBlock(block_hash))?;
        let span = info_span!("commit", height = executed.header.number);
        let _enter = span.enter();
        self.validators_at(executed.header.number).verify_certificate(
            &self.genesis_hash,
            executed.header.number,
            &block_hash,
            &certificate,
        )?;
        self.store.commit_block(&BlockWrite {
            header: &executed.header,
            hash: block_hash,
            transactions: &executed.transactions,
            receipts: &executed.receipts,
            changes: &executed.changes,
            certificate: Some(&certificate),
        })?;
        let parent_timestamp_ms =
            std::mem::replace(&mut *self.head.write(), Head { header: executed.header.clone(), hash: block_hash })
                .header
                .timestamp_ms;
        self.load_schedule()?;
        if executed.changes.accounts.contains_key(&dsec_chaincode::permissions::ADDRESS) {
            self.follow_permissions(&executed.receipts)?;
        }
        // Other candidates for this height are dead now.
        self.executed.lock().retain(|_, e| e.header.number > executed.header.number);
        let nonces = executed
            .changes
            .accounts
            .iter()
            .map(|(address, change)| (*address, change.info.map(|i| i.nonce).unwrap_or(0)));
        self.mempool.lock().on_block(nonces);
        {
            let mut committed = self.recently_committed.lock();
            for (hash, _) in &executed.transactions {
                committed.insert(*hash, ());
            }
        }
        let tx_count = executed.transactions.len();
        self.record_commit(&executed, parent_timestamp_ms, &certificate, started);
        info!(
            height = executed.header.number,
            txs = tx_count,
            gas = executed.header.gas_used,
            commit_ms = started.elapsed().as_millis() as u64,
            hash = %block_hash,
            "committed block"
        );
        let event = CommittedEvent {
            header: executed.header,
            hash: block_hash,
            tx_hashes: executed.transactions.iter().map(|(h, _)| *h).collect(),
        };
        let _ = self.blocks.send(Arc::new(event));
        Ok(())
    }
}

impl Chain {
    /// The metrics of a commit: block counts and times, the decided round,
    /// who signed, the next set, the mempool.
    fn record_commit(
        &self,
        executed: &Executed,
        parent_timestamp_ms: u64,
        certificate: &CommitCertificate,
        started: Instant,
    ) {
        let m = &self.metrics;
        let header = &executed.header;
        m.head.set(header.number);
        m.blocks.inc();
        m.txs_committed.add(executed.transactions.len() as u64);
        m.gas_used.add(header.gas_used);
        m.block_commit.observe_duration(started.elapsed());
        m.block_transactions.observe(executed.transactions.len() as f64);
        m.block_interval.observe(header.timestamp_ms.saturating_sub(parent_timestamp_ms) as f64 / 1000.0);
        m.decision.observe_duration(executed.since.elapsed());
        m.commit_lag.set((now_ms() as f64 - header.timestamp_ms as f64) / 1000.0);
        m.decided_round.set(u64::from(certificate.round));
        if certificate.round > 0 {
            m.late_decisions.inc();
        }
        let next = self.validators_at(header.number.saturating_add(1));
        m.validator_set_size.set(next.validators.len() as u64);
        m.validator_set_power.set(next.total_power());
        {
            let mut signed = m.validator_signed.lock();
            // Only the members of the next set are tracked: a validator that left drops out.
            signed.retain(|a, _| next.get(a).is_some());
            for v in &next.validators {
                signed.entry(v.address).or_insert(0);
            }
            for s in &certificate.signatures {
                if let Some(height) = signed.get_mut(&s.validator) {
                    *height = header.number;
                }
            }
        }
        self.record_mempool_metrics();
    }
}
