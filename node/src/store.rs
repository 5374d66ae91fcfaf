//! The node's RocksDB store: blocks, receipts, indexes, world state and its
//! history, each in its own column family.
//!
//! Every block is committed with one synced `WriteBatch`: header, body,
//! receipts, indexes, state changes, state history, certificate and the new
//! head pointer go to disk together or not at all, so a crash at any instant
//! leaves the database at a block boundary.
//!
//! State is kept twice: the *plain* state (the value of every account and slot
//! at the head, one point read each) and the *history* (the value of a key as
//! of every block that changed it, keyed `key || block`), which answers queries
//! at past blocks with one `seek_for_prev`. History older than the retention
//! window is pruned as blocks commit, unless the node runs as an archive.

use alloy_primitives::{Address, B256, Bytes, U256};
use dsec_consensus::EvidenceRecord;
use dsec_evm::db::{StateError, StateReader};
use dsec_genesis::Genesis;
use dsec_sdk::block::{Block, Body, BodyTx, CommitCertificate, Header, StoredReceipt};
use dsec_sdk::state::{AccountState, StateChanges};
use rocksdb::{
    BlockBasedOptions, ColumnFamilyDescriptor, DB, DBCompressionType, Direction, IteratorMode, Options, WriteBatch,
    WriteOptions,
};
use std::collections::BTreeSet;
use std::path::Path;

const CF_META: &str = "meta";
const CF_HEADERS: &str = "headers";
const CF_CANONICAL: &str = "canonical";
const CF_BLOCK_NUMBERS: &str = "block_numbers";
const CF_TRANSACTIONS: &str = "transactions";
const CF_RECEIPTS: &str = "receipts";
const CF_TX_INDEX: &str = "tx_index";
const CF_LOG_INDEX: &str = "log_index";
const CF_CERTIFICATES: &str = "certificates";
const CF_ACCOUNTS: &str = "accounts";
const CF_STORAGE: &str = "storage";
const CF_CODE: &str = "code";
const CF_ACCOUNT_HISTORY: &str = "account_history";
const CF_STORAGE_HISTORY: &str = "storage_history";
const CF_CHANGESETS: &str = "changesets";
/// Undecided proposals (ours and valid received ones): `height ‖ round ‖ hash` → RLP block.
const CF_PROPOSALS: &str = "proposals";
/// Equivocation evidence: `height ‖ sequence` → JSON record.
const CF_EVIDENCE: &str = "evidence";

const ALL_CFS: &[&str] = &[
    CF_META,
    CF_HEADERS,
    CF_CANONICAL,
    CF_BLOCK_NUMBERS,
    CF_TRANSACTIONS,
    CF_RECEIPTS,
    CF_TX_INDEX,
    CF_LOG_INDEX,
    CF_CERTIFICATES,
    CF_ACCOUNTS,
    CF_STORAGE,
    CF_CODE,
    CF_ACCOUNT_HISTORY,
    CF_STORAGE_HISTORY,
    CF_CHANGESETS,
    CF_PROPOSALS,
    CF_EVIDENCE,
];

const META_HEAD: &[u8] = b"head";
const META_GENESIS: &[u8] = b"genesis_hash";
const META_STATE_FLOOR: &[u8] = b"state_floor";
/// Written by health checks: proof that the store takes writes.
const META_HEALTH: &[u8] = b"health_check";

/// Log index key kinds: the address, or the topic at position 0..=3.
const LOG_KIND_ADDRESS: u8 = 0;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB reported an error.
    #[error("database: {0}")]
    Db(#[from] rocksdb::Error),
    /// Stored bytes do not decode: the database is corrupt or from another version.
    #[error("corrupt record in {cf}: {message}")]
    Corrupt {
        /// Column family.
        cf: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The data directory belongs to another chain.
    #[error("data directory holds chain {found}, but the genesis file defines {expected}")]
    GenesisMismatch {
        /// Genesis hash on disk.
        found: B256,
        /// Genesis hash of the configuration.
        expected: B256,
    },
    /// State at that block was pruned.
    #[error("historical state at block {requested} is not available (pruned); earliest available block is {earliest}")]
    Pruned {
        /// Block asked for.
        requested: u64,
        /// Oldest block whose state is kept.
        earliest: u64,
    },
    /// A block was committed out of order.
    #[error("block {got} does not follow head {head}")]
    NotNext {
        /// Current head.
        head: u64,
        /// Block offered.
        got: u64,
    },
}

fn corrupt(cf: &'static str, message: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt { cf, message: message.to_string() }
}

/// How much state history to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Keep the state of every block.
    Archive,
    /// Keep the state of the last N blocks.
    Blocks(u64),
}

/// A block ready to be written: everything the commit batch needs.
#[derive(Debug)]
pub struct BlockWrite<'a> {
    /// The header.
    pub header: &'a Header,
    /// The header's hash.
    pub hash: B256,
    /// Transactions with their hashes.
    pub transactions: &'a [(B256, BodyTx)],
    /// Receipts, one per transaction.
    pub receipts: &'a [StoredReceipt],
    /// State changes of the block.
    pub changes: &'a StateChanges,
    /// The commit certificate (absent only for genesis).
    pub certificate: Option<&'a CommitCertificate>,
}

