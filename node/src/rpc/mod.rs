//! The JSON-RPC server: HTTP and WebSocket on one port (jsonrpsee), with
//! request limits, CORS, a tracing span and metrics per request.
//!
//! This file holds what every namespace shares and what runs the server: the
//! limits ([`RpcConfig`]), the error and parameter helpers that give each
//! failure its JSON-RPC code (and make `-32602` name the bad parameter), the
//! middleware, and [`start`], which builds the shared [`RpcContext`] and asks
//! each namespace to register its methods. The shared state and its helpers
//! (block resolution, the one log matcher) are in `context.rs`, the polling
//! filter store in `filter_store.rs`, the conversions to Ethereum's JSON
//! shapes in `convert.rs`; none of these imports a namespace. Each namespace
//! file (`eth`, `net`, `web3`, `filters`, `pubsub`, `debug`, `dsec`) has one
//! `register` function and imports from `super` only, never from another
//! namespace, so no two files import each other.

mod admit;
pub mod auth;
mod bounded;
pub mod client_limits;
pub mod convert;

mod context;
mod debug;
mod dsec;
mod eth;
mod filter_store;
mod filters;
mod gate;
mod net;
mod perm;
mod pubsub;
mod receipts;
pub mod tls;
mod web3;

pub use context::RpcContext;

use crate::chain::Chain;
use crate::metrics::Metrics;
use alloy::rpc::types::BlockId;
use alloy_primitives::{Bytes, hex};
use dsec_evm::call::CallError;
use jsonrpsee::RpcModule;
use jsonrpsee::server::middleware::rpc::{
    Batch, MethodResponse, Notification, Request, RpcServiceBuilder, RpcServiceT,
};
use jsonrpsee::server::{
    BatchRequestConfig, HttpBody, HttpRequest, HttpResponse, Methods, Server, ServerConfig, ServerHandle, StopHandle,
    TowerService, TowerServiceBuilder, stop_channel,
};
use jsonrpsee::types::params::ParamsSequence;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tracing::Instrument;

/// Result type of every method.
pub type RpcResult<T> = Result<T, ErrorObjectOwned>;

/// Limits and settings of the JSON-RPC server.
#[derive(Debug, Clone)]
pub struct RpcConfig {
    /// Largest request body, bytes.
    pub max_request_body_bytes: u32,
    /// Largest response body, bytes.
    pub max_response_body_bytes: u32,
    /// Most entries in one batch request.
    pub max_batch_size: u32,
    /// Most simultaneous connections.
    pub max_connections: u32,
    /// Most subscriptions per WebSocket connection.
    pub max_subscriptions_per_connection: u32,
    /// Gas cap of `eth_call` / `eth_estimateGas`.
    pub gas_cap: u64,
    /// Wall-clock limit of one `eth_call`, `eth_estimateGas` or `eth_createAccessList`.
    pub call_timeout: std::time::Duration,
    /// Widest block range of one `eth_getLogs`.
    pub max_logs_block_range: u64,
    /// Most logs one `eth_getLogs` returns.
    pub max_logs_results: usize,
    /// Origins allowed by CORS (`*` for any); empty (the default) disables CORS
    /// headers, so a web page cannot reach a node on the user's machine.
    pub cors_origins: Vec<String>,
    /// Most polling filters installed at once.
    pub max_filters: usize,
    /// Most polling filters one client (IP address) may have installed.
    pub max_filters_per_client: usize,
    /// Most WebSocket subscriptions open at once, over all connections.
    pub max_subscriptions: usize,
    /// Calls per second one client (IP address; IPv6 by /64) may make; 0: no limit.
    pub rate_limit_per_ip: u32,
    /// Calls a client may make at once after being idle (at least `rate_limit_per_ip`).
    pub rate_limit_burst: u32,
    /// Output one `debug_trace*` call may build (estimated bytes of JSON).
    pub max_trace_bytes: usize,
    /// The namespaces served (`debug` is off by default: its traces re-execute blocks).
    pub apis: Vec<Namespace>,
    /// JWT authentication: who must present a token, and how it is checked (`None`: open).
    pub auth: Option<auth::AuthConfig>,
    /// TLS on the listener, with or without client certificates (`None`: plain HTTP).
    pub tls: Option<tls::Tls>,
    /// How long `eth_sendRawTransactionSync` waits when the request names no
    /// (or an invalid) timeout.
    pub send_sync_timeout: std::time::Duration,
    /// The longest timeout a request may ask of `eth_sendRawTransactionSync`.
    pub send_sync_max_timeout: std::time::Duration,
    /// Most requests waiting for a receipt at once (sync sends), over all clients.
    pub max_waiting_sends: usize,
    /// `eth_sendRawTransaction` answers only once the transaction is in a
    /// committed block (test networks: suites written for automine chains).
    pub sync_send: bool,
}

