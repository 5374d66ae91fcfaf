//! Validator keys held in a PKCS#11 token: a hardware security module in
//! production, SoftHSM2 in tests. The node signs votes, proposals and proposal
//! parts with an ed25519 key the token generated and never lets out
//! (`CKA_SENSITIVE`, not `CKA_EXTRACTABLE`); only the public key leaves it.
//!
//! A key is named by an RFC 7512 PKCS#11 URI, wherever a validator key file
//! is accepted (`--validator-key`, the config's `validator_key`):
//!
//! ```text
//! pkcs11:token=dsec;object=validator-0?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/dsec/pin
//! ```
//!
//! - path attributes: `token` (the token's label), `slot-id`, `object` (the
//!   key's label, required), `type` (`private` if given);
//! - query attributes: `module-path` (the PKCS#11 library, required) and
//!   `pin-source` (a file holding the user PIN). Without `pin-source` the PIN
//!   is read from the `DSEC_PKCS11_PIN` environment variable. A `pin-value`
//!   in the URI is refused: URIs end up in configs, logs and shell histories.
//!
//! A session lost while the node runs (the token restarted, a network HSM
//! reconnected) is reopened once per signature before the signature fails.
//! Every signature is verified against the public key before it is used, so
//! a faulty token cannot make the validator publish a bad one.

use crate::validators::{SignerError, ValidatorSigner};
use alloy_primitives::B256;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};

/// The environment variable holding the user PIN when the URI has no `pin-source`.
pub const PIN_ENV: &str = "DSEC_PKCS11_PIN";

/// DER of the ed25519 curve's object identifier (1.3.101.112), the `CKA_EC_PARAMS` of an ed25519 key.
const ED25519_OID: [u8; 5] = [0x06, 0x03, 0x2B, 0x65, 0x70];
/// DER PrintableString "edwards25519", the older `CKA_EC_PARAMS` spelling some tokens use.
const ED25519_NAME: &[u8] = b"\x13\x0cedwards25519";

/// What went wrong opening or using a key in a PKCS#11 token.
#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    /// The URI is malformed or lacks a required attribute.
    #[error("PKCS#11 URI {uri:?}: {message}")]
    Uri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        message: String,
    },
    /// The module could not be loaded or initialised.
    #[error("PKCS#11 module {path}: {message}")]
    Module {
        /// The module's path.
        path: String,
        /// Why.
        message: String,
    },
    /// The token refused or lacks something (the token, the PIN, the key).
    #[error("{uri}: {message}")]
    Token {
        /// The URI of the key.
        uri: String,
        /// What happened.
        message: String,
    },
}

/// A parsed `pkcs11:` URI naming an ed25519 key in a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// The URI as given (it holds no PIN, so it may be logged).
    pub text: String,
    /// The PKCS#11 library to load.
    pub module_path: PathBuf,
    /// The token's label, if the URI names one.
    pub token: Option<String>,
    /// The slot, if the URI names one.
    pub slot_id: Option<u64>,
    /// The key's label (`CKA_LABEL`).
    pub object: String,
    /// The file holding the user PIN, if the URI names one.
    pub pin_source: Option<PathBuf>,
}

/// Whether `text` names a key in a token (and should be parsed as a [`Pkcs11Uri`]).
pub fn is_pkcs11_uri(text: &str) -> bool {
    text.starts_with("pkcs11:")
}

fn percent_decode(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(|| format!("incomplete %-escape in {value:?}"))?;
            let hex = std::str::from_utf8(hex).map_err(|_| format!("bad %-escape in {value:?}"))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad %-escape in {value:?}"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{value:?} is not UTF-8 once decoded"))
}

impl FromStr for Pkcs11Uri {
    type Err = HsmError;

