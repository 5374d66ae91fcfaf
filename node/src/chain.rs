//! The node's application: admission of transactions into the mempool, block
//! building and validation with the EVM, and commit of decided blocks into the
//! store. Consensus (the dev sealer or the BFT engine) drives it through
//! [`dsec_consensus::Application`].

use crate::mempool::{Admitted, Mempool, MempoolConfig, PoolError, PooledTx};
use crate::metrics::Metrics;
use crate::store::{BlockWrite, Retention, Store, StoreError};
use alloy::eips::eip1559::{BaseFeeParams, calc_next_block_base_fee};
use alloy_primitives::{Address, B256};
use dsec_consensus::{Application, EvidenceRecord, ProposedBlock, Verdict};
use dsec_evm::db::StateReader;
use dsec_evm::executor::{BlockContext, BlockExecutor, ChainConfig, TxExecError, receipts_root, transactions_root};
use dsec_evm::{ExecError, InvalidTx};
use dsec_genesis::Genesis;
use dsec_sdk::block::{Block, Body, BodyTx, CommitCertificate, Header, StoredReceipt};
use dsec_sdk::state::{StateChanges, next_state_root};
use dsec_sdk::tx::{RecoveredTx, TxDecodeError};
use dsec_sdk::validators::{CertificateError, ValidatorSet};
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, broadcast};
use tracing::{debug, info, info_span};

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
    /// Account credited with priority fees of blocks this node builds.
    pub beneficiary: Address,
}

impl Default for ChainOptions {
    fn default() -> Self {
        Self {
            retention: Retention::Blocks(10_000),
            mempool: MempoolConfig::default(),
            max_block_transactions: 20_000,
            beneficiary: Address::ZERO,
        }
    }
}

/// Validator sets by the first height they sign (the genesis set at 0), as
/// scheduled by the governance module in committed state.
#[derive(Debug, Default)]
struct Schedule {
    sets: BTreeMap<u64, ValidatorSet>,
    /// Number of governance changes loaded.
    changes: u64,
}

/// Hashes of recently committed transactions, oldest evicted first: a
/// transaction gossiped to this node after its block was committed here is
/// dropped without recovering its sender again (the recovery is the costliest
/// step of admission).
#[derive(Debug, Default)]
struct RecentlyCommitted {
    hashes: std::collections::HashSet<B256>,
    order: std::collections::VecDeque<B256>,
}

/// How many committed transaction hashes [`RecentlyCommitted`] remembers.
const RECENTLY_COMMITTED: usize = 200_000;

impl RecentlyCommitted {
    fn insert(&mut self, hashes: impl IntoIterator<Item = B256>) {
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

/// The chain core.
pub struct Chain {
    store: Store,
    genesis: Genesis,
    genesis_hash: B256,
    config: ChainConfig,
    schedule: RwLock<Schedule>,
    options: ChainOptions,
    head: RwLock<Head>,
    mempool: Mutex<Mempool>,
    executed: Mutex<HashMap<B256, Executed>>,
    wake: Arc<Notify>,
    blocks: broadcast::Sender<Arc<CommittedEvent>>,
    pending_txs: broadcast::Sender<B256>,
    metrics: Arc<Metrics>,
    gossip: std::sync::OnceLock<tokio::sync::mpsc::Sender<alloy_primitives::Bytes>>,
    recently_committed: Mutex<RecentlyCommitted>,
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
    dsec_chaincode::Registry::new(genesis.chaincode.iter().filter(|(_, m)| m.enabled).map(|(name, m)| {
        (
            name.as_str(),
            dsec_chaincode::ModuleConfig {
                admins: m.admins.clone(),
                settings: m.settings.clone(),
                tenants: tenants.clone(),
            },
        )
    }))
}

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
        let governance = dsec_chaincode::validator_set::ValidatorGovernance::new(
            genesis_hash,
            &genesis.validator_set(),
            genesis.permissions.validator_admin,
        );
        let chaincode = chaincode_registry(&genesis)?.with_module(governance.into_module());
        let schedule = Schedule { sets: BTreeMap::from([(0, genesis.validator_set())]), changes: 0 };
        let chain = Self {
            config: ChainConfig { chain_id: genesis.chain_id, chaincode: Arc::new(chaincode) },
            schedule: RwLock::new(schedule),
            store,
            genesis_hash,
            genesis,
            options,
            head: RwLock::new(Head { header, hash }),
            mempool: Mutex::new(mempool),
            executed: Mutex::new(HashMap::new()),
            wake: Arc::new(Notify::new()),
            blocks: broadcast::channel(1024).0,
            pending_txs: broadcast::channel(16_384).0,
            metrics,
            gossip: std::sync::OnceLock::new(),
            recently_committed: Mutex::new(RecentlyCommitted::default()),
        };
        chain.load_schedule()?;
        Ok(chain)
    }