/// The RocksDB store.
pub struct Store {
    db: DB,
    retention: Retention,
    sync_writes: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.db.path()).field("retention", &self.retention).finish()
    }
}

fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn read_u64(cf: &'static str, bytes: &[u8]) -> Result<u64, StoreError> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| corrupt(cf, "expected 8 bytes"))?;
    Ok(u64::from_be_bytes(arr))
}

fn tx_key(number: u64, index: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&be(number));
    k[8..].copy_from_slice(&index.to_be_bytes());
    k
}

fn storage_key(address: &Address, slot: &U256) -> [u8; 52] {
    let mut k = [0u8; 52];
    k[..20].copy_from_slice(address.as_slice());
    k[20..].copy_from_slice(&slot.to_be_bytes::<32>());
    k
}

fn with_block(prefix: &[u8], number: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&be(number));
    k
}

/// Encode one stored receipt with the index of its first log in the block.
fn encode_receipt(first_log_index: u32, receipt: &StoredReceipt) -> Vec<u8> {
    let mut out = first_log_index.to_be_bytes().to_vec();
    alloy_rlp::Encodable::encode(receipt, &mut out);
    out
}

fn decode_receipt(bytes: &[u8]) -> Result<(u32, StoredReceipt), StoreError> {
    if bytes.len() < 4 {
        return Err(corrupt(CF_RECEIPTS, "too short"));
    }
    let first = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let mut rest = &bytes[4..];
    let receipt = <StoredReceipt as alloy_rlp::Decodable>::decode(&mut rest).map_err(|e| corrupt(CF_RECEIPTS, e))?;
    Ok((first, receipt))
}

impl Store {
    /// Open (or create) the store in `path`.
    pub fn open(path: &Path, retention: Retention) -> Result<Self, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        opts.set_bytes_per_sync(1 << 20);
        opts.set_keep_log_file_num(4);
        let mut table = BlockBasedOptions::default();
        table.set_bloom_filter(10.0, false);
        table.set_cache_index_and_filter_blocks(true);
        let cfs = ALL_CFS.iter().map(|name| {
            let mut cf_opts = Options::default();
            cf_opts.set_block_based_table_factory(&table);
            cf_opts.set_compression_type(DBCompressionType::Lz4);
            cf_opts.set_bottommost_compression_type(DBCompressionType::Zstd);
            ColumnFamilyDescriptor::new(*name, cf_opts)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        let store = Self { db, retention, sync_writes: true };
        store.prune_stale_proposals()?;
        Ok(store)
    }

    /// Write without fsync (tests and benchmarks of the CPU path only).
    pub fn set_sync_writes(&mut self, sync: bool) {
        self.sync_writes = sync;
    }

    fn cf(&self, name: &'static str) -> &rocksdb::ColumnFamily {
        // Every family in ALL_CFS is created at open.
        self.db.cf_handle(name).unwrap_or_else(|| unreachable!("column family {name} is created at open"))
    }

    fn get(&self, cf: &'static str, key: &[u8]) -> Result<Option<rocksdb::DBPinnableSlice<'_>>, StoreError> {
        Ok(self.db.get_pinned_cf(self.cf(cf), key)?)
    }

    /// Write genesis into an empty store, or check that the store holds this genesis.
    pub fn init_genesis(&self, genesis: &Genesis) -> Result<B256, StoreError> {
        let (header, _) = genesis.block();
        let hash = header.hash_slow();
        if let Some(found) = self.get(CF_META, META_GENESIS)? {
            let found = B256::try_from(found.as_ref()).map_err(|_| corrupt(CF_META, "genesis hash"))?;
            if found != hash {
                return Err(StoreError::GenesisMismatch { found, expected: hash });
            }
            return Ok(hash);
        }
        let changes = genesis.state_changes();
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_META), META_GENESIS, hash);
        self.write_block(
            &mut batch,
            &BlockWrite {
                header: &header,
                hash,
                transactions: &[],
                receipts: &[],
                changes: &changes,
                certificate: None,
            },
        )?;
        self.flush_batch(batch)?;
        Ok(hash)
    }

    fn flush_batch(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(self.sync_writes);
        self.db.write_opt(batch, &wo)?;
        Ok(())
    }

    /// Commit a decided block atomically. It must follow the current head.
    pub fn commit_block(&self, block: &BlockWrite<'_>) -> Result<(), StoreError> {
        let head = self.head_number()?.unwrap_or(0);
        if block.header.number != head + 1 {
            return Err(StoreError::NotNext { head, got: block.header.number });
        }
        let mut batch = WriteBatch::default();
        self.write_block(&mut batch, block)?;
        self.prune_into(&mut batch, block.header.number)?;
        self.flush_batch(batch)
    }

