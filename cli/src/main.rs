//! `dsec`: the command line of the dsec node. This file only parses the
//! command line and dispatches; each command is one module with one clap
//! struct and one `run`. `node` and `devnet` start nodes through the
//! `dsec-node` library; the operator commands talk to a chain over JSON-RPC
//! through `dsec-sdk`, as any client would.

mod audit;
mod audit_chain;
mod common;
mod devnet;
mod docs;
mod genesis;
mod jwt;
mod keys;
mod load;
mod node;
mod perm;
mod proof;
mod provenance;
mod send;
mod settle;
mod tx;
mod validators;
mod wire;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "dsec", version, about = "dsec: a BFT ledger node for consortiums, with an embedded EVM")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a node from a config file and/or flags.
    Node(node::NodeArgs),
    /// Start a local dev chain with prefunded dev accounts (JSON-RPC on 127.0.0.1:8545).
    Devnet(devnet::DevnetArgs),
    /// Create, check and inspect genesis files.
    #[command(subcommand)]
    Genesis(genesis::GenesisCommand),
    /// Create and inspect account keys (secp256k1, ML-DSA-65) and validator keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Keys and bearer tokens of authenticated JSON-RPC.
    #[command(subcommand)]
    Jwt(jwt::JwtCommand),
    /// Send value, call a contract or create one, signed with a secp256k1 or ML-DSA-65 key.
    Send(send::SendArgs),
    /// Send load to a node and measure throughput and latency.
    Load(load::LoadArgs),
    /// Tenant audit anchoring: anchor a log file, prove a line, verify a proof.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Cross-border settlement: roles, KYC, currencies, payments, holds, balances.
    Settle(settle::SettleArgs),
    /// Shipment provenance: parties, shipments, custody hand-offs, reports.
    Provenance(provenance::ProvenanceArgs),
    /// Validator-set governance: show a height's set, approve and schedule changes.
    Validators(validators::ValidatorsArgs),
    /// Permissions: who may send, deploy and connect, module and permission administrators.
    Perm(perm::PermArgs),
    /// Write the proof bundle of a transaction (or of one of its events): inclusion and finality.
    Proof(proof::ProofArgs),
    /// Check a proof bundle offline against the chain's genesis file, and print what it proves.
    Verify(proof::VerifyArgs),
    /// Seal a file to parties by address (ML-KEM-768 + X25519, signed by the sender).
    Seal(docs::SealArgs),
    /// Open a sealed document: check its sender's signature, content hash and anchor.
    Open(docs::OpenArgs),
    /// Sealed documents: document keys, the on-chain key directory, anchors.
    Docs(docs::DocsArgs),
}

fn main() {
    let cli = Cli::parse();
    // At least four workers even on a two-core machine: consensus messages must
    // be answered within their deadlines while RPC work keeps workers busy.
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(4);
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Node(args) => args.run().await,
            Command::Devnet(args) => args.run().await,
            Command::Genesis(cmd) => cmd.run(),
            Command::Keys(cmd) => cmd.run(),
            Command::Jwt(cmd) => cmd.run(),
            Command::Send(args) => args.run().await,
            Command::Load(args) => args.run().await,
            Command::Audit(cmd) => cmd.run().await,
            Command::Settle(args) => args.run().await,
            Command::Provenance(args) => args.run().await,
            Command::Validators(args) => args.run().await,
            Command::Perm(args) => args.run().await,
            Command::Proof(args) => args.run().await,
            Command::Verify(args) => args.run(),
            Command::Seal(args) => args.run().await,
            Command::Open(args) => args.run().await,
            Command::Docs(args) => args.run().await,
        }
    });
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
