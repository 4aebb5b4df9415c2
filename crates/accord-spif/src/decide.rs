//! The access control decision function (X.841 / XML-SPIF ACDF).
//!
//! A clearance permits a label when, under the same policy:
//! 1. it holds the label's classification;
//! 2. it holds every restrictive (and enumerated restrictive) category of the label;
//! 3. for each permissive tag the label uses, it holds at least one of the label's values
//!    of that tag.
//!
//! Informative categories never take part. A deny lists every failed check, in words.

use crate::clearance::Clearance;
use crate::label::Label;

/// The answer of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// True when access is permitted.
    pub permit: bool,
    /// Why access is denied (empty on permit), e.g.
    /// `clearance does not hold classification SECRET`.
    pub reasons: Vec<String>,
}

/// Decide whether `clearance` may see what `label` protects.
///
/// This is a set comparison on values the label and clearance already carry, so it
/// needs no policy lookup and does not allocate when access is permitted.
pub fn decide(clearance: &Clearance, label: &Label) -> Decision {
    let mut reasons = Vec::new();
    if clearance.policy.id != label.policy.id {
        reasons.push(format!(
            "clearance is under policy {} but the label is under policy {}",
            clearance.policy.name, label.policy.name
        ));
        return Decision {
            permit: false,
            reasons,
        };
    }
    if !clearance.holds_classification(label.classification.lacv) {
        reasons.push(format!(
            "clearance does not hold classification {}",
            label.classification.name
        ));
    }
    let cats = &label.categories;
    for (i, cat) in cats.iter().enumerate() {
        if cat.tag_type.is_restrictive() {
            if !clearance.holds(cat) {
                reasons.push(format!("clearance lacks restrictive category {}", cat.name));
            }
        } else if cat.tag_type.is_permissive() {
            let same_tag = |c: &&crate::label::Category| {
                c.tag_type.is_permissive() && c.tag_set_id == cat.tag_set_id && c.tag == cat.tag
            };
            if cats[..i].iter().any(|c| same_tag(&c)) {
                continue; // this tag was judged at its first value
            }
            if !cats[i..]
                .iter()
                .filter(same_tag)
                .any(|c| clearance.holds(c))
            {
                let names: Vec<&str> = cats[i..]
                    .iter()
                    .filter(same_tag)
                    .map(|c| c.name.as_str())
                    .collect();
                reasons.push(format!(
                    "clearance holds none of the permissive categories of {}: {}",
                    cat.tag_set,
                    names.join(", ")
                ));
            }
        }
    }
    Decision {
        permit: reasons.is_empty(),
        reasons,
    }
}
