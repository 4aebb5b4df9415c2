//! The `kas.proto` messages (and `GetWellKnownConfiguration`'s) in both Connect codecs:
//! protojson through serde and binary protobuf through a small hand-written codec.
//!
//! protojson as the platform reads it (`protojson.UnmarshalOptions{DiscardUnknown:
//! true}`): the JSON names (lowerCamelCase or the `json_name`), the proto field names
//! too, unknown keys ignored, absent or `null` fields at their default, `bytes` as
//! base64 in the standard or URL-safe alphabet, padded or not.
//!
//! Binary: varints of at most 10 bytes, wire types 0, 1, 2 and 5 (unknown fields of any
//! of them skipped; groups refused), lengths checked against what is left, repeated
//! fields appended, the last of a repeated scalar kept, a repeated embedded message
//! merged, nesting bounded by [`MAX_DEPTH`], strings UTF-8. A known field sent with the
//! wrong wire type is refused rather than skipped, so that a mistake is reported.
//! Encoding leaves out empty scalars, as proto3 does.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use self::pb::{Encode, Field, Message};
use super::{Error, MAX_BODY, MAX_KAOS};

/// Deepest nesting of embedded messages the binary reader follows (the kas.proto
/// messages nest five deep; a `google.protobuf.Struct` takes three levels per JSON
/// level).
pub const MAX_DEPTH: usize = 32;

/// The message codec of a Connect unary call, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// `application/json`: protojson.
    Json,
    /// `application/proto`: binary protobuf.
    Proto,
}

impl Codec {
    /// The codec of a request's `Content-Type`: `application/json`,
    /// `application/proto` or `application/protobuf`, the media type compared without
    /// case and its parameters (`; charset=utf-8`) ignored. `None` for anything else
    /// (Connect answers 415).
    pub fn from_content_type(content_type: &str) -> Option<Codec> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        if media.eq_ignore_ascii_case("application/json") {
            Some(Codec::Json)
        } else if media.eq_ignore_ascii_case("application/proto")
            || media.eq_ignore_ascii_case("application/protobuf")
        {
            Some(Codec::Proto)
        } else {
            None
        }
    }

    /// The `Content-Type` of a successful response in this codec.
    pub fn content_type(self) -> &'static str {
        match self {
            Codec::Json => "application/json",
            Codec::Proto => "application/proto",
        }
    }
}

// ---------------------------------------------------------------------------------
// The messages.
// ---------------------------------------------------------------------------------

/// `kas.PublicKeyRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PublicKeyRequest {
    /// 1: the key algorithm (`rsa:2048`, `ec:secp384r1`, `hpqt:secp384r1-mlkem1024`...);
    /// empty means `rsa:2048`.
    #[serde(deserialize_with = "nullable")]
    pub algorithm: String,
    /// 2: `pkcs8` (PEM), `jwk`, or empty.
    #[serde(deserialize_with = "nullable")]
    pub fmt: String,
    /// 3: `1` from legacy clients (answered without `kid`).
    #[serde(deserialize_with = "nullable")]
    pub v: String,
}

/// `kas.PublicKeyResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PublicKeyResponse {
    /// 1: the public key, SPKI PEM (or a JWK for `fmt=jwk`).
    #[serde(
        rename = "publicKey",
        alias = "public_key",
        deserialize_with = "nullable"
    )]
    pub public_key: String,
    /// 2: the key's id; left out of JSON when empty.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "nullable"
    )]
    pub kid: String,
}

/// `kas.RewrapRequest` (field 2, `bearer`, is reserved).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RewrapRequest {
    /// 1: the signed request token, a compact JWS whose `requestBody` claim is an
    /// [`UnsignedRewrapRequest`] as JSON.
    #[serde(
        rename = "signedRequestToken",
        alias = "signed_request_token",
        deserialize_with = "nullable"
    )]
    pub signed_request_token: String,
}

/// `kas.UnsignedRewrapRequest`: the `requestBody` of the signed request token, always
/// JSON. Both shapes arrive: v2 (`requests`) and v1 (`keyAccess`, `policy`,
/// `algorithm`); Go and otdf-python send both for a single object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UnsignedRewrapRequest {
    /// 1: the client's public key for the return leg (SPKI PEM, RSA or EC); see
    /// [`super::client_key`].
    #[serde(
        rename = "clientPublicKey",
        alias = "client_public_key",
        deserialize_with = "nullable"
    )]
    pub client_public_key: String,
    /// 2: v2: the key access objects grouped by policy.
    #[serde(deserialize_with = "nullable")]
    pub requests: Vec<PolicyRequest>,
    /// 3: v1 (deprecated): the one key access object.
    #[serde(
        rename = "keyAccess",
        alias = "key_access",
        skip_serializing_if = "Option::is_none"
    )]
    pub key_access: Option<KeyAccess>,
    /// 4: v1 (deprecated): the policy, base64 as in the manifest.
    #[serde(deserialize_with = "nullable")]
    pub policy: String,
    /// 5: v1 (deprecated): the key algorithm.
    #[serde(deserialize_with = "nullable")]
    pub algorithm: String,
}

