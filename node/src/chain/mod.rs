//! The node's application: the one [`Chain`] type, its errors, opening it and
//! its accessors. Its work is split by concern into the files beside this one:
//! admission of transactions into the mempool (`admission.rs`), block
//! production (`build.rs`), validation and commit of decided blocks
//! (`validate.rs`), the validator-set schedule (`schedule.rs`), proof bundles
//! of committed transactions (`proof.rs`), and the
//! [`dsec_consensus::Application`] interface through which consensus (the dev
//! sealer or the BFT engine) drives it (`application.rs`).

mod admission;
mod application;
mod build;
mod permissions;
mod proof;
mod schedule;
mod validate;

pub use admission::{Admission, TxOrigin};

use crate::mempool::{Mempool, MempoolConfig, PoolError};
use crate::metrics::Metrics;
use crate::store::{Retention, Store, StoreError};
use admission::{RECENTLY_COMMITTED, RECOVERED_SENDERS, RecentlyCommitted, RecoveredSenders};
use alloy_primitives::{Address, B256};
use dsec_evm::ExecError;
use dsec_evm::executor::ChainConfig;
use dsec_genesis::Genesis;
use dsec_sdk::block::{BodyTx, Header, StoredReceipt};
use dsec_sdk::state::StateChanges;
use dsec_sdk::tx::TxDecodeError;
use dsec_sdk::validators::CertificateError;
use parking_lot::{Mutex, RwLock};
use schedule::Schedule;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, broadcast};

/// A node failure that stops block production.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Execution failed for a reason that is not the transaction's.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// A block to commit was never built or validated here.
    #[error("block {0} is unknown: it was neither built nor validated by this node")]
    UnknownBlock(B256),
    /// The genesis enables chaincode this build cannot run, or configures it wrongly.
    #[error(transparent)]
    Chaincode(#[from] dsec_chaincode::RegistryError),
    /// A certificate does not prove the block.
    #[error("commit certificate rejected: {0}")]
    Certificate(#[from] CertificateError),
    /// The validator-set schedule in committed state could not be read.
    #[error("cannot read the validator-set schedule: {0}")]
    Schedule(String),
    /// The permissions module's committed state could not be read.
    #[error("cannot read the permissions: {0}")]
    Permissions(String),
    /// Consensus asked for a height that does not follow the head.
    #[error("cannot build height {requested}: the head is {head}")]
    WrongHeight {
        /// Height asked for.
        requested: u64,
        /// Current head.
        head: u64,
    },
}

/// Why a submitted transaction was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// It does not decode, or its signature is bad.
    #[error(transparent)]
    Decode(#[from] TxDecodeError),
    /// The mempool refused it.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// The node failed reading state.
    #[error("node error: {0}")]
    Node(String),
    /// Refused by [`Chain::submit_local`]: the nonce leaves a gap, so the
    /// transaction could not execute now (it was not pooled).
    #[error("nonce gap: the sender's next nonce is {expected}, the transaction's is {nonce}")]
    NonceGap {
        /// The nonce the sender's next transaction must carry.
        expected: u64,
        /// The transaction's nonce.
        nonce: u64,
    },
}

impl SubmitError {
    /// The reason as a metric label (one of [`crate::metrics::REJECTION_REASONS`]).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Decode(_) => "decode",
            Self::Node(_) => "node_error",
            Self::NonceGap { .. } => "nonce_gap",
            Self::Pool(e) => match e {
                PoolError::AlreadyKnown => "already_known",
                PoolError::NonceTooLow { .. } => "nonce_too_low",
                PoolError::ReplacementUnderpriced => "replacement_underpriced",
                PoolError::InsufficientFunds { .. } => "insufficient_funds",
                PoolError::IntrinsicGasTooLow { .. } => "intrinsic_gas_too_low",
                PoolError::ExceedsBlockGasLimit => "exceeds_block_gas_limit",
                PoolError::InvalidChainId { .. } => "invalid_chain_id",
                PoolError::Oversized { .. } => "oversized",
                PoolError::Underpriced { .. } => "underpriced",
                PoolError::TipAboveFeeCap => "tip_above_fee_cap",
                PoolError::AccountLimit(_) | PoolError::AccountBytes(_) => "account_limit",
                PoolError::QueueFull(_) | PoolError::Full => "pool_full",
                PoolError::NotPermitted(_) => "not_permitted",
            },
        }
    }
}

/// The last committed block.
#[derive(Debug, Clone)]
pub struct Head {
    /// Its header.
    pub header: Header,
    /// Its hash.
    pub hash: B256,
}

