//! Authenticated JSON-RPC: JWT bearer tokens (RFC 7519) on HTTP and
//! WebSocket, verified with a shared secret (`HS256`, as geth's authenticated
//! endpoint does) or a public key, so the node holds no secret that can mint
//! tokens, as Besu's public-key authentication does: Ed25519 (`EdDSA`),
//! ECDSA P-256 (`ES256`) or RSA (`RS256`, 2048 to 8192 bits), read from a PEM
//! `PUBLIC KEY` file ([`public_key_from_pem`]) or, for Ed25519, 32 hex bytes.
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
    /// An ECDSA P-256 public key (`ES256`), as an uncompressed SEC 1 point.
    Es256(Vec<u8>),
    /// An RSA public key (`RS256`, PKCS #1 v1.5), as DER `RSAPublicKey`.
    Rs256(Vec<u8>),
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Hs256(_) => f.write_str("JwtKey::Hs256(<secret>)"),
            Self::EdDsa(key) => write!(f, "JwtKey::EdDsa({})", alloy_primitives::hex::encode(key.as_bytes())),
            Self::Es256(point) => write!(f, "JwtKey::Es256({})", alloy_primitives::hex::encode(point)),
            Self::Rs256(der) => write!(f, "JwtKey::Rs256({} bytes)", der.len()),
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
            Self::Es256(_) => "ES256",
            Self::Rs256(_) => "RS256",
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
            // JWS ES256 signatures are r ‖ s, 32 bytes each (RFC 7518 §3.4).
            Self::Es256(point) => {
                ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(signed.as_bytes(), &signature)
                    .is_ok()
            }
            Self::Rs256(der) => {
                ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, der)
                    .verify(signed.as_bytes(), &signature)
                    .is_ok()
            }
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

