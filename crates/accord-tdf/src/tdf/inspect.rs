//! Reading a container without keys: its layout, manifest, label, marking, signer and
//! agreement, none of them verified. Apart because it needs no key and checks nothing;
//! `open` starts from the same reading of the container.

use crate::assertion::{self, LABEL_ID, MARKING_ID};
use crate::label::{self, LabelSummary};
use crate::manifest::Manifest;
use crate::zip::{self, Layout};
use crate::Error;
use std::io::{Read, Seek};

/// A container read without keys.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// Where things are.
    pub layout: Layout,
    /// The manifest.
    pub manifest: Manifest,
    /// The label (unverified: `inspect` holds no key).
    pub label: Option<LabelSummary>,
    /// The label XML.
    pub label_xml: Option<String>,
    /// The marking.
    pub marking: Option<String>,
    /// The label signer from the JWS header (unverified).
    pub signer: Option<assertion::Signer>,
    /// The agreement named in the policy (unverified), if any.
    pub agreement: Option<String>,
}

pub(super) fn load<R: Read + Seek>(
    r: &mut R,
) -> Result<(Layout, Manifest, serde_json::Value), Error> {
    let layout = zip::read_layout(r)?;
    let bytes = zip::read_manifest(r, &layout)?;
    let manifest = Manifest::parse(&bytes)?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| Error::Manifest(e.to_string()))?;
    Ok((layout, manifest, value))
}

/// Read a container's label, signer, key access and segments, without keys.
pub fn inspect<R: Read + Seek>(r: &mut R) -> Result<Inspection, Error> {
    let (layout, manifest, _) = load(r)?;
    let find = |id: &str| manifest.assertions.iter().find(|a| a.id == id);
    let label_xml = find(LABEL_ID).map(|a| a.statement.value.clone());
    let label = label_xml
        .as_deref()
        .map(LabelSummary::from_xml)
        .transpose()?;
    let marking = find(MARKING_ID).map(|a| a.statement.value.clone());
    let signer = find(LABEL_ID)
        .and_then(|a| assertion::parse_jws(a).ok())
        .map(|j| assertion::Signer {
            alg: j.alg,
            kid: j.kid,
        });
    let agreement = manifest
        .policy_object()
        .ok()
        .and_then(|p| label::agreement_of(&p));
    Ok(Inspection {
        layout,
        manifest,
        label,
        label_xml,
        marking,
        signer,
        agreement,
    })
}