/// A block committed, as announced to RPC subscribers.
#[derive(Debug, Clone)]
pub struct CommittedEvent {
    /// Header of the block.
    pub header: Header,
    /// Its hash.
    pub hash: B256,
    /// Hashes of its transactions.
    pub tx_hashes: Vec<B256>,
}

/// A block built or validated here and not yet committed.
#[derive(Debug, Clone)]
struct Executed {
    header: Header,
    transactions: Vec<(B256, BodyTx)>,
    receipts: Vec<StoredReceipt>,
    changes: StateChanges,
    /// When this node started building or validating it (the proposal's arrival).
    since: std::time::Instant,
}

/// Settings of the chain core.
#[derive(Debug, Clone)]
pub struct ChainOptions {
    /// State history kept.
    pub retention: Retention,
    /// Mempool limits.
    pub mempool: MempoolConfig,
    /// Most transactions per block.
    pub max_block_transactions: usize,
    /// Most bytes of signed transactions per block this node proposes.
    pub max_block_bytes: usize,
    /// Account credited with priority fees of blocks this node builds.
    pub beneficiary: Address,
    /// FAULT INJECTION FOR TESTS: admit and build blocks with transactions the
    /// permissions refuse (a Byzantine proposer; its blocks are refused by others).
    pub byzantine_ignore_permissions: bool,
}

/// Blocks of state history kept when not an archive.
pub const DEFAULT_STATE_HISTORY_BLOCKS: u64 = 10_000;
/// Most transactions per block of a single validator.
pub const DEFAULT_MAX_BLOCK_TRANSACTIONS: usize = 20_000;
/// Most bytes of signed transactions per proposed block (CometBFT's default
/// `max_bytes`): a block of 5 KB ML-DSA-65 transactions streams and validates
/// within a round instead of timing rounds out.
pub const DEFAULT_MAX_BLOCK_BYTES: usize = 4 * 1024 * 1024;

impl Default for ChainOptions {
    fn default() -> Self {
        Self {
            retention: Retention::Blocks(DEFAULT_STATE_HISTORY_BLOCKS),
            mempool: MempoolConfig::default(),
            max_block_transactions: DEFAULT_MAX_BLOCK_TRANSACTIONS,
            max_block_bytes: DEFAULT_MAX_BLOCK_BYTES,
            beneficiary: Address::ZERO,
            byzantine_ignore_permissions: false,
        }
    }
}

/// The chain core.
pub struct Chain {
    store: Store,
    genesis: Genesis,
    genesis_hash: B256,
    /// Execution settings; the access rules in it are replaced by those in force ([`Chain::config`]).
    config: ChainConfig,
    permissions: RwLock<permissions::InForce>,
    schedule: RwLock<Schedule>,
    options: ChainOptions,
    head: RwLock<Head>,
    mempool: Mutex<Mempool>,
    executed: Mutex<alloy_primitives::map::B256Map<Executed>>,
    wake: Arc<Notify>,
    blocks: broadcast::Sender<Arc<CommittedEvent>>,
    pending_txs: broadcast::Sender<B256>,
    metrics: Arc<Metrics>,
    gossip: std::sync::OnceLock<tokio::sync::mpsc::Sender<alloy_primitives::Bytes>>,
    recently_committed: Mutex<RecentlyCommitted>,
    recovered_senders: Mutex<RecoveredSenders>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("genesis_hash", &self.genesis_hash)
            .field("head", &self.head.read().header.number)
            .finish()
    }
}

/// The chaincode modules the genesis enables, with their settings and the genesis tenants.
pub fn chaincode_registry(genesis: &Genesis) -> Result<dsec_chaincode::Registry, dsec_chaincode::RegistryError> {
    let tenants: Vec<dsec_chaincode::GenesisTenant> = genesis
        .tenants
        .iter()
        .map(|t| dsec_chaincode::GenesisTenant {
            id: t.id.clone(),
            name: t.name.clone(),
            residency_zone: t.residency_zone.clone(),
            members: t.members.clone(),
            anchors_per_day: t.anchors_per_day,
        })
        .collect();
    dsec_chaincode::Registry::for_chain(
        genesis.hash(),
        genesis.enabled_chaincode().map(|(name, m)| {
            (
                name,
                dsec_chaincode::ModuleConfig {
                    admins: m.admins.clone(),
                    settings: m.settings.clone(),
                    tenants: tenants.clone(),
                },
            )
        }),
    )
}