/// `kas.UnsignedRewrapRequest.WithPolicyRequest`: the key access objects of one policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyRequest {
    /// 1: the key access objects.
    #[serde(
        rename = "keyAccessObjects",
        alias = "key_access_objects",
        deserialize_with = "nullable"
    )]
    pub key_access_objects: Vec<KeyAccessObjectRef>,
    /// 2: the policy they are bound to.
    #[serde(deserialize_with = "nullable")]
    pub policy: PolicyRef,
    /// 3: the key algorithm (the Go SDK leaves it empty; it does not steer the unwrap).
    #[serde(deserialize_with = "nullable")]
    pub algorithm: String,
}

/// `kas.UnsignedRewrapRequest.WithPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyRef {
    /// 1: the client's id for the policy (`policy` from the SDKs), echoed in the answer.
    #[serde(deserialize_with = "nullable")]
    pub id: String,
    /// 2: the policy, base64 of its JSON, exactly as in the manifest (the binding is
    /// computed over this text).
    #[serde(deserialize_with = "nullable")]
    pub body: String,
}

/// `kas.UnsignedRewrapRequest.WithKeyAccessObject`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyAccessObjectRef {
    /// 1: the client's id for the object (`kao-0`...), echoed in the answer.
    #[serde(
        rename = "keyAccessObjectId",
        alias = "key_access_object_id",
        deserialize_with = "nullable"
    )]
    pub key_access_object_id: String,
    /// 2: the key access object.
    #[serde(
        rename = "keyAccessObject",
        alias = "key_access_object",
        deserialize_with = "nullable"
    )]
    pub key_access_object: KeyAccess,
}

/// `kas.KeyAccess`: a manifest's key access object. Keys the proto does not have
/// (otdf-python's `schemaVersion`) are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyAccess {
    /// 1: `encryptedMetadata`.
    #[serde(
        rename = "encryptedMetadata",
        alias = "encrypted_metadata",
        deserialize_with = "nullable"
    )]
    pub encrypted_metadata: String,
    /// 2: `policyBinding`, an object `{alg, hash}` or (older manifests) the hash alone.
    #[serde(rename = "policyBinding", alias = "policy_binding")]
    pub policy_binding: PolicyBinding,
    /// 3: `protocol` (`kas`).
    #[serde(deserialize_with = "nullable")]
    pub protocol: String,
    /// 4: `type`: `wrapped`, `ec-wrapped`, `hybrid-wrapped`, `mlkem-wrapped`.
    #[serde(rename = "type", alias = "key_type", deserialize_with = "nullable")]
    pub key_type: String,
    /// 5: `url`: the KAS.
    #[serde(rename = "url", alias = "kas_url", deserialize_with = "nullable")]
    pub kas_url: String,
    /// 6: `kid`: the KAS key's id.
    #[serde(deserialize_with = "nullable")]
    pub kid: String,
    /// 7: `sid`: the split id.
    #[serde(rename = "sid", alias = "split_id", deserialize_with = "nullable")]
    pub split_id: String,
    /// 8: `wrappedKey` (base64 in JSON).
    #[serde(
        rename = "wrappedKey",
        alias = "wrapped_key",
        serialize_with = "ser_bytes",
        deserialize_with = "de_bytes"
    )]
    pub wrapped_key: Vec<u8>,
    /// 9: `header` (base64 in JSON).
    #[serde(serialize_with = "ser_bytes", deserialize_with = "de_bytes")]
    pub header: Vec<u8>,
    /// 10: `ephemeralPublicKey` (PEM, for `ec-wrapped`).
    #[serde(
        rename = "ephemeralPublicKey",
        alias = "ephemeral_public_key",
        deserialize_with = "nullable"
    )]
    pub ephemeral_public_key: String,
}

/// `kas.PolicyBinding`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PolicyBinding {
    /// 1: `alg` (`HS256`).
    #[serde(rename = "alg")]
    pub algorithm: String,
    /// 2: `hash`: base64 of the HMAC (or of its hex).
    pub hash: String,
}

/// `kas.RewrapResponse` (encoded only; the deprecated fields 1, 2 and 4 are not sent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RewrapResponse {
    /// 3: for an EC client key, the SPKI PEM of the ephemeral key the shares are
    /// wrapped with; empty for RSA.
    #[serde(rename = "sessionPublicKey")]
    pub session_public_key: String,
    /// 5: one result per policy of the request.
    pub responses: Vec<PolicyRewrapResult>,
}

/// `kas.PolicyRewrapResult`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PolicyRewrapResult {
    /// 1: the request's policy id.
    #[serde(rename = "policyId")]
    pub policy_id: String,
    /// 2: one result per key access object.
    pub results: Vec<KeyAccessRewrapResult>,
}

/// `kas.KeyAccessRewrapResult` (its field 1, `metadata`, is not sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAccessRewrapResult {
    /// 2: the request's key access object id.
    pub key_access_object_id: String,
    /// 3: `permit` or `fail`.
    pub status: String,
    /// 4 or 5: the rewrapped share, or why not.
    pub outcome: Outcome,
}

/// The `result` oneof of [`KeyAccessRewrapResult`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 4 `kas_wrapped_key` (JSON `kasWrappedKey`, base64): the share under the
    /// client's key.
    Wrapped(Vec<u8>),
    /// 5 `error`: why the object was refused.
    Error(String),
}

impl Serialize for KeyAccessRewrapResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("KeyAccessRewrapResult", 3)?;
        st.serialize_field("keyAccessObjectId", &self.key_access_object_id)?;
        st.serialize_field("status", &self.status)?;
        match &self.outcome {
            Outcome::Wrapped(key) => st.serialize_field("kasWrappedKey", &STANDARD.encode(key))?,
            Outcome::Error(e) => st.serialize_field("error", e)?,
        }
        st.end()
    }
}

