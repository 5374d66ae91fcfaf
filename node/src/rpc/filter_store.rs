//! The store of installed polling filters (`eth_newFilter` and friends): what
//! each filter watches, where its next poll starts, and when it was last
//! polled, so that idle filters can be expired.
//!
//! It is a file of its own, holding data and no method handlers, so that the
//! shared context can own it and the `filters` namespace can use it without
//! either importing the other.

use super::{RpcResult, server_error};
use alloy::rpc::types::Filter;
use alloy_primitives::{B256, U256};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Filters idle longer than this are removed.
const FILTER_IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Most pending-transaction hashes a filter keeps between polls (newer ones
/// are dropped until the next poll).
const MAX_PENDING_PER_FILTER: usize = 4_096;
/// Most pending-transaction filters at once: with [`MAX_PENDING_PER_FILTER`],
/// they hold at most 32 MiB of hashes.
const MAX_PENDING_FILTERS: usize = 256;

/// What a filter watches, and where its next poll starts.
#[derive(Debug)]
pub(super) enum FilterKind {
    /// New blocks; `next` is the first block the next poll reports.
    Blocks {
        /// First block of the next poll.
        next: u64,
    },
    /// Transactions entering the pool since the last poll.
    Pending {
        /// Their hashes, oldest first.
        hashes: Vec<B256>,
    },
    /// Logs of new blocks matching `filter`.
    Logs {
        /// The log filter as installed.
        filter: Box<Filter>,
        /// First block of the next poll.
        next: u64,
    },
}

#[derive(Debug)]
struct Entry {
    kind: FilterKind,
    last_poll: Instant,
    /// The client that installed it (`None`: unknown, as for in-process calls).
    owner: Option<IpAddr>,
}

/// The installed polling filters.
#[derive(Debug)]
pub(super) struct Filters {
    entries: Mutex<HashMap<u64, Entry>>,
    max_filters: usize,
    max_per_client: usize,
}

impl Filters {
    /// No filters; at most `max_filters` at once, `max_per_client` of them installed by one client.
    pub(super) fn new(max_filters: usize, max_per_client: usize) -> Self {
        Self { entries: Mutex::new(HashMap::new()), max_filters, max_per_client }
    }

    /// Install a filter for `owner`; its id, or an error when a limit is reached.
    pub(super) fn install(&self, kind: FilterKind, owner: Option<IpAddr>) -> RpcResult<U256> {
        let mut entries = self.entries.lock();
        if entries.len() >= self.max_filters {
            return Err(server_error(format!(
                "too many filters installed (limit {}); uninstall some",
                self.max_filters
            )));
        }
        if owner.is_some() && entries.values().filter(|e| e.owner == owner).count() >= self.max_per_client {
            return Err(server_error(format!(
                "too many filters installed by this client (limit {}); uninstall some",
                self.max_per_client
            )));
        }
        if matches!(kind, FilterKind::Pending { .. })
            && entries.values().filter(|e| matches!(e.kind, FilterKind::Pending { .. })).count() >= MAX_PENDING_FILTERS
        {
            return Err(server_error(format!(
                "too many pending-transaction filters installed (limit {MAX_PENDING_FILTERS}); uninstall some"
            )));
        }
        // Random, so that one client cannot guess (and poll or uninstall) another's filter.
        let id = loop {
            let id: u64 = rand::random();
            if id != 0 && !entries.contains_key(&id) {
                break id;
            }
        };
        entries.insert(id, Entry { kind, last_poll: Instant::now(), owner });
        Ok(U256::from(id))
    }

    /// Remove filter `id`; whether it was installed.
    pub(super) fn uninstall(&self, id: u64) -> bool {
        self.entries.lock().remove(&id).is_some()
    }

    /// Mark filter `id` as polled now and run `f` on what it watches, under the lock;
    /// `None` if no such filter is installed.
    pub(super) fn poll<T>(&self, id: u64, f: impl FnOnce(&mut FilterKind) -> T) -> Option<T> {
        let mut entries = self.entries.lock();
        let entry = entries.get_mut(&id)?;
        entry.last_poll = Instant::now();
        Some(f(&mut entry.kind))
    }

    /// Remove filters idle longer than the timeout; returns how many.
    pub(super) fn expire(&self, now: Instant) -> usize {
        let mut entries = self.entries.lock();
        let before = entries.len();
        entries.retain(|_, e| now.duration_since(e.last_poll) < FILTER_IDLE_TIMEOUT);
        before - entries.len()
    }

    /// Record a pending transaction in every pending-transaction filter.
    pub(super) fn on_pending(&self, hash: B256) {
        for entry in self.entries.lock().values_mut() {
            if let FilterKind::Pending { hashes } = &mut entry.kind
                && hashes.len() < MAX_PENDING_PER_FILTER
            {
                hashes.push(hash);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_numbered_limited_polled_and_expired() {
        let filters = Filters::new(2, 10);
        let id = |installed: RpcResult<U256>| u64::try_from(installed.expect("installed")).expect("a u64 id");
        let pending = id(filters.install(FilterKind::Pending { hashes: Vec::new() }, None));
        let blocks = id(filters.install(FilterKind::Blocks { next: 3 }, None));
        // Ids are random, not a sequence a client could walk to reach others' filters.
        assert!(pending != blocks && ![0, 1, 2].contains(&pending) && ![0, 1, 2].contains(&blocks));
        let full = filters.install(FilterKind::Blocks { next: 3 }, None).err().map(|e| e.message().to_string());
        assert_eq!(full.as_deref(), Some("too many filters installed (limit 2); uninstall some"));

        filters.on_pending(B256::repeat_byte(1));
        let taken = filters.poll(pending, |kind| match kind {
            FilterKind::Pending { hashes } => std::mem::take(hashes),
            _ => Vec::new(),
        });
        assert_eq!(taken, Some(vec![B256::repeat_byte(1)]));
        assert_eq!(filters.poll(9, |_| ()), None);

        assert!(filters.uninstall(blocks));
        assert!(!filters.uninstall(blocks));
        assert_eq!(filters.expire(Instant::now()), 0);
        assert_eq!(filters.expire(Instant::now() + FILTER_IDLE_TIMEOUT), 1);
    }

    #[test]
    fn one_client_cannot_take_every_filter_and_pending_filters_are_bounded() {
        let filters = Filters::new(1_000, 3);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            filters.install(FilterKind::Blocks { next: 1 }, Some(a)).expect("within the client's limit");
        }
        let refused = filters.install(FilterKind::Blocks { next: 1 }, Some(a)).unwrap_err();
        assert_eq!(refused.message(), "too many filters installed by this client (limit 3); uninstall some");
        filters.install(FilterKind::Blocks { next: 1 }, Some(b)).expect("another client is unaffected");

        let filters = Filters::new(10_000, 10_000);
        for _ in 0..MAX_PENDING_FILTERS {
            filters.install(FilterKind::Pending { hashes: Vec::new() }, None).expect("pending filter");
        }
        let refused = filters.install(FilterKind::Pending { hashes: Vec::new() }, None).unwrap_err();
        assert!(refused.message().starts_with("too many pending-transaction filters"), "{}", refused.message());
        filters.install(FilterKind::Blocks { next: 1 }, None).expect("other kinds are still allowed");
        // Each pending filter keeps at most its bound between polls.
        for i in 0..MAX_PENDING_PER_FILTER + 100 {
            filters.on_pending(B256::from(U256::from(i)));
        }
        let longest = filters
            .entries
            .lock()
            .values()
            .map(|e| match &e.kind {
                FilterKind::Pending { hashes } => hashes.len(),
                _ => 0,
            })
            .max();
        assert_eq!(longest, Some(MAX_PENDING_PER_FILTER));
    }
}