    fn from_str(text: &str) -> Result<Self, HsmError> {
        let fail = |message: String| HsmError::Uri { uri: text.to_string(), message };
        let rest = text.strip_prefix("pkcs11:").ok_or_else(|| fail("does not start with pkcs11:".into()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (mut token, mut slot_id, mut object) = (None, None, None);
        for attribute in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) =
                attribute.split_once('=').ok_or_else(|| fail(format!("path attribute {attribute:?} has no '='")))?;
            let value = percent_decode(value).map_err(&fail)?;
            match name {
                "token" => token = Some(value),
                "object" => object = Some(value),
                "slot-id" => {
                    slot_id =
                        Some(value.parse::<u64>().map_err(|_| fail(format!("slot-id {value:?} is not a number")))?)
                }
                "type" if value == "private" => {}
                "type" => return Err(fail(format!("type={value}: a validator key is a private key (type=private)"))),
                other => {
                    return Err(fail(format!(
                        "unsupported path attribute {other:?} (supported: token, slot-id, object, type)"
                    )));
                }
            }
        }
        let (mut module_path, mut pin_source) = (None, None);
        for attribute in query.split('&').filter(|a| !a.is_empty()) {
            let (name, value) =
                attribute.split_once('=').ok_or_else(|| fail(format!("query attribute {attribute:?} has no '='")))?;
            let value = percent_decode(value).map_err(&fail)?;
            match name {
                "module-path" => module_path = Some(PathBuf::from(value)),
                "pin-source" => {
                    let file = value.strip_prefix("file:").unwrap_or(&value);
                    // "file:///etc/pin" and "file:/etc/pin" both name /etc/pin.
                    let file = file.strip_prefix("//").unwrap_or(file);
                    pin_source = Some(PathBuf::from(file));
                }
                "pin-value" => {
                    return Err(fail(format!(
                        "pin-value is refused (a URI ends up in configs and logs): put the PIN in a file named by pin-source=file:/path, or in {PIN_ENV}"
                    )));
                }
                other => {
                    return Err(fail(format!(
                        "unsupported query attribute {other:?} (supported: module-path, pin-source)"
                    )));
                }
            }
        }
        let module_path = module_path
            .ok_or_else(|| fail("module-path is missing (e.g. ?module-path=/usr/lib/softhsm/libsofthsm2.so)".into()))?;
        let object = object.ok_or_else(|| fail("object (the key's label) is missing".into()))?;
        Ok(Self { text: text.to_string(), module_path, token, slot_id, object, pin_source })
    }
}

impl std::fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Modules loaded by this process, each initialised once: a second
/// `C_Initialize` fails, and finalising one context would close every session.
static MODULES: Mutex<Option<HashMap<PathBuf, Pkcs11>>> = Mutex::new(None);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn module(path: &Path) -> Result<Pkcs11, HsmError> {
    let mut modules = lock(&MODULES);
    let modules = modules.get_or_insert_with(HashMap::new);
    if let Some(context) = modules.get(path) {
        return Ok(context.clone());
    }
    let fail = |message: String| HsmError::Module { path: path.display().to_string(), message };
    if !path.exists() {
        return Err(fail("no such file (is the HSM's PKCS#11 library installed?)".into()));
    }
    let context = Pkcs11::new(path).map_err(|e| fail(e.to_string()))?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(fail(e.to_string())),
    }
    modules.insert(path.to_path_buf(), context.clone());
    Ok(context)
}

fn read_pin(uri: &Pkcs11Uri) -> Result<AuthPin, HsmError> {
    let fail = |message: String| HsmError::Token { uri: uri.text.clone(), message };
    let pin = match &uri.pin_source {
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|e| fail(format!("PIN file {}: {e}", file.display())))?;
            text.trim_end_matches(['\r', '\n']).to_string()
        }
        None => std::env::var(PIN_ENV)
            .map_err(|_| fail(format!("no PIN: add pin-source=file:/path/to/pin to the URI or set {PIN_ENV}")))?,
    };
    if pin.is_empty() {
        return Err(fail("the PIN is empty".into()));
    }
    Ok(AuthPin::from(pin))
}

