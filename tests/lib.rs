//! Harness for dsec's end-to-end tests: starts the real `dsec` binary on
//! loopback with free ports, talks to it with real clients, stops it gently or
//! kills it with SIGKILL.

// The test build of this harness sees the integration tests' dev-dependencies too.
#![cfg_attr(test, allow(unused_crate_dependencies))]

use alloy::consensus::TxEip1559;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use dsec_sdk::client::RpcClient;
use dsec_sdk::tx::LocalKey;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// Path of the `dsec` binary built alongside the tests (override with `DSEC_BIN`).
pub fn dsec_bin() -> PathBuf {
    if let Ok(path) = std::env::var("DSEC_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/it-<hash> -> target/<profile>/dsec
    let dir = exe.parent().and_then(Path::parent).expect("target directory");
    dir.join(format!("dsec{}", std::env::consts::EXE_SUFFIX))
}

/// Run the `dsec` CLI to completion: whether it succeeded, and everything it printed.
pub fn run_dsec(args: &[&str]) -> (bool, String) {
    run_dsec_with_env(args, &[])
}

/// [`run_dsec`] with extra environment variables.
pub fn run_dsec_with_env(args: &[&str], env: &[(String, String)]) -> (bool, String) {
    let out = Command::new(dsec_bin()).args(args).envs(env.iter().cloned()).output().expect("run dsec");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// A `dsec` process.
pub struct NodeProcess {
    child: Child,
    /// JSON-RPC URL.
    pub rpc_url: String,
    /// Everything the process printed.
    pub output: Arc<Mutex<String>>,
}

impl NodeProcess {
    /// Start `dsec devnet` in `data_dir` with free loopback ports.
    pub fn devnet(data_dir: &Path, extra: &[&str]) -> Self {
        let mut args = vec![
            "devnet".to_string(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--rpc-addr".into(),
            "127.0.0.1:0".into(),
            "--metrics-addr".into(),
            "127.0.0.1:0".into(),
            "--validators".into(),
            "1".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn(&args, "Listening on ", None)
    }

    /// Start `dsec devnet --validators N` (N processes supervised by one) in
    /// `data_dir` on free loopback port ranges; `rpc_url` is validator 0's.
    pub fn devnet_network(data_dir: &Path, validators: u16, extra: &[&str]) -> Self {
        let base = free_port_range(4 * validators);
        let mut args = vec![
            "devnet".to_string(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--validators".into(),
            validators.to_string(),
            "--rpc-addr".into(),
            format!("127.0.0.1:{base}"),
            "--metrics-addr".into(),
            format!("127.0.0.1:{}", base + validators),
            "--p2p-port".into(),
            (base + 2 * validators).to_string(),
            "--gossip-port".into(),
            (base + 3 * validators).to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn(&args, "Listening on ", None)
    }

    /// Start `dsec node --config config` whose JSON-RPC is at `rpc_url`.
    pub fn node(config: &Path, rpc_url: &str, extra: &[&str]) -> Self {
        Self::node_with_env(config, rpc_url, extra, &[])
    }

    /// [`NodeProcess::node`] with extra environment variables.
    pub fn node_with_env(config: &Path, rpc_url: &str, extra: &[&str], env: &[(String, String)]) -> Self {
        let mut args = vec!["node".to_string(), "--config".into(), config.display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn_with_env(&args, "JSON-RPC listening", Some(rpc_url.to_string()), env)
    }

    fn spawn(args: &[String], ready: &'static str, known_url: Option<String>) -> Self {
        Self::spawn_with_env(args, ready, known_url, &[])
    }

    fn spawn_with_env(
        args: &[String],
        ready: &'static str,
        known_url: Option<String>,
        env: &[(String, String)],
    ) -> Self {
        let bin = dsec_bin();
        let mut child = Command::new(&bin)
            .args(args)
            .envs(env.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e} (build it with `cargo build`)", bin.display()));
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<String>();
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let output = output.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(at) = line.find(ready) {
                        let _ = tx.send(line[at + ready.len()..].trim().to_string());
                    }
                    let mut out = output.lock().unwrap();
                    out.push_str(&line);
                    out.push('\n');
                }
            });
        }
        // Wait for the ready line; stop waiting as soon as the process exits.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let rpc_url = loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(url) => break known_url.unwrap_or(url),
                Err(_) => {
                    let exited = matches!(child.try_wait(), Ok(Some(_)));
                    if exited || std::time::Instant::now() >= deadline {
                        let _ = child.kill();
                        let status = child.wait();
                        // Let the reader threads drain what the process printed last.
                        std::thread::sleep(Duration::from_millis(200));
                        let why =
                            if exited { format!("exited ({status:?})") } else { "did not start within 60 s".into() };
                        panic!("dsec {why}; output:\n{}", output.lock().unwrap());
                    }
                }
            }
        };
        Self { child, rpc_url, output }
    }

    /// A client for this node.
    pub fn client(&self) -> RpcClient {
        RpcClient::new(&self.rpc_url).expect("client")
    }

    /// Kill the process with SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stop gently (SIGTERM) and wait up to 30 s, then kill.
    pub fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..300 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.kill9();
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything printed so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A signer with its next nonce.
pub struct Wallet {
    /// The key.
    pub key: LocalKey,
    /// Next nonce to use.
    pub nonce: u64,
    /// Chain id.
    pub chain_id: u64,
}

impl Wallet {
    /// Dev account `index`, with its nonce read from the node.
    pub async fn dev(client: &RpcClient, index: usize) -> Self {
        let key = dsec_sdk::dev::dev_accounts()[index].key();
        let nonce = client.pending_nonce(key.address()).await.expect("nonce");
        let chain_id = client.chain_id().await.expect("chain id");
        Self { key, nonce, chain_id }
    }

    /// The address.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// Sign an EIP-1559 transaction with generous fees.
    pub fn sign(&mut self, to: TxKind, value: U256, input: Bytes, gas_limit: u64) -> Bytes {
        let raw = self.key.sign_tx_bytes(dynamic_fee_tx(self.chain_id, self.nonce, to, value, input, gas_limit));
        self.nonce += 1;
        raw
    }

    /// Sign, send and wait for the receipt.
    pub async fn send(
        &mut self,
        client: &RpcClient,
        to: TxKind,
        value: U256,
        input: Bytes,
        gas_limit: u64,
    ) -> dsec_sdk::block::RpcReceipt {
        let raw = self.sign(to, value, input, gas_limit);
        let hash: B256 = client.send_raw(&raw).await.expect("send");
        client.wait_for_receipt(hash, Duration::from_secs(30)).await.expect("receipt").expect("included within 30 s")
    }
}

/// An unsigned EIP-1559 transaction with generous fees (what test wallets sign,
/// with secp256k1 as it is or with ML-DSA-65 as type `0x4D`).
pub fn dynamic_fee_tx(chain_id: u64, nonce: u64, to: TxKind, value: U256, input: Bytes, gas_limit: u64) -> TxEip1559 {
    TxEip1559 {
        chain_id,
        nonce,
        gas_limit,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to,
        value,
        input,
        ..Default::default()
    }
}

/// Bytecode of a committed solc-js artifact in `tests/contracts/artifacts`.
pub fn artifact_bytecode(name: &str) -> Bytes {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts/artifacts").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text).expect("artifact json");
    v["bytecode"].as_str().expect("bytecode").parse().expect("hex")
}

/// A full node written by [`Network::full_node`].
pub struct FullNode {
    /// Its config file.
    pub config: PathBuf,
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Its JSON-RPC URL.
    pub url: String,
    /// Its consensus p2p port.
    pub p2p_port: u16,
}

impl FullNode {
    /// Start it.
    pub fn start(&self) -> NodeProcess {
        NodeProcess::node(&self.config, &self.url, &[])
    }
}

/// A network of `dsec node` validator processes on loopback, from the files
/// `dsec devnet --write-only` generates, each process started and stopped by the test.
pub struct Network {
    /// The devnet directory (genesis, keys, configs, data).
    pub dir: PathBuf,
    /// Each validator's config file.
    pub configs: Vec<PathBuf>,
    /// Each validator's JSON-RPC URL.
    pub urls: Vec<String>,
    /// Running processes (`None`: stopped or killed).
    pub nodes: Vec<Option<NodeProcess>>,
    /// Each validator's consensus p2p port.
    pub p2p_ports: Vec<u16>,
    /// Each validator's transaction-gossip port.
    pub gossip_ports: Vec<u16>,
    /// Each validator's metrics and health-check port.
    pub metrics_ports: Vec<u16>,
    /// Extra environment variables of the validator processes (e.g. `SOFTHSM2_CONF`).
    pub env: Vec<(String, String)>,
}

fn ports_free(base: u16, count: u16) -> bool {
    (0..count).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok())
}

/// The first port of the kernel's ephemeral range (ports it hands to `bind(0)`
/// and outgoing connections), read from Linux's `ip_local_port_range`.
fn ephemeral_range_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()))
        .unwrap_or(32_768)
}

