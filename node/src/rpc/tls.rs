//! TLS on the JSON-RPC listener (TLS 1.3, rustls with *ring*), with an
//! optional client-certificate requirement: mutual TLS against a configured
//! CA bundle, the X.509 federation that government and bank consortiums run.
//! A client without a certificate the bundle vouches for fails the handshake
//! and never reaches the RPC.

use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the listener's certificate chain, its key and (for mutual TLS) the client CA bundle are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain of the listener, leaf first.
    pub cert: PathBuf,
    /// PEM private key of the leaf certificate.
    pub key: PathBuf,
    /// PEM bundle of the CAs whose client certificates are accepted (`None`: no client certificate asked).
    pub client_ca: Option<PathBuf>,
}

/// A TLS setup ready to accept connections.
#[derive(Clone)]
pub struct Tls {
    /// The rustls acceptor.
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// Whether clients must present a certificate.
    pub mutual: bool,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("mutual", &self.mutual).finish_non_exhaustive()
    }
}

/// Why the TLS files cannot be used, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TlsError {
    /// The file at fault (or the setting).
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

fn error(path: &Path, message: impl std::fmt::Display) -> TlsError {
    TlsError { path: path.display().to_string(), message: message.to_string() }
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(path, e))?;
    if certs.is_empty() {
        return Err(error(path, "no PEM certificate in the file"));
    }
    Ok(certs)
}

impl Tls {
    /// Load the files and build the acceptor.
    pub fn load(files: &TlsFiles) -> Result<Self, TlsError> {
        let chain = certificates(&files.cert)?;
        let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| error(&files.key, e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| error(&files.cert, e))?;
        let builder = match &files.client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in certificates(path)? {
                    roots.add(cert).map_err(|e| error(path, e))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| error(path, e))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|e| error(&files.key, e))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self { acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)), mutual: files.client_ca.is_some() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_or_empty_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let files = TlsFiles { cert: empty.clone(), key: empty.clone(), client_ca: None };
        let err = Tls::load(&files).unwrap_err().to_string();
        assert!(err.starts_with(&empty.display().to_string()) && err.contains("no PEM certificate"), "{err}");
        let missing = TlsFiles { cert: dir.path().join("missing.pem"), key: empty, client_ca: None };
        assert!(Tls::load(&missing).unwrap_err().to_string().contains("missing.pem"));
    }
}
