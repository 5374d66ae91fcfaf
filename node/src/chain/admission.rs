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

/// A bounded map keyed by transaction hash whose oldest entries are evicted
/// first; what admission remembers between calls.
#[derive(Debug)]
pub(super) struct Recent<V> {
    entries: alloy_primitives::map::B256Map<V>,
    order: VecDeque<B256>,
    capacity: usize,
}

impl<V: Clone> Recent<V> {
    /// An empty map holding at most `capacity` entries.
    pub(super) fn new(capacity: usize) -> Self {
        Self { entries: Default::default(), order: VecDeque::new(), capacity }
    }

    /// Remember `value` under `hash`, evicting the oldest beyond the capacity.
    pub(super) fn insert(&mut self, hash: B256, value: V) {
        if self.entries.insert(hash, value).is_none() {
            self.order.push_back(hash);
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.entries.remove(&old);
            }
        }
    }

    /// Whether `hash` is remembered.
    pub(super) fn contains(&self, hash: &B256) -> bool {
        self.entries.contains_key(hash)
    }

    /// The value remembered under `hash`.
    pub(super) fn get(&self, hash: &B256) -> Option<V> {
        self.entries.get(hash).cloned()
    }

    /// Take the value remembered under `hash` out. Its place in the eviction
    /// order stays until it reaches the front (removing it from the middle
    /// would cost a scan; a stale place evicts nothing).
    fn take(&mut self, hash: &B256) -> Option<V> {
        self.entries.remove(hash)
    }
}

/// Hashes of recently committed transactions: a transaction gossiped to this
/// node after its block was committed here is dropped without recovering its
/// sender again (the recovery is the costliest step of admission).
pub(super) type RecentlyCommitted = Recent<()>;

/// How many committed transaction hashes [`RecentlyCommitted`] remembers.
pub(super) const RECENTLY_COMMITTED: usize = 200_000;

/// Transactions whose sender block validation recovered because they were
/// not in the pool yet (a proposal outran their gossip), kept so that the same
/// transaction arriving by gossip a moment later, or a block re-proposed in a
/// later round, re-uses the recovery instead of repeating it. Keyed by the
/// hash of the signed bytes, so an entry can only ever describe those bytes.
pub(super) type RecoveredSenders = Recent<RecoveredTx>;

/// How many recovered transactions [`RecoveredSenders`] keeps: a few seconds
/// of transactions at the devnet's rate, a few megabytes at most.
pub(super) const RECOVERED_SENDERS: usize = 16_384;

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
        let mut recovered = None;
        if origin == TxOrigin::Gossip {
            let hash = alloy_primitives::keccak256(raw);
            if self.mempool.lock().get(&hash).is_some() || self.recently_committed.lock().contains(&hash) {
                self.metrics.gossip_known.inc();
                return Ok(Admission { hash, executable: true });
            }
            // Block validation recovered it already (its proposal came first).
            recovered = self.recovered_senders.lock().take(&hash);
        }
        let tx = match recovered {
            Some(tx) => {
                self.metrics.admission_recovery_reused.inc();
                tx
            }
            None => RecoveredTx::decode(raw)?,
        };
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
    use dsec_consensus::{Application, DevSealer, Verdict};
    use dsec_genesis::devnet::{DevnetSpec, generate};
    use std::time::{Duration, Instant};

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

    #[test]
    fn a_transaction_gossiped_after_its_proposal_is_not_recovered_twice() {
        let devnet = generate(&DevnetSpec::default());
        let key = devnet.validator_keys[0].clone();
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b) = (open(dir_a.path(), &devnet.genesis), open(dir_b.path(), &devnet.genesis));
        let (first, second) = (transfer(0, 5), transfer(1, 6));
        a.submit(&first, TxOrigin::Local).unwrap();
        a.submit(&second, TxOrigin::Local).unwrap();
        let proposed = a.build_block(1, key.address(), Instant::now() + Duration::from_secs(1)).unwrap();

        // The proposal reaches b before the gossip: validation recovers both senders.
        assert_eq!(b.validate_block(&proposed.block).unwrap(), Verdict::Valid);
        assert_eq!(b.metrics.validate_recovered.get(), 2);
        // The gossip that follows re-uses those recoveries, and pools the transactions.
        b.submit(&first, TxOrigin::Gossip).unwrap();
        b.submit(&second, TxOrigin::Gossip).unwrap();
        assert_eq!(b.metrics.admission_recovery_reused.get(), 2);
        assert_eq!(b.mempool_len(), 2);
        // Gossiped again, they are known and skipped.
        b.submit(&first, TxOrigin::Gossip).unwrap();
        assert_eq!(b.metrics.gossip_known.get(), 1);
        assert_eq!(b.metrics.admission_recovery_reused.get(), 2);

        // A transaction never seen is recovered at admission as before.
        let third = transfer(2, 7);
        b.submit(&third, TxOrigin::Gossip).unwrap();
        assert_eq!(b.metrics.admission_recovery_reused.get(), 2);
        assert_eq!(b.mempool_len(), 3);
    }

    #[test]
    fn recovered_senders_stay_bounded() {
        let mut recovered = super::RecoveredSenders::new(super::RECOVERED_SENDERS);
        let tx = dsec_sdk::tx::RecoveredTx::decode(&transfer(0, 1)).unwrap();
        for i in 0..super::RECOVERED_SENDERS + 10 {
            recovered.insert(alloy_primitives::B256::from(alloy_primitives::U256::from(i)), tx.clone());
        }
        assert_eq!(recovered.entries.len(), super::RECOVERED_SENDERS);
        assert!(recovered.get(&alloy_primitives::B256::ZERO).is_none(), "the oldest went first");
        let newest = alloy_primitives::B256::from(alloy_primitives::U256::from(super::RECOVERED_SENDERS + 9));
        assert!(recovered.take(&newest).is_some());
        assert!(recovered.get(&newest).is_none());
    }
}
