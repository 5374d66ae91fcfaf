//! `dsec-sdk`: the vocabulary shared by the dsec node and its clients.
//!
//! - [`block`]: headers, bodies, commit certificates, stored receipts;
//! - [`state`]: accounts, state changes and the header's state commitment;
//! - [`validators`]: validator sets, ed25519 (and hybrid ed25519 + ML-DSA-65) validator keys, certificate checks;
//! - [`tx`]: decoding and signing Ethereum transactions, fast sender recovery;
//! - [`dev`]: the well-known development accounts;
//! - [`keyfile`]: validator and account key files (read by the node, written by the CLI);
//! - [`keystore`]: encrypted key files (Web3 Secret Storage v3, geth's keystore format);
//! - [`pq`]: post-quantum signatures (ML-DSA-65) and key encapsulation (ML-KEM-768);
//! - [`envelope`]: sealed documents (ML-KEM-768 + X25519, AES-256-GCM, signed by the sender);
//! - [`documents`]: the on-chain key directory and document anchors (the `documents` module's binding);
//! - [`proof`]: proof bundles — a transaction's inclusion and finality, checked offline against the genesis;
//! - [`client`]: a typed JSON-RPC client for a dsec (or any Ethereum) node.

pub mod block;
pub mod chaincode;
pub mod client;
pub mod dev;
pub mod documents;
pub mod envelope;
pub mod hsm;
pub mod keyfile;
pub mod keystore;
pub mod merkle;
pub mod pq;
pub mod proof;
pub mod state;
pub mod tx;
pub mod validators;

pub use alloy_primitives as primitives;