    fn write_block(&self, batch: &mut WriteBatch, block: &BlockWrite<'_>) -> Result<(), StoreError> {
        let n = block.header.number;
        batch.put_cf(self.cf(CF_HEADERS), be(n), block.header.to_rlp());
        batch.put_cf(self.cf(CF_CANONICAL), be(n), block.hash);
        batch.put_cf(self.cf(CF_BLOCK_NUMBERS), block.hash, be(n));
        for (i, (hash, tx)) in block.transactions.iter().enumerate() {
            let i = i as u32;
            batch.put_cf(self.cf(CF_TRANSACTIONS), tx_key(n, i), alloy_rlp::encode(tx));
            batch.put_cf(self.cf(CF_TX_INDEX), hash, tx_key(n, i));
        }
        let mut first_log = 0u32;
        let mut log_keys: BTreeSet<Vec<u8>> = BTreeSet::new();
        for (i, receipt) in block.receipts.iter().enumerate() {
            batch.put_cf(self.cf(CF_RECEIPTS), tx_key(n, i as u32), encode_receipt(first_log, receipt));
            first_log += receipt.logs.len() as u32;
            for log in &receipt.logs {
                let mut k = vec![LOG_KIND_ADDRESS];
                k.extend_from_slice(log.address.as_slice());
                log_keys.insert(k);
                for (pos, topic) in log.topics().iter().enumerate() {
                    let mut k = vec![1 + pos as u8];
                    k.extend_from_slice(topic.as_slice());
                    log_keys.insert(k);
                }
            }
        }
        for key in log_keys {
            batch.put_cf(self.cf(CF_LOG_INDEX), with_block(&key, n), []);
        }
        if let Some(cert) = block.certificate {
            batch.put_cf(self.cf(CF_CERTIFICATES), be(n), cert.to_rlp());
        }
        self.write_state(batch, n, block.changes)?;
        batch.put_cf(self.cf(CF_META), META_HEAD, be(n));
        // Proposals of this height are decided or dead (lower heights were
        // removed at their own commit, or at open). Point deletes, not a range
        // tombstone per block: range tombstones pile up in the memtable and
        // every later read of the family re-sorts them all.
        for key in self.proposal_keys(n, n)? {
            batch.delete_cf(self.cf(CF_PROPOSALS), key);
        }
        Ok(())
    }

    /// Keys of the stored proposals of heights `from..=to`.
    fn proposal_keys(&self, from: u64, to: u64) -> Result<Vec<Box<[u8]>>, StoreError> {
        let mut opts = rocksdb::ReadOptions::default();
        opts.set_iterate_lower_bound(be(from).to_vec());
        if let Some(end) = to.checked_add(1) {
            opts.set_iterate_upper_bound(be(end).to_vec());
        }
        let mut it = self.db.raw_iterator_cf_opt(self.cf(CF_PROPOSALS), opts);
        it.seek_to_first();
        let mut keys = Vec::new();
        while it.valid() {
            if let Some(key) = it.key() {
                keys.push(key.into());
            }
            it.next();
        }
        it.status()?;
        Ok(keys)
    }

    /// Remove proposals left for committed heights (a crash between a
    /// proposal's write and its block's commit can leave one behind).
    fn prune_stale_proposals(&self) -> Result<(), StoreError> {
        let head = self.head_number()?.unwrap_or(0);
        let keys = self.proposal_keys(0, head)?;
        if !keys.is_empty() {
            let mut batch = WriteBatch::default();
            for key in keys {
                batch.delete_cf(self.cf(CF_PROPOSALS), key);
            }
            self.db.write(batch)?;
        }
        Ok(())
    }

    fn write_state(&self, batch: &mut WriteBatch, n: u64, changes: &StateChanges) -> Result<(), StoreError> {
        let mut changed_accounts: Vec<Address> = Vec::new();
        let mut changed_slots: Vec<(Address, U256)> = Vec::new();
        for (address, change) in &changes.accounts {
            changed_accounts.push(*address);
            match &change.info {
                Some(info) => {
                    let bytes = info.to_rlp();
                    batch.put_cf(self.cf(CF_ACCOUNTS), address, &bytes);
                    batch.put_cf(self.cf(CF_ACCOUNT_HISTORY), with_block(address.as_slice(), n), &bytes);
                    if let Some(code) = &change.new_code {
                        batch.put_cf(self.cf(CF_CODE), info.code_hash, code);
                    }
                }
                None => {
                    batch.delete_cf(self.cf(CF_ACCOUNTS), address);
                    batch.put_cf(self.cf(CF_ACCOUNT_HISTORY), with_block(address.as_slice(), n), []);
                    // The account's storage goes with it.
                    for item in self.db.prefix_iterator_cf(self.cf(CF_STORAGE), address) {
                        let (key, _) = item?;
                        if !key.starts_with(address.as_slice()) {
                            break;
                        }
                        batch.delete_cf(self.cf(CF_STORAGE), &key);
                        batch.put_cf(self.cf(CF_STORAGE_HISTORY), with_block(&key, n), [0u8; 32]);
                        if key.len() == 52 {
                            changed_slots.push((*address, U256::from_be_slice(&key[20..])));
                        }
                    }
                }
            }
            for (slot, value) in &change.storage {
                let key = storage_key(address, slot);
                if value.is_zero() {
                    batch.delete_cf(self.cf(CF_STORAGE), key);
                } else {
                    batch.put_cf(self.cf(CF_STORAGE), key, value.to_be_bytes::<32>());
                }
                batch.put_cf(self.cf(CF_STORAGE_HISTORY), with_block(&key, n), value.to_be_bytes::<32>());
                changed_slots.push((*address, *slot));
            }
        }
        if self.retention != Retention::Archive {
            let set = ChangeSet {
                accounts: changed_accounts,
                slots: changed_slots.iter().map(|(a, s)| storage_key(a, s).to_vec().into()).collect(),
            };
            batch.put_cf(self.cf(CF_CHANGESETS), be(n), alloy_rlp::encode(&set));
        }
        Ok(())
    }