impl UnsignedRewrapRequest {
    /// Parse a signed request token's `requestBody` and check its size: at least one
    /// key access object, at most [`MAX_KAOS`] over all policies.
    pub fn parse(body: &str) -> Result<Self, Error> {
        let req: UnsignedRewrapRequest = json_decode(body.as_bytes(), "UnsignedRewrapRequest")?;
        if req.requests.len() > MAX_KAOS {
            return Err(Error::Request(format!(
                "UnsignedRewrapRequest: {} policies; at most {MAX_KAOS} are accepted",
                req.requests.len()
            )));
        }
        let kaos = req
            .requests
            .iter()
            .map(|r| r.key_access_objects.len())
            .fold(0usize, usize::saturating_add);
        if kaos > MAX_KAOS {
            return Err(Error::Request(format!(
                "UnsignedRewrapRequest: {kaos} key access objects; at most {MAX_KAOS} are accepted"
            )));
        }
        if kaos == 0 && (!req.requests.is_empty() || req.key_access.is_none()) {
            return Err(Error::Request(
                "UnsignedRewrapRequest: no key access object (`requests` names none and \
                 there is no v1 `keyAccess`)"
                    .into(),
            ));
        }
        Ok(req)
    }

    /// The requests to answer: the v2 `requests`, or when that is empty and a v1
    /// `keyAccess` is present, the one request the platform makes of it (policy id
    /// `policy`, object id `kao-0`, as the SDKs name them).
    pub fn policy_requests(&self) -> Vec<PolicyRequest> {
        if !self.requests.is_empty() {
            return self.requests.clone();
        }
        match &self.key_access {
            Some(ka) => vec![PolicyRequest {
                key_access_objects: vec![KeyAccessObjectRef {
                    key_access_object_id: "kao-0".into(),
                    key_access_object: ka.clone(),
                }],
                policy: PolicyRef {
                    id: "policy".into(),
                    body: self.policy.clone(),
                },
                algorithm: self.algorithm.clone(),
            }],
            None => Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------------
// The Connect entry points.
// ---------------------------------------------------------------------------------

fn check_size(body: &[u8]) -> Result<(), Error> {
    if body.len() > MAX_BODY {
        return Err(Error::TooLarge {
            what: "the request body",
            limit: MAX_BODY,
        });
    }
    Ok(())
}

fn decode_in<M>(codec: Codec, body: &[u8]) -> Result<M, Error>
where
    M: pb::Message + for<'de> Deserialize<'de>,
{
    check_size(body)?;
    match codec {
        Codec::Json => json_decode(body, M::NAME),
        Codec::Proto => pb::decode(body),
    }
}

fn encode_in<M: Encode + Serialize>(codec: Codec, m: &M) -> Vec<u8> {
    match codec {
        Codec::Json => serde_json::to_vec(m).unwrap_or_default(),
        Codec::Proto => {
            let mut out = Vec::new();
            m.encode(&mut out);
            out
        }
    }
}

/// Read a `kas.AccessService/PublicKey` request body (an empty body is the empty
/// message in either codec).
pub fn decode_public_key_request(codec: Codec, body: &[u8]) -> Result<PublicKeyRequest, Error> {
    decode_in(codec, body)
}

/// Read a `kas.AccessService/Rewrap` request body; refused when it carries no token.
pub fn decode_rewrap_request(codec: Codec, body: &[u8]) -> Result<RewrapRequest, Error> {
    let req: RewrapRequest = decode_in(codec, body)?;
    if req.signed_request_token.is_empty() {
        return Err(Error::Request(
            "RewrapRequest: signedRequestToken (field 1) is empty".into(),
        ));
    }
    Ok(req)
}

/// Read a `GetWellKnownConfiguration` request body (`{}`, or empty): any well-formed
/// message is accepted, its fields ignored.
pub fn decode_wellknown_request(codec: Codec, body: &[u8]) -> Result<(), Error> {
    check_size(body)?;
    match codec {
        Codec::Json => {
            json_decode::<de::IgnoredAny>(body, "GetWellKnownConfigurationRequest").map(|_| ())
        }
        Codec::Proto => {
            let mut r = pb::Reader::new("GetWellKnownConfigurationRequest", body, 0);
            while r.next()?.is_some() {}
            Ok(())
        }
    }
}

/// Write a `kas.AccessService/PublicKey` answer.
pub fn encode_public_key_response(codec: Codec, resp: &PublicKeyResponse) -> Vec<u8> {
    encode_in(codec, resp)
}

/// Write a `kas.AccessService/Rewrap` answer.
pub fn encode_rewrap_response(codec: Codec, resp: &RewrapResponse) -> Vec<u8> {
    encode_in(codec, resp)
}

/// Write a `GetWellKnownConfiguration` answer: `GetWellKnownConfigurationResponse {
/// google.protobuf.Struct configuration = 1; }`, in JSON `{"configuration": {...}}`.
pub fn encode_wellknown(codec: Codec, configuration: &Map<String, Value>) -> Vec<u8> {
    match codec {
        Codec::Json => serde_json::to_vec(&serde_json::json!({ "configuration": configuration }))
            .unwrap_or_default(),
        Codec::Proto => {
            let mut inner = Vec::new();
            pb::encode_struct(&mut inner, configuration);
            let mut out = Vec::new();
            pb::put_bytes(&mut out, 1, &inner);
            out
        }
    }
}

/// Write a `kas.AccessService/PublicKey` request (a client, the tests).
pub fn encode_public_key_request(codec: Codec, req: &PublicKeyRequest) -> Vec<u8> {
    encode_in(codec, req)
}

/// Write a `kas.AccessService/Rewrap` request (a client, the tests).
pub fn encode_rewrap_request(codec: Codec, req: &RewrapRequest) -> Vec<u8> {
    encode_in(codec, req)
}

/// Read a `kas.AccessService/PublicKey` answer (a client, the tests).
pub fn decode_public_key_response(codec: Codec, body: &[u8]) -> Result<PublicKeyResponse, Error> {
    decode_in(codec, body)
}

/// Read a `GetWellKnownConfiguration` answer's configuration (a client, the tests).
pub fn decode_wellknown_response(codec: Codec, body: &[u8]) -> Result<Map<String, Value>, Error> {
    check_size(body)?;
    match codec {
        Codec::Json => {
            #[derive(Deserialize, Default)]
            #[serde(default)]
            struct Resp {
                #[serde(deserialize_with = "nullable")]
                configuration: Map<String, Value>,
            }
            let r: Resp = json_decode(body, "GetWellKnownConfigurationResponse")?;
            Ok(r.configuration)
        }
        Codec::Proto => {
            const NAME: &str = "GetWellKnownConfigurationResponse";
            let mut config = Map::new();
            let mut r = pb::Reader::new(NAME, body, 0);
            while let Some(f) = r.next()? {
                if f.number == 1 {
                    let (data, at) = f.len(NAME, "configuration")?;
                    pb::merge_struct(&mut config, data, at, 2)?;
                }
            }
            Ok(config)
        }
    }
}

// ---------------------------------------------------------------------------------
// protojson helpers.
// ---------------------------------------------------------------------------------

/// Parse a protojson message: an object (or an empty body, the empty message).
fn json_decode<T: for<'de> Deserialize<'de> + Default>(
    body: &[u8],
    message: &'static str,
) -> Result<T, Error> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Ok(T::default()),
        Some(b'{') => {}
        Some(_) => {
            return Err(Error::Json {
                message,
                cause: "expected a JSON object".into(),
            })
        }
    }
    serde_json::from_slice(body).map_err(|e| Error::Json {
        message,
        cause: e.to_string(),
    })
}

/// A field whose JSON `null` means its default, as in protojson.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn lenient(alphabet: &alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    )
}

