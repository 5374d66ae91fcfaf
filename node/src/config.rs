//! Node configuration, resolved in one place: a TOML file ([`FileConfig`])
//! merged with command-line [`Overrides`] (a flag wins over the file) by
//! [`resolve`], which reads the genesis and key files and yields the
//! [`NodeSettings`] the node runs with. Every default is named once, here or
//! beside the type it configures; `dsec devnet` builds the same [`FileConfig`]
//! (and writes it out for its validators) instead of settings of its own.

use crate::chain::{DEFAULT_MAX_BLOCK_TRANSACTIONS, DEFAULT_STATE_HISTORY_BLOCKS};
use crate::mempool::MempoolConfig;
use crate::rpc::auth::{AuthConfig, JwtKey};
use crate::rpc::tls::{Tls, TlsFiles};
use crate::rpc::{Namespace, RpcConfig};
use crate::run::{ConsensusSettings, NodeSettings};
use crate::store::Retention;
use dsec_consensus::DevSealerConfig;
use dsec_consensus::bft::{BftParams, ByzantineConfig, Multiaddr, Trigger};
use dsec_genesis::{Genesis, GenesisError};
use dsec_sdk::keyfile::{KeyError, open_validator_signer, read_account_key, read_key};
use dsec_sdk::pq::MlDsa65Key;
use dsec_sdk::tx::AccountKey;
use dsec_sdk::validators::{HybridSigner, ValidatorSigner};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// JSON-RPC address when none is configured.
pub const DEFAULT_RPC_ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8545);
/// Log filter when none is configured.
pub const DEFAULT_LOG_LEVEL: &str = "info";
/// A single validator seals a block at least this often (milliseconds).
pub const DEFAULT_BLOCK_TIME_MS: u64 = 1000;
/// Most transactions per block with BFT consensus: a block must also be
/// streamed to and re-executed by every validator within the propose timeout.
pub const DEFAULT_BFT_MAX_BLOCK_TRANSACTIONS: usize = 5_000;

/// The `node.toml` file. Every setting is optional; [`resolve`] fills defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Directory of the database and node files.
    pub data_dir: Option<PathBuf>,
    /// Path of the genesis file.
    pub genesis: Option<PathBuf>,
    /// Path of this validator's key file (required to produce blocks).
    pub validator_key: Option<PathBuf>,
    /// On a chain with hybrid consensus signatures, the ML-DSA-65 key of a
    /// validator whose ed25519 key is in a PKCS#11 token (tokens do not hold
    /// ML-DSA keys yet): an ML-DSA-65 key file from `dsec keys new --scheme ml-dsa-65`.
    pub validator_ml_dsa_key: Option<PathBuf>,
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
    #[serde(default, skip_serializing_if = "is_default")]
    pub sealer: SealerSection,
    /// JSON-RPC limits.
    #[serde(default, skip_serializing_if = "is_default")]
    pub rpc: RpcSection,
    /// Mempool limits.
    #[serde(default, skip_serializing_if = "is_default")]
    pub mempool: MempoolSection,
    /// Peer-to-peer networking (present: BFT consensus with the peers).
    pub p2p: Option<P2pSection>,
    /// Consensus timeouts.
    #[serde(default, skip_serializing_if = "is_default")]
    pub consensus: ConsensusSection,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// `[p2p]` section: where this node listens and whom it talks to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// Peer ids this node allows besides the validators and the ledger's node list (monitors, tools).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowlist: Vec<String>,
    /// File of this node's network key (full nodes; a validator uses its validator key).
    pub node_key: Option<PathBuf>,
}

/// `[consensus]` section (milliseconds). Defaults suit a permissioned LAN/WAN.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// How long after its height starts a proposer with transactions waits
    /// for more before building (fewer, fuller blocks under steady load).
    pub block_fill_wait_ms: Option<u64>,
}

impl ConsensusSection {
    /// The consensus tunables these settings ask for.
    pub fn params(&self) -> BftParams {
        let mut p = BftParams::default();
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
        if let Some(v) = self.block_fill_wait_ms {
            p.block_fill_wait = ms(v);
        }
        p
    }
}

/// `[sealer]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealerSection {
    /// Seal a block at least every this many milliseconds (0: only when transactions arrive).
    pub block_time_ms: Option<u64>,
    /// Seal as soon as transactions arrive.
    pub seal_on_transactions: Option<bool>,
    /// Time a block may take to build, milliseconds.
    pub build_time_ms: Option<u64>,
    /// Under sustained load, at most one block per this many milliseconds (0:
    /// a block for every arrival, as Anvil's automine does).
    pub load_gap_ms: Option<u64>,
    /// Blocks sealed back to back on arrival before the load pacing starts.
    pub load_burst_blocks: Option<u32>,
    /// Most transactions per block.
    pub max_block_transactions: Option<usize>,
    /// Most bytes of signed transactions per block this node proposes.
    pub max_block_bytes: Option<usize>,
}

