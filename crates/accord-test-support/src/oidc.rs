//! An OpenID Connect issuer for tests: HTTPS under its own CA, a discovery document and
//! a key set (an RSA-2048 key for RS256, as Keycloak signs, and a P-256 key for
//! ES256), and access tokens signed with either. It counts the key set fetches, so a
//! test can see how often a node asks. The third-party issuer is in
//! `scripts/interop/` (node-oidc-provider); this one lets a test forge what a real
//! issuer never would.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A running test issuer.
pub struct TestIssuer {
    /// `https://localhost:PORT/realms/accord`.
    pub url: String,
    /// The CA its TLS certificate chains to (PEM).
    pub ca_pem: String,
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
    fetches: Arc<AtomicUsize>,
}

/// The key id of the issuer's RSA key.
pub const RSA_KID: &str = "rsa-1";
/// The key id of the issuer's EC key.
pub const EC_KID: &str = "ec-1";

fn jwk_set(rsa: &RsaKeyPair, ec: &EcdsaKeyPair) -> Value {
    // The public key is PKCS#1 RSAPublicKey DER: SEQUENCE { n INTEGER, e INTEGER }.
    let der = rsa.public_key().as_ref();
    let (seq, _) = accord_keys::der::expect(der, 0x30, "RSAPublicKey").unwrap();
    let (n, rest) = accord_keys::der::expect(seq, 0x02, "n").unwrap();
    let (e, _) = accord_keys::der::expect(rest, 0x02, "e").unwrap();
    let strip = |b: &[u8]| {
        b.iter()
            .skip_while(|x| **x == 0)
            .copied()
            .collect::<Vec<u8>>()
    };
    let (n, e) = (strip(n), strip(e));
    let p = ec.public_key().as_ref();
    json!({"keys": [
        {"kty": "RSA", "kid": RSA_KID, "use": "sig", "alg": "RS256",
         "n": B64URL.encode(&n), "e": B64URL.encode(&e)},
        {"kty": "EC", "kid": EC_KID, "use": "sig", "crv": "P-256",
         "x": B64URL.encode(&p[1..33]), "y": B64URL.encode(&p[33..])},
        // An encryption key, as Keycloak publishes beside its signing keys: to be skipped.
        {"kty": "RSA", "kid": "enc-1", "use": "enc", "alg": "RSA-OAEP",
         "n": B64URL.encode(&n), "e": B64URL.encode(&e)},
    ]})
}

impl TestIssuer {
    /// Start an issuer on a free port of localhost.
    pub fn start() -> TestIssuer {
        let certs =
            accord_node_api::pki::make_node_certificates("IDP", &["localhost".into()]).unwrap();
        let mut tls =
            accord_node_api::tls::server_config(&certs.tls_cert, &certs.tls_key.0).unwrap();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let tls = Arc::new(tls);
        let port = crate::free_port();
        let url = format!("https://localhost:{port}/realms/accord");
        let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let keys = jwk_set(&rsa, &ec).to_string();
        let discovery = json!({
            "issuer": url,
            "token_endpoint": format!("{url}/protocol/openid-connect/token"),
            "jwks_uri": format!("{url}/protocol/openid-connect/certs"),
        })
        .to_string();
        let fetches = Arc::new(AtomicUsize::new(0));
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let counted = fetches.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let Ok(conn) = rustls::ServerConnection::new(tls.clone()) else {
                    continue;
                };
                let mut s = rustls::StreamOwned::new(conn, stream);
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match s.read(&mut b) {
                        Ok(1) => head.push(b[0]),
                        _ => break,
                    }
                }
                let line = String::from_utf8_lossy(&head);
                let path = line.split_whitespace().nth(1).unwrap_or("");
                let body = if path.ends_with("/.well-known/openid-configuration") {
                    Some(discovery.clone())
                } else if path.ends_with("/protocol/openid-connect/certs") {
                    counted.fetch_add(1, Ordering::SeqCst);
                    Some(keys.clone())
                } else {
                    None
                };
                let reply = match body {
                    Some(b) => format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{b}",
                        b.len()
                    ),
                    None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
                };
                let _ = s.write_all(reply.as_bytes());
                let _ = s.flush();
                s.conn.send_close_notify();
                let _ = s.flush();
            }
        });
        TestIssuer {
            url,
            ca_pem: certs.ca_cert,
            rsa,
            ec,
            fetches,
        }
    }

    /// How many times its key set was fetched.
    pub fn key_set_fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// A token with `claims`, signed RS256 under `kid` (normally [`RSA_KID`]).
    pub fn rs256(&self, kid: &str, claims: &Value) -> String {
        let input = signing_input(json!({"alg": "RS256", "typ": "JWT", "kid": kid}), claims);
        let mut sig = vec![0u8; self.rsa.public_modulus_len()];
        self.rsa
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .unwrap();
        format!("{input}.{}", B64URL.encode(sig))
    }

    /// A token with `claims`, signed ES256 under [`EC_KID`].
    pub fn es256(&self, claims: &Value) -> String {
        crate::opentdf::jws(
            json!({"alg": "ES256", "typ": "at+jwt", "kid": EC_KID}),
            claims,
            &self.ec,
        )
    }

    /// Keycloak-like claims for a service account whose `preferred_username` is
    /// `person`, for `audience`, bound to the DPoP key `jkt` when given, valid from now
    /// for five minutes.
    pub fn claims(&self, person: &str, audience: &str, jkt: Option<&str>) -> Value {
        let now = crate::opentdf::now();
        let mut c = json!({
            "iss": self.url, "aud": [audience, "account"], "sub": "5d1c0b7e-service-account",
            "azp": "accord-tests", "preferred_username": person, "typ": "Bearer",
            "iat": now, "exp": now + 300, "jti": format!("{now}-{person}"),
        });
        if let Some(j) = jkt {
            c["cnf"] = json!({ "jkt": j });
        }
        c
    }
}

fn signing_input(header: Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    )
}
