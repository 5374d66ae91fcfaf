//! `dsec-node`: the dsec node as a library — RocksDB store, mempool, the chain
//! core behind the consensus application interface, JSON-RPC, transaction
//! gossip and metrics, started by [`start`] with the settings
//! [`config::resolve`] makes of a config file and flags. The `dsec` binary
//! (crate `dsec-cli`) parses the command line and calls these.

// Used only by the Criterion benchmarks in benches/.
#[cfg(feature = "bench")]
use criterion as _;

pub mod chain;
pub mod config;
pub mod gossip;
pub mod mempool;
pub mod metrics;
pub mod peers;
pub mod rpc;
pub mod run;
pub mod store;

pub use config::{FileConfig, Overrides, Resolved, resolve};
pub use run::{NodeError, NodeSettings, RunningNode, start};