/// Wall-clock time in milliseconds since the Unix epoch (0 if the clock is set before it).
fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Chain {
    /// Open the store in `data_dir`, writing genesis on first start.
    pub fn open(
        data_dir: &Path,
        genesis: Genesis,
        options: ChainOptions,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ChainError> {
        let store = Store::open(&data_dir.join("db"), options.retention)?;
        let genesis_hash = store.init_genesis(&genesis)?;
        let head_number = store.head_number()?.unwrap_or(0);
        let header = store.header(head_number)?.ok_or_else(|| StoreError::Corrupt {
            cf: "headers",
            message: format!("head block {head_number} has no header"),
        })?;
        let hash = header.hash_slow();
        let mut mempool_config = options.mempool.clone();
        mempool_config.min_gas_price = mempool_config.min_gas_price.max(genesis.fees.min_gas_price as u128);
        let mempool = Mempool::new(mempool_config, genesis.chain_id, genesis.gas_limit);
        metrics.head.set(head_number);
        metrics.mempool_capacity.set(options.mempool.max_pool_bytes as u64);
        let governance = dsec_chaincode::validator_set::ValidatorGovernance::new(
            genesis_hash,
            &genesis.validator_set(),
            genesis.permissions.validator_admin,
        );
        let modules = genesis.enabled_chaincode().map(|(name, _)| name.to_string()).collect();
        let permissions = dsec_chaincode::permissions::Permissions::new(genesis_hash, governance.clone(), modules);
        let chaincode = chaincode_registry(&genesis)?
            .with_module(governance.into_module())
            .with_module(permissions.into_module())
            .with_module(dsec_chaincode::documents::Documents.into_module());
        let schedule = Schedule::new(genesis.validator_set());
        let chain = Self {
            config: ChainConfig { chaincode: Arc::new(chaincode), ..ChainConfig::new(genesis.chain_id) },
            permissions: RwLock::new(permissions::InForce::default()),
            schedule: RwLock::new(schedule),
            store,
            genesis_hash,
            genesis,
            options,
            head: RwLock::new(Head { header, hash }),
            mempool: Mutex::new(mempool),
            executed: Mutex::new(Default::default()),
            wake: Arc::new(Notify::new()),
            blocks: broadcast::channel(1024).0,
            pending_txs: broadcast::channel(16_384).0,
            metrics,
            gossip: std::sync::OnceLock::new(),
            recently_committed: Mutex::new(RecentlyCommitted::new(RECENTLY_COMMITTED)),
            recovered_senders: Mutex::new(RecoveredSenders::new(RECOVERED_SENDERS)),
        };
        chain.load_schedule()?;
        chain.load_permissions()?;
        Ok(chain)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The genesis file.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The genesis hash.
    pub fn genesis_hash(&self) -> B256 {
        self.genesis_hash
    }

    /// The account that may change the validator set alone, if the genesis names one.
    pub fn validator_admin(&self) -> Option<Address> {
        self.genesis.permissions.validator_admin
    }

    /// The last committed block.
    pub fn head(&self) -> Head {
        self.head.read().clone()
    }

    /// Notified when transactions arrive (wakes the sealer).
    pub fn wake_handle(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Subscribe to committed blocks.
    pub fn subscribe_blocks(&self) -> broadcast::Receiver<Arc<CommittedEvent>> {
        self.blocks.subscribe()
    }

    /// Subscribe to hashes of transactions admitted to the mempool.
    pub fn subscribe_pending(&self) -> broadcast::Receiver<B256> {
        self.pending_txs.subscribe()
    }

    /// Metrics of this node.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloy::consensus::TxEip1559;
    use alloy_primitives::{TxKind, U256};
    use dsec_consensus::{Application, Verdict};
    use dsec_evm::db::StateReader;
    use dsec_genesis::devnet::{DevnetSpec, generate};
    use dsec_sdk::block::{CommitCertificate, CommitSignature};
    use dsec_sdk::tx::RecoveredTx;
    use std::time::{Duration, Instant};

    /// A chain on `genesis` in `dir`, keeping all state history.
    pub(crate) fn open(dir: &Path, genesis: &Genesis) -> Chain {
        let options = ChainOptions { retention: Retention::Archive, ..Default::default() };
        Chain::open(dir, genesis.clone(), options, Arc::new(Metrics::default())).unwrap()
    }

    /// A signed transfer of `value` from the first dev account.
    pub(crate) fn transfer(nonce: u64, value: u64) -> Vec<u8> {
        let key = dsec_sdk::dev::dev_accounts()[0].key();
        key.sign_tx_bytes(TxEip1559 {
            chain_id: 31337,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: 10_000_000_000,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(Address::repeat_byte(7)),
            value: U256::from(value),
            ..Default::default()
        })
        .to_vec()
    }

    #[test]
    fn a_block_built_by_one_node_validates_and_commits_on_another() {
        let devnet = generate(&DevnetSpec::default());
        let key = devnet.validator_keys[0].clone();
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = open(dir_a.path(), &devnet.genesis);
        let b = open(dir_b.path(), &devnet.genesis);
        a.submit(&transfer(0, 5), TxOrigin::Local).unwrap();
        a.submit(&transfer(1, 6), TxOrigin::Local).unwrap();
        let proposed = a.build_block(1, key.address(), Instant::now() + Duration::from_secs(1)).unwrap();
        assert_eq!(proposed.block.body.transactions.len(), 2);

        // Any change to the header is caught by re-execution.
        let mut forged = proposed.block.clone();
        forged.header.state_root = B256::repeat_byte(1);
        assert!(matches!(b.validate_block(&forged).unwrap(), Verdict::Invalid(_)));
        let mut reordered = proposed.block.clone();
        reordered.body.transactions.reverse();
        assert!(matches!(b.validate_block(&reordered).unwrap(), Verdict::Invalid(_)));
        assert_eq!(b.validate_block(&proposed.block).unwrap(), Verdict::Valid);

        // A certificate from an outsider is refused; the validator's is accepted.
        let message = CommitCertificate::signing_bytes(&a.genesis_hash(), 1, 0, &proposed.hash);
        let outsider = dsec_sdk::validators::ValidatorKey::generate();
        let bad = CommitCertificate {
            height: 1,
            round: 0,
            block_hash: proposed.hash,
            signatures: vec![CommitSignature {
                validator: outsider.address(),
                signature: outsider.sign(&message).to_vec().into(),
                ml_dsa_signature: None,
            }],
        };
        assert!(matches!(b.commit_block(proposed.hash, bad), Err(ChainError::Certificate(_))));
        let cert = CommitCertificate {
            height: 1,
            round: 0,
            block_hash: proposed.hash,
            signatures: vec![CommitSignature {
                validator: key.address(),
                signature: key.sign(&message).to_vec().into(),
                ml_dsa_signature: None,
            }],
        };
        a.commit_block(proposed.hash, cert.clone()).unwrap();
        b.validate_block(&proposed.block).unwrap();
        b.commit_block(proposed.hash, cert).unwrap();
        assert_eq!(a.head().hash, b.head().hash);
        assert_eq!(a.head().header.state_root, b.head().header.state_root);
        assert_eq!(a.mempool_len(), 0, "included transactions leave the pool");
        let balance = b.store().head_state().account(&Address::repeat_byte(7)).unwrap().unwrap().balance;
        assert_eq!(balance, U256::from(11));
    }

    #[test]
    fn a_sender_off_the_account_list_reaches_no_block_whoever_proposes() {
        let mut devnet = generate(&DevnetSpec::default());
        let accounts = dsec_sdk::dev::dev_accounts();
        devnet.genesis.permissions.senders = Some(vec![accounts[0].address]);
        let key = devnet.validator_keys[0].clone();
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = open(dir_a.path(), &devnet.genesis);
        let b = open(dir_b.path(), &devnet.genesis);

        // The door refuses an outsider with the message clients see.
        let outsider = accounts[1].key().sign_tx_bytes(TxEip1559 {
            chain_id: 31337,
            gas_limit: 21_000,
            max_fee_per_gas: 10_000_000_000,
            to: TxKind::Call(Address::repeat_byte(7)),
            value: U256::from(1),
            ..Default::default()
        });
        let refused = a.submit(&outsider, TxOrigin::Local).unwrap_err();
        assert_eq!(refused.to_string(), "sender not permitted");

        // A proposer whose pool holds it anyway (a faulty or Byzantine node) builds without it...
        let tx = RecoveredTx::decode(&outsider).unwrap();
        let account = a.store.head_state().account(&tx.sender).unwrap();
        a.mempool.lock().add(tx.clone(), account).unwrap();
        a.submit(&transfer(0, 5), TxOrigin::Local).unwrap();
        let proposed = a.build_block(1, key.address(), Instant::now() + Duration::from_secs(1)).unwrap();
        assert_eq!(proposed.block.body.transactions.len(), 1, "the builder skips the outsider");
        assert!(a.mempool.lock().get(&tx.hash).is_none(), "and drops it from the pool");

        // ...and a block that includes it is refused by the other validators.
        let mut byzantine = proposed.block.clone();
        byzantine.body.transactions.push(dsec_sdk::block::BodyTx { sender: tx.sender, raw: tx.raw.clone() });
        match b.validate_block(&byzantine).unwrap() {
            Verdict::Invalid(reason) => assert_eq!(reason, "transaction 1: sender not permitted"),
            Verdict::Valid => panic!("a block with a sender off the list was accepted"),
        }
        assert_eq!(b.validate_block(&proposed.block).unwrap(), Verdict::Valid);
    }
}