/// The slot of the token the URI names (by label or slot id); exactly one must match.
fn find_slot(context: &Pkcs11, uri: &Pkcs11Uri) -> Result<Slot, HsmError> {
    let fail = |message: String| HsmError::Token { uri: uri.text.clone(), message };
    let slots = context.get_slots_with_initialized_token().map_err(|e| fail(format!("listing slots: {e}")))?;
    let mut labels = Vec::new();
    let mut matching = Vec::new();
    for slot in slots {
        let label = context
            .get_token_info(slot)
            .map(|info| info.label().trim_end().to_string())
            .map_err(|e| fail(format!("reading token info: {e}")))?;
        let by_slot = uri.slot_id.is_none_or(|id| id == slot.id());
        let by_label = uri.token.as_ref().is_none_or(|wanted| *wanted == label);
        if by_slot && by_label {
            matching.push(slot);
        }
        labels.push(label);
    }
    match matching.as_slice() {
        [slot] => Ok(*slot),
        [] => Err(fail(format!("no token matches (tokens present: {})", quoted(&labels)))),
        _ => Err(fail(format!(
            "{} tokens match ({}): name one with token= or slot-id=",
            matching.len(),
            quoted(&labels)
        ))),
    }
}

fn quoted(labels: &[String]) -> String {
    if labels.is_empty() {
        return "none".into();
    }
    labels.iter().map(|l| format!("{l:?}")).collect::<Vec<_>>().join(", ")
}

/// An open, logged-in session and the key's handle in it.
struct Connection {
    session: Session,
    key: ObjectHandle,
}

/// Open a session on the token, log in, and find the key's private and public halves.
fn connect(uri: &Pkcs11Uri, pin: &AuthPin) -> Result<(Connection, B256), HsmError> {
    let fail = |message: String| HsmError::Token { uri: uri.text.clone(), message };
    let context = module(&uri.module_path)?;
    let slot = find_slot(&context, uri)?;
    let session = context.open_ro_session(slot).map_err(|e| fail(format!("opening a session: {e}")))?;
    login(&session, pin).map_err(&fail)?;
    let label = Attribute::Label(uri.object.as_bytes().to_vec());
    let find = |class: ObjectClass| {
        session
            .find_objects(&[Attribute::Class(class), Attribute::KeyType(KeyType::EC_EDWARDS), label.clone()])
            .map_err(|e| fail(format!("searching for the key: {e}")))
    };
    // Exactly one object of `class` carries the label.
    let only = |class: ObjectClass, what: &str, missing_hint: &str| match find(class)?.as_slice() {
        [handle] => Ok(*handle),
        [] => Err(fail(format!("the token holds no {what} labelled {:?}{missing_hint}", uri.object))),
        many => Err(fail(format!("{} {what}s are labelled {:?}", many.len(), uri.object))),
    };
    let key =
        only(ObjectClass::PRIVATE_KEY, "ed25519 private key", " (create one with `dsec keys generate --pkcs11 URI`)")?;
    let public = only(ObjectClass::PUBLIC_KEY, "ed25519 public key", " beside the private key")?;
    let attributes = session
        .get_attributes(public, &[AttributeType::EcParams, AttributeType::EcPoint])
        .map_err(|e| fail(format!("reading the public key: {e}")))?;
    let (mut params, mut point) = (None, None);
    for attribute in attributes {
        match attribute {
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    match params.as_deref() {
        Some(p) if p == ED25519_OID || p == ED25519_NAME => {}
        _ => return Err(fail(format!("the key labelled {:?} is not on curve ed25519", uri.object))),
    }
    let public_key = point.as_deref().and_then(ed25519_point).ok_or_else(|| {
        fail(format!("the public key labelled {:?} has no 32-byte ed25519 point (CKA_EC_POINT)", uri.object))
    })?;
    Ok((Connection { session, key }, public_key))
}

fn login(session: &Session, pin: &AuthPin) -> Result<(), String> {
    match session.login(UserType::User, Some(pin)) {
        Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(Pkcs11Error::Pkcs11(RvError::PinIncorrect, _)) => Err("the token refused the PIN".into()),
        Err(Pkcs11Error::Pkcs11(RvError::PinLocked, _)) => Err("the PIN is locked (too many wrong attempts)".into()),
        Err(e) => Err(format!("logging in: {e}")),
    }
}

/// The 32-byte point of `CKA_EC_POINT`: DER-wrapped (`04 20 ‖ point`, what
/// PKCS#11 3.0 specifies) or raw (what some tokens return).
fn ed25519_point(value: &[u8]) -> Option<B256> {
    match value {
        [0x04, 0x20, point @ ..] if point.len() == 32 => Some(B256::from_slice(point)),
        point if point.len() == 32 => Some(B256::from_slice(point)),
        _ => None,
    }
}

/// Errors after which a fresh session may succeed.
fn session_lost(error: &Pkcs11Error) -> bool {
    matches!(
        error,
        Pkcs11Error::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::UserNotLoggedIn
                | RvError::DeviceError,
            _
        )
    )
}

/// An ed25519 validator key inside a PKCS#11 token.
pub struct Pkcs11Key {
    uri: Pkcs11Uri,
    pin: AuthPin,
    public_key: B256,
    connection: Mutex<Option<Connection>>,
}

impl std::fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Key").field("uri", &self.uri.text).field("address", &self.address()).finish()
    }
}

