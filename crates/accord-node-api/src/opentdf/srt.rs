//! The signed request token of `kas.AccessService/Rewrap`: a compact JWS (RFC 7515)
//! whose `requestBody` claim is the [`super::UnsignedRewrapRequest`] as JSON, signed
//! with the client's DPoP key. Also the JWKs (RFC 7517) such keys arrive as, their
//! thumbprints (RFC 7638), and the client's return-leg key from the request body.
//!
//! Accepted algorithms: RS256, PS256, ES256 and ES384 (what the SDKs use and Accord
//! verifies; never `none` or HS*). Times follow the platform's `jwt.Validate` with
//! [`MAX_SKEW_SECS`] of skew, plus Accord's bound on a token's lifetime.

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::signature::{self, RsaPublicKeyComponents, VerificationAlgorithm};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use super::{Error, MAX_BODY};
use accord_keys::der;

/// How far a token's times may be from the node's clock (as Accord's own route).
pub const MAX_SKEW_SECS: i64 = crate::wire::MAX_SKEW_SECS;
/// Longest token lifetime (`exp − iat`) accepted, before skew: otdf-python and web-sdk
/// issue two-hour tokens.
pub const MAX_LIFETIME_SECS: i64 = 7200;
/// The JWS algorithms accepted.
pub const ALGORITHMS: [&str; 4] = ["RS256", "PS256", "ES256", "ES384"];

/// `secp521r1` (1.3.132.0.35).
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
/// DER INTEGER.
const INTEGER: u8 = 0x02;
/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (aws-lc-rs verifies up to 8192).
const MAX_RSA_BITS: usize = 8192;

/// An elliptic curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256 (`secp256r1`).
    P256,
    /// NIST P-384 (`secp384r1`).
    P384,
    /// NIST P-521 (`secp521r1`): a client key only, never a JWS key here.
    P521,
}

impl Curve {
    /// The JOSE name (`crv`): `P-256`, `P-384`, `P-521`.
    pub fn as_str(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    /// Bytes of a coordinate.
    pub fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    fn from_oid(oid: &[u8]) -> Option<Curve> {
        match oid {
            o if o == der::OID_P256 => Some(Curve::P256),
            o if o == der::OID_P384 => Some(Curve::P384),
            o if o == OID_P521 => Some(Curve::P521),
            _ => None,
        }
    }

    /// A verification algorithm on this curve, used to check a point is on it.
    fn point_check(self) -> &'static dyn VerificationAlgorithm {
        match self {
            Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
            Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
            Curve::P521 => &signature::ECDSA_P521_SHA512_FIXED,
        }
    }
}

// ---------------------------------------------------------------------------------
// Compact JWS.
// ---------------------------------------------------------------------------------

/// A compact JWS (RFC 7515), parsed but not verified: the signed request token, and
/// a DPoP proof (RFC 9449), share it.
#[derive(Debug, Clone)]
pub struct Jws {
    token: String,
    /// Length of `header.payload`, the signing input.
    signed_len: usize,
    alg: String,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signature: Vec<u8>,
}

impl Jws {
    /// Parse a compact JWS of at most [`MAX_BODY`] bytes: three base64url parts
    /// (unpadded); a header object whose `alg` is one of [`ALGORITHMS`] and without
    /// `crit`; a payload that is a JSON object (the claims).
    pub fn parse(token: &str) -> Result<Jws, Error> {
        if token.len() > MAX_BODY {
            return Err(Error::TooLarge {
                what: "the JWS",
                limit: MAX_BODY,
            });
        }
        Jws::parse_inner(token).map_err(Error::Jws)
    }

    fn parse_inner(token: &str) -> Result<Jws, String> {
        if token.len() > MAX_BODY {
            return Err(format!("larger than {MAX_BODY} bytes"));
        }
        let parts: Vec<&str> = token.split('.').collect();
        let [header_b64, payload_b64, signature_b64] = parts[..] else {
            return Err(format!(
                "expected 3 dot-separated base64url parts (a compact JWS), found {}",
                parts.len()
            ));
        };
        let signed_len = header_b64.len() + 1 + payload_b64.len();
        let header = json_object(&b64url(header_b64, "header")?, "header")?;
        let claims = json_object(&b64url(payload_b64, "payload")?, "payload")?;
        let signature = b64url(signature_b64, "signature")?;
        let alg = match header.get("alg") {
            Some(Value::String(a)) => a.clone(),
            Some(_) => return Err("header `alg` must be a string".into()),
            None => return Err("header has no `alg`".into()),
        };
        check_alg(&alg)?;
        if header.contains_key("crit") {
            return Err("header `crit` names extensions this node does not understand".into());
        }
        Ok(Jws {
            token: token.to_owned(),
            signed_len,
            alg,
            header,
            claims,
            signature,
        })
    }

