//! `dsec devnet`: a dev chain in one command, with the well-known development
//! accounts prefunded and JSON-RPC on 127.0.0.1:8545.

use crate::keys::{read_key, write_key};
use crate::run::NodeSettings;
use dsec_genesis::Genesis;
use dsec_genesis::devnet::{DEV_ACCOUNT_BALANCE_WEI, DevnetSpec, generate};
use eyre::{WrapErr, bail};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Name of the genesis file inside a devnet data directory.
pub const GENESIS_FILE: &str = "genesis.json";
/// Name of the validator key file inside a devnet data directory.
pub const KEY_FILE: &str = "validator.key";

/// A devnet directory: its genesis and validator key, created on first use.
#[derive(Debug)]
pub struct DevnetDir {
    /// The directory.
    pub path: PathBuf,
    /// The genesis.
    pub genesis: Genesis,
    /// Whether it was created now (false: an existing devnet restarts).
    pub created: bool,
}

/// Create a devnet in `dir`, or reopen the one already there.
pub fn prepare(dir: &Path, spec: &DevnetSpec) -> eyre::Result<(DevnetDir, dsec_sdk::validators::ValidatorKey)> {
    if spec.validators != 1 {
        bail!("a single-process devnet has one validator, not {}", spec.validators);
    }
    std::fs::create_dir_all(dir).wrap_err_with(|| format!("cannot create {}", dir.display()))?;
    let genesis_path = dir.join(GENESIS_FILE);
    let key_path = dir.join(KEY_FILE);
    if genesis_path.exists() {
        let genesis = Genesis::load(&genesis_path)?;
        let key = read_key(&key_path)?;
        return Ok((DevnetDir { path: dir.to_path_buf(), genesis, created: false }, key));
    }
    let devnet = generate(spec);
    std::fs::write(&genesis_path, devnet.genesis.to_json_pretty())
        .wrap_err_with(|| format!("cannot write {}", genesis_path.display()))?;
    let key = devnet.validator_keys[0].clone();
    write_key(&key_path, &key)?;
    Ok((DevnetDir { path: dir.to_path_buf(), genesis: devnet.genesis, created: true }, key))
}

/// The banner printed at start-up, listing the dev accounts as Anvil and Hardhat do.
pub fn banner(settings: &NodeSettings, rpc_url: &str) -> String {
    let mut out = String::new();
    out.push_str("\n                 dsec devnet\n\nAvailable Accounts\n==================\n");
    let accounts = dsec_sdk::dev::dev_accounts();
    let eth = DEV_ACCOUNT_BALANCE_WEI / 1_000_000_000_000_000_000;
    for a in &accounts {
        out.push_str(&format!("({}) {} ({} ETH)\n", a.index, a.address, eth));
    }
    out.push_str("\nPrivate Keys\n==================\n");
    for a in &accounts {
        out.push_str(&format!("({}) {}\n", a.index, a.private_key));
    }
    out.push_str(&format!(
        "\nWallet\n==================\nMnemonic:          {}\nDerivation path:   m/44'/60'/0'/0/\n\nChain ID:          {}\nGenesis hash:      {}\nData directory:    {}\n\nListening on {}\n",
        dsec_sdk::dev::DEV_MNEMONIC,
        settings.genesis.chain_id,
        settings.genesis.hash(),
        settings.data_dir.display(),
        rpc_url,
    ));
    out.push_str("These keys are public knowledge: never use them outside a devnet.\n");
    out
}

/// First ports of a multi-validator devnet; validator `i` uses each plus `i`.
#[derive(Debug, Clone)]
pub struct NetworkPorts {
    /// Address every listener binds.
    pub host: IpAddr,
    /// JSON-RPC.
    pub rpc: u16,
    /// Prometheus metrics.
    pub metrics: u16,
    /// Consensus p2p.
    pub p2p: u16,
    /// Transaction gossip.
    pub gossip: u16,
}

/// One validator of a devnet network.
#[derive(Debug, Clone)]
pub struct NetworkNode {
    /// Its `node.toml`.
    pub config: PathBuf,
    /// Where its process logs.
    pub log: PathBuf,
    /// Its JSON-RPC address.
    pub rpc: SocketAddr,
    /// Its validator address.
    pub address: alloy_primitives::Address,
}

/// The files of a devnet network.
#[derive(Debug, Clone)]
pub struct Network {
    /// The genesis.
    pub genesis: Genesis,
    /// The validators.
    pub nodes: Vec<NetworkNode>,
}

fn port(base: u16, i: usize, what: &str) -> eyre::Result<u16> {
    u16::try_from(base as usize + i).map_err(|_| eyre::eyre!("{what} port {base} + {i} is out of range"))
}