/// protojson `bytes`: base64, URL-safe when it holds `-` or `_`, else standard; padded
/// or not.
pub(crate) fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    let engine = if s.contains(['-', '_']) {
        lenient(&alphabet::URL_SAFE)
    } else {
        lenient(&alphabet::STANDARD)
    };
    engine
        .decode(s)
        .map_err(|e| format!("not base64 (standard or URL-safe): {e}"))
}

fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(Vec::new()),
        Some(s) => decode_base64(&s).map_err(de::Error::custom),
    }
}

fn ser_bytes<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&STANDARD.encode(b))
}

impl<'de> Deserialize<'de> for PolicyBinding {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Object {
            #[serde(alias = "algorithm", deserialize_with = "nullable")]
            alg: String,
            #[serde(deserialize_with = "nullable")]
            hash: String,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PolicyBinding;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a policy binding: an object {\"alg\", \"hash\"} or the hash as a string",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PolicyBinding, E> {
                Ok(PolicyBinding {
                    algorithm: String::new(),
                    hash: v.to_owned(),
                })
            }
            fn visit_unit<E: de::Error>(self) -> Result<PolicyBinding, E> {
                Ok(PolicyBinding::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<PolicyBinding, E> {
                Ok(PolicyBinding::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PolicyBinding, A::Error> {
                let o = Object::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(PolicyBinding {
                    algorithm: o.alg,
                    hash: o.hash,
                })
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------
// Binary protobuf: each message's fields.
// ---------------------------------------------------------------------------------

impl Message for PublicKeyRequest {
    const NAME: &'static str = "PublicKeyRequest";
    fn merge(&mut self, f: &Field<'_>, _depth: usize) -> Result<(), Error> {
        match f.number {
            1 => self.algorithm = f.string(Self::NAME, "algorithm")?,
            2 => self.fmt = f.string(Self::NAME, "fmt")?,
            3 => self.v = f.string(Self::NAME, "v")?,
            _ => {}
        }
        Ok(())
    }
}

impl Encode for PublicKeyRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        pb::put_str(out, 1, &self.algorithm);
        pb::put_str(out, 2, &self.fmt);
        pb::put_str(out, 3, &self.v);
    }
}

impl Message for PublicKeyResponse {
    const NAME: &'static str = "PublicKeyResponse";
    fn merge(&mut self, f: &Field<'_>, _depth: usize) -> Result<(), Error> {
        match f.number {
            1 => self.public_key = f.string(Self::NAME, "public_key")?,
            2 => self.kid = f.string(Self::NAME, "kid")?,
            _ => {}
        }
        Ok(())
    }
}

impl Encode for PublicKeyResponse {
    fn encode(&self, out: &mut Vec<u8>) {
        pb::put_str(out, 1, &self.public_key);
        pb::put_str(out, 2, &self.kid);
    }
}

impl Message for RewrapRequest {
    const NAME: &'static str = "RewrapRequest";
    fn merge(&mut self, f: &Field<'_>, _depth: usize) -> Result<(), Error> {
        if f.number == 1 {
            self.signed_request_token = f.string(Self::NAME, "signed_request_token")?;
        }
        Ok(())
    }
}

impl Encode for RewrapRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        pb::put_str(out, 1, &self.signed_request_token);
    }
}

impl Message for UnsignedRewrapRequest {
    const NAME: &'static str = "UnsignedRewrapRequest";
    fn merge(&mut self, f: &Field<'_>, depth: usize) -> Result<(), Error> {
        match f.number {
            1 => self.client_public_key = f.string(Self::NAME, "client_public_key")?,
            2 => self
                .requests
                .push(f.message(Self::NAME, "requests", depth)?),
            3 => f.merge_into(
                Self::NAME,
                "key_access",
                self.key_access.get_or_insert_with(KeyAccess::default),
                depth,
            )?,
            4 => self.policy = f.string(Self::NAME, "policy")?,
            5 => self.algorithm = f.string(Self::NAME, "algorithm")?,
            _ => {}
        }
        Ok(())
    }
}

impl Encode for UnsignedRewrapRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        pb::put_str(out, 1, &self.client_public_key);
        for r in &self.requests {
            pb::put_message(out, 2, r);
        }
        if let Some(ka) = &self.key_access {
            pb::put_message(out, 3, ka);
        }
        pb::put_str(out, 4, &self.policy);
        pb::put_str(out, 5, &self.algorithm);
    }
}

impl Message for PolicyRequest {
    const NAME: &'static str = "PolicyRequest";
    fn merge(&mut self, f: &Field<'_>, depth: usize) -> Result<(), Error> {
        match f.number {
            1 => {
                self.key_access_objects
                    .push(f.message(Self::NAME, "key_access_objects", depth)?)
            }
            2 => f.merge_into(Self::NAME, "policy", &mut self.policy, depth)?,
            3 => self.algorithm = f.string(Self::NAME, "algorithm")?,
            _ => {}
        }
        Ok(())
    }
}

impl Encode for PolicyRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        for k in &self.key_access_objects {
            pb::put_message(out, 1, k);
        }
        if self.policy != PolicyRef::default() {
            pb::put_message(out, 2, &self.policy);
        }
        pb::put_str(out, 3, &self.algorithm);
    }
}