    /// The algorithm (one of [`ALGORITHMS`]).
    pub fn alg(&self) -> &str {
        &self.alg
    }

    /// The header.
    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// A header member that is a string (`typ`, `kid`), if present.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    /// The claims (the payload).
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The bytes signed: `base64url(header) "." base64url(payload)`.
    pub fn signing_input(&self) -> &[u8] {
        self.token
            .as_bytes()
            .get(..self.signed_len)
            .unwrap_or_default()
    }

    /// The signature bytes.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The whole JWS as received.
    pub fn as_str(&self) -> &str {
        &self.token
    }

    /// Verify the signature with `key`: RS256 and PS256 with an RSA key, ES256 with a
    /// P-256 key, ES384 with a P-384 key (the JWS `r ‖ s` form).
    pub fn verify(&self, key: &Jwk) -> Result<(), Error> {
        self.verify_inner(key).map_err(Error::JwsSignature)
    }

    fn verify_inner(&self, key: &Jwk) -> Result<(), String> {
        check_alg(&self.alg)?;
        let input = self.signing_input();
        let sig = self.signature.as_slice();
        let ok = match (self.alg.as_str(), &key.0) {
            ("RS256", Key::Rsa { n, e }) => rsa_components(n, e)
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, input, sig)
                .is_ok(),
            ("PS256", Key::Rsa { n, e }) => rsa_components(n, e)
                .verify(&signature::RSA_PSS_2048_8192_SHA256, input, sig)
                .is_ok(),
            (
                "ES256",
                Key::Ec {
                    curve: Curve::P256, ..
                },
            ) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, key.point())
                    .verify(input, sig)
                    .is_ok()
            }
            (
                "ES384",
                Key::Ec {
                    curve: Curve::P384, ..
                },
            ) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, key.point())
                    .verify(input, sig)
                    .is_ok()
            }
            (alg, _) => {
                let needs = match alg {
                    "ES256" => "an EC P-256 key",
                    "ES384" => "an EC P-384 key",
                    _ => "an RSA key",
                };
                return Err(format!(
                    "alg {alg} needs {needs}, and the key is {}",
                    key.describe()
                ));
            }
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{} signature does not verify with the key of thumbprint {}",
                self.alg,
                key.thumbprint()
            ))
        }
    }
}

// ---------------------------------------------------------------------------------
// The signed request token.
// ---------------------------------------------------------------------------------

/// A parsed (not yet verified) signed request token.
#[derive(Debug, Clone)]
pub struct SignedRequestToken {
    jws: Jws,
    request_body: String,
    times: Times,
}

