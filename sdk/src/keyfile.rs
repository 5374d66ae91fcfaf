//! Validator key files: JSON with the address, public key and secret seed,
//! written with mode 0600. The node reads its validator (or network) key from
//! one; the operator CLI writes them and signs governance approvals with them.

use crate::keystore::{Keystore, passphrase_from_env};
use crate::tx::{AccountKey, LocalKey, MlDsaSigner};
use crate::validators::{ValidatorKey, ValidatorSigner};
use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The on-disk form of a validator key.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyFile {
    /// Validator address (derived; checked on load).
    pub address: Address,
    /// ed25519 public key.
    pub public_key: B256,
    /// ed25519 secret seed.
    pub secret_key: B256,
    /// ML-DSA-65 seed (FIPS 204 ξ) of a hybrid validator key, for chains
    /// whose consensus signatures are `ed25519+ml-dsa-65`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ml_dsa_secret_key: Option<B256>,
}

/// Why a key file was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("key file {path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not a key file.
    #[error("key file {path}: {message}")]
    Invalid {
        /// Path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The key in a PKCS#11 token could not be opened.
    #[error(transparent)]
    Hsm(#[from] crate::hsm::HsmError),
}

/// The signer of the validator key `path` names: a key file (plain, or an
/// encrypted keystore opened with the passphrase from the environment) or a
/// `pkcs11:` URI naming a key in a token (see [`crate::hsm`]).
pub fn open_validator_signer(path: &Path) -> Result<Arc<dyn ValidatorSigner>, KeyError> {
    match path.to_str().filter(|text| crate::hsm::is_pkcs11_uri(text)) {
        Some(uri) => Ok(Arc::new(crate::hsm::Pkcs11Key::open(&uri.parse()?)?)),
        None => Ok(Arc::new(read_key(path)?)),
    }
}

/// Write `key` to `path` (mode 0600), refusing to overwrite an existing file.
pub fn write_key(path: &Path, key: &ValidatorKey) -> Result<(), KeyError> {
    let file = KeyFile {
        address: key.address(),
        public_key: key.public_key(),
        secret_key: B256::from(key.seed()),
        ml_dsa_secret_key: key.ml_dsa().map(|k| B256::from(*k.seed())),
    };
    let text = serde_json::to_string_pretty(&file)
        .map_err(|e| KeyError::Invalid { path: path.display().to_string(), message: e.to_string() })?;
    write_new_private(path, text.as_bytes())
}

/// Read a validator key file and check that its public key and address match
/// the secret. An encrypted key file (a v3 keystore of scheme `ed25519`, from
/// `dsec keys encrypt`) is opened with the passphrase from the environment
/// ([`crate::keystore::passphrase_from_env`]).
pub fn read_key(path: &Path) -> Result<ValidatorKey, KeyError> {
    read_key_with(path, &passphrase_from_env)
}

/// [`read_key`] with the passphrase of an encrypted file from `passphrase`.
pub fn read_key_with(path: &Path, passphrase: &PassphraseSource<'_>) -> Result<ValidatorKey, KeyError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| KeyError::Io { path: path.display().to_string(), source })?;
    let invalid = |message: String| KeyError::Invalid { path: path.display().to_string(), message };
    if let Some((scheme, secret, address)) = open_keystore(&text, passphrase).map_err(invalid)? {
        if scheme != "ed25519" {
            return Err(invalid(format!("a {scheme} account keystore, not a validator (ed25519) key")));
        }
        let key = ValidatorKey::from_seed(&secret);
        check_address(address, key.address()).map_err(invalid)?;
        return Ok(key);
    }
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let mut key = ValidatorKey::from_seed(&file.secret_key.0);
    if let Some(seed) = file.ml_dsa_secret_key {
        key = key.with_ml_dsa(crate::pq::MlDsa65Key::from_seed(&seed.0));
    }
    if key.public_key() != file.public_key {
        return Err(invalid("publicKey does not match secretKey".into()));
    }
    if key.address() != file.address {
        return Err(invalid("address does not match publicKey".into()));
    }
    Ok(key)
}

/// The on-disk form of an account key (`dsec keys new`): the scheme, the
/// address (checked on load) and the 32 secret bytes (a secp256k1 private
/// key, or an ML-DSA-65 seed ξ from which FIPS 204 derives the key pair).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountKeyFile {
    /// `secp256k1` or `ml-dsa-65`.
    pub scheme: String,
    /// Account address (derived; checked on load).
    pub address: Address,
    /// The secret: private key or seed.
    pub secret: B256,
}

