//! TLS for the IMPT listener. The seed asks for SASL over TLS: the API token in AUTH is a
//! bearer secret, so off the local machine it must travel encrypted. rustls with the `ring`
//! provider only (no second crypto library to build); TLS 1.2 and 1.3, rustls's safe defaults.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
pub use tokio_rustls::TlsAcceptor;

/// Why the certificate or key could not be used; says which file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("IMPT TLS certificate {path}: {reason}")]
    Certificate { path: String, reason: String },
    #[error("IMPT TLS key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("IMPT TLS: the key does not fit the certificate, or is of a kind TLS cannot use: {0}")]
    Mismatch(rustls::Error),
}

/// Loads a PEM certificate chain (leaf first) and its PEM private key (PKCS#8, PKCS#1 or SEC1)
/// into an acceptor. Checked here, at start-up, so a bad file stops `chit serve` with one line
/// rather than failing every handshake later.
pub fn acceptor(certificate: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let cert_error = |reason: String| TlsError::Certificate {
        path: certificate.display().to_string(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(certificate)
        .map_err(|e| cert_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error("no PEM certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Mismatch)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::Mismatch)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate and its key as PEM files in `dir`.
    fn pems(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, signing_key.serialize_pem()).unwrap();
        (c, k)
    }

    #[test]
    fn a_certificate_and_its_key_load() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pems(dir.path());
        acceptor(&cert, &key).unwrap();
    }

    #[test]
    fn bad_files_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pems(dir.path());
        let missing = dir.path().join("missing.pem");
        let text = |e: TlsError| e.to_string();

        let e = text(acceptor(&missing, &key).err().unwrap());
        assert!(
            e.starts_with("IMPT TLS certificate ") && e.contains("missing.pem"),
            "{e}"
        );
        let e = text(acceptor(&cert, &missing).err().unwrap());
        assert!(
            e.starts_with("IMPT TLS key ") && e.contains("missing.pem"),
            "{e}"
        );
        // The files swapped: no certificate in the key file, no key in the certificate file.
        let e = text(acceptor(&key, &key).err().unwrap());
        assert!(e.contains("no PEM certificate"), "{e}");
        let e = text(acceptor(&cert, &cert).err().unwrap());
        assert!(e.starts_with("IMPT TLS key "), "{e}");
        // A key from another certificate.
        let other = tempfile::tempdir().unwrap();
        let (_, other_key) = pems(other.path());
        let e = text(acceptor(&cert, &other_key).err().unwrap());
        assert!(e.contains("does not fit the certificate"), "{e}");
    }
}
