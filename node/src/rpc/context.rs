//! The state every JSON-RPC method shares ([`RpcContext`]) and the helpers
//! more than one namespace needs: turning a block id or tag into a stored
//! block, reading state at a block, reading a block's transactions and
//! receipts, and the one log matcher behind `eth_getLogs`, the polling log
//! filters and the `logs` subscription.
//!
//! It lives apart from the namespaces so that each of them can use it through
//! `super` without importing another namespace: this file imports only the
//! error helpers and config of `mod.rs`, the conversions and the filter store.

use super::convert::{ReceiptParts, rpc_logs, rpc_receipt, stored_tx};
use super::filter_store::Filters;
use super::{RpcConfig, RpcResult, invalid_params, server_error, store_err};
use crate::chain::Chain;
use alloy::rpc::types::{BlockId, BlockNumberOrTag, Filter, FilterBlockOption, Log};
use alloy_primitives::{Address, B256, keccak256};
use dsec_evm::call::CallLimits;
use dsec_evm::db::StateReader;
use dsec_sdk::block::{Header, StoredReceipt};
use dsec_sdk::tx::RecoveredTx;
use std::sync::Arc;

/// State shared by every method: the chain, the limits, and the installed polling filters.
#[derive(Debug)]
pub struct RpcContext {
    /// The chain.
    pub chain: Arc<Chain>,
    /// Limits.
    pub config: RpcConfig,
    /// Client version string.
    pub client_version: String,
    /// Installed polling filters.
    pub(super) filters: Filters,
    /// Open WebSocket subscriptions, over all connections.
    pub(super) subscriptions: super::bounded::Bounded,
    /// Requests waiting for their transaction's receipt.
    pub(super) receipt_waiters: super::receipts::ReceiptWaiters,
    /// The threads that admit clients' transactions.
    pub(super) admission: super::admit::AdmissionPool,
}

/// The number of the block `tag` names when the head is block `head`; no tag means the head.
///
/// Blocks are final when committed, so `latest`, `safe` and `finalized` are all the head, and
/// `pending` is too (the RPC serves no pending block). A number is taken as given, even past
/// the head: callers decide what an unknown block means.
fn tag_number(tag: Option<BlockNumberOrTag>, head: u64) -> u64 {
    match tag {
        None
        | Some(
            BlockNumberOrTag::Latest | BlockNumberOrTag::Pending | BlockNumberOrTag::Safe | BlockNumberOrTag::Finalized,
        ) => head,
        Some(BlockNumberOrTag::Earliest) => 0,
        Some(BlockNumberOrTag::Number(n)) => n,
    }
}

/// Where the log matcher finds the hashes of a block's transactions.
#[derive(Debug, Clone, Copy)]
pub(super) enum TxHashes<'a> {
    /// Hash the block's stored transactions; a receipt without its transaction is skipped.
    Stored,
    /// Already known (a committed-block event carries them); a missing one reads as zero.
    Known(&'a [B256]),
}

/// The logs of one block's `receipts` (in block order) that match `filter`, with their block-wide
/// metadata. `tx_hash(i)` is the hash of transaction `i`; `None` skips its receipt.
fn matching_logs(
    filter: &Filter,
    header: &Header,
    block_hash: B256,
    receipts: &[(u32, StoredReceipt)],
    tx_hash: impl Fn(usize) -> Option<B256>,
) -> Vec<Log> {
    let mut out = Vec::new();
    for (index, (first, receipt)) in receipts.iter().enumerate() {
        let Some(tx_hash) = tx_hash(index) else { continue };
        out.extend(
            rpc_logs(receipt, *first, tx_hash, index as u32, header, block_hash)
                .into_iter()
                .filter(|log| filter.matches(&log.inner)),
        );
    }
    out
}

impl RpcContext {
    /// Resolve a block id to `(number, header, hash)`; `None` for an unknown hash or a future number.
    pub(super) fn resolve(&self, id: BlockId) -> RpcResult<Option<(u64, Header, B256)>> {
        let store = self.chain.store();
        let number = match id {
            BlockId::Hash(h) => match store.block_number(&h.block_hash).map_err(store_err)? {
                Some(n) => n,
                None => return Ok(None),
            },
            BlockId::Number(tag) => tag_number(Some(tag), self.chain.head().header.number),
        };
        let Some(header) = store.header(number).map_err(store_err)? else { return Ok(None) };
        let hash = store.block_hash(number).map_err(store_err)?.unwrap_or_else(|| header.hash_slow());
        Ok(Some((number, header, hash)))
    }