    /// Load governance changes committed since the last call (all of them at start-up).
    fn load_schedule(&self) -> Result<(), ChainError> {
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

    /// Forward transactions admitted from this node's clients to `sender` (the
    /// transaction gossip). Transactions that arrive by gossip are not forwarded.
    pub fn set_gossip(&self, sender: tokio::sync::mpsc::Sender<alloy_primitives::Bytes>) {
        let _ = self.gossip.set(sender);
    }

    /// Admit a transaction received from a peer (not gossiped further).
    pub fn submit_gossiped(&self, raw: &[u8]) -> Result<B256, SubmitError> {
        let started = Instant::now();
        self.check_size(raw)?;
        let hash = alloy_primitives::keccak256(raw);
        if self.mempool.lock().get(&hash).is_some() || self.recently_committed.lock().hashes.contains(&hash) {
            self.metrics.gossip_known.inc();
            return Ok(hash);
        }
        let tx = RecoveredTx::decode(raw)?;
        self.submit(tx, started)
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

    /// Execution settings.
    pub fn config(&self) -> &ChainConfig {
        &self.config
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

    /// The EVM environment of the block after `parent`.
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

    /// The environment `eth_call` uses at block `header` (its own environment).
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

    /// Admit a raw transaction into the mempool.
    pub fn submit_raw(&self, raw: &[u8]) -> Result<B256, SubmitError> {
        let started = Instant::now();
        self.check_size(raw)?;
        let tx = RecoveredTx::decode(raw)?;
        let hash = self.submit(tx, started)?;
        if let Some(gossip) = self.gossip.get()
            && gossip.try_send(alloy_primitives::Bytes::copy_from_slice(raw)).is_err()
        {
            self.metrics.gossip_dropped.inc();
        }
        Ok(hash)
    }

    /// Refuse a transaction larger than the mempool takes, before decoding it.
    fn check_size(&self, raw: &[u8]) -> Result<(), SubmitError> {
        let limit = self.options.mempool.max_tx_bytes;
        if raw.len() > limit {
            return Err(PoolError::Oversized { size: raw.len(), limit }.into());
        }
        Ok(())
    }

    fn submit(&self, tx: RecoveredTx, started: Instant) -> Result<B256, SubmitError> {
        let permissions = &self.genesis.permissions;
        if !permissions.may_send(&tx.sender) {
            return Err(PoolError::NotPermitted("sender not permitted on this network").into());
        }
        if tx.is_create() && !permissions.may_deploy(&tx.sender) {
            return Err(PoolError::NotPermitted("sender not permitted to deploy contracts").into());
        }
        let account = self.store.head_state().account(&tx.sender).map_err(|e| SubmitError::Node(e.to_string()))?;
        let hash = tx.hash;
        let outcome = self.mempool.lock().add(tx, account);
        match outcome {
            Ok(admitted) => {
                if let Admitted::Replaced(old) = admitted {
                    debug!(%old, new = %hash, "transaction replaced");
                }
                self.metrics.txs_admitted.inc();
                self.metrics.admission_micros.add(started.elapsed().as_micros() as u64);
                let _ = self.pending_txs.send(hash);
                self.wake.notify_one();
                Ok(hash)
            }
            Err(e) => {
                self.metrics.txs_rejected.inc();
                Err(e.into())
            }
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

    /// The validator set that signs `height`, as scheduled in committed state.
    /// Final for every height up to two after the head: a change takes effect
    /// at least two heights after the block that includes it.
    pub fn validators_at(&self, height: u64) -> ValidatorSet {
        self.schedule.read().sets.range(..=height).next_back().map(|(_, set)| set.clone()).unwrap_or_default()
    }

    fn seal_header(
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

    fn build(&self, height: u64, proposer: Address, deadline: Instant) -> Result<ProposedBlock, ChainError> {
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
        let mut exec = BlockExecutor::new(self.store.head_state(), &self.config, &ctx);
        let mut included: Vec<(B256, BodyTx)> = Vec::new();
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
                if tx.gas_limit() > exec.remaining_gas() {
                    continue 'groups;
                }
                match exec.execute(tx) {
                    Ok(_) => included.push((tx.hash, BodyTx { sender: tx.sender, raw: tx.raw.clone() })),
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
        self.metrics.build_micros.add(started.elapsed().as_micros() as u64);
        debug!(txs = included.len(), gas = out.gas_used, ms = started.elapsed().as_millis() as u64, "built block");
        self.executed
            .lock()
            .insert(hash, Executed { header, transactions: included, receipts: out.receipts, changes: out.changes });
        Ok(ProposedBlock { block, hash })
    }

    fn validate(&self, block: &Block) -> Result<Verdict, ChainError> {
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
        let ctx = BlockContext {
            number: header.number,
            timestamp_secs: header.timestamp_secs(),
            beneficiary: header.beneficiary,
            gas_limit: header.gas_limit,
            base_fee: header.base_fee_per_gas,
            prevrandao: parent.hash,
        };
        let mut exec = BlockExecutor::new(self.store.head_state(), &self.config, &ctx);
        let mut transactions = Vec::with_capacity(block.body.transactions.len());
        // Transactions this node already admitted were decoded and their sender
        // recovered then: re-use that work (the hash covers the signed bytes).
        let pooled: Vec<Option<RecoveredTx>> = {
            let pool = self.mempool.lock();
            block
                .body
                .transactions
                .iter()
                .map(|t| pool.get(&alloy_primitives::keccak256(&t.raw)).map(|p| p.tx.clone()))
                .collect()
        };
        for ((i, body_tx), known) in block.body.transactions.iter().enumerate().zip(pooled) {
            let decoded = match known {
                Some(tx) => Ok(tx),
                None => {
                    self.metrics.validate_recovered.inc();
                    RecoveredTx::decode(&body_tx.raw)
                }
            };
            let tx = match decoded {
                Ok(tx) if tx.sender == body_tx.sender => tx,
                Ok(_) => return Ok(Verdict::Invalid(format!("transaction {i}: sender does not match the signature"))),
                Err(e) => return Ok(Verdict::Invalid(format!("transaction {i}: {e}"))),
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
            Executed { header: header.clone(), transactions, receipts: out.receipts, changes: out.changes },
        );
        self.metrics.validate_micros.add(started.elapsed().as_micros() as u64);
        debug!(txs = block.body.transactions.len(), ms = started.elapsed().as_millis() as u64, "validated block");
        Ok(Verdict::Valid)
    }

    fn commit(&self, block_hash: B256, certificate: CommitCertificate) -> Result<(), ChainError> {
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
        *self.head.write() = Head { header: executed.header.clone(), hash: block_hash };
        self.load_schedule()?;
        // Other candidates for this height are dead now.
        self.executed.lock().retain(|_, e| e.header.number > executed.header.number);
        let nonces = executed
            .changes
            .accounts
            .iter()
            .map(|(address, change)| (*address, change.info.map(|i| i.nonce).unwrap_or(0)));
        self.mempool.lock().on_block(nonces);
        self.recently_committed.lock().insert(executed.transactions.iter().map(|(h, _)| *h));
        let tx_count = executed.transactions.len();
        self.metrics.head.set(executed.header.number);
        self.metrics.blocks.inc();
        self.metrics.txs_committed.add(tx_count as u64);
        self.metrics.gas_used.add(executed.header.gas_used);
        self.metrics.commit_micros.add(started.elapsed().as_micros() as u64);
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

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::consensus::TxEip1559;
    use alloy_primitives::{TxKind, U256};
    use dsec_consensus::DevSealer;
    use dsec_genesis::devnet::{DevnetSpec, generate};
    use dsec_sdk::block::CommitSignature;
    use std::time::Duration;

    fn open(dir: &Path, genesis: &Genesis) -> Chain {
        let options = ChainOptions { retention: Retention::Archive, ..Default::default() };
        Chain::open(dir, genesis.clone(), options, Arc::new(Metrics::default())).unwrap()
    }

    fn transfer(nonce: u64, value: u64) -> Vec<u8> {
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
        a.submit_raw(&transfer(0, 5)).unwrap();
        a.submit_raw(&transfer(1, 6)).unwrap();
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
    fn dev_sealer_seals_and_base_fee_follows_eip1559() {
        let devnet = generate(&DevnetSpec { gas_limit: 100_000, ..Default::default() });
        let key = devnet.validator_keys[0].clone();
        let dir = tempfile::tempdir().unwrap();
        let chain = open(dir.path(), &devnet.genesis);
        for n in 0..4 {
            chain.submit_raw(&transfer(n, 1)).unwrap();
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
    fn gapped_transactions_wait_and_pending_nonce_counts_the_pool() {
        let devnet = generate(&DevnetSpec::default());
        let key = devnet.validator_keys[0].clone();
        let dir = tempfile::tempdir().unwrap();
        let chain = open(dir.path(), &devnet.genesis);
        let sender = dsec_sdk::dev::dev_accounts()[0].address;
        chain.submit_raw(&transfer(1, 1)).unwrap();
        assert!(!chain.has_ready_transactions());
        assert_eq!(chain.pending_nonce(&sender).unwrap(), 0);
        let empty = DevSealer::seal_one(&chain, &key, Duration::from_secs(1)).unwrap();
        assert!(empty.block.body.transactions.is_empty());
        chain.submit_raw(&transfer(0, 1)).unwrap();
        assert_eq!(chain.pending_nonce(&sender).unwrap(), 2);
        let full = DevSealer::seal_one(&chain, &key, Duration::from_secs(1)).unwrap();
        assert_eq!(full.block.body.transactions.len(), 2);
    }
}
