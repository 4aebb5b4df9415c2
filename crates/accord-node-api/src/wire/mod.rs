//! What travels over HTTP between a person's client and a node (documented in
//! `docs/node-api.yaml`, an OpenAPI 3.1 file the tests check against the server).

use serde::{Deserialize, Serialize};

/// Largest request body a node reads (a bulk rewrap of many manifests).
pub const MAX_BODY: usize = 32 * 1024 * 1024;
/// Most objects in one bulk rewrap request.
pub const MAX_OBJECTS: usize = 1024;
/// How far a rewrap request's `issued_at` may be from the node's clock.
pub const MAX_SKEW_SECS: i64 = 300;

pub use crate::rule::{Reason, Rule};

mod equipment;
pub use equipment::{
    AccountNew, AccountView, Draft, Imported, ItemHistory, ItemView, ReconcileView, RecordView,
    Submitted,
};
mod people;
pub use people::{PersonView, RoleChange, StatusChange};
mod status;
pub use status::{
    AgreementState, NodeStatus, PartnerState, WARN_AGREEMENT_DAYS, WARN_CERTIFICATE_DAYS,
};

/// The answer to `PUT /v1/fed/agreements/{id}`: what the receiving node now holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementReceived {
    /// The agreement.
    pub id: String,
    /// `new`, `replaced` (a later copy) or `unchanged`.
    pub outcome: String,
    /// Lifecycle records the receiver now holds.
    pub records: u64,
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
    /// When no agreement is named: let the node choose the one agreement in force
    /// under which the person may apply the label and a partner's KAS would get a share.
    /// Absent or false: the object is sealed under no agreement (for this party alone).
    #[serde(default)]
    pub choose_agreement: bool,
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

/// `GET /v1/inbox/{id}?from=CODE`: which sender's object, when partners sent objects
/// under the same id.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchQuery {
    /// The sending party's code.
    pub from: Option<String>,
}

/// `POST /v1/seal/sign`: the assertions to sign, and the manifest they are for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// The assertions (the label and marking assertions), unsigned.
    pub assertions: Vec<Box<serde_json::value::RawValue>>,
    /// The object's manifest as it will be sealed, without assertions. The node takes
    /// from it, not from the sealer, what it signs over (the segment tags and the
    /// manifest digest) and the agreement it decides under (the one the policy names).
    /// Kept raw: the node parses it once, into the bounded manifest type.
    pub manifest: Box<serde_json::value::RawValue>,
}

impl SignRequest {
    /// The request for `assertions` of the object whose manifest is `manifest`.
    pub fn new(
        assertions: &[accord_tdf::manifest::Assertion],
        manifest: &impl Serialize,
    ) -> Result<SignRequest, serde_json::Error> {
        Ok(SignRequest {
            assertions: assertions
                .iter()
                .map(serde_json::value::to_raw_value)
                .collect::<Result<_, _>>()?,
            manifest: serde_json::value::to_raw_value(manifest)?,
        })
    }
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
    /// `member` or `officer` (absent from nodes before roles: a member).
    #[serde(default = "member")]
    pub role: String,
}

fn member() -> String {
    "member".into()
}

/// A request body refused before anything else is looked at: HTTP 400, rule `request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(pub String);

impl std::fmt::Display for BadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadRequest {}

/// Check an object id: a lower-case UUID (the id names a file and a row: one spelling).
pub fn check_object_id(id: &str) -> Result<(), BadRequest> {
    let ok = id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit() && !b.is_ascii_uppercase(),
        });
    if ok {
        Ok(())
    } else {
        Err(BadRequest(format!(
            "object id {id:?} is not a lower-case UUID"
        )))
    }
}

/// A [`RewrapBody`] decoded: the exact request bytes and the signature over them.
#[derive(Debug, Clone)]
pub struct SignedRewrap {
    /// The bytes the signature covers (JSON of a [`RewrapRequest`]).
    pub request: Vec<u8>,
    /// The ECDSA P-384 SHA-384 ASN.1 signature.
    pub signature: Vec<u8>,
}