impl SealerSection {
    /// The dev sealer settings these settings ask for.
    pub fn sealer(&self) -> DevSealerConfig {
        let block_time_ms = self.block_time_ms.unwrap_or(DEFAULT_BLOCK_TIME_MS);
        let mut sealer = DevSealerConfig {
            block_interval: (block_time_ms > 0).then(|| Duration::from_millis(block_time_ms)),
            ..DevSealerConfig::default()
        };
        if let Some(seal) = self.seal_on_transactions {
            sealer.seal_on_transactions = seal;
        }
        if let Some(ms) = self.build_time_ms {
            sealer.build_time = Duration::from_millis(ms);
        }
        if let Some(ms) = self.load_gap_ms {
            sealer.load_gap = Duration::from_millis(ms);
        }
        if let Some(blocks) = self.load_burst_blocks {
            sealer.load_burst = blocks;
        }
        sealer
    }
}

/// `[rpc]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// CORS origins (none by default; `["*"]` for any).
    pub cors_origins: Option<Vec<String>>,
    /// Namespaces served: any of `eth`, `net`, `web3`, `debug`, `dsec` (default: all but `debug`).
    pub api: Option<Vec<String>>,
    /// Calls per second one client IP may make (IPv6 by /64); 0 turns the limit off.
    pub rate_limit_per_ip: Option<u32>,
    /// Calls a client may make at once after being idle.
    pub rate_limit_burst: Option<u32>,
    /// Most polling filters installed at once.
    pub max_filters: Option<usize>,
    /// Most polling filters one client IP may have installed.
    pub max_filters_per_client: Option<usize>,
    /// Most WebSocket subscriptions open at once on the node.
    pub max_subscriptions: Option<usize>,
    /// Most WebSocket subscriptions on one connection.
    pub max_subscriptions_per_connection: Option<u32>,
    /// Output one `debug_trace*` call may build, estimated bytes.
    pub max_trace_bytes: Option<usize>,
    /// File holding the hex HS256 secret JWT bearer tokens are checked with (as geth's `jwtsecret`).
    pub jwt_secret_file: Option<PathBuf>,
    /// File holding the public key JWT bearer tokens are checked with: a PEM
    /// `PUBLIC KEY` (Ed25519 for EdDSA, P-256 for ES256, RSA for RS256) or a hex Ed25519 key.
    pub jwt_public_key_file: Option<PathBuf>,
    /// Namespaces that need a token once a JWT key is set (default: all of them).
    pub auth_namespaces: Option<Vec<String>>,
    /// PEM certificate chain of the listener: serve JSON-RPC over TLS (with `tls_key_file`).
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// PEM bundle of the CAs whose client certificates are accepted: require mutual TLS.
    pub tls_client_ca_file: Option<PathBuf>,
    /// How long `eth_sendRawTransactionSync` waits by default, milliseconds (10,000).
    pub send_sync_timeout_ms: Option<u64>,
    /// The longest timeout a request may ask of `eth_sendRawTransactionSync`, milliseconds (60,000).
    pub send_sync_max_timeout_ms: Option<u64>,
    /// Most requests waiting for a receipt at once (10,000).
    pub max_waiting_sends: Option<usize>,
    /// `eth_sendRawTransaction` answers once the transaction is in a committed
    /// block (off by default; for test suites written for automine chains).
    pub sync_send: Option<bool>,
}

