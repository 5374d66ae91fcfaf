//! The transaction pool: admission checks with the messages Ethereum clients
//! use, per-sender nonce order, gapped nonces held until the gap fills,
//! replacement by a higher fee only, eviction of included and stale
//! transactions — and bounds an unfunded or zero-fee client cannot get
//! around: every cost is computed without wrapping, a sender's pooled
//! transactions together never cost more than its balance, future-nonce
//! ("queued") transactions are capped per sender and in total, and the pool
//! is bounded in bytes as well as in count. When it is full, the cheapest
//! (then oldest) queued transactions make room; executable ones are never
//! evicted, and a transaction that would need them to be is refused with
//! `txpool is full`.

use alloy::consensus::Transaction as _;
use alloy_primitives::{Address, B256, U256};
use dsec_evm::intrinsic::intrinsic_gas;
use dsec_sdk::state::AccountState;
use dsec_sdk::tx::RecoveredTx;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Memory a pooled transaction takes besides its bytes (decoded envelope,
/// map entries, bookkeeping), counted against the byte budget.
pub const PER_TX_OVERHEAD_BYTES: usize = 512;

/// Limits and rules of the pool.
#[derive(Debug, Clone)]
pub struct MempoolConfig {
    /// Most transactions held in total.
    pub max_transactions: usize,
    /// Most transactions held per sender.
    pub max_per_sender: usize,
    /// Largest accepted encoded transaction, bytes.
    pub max_tx_bytes: usize,
    /// Most memory all pooled transactions may take, bytes ([`PooledTx::footprint`]).
    pub max_pool_bytes: usize,
    /// Most memory one sender's pooled transactions may take, bytes.
    pub max_bytes_per_sender: usize,
    /// Most future-nonce (not yet executable) transactions per sender.
    pub max_queued_per_sender: usize,
    /// Most future-nonce transactions in total.
    pub max_queued: usize,
    /// A replacement must raise both fee fields by at least this percentage.
    pub price_bump_percent: u128,
    /// Transactions waiting longer than this for a nonce gap to fill are dropped.
    pub max_queued_age: Duration,
    /// Lowest max fee per gas accepted.
    pub min_gas_price: u128,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        Self {
            max_transactions: 200_000,
            max_per_sender: 10_000,
            max_tx_bytes: 128 * 1024,
            max_pool_bytes: 256 * 1024 * 1024,
            max_bytes_per_sender: 32 * 1024 * 1024,
            max_queued_per_sender: 64,
            max_queued: 8_192,
            price_bump_percent: 10,
            max_queued_age: Duration::from_secs(3 * 3600),
            min_gas_price: 0,
        }
    }
}

/// Why the pool refused a transaction (the text is what clients see).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The same transaction is already in the pool.
    #[error("already known")]
    AlreadyKnown,
    /// The nonce was already used.
    #[error("nonce too low: next nonce {state}, tx nonce {tx}")]
    NonceTooLow {
        /// Transaction nonce.
        tx: u64,
        /// Account nonce.
        state: u64,
    },
    /// Another transaction with this nonce pays as much or more.
    #[error("replacement transaction underpriced")]
    ReplacementUnderpriced,
    /// The sender cannot pay the maximum cost of this transaction together
    /// with the ones it already has pooled.
    #[error(
        "insufficient funds for gas * price + value: balance {balance}, queued cost {pooled}, tx cost {cost}, overshot {}",
        pooled.saturating_add(*cost).saturating_sub(*balance)
    )]
    InsufficientFunds {
        /// Balance.
        balance: U256,
        /// Maximum cost of the sender's other pooled transactions.
        pooled: U256,
        /// Maximum cost of this transaction.
        cost: U256,
    },
    /// The gas limit is below the intrinsic cost.
    #[error("intrinsic gas too low: gas {have}, minimum needed {want}")]
    IntrinsicGasTooLow {
        /// Gas limit.
        have: u64,
        /// Intrinsic gas.
        want: u64,
    },
    /// The gas limit is above the block gas limit.
    #[error("exceeds block gas limit")]
    ExceedsBlockGasLimit,
    /// Signed for another chain.
    #[error("invalid chain id for signer: have {have}, want {want}")]
    InvalidChainId {
        /// Chain id in the transaction.
        have: u64,
        /// This chain.
        want: u64,
    },
    /// Encoded size above the limit.
    #[error("oversized data: transaction size {size}, limit {limit}")]
    Oversized {
        /// Size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// Max fee below the pool minimum.
    #[error("transaction underpriced: gas price {offered}, minimum needed {minimum}")]
    Underpriced {
        /// Offered.
        offered: u128,
        /// Required.
        minimum: u128,
    },
    /// Tip above max fee.
    #[error("max priority fee per gas higher than max fee per gas")]
    TipAboveFeeCap,
    /// The sender has too many transactions pooled.
    #[error("account limit exceeded: {0} transactions pooled for this sender")]
    AccountLimit(usize),
    /// The sender's pooled transactions would take too much memory.
    #[error("account limit exceeded: this sender's pooled transactions would take more than {0} bytes")]
    AccountBytes(usize),
    /// The sender has too many transactions waiting for a nonce gap to fill.
    #[error("account queue full: at most {0} transactions with a future nonce per sender")]
    QueueFull(usize),
    /// The pool is full, and nothing cheaper can make room.
    #[error("txpool is full")]
    Full,
    /// The sender may not send or deploy.
    #[error("{0}")]
    NotPermitted(&'static str),
}

/// A pooled transaction.
#[derive(Debug)]
pub struct PooledTx {
    /// The transaction.
    pub tx: RecoveredTx,
    /// When it arrived (for ordering ties and stale eviction).
    pub arrived: Instant,
    /// Arrival sequence number (ordering ties).
    pub seq: u64,
}

impl PooledTx {
    /// Memory counted against the pool's byte budget: the bytes as received,
    /// their decoded copy, and a fixed overhead.
    pub fn footprint(&self) -> usize {
        self.tx.raw.len().saturating_mul(2).saturating_add(PER_TX_OVERHEAD_BYTES)
    }

    /// Its key in the index of queued transactions: cheapest, then oldest, first.
    fn queued_key(&self) -> QueuedKey {
        (self.tx.max_fee_per_gas(), self.seq, self.tx.sender, self.tx.nonce())
    }
}

/// Fee cap, arrival sequence, sender, nonce.
type QueuedKey = (u128, u64, Address, u64);

#[derive(Debug, Default)]
struct SenderQueue {
    /// Account nonce as last known (state at the head).
    state_nonce: u64,
    /// First nonce after the run of consecutive nonces from `state_nonce`:
    /// transactions below it are executable, the rest are queued.
    ready_end: u64,
    txs: BTreeMap<u64, Arc<PooledTx>>,
    /// Sum of the maximum costs of `txs` (saturating).
    cost: U256,
    /// Sum of the footprints of `txs`.
    bytes: usize,
}

impl SenderQueue {
    /// Length of the run of consecutive nonces starting at the account nonce.
    fn ready_len(&self) -> usize {
        usize::try_from(self.ready_end.saturating_sub(self.state_nonce)).unwrap_or(usize::MAX)
    }

    /// Number of queued (future-nonce) transactions.
    fn queued_len(&self) -> usize {
        self.txs.len().saturating_sub(self.ready_len())
    }
}

/// The pool.
#[derive(Debug)]
pub struct Mempool {
    config: MempoolConfig,
    chain_id: u64,
    block_gas_limit: u64,
    by_hash: alloy_primitives::map::B256Map<Arc<PooledTx>>,
    senders: alloy_primitives::map::AddressMap<SenderQueue>,
    /// Every queued transaction, cheapest then oldest first: eviction candidates.
    queued: BTreeSet<QueuedKey>,
    /// Sum of the footprints of every pooled transaction.
    bytes: usize,
    next_seq: u64,
}

/// The result of an admission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admitted {
    /// New transaction, ready or queued.
    New,
    /// It replaced the transaction with this hash.
    Replaced(B256),
}