/// Parse a `POST /v1/kas/rewrap` body: JSON with exactly `request` and `signature`,
/// both base64. The signature is checked by the node against the caller's key before
/// [`parse_rewrap_request`] reads what it covers.
pub fn parse_rewrap_body(body: &[u8]) -> Result<SignedRewrap, BadRequest> {
    use base64::Engine;
    let b64 = &base64::engine::general_purpose::STANDARD;
    let outer: RewrapBody =
        serde_json::from_slice(body).map_err(|e| BadRequest(format!("rewrap body: {e}")))?;
    let request = b64
        .decode(&outer.request)
        .map_err(|_| BadRequest("rewrap body: `request` is not base64".into()))?;
    let signature = b64
        .decode(&outer.signature)
        .map_err(|_| BadRequest("rewrap body: `signature` is not base64".into()))?;
    Ok(SignedRewrap { request, signature })
}

/// Parse the signed bytes of a rewrap request and check its shape: 1 to
/// [`MAX_OBJECTS`] objects, a nonce of 32 bytes in hex. Freshness (time and nonce
/// reuse) is the node's to check against its clock and database.
pub fn parse_rewrap_request(bytes: &[u8]) -> Result<RewrapRequest, BadRequest> {
    let req: RewrapRequest =
        serde_json::from_slice(bytes).map_err(|e| BadRequest(format!("rewrap request: {e}")))?;
    check_rewrap_request(req)
}

/// The checks of a rewrap request's shape, for a person's request and one a partner
/// node forwards alike: 1 to [`MAX_OBJECTS`] objects, the nonce in its one spelling
/// ([`normal_nonce`]).
pub fn check_rewrap_request(req: RewrapRequest) -> Result<RewrapRequest, BadRequest> {
    if req.objects.is_empty() || req.objects.len() > MAX_OBJECTS {
        return Err(BadRequest(format!(
            "a rewrap request holds 1 to {MAX_OBJECTS} objects, not {}",
            req.objects.len()
        )));
    }
    let mut req = req;
    req.nonce = normal_nonce(&req.nonce)?;
    Ok(req)
}

/// A request nonce in its one spelling: 32 bytes as 64 lower-case hex digits. The same
/// bytes in upper or mixed case are the same nonce (a replay), so nonces are compared
/// in this form only. Used for the person's and the partner's route alike.
pub fn normal_nonce(nonce: &str) -> Result<String, BadRequest> {
    match hex::decode(nonce) {
        Ok(b) if b.len() == 32 => Ok(hex::encode(b)),
        _ => Err(BadRequest("nonce must be 32 random bytes in hex".into())),
    }
}

/// The fresh key a rewrap answer is wrapped to: a `hybrid-p384-mlkem1024` public key
/// (no classical-only wrapping of a key that protects classified data).
pub fn rewrap_client_key(req: &RewrapRequest) -> Result<accord_keys::KasPublicKey, BadRequest> {
    client_key(&req.client_public_key)
}

/// [`rewrap_client_key`] of a PEM key (a partner node forwards the person's).
pub fn client_key(pem: &str) -> Result<accord_keys::KasPublicKey, BadRequest> {
    let key = accord_keys::KasPublicKey::from_pem(pem)
        .map_err(|e| BadRequest(format!("client_public_key: {e}")))?;
    if key.alg() != accord_keys::KasAlg::HybridP384MlKem1024 {
        return Err(BadRequest(format!(
            "client_public_key must be hybrid-p384-mlkem1024, not {}",
            key.alg().as_str()
        )));
    }
    Ok(key)
}

/// Parse a `POST /v1/seal/plan` body and check it names exactly one of `marking` and
/// `label` (whether that label is valid is the policy's to say).
pub fn parse_seal_plan(body: &[u8]) -> Result<SealPlanRequest, BadRequest> {
    let req: SealPlanRequest =
        serde_json::from_slice(body).map_err(|e| BadRequest(format!("request body: {e}")))?;
    if req.marking.is_some() == req.label.is_some() {
        return Err(BadRequest(
            "give exactly one of `marking` and `label`".into(),
        ));
    }
    Ok(req)
}

