//! The label checks from a manifest alone: what a KAS verifies before it releases a
//! share (`verify_label`), what a label signer derives before it signs
//! (`check_unsigned`), and the checks `open` makes too (`check_label`). Apart because
//! none of them needs a payload key.

use super::plan::plan;
use crate::assertion::{self, LABEL_ID, MARKING_ID};
use crate::label::{self, LabelSummary};
use crate::manifest::{Assertion, Manifest, SCHEMA_VERSION};
use crate::zip;
use crate::Error;
use accord_keys::VerifyingKey;

/// What a KAS learns from a manifest alone, all verified: the label signed by a trusted
/// signer, bound to this manifest and payload, and agreeing with the policy.
#[derive(Debug, Clone)]
pub struct VerifiedLabel {
    /// The parsed manifest.
    pub manifest: Manifest,
    /// The label.
    pub label: LabelSummary,
    /// The label XML.
    pub label_xml: String,
    /// The marking, as the labeller signed it.
    pub marking: String,
    /// Who signed the label.
    pub signer: assertion::Signer,
    /// The agreement named in the policy, if any.
    pub agreement: Option<String>,
    /// The policy object's uuid: the object's identity for decisions and the audit log.
    pub object_id: String,
    /// The manifest digest the label's signature binds (hex SHA-256 of the manifest's
    /// JCS form without assertions): it covers every key access object, so it names
    /// this object and no other with the same id.
    pub manifest_digest: String,
    /// The policy's dissemination list (`dissem`): when not empty, the decision admits
    /// only the people it names.
    pub dissem: Vec<String>,
}

/// Verify the label of a sealed object from its manifest alone, as a KAS must before
/// releasing a share: everything `open` checks about the label, without a payload key.
///
/// The manifest is parsed with the same bounds as in a container; the segment hashes
/// are rebuilt into the aggregate; the label and marking assertions must be signed by a
/// key in `trusted_signers` (ES384 or EdDSA: an HS256 assertion made with the payload
/// key is refused, since whoever holds the key could have made it), with hash, payload
/// binding and manifest digest claims that match; and the policy's label-namespace
/// attributes must be exactly the label's.
pub fn verify_label(
    manifest_json: &[u8],
    trusted_signers: &[VerifyingKey],
) -> Result<VerifiedLabel, Error> {
    if manifest_json.len() as u64 > zip::MAX_MANIFEST {
        return Err(Error::Manifest("manifest is over 10 MB".into()));
    }
    let manifest = Manifest::parse(manifest_json)?;
    let value: serde_json::Value =
        serde_json::from_slice(manifest_json).map_err(|e| Error::Manifest(e.to_string()))?;
    let legacy = manifest.schema_version.is_empty();
    let (_, aggregate) = plan(&manifest, None, legacy)?;
    let v = check_label(&manifest, &value, &aggregate, legacy, trusted_signers)?;
    Ok(VerifiedLabel {
        manifest,
        label: v.label,
        label_xml: v.label_xml,
        marking: v.marking,
        signer: v.signer,
        agreement: v.agreement,
        object_id: v.object_id,
        dissem: v.dissem,
        manifest_digest: v.manifest_digest,
    })
}

/// What a label signer learns from an object about to be sealed, all derived from its
/// manifest rather than taken on the sealer's word.
#[derive(Debug, Clone)]
pub struct UnsignedObject {
    /// The agreement the policy names, if any: the one the object will be opened under.
    pub agreement: Option<String>,
    /// The policy object's uuid.
    pub object_id: String,
    /// The concatenated segment tags the assertions are bound to.
    pub aggregate: Vec<u8>,
    /// The manifest digest the assertions are bound to (hex SHA-256 of its JCS form).
    pub manifest_digest: String,
    /// The manifest as parsed (its key access objects say whose KASes hold shares).
    pub manifest: Manifest,
}

