//! Authenticated JSON-RPC: JWT bearer tokens (RFC 7519) on HTTP and
//! WebSocket, verified with a shared secret (`HS256`, as geth's authenticated
//! endpoint does) or an Ed25519 public key (`EdDSA`, so the node holds no
//! secret that can mint tokens, as Besu's public-key authentication does).
//!
//! A token carries `exp` (required: seconds since the epoch) and may carry
//! `scope`, the namespaces (`"eth"`) and methods (`"debug_traceCall"`) it may
//! call; without `scope` it may call every method the node serves. Which
//! namespaces need a token is configured (`[rpc] auth_namespaces`, all of
//! them by default once a key is set).
//!
//! Refusals: a token that is malformed, badly signed, expired or of another
//! algorithm is answered HTTP `401` with a JSON-RPC error body before the
//! request is read; so is a request without a token when every namespace
//! needs one. Otherwise a call to a protected namespace without a token, or
//! outside the token's scope, gets the JSON-RPC error `-32001` naming the
//! method.

use super::Namespace;
use super::gate::CallCheck;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, Verifier as _};
use hmac::{Hmac, Mac};
use jsonrpsee::server::{HttpBody, HttpResponse};
use jsonrpsee::types::ErrorObjectOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// JSON-RPC code of a call refused for want of authorization.
pub const UNAUTHORIZED_CODE: i32 = -32001;

/// What verifies (and, for tools and tests, signs) tokens.
#[derive(Clone)]
pub enum JwtKey {
    /// A shared secret (`HS256`): whoever holds it can mint tokens.
    Hs256(Vec<u8>),
    /// An Ed25519 public key (`EdDSA`): the node only verifies.
    EdDsa(ed25519_dalek::VerifyingKey),
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Hs256(_) => f.write_str("JwtKey::Hs256(<secret>)"),
            Self::EdDsa(key) => write!(f, "JwtKey::EdDsa({})", alloy_primitives::hex::encode(key.as_bytes())),
        }
    }
}

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// Not three base64url parts of JSON.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// Signed with another algorithm than the node's key.
    #[error("token algorithm {0} is not accepted (this node verifies {1})")]
    Algorithm(String, &'static str),
    /// The signature does not verify.
    #[error("bad token signature")]
    Signature,
    /// Past its `exp`.
    #[error("token expired at {0}")]
    Expired(u64),
}

/// The claims dsec reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Namespaces and methods the token may call (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<String>>,
}

impl Claims {
    /// Whether the token may call `method`.
    pub fn allows(&self, method: &str) -> bool {
        let namespace = method.split('_').next().unwrap_or(method);
        self.scope.as_ref().is_none_or(|scope| scope.iter().any(|s| s == method || s == namespace))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
}

impl JwtKey {
    fn algorithm(&self) -> &'static str {
        match self {
            Self::Hs256(_) => "HS256",
            Self::EdDsa(_) => "EdDSA",
        }
    }

    /// Verify `token` at `now` (seconds since the epoch) and return its claims.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("expected three dot-separated parts".into()));
        };
        let decode = |part: &str, what: &str| {
            URL_SAFE_NO_PAD.decode(part).map_err(|e| TokenError::Malformed(format!("{what} is not base64url: {e}")))
        };
        let parsed: Header = serde_json::from_slice(&decode(header, "header")?)
            .map_err(|e| TokenError::Malformed(format!("header: {e}")))?;
        if parsed.alg != self.algorithm() {
            return Err(TokenError::Algorithm(parsed.alg, self.algorithm()));
        }
        let signature = decode(signature, "signature")?;
        let signed = &token[..header.len() + 1 + payload.len()];
        let verified = match self {
            // `verify_slice` compares in constant time.
            Self::Hs256(secret) => {
                hmac_sha256(secret, signed.as_bytes()).is_some_and(|mac| mac.verify_slice(&signature).is_ok())
            }
            Self::EdDsa(key) => ed25519_dalek::Signature::from_slice(&signature)
                .is_ok_and(|sig| key.verify(signed.as_bytes(), &sig).is_ok()),
        };
        if !verified {
            return Err(TokenError::Signature);
        }
        let claims: Claims = serde_json::from_slice(&decode(payload, "payload")?)
            .map_err(|e| TokenError::Malformed(format!("claims: {e}")))?;
        if claims.exp <= now {
            return Err(TokenError::Expired(claims.exp));
        }
        Ok(claims)
    }
}