impl Mempool {
    /// An empty pool for a chain.
    pub fn new(config: MempoolConfig, chain_id: u64, block_gas_limit: u64) -> Self {
        Self {
            config,
            chain_id,
            block_gas_limit,
            by_hash: Default::default(),
            senders: Default::default(),
            queued: BTreeSet::new(),
            bytes: 0,
            next_seq: 0,
        }
    }

    /// The pool's limits.
    pub fn config(&self) -> &MempoolConfig {
        &self.config
    }

    /// Number of transactions held.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Memory counted against the byte budget, bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of queued (future-nonce) transactions.
    pub fn queued_len(&self) -> usize {
        self.queued.len()
    }

    /// Checks that need no state: size, chain id, gas, fees. Run before taking the pool lock.
    pub fn check_stateless(&self, tx: &RecoveredTx) -> Result<(), PoolError> {
        if tx.raw.len() > self.config.max_tx_bytes {
            return Err(PoolError::Oversized { size: tx.raw.len(), limit: self.config.max_tx_bytes });
        }
        let have = tx.envelope.chain_id().unwrap_or(0);
        if have != self.chain_id {
            return Err(PoolError::InvalidChainId { have, want: self.chain_id });
        }
        if tx.gas_limit() > self.block_gas_limit {
            return Err(PoolError::ExceedsBlockGasLimit);
        }
        let want = intrinsic_gas(tx);
        if tx.gas_limit() < want {
            return Err(PoolError::IntrinsicGasTooLow { have: tx.gas_limit(), want });
        }
        if let Some(tip) = tx.envelope.max_priority_fee_per_gas()
            && tip > tx.max_fee_per_gas()
        {
            return Err(PoolError::TipAboveFeeCap);
        }
        if tx.max_fee_per_gas() < self.config.min_gas_price {
            return Err(PoolError::Underpriced { offered: tx.max_fee_per_gas(), minimum: self.config.min_gas_price });
        }
        Ok(())
    }

    /// Whether a replacement offering `new` falls short of the bump over `old`
    /// (`old + old * bump / 100`, computed in 256 bits: no fee can overflow it).
    fn underbids(&self, new: u128, old: u128) -> bool {
        let old = U256::from(old);
        U256::from(new) < old + old * U256::from(self.config.price_bump_percent) / U256::from(100u8)
    }

