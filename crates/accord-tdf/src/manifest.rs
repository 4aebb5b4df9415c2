//! The ZTDF manifest (`0.manifest.json`), field for field as the OpenTDF platform's
//! `sdk/manifest.go` writes it (schemaVersion 4.3.0), in the same field order.
//!
//! Parsing is bounded (the container reader refuses manifests over 10 MB, and
//! [`Manifest::parse`] refuses more than [`MAX_SEGMENTS`] segments or
//! [`MAX_KEY_ACCESS`] key access objects) and reports JSON errors with line and column.

use crate::Error;
use serde::{Deserialize, Serialize};

/// The TDF spec version written.
pub const SCHEMA_VERSION: &str = "4.3.0";
/// Most segments accepted (64 GiB at 1 MiB segments).
pub const MAX_SEGMENTS: usize = 1 << 17;
/// Most key access objects accepted.
pub const MAX_KEY_ACCESS: usize = 64;
/// Most assertions accepted.
pub const MAX_ASSERTIONS: usize = 16;

/// The manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// How the payload is encrypted and how to get its key.
    #[serde(rename = "encryptionInformation")]
    pub encryption_information: EncryptionInformation,
    /// Where the payload is.
    pub payload: Payload,
    /// Signed statements bound to the object (the label travels here).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub assertions: Vec<Assertion>,
    /// `4.3.0`; absent in legacy TDFs (hex-encoded hashes).
    #[serde(
        rename = "schemaVersion",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub schema_version: String,
}

/// `encryptionInformation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncryptionInformation {
    /// `split`.
    #[serde(rename = "type")]
    pub key_access_type: String,
    /// Base64 of the policy object JSON.
    pub policy: String,
    /// Key access objects.
    #[serde(rename = "keyAccess")]
    pub key_access: Vec<KeyAccess>,
    /// The payload cipher.
    pub method: Method,
    /// Segment hashes and the root signature.
    #[serde(rename = "integrityInformation")]
    pub integrity_information: IntegrityInformation,
}

/// One key access object: a key share wrapped for one KAS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyAccess {
    /// `hybrid-wrapped`, `mlkem-wrapped`, `ec-wrapped` or `wrapped`.
    #[serde(rename = "type")]
    pub key_type: String,
    /// The KAS URL.
    pub url: String,
    /// `kas`.
    pub protocol: String,
    /// Base64 of the wrapped share.
    #[serde(rename = "wrappedKey")]
    pub wrapped_key: String,
    /// HMAC binding the share to the policy (object form, or a bare string in old TDFs).
    #[serde(rename = "policyBinding")]
    pub policy_binding: serde_json::Value,
    /// Base64 JSON of metadata encrypted with the share.
    #[serde(
        rename = "encryptedMetadata",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub encrypted_metadata: String,
    /// The KAS key id.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub kid: String,
    /// The split id: key access objects with the same sid hold the same share.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub sid: String,
    /// `1.0`.
    #[serde(
        rename = "schemaVersion",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub schema_version: String,
    /// PEM of the ephemeral EC public key (`ec-wrapped` only).
    #[serde(
        rename = "ephemeralPublicKey",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub ephemeral_public_key: String,
}

/// `policyBinding` in object form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyBinding {
    /// `HS256`.
    pub alg: String,
    /// Base64 of the hex HMAC-SHA256 (as OpenTDF writes it).
    pub hash: String,
}

/// `method`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Method {
    /// `AES-256-GCM`.
    pub algorithm: String,
    /// Empty: every segment carries its own nonce.
    #[serde(default, deserialize_with = "null_as_default")]
    pub iv: String,
    /// `true`.
    #[serde(rename = "isStreamable", default, deserialize_with = "null_as_default")]
    pub is_streamable: bool,
}

/// `integrityInformation`. A segment's `segmentSize` and `encryptedSegmentSize` are
/// optional in the OpenTDF specification (the Go SDK leaves them out when they equal the
/// defaults): a size left out is the other plus or minus the GCM overhead when that one
/// is given, and the default otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "IntegrityWire")]
pub struct IntegrityInformation {
    /// HMAC over the concatenated segment hashes.
    #[serde(rename = "rootSignature")]
    pub root_signature: RootSignature,
    /// `GMAC` (the segment's GCM tag) or `HS256`.
    #[serde(rename = "segmentHashAlg")]
    pub segment_hash_alg: String,
    /// Plaintext segment size.
    #[serde(rename = "segmentSizeDefault")]
    pub segment_size_default: u64,
    /// Encrypted segment size (plaintext + 28).
    #[serde(rename = "encryptedSegmentSizeDefault")]
    pub encrypted_segment_size_default: u64,
    /// The segments in order.
    pub segments: Vec<Segment>,
}

