//! Block execution with revm: transactions in order over a state, producing
//! receipts, the block's state changes and the roots its header carries.

use crate::access::{AccessRules, DeployGate};
use crate::db::{RevmDb, StateError, StateReader};
use crate::error::InvalidTx;
use alloy::consensus::Transaction as _;
use alloy::eips::Typed2718;
use alloy_primitives::{Address, B256, Bloom, U256};
use dsec_sdk::block::{StoredReceipt, logs_bloom};
use dsec_sdk::state::{AccountState, StateChanges};
use dsec_sdk::tx::RecoveredTx;
use revm::context::result::{EVMError, ExecutionResult};
use revm::context::{BlockEnv, CfgEnv, Context, TxEnv};
use revm::context_interface::block::BlobExcessGasAndPrice;
use revm::database::CacheDB;
use revm::primitives::hardfork::SpecId;
use revm::state::EvmState;
use revm::{DatabaseCommit, ExecuteEvm, InspectEvm, MainBuilder, MainContext};

/// The hard fork dsec executes: Prague (PUSH0, transient storage, MCOPY,
/// BLS precompiles), without the gas cap per transaction that Osaka adds.
pub const SPEC: SpecId = SpecId::PRAGUE;

/// Chain-wide execution settings.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The chaincode modules the genesis enables.
    pub chaincode: std::sync::Arc<dsec_chaincode::Registry>,
    /// Who may send transactions and create contracts.
    pub access: std::sync::Arc<AccessRules>,
}

impl ChainConfig {
    /// A chain with no chaincode modules, open to every sender.
    pub fn new(chain_id: u64) -> Self {
        Self {
            chain_id,
            chaincode: std::sync::Arc::new(dsec_chaincode::Registry::empty()),
            access: std::sync::Arc::new(AccessRules::open()),
        }
    }
}

/// The block-level environment transactions execute in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockContext {
    /// Height of the block.
    pub number: u64,
    /// `block.timestamp`, seconds.
    pub timestamp_secs: u64,
    /// `block.coinbase`: receives priority fees.
    pub beneficiary: Address,
    /// Block gas limit.
    pub gas_limit: u64,
    /// EIP-1559 base fee.
    pub base_fee: u64,
    /// `block.prevrandao`: dsec uses the parent block hash (not a source of randomness).
    pub prevrandao: B256,
}

/// A failure that is not the transaction's fault: the node cannot go on with this block.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The state below could not be read.
    #[error(transparent)]
    State(#[from] StateError),
    /// revm failed for another reason (a bug or a misconfiguration).
    #[error("evm: {0}")]
    Evm(String),
}