    /// Like `resolve`, but an unknown block is an error (state queries); no id means the head.
    pub(super) fn resolve_required(&self, id: Option<BlockId>) -> RpcResult<(u64, Header, B256)> {
        let id = id.unwrap_or(BlockId::Number(BlockNumberOrTag::Latest));
        self.resolve(id)?.ok_or_else(|| server_error("header not found"))
    }

    /// Run `f` on the state after block `id` (the head if `None`) and that block's header.
    pub(super) fn with_state<T>(
        &self,
        id: Option<BlockId>,
        f: impl FnOnce(&dyn StateReader, &Header) -> RpcResult<T>,
    ) -> RpcResult<T> {
        let (number, header, _) = self.resolve_required(id)?;
        let state = self.chain.store().state_at(number).map_err(|e| server_error(e.to_string()))?;
        f(&state, &header)
    }

    /// Execution settings for a call on the state after the block of
    /// `header`: the access rules as of that block.
    pub(super) fn config_after(&self, header: &Header) -> RpcResult<dsec_evm::executor::ChainConfig> {
        self.chain.config_after(header.number).map_err(|e| server_error(e.to_string()))
    }

    /// The transactions of block `number`, in order.
    pub(super) fn block_txs(&self, number: u64) -> RpcResult<Vec<RecoveredTx>> {
        self.chain
            .store()
            .transactions(number)
            .map_err(store_err)?
            .iter()
            .map(|t| stored_tx(t).map_err(store_err))
            .collect()
    }

    /// Transaction `index` of block `number`, with the block's header and hash.
    pub(super) fn tx_at(&self, number: u64, index: u32) -> RpcResult<Option<(RecoveredTx, Header, B256)>> {
        let store = self.chain.store();
        let (Some(body_tx), Some(header), Some(block_hash)) = (
            store.transaction(number, index).map_err(store_err)?,
            store.header(number).map_err(store_err)?,
            store.block_hash(number).map_err(store_err)?,
        ) else {
            return Ok(None);
        };
        Ok(Some((stored_tx(&body_tx).map_err(store_err)?, header, block_hash)))
    }

    /// The receipt of transaction `index` of block `number`, as `eth_getTransactionReceipt` returns it.
    pub(super) fn receipt_at(&self, number: u64, index: u32) -> RpcResult<Option<dsec_sdk::block::RpcReceipt>> {
        let Some((first_log_index, receipt)) = self.chain.store().receipt(number, index).map_err(store_err)? else {
            return Ok(None);
        };
        let Some((tx, header, block_hash)) = self.tx_at(number, index)? else { return Ok(None) };
        Ok(Some(rpc_receipt(ReceiptParts {
            receipt: &receipt,
            first_log_index,
            tx: &tx,
            index,
            header: &header,
            block_hash,
        })))
    }

    /// Gas cap and time limit of one call, estimation or trace.
    pub(super) fn call_limits(&self) -> CallLimits {
        CallLimits {
            gas_cap: self.config.gas_cap,
            timeout: self.config.call_timeout,
            max_trace_bytes: self.config.max_trace_bytes,
        }
    }

    /// The logs of one block that match `filter`, in block order: the one log matcher of
    /// `eth_getLogs`, the polling log filters and the `logs` subscription. A block whose bloom
    /// cannot match is passed over without reading its receipts.
    pub(super) fn block_logs(
        &self,
        filter: &Filter,
        header: &Header,
        block_hash: B256,
        tx_hashes: TxHashes<'_>,
    ) -> RpcResult<Vec<Log>> {
        if !filter.matches_bloom(header.logs_bloom) {
            return Ok(Vec::new());
        }
        let store = self.chain.store();
        Ok(match tx_hashes {
            TxHashes::Stored => {
                let hashes: Vec<B256> =
                    store.transactions(header.number).map_err(store_err)?.iter().map(|t| keccak256(&t.raw)).collect();
                let receipts = store.receipts(header.number).map_err(store_err)?;
                matching_logs(filter, header, block_hash, &receipts, |i| hashes.get(i).copied())
            }
            TxHashes::Known(hashes) => {
                let receipts = store.receipts(header.number).map_err(store_err)?;
                matching_logs(filter, header, block_hash, &receipts, |i| {
                    Some(hashes.get(i).copied().unwrap_or_default())
                })
            }
        })
    }