impl SignedRequestToken {
    /// Parse the token: a [`Jws`] whose header's optional `typ` and `kid` are strings
    /// and `jwk` an object, with the string claim `requestBody` and the optional
    /// NumericDates `iat`, `exp`, `nbf`.
    pub fn parse(token: &str) -> Result<Self, Error> {
        if token.len() > MAX_BODY {
            return Err(Error::TooLarge {
                what: "the signed request token",
                limit: MAX_BODY,
            });
        }
        let jws = Jws::parse_inner(token).map_err(Error::Token)?;
        for name in ["typ", "kid"] {
            if !matches!(jws.header.get(name), None | Some(Value::String(_))) {
                return Err(Error::Token(format!("header `{name}` must be a string")));
            }
        }
        if !matches!(jws.header.get("jwk"), None | Some(Value::Object(_))) {
            return Err(Error::Token("header `jwk` must be an object".into()));
        }
        let request_body = match jws.claims.get("requestBody") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(Error::Token("claim `requestBody` must be a string".into())),
            None => return Err(Error::Token("claim `requestBody` is missing".into())),
        };
        let times = Times::read(&jws.claims).map_err(Error::Token)?;
        Ok(SignedRequestToken {
            jws,
            request_body,
            times,
        })
    }

    /// The JWS underneath (its header and claims as sent).
    pub fn jws(&self) -> &Jws {
        &self.jws
    }

    /// The JWS algorithm (one of [`ALGORITHMS`]).
    pub fn alg(&self) -> &str {
        self.jws.alg()
    }

    /// The header's `typ`, if any.
    pub fn typ(&self) -> Option<&str> {
        self.jws.header_str("typ")
    }

    /// The header's `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.jws.header_str("kid")
    }

    /// The header's `jwk`, parsed, if there is one.
    pub fn jwk(&self) -> Result<Option<Jwk>, Error> {
        self.jws.header.get("jwk").map(Jwk::from_value).transpose()
    }

    /// The `requestBody` claim: an [`super::UnsignedRewrapRequest`] as JSON.
    pub fn request_body(&self) -> &str {
        &self.request_body
    }

    /// `iat`, if present (seconds since 1970).
    pub fn iat(&self) -> Option<i64> {
        self.times.iat
    }

    /// `exp`, if present.
    pub fn exp(&self) -> Option<i64> {
        self.times.exp
    }

    /// `nbf`, if present.
    pub fn nbf(&self) -> Option<i64> {
        self.times.nbf
    }

    /// The bytes signed: `base64url(header) "." base64url(payload)`.
    pub fn signing_input(&self) -> &[u8] {
        self.jws.signing_input()
    }

    /// The signature bytes.
    pub fn signature(&self) -> &[u8] {
        self.jws.signature()
    }

    /// The whole token as received.
    pub fn as_str(&self) -> &str {
        self.jws.as_str()
    }

    /// Check the times against `now` (seconds since 1970), with [`MAX_SKEW_SECS`] of
    /// skew: `exp` present and not before `now − skew`; `iat`, if present, not after
    /// `now + skew`; `nbf`, if present, not after `now + skew`; and `exp − iat` at most
    /// [`MAX_LIFETIME_SECS`] `+ skew` when both are present.
    pub fn check_times(&self, now: i64) -> Result<(), Error> {
        self.times
            .check(now, MAX_SKEW_SECS, MAX_LIFETIME_SECS)
            .map_err(Error::TokenTime)
    }

    /// Verify the signature with `key` (see [`Jws::verify`]).
    pub fn verify(&self, key: &Jwk) -> Result<(), Error> {
        self.jws.verify_inner(key).map_err(Error::Signature)
    }
}

fn check_alg(alg: &str) -> Result<(), String> {
    if ALGORITHMS.contains(&alg) {
        Ok(())
    } else {
        Err(format!(
            "alg `{}` is not accepted (only {})",
            alg.escape_debug(),
            ALGORITHMS.join(", ")
        ))
    }
}

fn b64url(part: &str, what: &str) -> Result<Vec<u8>, String> {
    if part.is_empty() && what != "signature" {
        return Err(format!("the {what} is empty"));
    }
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| format!("the {what} is not base64url without padding: {e}"))
}

fn json_object(bytes: &[u8], what: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(format!("the {what} is not a JSON object")),
        Err(e) => Err(format!("the {what} is not JSON: {e}")),
    }
}

/// The times of a JWT (RFC 7519 `iat`, `exp`, `nbf`), each optional as read. One
/// check serves every token the node reads (the signed request token, an access token
/// another issuer signed, a client assertion), each with its own skew and lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    /// `iat`.
    pub iat: Option<i64>,
    /// `exp`.
    pub exp: Option<i64>,
    /// `nbf`.
    pub nbf: Option<i64>,
}

impl Times {
    /// Read the three claims: each absent, null, or a number of seconds (a fraction is
    /// dropped).
    pub fn read(claims: &Map<String, Value>) -> Result<Times, String> {
        Ok(Times {
            iat: numeric_date(claims, "iat")?,
            exp: numeric_date(claims, "exp")?,
            nbf: numeric_date(claims, "nbf")?,
        })
    }

