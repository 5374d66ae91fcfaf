//! Prometheus metrics and health checks, on their own port.
//!
//! `GET /metrics` serves, in the text exposition format, the node's own
//! metrics (counters, gauges and histograms whose label values come from
//! fixed lists, so no client can grow them), Malachite's consensus and
//! network metrics (height, round, time per block and per step, connected
//! peers, …) and the process's CPU, memory and open files. `GET /health`
//! answers 200 while the process runs and its store takes writes; `GET
//! /ready` answers 200 once the node is caught up and, for a validator, is
//! connected to validators holding a quorum of the power — for load
//! balancers and orchestrators. Names follow Prometheus's conventions
//! (`_total` counters, `_seconds` and `_bytes` base units).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::{debug, warn};

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Add one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Add `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Set the value.
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }
    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A gauge holding any real number (a signed time difference).
#[derive(Debug, Default)]
pub struct FloatGauge(AtomicU64);

impl FloatGauge {
    /// Set the value.
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
    /// Current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// Bucket bounds for durations of block work (seconds).
pub const WORK_SECONDS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
/// Bucket bounds for intervals between blocks and consensus latency (seconds).
pub const INTERVAL_SECONDS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0];
/// Bucket bounds for JSON-RPC request durations (seconds).
pub const RPC_SECONDS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];
/// Bucket bounds for transactions per block.
pub const TRANSACTIONS: &[f64] = &[0.0, 1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0];

/// A histogram with fixed bucket bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Observations at or below each bound (not cumulative; summed when rendered).
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum of the observations, as `f64` bits.
    sum: AtomicU64,
}

impl Histogram {
    /// A histogram with these upper bounds (ascending); `+Inf` is implied.
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Record one observation.
    pub fn observe(&self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some((f64::from_bits(bits) + value).to_bits()));
    }

    /// Record a duration in seconds.
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0u64;
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            cumulative = cumulative.saturating_add(bucket.load(Ordering::Relaxed));
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", f64::from_bits(self.sum.load(Ordering::Relaxed)));
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// Why a transaction was refused admission: the label values of
/// `dsec_mempool_rejected_total` (a fixed list).
pub const REJECTION_REASONS: &[&str] = &[
    "decode",
    "already_known",
    "nonce_too_low",
    "nonce_gap",
    "replacement_underpriced",
    "insufficient_funds",
    "intrinsic_gas_too_low",
    "exceeds_block_gas_limit",
    "invalid_chain_id",
    "oversized",
    "underpriced",
    "tip_above_fee_cap",
    "account_limit",
    "pool_full",
    "not_permitted",
    "node_error",
];

/// Counters by one label whose values are fixed when the family is made;
/// any other value is counted under `other`.
#[derive(Debug)]
pub struct CounterFamily {
    counters: BTreeMap<&'static str, Counter>,
    other: Counter,
}

impl CounterFamily {
    /// A family with these label values.
    pub fn new(values: &[&'static str]) -> Self {
        Self { counters: values.iter().map(|v| (*v, Counter::default())).collect(), other: Counter::default() }
    }

    /// The counter of `value`.
    pub fn get(&self, value: &str) -> &Counter {
        self.counters.get(value).unwrap_or(&self.other)
    }

    fn render(&self, out: &mut String, name: &str, label: &str) {
        for (value, counter) in self.counters.iter().map(|(v, c)| (*v, c)).chain([("other", &self.other)]) {
            let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {}", counter.get());
        }
    }
}

/// Requests, errors and latency of one JSON-RPC method.
#[derive(Debug)]
pub struct MethodMetrics {
    /// Requests.
    pub requests: Counter,
    /// Requests answered with an error.
    pub errors: Counter,
    /// Time to answer, seconds.
    pub duration: Histogram,
}

impl Default for MethodMetrics {
    fn default() -> Self {
        Self { requests: Counter::default(), errors: Counter::default(), duration: Histogram::new(RPC_SECONDS) }
    }
}

/// JSON-RPC metrics by method, for the methods the server registered (set
/// once at start); calls of any other name count under `other`, calls inside
/// batches under `batch`. Each method's metrics are shared (`Arc`), so a
/// request looks its method up once, before it runs, without copying the name.
#[derive(Debug, Default)]
pub struct RpcMetrics {
    methods: std::sync::OnceLock<BTreeMap<String, Arc<MethodMetrics>>>,
    other: Arc<MethodMetrics>,
    batch: Arc<MethodMetrics>,
}

impl RpcMetrics {
    /// Fix the method names (the first call wins).
    pub fn register<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let _ = self.methods.set(names.into_iter().map(|n| (n.to_string(), Arc::default())).collect());
    }

    /// The metrics of `method`.
    pub fn method(&self, method: &str) -> Arc<MethodMetrics> {
        self.methods.get().and_then(|m| m.get(method)).unwrap_or(&self.other).clone()
    }

    /// The metrics of calls inside batches.
    pub fn batch(&self) -> Arc<MethodMetrics> {
        self.batch.clone()
    }

    fn render(&self, out: &mut String) {
        let all: Vec<(&str, &MethodMetrics)> = self
            .methods
            .get()
            .into_iter()
            .flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_ref())))
            .chain([("other", self.other.as_ref()), ("batch", self.batch.as_ref())])
            .collect();
        header(out, "rpc_requests_total", "counter", "JSON-RPC requests, by method (batch: calls inside batches).");
        for (m, v) in &all {
            let _ = writeln!(out, "dsec_rpc_requests_total{{method=\"{m}\"}} {}", v.requests.get());
        }
        header(out, "rpc_errors_total", "counter", "JSON-RPC requests answered with an error, by method.");
        for (m, v) in &all {
            let _ = writeln!(out, "dsec_rpc_errors_total{{method=\"{m}\"}} {}", v.errors.get());
        }
        header(
            out,
            "rpc_request_duration_seconds",
            "histogram",
            "Time to answer one JSON-RPC request, by method (batches as a whole).",
        );
        for (m, v) in &all {
            // Methods never called are left out: a histogram per unused method is noise.
            if v.duration.count() > 0 {
                v.duration.render(out, "dsec_rpc_request_duration_seconds", &format!("method=\"{m}\""));
            }
        }
    }
}

/// Every metric of the node.
#[derive(Debug)]
pub struct Metrics {
    /// Height of the last committed block.
    pub head: Gauge,
    /// Blocks committed since start.
    pub blocks: Counter,
    /// Transactions committed since start.
    pub txs_committed: Counter,
    /// Gas used by committed blocks since start.
    pub gas_used: Counter,
    /// Transactions per committed block.
    pub block_transactions: Histogram,
    /// Time between a committed block's timestamp and its parent's.
    pub block_interval: Histogram,
    /// Time this node spent building its proposals.
    pub block_build: Histogram,
    /// Time this node spent re-executing others' proposals.
    pub block_validate: Histogram,
    /// Time this node spent committing blocks.
    pub block_commit: Histogram,
    /// Time from this node first holding a height's proposal (built or
    /// received) to committing the height.
    pub decision: Histogram,
    /// Local time at commit minus the block's timestamp (clock skew or lag).
    pub commit_lag: FloatGauge,
    /// Round in which the last block was decided.
    pub decided_round: Gauge,
    /// Blocks decided in a round after the first.
    pub late_decisions: Counter,
    /// Members of the set that signs the next height.
    pub validator_set_size: Gauge,
    /// Power of the set that signs the next height.
    pub validator_set_power: Gauge,
    /// Last height whose commit certificate each validator of the current set signed.
    pub validator_signed: parking_lot::Mutex<BTreeMap<alloy_primitives::Address, u64>>,
    /// Power of the validators this node's consensus network is connected to, itself included.
    pub connected_power: Gauge,
    /// Peers connected to the transaction swarm.
    pub gossip_peers: Gauge,
    /// Peers connected to the consensus network.
    pub consensus_peers: Gauge,
    /// Transactions admitted to the mempool.
    pub txs_admitted: Counter,
    /// Transactions refused by the mempool, by reason.
    pub txs_rejected: CounterFamily,
    /// Time spent admitting transactions (decode, recovery, checks), µs.
    pub admission_micros: Counter,
    /// Transactions in the mempool.
    pub mempool_size: Gauge,
    /// Memory the pooled transactions take, bytes.
    pub mempool_bytes: Gauge,
    /// Most memory the pooled transactions may take, bytes.
    pub mempool_capacity: Gauge,
    /// Transactions of proposed blocks that were not pooled here, so validation recovered their sender.
    pub validate_recovered: Counter,
    /// Transactions admitted with the sender block validation had already recovered (not recovered twice).
    pub admission_recovery_reused: Counter,
    /// Transactions gossiped to peers.
    pub gossip_sent: Counter,
    /// Transactions received from peers by gossip.
    pub gossip_received: Counter,
    /// Transactions not gossiped because the gossip queue was full.
    pub gossip_dropped: Counter,
    /// Transactions received by gossip that were already pooled or committed here.
    pub gossip_known: Counter,
    /// Connections refused because the peer is not allowed.
    pub peers_refused: Counter,
    /// Equivocation evidence records stored.
    pub evidence: Counter,
    /// JSON-RPC requests by method.
    pub rpc: RpcMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            head: Gauge::default(),
            blocks: Counter::default(),
            txs_committed: Counter::default(),
            gas_used: Counter::default(),
            block_transactions: Histogram::new(TRANSACTIONS),
            block_interval: Histogram::new(INTERVAL_SECONDS),
            block_build: Histogram::new(WORK_SECONDS),
            block_validate: Histogram::new(WORK_SECONDS),
            block_commit: Histogram::new(WORK_SECONDS),
            decision: Histogram::new(INTERVAL_SECONDS),
            commit_lag: FloatGauge::default(),
            decided_round: Gauge::default(),
            late_decisions: Counter::default(),
            validator_set_size: Gauge::default(),
            validator_set_power: Gauge::default(),
            validator_signed: parking_lot::Mutex::new(BTreeMap::new()),
            connected_power: Gauge::default(),
            gossip_peers: Gauge::default(),
            consensus_peers: Gauge::default(),
            txs_admitted: Counter::default(),
            txs_rejected: CounterFamily::new(REJECTION_REASONS),
            admission_micros: Counter::default(),
            mempool_size: Gauge::default(),
            mempool_bytes: Gauge::default(),
            mempool_capacity: Gauge::default(),
            validate_recovered: Counter::default(),
            admission_recovery_reused: Counter::default(),
            gossip_sent: Counter::default(),
            gossip_received: Counter::default(),
            gossip_dropped: Counter::default(),
            gossip_known: Counter::default(),
            peers_refused: Counter::default(),
            evidence: Counter::default(),
            rpc: RpcMetrics::default(),
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP dsec_{name} {help}\n# TYPE dsec_{name} {kind}");
}

impl Metrics {
    /// Render every metric in the Prometheus text format: the node's, then
    /// Malachite's consensus and network metrics, then the process's.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(32 * 1024);
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            header(&mut out, name, kind, help);
            let _ = writeln!(out, "dsec_{name} {value}");
        };
        let int = |v: u64| v.to_string();
        metric("head_block", "gauge", "Height of the last committed block.", int(self.head.get()));
        metric("blocks_total", "counter", "Blocks committed since start.", int(self.blocks.get()));
        metric(
            "transactions_committed_total",
            "counter",
            "Transactions committed since start.",
            int(self.txs_committed.get()),
        );
        metric("gas_used_total", "counter", "Gas used by committed blocks since start.", int(self.gas_used.get()));
        metric(
            "block_commit_lag_seconds",
            "gauge",
            "Local time when the last block was committed minus its timestamp (clock skew, or a late commit).",
            self.commit_lag.get().to_string(),
        );
        metric(
            "consensus_decided_round",
            "gauge",
            "Consensus round in which the last block was decided (0: the first).",
            int(self.decided_round.get()),
        );
        metric(
            "consensus_late_decisions_total",
            "counter",
            "Blocks decided in a round after the first (a proposer was slow, absent or refused).",
            int(self.late_decisions.get()),
        );
        metric(
            "validator_set_size",
            "gauge",
            "Validators in the set that signs the next height.",
            int(self.validator_set_size.get()),
        );
        metric(
            "validator_set_power",
            "gauge",
            "Voting power of the set that signs the next height.",
            int(self.validator_set_power.get()),
        );
        metric(
            "validators_connected_power",
            "gauge",
            "Voting power of the validators this node's consensus network is connected to, its own included.",
            int(self.connected_power.get()),
        );
        metric("mempool_transactions", "gauge", "Transactions in the mempool.", int(self.mempool_size.get()));
        metric("mempool_bytes", "gauge", "Memory the pooled transactions take.", int(self.mempool_bytes.get()));
        metric(
            "mempool_capacity_bytes",
            "gauge",
            "Most memory the pooled transactions may take.",
            int(self.mempool_capacity.get()),
        );
        metric(
            "mempool_admitted_total",
            "counter",
            "Transactions admitted to the mempool.",
            int(self.txs_admitted.get()),
        );
        metric(
            "admission_seconds_total",
            "counter",
            "Time spent admitting transactions (decode, sender recovery, checks).",
            (self.admission_micros.get() as f64 / 1e6).to_string(),
        );
        metric("gossip_sent_total", "counter", "Transactions gossiped to peers.", int(self.gossip_sent.get()));
        metric("gossip_received_total", "counter", "Transactions received by gossip.", int(self.gossip_received.get()));
        metric(
            "gossip_dropped_total",
            "counter",
            "Transactions not gossiped (queue full).",
            int(self.gossip_dropped.get()),
        );
        metric(
            "gossip_known_total",
            "counter",
            "Transactions received by gossip that were already pooled or committed here.",
            int(self.gossip_known.get()),
        );
        metric(
            "block_validate_recovered_total",
            "counter",
            "Transactions of proposed blocks not pooled here (validation recovered their sender).",
            int(self.validate_recovered.get()),
        );
        metric(
            "admission_recovery_reused_total",
            "counter",
            "Transactions admitted with the sender block validation had already recovered.",
            int(self.admission_recovery_reused.get()),
        );
        metric(
            "peers_refused_total",
            "counter",
            "Connections refused (peer not allowed).",
            int(self.peers_refused.get()),
        );
        metric("evidence_total", "counter", "Equivocation evidence records stored.", int(self.evidence.get()));
        header(&mut out, "peers", "gauge", "Connected peers, by swarm.");
        let _ = writeln!(out, "dsec_peers{{swarm=\"consensus\"}} {}", self.consensus_peers.get());
        let _ = writeln!(out, "dsec_peers{{swarm=\"transactions\"}} {}", self.gossip_peers.get());
        header(&mut out, "mempool_rejected_total", "counter", "Transactions refused by the mempool, by reason.");
        self.txs_rejected.render(&mut out, "dsec_mempool_rejected_total", "reason");
        header(
            &mut out,
            "validator_last_signed_height",
            "gauge",
            "Last height whose commit certificate each validator of the current set signed.",
        );
        for (validator, height) in self.validator_signed.lock().iter() {
            let _ = writeln!(out, "dsec_validator_last_signed_height{{validator=\"{validator}\"}} {height}");
        }
        let histograms: [(&str, &str, &Histogram); 6] = [
            ("block_transactions", "Transactions per committed block.", &self.block_transactions),
            (
                "block_interval_seconds",
                "Time between a committed block's timestamp and its parent's.",
                &self.block_interval,
            ),
            ("block_build_seconds", "Time spent building a proposal.", &self.block_build),
            ("block_validate_seconds", "Time spent re-executing a proposed block.", &self.block_validate),
            ("block_commit_seconds", "Time spent committing a block.", &self.block_commit),
            (
                "consensus_decision_seconds",
                "Time from holding a height's proposal (built or received) to committing the height.",
                &self.decision,
            ),
        ];
        for (name, help, histogram) in histograms {
            header(&mut out, name, "histogram", help);
            histogram.render(&mut out, &format!("dsec_{name}"), "");
        }
        self.rpc.render(&mut out);
        dsec_consensus::bft::export_metrics(&mut out);
        process_metrics(&mut out);
        out
    }
}

/// CPU time, resident memory, open files and start time of this process,
/// from `/proc/self` (Linux; nothing elsewhere).
fn process_metrics(out: &mut String) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return };
    // Fields after the command name (which may hold spaces, inside parentheses).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `fields[0]` is field 3 (state): utime is field 14, stime 15, starttime 22, rss 24.
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    // The kernel's clock tick is 100 Hz on every Linux this runs on.
    const TICKS: f64 = 100.0;
    const PAGE: u64 = 4096;
    if let (Some(utime), Some(stime)) = (field(14), field(15)) {
        let _ = writeln!(
            out,
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {}",
            (utime.saturating_add(stime)) as f64 / TICKS
        );
    }
    if let Some(rss) = field(24) {
        let _ = writeln!(
            out,
            "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {}",
            rss.saturating_mul(PAGE)
        );
    }
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse::<u64>().ok())));
    if let (Some(boot), Some(start)) = (boot, field(22)) {
        let _ = writeln!(
            out,
            "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {}",
            boot as f64 + start as f64 / TICKS
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        let _ = writeln!(
            out,
            "# HELP process_open_fds Number of open file descriptors.\n# TYPE process_open_fds gauge\nprocess_open_fds {}",
            fds.count()
        );
    }
}

/// What `/health` and `/ready` report, computed when asked.
pub trait HealthCheck: Send + Sync {
    /// `Ok` while the node can serve (its store takes writes), else why not.
    fn health(&self) -> Result<(), String>;
    /// `Ok` once the node is caught up and connected to a quorum, else why not.
    fn ready(&self) -> Result<String, String>;
}

fn reply(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn check(result: Result<String, String>) -> String {
    match result {
        Ok(body) => reply("200 OK", "text/plain; charset=utf-8", &format!("{body}\n")),
        Err(why) => reply("503 Service Unavailable", "text/plain; charset=utf-8", &format!("{why}\n")),
    }
}

/// Serve `GET /metrics`, `/health` and `/ready` on `addr` until the task is
/// dropped. Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<dyn HealthCheck>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let (mut socket, peer) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    warn!(error = %e, "metrics: accept failed");
                    continue;
                }
            };
            let metrics = metrics.clone();
            let health = health.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf)).await;
                let Ok(Ok(n)) = read else { return };
                let request = String::from_utf8_lossy(&buf[..n]);
                let path = request.strip_prefix("GET ").and_then(|r| r.split_whitespace().next()).unwrap_or("");
                let response = match path {
                    "/metrics" => reply("200 OK", "text/plain; version=0.0.4", &metrics.render()),
                    "/health" => {
                        let health = tokio::task::spawn_blocking(move || health.health()).await;
                        check(health.unwrap_or_else(|e| Err(e.to_string())).map(|()| "ok".to_string()))
                    }
                    "/ready" => {
                        let ready = tokio::task::spawn_blocking(move || health.ready()).await;
                        check(ready.unwrap_or_else(|e| Err(e.to_string())))
                    }
                    _ => reply("404 Not Found", "text/plain", "try /metrics, /health or /ready\n"),
                };
                if let Err(e) = socket.write_all(response.as_bytes()).await {
                    debug!(%peer, error = %e, "metrics: write failed");
                }
            });
        }
    });
    Ok((local, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_families_and_histograms() {
        let m = Metrics::default();
        m.blocks.add(3);
        m.head.set(7);
        m.txs_rejected.get("nonce_too_low").inc();
        m.txs_rejected.get("made-up reason").inc();
        m.block_interval.observe(0.9);
        m.block_interval.observe(1.2);
        m.block_interval.observe(120.0);
        m.rpc.register(["eth_chainId"]);
        m.rpc.method("eth_chainId").duration.observe(0.0003);
        m.rpc.method("eth_chainId").requests.inc();
        m.rpc.method("eth_nope").requests.inc();
        let text = m.render();
        assert!(text.contains("# TYPE dsec_blocks_total counter\ndsec_blocks_total 3"), "{text}");
        assert!(text.contains("dsec_head_block 7"));
        assert!(text.contains("dsec_mempool_rejected_total{reason=\"nonce_too_low\"} 1"));
        assert!(text.contains("dsec_mempool_rejected_total{reason=\"other\"} 1"));
        assert!(text.contains("dsec_block_interval_seconds_bucket{le=\"0.75\"} 0"));
        assert!(text.contains("dsec_block_interval_seconds_bucket{le=\"1\"} 1"));
        assert!(text.contains("dsec_block_interval_seconds_bucket{le=\"1.5\"} 2"));
        assert!(text.contains("dsec_block_interval_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("dsec_block_interval_seconds_sum 122.1"));
        assert!(text.contains("dsec_block_interval_seconds_count 3"));
        assert!(text.contains("dsec_rpc_requests_total{method=\"eth_chainId\"} 1"));
        assert!(text.contains("dsec_rpc_requests_total{method=\"other\"} 1"));
        assert!(text.contains("dsec_rpc_request_duration_seconds_bucket{method=\"eth_chainId\",le=\"0.0005\"} 1"));
        assert!(text.contains("process_resident_memory_bytes "));
        // Every sample line is `name{labels} value` with a number for value.
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok() || value == "+Inf", "{line}");
        }
    }
}