impl RpcSection {
    /// The JSON-RPC limits and namespaces these settings ask for.
    pub fn rpc_config(&self) -> Result<RpcConfig, ConfigError> {
        let d = RpcConfig::default();
        let apis = match &self.api {
            Some(names) => parse_namespaces("[rpc] api", names)?,
            None => d.apis.clone(),
        };
        let config = RpcConfig {
            max_request_body_bytes: self.max_request_body_bytes.unwrap_or(d.max_request_body_bytes),
            max_response_body_bytes: d.max_response_body_bytes,
            max_batch_size: self.max_batch_size.unwrap_or(d.max_batch_size),
            max_connections: self.max_connections.unwrap_or(d.max_connections),
            max_subscriptions_per_connection: self
                .max_subscriptions_per_connection
                .unwrap_or(d.max_subscriptions_per_connection),
            gas_cap: self.gas_cap.unwrap_or(d.gas_cap),
            call_timeout: self.call_timeout_ms.map(Duration::from_millis).unwrap_or(d.call_timeout),
            max_logs_block_range: self.max_logs_block_range.unwrap_or(d.max_logs_block_range),
            max_logs_results: self.max_logs_results.unwrap_or(d.max_logs_results),
            cors_origins: self.cors_origins.clone().unwrap_or(d.cors_origins),
            max_filters: self.max_filters.unwrap_or(d.max_filters),
            max_filters_per_client: self.max_filters_per_client.unwrap_or(d.max_filters_per_client),
            max_subscriptions: self.max_subscriptions.unwrap_or(d.max_subscriptions),
            rate_limit_per_ip: self.rate_limit_per_ip.unwrap_or(d.rate_limit_per_ip),
            rate_limit_burst: self.rate_limit_burst.unwrap_or(d.rate_limit_burst),
            max_trace_bytes: self.max_trace_bytes.unwrap_or(d.max_trace_bytes),
            auth: self.auth(&apis)?,
            tls: self.tls()?,
            apis,
            send_sync_timeout: self.send_sync_timeout_ms.map(Duration::from_millis).unwrap_or(d.send_sync_timeout),
            send_sync_max_timeout: self
                .send_sync_max_timeout_ms
                .map(Duration::from_millis)
                .unwrap_or(d.send_sync_max_timeout),
            max_waiting_sends: self.max_waiting_sends.unwrap_or(d.max_waiting_sends),
            sync_send: self.sync_send.unwrap_or(d.sync_send),
        };
        if config.send_sync_timeout.is_zero() || config.send_sync_timeout > config.send_sync_max_timeout {
            return Err(ConfigError::Invalid {
                field: "[rpc] send_sync_timeout_ms",
                message: format!(
                    "must be above 0 and at most send_sync_max_timeout_ms ({})",
                    config.send_sync_max_timeout.as_millis()
                ),
            });
        }
        if config.max_waiting_sends == 0 {
            return Err(ConfigError::Invalid {
                field: "[rpc] max_waiting_sends",
                message: "must be at least 1".into(),
            });
        }
        Ok(config)
    }
}

impl RpcSection {
    /// The TLS these settings ask for (`None` without a certificate).
    fn tls(&self) -> Result<Option<Tls>, ConfigError> {
        let invalid = |field: &'static str, message: String| ConfigError::Invalid { field, message };
        match (&self.tls_cert_file, &self.tls_key_file) {
            (None, None) if self.tls_client_ca_file.is_some() => {
                Err(invalid("[rpc] tls_client_ca_file", "needs tls_cert_file and tls_key_file".into()))
            }
            (None, None) => Ok(None),
            (Some(_), None) => Err(invalid("[rpc] tls_key_file", "missing: tls_cert_file needs its key".into())),
            (None, Some(_)) => {
                Err(invalid("[rpc] tls_cert_file", "missing: tls_key_file needs its certificate".into()))
            }
            (Some(cert), Some(key)) => {
                let files =
                    TlsFiles { cert: cert.clone(), key: key.clone(), client_ca: self.tls_client_ca_file.clone() };
                Tls::load(&files).map(Some).map_err(|e| invalid("[rpc] tls", e.to_string()))
            }
        }
    }

    /// The JWT authentication these settings ask for (`None` without a key file).
    fn auth(&self, apis: &[Namespace]) -> Result<Option<AuthConfig>, ConfigError> {
        let read_hex = |field: &'static str, path: &PathBuf| -> Result<Vec<u8>, ConfigError> {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::Invalid { field, message: format!("{}: {e}", path.display()) })?;
            alloy_primitives::hex::decode(text.trim())
                .map_err(|e| ConfigError::Invalid { field, message: format!("{}: not hex: {e}", path.display()) })
        };
        let key = match (&self.jwt_secret_file, &self.jwt_public_key_file) {
            (None, None) => {
                if self.auth_namespaces.is_some() {
                    return Err(ConfigError::Invalid {
                        field: "[rpc] auth_namespaces",
                        message: "needs jwt_secret_file or jwt_public_key_file".into(),
                    });
                }
                return Ok(None);
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    field: "[rpc] jwt_secret_file",
                    message: "give either jwt_secret_file or jwt_public_key_file, not both".into(),
                });
            }
            (Some(path), None) => {
                let secret = read_hex("[rpc] jwt_secret_file", path)?;
                if secret.len() < 32 {
                    return Err(ConfigError::Invalid {
                        field: "[rpc] jwt_secret_file",
                        message: format!("the secret is {} bytes; use at least 32", secret.len()),
                    });
                }
                JwtKey::Hs256(secret)
            }
            (None, Some(path)) => {
                let field = "[rpc] jwt_public_key_file";
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::Invalid { field, message: format!("{}: {e}", path.display()) })?;
                if text.contains("-----BEGIN") {
                    crate::rpc::auth::public_key_from_pem(&text)
                        .map_err(|e| ConfigError::Invalid { field, message: format!("{}: {e}", path.display()) })?
                } else {
                    let bytes = read_hex(field, path)?;
                    let key = <[u8; 32]>::try_from(bytes.as_slice())
                        .ok()
                        .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok())
                        .ok_or_else(|| ConfigError::Invalid {
                            field,
                            message: format!(
                                "{}: not a 32-byte Ed25519 public key nor a PEM public key",
                                path.display()
                            ),
                        })?;
                    JwtKey::EdDsa(key)
                }
            }
        };
        let protected = match &self.auth_namespaces {
            Some(names) => parse_namespaces("[rpc] auth_namespaces", names)?,
            None => apis.to_vec(),
        };
        Ok(Some(AuthConfig { key, protected }))
    }
}