    /// Admit a transaction. `account` is the sender's account at the head.
    pub fn add(&mut self, tx: RecoveredTx, account: Option<AccountState>) -> Result<Admitted, PoolError> {
        self.check_stateless(&tx)?;
        if self.by_hash.contains_key(&tx.hash) {
            return Err(PoolError::AlreadyKnown);
        }
        let account = account.unwrap_or_default();
        let nonce = tx.nonce();
        if nonce < account.nonce {
            return Err(PoolError::NonceTooLow { tx: nonce, state: account.nonce });
        }
        // A block this pool has not heard of may have used nonces: forget them first.
        if self.senders.get(&tx.sender).is_some_and(|q| q.state_nonce < account.nonce) {
            self.on_block([(tx.sender, account.nonce)]);
        }
        let sender = self.senders.get(&tx.sender);
        let state_nonce = sender.map(|q| q.state_nonce).unwrap_or(0).max(account.nonce);
        if nonce < state_nonce {
            return Err(PoolError::NonceTooLow { tx: nonce, state: state_nonce });
        }
        let existing = sender.and_then(|q| q.txs.get(&nonce)).cloned();
        let cost = tx.max_cost();
        let pooled_cost = sender.map(|q| q.cost).unwrap_or_default();
        let others_cost = match &existing {
            Some(old) => pooled_cost.saturating_sub(old.tx.max_cost()),
            None => pooled_cost,
        };
        let total = others_cost.saturating_add(cost);
        if account.balance < total {
            return Err(PoolError::InsufficientFunds { balance: account.balance, pooled: others_cost, cost });
        }
        if let Some(old) = &existing
            && (self.underbids(tx.max_fee_per_gas(), old.tx.max_fee_per_gas())
                || self.underbids(tx.max_priority_fee_per_gas(), old.tx.max_priority_fee_per_gas()))
        {
            return Err(PoolError::ReplacementUnderpriced);
        }
        let pooled = PooledTx { tx, arrived: Instant::now(), seq: self.next_seq };
        let footprint = pooled.footprint();
        let freed = existing.as_ref().map(|old| old.footprint()).unwrap_or(0);
        let sender_bytes = sender.map(|q| q.bytes).unwrap_or(0).saturating_sub(freed).saturating_add(footprint);
        if sender_bytes > self.config.max_bytes_per_sender {
            return Err(PoolError::AccountBytes(self.config.max_bytes_per_sender));
        }
        let ready_end = sender.map(|q| q.ready_end).unwrap_or(0).max(state_nonce);
        let is_queued = nonce > ready_end;
        if existing.is_none() {
            let count = sender.map(|q| q.txs.len()).unwrap_or(0);
            if count >= self.config.max_per_sender {
                return Err(PoolError::AccountLimit(count));
            }
            if is_queued && sender.map(|q| q.queued_len()).unwrap_or(0) >= self.config.max_queued_per_sender {
                return Err(PoolError::QueueFull(self.config.max_queued_per_sender));
            }
        }
        self.make_room(&pooled, is_queued, footprint.saturating_sub(freed), existing.is_none())?;

        self.next_seq = self.next_seq.saturating_add(1);
        let pooled = Arc::new(pooled);
        let replaced = existing.map(|old| {
            self.forget(&old);
            old.tx.hash
        });
        self.by_hash.insert(pooled.tx.hash, pooled.clone());
        self.bytes = self.bytes.saturating_add(footprint);
        if is_queued {
            self.queued.insert(pooled.queued_key());
        }
        // Only an admitted transaction creates a sender queue.
        let queue = self.senders.entry(pooled.tx.sender).or_default();
        queue.state_nonce = state_nonce;
        queue.ready_end = queue.ready_end.max(state_nonce);
        queue.cost = queue.cost.saturating_add(cost);
        queue.bytes = queue.bytes.saturating_add(footprint);
        queue.txs.insert(nonce, pooled);
        Self::advance_ready(queue, &mut self.queued);
        Ok(match replaced {
            Some(old) => Admitted::Replaced(old),
            None => Admitted::New,
        })
    }

    /// Evict queued transactions (cheapest, then oldest) until `incoming` fits
    /// the count, byte and queue budgets, or refuse it. A queued newcomer only
    /// displaces transactions that pay strictly less than it; a ready one
    /// displaces any queued transaction. Executable transactions are never
    /// evicted. Nothing is evicted unless enough room can be made.
    fn make_room(&mut self, incoming: &PooledTx, is_queued: bool, grow: usize, adds: bool) -> Result<(), PoolError> {
        let fee = incoming.tx.max_fee_per_gas();
        let count_over = |pool: &Self, freed_count: usize| {
            adds && pool.by_hash.len().saturating_sub(freed_count) >= pool.config.max_transactions
        };
        let queued_over = |pool: &Self, freed_count: usize| {
            adds && is_queued && pool.queued.len().saturating_sub(freed_count) >= pool.config.max_queued
        };
        let bytes_over = |pool: &Self, freed_bytes: usize| {
            pool.bytes.saturating_sub(freed_bytes).saturating_add(grow) > pool.config.max_pool_bytes
        };
        // Plan the evictions first, so a refusal changes nothing.
        let mut victims = Vec::new();
        let mut touched = std::collections::HashSet::new();
        let (mut freed_count, mut freed_queued, mut freed_bytes) = (0usize, 0usize, 0usize);
        for key in self.queued.iter() {
            if !(count_over(self, freed_count) || queued_over(self, freed_queued) || bytes_over(self, freed_bytes)) {
                break;
            }
            // One victim per sender (it takes the sender's later nonces along),
            // never the newcomer's own sender, never one paying as much as a queued newcomer.
            if key.2 == incoming.tx.sender || (is_queued && key.0 >= fee) || !touched.insert(key.2) {
                continue;
            }
            let Some(victim) = self.senders.get(&key.2).and_then(|q| q.txs.get(&key.3)) else { continue };
            // A victim takes its sender's later (also queued) nonces with it.
            if let Some(queue) = self.senders.get(&key.2) {
                for later in queue.txs.range(key.3..).map(|(_, p)| p) {
                    freed_count += 1;
                    freed_queued += 1;
                    freed_bytes = freed_bytes.saturating_add(later.footprint());
                }
            }
            victims.push(victim.tx.hash);
        }
        if count_over(self, freed_count) || queued_over(self, freed_queued) || bytes_over(self, freed_bytes) {
            return Err(PoolError::Full);
        }
        for hash in victims {
            self.remove_with_descendants(&hash);
        }
        Ok(())
    }