/// Ranges already handed out in this test process: tests run in parallel and a
/// restarted node must find its ports again, so no two tests share a port.
static HANDED_OUT: Mutex<Vec<(u16, u16)>> = Mutex::new(Vec::new());

/// A base port such that `count` consecutive ports are free now, below the
/// kernel's ephemeral range (so no `bind(0)` or outgoing connection of a
/// parallel test can take one while a node is down for a restart) and
/// overlapping no range handed out earlier in this process.
pub fn free_port_range(count: u16) -> u16 {
    use rand::Rng;
    let low = 10_000u16;
    let high = ephemeral_range_start().max(low + 2 * count);
    let mut rng = rand::thread_rng();
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..500 {
        let base = rng.gen_range(low..(high - count));
        let overlaps = handed.iter().any(|&(b, n)| base < b + n && b < base + count);
        if !overlaps && ports_free(base, count) {
            handed.push((base, count));
            return base;
        }
    }
    panic!("no free range of {count} loopback ports")
}

impl Network {
    /// Write a network of `validators` validators into `dir` and start every validator.
    pub fn start(dir: &Path, validators: usize) -> Self {
        let mut network = Self::prepare(dir, validators);
        for i in 0..validators {
            network.restart(i, &[]);
        }
        network
    }

    /// Write a network of `validators` validators into `dir` without starting
    /// any (the test may edit the files first, then [`Network::restart`] each).
    pub fn prepare(dir: &Path, validators: usize) -> Self {
        Self::prepare_with(dir, validators, &[])
    }