    /// Check against `now` (seconds since 1970) with `skew` seconds of skew: `exp`
    /// present and not before `now − skew`; `iat`, if present, not after `now + skew`;
    /// `nbf`, if present, not after `now + skew`; and `exp − iat` at most
    /// `max_lifetime + skew` when both are present, and `exp` at most `max_lifetime +
    /// skew` after `now` in any case (a token without `iat` is bounded too).
    pub fn check(&self, now: i64, skew: i64, max_lifetime: i64) -> Result<(), String> {
        let exp = self.exp.ok_or("claim `exp` is missing")?;
        if exp < now.saturating_sub(skew) {
            return Err(format!(
                "expired: `exp` {exp} is more than {skew} s before now ({now})"
            ));
        }
        if i128::from(exp) - i128::from(now) > i128::from(max_lifetime) + i128::from(skew) {
            return Err(format!(
                "`exp` {exp} is more than {max_lifetime} s (+{skew} s skew) after now ({now}): it lives too long"
            ));
        }
        if let Some(iat) = self.iat {
            if iat > now.saturating_add(skew) {
                return Err(format!(
                    "issued in the future: `iat` {iat} is more than {skew} s after now ({now})"
                ));
            }
            let lifetime = i128::from(exp) - i128::from(iat);
            if lifetime > i128::from(max_lifetime) + i128::from(skew) {
                return Err(format!(
                    "lifetime `exp` − `iat` = {lifetime} s is longer than {max_lifetime} s \
                     (+{skew} s skew)"
                ));
            }
        }
        if let Some(nbf) = self.nbf {
            if nbf > now.saturating_add(skew) {
                return Err(format!(
                    "not valid yet: `nbf` {nbf} is more than {skew} s after now ({now})"
                ));
            }
        }
        Ok(())
    }
}

/// A NumericDate claim (RFC 7519: seconds, possibly fractional; the fraction dropped).
fn numeric_date(claims: &Map<String, Value>, key: &str) -> Result<Option<i64>, String> {
    let bad = || format!("claim `{key}` must be a number of seconds since 1970");
    match claims.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                return Ok(Some(i));
            }
            let f = n.as_f64().ok_or_else(bad)?.floor();
            // i64::MAX as f64 rounds up to 2^63, itself out of range.
            if f.is_finite() && f >= i64::MIN as f64 && f < i64::MAX as f64 {
                Ok(Some(f as i64))
            } else {
                Err(bad())
            }
        }
        Some(_) => Err(bad()),
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().take_while(|x| **x == 0).count();
    b.get(start..).unwrap_or_default()
}

fn rsa_components<'a>(n: &'a [u8], e: &'a [u8]) -> RsaPublicKeyComponents<&'a [u8]> {
    RsaPublicKeyComponents {
        n: strip_zeros(n),
        e: strip_zeros(e),
    }
}