/// Check an object's manifest before signing its label assertion, as a party node does
/// for its people: the manifest (in its 4.3.0 form, without assertions yet) gives the
/// segment tags and the digest the signature binds, and its policy must carry exactly
/// the label's attributes and names the agreement the label is decided under. So a
/// signer that decides by [`UnsignedObject::agreement`] signs the object it decided on,
/// not one the sealer describes.
pub fn check_unsigned(
    manifest_json: &[u8],
    label_assertion: &Assertion,
) -> Result<UnsignedObject, Error> {
    let manifest = Manifest::parse(manifest_json)?;
    if manifest.schema_version != SCHEMA_VERSION {
        return Err(Error::Unsupported(format!(
            "a label is signed only for a schemaVersion {SCHEMA_VERSION} manifest, not `{}`",
            manifest.schema_version
        )));
    }
    if !manifest.assertions.is_empty() {
        return Err(Error::Manifest(
            "the manifest to sign for must not carry assertions yet".into(),
        ));
    }
    let (_, aggregate) = plan(&manifest, None, false)?;
    let label = LabelSummary::from_xml(&label_assertion.statement.value)?;
    let policy = manifest.policy_object()?;
    let agreement = label::check_policy_agrees(&label, &policy)?;
    // The digest is of the manifest as parsed, so that fields the parser does not know
    // cost nothing here. `seal` hands its signer exactly that form; a sealer that sent
    // other fields would get a signature its stored manifest does not verify against.
    let value = serde_json::to_value(&manifest).map_err(|e| Error::Manifest(e.to_string()))?;
    Ok(UnsignedObject {
        agreement,
        object_id: policy.uuid,
        aggregate,
        manifest_digest: assertion::manifest_digest(&value)?,
        manifest,
    })
}

/// The label checks shared by [`open`] and [`verify_label`].
pub(super) struct LabelCheck {
    pub(super) label: LabelSummary,
    pub(super) label_xml: String,
    pub(super) marking: String,
    pub(super) signer: assertion::Signer,
    pub(super) agreement: Option<String>,
    pub(super) object_id: String,
    pub(super) dissem: Vec<String>,
    pub(super) manifest_digest: String,
}

/// The label an unlabelled object's policy attributes describe, as written (names
/// lower-cased), and the agreement they name; refused when they describe none.
pub(super) fn attribute_label(m: &Manifest) -> Result<(LabelSummary, Option<String>), Error> {
    let policy = m.policy_object()?;
    let fqns: Vec<String> = policy
        .body
        .data_attributes
        .iter()
        .map(|a| a.attribute.clone())
        .collect();
    let a = label::label_attributes(&fqns).map_err(Error::Label)?;
    Ok((
        LabelSummary {
            policy: a.policy,
            classification: a.classification,
            categories: a.categories,
        },
        a.agreement,
    ))
}

pub(super) fn check_label(
    m: &Manifest,
    value: &serde_json::Value,
    aggregate: &[u8],
    legacy: bool,
    trusted: &[VerifyingKey],
) -> Result<LabelCheck, Error> {
    let digest = assertion::manifest_digest(value)?;
    let (mut label_a, mut marking_a) = (None, None);
    for a in &m.assertions {
        let slot = match a.id.as_str() {
            LABEL_ID => &mut label_a,
            MARKING_ID => &mut marking_a,
            _ => continue,
        };
        if slot.is_some() {
            return Err(Error::Integrity(format!(
                "assertion `{}` appears twice",
                a.id
            )));
        }
        let s = assertion::verify(a, aggregate, legacy, Some(&digest), trusted, &[], false)?;
        *slot = Some((a, s));
    }
    let (label_a, signer) = label_a
        .ok_or_else(|| Error::Integrity("the object carries no signed label assertion".into()))?;
    // The marking travels with the label, signed by the same key: an object whose
    // marking was stripped (or signed by someone else) would otherwise open, travel and
    // be listed with no marking, or with one its labeller never gave it.
    let (marking_a, marking_signer) = marking_a.ok_or_else(|| {
        Error::Integrity(format!(
            "the object carries no signed marking assertion (`{MARKING_ID}`) beside its label"
        ))
    })?;
    if marking_signer.kid != signer.kid {
        return Err(Error::Integrity(format!(
            "the marking assertion is signed by key {}…, the label by key {}…: both must be the labeller's",
            marking_signer.kid.get(..16).unwrap_or(&marking_signer.kid),
            signer.kid.get(..16).unwrap_or(&signer.kid)
        )));
    }
    let label = LabelSummary::from_xml(&label_a.statement.value)?;
    let policy = m.policy_object()?;
    let agreement = label::check_policy_agrees(&label, &policy)?;
    Ok(LabelCheck {
        label,
        label_xml: label_a.statement.value.clone(),
        marking: marking_a.statement.value.clone(),
        signer,
        agreement,
        object_id: policy.uuid,
        dissem: policy.body.dissem,
        manifest_digest: digest,
    })
}
