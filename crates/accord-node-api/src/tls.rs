//! TLS for nodes and their clients: rustls on aws-lc-rs, TLS 1.3 preferred with the
//! post-quantum hybrid key exchange (X25519MLKEM768) first.
//!
//! Trust is by pin, not by public CA: a client checks that the node's certificate
//! carries the SubjectPublicKeyInfo whose SHA-256 its credential (or the agreement)
//! names; a node accepts any client certificate whose key signs the handshake, and then
//! recognises it by exact fingerprint (a person) or SPKI pin (a partner node) at the
//! application layer, where a refusal can say why and be logged.

use crate::pki;
use crate::Error;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::sync::Arc;

/// The process-wide crypto provider: aws-lc-rs.
pub fn provider() -> Arc<CryptoProvider> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn private_key(pem: &str) -> Result<PrivateKeyDer<'static>, Error> {
    let der = pki::pem_blocks(pem, "PRIVATE KEY")?.remove(0);
    Ok(PrivateKeyDer::Pkcs8(der.to_vec().into()))
}

/// Accepts any client certificate whose key signs the handshake (proof of possession);
/// who it is, and whether it may do anything, is decided by the application.
#[derive(Debug)]
struct AnyClientCert(Arc<CryptoProvider>);

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        // /health and /log/ are public; everything else checks the identity itself.
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        pki::spki_of_cert(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Server TLS: the node's certificate, client certificates requested (not required),
/// HTTP/2 and HTTP/1.1 offered.
pub fn server_config(cert_pem: &str, key_pem: &str) -> Result<rustls::ServerConfig, Error> {
    let p = provider();
    let certs: Vec<CertificateDer<'static>> = pki::certs_from_pem(cert_pem)?
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    let mut cfg = rustls::ServerConfig::builder_with_provider(p.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_client_cert_verifier(Arc::new(AnyClientCert(p)))
        .with_single_cert(certs, private_key(key_pem)?)
        .map_err(|e| Error::Tls(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Checks the server's certificate against a pinned SPKI SHA-256; names and validity
/// dates do not matter (the pin was exchanged out of band, in a credential or a signed
/// agreement), but the handshake signature must verify with that key.
#[derive(Debug)]
struct PinnedServer {
    pins: Vec<String>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = pki::spki_pin(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        if self.pins.iter().any(|p| p.eq_ignore_ascii_case(&got)) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(PinMismatch(got)))),
            ))
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[derive(Debug)]
struct PinMismatch(String);

impl std::fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the server's certificate key (SPKI SHA-256 {}) is not the pinned one",
            self.0
        )
    }
}

impl std::error::Error for PinMismatch {}

/// Client TLS pinned to `pins`, presenting `client` (certificate PEM, key PEM) if given.
pub fn client_config(
    pins: Vec<String>,
    client: Option<(&str, &str)>,
) -> Result<rustls::ClientConfig, Error> {
    let p = provider();
    let builder = rustls::ClientConfig::builder_with_provider(p.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServer { pins, provider: p }));
    let mut cfg = match client {
        Some((cert, key)) => {
            let certs: Vec<CertificateDer<'static>> = pki::certs_from_pem(cert)?
                .into_iter()
                .map(CertificateDer::from)
                .collect();
            builder
                .with_client_auth_cert(certs, private_key(key)?)
                .map_err(|e| Error::Tls(e.to_string()))?
        }
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Client TLS that trusts exactly the certificate authorities in `ca_pem` (PEM
/// `CERTIFICATE` blocks), with the usual WebPKI checks of the server's name and chain:
/// for a server that is not a node (an external OpenID issuer under its organisation's
/// own CA).
pub fn roots_client_config(ca_pem: &str) -> Result<rustls::ClientConfig, Error> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = pki::certs_from_pem(ca_pem)?;
    if certs.is_empty() {
        return Err(Error::Tls("no CERTIFICATE block in the CA file".into()));
    }
    for der in certs {
        roots
            .add(CertificateDer::from(der))
            .map_err(|e| Error::Tls(format!("a CA certificate: {e}")))?;
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Client TLS for the node that issued `cred`: pinned to the node key the credential
/// names, presenting the person's certificate. Used to reach the node's API and to read
/// its audit log (`accord audit verify --log https://NODE/log/ --credential FILE`).
pub fn credential_client_config(
    cred: &crate::credential::Credential,
) -> Result<rustls::ClientConfig, Error> {
    client_config(
        vec![parse_pin(&cred.node_tls_spki_sha256)?],
        Some((&cred.certificate, &cred.private_key)),
    )
}

/// Check a pin: the SHA-256 of a TLS SubjectPublicKeyInfo, 64 hex digits (either case,
/// `:` separators allowed as some tools print them); returned lower-case.
pub fn parse_pin(pin: &str) -> Result<String, Error> {
    let hex: String = pin.trim().chars().filter(|c| *c != ':').collect();
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex.to_ascii_lowercase())
    } else {
        Err(Error::Input(format!(
            "TLS pin `{pin}` is not a SHA-256 in hex (64 hex digits: the SHA-256 of the server's SubjectPublicKeyInfo, as party.json's node.tls_spki_sha256 gives it)"
        )))
    }
}

/// A reqwest error in words: its whole chain of causes, and a pin mismatch said as
/// what it means (not the node pinned, or the node re-keyed).
pub fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    if s.contains("PinMismatch") {
        return "the server's TLS key is not the one pinned in the credential: not the node that issued it (or the node was re-keyed)".into();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_checked_and_normalised() {
        let p = "AB".repeat(32);
        assert_eq!(parse_pin(&p).unwrap(), "ab".repeat(32));
        let colons = vec!["ab"; 32].join(":");
        assert_eq!(parse_pin(&colons).unwrap(), "ab".repeat(32));
        for bad in ["", "ab", &"zz".repeat(32), &"ab".repeat(33)] {
            let e = parse_pin(bad).unwrap_err().to_string();
            assert!(e.contains("is not a SHA-256 in hex"), "{bad}: {e}");
        }
    }
}
