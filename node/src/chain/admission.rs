//! Admission of transactions into the mempool: the one entry point,
//! [`Chain::submit`], through which this node's JSON-RPC clients and its gossip
//! peers hand over signed transactions, told apart by [`TxOrigin`]; the pool's
//! read side (pooled transactions, pending nonces) and its upkeep. Kept apart
//! from block production because admission runs on RPC and gossip threads,
//! concurrently with consensus.

use super::{Chain, ChainError, SubmitError};
use crate::mempool::{Admitted, PoolError, PooledTx};
use alloy_primitives::{Address, B256};
use dsec_evm::ExecError;
use dsec_evm::db::StateReader;
use dsec_sdk::tx::RecoveredTx;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;
use tracing::debug;

/// Where a submitted transaction comes from (after reth's `TransactionOrigin`):
/// it decides whether a transaction seen before is skipped cheaply and whether
/// an admitted one is forwarded to the transaction gossip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxOrigin {
    /// From this node's JSON-RPC clients: always decoded and admitted in full,
    /// and once admitted forwarded to the gossip (see [`Chain::set_gossip`]).
    Local,
    /// Received from a peer by gossip: skipped cheaply (without recovering its
    /// sender) when already pooled or recently committed, and never forwarded again.
    Gossip,
}

/// Hashes of recently committed transactions, oldest evicted first: a
/// transaction gossiped to this node after its block was committed here is
/// dropped without recovering its sender again (the recovery is the costliest
/// step of admission).
#[derive(Debug, Default)]
pub(super) struct RecentlyCommitted {
    hashes: alloy_primitives::map::B256Set,
    order: VecDeque<B256>,
}

/// How many committed transaction hashes [`RecentlyCommitted`] remembers.
const RECENTLY_COMMITTED: usize = 200_000;

impl RecentlyCommitted {
    /// Remember the hashes of a committed block's transactions.
    pub(super) fn insert(&mut self, hashes: impl IntoIterator<Item = B256>) {
        for hash in hashes {
            if self.hashes.insert(hash) {
                self.order.push_back(hash);
            }
        }
        while self.order.len() > RECENTLY_COMMITTED {
            if let Some(old) = self.order.pop_front() {
                self.hashes.remove(&old);
            }
        }
    }
}

/// A transaction admitted for a local client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Its hash.
    pub hash: B256,
    /// Whether it can execute now (its nonce follows the sender's committed
    /// and pooled transactions); `false`: it waits for a nonce gap to fill.
    pub executable: bool,
}

/// What admission does about a nonce gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GapRule {
    /// Pool it as any Ethereum node does (readiness not computed).
    Ignore,
    /// Pool it, and tell whether it can execute now.
    Report,
    /// Refuse it (`eth_sendRawTransactionSync`).
    Refuse,
}

impl Chain {
    /// Forward transactions admitted from this node's clients to `sender` (the
    /// transaction gossip). Transactions that arrive by gossip are not forwarded.
    pub fn set_gossip(&self, sender: tokio::sync::mpsc::Sender<alloy_primitives::Bytes>) {
        let _ = self.gossip.set(sender);
    }

    /// Admit a raw signed transaction into the mempool and return its hash.
    ///
    /// Both origins refuse an oversized transaction before decoding it. A
    /// [`TxOrigin::Gossip`] transaction already pooled or recently committed is
    /// then accepted as known without decoding it; a [`TxOrigin::Local`] one is
    /// forwarded to the gossip once admitted.
    pub fn submit(&self, raw: &[u8], origin: TxOrigin) -> Result<B256, SubmitError> {
        self.submit_with(raw, origin, GapRule::Ignore).map(|admission| admission.hash)
    }

    /// [`Chain::submit`] for a local client that waits for the receipt
    /// (`eth_sendRawTransactionSync`, `sync_send`): it also learns whether the
    /// transaction can execute now, its nonce following the sender's committed
    /// and pooled ones. With `refuse_gap`, one that would wait for a nonce gap
    /// to fill is refused with the nonce expected, and not pooled.
    pub fn submit_local(&self, raw: &[u8], refuse_gap: bool) -> Result<Admission, SubmitError> {
        let rule = if refuse_gap { GapRule::Refuse } else { GapRule::Report };
        self.submit_with(raw, TxOrigin::Local, rule)
    }

    fn submit_with(&self, raw: &[u8], origin: TxOrigin, gaps: GapRule) -> Result<Admission, SubmitError> {
        let result = self.try_submit(raw, origin, gaps);
        if let Err(e) = &result {
            self.metrics.txs_rejected.get(e.reason()).inc();
        }
        result
    }

    fn try_submit(&self, raw: &[u8], origin: TxOrigin, gaps: GapRule) -> Result<Admission, SubmitError> {
        let started = Instant::now();
        self.check_size(raw)?;
        if origin == TxOrigin::Gossip {
            let hash = alloy_primitives::keccak256(raw);
            if self.mempool.lock().get(&hash).is_some() || self.recently_committed.lock().hashes.contains(&hash) {
                self.metrics.gossip_known.inc();
                return Ok(Admission { hash, executable: true });
            }
        }
        let tx = RecoveredTx::decode(raw)?;
        let admission = self.admit(tx, started, gaps)?;
        if origin == TxOrigin::Local
            && let Some(gossip) = self.gossip.get()
            && gossip.try_send(alloy_primitives::Bytes::copy_from_slice(raw)).is_err()
        {
            self.metrics.gossip_dropped.inc();
        }
        Ok(admission)
    }

