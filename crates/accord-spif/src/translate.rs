//! Translation of a label into an equivalent policy (XML-SPIF `equivalentPolicies`,
//! `equivalentClassification`, `equivalentSecCategoryTag`).
//!
//! The source policy's equivalences that apply when leaving it (`applied="encrypt"` or
//! `"both"`) are used first; where it has none, the target policy's equivalences that
//! apply when entering it (`"decrypt"` or `"both"`) are used. Categories required by the
//! equivalent classification and by the `equivalentPolicy` entry are added. A value with
//! no equivalent is an error, never silently dropped (only `action="discard"` drops).

use crate::error::{Error, Result};
use crate::label::{Label, LabelKind};
use crate::policy::{CategoryGroup, Policy};
use crate::set::PolicySet;

impl PolicySet {
    /// Translate `label` into the policy named `to` (name or OID).
    pub fn translate(&self, label: &Label, to: &str) -> Result<Label> {
        let source = self.find(&label.policy.id)?;
        let target = self.find(to)?;
        if source.id == target.id {
            return Ok(label.clone());
        }
        let fail = |reason: String| Error::Translation {
            from: source.name.clone(),
            to: target.name.clone(),
            reason,
        };
        let cls = source
            .classification_by_lacv(label.classification.lacv)
            .ok_or_else(|| Error::UnknownClassification {
                policy: source.name.clone(),
                value: label.classification.name.clone(),
            })?;
        let mut ords: Vec<usize> = Vec::new();
        let target_cls = if let Some(eq) = cls
            .equivalents
            .iter()
            .find(|e| e.policy_id == target.id && e.applied.encrypts())
        {
            add_required(target, &eq.required, &mut ords).map_err(&fail)?;
            target.classification_by_lacv(eq.lacv).ok_or_else(|| {
                fail(format!(
                    "classification {} maps to lacv {} which {} does not define",
                    cls.name, eq.lacv, target.name
                ))
            })?
        } else {
            let found = target.classifications.iter().find(|t| {
                t.equivalents
                    .iter()
                    .any(|e| e.policy_id == source.id && e.applied.decrypts() && e.lacv == cls.lacv)
            });
            found.ok_or_else(|| fail(format!("classification {} has no equivalent", cls.name)))?
        };
        for (cat, o) in label
            .categories
            .iter()
            .zip(source.ordinals(&label.categories)?)
        {
            let def = &source.categories[o];
            let eqs: Vec<_> = def
                .equivalents
                .iter()
                .filter(|e| e.policy_id == target.id)
                .collect();
            if !eqs.is_empty() {
                for e in eqs {
                    if e.discard {
                        continue;
                    }
                    let ts = target.tag_set_by_id(&e.tag_set_id).ok_or_else(|| {
                        fail(format!(
                            "{} maps to unknown tag set {}",
                            cat.name, e.tag_set_id
                        ))
                    })?;
                    let t = target
                        .category_by_lacv(ts, e.tag_type, &e.lacv)
                        .ok_or_else(|| {
                            fail(format!(
                                "{} maps to lacv {} which tag set {} does not define",
                                cat.name, e.lacv, target.tag_sets[ts].name
                            ))
                        })?;
                    ords.push(t);
                }
                continue;
            }
            let incoming: Vec<usize> = target
                .categories
                .iter()
                .enumerate()
                .filter(|(_, t)| {
                    t.equivalents.iter().any(|e| {
                        e.policy_id == source.id
                            && e.applied.decrypts()
                            && e.tag_set_id == cat.tag_set_id
                            && e.tag_type == cat.tag_type
                            && e.lacv == cat.lacv
                    })
                })
                .map(|(i, _)| i)
                .collect();
            if incoming.is_empty() {
                return Err(fail(format!(
                    "category {} of tag set {} has no equivalent",
                    cat.name, cat.tag_set
                )));
            }
            ords.extend(incoming);
        }
        if let Some(ep) = source
            .equivalent_policies
            .iter()
            .find(|p| p.id == target.id)
        {
            add_required(target, &ep.required, &mut ords).map_err(&fail)?;
        }
        ords.sort_unstable();
        ords.dedup();
        let mut out = Label::new(target, &target_cls.name)?;
        out.kind = LabelKind::Alternative;
        out.categories = ords.into_iter().map(|o| target.category(o)).collect();
        out.originator_id = label.originator_id.clone();
        out.creation_date_time = label.creation_date_time.clone();
        out.review_date_time = label.review_date_time.clone();
        Ok(out)
    }
}

fn add_required(
    target: &Policy,
    groups: &[CategoryGroup],
    ords: &mut Vec<usize>,
) -> std::result::Result<(), String> {
    for g in groups {
        for d in &g.members {
            ords.extend(target.resolve_data(d)?);
        }
    }
    Ok(())
}
