//! Tokens signed by someone else than the node: an external OpenID Connect issuer's
//! discovery document and key set (RFC 8414 / OIDC Discovery, RFC 7517), the access
//! tokens it signs (RFC 9068 profile, as Keycloak issues them), and a client assertion
//! (RFC 7523, `private_key_jwt`) signed with a person's credential key.
//!
//! All of it arrives from outside: the documents from the issuer's server (which an
//! attacker in the path, or the issuer itself, may get wrong), the tokens from any
//! caller. Each parser is bounded and names what was wrong; none panics.

use super::srt::{Jwk, Jws, ALGORITHMS};
use super::Error;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

/// Largest discovery document read.
pub const MAX_METADATA: usize = 64 * 1024;
/// Largest key set read.
pub const MAX_JWKS: usize = 256 * 1024;
/// Most keys in a key set (Keycloak publishes two or three; rotation adds one).
pub const MAX_JWKS_KEYS: usize = 64;
/// Largest access token read (Keycloak's carry roles and scopes: a few KiB).
pub const MAX_ACCESS_TOKEN: usize = 16 * 1024;
/// Largest certificate in a client assertion's `x5c`.
pub const MAX_CERTIFICATE: usize = 8 * 1024;
/// The path of an issuer's discovery document under its URL (OIDC Discovery 4).
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// RFC 7523's client assertion type.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn issuer_error(m: impl Into<String>) -> Error {
    Error::Issuer(m.into())
}

fn json_object(body: &[u8], what: &str) -> Result<Map<String, Value>, Error> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(issuer_error(format!("{what}: not a JSON object"))),
        Err(e) => Err(issuer_error(format!("{what}: not JSON: {e}"))),
    }
}

/// The issuer URL a configured discovery URL names: the URL itself, or the URL
/// without [`DISCOVERY_PATH`] when the whole document's URL was given.
pub fn issuer_of(discovery: &str) -> &str {
    discovery
        .trim_end_matches('/')
        .strip_suffix(DISCOVERY_PATH)
        .unwrap_or(discovery.trim_end_matches('/'))
}

/// Whether two issuer URLs name the same issuer: equal once a trailing `/` is dropped
/// (the one normalisation; OIDC Discovery compares issuers exactly otherwise).
pub fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Whether `url` is an `https` URL with a host.
pub fn is_https(url: &str) -> bool {
    url.strip_prefix("https://")
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
}

/// What the node reads of an issuer's discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMetadata {
    /// `issuer`, equal to the URL it was fetched under (OIDC Discovery 4.3).
    pub issuer: String,
    /// `jwks_uri`: where its signing keys are.
    pub jwks_uri: String,
    /// `token_endpoint`, advertised to OpenTDF clients when present.
    pub token_endpoint: Option<String>,
}

impl ProviderMetadata {
    /// Read a discovery document fetched for `expected_issuer`: at most
    /// [`MAX_METADATA`] bytes; `issuer` must be that issuer (trailing `/` aside), so a
    /// document served for one issuer cannot name another; `jwks_uri` and
    /// `token_endpoint` must be `https` URLs.
    pub fn parse(body: &[u8], expected_issuer: &str) -> Result<ProviderMetadata, Error> {
        if body.len() > MAX_METADATA {
            return Err(Error::TooLarge {
                what: "the issuer's discovery document",
                limit: MAX_METADATA,
            });
        }
        let m = json_object(body, "discovery document")?;
        let text = |name: &str| -> Result<Option<String>, Error> {
            match m.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.len() <= 2048 => Ok(Some(s.clone())),
                Some(Value::String(_)) => Err(issuer_error(format!(
                    "discovery document: `{name}` is longer than 2048 bytes"
                ))),
                Some(_) => Err(issuer_error(format!(
                    "discovery document: `{name}` must be a string"
                ))),
            }
        };
        let issuer = text("issuer")?
            .ok_or_else(|| issuer_error("discovery document: `issuer` is missing"))?;
        if !same_issuer(&issuer, expected_issuer) {
            let shown: String = issuer.chars().take(100).collect();
            return Err(issuer_error(format!(
                "discovery document: `issuer` is {shown}, not {expected_issuer} whose document it should be"
            )));
        }
        let jwks_uri = text("jwks_uri")?
            .ok_or_else(|| issuer_error("discovery document: `jwks_uri` is missing"))?;
        let token_endpoint = text("token_endpoint")?;
        for (name, url) in [
            ("jwks_uri", Some(&jwks_uri)),
            ("token_endpoint", token_endpoint.as_ref()),
        ] {
            if let Some(u) = url {
                if !is_https(u) {
                    let shown: String = u.chars().take(100).collect();
                    return Err(issuer_error(format!(
                        "discovery document: `{name}` {shown} is not an https URL"
                    )));
                }
            }
        }
        Ok(ProviderMetadata {
            issuer,
            jwks_uri,
            token_endpoint,
        })
    }
}