    /// Refuse a transaction larger than the mempool takes, before decoding it.
    fn check_size(&self, raw: &[u8]) -> Result<(), SubmitError> {
        let limit = self.options.mempool.max_tx_bytes;
        if raw.len() > limit {
            return Err(PoolError::Oversized { size: raw.len(), limit }.into());
        }
        Ok(())
    }

    /// Check a decoded transaction's sender against the permissions and add it
    /// to the mempool, announcing it to pending-transaction subscribers and the sealer.
    fn admit(&self, tx: RecoveredTx, started: Instant, gaps: GapRule) -> Result<Admission, SubmitError> {
        // The rules every validator applies to blocks (`dsec_evm::access`), checked at the door too.
        let access = if self.options.byzantine_ignore_permissions {
            std::sync::Arc::new(dsec_evm::AccessRules::open())
        } else {
            self.permissions.read().access.clone()
        };
        if !access.may_send(&tx.sender) {
            return Err(PoolError::NotPermitted("sender not permitted").into());
        }
        if tx.is_create() && !access.may_deploy(&tx.sender) {
            return Err(PoolError::NotPermitted("sender not permitted to deploy contracts").into());
        }
        let account = self.store.head_state().account(&tx.sender).map_err(|e| SubmitError::Node(e.to_string()))?;
        let hash = tx.hash;
        let mut pool = self.mempool.lock();
        // Under the same lock as the insertion, so no other transaction of the
        // sender slips in between.
        let executable = match gaps {
            GapRule::Ignore => true,
            GapRule::Report | GapRule::Refuse => {
                let expected = pool.pending_nonce(&tx.sender, account.as_ref().map_or(0, |a| a.nonce));
                if gaps == GapRule::Refuse && tx.nonce() > expected {
                    return Err(SubmitError::NonceGap { expected, nonce: tx.nonce() });
                }
                tx.nonce() <= expected
            }
        };
        let outcome = pool.add(tx, account);
        drop(pool);
        match outcome {
            Ok(admitted) => {
                if let Admitted::Replaced(old) = admitted {
                    debug!(%old, new = %hash, "transaction replaced");
                }
                self.metrics.txs_admitted.inc();
                self.metrics.admission_micros.add(started.elapsed().as_micros() as u64);
                let _ = self.pending_txs.send(hash);
                self.wake.notify_one();
                Ok(Admission { hash, executable })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A pooled transaction.
    pub fn pooled(&self, hash: &B256) -> Option<Arc<PooledTx>> {
        self.mempool.lock().get(hash)
    }

    /// Number of pooled transactions.
    pub fn mempool_len(&self) -> usize {
        self.mempool.lock().len()
    }

    /// Publish the mempool's size and memory as metrics.
    pub fn record_mempool_metrics(&self) {
        let pool = self.mempool.lock();
        self.metrics.mempool_size.set(pool.len() as u64);
        self.metrics.mempool_bytes.set(pool.bytes() as u64);
    }

    /// The next nonce of `address` including its executable pooled transactions.
    pub fn pending_nonce(&self, address: &Address) -> Result<u64, ChainError> {
        let state_nonce =
            self.store.head_state().account(address).map_err(ExecError::State)?.map(|a| a.nonce).unwrap_or(0);
        Ok(self.mempool.lock().pending_nonce(address, state_nonce))
    }

    /// Drop queued transactions that waited too long for their nonce gap to fill.
    pub fn evict_stale(&self) -> usize {
        self.mempool.lock().evict_stale(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::TxOrigin;
    use crate::chain::tests::{open, transfer};
    use dsec_consensus::{Application, DevSealer};
    use dsec_genesis::devnet::{DevnetSpec, generate};
    use std::time::Duration;

    #[test]
    fn gapped_transactions_wait_and_pending_nonce_counts_the_pool() {
        let devnet = generate(&DevnetSpec::default());
        let key = devnet.validator_keys[0].clone();
        let dir = tempfile::tempdir().unwrap();
        let chain = open(dir.path(), &devnet.genesis);
        let sender = dsec_sdk::dev::dev_accounts()[0].address;
        chain.submit(&transfer(1, 1), TxOrigin::Local).unwrap();
        assert!(!chain.has_ready_transactions());
        assert_eq!(chain.pending_nonce(&sender).unwrap(), 0);
        let empty = DevSealer::seal_one(&chain, &key, Duration::from_secs(1)).unwrap();
        assert!(empty.block.body.transactions.is_empty());
        chain.submit(&transfer(0, 1), TxOrigin::Local).unwrap();
        assert_eq!(chain.pending_nonce(&sender).unwrap(), 2);
        let full = DevSealer::seal_one(&chain, &key, Duration::from_secs(1)).unwrap();
        assert_eq!(full.block.body.transactions.len(), 2);
    }
}