    /// [`Network::prepare`] with extra `dsec devnet` flags (e.g. `--pq`).
    pub fn prepare_with(dir: &Path, validators: usize, devnet_flags: &[&str]) -> Self {
        let n = validators as u16;
        let base = free_port_range(4 * n);
        let fixed: [&str; 14] = [
            "devnet",
            "--write-only",
            "--validators",
            &validators.to_string(),
            "--data-dir",
            &dir.display().to_string(),
            "--rpc-addr",
            &format!("127.0.0.1:{base}"),
            "--metrics-addr",
            &format!("127.0.0.1:{}", base + n),
            "--p2p-port",
            &(base + 2 * n).to_string(),
            "--gossip-port",
            &(base + 3 * n).to_string(),
        ];
        let mut args: Vec<String> = fixed.iter().map(|a| a.to_string()).collect();
        args.extend(devnet_flags.iter().map(|f| f.to_string()));
        let (ok, out) = run_dsec(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(ok, "dsec devnet --write-only failed:\n{out}");
        let configs: Vec<PathBuf> = out.lines().map(PathBuf::from).collect();
        assert_eq!(configs.len(), validators, "{out}");
        let urls = (0..n).map(|i| format!("http://127.0.0.1:{}", base + i)).collect();
        Self {
            dir: dir.to_path_buf(),
            configs,
            urls,
            nodes: (0..validators).map(|_| None).collect(),
            p2p_ports: (0..n).map(|i| base + 2 * n + i).collect(),
            gossip_ports: (0..n).map(|i| base + 3 * n + i).collect(),
            metrics_ports: (0..n).map(|i| base + n + i).collect(),
            env: Vec::new(),
        }
    }

    fn spawn(&self, i: usize, extra: &[&str]) -> NodeProcess {
        NodeProcess::node_with_env(&self.configs[i], &self.urls[i], extra, &self.env)
    }

    /// (Re)start validator `i` with extra flags.
    pub fn restart(&mut self, i: usize, extra: &[&str]) {
        if let Some(mut old) = self.nodes[i].take() {
            old.stop();
        }
        self.nodes[i] = Some(self.spawn(i, extra));
    }

    /// SIGKILL validator `i`.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut node) = self.nodes[i].take() {
            node.kill9();
        }
    }

    /// Write a full node into `dir` (not started): a fresh network key, the
    /// genesis, and every validator as a consensus peer. No validator's
    /// configuration changes.
    pub fn full_node(&self, dir: &Path) -> FullNode {
        std::fs::create_dir_all(dir).expect("full node directory");
        let key = dir.join("node.key");
        let (ok, out) = run_dsec(&["keys", "generate", "--out", &key.display().to_string()]);
        assert!(ok, "{out}");
        let peer_id = out.lines().find_map(|l| l.strip_prefix("peer id")).expect("peer id printed").trim().to_string();
        let config_line = |i: usize, name: &str| -> String {
            let text = std::fs::read_to_string(&self.configs[i]).expect("validator config");
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_once('='))
                .map(|(_, v)| v.trim().to_string())
                .expect("a [p2p] setting")
        };
        // Validator 1's peer list starts with validator 0's address; validator 0's holds the others.
        let mut peers: Vec<String> =
            vec![config_line(1, "peers").split(", ").next().unwrap_or_default().trim_start_matches('[').to_string()];
        peers.extend(config_line(0, "peers").trim_matches(|c| c == '[' || c == ']').split(", ").map(str::to_string));
        let rpc_port = free_port_range(3);
        let p2p_port = rpc_port + 1;
        let config = format!(
            "data_dir = {:?}\ngenesis = {:?}\nrpc_addr = \"127.0.0.1:{rpc_port}\"\n[p2p]\nlisten = \"/ip4/127.0.0.1/tcp/{p2p_port}\"\npeers = [{}]\ngossip_listen = \"/ip4/127.0.0.1/tcp/{}\"\nnode_key = {:?}\n",
            dir.display().to_string(),
            self.dir.join("genesis.json").display().to_string(),
            peers.join(", "),
            rpc_port + 2,
            key.display().to_string(),
        );
        let config_path = dir.join("node.toml");
        std::fs::write(&config_path, config).expect("full node config");
        FullNode { config: config_path, peer_id, url: format!("http://127.0.0.1:{rpc_port}"), p2p_port }
    }

    /// A client of validator `i`.
    pub fn client(&self, i: usize) -> RpcClient {
        RpcClient::new(&self.urls[i]).expect("client")
    }

    /// Output of validator `i` so far (empty when not running).
    pub fn output(&self, i: usize) -> String {
        self.nodes[i].as_ref().map(|n| n.output()).unwrap_or_default()
    }
}

