//! Abuse: the test plays the attacker against real node processes. Each test
//! checks three things: the node refuses with the documented error, its
//! memory stays bounded (VmRSS from /proc, printed with the other numbers),
//! and the chain keeps producing blocks afterwards.
//!
//! Most tests run a single validator (`Network::prepare(dir, 1)`, which makes a
//! one-validator BFT network) with extra `[rpc]` or `[p2p]` settings; one runs
//! four validators, one of them sending conflicting proposals, and one joins a
//! validator's transaction gossip as a libp2p peer that sends garbage.

use crate::bft::{block, height, wait_for_height};
use alloy::consensus::{TxEip1559, TxLegacy};
use alloy_primitives::{Address, Bytes, TxKind, U64, U256};
use dsec_sdk::client::RpcClient;
use dsec_sdk::tx::LocalKey;
use dsec_tests::{
    HttpReply, Network, Wallet, WsClient, http_post, http_post_chunked, http_post_full, parse_http_reply, peak_rss_kib,
    read_validator_key, rpc_raw, rpc_request, rss_kib, set_config_keys,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// KiB in a MiB.
const MIB: u64 = 1024;
const JSON: &str = "application/json";
const INSUFFICIENT_FUNDS: &str = "insufficient funds for gas * price + value";

/// A network of one validator whose `[rpc]` table also holds `rpc`, started
/// and producing blocks.
async fn one_validator(dir: &Path, rpc: &[(&str, &str)]) -> Network {
    let mut network = Network::prepare(dir, 1);
    set_config_keys(&network.configs[0], "rpc", rpc);
    network.restart(0, &[]);
    wait_for_height(&network, &[0], 2, Duration::from_secs(30)).await;
    network
}

fn pid_of(network: &Network, i: usize) -> u32 {
    network.nodes[i].as_ref().expect("validator running").pid()
}

/// A process's resident memory before an attack, to compare with after it.
struct Memory {
    pid: u32,
    what: String,
    before_kib: u64,
}

impl Memory {
    fn before(pid: u32, what: &str) -> Self {
        Self { pid, what: what.to_string(), before_kib: rss_kib(pid) }
    }

    /// Print RSS before, after and the process's peak; assert that RSS now (and,
    /// with `peak_too`, the peak) is under the RSS before plus `bound_mib`.
    fn check(&self, bound_mib: u64, peak_too: bool) {
        let (after, peak) = (rss_kib(self.pid), peak_rss_kib(self.pid));
        let mib = |kib: u64| kib as f64 / MIB as f64;
        println!(
            "{}: RSS before {:.1} MiB, after {:.1} MiB ({:+.1} MiB), peak {:.1} MiB ({:+.1} MiB); bound +{bound_mib} MiB",
            self.what,
            mib(self.before_kib),
            mib(after),
            mib(after) - mib(self.before_kib),
            mib(peak),
            mib(peak) - mib(self.before_kib),
        );
        let limit = self.before_kib + bound_mib * MIB;
        assert!(
            after < limit,
            "{}: RSS grew from {} KiB to {after} KiB (bound +{bound_mib} MiB)",
            self.what,
            self.before_kib
        );
        if peak_too {
            assert!(
                peak < limit,
                "{}: RSS peaked at {peak} KiB from {} KiB (bound +{bound_mib} MiB)",
                self.what,
                self.before_kib
            );
        }
    }
}

/// The chain still grows: at least two more blocks within 10 s. The new height.
async fn assert_blocks_continue(client: &RpcClient, what: &str) -> u64 {
    let start = client
        .block_number()
        .await
        .unwrap_or_else(|e| panic!("{what}: the node no longer answers eth_blockNumber: {e}"));
    let began = Instant::now();
    loop {
        let now = client.block_number().await.unwrap_or(0);
        if now >= start + 2 {
            println!("{what}: blocks continue ({start} -> {now} in {:?})", began.elapsed());
            return now;
        }
        assert!(began.elapsed() < Duration::from_secs(10), "{what}: no new block within 10 s (at {start}, now {now})");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `(code, message)` of a JSON-RPC error response; `None` for a result.
fn rpc_error(response: &Value) -> Option<(i64, String)> {
    let e = response.get("error")?;
    Some((e["code"].as_i64().unwrap_or(0), e["message"].as_str().unwrap_or_default().to_string()))
}

/// POST `body` to `url` from the local address `source`: another loopback
/// address is another client to the node. `None` when this host cannot use it.
async fn post_from(source: std::net::Ipv4Addr, url: &str, body: &str) -> Option<HttpReply> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let addr: std::net::SocketAddr = host.parse().expect("the URL is http://ip:port");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    if let Err(e) = socket.bind(std::net::SocketAddr::from((source, 0))) {
        println!("cannot bind {source} ({e}): the check from a second client address is skipped");
        return None;
    }
    let mut stream = match socket.connect(addr).await {
        Ok(s) => s,
        Err(e) => {
            println!("cannot connect from {source} ({e}): the check from a second client address is skipped");
            return None;
        }
    };
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw)).await;
    Some(parse_http_reply(&raw))
}

/// Read WebSocket messages until `count` responses (messages with an `id`)
/// have arrived or `within` passes; the responses by id, and how many
/// subscription notifications came meanwhile.
fn ws_responses(ws: &mut WsClient, count: usize, within: Duration) -> (HashMap<u64, Value>, usize) {
    let deadline = Instant::now() + within;
    let (mut responses, mut notifications) = (HashMap::new(), 0);
    while responses.len() < count {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else { break };
        let Some(message) = ws.recv_json(left) else { break };
        match message.get("id").and_then(Value::as_u64) {
            Some(id) => {
                responses.insert(id, message);
            }
            None => notifications += 1,
        }
    }
    (responses, notifications)
}