/// A JSON-RPC namespace, selected per node as geth's `--http.api` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Namespace {
    /// `eth_*`: state, blocks, transactions, calls, logs, filters and subscriptions.
    Eth,
    /// `net_*`.
    Net,
    /// `web3_*`.
    Web3,
    /// `debug_*`: transaction and call traces.
    Debug,
    /// `dsec_*`: commit certificates, validator sets, evidence, permissions, mempool size.
    Dsec,
    /// `perm_*`: the account list, in Besu's shapes.
    Perm,
}

impl Namespace {
    /// Every namespace, in the order they are registered.
    pub const ALL: [Namespace; 6] = [Self::Eth, Self::Net, Self::Web3, Self::Debug, Self::Dsec, Self::Perm];
    /// What a node serves when not told otherwise: everything but `debug`.
    pub const DEFAULT: [Namespace; 5] = [Self::Eth, Self::Net, Self::Web3, Self::Dsec, Self::Perm];

    /// Its name, as in method names and `--rpc-api`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Eth => "eth",
            Self::Net => "net",
            Self::Web3 => "web3",
            Self::Debug => "debug",
            Self::Dsec => "dsec",
            Self::Perm => "perm",
        }
    }
}

impl std::str::FromStr for Namespace {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|n| n.name() == name.trim()).ok_or_else(|| {
            format!("unknown namespace {name:?}: expected one of {}", Self::ALL.map(Namespace::name).join(", "))
        })
    }
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            max_request_body_bytes: 10 * 1024 * 1024,
            max_response_body_bytes: 64 * 1024 * 1024,
            max_batch_size: 1_000,
            max_connections: 1_000,
            max_subscriptions_per_connection: 1_024,
            gas_cap: 50_000_000,
            call_timeout: std::time::Duration::from_secs(5),
            max_logs_block_range: 10_000,
            max_logs_results: 10_000,
            cors_origins: Vec::new(),
            max_filters: 10_000,
            max_filters_per_client: 100,
            max_subscriptions: 10_000,
            rate_limit_per_ip: 1_000,
            rate_limit_burst: 2_000,
            max_trace_bytes: 64 * 1024 * 1024,
            apis: Namespace::DEFAULT.to_vec(),
            auth: None,
            tls: None,
            send_sync_timeout: std::time::Duration::from_secs(10),
            send_sync_max_timeout: std::time::Duration::from_secs(60),
            max_waiting_sends: 10_000,
            sync_send: false,
        }
    }
}

/// `-32602` with a message naming the bad parameter.
pub fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32602, message, None::<()>)
}

/// `-32000`: the request was understood but cannot be served.
pub fn server_error(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32000, message, None::<()>)
}

/// `-32603`: the node failed.
pub fn internal(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32603, message, None::<()>)
}

/// Code `3`, `execution reverted: <reason>`, with the raw revert data, as geth answers.
pub fn revert_error(output: Bytes) -> ErrorObjectOwned {
    let message = match alloy::sol_types::decode_revert_reason(&output) {
        Some(reason) if !reason.is_empty() && output.len() >= 4 && output[..4] == [0x08, 0xc3, 0x79, 0xa0] => {
            format!("execution reverted: {}", reason.trim_start_matches("revert: "))
        }
        _ => "execution reverted".to_string(),
    };
    ErrorObjectOwned::owned(3, message, Some(hex::encode_prefixed(&output)))
}

/// The error of a call or estimation that could not run.
pub fn execution_error(e: CallError) -> ErrorObjectOwned {
    match e {
        CallError::Reverted(data) => revert_error(data),
        CallError::BadRequest(m) => invalid_params(m),
        CallError::Fatal(e) => internal(e.to_string()),
        CallError::Timeout(t) => server_error(format!("execution aborted (timeout = {}s)", t.as_secs_f64())),
        other => server_error(other.to_string()),
    }
}

/// Most addresses and topic alternatives one log filter may list (each is
/// matched against every log, and an installed filter keeps them).
pub const MAX_FILTER_CRITERIA: usize = 1_000;