/// A TCP relay on loopback that the test can cut: while cut, its open
/// connections are shut down and new ones closed at once, as a dead link
/// would. Point a node's peer address at [`Relay::port`] instead of the
/// peer's own port to route that link through it.
pub struct Relay {
    /// The port the relay listens on (chosen by the system).
    pub port: u16,
    cut: Arc<std::sync::atomic::AtomicBool>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    open: Arc<Mutex<Vec<std::net::TcpStream>>>,
}

impl Relay {
    /// Relay connections to `127.0.0.1:target`.
    pub fn start(target: u16) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind relay");
        let port = listener.local_addr().expect("relay address").port();
        let cut = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
        let (cut2, stop2, open2) = (cut.clone(), stop.clone(), open.clone());
        std::thread::spawn(move || {
            for inbound in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(inbound) = inbound else { continue };
                if cut2.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let Ok(outbound) = std::net::TcpStream::connect(("127.0.0.1", target)) else { continue };
                let pipe = |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                        let _ = from.shutdown(std::net::Shutdown::Both);
                    });
                };
                let (Ok(in2), Ok(out2)) = (inbound.try_clone(), outbound.try_clone()) else { continue };
                if let (Ok(in3), Ok(out3)) = (inbound.try_clone(), outbound.try_clone()) {
                    open2.lock().unwrap().extend([in3, out3]);
                }
                pipe(inbound, out2);
                pipe(outbound, in2);
            }
        });
        Self { port, cut, stop, open }
    }

    /// Cut the link: shut down every open connection and refuse new ones.
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for conn in self.open.lock().unwrap().drain(..) {
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Restore the link: new connections pass again.
    pub fn heal(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port)); // wake the accept loop
    }
}