    /// Drop history that no query within the retention window can need: when
    /// the floor reaches block `f`, every key changed at `f` has a value as of
    /// `f`, so its older history entries are dead.
    fn prune_into(&self, batch: &mut WriteBatch, head: u64) -> Result<(), StoreError> {
        let Retention::Blocks(keep) = self.retention else { return Ok(()) };
        let Some(floor) = head.checked_sub(keep) else { return Ok(()) };
        if floor == 0 {
            return Ok(());
        }
        if let Some(bytes) = self.get(CF_CHANGESETS, &be(floor))? {
            let set: ChangeSet =
                alloy_rlp::Decodable::decode(&mut bytes.as_ref()).map_err(|e| corrupt(CF_CHANGESETS, e))?;
            for address in &set.accounts {
                self.delete_older(batch, CF_ACCOUNT_HISTORY, address.as_slice(), floor)?;
            }
            for key in &set.slots {
                self.delete_older(batch, CF_STORAGE_HISTORY, key, floor)?;
            }
            batch.delete_cf(self.cf(CF_CHANGESETS), be(floor));
        }
        batch.put_cf(self.cf(CF_META), META_STATE_FLOOR, be(floor));
        Ok(())
    }

    fn delete_older(
        &self,
        batch: &mut WriteBatch,
        cf: &'static str,
        prefix: &[u8],
        floor: u64,
    ) -> Result<(), StoreError> {
        let mut it = self.db.raw_iterator_cf(self.cf(cf));
        it.seek_for_prev(with_block(prefix, floor - 1));
        while it.valid() {
            let Some(key) = it.key() else { break };
            if key.len() != prefix.len() + 8 || !key.starts_with(prefix) {
                break;
            }
            batch.delete_cf(self.cf(cf), key);
            it.prev();
        }
        it.status()?;
        Ok(())
    }

    /// Number of the last committed block (`None` before genesis is written).
    pub fn head_number(&self) -> Result<Option<u64>, StoreError> {
        self.get(CF_META, META_HEAD)?.map(|b| read_u64(CF_META, &b)).transpose()
    }

    /// Oldest block whose state can be queried.
    pub fn state_floor(&self) -> Result<u64, StoreError> {
        Ok(self.get(CF_META, META_STATE_FLOOR)?.map(|b| read_u64(CF_META, &b)).transpose()?.unwrap_or(0))
    }

    /// The genesis hash stored.
    pub fn genesis_hash(&self) -> Result<Option<B256>, StoreError> {
        Ok(self.get(CF_META, META_GENESIS)?.and_then(|b| B256::try_from(b.as_ref()).ok()))
    }

    /// The header of block `number`.
    pub fn header(&self, number: u64) -> Result<Option<Header>, StoreError> {
        self.get(CF_HEADERS, &be(number))?.map(|b| Header::from_rlp(&b).map_err(|e| corrupt(CF_HEADERS, e))).transpose()
    }

    /// The hash of block `number`.
    pub fn block_hash(&self, number: u64) -> Result<Option<B256>, StoreError> {
        Ok(self.get(CF_CANONICAL, &be(number))?.and_then(|b| B256::try_from(b.as_ref()).ok()))
    }

    /// The number of the block with this hash.
    pub fn block_number(&self, hash: &B256) -> Result<Option<u64>, StoreError> {
        self.get(CF_BLOCK_NUMBERS, hash.as_slice())?.map(|b| read_u64(CF_BLOCK_NUMBERS, &b)).transpose()
    }

    /// Persist an undecided proposal (synced write: it must survive a crash
    /// before the node proposes or votes for it).
    pub fn save_proposal(&self, height: u64, round: u32, hash: &B256, block: &Block) -> Result<(), StoreError> {
        let mut key = Vec::with_capacity(44);
        key.extend_from_slice(&be(height));
        key.extend_from_slice(&round.to_be_bytes());
        key.extend_from_slice(hash.as_slice());
        let mut opts = rocksdb::WriteOptions::default();
        opts.set_sync(self.sync_writes);
        self.db.put_cf_opt(self.cf(CF_PROPOSALS), key, alloy_rlp::encode(block), &opts)?;
        Ok(())
    }

