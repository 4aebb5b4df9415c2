//! Validation of a label against its policy, with reasons.
//!
//! A label is valid when its classification and categories are current (not obsolete),
//! no category is used with a classification it excludes or with a category it
//! excludes, every `requiredCategory` of the classification and of each category is
//! satisfied, and single-selection tags carry at most one value.

use crate::error::Result;
use crate::label::Label;
use crate::policy::{CategoryData, CategoryGroup, Operation, Policy};

/// The answer of [`Policy::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validity {
    /// True when the label is valid under its policy.
    pub valid: bool,
    /// Why not (empty when valid).
    pub reasons: Vec<String>,
}

impl Policy {
    /// Check `label` against this policy. An error means the label is not under this
    /// policy or names something the policy does not define; an invalid label is an
    /// `Ok` with reasons.
    pub fn validate(&self, label: &Label) -> Result<Validity> {
        self.check_policy(&label.policy)?;
        let ords = self.ordinals(&label.categories)?;
        let cls = self
            .classification_by_lacv(label.classification.lacv)
            .ok_or_else(|| crate::Error::UnknownClassification {
                policy: self.name.clone(),
                value: label.classification.name.clone(),
            })?;
        let mut reasons = Vec::new();
        if cls.obsolete {
            reasons.push(format!("classification {} is obsolete", cls.name));
        }
        for g in &cls.required {
            if !self.group_matches(g, &ords) {
                reasons.push(format!(
                    "classification {} requires {}",
                    cls.name,
                    self.describe_group(g)
                ));
            }
        }
        for (i, &o) in ords.iter().enumerate() {
            let c = &self.categories[o];
            let tag = self.tag_of(o);
            if c.obsolete {
                reasons.push(format!("category {} is obsolete", c.name));
            }
            if c.excluded_classes.contains(&cls.lacv) {
                reasons.push(format!(
                    "category {} may not be used with classification {}",
                    c.name, cls.name
                ));
            }
            for d in &c.excluded {
                let hit: Vec<usize> = self
                    .resolve_data(d)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|x| ords.contains(x))
                    .collect();
                for x in hit {
                    reasons.push(format!(
                        "category {} may not be used with category {}",
                        c.name, self.categories[x].name
                    ));
                }
            }
            for g in &c.required {
                if !self.group_matches(g, &ords) {
                    reasons.push(format!(
                        "category {} requires {}",
                        c.name,
                        self.describe_group(g)
                    ));
                }
            }
            if tag.single_selection {
                let first = ords[..i].iter().all(|&p| {
                    self.categories[p].tag_set != c.tag_set || self.categories[p].tag != c.tag
                });
                let n = ords
                    .iter()
                    .filter(|&&p| {
                        self.categories[p].tag_set == c.tag_set && self.categories[p].tag == c.tag
                    })
                    .count();
                if first && n > 1 {
                    reasons.push(format!(
                        "tag {} allows one category, the label has {n}",
                        tag.name
                    ));
                }
            }
        }
        Ok(Validity {
            valid: reasons.is_empty(),
            reasons,
        })
    }

    fn data_matches(&self, d: &CategoryData, ords: &[usize]) -> bool {
        self.resolve_data(d)
            .map(|v| v.iter().any(|o| ords.contains(o)))
            .unwrap_or(false)
    }

    pub(crate) fn group_matches(&self, g: &CategoryGroup, ords: &[usize]) -> bool {
        let n = g
            .members
            .iter()
            .filter(|d| self.data_matches(d, ords))
            .count();
        match g.operation {
            Operation::OnlyOne => n == 1,
            Operation::OneOrMore => n >= 1,
            Operation::All => n == g.members.len(),
        }
    }

    fn describe_group(&self, g: &CategoryGroup) -> String {
        let mut names: Vec<String> = Vec::new();
        for d in &g.members {
            match &d.lacv {
                Some(_) => {
                    for o in self.resolve_data(d).unwrap_or_default() {
                        names.push(self.categories[o].name.clone());
                    }
                }
                None => names.push(format!(
                    "any {} category of {}",
                    d.tag_type.spiffy_name(),
                    d.tag_set_ref
                )),
            }
        }
        if names.len() > 8 {
            let more = names.len() - 8;
            names.truncate(8);
            names.push(format!("{more} more"));
        }
        let op = match g.operation {
            Operation::OnlyOne => "exactly one of",
            Operation::OneOrMore => "one or more of",
            Operation::All => "all of",
        };
        format!("{op}: {}", names.join(", "))
    }
}