fn key_file(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("read key file");
    serde_json::from_str(&text).expect("key file is JSON")
}

/// The consensus key in a key file written by `dsec keys generate` or `dsec devnet`.
pub fn read_validator_secret(path: &Path) -> dsec_sdk::validators::ValidatorKey {
    let json = key_file(path);
    let seed: B256 = json["secretKey"].as_str().expect("secretKey field").parse().expect("32 bytes hex");
    dsec_sdk::validators::ValidatorKey::from_seed(&seed.0)
}

/// The validator address recorded in a key file written by `dsec keys generate` or `dsec devnet`.
pub fn read_validator_key(path: &Path) -> Address {
    key_file(path)["address"].as_str().expect("address field").parse().expect("an address")
}

// ---------------------------------------------------------------------------
// Helpers of the abuse suite (tests/it/abuse.rs): a process's memory, edits of
// a node config, raw HTTP and a minimal WebSocket client, so that a test can
// send what no well-behaved client library would.

/// A field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`, …), KiB.
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{path} has no {field} line"))
}

/// Resident memory of process `pid` now, KiB (`VmRSS` of `/proc/<pid>/status`; Linux).
pub fn rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS")
}

/// Peak resident memory of process `pid` since it started, KiB (`VmHWM`; Linux).
pub fn peak_rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmHWM")
}

/// Set `key = value` lines (values written as TOML, e.g. `"20"` or
/// `r#"["eth", "debug"]"#`) in table `[table]` of a node config file: keys the
/// table already holds are replaced, the others added right under its header;
/// the table is appended when the file has none.
pub fn set_config_keys(config: &Path, table: &str, settings: &[(&str, &str)]) {
    let text = std::fs::read_to_string(config).unwrap_or_else(|e| panic!("{}: {e}", config.display()));
    let header = format!("[{table}]");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let sets_key = |line: &str| {
        settings
            .iter()
            .any(|(key, _)| line.trim_start().strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('=')))
    };
    let new: Vec<String> = settings.iter().map(|(key, value)| format!("{key} = {value}")).collect();
    match lines.iter().position(|l| l.trim() == header) {
        Some(start) => {
            let mut end = lines[start + 1..]
                .iter()
                .position(|l| l.trim_start().starts_with('['))
                .map(|p| start + 1 + p)
                .unwrap_or(lines.len());
            let mut i = start + 1;
            while i < end {
                if sets_key(&lines[i]) {
                    lines.remove(i);
                    end -= 1;
                } else {
                    i += 1;
                }
            }
            for (j, line) in new.into_iter().enumerate() {
                lines.insert(start + 1 + j, line);
            }
        }
        None => {
            lines.push(String::new());
            lines.push(header);
            lines.extend(new);
        }
    }
    std::fs::write(config, lines.join("\n") + "\n").unwrap_or_else(|e| panic!("{}: {e}", config.display()));
}

/// An HTTP response as read off the wire.
#[derive(Debug, Clone, Default)]
pub struct HttpReply {
    /// Status code (0: no parsable response arrived).
    pub status: u16,
    /// Headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// Body (decoded from chunked transfer encoding if need be).
    pub body: String,
}