    /// The stored proposals of `height` with their rounds.
    pub fn proposals(&self, height: u64) -> Result<Vec<(u32, Block)>, StoreError> {
        let prefix = be(height);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_PROPOSALS), IteratorMode::From(&prefix, Direction::Forward)) {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            // A proposal is only a cache of what consensus may re-propose: a
            // corrupt one is dropped with an error, so the node does not crash at
            // every restart on it.
            let decoded = match key.get(8..12).filter(|_| key.len() == 44) {
                Some(round) => alloy_rlp::Decodable::decode(&mut value.as_ref())
                    .map(|block| (u32::from_be_bytes([round[0], round[1], round[2], round[3]]), block))
                    .map_err(|e| e.to_string()),
                None => Err(format!("key of {} bytes, not 44", key.len())),
            };
            match decoded {
                Ok(entry) => out.push(entry),
                Err(error) => {
                    tracing::error!(height, %error, "dropping a corrupt stored proposal");
                    self.db.delete_cf(self.cf(CF_PROPOSALS), &key)?;
                }
            }
        }
        Ok(out)
    }

    /// Append equivocation evidence found at `height`.
    pub fn add_evidence(&self, height: u64, records: &[EvidenceRecord]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        let existing = self.evidence(Some(height))?.len();
        for (i, record) in records.iter().enumerate() {
            let mut key = be(height).to_vec();
            let index = u32::try_from(existing.saturating_add(i)).unwrap_or(u32::MAX);
            key.extend_from_slice(&index.to_be_bytes());
            let json = serde_json::to_vec(record).map_err(|e| corrupt(CF_EVIDENCE, e))?;
            batch.put_cf(self.cf(CF_EVIDENCE), key, json);
        }
        // Evidence is what an operator acts on after a fault: synced like a block.
        let mut opts = rocksdb::WriteOptions::default();
        opts.set_sync(self.sync_writes);
        self.db.write_opt(batch, &opts)?;
        Ok(())
    }

    /// Stored evidence, of one height or of all heights.
    pub fn evidence(&self, height: Option<u64>) -> Result<Vec<EvidenceRecord>, StoreError> {
        let prefix = height.map(|h| be(h).to_vec()).unwrap_or_default();
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_EVIDENCE), IteratorMode::From(&prefix, Direction::Forward)) {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            out.push(serde_json::from_slice(&value).map_err(|e| corrupt(CF_EVIDENCE, e))?);
        }
        Ok(out)
    }

    /// The committed block `number` (header and body).
    pub fn block(&self, number: u64) -> Result<Option<Block>, StoreError> {
        let Some(header) = self.header(number)? else { return Ok(None) };
        Ok(Some(Block { header, body: Body { transactions: self.transactions(number)? } }))
    }

    /// The commit certificate of block `number`.
    pub fn certificate(&self, number: u64) -> Result<Option<CommitCertificate>, StoreError> {
        self.get(CF_CERTIFICATES, &be(number))?
            .map(|b| CommitCertificate::from_rlp(&b).map_err(|e| corrupt(CF_CERTIFICATES, e)))
            .transpose()
    }

    /// Where a transaction is: `(block number, index)`.
    pub fn tx_location(&self, hash: &B256) -> Result<Option<(u64, u32)>, StoreError> {
        let Some(b) = self.get(CF_TX_INDEX, hash.as_slice())? else { return Ok(None) };
        if b.len() != 12 {
            return Err(corrupt(CF_TX_INDEX, "expected 12 bytes"));
        }
        let n = read_u64(CF_TX_INDEX, &b[..8])?;
        let i = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
        Ok(Some((n, i)))
    }

    /// One transaction of a block.
    pub fn transaction(&self, number: u64, index: u32) -> Result<Option<BodyTx>, StoreError> {
        self.get(CF_TRANSACTIONS, &tx_key(number, index))?
            .map(|b| alloy_rlp::Decodable::decode(&mut b.as_ref()).map_err(|e| corrupt(CF_TRANSACTIONS, e)))
            .transpose()
    }

    /// All transactions of a block, in order.
    pub fn transactions(&self, number: u64) -> Result<Vec<BodyTx>, StoreError> {
        let prefix = be(number);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_TRANSACTIONS), IteratorMode::From(&prefix, Direction::Forward)) {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            out.push(alloy_rlp::Decodable::decode(&mut value.as_ref()).map_err(|e| corrupt(CF_TRANSACTIONS, e))?);
        }
        Ok(out)
    }

    /// One receipt, with the block-wide index of its first log.
    pub fn receipt(&self, number: u64, index: u32) -> Result<Option<(u32, StoredReceipt)>, StoreError> {
        self.get(CF_RECEIPTS, &tx_key(number, index))?.map(|b| decode_receipt(&b)).transpose()
    }

    /// All receipts of a block, in order, with the index of each one's first log.
    pub fn receipts(&self, number: u64) -> Result<Vec<(u32, StoredReceipt)>, StoreError> {
        let prefix = be(number);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_RECEIPTS), IteratorMode::From(&prefix, Direction::Forward)) {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            out.push(decode_receipt(&value)?);
        }
        Ok(out)
    }

    /// Blocks in `[from, to]` that may hold logs matching all the given
    /// constraints (an address from `addresses`, and for each topic position a
    /// topic from its list), read from the log index: at most `limit` blocks.
    /// A constraint that alone matches more than `limit` blocks does not narrow
    /// the search and is left to the per-block filter; `None` when no
    /// constraint narrows it (the caller scans the range, or refuses to).
    pub fn log_candidate_blocks(
        &self,
        from: u64,
        to: u64,
        addresses: &[Address],
        topics: &[Vec<B256>],
        limit: usize,
    ) -> Result<Option<BTreeSet<u64>>, StoreError> {
        let mut result: Option<BTreeSet<u64>> = None;
        let mut constrain = |set: Option<BTreeSet<u64>>| {
            let Some(set) = set else { return };
            result = Some(match result.take() {
                None => set,
                Some(prev) => prev.intersection(&set).copied().collect(),
            });
        };
        if !addresses.is_empty() {
            let keys: Vec<Vec<u8>> =
                addresses.iter().map(|a| [&[LOG_KIND_ADDRESS][..], a.as_slice()].concat()).collect();
            constrain(self.blocks_with_any(&keys, from, to, limit)?);
        }
        for (pos, list) in topics.iter().enumerate().take(4) {
            if list.is_empty() {
                continue;
            }
            let keys: Vec<Vec<u8>> = list.iter().map(|t| [&[1 + pos as u8][..], t.as_slice()].concat()).collect();
            constrain(self.blocks_with_any(&keys, from, to, limit)?);
        }
        Ok(result)
    }

    /// The blocks in `[from, to]` indexed under any of `keys`; `None` once
    /// they are more than `limit`.
    fn blocks_with_any(
        &self,
        keys: &[Vec<u8>],
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Option<BTreeSet<u64>>, StoreError> {
        let mut blocks = BTreeSet::new();
        for key in keys {
            let start = with_block(key, from);
            for item in self.db.iterator_cf(self.cf(CF_LOG_INDEX), IteratorMode::From(&start, Direction::Forward)) {
                let (k, _) = item?;
                if k.len() != key.len() + 8 || !k.starts_with(key) {
                    break;
                }
                let n = read_u64(CF_LOG_INDEX, &k[key.len()..])?;
                if n > to {
                    break;
                }
                blocks.insert(n);
                if blocks.len() > limit {
                    return Ok(None);
                }
            }
        }
        Ok(Some(blocks))
    }

    /// The state at the head (plain state, one point read per key).
    pub fn head_state(&self) -> HeadState<'_> {
        HeadState { store: self }
    }

    /// The state as of block `number` (from history).
    pub fn state_at(&self, number: u64) -> Result<HistoricalState<'_>, StoreError> {
        let floor = self.state_floor()?;
        if number < floor {
            return Err(StoreError::Pruned { requested: number, earliest: floor });
        }
        Ok(HistoricalState { store: self, number })
    }

    fn code(&self, hash: &B256) -> Result<Option<Bytes>, StoreError> {
        Ok(self.get(CF_CODE, hash.as_slice())?.map(|b| Bytes::copy_from_slice(&b)))
    }

    fn history_value(&self, cf: &'static str, prefix: &[u8], number: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let mut it = self.db.raw_iterator_cf(self.cf(cf));
        it.seek_for_prev(with_block(prefix, number));
        if it.valid()
            && let (Some(key), Some(value)) = (it.key(), it.value())
            && key.len() == prefix.len() + 8
            && key.starts_with(prefix)
        {
            return Ok(Some(value.to_vec()));
        }
        it.status()?;
        Ok(None)
    }

    /// Flush memtables to disk (used before a clean shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        Ok(self.db.flush()?)
    }

    /// Write (unsynced) and read back a health-check record: fails when the
    /// store no longer takes writes (disk full, read-only, background error).
    pub fn check_writable(&self, stamp: u64) -> Result<(), StoreError> {
        self.db.put_cf(self.cf(CF_META), META_HEALTH, stamp.to_be_bytes())?;
        match self.get(CF_META, META_HEALTH)? {
            Some(v) if v.as_ref() == stamp.to_be_bytes() => Ok(()),
            _ => Err(corrupt(CF_META, "the health-check record did not read back")),
        }
    }
}