/// `-32602` when a log filter lists more than [`MAX_FILTER_CRITERIA`] addresses and topics.
fn check_filter_size(filter: &alloy::rpc::types::Filter) -> RpcResult<()> {
    let criteria = filter.address.len() + filter.topics.iter().map(|t| t.len()).sum::<usize>();
    if criteria > MAX_FILTER_CRITERIA {
        return Err(invalid_params(format!(
            "invalid filter: {criteria} addresses and topics (limit {MAX_FILTER_CRITERIA})"
        )));
    }
    Ok(())
}

/// `-32603` for a failed store read: the node, not the request, is at fault.
fn store_err(e: impl std::fmt::Display) -> ErrorObjectOwned {
    internal(e.to_string())
}

/// `-32602` `invalid <what>: <detail>`, from jsonrpsee's error for a parameter that did not parse.
fn param_error(what: &str, e: ErrorObjectOwned) -> ErrorObjectOwned {
    let detail = e.data().map(|d| d.get().trim_matches('"').to_string()).unwrap_or_else(|| e.message().to_string());
    invalid_params(format!("invalid {what}: {detail}"))
}

/// The first parameter, named `what` in the error if it does not parse.
fn one<T: serde::de::DeserializeOwned>(params: &Params<'_>, what: &str) -> RpcResult<T> {
    let mut seq = params.sequence();
    seq.next::<T>().map_err(|e| param_error(what, e))
}

/// The next, optional, block parameter (number, tag or hash object); `-32602 invalid block parameter` if malformed.
fn parse_block_id(seq: &mut ParamsSequence<'_>) -> RpcResult<Option<BlockId>> {
    seq.optional_next::<BlockId>().map_err(|e| {
        invalid_params(format!("invalid block parameter: {}", e.data().map(|d| d.get()).unwrap_or_default()))
    })
}

/// Wraps every call in a tracing span and counts it.
#[derive(Clone)]
struct Observe<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> RpcServiceT for Observe<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Clone
        + Send
        + Sync
        + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let inner = self.inner.clone();
        let m = self.metrics.rpc.method(request.method_name());
        let span = tracing::debug_span!("rpc", method = %request.method_name());
        async move {
            let started = std::time::Instant::now();
            let response = inner.call(request).await;
            m.requests.inc();
            m.duration.observe_duration(started.elapsed());
            if response.is_error() {
                m.errors.inc();
            }
            response
        }
        .instrument(span)
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        let m = self.metrics.rpc.batch();
        let calls = batch.len() as u64;
        let response = self.inner.batch(batch);
        async move {
            let started = std::time::Instant::now();
            let response = response.await;
            m.requests.add(calls);
            m.duration.observe_duration(started.elapsed());
            response
        }
    }

    fn notification<'a>(&self, n: Notification<'a>) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.inner.notification(n)
    }
}

#[derive(Clone)]
struct ObserveLayer(Arc<Metrics>);

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner, metrics: self.0.clone() }
    }
}

/// Adds CORS headers and answers preflight requests.
#[derive(Clone)]
struct CorsLayer(Arc<Vec<String>>);

#[derive(Clone)]
struct Cors<S> {
    inner: S,
    origins: Arc<Vec<String>>,
}

impl<S> tower::Layer<S> for CorsLayer {
    type Service = Cors<S>;
    fn layer(&self, inner: S) -> Cors<S> {
        Cors { inner, origins: self.0.clone() }
    }
}

impl<S> tower::Service<HttpRequest> for Cors<S>
where
    S: tower::Service<HttpRequest, Response = HttpResponse, Error = jsonrpsee::core::BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = jsonrpsee::core::BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequest) -> Self::Future {
        let origin = request.headers().get(http::header::ORIGIN).and_then(|o| o.to_str().ok()).map(str::to_string);
        let allowed = match &origin {
            Some(o) => self
                .origins
                .iter()
                .any(|a| a == "*" || a == o)
                .then(|| if self.origins.iter().any(|a| a == "*") { "*".to_string() } else { o.clone() }),
            None => None,
        };
        let add = move |response: &mut HttpResponse| {
            if let Some(value) = allowed.as_deref().and_then(|v| http::HeaderValue::from_str(v).ok()) {
                let h = response.headers_mut();
                h.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
                h.insert(
                    http::header::ACCESS_CONTROL_ALLOW_METHODS,
                    http::HeaderValue::from_static("POST, GET, OPTIONS"),
                );
                h.insert(http::header::ACCESS_CONTROL_ALLOW_HEADERS, http::HeaderValue::from_static("content-type"));
            }
        };
        if request.method() == http::Method::OPTIONS {
            let mut response = HttpResponse::new(HttpBody::empty());
            *response.status_mut() = http::StatusCode::NO_CONTENT;
            add(&mut response);
            return Box::pin(async move { Ok(response) });
        }
        let fut = self.inner.call(request);
        Box::pin(async move {
            let mut response = fut.await?;
            add(&mut response);
            Ok(response)
        })
    }
}