impl HttpReply {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// `host:port` and path of an `http://` or `ws://` URL.
fn host_and_path(url: &str) -> (String, String) {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    match rest.find('/') {
        Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
        None => (rest.to_string(), "/".to_string()),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Decode a chunked body (as much of it as arrived).
fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = find(data, b"\r\n") {
        let size_line = String::from_utf8_lossy(&data[..eol]);
        let Ok(size) = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16) else { break };
        if size == 0 {
            break;
        }
        let start = eol + 2;
        let stop = (start + size).min(data.len());
        out.extend_from_slice(&data[start..stop]);
        data = &data[(stop + 2).min(data.len())..];
    }
    out
}

/// Whether `raw` holds a whole HTTP response (head and the body its framing announces).
fn response_complete(raw: &[u8]) -> bool {
    let Some(end) = find(raw, b"\r\n\r\n") else { return false };
    let reply = parse_http_reply(&raw[..end + 4]);
    if reply.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        return raw[end + 4..].ends_with(b"0\r\n\r\n");
    }
    match reply.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        Some(len) => raw.len() >= end + 4 + len,
        None => false,
    }
}

/// Parse a raw HTTP/1.1 response; status 0 and the raw text as body when it has no complete head.
pub fn parse_http_reply(raw: &[u8]) -> HttpReply {
    let Some(end) = find(raw, b"\r\n\r\n") else {
        return HttpReply { status: 0, headers: Vec::new(), body: String::from_utf8_lossy(raw).into_owned() };
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut reply = HttpReply { status, headers, body: String::new() };
    let mut body = raw[end + 4..].to_vec();
    if reply.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        body = dechunk(&body);
    } else if let Some(len) = reply.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.truncate(len);
    }
    reply.body = String::from_utf8_lossy(&body).into_owned();
    reply
}

/// POST `body` over a fresh TCP connection (`Connection: close`), framed by
/// `Content-Length` or, with `chunked`, by chunked transfer encoding. The body
/// is written from another thread while this one reads, so an answer the
/// server sends before reading the whole body (413, 429) is still received;
/// a connection reset after the answer keeps what arrived.
fn http_send(url: &str, body: &[u8], content_type: &str, extra_headers: &str, chunked: bool) -> HttpReply {
    use std::io::{Read, Write};
    let (host, path) = host_and_path(url);
    let mut stream = std::net::TcpStream::connect(&host).unwrap_or_else(|e| panic!("connect to {host}: {e}"));
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let framing =
        if chunked { "Transfer-Encoding: chunked".to_string() } else { format!("Content-Length: {}", body.len()) };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n{extra_headers}{framing}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap_or_else(|e| panic!("send a request head to {host}: {e}"));
    let mut writer = stream.try_clone().expect("clone the socket");
    let body = body.to_vec();
    let sender = std::thread::spawn(move || {
        let mut send = || -> std::io::Result<()> {
            for piece in body.chunks(64 * 1024) {
                if chunked {
                    writer.write_all(format!("{:x}\r\n", piece.len()).as_bytes())?;
                    writer.write_all(piece)?;
                    writer.write_all(b"\r\n")?;
                } else {
                    writer.write_all(piece)?;
                }
            }
            if chunked {
                writer.write_all(b"0\r\n\r\n")?;
            }
            writer.flush()
        };
        // The server may answer early and close: the rest of the body is not wanted.
        let _ = send();
    });
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while !response_complete(&raw) {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break, // reset or timeout: keep what arrived
        }
    }
    // Unblocks the sender if the server stopped reading without closing.
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = sender.join();
    parse_http_reply(&raw)
}

