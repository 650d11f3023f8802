//! wss://: the server certificate and key (PEM files named by the config)
//! turned into a TLS acceptor, rustls with the ring provider.
//!
//! Built only with the `tls` cargo feature (on by default). ring compiles
//! with a plain C cross compiler, so the ARM boards need nothing more.

use futures_rustls::pki_types::pem::{self, PemObject};
use futures_rustls::pki_types::{CertificateDer, PrivateKeyDer};
use futures_rustls::rustls::{self, ServerConfig};
use futures_rustls::TlsAcceptor;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A TLS server configuration ready to accept connections.
#[derive(Clone)]
pub struct Tls {
    pub(crate) acceptor: TlsAcceptor,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tls")
    }
}

/// Why the certificate or key could not be used.
#[derive(Debug)]
pub enum TlsError {
    /// A file could not be read (path, reason).
    Read(String, std::io::Error),
    /// The certificate file holds no `CERTIFICATE` block, or a broken one.
    Certificate(String, String),
    /// The key file holds no private key (PKCS#8, PKCS#1 or SEC1 PEM), or a broken one.
    Key(String, String),
    /// rustls refused the pair (key not matching the certificate, unsupported key type).
    Refused(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Read(p, e) => write!(f, "cannot read {p}: {e}"),
            TlsError::Certificate(p, e) => {
                write!(f, "tlsCert {p}: no usable PEM certificate ({e})")
            }
            TlsError::Key(p, e) => write!(
                f,
                "tlsKey {p}: no usable PEM private key ({e}); an unencrypted PKCS#8, RSA or EC key is needed"
            ),
            TlsError::Refused(e) => write!(f, "the TLS certificate and key cannot be used: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

impl Tls {
    /// Reads the certificate chain (leaf first) and the private key from PEM files.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let read =
            |p: &Path| std::fs::read(p).map_err(|e| TlsError::Read(p.display().to_string(), e));
        let (c, k) = (read(cert)?, read(key)?);
        Tls::from_pem(&c, &k).map_err(|e| match e {
            TlsError::Certificate(_, m) => TlsError::Certificate(cert.display().to_string(), m),
            TlsError::Key(_, m) => TlsError::Key(key.display().to_string(), m),
            other => other,
        })
    }

    /// Builds from PEM text held in memory.
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<Tls, TlsError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<_, pem::Error>>()
            .map_err(|e| TlsError::Certificate(String::new(), e.to_string()))?;
        if chain.is_empty() {
            return Err(TlsError::Certificate(String::new(), "none found".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| TlsError::Key(String::new(), e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Refused(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::Refused(e.to_string()))?;
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_pair_is_accepted() {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let tls = Tls::from_pem(
            c.cert.pem().as_bytes(),
            c.signing_key.serialize_pem().as_bytes(),
        );
        assert!(tls.is_ok(), "{:?}", tls.err());
    }

    #[test]
    fn a_missing_certificate_or_key_is_named() {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let key = c.signing_key.serialize_pem();
        let e = Tls::from_pem(key.as_bytes(), key.as_bytes()).unwrap_err();
        assert!(matches!(e, TlsError::Certificate(..)), "{e}");
        let e = Tls::from_pem(c.cert.pem().as_bytes(), c.cert.pem().as_bytes()).unwrap_err();
        assert!(matches!(e, TlsError::Key(..)), "{e}");
        assert!(e.to_string().contains("private key"));
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let a = rcgen::generate_simple_self_signed(vec!["a".into()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["b".into()]).unwrap();
        let e = Tls::from_pem(
            a.cert.pem().as_bytes(),
            b.signing_key.serialize_pem().as_bytes(),
        )
        .unwrap_err();
        assert!(matches!(e, TlsError::Refused(_)), "{e}");
    }

    #[test]
    fn unreadable_files_name_their_path() {
        let e =
            Tls::from_pem_files(Path::new("/nonexistent/cert.pem"), Path::new("/x")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/cert.pem"), "{e}");
    }
}
