//! The node as the OAuth 2.0 issuer of its own people for OpenTDF clients.
//!
//! OpenTDF SDKs authenticate to a KAS with an access token from an identity provider,
//! not with a client certificate. The node is that provider for the people it enrols:
//! a person given OpenTDF client credentials (`accord user opentdf-client`) exchanges
//! them at `POST /oauth/token` (`client_credentials`) for a short-lived JWT signed by
//! the node's token key (`keys/token.key`, ES384). A token names the person and the
//! client; it grants nothing by itself: every rewrap rereads the person and the client
//! from the directory, so a suspension or a revoked client acts on the next request.

use crate::Error;
use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P384_SHA384_FIXED,
    ECDSA_P384_SHA384_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::path::Path;
use zeroize::Zeroizing;

/// The PEM label of the token key file (PKCS#8).
const PRIVATE_KEY: &str = "PRIVATE KEY";

/// Largest access token read (a node's own is under 1 KiB).
pub(crate) const MAX_TOKEN: usize = 8 * 1024;

/// The `client_id` of a token obtained with a client assertion signed by a person's
/// credential key (`private_key_jwt`) starts with this, then the credential's
/// fingerprint: every rewrap with the token checks that credential still stands.
pub(crate) const CREDENTIAL_CLIENT: &str = "credential:";

/// Clock skew allowed on `iat` and `exp`, seconds.
pub(crate) const SKEW: i64 = 60;

/// The claims of an access token the node issues.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub iss: String,
    pub aud: String,
    /// The person's id.
    pub sub: String,
    pub client_id: String,
    pub accord_party: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// The DPoP key the token is bound to (RFC 9449 `cnf.jkt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// RFC 7800 confirmation: the JWK SHA-256 thumbprint of the bound key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Confirmation {
    pub jkt: String,
}

/// The node's token signing key.
pub(crate) struct Issuer {
    key: EcdsaKeyPair,
    kid: String,
    jwk: serde_json::Value,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Issuer({})", self.kid)
    }
}

/// Make a new token key and write it (owner-only) at `path`.
pub(crate) fn make_key(path: &Path) -> Result<(), Error> {
    let key = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING)
        .map_err(|_| Error::Input("generating the token key failed".into()))?;
    let der = key
        .to_pkcs8v1()
        .map_err(|_| Error::Input("encoding the token key failed".into()))?;
    let mut pem = Zeroizing::new(String::new());
    accord_keys::pem::encode_into(&mut pem, PRIVATE_KEY, der.as_ref());
    accord_keys::write_private_file(path, pem.as_bytes())?;
    Ok(())
}

impl Issuer {
    /// Read the token key at `path`.
    pub(crate) fn load(path: &Path) -> Result<Issuer, Error> {
        let text = accord_keys::read_key_file(path)?;
        let what = path.display().to_string();
        let blocks = accord_keys::pem::decode_all(&text, &what)?;
        let [block] = blocks.as_slice() else {
            return Err(Error::Input(format!(
                "{what}: expected one PRIVATE KEY block, found {}",
                blocks.len()
            )));
        };
        if block.label != PRIVATE_KEY {
            return Err(Error::Input(format!(
                "{what}: expected a PRIVATE KEY block, found {}",
                block.label
            )));
        }
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &block.der)
            .map_err(|_| Error::Input(format!("{what}: not a PKCS#8 ECDSA P-384 key")))?;
        let point = key.public_key().as_ref();
        if point.len() != 97 || point[0] != 4 {
            return Err(Error::Input(format!(
                "{what}: not an uncompressed P-384 point"
            )));
        }
        let (x, y) = (B64URL.encode(&point[1..49]), B64URL.encode(&point[49..]));
        // RFC 7638: the thumbprint of the required members in lexicographic order.
        let canonical = format!(r#"{{"crv":"P-384","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = B64URL.encode(digest::digest(&digest::SHA256, canonical.as_bytes()));
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-384", "x": x, "y": y,
            "kid": kid, "use": "sig", "alg": "ES384",
        });
        Ok(Issuer { key, kid, jwk })
    }

    /// `GET /oauth/jwks`.
    pub(crate) fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [self.jwk] })
    }

    /// Sign `claims` as a compact JWS (`typ` `at+jwt`, RFC 9068).
    pub(crate) fn issue(&self, claims: &Claims) -> Result<String, Error> {
        let header = serde_json::json!({ "alg": "ES384", "typ": "at+jwt", "kid": self.kid });
        let input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(serde_json::to_vec(claims).map_err(|e| Error::Input(e.to_string()))?)
        );
        let sig = self
            .key
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| Error::Input("signing an access token failed".into()))?;
        Ok(format!("{input}.{}", B64URL.encode(sig.as_ref())))
    }

    /// Check an access token: this key's signature, this issuer and audience, in its
    /// lifetime at `now`. The error says what is wrong, for the `unauthenticated` answer.
    pub(crate) fn verify(
        &self,
        token: &str,
        iss: &str,
        aud: &str,
        now: i64,
    ) -> Result<Claims, String> {
        if token.len() > MAX_TOKEN {
            return Err(format!("the access token is over {MAX_TOKEN} bytes"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("the access token is not a compact JWS (three parts)".into());
        };
        let header: serde_json::Value = B64URL
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("the access token's header is not base64url JSON")?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("ES384") {
            return Err("the access token is not signed ES384 by this node's issuer".into());
        }
        if header.get("kid").and_then(|a| a.as_str()) != Some(self.kid.as_str()) {
            // The caller chose the kid: only its start goes into the answer and the log.
            let kid: String = header
                .get("kid")
                .and_then(|a| a.as_str())
                .unwrap_or("unnamed")
                .chars()
                .take(16)
                .collect();
            return Err(format!(
                "the access token was not issued by this node (key {kid}… is not its token key)"
            ));
        }
        let sig = B64URL
            .decode(s)
            .map_err(|_| "the access token's signature is not base64url")?;
        let signing_input = &token[..h.len() + 1 + c.len()];
        UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, self.key.public_key().as_ref())
            .verify(signing_input.as_bytes(), &sig)
            .map_err(|_| {
                "the access token's signature does not verify with this node's token key"
            })?;
        let claims: Claims = B64URL
            .decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("the access token's claims are not the node's")?;
        if claims.iss != iss {
            return Err(format!(
                "the access token is for issuer {}, not {iss}",
                claims.iss
            ));
        }
        if claims.aud != aud {
            return Err(format!(
                "the access token is for audience {}, not {aud}",
                claims.aud
            ));
        }
        if claims.exp < now - SKEW {
            return Err(format!(
                "the access token expired {} s ago: ask the token endpoint for a new one",
                now - claims.exp
            ));
        }
        if claims.iat > now + SKEW {
            return Err("the access token is issued in the future".into());
        }
        Ok(claims)
    }
}