    /// Move `queue.ready_end` past the nonces that are now consecutive, and
    /// take them out of the queued index.
    fn advance_ready(queue: &mut SenderQueue, queued: &mut BTreeSet<QueuedKey>) {
        while let Some(p) = queue.txs.get(&queue.ready_end) {
            queued.remove(&p.queued_key());
            queue.ready_end = queue.ready_end.saturating_add(1);
        }
    }

    /// Take a transaction out of the pool-wide indexes and budgets (not out of its sender's queue).
    fn forget(&mut self, p: &PooledTx) {
        self.by_hash.remove(&p.tx.hash);
        self.queued.remove(&p.queued_key());
        self.bytes = self.bytes.saturating_sub(p.footprint());
        if let Some(queue) = self.senders.get_mut(&p.tx.sender) {
            queue.cost = queue.cost.saturating_sub(p.tx.max_cost());
            queue.bytes = queue.bytes.saturating_sub(p.footprint());
        }
    }

    /// Whether any sender has an executable transaction.
    pub fn has_ready(&self) -> bool {
        self.senders.values().any(|q| q.ready_end > q.state_nonce)
    }

    /// Whether a transaction is pooled.
    pub fn contains(&self, hash: &B256) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// A pooled transaction.
    pub fn get(&self, hash: &B256) -> Option<Arc<PooledTx>> {
        self.by_hash.get(hash).cloned()
    }

    /// The next nonce of `sender` counting its ready pooled transactions, if it has any pooled.
    pub fn pending_nonce(&self, sender: &Address, state_nonce: u64) -> u64 {
        match self.senders.get(sender) {
            Some(queue) => {
                let mut expected = state_nonce.max(queue.state_nonce);
                for nonce in queue.txs.keys() {
                    if *nonce == expected {
                        expected = expected.saturating_add(1);
                    } else if *nonce > expected {
                        break;
                    }
                }
                expected
            }
            None => state_nonce,
        }
    }

    /// Executable transactions, grouped by sender in nonce order, senders
    /// ordered by the tip of their first transaction at `base_fee` (highest
    /// first) then by arrival.
    pub fn ready(&self, base_fee: u64) -> Vec<Vec<Arc<PooledTx>>> {
        let mut groups: Vec<Vec<Arc<PooledTx>>> = self
            .senders
            .values()
            .filter_map(|queue| {
                let n = queue.ready_len();
                (n > 0).then(|| queue.txs.range(queue.state_nonce..).take(n).map(|(_, p)| p.clone()).collect())
            })
            .collect();
        groups.sort_by(|a, b| {
            let key = |g: &Vec<Arc<PooledTx>>| (std::cmp::Reverse(g[0].tx.effective_tip(base_fee)), g[0].seq);
            key(a).cmp(&key(b))
        });
        groups
    }

    /// After a block commits: the new nonces of the senders it touched. Drops
    /// every pooled transaction whose nonce is now used (included or replaced
    /// on chain) and returns their hashes.
    pub fn on_block(&mut self, nonces: impl IntoIterator<Item = (Address, u64)>) -> Vec<B256> {
        let mut dropped = Vec::new();
        for (sender, nonce) in nonces {
            let Some(queue) = self.senders.get_mut(&sender) else { continue };
            queue.state_nonce = nonce;
            queue.ready_end = queue.ready_end.max(nonce);
            let keep = queue.txs.split_off(&nonce);
            let used = std::mem::replace(&mut queue.txs, keep);
            Self::advance_ready(queue, &mut self.queued);
            for (_, old) in used {
                self.forget(&old);
                dropped.push(old.tx.hash);
            }
            if self.senders.get(&sender).is_some_and(|q| q.txs.is_empty()) {
                self.senders.remove(&sender);
            }
        }
        dropped
    }

    /// Drop a transaction (e.g. found invalid while building a block) and the
    /// later nonces of its sender that depend on it.
    pub fn remove_with_descendants(&mut self, hash: &B256) -> usize {
        let Some(pooled) = self.by_hash.get(hash).cloned() else { return 0 };
        let sender = pooled.tx.sender;
        let Some(queue) = self.senders.get_mut(&sender) else { return 0 };
        let nonce = pooled.tx.nonce();
        let removed = queue.txs.split_off(&nonce);
        queue.ready_end = queue.ready_end.min(nonce).max(queue.state_nonce);
        for old in removed.values() {
            self.forget(old);
        }
        if self.senders.get(&sender).is_some_and(|q| q.txs.is_empty()) {
            self.senders.remove(&sender);
        }
        removed.len()
    }

    /// Drop queued (not executable) transactions older than the configured age.
    pub fn evict_stale(&mut self, now: Instant) -> usize {
        let max_age = self.config.max_queued_age;
        let stale: Vec<B256> = self
            .queued
            .iter()
            .filter_map(|(_, _, sender, nonce)| self.senders.get(sender)?.txs.get(nonce))
            .filter(|p| now.duration_since(p.arrived) > max_age)
            .map(|p| p.tx.hash)
            .collect();
        let mut evicted = 0;
        for hash in stale {
            // Later nonces of the same sender are queued too, and older: already in `stale`
            // or removed with this one.
            evicted += self.remove_single(&hash);
        }
        evicted
    }