/// Bits of a big-endian unsigned integer.
fn bit_len(b: &[u8]) -> usize {
    let b = strip_zeros(b);
    match b.first() {
        None => 0,
        Some(first) => (b.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

// ---------------------------------------------------------------------------------
// JWKs.
// ---------------------------------------------------------------------------------

/// A public JSON Web Key (RFC 7517) of a kind the token's algorithms use: RSA (2048 to
/// 8192 bits) or EC on P-256 or P-384.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk(Key);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    /// Modulus and exponent, big-endian, as sent.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// The point's coordinates.
    Ec {
        curve: Curve,
        x: Vec<u8>,
        y: Vec<u8>,
    },
}

impl Jwk {
    /// Read a JWK object: `kty` `RSA` with `n` and `e`, or `kty` `EC` with `crv`
    /// (`P-256`, `P-384`), `x` and `y` (base64url). Other members (`kid`, `alg`, `use`)
    /// are ignored; a private key (`d`) is refused.
    pub fn from_json(jwk: &Map<String, Value>) -> Result<Jwk, Error> {
        let member = |name: &str| -> Result<Option<&str>, Error> {
            match jwk.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(Error::Jwk(format!("`{name}` must be a string"))),
            }
        };
        let bytes = |name: &str| -> Result<Vec<u8>, Error> {
            let s = member(name)?.ok_or_else(|| Error::Jwk(format!("`{name}` is missing")))?;
            super::kas::decode_base64(s).map_err(|e| Error::Jwk(format!("`{name}`: {e}")))
        };
        if jwk.contains_key("d") {
            return Err(Error::Jwk(
                "it holds a private key (`d`); send the public key only".into(),
            ));
        }
        match member("kty")? {
            Some("RSA") => Jwk::rsa(&bytes("n")?, &bytes("e")?),
            Some("EC") => {
                let curve = match member("crv")? {
                    Some("P-256") => Curve::P256,
                    Some("P-384") => Curve::P384,
                    Some(c) => {
                        return Err(Error::Jwk(format!(
                            "curve `{}` is not accepted (P-256 or P-384)",
                            c.escape_debug()
                        )))
                    }
                    None => return Err(Error::Jwk("`crv` is missing".into())),
                };
                let (x, y) = (bytes("x")?, bytes("y")?);
                let len = curve.coordinate_len();
                if x.len() != len || y.len() != len {
                    return Err(Error::Jwk(format!(
                        "{} coordinates are {len} bytes each, not {} and {}",
                        curve.as_str(),
                        x.len(),
                        y.len()
                    )));
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Jwk::ec(curve, &point)
            }
            Some(k) => Err(Error::Jwk(format!(
                "key type `{}` is not accepted (RSA or EC)",
                k.escape_debug()
            ))),
            None => Err(Error::Jwk("`kty` is missing".into())),
        }
    }

    /// [`Jwk::from_json`] of any JSON value (a JWS header's `jwk` member).
    pub fn from_value(jwk: &Value) -> Result<Jwk, Error> {
        match jwk {
            Value::Object(m) => Jwk::from_json(m),
            _ => Err(Error::Jwk("not a JSON object".into())),
        }
    }

    /// An RSA key from its modulus and exponent (big-endian).
    pub fn rsa(n: &[u8], e: &[u8]) -> Result<Jwk, Error> {
        let bits = bit_len(n);
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err(Error::Jwk(format!(
                "RSA modulus of {bits} bits; {MIN_RSA_BITS} to {MAX_RSA_BITS} are accepted"
            )));
        }
        if strip_zeros(e).is_empty() {
            return Err(Error::Jwk("RSA exponent is zero".into()));
        }
        Ok(Jwk(Key::Rsa {
            n: n.to_vec(),
            e: e.to_vec(),
        }))
    }

    /// An EC key from its uncompressed point (`0x04 ‖ x ‖ y`) on P-256 or P-384.
    pub fn ec(curve: Curve, point: &[u8]) -> Result<Jwk, Error> {
        if curve == Curve::P521 {
            return Err(Error::Jwk(
                "P-521 is not accepted (ES512 is not; P-256 or P-384)".into(),
            ));
        }
        let len = curve.coordinate_len();
        let coords = match point.split_first() {
            Some((4, c)) if c.len() == 2 * len => c,
            _ => {
                return Err(Error::Jwk(format!(
                    "not an uncompressed {} point ({} bytes)",
                    curve.as_str(),
                    point.len()
                )))
            }
        };
        signature::ParsedPublicKey::new(curve.point_check(), point)
            .map_err(|_| Error::Jwk(format!("the point is not on {}", curve.as_str())))?;
        let (x, y) = coords.split_at(len);
        Ok(Jwk(Key::Ec {
            curve,
            x: x.to_vec(),
            y: y.to_vec(),
        }))
    }

    /// The JWK of a DER SubjectPublicKeyInfo (RSA, or EC on P-256 or P-384).
    pub fn from_spki_der(spki: &[u8]) -> Result<Jwk, Error> {
        match parse_public_key(spki).map_err(Error::Jwk)? {
            Parsed::Rsa { n, e } => Jwk::rsa(&n, &e),
            Parsed::Ec { curve, point } => Jwk::ec(curve, &point),
        }
    }

    /// `RSA` or `EC`.
    pub fn kty(&self) -> &'static str {
        match self.0 {
            Key::Rsa { .. } => "RSA",
            Key::Ec { .. } => "EC",
        }
    }

    /// The public members as a JWK object (`kty`, `n`, `e` or `kty`, `crv`, `x`, `y`).
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        for (k, v) in self.members() {
            m.insert(k.to_owned(), Value::String(v));
        }
        m
    }

    /// The RFC 7638 thumbprint: base64url (no padding) of the SHA-256 of the required
    /// members in lexicographic order, without whitespace.
    pub fn thumbprint(&self) -> String {
        let mut canonical = String::from("{");
        for (i, (k, v)) in self.members().iter().enumerate() {
            if i > 0 {
                canonical.push(',');
            }
            // Member names and base64url values need no JSON escaping.
            canonical.push_str(&format!("\"{k}\":\"{v}\""));
        }
        canonical.push('}');
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        URL_SAFE_NO_PAD.encode(digest.as_ref())
    }

    /// The required members, sorted by name.
    /// Whether this key can verify a JWS signed with `alg`: RS256 and PS256 with RSA,
    /// ES256 with P-256, ES384 with P-384.
    pub fn suits(&self, alg: &str) -> bool {
        matches!(
            (alg, &self.0),
            ("RS256" | "PS256", Key::Rsa { .. })
                | (
                    "ES256",
                    Key::Ec {
                        curve: Curve::P256,
                        ..
                    }
                )
                | (
                    "ES384",
                    Key::Ec {
                        curve: Curve::P384,
                        ..
                    }
                )
        )
    }

    fn members(&self) -> Vec<(&'static str, String)> {
        match &self.0 {
            Key::Rsa { n, e } => vec![
                ("e", URL_SAFE_NO_PAD.encode(e)),
                ("kty", "RSA".into()),
                ("n", URL_SAFE_NO_PAD.encode(n)),
            ],
            Key::Ec { curve, x, y } => vec![
                ("crv", curve.as_str().into()),
                ("kty", "EC".into()),
                ("x", URL_SAFE_NO_PAD.encode(x)),
                ("y", URL_SAFE_NO_PAD.encode(y)),
            ],
        }
    }

    fn point(&self) -> Vec<u8> {
        match &self.0 {
            Key::Ec { x, y, .. } => {
                let mut p = Vec::with_capacity(1 + x.len() + y.len());
                p.push(4);
                p.extend_from_slice(x);
                p.extend_from_slice(y);
                p
            }
            Key::Rsa { .. } => Vec::new(),
        }
    }

    fn describe(&self) -> String {
        match &self.0 {
            Key::Rsa { n, .. } => format!("RSA ({} bits)", bit_len(n)),
            Key::Ec { curve, .. } => format!("EC {}", curve.as_str()),
        }
    }
}

