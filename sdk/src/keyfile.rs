//! Validator key files: JSON with the address, public key and secret seed,
//! written with mode 0600. The node reads its validator (or network) key from
//! one; the operator CLI writes them and signs governance approvals with them.

use crate::validators::ValidatorKey;
use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};
use std::path::Path;

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
}

/// Write `key` to `path` (mode 0600), refusing to overwrite an existing file.
pub fn write_key(path: &Path, key: &ValidatorKey) -> Result<(), KeyError> {
    let file = KeyFile { address: key.address(), public_key: key.public_key(), secret_key: B256::from(key.seed()) };
    let text = serde_json::to_string_pretty(&file)
        .map_err(|e| KeyError::Invalid { path: path.display().to_string(), message: e.to_string() })?;
    let io = |source| KeyError::Io { path: path.display().to_string(), source };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(io)?;
    std::io::Write::write_all(&mut f, text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Read a key file and check that its public key and address match the secret.
pub fn read_key(path: &Path) -> Result<ValidatorKey, KeyError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| KeyError::Io { path: path.display().to_string(), source })?;
    let invalid = |message: String| KeyError::Invalid { path: path.display().to_string(), message };
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let key = ValidatorKey::from_seed(&file.secret_key.0);
    if key.public_key() != file.public_key {
        return Err(invalid("publicKey does not match secretKey".into()));
    }
    if key.address() != file.address {
        return Err(invalid("address does not match publicKey".into()));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
