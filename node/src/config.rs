//! Node configuration: a TOML file whose every setting can also be given as a
//! command-line flag (the flag wins).

use crate::rpc::RpcConfig;
use crate::store::Retention;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The `node.toml` file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Directory of the database and node files.
    pub data_dir: Option<PathBuf>,
    /// Path of the genesis file.
    pub genesis: Option<PathBuf>,
    /// Path of this validator's key file (required to produce blocks).
    pub validator_key: Option<PathBuf>,
    /// JSON-RPC listen address (HTTP and WebSocket).
    pub rpc_addr: Option<SocketAddr>,
    /// Prometheus metrics listen address.
    pub metrics_addr: Option<SocketAddr>,
    /// Log filter (`info`, `debug`, `dsec_node=debug,info`, …).
    pub log_level: Option<String>,
    /// Keep the state of every block.
    pub archive: Option<bool>,
    /// Blocks of state history kept when not an archive.
    pub state_history_blocks: Option<u64>,
    /// Block production on a single-validator chain.
    #[serde(default)]
    pub sealer: SealerSection,
    /// JSON-RPC limits.
    #[serde(default)]
    pub rpc: RpcSection,
    /// Mempool limits.
    #[serde(default)]
    pub mempool: MempoolSection,
    /// Peer-to-peer networking (present: BFT consensus with the peers).
    pub p2p: Option<P2pSection>,
    /// Consensus timeouts.
    #[serde(default)]
    pub consensus: ConsensusSection,
}

/// `[p2p]` section: where this node listens and whom it talks to.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2pSection {
    /// Consensus listen address, a multiaddr (`/ip4/127.0.0.1/tcp/26656`).
    pub listen: String,
    /// Consensus peers, each `/ip4/../tcp/../p2p/<peer id>`.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Transaction-gossip listen address.
    pub gossip_listen: String,
    /// Transaction-gossip peers, each ending in `/p2p/<peer id>`.
    #[serde(default)]
    pub gossip_peers: Vec<String>,
    /// Peer ids allowed besides the validators (full nodes, monitors).
    #[serde(default)]
    pub allowlist: Vec<String>,
    /// File of this node's network key (full nodes; a validator uses its validator key).
    pub node_key: Option<PathBuf>,
}

/// `[consensus]` section (milliseconds). Defaults suit a permissioned LAN/WAN.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsensusSection {
    /// Time to wait for a proposal in round 0.
    pub timeout_propose_ms: Option<u64>,
    /// Time to wait for more prevotes after seeing 2/3 of any.
    pub timeout_prevote_ms: Option<u64>,
    /// Time to wait for more precommits after seeing 2/3 of any.
    pub timeout_precommit_ms: Option<u64>,
    /// Added to each timeout per round.
    pub timeout_delta_ms: Option<u64>,
    /// How long a proposer waits for transactions before proposing an empty block.
    pub empty_block_wait_ms: Option<u64>,
    /// Most time spent building a block.
    pub build_time_ms: Option<u64>,
}

impl ConsensusSection {
    /// The consensus tunables these settings ask for.
    pub fn params(&self) -> dsec_consensus::bft::BftParams {
        use std::time::Duration;
        let mut p = dsec_consensus::bft::BftParams::default();
        let ms = Duration::from_millis;
        if let Some(v) = self.timeout_propose_ms {
            p.timeouts.propose = ms(v);
        }
        if let Some(v) = self.timeout_prevote_ms {
            p.timeouts.prevote = ms(v);
        }
        if let Some(v) = self.timeout_precommit_ms {
            p.timeouts.precommit = ms(v);
        }
        if let Some(v) = self.timeout_delta_ms {
            p.timeouts.propose_delta = ms(v);
            p.timeouts.prevote_delta = ms(v);
            p.timeouts.precommit_delta = ms(v);
        }
        p.timeouts.rebroadcast = p.timeouts.propose + p.timeouts.prevote + p.timeouts.precommit;
        if let Some(v) = self.empty_block_wait_ms {
            p.empty_block_wait = ms(v);
        }
        if let Some(v) = self.build_time_ms {
            p.build_time = ms(v);
        }
        p
    }
}

