//! Confidentiality labels: the value type, and its three serialisations.
//!
//! * STANAG 4774 XML (`urn:nato:stanag:4774:confidentialitymetadatalabel:1:0`):
//!   `originatorConfidentialityLabel` or `alternativeConfidentialityLabel`, with
//!   `ConfidentialityInformation` (`PolicyIdentifier`, `Classification`, `Category`
//!   `@Type @TagName @URI` with `GenericValue`s), `OriginatorID`, `CreationDateTime`
//!   and the `ReviewDateTime` attribute.
//! * The surevine "spiffy" XML (`http://surevine.com/xmlns/spiffy`) used by the
//!   spiffing conformance suite: `<label><policy id/><classification lacv/><tag type id lacv/>`.
//! * A JSON form (documented in `docs/policies-and-labels.md`).
//!
//! Reading needs the policy (names ↔ LACVs); writing does not: a [`Label`] carries the
//! names, identifiers and LACVs of everything it holds.
//!
//! The value type and what needs no serialisation are here; each form has a module of
//! its own (`stanag`, `spiffy`, `json`, and two that only read: `ber`, and `attributes`,
//! the names OpenTDF attribute FQNs carry), and `read` holds what their readers share:
//! the size bound, format detection, dates and category names. Clearances use the same
//! readers.

use crate::error::{Error, Position, Result};
use crate::policy::{Policy, TagType};
use crate::set::PolicySet;
use crate::xml::{Element, Limits};
use serde::{Deserialize, Serialize};

mod attributes;
mod ber;
pub(crate) mod json;
pub(crate) mod read;
pub(crate) mod spiffy;
mod stanag;

use read::{detect, Detected};
use spiffy::read_spiffy;
use stanag::read_stanag;

/// The STANAG 4774 label namespace.
pub const STANAG_4774_NS: &str = "urn:nato:stanag:4774:confidentialitymetadatalabel:1:0";
/// The surevine spiffy namespace.
pub const SPIFFY_NS: &str = "http://surevine.com/xmlns/spiffy";
/// Largest label or clearance accepted.
pub const MAX_LABEL_BYTES: usize = 1024 * 1024;
/// Deepest nesting accepted in a label or clearance.
pub const MAX_LABEL_DEPTH: usize = 32;

pub(crate) const LABEL_LIMITS: Limits = Limits {
    max_bytes: MAX_LABEL_BYTES,
    max_depth: MAX_LABEL_DEPTH,
    max_elements: 100_000,
};

/// Which policy a label or clearance is under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyId {
    /// Policy name, e.g. `USA`.
    pub name: String,
    /// Policy OID.
    pub id: String,
}

/// A classification as a label carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassificationRef {
    /// Name, e.g. `SECRET`.
    pub name: String,
    /// LACV.
    pub lacv: u64,
}

/// One category value on a label or clearance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Tag set name, e.g. `Releasable To`.
    pub tag_set: String,
    /// Tag set OID.
    pub tag_set_id: String,
    /// Tag (securityCategoryTag) name.
    pub tag: String,
    /// Tag type.
    pub tag_type: TagType,
    /// Category name, e.g. `PAK`.
    pub name: String,
    /// Normalised LACV.
    pub lacv: String,
}

impl Category {
    /// True when `other` is the same category (tag set, exact tag type and LACV).
    pub fn same_as(&self, other: &Category) -> bool {
        self.lacv == other.lacv
            && self.tag_type == other.tag_type
            && self.tag_set_id == other.tag_set_id
    }
}

/// STANAG 4774 `OriginatorID`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginatorId {
    /// `IDType`, e.g. `userPrincipalName`, `rfc822Name`, `distinguishedName`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub id_type: Option<String>,
    /// The identifier.
    pub value: String,
}

/// Originator label (the one the author applied) or alternative label (an equivalent
/// under another policy, e.g. after translation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LabelKind {
    /// `originatorConfidentialityLabel`.
    #[default]
    Originator,
    /// `alternativeConfidentialityLabel`.
    Alternative,
}

/// The serialisations a label can be read from and written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelFormat {
    /// STANAG 4774 XML.
    Stanag4774,
    /// surevine spiffy XML.
    Spiffy,
    /// Accord's JSON form.
    Json,
}

/// A confidentiality label under one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Originator or alternative label.
    pub kind: LabelKind,
    /// The policy.
    pub policy: PolicyId,
    /// The classification.
    pub classification: ClassificationRef,
    /// Categories, in the policy's document order, without duplicates.
    pub categories: Vec<Category>,
    /// Who applied the label.
    pub originator_id: Option<OriginatorId>,
    /// When the label was applied (xs:dateTime text, kept as written).
    pub creation_date_time: Option<String>,
    /// When the label should be reviewed (xs:dateTime text, kept as written).
    pub review_date_time: Option<String>,
}

impl Label {
    /// A label with a classification and no categories.
    pub fn new(policy: &Policy, classification: &str) -> Result<Label> {
        let cls = policy
            .classification_by_name(classification)
            .ok_or_else(|| Error::UnknownClassification {
                policy: policy.name.clone(),
                value: classification.to_string(),
            })?;
        Ok(Label {
            kind: LabelKind::Originator,
            policy: policy.policy_id(),
            classification: ClassificationRef {
                name: cls.name.clone(),
                lacv: cls.lacv,
            },
            categories: Vec::new(),
            originator_id: None,
            creation_date_time: None,
            review_date_time: None,
        })
    }