/// One signing key of an issuer's key set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// `kid`, if the set names it.
    pub kid: Option<String>,
    /// `alg`, if the set pins the key to one algorithm.
    pub alg: Option<String>,
    /// The key.
    pub jwk: Jwk,
}

/// An issuer's signing keys (RFC 7517 JWK Set), those the node can verify with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwkSet {
    /// The usable keys, in the set's order.
    pub keys: Vec<SigningKey>,
    /// How many keys were left out: for encryption (`use` `enc`), of a type or curve
    /// the node does not verify with (Ed25519, P-521, RSA under 2048 bits), or pinned to
    /// an algorithm it does not accept.
    pub skipped: usize,
}

impl JwkSet {
    /// Read a key set: at most [`MAX_JWKS`] bytes and [`MAX_JWKS_KEYS`] keys; keys the
    /// node cannot verify with are skipped (Keycloak publishes an RSA-OAEP key beside
    /// its signing keys), but a set left with none is an error.
    pub fn parse(body: &[u8]) -> Result<JwkSet, Error> {
        if body.len() > MAX_JWKS {
            return Err(Error::TooLarge {
                what: "the issuer's key set",
                limit: MAX_JWKS,
            });
        }
        let m = json_object(body, "key set")?;
        let Some(Value::Array(entries)) = m.get("keys") else {
            return Err(issuer_error("key set: `keys` is missing or not an array"));
        };
        if entries.len() > MAX_JWKS_KEYS {
            return Err(issuer_error(format!(
                "key set: {} keys, more than {MAX_JWKS_KEYS}",
                entries.len()
            )));
        }
        let mut keys = Vec::new();
        let mut skipped = 0;
        for (i, entry) in entries.iter().enumerate() {
            let Value::Object(k) = entry else {
                return Err(issuer_error(format!("key set: key {i} is not an object")));
            };
            let member = |name: &str| -> Result<Option<String>, Error> {
                match k.get(name) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) if s.len() <= 256 => Ok(Some(s.clone())),
                    Some(_) => Err(issuer_error(format!(
                        "key set: key {i}: `{name}` must be a string of at most 256 bytes"
                    ))),
                }
            };
            let (kid, alg, usage) = (member("kid")?, member("alg")?, member("use")?);
            if usage.as_deref().is_some_and(|u| u != "sig")
                || alg.as_deref().is_some_and(|a| !ALGORITHMS.contains(&a))
            {
                skipped += 1;
                continue;
            }
            match Jwk::from_json(k) {
                Ok(jwk) => keys.push(SigningKey { kid, alg, jwk }),
                // A key holding a private part is the issuer's mistake, and a serious
                // one: refuse the set rather than skip it quietly.
                Err(Error::Jwk(e)) if k.contains_key("d") => {
                    return Err(issuer_error(format!("key set: key {i}: {e}")))
                }
                Err(_) => skipped += 1,
            }
        }
        if keys.is_empty() {
            return Err(issuer_error(format!(
                "key set: none of its {} keys is a signing key this node verifies with (RSA 2048 to 8192 bits, EC P-256 or P-384)",
                entries.len()
            )));
        }
        Ok(JwkSet { keys, skipped })
    }

    /// The key a token signed with `alg` under header `kid` names: by `kid` when it
    /// has one; without one, the only key of the set usable with `alg`. A key the set
    /// pins to another algorithm does not match.
    pub fn find(&self, kid: Option<&str>, alg: &str) -> Option<&SigningKey> {
        let fits = |k: &&SigningKey| k.alg.as_deref().is_none_or(|a| a == alg);
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .filter(fits)
                .filter(|k| k.jwk.suits(alg))
                .find(|k| k.kid.as_deref() == Some(kid)),
            None => {
                let mut it = self.keys.iter().filter(fits).filter(|k| k.jwk.suits(alg));
                let only = it.next();
                if it.next().is_some() {
                    None
                } else {
                    only
                }
            }
        }
    }
}