/// A [`SignRequest`] checked for its shape: the assertions parsed. The manifest is
/// checked by [`accord_tdf::check_unsigned`], against the label.
#[derive(Debug, Clone)]
pub struct CheckedSign {
    /// The label assertion and, optionally, the marking assertion, in request order.
    pub assertions: Vec<accord_tdf::manifest::Assertion>,
    /// Index of the label assertion in `assertions`.
    pub label: usize,
    /// The manifest, as JSON bytes.
    pub manifest: Vec<u8>,
}

/// Parse a `POST /v1/seal/sign` body: the node signs only the label assertion and the
/// marking assertion (one label, at most one marking), for a manifest object.
pub fn parse_sign_request(body: &[u8]) -> Result<CheckedSign, BadRequest> {
    use accord_tdf::assertion::{LABEL_ID, MARKING_ID};
    let only = || {
        BadRequest(
            "only the label and marking assertions are signed by the node (one of each at most)"
                .into(),
        )
    };
    let req: SignRequest =
        serde_json::from_slice(body).map_err(|e| BadRequest(format!("request body: {e}")))?;
    // Counted before each is parsed.
    if req.assertions.len() > 2 {
        return Err(only());
    }
    let assertions: Vec<accord_tdf::manifest::Assertion> = req
        .assertions
        .iter()
        .map(|a| serde_json::from_str(a.get()))
        .collect::<Result<_, _>>()
        .map_err(|e| BadRequest(format!("assertions: {e}")))?;
    let label = assertions
        .iter()
        .position(|a| a.id == LABEL_ID)
        .ok_or_else(|| BadRequest("no label assertion to sign".into()))?;
    let count = |id: &str| assertions.iter().filter(|a| a.id == id).count();
    if count(LABEL_ID) != 1
        || count(MARKING_ID) > 1
        || assertions
            .iter()
            .any(|a| a.id != LABEL_ID && a.id != MARKING_ID)
    {
        return Err(only());
    }
    let manifest = req.manifest.get();
    if !manifest.starts_with('{') {
        return Err(BadRequest("manifest: not a JSON object".into()));
    }
    Ok(CheckedSign {
        assertions,
        label,
        manifest: manifest.as_bytes().to_vec(),
    })
}

/// `n bytes`, or `1 byte`.
fn bytes(n: usize) -> String {
    if n == 1 {
        "1 byte".into()
    } else {
        format!("{n} bytes")
    }
}

// ---------------------------------------------------------------- partner rewrap

/// A person as their own node vouches for them to a partner's KAS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VouchedPerson {
    /// Identifier at their node.
    pub id: String,
    /// Name.
    pub name: String,
    /// Their party (must be the calling node's).
    pub party: String,
    /// Nationality.
    pub nationality: String,
    /// Clearance JSON, under their party's national policy.
    pub clearance: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// `active` or `suspended`.
    pub status: String,
}

/// `POST /v1/fed/kas/rewrap`: node to node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerRewrapRequest {
    /// The person, vouched for by the calling node.
    pub person: VouchedPerson,
    /// The person's request nonce (hex), accepted once per person.
    pub nonce: String,
    /// When the person issued the request (Unix seconds): refused beyond
    /// [`MAX_SKEW_SECS`] of the partner's clock, as the person's own node does,
    /// so that the nonce, kept for twice that, cannot be replayed once pruned.
    pub issued_at: i64,
    /// The person's ephemeral hybrid public key (PEM): the share is wrapped to it.
    pub client_public_key: String,
    /// The manifests.
    pub objects: Vec<serde_json::Value>,
}

#[cfg(test)]
mod tests;

// ---------------------------------------------------------------- batch delivery

/// Most objects in one batch delivery (`POST /v1/fed/inbox`).
pub const BATCH_MAX_OBJECTS: usize = 256;
/// Largest object a batch may carry; larger ones go one by one, streaming.
pub const BATCH_OBJECT_MAX: u64 = 1 << 20;
/// Most object bytes in one batch.
pub const BATCH_MAX_BYTES: u64 = 16 << 20;
/// Longest header line of a batch.
pub const BATCH_MAX_HEADER: usize = 64 * 1024;
/// The media type of a batch body.
pub const BATCH_MEDIA_TYPE: &str = "application/vnd.accord.batch";