/// Subscription ids as geth writes them: `0x` and 32 hex digits (web3.py checks the form).
#[derive(Debug)]
struct HexIdProvider;

impl jsonrpsee::server::IdProvider for HexIdProvider {
    fn next_id(&self) -> jsonrpsee::types::SubscriptionId<'static> {
        let id: [u8; 16] = rand::random();
        jsonrpsee::types::SubscriptionId::Str(hex::encode_prefixed(id).into())
    }
}

/// A running JSON-RPC server.
#[derive(Debug)]
pub struct RpcServer {
    /// The address it listens on.
    pub local_addr: SocketAddr,
    /// Stops the server when dropped or stopped.
    pub handle: ServerHandle,
    /// Feeds and expires polling filters.
    pub maintenance: tokio::task::JoinHandle<()>,
}

/// Start the JSON-RPC server on `addr` (port 0 picks a free port).
///
/// The accept loop is the node's own (jsonrpsee's service builder serves each
/// connection) so that every request carries its client's address
/// ([`client_limits::ClientIp`]) for the per-client limits.
pub async fn start(addr: SocketAddr, chain: Arc<Chain>, config: RpcConfig) -> std::io::Result<RpcServer> {
    let metrics = chain.metrics().clone();
    let server_config = ServerConfig::builder()
        .max_request_body_size(config.max_request_body_bytes)
        .max_response_body_size(config.max_response_body_bytes)
        .max_connections(config.max_connections)
        .max_subscriptions_per_connection(config.max_subscriptions_per_connection)
        .set_batch_request_config(BatchRequestConfig::Limit(config.max_batch_size))
        .set_id_provider(HexIdProvider)
        .build();
    let limiter = client_limits::RateLimiter::new(config.rate_limit_per_ip, config.rate_limit_burst);
    let auth = config.auth.clone().map(Arc::new);
    let cors = CorsLayer(Arc::new(config.cors_origins.clone()));
    let service = Server::builder()
        .set_config(server_config)
        .set_http_middleware(tower::ServiceBuilder::new().layer(cors))
        .set_rpc_middleware(
            RpcServiceBuilder::new()
                .layer(ObserveLayer(metrics))
                .layer(gate::GateLayer(client_limits::RateLimitCheck(limiter.clone())))
                .layer(gate::GateLayer(auth::AuthCheck(auth.clone()))),
        )
        .to_service_builder();
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local_addr = listener.local_addr()?;
    let every_namespace_protected =
        config.auth.as_ref().is_some_and(|a| config.apis.iter().all(|n| a.protected.contains(n)));
    let tls = config.tls.clone();
    let context = new_context(chain, config);
    let module = methods(context.clone()).map_err(std::io::Error::other)?;
    // Latency and errors by method for exactly the methods served (a client
    // inventing method names cannot add labels).
    context.chain.metrics().rpc.register(module.method_names());
    let methods: Methods = module.into();
    let maintenance = tokio::spawn(async move {
        tokio::join!(filters::maintain(context.clone()), receipts::dispatch(context));
    });
    let (stop, handle) = stop_channel();
    let gates = Gates { limiter, auth, every_namespace_protected, tls };
    tokio::spawn(accept_loop(listener, service, methods, stop, gates));
    Ok(RpcServer { local_addr, handle, maintenance })
}

/// What the accept loop checks before a request reaches jsonrpsee.
struct Gates {
    limiter: Option<Arc<client_limits::RateLimiter>>,
    auth: Option<Arc<auth::AuthConfig>>,
    every_namespace_protected: bool,
    tls: Option<tls::Tls>,
}

/// How long a client has to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Gates {
    /// The answer to give at once instead of serving `request`, if any; else
    /// the request with its client and verified token attached.
    fn admit(&self, client: client_limits::ClientIp, request: &mut HttpRequest) -> Option<HttpResponse> {
        request.extensions_mut().insert(client);
        if let Some(limiter) = self.limiter.as_ref().filter(|l| l.exhausted(client, std::time::Instant::now())) {
            return Some(limiter.too_many_requests());
        }
        if let Some(auth) = &self.auth {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            match auth::check_request(auth, self.every_namespace_protected, request.headers(), now) {
                Ok(Some(claims)) => {
                    request.extensions_mut().insert(auth::Authorized(claims));
                }
                Ok(None) => {}
                Err(e) => return Some(auth::unauthorized(&e)),
            }
        }
        None
    }
}