#[derive(alloy_rlp::RlpEncodable, alloy_rlp::RlpDecodable)]
struct ChangeSet {
    accounts: Vec<Address>,
    slots: Vec<Bytes>,
}

fn state_err(e: StoreError) -> StateError {
    StateError(e.to_string())
}

/// The state at the head of the chain.
#[derive(Debug, Clone, Copy)]
pub struct HeadState<'a> {
    store: &'a Store,
}

impl StateReader for HeadState<'_> {
    fn account(&self, address: &Address) -> Result<Option<AccountState>, StateError> {
        self.store
            .get(CF_ACCOUNTS, address.as_slice())
            .map_err(state_err)?
            .map(|b| AccountState::from_rlp(&b).map_err(|e| state_err(corrupt(CF_ACCOUNTS, e))))
            .transpose()
    }

    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StateError> {
        Ok(self
            .store
            .get(CF_STORAGE, &storage_key(address, slot))
            .map_err(state_err)?
            .map(|b| U256::from_be_slice(&b))
            .unwrap_or_default())
    }

    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StateError> {
        self.store.code(code_hash).map_err(state_err)
    }

    fn block_hash(&self, number: u64) -> Result<Option<B256>, StateError> {
        self.store.block_hash(number).map_err(state_err)
    }
}

/// The state as of a past block.
#[derive(Debug, Clone, Copy)]
pub struct HistoricalState<'a> {
    store: &'a Store,
    number: u64,
}

