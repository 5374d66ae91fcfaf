//! Encrypted key files in the Web3 Secret Storage v3 format (geth's keystore):
//! scrypt (or PBKDF2-HMAC-SHA256 when reading) derives a 32-byte key from the
//! passphrase, AES-128-CTR encrypts the 32 secret bytes with its first half,
//! and `keccak256(derived[16..32] ‖ ciphertext)` authenticates them. geth,
//! ethers and web3.py/eth-account open a secp256k1 keystore written here, and
//! dsec opens theirs.
//!
//! Keys of other schemes use the same framing: the 32 secret bytes are an
//! ML-DSA-65 seed or an ed25519 validator seed, and a `dsec` object names the
//! scheme (`{"dsec": {"scheme": "ml-dsa-65"}}`); tools that do not know it
//! ignore it. The passphrase comes from a file or an environment variable
//! ([`passphrase_from_env`]), never from a command-line flag.

use aes::cipher::{KeyIvInit, StreamCipher};
use alloy_primitives::{Address, B256, Keccak256, hex};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The environment variable naming a file that holds the keystore passphrase.
pub const PASSWORD_FILE_ENV: &str = "DSEC_PASSWORD_FILE";
/// The environment variable holding the keystore passphrase itself.
pub const PASSWORD_ENV: &str = "DSEC_PASSWORD";

/// scrypt cost parameter (log2 N) of keystores written here: geth's standard 2^18.
pub const SCRYPT_LOG_N: u8 = 18;
/// Largest scrypt memory (128 · r · N bytes) accepted when reading a keystore: 1 GiB.
const MAX_SCRYPT_MEMORY: u64 = 1 << 30;
/// Largest PBKDF2 iteration count accepted when reading a keystore.
const MAX_PBKDF2_ROUNDS: u32 = 10_000_000;

/// Why a keystore could not be written or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeystoreError {
    /// The JSON is not a v3 keystore.
    #[error("not a Web3 Secret Storage v3 keystore: {0}")]
    Format(String),
    /// A KDF or cipher this implementation does not support, or parameters out of range.
    #[error("unsupported keystore: {0}")]
    Unsupported(String),
    /// The MAC does not match: a wrong passphrase or a modified file.
    #[error("wrong passphrase (or the keystore was modified)")]
    WrongPassphrase,
    /// No passphrase was given.
    #[error("no passphrase: set {PASSWORD_FILE_ENV} to a file holding it, or {PASSWORD_ENV}")]
    NoPassphrase,
    /// The passphrase file could not be read.
    #[error("passphrase file {path}: {message}")]
    PassphraseFile {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

/// A v3 keystore as stored on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Keystore {
    /// Always 3.
    pub version: u32,
    /// A random UUID.
    pub id: String,
    /// The address, lowercase hex without `0x` (as geth writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The encrypted secret.
    #[serde(alias = "Crypto")]
    pub crypto: CryptoSection,
    /// dsec's extension: the scheme of a key that is not secp256k1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsec: Option<DsecSection>,
}

/// The `crypto` object of a v3 keystore.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CryptoSection {
    /// `aes-128-ctr`.
    pub cipher: String,
    /// The IV.
    pub cipherparams: CipherParams,
    /// The encrypted secret, hex.
    pub ciphertext: String,
    /// `scrypt` or `pbkdf2`.
    pub kdf: String,
    /// The KDF's parameters.
    pub kdfparams: serde_json::Value,
    /// `keccak256(derived[16..32] ‖ ciphertext)`, hex.
    pub mac: String,
}

/// The cipher parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CipherParams {
    /// The 16-byte AES-CTR IV, hex.
    pub iv: String,
}

/// dsec's extension of the format.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DsecSection {
    /// `ml-dsa-65` (account) or `ed25519` (validator).
    pub scheme: String,
}

#[derive(Deserialize)]
struct ScryptParams {
    dklen: usize,
    n: u64,
    r: u32,
    p: u32,
    salt: String,
}

#[derive(Deserialize)]
struct Pbkdf2Params {
    dklen: usize,
    c: u32,
    prf: String,
    salt: String,
}

fn unhex(field: &str, text: &str) -> Result<Vec<u8>, KeystoreError> {
    hex::decode(text).map_err(|e| KeystoreError::Format(format!("{field}: {e}")))
}