    /// Drop one transaction, leaving its sender's other transactions in place.
    fn remove_single(&mut self, hash: &B256) -> usize {
        let Some(pooled) = self.by_hash.get(hash).cloned() else { return 0 };
        let sender = pooled.tx.sender;
        let nonce = pooled.tx.nonce();
        let Some(queue) = self.senders.get_mut(&sender) else { return 0 };
        if queue.txs.remove(&nonce).is_none() {
            return 0;
        }
        if nonce < queue.ready_end {
            queue.ready_end = nonce.max(queue.state_nonce);
            // The nonces after the new gap are queued now.
            for p in queue.txs.range(nonce..).map(|(_, p)| p) {
                self.queued.insert(p.queued_key());
            }
        }
        self.forget(&pooled);
        if self.senders.get(&sender).is_some_and(|q| q.txs.is_empty()) {
            self.senders.remove(&sender);
        }
        1
    }

    /// Drop every transaction of the senders `keep` refuses (accounts the
    /// permissions took away) and return their hashes.
    pub fn evict_senders(&mut self, keep: impl Fn(&Address) -> bool) -> Vec<B256> {
        let refused: Vec<Address> = self.senders.keys().filter(|s| !keep(s)).copied().collect();
        let mut evicted = Vec::new();
        for sender in refused {
            let Some(queue) = self.senders.get(&sender) else { continue };
            let txs: Vec<Arc<PooledTx>> = queue.txs.values().cloned().collect();
            for p in &txs {
                self.forget(p);
                evicted.push(p.tx.hash);
            }
            self.senders.remove(&sender);
        }
        evicted
    }

