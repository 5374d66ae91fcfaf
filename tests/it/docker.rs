//! The compose devnet (`devnet/docker-compose.yml`) as a user runs it, talked
//! to only through the ports it publishes on 127.0.0.1: the image is built
//! from the `dsec` binary under test (`scripts/docker-image.sh`, on a Debian
//! base made with debootstrap where no registry is reachable), four validator
//! containers come up from the files the init container writes and agree on
//! the same blocks; a contract is deployed and used through one validator's
//! port and read through another's; a validator container killed with
//! `docker kill` stays down while the other three go on, and catches up when
//! started again; a validator process killed with SIGKILL inside its container
//! is restarted by the restart policy and catches up; the `monitoring`
//! profile's Prometheus (Debian's package) scrapes all four and loads the alert
//! rules; `down -v` removes every container and volume.
//!
//! Needs a Docker engine and compose (`docker compose` or `docker-compose`
//! 1.29): `scripts/docker-setup.sh` installs and starts them, as the README's
//! test command does.

use alloy::sol;
use alloy::sol_types::{SolCall, SolValue};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use dsec_sdk::client::RpcClient;
use dsec_tests::{Wallet, artifact_bytecode, dsec_bin, free_port_range, http_get};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

sol! {
    interface IToken {
        function transfer(address to, uint256 value) external returns (bool);
        function balanceOf(address owner) external view returns (uint256);
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Run a command; its success and everything it printed.
fn run(program: &str, args: &[&str], env: &[(String, String)]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().cloned())
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): scripts/docker-setup.sh installs Docker"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Run a command that must succeed; what it printed.
fn run_ok(program: &str, args: &[&str], env: &[(String, String)]) -> String {
    let (ok, text) = run(program, args, env);
    assert!(ok, "{program} {args:?} failed:\n{text}");
    text
}

/// One compose project of the devnet with its own image tag, ports and
/// volumes; `down -v` and the image removed when dropped.
struct Compose {
    /// `docker compose` when the plugin exists, else `docker-compose`.
    command: Vec<String>,
    project: String,
    image: String,
    env: Vec<(String, String)>,
    rpc_ports: Vec<u16>,
    metrics_ports: Vec<u16>,
    prometheus_port: u16,
}

impl Compose {
    fn new() -> Self {
        let (docker_ok, info) = run("docker", &["info", "--format", "{{.ServerVersion}}"], &[]);
        assert!(docker_ok, "no Docker engine answers: scripts/docker-setup.sh installs and starts one\n{info}");
        let command: Vec<String> = if run("docker", &["compose", "version"], &[]).0 {
            vec!["docker".into(), "compose".into()]
        } else {
            vec!["docker-compose".into()]
        };
        let id = std::process::id();
        let project = format!("dsec-test-{id}");
        let image = format!("dsec:test-{id}");
        let base = free_port_range(9);
        let rpc_ports: Vec<u16> = (0..4).map(|i| base + i).collect();
        let metrics_ports: Vec<u16> = (4..8).map(|i| base + i).collect();
        let prometheus_port = base + 8;
        let mut env: Vec<(String, String)> = vec![
            ("DSEC_IMAGE".into(), image.clone()),
            ("DSEC_PROMETHEUS_PORT".into(), prometheus_port.to_string()),
            // Outside the range: the test never starts Grafana (its image needs a registry).
            ("DSEC_GRAFANA_PORT".into(), free_port_range(1).to_string()),
        ];
        for i in 0..4 {
            env.push((format!("DSEC_RPC_PORT{i}"), rpc_ports[i].to_string()));
            env.push((format!("DSEC_METRICS_PORT{i}"), metrics_ports[i].to_string()));
        }
        Self { command, project, image, env, rpc_ports, metrics_ports, prometheus_port }
    }

    /// Run `compose -f devnet/docker-compose.yml -p PROJECT ARGS`.
    fn run(&self, args: &[&str]) -> (bool, String) {
        let mut all: Vec<&str> = self.command[1..].iter().map(String::as_str).collect();
        all.extend(["-f", "devnet/docker-compose.yml", "-p", &self.project]);
        all.extend(args);
        run(&self.command[0], &all, &self.env)
    }

    fn run_ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.run(args);
        assert!(ok, "compose {args:?} failed:\n{text}");
        text
    }

    fn client(&self, i: usize) -> RpcClient {
        RpcClient::new(&format!("http://127.0.0.1:{}", self.rpc_ports[i])).unwrap()
    }

    /// The id of validator `i`'s container.
    fn container(&self, i: usize) -> String {
        self.run_ok(&["ps", "-q", &format!("validator{i}")]).trim().to_string()
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = self.run(&["--profile", "monitoring", "down", "-v", "--remove-orphans"]);
        let _ = run("docker", &["image", "rm", &self.image], &[]);
    }
}