fn mac(derived: &[u8], ciphertext: &[u8]) -> B256 {
    let mut hasher = Keccak256::new();
    hasher.update(&derived[16..32]);
    hasher.update(ciphertext);
    hasher.finalize()
}

fn aes_ctr(key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), KeystoreError> {
    let mut cipher = ctr::Ctr128BE::<aes::Aes128>::new_from_slices(key, iv)
        .map_err(|_| KeystoreError::Format("cipherparams.iv must be 16 bytes".into()))?;
    cipher.apply_keystream(data);
    Ok(())
}

fn scrypt_key(passphrase: &[u8], salt: &[u8], log_n: u8, r: u32, p: u32) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    let mut derived = Zeroizing::new([0u8; 32]);
    scrypt(passphrase, salt, log_n, r, p, derived.as_mut())?;
    Ok(derived)
}

/// The Salsa20/8 core (RFC 7914 §3) on one 64-byte block.
fn salsa20_8(block: &mut [u32; 16]) {
    let mut x = *block;
    let quarter = |x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize| {
        x[b] ^= x[a].wrapping_add(x[d]).rotate_left(7);
        x[c] ^= x[b].wrapping_add(x[a]).rotate_left(9);
        x[d] ^= x[c].wrapping_add(x[b]).rotate_left(13);
        x[a] ^= x[d].wrapping_add(x[c]).rotate_left(18);
    };
    for _ in 0..4 {
        quarter(&mut x, 0, 4, 8, 12);
        quarter(&mut x, 5, 9, 13, 1);
        quarter(&mut x, 10, 14, 2, 6);
        quarter(&mut x, 15, 3, 7, 11);
        quarter(&mut x, 0, 1, 2, 3);
        quarter(&mut x, 5, 6, 7, 4);
        quarter(&mut x, 10, 11, 8, 9);
        quarter(&mut x, 15, 12, 13, 14);
    }
    for (out, add) in block.iter_mut().zip(x) {
        *out = out.wrapping_add(add);
    }
}

/// scryptBlockMix (RFC 7914 §4) of `input` (2r blocks) into `output`.
fn block_mix(input: &[[u32; 16]], output: &mut [[u32; 16]]) {
    let blocks = input.len();
    let half = blocks / 2;
    let mut x = input[blocks - 1];
    for (i, block) in input.iter().enumerate() {
        for (xw, bw) in x.iter_mut().zip(block) {
            *xw ^= bw;
        }
        salsa20_8(&mut x);
        // Even blocks go to the first half, odd ones to the second.
        output[(i % 2) * half + i / 2] = x;
    }
}

/// scrypt (RFC 7914) with N = 2^`log_n`. Unlike RustCrypto's `scrypt`, it
/// accepts r = 1 with N ≥ 2^16, the parameters eth-account writes (N = 2^18,
/// r = 1, p = 8), as geth does; callers bound the memory (128 · r · N bytes).
pub fn scrypt(passphrase: &[u8], salt: &[u8], log_n: u8, r: u32, p: u32, out: &mut [u8]) -> Result<(), KeystoreError> {
    let bad = |what: &str| KeystoreError::Unsupported(format!("scrypt: {what}"));
    if log_n == 0 || log_n >= 32 || r == 0 || p == 0 {
        return Err(bad("n must be 2^1..2^31, r and p at least 1"));
    }
    let n = 1usize << log_n;
    let blocks =
        usize::try_from(r).map_err(|_| bad("r too large"))?.checked_mul(2).ok_or_else(|| bad("r too large"))?;
    let lane_bytes = blocks.checked_mul(64).ok_or_else(|| bad("r too large"))?;
    let lanes = usize::try_from(p).map_err(|_| bad("p too large"))?;
    let total = lane_bytes.checked_mul(lanes).ok_or_else(|| bad("p too large"))?;
    n.checked_mul(lane_bytes).ok_or_else(|| bad("n · r too large"))?;
    let mut b = Zeroizing::new(vec![0u8; total]);
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(passphrase, salt, 1, &mut b);
    let mut x = vec![[0u32; 16]; blocks];
    let mut y = vec![[0u32; 16]; blocks];
    let mut v = vec![[0u32; 16]; n * blocks];
    for lane in b.chunks_mut(lane_bytes) {
        for (block, bytes) in x.iter_mut().zip(lane.chunks(64)) {
            for (word, w) in block.iter_mut().zip(bytes.chunks(4)) {
                *word = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            }
        }
        for i in 0..n {
            v[i * blocks..(i + 1) * blocks].copy_from_slice(&x);
            block_mix(&x, &mut y);
            std::mem::swap(&mut x, &mut y);
        }
        for _ in 0..n {
            let j = (x[blocks - 1][0] as usize) & (n - 1);
            for (xb, vb) in x.iter_mut().zip(&v[j * blocks..(j + 1) * blocks]) {
                for (xw, vw) in xb.iter_mut().zip(vb) {
                    *xw ^= vw;
                }
            }
            block_mix(&x, &mut y);
            std::mem::swap(&mut x, &mut y);
        }
        for (block, bytes) in x.iter().zip(lane.chunks_mut(64)) {
            for (word, w) in block.iter().zip(bytes.chunks_mut(4)) {
                w.copy_from_slice(&word.to_le_bytes());
            }
        }
    }
    for block in x.iter_mut().chain(y.iter_mut()).chain(v.iter_mut()) {
        zeroize::Zeroize::zeroize(block);
    }
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(passphrase, &b, 1, out);
    Ok(())
}

