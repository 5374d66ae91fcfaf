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
    let out = Command::new(dsec_bin()).args(args).output().expect("run dsec");
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
        let mut args = vec!["node".to_string(), "--config".into(), config.display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn(&args, "JSON-RPC listening", Some(rpc_url.to_string()))
    }

    fn spawn(args: &[String], ready: &'static str, known_url: Option<String>) -> Self {
        let bin = dsec_bin();
        let mut child = Command::new(&bin)
            .args(args)
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
                        let why = if exited { format!("exited ({status:?})") } else { "did not start within 60 s".into() };
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
        let raw = self.key.sign_tx_bytes(TxEip1559 {
            chain_id: self.chain_id,
            nonce: self.nonce,
            gas_limit,
            max_fee_per_gas: 100_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to,
            value,
            input,
            ..Default::default()
        });
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
    ) -> alloy::rpc::types::TransactionReceipt {
        let raw = self.sign(to, value, input, gas_limit);
        let hash: B256 = client.send_raw(&raw).await.expect("send");
        client.wait_for_receipt(hash, Duration::from_secs(30)).await.expect("receipt").expect("included within 30 s")
    }
}

/// Bytecode of a committed solc-js artifact in `tests/contracts/artifacts`.
pub fn artifact_bytecode(name: &str) -> Bytes {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts/artifacts").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text).expect("artifact json");
    v["bytecode"].as_str().expect("bytecode").parse().expect("hex")
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
        let n = validators as u16;
        let base = free_port_range(4 * n);
        let (ok, out) = run_dsec(&[
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
        ]);
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
        }
    }

    fn spawn(&self, i: usize, extra: &[&str]) -> NodeProcess {
        NodeProcess::node(&self.configs[i], &self.urls[i], extra)
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
