//! `dsec devnet`: a dev chain in one command, with the well-known development
//! accounts prefunded and JSON-RPC on 127.0.0.1:8545. One validator runs in
//! this process; several run as `dsec node` processes of their own, each with
//! a `node.toml` written here from the node's own [`FileConfig`] type, so the
//! same files run the network by hand.

use crate::common::{init_logging, run_until_signal, shutdown_signal};
use clap::Args;
use dsec_genesis::Genesis;
use dsec_genesis::devnet::{DEV_ACCOUNT_BALANCE_WEI, DEVNET_CHAIN_ID, DevnetSpec, generate};
use dsec_node::config::{P2pSection, RpcSection, SealerSection};
use dsec_node::rpc::{Namespace, RpcConfig};
use dsec_node::{FileConfig, NodeSettings, Overrides, resolve};
use dsec_sdk::keyfile::{read_key, write_key};
use eyre::{WrapErr, bail, eyre};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Name of the genesis file inside a devnet data directory.
const GENESIS_FILE: &str = "genesis.json";
/// Name of the validator key file inside a devnet data directory.
const KEY_FILE: &str = "validator.key";

/// Flags of `dsec devnet`.
#[derive(Args, Debug)]
pub(crate) struct DevnetArgs {
    /// Data directory (default: a fresh temporary directory, removed on exit).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// JSON-RPC listen address.
    #[arg(long, default_value = "127.0.0.1:8545")]
    rpc_addr: SocketAddr,
    /// Prometheus metrics listen address.
    #[arg(long, default_value = "127.0.0.1:9545")]
    metrics_addr: SocketAddr,
    /// Number of validators (each a process of its own; 1: a single sealing process).
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// First consensus p2p port (validator i listens on this + i).
    #[arg(long, default_value_t = 26656)]
    p2p_port: u16,
    /// First transaction-gossip port (validator i listens on this + i).
    #[arg(long, default_value_t = 27656)]
    gossip_port: u16,
    /// Write the network's genesis, keys and node configs into the data directory and exit.
    #[arg(long)]
    write_only: bool,
    /// With --write-only: write them for the compose devnet
    /// (devnet/docker-compose.yml), one validator per container: paths inside
    /// the containers, every listener on 0.0.0.0 at the first ports, and the
    /// peers named by their services (validator0, validator1, …).
    #[arg(long, requires = "write_only")]
    docker: bool,
    /// Chain id.
    #[arg(long, default_value_t = DEVNET_CHAIN_ID)]
    chain_id: u64,
    /// Seal an empty block at least every this many milliseconds (0: only when transactions arrive).
    #[arg(long, default_value_t = 1000)]
    block_time_ms: u64,
    /// Single validator: under sustained load, seal at most one block per this
    /// many milliseconds (default 20; 0: a block for every arrival, as Anvil's automine).
    #[arg(long)]
    load_gap_ms: Option<u64>,
    /// Run with zero gas price instead of an EIP-1559 base fee.
    #[arg(long)]
    zero_fee: bool,
    /// Keep the state of every block.
    #[arg(long)]
    archive: bool,
    /// Log filter.
    #[arg(long, default_value = "info")]
    log_level: String,
    /// Leave a validator that dies down instead of restarting it after two seconds.
    #[arg(long)]
    no_restart: bool,
    /// eth_sendRawTransaction answers only once the transaction is in a
    /// committed block, as on an automining chain (for Hardhat/Foundry test
    /// suites that read the receipt right after sending).
    #[arg(long)]
    sync_send: bool,
    /// Hybrid post-quantum consensus: validators sign votes, proposals and
    /// commit certificates with ed25519 and ML-DSA-65 together
    /// (`consensusSignatures: "ed25519+ml-dsa-65"`).
    #[arg(long)]
    pq: bool,
}

impl DevnetArgs {
    /// Start the devnet and run it until Ctrl-C.
    pub(crate) async fn run(self) -> eyre::Result<()> {
        init_logging(&self.log_level)?;
        if self.validators == 0 {
            bail!("--validators must be at least 1");
        }
        if self.load_gap_ms.is_some() && (self.validators > 1 || self.write_only) {
            bail!("--load-gap-ms paces a single validator's sealer; with --validators > 1 consensus paces the blocks");
        }
        if self.validators > 1 || self.write_only {
            return self.run_network().await;
        }
        self.run_single().await
    }