    /// Hashes of every pooled transaction.
    pub fn hashes(&self) -> Vec<B256> {
        self.by_hash.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::consensus::TxEip1559;
    use alloy_primitives::{Bytes, TxKind};
    use dsec_sdk::tx::LocalKey;
    use std::collections::HashMap;

    const CHAIN: u64 = 1337;

    fn tx_with(key: &LocalKey, nonce: u64, max_fee: u128, tip: u128, f: impl FnOnce(&mut TxEip1559)) -> RecoveredTx {
        let mut tx = TxEip1559 {
            chain_id: CHAIN,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
            to: TxKind::Call(Address::repeat_byte(1)),
            value: U256::from(1),
            ..Default::default()
        };
        f(&mut tx);
        RecoveredTx::decode(&key.sign_tx_bytes(tx)).unwrap()
    }

    fn tx(key: &LocalKey, nonce: u64) -> RecoveredTx {
        tx_with(key, nonce, 10, 1, |_| {})
    }

    fn rich(nonce: u64) -> Option<AccountState> {
        Some(AccountState { nonce, balance: U256::from(10u64.pow(18)), ..Default::default() })
    }

    fn pool() -> Mempool {
        Mempool::new(MempoolConfig { max_per_sender: 4, max_transactions: 6, ..Default::default() }, CHAIN, 30_000_000)
    }

    #[test]
    fn evicting_a_sender_drops_its_ready_and_queued_transactions_only() {
        let (removed, kept) = (LocalKey::random(), LocalKey::random());
        let mut p = Mempool::new(MempoolConfig::default(), CHAIN, 30_000_000);
        for nonce in [0, 1, 3] {
            p.add(tx(&removed, nonce), rich(0)).unwrap();
        }
        p.add(tx(&kept, 0), rich(0)).unwrap();
        let before = p.bytes();
        let evicted = p.evict_senders(|s| *s != removed.address());
        assert_eq!(evicted.len(), 3);
        assert_eq!((p.len(), p.queued_len()), (1, 0));
        assert!(p.bytes() < before && p.has_ready());
        assert_eq!(p.ready(0).concat().len(), 1);
        // The sender can come back later from a clean slate.
        p.add(tx(&removed, 0), rich(0)).unwrap();
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn every_rejection_has_the_ethereum_message() {
        let key = LocalKey::random();
        let mut p = pool();
        let first = tx(&key, 5);
        p.add(first.clone(), rich(5)).unwrap();
        assert_eq!(p.add(first, rich(5)).unwrap_err().to_string(), "already known");
        assert!(p.add(tx(&key, 4), rich(5)).unwrap_err().to_string().starts_with("nonce too low"));
        assert_eq!(
            p.add(tx_with(&key, 5, 10, 1, |t| t.value = U256::from(2)), rich(5)).unwrap_err().to_string(),
            "replacement transaction underpriced"
        );
        let poor = Some(AccountState { nonce: 0, balance: U256::from(1000), ..Default::default() });
        assert!(
            p.add(tx(&LocalKey::random(), 0), poor)
                .unwrap_err()
                .to_string()
                .starts_with("insufficient funds for gas * price + value")
        );
        let err = p.add(tx_with(&key, 6, 10, 1, |t| t.gas_limit = 20_000), rich(5)).unwrap_err();
        assert!(err.to_string().starts_with("intrinsic gas too low"), "{err}");
        let err = p.add(tx_with(&key, 6, 10, 1, |t| t.gas_limit = 40_000_000), rich(5)).unwrap_err();
        assert_eq!(err.to_string(), "exceeds block gas limit");
        let err = p.add(tx_with(&key, 6, 10, 1, |t| t.chain_id = 1), rich(5)).unwrap_err();
        assert!(err.to_string().starts_with("invalid chain id for signer"), "{err}");
        let err = p
            .add(
                tx_with(&key, 6, 10, 1, |t| {
                    t.input = Bytes::from(vec![1u8; 200_000]);
                    t.gas_limit = 10_000_000
                }),
                rich(5),
            )
            .unwrap_err();
        assert!(err.to_string().starts_with("oversized data"), "{err}");
        let err = p.add(tx_with(&key, 6, 10, 11, |_| {}), rich(5)).unwrap_err();
        assert_eq!(err.to_string(), "max priority fee per gas higher than max fee per gas");
        let mut strict = Mempool::new(MempoolConfig { min_gas_price: 100, ..Default::default() }, CHAIN, 30_000_000);
        assert!(strict.add(tx(&key, 5), rich(5)).unwrap_err().to_string().starts_with("transaction underpriced"));
    }

    #[test]
    fn replacement_needs_a_ten_percent_bump_on_both_fees() {
        let key = LocalKey::random();
        let mut p = pool();
        let original = tx_with(&key, 0, 100, 10, |_| {});
        p.add(original.clone(), rich(0)).unwrap();
        assert_eq!(p.add(tx_with(&key, 0, 110, 10, |_| {}), rich(0)), Err(PoolError::ReplacementUnderpriced));
        let better = tx_with(&key, 0, 110, 11, |_| {});
        assert_eq!(p.add(better.clone(), rich(0)), Ok(Admitted::Replaced(original.hash)));
        assert!(!p.contains(&original.hash) && p.contains(&better.hash));
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn gapped_nonces_wait_until_the_gap_fills() {
        let key = LocalKey::random();
        let mut p = pool();
        p.add(tx(&key, 2), rich(0)).unwrap();
        p.add(tx(&key, 3), rich(0)).unwrap();
        assert!(p.ready(0).is_empty());
        assert_eq!(p.pending_nonce(&key.address(), 0), 0);
        p.add(tx(&key, 0), rich(0)).unwrap();
        assert_eq!(p.ready(0)[0].len(), 1);
        p.add(tx(&key, 1), rich(0)).unwrap();
        let ready = p.ready(0);
        assert_eq!(ready[0].iter().map(|t| t.tx.nonce()).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
        assert_eq!(p.pending_nonce(&key.address(), 0), 4);
    }

    #[test]
    fn limits_per_sender_and_overall() {
        let mut p = pool();
        let key = LocalKey::random();
        for n in 0..4 {
            p.add(tx(&key, n), rich(0)).unwrap();
        }
        assert!(matches!(p.add(tx(&key, 4), rich(0)), Err(PoolError::AccountLimit(4))));
        let other = LocalKey::random();
        p.add(tx(&other, 0), rich(0)).unwrap();
        p.add(tx(&other, 1), rich(0)).unwrap();
        assert_eq!(p.add(tx(&other, 2), rich(0)), Err(PoolError::Full));
    }

    #[test]
    fn included_and_stale_transactions_are_evicted() {
        let mut p = pool();
        let key = LocalKey::random();
        let t0 = tx(&key, 0);
        p.add(t0.clone(), rich(0)).unwrap();
        p.add(tx(&key, 1), rich(0)).unwrap();
        p.add(tx(&key, 5), rich(0)).unwrap();
        assert_eq!(p.on_block([(key.address(), 1)]), vec![t0.hash]);
        assert_eq!(p.len(), 2);
        assert_eq!(p.evict_stale(Instant::now() + Duration::from_secs(4 * 3600)), 1, "only the gapped one is stale");
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn refused_transactions_leave_no_sender_behind() {
        let mut p = pool();
        let key = LocalKey::random();
        assert!(p.add(tx(&key, 0), rich(3)).is_err());
        assert!(p.senders.is_empty(), "a refused sender gets no queue");
        assert!(!p.has_ready());
    }

    /// The pool's books agree with its contents, and its bounds hold.
    fn check_invariants(p: &Mempool, balances: &HashMap<Address, U256>) {
        let mut count = 0;
        let mut bytes = 0;
        let mut queued = BTreeSet::new();
        for (sender, q) in &p.senders {
            assert!(!q.txs.is_empty(), "an empty sender queue is kept");
            assert!(q.ready_end >= q.state_nonce);
            assert!(q.txs.keys().all(|n| *n >= q.state_nonce), "a used nonce is kept");
            for n in q.state_nonce..q.ready_end {
                assert!(q.txs.contains_key(&n), "ready run has a gap at {n}");
            }
            assert!(!q.txs.contains_key(&q.ready_end), "ready run ends too early");
            let cost = q.txs.values().fold(U256::ZERO, |c, t| c.saturating_add(t.tx.max_cost()));
            assert_eq!(q.cost, cost);
            assert!(cost <= balances[sender], "sender's pooled transactions cost more than its balance");
            let sender_bytes: usize = q.txs.values().map(|t| t.footprint()).sum();
            assert_eq!(q.bytes, sender_bytes);
            assert!(sender_bytes <= p.config.max_bytes_per_sender);
            assert!(q.txs.len() <= p.config.max_per_sender);
            assert!(q.queued_len() <= p.config.max_queued_per_sender);
            for (n, t) in &q.txs {
                assert_eq!(t.tx.nonce(), *n);
                assert!(p.by_hash.contains_key(&t.tx.hash));
                if *n >= q.ready_end {
                    queued.insert(t.queued_key());
                }
            }
            count += q.txs.len();
            bytes += sender_bytes;
        }
        assert_eq!(p.by_hash.len(), count);
        assert_eq!(p.bytes, bytes);
        assert_eq!(p.queued, queued);
        assert!(count <= p.config.max_transactions);
        assert!(bytes <= p.config.max_pool_bytes);
        assert!(p.queued.len() <= p.config.max_queued);
        for group in p.ready(0) {
            let nonces: Vec<u64> = group.iter().map(|t| t.tx.nonce()).collect();
            assert!(nonces.windows(2).all(|w| w[1] == w[0] + 1), "ready group out of nonce order: {nonces:?}");
        }
    }

    #[test]
    fn random_admissions_keep_the_pool_bounded_and_consistent() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let config = MempoolConfig {
            max_transactions: 40,
            max_per_sender: 12,
            max_pool_bytes: 40 * 1024,
            max_bytes_per_sender: 12 * 1024,
            max_queued_per_sender: 3,
            max_queued: 40,
            ..Default::default()
        };
        let mut p = Mempool::new(config, CHAIN, 30_000_000);
        // Fixed keys: the walk (and which senders an eviction picks) is the same every run.
        let keys: Vec<LocalKey> =
            (1..=8u8).map(|i| LocalKey::from_bytes(&B256::repeat_byte(i)).expect("a valid key")).collect();
        let balances: HashMap<Address, U256> =
            keys.iter().enumerate().map(|(i, k)| (k.address(), U256::from(3_000_000u64 * (i as u64 + 1)))).collect();
        let mut nonces: HashMap<Address, u64> = HashMap::new();
        let mut outcomes: HashMap<&str, usize> = HashMap::new();
        for step in 0..3_000 {
            let key = &keys[rng.gen_range(0..keys.len())];
            let sender = key.address();
            let state = *nonces.get(&sender).unwrap_or(&0);
            match rng.gen_range(0..10) {
                0 => {
                    let used = state + rng.gen_range(0..3);
                    nonces.insert(sender, used);
                    p.on_block([(sender, used)]);
                }
                1 => {
                    let hashes = p.hashes();
                    if !hashes.is_empty() {
                        p.remove_with_descendants(&hashes[rng.gen_range(0..hashes.len())]);
                    }
                }
                _ => {
                    let nonce = state + rng.gen_range(0..8);
                    let fee = rng.gen_range(1..20u128);
                    let size = rng.gen_range(0..3_000usize);
                    let value = if rng.gen_bool(0.05) { U256::MAX } else { U256::from(rng.gen_range(0..50_000u64)) };
                    let t = tx_with(key, nonce, fee, 1, |t| {
                        t.value = value;
                        t.input = Bytes::from(vec![1u8; size]);
                        t.gas_limit = 21_000 + 40 * size as u64;
                    });
                    let account = AccountState { nonce: state, balance: balances[&sender], ..Default::default() };
                    let outcome = p.add(t, Some(account));
                    let seen = match &outcome {
                        Ok(Admitted::New) => "new",
                        Ok(Admitted::Replaced(_)) => "replaced",
                        Err(PoolError::Full) => "full",
                        Err(PoolError::QueueFull(_)) => "queue full",
                        Err(PoolError::InsufficientFunds { .. }) => "unfunded",
                        Err(PoolError::AccountBytes(_)) => "sender bytes",
                        Err(_) => "other",
                    };
                    *outcomes.entry(seen).or_insert(0) += 1;
                    if value == U256::MAX {
                        assert!(matches!(outcome, Err(PoolError::InsufficientFunds { .. })), "step {step}");
                    }
                }
            }
            check_invariants(&p, &balances);
        }
        for kind in ["new", "replaced", "full", "queue full", "unfunded", "sender bytes"] {
            assert!(
                outcomes.contains_key(kind),
                "the walk never met {kind:?}, so it tests less than it claims: {outcomes:?}"
            );
        }
    }

    #[test]
    fn a_value_that_wraps_the_cost_is_refused_as_unfunded() {
        let mut p = pool();
        let key = LocalKey::random();
        let poor = Some(AccountState { nonce: 0, balance: U256::from(1_000_000u64), ..Default::default() });
        // 2^256 - 1 plus any fee wraps to a small number if added unchecked.
        let err = p.add(tx_with(&key, 0, 10, 1, |t| t.value = U256::MAX), poor).unwrap_err();
        assert!(err.to_string().starts_with("insufficient funds for gas * price + value"), "{err}");
        assert!(p.is_empty());
    }

    #[test]
    fn a_sender_cannot_pool_more_than_its_balance_pays_for() {
        let mut p = pool();
        let key = LocalKey::random();
        // Each costs 21,000 * 10 + 400,000 = 610,000; the balance pays one, not two.
        let account = || Some(AccountState { nonce: 0, balance: U256::from(1_000_000u64), ..Default::default() });
        let value = |t: &mut TxEip1559| t.value = U256::from(400_000u64);
        p.add(tx_with(&key, 0, 10, 1, value), account()).unwrap();
        let err = p.add(tx_with(&key, 1, 10, 1, value), account()).unwrap_err();
        assert!(
            matches!(err, PoolError::InsufficientFunds { pooled, .. } if pooled == U256::from(610_000u64)),
            "{err}"
        );
        // Queued future nonces count as well.
        assert!(matches!(p.add(tx_with(&key, 5, 10, 1, value), account()), Err(PoolError::InsufficientFunds { .. })));
        // A replacement is judged without the transaction it replaces.
        p.add(tx_with(&key, 0, 11, 2, value), account()).unwrap();
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn a_replacement_of_the_highest_fee_cannot_overflow() {
        let mut p = pool();
        let key = LocalKey::random();
        let rich = Some(AccountState { nonce: 0, balance: U256::MAX, ..Default::default() });
        p.add(tx_with(&key, 0, u128::MAX, u128::MAX, |_| {}), rich).unwrap();
        assert_eq!(
            p.add(tx_with(&key, 0, u128::MAX, u128::MAX, |t| t.value = U256::from(2)), rich),
            Err(PoolError::ReplacementUnderpriced)
        );
    }

    #[test]
    fn future_nonces_are_capped_per_sender_and_in_total() {
        let config = MempoolConfig { max_queued_per_sender: 2, max_queued: 3, ..Default::default() };
        let mut p = Mempool::new(config, CHAIN, 30_000_000);
        let key = LocalKey::random();
        p.add(tx(&key, 5), rich(0)).unwrap();
        p.add(tx(&key, 6), rich(0)).unwrap();
        assert_eq!(p.add(tx(&key, 7), rich(0)), Err(PoolError::QueueFull(2)));
        assert_eq!(p.add(tx(&key, 7), rich(0)).unwrap_err().to_string().split(':').next(), Some("account queue full"));
        // Filling the gap makes them executable: the queue has room again.
        for n in 0..5 {
            p.add(tx(&key, n), rich(0)).unwrap();
        }
        assert_eq!(p.queued_len(), 0);
        p.add(tx(&key, 8), rich(0)).unwrap();
        let (a, b) = (LocalKey::random(), LocalKey::random());
        p.add(tx_with(&a, 3, 10, 1, |_| {}), rich(0)).unwrap();
        p.add(tx_with(&a, 4, 10, 1, |_| {}), rich(0)).unwrap();
        assert_eq!(p.queued_len(), 3);
        // Full of queued transactions: a cheaper or equal newcomer is refused, a dearer one evicts the cheapest.
        assert_eq!(p.add(tx_with(&b, 3, 10, 1, |_| {}), rich(0)), Err(PoolError::Full));
        p.add(tx_with(&b, 3, 20, 1, |_| {}), rich(0)).unwrap();
        assert_eq!(p.queued_len(), 3);
    }

    #[test]
    fn a_full_pool_evicts_queued_transactions_for_executable_ones_cheapest_first() {
        let config = MempoolConfig { max_transactions: 4, ..Default::default() };
        let mut p = Mempool::new(config, CHAIN, 30_000_000);
        let (a, b, c, d) = (LocalKey::random(), LocalKey::random(), LocalKey::random(), LocalKey::random());
        p.add(tx_with(&a, 0, 50, 1, |_| {}), rich(0)).unwrap();
        let cheap = tx_with(&b, 7, 10, 1, |_| {});
        p.add(cheap.clone(), rich(0)).unwrap();
        let dear = tx_with(&c, 7, 30, 1, |_| {});
        p.add(dear.clone(), rich(0)).unwrap();
        p.add(tx_with(&a, 1, 50, 1, |_| {}), rich(0)).unwrap();
        // Full: an executable newcomer displaces the cheapest queued one.
        p.add(tx_with(&d, 0, 5, 1, |_| {}), rich(0)).unwrap();
        assert!(!p.contains(&cheap.hash) && p.contains(&dear.hash));
        p.add(tx_with(&b, 0, 5, 1, |_| {}), rich(0)).unwrap();
        assert!(!p.contains(&dear.hash));
        // Only executable transactions left: nothing is evicted, the newcomer is refused.
        let err = p.add(tx_with(&c, 0, 99, 1, |_| {}), rich(0)).unwrap_err();
        assert_eq!(err.to_string(), "txpool is full");
        assert_eq!(p.len(), 4);
    }

    #[test]
    fn the_byte_budget_bounds_a_zero_fee_pool() {
        // A zero-fee network: transactions cost nothing, so only the budgets bound them.
        let config = MempoolConfig { max_pool_bytes: 64 * 1024, max_bytes_per_sender: 24 * 1024, ..Default::default() };
        let mut p = Mempool::new(config, CHAIN, 30_000_000);
        let broke = || Some(AccountState { nonce: 0, balance: U256::ZERO, ..Default::default() });
        let big = |key: &LocalKey, nonce| {
            tx_with(key, nonce, 0, 0, |t| {
                t.value = U256::ZERO;
                t.input = Bytes::from(vec![1u8; 10_000]);
                t.gas_limit = 500_000;
            })
        };
        let key = LocalKey::random();
        p.add(big(&key, 0), broke()).unwrap();
        assert_eq!(p.add(big(&key, 1), broke()), Err(PoolError::AccountBytes(24 * 1024)));
        let mut refused = None;
        for _ in 0..10 {
            if let Err(e) = p.add(big(&LocalKey::random(), 0), broke()) {
                refused = Some(e);
                break;
            }
        }
        assert_eq!(refused, Some(PoolError::Full));
        assert!(p.bytes() <= 64 * 1024);
    }

    #[test]
    fn ready_orders_senders_by_tip() {
        let mut p = pool();
        let (low, high) = (LocalKey::random(), LocalKey::random());
        p.add(tx_with(&low, 0, 100, 1, |_| {}), rich(0)).unwrap();
        p.add(tx_with(&high, 0, 100, 50, |_| {}), rich(0)).unwrap();
        let ready = p.ready(10);
        assert_eq!(ready[0][0].tx.sender, high.address());
        let removed = p.remove_with_descendants(&ready[1][0].tx.hash);
        assert_eq!(removed, 1);
        assert_eq!(p.ready(10).len(), 1);
    }
}