/// Write (or reopen) a devnet of `spec.validators` validators in `dir`: one
/// genesis, and per validator `node{i}/validator.key` and `node{i}/node.toml`
/// with its ports and every other validator as a peer. The same files run the
/// network by hand: `dsec node --config dir/node0/node.toml`, and so on.
pub fn write_network(dir: &Path, spec: &DevnetSpec, ports: &NetworkPorts, archive: bool) -> eyre::Result<Network> {
    std::fs::create_dir_all(dir).wrap_err_with(|| format!("cannot create {}", dir.display()))?;
    let genesis_path = dir.join(GENESIS_FILE);
    let (genesis, keys) = if genesis_path.exists() {
        let genesis = Genesis::load(&genesis_path)?;
        let mut keys = Vec::new();
        for i in 0..genesis.validators.len() {
            keys.push(read_key(&dir.join(format!("node{i}")).join(KEY_FILE))?);
        }
        (genesis, keys)
    } else {
        let devnet = generate(spec);
        for (i, key) in devnet.validator_keys.iter().enumerate() {
            let node_dir = dir.join(format!("node{i}"));
            std::fs::create_dir_all(&node_dir).wrap_err_with(|| format!("cannot create {}", node_dir.display()))?;
            write_key(&node_dir.join(KEY_FILE), key)?;
        }
        std::fs::write(&genesis_path, devnet.genesis.to_json_pretty())
            .wrap_err_with(|| format!("cannot write {}", genesis_path.display()))?;
        (devnet.genesis, devnet.validator_keys)
    };
    let host = ports.host;
    let ip = match host {
        IpAddr::V4(_) => "ip4",
        IpAddr::V6(_) => "ip6",
    };
    let peer_ids: Vec<String> = keys
        .iter()
        .map(|k| {
            dsec_consensus::bft::peer_id_of(&k.public_key().0)
                .map(|p| p.to_string())
                .ok_or_else(|| eyre::eyre!("validator key {} is not a valid ed25519 key", k.address()))
        })
        .collect::<eyre::Result<_>>()?;
    let mut nodes = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let node_dir = dir.join(format!("node{i}"));
        let peers = |base: u16| -> eyre::Result<Vec<String>> {
            (0..keys.len())
                .filter(|j| *j != i)
                .map(|j| Ok(format!("\"/{ip}/{host}/tcp/{}/p2p/{}\"", port(base, j, "p2p")?, peer_ids[j])))
                .collect()
        };
        let rpc = SocketAddr::new(host, port(ports.rpc, i, "rpc")?);
        let toml = format!(
            "# dsec devnet validator {i} ({address}); written by `dsec devnet`.\n\
             data_dir = {data:?}\ngenesis = {genesis:?}\nvalidator_key = {key:?}\n\
             rpc_addr = \"{rpc}\"\nmetrics_addr = \"{host}:{metrics}\"\narchive = {archive}\n\n\
             [p2p]\nlisten = \"/{ip}/{host}/tcp/{p2p}\"\npeers = [{peers}]\n\
             gossip_listen = \"/{ip}/{host}/tcp/{gossip}\"\ngossip_peers = [{gossip_peers}]\n\n\
             [consensus]\n# timeout_propose_ms = 1200\n# timeout_prevote_ms = 250\n# timeout_precommit_ms = 250\n\
             # empty_block_wait_ms = 500\n",
            address = key.address(),
            data = node_dir.display().to_string(),
            genesis = genesis_path.display().to_string(),
            key = node_dir.join(KEY_FILE).display().to_string(),
            metrics = port(ports.metrics, i, "metrics")?,
            p2p = port(ports.p2p, i, "p2p")?,
            peers = peers(ports.p2p)?.join(", "),
            gossip = port(ports.gossip, i, "gossip")?,
            gossip_peers = peers(ports.gossip)?.join(", "),
        );
        let config = node_dir.join("node.toml");
        std::fs::write(&config, toml).wrap_err_with(|| format!("cannot write {}", config.display()))?;
        nodes.push(NetworkNode { config, log: node_dir.join("node.log"), rpc, address: key.address() });
    }
    Ok(Network { genesis, nodes })
}

/// Wait until `addr` accepts connections; on timeout, the error quotes the end of the node's log.
pub async fn wait_for_rpc(addr: SocketAddr, log: &Path, timeout: Duration) -> eyre::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(15).collect();
    bail!(
        "the validator with JSON-RPC on {addr} did not start within {timeout:?}; end of {}:\n{}",
        log.display(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    )
}

/// The banner of a multi-validator devnet.
pub fn network_banner(network: &Network, dir: &Path) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "\n                 dsec devnet ({} validators)\n\nValidators\n==================\n",
        network.nodes.len()
    ));
    for (i, node) in network.nodes.iter().enumerate() {
        out.push_str(&format!(
            "({i}) {}  JSON-RPC http://{}  config {}\n",
            node.address,
            node.rpc,
            node.config.display()
        ));
    }
    out.push_str("\nAvailable Accounts\n==================\n");
    let eth = DEV_ACCOUNT_BALANCE_WEI / 1_000_000_000_000_000_000;
    for a in dsec_sdk::dev::dev_accounts() {
        out.push_str(&format!("({}) {} ({} ETH)  private key {}\n", a.index, a.address, eth, a.private_key));
    }
    out.push_str(&format!(
        "\nMnemonic:          {}\nChain ID:          {}\nGenesis hash:      {}\nData directory:    {}\n\nListening on http://{}\n",
        dsec_sdk::dev::DEV_MNEMONIC,
        network.genesis.chain_id,
        network.genesis.hash(),
        dir.display(),
        network.nodes.first().map(|n| n.rpc.to_string()).unwrap_or_default(),
    ));
    out.push_str("These keys are public knowledge: never use them outside a devnet.\n");
    out
}