impl HistoricalState<'_> {
    /// The block this state is as of.
    pub fn number(&self) -> u64 {
        self.number
    }
}

impl StateReader for HistoricalState<'_> {
    fn account(&self, address: &Address) -> Result<Option<AccountState>, StateError> {
        match self.store.history_value(CF_ACCOUNT_HISTORY, address.as_slice(), self.number).map_err(state_err)? {
            Some(bytes) if !bytes.is_empty() => {
                AccountState::from_rlp(&bytes).map(Some).map_err(|e| state_err(corrupt(CF_ACCOUNT_HISTORY, e)))
            }
            _ => Ok(None),
        }
    }

    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StateError> {
        Ok(self
            .store
            .history_value(CF_STORAGE_HISTORY, &storage_key(address, slot), self.number)
            .map_err(state_err)?
            .map(|b| U256::from_be_slice(&b))
            .unwrap_or_default())
    }

    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StateError> {
        self.store.code(code_hash).map_err(state_err)
    }

    fn block_hash(&self, number: u64) -> Result<Option<B256>, StateError> {
        if number > self.number {
            return Ok(None);
        }
        self.store.block_hash(number).map_err(state_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsec_genesis::devnet::{DevnetSpec, generate};
    use dsec_sdk::state::AccountChange;

    fn open(dir: &Path, retention: Retention) -> (Store, Genesis) {
        let genesis = generate(&DevnetSpec::default()).genesis;
        let store = Store::open(dir, retention).unwrap();
        store.init_genesis(&genesis).unwrap();
        (store, genesis)
    }

    fn commit(store: &Store, n: u64, changes: &StateChanges) {
        let header = Header { number: n, ..Default::default() };
        store
            .commit_block(&BlockWrite {
                header: &header,
                hash: header.hash_slow(),
                transactions: &[],
                receipts: &[],
                changes,
                certificate: None,
            })
            .unwrap();
    }

    fn balance_change(address: Address, balance: u64, slot: Option<(u64, u64)>) -> StateChanges {
        let mut changes = StateChanges::default();
        let mut change =
            AccountChange { info: Some(AccountState::with_balance(U256::from(balance))), ..Default::default() };
        if let Some((s, v)) = slot {
            change.storage.insert(U256::from(s), U256::from(v));
        }
        changes.accounts.insert(address, change);
        changes
    }

    #[test]
    fn proposals_leave_with_their_height_and_stale_ones_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open(dir.path(), Retention::Archive);
        let block = |n: u64| Block { header: Header { number: n, ..Default::default() }, body: Body::default() };
        for (n, round) in [(1, 0), (1, 1), (2, 0), (3, 0)] {
            store.save_proposal(n, round, &block(n).header.hash_slow(), &block(n)).unwrap();
        }
        commit(&store, 1, &StateChanges::default());
        assert!(store.proposals(1).unwrap().is_empty(), "both rounds of the committed height are gone");
        assert_eq!(store.proposals(2).unwrap().len(), 1);
        // Height 2 committed without its proposal removed (as after a crash between
        // the two): opening the store removes it; height 3's stays.
        store.db.put_cf(store.cf(CF_META), META_HEAD, be(2)).unwrap();
        drop(store);
        let store = Store::open(dir.path(), Retention::Archive).unwrap();
        assert!(store.proposals(2).unwrap().is_empty());
        assert_eq!(store.proposals(3).unwrap()[0].0, 0);
    }

    #[test]
    fn a_corrupt_stored_proposal_is_dropped_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open(dir.path(), Retention::Archive);
        let block = Block { header: Header { number: 5, ..Default::default() }, body: Body::default() };
        store.save_proposal(5, 0, &block.header.hash_slow(), &block).unwrap();
        let mut garbage_key = be(5).to_vec();
        garbage_key.extend_from_slice(&1u32.to_be_bytes());
        garbage_key.extend_from_slice(&[7; 32]);
        store.db.put_cf(store.cf(CF_PROPOSALS), &garbage_key, b"not rlp").unwrap();
        store.db.put_cf(store.cf(CF_PROPOSALS), [be(5).as_slice(), b"short"].concat(), b"x").unwrap();
        let proposals = store.proposals(5).unwrap();
        assert_eq!(proposals, vec![(0, block)]);
        assert!(store.db.get_cf(store.cf(CF_PROPOSALS), &garbage_key).unwrap().is_none(), "the corrupt entry is gone");
        assert_eq!(store.proposals(5).unwrap().len(), 1);
    }

    #[test]
    fn genesis_is_written_once_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let (store, genesis) = open(dir.path(), Retention::Archive);
        assert_eq!(store.head_number().unwrap(), Some(0));
        let dev = dsec_sdk::dev::dev_accounts();
        assert!(store.head_state().account(&dev[0].address).unwrap().is_some());
        drop(store);
        let store = Store::open(dir.path(), Retention::Archive).unwrap();
        assert_eq!(store.init_genesis(&genesis).unwrap(), genesis.hash());
        let other = generate(&DevnetSpec::default()).genesis;
        assert!(matches!(store.init_genesis(&other), Err(StoreError::GenesisMismatch { .. })));
    }

    #[test]
    fn history_answers_past_blocks_and_head_is_plain_state() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open(dir.path(), Retention::Archive);
        let a = Address::repeat_byte(0xaa);
        commit(&store, 1, &balance_change(a, 10, Some((1, 100))));
        commit(&store, 2, &StateChanges::default());
        commit(&store, 3, &balance_change(a, 30, Some((1, 0))));
        let at = |n| store.state_at(n).unwrap();
        assert_eq!(at(0).account(&a).unwrap(), None);
        assert_eq!(at(1).account(&a).unwrap().unwrap().balance, U256::from(10));
        assert_eq!(at(2).account(&a).unwrap().unwrap().balance, U256::from(10));
        assert_eq!(at(3).account(&a).unwrap().unwrap().balance, U256::from(30));
        assert_eq!(at(2).storage(&a, &U256::from(1)).unwrap(), U256::from(100));
        assert_eq!(at(3).storage(&a, &U256::from(1)).unwrap(), U256::ZERO);
        assert_eq!(store.head_state().account(&a).unwrap().unwrap().balance, U256::from(30));
        assert_eq!(store.head_state().storage(&a, &U256::from(1)).unwrap(), U256::ZERO);
        assert!(matches!(
            store.commit_block(&BlockWrite {
                header: &Header { number: 9, ..Default::default() },
                hash: B256::ZERO,
                transactions: &[],
                receipts: &[],
                changes: &StateChanges::default(),
                certificate: None,
            }),
            Err(StoreError::NotNext { head: 3, got: 9 })
        ));
    }

    #[test]
    fn pruning_keeps_the_window_answerable() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open(dir.path(), Retention::Blocks(2));
        let a = Address::repeat_byte(0xaa);
        let b = Address::repeat_byte(0xbb);
        commit(&store, 1, &balance_change(b, 7, None)); // b never changes again
        for n in 2..=6 {
            commit(&store, n, &balance_change(a, n, Some((1, n))));
        }
        assert_eq!(store.state_floor().unwrap(), 4);
        assert!(matches!(store.state_at(3), Err(StoreError::Pruned { requested: 3, earliest: 4 })));
        for n in 4..=6 {
            let s = store.state_at(n).unwrap();
            assert_eq!(s.account(&a).unwrap().unwrap().balance, U256::from(n));
            assert_eq!(s.storage(&a, &U256::from(1)).unwrap(), U256::from(n));
            assert_eq!(s.account(&b).unwrap().unwrap().balance, U256::from(7), "unchanged keys survive pruning");
        }
        // The entries of blocks 2 and 3 for `a` are gone.
        assert_eq!(store.history_value(CF_ACCOUNT_HISTORY, a.as_slice(), 3).unwrap(), None);
    }

    #[test]
    fn deleting_an_account_wipes_its_storage() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open(dir.path(), Retention::Archive);
        let a = Address::repeat_byte(0xaa);
        commit(&store, 1, &balance_change(a, 1, Some((5, 9))));
        let mut gone = StateChanges::default();
        gone.accounts.insert(a, AccountChange::default());
        commit(&store, 2, &gone);
        assert_eq!(store.head_state().account(&a).unwrap(), None);
        assert_eq!(store.head_state().storage(&a, &U256::from(5)).unwrap(), U256::ZERO);
        assert_eq!(store.state_at(1).unwrap().storage(&a, &U256::from(5)).unwrap(), U256::from(9));
        assert_eq!(store.state_at(2).unwrap().storage(&a, &U256::from(5)).unwrap(), U256::ZERO);
    }
}
