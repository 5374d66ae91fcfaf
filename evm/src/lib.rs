//! `dsec-evm`: block execution on revm.
//!
//! - [`db`]: the [`StateReader`](db::StateReader) trait the node implements
//!   over RocksDB, an in-memory state for tests, and overlays;
//! - [`executor`]: executing a block's transactions into receipts and state changes;
//! - [`call`]: `eth_call` and `eth_estimateGas`;
//! - [`error`]: invalid-transaction reasons with Ethereum's messages.

pub mod access;
pub mod call;
pub mod chaincode;
pub mod db;
pub mod error;
pub mod executor;
pub mod intrinsic;
pub mod mldsa;
pub mod trace;

pub use access::AccessRules;
pub use call::{CallError, CallLimits, CallOutcome};
pub use db::{MemoryState, OverlayState, StateError, StateReader};
pub use error::InvalidTx;
pub use executor::{BlockContext, BlockExecutor, BlockOutput, ChainConfig, ExecError, TxExecError};

#[cfg(test)]
mod tests;
