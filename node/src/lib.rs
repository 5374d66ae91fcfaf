//! `dsec-node`: the dsec node — RocksDB store, mempool, block production behind
//! the consensus application interface, JSON-RPC, metrics, and the `dsec` CLI's
//! building blocks (devnet, load generator).

pub mod audit;
pub mod chain;
pub mod cli_tx;
pub mod config;
pub mod devnet;
pub mod gossip;
pub mod governance;
pub mod keys;
pub mod load;
pub mod mempool;
pub mod metrics;
pub mod provenance;
pub mod rpc;
pub mod run;
pub mod settle;
pub mod store;