/// `integrityInformation` as written, segment sizes optional.
#[derive(Deserialize)]
struct IntegrityWire {
    #[serde(rename = "rootSignature")]
    root_signature: RootSignature,
    #[serde(rename = "segmentHashAlg")]
    segment_hash_alg: String,
    #[serde(rename = "segmentSizeDefault")]
    segment_size_default: u64,
    #[serde(rename = "encryptedSegmentSizeDefault")]
    encrypted_segment_size_default: u64,
    segments: Vec<SegmentWire>,
}

/// A segment as written.
#[derive(Deserialize)]
struct SegmentWire {
    hash: String,
    #[serde(rename = "segmentSize", default)]
    segment_size: Option<u64>,
    #[serde(rename = "encryptedSegmentSize", default)]
    encrypted_segment_size: Option<u64>,
}

impl From<IntegrityWire> for IntegrityInformation {
    fn from(w: IntegrityWire) -> Self {
        let overhead = crate::crypto::GCM_OVERHEAD as u64;
        let segments = w
            .segments
            .into_iter()
            .map(|s| {
                let (size, encrypted) = match (s.segment_size, s.encrypted_segment_size) {
                    (Some(p), Some(e)) => (p, e),
                    (Some(p), None) => (p, p.saturating_add(overhead)),
                    // An encrypted size below the overhead is kept and refused later
                    // (its plaintext size would be negative).
                    (None, Some(e)) if e >= overhead => (e - overhead, e),
                    (None, Some(e)) => (w.segment_size_default, e),
                    (None, None) => (w.segment_size_default, w.encrypted_segment_size_default),
                };
                Segment {
                    hash: s.hash,
                    segment_size: size,
                    encrypted_segment_size: encrypted,
                }
            })
            .collect();
        IntegrityInformation {
            root_signature: w.root_signature,
            segment_hash_alg: w.segment_hash_alg,
            segment_size_default: w.segment_size_default,
            encrypted_segment_size_default: w.encrypted_segment_size_default,
            segments,
        }
    }
}

/// `rootSignature`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootSignature {
    /// `HS256` (or `GMAC`).
    pub alg: String,
    /// Base64 of the signature bytes.
    pub sig: String,
}

/// One segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Base64 of the segment hash (its 16-byte GCM tag for `GMAC`).
    pub hash: String,
    /// Plaintext bytes.
    #[serde(rename = "segmentSize")]
    pub segment_size: u64,
    /// Encrypted bytes (nonce ‖ ciphertext ‖ tag).
    #[serde(rename = "encryptedSegmentSize")]
    pub encrypted_segment_size: u64,
}

/// `payload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// `reference`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `0.payload`.
    pub url: String,
    /// `zip`.
    pub protocol: String,
    /// The plaintext MIME type.
    #[serde(rename = "mimeType", default, deserialize_with = "null_as_default")]
    pub mime_type: String,
    /// `true`.
    #[serde(rename = "isEncrypted")]
    pub is_encrypted: bool,
}

/// An assertion: a statement bound to the object by a JWS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assertion {
    /// Identifier.
    pub id: String,
    /// `handling` or `other`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `tdo` or `payload`.
    pub scope: String,
    /// `encrypted` or `unencrypted`.
    #[serde(
        rename = "appliesToState",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub applies_to_state: String,
    /// The statement.
    pub statement: Statement,
    /// The binding.
    #[serde(default, deserialize_with = "null_as_default")]
    pub binding: Binding,
}

/// `statement`. OpenTDF accepts `value` as a string or a JSON object (kept as text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// Format of `value` (`xml-structured`, `json`, `string`).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub format: String,
    /// Schema of `value`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub schema: String,
    /// The statement.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "string_or_object"
    )]
    pub value: String,
}

fn string_or_object<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    match v {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Object(_) => Ok(v.to_string()),
        _ => Err(serde::de::Error::custom(
            "statement value is neither a string nor an object",
        )),
    }
}

/// `binding`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// `jws`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub method: String,
    /// The JWS compact serialization.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub signature: String,
}

/// The policy object (base64 JSON in `encryptionInformation.policy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyObject {
    /// A UUID.
    pub uuid: String,
    /// The body.
    pub body: PolicyBody,
}

