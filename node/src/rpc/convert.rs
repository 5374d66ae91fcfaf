//! Conversions from stored blocks, transactions and receipts to the JSON-RPC
//! shapes Ethereum tools expect (alloy's RPC types).

use alloy::consensus::transaction::Recovered;
use alloy::consensus::{Eip658Value, Receipt, ReceiptWithBloom};
use alloy::rpc::types::{AnyReceiptEnvelope, Block, BlockTransactions, Header as RpcHeader, Log};
use alloy_primitives::{B64, B256, Bytes, TxKind, U256};
use dsec_sdk::block::{BodyTx, Header, RpcReceipt, StoredReceipt};
use dsec_sdk::tx::{RecoveredTx, RpcTransaction, TxDecodeError};

/// Keccak of the RLP of an empty list: the uncles hash of a block without uncles.
pub const EMPTY_OMMERS_HASH: B256 = alloy::consensus::EMPTY_OMMER_ROOT_HASH;

/// The Ethereum-shaped header of a dsec block.
pub fn rpc_header(header: &Header, hash: B256, size: usize) -> RpcHeader {
    let inner = alloy::consensus::Header {
        parent_hash: header.parent_hash,
        ommers_hash: EMPTY_OMMERS_HASH,
        beneficiary: header.beneficiary,
        state_root: header.state_root,
        transactions_root: header.transactions_root,
        receipts_root: header.receipts_root,
        logs_bloom: header.logs_bloom,
        difficulty: U256::ZERO,
        number: header.number,
        gas_limit: header.gas_limit,
        gas_used: header.gas_used,
        timestamp: header.timestamp_secs(),
        extra_data: Bytes::new(),
        mix_hash: header.parent_hash,
        nonce: B64::ZERO,
        base_fee_per_gas: Some(header.base_fee_per_gas),
        withdrawals_root: None,
        blob_gas_used: None,
        excess_blob_gas: None,
        parent_beacon_block_root: None,
        requests_hash: None,
        ..Default::default()
    };
    RpcHeader { hash, inner, total_difficulty: Some(U256::ZERO), size: Some(U256::from(size)) }
}

/// A transaction as `eth_getTransactionByHash` returns it.
pub fn rpc_transaction(tx: &RecoveredTx, block: Option<(&Header, B256, u32)>) -> RpcTransaction {
    let (block_hash, block_number, index, price, timestamp) = match block {
        Some((header, hash, index)) => (
            Some(hash),
            Some(header.number),
            Some(index as u64),
            tx.effective_gas_price(header.base_fee_per_gas),
            Some(header.timestamp_secs()),
        ),
        None => (None, None, None, None, None),
    };
    RpcTransaction {
        inner: Recovered::new_unchecked(tx.envelope.clone(), tx.sender),
        block_hash,
        block_number,
        transaction_index: index,
        effective_gas_price: price,
        block_timestamp: timestamp,
    }
}

/// Decode a stored body transaction (its sender was checked when it was admitted).
pub fn stored_tx(body_tx: &BodyTx) -> Result<RecoveredTx, TxDecodeError> {
    RecoveredTx::from_trusted(body_tx.raw.clone(), body_tx.sender)
}

/// The logs of a receipt with their block-wide metadata.
pub fn rpc_logs(
    receipt: &StoredReceipt,
    first_log_index: u32,
    tx_hash: B256,
    tx_index: u32,
    header: &Header,
    block_hash: B256,
) -> Vec<Log> {
    receipt
        .logs
        .iter()
        .enumerate()
        .map(|(i, log)| Log {
            inner: log.clone(),
            block_hash: Some(block_hash),
            block_number: Some(header.number),
            block_timestamp: Some(header.timestamp_secs()),
            transaction_hash: Some(tx_hash),
            transaction_index: Some(tx_index as u64),
            log_index: Some(first_log_index as u64 + i as u64),
            removed: false,
        })
        .collect()
}

/// Everything needed to render one receipt.
#[derive(Debug)]
pub struct ReceiptParts<'a> {
    /// The stored receipt.
    pub receipt: &'a StoredReceipt,
    /// Block-wide index of its first log.
    pub first_log_index: u32,
    /// The transaction.
    pub tx: &'a RecoveredTx,
    /// Index in the block.
    pub index: u32,
    /// The block header.
    pub header: &'a Header,
    /// The block hash.
    pub block_hash: B256,
}

/// A receipt as `eth_getTransactionReceipt` returns it.
pub fn rpc_receipt(parts: ReceiptParts<'_>) -> RpcReceipt {
    let ReceiptParts { receipt, first_log_index, tx, index, header, block_hash } = parts;
    let logs = rpc_logs(receipt, first_log_index, tx.hash, index, header, block_hash);
    let inner = AnyReceiptEnvelope {
        inner: ReceiptWithBloom {
            receipt: Receipt {
                status: Eip658Value::Eip658(receipt.success),
                cumulative_gas_used: receipt.cumulative_gas_used,
                logs,
            },
            logs_bloom: receipt.bloom(),
        },
        r#type: receipt.tx_type,
    };
    let to = match alloy::consensus::Transaction::kind(&tx.envelope) {
        TxKind::Call(to) => Some(to),
        TxKind::Create => None,
    };
    RpcReceipt {
        inner,
        transaction_hash: tx.hash,
        transaction_index: Some(index as u64),
        block_hash: Some(block_hash),
        block_number: Some(header.number),
        gas_used: receipt.gas_used,
        effective_gas_price: receipt.effective_gas_price,
        blob_gas_used: None,
        blob_gas_price: None,
        from: tx.sender,
        to,
        contract_address: receipt.contract_address,
    }
}

/// A block as `eth_getBlockBy*` returns it.
pub fn rpc_block(header: &Header, hash: B256, txs: &[RecoveredTx], full: bool) -> Block<RpcTransaction> {
    let size = header.to_rlp().len() + txs.iter().map(|t| t.raw.len()).sum::<usize>();
    let transactions = if full {
        BlockTransactions::Full(
            txs.iter().enumerate().map(|(i, tx)| rpc_transaction(tx, Some((header, hash, i as u32)))).collect(),
        )
    } else {
        BlockTransactions::Hashes(txs.iter().map(|t| t.hash).collect())
    };
    Block { header: rpc_header(header, hash, size), uncles: Vec::new(), transactions, withdrawals: None }
}