/// Encrypt 32 secret bytes under `passphrase` (scrypt N = 2^[`SCRYPT_LOG_N`],
/// r = 8, p = 1, as geth's standard keystores). `scheme` is `None` for a
/// secp256k1 account key (a plain geth keystore), else the scheme's name.
pub fn encrypt(
    secret: &B256,
    address: Address,
    scheme: Option<&str>,
    passphrase: &[u8],
) -> Result<Keystore, KeystoreError> {
    encrypt_with_cost(secret, address, scheme, passphrase, SCRYPT_LOG_N)
}

/// [`encrypt`] with another scrypt cost (log2 N), for tests and constrained machines.
pub fn encrypt_with_cost(
    secret: &B256,
    address: Address,
    scheme: Option<&str>,
    passphrase: &[u8],
    log_n: u8,
) -> Result<Keystore, KeystoreError> {
    let salt: [u8; 32] = rand::random();
    let iv: [u8; 16] = rand::random();
    let derived = scrypt_key(passphrase, &salt, log_n, 8, 1)?;
    let mut ciphertext = secret.to_vec();
    aes_ctr(&derived[..16], &iv, &mut ciphertext)?;
    let uuid: [u8; 16] = rand::random();
    let id = uuid_v4(uuid);
    Ok(Keystore {
        version: 3,
        id,
        address: Some(hex::encode(address)),
        crypto: CryptoSection {
            cipher: "aes-128-ctr".into(),
            cipherparams: CipherParams { iv: hex::encode(iv) },
            ciphertext: hex::encode(&ciphertext),
            kdf: "scrypt".into(),
            kdfparams: serde_json::json!({
                "dklen": 32, "n": 1u64 << log_n, "r": 8, "p": 1, "salt": hex::encode(salt),
            }),
            mac: hex::encode(mac(derived.as_ref(), &ciphertext)),
        },
        dsec: scheme.map(|s| DsecSection { scheme: s.into() }),
    })
}

fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h = hex::encode(bytes);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

impl Keystore {
    /// Whether a JSON document is a keystore (it has a `crypto` object).
    pub fn is_keystore(json: &serde_json::Value) -> bool {
        json.get("crypto").or_else(|| json.get("Crypto")).is_some_and(|c| c.is_object())
    }

    /// The scheme of the key inside: `secp256k1` unless the `dsec` extension names another.
    pub fn scheme(&self) -> &str {
        self.dsec.as_ref().map_or("secp256k1", |d| d.scheme.as_str())
    }