/// The policy body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyBody {
    /// Attribute values the object carries (the label, as FQNs).
    #[serde(
        rename = "dataAttributes",
        default,
        deserialize_with = "null_as_default"
    )]
    pub data_attributes: Vec<AttributeObject>,
    /// Dissemination list.
    #[serde(default, deserialize_with = "null_as_default")]
    pub dissem: Vec<String>,
}

/// An optional field written as `null` reads as absent. OpenTDF's older SDKs write
/// `"sid": null`, `"encryptedMetadata": null`, `"iv": null` and the like for fields they
/// leave unset.
fn null_as_default<'de, D: serde::Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One data attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeObject {
    /// The attribute value FQN.
    pub attribute: String,
    /// Display name.
    #[serde(rename = "displayName", default, deserialize_with = "null_as_default")]
    pub display_name: String,
    /// Default flag.
    #[serde(rename = "isDefault", default, deserialize_with = "null_as_default")]
    pub is_default: bool,
    /// KAS public key (unused here).
    #[serde(rename = "pubKey", default, deserialize_with = "null_as_default")]
    pub pub_key: String,
    /// KAS URL (unused here).
    #[serde(rename = "kasURL", default, deserialize_with = "null_as_default")]
    pub kas_url: String,
}

/// A JSON error with its position said once (serde ends its message with it too).
pub(crate) fn json_error(what: &str, e: serde_json::Error) -> Error {
    let msg = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    Error::Manifest(format!(
        "{what}: line {} column {}: {}",
        e.line(),
        e.column(),
        msg.strip_suffix(&suffix).unwrap_or(&msg)
    ))
}

impl Manifest {
    /// Parse and bound-check manifest JSON.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() as u64 > crate::zip::MAX_MANIFEST {
            return Err(Error::Manifest("manifest is over 10 MB".into()));
        }
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| json_error("manifest", e))?;
        let ii = &m.encryption_information.integrity_information;
        if ii.segments.len() > MAX_SEGMENTS {
            return Err(Error::Manifest(format!(
                "{} segments, more than the {MAX_SEGMENTS} accepted",
                ii.segments.len()
            )));
        }
        if m.encryption_information.key_access.len() > MAX_KEY_ACCESS {
            return Err(Error::Manifest("too many key access objects".into()));
        }
        if m.encryption_information.key_access.is_empty() {
            return Err(Error::Manifest("no key access objects".into()));
        }
        if m.assertions.len() > MAX_ASSERTIONS {
            return Err(Error::Manifest("too many assertions".into()));
        }
        Ok(m)
    }

    /// Serialize (compact, as OpenTDF does).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decode the policy object.
    pub fn policy_object(&self) -> Result<PolicyObject, Error> {
        let raw = crate::b64_decode(
            &self.encryption_information.policy,
            "encryptionInformation.policy",
        )?;
        serde_json::from_slice(&raw).map_err(|e| json_error("policy object", e))
    }

    /// Plaintext size: the sum of segment sizes.
    pub fn plaintext_size(&self) -> u64 {
        self.encryption_information
            .integrity_information
            .segments
            .iter()
            .fold(0u64, |a, s| a.saturating_add(s.segment_size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_sizes_left_out_are_the_defaults_or_follow_from_each_other() {
        let ii: IntegrityInformation = serde_json::from_value(serde_json::json!({
            "rootSignature": {"alg": "HS256", "sig": ""},
            "segmentHashAlg": "GMAC",
            "segmentSizeDefault": 1000,
            "encryptedSegmentSizeDefault": 1028,
            "segments": [
                {"hash": "a"},
                {"hash": "b", "segmentSize": null, "encryptedSegmentSize": null},
                {"hash": "c", "encryptedSegmentSize": 528},
                {"hash": "d", "segmentSize": 10},
                {"hash": "e", "segmentSize": 7, "encryptedSegmentSize": 35}
            ]
        }))
        .unwrap();
        let sizes: Vec<(u64, u64)> = ii
            .segments
            .iter()
            .map(|s| (s.segment_size, s.encrypted_segment_size))
            .collect();
        assert_eq!(
            sizes,
            [(1000, 1028), (1000, 1028), (500, 528), (10, 38), (7, 35)]
        );
        // Written back, every size is explicit.
        let back = serde_json::to_value(&ii).unwrap();
        assert_eq!(back["segments"][0]["segmentSize"], 1000);
    }
}
