//! The request path `dsec load` measures with: one keep-alive HTTP/1.1
//! connection per concurrent sender, posting JSON-RPC requests serialised
//! before the clock starts. Wallets and payment gateways send this way (one
//! `eth_sendRawTransaction` per request, many connections); the general
//! JSON-RPC client ([`dsec_sdk::client::RpcClient`]) spends several times the
//! CPU per request (request ids, a connection pool, generic serialisation),
//! which on a machine shared with the node would be taken from the node and
//! counted against it.

use alloy_primitives::{B256, Bytes};
use eyre::{WrapErr, bail, eyre};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper_util::rt::TokioIo;

/// Where the requests go: an `http://host:port/path` URL, checked once.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    authority: String,
    host: HeaderValue,
    path: hyper::Uri,
}

impl Endpoint {
    /// Parse `url` (`http://` only: the lean path speaks plain HTTP/1.1).
    pub(crate) fn parse(url: &str) -> eyre::Result<Self> {
        let uri: hyper::Uri = url.parse().wrap_err_with(|| format!("--rpc: not a URL: {url}"))?;
        if uri.scheme_str() != Some("http") {
            bail!(
                "--rpc: one transaction per request is sent over plain http:// (got {url}); use --batch for other URLs"
            );
        }
        let authority = uri.authority().ok_or_else(|| eyre!("--rpc: no host in {url}"))?;
        let port = authority.port_u16().unwrap_or(80);
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).parse().wrap_err("--rpc: bad path")?;
        Ok(Self {
            authority: format!("{}:{port}", authority.host()),
            host: HeaderValue::from_str(authority.as_str()).wrap_err("--rpc: bad host")?,
            path,
        })
    }
}

/// The body of `eth_sendRawTransaction` for `raw`, ready to post.
pub(crate) fn send_raw_body(raw: &Bytes) -> bytes::Bytes {
    let mut body = String::with_capacity(raw.len() * 2 + 80);
    body.push_str(r#"{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":[""#);
    body.push_str(&alloy_primitives::hex::encode_prefixed(raw));
    body.push_str(r#""]}"#);
    bytes::Bytes::from(body)
}

/// What a node answered to one `eth_sendRawTransaction`.
#[derive(serde::Deserialize)]
struct Answer {
    result: Option<B256>,
    error: Option<AnswerError>,
}

#[derive(serde::Deserialize)]
struct AnswerError {
    code: i64,
    message: String,
}

/// One keep-alive HTTP/1.1 connection to the node.
pub(crate) struct Connection {
    endpoint: Endpoint,
    sender: Option<SendRequest<Full<bytes::Bytes>>>,
}

impl Connection {
    /// A connection to `endpoint`, opened on first use (and again after a failure).
    pub(crate) fn new(endpoint: Endpoint) -> Self {
        Self { endpoint, sender: None }
    }

    async fn open(&self) -> eyre::Result<SendRequest<Full<bytes::Bytes>>> {
        let stream = tokio::net::TcpStream::connect(&self.endpoint.authority)
            .await
            .wrap_err_with(|| format!("cannot connect to {}", self.endpoint.authority))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(sender)
    }

    /// Post a pre-serialised `eth_sendRawTransaction` body; the hash the node
    /// answered, or its error. A broken connection is reopened on the next call.
    pub(crate) async fn send_raw(&mut self, body: bytes::Bytes) -> eyre::Result<B256> {
        let result = self.post(body).await;
        if result.is_err() {
            self.sender = None;
        }
        let answer: Answer = serde_json::from_slice(&result?).wrap_err("the node's answer is not JSON-RPC")?;
        match (answer.result, answer.error) {
            (Some(hash), None) => Ok(hash),
            (_, Some(e)) => Err(eyre!("{} (code {})", e.message, e.code)),
            (None, None) => Err(eyre!("the node's answer has neither a result nor an error")),
        }
    }

    async fn post(&mut self, body: bytes::Bytes) -> eyre::Result<bytes::Bytes> {
        let sender = match &mut self.sender {
            Some(sender) => sender,
            None => self.sender.insert(self.open().await?),
        };
        sender.ready().await?;
        let request = hyper::Request::post(self.endpoint.path.clone())
            .header(HOST, self.endpoint.host.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(Full::new(body))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            bail!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(200)]));
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked_once() {
        let e = Endpoint::parse("http://127.0.0.1:8545").unwrap();
        assert_eq!(e.authority, "127.0.0.1:8545");
        assert_eq!(e.path, "/");
        let e = Endpoint::parse("http://node.example/rpc?x=1").unwrap();
        assert_eq!(e.authority, "node.example:80");
        assert_eq!(e.path, "/rpc?x=1");
        assert!(Endpoint::parse("https://127.0.0.1:8545").unwrap_err().to_string().contains("http://"));
        assert!(Endpoint::parse("not a url").is_err());
    }

    #[test]
    fn the_body_is_the_request_a_wallet_sends() {
        let body = send_raw_body(&Bytes::from_static(&[0x02, 0xab]));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["method"], "eth_sendRawTransaction");
        assert_eq!(v["params"][0], "0x02ab");
        assert_eq!(v["jsonrpc"], "2.0");
    }
}