/// Accept connections until the server is stopped; serve each with the
/// client's address (and verified token) attached to its requests,
/// answering `429` at once to a client whose budget is spent and `401` to a
/// refused token.
async fn accept_loop<R, H>(
    listener: tokio::net::TcpListener,
    service: TowerServiceBuilder<R, H>,
    methods: Methods,
    stop: StopHandle,
    gates: Gates,
) where
    TowerServiceBuilder<R, H>: Clone,
    TowerService<R, H>: tower::Service<HttpRequest, Response = HttpResponse, Error = jsonrpsee::core::BoxError>
        + Clone
        + Send
        + 'static,
    <TowerService<R, H> as tower::Service<HttpRequest>>::Future: Send + 'static,
{
    let gates = Arc::new(gates);
    loop {
        let (socket, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: wait rather than spin.
                    tracing::warn!(error = %e, "JSON-RPC cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.clone().shutdown() => return,
        };
        // As jsonrpsee's own server does: small answers leave at once, not after a delayed ACK.
        if let Err(e) = socket.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a JSON-RPC connection");
        }
        let client = client_limits::ClientIp(remote.ip());
        let connection = service.clone().build(methods.clone(), stop.clone());
        let tls = gates.tls.clone();
        let gates = gates.clone();
        let per_request = tower::service_fn(move |request: http::Request<hyper::body::Incoming>| {
            let mut request = request.map(HttpBody::new);
            let refusal = gates.admit(client, &mut request);
            let mut connection = connection.clone();
            async move {
                match refusal {
                    Some(response) => Ok(response),
                    None => tower::Service::call(&mut connection, request).await,
                }
            }
        });
        let stopped = stop.clone().shutdown();
        let span = tracing::debug_span!("rpc connection", %remote);
        match tls {
            None => {
                tokio::spawn(
                    jsonrpsee::server::serve_with_graceful_shutdown(socket, per_request, stopped).instrument(span),
                );
            }
            Some(tls) => {
                tokio::spawn(serve_tls(tls, socket, per_request, stopped).instrument(span));
            }
        }
    }
}

/// Serve one connection over TLS: the handshake runs in the connection's own
/// task (bounded in time), so a slow or refused client holds up no one else.
async fn serve_tls<S>(
    tls: tls::Tls,
    socket: tokio::net::TcpStream,
    service: S,
    stopped: impl Future<Output = ()> + Send + 'static,
) where
    S: tower::Service<http::Request<hyper::body::Incoming>, Response = HttpResponse, Error = jsonrpsee::core::BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.acceptor.accept(socket)).await {
        Ok(Ok(stream)) => {
            if let Err(e) = jsonrpsee::server::serve_with_graceful_shutdown(stream, service, stopped).await {
                tracing::debug!(error = %e, "JSON-RPC connection over TLS ended with an error");
            }
        }
        Ok(Err(e)) => tracing::debug!(error = %e, mutual = tls.mutual, "TLS handshake refused"),
        Err(_) => tracing::debug!("TLS handshake timed out"),
    }
}

/// The shared state of a server with `config` over `chain`.
fn new_context(chain: Arc<Chain>, config: RpcConfig) -> Arc<RpcContext> {
    Arc::new(RpcContext {
        admission: admit::AdmissionPool::new(chain.clone()),
        chain,
        filters: filter_store::Filters::new(config.max_filters, config.max_filters_per_client),
        subscriptions: bounded::Bounded::new(config.max_subscriptions, "subscriptions open"),
        receipt_waiters: receipts::ReceiptWaiters::new(config.max_waiting_sends),
        config,
        client_version: format!("dsec/v{}/rust", env!("CARGO_PKG_VERSION")),
    })
}

/// Every method a node with `config` serves over `chain`, without a server:
/// for tests, fuzzing and embedding (run a request with
/// `RpcModule::raw_json_request`). Polling filters are neither fed nor
/// expired, as that is the server's task.
pub fn module(
    chain: Arc<Chain>,
    config: RpcConfig,
) -> Result<RpcModule<RpcContext>, jsonrpsee::core::RegisterMethodError> {
    methods(new_context(chain, config))
}