/// A new client secret: 32 random bytes, base64url. Shown once; the node keeps its hash.
pub(crate) fn new_secret() -> Result<Zeroizing<String>, Error> {
    let mut b = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(&mut b[..]).map_err(|_| Error::Input("random".into()))?;
    Ok(Zeroizing::new(B64URL.encode(&b[..])))
}

/// The stored form of a client secret: hex SHA-256. The secret has 256 bits of
/// entropy, so a fast hash is enough (no dictionary to guess from).
pub(crate) fn secret_hash(secret: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, secret.as_bytes()))
}

/// Whether `secret` hashes to `stored`, compared in constant time.
pub(crate) fn secret_matches(secret: &str, stored: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(
        secret_hash(secret).as_bytes(),
        stored.as_bytes(),
    )
    .is_ok()
}

/// A fresh token id.
pub(crate) fn new_jti() -> String {
    let mut b = [0u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut b);
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer() -> Issuer {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token.key");
        make_key(&p).unwrap();
        Issuer::load(&p).unwrap()
    }

    fn claims(now: i64) -> Claims {
        Claims {
            iss: "https://n".into(),
            aud: "https://n/kas".into(),
            sub: "alice".into(),
            client_id: "c".into(),
            accord_party: "PAK".into(),
            iat: now,
            exp: now + 300,
            jti: new_jti(),
            cnf: None,
        }
    }

    #[test]
    fn a_token_verifies_only_as_issued() {
        let i = issuer();
        let t = i.issue(&claims(1000)).unwrap();
        assert_eq!(
            i.verify(&t, "https://n", "https://n/kas", 1100)
                .unwrap()
                .sub,
            "alice"
        );
        assert!(i
            .verify(&t, "https://m", "https://n/kas", 1100)
            .unwrap_err()
            .contains("issuer"));
        assert!(i
            .verify(&t, "https://n", "https://n/x", 1100)
            .unwrap_err()
            .contains("audience"));
        assert!(i
            .verify(&t, "https://n", "https://n/kas", 1400)
            .unwrap_err()
            .contains("expired"));
        // Another node's key, same claims.
        let other = issuer().issue(&claims(1000)).unwrap();
        assert!(i
            .verify(&other, "https://n", "https://n/kas", 1100)
            .unwrap_err()
            .contains("not issued by this node"));
        // A claim changed after signing.
        let mut parts: Vec<String> = t.split('.').map(String::from).collect();
        let mut c = claims(1000);
        c.sub = "mallory".into();
        parts[1] = B64URL.encode(serde_json::to_vec(&c).unwrap());
        assert!(i
            .verify(&parts.join("."), "https://n", "https://n/kas", 1100)
            .unwrap_err()
            .contains("signature"));
        assert!(i.verify("a.b", "https://n", "https://n/kas", 1100).is_err());
    }

    #[test]
    fn secrets_match_only_themselves() {
        let s = new_secret().unwrap();
        let h = secret_hash(&s);
        assert!(secret_matches(&s, &h));
        assert!(!secret_matches("other", &h));
        assert_eq!(s.len(), 43);
    }
}