    /// The genesis a new devnet gets from these flags (timestamped now).
    fn spec(&self) -> DevnetSpec {
        DevnetSpec {
            chain_id: self.chain_id,
            validators: self.validators,
            eip1559: !self.zero_fee,
            hybrid: self.pq,
            timestamp_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            ..DevnetSpec::default()
        }
    }

    /// One validator sealing alone in this process.
    async fn run_single(self) -> eyre::Result<()> {
        let (dir, _temp) = match &self.data_dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("dsec-devnet-")
                    .tempdir()
                    .wrap_err("cannot create a temporary directory")?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        if !prepare(&dir, &self.spec())? {
            tracing::info!(dir = %dir.display(), "restarting the existing devnet in this directory");
        }
        let config = FileConfig {
            data_dir: Some(dir.clone()),
            genesis: Some(dir.join(GENESIS_FILE)),
            validator_key: Some(dir.join(KEY_FILE)),
            rpc_addr: Some(self.rpc_addr),
            metrics_addr: Some(self.metrics_addr),
            archive: Some(self.archive),
            sealer: SealerSection {
                block_time_ms: Some(self.block_time_ms),
                load_gap_ms: self.load_gap_ms,
                ..SealerSection::default()
            },
            rpc: devnet_rpc(self.sync_send),
            ..FileConfig::default()
        };
        let resolved = resolve(config, Overrides::default())?;
        run_until_signal(resolved.settings, Some(banner), None).await
    }

    /// `--validators N` (N > 1): write the network's files, start one `dsec
    /// node` process per validator, print the banner, stop them on Ctrl-C.
    async fn run_network(self) -> eyre::Result<()> {
        let dir = match &self.data_dir {
            Some(dir) => dir.clone(),
            None => std::env::temp_dir().join(format!("dsec-devnet-{}", std::process::id())),
        };
        let ports = NetworkPorts {
            host: self.rpc_addr.ip(),
            rpc: self.rpc_addr.port(),
            metrics: self.metrics_addr.port(),
            p2p: self.p2p_port,
            gossip: self.gossip_port,
        };
        let layout = if self.docker { Layout::Containers(ports) } else { Layout::Host(ports) };
        let network = write_network(&dir, &self.spec(), &layout, self.archive, self.sync_send)?;
        if self.write_only {
            for node in &network.nodes {
                println!("{}", node.config.display());
            }
            return Ok(());
        }
        let mut supervisor = Supervisor::start(network, &dir, &self.log_level)?;
        for node in &supervisor.network.nodes {
            wait_for_rpc(node.rpc, &node.log, Duration::from_secs(60)).await?;
        }
        println!("{}", network_banner(&supervisor.network, &dir, &supervisor.pids()));
        let result = supervisor.run(!self.no_restart).await;
        supervisor.stop().await;
        if self.data_dir.is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        result
    }
}

/// How long a dead validator stays down before it is restarted.
const RESTART_DELAY: Duration = Duration::from_secs(2);
/// A validator that dies this soon after starting, [`MAX_QUICK_DEATHS`] times
/// in a row, is left down: it cannot start (a bad file, a taken port).
const QUICK_DEATH: Duration = Duration::from_secs(10);
/// See [`QUICK_DEATH`].
const MAX_QUICK_DEATHS: u32 = 5;

/// One validator process of a devnet.
struct Process {
    child: Option<tokio::process::Child>,
    /// Its process id (kept: a reaped child no longer reports it).
    pid: u32,
    started: tokio::time::Instant,
    restart_at: Option<tokio::time::Instant>,
    quick_deaths: u32,
}

/// Starts the validators of a devnet as `dsec node` processes, reports a
/// death on the console, restarts the dead after [`RESTART_DELAY`] (the chain
/// goes on with the others meanwhile, and the restarted one catches up from
/// its own disk), and stops them all on Ctrl-C.
struct Supervisor {
    network: Network,
    dir: PathBuf,
    exe: PathBuf,
    log_level: String,
    processes: Vec<Process>,
}

impl Supervisor {
    /// Start every validator.
    fn start(network: Network, dir: &Path, log_level: &str) -> eyre::Result<Self> {
        let exe = std::env::current_exe().wrap_err("cannot find the dsec executable")?;
        let mut supervisor =
            Self { network, dir: dir.to_path_buf(), exe, log_level: log_level.to_string(), processes: Vec::new() };
        for i in 0..supervisor.network.nodes.len() {
            let child = supervisor.spawn(i, false)?;
            supervisor.processes.push(Process {
                pid: child.id().unwrap_or_default(),
                child: Some(child),
                started: tokio::time::Instant::now(),
                restart_at: None,
                quick_deaths: 0,
            });
        }
        Ok(supervisor)
    }

