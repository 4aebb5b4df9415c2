//! Assertions: the label and its marking travel as assertions bound to the object by
//! a JWS (compact, `ES384` or `EdDSA`) made with the originator's signing key, in the
//! shape OpenTDF's `sdk/assertion.go` uses:
//!
//! * `assertionHash` claim = hex SHA-256 of the JCS form of the assertion without
//!   `binding`;
//! * `assertionSig` claim = base64(aggregate segment hashes ‖ raw assertion hash),
//!   which ties the assertion to this payload;
//! * `accordManifestDigest` claim (Accord's addition, ignored by OpenTDF readers) = hex
//!   SHA-256 of the JCS form of the manifest without `assertions`, so any change to
//!   key access, policy, method, segments or payload fields breaks the signature.
//!
//! Foreign assertions signed `HS256` with the payload key (OpenTDF's default) are
//! verified with the payload key.

use crate::crypto;
use crate::manifest::{Assertion, Binding, Statement};
use crate::Error;
use accord_keys::{SignatureAlg, SigningKey, VerifyingKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

/// Id of the label assertion.
pub const LABEL_ID: &str = "accord-label";
/// Id of the marking assertion.
pub const MARKING_ID: &str = "accord-marking";
/// Schema of the label statement.
pub const LABEL_SCHEMA: &str = "urn:nato:stanag:4774:confidentialitymetadatalabel:1:0";
/// Schema of the marking statement.
pub const MARKING_SCHEMA: &str = "urn:accord:marking:1";

/// A new unsigned label assertion.
pub fn label_assertion(xml: &str) -> Assertion {
    Assertion {
        id: LABEL_ID.into(),
        kind: "handling".into(),
        scope: "tdo".into(),
        applies_to_state: "unencrypted".into(),
        statement: Statement {
            format: "xml-structured".into(),
            schema: LABEL_SCHEMA.into(),
            value: xml.into(),
        },
        binding: Binding::default(),
    }
}

/// A new unsigned marking assertion.
pub fn marking_assertion(marking: &str) -> Assertion {
    Assertion {
        id: MARKING_ID.into(),
        kind: "other".into(),
        scope: "tdo".into(),
        applies_to_state: "unencrypted".into(),
        statement: Statement {
            format: "string".into(),
            schema: MARKING_SCHEMA.into(),
            value: marking.into(),
        },
        binding: Binding::default(),
    }
}

/// SHA-256 of the JCS form of the assertion without its binding.
pub fn assertion_hash(a: &Assertion) -> Result<[u8; 32], Error> {
    let mut v = serde_json::to_value(a).map_err(|e| Error::Manifest(e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        o.remove("binding");
    }
    Ok(crypto::sha256(&crate::jcs::canonical(&v)?))
}

/// SHA-256 of the JCS form of a manifest JSON value without `assertions`, hex.
pub fn manifest_digest(manifest: &serde_json::Value) -> Result<String, Error> {
    Ok(hex::encode(crypto::sha256(&crate::jcs::canonical_without(
        manifest,
        "assertions",
    )?)))
}

fn assertion_sig_claim(aggregate: &[u8], hash: &[u8; 32], legacy: bool) -> String {
    let mut b = aggregate.to_vec();
    if legacy {
        b.extend_from_slice(hex::encode(hash).as_bytes());
    } else {
        b.extend_from_slice(hash);
    }
    crate::b64_encode(&b)
}

/// Sign `a` with the classical signing key.
pub fn sign(
    a: &mut Assertion,
    aggregate: &[u8],
    manifest_digest: &str,
    signer: &SigningKey,
) -> Result<(), Error> {
    let hash = assertion_hash(a)?;
    let alg = signer.classical_alg();
    let header =
        json!({"alg": alg.jws_name(), "kid": signer.public_keys().classical.kid(), "typ": "JWT"});
    let claims = json!({
        "assertionHash": hex::encode(hash),
        "assertionSig": assertion_sig_claim(aggregate, &hash, false),
        "accordManifestDigest": manifest_digest,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = signer
        .sign_classical(signing_input.as_bytes())
        .map_err(Error::Keys)?;
    a.binding = Binding {
        method: "jws".into(),
        signature: format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)),
    };
    Ok(())
}

/// Signs the label and marking assertions of an object being sealed.
///
/// `seal` asks its signer to bind the assertions to the payload (the `aggregate` of
/// segment tags) and to the manifest (`manifest_digest`, the digest of `manifest`, the
/// manifest without assertions), after the payload is written. A trait rather than a
/// key so that the signature can be made elsewhere: a party node signs the label
/// assertion itself, after checking that the person sealing may apply that label under
/// the agreement the manifest's policy names (it is sent `manifest`, and derives the
/// rest with [`crate::check_unsigned`]), and the client never holds the node's signing
/// key.
pub trait AssertionSigner: Sync {
    /// Set the `binding` of every assertion in `assertions`, changing nothing else.
    fn sign_assertions(
        &self,
        assertions: &mut [Assertion],
        manifest: &serde_json::Value,
        aggregate: &[u8],
        manifest_digest: &str,
    ) -> Result<(), Error>;
}

/// A local signing key signs each assertion with [`sign`].
impl AssertionSigner for SigningKey {
    fn sign_assertions(
        &self,
        assertions: &mut [Assertion],
        _manifest: &serde_json::Value,
        aggregate: &[u8],
        manifest_digest: &str,
    ) -> Result<(), Error> {
        for a in assertions {
            sign(a, aggregate, manifest_digest, self)?;
        }
        Ok(())
    }
}

/// Who signed an assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// JWS `alg`.
    pub alg: String,
    /// The kid (SHA-256 of the SPKI) of the trusted key the signature verified under,
    /// not the header's claim; for HS256, the header's `kid`.
    pub kid: String,
}

/// The parsed JWS of an assertion, not yet verified.
pub struct Jws {
    /// Header `alg`.
    pub alg: String,
    /// Header `kid`, when present.
    pub kid: String,
    claims: serde_json::Value,
    signing_input: String,
    sig: Vec<u8>,
}

/// The `kid` that the JWS header of the label assertion in `manifest` (a manifest's
/// JSON) claims, unverified. A KAS reads ahead by it (for evidence about a revoked
/// signer's objects); what counts is [`Signer::kid`] after verification, so a header
/// that lies only loses the object its evidence.
pub fn label_header_kid(manifest: &serde_json::Value) -> Option<String> {
    let a = manifest["assertions"]
        .as_array()?
        .iter()
        .find(|a| a["id"].as_str() == Some(LABEL_ID))?;
    let header = a["binding"]["signature"].as_str()?.split('.').next()?;
    let header = URL_SAFE_NO_PAD.decode(header.trim_end_matches('=')).ok()?;
    let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
    header["kid"].as_str().map(str::to_string)
}

/// Parse an assertion's JWS compact serialization.
pub fn parse_jws(a: &Assertion) -> Result<Jws, Error> {
    let bad = |m: &str| Error::Integrity(format!("assertion `{}`: {m}", a.id));
    if a.binding.method != "jws" {
        return Err(bad("binding method is not jws"));
    }
    let parts: Vec<&str> = a.binding.signature.split('.').collect();
    if parts.len() != 3 {
        return Err(bad("binding is not a compact JWS"));
    }
    let dec = |s: &str| {
        URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .map_err(|_| bad("JWS is not base64url"))
    };
    let header: serde_json::Value =
        serde_json::from_slice(&dec(parts[0])?).map_err(|_| bad("JWS header is not JSON"))?;
    let claims: serde_json::Value =
        serde_json::from_slice(&dec(parts[1])?).map_err(|_| bad("JWS claims are not JSON"))?;
    Ok(Jws {
        alg: header["alg"].as_str().unwrap_or_default().to_string(),
        kid: header["kid"].as_str().unwrap_or_default().to_string(),
        claims,
        signing_input: format!("{}.{}", parts[0], parts[1]),
        sig: dec(parts[2])?,
    })
}

/// Verify an assertion: signature (by a trusted key, or HS256 with the payload key when
/// `allow_payload_key`), hash claim, payload binding claim and, when given, the
/// manifest digest claim.
pub fn verify(
    a: &Assertion,
    aggregate: &[u8],
    legacy: bool,
    manifest_digest: Option<&str>,
    trusted: &[VerifyingKey],
    payload_key: &[u8],
    allow_payload_key: bool,
) -> Result<Signer, Error> {
    let bad = |m: String| Error::Integrity(format!("assertion `{}`: {m}", a.id));
    let jws = parse_jws(a)?;
    let mut signer_kid = jws.kid.clone();
    match jws.alg.as_str() {
        "HS256" if allow_payload_key => {
            let mac = crypto::hmac_sha256(payload_key, jws.signing_input.as_bytes());
            if !crypto::ct_eq(&mac, &jws.sig) {
                return Err(bad("assertion signature (HS256) does not verify".into()));
            }
        }
        "HS256" => {
            // Anyone holding the payload key could have made it: it says nothing about
            // who set the label.
            return Err(Error::Untrusted(format!(
                "assertion `{}` is signed HS256 with the payload key, not by a signer key (ES384 or EdDSA); it cannot vouch for the label",
                a.id
            )));
        }
        "ES384" | "EdDSA" => {
            let alg = if jws.alg == "ES384" {
                SignatureAlg::Es384
            } else {
                SignatureAlg::Ed25519
            };
            let candidates: Vec<&VerifyingKey> =
                trusted.iter().filter(|k| k.alg() == alg).collect();
            if candidates.is_empty() {
                return Err(Error::Untrusted(format!(
                    "assertion `{}` is signed {} by kid {}, and no trusted signer key of that kind was given",
                    a.id, jws.alg, jws.kid
                )));
            }
            let by_kid: Vec<&VerifyingKey> = candidates
                .iter()
                .copied()
                .filter(|k| k.kid() == jws.kid)
                .collect();
            let tried = if by_kid.is_empty() {
                &candidates
            } else {
                &by_kid
            };
            // The signer is the key that verified, whatever the header says: a
            // revoked key cannot pass for another by a `kid` it does not own.
            let verified_by = tried
                .iter()
                .find(|k| k.verify(jws.signing_input.as_bytes(), &jws.sig).is_ok());
            if let Some(k) = verified_by {
                signer_kid = k.kid();
            } else {
                if by_kid.is_empty() {
                    return Err(Error::Untrusted(format!(
                        "assertion `{}` is signed by kid {}, which is not a trusted signer",
                        a.id, jws.kid
                    )));
                }
                return Err(bad(format!(
                    "assertion signature ({}) does not verify",
                    jws.alg
                )));
            }
        }
        other => {
            return Err(Error::Unsupported(format!(
                "assertion `{}` signature algorithm `{other}`",
                a.id
            )))
        }
    }
    let hash = assertion_hash(a)?;
    if jws.claims["assertionHash"].as_str() != Some(hex::encode(hash).as_str()) {
        return Err(bad(
            "assertion hash does not match its statement (statement changed)".into(),
        ));
    }
    if jws.claims["assertionSig"].as_str()
        != Some(assertion_sig_claim(aggregate, &hash, legacy).as_str())
    {
        return Err(bad(
            "assertion is not bound to this payload (segment hashes differ)".into(),
        ));
    }
    if let Some(d) = manifest_digest {
        if jws.claims["accordManifestDigest"].as_str() != Some(d) {
            return Err(bad("manifest changed after signing (key access, policy or integrity information differ)".into()));
        }
    }
    Ok(Signer {
        alg: jws.alg,
        kid: signer_kid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use accord_keys::ClassicalAlg;

    /// A label assertion signed by `key` whose JWS header claims `kid`.
    fn signed_claiming(key: &SigningKey, kid: &str) -> (Assertion, Vec<u8>) {
        let mut a = label_assertion("<label/>");
        let aggregate = b"segment tags".to_vec();
        let hash = assertion_hash(&a).unwrap();
        let header = json!({"alg": "ES384", "kid": kid, "typ": "JWT"});
        let claims = json!({
            "assertionHash": hex::encode(hash),
            "assertionSig": assertion_sig_claim(&aggregate, &hash, false),
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = key.sign_classical(input.as_bytes()).unwrap();
        a.binding = Binding {
            method: "jws".into(),
            signature: format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)),
        };
        (a, aggregate)
    }

    /// The signer named is the key that verified: a header `kid` naming no trusted
    /// key does not hide which trusted key signed (a revoked one, say), and one
    /// naming another trusted key does not verify.
    #[test]
    fn the_signer_is_the_key_that_verified_not_the_header_kid() {
        let stolen = SigningKey::generate(ClassicalAlg::Es384).unwrap();
        let other = SigningKey::generate(ClassicalAlg::Es384).unwrap();
        let trusted = [
            other.public_keys().classical.clone(),
            stolen.public_keys().classical.clone(),
        ];
        let stolen_kid = stolen.public_keys().classical.kid();
        let (a, agg) = signed_claiming(&stolen, &"f".repeat(64));
        let s = verify(&a, &agg, false, None, &trusted, &[], false).unwrap();
        assert_eq!(s.kid, stolen_kid);
        assert_eq!(
            label_header_kid(&json!({"assertions": [a]})).unwrap(),
            "f".repeat(64)
        );
        let (a, agg) = signed_claiming(&stolen, &other.public_keys().classical.kid());
        let e = verify(&a, &agg, false, None, &trusted, &[], false).unwrap_err();
        assert!(e.to_string().contains("does not verify"), "{e}");
        let (a, agg) = signed_claiming(&stolen, &stolen_kid);
        let s = verify(&a, &agg, false, None, &trusted, &[], false).unwrap();
        assert_eq!(s.kid, stolen_kid);
    }
}