    /// Decrypt the 32 secret bytes.
    pub fn decrypt(&self, passphrase: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
        if self.version != 3 {
            return Err(KeystoreError::Unsupported(format!("version {} (only 3)", self.version)));
        }
        let c = &self.crypto;
        if c.cipher != "aes-128-ctr" {
            return Err(KeystoreError::Unsupported(format!("cipher {:?} (only aes-128-ctr)", c.cipher)));
        }
        let derived: Zeroizing<[u8; 32]> = match c.kdf.as_str() {
            "scrypt" => {
                let p: ScryptParams = serde_json::from_value(c.kdfparams.clone())
                    .map_err(|e| KeystoreError::Format(format!("kdfparams: {e}")))?;
                if p.dklen != 32 {
                    return Err(KeystoreError::Unsupported(format!("dklen {} (only 32)", p.dklen)));
                }
                if !p.n.is_power_of_two() || p.n < 2 {
                    return Err(KeystoreError::Format(format!("scrypt n {} is not a power of two", p.n)));
                }
                let memory = 128u64.saturating_mul(u64::from(p.r)).saturating_mul(p.n);
                if memory > MAX_SCRYPT_MEMORY || p.p > 16 {
                    return Err(KeystoreError::Unsupported(format!(
                        "scrypt n {} r {} p {} needs more than 1 GiB or 16 lanes",
                        p.n, p.r, p.p
                    )));
                }
                let log_n = p.n.trailing_zeros() as u8;
                scrypt_key(passphrase, &unhex("salt", &p.salt)?, log_n, p.r, p.p)?
            }
            "pbkdf2" => {
                let p: Pbkdf2Params = serde_json::from_value(c.kdfparams.clone())
                    .map_err(|e| KeystoreError::Format(format!("kdfparams: {e}")))?;
                if p.dklen != 32 || p.prf != "hmac-sha256" {
                    return Err(KeystoreError::Unsupported(format!("pbkdf2 with {} / dklen {}", p.prf, p.dklen)));
                }
                if p.c == 0 || p.c > MAX_PBKDF2_ROUNDS {
                    return Err(KeystoreError::Unsupported(format!("pbkdf2 with {} rounds", p.c)));
                }
                let mut derived = Zeroizing::new([0u8; 32]);
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(passphrase, &unhex("salt", &p.salt)?, p.c, derived.as_mut());
                derived
            }
            other => return Err(KeystoreError::Unsupported(format!("kdf {other:?} (scrypt or pbkdf2)"))),
        };
        let mut ciphertext = unhex("ciphertext", &c.ciphertext)?;
        let expected = unhex("mac", &c.mac)?;
        if mac(derived.as_ref(), &ciphertext).as_slice() != expected.as_slice() {
            return Err(KeystoreError::WrongPassphrase);
        }
        if ciphertext.len() != 32 {
            return Err(KeystoreError::Format(format!("the secret is {} bytes, not 32", ciphertext.len())));
        }
        aes_ctr(&derived[..16], &unhex("iv", &c.cipherparams.iv)?, &mut ciphertext)?;
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&ciphertext);
        zeroize::Zeroize::zeroize(&mut ciphertext);
        Ok(secret)
    }
}

/// The keystore passphrase from the environment: the contents of the file
/// `DSEC_PASSWORD_FILE` names (one trailing newline removed), or `DSEC_PASSWORD`.
pub fn passphrase_from_env() -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
    if let Some(path) = std::env::var_os(PASSWORD_FILE_ENV) {
        return passphrase_from_file(std::path::Path::new(&path));
    }
    match std::env::var(PASSWORD_ENV) {
        Ok(p) => Ok(Zeroizing::new(p.into_bytes())),
        Err(_) => Err(KeystoreError::NoPassphrase),
    }
}