    /// Start validator `i`; its log is appended to on a restart, so the end of
    /// the dead process's log stays readable.
    fn spawn(&self, i: usize, restart: bool) -> eyre::Result<tokio::process::Child> {
        let node = &self.network.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(restart)
            .truncate(!restart)
            .open(&node.log)
            .wrap_err_with(|| format!("cannot open {}", node.log.display()))?;
        tokio::process::Command::new(&self.exe)
            .arg("node")
            .arg("--config")
            .arg(&node.config)
            .arg("--log-level")
            .arg(&self.log_level)
            // A supervisor killed by SIGKILL leaves no validator behind.
            .arg("--parent-pid")
            .arg(std::process::id().to_string())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .wrap_err_with(|| format!("cannot start validator {i}"))
    }

    /// Process ids of the running validators (`None`: down).
    fn pids(&self) -> Vec<Option<u32>> {
        self.processes.iter().map(|p| p.child.as_ref().and_then(|c| c.id())).collect()
    }

    /// Watch the validators until Ctrl-C (Ok) or until none is left (an error).
    async fn run(&mut self, restart: bool) -> eyre::Result<()> {
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            let next_restart = self.processes.iter().filter_map(|p| p.restart_at).min();
            if next_restart.is_none() && self.processes.iter().all(|p| p.child.is_none()) {
                bail!("every validator has stopped; see the node.log files under {}", self.dir.display());
            }
            let alive: Vec<(usize, &mut tokio::process::Child)> =
                self.processes.iter_mut().enumerate().filter_map(|(i, p)| p.child.as_mut().map(|c| (i, c))).collect();
            let death = async move {
                if alive.is_empty() {
                    return std::future::pending().await;
                }
                let waits = alive.into_iter().map(|(i, c)| Box::pin(async move { (i, c.wait().await) }));
                futures::future::select_all(waits).await.0
            };
            let restart_due = async move {
                match next_restart {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                (i, status) = death => self.on_death(i, status, restart),
                _ = restart_due => self.restart_due()?,
            }
        }
    }

    /// Report a death and schedule the restart (or leave the validator down).
    fn on_death(&mut self, i: usize, status: std::io::Result<std::process::ExitStatus>, restart: bool) {
        let log = self.network.nodes[i].log.display().to_string();
        let process = &mut self.processes[i];
        let pid = process.pid;
        process.child = None;
        let status = match status {
            Ok(s) => s.to_string(),
            Err(e) => format!("unknown status: {e}"),
        };
        if process.started.elapsed() < QUICK_DEATH {
            process.quick_deaths += 1;
        } else {
            process.quick_deaths = 0;
        }
        let others = self.processes.iter().filter(|p| p.child.is_some()).count();
        let process = &mut self.processes[i];
        if !restart {
            tracing::warn!(validator = i, pid, %status, log, running = others, "validator exited; left down (--no-restart)");
        } else if process.quick_deaths >= MAX_QUICK_DEATHS {
            tracing::error!(
                validator = i,
                pid,
                %status,
                log,
                running = others,
                "validator exited {MAX_QUICK_DEATHS} times within {QUICK_DEATH:?} of starting; left down: see its log"
            );
        } else {
            tracing::warn!(
                validator = i,
                pid,
                %status,
                log,
                running = others,
                "validator exited; restarting it in {RESTART_DELAY:?}"
            );
            process.restart_at = Some(tokio::time::Instant::now() + RESTART_DELAY);
        }
    }

    /// Restart every validator whose delay is over.
    fn restart_due(&mut self) -> eyre::Result<()> {
        let now = tokio::time::Instant::now();
        for i in 0..self.processes.len() {
            if self.processes[i].restart_at.is_some_and(|at| at <= now) {
                let child = self.spawn(i, true)?;
                let pid = child.id().unwrap_or_default();
                tracing::info!(validator = i, pid, "validator restarted");
                let process = &mut self.processes[i];
                process.pid = pid;
                process.restart_at = None;
                process.started = now;
                process.child = Some(child);
            }
        }
        Ok(())
    }

    /// Stop every validator: SIGTERM, then SIGKILL after 10 s.
    async fn stop(&mut self) {
        for process in &self.processes {
            if let Some(pid) = process.child.as_ref().and_then(|c| c.id()) {
                let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
            }
        }
        for process in &mut self.processes {
            if let Some(child) = process.child.as_mut()
                && tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err()
            {
                let _ = child.kill().await;
            }
        }
    }
}