/// The audiences of a token: its `aud` claim, a string or an array of strings
/// (RFC 7519 4.1.3); anything else yields none.
pub fn audiences(claims: &Map<String, Value>) -> Vec<&str> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// A string claim of at most `max` characters, if present; an error names it when it is
/// not a string or too long.
pub fn string_claim<'a>(
    claims: &'a Map<String, Value>,
    name: &str,
    max: usize,
) -> Result<Option<&'a str>, String> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.as_str())),
        Some(Value::String(_)) => Err(format!("claim `{name}` is longer than {max} characters")),
        Some(_) => Err(format!("claim `{name}` must be a string")),
    }
}

/// An access token another issuer signed, parsed (not verified): a [`Jws`] of at most
/// [`MAX_ACCESS_TOKEN`] bytes whose header `typ`, when present, is `JWT` or `at+jwt`
/// (so that a DPoP proof cannot pass as one) and whose claim `typ`, when present, is
/// `Bearer` (Keycloak marks its ID tokens `ID`, under the same header), with its `iss`.
pub fn parse_access_token(token: &str) -> Result<Jws, Error> {
    if token.len() > MAX_ACCESS_TOKEN {
        return Err(Error::TooLarge {
            what: "the access token",
            limit: MAX_ACCESS_TOKEN,
        });
    }
    let jws = Jws::parse(token)?;
    match jws.header().get("typ") {
        None => {}
        Some(Value::String(t))
            if t.eq_ignore_ascii_case("jwt")
                || t.eq_ignore_ascii_case("at+jwt")
                || t.eq_ignore_ascii_case("application/at+jwt") => {}
        Some(_) => {
            return Err(Error::Jws(
                "header `typ` is not that of an access token (JWT or at+jwt)".into(),
            ))
        }
    }
    match jws.claims().get("typ") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => {}
        Some(_) => {
            return Err(Error::Jws(
                "claim `typ` is not `Bearer`: an ID token or another kind of token is not an access token".into(),
            ))
        }
    }
    string_claim(jws.claims(), "iss", 2048)
        .map_err(Error::Jws)?
        .ok_or_else(|| Error::Jws("claim `iss` is missing".into()))?;
    Ok(jws)
}

/// The certificate a client assertion is signed under: the first of its header's
/// `x5c` (RFC 7515 4.1.6: standard base64 of DER, padded), at most
/// [`MAX_CERTIFICATE`] bytes. Which certificate it is, and whether the node issued it,
/// is the caller's to check.
pub fn x5c_leaf(jws: &Jws) -> Result<Vec<u8>, Error> {
    let Some(Value::Array(chain)) = jws.header().get("x5c") else {
        return Err(Error::Jws(
            "header `x5c` (the credential's certificate) is missing or not an array".into(),
        ));
    };
    let Some(Value::String(first)) = chain.first() else {
        return Err(Error::Jws(
            "header `x5c` must start with a certificate in base64".into(),
        ));
    };
    if first.len() > MAX_CERTIFICATE * 4 / 3 + 4 {
        return Err(Error::TooLarge {
            what: "the certificate in `x5c`",
            limit: MAX_CERTIFICATE,
        });
    }
    STANDARD
        .decode(first)
        .map_err(|e| Error::Jws(format!("header `x5c`: not base64: {e}")))
}