impl Pkcs11Key {
    /// Open the key `uri` names: load the module, find the token, log in
    /// with the PIN, find the key, and check that it signs (one signature,
    /// verified against its public key).
    pub fn open(uri: &Pkcs11Uri) -> Result<Self, HsmError> {
        let pin = read_pin(uri)?;
        let (connection, public_key) = connect(uri, &pin)?;
        let key = Self { uri: uri.clone(), pin, public_key, connection: Mutex::new(Some(connection)) };
        key.try_sign(b"dsec: PKCS#11 key self-check")
            .map_err(|e| HsmError::Token { uri: uri.text.clone(), message: e.message })?;
        Ok(key)
    }

    /// Generate a new ed25519 key pair inside the token, labelled by the
    /// URI's `object`, that never leaves it (sensitive, not extractable), and
    /// open it. Refuses if the token already holds a key with that label.
    pub fn generate(uri: &Pkcs11Uri) -> Result<Self, HsmError> {
        let fail = |message: String| HsmError::Token { uri: uri.text.clone(), message };
        let pin = read_pin(uri)?;
        let context = module(&uri.module_path)?;
        let slot = find_slot(&context, uri)?;
        let session = context.open_rw_session(slot).map_err(|e| fail(format!("opening a session: {e}")))?;
        login(&session, &pin).map_err(&fail)?;
        let label = uri.object.as_bytes().to_vec();
        let existing =
            session.find_objects(&[Attribute::Label(label.clone())]).map_err(|e| fail(format!("searching: {e}")))?;
        if !existing.is_empty() {
            return Err(fail(format!("the token already holds an object labelled {:?}", uri.object)));
        }
        let id: [u8; 16] = rand::random();
        let public_template = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::EcParams(ED25519_OID.to_vec()),
            Attribute::Label(label.clone()),
            Attribute::Id(id.to_vec()),
        ];
        let private_template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(label),
            Attribute::Id(id.to_vec()),
        ];
        session
            .generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &public_template, &private_template)
            .map_err(|e| fail(format!("generating an ed25519 key pair: {e}")))?;
        drop(session);
        Self::open(uri)
    }

    /// The URI the key was opened with.
    pub fn uri(&self) -> &Pkcs11Uri {
        &self.uri
    }

    fn sign_once(&self, connection: &Connection, message: &[u8]) -> Result<Vec<u8>, Pkcs11Error> {
        let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        connection.session.sign(&mechanism, connection.key, message)
    }

    fn signer_error(&self, message: String) -> SignerError {
        SignerError { signer: self.uri.text.clone(), message }
    }
}

impl ValidatorSigner for Pkcs11Key {
    fn public_key(&self) -> B256 {
        self.public_key
    }