/// Create a single-validator devnet in `dir` (genesis and validator key), or
/// keep the one already there; returns whether it was created now.
fn prepare(dir: &Path, spec: &DevnetSpec) -> eyre::Result<bool> {
    std::fs::create_dir_all(dir).wrap_err_with(|| format!("cannot create {}", dir.display()))?;
    let genesis_path = dir.join(GENESIS_FILE);
    if genesis_path.exists() {
        return Ok(false);
    }
    let devnet = generate(spec);
    let key = devnet.validator_keys.first().ok_or_else(|| eyre!("the devnet genesis has no validator"))?;
    write_key(&dir.join(KEY_FILE), key)?;
    std::fs::write(&genesis_path, devnet.genesis.to_json_pretty())
        .wrap_err_with(|| format!("cannot write {}", genesis_path.display()))?;
    Ok(true)
}

/// The banner printed at start-up, listing the dev accounts as Anvil and Hardhat do.
fn banner(settings: &NodeSettings, rpc_url: &str) -> String {
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
struct NetworkPorts {
    /// Address every listener binds.
    host: IpAddr,
    /// JSON-RPC.
    rpc: u16,
    /// Prometheus metrics.
    metrics: u16,
    /// Consensus p2p.
    p2p: u16,
    /// Transaction gossip.
    gossip: u16,
}

/// Where the validators of a devnet network run, which decides the
/// addresses and paths their configs name.
#[derive(Debug, Clone)]
enum Layout {
    /// Processes on this host, validator `i` at each first port plus `i`.
    Host(NetworkPorts),
    /// One container each (`devnet/docker-compose.yml`): every validator
    /// listens on 0.0.0.0 at the first ports, reaches the others by their
    /// service names `validator{j}`, reads the network's files from
    /// [`CONTAINER_FILES`] and keeps its chain in [`CONTAINER_DATA`].
    Containers(NetworkPorts),
}

/// Where the compose devnet mounts the network's files (its `devnet` volume).
const CONTAINER_FILES: &str = "/var/lib/dsec/devnet";
/// Where each validator container keeps its chain (a volume of its own).
const CONTAINER_DATA: &str = "/var/lib/dsec/data";

/// The compose service name of validator `i`.
fn service_name(i: usize) -> String {
    format!("validator{i}")
}

/// One validator of a devnet network.
#[derive(Debug, Clone)]
struct NetworkNode {
    /// Its `node.toml`.
    config: PathBuf,
    /// Where its process logs.
    log: PathBuf,
    /// Its JSON-RPC address.
    rpc: SocketAddr,
    /// Its validator address.
    address: alloy_primitives::Address,
}

/// The files of a devnet network.
#[derive(Debug, Clone)]
struct Network {
    /// The genesis.
    genesis: Genesis,
    /// The validators.
    nodes: Vec<NetworkNode>,
}

fn port(base: u16, i: usize, what: &str) -> eyre::Result<u16> {
    u16::try_from(base as usize + i).map_err(|_| eyre!("{what} port {base} + {i} is out of range"))
}

/// What a devnet's JSON-RPC serves beyond a production node's defaults: every
/// namespace (traces included), CORS for any origin, so browser dApps on
/// localhost can reach it, and no per-client limits (rate, filters), since
/// every tool on the developer's machine is the same client and load tests
/// should measure the node rather than the limit. Its listeners are on loopback.
/// With `sync_send`, `eth_sendRawTransaction` waits for the block.
fn devnet_rpc(sync_send: bool) -> RpcSection {
    let everyone = RpcConfig::default().max_filters;
    RpcSection {
        api: Some(Namespace::ALL.iter().map(|n| n.name().to_string()).collect()),
        cors_origins: Some(vec!["*".to_string()]),
        rate_limit_per_ip: Some(0),
        max_filters_per_client: Some(everyone),
        sync_send: sync_send.then_some(true),
        ..RpcSection::default()
    }
}

/// The consensus tunables a devnet config shows, commented out, with their defaults.
const CONSENSUS_HINTS: &str = "\n[consensus]\n# timeout_propose_ms = 1200\n# timeout_prevote_ms = 250\n# timeout_precommit_ms = 250\n# empty_block_wait_ms = 500\n# block_fill_wait_ms = 0\n";

/// Write (or reopen) a devnet of `spec.validators` validators in `dir`: one
/// genesis, and per validator `node{i}/validator.key` and `node{i}/node.toml`
/// with its ports and every other validator as a peer. The same files run the
/// network by hand: `dsec node --config dir/node0/node.toml`, and so on.
fn write_network(
    dir: &Path,
    spec: &DevnetSpec,
    layout: &Layout,
    archive: bool,
    sync_send: bool,
) -> eyre::Result<Network> {
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
    let (ports, containers) = match layout {
        Layout::Host(ports) => (ports, false),
        Layout::Containers(ports) => (ports, true),
    };
    let host = if containers { IpAddr::from([0, 0, 0, 0]) } else { ports.host };
    let ip = match host {
        IpAddr::V4(_) => "ip4",
        IpAddr::V6(_) => "ip6",
    };
    // Validator i's port of a range: each container has its own addresses.
    let port_of = |base: u16, i: usize, what: &str| if containers { Ok(base) } else { port(base, i, what) };
    // Where validator i finds validator j.
    let peer_host = |j: usize| if containers { format!("dns4/{}", service_name(j)) } else { format!("{ip}/{host}") };
    // The paths validator i's config names.
    let files = if containers { PathBuf::from(CONTAINER_FILES) } else { dir.to_path_buf() };
    let peer_ids: Vec<String> = keys
        .iter()
        .map(|k| {
            dsec_consensus::bft::peer_id_of(&k.public_key().0)
                .map(|p| p.to_string())
                .ok_or_else(|| eyre!("validator key {} is not a valid ed25519 key", k.address()))
        })
        .collect::<eyre::Result<_>>()?;
    let mut nodes = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let node_dir = dir.join(format!("node{i}"));
        let listen =
            |base: u16| -> eyre::Result<String> { Ok(format!("/{ip}/{host}/tcp/{}", port_of(base, i, "p2p")?)) };
        let peers = |base: u16| -> eyre::Result<Vec<String>> {
            (0..keys.len())
                .filter(|j| *j != i)
                .map(|j| Ok(format!("/{}/tcp/{}/p2p/{}", peer_host(j), port_of(base, j, "p2p")?, peer_ids[j])))
                .collect()
        };
        let rpc = SocketAddr::new(host, port_of(ports.rpc, i, "rpc")?);
        let node_files = files.join(format!("node{i}"));
        let config = FileConfig {
            data_dir: Some(if containers { PathBuf::from(CONTAINER_DATA) } else { node_dir.clone() }),
            genesis: Some(files.join(GENESIS_FILE)),
            validator_key: Some(node_files.join(KEY_FILE)),
            rpc_addr: Some(rpc),
            metrics_addr: Some(SocketAddr::new(host, port_of(ports.metrics, i, "metrics")?)),
            archive: Some(archive),
            rpc: devnet_rpc(sync_send),
            p2p: Some(P2pSection {
                listen: listen(ports.p2p)?,
                peers: peers(ports.p2p)?,
                gossip_listen: listen(ports.gossip)?,
                gossip_peers: peers(ports.gossip)?,
                ..P2pSection::default()
            }),
            ..FileConfig::default()
        };
        let written_by = if containers {
            format!("`dsec devnet --write-only --docker` for the container {}", service_name(i))
        } else {
            "`dsec devnet`".to_string()
        };
        let text = format!(
            "# dsec devnet validator {i} ({}); written by {written_by}.\n{}{CONSENSUS_HINTS}",
            key.address(),
            config.to_toml()?
        );
        let path = node_dir.join("node.toml");
        std::fs::write(&path, text).wrap_err_with(|| format!("cannot write {}", path.display()))?;
        nodes.push(NetworkNode { config: path, log: node_dir.join("node.log"), rpc, address: key.address() });
    }
    Ok(Network { genesis, nodes })
}

/// Wait until `addr` accepts connections; on timeout, the error quotes the end of the node's log.
async fn wait_for_rpc(addr: SocketAddr, log: &Path, timeout: Duration) -> eyre::Result<()> {
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
fn network_banner(network: &Network, dir: &Path, pids: &[Option<u32>]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "\n                 dsec devnet ({} validators)\n\nValidators\n==================\n",
        network.nodes.len()
    ));
    for (i, node) in network.nodes.iter().enumerate() {
        let pid = pids.get(i).copied().flatten().map(|p| p.to_string()).unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "({i}) {}  JSON-RPC http://{}  pid {pid}  config {}\n",
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
