//! The transaction pool: admission checks with the messages Ethereum clients
//! use, per-sender nonce order, gapped nonces held until the gap fills,
//! replacement by a higher fee only, bounded size, eviction of included and
//! stale transactions.

use alloy::consensus::Transaction as _;
use alloy_primitives::{Address, B256, U256};
use dsec_evm::intrinsic::intrinsic_gas;
use dsec_sdk::state::AccountState;
use dsec_sdk::tx::RecoveredTx;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Limits and rules of the pool.
#[derive(Debug, Clone)]
pub struct MempoolConfig {
    /// Most transactions held in total.
    pub max_transactions: usize,
    /// Most transactions held per sender.
    pub max_per_sender: usize,
    /// Largest accepted encoded transaction, bytes.
    pub max_tx_bytes: usize,
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
    /// The sender cannot pay the maximum cost.
    #[error("insufficient funds for gas * price + value: balance {balance}, tx cost {cost}, overshot {overshot}")]
    InsufficientFunds {
        /// Balance.
        balance: U256,
        /// Maximum cost.
        cost: U256,
        /// Missing amount.
        overshot: U256,
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
    /// The pool is full.
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

#[derive(Debug, Default)]
struct SenderQueue {
    /// Account nonce as last known (state at the head).
    state_nonce: u64,
    txs: BTreeMap<u64, Arc<PooledTx>>,
}

impl SenderQueue {
    /// Length of the run of consecutive nonces starting at the account nonce.
    fn ready_len(&self) -> usize {
        (self.state_nonce..)
            .zip(self.txs.range(self.state_nonce..).map(|(n, _)| *n))
            .take_while(|(a, b)| a == b)
            .count()
    }
}

/// The pool.
#[derive(Debug)]
pub struct Mempool {
    config: MempoolConfig,
    chain_id: u64,
    block_gas_limit: u64,
    by_hash: HashMap<B256, Arc<PooledTx>>,
    senders: HashMap<Address, SenderQueue>,
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
        Self { config, chain_id, block_gas_limit, by_hash: HashMap::new(), senders: HashMap::new(), next_seq: 0 }
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
        let cost = tx.max_cost();
        if account.balance < cost {
            return Err(PoolError::InsufficientFunds {
                balance: account.balance,
                cost,
                overshot: cost - account.balance,
            });
        }
        let (known_nonce, queued) =
            self.senders.get(&tx.sender).map(|q| (q.state_nonce, q.txs.len())).unwrap_or((0, 0));
        let state_nonce = known_nonce.max(account.nonce);
        if nonce < state_nonce {
            return Err(PoolError::NonceTooLow { tx: nonce, state: state_nonce });
        }
        let existing = self.senders.get(&tx.sender).and_then(|q| q.txs.get(&nonce));
        let replaced = match existing {
            Some(old) => {
                let bump = |old: u128| old + old * self.config.price_bump_percent / 100;
                if tx.max_fee_per_gas() < bump(old.tx.max_fee_per_gas())
                    || tx.max_priority_fee_per_gas() < bump(old.tx.max_priority_fee_per_gas())
                {
                    return Err(PoolError::ReplacementUnderpriced);
                }
                Some(old.tx.hash)
            }
            None => {
                if queued >= self.config.max_per_sender {
                    return Err(PoolError::AccountLimit(queued));
                }
                if self.by_hash.len() >= self.config.max_transactions {
                    return Err(PoolError::Full);
                }
                None
            }
        };
        let pooled = Arc::new(PooledTx { tx, arrived: Instant::now(), seq: self.next_seq });
        self.next_seq += 1;
        if let Some(old) = replaced {
            self.by_hash.remove(&old);
        }
        self.by_hash.insert(pooled.tx.hash, pooled.clone());
        // Only an admitted transaction creates a sender queue.
        let queue = self.senders.entry(pooled.tx.sender).or_default();
        queue.state_nonce = state_nonce;
        queue.txs.insert(nonce, pooled);
        Ok(match replaced {
            Some(old) => Admitted::Replaced(old),
            None => Admitted::New,
        })
    }

    /// Whether any sender has an executable transaction.
    pub fn has_ready(&self) -> bool {
        self.senders.values().any(|q| q.txs.keys().next() == Some(&q.state_nonce))
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
                        expected += 1;
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
                (n > 0).then(|| queue.txs.values().take(n).cloned().collect())
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
            let keep = queue.txs.split_off(&nonce);
            for (_, old) in std::mem::replace(&mut queue.txs, keep) {
                self.by_hash.remove(&old.tx.hash);
                dropped.push(old.tx.hash);
            }
            if queue.txs.is_empty() {
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
        let removed = queue.txs.split_off(&pooled.tx.nonce());
        for old in removed.values() {
            self.by_hash.remove(&old.tx.hash);
        }
        if queue.txs.is_empty() {
            self.senders.remove(&sender);
        }
        removed.len()
    }

    /// Drop queued (not executable) transactions older than the configured age.
    pub fn evict_stale(&mut self, now: Instant) -> usize {
        let max_age = self.config.max_queued_age;
        let mut evicted = 0;
        let by_hash = &mut self.by_hash;
        self.senders.retain(|_, queue| {
            let ready = queue.ready_len();
            let stale: Vec<u64> = queue
                .txs
                .iter()
                .skip(ready)
                .filter(|(_, p)| now.duration_since(p.arrived) > max_age)
                .map(|(n, _)| *n)
                .collect();
            for nonce in stale {
                if let Some(p) = queue.txs.remove(&nonce) {
                    by_hash.remove(&p.tx.hash);
                    evicted += 1;
                }
            }
            !queue.txs.is_empty()
        });
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