/// The account key of `scheme` (`secp256k1` or `ml-dsa-65`) with these 32 secret bytes.
pub fn account_key(scheme: &str, secret: &[u8; 32]) -> Result<AccountKey, String> {
    match scheme {
        "secp256k1" => LocalKey::from_bytes(&B256::from(*secret)).map(AccountKey::Secp256k1).map_err(|e| e.to_string()),
        "ml-dsa-65" => Ok(AccountKey::MlDsa65(MlDsaSigner::from_seed(secret))),
        other => Err(format!("unknown scheme {other:?}: expected secp256k1 or ml-dsa-65")),
    }
}

/// The 32 secret bytes of an account key.
pub fn account_secret(key: &AccountKey) -> B256 {
    match key {
        AccountKey::Secp256k1(key) => key.secret_bytes(),
        AccountKey::MlDsa65(key) => B256::from(*key.key().seed()),
    }
}

/// Write an account key to `path` in plaintext (mode 0600), refusing to overwrite.
pub fn write_account_key(path: &Path, key: &AccountKey) -> Result<(), KeyError> {
    let file = AccountKeyFile { scheme: key.scheme().into(), address: key.address(), secret: account_secret(key) };
    let text = serde_json::to_string_pretty(&file)
        .map_err(|e| KeyError::Invalid { path: path.display().to_string(), message: e.to_string() })?;
    write_new_private(path, text.as_bytes())
}

/// Create `path` with mode 0600 and write `bytes`, refusing to overwrite a file.
pub fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let io = |source| KeyError::Io { path: path.display().to_string(), source };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(io)?;
    std::io::Write::write_all(&mut f, bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// A keystore's scheme, decrypted secret and stated address, if `text` is a
/// keystore; `None` if it is a plaintext key file.
/// Where the passphrase of an encrypted key file comes from.
pub type PassphraseSource<'a> = dyn Fn() -> Result<Zeroizing<Vec<u8>>, crate::keystore::KeystoreError> + 'a;

/// What an opened keystore holds: its scheme, its secret and the address it states.
type Opened = (String, Zeroizing<[u8; 32]>, Option<Address>);

fn open_keystore(text: &str, passphrase: &PassphraseSource<'_>) -> Result<Option<Opened>, String> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if !Keystore::is_keystore(&json) {
        return Ok(None);
    }
    let keystore: Keystore = serde_json::from_value(json).map_err(|e| format!("not a v3 keystore: {e}"))?;
    let passphrase = passphrase().map_err(|e| e.to_string())?;
    let secret = keystore.decrypt(&passphrase).map_err(|e| e.to_string())?;
    let address = match &keystore.address {
        Some(a) => Some(a.parse::<Address>().map_err(|e| format!("address {a:?}: {e}"))?),
        None => None,
    };
    Ok(Some((keystore.scheme().to_string(), secret, address)))
}

fn check_address(stated: Option<Address>, derived: Address) -> Result<(), String> {
    match stated {
        Some(stated) if stated != derived => {
            Err(format!("address {stated} does not match the secret (it is {derived})"))
        }
        _ => Ok(()),
    }
}

/// Write `secret` (of a key with `address`) as a v3 keystore encrypted under
/// `passphrase`; `scheme` is `None` for a secp256k1 account (a plain geth
/// keystore), else `ml-dsa-65` or `ed25519`.
pub fn write_keystore(
    path: &Path,
    secret: &B256,
    address: Address,
    scheme: Option<&str>,
    passphrase: &[u8],
) -> Result<(), KeyError> {
    let invalid = |message: String| KeyError::Invalid { path: path.display().to_string(), message };
    let keystore = crate::keystore::encrypt(secret, address, scheme, passphrase).map_err(|e| invalid(e.to_string()))?;
    let text = serde_json::to_string_pretty(&keystore).map_err(|e| invalid(e.to_string()))?;
    write_new_private(path, text.as_bytes())
}

/// Write an account key as a v3 keystore: a plain geth keystore for a
/// secp256k1 key, with the `dsec` scheme member for an ML-DSA-65 one.
pub fn write_account_keystore(path: &Path, key: &AccountKey, passphrase: &[u8]) -> Result<(), KeyError> {
    let scheme = match key {
        AccountKey::Secp256k1(_) => None,
        AccountKey::MlDsa65(_) => Some(key.scheme()),
    };
    write_keystore(path, &account_secret(key), key.address(), scheme, passphrase)
}

/// Read an account key file, plaintext or encrypted (a v3 keystore, opened
/// with the passphrase from the environment), and check its address.
pub fn read_account_key(path: &Path) -> Result<AccountKey, KeyError> {
    read_account_key_with(path, &passphrase_from_env)
}

