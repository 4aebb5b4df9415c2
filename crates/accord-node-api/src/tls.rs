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
    switchable_server_config(Arc::new(ServerCert::new(cert_pem, key_pem)?))
}

/// Server TLS presenting whatever certificate `cert` holds at each handshake: a node
/// switches to a new TLS key while it runs (`accord key rotate tls`).
pub fn switchable_server_config(cert: Arc<ServerCert>) -> Result<rustls::ServerConfig, Error> {
    let p = provider();
    let mut cfg = rustls::ServerConfig::builder_with_provider(p.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_client_cert_verifier(Arc::new(AnyClientCert(p)))
        .with_cert_resolver(cert);
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// The certificate and key a node's server presents, which can be switched while it
/// runs: connections made before keep the key they began with, new ones get the new.
#[derive(Debug)]
pub struct ServerCert(std::sync::RwLock<Arc<rustls::sign::CertifiedKey>>);

impl ServerCert {
    /// The certificate chain `cert_pem` with its key `key_pem`.
    pub fn new(cert_pem: &str, key_pem: &str) -> Result<ServerCert, Error> {
        Ok(ServerCert(std::sync::RwLock::new(certified(
            cert_pem, key_pem,
        )?)))
    }

    /// Present `cert_pem` with `key_pem` from the next handshake on. The pair is checked
    /// first (the key must be the certificate's), so a bad pair leaves the old one.
    pub fn switch(&self, cert_pem: &str, key_pem: &str) -> Result<(), Error> {
        let new = certified(cert_pem, key_pem)?;
        let mut slot = self
            .0
            .write()
            .map_err(|_| Error::Tls("the server certificate lock is poisoned".into()))?;
        *slot = new;
        Ok(())
    }

    /// SHA-256 of the presented certificate's SPKI (its pin), lower-case hex.
    pub fn pin(&self) -> Result<String, Error> {
        let k = self
            .0
            .read()
            .map_err(|_| Error::Tls("the server certificate lock is poisoned".into()))?
            .clone();
        let der = k
            .cert
            .first()
            .ok_or_else(|| Error::Tls("no server certificate".into()))?;
        pki::spki_pin(der)
    }
}

impl rustls::server::ResolvesServerCert for ServerCert {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.0.read().ok().map(|k| k.clone())
    }
}

fn certified(cert_pem: &str, key_pem: &str) -> Result<Arc<rustls::sign::CertifiedKey>, Error> {
    let certs: Vec<CertificateDer<'static>> = pki::certs_from_pem(cert_pem)?
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    let key = provider()
        .key_provider
        .load_private_key(private_key(key_pem)?)
        .map_err(|e| Error::Tls(format!("the server key: {e}")))?;
    let k = rustls::sign::CertifiedKey::new(certs, key);
    k.keys_match()
        .map_err(|e| Error::Tls(format!("the server key is not the certificate's: {e}")))?;
    Ok(Arc::new(k))
}

/// Checks the server's certificate against a pinned SPKI SHA-256; names and validity
/// dates do not matter (the pin was exchanged out of band, in a credential or a signed
/// agreement), but the handshake signature must verify with that key. With a node CA
/// (a format 2 credential), a certificate that CA issued for the server's name, for
/// server authentication and in its validity (the WebPKI checks), is trusted too:
/// what lets a person's credential follow the node to a new TLS key.
///
/// Through the CA, only a certificate issued no earlier than the one the credential
/// was made with (`not_before_floor`): a certificate the node retired before the
/// credential was issued (whose key may be what prompted the rotation) does not come
/// back through the CA.
#[derive(Debug)]
struct PinnedServer {
    pins: Vec<String>,
    ca: Option<(Arc<rustls::client::WebPkiServerVerifier>, i64)>,
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
            // Pinned, and within its dates: a node's certificate has a bounded life
            // (renewed by `accord key rotate tls`), which a pin does not extend.
            let (before, after) = (pki::not_before(end_entity), pki::not_after(end_entity));
            let (Ok(before), Ok(after)) = (before, after) else {
                return Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::BadEncoding,
                ));
            };
            let secs = |t: i64| {
                UnixTime::since_unix_epoch(std::time::Duration::from_secs(t.max(0) as u64))
            };
            let now_secs = _now.as_secs() as i64;
            if now_secs > after {
                return Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ExpiredContext {
                        time: _now,
                        not_after: secs(after),
                    },
                ));
            }
            if now_secs < before {
                return Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidYetContext {
                        time: _now,
                        not_before: secs(before),
                    },
                ));
            }
            return Ok(ServerCertVerified::assertion());
        }
        let by_ca = match &self.ca {
            Some((ca, floor)) => match ca.verify_server_cert(
                end_entity,
                _intermediates,
                _server_name,
                _ocsp_response,
                _now,
            ) {
                Ok(v) => match pki::not_before(end_entity) {
                    Ok(t) if t >= *floor => return Ok(v),
                    Ok(_) => Some(
                        "the node CA issued it before the node certificate this credential was made with: a retired key"
                            .to_string(),
                    ),
                    Err(e) => Some(e.to_string()),
                },
                Err(e) => Some(e.to_string()),
            },
            None => None,
        };
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::Other(rustls::OtherError(Arc::new(PinMismatch(got, by_ca)))),
        ))
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
struct PinMismatch(String, Option<String>);