// ---------------------------------------------------------------------------------
// The client's return-leg key.
// ---------------------------------------------------------------------------------

/// The client's public key from an [`super::UnsignedRewrapRequest`]'s
/// `clientPublicKey`: what the shares are wrapped to on the way back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientKey {
    /// An RSA key of at least 2048 bits (RSA-OAEP): its SPKI DER.
    Rsa(Vec<u8>),
    /// An EC key (ECIES): its curve and uncompressed point.
    Ec {
        /// The curve.
        curve: Curve,
        /// `0x04 ‖ x ‖ y`.
        point: Vec<u8>,
    },
}

/// Read `clientPublicKey`: one SPKI PEM block (`-----BEGIN PUBLIC KEY-----`) holding
/// an RSA key of 2048 to 8192 bits or an EC key on P-256, P-384 or P-521 (a compressed
/// point is decompressed).
pub fn client_key(pem: &str) -> Result<ClientKey, Error> {
    let blocks =
        accord_keys::pem::decode_all(pem, "PEM").map_err(|e| Error::ClientKey(e.to_string()))?;
    let der = match blocks.as_slice() {
        [b] if b.label == "PUBLIC KEY" => b.der.to_vec(),
        [b] => {
            return Err(Error::ClientKey(format!(
                "expected a `PUBLIC KEY` (SubjectPublicKeyInfo) PEM block, found `{}`",
                b.label.escape_debug()
            )))
        }
        more => {
            return Err(Error::ClientKey(format!(
                "expected one PEM block, found {}",
                more.len()
            )))
        }
    };
    match parse_public_key(&der).map_err(Error::ClientKey)? {
        Parsed::Rsa { n, .. } => {
            let bits = bit_len(&n);
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                return Err(Error::ClientKey(format!(
                    "RSA modulus of {bits} bits; {MIN_RSA_BITS} to {MAX_RSA_BITS} are accepted"
                )));
            }
            aws_lc_rs::rsa::PublicEncryptingKey::from_der(&der)
                .map_err(|e| Error::ClientKey(format!("RSA key refused: {e}")))?;
            Ok(ClientKey::Rsa(der))
        }
        Parsed::Ec { curve, point } => Ok(ClientKey::Ec { curve, point }),
    }
}