/// The height validator `i` reports (0 while it does not answer).
async fn height(client: &RpcClient) -> u64 {
    client.block_number().await.unwrap_or(0)
}

async fn wait_for_height(client: &RpcClient, at_least: u64, timeout: Duration, what: &str) -> u64 {
    let deadline = Instant::now() + timeout;
    loop {
        let h = height(client).await;
        if h >= at_least {
            return h;
        }
        assert!(Instant::now() < deadline, "{what}: height {h} after {timeout:?}, wanted {at_least}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn block_hash(client: &RpcClient, number: u64) -> String {
    let block: serde_json::Value = client
        .call("eth_getBlockByNumber", vec![serde_json::json!(format!("0x{number:x}")), serde_json::json!(false)])
        .await
        .expect("eth_getBlockByNumber");
    block["hash"].as_str().unwrap_or_else(|| panic!("block {number} missing: {block}")).to_string()
}

async fn token_balance(client: &RpcClient, token: Address, owner: Address) -> U256 {
    let request = alloy::rpc::types::TransactionRequest::default()
        .to(token)
        .input(Bytes::from(IToken::balanceOfCall { owner }.abi_encode()).into());
    U256::abi_decode(&client.call_latest(&request).await.expect("eth_call")).expect("uint256")
}

#[tokio::test(flavor = "multi_thread")]
async fn compose_devnet_survives_killed_containers() {
    let compose = Compose::new();
    let started = Instant::now();
    let built = run_ok(
        "scripts/docker-image.sh",
        &[&compose.image],
        &[("DSEC_BIN".to_string(), dsec_bin().display().to_string())],
    );
    eprintln!("image {} in {:.1} s", built.trim(), started.elapsed().as_secs_f64());

    // Up: the init container writes the network, then four validators.
    let up = Instant::now();
    compose.run_ok(&["up", "-d"]);
    let clients: Vec<RpcClient> = (0..4).map(|i| compose.client(i)).collect();
    for (i, client) in clients.iter().enumerate() {
        wait_for_height(client, 1, Duration::from_secs(120), &format!("validator{i} after compose up")).await;
    }
    eprintln!("first block on all four validators {:.1} s after compose up", up.elapsed().as_secs_f64());
    let init = compose.run_ok(&["ps", "init"]);
    assert!(init.contains("Exit 0") || init.contains("exited (0)"), "the init container finished cleanly:\n{init}");

    // The same blocks everywhere.
    let h = wait_for_height(&clients[0], 5, Duration::from_secs(60), "validator0").await;
    for client in &clients[1..] {
        wait_for_height(client, h, Duration::from_secs(30), "a validator behind validator0").await;
    }
    let expected = block_hash(&clients[0], h).await;
    for (i, client) in clients.iter().enumerate() {
        assert_eq!(block_hash(client, h).await, expected, "validator{i} has another block {h}");
    }

    // A contract deployed and used through validator 1's port, read through validator 3's.
    let mut alice = Wallet::dev(&clients[1], 0).await;
    let bob = Address::repeat_byte(0xb0);
    let initcode: Bytes = [
        artifact_bytecode("Token").to_vec(),
        ("Test".to_string(), "TST".to_string(), U256::from(1_000_000u64)).abi_encode_params(),
    ]
    .concat()
    .into();
    let deployed = alice.send(&clients[1], TxKind::Create, U256::ZERO, initcode, 3_000_000).await;
    assert!(deployed.inner.status(), "deploy through the published port");
    let token = deployed.contract_address.expect("contract address");
    let transfer = IToken::transferCall { to: bob, value: U256::from(4_000) }.abi_encode();
    let receipt = alice.send(&clients[1], TxKind::Call(token), U256::ZERO, transfer.into(), 100_000).await;
    assert!(receipt.inner.status());
    let block = receipt.block_number.expect("mined");
    wait_for_height(&clients[3], block, Duration::from_secs(30), "validator3 after the transfer").await;
    assert_eq!(token_balance(&clients[3], token, bob).await, U256::from(4_000));
    let value = U256::from(10u64).pow(U256::from(18u64));
    let paid = alice.send(&clients[2], TxKind::Call(bob), value, Bytes::new(), 21_000).await;
    assert!(paid.inner.status(), "a value transfer through validator 2's port");

    // `docker kill`: the container stays down (a manual stop), the others go on.
    let killed = compose.container(2);
    run_ok("docker", &["kill", &killed], &[]);
    let before = height(&clients[0]).await;
    let after =
        wait_for_height(&clients[0], before + 5, Duration::from_secs(60), "three validators with one killed").await;
    assert_eq!(height(&clients[2]).await, 0, "the killed validator's port no longer answers");
    assert_eq!(clients[2].balance(bob).await.ok(), None);
    let paid = alice.send(&clients[0], TxKind::Call(bob), value, Bytes::new(), 21_000).await;
    assert!(paid.inner.status(), "transactions are final with one validator down");

    // Started again, it catches up from its volume and its peers.
    compose.run_ok(&["start", "validator2"]);
    let target = height(&clients[0]).await.max(after);
    wait_for_height(&clients[2], target, Duration::from_secs(90), "the restarted validator2").await;
    assert_eq!(block_hash(&clients[2], target).await, block_hash(&clients[0], target).await);
    assert_eq!(clients[2].balance(bob).await.unwrap(), U256::from(2u64) * value);

    // A validator process dying by SIGKILL inside its container: the restart policy brings it back.
    let container = compose.container(3);
    let pid = run_ok("docker", &["inspect", "--format", "{{.State.Pid}}", &container], &[]).trim().to_string();
    run_ok("kill", &["-9", &pid], &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let restarts = run_ok("docker", &["inspect", "--format", "{{.RestartCount}}", &container], &[]);
        if restarts.trim() != "0" {
            break;
        }
        assert!(Instant::now() < deadline, "the restart policy did not restart validator3 within 60 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let target = height(&clients[0]).await;
    wait_for_height(&clients[3], target + 2, Duration::from_secs(90), "validator3 after its restart").await;
    assert_eq!(block_hash(&clients[3], target).await, block_hash(&clients[0], target).await);

    // Health as an orchestrator sees it, and both swarms fully connected by
    // service name (the peers are `/dns4/validatorN/...` addresses).
    for (i, port) in compose.metrics_ports.iter().enumerate() {
        assert_eq!(http_get(&format!("http://127.0.0.1:{port}/health")).status, 200, "validator{i} /health");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let metrics = http_get(&format!("http://127.0.0.1:{port}/metrics")).body;
            let connected = ["consensus", "transactions"]
                .iter()
                .all(|swarm| metrics.lines().any(|l| l == format!("dsec_peers{{swarm=\"{swarm}\"}} 3")));
            if connected {
                break;
            }
            assert!(Instant::now() < deadline, "validator{i} is not connected to its three peers in both swarms");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    // The monitoring profile: Prometheus from Debian's package, scraping all four by service name.
    compose.run_ok(&["--profile", "monitoring", "build", "prometheus"]);
    compose.run_ok(&["--profile", "monitoring", "up", "-d", "prometheus"]);
    let prometheus = format!("http://127.0.0.1:{}", compose.prometheus_port);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let reply = http_get(&format!("{prometheus}/api/v1/query?query=sum(up)"));
        let up = (reply.status == 200)
            .then(|| reply.json()["data"]["result"][0]["value"][1].as_str().map(str::to_string))
            .flatten();
        if up.as_deref() == Some("4") {
            break;
        }
        assert!(Instant::now() < deadline, "Prometheus did not scrape all four validators: {up:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let rules = http_get(&format!("{prometheus}/api/v1/rules")).json();
    let names: Vec<&str> = rules["data"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(names.contains(&"DsecNoNewBlock") && names.len() >= 8, "alert rules loaded: {names:?}");

    // Down with volumes: nothing of the project is left.
    compose.run_ok(&["--profile", "monitoring", "down", "-v", "--remove-orphans"]);
    let left = run_ok("docker", &["volume", "ls", "-q", "--filter", &format!("name={}_", compose.project)], &[]);
    assert!(left.trim().is_empty(), "volumes left after down -v: {left}");
    let containers = run_ok(
        "docker",
        &["ps", "-aq", "--filter", &format!("label=com.docker.compose.project={}", compose.project)],
        &[],
    );
    assert!(containers.trim().is_empty(), "containers left after down -v: {containers}");
    eprintln!("compose devnet test took {:.1} s", started.elapsed().as_secs_f64());
}