/// Every namespace's methods on one module over `context`.
fn methods(context: Arc<RpcContext>) -> Result<RpcModule<RpcContext>, jsonrpsee::core::RegisterMethodError> {
    let apis = context.config.apis.clone();
    let mut module = RpcModule::from_arc(context);
    for namespace in Namespace::ALL.into_iter().filter(|n| apis.contains(n)) {
        match namespace {
            Namespace::Web3 => web3::register(&mut module)?,
            Namespace::Net => net::register(&mut module)?,
            Namespace::Eth => {
                eth::register(&mut module)?;
                filters::register(&mut module)?;
                pubsub::register(&mut module)?;
            }
            Namespace::Debug => debug::register(&mut module)?,
            Namespace::Dsec => dsec::register(&mut module)?,
            Namespace::Perm => perm::register(&mut module)?,
        }
    }
    Ok(module)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::ChainOptions;
    use dsec_genesis::devnet::{DevnetSpec, generate};

    /// The methods a node with `config` serves (on a fresh devnet chain).
    fn module_with(config: RpcConfig) -> (RpcModule<RpcContext>, tempfile::TempDir) {
        let devnet = generate(&DevnetSpec::default());
        let dir = tempfile::tempdir().unwrap();
        let chain = Chain::open(dir.path(), devnet.genesis, ChainOptions::default(), Arc::new(Metrics::default()));
        (module(Arc::new(chain.unwrap()), config).unwrap(), dir)
    }

    #[test]
    fn the_namespaces_together_register_every_method_once() {
        let (module, _dir) = module_with(RpcConfig { apis: Namespace::ALL.to_vec(), ..RpcConfig::default() });
        let mut names: Vec<&str> = module.method_names().collect();
        names.sort_unstable();
        let mut expected = vec![
            "web3_clientVersion",
            "web3_sha3",
            "net_version",
            "net_listening",
            "net_peerCount",
            "eth_chainId",
            "eth_syncing",
            "eth_blockNumber",
            "eth_accounts",
            "eth_coinbase",
            "eth_mining",
            "eth_hashrate",
            "eth_gasPrice",
            "eth_maxPriorityFeePerGas",
            "eth_blobBaseFee",
            "eth_feeHistory",
            "eth_getBalance",
            "eth_getTransactionCount",
            "eth_getCode",
            "eth_getStorageAt",
            "eth_call",
            "eth_createAccessList",
            "eth_estimateGas",
            "eth_sendRawTransaction",
            "eth_sendRawTransactionSync",
            "eth_getTransactionByHash",
            "eth_getTransactionReceipt",
            "eth_getBlockReceipts",
            "eth_getBlockByNumber",
            "eth_getBlockByHash",
            "eth_getBlockTransactionCountByNumber",
            "eth_getBlockTransactionCountByHash",
            "eth_getUncleCountByBlockNumber",
            "eth_getUncleCountByBlockHash",
            "eth_getTransactionByBlockNumberAndIndex",
            "eth_getTransactionByBlockHashAndIndex",
            "eth_getLogs",
            "eth_newFilter",
            "eth_newBlockFilter",
            "eth_newPendingTransactionFilter",
            "eth_getFilterChanges",
            "eth_getFilterLogs",
            "eth_uninstallFilter",
            "eth_subscribe",
            "eth_unsubscribe",
            "debug_traceTransaction",
            "debug_traceCall",
            "dsec_getCommit",
            "dsec_getValidators",
            "dsec_getEvidence",
            "dsec_getTransactionProof",
            "dsec_genesisHash",
            "dsec_mempoolSize",
            "dsec_permissions",
            "perm_getAccountsAllowlist",
            "perm_getNodesAllowlist",
        ];
        expected.sort_unstable();
        assert_eq!(names, expected);
    }

    #[test]
    fn only_the_selected_namespaces_are_served() {
        assert!(RpcConfig::default().cors_origins.is_empty(), "CORS is off unless configured");
        let (module, _dir) = module_with(RpcConfig::default());
        let names: Vec<&str> = module.method_names().collect();
        assert!(names.contains(&"eth_call") && names.contains(&"dsec_getCommit") && names.contains(&"eth_subscribe"));
        assert!(!names.iter().any(|n| n.starts_with("debug_")), "debug is off by default: {names:?}");
        assert_eq!("debug".parse::<Namespace>(), Ok(Namespace::Debug));
        let err = "admin".parse::<Namespace>().unwrap_err();
        assert!(err.contains("admin") && err.contains("eth, net, web3, debug, dsec, perm"), "{err}");
    }
}