/// Parse namespace names (`eth`, `debug`, …), naming `field` in the error.
fn parse_namespaces(field: &'static str, names: &[String]) -> Result<Vec<Namespace>, ConfigError> {
    names.iter().map(|n| n.parse().map_err(|message| ConfigError::Invalid { field, message })).collect()
}

/// `[mempool]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MempoolSection {
    /// Most transactions held.
    pub max_transactions: Option<usize>,
    /// Most transactions held per sender.
    pub max_per_sender: Option<usize>,
    /// Largest transaction, bytes.
    pub max_tx_bytes: Option<usize>,
    /// Most memory all pooled transactions may take, bytes.
    pub max_pool_bytes: Option<usize>,
    /// Most memory one sender's pooled transactions may take, bytes.
    pub max_bytes_per_sender: Option<usize>,
    /// Most future-nonce (not yet executable) transactions per sender.
    pub max_queued_per_sender: Option<usize>,
    /// Most future-nonce transactions in total.
    pub max_queued: Option<usize>,
}

impl MempoolSection {
    /// The mempool limits these settings ask for.
    pub fn mempool(&self) -> MempoolConfig {
        let mut mempool = MempoolConfig::default();
        let set = |field: &mut usize, value: Option<usize>| {
            if let Some(n) = value {
                *field = n;
            }
        };
        set(&mut mempool.max_transactions, self.max_transactions);
        set(&mut mempool.max_per_sender, self.max_per_sender);
        set(&mut mempool.max_tx_bytes, self.max_tx_bytes);
        set(&mut mempool.max_pool_bytes, self.max_pool_bytes);
        set(&mut mempool.max_bytes_per_sender, self.max_bytes_per_sender);
        set(&mut mempool.max_queued_per_sender, self.max_queued_per_sender);
        set(&mut mempool.max_queued, self.max_queued);
        mempool
    }
}

/// Settings given on the command line; each one present replaces the file's.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Directory of the database.
    pub data_dir: Option<PathBuf>,
    /// Genesis file.
    pub genesis: Option<PathBuf>,
    /// This validator's key file.
    pub validator_key: Option<PathBuf>,
    /// JSON-RPC listen address.
    pub rpc_addr: Option<SocketAddr>,
    /// Prometheus metrics listen address.
    pub metrics_addr: Option<SocketAddr>,
    /// Log filter.
    pub log_level: Option<String>,
    /// Keep the state of every block (true wins over the file).
    pub archive: bool,
    /// Blocks of state history kept when not an archive.
    pub state_history_blocks: Option<u64>,
    /// Seal a block at least every this many milliseconds.
    pub block_time_ms: Option<u64>,
    /// JSON-RPC namespaces served (replaces `[rpc] api`).
    pub rpc_api: Option<Vec<String>>,
    /// FAULT INJECTION FOR TESTS: sign two different votes in every round.
    pub byzantine_equivocate: bool,
    /// FAULT INJECTION FOR TESTS: sign a conflicting proposal beside each one proposed.
    pub byzantine_equivocate_proposals: bool,
    /// FAULT INJECTION FOR TESTS: admit and propose transactions the permissions refuse.
    pub byzantine_ignore_permissions: bool,
    /// FAULT INJECTION FOR TESTS: corrupt the ML-DSA-65 half of every consensus signature.
    pub byzantine_bad_ml_dsa: bool,
}

/// A configuration ready to run: the node's settings and the log filter.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// What the node starts with.
    pub settings: NodeSettings,
    /// The log filter (logging is set up by the binary, not the node).
    pub log_level: String,
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
    #[error("missing setting `{field}` ({flag}): give it in the config file or as a flag")]
    Missing {
        /// The config key.
        field: &'static str,
        /// The flag that sets it.
        flag: &'static str,
    },
    /// A setting has a value that cannot be used.
    #[error("{field}: {message}")]
    Invalid {
        /// The config key (with its section).
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The genesis file was refused.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// A key file was refused.
    #[error("{field}")]
    Key {
        /// The config key that named the file.
        field: &'static str,
        /// Why.
        source: KeyError,
    },
}

impl FileConfig {
    /// Read a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Io { path: path.display().to_string(), source })?;
        toml::from_str(&text)
            .map_err(|e| ConfigError::Parse { path: path.display().to_string(), message: e.to_string() })
    }

    /// The file as TOML (what `dsec devnet` writes for each validator).
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string(self).map_err(|e| ConfigError::Invalid { field: "config", message: e.to_string() })
    }

    /// The state retention these settings ask for.
    pub fn retention(&self) -> Retention {
        if self.archive.unwrap_or(false) {
            Retention::Archive
        } else {
            Retention::Blocks(self.state_history_blocks.unwrap_or(DEFAULT_STATE_HISTORY_BLOCKS).max(1))
        }
    }
}