    /// The logs matching `filter` over its block range (or block hash), within the configured
    /// range and result limits: `eth_getLogs`, and the polling log filters.
    pub(super) fn logs(&self, filter: &Filter) -> RpcResult<Vec<Log>> {
        let store = self.chain.store();
        let head = self.chain.head().header.number;
        let (from, to) = match filter.block_option {
            FilterBlockOption::AtBlockHash(hash) => {
                let n = store.block_number(&hash).map_err(store_err)?.ok_or_else(|| server_error("unknown block"))?;
                (n, n)
            }
            FilterBlockOption::Range { from_block, to_block } => {
                (tag_number(from_block, head), tag_number(to_block, head).min(head))
            }
        };
        if from > to {
            if from > head {
                return Ok(Vec::new());
            }
            return Err(invalid_params("invalid block range params: fromBlock is after toBlock"));
        }
        // The log index answers a filter by address or topic over any range, as
        // long as it narrows the search to at most `max_logs_block_range`
        // blocks (a shipment's or a tenant's events over the whole chain); a
        // filter it cannot narrow scans, and its range is bounded instead.
        let addresses: Vec<Address> = filter.address.iter().copied().collect();
        let topics: Vec<Vec<B256>> = filter.topics.iter().map(|t| t.iter().copied().collect()).collect();
        let limit = usize::try_from(self.config.max_logs_block_range).unwrap_or(usize::MAX);
        let candidates: Vec<u64> = match store
            .log_candidate_blocks(from, to, &addresses, &topics, limit)
            .map_err(store_err)?
        {
            Some(set) => set.into_iter().collect(),
            None if to - from >= self.config.max_logs_block_range => {
                return Err(server_error(format!(
                    "query exceeds max block range {}: narrow fromBlock..toBlock, or filter by an address or topic that occurs in fewer blocks",
                    self.config.max_logs_block_range
                )));
            }
            None => (from..=to).collect(),
        };
        let mut out = Vec::new();
        for number in candidates {
            let (Some(header), Some(block_hash)) =
                (store.header(number).map_err(store_err)?, store.block_hash(number).map_err(store_err)?)
            else {
                continue;
            };
            out.extend(self.block_logs(filter, &header, block_hash, TxHashes::Stored)?);
            if out.len() > self.config.max_logs_results {
                return Err(server_error(format!(
                    "query returned more than {} results; narrow the filter",
                    self.config.max_logs_results
                )));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Bytes, LogData};

    #[test]
    fn every_tag_but_earliest_names_the_head_and_numbers_are_taken_as_given() {
        let head = 42;
        for tag in [
            None,
            Some(BlockNumberOrTag::Latest),
            Some(BlockNumberOrTag::Pending),
            Some(BlockNumberOrTag::Safe),
            Some(BlockNumberOrTag::Finalized),
        ] {
            assert_eq!(tag_number(tag, head), head, "{tag:?}");
        }
        assert_eq!(tag_number(Some(BlockNumberOrTag::Earliest), head), 0);
        assert_eq!(tag_number(Some(BlockNumberOrTag::Number(7)), head), 7);
        assert_eq!(tag_number(Some(BlockNumberOrTag::Number(100)), head), 100);
    }

    fn log(address: Address) -> alloy::primitives::Log {
        alloy::primitives::Log { address, data: LogData::new_unchecked(Vec::new(), Bytes::new()) }
    }

    fn receipt(logs: Vec<alloy::primitives::Log>) -> StoredReceipt {
        StoredReceipt {
            tx_type: 2,
            success: true,
            gas_used: 21_000,
            cumulative_gas_used: 21_000,
            effective_gas_price: 1,
            logs,
            contract_address: None,
        }
    }

    #[test]
    fn matching_logs_keep_block_wide_indexes_and_skip_receipts_without_a_transaction() {
        let (a, b) = (Address::repeat_byte(0xa), Address::repeat_byte(0xb));
        let header = Header { number: 5, ..Default::default() };
        let block_hash = B256::repeat_byte(5);
        let receipts = vec![(0, receipt(vec![log(a), log(b)])), (2, receipt(vec![log(b), log(a)]))];
        let hashes = [B256::repeat_byte(1), B256::repeat_byte(2)];
        let filter = Filter::new().address(a);

        let logs = matching_logs(&filter, &header, block_hash, &receipts, |i| hashes.get(i).copied());
        let seen: Vec<_> = logs.iter().map(|l| (l.log_index, l.transaction_index, l.transaction_hash)).collect();
        assert_eq!(seen, vec![(Some(0), Some(0), Some(hashes[0])), (Some(3), Some(1), Some(hashes[1]))]);
        assert!(logs.iter().all(|l| l.block_number == Some(5) && l.block_hash == Some(block_hash)));

        let first_only = matching_logs(&filter, &header, block_hash, &receipts, |i| (i == 0).then_some(hashes[0]));
        assert_eq!(first_only.len(), 1);
        assert_eq!(first_only[0].log_index, Some(0));

        let everything = matching_logs(&Filter::new(), &header, block_hash, &receipts, |i| hashes.get(i).copied());
        assert_eq!(everything.len(), 4);
    }
}
