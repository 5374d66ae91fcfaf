//! Block production and the rules a block's environment and header follow:
//! the base fee after a parent, the EVM environment ([`BlockContext`]) of a
//! block, the sealed header, and the building of a proposal from the mempool.
//! Validation re-applies the same rules ([`Chain::block_context_of`],
//! `seal_header`) so that a block built here and re-executed elsewhere agree
//! bit for bit.

use super::{Chain, ChainError, Executed, Head, now_ms};
use alloy::eips::eip1559::{BaseFeeParams, calc_next_block_base_fee};
use alloy_primitives::{Address, B256};
use dsec_consensus::ProposedBlock;
use dsec_evm::InvalidTx;
use dsec_evm::executor::{BlockContext, BlockExecutor, TxExecError, receipts_root, transactions_root};
use dsec_sdk::block::{Block, Body, BodyTx, Header};
use dsec_sdk::state::next_state_root;
use std::time::Instant;
use tracing::{debug, info_span};

impl Chain {
    /// The base fee of the block after `parent`.
    pub fn next_base_fee(&self, parent: &Header) -> u64 {
        if !self.genesis.fees.eip1559 {
            return 0;
        }
        if parent.number == 0 {
            return self.genesis.initial_base_fee();
        }
        let next = calc_next_block_base_fee(
            parent.gas_used,
            parent.gas_limit,
            parent.base_fee_per_gas,
            BaseFeeParams::ethereum(),
        );
        next.max(self.genesis.fees.min_base_fee)
    }

    /// The EVM environment of the block after `parent`, before it has a header:
    /// what a block built on `parent` at `timestamp_ms` executes in.
    pub fn next_block_context(
        &self,
        parent: &Header,
        parent_hash: B256,
        timestamp_ms: u64,
        beneficiary: Address,
    ) -> BlockContext {
        BlockContext {
            number: parent.number + 1,
            timestamp_secs: timestamp_ms / 1000,
            beneficiary,
            gas_limit: parent.gas_limit,
            base_fee: self.next_base_fee(parent),
            prevrandao: parent_hash,
        }
    }

    /// The EVM environment of block `header`, read from the header itself: what
    /// validation re-executes a proposed block in, and what `eth_call` uses at a block.
    pub fn block_context_of(&self, header: &Header) -> BlockContext {
        BlockContext {
            number: header.number,
            timestamp_secs: header.timestamp_secs(),
            beneficiary: header.beneficiary,
            gas_limit: header.gas_limit,
            base_fee: header.base_fee_per_gas,
            prevrandao: header.parent_hash,
        }
    }

    /// The header of a block on `parent` executed in `ctx` with output `out`.
    pub(super) fn seal_header(
        &self,
        parent: &Head,
        ctx: &BlockContext,
        timestamp_ms: u64,
        proposer: Address,
        transactions: &[(B256, BodyTx)],
        out: &dsec_evm::BlockOutput,
    ) -> Header {
        let validators_hash = self.validators_at(ctx.number).hash();
        Header {
            parent_hash: parent.hash,
            number: ctx.number,
            timestamp_ms,
            proposer,
            beneficiary: ctx.beneficiary,
            gas_limit: ctx.gas_limit,
            gas_used: out.gas_used,
            base_fee_per_gas: ctx.base_fee,
            transactions_root: transactions_root(transactions.iter().map(|(_, t)| t.raw.as_ref())),
            receipts_root: receipts_root(&out.receipts),
            logs_bloom: out.logs_bloom,
            state_root: next_state_root(&parent.header.state_root, &out.changes),
            validators_hash,
            next_validators_hash: self.validators_at(ctx.number + 1).hash(),
        }
    }