impl Message for PolicyRef {
    const NAME: &'static str = "PolicyRef";
    fn merge(&mut self, f: &Field<'_>, _depth: usize) -> Result<(), Error> {
        match f.number {
            1 => self.id = f.string(Self::NAME, "id")?,
            2 => self.body = f.string(Self::NAME, "body")?,
            _ => {}
        }
        Ok(())
    }
}

impl Encode for PolicyRef {
    fn encode(&self, out: &mut Vec<u8>) {
        pb::put_str(out, 1, &self.id);
        pb::put_str(out, 2, &self.body);
    }
}

impl Message for KeyAccessObjectRef {
    const NAME: &'static str = "KeyAccessObjectRef";
    fn merge(&mut self, f: &Field<'_>, depth: usize) -> Result<(), Error> {
        match f.number {
            1 => self.key_access_object_id = f.string(Self::NAME, "key_access_object_id")?,
            2 => f.merge_into(
                Self::NAME,
                "key_access_object",
                &mut self.key_access_object,
                depth,
            )?,
            _ => {}
        }
        Ok(())
    }
}

impl Encode for KeyAccessObjectRef {
    fn encode(&self, out: &mut Vec<u8>) {
        pb::put_str(out, 1, &self.key_access_object_id);
        if self.key_access_object != KeyAccess::default() {
            pb::put_message(out, 2, &self.key_access_object);
        }
    }
}

impl Message for KeyAccess {
    const NAME: &'static str = "KeyAccess";
    fn merge(&mut self, f: &Field<'_>, depth: usize) -> Result<(), Error> {
        const N: &str = KeyAccess::NAME;
        match f.number {
            1 => self.encrypted_metadata = f.string(N, "encrypted_metadata")?,
            2 => f.merge_into(N, "policy_binding", &mut self.policy_binding, depth)?,
            3 => self.protocol = f.string(N, "protocol")?,
            4 => self.key_type = f.string(N, "key_type")?,
            5 => self.kas_url = f.string(N, "kas_url")?,
            6 => self.kid = f.string(N, "kid")?,
            7 => self.split_id = f.string(N, "split_id")?,
            8 => self.wrapped_key = f.bytes(N, "wrapped_key")?,
            9 => self.header = f.bytes(N, "header")?,
            10 => self.ephemeral_public_key = f.string(N, "ephemeral_public_key")?,
            _ => {}
        }
        Ok(())
    }
}

impl Encode for KeyAccess {
    fn encode(&self, out: &mut Vec<u8>) {
        pb::put_str(out, 1, &self.encrypted_metadata);
        if self.policy_binding != PolicyBinding::default() {
            pb::put_message(out, 2, &self.policy_binding);
        }
        pb::put_str(out, 3, &self.protocol);
        pb::put_str(out, 4, &self.key_type);
        pb::put_str(out, 5, &self.kas_url);
        pb::put_str(out, 6, &self.kid);
        pb::put_str(out, 7, &self.split_id);
        if !self.wrapped_key.is_empty() {
            pb::put_bytes(out, 8, &self.wrapped_key);
        }
        if !self.header.is_empty() {
            pb::put_bytes(out, 9, &self.header);
        }
        pb::put_str(out, 10, &self.ephemeral_public_key);
    }
}

