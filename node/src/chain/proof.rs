//! Proof bundles of committed transactions ([`dsec_sdk::proof`]): the
//! transaction and its receipt with their trie proofs, the block's header and
//! certificate, and the validator-set lineage from the genesis to the block.
//! Served by `dsec_getTransactionProof`.

use super::{Chain, ChainError};
use crate::store::StoreError;
use alloy_primitives::B256;
use dsec_sdk::proof::{Bundle, BundleValidator, LineageStep, ProvenBlock, ProvenTransaction, ordered_trie_proof};

fn missing(cf: &'static str, what: String) -> ChainError {
    ChainError::Store(StoreError::Corrupt { cf, message: format!("{what} is missing") })
}

impl Chain {
    /// The proof bundle of committed transaction `hash` (`None` if this node
    /// has no such transaction). Every validator-set change that took effect
    /// at or before the transaction's block is in its lineage.
    pub fn transaction_proof(&self, hash: &B256) -> Result<Option<Bundle>, ChainError> {
        let store = self.store();
        let Some((number, index)) = store.tx_location(hash)? else { return Ok(None) };
        let raws: Vec<_> = store.transactions(number)?.into_iter().map(|t| t.raw).collect();
        let receipts: Vec<Vec<u8>> = store.receipts(number)?.iter().map(|(_, r)| r.encoded_2718()).collect();
        let i = index as usize;
        let (Some(transaction), Some(receipt), Some(transaction_proof), Some(receipt_proof)) = (
            raws.get(i).cloned(),
            receipts.get(i).cloned(),
            ordered_trie_proof(&raws, i),
            ordered_trie_proof(&receipts, i),
        ) else {
            return Err(missing("receipts", format!("transaction {index} or its receipt in block {number}")));
        };
        let mut bundle = Bundle::new(self.genesis_hash());
        bundle.blocks.push(self.proven_block(number)?);
        bundle.transactions.push(ProvenTransaction {
            block_number: number,
            index: u64::from(index),
            transaction,
            receipt: receipt.into(),
            transaction_proof,
            receipt_proof,
            log: None,
        });
        let changes: Vec<(u64, dsec_sdk::validators::ValidatorSet)> =
            self.schedule.read().sets.range(1..=number).map(|(from, set)| (*from, set.clone())).collect();
        for (from, set) in changes {
            // A change takes effect at least two heights after its block, so `from - 1 >= 1`.
            let ProvenBlock { header, certificate } = self.proven_block(from.saturating_sub(1))?;
            bundle.lineage.push(LineageStep { header, certificate, next_validators: BundleValidator::list(&set) });
        }
        Ok(Some(bundle))
    }

    fn proven_block(&self, number: u64) -> Result<ProvenBlock, ChainError> {
        let store = self.store();
        let header =
            store.header(number)?.ok_or_else(|| missing("headers", format!("the header of block {number}")))?;
        let certificate = store
            .certificate(number)?
            .ok_or_else(|| missing("certificates", format!("the certificate of block {number}")))?;
        Ok(ProvenBlock { header, certificate })
    }
}