/// `[sealer]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealerSection {
    /// Seal a block at least every this many milliseconds (0: only when transactions arrive).
    pub block_time_ms: Option<u64>,
    /// Seal as soon as transactions arrive.
    pub seal_on_transactions: Option<bool>,
    /// Time a block may take to build, milliseconds.
    pub build_time_ms: Option<u64>,
    /// Most transactions per block.
    pub max_block_transactions: Option<usize>,
}

/// `[rpc]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcSection {
    /// Largest request body, bytes.
    pub max_request_body_bytes: Option<u32>,
    /// Most entries per batch.
    pub max_batch_size: Option<u32>,
    /// Most connections.
    pub max_connections: Option<u32>,
    /// Gas cap of calls.
    pub gas_cap: Option<u64>,
    /// Wall-clock limit of one call, milliseconds.
    pub call_timeout_ms: Option<u64>,
    /// Widest `eth_getLogs` block range.
    pub max_logs_block_range: Option<u64>,
    /// Most `eth_getLogs` results.
    pub max_logs_results: Option<usize>,
    /// CORS origins.
    pub cors_origins: Option<Vec<String>>,
}

/// `[mempool]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MempoolSection {
    /// Most transactions held.
    pub max_transactions: Option<usize>,
    /// Most transactions held per sender.
    pub max_per_sender: Option<usize>,
    /// Largest transaction, bytes.
    pub max_tx_bytes: Option<usize>,
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The TOML is malformed or a field is unknown or mistyped.
    #[error("config file {path}: {message}")]
    Parse {
        /// Path.
        path: String,
        /// What is wrong (names the field).
        message: String,
    },
    /// A required setting is missing.
    #[error("missing setting `{0}`: give it in the config file or as a flag")]
    Missing(&'static str),
}

impl FileConfig {
    /// Read a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Io { path: path.display().to_string(), source })?;
        toml::from_str(&text)
            .map_err(|e| ConfigError::Parse { path: path.display().to_string(), message: e.to_string() })
    }

    /// The state retention these settings ask for.
    pub fn retention(&self) -> Retention {
        if self.archive.unwrap_or(false) {
            Retention::Archive
        } else {
            Retention::Blocks(self.state_history_blocks.unwrap_or(10_000).max(1))
        }
    }

    /// The JSON-RPC limits these settings ask for.
    pub fn rpc_config(&self) -> RpcConfig {
        let d = RpcConfig::default();
        let r = &self.rpc;
        RpcConfig {
            max_request_body_bytes: r.max_request_body_bytes.unwrap_or(d.max_request_body_bytes),
            max_response_body_bytes: d.max_response_body_bytes,
            max_batch_size: r.max_batch_size.unwrap_or(d.max_batch_size),
            max_connections: r.max_connections.unwrap_or(d.max_connections),
            max_subscriptions_per_connection: d.max_subscriptions_per_connection,
            gas_cap: r.gas_cap.unwrap_or(d.gas_cap),
            call_timeout: r.call_timeout_ms.map(std::time::Duration::from_millis).unwrap_or(d.call_timeout),
            max_logs_block_range: r.max_logs_block_range.unwrap_or(d.max_logs_block_range),
            max_logs_results: r.max_logs_results.unwrap_or(d.max_logs_results),
            cors_origins: r.cors_origins.clone().unwrap_or(d.cors_origins),
            max_filters: d.max_filters,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_is_named() {
        let err = toml::from_str::<FileConfig>("rpc_adr = \"127.0.0.1:1\"").unwrap_err().to_string();
        assert!(err.contains("rpc_adr"), "{err}");
        let err = toml::from_str::<FileConfig>("[rpc]\ngas_cap = \"lots\"").unwrap_err().to_string();
        assert!(err.contains("gas_cap"), "{err}");
    }

    #[test]
    fn full_file_parses() {
        let cfg: FileConfig = toml::from_str(
            r#"
            data_dir = "/tmp/x"
            genesis = "genesis.json"
            rpc_addr = "127.0.0.1:8545"
            archive = true
            [sealer]
            block_time_ms = 500
            [rpc]
            max_batch_size = 10
            [mempool]
            max_per_sender = 5
            "#,
        )
        .unwrap();
        assert_eq!(cfg.retention(), Retention::Archive);
        assert_eq!(cfg.rpc_config().max_batch_size, 10);
        assert_eq!(cfg.sealer.block_time_ms, Some(500));
    }
}
