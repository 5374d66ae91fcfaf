//! `dsec-consensus`: the interface through which consensus drives the node,
//! and the single-validator dev sealer that drives it on a dev chain.
//!
//! The [`Application`] trait is what any engine needs from the node: build a
//! block for a height within a deadline, validate (re-execute) a block
//! proposed by someone else, and commit a decided block with its commit
//! certificate. The [`DevSealer`] drives it alone, as `geth --dev` and Anvil
//! do: it builds a block when transactions arrive (or every interval), signs
//! the commit certificate with the only validator's key, and commits. The BFT
//! engine plugs into the same trait.

// Used only by the Criterion benchmarks in benches/.
#[cfg(feature = "bench")]
use criterion as _;

pub mod bft;

use alloy_primitives::{Address, B256, Bytes};
use dsec_sdk::block::{Block, CommitCertificate};
use dsec_sdk::validators::{SignerError, ValidatorSet, ValidatorSigner};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// A block built or validated by the application, not yet committed.
#[derive(Debug, Clone)]
pub struct ProposedBlock {
    /// The block.
    pub block: Block,
    /// Its hash.
    pub hash: B256,
}

/// The verdict on a block proposed by another validator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Re-execution reproduced the header: vote for it.
    Valid,
    /// The block is wrong; the reason is logged and recorded.
    Invalid(String),
}

/// What consensus needs from the node.
pub trait Application: Send + Sync + 'static {
    /// A failure of the node itself (disk, corruption): consensus must stop.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Height and hash of the last committed block.
    fn last_committed(&self) -> (u64, B256);

    /// The validator set that signs height `height`.
    fn validator_set(&self, height: u64) -> Result<ValidatorSet, Self::Error>;

    /// The genesis hash (what commit signatures are bound to).
    fn chain_hash(&self) -> B256;

    /// Build the block for `height` on top of the last committed block, from
    /// the mempool, finishing by `deadline`.
    fn build_block(&self, height: u64, proposer: Address, deadline: Instant) -> Result<ProposedBlock, Self::Error>;

    /// Validate a block proposed by someone else by re-executing it.
    fn validate_block(&self, block: &Block) -> Result<Verdict, Self::Error>;

    /// Commit a decided block (built or validated before) with its certificate.
    fn commit_block(&self, block_hash: B256, certificate: CommitCertificate) -> Result<(), Self::Error>;

    /// Whether the mempool holds executable transactions.
    fn has_ready_transactions(&self) -> bool;

    /// Woken when transactions arrive (a proposer waiting for work listens to it).
    fn tx_notify(&self) -> Arc<Notify>;

    /// Whether `hash` was built or validated in this run and can be committed as is.
    fn knows_block(&self, hash: &B256) -> bool;

    /// Persist a proposal (ours before it is proposed, or a valid one received)
    /// so that a restart re-proposes the same block and finds what it voted for.
    fn save_proposal(&self, height: u64, round: u32, block: &Block) -> Result<(), Self::Error>;

    /// The proposals stored for `height`, with their rounds.
    fn proposals(&self, height: u64) -> Result<Vec<(u32, Block)>, Self::Error>;

    /// A committed block and its commit certificate (what value sync serves).
    fn decided_block(&self, height: u64) -> Result<Option<(Block, CommitCertificate)>, Self::Error>;

    /// The lowest height whose block and certificate this node still serves.
    fn earliest_decided(&self) -> u64;

    /// Store misbehaviour evidence surfaced when `height` was finalised.
    fn record_evidence(&self, height: u64, evidence: Vec<EvidenceRecord>) -> Result<(), Self::Error>;
}

/// Proof that a validator signed two conflicting messages for one height and round.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceRecord {
    /// Height of the conflicting messages.
    pub height: u64,
    /// Round of the conflicting messages.
    pub round: u32,
    /// The equivocating validator.
    pub validator: Address,
    /// `double-prevote`, `double-precommit` or `double-proposal`.
    pub kind: String,
    /// What the first message was for (`None`: nil).
    pub first: Option<B256>,
    /// What the second message was for (`None`: nil).
    pub second: Option<B256>,
    /// Signature of the first message (its ed25519 half: enough to prove that
    /// the validator's key signed both; on a hybrid chain the ML-DSA-65 halves
    /// are not kept).
    pub first_signature: Bytes,
    /// Signature of the second message.
    pub second_signature: Bytes,
}