    /// Build the block at `height` on the head from the mempool's ready
    /// transactions until the block is full or `deadline` passes, and keep its
    /// execution for the commit.
    pub(super) fn build(&self, height: u64, proposer: Address, deadline: Instant) -> Result<ProposedBlock, ChainError> {
        let span = info_span!("build", height);
        let _enter = span.enter();
        let started = Instant::now();
        let parent = self.head();
        if height != parent.header.number + 1 {
            return Err(ChainError::WrongHeight { requested: height, head: parent.header.number });
        }
        let timestamp_ms = now_ms().max(parent.header.timestamp_ms);
        let ctx = self.next_block_context(&parent.header, parent.hash, timestamp_ms, self.options.beneficiary);
        let groups = self.mempool.lock().ready(ctx.base_fee);
        let mut exec = BlockExecutor::new(self.store.head_state(), &self.build_config(), &ctx);
        let mut included: Vec<(B256, BodyTx)> = Vec::new();
        let mut bytes = 0usize;
        let mut invalid: Vec<(B256, InvalidTx)> = Vec::new();
        'groups: for group in groups {
            for pooled in group {
                if included.len() >= self.options.max_block_transactions
                    || exec.remaining_gas() < 21_000
                    || Instant::now() >= deadline
                {
                    break 'groups;
                }
                let tx = &pooled.tx;
                if tx.gas_limit() > exec.remaining_gas()
                    || bytes.saturating_add(tx.raw.len()) > self.options.max_block_bytes
                {
                    continue 'groups;
                }
                match exec.execute(tx) {
                    Ok(_) => {
                        bytes += tx.raw.len();
                        included.push((tx.hash, BodyTx { sender: tx.sender, raw: tx.raw.clone() }))
                    }
                    Err(TxExecError::Invalid(reason)) => {
                        invalid.push((tx.hash, reason));
                        continue 'groups;
                    }
                    Err(TxExecError::Fatal(e)) => return Err(e.into()),
                }
            }
        }
        if !invalid.is_empty() {
            let mut pool = self.mempool.lock();
            for (hash, reason) in &invalid {
                // A fee cap below the base fee may become valid when the base fee falls;
                // every other reason is permanent at this state: drop the transaction
                // and the later nonces of its sender that depend on it.
                if !matches!(reason, InvalidTx::FeeCapTooLow { .. }) {
                    debug!(%hash, %reason, "dropping transaction that cannot execute");
                    pool.remove_with_descendants(hash);
                }
            }
        }
        let out = exec.finish();
        let header = self.seal_header(&parent, &ctx, timestamp_ms, proposer, &included, &out);
        let hash = header.hash_slow();
        let block = Block {
            header: header.clone(),
            body: Body { transactions: included.iter().map(|(_, t)| t.clone()).collect() },
        };
        self.metrics.block_build.observe_duration(started.elapsed());
        debug!(txs = included.len(), gas = out.gas_used, ms = started.elapsed().as_millis() as u64, "built block");
        self.executed.lock().insert(
            hash,
            Executed { header, transactions: included, receipts: out.receipts, changes: out.changes, since: started },
        );
        Ok(ProposedBlock { block, hash })
    }
}

#[cfg(test)]
mod tests {
    use crate::chain::tests::{open, transfer};
    use crate::chain::{Chain, ChainOptions, TxOrigin};
    use dsec_consensus::DevSealer;
    use dsec_genesis::devnet::{DevnetSpec, generate};
    use std::time::Duration;

    #[test]
    fn dev_sealer_seals_and_base_fee_follows_eip1559() {
        let devnet = generate(&DevnetSpec { gas_limit: 100_000, ..Default::default() });
        let key = devnet.validator_keys[0].clone();
        let dir = tempfile::tempdir().unwrap();
        let chain = open(dir.path(), &devnet.genesis);
        for n in 0..4 {
            chain.submit(&transfer(n, 1), TxOrigin::Local).unwrap();
        }
        let first = DevSealer::seal_one(&chain, &key, Duration::from_secs(1)).unwrap();
        // 100k gas holds four transfers (84k gas): above the 50k target, the base fee rises.
        assert_eq!(first.block.body.transactions.len(), 4);
        assert_eq!(first.block.header.base_fee_per_gas, devnet.genesis.initial_base_fee());
        let second = DevSealer::seal_one(&chain, &key, Duration::from_secs(1)).unwrap();
        assert!(second.block.header.base_fee_per_gas > first.block.header.base_fee_per_gas);
        let third = DevSealer::seal_one(&chain, &key, Duration::from_secs(1)).unwrap();
        assert!(third.block.header.base_fee_per_gas < second.block.header.base_fee_per_gas, "empty block lowers it");
        assert!(chain.store().certificate(1).unwrap().is_some());
        assert_eq!(chain.pending_nonce(&dsec_sdk::dev::dev_accounts()[0].address).unwrap(), 4);
    }

    #[test]
    fn proposals_stop_at_the_byte_limit_and_the_rest_waits_for_the_next_block() {
        let devnet = generate(&DevnetSpec::default());
        let key = devnet.validator_keys[0].clone();
        let dir = tempfile::tempdir().unwrap();
        let size = transfer(0, 1).len();
        let options = ChainOptions { max_block_bytes: 3 * size + size / 2, ..Default::default() };
        let metrics = std::sync::Arc::new(crate::metrics::Metrics::default());
        let chain = Chain::open(dir.path(), devnet.genesis.clone(), options, metrics).unwrap();
        for n in 0..7 {
            chain.submit(&transfer(n, 1), TxOrigin::Local).unwrap();
        }
        let sizes: Vec<usize> = (0..3)
            .map(|_| DevSealer::seal_one(&chain, &key, Duration::from_secs(1)).unwrap().block.body.transactions.len())
            .collect();
        assert_eq!(sizes, vec![3, 3, 1], "{size}-byte transactions, 3.5 of them per block");
    }
}