/// The header line of a batch: the objects it carries, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchHeader {
    /// Each object's id and size.
    pub objects: Vec<BatchEntry>,
}

/// One object of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchEntry {
    /// The object id (its policy uuid).
    pub id: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A parsed batch: the header and where each object's bytes are in the body.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Each object's id and byte range in the body, in order.
    pub objects: Vec<(String, std::ops::Range<usize>)>,
}

/// Lay out a batch body: the header line, then the objects back to back.
pub fn batch_body(objects: &[(String, Vec<u8>)]) -> Vec<u8> {
    let header = BatchHeader {
        objects: objects
            .iter()
            .map(|(id, b)| BatchEntry {
                id: id.clone(),
                size: b.len() as u64,
            })
            .collect(),
    };
    let mut out = serde_json::to_vec(&header).unwrap_or_default();
    out.push(b'\n');
    for (_, b) in objects {
        out.extend_from_slice(b);
    }
    out
}

/// Parse a batch body (`{"objects":[{"id","size"},...]}` on one line, then the
/// objects' bytes back to back) and check its bounds: 1 to [`BATCH_MAX_OBJECTS`]
/// objects with distinct lower-case UUID ids, each at most [`BATCH_OBJECT_MAX`] bytes,
/// the sizes adding up to exactly the bytes that follow the header.
pub fn parse_batch(body: &[u8]) -> Result<Batch, BadRequest> {
    let end = body
        .iter()
        .take(BATCH_MAX_HEADER + 1)
        .position(|&b| b == b'\n')
        .ok_or_else(|| {
            BadRequest(format!(
                "batch: no header line in the first {BATCH_MAX_HEADER} bytes"
            ))
        })?;
    let header: BatchHeader = serde_json::from_slice(&body[..end])
        .map_err(|e| BadRequest(format!("batch header: {e}")))?;
    let n = header.objects.len();
    if n == 0 || n > BATCH_MAX_OBJECTS {
        return Err(BadRequest(format!(
            "a batch holds 1 to {BATCH_MAX_OBJECTS} objects, not {n}"
        )));
    }
    let mut seen = std::collections::HashSet::with_capacity(n);
    let mut at = end + 1;
    let mut objects = Vec::with_capacity(n);
    for (i, o) in header.objects.into_iter().enumerate() {
        if let Err(e) = check_object_id(&o.id) {
            return Err(BadRequest(format!("batch object {i}: {}", e.0)));
        }
        if !seen.insert(o.id.clone()) {
            return Err(BadRequest(format!(
                "batch object {i}: {} appears twice",
                o.id
            )));
        }
        if o.size == 0 || o.size > BATCH_OBJECT_MAX {
            return Err(BadRequest(format!(
                "batch object {i} ({}): size {} is not 1 to {BATCH_OBJECT_MAX} bytes",
                o.id, o.size
            )));
        }
        let size = o.size as usize;
        if body.len() - at < size {
            return Err(BadRequest(format!(
                "batch object {i} ({}): the body ends {} into its {size}",
                o.id,
                bytes(body.len() - at)
            )));
        }
        objects.push((o.id, at..at + size));
        at += size;
    }
    if at != body.len() {
        let n = body.len() - at;
        return Err(BadRequest(format!(
            "batch: {} follow{} the last object",
            bytes(n),
            if n == 1 { "s" } else { "" }
        )));
    }
    Ok(Batch { objects })
}

/// What the receiver answers for one object of a batch: its receipt, or why not.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchResult {
    /// The object id.
    pub id: String,
    /// The signed receipt, when the object is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<crate::receipt::Receipt>,
    /// When it is not: the HTTP status its own delivery would have had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// When it is not: what went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The reasons of a refusal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
}