impl std::fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the server's certificate key (SPKI SHA-256 {}) is not the pinned one",
            self.0
        )?;
        match &self.1 {
            Some(why) => write!(f, ", nor one the node CA issued for it ({why})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for PinMismatch {}

/// Client TLS pinned to `pins`, presenting `client` (certificate PEM, key PEM) if given.
pub fn client_config(
    pins: Vec<String>,
    client: Option<(&str, &str)>,
) -> Result<rustls::ClientConfig, Error> {
    pinned_client_config(pins, None, client)
}

/// Client TLS pinned to `pins` or, when `ca` (a CA's PEM, and the earliest notBefore
/// taken) is given, to a certificate that CA issued for the server's name; presenting
/// `client` if given.
fn pinned_client_config(
    pins: Vec<String>,
    ca: Option<(&str, i64)>,
    client: Option<(&str, &str)>,
) -> Result<rustls::ClientConfig, Error> {
    let p = provider();
    let ca = match ca {
        Some((pem, floor)) => {
            let mut roots = rustls::RootCertStore::empty();
            for der in pki::certs_from_pem(pem)? {
                roots
                    .add(CertificateDer::from(der))
                    .map_err(|e| Error::Tls(format!("the node CA certificate: {e}")))?;
            }
            Some((
                rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    p.clone(),
                )
                .build()
                .map_err(|e| Error::Tls(format!("the node CA certificate: {e}")))?,
                floor,
            ))
        }
        None => None,
    };
    let builder = rustls::ClientConfig::builder_with_provider(p.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServer {
            pins,
            ca,
            provider: p,
        }));
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
/// names or (format 2) a key the node's CA certified for its name, presenting the
/// person's certificate. Used to reach the node's API and to read its audit log
/// (`accord audit verify --log https://NODE/log/ --credential FILE`).
pub fn credential_client_config(
    cred: &crate::credential::Credential,
) -> Result<rustls::ClientConfig, Error> {
    let ca = match cred.node_ca_certificate.as_deref() {
        Some(pem) => {
            let node = pki::certs_from_pem(&cred.node_certificate)?
                .into_iter()
                .next()
                .ok_or_else(|| Error::Credential("node_certificate holds no certificate".into()))?;
            Some((pem, pki::not_before(&node)?))
        }
        None => None,
    };
    pinned_client_config(
        vec![parse_pin(&cred.node_tls_spki_sha256)?],
        ca,
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
    if s.contains("certificate expired") || s.contains("certificate not valid yet") {
        return format!("{s}: the server's TLS certificate is outside its dates (its node renews it with `accord key rotate tls`; or a clock is wrong)");
    }
    if s.contains("PinMismatch") {
        return "the server's TLS key is not the one pinned in the credential, nor one its node CA issued for this name: not the node that issued it (or the node was re-keyed and the credential is of format 1: ask for a new one)".into();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_certificate_is_taken_only_within_its_dates() {
        let certs = pki::make_node_certificates("PAK", &["localhost".into()]).unwrap();
        let der = pki::certs_from_pem(&certs.tls_cert).unwrap().remove(0);
        let pin = pki::spki_pin(&der).unwrap();
        let v = PinnedServer {
            pins: vec![pin],
            ca: None,
            provider: provider(),
        };
        let (before, after) = (
            pki::not_before(&der).unwrap(),
            pki::not_after(&der).unwrap(),
        );
        let at = |t: i64| UnixTime::since_unix_epoch(std::time::Duration::from_secs(t as u64));
        let name = ServerName::try_from("localhost").unwrap();
        let cert = CertificateDer::from(der.to_vec());
        let check = |t: i64| v.verify_server_cert(&cert, &[], &name, &[], at(t));
        assert!(check(before).is_ok());
        assert!(check(after).is_ok());
        let e = check(after + 1).unwrap_err().to_string();
        assert!(e.contains("expired"), "{e}");
        let e = check(before - 1).unwrap_err().to_string();
        assert!(e.contains("not valid yet"), "{e}");
        assert!(pki::outside_validity(&der, after + 1)
            .unwrap()
            .starts_with("that expired on "));
        assert!(pki::outside_validity(&der, before - 1)
            .unwrap()
            .starts_with("that is not valid before "));
        assert_eq!(pki::outside_validity(&der, before + 60), None);
        assert!(pki::outside_validity(b"not a certificate", before).is_some());
    }

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
