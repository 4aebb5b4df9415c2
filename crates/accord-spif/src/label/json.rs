//! The JSON form of a label (documented in `docs/policies-and-labels.md`): reading it,
//! writing it, and the policy and category objects clearances share with it. Apart
//! because it is one of the label's forms, with its own serde types.

use super::read::{check_date, check_size, resolve_named};
use crate::error::{Error, Position, Result};
use crate::label::{Category, Label, LabelKind, OriginatorId};
use crate::policy::Policy;
use crate::set::PolicySet;
use serde::{Deserialize, Serialize};

impl Label {
    /// Read a label from JSON.
    pub fn read_json(set: &PolicySet, source_name: &str, bytes: &[u8]) -> Result<Label> {
        check_size(source_name, bytes)?;
        let j: LabelJson = serde_json::from_slice(bytes).map_err(|e| json_err(source_name, &e))?;
        let policy = j.policy.find(set)?;
        let invalid = |reason: String| Error::Invalid {
            source_name: source_name.to_string(),
            at: Position::default(),
            reason,
        };
        let mut label = Label::new(policy, &j.classification)?;
        label.kind = match j.kind.as_deref() {
            None | Some("originator") => LabelKind::Originator,
            Some("alternative") => LabelKind::Alternative,
            Some(o) => return Err(invalid(format!("unknown label kind {o:?}"))),
        };
        label.categories = resolve_named_categories(policy, &j.categories, "label")?;
        label.originator_id = j.originator_id;
        label.creation_date_time = check_date(source_name, j.creation_date_time)?;
        label.review_date_time = check_date(source_name, j.review_date_time)?;
        Ok(label)
    }

    /// The JSON form as a value (object keys sorted; [`Label::write`] keeps the
    /// documented key order).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.json_form()).expect("label JSON serializes")
    }

    pub(super) fn json_form(&self) -> LabelJson {
        LabelJson {
            kind: match self.kind {
                LabelKind::Originator => None,
                LabelKind::Alternative => Some("alternative".to_string()),
            },
            policy: PolicyJson {
                name: Some(self.policy.name.clone()),
                id: Some(self.policy.id.clone()),
            },
            classification: self.classification.name.clone(),
            categories: json_categories(&self.categories),
            originator_id: self.originator_id.clone(),
            creation_date_time: self.creation_date_time.clone(),
            review_date_time: self.review_date_time.clone(),
        }
    }
}

pub(crate) fn json_categories(categories: &[Category]) -> Vec<CategoryJson> {
    let mut out: Vec<CategoryJson> = Vec::new();
    for c in categories {
        let ty = c.tag_type.stanag_name().to_ascii_lowercase();
        match out.last_mut() {
            Some(last) if last.tag_set == c.tag_set && last.tag_type.as_deref() == Some(&ty) => {
                last.values.push(c.name.clone())
            }
            _ => out.push(CategoryJson {
                tag_set: c.tag_set.clone(),
                tag_type: Some(ty),
                values: vec![c.name.clone()],
            }),
        }
    }
    out
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct LabelJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    policy: PolicyJson,
    classification: String,
    #[serde(default)]
    categories: Vec<CategoryJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    originator_id: Option<OriginatorId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    creation_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    review_date_time: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
}

impl PolicyJson {
    pub(crate) fn find<'a>(&self, set: &'a PolicySet) -> Result<&'a Policy> {
        match (&self.id, &self.name) {
            (Some(id), name) => {
                let p = set.find(id)?;
                if let Some(n) = name {
                    if !p.name.eq_ignore_ascii_case(n) {
                        return Err(Error::PolicyMismatch(format!(
                            "policy id {id} is policy {} but the name says {n}",
                            p.name
                        )));
                    }
                }
                Ok(p)
            }
            (None, Some(name)) => set.find(name),
            (None, None) => Err(Error::UnknownPolicy(String::new())),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CategoryJson {
    pub(crate) tag_set: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub(crate) tag_type: Option<String>,
    pub(crate) values: Vec<String>,
}

pub(crate) fn json_err(source_name: &str, e: &serde_json::Error) -> Error {
    Error::Json {
        source_name: source_name.to_string(),
        at: Position {
            line: e.line(),
            column: e.column(),
        },
        // serde ends with " at line L column C": the position is said once, above.
        reason: {
            let msg = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            msg.strip_suffix(&suffix).unwrap_or(&msg).to_string()
        },
    }
}

/// Resolve the categories of a JSON label or clearance (tag set + values) into the
/// policy's categories, in the policy's order, refusing duplicates.
pub(crate) fn resolve_named_categories(
    policy: &Policy,
    categories: &[CategoryJson],
    what: &str,
) -> Result<Vec<Category>> {
    let mut ords = Vec::new();
    for c in categories {
        for v in &c.values {
            ords.push(resolve_named(
                policy,
                &c.tag_set,
                c.tag_type.as_deref(),
                None,
                v,
            )?);
        }
    }
    policy.ordered_categories(ords, what)
}