/// Settings of the dev sealer.
#[derive(Debug, Clone)]
pub struct DevSealerConfig {
    /// Seal a block at least this often, even when empty. `None`: only when transactions arrive.
    pub block_interval: Option<Duration>,
    /// Seal as soon as transactions arrive (subject to the pacing below).
    pub seal_on_transactions: bool,
    /// Under sustained load, at most one block per this time: a transaction
    /// arriving while the sealer is paced waits for the next block instead of
    /// sealing its own, so that 1,000 transactions a second from concurrent
    /// clients fill 50 blocks of 20 rather than 1,000 blocks of one. Zero: seal on every arrival.
    pub load_gap: Duration,
    /// Blocks sealed back to back, each as soon as its transactions arrive,
    /// before the pacing starts (a token bucket refilled by one block per
    /// `load_gap`): a client sending transactions one after another, each
    /// waiting for its receipt, sees no delay for its first ones.
    pub load_burst: u32,
    /// Time a block may take to build.
    pub build_time: Duration,
}

/// Default of [`DevSealerConfig::load_gap`]: at most 50 blocks a second under load.
pub const DEFAULT_LOAD_GAP: Duration = Duration::from_millis(20);

/// Default of [`DevSealerConfig::load_burst`].
pub const DEFAULT_LOAD_BURST: u32 = 8;

impl Default for DevSealerConfig {
    fn default() -> Self {
        Self {
            block_interval: Some(Duration::from_secs(1)),
            seal_on_transactions: true,
            load_gap: DEFAULT_LOAD_GAP,
            load_burst: DEFAULT_LOAD_BURST,
            build_time: Duration::from_millis(500),
        }
    }
}

/// The dev sealer's pacing under load: a token bucket of `burst` blocks that
/// refills by one block per `gap`. Each block sealed for arriving transactions
/// takes one token; with none left, the next such block waits for one.
#[derive(Debug, Clone)]
struct Pacing {
    gap: Duration,
    capacity: Duration,
    credit: Duration,
    refilled: tokio::time::Instant,
}

impl Pacing {
    fn new(gap: Duration, burst: u32, now: tokio::time::Instant) -> Self {
        let capacity = gap.saturating_mul(burst.max(1));
        Self { gap, capacity, credit: capacity, refilled: now }
    }

    fn refill(&mut self, now: tokio::time::Instant) {
        let elapsed = now.saturating_duration_since(self.refilled);
        self.credit = self.credit.saturating_add(elapsed).min(self.capacity);
        self.refilled = now;
    }

    /// When the next block for arriving transactions may be sealed (`now` or later).
    fn next_allowed(&mut self, now: tokio::time::Instant) -> tokio::time::Instant {
        self.refill(now);
        now + self.gap.saturating_sub(self.credit)
    }

    /// Take the token of a block sealed at `now`.
    fn take(&mut self, now: tokio::time::Instant) {
        self.refill(now);
        self.credit = self.credit.saturating_sub(self.gap);
    }
}