/// Merge `file` with `flags` (a flag wins), check everything, and read the
/// genesis and key files: the settings a node starts with.
pub fn resolve(mut file: FileConfig, flags: Overrides) -> Result<Resolved, ConfigError> {
    file.data_dir = flags.data_dir.or(file.data_dir);
    file.genesis = flags.genesis.or(file.genesis);
    file.validator_key = flags.validator_key.or(file.validator_key);
    file.rpc_addr = flags.rpc_addr.or(file.rpc_addr);
    file.metrics_addr = flags.metrics_addr.or(file.metrics_addr);
    file.log_level = flags.log_level.or(file.log_level);
    if flags.archive {
        file.archive = Some(true);
    } else if flags.state_history_blocks.is_some() {
        file.archive = Some(false);
        file.state_history_blocks = flags.state_history_blocks;
    }
    file.sealer.block_time_ms = flags.block_time_ms.or(file.sealer.block_time_ms);
    if let Some(names) = flags.rpc_api {
        parse_namespaces("--rpc-api", &names)?;
        file.rpc.api = Some(names);
    }

    let data_dir = file.data_dir.clone().ok_or(ConfigError::Missing { field: "data_dir", flag: "--data-dir" })?;
    let genesis_path = file.genesis.clone().ok_or(ConfigError::Missing { field: "genesis", flag: "--genesis" })?;
    let genesis = Genesis::load(&genesis_path)?;
    let validator_key = file
        .validator_key
        .as_deref()
        .map(open_validator_signer)
        .transpose()
        .map_err(|source| ConfigError::Key { field: "validator_key", source })?;
    let validator_key = match (validator_key, &file.validator_ml_dsa_key) {
        (key, None) => key,
        (None, Some(_)) => {
            return Err(ConfigError::Invalid {
                field: "validator_ml_dsa_key",
                message: "pairs with validator_key, which is not set".into(),
            });
        }
        (Some(key), Some(path)) => Some(with_ml_dsa_key(key, path)?),
    };
    let consensus = match &file.p2p {
        Some(p2p) => Some(consensus_settings(
            p2p,
            &file.consensus,
            fault_injection(flags.byzantine_equivocate, flags.byzantine_equivocate_proposals),
        )?),
        None if flags.byzantine_equivocate || flags.byzantine_equivocate_proposals => {
            return Err(ConfigError::Invalid {
                field: if flags.byzantine_equivocate {
                    "--byzantine-equivocate"
                } else {
                    "--byzantine-equivocate-proposals"
                },
                message: "needs a [p2p] section".into(),
            });
        }
        None => None,
    };
    let default_block_transactions =
        if consensus.is_some() { DEFAULT_BFT_MAX_BLOCK_TRANSACTIONS } else { DEFAULT_MAX_BLOCK_TRANSACTIONS };
    let settings = NodeSettings {
        retention: file.retention(),
        rpc: file.rpc.rpc_config()?,
        mempool: file.mempool.mempool(),
        sealer: file.sealer.sealer(),
        max_block_transactions: file.sealer.max_block_transactions.unwrap_or(default_block_transactions),
        max_block_bytes: file.sealer.max_block_bytes.unwrap_or(crate::chain::DEFAULT_MAX_BLOCK_BYTES),
        byzantine_ignore_permissions: flags.byzantine_ignore_permissions,
        byzantine_bad_ml_dsa: flags.byzantine_bad_ml_dsa,
        consensus,
        data_dir,
        genesis,
        validator_key,
        rpc_addr: file.rpc_addr.unwrap_or(DEFAULT_RPC_ADDR),
        metrics_addr: file.metrics_addr,
    };
    Ok(Resolved { settings, log_level: file.log_level.unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_string()) })
}

/// `key` (in a token) paired with the ML-DSA-65 key in the key file `path`.
fn with_ml_dsa_key(
    key: std::sync::Arc<dyn ValidatorSigner>,
    path: &Path,
) -> Result<std::sync::Arc<dyn ValidatorSigner>, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid { field: "validator_ml_dsa_key", message };
    if key.ml_dsa_public_key().is_some() {
        return Err(invalid("validator_key already holds an ML-DSA-65 half: remove validator_ml_dsa_key".into()));
    }
    let account =
        read_account_key(path).map_err(|source| ConfigError::Key { field: "validator_ml_dsa_key", source })?;
    let AccountKey::MlDsa65(signer) = account else {
        return Err(invalid(format!("{} is a {} key, not ML-DSA-65", path.display(), account.scheme())));
    };
    let ml_dsa = MlDsa65Key::from_seed(signer.key().seed());
    Ok(std::sync::Arc::new(HybridSigner::new(key, ml_dsa)))
}