    fn try_sign(&self, message: &[u8]) -> Result<[u8; 64], SignerError> {
        let mut slot = lock(&self.connection);
        let result = match slot.as_ref().map(|connection| self.sign_once(connection, message)) {
            Some(result) if !result.as_ref().is_err_and(session_lost) => result,
            // The session was lost (a restarted token, a reconnected network
            // HSM), or the last reopening failed: reopen once.
            _ => {
                *slot = None;
                let (connection, public_key) =
                    connect(&self.uri, &self.pin).map_err(|e| self.signer_error(e.to_string()))?;
                if public_key != self.public_key {
                    return Err(self.signer_error("after reconnecting, the key's public key changed".into()));
                }
                let result = self.sign_once(&connection, message);
                *slot = Some(connection);
                result
            }
        };
        let signature = result.map_err(|e| self.signer_error(format!("signing: {e}")))?;
        let signature: [u8; 64] = signature
            .try_into()
            .map_err(|s: Vec<u8>| self.signer_error(format!("the token returned a {}-byte signature", s.len())))?;
        let valid = ed25519_dalek::VerifyingKey::from_bytes(&self.public_key.0)
            .and_then(|key| key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&signature)))
            .is_ok();
        if !valid {
            return Err(self.signer_error("the token's signature does not verify against its public key".into()));
        }
        Ok(signature)
    }

    fn seed(&self) -> Option<[u8; 32]> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_with_their_attributes_decoded() {
        let uri: Pkcs11Uri = "pkcs11:token=dsec%20prod;object=validator-0;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:///etc/dsec/pin"
            .parse()
            .unwrap();
        assert_eq!(uri.token.as_deref(), Some("dsec prod"));
        assert_eq!(uri.object, "validator-0");
        assert_eq!(uri.module_path, PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"));
        assert_eq!(uri.pin_source, Some(PathBuf::from("/etc/dsec/pin")));
        let by_slot: Pkcs11Uri = "pkcs11:slot-id=7;object=v?module-path=/m.so&pin-source=/p".parse().unwrap();
        assert_eq!((by_slot.slot_id, by_slot.token, by_slot.pin_source), (Some(7), None, Some(PathBuf::from("/p"))));
    }

    #[test]
    fn bad_uris_name_what_is_wrong() {
        let error = |uri: &str| uri.parse::<Pkcs11Uri>().unwrap_err().to_string();
        assert!(error("pkcs11:token=t;object=v").contains("module-path is missing"));
        assert!(error("pkcs11:token=t?module-path=/m.so").contains("object (the key's label) is missing"));
        assert!(error("pkcs11:object=v?module-path=/m.so&pin-value=1234").contains("pin-value is refused"));
        assert!(error("pkcs11:object=v;serial=1?module-path=/m.so").contains("unsupported path attribute \"serial\""));
        assert!(error("pkcs11:object=v;type=public?module-path=/m.so").contains("type=private"));
        assert!(error("pkcs11:object=v%2?module-path=/m.so").contains("incomplete %-escape"));
        assert!(error("pkcs11:slot-id=x;object=v?module-path=/m.so").contains("slot-id \"x\" is not a number"));
        assert!(error("file:/key.json").contains("does not start with pkcs11:"));
    }

    #[test]
    fn a_missing_module_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let pin = dir.path().join("pin");
        std::fs::write(&pin, "1234\n").unwrap();
        let text = format!("pkcs11:object=v?module-path=/nonexistent/libp11.so&pin-source=file:{}", pin.display());
        let Err(error) = Pkcs11Key::open(&text.parse().unwrap()) else { panic!("opened a key without a module") };
        assert_eq!(
            error.to_string(),
            "PKCS#11 module /nonexistent/libp11.so: no such file (is the HSM's PKCS#11 library installed?)"
        );
        let no_pin = "pkcs11:object=v?module-path=/m.so&pin-source=/nonexistent/pin".parse().unwrap();
        let Err(error) = Pkcs11Key::open(&no_pin) else { panic!("opened a key without a PIN") };
        assert!(error.to_string().contains("PIN file /nonexistent/pin"), "{error}");
    }

    #[test]
    fn ec_points_are_read_wrapped_or_raw() {
        let point = [9u8; 32];
        let mut wrapped = vec![0x04, 0x20];
        wrapped.extend_from_slice(&point);
        assert_eq!(ed25519_point(&wrapped), Some(B256::from(point)));
        assert_eq!(ed25519_point(&point), Some(B256::from(point)));
        assert_eq!(ed25519_point(&wrapped[..20]), None);
    }
}