/// Why the sealer stopped.
#[derive(Debug, thiserror::Error)]
pub enum SealerError<E: std::error::Error + 'static> {
    /// The application failed.
    #[error("application: {0}")]
    App(#[source] E),
    /// The sealer's key is not the only validator of the chain.
    #[error("the dev sealer's key {key} cannot seal alone: the validator set has {validators} members")]
    NotSoleValidator {
        /// Address of the sealer's key.
        key: Address,
        /// Size of the validator set.
        validators: usize,
    },
    /// A blocking task panicked or was cancelled.
    #[error("sealer task failed: {0}")]
    Task(String),
    /// The validator's signer could not sign the certificate (the block was
    /// not committed; the sealer tries again).
    #[error(transparent)]
    Sign(#[from] SignerError),
}

/// Seals blocks on a single-validator chain.
#[derive(Debug)]
pub struct DevSealer<A> {
    app: Arc<A>,
    key: Arc<dyn ValidatorSigner>,
    config: DevSealerConfig,
    wake: Arc<Notify>,
}

impl<A: Application> DevSealer<A> {
    /// A sealer for `app` with the only validator's key; `wake` is notified when transactions arrive.
    pub fn new(app: Arc<A>, key: Arc<dyn ValidatorSigner>, config: DevSealerConfig, wake: Arc<Notify>) -> Self {
        Self { app, key, config, wake }
    }

    /// Seal exactly one block now (also used by tests and `evm_mine`-style tooling).
    pub fn seal_one(
        app: &A,
        key: &dyn ValidatorSigner,
        build_time: Duration,
    ) -> Result<ProposedBlock, SealerError<A::Error>> {
        let (last, _) = app.last_committed();
        let height = last + 1;
        let set = app.validator_set(height).map_err(SealerError::App)?;
        if set.validators.len() != 1 || set.get(&key.address()).is_none() {
            return Err(SealerError::NotSoleValidator { key: key.address(), validators: set.validators.len() });
        }
        let proposed = app.build_block(height, key.address(), Instant::now() + build_time).map_err(SealerError::App)?;
        let message = CommitCertificate::signing_bytes(&app.chain_hash(), height, 0, &proposed.hash);
        let certificate = CommitCertificate {
            height,
            round: 0,
            block_hash: proposed.hash,
            signatures: vec![key.sign_consensus(&message)?.into_commit_signature(key.address())],
        };
        app.commit_block(proposed.hash, certificate).map_err(SealerError::App)?;
        Ok(proposed)
    }

    /// Run until `shutdown` resolves or the application fails.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), SealerError<A::Error>> {
        tokio::pin!(shutdown);
        let mut last_seal = tokio::time::Instant::now();
        let mut pacing = Pacing::new(self.config.load_gap, self.config.load_burst, last_seal);
        loop {
            let now = tokio::time::Instant::now();
            let interval_deadline = self.config.block_interval.map(|i| last_seal + i);
            let must_seal = interval_deadline.is_some_and(|d| now >= d);
            let has_txs = self.config.seal_on_transactions && self.app.has_ready_transactions();
            if has_txs && !must_seal {
                let allowed = pacing.next_allowed(now);
                if allowed > now {
                    // Paced: more transactions join this block while we wait.
                    tokio::select! {
                        _ = &mut shutdown => return Ok(()),
                        _ = tokio::time::sleep_until(allowed) => {}
                    }
                }
            }
            if must_seal || has_txs {
                let started = tokio::time::Instant::now();
                if has_txs {
                    pacing.take(started);
                }
                let app = self.app.clone();
                let key = self.key.clone();
                let build_time = self.config.build_time;
                let result = tokio::task::spawn_blocking(move || Self::seal_one(&app, key.as_ref(), build_time))
                    .await
                    .map_err(|e| SealerError::Task(e.to_string()))?;
                match result {
                    Ok(_) => {}
                    // A token that cannot sign at the moment (removed, restarting): the
                    // chain waits for it, as for a validator that is offline.
                    Err(SealerError::Sign(error)) => {
                        tracing::error!(%error, "cannot sign the block; retrying in 1 s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    Err(other) => return Err(other),
                }
                last_seal = started;
                continue;
            }
            let sleep_until = interval_deadline.unwrap_or_else(|| now + Duration::from_secs(3600));
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep_until(sleep_until) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Pacing;
    use std::time::Duration;

    #[test]
    fn pacing_lets_a_burst_through_then_spaces_blocks_by_the_gap() {
        let gap = Duration::from_millis(20);
        let start = tokio::time::Instant::now();
        let mut pacing = Pacing::new(gap, 3, start);
        // Three blocks back to back: the burst.
        for _ in 0..3 {
            assert_eq!(pacing.next_allowed(start), start);
            pacing.take(start);
        }
        // The fourth waits a whole gap.
        assert_eq!(pacing.next_allowed(start), start + gap);
        let later = start + Duration::from_millis(5);
        assert_eq!(pacing.next_allowed(later), start + gap, "waiting counts toward the gap");
        pacing.take(start + gap);
        assert_eq!(pacing.next_allowed(start + gap), start + gap * 2);
        // After an idle second the whole burst is back, and no more.
        let idle = start + Duration::from_secs(1);
        for _ in 0..3 {
            assert_eq!(pacing.next_allowed(idle), idle);
            pacing.take(idle);
        }
        assert_eq!(pacing.next_allowed(idle), idle + gap);
    }

    #[test]
    fn a_zero_gap_never_paces() {
        let start = tokio::time::Instant::now();
        let mut pacing = Pacing::new(Duration::ZERO, 8, start);
        for _ in 0..100 {
            pacing.take(start);
            assert_eq!(pacing.next_allowed(start), start);
        }
    }
}
