//! The monitoring an operator runs, against a real 4-validator devnet:
//! `promtool` checks the committed scrape config and unit-tests the alert
//! rules; Prometheus (Debian's package, run natively) scrapes the devnet
//! with that config, and every query of the committed Grafana dashboard must
//! return data through Prometheus's HTTP API — a panel naming a metric the
//! node does not export fails here. Then `/health` and `/ready` answer as a
//! load balancer expects, and stop being ready when the quorum is lost.

use dsec_tests::{Network, free_port_range, http_get, run_dsec};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn monitoring_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../devnet/monitoring")
}

fn run_tool(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} is not installed ({e}): scripts/setup.sh installs Debian's prometheus"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{tool} {args:?} failed:\n{text}");
    text
}

/// A Prometheus process, stopped when dropped.
struct Prometheus {
    child: Child,
    url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encode a query for a URL.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Prometheus {
    /// Run `prometheus` with the committed config, its targets replaced by this network's metrics ports.
    fn start(dir: &Path, network: &Network) -> Self {
        let committed = std::fs::read_to_string(monitoring_dir().join("prometheus.yml")).unwrap();
        let targets: String =
            network.metrics_ports.iter().map(|p| format!("          - 127.0.0.1:{p}\n")).collect::<String>();
        let start = committed.find("          - 127.0.0.1:9545").expect("the committed config lists 127.0.0.1:9545");
        let config = format!("{}{targets}", &committed[..start]).replace("scrape_interval: 5s", "scrape_interval: 1s");
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        std::fs::copy(monitoring_dir().join("alerts.yml"), dir.join("alerts.yml")).unwrap();
        let port = free_port_range(1);
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus (scripts/setup.sh installs Debian's prometheus)");
        let prometheus = Self { child, url: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http_get(&format!("{}/-/ready", prometheus.url)).status != 200 {
            assert!(Instant::now() < deadline, "prometheus did not become ready");
            std::thread::sleep(Duration::from_millis(200));
        }
        prometheus
    }

    /// The samples of an instant query (the query must succeed).
    fn query(&self, expr: &str) -> Vec<serde_json::Value> {
        let reply = http_get(&format!("{}/api/v1/query?query={}", self.url, encode(expr)));
        let json = reply.json();
        assert_eq!(json["status"], "success", "{expr}: {}", reply.body);
        json["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}

/// Every Prometheus query of the committed dashboard, with its panel's title.
fn dashboard_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(monitoring_dir().join("grafana/dashboards/dsec.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            out.push((panel["title"].as_str().unwrap().to_string(), target["expr"].as_str().unwrap().to_string()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_a_devnet_and_every_dashboard_query_and_alert_rule_works() {
    let mon = monitoring_dir();
    // The config for processes on loopback, and the compose devnet's.
    for config in ["prometheus.yml", "prometheus-docker.yml"] {
        let out = run_tool("promtool", &["check", "config", mon.join(config).to_str().unwrap()]);
        assert!(out.contains("SUCCESS: 8 rules found"), "{config}: {out}");
    }
    run_tool("promtool", &["test", "rules", mon.join("alerts_test.yml").to_str().unwrap()]);

    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::start(&dir.path().join("net"), 4);
    let prometheus = Prometheus::start(dir.path(), &network);

    // Traffic: transfers one per request, a refused transaction, an RPC error.
    let (ok, out) = run_dsec(&[
        "load",
        "--rpc",
        &network.urls[0],
        "--txs",
        "400",
        "--senders",
        "20",
        "--concurrency",
        "8",
        "--batch",
        "1",
    ]);
    assert!(ok, "{out}");
    let client = network.client(1);
    assert!(client.send_raw(&alloy_primitives::Bytes::from_static(&[0x02, 0xc0])).await.is_err());
    let _ = client.call::<serde_json::Value>("eth_getBalance", vec![serde_json::json!("not an address")]).await;

    // Clients keep using the node while the dashboard is looked at.
    let reader = network.client(2);
    let polling = tokio::spawn(async move {
        loop {
            let _ = reader.block_number().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    // Every target up, then every dashboard query answers with data.
    let deadline = Instant::now() + Duration::from_secs(90);
    let queries = dashboard_queries();
    assert!(queries.len() >= 30, "{queries:?}");
    loop {
        let up: Vec<_> = prometheus.query("up == 1");
        let empty: Vec<&(String, String)> = queries.iter().filter(|(_, q)| prometheus.query(q).is_empty()).collect();
        if up.len() == 4 && empty.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "{} of 4 targets up; dashboard queries without data: {empty:#?}", up.len());
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    polling.abort();
    // The refusal and the error are counted by reason and method.
    assert!(!prometheus.query("dsec_mempool_rejected_total{reason=\"decode\"} > 0").is_empty());
    assert!(!prometheus.query("dsec_rpc_errors_total{method=\"eth_getBalance\"} > 0").is_empty());
    assert!(!prometheus.query("dsec_rpc_errors_total{method=\"eth_sendRawTransaction\"} > 0").is_empty());
    // `dsec load --batch 1` sends JSON-RPC batches of one: counted under `batch`.
    assert!(!prometheus.query("dsec_rpc_requests_total{method=\"batch\"} >= 400").is_empty());
    // The alert rules are loaded, and on a healthy devnet none fires.
    let rules = http_get(&format!("{}/api/v1/rules", prometheus.url)).json();
    let loaded: usize =
        rules["data"]["groups"].as_array().unwrap().iter().map(|g| g["rules"].as_array().unwrap().len()).sum();
    assert_eq!(loaded, 8, "{rules}");
    assert!(prometheus.query("ALERTS{alertstate=\"firing\"}").is_empty());

    // Health and readiness, as a load balancer asks.
    for port in &network.metrics_ports {
        let health = http_get(&format!("http://127.0.0.1:{port}/health"));
        assert_eq!((health.status, health.body.trim()), (200, "ok"));
        let ready = http_get(&format!("http://127.0.0.1:{port}/ready"));
        assert_eq!(ready.status, 200, "{}", ready.body);
        assert!(ready.body.contains("connected to validators holding 4 of 4 voting power"), "{}", ready.body);
    }
    assert_eq!(http_get(&format!("http://127.0.0.1:{}/nope", network.metrics_ports[0])).status, 404);
    // net_peerCount counts the consensus peers: the three other validators.
    let peers: alloy_primitives::U64 = network.client(0).call("net_peerCount", Vec::new()).await.unwrap();
    assert_eq!(peers.to::<u64>(), 3);
    // One validator down: the other three still hold a quorum and stay ready.
    network.kill9(3);
    let port = network.metrics_ports[0];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = http_get(&format!("http://127.0.0.1:{port}/ready"));
        if ready.body.contains("holding 3 of 4") {
            assert_eq!(ready.status, 200);
            break;
        }
        assert!(Instant::now() < deadline, "{}", ready.body);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Two down: no quorum, not ready (but healthy), and the alert fires.
    network.kill9(2);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = http_get(&format!("http://127.0.0.1:{port}/ready"));
        if ready.status == 503 {
            assert!(ready.body.contains("not ready"), "{}", ready.body);
            break;
        }
        assert!(Instant::now() < deadline, "still ready without a quorum: {}", ready.body);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(http_get(&format!("http://127.0.0.1:{port}/health")).status, 200);
    let deadline = Instant::now() + Duration::from_secs(90);
    while prometheus.query("ALERTS{alertname=\"DsecNoNewBlock\",alertstate=\"firing\"}").is_empty() {
        assert!(Instant::now() < deadline, "no DsecNoNewBlock alert after the chain stalled");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