/// Subscribe to `newHeads` `count` times on `ws` (ids from `first_id`), all
/// sent before any answer is read: the subscription ids accepted and the errors.
fn subscribe_many(ws: &mut WsClient, first_id: u64, count: u64) -> (Vec<String>, Vec<(i64, String)>) {
    for id in first_id..first_id + count {
        ws.send_json(&rpc_request(id, "eth_subscribe", json!(["newHeads"]))).expect("send eth_subscribe");
    }
    let (responses, notifications) = ws_responses(ws, count as usize, Duration::from_secs(20));
    assert_eq!(responses.len(), count as usize, "answers to {count} eth_subscribe ({notifications} notifications)");
    let (mut accepted, mut refused) = (Vec::new(), Vec::new());
    for id in first_id..first_id + count {
        let r = &responses[&id];
        match rpc_error(r) {
            Some(e) => refused.push(e),
            None => accepted.push(r["result"].as_str().expect("a subscription id").to_string()),
        }
    }
    (accepted, refused)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_unfunded_and_overflowing_transactions_is_refused_and_pools_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // No rate limit: this test is about admission, and floods on purpose.
    let network = one_validator(dir.path(), &[("rate_limit_per_ip", "0")]).await;
    let client = network.client(0);
    let chain_id = client.chain_id().await.unwrap();
    let memory = Memory::before(pid_of(&network, 0), "unfunded flood");
    let start_height = client.block_number().await.unwrap();

    // Thousands of transactions, each from a fresh key nobody funded.
    const FLOOD: usize = 4_000;
    let started = Instant::now();
    let raws: Vec<Bytes> = (0..FLOOD)
        .map(|i| {
            LocalKey::random().sign_tx_bytes(TxEip1559 {
                chain_id,
                nonce: 0,
                gas_limit: 21_000,
                max_fee_per_gas: 2_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
                to: TxKind::Call(Address::repeat_byte((i % 255) as u8 + 1)),
                value: U256::from(1),
                ..Default::default()
            })
        })
        .collect();
    let signed_in = started.elapsed();
    // 200 one by one, the rest in batches of 100 from four concurrent senders.
    let started = Instant::now();
    let (single, batched) = raws.split_at(200);
    let mut refusals: Vec<String> = Vec::with_capacity(FLOOD);
    for raw in single {
        refusals.push(client.send_raw(raw).await.expect_err("an unfunded transaction was admitted").to_string());
    }
    let mut senders = Vec::new();
    for part in batched.chunks(batched.len().div_ceil(4)) {
        let (client, part) = (client.clone(), part.to_vec());
        senders.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for batch in part.chunks(100) {
                for answer in client.send_raw_batch(batch).await.expect("the batch is answered") {
                    out.push(answer.expect_err("an unfunded transaction was admitted"));
                }
            }
            out
        }));
    }
    for sender in senders {
        refusals.extend(sender.await.unwrap());
    }
    let sent_in = started.elapsed();
    let refused = refusals.iter().filter(|m| m.contains(INSUFFICIENT_FUNDS)).count();
    let others: Vec<&String> = refusals.iter().filter(|m| !m.contains(INSUFFICIENT_FUNDS)).take(5).collect();
    println!(
        "unfunded flood: {FLOOD} transactions signed in {signed_in:?}, sent in {sent_in:?}; {refused} refused with `{INSUFFICIENT_FUNDS}`"
    );
    assert_eq!(refusals.len(), FLOOD);
    assert_eq!(refused, FLOOD, "every unfunded transaction is refused for its funds; other answers: {others:?}");

    // Values and fees at the edge of their types: gas * price + value passes
    // 2^128 and 2^256 (a cost computed in u128, or unchecked in U256, would wrap).
    let poor = LocalKey::random();
    let rich = Wallet::dev(&client, 7).await;
    let rich_balance = client.balance(rich.address()).await.unwrap();
    let edge: Vec<(&str, Bytes)> = vec![
        (
            "unfunded, value 2^256-1, fee cap 2^128-1 at 30M gas",
            poor.sign_tx_bytes(TxEip1559 {
                chain_id,
                nonce: 0,
                gas_limit: 30_000_000,
                max_fee_per_gas: u128::MAX,
                max_priority_fee_per_gas: u128::MAX,
                to: TxKind::Call(Address::repeat_byte(1)),
                value: U256::MAX,
                ..Default::default()
            }),
        ),
        (
            "unfunded legacy, gas price 2^128-1 at 30M gas, value 2^256-2",
            poor.sign_tx_bytes(TxLegacy {
                chain_id: Some(chain_id),
                nonce: 0,
                gas_price: u128::MAX,
                gas_limit: 30_000_000,
                to: TxKind::Call(Address::repeat_byte(2)),
                value: U256::MAX - U256::from(1),
                ..Default::default()
            }),
        ),
        (
            "funded, value 2^256-1",
            rich.key.sign_tx_bytes(TxEip1559 {
                chain_id,
                nonce: rich.nonce,
                gas_limit: 21_000,
                max_fee_per_gas: 2_000_000_000,
                max_priority_fee_per_gas: 1,
                to: TxKind::Call(Address::repeat_byte(3)),
                value: U256::MAX,
                ..Default::default()
            }),
        ),
        (
            "funded, fee cap 2^128-1 at 30M gas",
            rich.key.sign_tx_bytes(TxEip1559 {
                chain_id,
                nonce: rich.nonce,
                gas_limit: 30_000_000,
                max_fee_per_gas: u128::MAX,
                max_priority_fee_per_gas: 0,
                to: TxKind::Call(Address::repeat_byte(4)),
                value: U256::ZERO,
                ..Default::default()
            }),
        ),
        (
            "funded, value = the whole balance (no room for the fee)",
            rich.key.sign_tx_bytes(TxEip1559 {
                chain_id,
                nonce: rich.nonce,
                gas_limit: 21_000,
                max_fee_per_gas: 2_000_000_000,
                max_priority_fee_per_gas: 1,
                to: TxKind::Call(Address::repeat_byte(5)),
                value: rich_balance,
                ..Default::default()
            }),
        ),
    ];
    for (what, raw) in &edge {
        let err = client.send_raw(raw).await.expect_err(what).to_string();
        println!("{what}: {err}");
        assert!(err.contains(INSUFFICIENT_FUNDS), "{what}: {err}");
    }

    let pooled: U64 = client.call("dsec_mempoolSize", vec![]).await.expect("dsec_mempoolSize");
    assert_eq!(pooled.to::<u64>(), 0, "nothing was pooled");
    let during = client.block_number().await.unwrap() - start_height;
    println!("unfunded flood: {during} blocks produced during the attack");
    memory.check(200, false);
    assert_blocks_continue(&client, "after the unfunded flood").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_and_malformed_bodies_get_errors_and_no_crash() {
    let dir = tempfile::tempdir().unwrap();
    let network = one_validator(
        dir.path(),
        &[("max_request_body_bytes", "1048576"), ("max_batch_size", "100"), ("rate_limit_per_ip", "0")],
    )
    .await;
    let client = network.client(0);
    let url = network.urls[0].clone();
    let memory = Memory::before(pid_of(&network, 0), "bodies");
    let start_height = client.block_number().await.unwrap();

    // 2 MiB with its length declared: refused from the header, before the body is read.
    let big = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":["{}"]}}"#, "a".repeat(2 << 20));
    let reply = http_post_full(&url, big.as_bytes(), JSON);
    println!("2 MiB body, Content-Length: HTTP {} {}", reply.status, reply.body);
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert_eq!(rpc_error(&reply.json()).map(|e| e.0), Some(-32007), "jsonrpsee's `Request is too big`: {}", reply.body);

    // 2 MiB with no declared length (chunked), ten at once: each refused once
    // past the limit. jsonrpsee 0.26 answers this one 500 (its length-limit
    // error surfaces as a body stream error), so 413 and 500 both count.
    let statuses: Vec<(u16, String)> = (0..10)
        .map(|_| {
            let (url, big) = (url.clone(), big.clone());
            std::thread::spawn(move || {
                let r = http_post_chunked(&url, big.as_bytes(), JSON);
                (r.status, r.body)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    println!("2 MiB chunked bodies x10: {:?}", statuses.iter().map(|s| s.0).collect::<Vec<_>>());
    assert!(statuses.iter().all(|(s, _)| matches!(s, 413 | 500)), "{statuses:?}");

    // Just under the limit is served: the limit is 1 MiB, not less.
    let under =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":["{}"]}}"#, "a".repeat(1_000_000));
    let (status, body) = http_post(&url, under.as_bytes(), JSON);
    assert_eq!(status, 200, "a body under the limit: {body}");

    // Malformed bodies: (what, body, content type, expected HTTP status, expected JSON-RPC code).
    let nested_params = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":{}{}}}"#,
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    let valid = rpc_request(1, "eth_blockNumber", json!([])).to_string();
    /// What the case is, its body, its content type, the HTTP status and the JSON-RPC code expected.
    type Case<'a> = (&'a str, Vec<u8>, &'a str, u16, Option<i64>);
    let cases: Vec<Case> = vec![
        ("truncated JSON", br#"{"jsonrpc":"2.0","id":1,"method":"#.to_vec(), JSON, 200, Some(-32700)),
        ("not JSON", b"hello".to_vec(), JSON, 400, Some(-32700)),
        ("binary", (0..4096u32).map(|i| 0xff ^ (i as u8)).collect(), JSON, 400, Some(-32700)),
        ("empty body", Vec::new(), JSON, 400, Some(-32700)),
        ("100 000 '['", "[".repeat(100_000).into_bytes(), JSON, 200, Some(-32700)),
        ("100 000 '{'", "{".repeat(100_000).into_bytes(), JSON, 200, Some(-32700)),
        // Balanced nesting inside params: any JSON-RPC error will do, or a result.
        ("params nested 50 000 deep", nested_params.into_bytes(), JSON, 200, None),
        ("wrong content type", valid.into_bytes(), "text/plain", 415, None),
    ];
    for (what, body, content_type, status, code) in cases {
        let reply = http_post_full(&url, &body, content_type);
        let shown: String = reply.body.chars().take(200).collect();
        println!("{what}: HTTP {} {shown}", reply.status);
        assert_eq!(reply.status, status, "{what}: {shown}");
        if let Some(code) = code {
            assert_eq!(rpc_error(&reply.json()).map(|e| e.0), Some(code), "{what}: {shown}");
        }
    }

    // Batches: over the limit refused whole, at the limit served, junk entries refused one by one.
    let batch = |n: u64| Value::Array((0..n).map(|i| rpc_request(i, "eth_blockNumber", json!([]))).collect());
    for n in [101, 5_000] {
        let reply = rpc_raw(&url, &batch(n));
        println!("batch of {n}: HTTP {} {}", reply.status, reply.body);
        assert_eq!(reply.status, 200);
        assert_eq!(
            rpc_error(&reply.json()).map(|e| e.0),
            Some(-32010),
            "jsonrpsee's `The batch request was too large`: {}",
            reply.body
        );
    }
    let reply = rpc_raw(&url, &batch(100));
    let answers = reply.json().as_array().cloned().unwrap_or_else(|| panic!("batch of 100: {}", reply.body));
    assert_eq!(answers.len(), 100);
    assert!(answers.iter().all(|a| a.get("result").is_some()), "a batch at the limit is served: {}", reply.body);
    let junk = Value::Array((0..100).map(|i| json!(i)).collect());
    let reply = rpc_raw(&url, &junk);
    let answers = reply.json().as_array().cloned().unwrap_or_default();
    println!("batch of 100 numbers: {} answers, first {:?}", answers.len(), answers.first());
    assert!(answers.iter().all(|a| rpc_error(a).is_some_and(|e| e.0 == -32600)), "{}", reply.body);
    let reply = rpc_raw(&url, &json!([]));
    println!("empty batch: HTTP {} {}", reply.status, reply.body);
    assert!(reply.status != 0, "the node answers an empty batch");

    let during = client.block_number().await.expect("the node still serves eth_blockNumber") - start_height;
    println!("bodies: {during} blocks produced during the attack");
    memory.check(200, false);
    assert_blocks_continue(&client, "after the malformed bodies").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_over_its_rate_limit_gets_429_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let network = one_validator(dir.path(), &[("rate_limit_per_ip", "20"), ("rate_limit_burst", "20")]).await;
    let client = network.client(0);
    let url = network.urls[0].clone();
    let memory = Memory::before(pid_of(&network, 0), "rate limit");
    let start_height = client.block_number().await.unwrap();
    let message = "rate limit exceeded: 20 requests per second per client";
    let body_429 = json!({ "jsonrpc": "2.0", "id": null, "error": { "code": -32005, "message": message } });
    let call = rpc_request(1, "eth_blockNumber", json!([])).to_string();

    // 200 requests as fast as one connection after another goes.
    tokio::time::sleep(Duration::from_millis(1_500)).await; // a full budget
    let started = Instant::now();
    let (mut served, mut too_many, mut refused_in_body) = (0usize, 0usize, 0usize);
    let mut first_429: Option<HttpReply> = None;
    for _ in 0..200 {
        let reply = http_post_full(&url, call.as_bytes(), JSON);
        match reply.status {
            429 => {
                too_many += 1;
                if first_429.is_none() {
                    first_429 = Some(reply);
                }
            }
            200 => match rpc_error(&reply.json()) {
                None => served += 1,
                // Admitted at the door, then out of budget: the same error in a 200.
                Some((code, m)) => {
                    assert_eq!((code, m.as_str()), (-32005, message), "{}", reply.body);
                    refused_in_body += 1;
                }
            },
            other => panic!("HTTP {other}: {}", reply.body),
        }
    }
    let elapsed = started.elapsed();
    println!(
        "rate limit: 200 requests in {elapsed:?}: {served} served, {too_many} answered 429, {refused_in_body} refused with -32005 in a 200"
    );
    let reply = first_429.expect("no request was answered 429");
    println!("429 answer: Retry-After {:?}, body {}", reply.header("retry-after"), reply.body);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(reply.json(), body_429, "{}", reply.body);
    let allowed = 20.0 + 20.0 * elapsed.as_secs_f64() + 2.0;
    assert!((served as f64) <= allowed, "{served} served in {elapsed:?}: more than 20 + 20/s");
    assert!(served >= 15, "the burst of 20 was not served ({served})");

    // Another client address is not held back by this one's spent budget.
    if let Some(reply) = post_from([127, 0, 0, 2].into(), &url, &call).await {
        println!("from 127.0.0.2 meanwhile: HTTP {} {}", reply.status, reply.body);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(rpc_error(&reply.json()).is_none(), "{}", reply.body);
    }

    // After a pause the same client is served again.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for _ in 0..5 {
        let reply = http_post_full(&url, call.as_bytes(), JSON);
        assert_eq!(reply.status, 200, "served again after 1.5 s: {}", reply.body);
        assert!(rpc_error(&reply.json()).is_none(), "{}", reply.body);
    }

    // A batch of 100 with a budget of 20: the calls past it get -32005, in place.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let batch = Value::Array((0..100).map(|i| rpc_request(i, "eth_blockNumber", json!([]))).collect());
    let reply = rpc_raw(&url, &batch);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let answers = reply.json().as_array().cloned().unwrap_or_else(|| panic!("batch answer: {}", reply.body));
    assert_eq!(answers.len(), 100);
    let in_batch = answers.iter().filter(|a| a.get("result").is_some()).count();
    let limited: Vec<(i64, String)> = answers.iter().filter_map(rpc_error).collect();
    println!("rate limit: batch of 100: {in_batch} served, {} refused", limited.len());
    assert_eq!(in_batch + limited.len(), 100);
    assert!(limited.iter().all(|(c, m)| *c == -32005 && m == message), "{limited:?}");
    assert!((15..=25).contains(&in_batch), "{in_batch} calls of the batch served with a budget of 20");

    // Over WebSocket every message pays: 60 calls at once on one connection.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let mut ws = WsClient::connect(&url).unwrap_or_else(|r| panic!("websocket refused: HTTP {} {}", r.status, r.body));
    for id in 0..60 {
        ws.send_json(&rpc_request(id, "eth_blockNumber", json!([]))).expect("send");
    }
    let (responses, _) = ws_responses(&mut ws, 60, Duration::from_secs(10));
    assert_eq!(responses.len(), 60, "every WebSocket call is answered");
    let ws_limited: Vec<(i64, String)> = responses.values().filter_map(rpc_error).collect();
    println!("rate limit: 60 calls over WebSocket: {} refused", ws_limited.len());
    assert!(ws_limited.len() >= 30, "{} of 60 WebSocket calls refused with a budget of 20", ws_limited.len());
    assert!(ws_limited.iter().all(|(c, m)| *c == -32005 && m == message), "{ws_limited:?}");
    ws.close();

    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let during = client.block_number().await.unwrap() - start_height;
    println!("rate limit: {during} blocks produced during the attack");
    memory.check(200, false);
    assert_blocks_continue(&client, "after the rate-limit flood").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn trace_bombs_are_cut_off_by_the_output_budget_or_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let network = one_validator(
        dir.path(),
        &[
            ("api", r#"["eth", "net", "web3", "debug", "dsec"]"#),
            ("max_trace_bytes", "8388608"),
            ("call_timeout_ms", "3000"),
            ("rate_limit_per_ip", "0"),
        ],
    )
    .await;
    let client = network.client(0);
    let url = network.urls[0].clone();
    let memory = Memory::before(pid_of(&network, 0), "trace bombs");
    let start_height = client.block_number().await.unwrap();
    let refused_ok = |m: &str| m.starts_with("trace too large") || m.starts_with("execution aborted (timeout = ");

    // Init code `JUMPDEST PUSH1 0 JUMP`: a loop of ~4 million steps in 50M gas.
    let trace_call = |code: &str, options: Value| {
        rpc_request(1, "debug_traceCall", json!([{ "data": code, "gas": "0x2faf080" }, "latest", options]))
    };
    let started = Instant::now();
    let bombs: Vec<_> = (0..3)
        .map(|_| {
            let (url, request) = (url.clone(), trace_call("0x5b600056", json!({})));
            std::thread::spawn(move || rpc_raw(&url, &request))
        })
        .collect();
    for bomb in bombs {
        let reply = bomb.join().unwrap();
        let (code, message) = rpc_error(&reply.json()).unwrap_or_else(|| {
            panic!("a struct-log trace of a 4M-step loop was answered ({} bytes)", reply.body.len())
        });
        println!("struct-log trace bomb: HTTP {} {code} {message}", reply.status);
        assert_eq!(code, -32000, "{message}");
        assert!(refused_ok(&message), "{message}");
    }
    println!("three struct-log trace bombs at once refused in {:?}", started.elapsed());

    // Memory captured at every step: grow memory to 1 MiB, then loop.
    // PUSH1 1 PUSH3 0x100000 MSTORE JUMPDEST PUSH1 7 JUMP
    let started = Instant::now();
    let reply = rpc_raw(&url, &trace_call("0x600162100000525b600756", json!({ "enableMemory": true })));
    let (code, message) = rpc_error(&reply.json())
        .unwrap_or_else(|| panic!("a memory-capturing trace bomb was answered ({} bytes)", reply.body.len()));
    println!("memory trace bomb: {code} {message} in {:?}", started.elapsed());
    assert_eq!(code, -32000, "{message}");
    assert!(refused_ok(&message), "{message}");

    // callTracer records frames, not steps: out of gas, or the timeout; never a crash.
    let started = Instant::now();
    let reply = rpc_raw(&url, &trace_call("0x5b600056", json!({ "tracer": "callTracer" })));
    let answer = reply.json();
    match rpc_error(&answer) {
        Some((code, message)) => {
            println!("callTracer on the loop: {code} {message} in {:?}", started.elapsed());
            assert_eq!(code, -32000, "{message}");
            assert!(refused_ok(&message), "{message}");
        }
        None => {
            let error = answer["result"]["error"].as_str().unwrap_or_default();
            println!("callTracer on the loop: frame error {error:?} in {:?}", started.elapsed());
            assert!(!error.is_empty(), "the loop cannot succeed: {}", reply.body);
        }
    }

    // debug_traceTransaction of a committed transaction that loops until out of gas (10M gas: ~830k steps).
    let mut wallet = Wallet::dev(&client, 4).await;
    let receipt = wallet
        .send(&client, TxKind::Create, U256::ZERO, Bytes::from_static(&[0x5b, 0x60, 0x00, 0x56]), 10_000_000)
        .await;
    assert!(!receipt.inner.status(), "the loop runs out of gas");
    let started = Instant::now();
    let hash = receipt.transaction_hash;
    let reply = rpc_raw(&url, &rpc_request(1, "debug_traceTransaction", json!([hash, {}])));
    let (code, message) = rpc_error(&reply.json())
        .unwrap_or_else(|| panic!("the trace of an 830k-step transaction was answered ({} bytes)", reply.body.len()));
    println!("debug_traceTransaction bomb: {code} {message} in {:?}", started.elapsed());
    assert_eq!(code, -32000, "{message}");
    assert!(refused_ok(&message), "{message}");

    // A small trace is still served in full.
    // PUSH1 1 PUSH1 2 ADD PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
    let reply = rpc_raw(
        &url,
        &rpc_request(1, "debug_traceCall", json!([{ "data": "0x600160020160005260206000f3" }, "latest", {}])),
    );
    let steps = reply.json()["result"]["structLogs"].as_array().map(Vec::len).unwrap_or(0);
    assert!(steps >= 8, "a small trace: {}", reply.body);

    let during = client.block_number().await.unwrap() - start_height;
    println!("trace bombs: {during} blocks produced during the attack");
    memory.check(300, true);
    assert_blocks_continue(&client, "after the trace bombs").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn filter_and_subscription_floods_hit_their_limits() {
    let dir = tempfile::tempdir().unwrap();
    let network = one_validator(
        dir.path(),
        &[
            ("max_filters_per_client", "50"),
            ("max_subscriptions_per_connection", "100"),
            ("max_subscriptions", "150"),
            ("rate_limit_per_ip", "0"),
        ],
    )
    .await;
    let client = network.client(0);
    let url = network.urls[0].clone();
    let memory = Memory::before(pid_of(&network, 0), "filters and subscriptions");
    let start_height = client.block_number().await.unwrap();
    let too_many_filters = |e: &(i64, String)| e.0 == -32000 && e.1.starts_with("too many filters");

    // 200 block filters from one client: 50 installed, then refused.
    let (mut installed, mut refused) = (Vec::new(), Vec::new());
    for i in 0..200 {
        let answer = rpc_raw(&url, &rpc_request(i, "eth_newBlockFilter", json!([]))).json();
        match rpc_error(&answer) {
            None => installed.push(answer["result"].as_str().expect("a filter id").to_string()),
            Some(e) => refused.push((i, e)),
        }
    }
    println!(
        "filters: 200 eth_newBlockFilter: {} installed, {} refused; first refusal {:?}",
        installed.len(),
        refused.len(),
        refused.first()
    );
    assert_eq!(installed.len(), 50);
    assert_eq!(refused.first().map(|r| r.0), Some(50), "the 51st is the first refused");
    assert!(refused.iter().all(|(_, e)| too_many_filters(e)), "{:?}", refused.first());
    // The other kinds count against the same limit.
    for (method, params) in
        [("eth_newFilter", json!([{ "fromBlock": "latest" }])), ("eth_newPendingTransactionFilter", json!([]))]
    {
        let answer = rpc_raw(&url, &rpc_request(1, method, params)).json();
        let e = rpc_error(&answer).unwrap_or_else(|| panic!("{method} installed past the limit: {answer}"));
        assert!(too_many_filters(&e), "{method}: {e:?}");
    }
    // Another client address still may install one.
    let request = rpc_request(1, "eth_newBlockFilter", json!([])).to_string();
    if let Some(reply) = post_from([127, 0, 0, 2].into(), &url, &request).await {
        println!("filters: from 127.0.0.2: {}", reply.body);
        assert!(rpc_error(&reply.json()).is_none(), "another client is refused: {}", reply.body);
    }
    // The installed ones still work, and uninstalling one frees its place.
    let (first, second) = (installed[0].clone(), installed[1].clone());
    let changes = rpc_raw(&url, &rpc_request(1, "eth_getFilterChanges", json!([second]))).json();
    assert!(changes["result"].is_array(), "{changes}");
    let removed = rpc_raw(&url, &rpc_request(1, "eth_uninstallFilter", json!([first]))).json();
    assert_eq!(removed["result"], json!(true), "{removed}");
    let again = rpc_raw(&url, &rpc_request(1, "eth_newBlockFilter", json!([]))).json();
    assert!(rpc_error(&again).is_none(), "a freed place is reusable: {again}");

    // One WebSocket connection subscribes 300 times: 100 accepted, then refused
    // (jsonrpsee's own per-connection limit: -32006 `Too many subscriptions on the connection`).
    let too_many_subscriptions =
        |e: &(i64, String)| e.0 == -32006 || e.1.to_lowercase().starts_with("too many subscriptions");
    let mut a = WsClient::connect(&url).unwrap_or_else(|r| panic!("websocket refused: HTTP {} {}", r.status, r.body));
    let (accepted, refused) = subscribe_many(&mut a, 0, 300);
    println!(
        "subscriptions: connection A, 300 eth_subscribe: {} accepted, {} refused; first refusal {:?}",
        accepted.len(),
        refused.len(),
        refused.first()
    );
    assert_eq!(accepted.len(), 100);
    assert!(refused.iter().all(too_many_subscriptions), "{:?}", refused.first());
    // Unsubscribing frees a place on the connection.
    let dropped = accepted[0].clone();
    a.send_json(&rpc_request(1_000, "eth_unsubscribe", json!([dropped]))).unwrap();
    let (answers, _) = ws_responses(&mut a, 1, Duration::from_secs(10));
    assert_eq!(answers.get(&1_000).map(|v| v["result"].clone()), Some(json!(true)), "{answers:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (again, _) = subscribe_many(&mut a, 2_000, 1);
    assert_eq!(again.len(), 1, "a freed subscription place is reusable");

    // The node-wide limit (150): a second connection gets the 50 places left.
    let mut b = WsClient::connect(&url).unwrap_or_else(|r| panic!("websocket refused: HTTP {} {}", r.status, r.body));
    let (accepted_b, refused_b) = subscribe_many(&mut b, 0, 100);
    println!(
        "subscriptions: connection B, 100 eth_subscribe: {} accepted, {} refused; first refusal {:?}",
        accepted_b.len(),
        refused_b.len(),
        refused_b.first()
    );
    assert_eq!(accepted_b.len(), 50, "150 subscriptions at most over all connections");
    assert!(refused_b.iter().all(|(_, m)| m.to_lowercase().contains("subscriptions")), "{:?}", refused_b.first());
    // Closing connection A frees its 100.
    a.close();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut c = WsClient::connect(&url).unwrap_or_else(|r| panic!("websocket refused: HTTP {} {}", r.status, r.body));
    let (accepted_c, refused_c) = subscribe_many(&mut c, 0, 100);
    println!("subscriptions: after A closed, connection C: {} accepted, {} refused", accepted_c.len(), refused_c.len());
    assert_eq!(accepted_c.len(), 100, "a closed connection's subscriptions are freed: {:?}", refused_c.first());
    // The subscriptions are live: C receives new heads.
    let (_, notifications) = ws_responses(&mut c, usize::MAX, Duration::from_secs(3));
    println!("subscriptions: connection C got {notifications} notifications in 3 s");
    assert!(notifications > 0, "no newHeads notification on connection C");
    b.close();
    c.close();

    let during = client.block_number().await.unwrap() - start_height;
    println!("filters and subscriptions: {during} blocks produced during the attack");
    memory.check(200, false);
    assert_blocks_continue(&client, "after the filter and subscription floods").await;
}

/// Every node in `nodes` has the same block hash and state root at heights 1..=up_to.
async fn assert_same_chain(network: &Network, nodes: &[usize], up_to: u64) {
    for n in 1..=up_to {
        let mut first = None;
        for &i in nodes {
            let b = block(&network.client(i), n).await.unwrap_or_else(|| panic!("node {i} lacks block {n}"));
            let here = (b.header.hash, b.header.state_root);
            match first {
                None => first = Some(here),
                Some(f) => assert_eq!(f, here, "node {i} differs at height {n}: a fork"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn conflicting_proposals_from_one_validator_cause_no_fork_and_no_stall() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::start(dir.path(), 4);
    wait_for_height(&network, &[0, 1, 2, 3], 2, Duration::from_secs(60)).await;
    let honest = [0usize, 1, 2];
    let memory: Vec<Memory> =
        honest.iter().map(|&i| Memory::before(pid_of(&network, i), &format!("honest validator {i}"))).collect();
    let key_of = |i: usize| read_validator_key(&network.dir.join(format!("node{i}")).join("validator.key"));
    let byzantine = key_of(3);
    // Proposers go round-robin over the validators sorted by address: (height + round) mod 4.
    let mut by_address: Vec<Address> = (0..4).map(key_of).collect();
    by_address.sort();
    let slot = by_address.iter().position(|a| *a == byzantine).expect("validator 3 is in the set") as u64;

    network.restart(3, &["--byzantine-equivocate-proposals"]);
    // Once it is back at the head, watch past three heights it proposes in round 0.
    let h = height(&network.client(0)).await;
    wait_for_height(&network, &[0, 1, 2, 3], h + 1, Duration::from_secs(60)).await;
    let from = height(&network.client(0)).await;
    let (mut target, mut turns) = (from, 0);
    while turns < 3 {
        target += 1;
        if target % 4 == slot {
            turns += 1;
        }
    }
    let started = Instant::now();
    wait_for_height(&network, &honest, target + 1, Duration::from_secs(90)).await;
    let elapsed = started.elapsed();

    let end = {
        let mut lowest = u64::MAX;
        for &i in &honest {
            lowest = lowest.min(height(&network.client(i)).await);
        }
        lowest
    };
    assert_same_chain(&network, &honest, end).await;
    let client = network.client(0);
    let mut own_blocks = 0;
    for n in (from + 1..=end).filter(|n| n % 4 == slot) {
        let cert: Value = client.call("dsec_getCommit", vec![json!(format!("0x{n:x}"))]).await.expect("dsec_getCommit");
        let b = block(&client, n).await.expect("block");
        let by_it = b.header.beneficiary == byzantine;
        own_blocks += usize::from(by_it);
        println!(
            "height {n} (validator 3's turn): decided in round {}, built by {} ({})",
            cert["round"],
            b.header.beneficiary,
            if by_it { "validator 3" } else { "another validator" }
        );
    }
    println!(
        "conflicting proposals: honest validators went {from} -> {end} in {elapsed:?}; {own_blocks} of validator 3's turns decided its own block"
    );
    let evidence: Vec<Value> = client.call("dsec_getEvidence", Vec::<Value>::new()).await.expect("dsec_getEvidence");
    println!("conflicting proposals: {} evidence records", evidence.len());
    let culprit = format!("{byzantine:#x}");
    assert!(
        evidence.iter().all(|e| e["validator"].as_str().is_some_and(|v| v.eq_ignore_ascii_case(&culprit))),
        "evidence names only validator 3 ({culprit}): {evidence:?}"
    );
    for m in &memory {
        m.check(200, false);
    }
}

// ---------------------------------------------------------------------------
// Transaction gossip: the test is a gossipsub peer on validator 0's allowlist
// (so its connection is accepted) that publishes garbage on the node's topic.

use alloy_primitives::keccak256;
use dsec_tests::read_validator_secret;
use libp2p::futures::StreamExt as _;
use libp2p::gossipsub;
use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};

/// The node's gossip topic (`TOPIC` in node/src/gossip.rs, private there).
const GOSSIP_TOPIC: &str = "dsec/transactions/1";
/// Invalid batches after which the node disconnects a peer (`dsec_node::gossip::MAX_INVALID_BATCHES`).
const GOSSIP_MAX_INVALID_BATCHES: usize = 3;
/// What node/src/gossip.rs logs per invalid batch, at the ban, and per refused connection.
const GOSSIP_INVALID_BATCH: &str = "invalid gossip batch from peer";
const GOSSIP_BAN_WARNING: &str = "disconnecting a gossip peer that sent invalid batches";
const GOSSIP_REFUSED: &str = "refused gossip connection";

/// A gossip peer built the way node/src/gossip.rs builds the node's swarm (TCP
/// with noise and yamux, message ids the keccak-256 of the data), but with
/// signed messages and strict validation, as nodes before anonymous gossip
/// were: the node still checks such a signature and takes what it publishes
/// as any peer's messages (so the tests also cover an older peer).
fn gossip_peer(key: Keypair) -> Swarm<gossipsub::Behaviour> {
    let mut swarm: Swarm<gossipsub::Behaviour> = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default().nodelay(true),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .expect("a TCP transport with noise and yamux")
        .with_behaviour(|key| {
            let config = gossipsub::ConfigBuilder::default()
                .max_transmit_size(16 * 1024 * 1024)
                .validation_mode(gossipsub::ValidationMode::Strict)
                .message_id_fn(|m: &gossipsub::Message| gossipsub::MessageId::from(keccak256(&m.data).to_vec()))
                .heartbeat_interval(Duration::from_millis(500))
                .build()
                .expect("gossipsub config");
            gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), config)
                .expect("gossipsub behaviour")
        })
        .expect("the behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    swarm.behaviour_mut().subscribe(&gossipsub::IdentTopic::new(GOSSIP_TOPIC)).expect("subscribe to the topic");
    swarm
}

/// Drive `swarm` until `pick` takes one of its events (`Some`), or `within` passes (`None`).
async fn gossip_event<T>(
    swarm: &mut Swarm<gossipsub::Behaviour>,
    within: Duration,
    mut pick: impl FnMut(&SwarmEvent<gossipsub::Event>) -> Option<T>,
) -> Option<T> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some()).await.ok()?;
        if let Some(picked) = pick(&event) {
            return Some(picked);
        }
    }
}

/// Dial the node at `addr` (ending in `/p2p/<node>`) and wait until it has
/// announced its subscription to the topic: from then on what `swarm`
/// publishes reaches it. How long that took.
async fn join_gossip(swarm: &mut Swarm<gossipsub::Behaviour>, addr: &Multiaddr, node: PeerId, what: &str) -> Duration {
    let started = Instant::now();
    swarm.dial(addr.clone()).unwrap_or_else(|e| panic!("{what}: cannot dial {addr}: {e}"));
    let topic = gossipsub::IdentTopic::new(GOSSIP_TOPIC).hash();
    let joined = gossip_event(swarm, Duration::from_secs(10), |event| match event {
        SwarmEvent::Behaviour(gossipsub::Event::Subscribed { peer_id, topic: t })
            if *peer_id == node && *t == topic =>
        {
            Some(Ok(()))
        }
        SwarmEvent::ConnectionClosed { peer_id, cause, .. } if *peer_id == node => {
            Some(Err(format!("connection closed ({cause:?})")))
        }
        SwarmEvent::OutgoingConnectionError { error, .. } => Some(Err(format!("dial failed: {error}"))),
        _ => None,
    })
    .await;
    match joined {
        Some(Ok(())) => started.elapsed(),
        Some(Err(why)) => panic!("{what}: the node did not take us as a gossip peer: {why}"),
        None => panic!("{what}: the node announced no subscription to {GOSSIP_TOPIC} within 10 s"),
    }
}

/// What publishing garbage came to.
struct GossipAttack {
    /// Messages gossipsub sent on (the node was still a subscriber).
    published: usize,
    /// Publishes gossipsub refused (no subscriber left once the node cut us off).
    refused: usize,
    /// From the first publish to the node closing the connection (`None`: it did not within 10 s).
    closed_after: Option<Duration>,
    /// Why the connection closed, as this side saw it.
    cause: String,
}

/// Publish `payload(0)`, `payload(1)`, … every 100 ms, at most `max` of them,
/// until `node` closes the connection or 10 s pass. Each payload must differ:
/// message ids are the hash of the data, and the node drops an id it has seen.
async fn publish_until_cut_off(
    swarm: &mut Swarm<gossipsub::Behaviour>,
    node: PeerId,
    max: usize,
    mut payload: impl FnMut(usize) -> Vec<u8>,
) -> GossipAttack {
    let topic = gossipsub::IdentTopic::new(GOSSIP_TOPIC);
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let (mut attempts, mut published, mut refused) = (0usize, 0usize, 0usize);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if started.elapsed() > Duration::from_secs(10) {
                    return GossipAttack { published, refused, closed_after: None, cause: String::new() };
                }
                if attempts < max {
                    match swarm.behaviour_mut().publish(topic.clone(), payload(attempts)) {
                        Ok(_) => published += 1,
                        Err(e) => {
                            refused += 1;
                            println!("publish #{attempts} refused by gossipsub: {e}");
                        }
                    }
                    attempts += 1;
                }
            }
            event = swarm.select_next_some() => {
                if let SwarmEvent::ConnectionClosed { peer_id, cause, .. } = event
                    && peer_id == node
                {
                    return GossipAttack {
                        published,
                        refused,
                        closed_after: Some(started.elapsed()),
                        cause: format!("{cause:?}"),
                    };
                }
            }
        }
    }
}

/// What validator `i` printed after byte `from`, once `done` holds for it or `within` passes.
async fn output_after(
    network: &Network,
    i: usize,
    from: usize,
    within: Duration,
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + within;
    loop {
        let out = network.output(i);
        let new = out.get(from..).unwrap_or_default().to_string();
        if done(&new) || Instant::now() >= deadline {
            return new;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `swarm`, already a gossip peer of validator 0 (`node`), publishes garbage
/// until cut off. Asserts that the node disconnects it within 10 s, after at
/// least [`GOSSIP_MAX_INVALID_BATCHES`] messages, having logged each invalid
/// batch from it with `reason` and then its ban. What validator 0 logged meanwhile.
async fn garbage_until_banned(
    network: &Network,
    swarm: &mut Swarm<gossipsub::Behaviour>,
    node: PeerId,
    what: &str,
    reason: &str,
    payload: impl FnMut(usize) -> Vec<u8>,
) -> String {
    let me = swarm.local_peer_id().to_string();
    let from = network.output(0).len();
    let attack = publish_until_cut_off(swarm, node, 12, payload).await;
    println!(
        "{what}: {} messages published, {} refused by gossipsub; disconnected after {:?} ({})",
        attack.published, attack.refused, attack.closed_after, attack.cause
    );
    let banned = |line: &str| line.contains(GOSSIP_BAN_WARNING) && line.contains(&me);
    let log = output_after(network, 0, from, Duration::from_secs(5), |out| out.lines().any(banned)).await;
    let closed_after = attack.closed_after.unwrap_or_else(|| {
        panic!(
            "{what}: the node did not disconnect us within 10 s ({} messages published); validator 0 logged:\n{log}",
            attack.published
        )
    });
    assert!(
        attack.published >= GOSSIP_MAX_INVALID_BATCHES,
        "{what}: disconnected after {} messages, before {GOSSIP_MAX_INVALID_BATCHES} invalid batches ({})",
        attack.published,
        attack.cause
    );
    let ban = log
        .lines()
        .find(|&l| banned(l))
        .unwrap_or_else(|| panic!("{what}: validator 0 logged no `{GOSSIP_BAN_WARNING}` for {me}:\n{log}"));
    let invalid: Vec<&str> = log.lines().filter(|l| l.contains(GOSSIP_INVALID_BATCH) && l.contains(&me)).collect();
    assert!(
        invalid.len() >= GOSSIP_MAX_INVALID_BATCHES,
        "{what}: validator 0 counted {} invalid batches from us before the ban:\n{log}",
        invalid.len()
    );
    assert!(invalid.iter().all(|l| l.contains(reason)), "{what}: every batch is refused as `{reason}`: {invalid:#?}");
    println!(
        "{what}: validator 0 counted {} invalid batches ({reason}) and banned us {closed_after:?} after the first: {}",
        invalid.len(),
        ban.trim()
    );
    log
}

/// A transfer from `wallet`'s funded, permitted account, sound in every field
/// but the signature: with `zero_r`, `r` is 0 (no key recovers from it);
/// otherwise it is the genuine signature's malleable twin (`s` → n − `s`,
/// parity flipped), a valid ECDSA signature that EIP-2 refuses.
fn forged_transfer(wallet: &Wallet, nonce: u64, zero_r: bool) -> Bytes {
    use alloy::consensus::{SignableTransaction, TxEnvelope};
    use alloy::eips::eip2718::Encodable2718;
    use alloy_primitives::Signature;
    /// The order of the secp256k1 group.
    const SECP256K1_N: U256 = U256::from_be_bytes([
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xBA, 0xAE,
        0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41,
    ]);
    let tx = TxEip1559 {
        chain_id: wallet.chain_id,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(Address::repeat_byte(0x66)),
        value: U256::from(nonce + 1),
        ..Default::default()
    };
    let genuine = wallet.key.sign_prehash(&tx.signature_hash());
    let forged = if zero_r {
        Signature::new(U256::ZERO, genuine.s(), genuine.v())
    } else {
        Signature::new(genuine.r(), SECP256K1_N - genuine.s(), !genuine.v())
    };
    TxEnvelope::from(tx.into_signed(forged)).encoded_2718().into()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gossip_peer_sending_garbage_is_banned_and_the_chain_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // Three attackers, each a fresh ed25519 identity on validator 0's allowlist,
    // each sending one kind of garbage (a banned peer stays refused for 60 s).
    let keys: Vec<Keypair> = (0..3).map(|_| Keypair::generate_ed25519()).collect();
    let ids: Vec<PeerId> = keys.iter().map(|k| k.public().to_peer_id()).collect();
    let mut network = Network::prepare(dir.path(), 1);
    let allowlist = format!("[{}]", ids.iter().map(|id| format!("\"{id}\"")).collect::<Vec<_>>().join(", "));
    set_config_keys(&network.configs[0], "p2p", &[("allowlist", allowlist.as_str())]);
    // The gossip module's debug lines say why each gossiped transaction was not admitted.
    network.restart(0, &["--log-level", "info,dsec_node::gossip=debug"]);
    wait_for_height(&network, &[0], 2, Duration::from_secs(30)).await;
    let client = network.client(0);
    // The node's gossip identity is its validator key's (`bft::network_keypair`).
    let seed = read_validator_secret(&network.dir.join("node0").join("validator.key")).seed();
    let node = Keypair::ed25519_from_bytes(seed).expect("an ed25519 seed").public().to_peer_id();
    let node_addr: Multiaddr =
        format!("/ip4/127.0.0.1/tcp/{}/p2p/{node}", network.gossip_ports[0]).parse().expect("a multiaddr");
    assert!(
        network.output(0).contains(&node.to_string()),
        "validator 0 does not log {node} as its gossip peer id:\n{}",
        network.output(0)
    );
    let memory = Memory::before(pid_of(&network, 0), "gossip garbage");
    let start_height = client.block_number().await.unwrap();
    let mut wallet = Wallet::dev(&client, 5).await;

    // (1) Bytes that are not RLP: a long-list header whose length has a leading
    // zero, or a list header promising more bytes than follow.
    let not_rlp = |i: usize| -> Vec<u8> {
        let mut data = if i.is_multiple_of(2) { vec![0xff, 0x00] } else { vec![0xf8, 0xff] };
        data.extend_from_slice(format!("not rlp #{i}").as_bytes());
        data
    };
    let mut a = gossip_peer(keys[0].clone());
    let joined = join_gossip(&mut a, &node_addr, node, "not RLP").await;
    println!("not RLP: joined validator 0's gossip in {joined:?}");
    garbage_until_banned(&network, &mut a, node, "not RLP", "undecodable batch", not_rlp).await;

    // (2) A well-formed RLP list of junk byte strings: screened in, refused at admission.
    let junk_list = |i: usize| -> Vec<u8> {
        let junk: Vec<Bytes> = (0..1 + i % 4).map(|j| Bytes::from(format!("junk {i}.{j}").into_bytes())).collect();
        alloy::rlp::encode(&junk)
    };
    let mut b = gossip_peer(keys[1].clone());
    let joined = join_gossip(&mut b, &node_addr, node, "junk list").await;
    println!("junk list: joined validator 0's gossip in {joined:?}");
    let log =
        garbage_until_banned(&network, &mut b, node, "junk list", "a batch with an invalid transaction", junk_list)
            .await;
    assert!(
        log.lines().any(|l| l.contains("gossiped transaction not admitted") && l.contains("rlp")),
        "junk list: validator 0 logged no decoding error for the junk:\n{log}"
    );

    // (3) Sound transactions but for a forged signature. First a sound batch
    // from the same peer: admitted and included, so the node does take this
    // peer's messages (transport, signing and validation settings match).
    let mut c = gossip_peer(keys[2].clone());
    let joined = join_gossip(&mut c, &node_addr, node, "forged signatures").await;
    println!("forged signatures: joined validator 0's gossip in {joined:?}");
    let sound = wallet.sign(TxKind::Call(Address::repeat_byte(0x67)), U256::from(1), Bytes::new(), 21_000);
    let sound_batch: Vec<Bytes> = vec![sound.clone()];
    c.behaviour_mut()
        .publish(gossipsub::IdentTopic::new(GOSSIP_TOPIC), alloy::rlp::encode(&sound_batch))
        .expect("publish a sound batch");
    let started = Instant::now();
    let receipt = loop {
        let closed = gossip_event(&mut c, Duration::from_millis(250), |event| match event {
            SwarmEvent::ConnectionClosed { peer_id, cause, .. } if *peer_id == node => Some(format!("{cause:?}")),
            _ => None,
        })
        .await;
        if let Some(cause) = closed {
            panic!("validator 0 disconnected a peer that sent a sound batch ({cause})");
        }
        if let Some(receipt) = client.receipt(keccak256(&sound)).await.unwrap() {
            break receipt;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "a sound transaction gossiped by an allowlisted peer was not included within 15 s"
        );
    };
    assert!(receipt.inner.status());
    println!(
        "forged signatures: a sound gossiped batch first: included in block {:?} after {:?}",
        receipt.block_number,
        started.elapsed()
    );
    let forged_from = wallet.nonce;
    let forged = |i: usize| -> Vec<u8> {
        let batch: Vec<Bytes> = vec![forged_transfer(&wallet, forged_from + i as u64, i % 2 == 1)];
        alloy::rlp::encode(&batch)
    };
    let log = garbage_until_banned(
        &network,
        &mut c,
        node,
        "forged signatures",
        "a batch with an invalid transaction",
        forged,
    )
    .await;
    assert!(
        log.contains("invalid sender: invalid signature"),
        "forged signatures: validator 0 logged no signature error:\n{log}"
    );
    for zero_r in [false, true] {
        let hash = keccak256(forged_transfer(&wallet, forged_from + u64::from(zero_r), zero_r));
        let pooled: Option<Value> =
            client.call("eth_getTransactionByHash", vec![json!(hash)]).await.expect("eth_getTransactionByHash");
        assert!(pooled.is_none(), "a transaction with a forged signature was pooled: {pooled:?}");
    }

    // Within its ban, the first attacker dials again: refused, or dropped as soon as the handshake ends.
    let from = network.output(0).len();
    let started = Instant::now();
    a.dial(node_addr.clone()).expect("dial again");
    let redial = gossip_event(&mut a, Duration::from_secs(5), |event| match event {
        SwarmEvent::Behaviour(gossipsub::Event::Subscribed { peer_id, .. }) if *peer_id == node => {
            Some(Err("the node took us back as a gossip peer".to_string()))
        }
        SwarmEvent::ConnectionClosed { peer_id, cause, .. } if *peer_id == node => {
            Some(Ok(format!("dropped after the handshake ({cause:?})")))
        }
        SwarmEvent::OutgoingConnectionError { error, .. } => Some(Ok(format!("refused ({error})"))),
        _ => None,
    })
    .await;
    let redial_took = started.elapsed();
    match redial {
        Some(Ok(how)) => println!("re-dial within the ban: {how} after {redial_took:?}"),
        Some(Err(why)) => panic!("re-dial within the ban: {why}"),
        None => panic!("re-dial within the ban: neither refused nor dropped within 5 s"),
    }
    assert!(
        a.behaviour_mut().publish(gossipsub::IdentTopic::new(GOSSIP_TOPIC), not_rlp(100)).is_err(),
        "a banned peer still has the node as a subscriber"
    );
    let log = output_after(&network, 0, from, Duration::from_secs(5), |out| out.contains(GOSSIP_REFUSED)).await;
    let refusal = log
        .lines()
        .find(|l| l.contains(GOSSIP_REFUSED))
        .unwrap_or_else(|| panic!("validator 0 logged no `{GOSSIP_REFUSED}` for the re-dial:\n{log}"));
    println!("re-dial within the ban: validator 0 logged: {}", refusal.trim());

    let output = network.output(0);
    let bans = output.lines().filter(|l| l.contains(GOSSIP_BAN_WARNING)).count();
    assert_eq!(bans, 3, "one ban per attacker");
    for id in &ids {
        let id = id.to_string();
        assert!(
            output.lines().any(|l| l.contains(GOSSIP_BAN_WARNING) && l.contains(&id)),
            "attacker {id} was not banned"
        );
    }

    // The node still admits transactions and produces blocks.
    let receipt =
        wallet.send(&client, TxKind::Call(Address::repeat_byte(0x68)), U256::from(1), Bytes::new(), 21_000).await;
    assert!(receipt.inner.status());
    let during = client.block_number().await.unwrap() - start_height;
    println!("gossip garbage: {during} blocks produced during the attack");
    memory.check(100, false);
    assert_blocks_continue(&client, "after the gossip garbage").await;

    drop((a, b, c));
    if let Some(mut node) = network.nodes[0].take() {
        node.stop();
    }
}
