//! Prometheus metrics, served in the text exposition format on their own port.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Every metric of the node.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Height of the last committed block.
    pub head: Gauge,
    /// Blocks committed since start.
    pub blocks: Counter,
    /// Transactions committed since start.
    pub txs_committed: Counter,
    /// Gas used by committed blocks since start.
    pub gas_used: Counter,
    /// Transactions admitted to the mempool.
    pub txs_admitted: Counter,
    /// Transactions refused by the mempool.
    pub txs_rejected: Counter,
    /// Time spent admitting transactions (decode, recovery, checks), µs.
    pub admission_micros: Counter,
    /// Time spent building blocks, µs.
    pub build_micros: Counter,
    /// Time spent committing blocks, µs.
    pub commit_micros: Counter,
    /// JSON-RPC requests served.
    pub rpc_requests: Counter,
    /// JSON-RPC requests answered with an error.
    pub rpc_errors: Counter,
    /// Transactions in the mempool.
    pub mempool_size: Gauge,
    /// Time spent validating (re-executing) proposed blocks, µs.
    pub validate_micros: Counter,
    /// Transactions of proposed blocks that were not pooled here, so validation recovered their sender.
    pub validate_recovered: Counter,
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
}

impl Metrics {
    /// Render in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP dsec_{name} {help}\n# TYPE dsec_{name} {kind}\ndsec_{name} {value}");
        };
        metric("head_block", "gauge", "Height of the last committed block.", self.head.get());
        metric("blocks_total", "counter", "Blocks committed since start.", self.blocks.get());
        metric(
            "transactions_committed_total",
            "counter",
            "Transactions committed since start.",
            self.txs_committed.get(),
        );
        metric("gas_used_total", "counter", "Gas used by committed blocks since start.", self.gas_used.get());
        metric("mempool_admitted_total", "counter", "Transactions admitted to the mempool.", self.txs_admitted.get());
        metric("mempool_rejected_total", "counter", "Transactions refused by the mempool.", self.txs_rejected.get());
        metric("mempool_transactions", "gauge", "Transactions in the mempool.", self.mempool_size.get());
        metric(
            "admission_microseconds_total",
            "counter",
            "Time spent admitting transactions.",
            self.admission_micros.get(),
        );
        metric("block_build_microseconds_total", "counter", "Time spent building blocks.", self.build_micros.get());
        metric("block_commit_microseconds_total", "counter", "Time spent committing blocks.", self.commit_micros.get());
        metric(
            "block_validate_microseconds_total",
            "counter",
            "Time spent re-executing proposed blocks.",
            self.validate_micros.get(),
        );
        metric("gossip_sent_total", "counter", "Transactions gossiped to peers.", self.gossip_sent.get());
        metric("gossip_received_total", "counter", "Transactions received by gossip.", self.gossip_received.get());
        metric("gossip_dropped_total", "counter", "Transactions not gossiped (queue full).", self.gossip_dropped.get());
        metric(
            "block_validate_recovered_total",
            "counter",
            "Transactions of proposed blocks not pooled here (validation recovered their sender).",
            self.validate_recovered.get(),
        );
        metric(
            "gossip_known_total",
            "counter",
            "Transactions received by gossip that were already pooled or committed here.",
            self.gossip_known.get(),
        );
        metric("peers_refused_total", "counter", "Connections refused (peer not allowed).", self.peers_refused.get());
        metric("evidence_total", "counter", "Equivocation evidence records stored.", self.evidence.get());
        metric("rpc_requests_total", "counter", "JSON-RPC requests served.", self.rpc_requests.get());
        metric("rpc_errors_total", "counter", "JSON-RPC requests answered with an error.", self.rpc_errors.get());
        out
    }
}

/// Serve `GET /metrics` on `addr` until the task is dropped. Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
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
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let read = tokio::time::timeout(std::time::Duration::from_secs(5), socket.read(&mut buf)).await;
                let Ok(Ok(n)) = read else { return };
                let request = String::from_utf8_lossy(&buf[..n]);
                let response = if request.starts_with("GET /metrics") {
                    let body = metrics.render();
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
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
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.blocks.add(3);
        m.head.set(7);
        let text = m.render();
        assert!(text.contains("# TYPE dsec_blocks_total counter\ndsec_blocks_total 3"));
        assert!(text.contains("dsec_head_block 7"));
    }
}
