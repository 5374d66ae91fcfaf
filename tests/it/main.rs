//! End-to-end tests: real `dsec` processes, real RocksDB, real sockets on
//! loopback, real clients. One test binary for the whole suite.

mod abuse;
mod alloy_provider;
mod audit;
mod bft;
mod crash;
mod devnet;
mod docker;
mod documents;
mod governance;
mod hsm;
mod hybrid;
mod monitoring;
mod operator_cli;
mod permissions;
mod pq;
mod proofs;
mod provenance;
mod settlement;
mod sync_send;
mod trade_finance;