fn hmac_sha256(secret: &[u8], data: &[u8]) -> Option<Hmac<sha2::Sha256>> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).ok()?;
    mac.update(data);
    Some(mac)
}

/// What signs tokens (`dsec jwt new` and tests).
#[derive(Clone)]
pub enum JwtSigner {
    /// A shared secret (`HS256`).
    Hs256(Vec<u8>),
    /// An Ed25519 signing key (`EdDSA`).
    EdDsa(ed25519_dalek::SigningKey),
}

impl JwtSigner {
    /// An `EdDSA` signer from an Ed25519 seed (a validator key file's secret).
    pub fn ed25519_from_seed(seed: &[u8; 32]) -> Self {
        Self::EdDsa(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The public key that verifies this signer's `EdDSA` tokens (`None` for a shared secret).
    pub fn public_key(&self) -> Option<[u8; 32]> {
        match self {
            Self::Hs256(_) => None,
            Self::EdDsa(key) => Some(key.verifying_key().to_bytes()),
        }
    }

    /// A token carrying `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        let alg = match self {
            Self::Hs256(_) => "HS256",
            Self::EdDsa(_) => "EdDSA",
        };
        let header = serde_json::json!({ "alg": alg, "typ": "JWT" });
        let encode = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let claims = serde_json::to_value(claims).unwrap_or_default();
        let signed = format!("{}.{}", encode(&header), encode(&claims));
        let signature = match self {
            Self::Hs256(secret) => {
                hmac_sha256(secret, signed.as_bytes()).map(|m| m.finalize().into_bytes().to_vec()).unwrap_or_default()
            }
            Self::EdDsa(key) => key.sign(signed.as_bytes()).to_bytes().to_vec(),
        };
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// Who must present a token, and how tokens are checked.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The verifying key.
    pub key: JwtKey,
    /// Namespaces whose methods need a token.
    pub protected: Vec<Namespace>,
}

impl AuthConfig {
    fn protects(&self, method: &str) -> bool {
        let namespace = method.split('_').next().unwrap_or(method);
        self.protected.iter().any(|n| n.name() == namespace)
    }
}

/// A request's verified token, as a request extension.
#[derive(Debug, Clone)]
pub struct Authorized(pub Claims);

/// The `401 Unauthorized` answer to a request whose token is refused.
pub fn unauthorized(error: &TokenError) -> HttpResponse {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": UNAUTHORIZED_CODE, "message": format!("unauthorized: {error}") },
    });
    let mut response = HttpResponse::new(HttpBody::from(body.to_string()));
    *response.status_mut() = http::StatusCode::UNAUTHORIZED;
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    headers.insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
    response
}

/// Check an HTTP request's bearer token: the claims to attach, or the refusal to answer with.
pub fn check_request(
    auth: &AuthConfig,
    every_namespace_protected: bool,
    headers: &http::HeaderMap,
    now: u64,
) -> Result<Option<Claims>, TokenError> {
    let token = match headers.get(http::header::AUTHORIZATION) {
        None if every_namespace_protected => return Err(TokenError::Missing),
        None => return Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .ok_or_else(|| TokenError::Malformed("expected `Authorization: Bearer <token>`".into()))?,
    };
    auth.key.verify(token.trim(), now).map(Some)
}

/// Refuses calls to protected namespaces without a token, and calls outside a token's scope.
#[derive(Clone)]
pub(super) struct AuthCheck(pub(super) Option<Arc<AuthConfig>>);