    /// Add the category `name` of tag set `tag_set` (names, ASCII case ignored), keeping
    /// the policy's order. Adding a category already present is refused.
    pub fn add_category(&mut self, policy: &Policy, tag_set: &str, name: &str) -> Result<()> {
        let ts = policy
            .tag_set_by_name(tag_set)
            .ok_or_else(|| Error::UnknownCategory {
                policy: policy.name.clone(),
                value: format!("tag set {tag_set:?}"),
            })?;
        let o =
            policy
                .category_by_name_any_type(ts, name)
                .ok_or_else(|| Error::UnknownCategory {
                    policy: policy.name.clone(),
                    value: format!("{name:?} in tag set {tag_set:?}"),
                })?;
        let mut ords = policy.ordinals(&self.categories)?;
        if ords.contains(&o) {
            return Err(Error::Duplicate(format!(
                "category {name} of {tag_set} is already on the label"
            )));
        }
        ords.push(o);
        ords.sort_unstable();
        self.categories = ords.iter().map(|&o| policy.category(o)).collect();
        Ok(())
    }

    /// The label's categories as (tag set name, category name) pairs, in policy order.
    /// For example `("Releasable To", "PAK")`, `("Scope", "EXERCISES")`.
    pub fn category_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.categories
            .iter()
            .map(|c| (c.tag_set.as_str(), c.name.as_str()))
    }

    /// The names of the label's categories in tag set `tag_set` (ASCII case ignored).
    pub fn values(&self, tag_set: &str) -> Vec<&str> {
        self.categories
            .iter()
            .filter(|c| c.tag_set.eq_ignore_ascii_case(tag_set))
            .map(|c| c.name.as_str())
            .collect()
    }

    /// Read a label in any of the three forms (detected from the content), finding its
    /// policy in `set`. `source_name` names the input in errors.
    pub fn read(set: &PolicySet, source_name: &str, bytes: &[u8]) -> Result<Label> {
        match detect(source_name, bytes)? {
            Detected::Json => Label::read_json(set, source_name, bytes),
            Detected::Xml(doc) => Label::from_element(set, source_name, doc.root()),
            Detected::Ber => ber::read_ess_label(set, source_name, bytes),
        }
    }

    pub(crate) fn from_element(
        set: &PolicySet,
        source_name: &str,
        root: Element<'_, '_>,
    ) -> Result<Label> {
        let invalid = |at: Position, reason: String| Error::Invalid {
            source_name: source_name.to_string(),
            at,
            reason,
        };
        match (root.ns(), root.name()) {
            (Some(STANAG_4774_NS), n)
                if n.eq_ignore_ascii_case("originatorConfidentialityLabel")
                    || n.eq_ignore_ascii_case("alternativeConfidentialityLabel") =>
            {
                let kind = if n.eq_ignore_ascii_case("alternativeConfidentialityLabel") {
                    LabelKind::Alternative
                } else {
                    LabelKind::Originator
                };
                read_stanag(set, source_name, root, kind)
            }
            (Some(SPIFFY_NS), "label") => read_spiffy(set, source_name, root),
            (Some(SPIFFY_NS), "clearance") => Err(invalid(
                root.at(),
                "this is a clearance, not a label".to_string(),
            )),
            (ns, n) => Err(invalid(
                root.at(),
                format!(
                    "<{n}> in namespace {:?} is not a STANAG 4774 or spiffy label",
                    ns.unwrap_or("")
                ),
            )),
        }
    }

    /// Write the label in `format`.
    pub fn write(&self, format: LabelFormat) -> String {
        match format {
            LabelFormat::Stanag4774 => self.to_stanag_xml(),
            LabelFormat::Spiffy => self.to_spiffy_xml(),
            LabelFormat::Json => {
                serde_json::to_string_pretty(&self.json_form()).expect("label JSON serializes")
                    + "\n"
            }
        }
    }
}

impl Policy {
    /// This policy's identity as labels carry it.
    pub fn policy_id(&self) -> PolicyId {
        PolicyId {
            name: self.name.clone(),
            id: self.id.clone(),
        }
    }

    /// The label form of the category with this ordinal.
    pub fn category(&self, ordinal: usize) -> Category {
        let c = &self.categories[ordinal];
        let ts = &self.tag_sets[c.tag_set];
        Category {
            tag_set: ts.name.clone(),
            tag_set_id: ts.id.clone(),
            tag: ts.tags[c.tag].name.clone(),
            tag_type: c.tag_type,
            name: c.name.clone(),
            lacv: c.lacv.clone(),
        }
    }

    /// The ordinals of categories in this policy, in the order given.
    pub fn ordinals(&self, categories: &[Category]) -> Result<Vec<usize>> {
        categories
            .iter()
            .map(|c| {
                self.tag_set_by_id(&c.tag_set_id)
                    .and_then(|ts| self.category_by_lacv(ts, c.tag_type, &c.lacv))
                    .ok_or_else(|| Error::UnknownCategory {
                        policy: self.name.clone(),
                        value: format!("{} in tag set {}", c.name, c.tag_set),
                    })
            })
            .collect()
    }

    /// Sort ordinals into policy order, refusing duplicates, and build the categories.
    pub(crate) fn ordered_categories(
        &self,
        mut ords: Vec<usize>,
        what: &str,
    ) -> Result<Vec<Category>> {
        ords.sort_unstable();
        for w in ords.windows(2) {
            if w[0] == w[1] {
                let c = &self.categories[w[0]];
                return Err(Error::Duplicate(format!(
                    "{what}: category {} of tag set {} appears twice",
                    c.name, self.tag_sets[c.tag_set].name
                )));
            }
        }
        Ok(ords.into_iter().map(|o| self.category(o)).collect())
    }

    /// Check that a label or clearance is under this policy.
    pub(crate) fn check_policy(&self, p: &PolicyId) -> Result<()> {
        if p.id == self.id {
            Ok(())
        } else {
            Err(Error::PolicyMismatch(format!(
                "it is under policy {} ({}), not {} ({})",
                p.name, p.id, self.name, self.id
            )))
        }
    }
}