/// [`read_account_key`] with the passphrase of an encrypted file from `passphrase`.
pub fn read_account_key_with(path: &Path, passphrase: &PassphraseSource<'_>) -> Result<AccountKey, KeyError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| KeyError::Io { path: path.display().to_string(), source })?;
    let invalid = |message: String| KeyError::Invalid { path: path.display().to_string(), message };
    if let Some((scheme, secret, address)) = open_keystore(&text, passphrase).map_err(invalid)? {
        let key = account_key(&scheme, &secret).map_err(invalid)?;
        check_address(address, key.address()).map_err(invalid)?;
        return Ok(key);
    }
    let file: AccountKeyFile = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let key = account_key(&file.scheme, &file.secret.0).map_err(invalid)?;
    if key.address() != file.address {
        return Err(invalid(format!("address {} does not match the secret (it is {})", file.address, key.address())));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_keys_of_every_kind_open_with_their_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let right = || Ok(Zeroizing::new(b"s3cret".to_vec()));
        let wrong = || Ok(Zeroizing::new(b"guess".to_vec()));
        let none = || Err(crate::keystore::KeystoreError::NoPassphrase);
        for key in [AccountKey::Secp256k1(LocalKey::random()), AccountKey::MlDsa65(MlDsaSigner::random())] {
            let path = dir.path().join(key.scheme());
            write_account_keystore(&path, &key, b"s3cret").unwrap();
            let back = read_account_key_with(&path, &right).unwrap();
            assert_eq!((back.address(), back.scheme()), (key.address(), key.scheme()));
            let err = read_account_key_with(&path, &wrong).unwrap_err().to_string();
            assert!(err.contains("wrong passphrase"), "{err}");
            let err = read_account_key_with(&path, &none).unwrap_err().to_string();
            assert!(err.contains("DSEC_PASSWORD_FILE"), "{err}");
            let err = read_key_with(&path, &right).unwrap_err().to_string();
            assert!(err.contains("not a validator"), "{err}");
        }
        let validator = ValidatorKey::generate();
        let path = dir.path().join("validator.json");
        write_keystore(&path, &B256::from(validator.seed()), validator.address(), Some("ed25519"), b"s3cret").unwrap();
        assert_eq!(read_key_with(&path, &right).unwrap().address(), validator.address());
    }

    #[test]
    fn account_keys_of_both_schemes_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        for key in [AccountKey::Secp256k1(LocalKey::random()), AccountKey::MlDsa65(MlDsaSigner::random())] {
            let path = dir.path().join(key.scheme());
            write_account_key(&path, &key).unwrap();
            let back = read_account_key(&path).unwrap();
            assert_eq!((back.address(), back.scheme()), (key.address(), key.scheme()));
            assert!(write_account_key(&path, &key).is_err(), "never overwrites a key");
            // A file whose address belongs to another key is refused, naming both.
            let mut file: AccountKeyFile = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            file.address = Address::repeat_byte(9);
            std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
            let err = read_account_key(&path).unwrap_err().to_string();
            assert!(err.contains("does not match the secret"), "{err}");
        }
    }

    #[test]
    fn roundtrip_and_tamper_detection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.key");
        let key = ValidatorKey::generate();
        write_key(&path, &key).unwrap();
        assert_eq!(read_key(&path).unwrap().address(), key.address());
        assert!(write_key(&path, &key).is_err(), "never overwrites a key");
        let text = std::fs::read_to_string(&path).unwrap();
        let other = ValidatorKey::generate();
        let forged = text.replace(&key.public_key().to_string(), &other.public_key().to_string());
        std::fs::write(&path, forged).unwrap();
        assert!(read_key(&path).unwrap_err().to_string().contains("publicKey"));
    }

    #[test]
    fn a_hybrid_key_keeps_its_ml_dsa_half() {
        use crate::validators::ValidatorSigner;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hybrid.key");
        let key = ValidatorKey::generate_hybrid();
        write_key(&path, &key).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("mlDsaSecretKey"));
        let read = read_key(&path).unwrap();
        assert_eq!(read.ml_dsa_public_key_bytes(), key.ml_dsa_public_key_bytes());
        assert!(read.try_sign_ml_dsa(b"x").unwrap().is_some());
        // An ed25519 key file has no such field and signs ed25519 only.
        let plain = dir.path().join("plain.key");
        write_key(&plain, &ValidatorKey::generate()).unwrap();
        assert!(!std::fs::read_to_string(&plain).unwrap().contains("mlDsa"));
        assert!(read_key(&plain).unwrap().try_sign_ml_dsa(b"x").unwrap().is_none());
    }
}