/// The passphrase held in `path` (one trailing newline removed).
pub fn passphrase_from_file(path: &std::path::Path) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
    let mut bytes = Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| KeystoreError::PassphraseFile { path: path.display().to_string(), message: e.to_string() })?,
    );
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of the Web3 Secret Storage definition (scrypt, passphrase "testpassword").
    const SCRYPT_VECTOR: &str = r#"{
        "crypto": {
            "cipher": "aes-128-ctr",
            "cipherparams": {"iv": "83dbcc02d8ccb40e466191a123791e0e"},
            "ciphertext": "d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c",
            "kdf": "scrypt",
            "kdfparams": {"dklen": 32, "n": 262144, "p": 8, "r": 1,
                          "salt": "ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19"},
            "mac": "2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097"
        },
        "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
        "version": 3
    }"#;

    /// The same definition's PBKDF2 vector.
    const PBKDF2_VECTOR: &str = r#"{
        "crypto": {
            "cipher": "aes-128-ctr",
            "cipherparams": {"iv": "6087dab2f9fdbbfaddc31a909735c1e6"},
            "ciphertext": "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
            "kdf": "pbkdf2",
            "kdfparams": {"c": 262144, "dklen": 32, "prf": "hmac-sha256",
                          "salt": "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"},
            "mac": "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"
        },
        "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
        "version": 3
    }"#;

    const VECTOR_SECRET: &str = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d";

    #[test]
    fn scrypt_matches_rfc_7914_and_rustcrypto() {
        let mut out = [0u8; 64];
        scrypt(b"", b"", 4, 1, 1, &mut out).unwrap();
        assert_eq!(
            hex::encode(out),
            "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442\
             fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906"
        );
        scrypt(b"password", b"NaCl", 10, 8, 16, &mut out).unwrap();
        assert_eq!(
            hex::encode(out),
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162\
             2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
        );
        // And RustCrypto's scrypt, where its parameter rules allow.
        for (log_n, r, p) in [(10u8, 8u32, 1u32), (12, 2, 3), (5, 1, 1)] {
            let mut ours = [0u8; 32];
            let mut theirs = [0u8; 32];
            scrypt(b"pass", b"salt", log_n, r, p, &mut ours).unwrap();
            let params = ::scrypt::Params::new(log_n, r, p, 32).unwrap();
            ::scrypt::scrypt(b"pass", b"salt", &params, &mut theirs).unwrap();
            assert_eq!(ours, theirs, "log_n {log_n} r {r} p {p}");
        }
    }

    #[test]
    fn the_specification_vectors_open() {
        for text in [SCRYPT_VECTOR, PBKDF2_VECTOR] {
            let keystore: Keystore = serde_json::from_str(text).unwrap();
            assert_eq!(keystore.scheme(), "secp256k1");
            let secret = keystore.decrypt(b"testpassword").unwrap();
            assert_eq!(hex::encode(secret.as_slice()), VECTOR_SECRET);
            assert_eq!(keystore.decrypt(b"wrong").unwrap_err(), KeystoreError::WrongPassphrase);
        }
    }

    #[test]
    fn written_keystores_open_with_their_passphrase_only() {
        let secret = B256::repeat_byte(0x5a);
        let keystore = encrypt_with_cost(&secret, Address::repeat_byte(1), Some("ml-dsa-65"), b"pass", 10).unwrap();
        let json = serde_json::to_value(&keystore).unwrap();
        assert!(Keystore::is_keystore(&json));
        assert_eq!(json["dsec"]["scheme"], "ml-dsa-65");
        assert_eq!(json["address"], "0101010101010101010101010101010101010101");
        let back: Keystore = serde_json::from_value(json).unwrap();
        assert_eq!(*back.decrypt(b"pass").unwrap(), secret.0);
        assert_eq!(back.decrypt(b"pass ").unwrap_err(), KeystoreError::WrongPassphrase);
        // A flipped ciphertext byte is caught by the MAC.
        let mut modified = back.clone();
        modified.crypto.ciphertext.replace_range(0..2, "00");
        assert_eq!(modified.decrypt(b"pass").unwrap_err(), KeystoreError::WrongPassphrase);
    }

    #[test]
    fn hostile_parameters_are_refused_before_any_work() {
        let mut keystore: Keystore = serde_json::from_str(SCRYPT_VECTOR).unwrap();
        keystore.crypto.kdfparams["n"] = serde_json::json!(1u64 << 40);
        assert!(matches!(keystore.decrypt(b"x"), Err(KeystoreError::Unsupported(_))));
        keystore.crypto.kdfparams["n"] = serde_json::json!(1000);
        assert!(matches!(keystore.decrypt(b"x"), Err(KeystoreError::Format(_))));
        let mut keystore: Keystore = serde_json::from_str(PBKDF2_VECTOR).unwrap();
        keystore.crypto.kdfparams["c"] = serde_json::json!(u32::MAX);
        assert!(matches!(keystore.decrypt(b"x"), Err(KeystoreError::Unsupported(_))));
        keystore.crypto.kdf = "argon2".into();
        assert!(matches!(keystore.decrypt(b"x"), Err(KeystoreError::Unsupported(_))));
    }
}