/// Why a transaction could not be executed.
#[derive(Debug, thiserror::Error)]
pub enum TxExecError {
    /// The transaction is invalid against this state: it is left out of the block.
    #[error(transparent)]
    Invalid(#[from] InvalidTx),
    /// The node failed.
    #[error(transparent)]
    Fatal(#[from] ExecError),
}

pub(crate) type Db<S> = CacheDB<RevmDb<S>>;
type Ctx<S> = revm::handler::MainnetContext<Db<S>>;
type Evm<S> = revm::context::Evm<
    Ctx<S>,
    DeployGate,
    revm::handler::instructions::EthInstructions<revm::interpreter::interpreter::EthInterpreter, Ctx<S>>,
    crate::chaincode::ChaincodePrecompiles,
    revm::handler::EthFrame,
>;

pub(crate) fn cfg_env(chain: &ChainConfig) -> CfgEnv {
    let mut cfg = CfgEnv::new_with_spec(SPEC);
    cfg.chain_id = chain.chain_id;
    cfg
}

pub(crate) fn block_env(block: &BlockContext) -> BlockEnv {
    BlockEnv {
        number: U256::from(block.number),
        beneficiary: block.beneficiary,
        timestamp: U256::from(block.timestamp_secs),
        gas_limit: block.gas_limit,
        basefee: block.base_fee,
        difficulty: U256::ZERO,
        prevrandao: Some(block.prevrandao),
        blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new_with_spec(0, SPEC)),
        ..Default::default()
    }
}

pub(crate) fn build_evm<S: StateReader>(state: S, chain: &ChainConfig, block: &BlockContext) -> Evm<S> {
    Context::mainnet()
        .with_db(CacheDB::new(RevmDb(state)))
        .with_cfg(cfg_env(chain))
        .with_block(block_env(block))
        .build_mainnet_with_inspector(DeployGate::default())
        .with_precompiles(crate::chaincode::ChaincodePrecompiles::new(chain.chaincode.clone(), SPEC))
}

/// The revm transaction environment of a recovered transaction. An ML-DSA-65
/// transaction (type `0x4D`, its signature checked at decoding) executes
/// exactly as the EIP-1559 transaction with the same fields.
pub fn tx_env(tx: &RecoveredTx) -> TxEnv {
    let env = &tx.envelope;
    let tx_type = match env.ty() {
        dsec_sdk::tx::ML_DSA_TX_TYPE => alloy::consensus::TxType::Eip1559 as u8,
        ty => ty,
    };
    TxEnv {
        tx_type,
        caller: tx.sender,
        gas_limit: env.gas_limit(),
        gas_price: env.max_fee_per_gas(),
        gas_priority_fee: env.max_priority_fee_per_gas(),
        kind: env.kind(),
        value: env.value(),
        data: env.input().clone(),
        nonce: env.nonce(),
        chain_id: env.chain_id(),
        access_list: env.access_list().cloned().unwrap_or_default(),
        ..Default::default()
    }
}

/// Fold the accounts a transaction touched into a block's change set.
pub fn collect_changes(state: &EvmState, changes: &mut StateChanges) {
    for (address, account) in state {
        if !account.is_touched() {
            continue;
        }
        let entry = changes.accounts.entry(*address).or_default();
        if account.is_selfdestructed() || (account.is_empty() && !account.is_created()) {
            // Destroyed in the transaction that created it (EIP-6780), or touched
            // and empty (EIP-161): the account and its storage are gone.
            entry.info = None;
            entry.storage.clear();
            entry.new_code = None;
            continue;
        }
        entry.info = Some(AccountState {
            nonce: account.info.nonce,
            balance: account.info.balance,
            code_hash: account.info.code_hash,
        });
        // New code: a contract creation, or a chaincode module's marker code.
        if (account.is_created() || account.original_info().code_hash != account.info.code_hash)
            && let Some(code) = &account.info.code
            && !code.is_empty()
        {
            entry.new_code = Some(code.original_bytes());
        }
        for (slot, value) in account.changed_storage_slots() {
            entry.storage.insert(*slot, value.present_value);
        }
    }
}

/// What executing a whole block produced.
#[derive(Debug, Clone, Default)]
pub struct BlockOutput {
    /// One receipt per transaction, in order.
    pub receipts: Vec<StoredReceipt>,
    /// Everything the block changed.
    pub changes: StateChanges,
    /// Gas used by all transactions.
    pub gas_used: u64,
    /// Bloom over all logs.
    pub logs_bloom: Bloom,
}

/// Executes the transactions of one block, in order, over a state.
pub struct BlockExecutor<S: StateReader> {
    evm: Evm<S>,
    access: std::sync::Arc<AccessRules>,
    changes: StateChanges,
    receipts: Vec<StoredReceipt>,
    cumulative_gas: u64,
    gas_limit: u64,
    base_fee: u64,
}

impl<S: StateReader> std::fmt::Debug for BlockExecutor<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockExecutor")
            .field("transactions", &self.receipts.len())
            .field("cumulative_gas", &self.cumulative_gas)
            .finish_non_exhaustive()
    }
}

impl<S: StateReader> BlockExecutor<S> {
    /// Start a block over `state` (the state after the parent block).
    pub fn new(state: S, chain: &ChainConfig, block: &BlockContext) -> Self {
        Self {
            evm: build_evm(state, chain, block),
            access: chain.access.clone(),
            changes: StateChanges::default(),
            receipts: Vec::new(),
            cumulative_gas: 0,
            gas_limit: block.gas_limit,
            base_fee: block.base_fee,
        }
    }

