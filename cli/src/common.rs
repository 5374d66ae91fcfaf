//! What several commands share: the default node URL, reading a private key
//! flag, a JSON-RPC client named after its flag, logging set-up, and running
//! a node in the foreground until Ctrl-C or SIGTERM.

use alloy_primitives::B256;
use dsec_node::{NodeSettings, RunningNode};
use dsec_sdk::client::RpcClient;
use dsec_sdk::tx::AccountKey;
use eyre::eyre;

/// The JSON-RPC URL operator commands talk to unless `--rpc` says otherwise.
pub(crate) const DEFAULT_RPC_URL: &str = "http://127.0.0.1:8545";

/// The key of a `--key`-like flag, or dev account 0 when the flag is absent.
///
/// The flag takes a key file written by `dsec keys new` (either scheme), or
/// a secp256k1 private key in hex; a hex key that is not a well-known dev
/// account's gets a warning, since the command line is visible to every user
/// of the machine.
pub(crate) fn parse_key(value: Option<&str>, flag: &str) -> eyre::Result<AccountKey> {
    let Some(value) = value else {
        let dev = dsec_sdk::dev::dev_accounts().first().ok_or_else(|| eyre!("no dev accounts"))?.key();
        return Ok(AccountKey::Secp256k1(dev));
    };
    let trimmed = value.trim_start_matches("0x");
    if trimmed.len() == 64 && trimmed.bytes().all(|b| b.is_ascii_hexdigit()) {
        let bytes: B256 = value.parse().map_err(|e| eyre!("{flag}: not a 32-byte hex key: {e}"))?;
        let key = dsec_sdk::tx::LocalKey::from_bytes(&bytes).map_err(|e| eyre!("{flag}: {e}"))?;
        if !dsec_sdk::dev::dev_accounts().iter().any(|dev| dev.address == key.address()) {
            eprintln!(
                "warning: {flag}: a private key on the command line is visible to other users (ps, shell history); \
                 use a key file (dsec keys new --out FILE)"
            );
        }
        return Ok(AccountKey::Secp256k1(key));
    }
    let path = std::path::Path::new(value);
    if !path.exists() {
        return Err(eyre!("{flag}: {value:?} is neither a 32-byte hex private key nor an existing key file"));
    }
    dsec_sdk::keyfile::read_account_key(path).map_err(|e| eyre!("{flag}: {e}"))
}

/// A JSON-RPC client for the `--rpc` URL.
pub(crate) fn client(url: &str) -> eyre::Result<RpcClient> {
    RpcClient::new(url).map_err(|e| eyre!("--rpc {url}: {e}"))
}

/// Log to standard error with `filter` (an `EnvFilter` directive).
pub(crate) fn init_logging(filter: &str) -> eyre::Result<()> {
    // Malachite logs every vote at INFO; keep its consensus core at WARN unless the filter names it.
    let quiet;
    let filter = if filter.contains("arc_malachitebft") {
        filter
    } else {
        quiet = format!("{filter},arc_malachitebft_core_consensus=warn,arc_malachitebft_engine=warn");
        quiet.as_str()
    };
    let env =
        tracing_subscriber::EnvFilter::try_new(filter).map_err(|e| eyre!("invalid --log-level {filter:?}: {e}"))?;
    // Colours only on a terminal: a devnet's validators log to files.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt().with_env_filter(env).with_target(false).with_ansi(ansi).init();
    Ok(())
}

/// Prints what a newcomer needs to know once the node listens.
pub(crate) type Banner = fn(&NodeSettings, &str) -> String;

/// Start a node and run it until Ctrl-C or SIGTERM (or until block production
/// fails, or until process `parent` is gone when one is given).
pub(crate) async fn run_until_signal(
    settings: NodeSettings,
    banner: Option<Banner>,
    parent: Option<u32>,
) -> eyre::Result<()> {
    let mut node: RunningNode = dsec_node::start(settings.clone()).await?;
    if let Some(banner) = banner {
        println!("{}", banner(&settings, &format!("http://{}", node.rpc_addr)));
    }
    let result = tokio::select! {
        r = node.wait() => r,
        _ = shutdown_signal() => Ok(()),
        _ = parent_gone(parent) => {
            tracing::warn!("the process that started this node is gone: stopping");
            Ok(())
        }
    };
    node.shutdown().await?;
    Ok(result?)
}

/// Resolves once process `parent` is no longer this process's parent (it died,
/// even by SIGKILL, and the process was re-parented); never without a parent.
async fn parent_gone(parent: Option<u32>) {
    let Some(parent) = parent else { return std::future::pending().await };
    #[cfg(unix)]
    loop {
        if std::os::unix::process::parent_id() != parent {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    #[cfg(not(unix))]
    {
        let _ = parent;
        std::future::pending().await
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