/// The answer to a batch delivery, one result per object in the batch's order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchResponse {
    /// The results.
    pub results: Vec<BatchResult>,
}

/// `GET /v1/fed/inbox/{id}/partial`: the bytes of a broken delivery kept by the
/// receiver, from which the sender may resume.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialDelivery {
    /// Bytes held from the start of the object (0: none).
    pub offset: u64,
}

/// The header of a `PUT /v1/fed/inbox/{id}` that sends the rest of a partial delivery:
/// the body is the object from this byte on.
pub const RESUME_HEADER: &str = "accord-resume-from";

/// Parse [`RESUME_HEADER`]: a decimal byte offset.
pub fn parse_resume(value: &[u8]) -> Result<u64, BadRequest> {
    std::str::from_utf8(value)
        .ok()
        .filter(|v| !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            BadRequest(format!(
                "header {RESUME_HEADER}: {:?} is not a byte offset",
                String::from_utf8_lossy(&value[..value.len().min(64)])
            ))
        })
}

#[cfg(test)]
mod batch_tests {
    use super::*;

    const A: &str = "0b8f1c9e-2c57-4c43-9a77-5b0f5f3a2d10";
    const B: &str = "1b8f1c9e-2c57-4c43-9a77-5b0f5f3a2d10";

    #[test]
    fn a_batch_round_trips_and_bad_ones_name_the_problem() {
        let body = batch_body(&[(A.into(), b"abc".to_vec()), (B.into(), b"de".to_vec())]);
        let b = parse_batch(&body).unwrap();
        assert_eq!(b.objects.len(), 2);
        assert_eq!(&body[b.objects[0].1.clone()], b"abc");
        assert_eq!(&body[b.objects[1].1.clone()], b"de");
        let bad = |body: &[u8]| parse_batch(body).unwrap_err().0;
        let mut long = body.clone();
        long.push(0);
        assert!(bad(&long).contains("1 byte follows the last object"));
        assert!(bad(&body[..body.len() - 1]).contains("the body ends 1 byte into its 2"));
        assert!(bad(b"{\"objects\":[]}\n").contains("1 to 256 objects, not 0"));
        assert!(bad(b"no newline").contains("no header line"));
        assert!(bad(b"{\"objects\":1}\n").contains("batch header"));
        let twice = batch_body(&[(A.into(), b"a".to_vec()), (A.into(), b"b".to_vec())]);
        assert!(bad(&twice).contains("appears twice"));
        let upper = batch_body(&[(A.to_uppercase(), b"a".to_vec())]);
        assert!(bad(&upper).contains("is not a lower-case UUID"));
        let empty = batch_body(&[(A.into(), vec![])]);
        assert!(bad(&empty).contains("size 0 is not 1 to"));
        let huge = format!(
            "{{\"objects\":[{{\"id\":\"{A}\",\"size\":{}}}]}}\n",
            u64::MAX
        );
        assert!(bad(huge.as_bytes()).contains("is not 1 to"));
        let mut many = String::from("{\"objects\":[");
        for i in 0..257 {
            many.push_str(&format!(
                "{}{{\"id\":\"{A}\",\"size\":1}}",
                if i > 0 { "," } else { "" }
            ));
        }
        many.push_str("]}\n");
        assert!(bad(many.as_bytes()).contains("not 257"));
    }
}

#[cfg(test)]
mod resume_tests {
    use super::*;

    #[test]
    fn resume_header_is_a_decimal_offset() {
        assert_eq!(parse_resume(b"0").unwrap(), 0);
        assert_eq!(parse_resume(b"8388608").unwrap(), 8 << 20);
        assert_eq!(parse_resume(b"18446744073709551615").unwrap(), u64::MAX);
        for bad in [
            &b""[..],
            b"-1",
            b"+5",
            b" 5",
            b"5 ",
            b"0x10",
            b"1e3",
            b"18446744073709551616",
            b"123456789012345678901",
            b"\xff",
        ] {
            let e = parse_resume(bad).unwrap_err().0;
            assert!(e.contains(RESUME_HEADER), "{e}");
        }
    }
}