/// A public key read from a SubjectPublicKeyInfo.
enum Parsed {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ec { curve: Curve, point: Vec<u8> },
}

/// Read an SPKI: RSA (`n`, `e`), or EC on a named curve with its point checked and
/// made uncompressed.
fn parse_public_key(spki: &[u8]) -> Result<Parsed, String> {
    let info = der::parse_spki(spki).map_err(|e| e.to_string())?;
    if info.algorithm == der::OID_RSA {
        let body =
            der::read_only(info.key, der::SEQUENCE, "RSAPublicKey").map_err(|e| e.to_string())?;
        let (n, rest) = der::expect(body, INTEGER, "RSA modulus").map_err(|e| e.to_string())?;
        let e = der::read_only(rest, INTEGER, "RSA exponent").map_err(|e| e.to_string())?;
        for (what, v) in [("modulus", n), ("exponent", e)] {
            if v.first().is_some_and(|b| b & 0x80 != 0) {
                return Err(format!("the RSA {what} is negative"));
            }
        }
        return Ok(Parsed::Rsa {
            n: strip_zeros(n).to_vec(),
            e: strip_zeros(e).to_vec(),
        });
    }
    if info.algorithm != der::OID_EC_PUBLIC_KEY {
        return Err(format!(
            "key algorithm {} is not accepted (RSA or EC: the return leg is RSA-OAEP or ECIES)",
            dotted(info.algorithm)
        ));
    }
    let curve = match info.parameter {
        Some(oid) => Curve::from_oid(oid).ok_or_else(|| {
            format!(
                "EC curve {} is not accepted (P-256, P-384, P-521)",
                dotted(oid)
            )
        })?,
        None => return Err("EC key without a named curve".into()),
    };
    let len = curve.coordinate_len();
    let point = match info.key.first() {
        Some(4) if info.key.len() == 1 + 2 * len => {
            signature::ParsedPublicKey::new(curve.point_check(), info.key)
                .map_err(|_| format!("the point is not on {}", curve.as_str()))?;
            info.key.to_vec()
        }
        Some(2 | 3) if info.key.len() == 1 + len => decompress(curve, spki)?,
        _ => {
            return Err(format!(
                "not a {} point ({} bytes)",
                curve.as_str(),
                info.key.len()
            ))
        }
    };
    Ok(Parsed::Ec { curve, point })
}

/// The uncompressed point of an SPKI holding a compressed one: aws-lc-rs parses and
/// checks it, and writes its SPKI back uncompressed.
fn decompress(curve: Curve, spki: &[u8]) -> Result<Vec<u8>, String> {
    let parsed = signature::ParsedPublicKey::new(curve.point_check(), spki)
        .map_err(|_| format!("the compressed point is not on {}", curve.as_str()))?;
    let der: PublicKeyX509Der = parsed
        .as_der()
        .map_err(|_| "the compressed point could not be re-encoded".to_string())?;
    let info = der::parse_spki(der.as_ref()).map_err(|e| e.to_string())?;
    match info.key.first() {
        Some(4) if info.key.len() == 1 + 2 * curve.coordinate_len() => Ok(info.key.to_vec()),
        _ => Err(format!(
            "compressed {} points are not accepted; send the uncompressed form",
            curve.as_str()
        )),
    }
}

/// An OID's contents in dotted form (for messages).
fn dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u128> = Vec::new();
    let mut v: u128 = 0;
    for b in oid {
        v = (v << 7) | u128::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(v);
            v = 0;
        }
        if v > u128::from(u64::MAX) {
            return format!("(OID bytes {})", hex::encode(oid));
        }
    }
    let Some((first, rest)) = arcs.split_first() else {
        return "(empty OID)".into();
    };
    let (a, b) = match *first {
        f if f < 40 => (0, f),
        f if f < 80 => (1, f - 40),
        f => (2, f - 80),
    };
    let mut s = format!("{a}.{b}");
    for arc in rest {
        s.push_str(&format!(".{arc}"));
    }
    s
}