/// One DER element: its tag, its content and what follows it.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The verifying key in a PEM `PUBLIC KEY` (X.509 SubjectPublicKeyInfo):
/// Ed25519 (`EdDSA`), ECDSA on P-256 (`ES256`) or RSA (`RS256`).
pub fn public_key_from_pem(pem: &str) -> Result<JwtKey, String> {
    const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
    const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "-----BEGIN PUBLIC KEY-----")
        .skip(1)
        .take_while(|l| *l != "-----END PUBLIC KEY-----")
        .collect();
    if body.is_empty() {
        return Err("no -----BEGIN PUBLIC KEY----- block (export one with `openssl pkey -pubout`)".into());
    }
    let der = base64::engine::general_purpose::STANDARD.decode(body).map_err(|e| format!("PEM body: {e}"))?;
    let bad = || "not an X.509 SubjectPublicKeyInfo".to_string();
    let (0x30, spki, _) = der_element(&der).ok_or_else(bad)? else { return Err(bad()) };
    let (0x30, algorithm, rest) = der_element(spki).ok_or_else(bad)? else { return Err(bad()) };
    let (0x03, bits, _) = der_element(rest).ok_or_else(bad)? else { return Err(bad()) };
    let key = match bits.split_first() {
        Some((0, key)) => key,
        _ => return Err(bad()),
    };
    let (0x06, oid, parameters) = der_element(algorithm).ok_or_else(bad)? else { return Err(bad()) };
    match oid {
        ED25519 => <[u8; 32]>::try_from(key)
            .ok()
            .and_then(|k| ed25519_dalek::VerifyingKey::from_bytes(&k).ok())
            .map(JwtKey::EdDsa)
            .ok_or_else(|| "not a valid Ed25519 public key".into()),
        EC_PUBLIC_KEY => match der_element(parameters) {
            Some((0x06, P256, _)) if key.len() == 65 && key[0] == 4 => Ok(JwtKey::Es256(key.to_vec())),
            Some((0x06, P256, _)) => Err("an EC key on P-256 must be an uncompressed point".into()),
            _ => Err("an EC key must be on P-256 (ES256)".into()),
        },
        RSA => Ok(JwtKey::Rs256(key.to_vec())),
        _ => Err("unsupported key type: use Ed25519, ECDSA P-256 or RSA".into()),
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

    /// A test token signed with `alg` by a key outside this crate (ring's signers).
    fn foreign_token(alg: &str, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{},"scope":["eth"]}}"#, NOW + 60));
        let signed = format!("{header}.{payload}");
        let signature = sign(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn pem(der: &[u8]) -> String {
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
    }

    /// SubjectPublicKeyInfo DER of an uncompressed P-256 point.
    fn p256_spki(point: &[u8]) -> Vec<u8> {
        let algorithm = [
            0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
            0x03, 0x01, 0x07,
        ];
        let mut bits = vec![0x03, 0x42, 0x00];
        bits.extend_from_slice(point);
        let mut spki = vec![0x30, 0x59];
        spki.extend_from_slice(&algorithm);
        spki.extend_from_slice(&bits);
        spki
    }

    #[test]
    fn es256_tokens_verify_with_a_pem_public_key() {
        use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let key = public_key_from_pem(&pem(&p256_spki(pair.public_key().as_ref()))).unwrap();
        assert!(matches!(key, JwtKey::Es256(_)));
        let token = foreign_token("ES256", |m| pair.sign(&rng, m).unwrap().as_ref().to_vec());
        let claims = key.verify(&token, NOW).unwrap();
        assert!(claims.allows("eth_call") && !claims.allows("debug_traceCall"));
        let forged = foreign_token("ES256", |_| vec![1; 64]);
        assert_eq!(key.verify(&forged, NOW), Err(TokenError::Signature));
        let hs = JwtSigner::Hs256(vec![1; 32]).sign(&claims_of(None));
        assert_eq!(key.verify(&hs, NOW), Err(TokenError::Algorithm("HS256".into(), "ES256")));
    }

    #[test]
    fn rs256_tokens_verify_with_a_pem_public_key() {
        // A 2048-bit key and a token signed with `openssl dgst -sha256 -sign`
        // (exp in 2100, scope eth); the private key was not kept.
        const PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAoo1ohs/cVRPTZounBHBc\n5Li1eunb9xMk9O3Ss+QexogBRjKVv4E3TtwAO2ymL5mn1sdC8F/6D1Up/nCIJvzZ\n2DMRFO4XbiTRjslSXdtzaT8ElElz6vLAS6+YnhvfKuM5jD/G7AjxhI8gOTAeyWiI\nkbAfhlF/b1jYxY6lfhvCYeyMjKwxMc6lIbhlhozfX/L0ilA67ZqURj+kHDpPpF2Q\nsd1OLCLg1/Xp6pb4eP0Tw9PiUOLldh5uZBwdtjivexTj1B9T2z/MmMAApomNN8Ak\nxwyepCVsJMnFiRSrvACL/COsrUWICxqU6+IDkSAJZ+VFia0kdJ+xAp+dZ2lZyJj4\niwIDAQAB\n-----END PUBLIC KEY-----";
        const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInNjb3BlIjpbImV0aCJdfQ.hFcSCF6vbklnyp-E0lYKsH15IGzwHLXg9oJXlwi3CbKlN6suv-GrxOX0OKWK8Zig-3utdX0YwtvMSRhjhbCneqUwLAqD2f85G3cUMo8KgIp1aSP3DinztrnwMowcqb-YNebL_LQ6O9FR3_VyH1Lk62hdSsgz48uThSNa2Bj1RPmvhGaPsBQbvPLqdNZvA4crzqt6ALK2mS21VnUZiIDq6uYRBhvzW7ppDYp6EFH4ymd1Bjqnw3pii0ml0gtK-do5iUdcDf_28sSwac7lEBgFdbGkxg1LsRGQwOQQc6gLUiiEcAG7-s5EFDRrdUqry6EGl-pabJAKGcswctNtC2QMZw";
        let key = public_key_from_pem(PUBLIC).unwrap();
        assert!(matches!(key, JwtKey::Rs256(_)));
        assert!(key.verify(TOKEN, NOW).unwrap().allows("eth_getBalance"));
        let at = TOKEN.len() - 10;
        let swap = if &TOKEN[at..=at] == "A" { "B" } else { "A" };
        let tampered = format!("{}{swap}{}", &TOKEN[..at], &TOKEN[at + 1..]);
        assert_eq!(key.verify(&tampered, NOW), Err(TokenError::Signature));
    }

    fn claims_of(scope: Option<&[&str]>) -> Claims {
        claims(scope)
    }

    #[test]
    fn pem_keys_are_recognised_or_refused_by_name() {
        // An Ed25519 SubjectPublicKeyInfo (RFC 8410 example key).
        let ed = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        assert!(matches!(public_key_from_pem(ed), Ok(JwtKey::EdDsa(_))));
        assert!(public_key_from_pem("hello").unwrap_err().contains("BEGIN PUBLIC KEY"));
        let junk = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(public_key_from_pem(junk).unwrap_err().contains("SubjectPublicKeyInfo"));
        let mut other_curve = p256_spki(&[4; 65]);
        other_curve[20] = 0x08; // a byte of the curve OID
        assert!(public_key_from_pem(&pem(&other_curve)).unwrap_err().contains("P-256"));
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