/// The Byzantine behaviour the test-only flags ask for, if any.
fn fault_injection(votes: bool, proposals: bool) -> Option<ByzantineConfig> {
    if !votes && !proposals {
        return None;
    }
    let mut config = ByzantineConfig::default();
    if votes {
        config = config.with_equivocate_votes(Trigger::Always);
    }
    if proposals {
        config = config.with_equivocate_proposals(Trigger::Always);
    }
    Some(config)
}

fn consensus_settings(
    p2p: &P2pSection,
    consensus: &ConsensusSection,
    byzantine: Option<ByzantineConfig>,
) -> Result<ConsensusSettings, ConfigError> {
    let addr = |field: &'static str, s: &str| -> Result<Multiaddr, ConfigError> {
        s.parse().map_err(|e| ConfigError::Invalid { field, message: format!("invalid multiaddr {s:?}: {e}") })
    };
    let addrs = |field: &'static str, list: &[String]| -> Result<Vec<Multiaddr>, ConfigError> {
        list.iter().map(|s| addr(field, s)).collect()
    };
    let node_key = match &p2p.node_key {
        Some(path) => {
            Some(read_key(path).map_err(|source| ConfigError::Key { field: "[p2p] node_key", source })?.seed())
        }
        None => None,
    };
    Ok(ConsensusSettings {
        listen: addr("[p2p] listen", &p2p.listen)?,
        peers: addrs("[p2p] peers", &p2p.peers)?,
        gossip_listen: addr("[p2p] gossip_listen", &p2p.gossip_listen)?,
        gossip_peers: addrs("[p2p] gossip_peers", &p2p.gossip_peers)?,
        allowlist: p2p
            .allowlist
            .iter()
            .map(|p| {
                p.parse().map_err(|e| ConfigError::Invalid {
                    field: "[p2p] allowlist",
                    message: format!("invalid peer id {p:?}: {e}"),
                })
            })
            .collect::<Result<_, _>>()?,
        node_key,
        params: consensus.params(),
        byzantine,
    })
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
            [consensus]
            block_fill_wait_ms = 50
            "#,
        )
        .unwrap();
        assert_eq!(cfg.consensus.params().block_fill_wait, Duration::from_millis(50));
        assert_eq!(ConsensusSection::default().params().block_fill_wait, dsec_consensus::bft::DEFAULT_BLOCK_FILL_WAIT);
        assert_eq!(cfg.retention(), Retention::Archive);
        assert_eq!(cfg.rpc.rpc_config().unwrap().max_batch_size, 10);
        assert_eq!(cfg.sealer.block_time_ms, Some(500));
        assert_eq!(cfg.mempool.mempool().max_per_sender, 5);
    }

    #[test]
    fn the_documented_example_config_parses_and_means_the_defaults() {
        let example: FileConfig = toml::from_str(include_str!("../../devnet/node.toml")).unwrap();
        let mempool = example.mempool.mempool();
        let defaults = MempoolConfig::default();
        assert_eq!(
            (mempool.max_pool_bytes, mempool.max_bytes_per_sender, mempool.max_queued_per_sender, mempool.max_queued),
            (
                defaults.max_pool_bytes,
                defaults.max_bytes_per_sender,
                defaults.max_queued_per_sender,
                defaults.max_queued
            )
        );
        assert_eq!(example.retention(), Retention::Blocks(DEFAULT_STATE_HISTORY_BLOCKS));
        assert_eq!(example.sealer.max_block_transactions, Some(DEFAULT_MAX_BLOCK_TRANSACTIONS));
        assert_eq!(example.consensus.params().block_fill_wait, dsec_consensus::bft::DEFAULT_BLOCK_FILL_WAIT);
        let (sealer, d) = (example.sealer.sealer(), dsec_consensus::DevSealerConfig::default());
        assert_eq!((sealer.load_gap, sealer.load_burst), (d.load_gap, d.load_burst));
        let (rpc, d) = (example.rpc.rpc_config().unwrap(), RpcConfig::default());
        assert_eq!(
            (rpc.rate_limit_per_ip, rpc.rate_limit_burst, rpc.max_filters, rpc.max_filters_per_client),
            (d.rate_limit_per_ip, d.rate_limit_burst, d.max_filters, d.max_filters_per_client)
        );
        assert_eq!(
            (rpc.max_subscriptions, rpc.max_subscriptions_per_connection, rpc.max_trace_bytes),
            (d.max_subscriptions, d.max_subscriptions_per_connection, d.max_trace_bytes)
        );
        assert_eq!(
            (rpc.send_sync_timeout, rpc.send_sync_max_timeout, rpc.max_waiting_sends, rpc.sync_send),
            (d.send_sync_timeout, d.send_sync_max_timeout, d.max_waiting_sends, d.sync_send)
        );
    }

    #[test]
    fn sync_send_timeouts_are_checked() {
        let refused = |text: &str| {
            let cfg: FileConfig = toml::from_str(text).unwrap();
            cfg.rpc.rpc_config().unwrap_err().to_string()
        };
        let too_short = refused("[rpc]\nsend_sync_timeout_ms = 0\n");
        assert_eq!(
            too_short,
            "[rpc] send_sync_timeout_ms: must be above 0 and at most send_sync_max_timeout_ms (60000)"
        );
        let over_max = refused("[rpc]\nsend_sync_timeout_ms = 5000\nsend_sync_max_timeout_ms = 1000\n");
        assert!(over_max.ends_with("at most send_sync_max_timeout_ms (1000)"), "{over_max}");
        assert_eq!(refused("[rpc]\nmax_waiting_sends = 0\n"), "[rpc] max_waiting_sends: must be at least 1");
    }

    #[test]
    fn tls_settings_come_in_pairs_and_bad_files_are_named() {
        let with = |section: RpcSection| section.rpc_config().map(|c| c.tls.is_some());
        let cert = RpcSection { tls_cert_file: Some("cert.pem".into()), ..Default::default() };
        assert_eq!(with(cert).unwrap_err().to_string(), "[rpc] tls_key_file: missing: tls_cert_file needs its key");
        let ca = RpcSection { tls_client_ca_file: Some("ca.pem".into()), ..Default::default() };
        assert_eq!(with(ca).unwrap_err().to_string(), "[rpc] tls_client_ca_file: needs tls_cert_file and tls_key_file");
        let missing = RpcSection {
            tls_cert_file: Some("/nonexistent/cert.pem".into()),
            tls_key_file: Some("/nonexistent/key.pem".into()),
            ..Default::default()
        };
        let err = with(missing).unwrap_err().to_string();
        assert!(err.starts_with("[rpc] tls: /nonexistent/cert.pem"), "{err}");
        assert!(!with(RpcSection::default()).unwrap(), "plain HTTP unless configured");
    }

    #[test]
    fn jwt_settings_are_checked_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let (short, secret) = (dir.path().join("short.hex"), dir.path().join("jwt.hex"));
        std::fs::write(&short, "abcd").unwrap();
        std::fs::write(&secret, format!("{}\n", "ab".repeat(32))).unwrap();
        let with = |section: RpcSection| section.rpc_config().map(|c| c.auth.map(|a| a.protected));
        let err = with(RpcSection { jwt_secret_file: Some(short), ..Default::default() }).unwrap_err();
        assert_eq!(err.to_string(), "[rpc] jwt_secret_file: the secret is 2 bytes; use at least 32");
        let err = with(RpcSection { auth_namespaces: Some(vec!["debug".into()]), ..Default::default() }).unwrap_err();
        assert_eq!(err.to_string(), "[rpc] auth_namespaces: needs jwt_secret_file or jwt_public_key_file");
        let both = RpcSection {
            jwt_secret_file: Some(secret.clone()),
            jwt_public_key_file: Some(secret.clone()),
            ..Default::default()
        };
        assert!(with(both).unwrap_err().to_string().contains("not both"));
        let all = with(RpcSection { jwt_secret_file: Some(secret.clone()), ..Default::default() }).unwrap();
        assert_eq!(all, Some(Namespace::DEFAULT.to_vec()), "every served namespace by default");
        let some = RpcSection {
            jwt_secret_file: Some(secret),
            auth_namespaces: Some(vec!["debug".into()]),
            ..Default::default()
        };
        assert_eq!(with(some).unwrap(), Some(vec![Namespace::Debug]));
        assert_eq!(with(RpcSection::default()).unwrap(), None, "open unless a key is set");
    }

    #[test]
    fn namespaces_are_chosen_by_file_or_flag_and_a_bad_one_is_named() {
        let file: FileConfig = toml::from_str("[rpc]\napi = [\"eth\", \"debug\"]").unwrap();
        assert_eq!(file.rpc.rpc_config().unwrap().apis, vec![Namespace::Eth, Namespace::Debug]);
        assert_eq!(RpcSection::default().rpc_config().unwrap().apis, Namespace::DEFAULT.to_vec());
        let bad: FileConfig = toml::from_str("[rpc]\napi = [\"eth\", \"admin\"]").unwrap();
        let err = bad.rpc.rpc_config().unwrap_err().to_string();
        assert!(err.starts_with("[rpc] api: unknown namespace \"admin\""), "{err}");
        let flags = Overrides { rpc_api: Some(vec!["nope".into()]), ..Default::default() };
        let err = resolve(FileConfig::default(), flags).unwrap_err().to_string();
        assert!(err.starts_with("--rpc-api: unknown namespace"), "{err}");
    }

    #[test]
    fn a_written_config_reads_back_the_same() {
        let cfg = FileConfig {
            data_dir: Some("devnet/node0".into()),
            rpc_addr: Some(DEFAULT_RPC_ADDR),
            archive: Some(false),
            p2p: Some(P2pSection {
                listen: "/ip4/127.0.0.1/tcp/26656".into(),
                peers: vec!["/ip4/127.0.0.1/tcp/26657/p2p/a".into(), "/ip4/127.0.0.1/tcp/26658/p2p/b".into()],
                gossip_listen: "/ip4/127.0.0.1/tcp/27656".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let text = cfg.to_toml().unwrap();
        assert!(!text.contains("[sealer]") && !text.contains("allowlist"), "empty settings are left out:\n{text}");
        assert_eq!(toml::from_str::<FileConfig>(&text).unwrap(), cfg);
    }

    #[test]
    fn an_ml_dsa_key_file_pairs_with_a_validator_key_that_has_no_ml_dsa_half() {
        use dsec_sdk::validators::ValidatorKey;
        let dir = tempfile::tempdir().unwrap();
        let genesis = dir.path().join("genesis.json");
        let devnet = dsec_genesis::devnet::generate(&dsec_genesis::devnet::DevnetSpec::default());
        std::fs::write(&genesis, devnet.genesis.to_json_pretty()).unwrap();
        let (plain, hybrid, pq) = (dir.path().join("v.key"), dir.path().join("h.key"), dir.path().join("pq.key"));
        dsec_sdk::keyfile::write_key(&plain, &ValidatorKey::generate()).unwrap();
        dsec_sdk::keyfile::write_key(&hybrid, &ValidatorKey::generate_hybrid()).unwrap();
        let account = AccountKey::MlDsa65(dsec_sdk::tx::MlDsaSigner::new(MlDsa65Key::generate()));
        dsec_sdk::keyfile::write_account_key(&pq, &account).unwrap();
        let config = |key: Option<&Path>, ml_dsa: &Path| FileConfig {
            data_dir: Some(dir.path().into()),
            genesis: Some(genesis.clone()),
            validator_key: key.map(Path::to_path_buf),
            validator_ml_dsa_key: Some(ml_dsa.to_path_buf()),
            ..Default::default()
        };
        let paired = resolve(config(Some(&plain), &pq), Overrides::default()).unwrap();
        let signer = paired.settings.validator_key.unwrap();
        assert_eq!(signer.ml_dsa_public_key().map(|k| k.as_bytes().to_vec()), {
            let AccountKey::MlDsa65(s) = &account else { unreachable!() };
            Some(s.key().public_key().as_bytes().to_vec())
        });
        assert!(signer.try_sign_ml_dsa(b"vote").unwrap().is_some());
        let err = resolve(config(None, &pq), Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("validator_ml_dsa_key") && err.contains("validator_key"), "{err}");
        let err = resolve(config(Some(&hybrid), &pq), Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("already holds an ML-DSA-65 half"), "{err}");
        let err = resolve(config(Some(&plain), &plain), Overrides::default()).unwrap_err();
        assert!(matches!(err, ConfigError::Key { field: "validator_ml_dsa_key", .. }), "{err}");
    }

    #[test]
    fn flags_win_and_missing_settings_are_named() {
        let err = resolve(FileConfig::default(), Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("data_dir") && err.contains("--data-dir"), "{err}");
        let file = FileConfig { data_dir: Some("/tmp/x".into()), ..Default::default() };
        let err = resolve(file, Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("--genesis"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let genesis = dir.path().join("genesis.json");
        let devnet = dsec_genesis::devnet::generate(&dsec_genesis::devnet::DevnetSpec::default());
        std::fs::write(&genesis, devnet.genesis.to_json_pretty()).unwrap();
        let file = FileConfig {
            data_dir: Some(dir.path().into()),
            genesis: Some(genesis),
            state_history_blocks: Some(5),
            log_level: Some("debug".into()),
            ..Default::default()
        };
        let flags = Overrides { archive: true, block_time_ms: Some(0), ..Default::default() };
        let resolved = resolve(file.clone(), flags).unwrap();
        assert_eq!(resolved.settings.retention, Retention::Archive);
        assert_eq!(resolved.settings.sealer.block_interval, None);
        assert_eq!(resolved.settings.max_block_transactions, DEFAULT_MAX_BLOCK_TRANSACTIONS);
        assert_eq!(resolved.settings.rpc_addr, DEFAULT_RPC_ADDR);
        assert_eq!(resolved.log_level, "debug");
        let resolved = resolve(file, Overrides::default()).unwrap();
        assert_eq!(resolved.settings.retention, Retention::Blocks(5));
        assert_eq!(resolved.settings.sealer.block_interval, Some(Duration::from_millis(DEFAULT_BLOCK_TIME_MS)));
    }
}