impl CallCheck for AuthCheck {
    fn refuse(&self, method: &str, extensions: &jsonrpsee::Extensions) -> Option<ErrorObjectOwned> {
        let auth = self.0.as_deref()?;
        let message = match extensions.get::<Authorized>().map(|a| &a.0) {
            Some(claims) if claims.allows(method) => return None,
            Some(_) => format!("unauthorized: {method} is outside the token's scope"),
            None if auth.protects(method) => format!("unauthorized: {method} needs a bearer token"),
            None => return None,
        };
        Some(ErrorObjectOwned::owned(UNAUTHORIZED_CODE, message, None::<()>))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn claims(scope: Option<&[&str]>) -> Claims {
        Claims { exp: NOW + 60, scope: scope.map(|s| s.iter().map(|x| x.to_string()).collect()) }
    }

    #[test]
    fn hs256_tokens_verify_and_every_refusal_is_named() {
        let secret = vec![7u8; 32];
        let (key, signer) = (JwtKey::Hs256(secret.clone()), JwtSigner::Hs256(secret));
        let token = signer.sign(&claims(Some(&["eth", "debug_traceCall"])));
        let verified = key.verify(&token, NOW).unwrap();
        assert!(verified.allows("eth_call") && verified.allows("debug_traceCall"));
        assert!(!verified.allows("debug_traceTransaction") && !verified.allows("perm_getAccountsAllowlist"));

        assert_eq!(key.verify(&token, NOW + 60), Err(TokenError::Expired(NOW + 60)));
        let other = JwtSigner::Hs256(vec![8u8; 32]).sign(&claims(None));
        assert_eq!(key.verify(&other, NOW), Err(TokenError::Signature));
        let mut tampered = token.clone();
        tampered.insert(token.find('.').unwrap() + 2, 'x');
        assert!(key.verify(&tampered, NOW).is_err(), "a changed payload is refused");
        assert!(matches!(key.verify("a.b", NOW), Err(TokenError::Malformed(_))));
        let ed = JwtSigner::EdDsa(ed25519_dalek::SigningKey::from_bytes(&[1; 32])).sign(&claims(None));
        assert_eq!(key.verify(&ed, NOW), Err(TokenError::Algorithm("EdDSA".into(), "HS256")));
        // `alg: none` is never accepted.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{}}}"#, NOW + 60))
        );
        assert_eq!(key.verify(&none, NOW), Err(TokenError::Algorithm("none".into(), "HS256")));
    }

    #[test]
    fn eddsa_tokens_verify_with_the_public_key_only() {
        let signing = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let key = JwtKey::EdDsa(signing.verifying_key());
        let token = JwtSigner::EdDsa(signing).sign(&claims(None));
        assert!(key.verify(&token, NOW).unwrap().allows("debug_traceCall"));
        let stranger = JwtSigner::EdDsa(ed25519_dalek::SigningKey::from_bytes(&[6; 32])).sign(&claims(None));
        assert_eq!(key.verify(&stranger, NOW), Err(TokenError::Signature));
    }

    #[test]
    fn requests_need_a_token_only_where_configured() {
        let auth = AuthConfig { key: JwtKey::Hs256(vec![1; 32]), protected: vec![Namespace::Debug] };
        let mut headers = http::HeaderMap::new();
        assert_eq!(check_request(&auth, false, &headers, NOW), Ok(None));
        assert_eq!(check_request(&auth, true, &headers, NOW), Err(TokenError::Missing));
        headers.insert(http::header::AUTHORIZATION, http::HeaderValue::from_static("Basic abc"));
        assert!(matches!(check_request(&auth, false, &headers, NOW), Err(TokenError::Malformed(_))));
        let token = JwtSigner::Hs256(vec![1; 32]).sign(&claims(None));
        headers.insert(http::header::AUTHORIZATION, http::HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
        assert!(check_request(&auth, false, &headers, NOW).unwrap().is_some());
        assert!(auth.protects("debug_traceCall") && !auth.protects("eth_call"));
    }
}