/// GET `url` over raw TCP (`Connection: close`): the whole reply. A refused
/// connection is a reply with status 0.
pub fn http_get(url: &str) -> HttpReply {
    use std::io::{Read, Write};
    let (host, path) = host_and_path(url);
    let Ok(mut stream) = std::net::TcpStream::connect(&host) else {
        return HttpReply { status: 0, headers: Vec::new(), body: String::new() };
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if stream.write_all(head.as_bytes()).is_err() {
        return HttpReply { status: 0, headers: Vec::new(), body: String::new() };
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_http_reply(&raw)
}

/// POST `body` to `url` with this `Content-Type` over raw TCP: the status code and body.
pub fn http_post(url: &str, body: &[u8], content_type: &str) -> (u16, String) {
    let reply = http_post_full(url, body, content_type);
    (reply.status, reply.body)
}

/// POST `body` (with `Content-Length`) to `url` over raw TCP: the whole reply, headers included.
pub fn http_post_full(url: &str, body: &[u8], content_type: &str) -> HttpReply {
    http_send(url, body, content_type, "", false)
}

/// POST `body` to `url` with chunked transfer encoding (no declared length) over raw TCP.
pub fn http_post_chunked(url: &str, body: &[u8], content_type: &str) -> HttpReply {
    http_send(url, body, content_type, "", true)
}

/// POST a JSON-RPC request to `url` with `Authorization: Bearer <token>`.
pub fn rpc_with_token(url: &str, request: &serde_json::Value, token: &str) -> HttpReply {
    let header = format!("Authorization: Bearer {token}\r\n");
    http_send(url, request.to_string().as_bytes(), "application/json", &header, false)
}

/// A JSON-RPC 2.0 request object.
pub fn rpc_request(id: u64, method: &str, params: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

/// POST a JSON-RPC request (or batch) to `url` over raw TCP, without any client library.
pub fn rpc_raw(url: &str, request: &serde_json::Value) -> HttpReply {
    http_post_full(url, request.to_string().as_bytes(), "application/json")
}

/// A minimal WebSocket client (RFC 6455) over a plain TCP stream: text frames
/// out (masked, as a client's must be), text frames in, pings answered. Enough
/// to drive a JSON-RPC server's WebSocket without a client library.
pub struct WsClient {
    stream: std::net::TcpStream,
    /// Bytes received and not yet taken as frames.
    buf: Vec<u8>,
}

impl WsClient {
    /// Open a WebSocket to the JSON-RPC server at `url` (`http://` or `ws://`);
    /// `Err` with the server's HTTP answer when it refuses the upgrade.
    pub fn connect(url: &str) -> Result<Self, HttpReply> {
        Self::connect_with_headers(url, "")
    }

    /// Open a WebSocket to `url`, sending `headers` (each ending in CRLF) with the upgrade request.
    pub fn connect_with_headers(url: &str, headers: &str) -> Result<Self, HttpReply> {
        use std::io::{Read, Write};
        let (host, path) = host_and_path(url);
        let mut stream = std::net::TcpStream::connect(&host).unwrap_or_else(|e| panic!("connect to {host}: {e}"));
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        // The key is RFC 6455's example nonce; the answer's accept hash is not checked.
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{headers}\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap_or_else(|e| panic!("send the upgrade request to {host}: {e}"));
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        let end = loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                break end + 4;
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return Err(parse_http_reply(&buf)),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        if parse_http_reply(&buf[..end]).status != 101 {
            // A refusal: read its body too.
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            while !response_complete(&buf) {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            return Err(parse_http_reply(&buf));
        }
        buf.drain(..end);
        Ok(Self { stream, buf })
    }

    fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.push(0x80 | opcode);
        let len = payload.len();
        if len < 126 {
            frame.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
        let mask: [u8; 4] = rand::random();
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame)
    }

    /// Send a text message.
    pub fn send_text(&mut self, text: &str) -> std::io::Result<()> {
        self.send_frame(0x1, text.as_bytes())
    }

    /// Send a JSON value as a text message.
    pub fn send_json(&mut self, value: &serde_json::Value) -> std::io::Result<()> {
        self.send_text(&value.to_string())
    }

    /// One whole frame from the buffer, if one has arrived: (fin, opcode, payload).
    fn take_frame(&mut self) -> Option<(bool, u8, Vec<u8>)> {
        let b = &self.buf;
        if b.len() < 2 {
            return None;
        }
        let fin = b[0] & 0x80 != 0;
        let opcode = b[0] & 0x0F;
        let masked = b[1] & 0x80 != 0;
        let (len, mut at) = match b[1] & 0x7F {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().ok()?) as usize, 10),
            126 | 127 => return None,
            n => (n as usize, 2),
        };
        let mask = if masked {
            if b.len() < at + 4 {
                return None;
            }
            let m = [b[at], b[at + 1], b[at + 2], b[at + 3]];
            at += 4;
            Some(m)
        } else {
            None
        };
        if b.len() < at + len {
            return None;
        }
        let mut payload = b[at..at + len].to_vec();
        if let Some(m) = mask {
            for (i, x) in payload.iter_mut().enumerate() {
                *x ^= m[i % 4];
            }
        }
        self.buf.drain(..at + len);
        Some((fin, opcode, payload))
    }

    /// The next text (or binary) message within `timeout`; `None` on timeout,
    /// close or a broken connection.
    pub fn recv_text(&mut self, timeout: Duration) -> Option<String> {
        use std::io::Read;
        let deadline = std::time::Instant::now() + timeout;
        let mut message: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            while let Some((fin, opcode, payload)) = self.take_frame() {
                match opcode {
                    0x0..=0x2 => {
                        message.extend_from_slice(&payload);
                        if fin {
                            return Some(String::from_utf8_lossy(&message).into_owned());
                        }
                    }
                    0x8 => return None,
                    0x9 => {
                        let _ = self.send_frame(0xA, &payload);
                    }
                    _ => {}
                }
            }
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            if left.is_zero() {
                return None;
            }
            let _ = self.stream.set_read_timeout(Some(left.max(Duration::from_millis(1))));
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    continue;
                }
                Err(_) => return None,
            }
        }
    }

    /// The next message as JSON within `timeout` (`Null` if it is not JSON); `None` as [`WsClient::recv_text`].
    pub fn recv_json(&mut self, timeout: Duration) -> Option<serde_json::Value> {
        self.recv_text(timeout).map(|t| serde_json::from_str(&t).unwrap_or(serde_json::Value::Null))
    }

    /// Close the connection (a close frame, then the socket).
    pub fn close(mut self) {
        let _ = self.send_frame(0x8, &1000u16.to_be_bytes());
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// A SoftHSM2 token in a test's own directory (its config and token files
/// live there, so parallel tests never share one), initialised with a user PIN
/// kept in a file, as an operator's HSM would be.
pub struct SoftHsm {
    /// The `softhsm2.conf` the processes read through `SOFTHSM2_CONF`.
    pub conf: PathBuf,
    /// The PKCS#11 module.
    pub module: PathBuf,
    /// The file holding the user PIN.
    pub pin_file: PathBuf,
    /// The token's label.
    pub label: String,
}

impl SoftHsm {
    /// Where Debian installs SoftHSM2's PKCS#11 module.
    pub fn module_path() -> PathBuf {
        ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .expect("SoftHSM2 is not installed (scripts/setup.sh installs the softhsm2 package)")
    }

    /// Create a token labelled `label` under `dir` with user PIN `pin`.
    pub fn init(dir: &Path, label: &str, pin: &str) -> Self {
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).expect("token directory");
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display()),
        )
        .expect("softhsm2.conf");
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", "so-secret-0"])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .expect("softhsm2-util is not installed (scripts/setup.sh installs the softhsm2 package)");
        assert!(out.status.success(), "softhsm2-util --init-token: {}", String::from_utf8_lossy(&out.stderr));
        let pin_file = dir.join("token.pin");
        std::fs::write(&pin_file, format!("{pin}\n")).expect("PIN file");
        Self { conf, module: Self::module_path(), pin_file, label: label.to_string() }
    }

    /// The environment a process needs to find this token.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("SOFTHSM2_CONF".into(), self.conf.display().to_string())]
    }

    /// The PKCS#11 URI of the key labelled `object` in this token.
    pub fn uri(&self, object: &str) -> String {
        format!(
            "pkcs11:token={};object={object}?module-path={}&pin-source=file:{}",
            self.label,
            self.module.display(),
            self.pin_file.display()
        )
    }
}