    /// Gas still available in the block.
    pub fn remaining_gas(&self) -> u64 {
        self.gas_limit.saturating_sub(self.cumulative_gas)
    }

    /// Number of transactions executed so far.
    pub fn transaction_count(&self) -> usize {
        self.receipts.len()
    }

    /// Execute one transaction. A valid transaction is included whether it
    /// succeeds, reverts or runs out of gas (it pays for its gas either way);
    /// an invalid one leaves no trace.
    pub fn execute(&mut self, tx: &RecoveredTx) -> Result<&StoredReceipt, TxExecError> {
        if tx.gas_limit() > self.remaining_gas() {
            return Err(InvalidTx::ExceedsBlockGasLimit.into());
        }
        if !self.access.may_send(&tx.sender) {
            return Err(InvalidTx::SenderNotPermitted.into());
        }
        // The deployer rule: a creation transaction from a non-deployer is
        // invalid; its other transactions run with every creation refused.
        // Deployers run without the inspector, at no cost.
        let may_deploy = self.access.may_deploy(&tx.sender);
        if tx.is_create() && !may_deploy {
            return Err(InvalidTx::DeployNotPermitted.into());
        }
        let result = if may_deploy {
            self.evm.transact(tx_env(tx))
        } else {
            self.evm.inspector.deny = true;
            let result = self.evm.inspect_tx(tx_env(tx));
            self.evm.inspector.deny = false;
            result
        };
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(EVMError::Transaction(invalid)) => return Err(InvalidTx::from_revm(&invalid).into()),
            Err(EVMError::Database(e)) => return Err(ExecError::State(e).into()),
            Err(other) => return Err(ExecError::Evm(other.to_string()).into()),
        };
        collect_changes(&outcome.state, &mut self.changes);
        self.evm.ctx.journaled_state.database.commit(outcome.state);

        let gas_used = outcome.result.tx_gas_used();
        self.cumulative_gas += gas_used;
        let effective_gas_price = tx.effective_gas_price(self.base_fee).unwrap_or_default();
        let (success, contract_address) = match &outcome.result {
            ExecutionResult::Success { .. } => (true, outcome.result.created_address()),
            _ => (false, None),
        };
        self.receipts.push(StoredReceipt {
            tx_type: tx.ty(),
            success,
            gas_used,
            cumulative_gas_used: self.cumulative_gas,
            effective_gas_price,
            logs: outcome.result.into_logs(),
            contract_address,
        });
        Ok(self.receipts.last().unwrap_or_else(|| unreachable!("a receipt was just pushed")))
    }

    /// The state as the transactions executed so far left it, to run more on
    /// (a trace of the next transaction).
    pub(crate) fn into_db(self) -> Db<S> {
        self.evm.ctx.journaled_state.database
    }

    /// End the block.
    pub fn finish(self) -> BlockOutput {
        let logs_bloom = logs_bloom(self.receipts.iter().flat_map(|r| r.logs.iter()));
        BlockOutput { receipts: self.receipts, changes: self.changes, gas_used: self.cumulative_gas, logs_bloom }
    }
}

/// The transactions root of a block: Ethereum's ordered trie over the EIP-2718 bytes.
pub fn transactions_root<'a>(raws: impl IntoIterator<Item = &'a [u8]>) -> B256 {
    let raws: Vec<&[u8]> = raws.into_iter().collect();
    alloy_trie::root::ordered_trie_root_encoded(&raws)
}

/// The receipts root of a block: Ethereum's ordered trie over the EIP-2718 receipt envelopes.
pub fn receipts_root(receipts: &[StoredReceipt]) -> B256 {
    let envelopes: Vec<Vec<u8>> = receipts.iter().map(dsec_sdk::block::StoredReceipt::encoded_2718).collect();
    alloy_trie::root::ordered_trie_root_encoded(&envelopes)
}
