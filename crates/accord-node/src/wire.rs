//! What travels over HTTP between a person's client and a node (documented in
//! `docs/node-api.yaml`, an OpenAPI 3.1 file the tests check against the server).

use serde::{Deserialize, Serialize};

/// Largest request body a node reads (a bulk rewrap of many manifests).
pub const MAX_BODY: usize = 32 * 1024 * 1024;
/// Most objects in one bulk rewrap request.
pub const MAX_OBJECTS: usize = 1024;
/// How far a rewrap request's `issued_at` may be from the node's clock.
pub const MAX_SKEW_SECS: i64 = 300;

/// One reason for a decision, with the rule it is about (the agreement rules of
/// `accord-agreement`, plus `credential`, `request` and `object-integrity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The rule, kebab-case (`clearance`, `agreement-in-force`, ...).
    pub rule: String,
    /// The reason in words.
    pub text: String,
}

impl Reason {
    /// A reason.
    pub fn new(rule: &str, text: impl Into<String>) -> Reason {
        Reason {
            rule: rule.into(),
            text: text.into(),
        }
    }
}

/// An error answer: what was wrong, and the reasons when it is a refusal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Problem {
    /// One line.
    pub error: String,
    /// Reasons, when a decision refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
}

/// `POST /v1/kas/rewrap`: a signed request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewrapBody {
    /// Base64 of the JSON [`RewrapRequest`], exactly the bytes signed.
    pub request: String,
    /// Base64 of the ECDSA P-384 (SHA-384, ASN.1 DER) signature over those bytes by
    /// the credential's key: binds the fresh public key and the nonce to the person.
    pub signature: String,
}

/// The request inside [`RewrapBody`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewrapRequest {
    /// 32 random bytes, hex; a nonce is accepted once.
    pub nonce: String,
    /// Unix seconds when the client made the request.
    pub issued_at: i64,
    /// A fresh `hybrid-p384-mlkem1024` public key (PEM) to wrap the released shares to.
    pub client_public_key: String,
    /// The manifests (`0.manifest.json`) of the objects to open.
    pub objects: Vec<serde_json::Value>,
}

/// A key wrapped to the client's fresh key, as a key access object would carry it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WrappedKey {
    /// `hybrid-wrapped` (the client key's type).
    #[serde(rename = "type")]
    pub key_type: String,
    /// Base64 of the wrapped key.
    pub wrapped_key: String,
}

/// One share released, encrypted under the response's session key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleasedShare {
    /// The split id.
    pub sid: String,
    /// Base64 of nonce ‖ AES-256-GCM ciphertext ‖ tag, with AAD `object_id ‖ 0x00 ‖ sid`.
    pub share: String,
}

/// The decision on one object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectResult {
    /// The object's id (its policy uuid), or its index when the manifest did not parse.
    pub object_id: String,
    /// `permit` or `deny`.
    pub decision: String,
    /// Every reason.
    pub reasons: Vec<Reason>,
    /// The audit log entry recording this decision.
    pub log_index: u64,
    /// The label marking, when the label verified.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub marking: String,
    /// Shares released (permit only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shares: Vec<ReleasedShare>,
}

/// `POST /v1/kas/rewrap` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RewrapResponse {
    /// The party whose KAS answered.
    pub party: String,
    /// The session key the shares are encrypted under, wrapped to the client's key.
    pub session_key: WrappedKey,
    /// One result per object, in request order.
    pub results: Vec<ObjectResult>,
}

/// `POST /v1/seal/plan`: what a person wants to seal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealPlanRequest {
    /// A marking under the node's national policy (`SECRET//REL TO USA, PAK`)...
    #[serde(default)]
    pub marking: Option<String>,
    /// ...or a label (STANAG 4774 XML, spiffy XML or JSON).
    #[serde(default)]
    pub label: Option<String>,
    /// The agreement the object is exchanged under.
    #[serde(default)]
    pub agreement: Option<String>,
}

/// One KAS a share is wrapped for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanRecipient {
    /// The party.
    pub party: String,
    /// Its node's URL (the key access object's `url`).
    pub url: String,
    /// The KAS public key, PEM.
    pub kas_key: String,
}

/// `POST /v1/seal/plan` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealPlan {
    /// The label, STANAG 4774 XML, as the node will sign it.
    pub label_xml: String,
    /// Its marking.
    pub marking: String,
    /// The agreement, if any.
    #[serde(default)]
    pub agreement: Option<String>,
    /// Every KAS to wrap the share for (any one may release it).
    pub recipients: Vec<PlanRecipient>,
    /// Parties left out, with why.
    #[serde(default)]
    pub excluded: Vec<Reason>,
}

/// `POST /v1/seal/sign`: the assertions to sign.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// The assertions (the label and marking assertions), unsigned.
    pub assertions: Vec<serde_json::Value>,
    /// Base64 of the concatenated segment hashes.
    pub aggregate: String,
    /// The manifest digest claim.
    pub manifest_digest: String,
}

/// `POST /v1/seal/sign` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignResponse {
    /// The assertions with their JWS bindings.
    pub assertions: Vec<serde_json::Value>,
    /// The audit log entry recording the labelling.
    pub log_index: u64,
}

/// `GET /v1/trust`: the keys a client trusts when opening.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustInfo {
    /// This node's party.
    pub party: String,
    /// Label signers: this party's and its partners' in agreements in force.
    pub signers: Vec<TrustedSigner>,
}

/// One trusted label signer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustedSigner {
    /// The party.
    pub party: String,
    /// Classical signing public key, PEM.
    pub key: String,
}

/// `GET /v1/whoami`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WhoAmI {
    /// The node's party.
    pub party: String,
    /// The person.
    pub person: String,
    /// `active` or `suspended`.
    pub status: String,
}
