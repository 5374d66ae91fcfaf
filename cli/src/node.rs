//! `dsec node`: run a node from a config file and/or flags. The flags are the
//! [`Overrides`] of the node's one configuration path ([`dsec_node::resolve`]).

use crate::common::{init_logging, run_until_signal};
use clap::Args;
use dsec_node::{FileConfig, Overrides, resolve};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Flags of `dsec node`; each one given replaces the config file's setting.
#[derive(Args, Debug, Default)]
pub(crate) struct NodeArgs {
    /// TOML config file; flags override its settings.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Directory of the database.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Genesis file.
    #[arg(long)]
    genesis: Option<PathBuf>,
    /// This validator's key file.
    #[arg(long)]
    validator_key: Option<PathBuf>,
    /// JSON-RPC listen address (HTTP and WebSocket).
    #[arg(long)]
    rpc_addr: Option<SocketAddr>,
    /// Prometheus metrics listen address.
    #[arg(long)]
    metrics_addr: Option<SocketAddr>,
    /// Log filter, e.g. `info` or `dsec_node=debug,info`.
    #[arg(long)]
    log_level: Option<String>,
    /// Keep the state of every block.
    #[arg(long)]
    archive: bool,
    /// Blocks of state history kept when not an archive.
    #[arg(long)]
    state_history_blocks: Option<u64>,
    /// Seal a block at least every this many milliseconds (0: only when transactions arrive).
    #[arg(long)]
    block_time_ms: Option<u64>,
    /// JSON-RPC namespaces to serve, e.g. `eth,net,web3,dsec,perm,debug` (default: all but debug).
    #[arg(long, value_delimiter = ',')]
    rpc_api: Option<Vec<String>>,
    /// FAULT INJECTION FOR TESTS: sign two different votes in every round (equivocate).
    #[arg(long, hide = true)]
    byzantine_equivocate: bool,
    /// FAULT INJECTION FOR TESTS: sign a conflicting proposal beside each block proposed.
    #[arg(long, hide = true)]
    byzantine_equivocate_proposals: bool,
    /// FAULT INJECTION FOR TESTS: admit and propose transactions the permissions refuse.
    #[arg(long, hide = true)]
    byzantine_ignore_permissions: bool,
    /// FAULT INJECTION FOR TESTS: corrupt the ML-DSA-65 half of every consensus signature.
    #[arg(long, hide = true)]
    byzantine_bad_ml_dsa: bool,
    /// Stop when this process (the devnet supervisor that started the node) is gone.
    #[arg(long, hide = true)]
    parent_pid: Option<u32>,
}

impl NodeArgs {
    /// Resolve the configuration, set up logging and run until Ctrl-C or SIGTERM.
    pub(crate) async fn run(self) -> eyre::Result<()> {
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let overrides = Overrides {
            data_dir: self.data_dir,
            genesis: self.genesis,
            validator_key: self.validator_key,
            rpc_addr: self.rpc_addr,
            metrics_addr: self.metrics_addr,
            log_level: self.log_level,
            archive: self.archive,
            state_history_blocks: self.state_history_blocks,
            block_time_ms: self.block_time_ms,
            rpc_api: self.rpc_api,
            byzantine_equivocate: self.byzantine_equivocate,
            byzantine_equivocate_proposals: self.byzantine_equivocate_proposals,
            byzantine_ignore_permissions: self.byzantine_ignore_permissions,
            byzantine_bad_ml_dsa: self.byzantine_bad_ml_dsa,
        };
        let resolved = resolve(file, overrides)?;
        init_logging(&resolved.log_level)?;
        run_until_signal(resolved.settings, None, self.parent_pid).await
    }
}