impl Message for PolicyBinding {
    const NAME: &'static str = "PolicyBinding";
    fn merge(&mut self, f: &Field<'_>, _depth: usize) -> Result<(), Error> {
        match f.number {
            1 => self.algorithm = f.string(Self::NAME, "algorithm")?,
            2 => self.hash = f.string(Self::NAME, "hash")?,
            _ => {}
        }
        Ok(())
    }
}

impl Encode for PolicyBinding {
    fn encode(&self, out: &mut Vec<u8>) {
        pb::put_str(out, 1, &self.algorithm);
        pb::put_str(out, 2, &self.hash);
    }
}

impl Encode for RewrapResponse {
    fn encode(&self, out: &mut Vec<u8>) {
        pb::put_str(out, 3, &self.session_public_key);
        for r in &self.responses {
            let mut inner = Vec::new();
            pb::put_str(&mut inner, 1, &r.policy_id);
            for k in &r.results {
                let mut kao = Vec::new();
                pb::put_str(&mut kao, 2, &k.key_access_object_id);
                pb::put_str(&mut kao, 3, &k.status);
                // A oneof member is sent even when empty: its presence is the choice.
                match &k.outcome {
                    Outcome::Wrapped(key) => pb::put_bytes(&mut kao, 4, key),
                    Outcome::Error(e) => pb::put_bytes(&mut kao, 5, e.as_bytes()),
                }
                pb::put_bytes(&mut inner, 2, &kao);
            }
            pb::put_bytes(out, 5, &inner);
        }
    }
}

/// The protobuf wire format: a reader that names what it refuses, and the writer.
pub(crate) mod pb {
    use serde_json::{Map, Number, Value};

    use super::{Error, MAX_DEPTH};

    /// A message the writer encodes.
    pub(crate) trait Encode {
        /// Append the message's encoding.
        fn encode(&self, out: &mut Vec<u8>);
    }

    /// A message the reader fills field by field.
    pub(crate) trait Message: Encode + Default {
        /// The message's name, for errors.
        const NAME: &'static str;
        /// Take one field in (unknown field numbers ignored). `depth` is this
        /// message's nesting level, passed on to embedded messages.
        fn merge(&mut self, f: &Field<'_>, depth: usize) -> Result<(), Error>;
    }

    /// A whole message from `data`.
    pub(crate) fn decode<M: Message>(data: &[u8]) -> Result<M, Error> {
        let mut m = M::default();
        merge_from(&mut m, data, 0, 1)?;
        Ok(m)
    }

    /// Merge the fields in `data` (which starts at byte `base` of the input) into `m`,
    /// a message at nesting level `depth`.
    pub(crate) fn merge_from<M: Message>(
        m: &mut M,
        data: &[u8],
        base: usize,
        depth: usize,
    ) -> Result<(), Error> {
        check_depth(M::NAME, depth, base)?;
        let mut r = Reader::new(M::NAME, data, base);
        while let Some(f) = r.next()? {
            m.merge(&f, depth)?;
        }
        Ok(())
    }

    fn check_depth(name: &str, depth: usize, at: usize) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(Error::Protobuf(format!(
                "{name} at byte {at}: messages nested deeper than {MAX_DEPTH}"
            )));
        }
        Ok(())
    }

    /// A field's value, by wire type.
    #[derive(Debug, Clone, Copy)]
    pub(crate) enum Wire<'a> {
        /// 0: varint.
        Varint(u64),
        /// 1: 64-bit.
        I64(u64),
        /// 2: length-delimited, with the offset of its first byte in the input.
        Len(&'a [u8], usize),
        /// 5: 32-bit (no field here has this type; its value is skipped).
        I32,
    }

    /// One field read.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Field<'a> {
        /// The field number.
        pub number: u32,
        /// The value.
        pub value: Wire<'a>,
        /// Offset of the field's tag in the input.
        pub at: usize,
    }

    impl<'a> Field<'a> {
        fn wire_type(&self) -> u8 {
            match self.value {
                Wire::Varint(_) => 0,
                Wire::I64(_) => 1,
                Wire::Len(..) => 2,
                Wire::I32 => 5,
            }
        }

        fn bad(&self, msg: &str, name: &str, what: impl std::fmt::Display) -> Error {
            Error::Protobuf(format!(
                "{msg} field {} ({name}): {what} (at byte {})",
                self.number, self.at
            ))
        }

        fn wrong_wire(&self, msg: &str, name: &str, expected: &str) -> Error {
            self.bad(
                msg,
                name,
                format!("wire type {}, expected {expected}", self.wire_type()),
            )
        }

        /// A length-delimited value and its offset.
        pub fn len(&self, msg: &str, name: &str) -> Result<(&'a [u8], usize), Error> {
            match self.value {
                Wire::Len(data, at) => Ok((data, at)),
                _ => Err(self.wrong_wire(msg, name, "2 (length-delimited)")),
            }
        }

        /// A `string` field.
        pub fn string(&self, msg: &str, name: &str) -> Result<String, Error> {
            let (data, _) = self.len(msg, name)?;
            match std::str::from_utf8(data) {
                Ok(s) => Ok(s.to_owned()),
                Err(_) => Err(Error::Protobuf(format!(
                    "{msg} field {} ({name}): not UTF-8 (at byte {})",
                    self.number, self.at
                ))),
            }
        }

        /// A `bytes` field.
        pub fn bytes(&self, msg: &str, name: &str) -> Result<Vec<u8>, Error> {
            Ok(self.len(msg, name)?.0.to_vec())
        }

        /// An embedded message, fresh (a repeated field's element).
        pub fn message<M: Message>(&self, msg: &str, name: &str, depth: usize) -> Result<M, Error> {
            let mut m = M::default();
            self.merge_into(msg, name, &mut m, depth)?;
            Ok(m)
        }

        /// An embedded message merged into `into` (a singular field sent again merges).
        pub fn merge_into<M: Message>(
            &self,
            msg: &str,
            name: &str,
            into: &mut M,
            depth: usize,
        ) -> Result<(), Error> {
            let (data, at) = self.len(msg, name)?;
            merge_from(into, data, at, depth + 1)
        }

        fn varint(&self, msg: &str, name: &str) -> Result<u64, Error> {
            match self.value {
                Wire::Varint(v) => Ok(v),
                _ => Err(self.wrong_wire(msg, name, "0 (varint)")),
            }
        }

        fn double(&self, msg: &str, name: &str) -> Result<f64, Error> {
            match self.value {
                Wire::I64(v) => Ok(f64::from_bits(v)),
                _ => Err(self.wrong_wire(msg, name, "1 (64-bit)")),
            }
        }
    }

    /// Reads the fields of one message, in order.
    pub(crate) struct Reader<'a> {
        msg: &'static str,
        data: &'a [u8],
        pos: usize,
        base: usize,
    }

    impl<'a> Reader<'a> {
        /// A reader of `data`, which starts at byte `base` of the input.
        pub fn new(msg: &'static str, data: &'a [u8], base: usize) -> Self {
            Reader {
                msg,
                data,
                pos: 0,
                base,
            }
        }

        fn offset(&self) -> usize {
            self.base.saturating_add(self.pos)
        }

        fn varint(&mut self) -> Result<u64, Error> {
            let start = self.offset();
            let mut v: u64 = 0;
            for i in 0..10 {
                let Some(&b) = self.data.get(self.pos) else {
                    return Err(Error::Protobuf(format!(
                        "{}: truncated varint at byte {start}",
                        self.msg
                    )));
                };
                self.pos += 1;
                if i == 9 && b > 1 {
                    return Err(Error::Protobuf(format!(
                        "{}: varint longer than 64 bits at byte {start}",
                        self.msg
                    )));
                }
                v |= u64::from(b & 0x7f) << (7 * i);
                if b & 0x80 == 0 {
                    return Ok(v);
                }
            }
            Err(Error::Protobuf(format!(
                "{}: varint longer than 10 bytes at byte {start}",
                self.msg
            )))
        }

        fn take(&mut self, n: usize, number: u64, what: &str) -> Result<&'a [u8], Error> {
            let left = self.data.len().saturating_sub(self.pos);
            if n > left {
                return Err(Error::Protobuf(format!(
                    "{}: field {number}: truncated {what}: {n} bytes needed, {left} left at byte {}",
                    self.msg,
                    self.offset()
                )));
            }
            let out = self.data.get(self.pos..self.pos + n).unwrap_or_default();
            self.pos += n;
            Ok(out)
        }

        /// The next field, or `None` at the end of the message.
        pub fn next(&mut self) -> Result<Option<Field<'a>>, Error> {
            if self.pos >= self.data.len() {
                return Ok(None);
            }
            let at = self.offset();
            let tag = self.varint()?;
            let number = tag >> 3;
            let wire = tag & 7;
            if number == 0 || number > (1 << 29) - 1 {
                return Err(Error::Protobuf(format!(
                    "{}: field number {number} out of range at byte {at}",
                    self.msg
                )));
            }
            let value = match wire {
                0 => Wire::Varint(self.varint()?),
                1 => {
                    let b = self.take(8, number, "64-bit value")?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    Wire::I64(u64::from_le_bytes(a))
                }
                2 => {
                    let len = self.varint()?;
                    let left = self.data.len().saturating_sub(self.pos);
                    let n = usize::try_from(len)
                        .ok()
                        .filter(|n| *n <= left)
                        .ok_or_else(|| {
                            Error::Protobuf(format!(
                            "{}: field {number}: length {len} runs past the end of the message \
                             ({left} bytes left) at byte {at}",
                            self.msg
                        ))
                        })?;
                    let start = self.offset();
                    Wire::Len(self.take(n, number, "length-delimited value")?, start)
                }
                5 => {
                    self.take(4, number, "32-bit value")?;
                    Wire::I32
                }
                3 | 4 => {
                    return Err(Error::Protobuf(format!(
                    "{}: field {number}: wire type {wire} (group) is not supported at byte {at}",
                    self.msg
                )))
                }
                _ => {
                    return Err(Error::Protobuf(format!(
                        "{}: field {number}: invalid wire type {wire} at byte {at}",
                        self.msg
                    )))
                }
            };
            Ok(Some(Field {
                number: number as u32,
                value,
                at,
            }))
        }
    }

    // --- writing ---

    pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn put_tag(out: &mut Vec<u8>, field: u32, wire: u8) {
        put_varint(out, (u64::from(field) << 3) | u64::from(wire));
    }

    /// A length-delimited field, sent even when empty.
    pub(crate) fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
        put_tag(out, field, 2);
        put_varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    /// A `string` field, left out when empty (proto3).
    pub(crate) fn put_str(out: &mut Vec<u8>, field: u32, s: &str) {
        if !s.is_empty() {
            put_bytes(out, field, s.as_bytes());
        }
    }

    /// An embedded message, sent even when empty (its presence is kept).
    pub(crate) fn put_message<M: Encode>(out: &mut Vec<u8>, field: u32, m: &M) {
        let mut inner = Vec::new();
        m.encode(&mut inner);
        put_bytes(out, field, &inner);
    }

    // --- google.protobuf.Struct ---
    //
    // Struct { map<string, Value> fields = 1; }: each entry a field 1 holding
    // { string key = 1; Value value = 2; } (both always written).
    // Value { oneof kind { NullValue null_value = 1; double number_value = 2;
    //   string string_value = 3; bool bool_value = 4; Struct struct_value = 5;
    //   ListValue list_value = 6; } }; ListValue { repeated Value values = 1; }.
    // A oneof member is written even at its default (`null_value` 0, `false`).

    /// A `google.protobuf.Struct`'s fields.
    pub(crate) fn encode_struct(out: &mut Vec<u8>, map: &Map<String, Value>) {
        for (k, v) in map {
            let mut value = Vec::new();
            encode_value(&mut value, v);
            let mut entry = Vec::new();
            put_bytes(&mut entry, 1, k.as_bytes());
            put_bytes(&mut entry, 2, &value);
            put_bytes(out, 1, &entry);
        }
    }

    /// A `google.protobuf.Value`'s fields.
    fn encode_value(out: &mut Vec<u8>, v: &Value) {
        match v {
            Value::Null => {
                put_tag(out, 1, 0);
                put_varint(out, 0);
            }
            Value::Number(n) => {
                put_tag(out, 2, 1);
                out.extend_from_slice(&n.as_f64().unwrap_or_default().to_le_bytes());
            }
            Value::String(s) => put_bytes(out, 3, s.as_bytes()),
            Value::Bool(b) => {
                put_tag(out, 4, 0);
                put_varint(out, u64::from(*b));
            }
            Value::Object(m) => {
                let mut inner = Vec::new();
                encode_struct(&mut inner, m);
                put_bytes(out, 5, &inner);
            }
            Value::Array(items) => {
                let mut list = Vec::new();
                for item in items {
                    let mut value = Vec::new();
                    encode_value(&mut value, item);
                    put_bytes(&mut list, 1, &value);
                }
                put_bytes(out, 6, &list);
            }
        }
    }

    /// Merge a `google.protobuf.Struct` (at nesting level `depth`) into `map`.
    pub(crate) fn merge_struct(
        map: &mut Map<String, Value>,
        data: &[u8],
        base: usize,
        depth: usize,
    ) -> Result<(), Error> {
        const S: &str = "Struct";
        const E: &str = "Struct.FieldsEntry";
        check_depth(S, depth, base)?;
        let mut r = Reader::new(S, data, base);
        while let Some(f) = r.next()? {
            if f.number != 1 {
                continue;
            }
            let (entry, at) = f.len(S, "fields")?;
            check_depth(E, depth + 1, at)?;
            let mut key = String::new();
            let mut value = Value::Null;
            let mut er = Reader::new(E, entry, at);
            while let Some(ef) = er.next()? {
                match ef.number {
                    1 => key = ef.string(E, "key")?,
                    2 => {
                        let (v, vat) = ef.len(E, "value")?;
                        value = decode_value(v, vat, depth + 2)?;
                    }
                    _ => {}
                }
            }
            map.insert(key, value);
        }
        Ok(())
    }

    /// A `google.protobuf.Value` (no kind set reads as `null`).
    fn decode_value(data: &[u8], base: usize, depth: usize) -> Result<Value, Error> {
        const V: &str = "Value";
        check_depth(V, depth, base)?;
        let mut value = Value::Null;
        let mut r = Reader::new(V, data, base);
        while let Some(f) = r.next()? {
            value = match f.number {
                1 => {
                    f.varint(V, "null_value")?;
                    Value::Null
                }
                2 => {
                    let d = f.double(V, "number_value")?;
                    Value::Number(
                        Number::from_f64(d)
                            .ok_or_else(|| f.bad(V, "number_value", "not a finite number"))?,
                    )
                }
                3 => Value::String(f.string(V, "string_value")?),
                4 => Value::Bool(f.varint(V, "bool_value")? != 0),
                5 => {
                    let (s, at) = f.len(V, "struct_value")?;
                    let mut m = Map::new();
                    merge_struct(&mut m, s, at, depth + 1)?;
                    Value::Object(m)
                }
                6 => {
                    const L: &str = "ListValue";
                    let (l, at) = f.len(V, "list_value")?;
                    check_depth(L, depth + 1, at)?;
                    let mut items = Vec::new();
                    let mut lr = Reader::new(L, l, at);
                    while let Some(lf) = lr.next()? {
                        if lf.number == 1 {
                            let (v, vat) = lf.len(L, "values")?;
                            items.push(decode_value(v, vat, depth + 2)?);
                        }
                    }
                    Value::Array(items)
                }
                _ => continue,
            };
        }
        Ok(value)
    }
}
