//! The STANAG 4774 XML form of a label (`originatorConfidentialityLabel` or
//! `alternativeConfidentialityLabel`): reading it and writing it. Apart because it is
//! one of the label's forms.

use super::read::{check_date, resolve_named};
use crate::error::{Error, Position, Result};
use crate::label::{Label, LabelKind, OriginatorId, STANAG_4774_NS};
use crate::set::PolicySet;
use crate::xml::{escape, Element};

impl Label {
    /// STANAG 4774 XML.
    pub fn to_stanag_xml(&self) -> String {
        let root = match self.kind {
            LabelKind::Originator => "originatorConfidentialityLabel",
            LabelKind::Alternative => "alternativeConfidentialityLabel",
        };
        let mut s = format!("<{root} xmlns=\"{STANAG_4774_NS}\"");
        if let Some(r) = &self.review_date_time {
            s += &format!(" ReviewDateTime=\"{}\"", escape(r));
        }
        s += ">\n  <ConfidentialityInformation>\n";
        s += &format!(
            "    <PolicyIdentifier URI=\"urn:oid:{}\">{}</PolicyIdentifier>\n",
            escape(&self.policy.id),
            escape(&self.policy.name)
        );
        s += &format!(
            "    <Classification>{}</Classification>\n",
            escape(&self.classification.name)
        );
        let mut i = 0;
        while i < self.categories.len() {
            let c = &self.categories[i];
            let ty = c.tag_type.stanag_name();
            s += &format!(
                "    <Category TagName=\"{}\" Type=\"{ty}\" URI=\"urn:oid:{}\">\n",
                escape(&c.tag_set),
                escape(&c.tag_set_id)
            );
            while i < self.categories.len()
                && self.categories[i].tag_set_id == c.tag_set_id
                && self.categories[i].tag_type.stanag_name() == ty
            {
                s += &format!(
                    "      <GenericValue>{}</GenericValue>\n",
                    escape(&self.categories[i].name)
                );
                i += 1;
            }
            s += "    </Category>\n";
        }
        s += "  </ConfidentialityInformation>\n";
        if let Some(o) = &self.originator_id {
            match &o.id_type {
                Some(t) => {
                    s += &format!(
                        "  <OriginatorID IDType=\"{}\">{}</OriginatorID>\n",
                        escape(t),
                        escape(&o.value)
                    )
                }
                None => s += &format!("  <OriginatorID>{}</OriginatorID>\n", escape(&o.value)),
            }
        }
        if let Some(c) = &self.creation_date_time {
            s += &format!("  <CreationDateTime>{}</CreationDateTime>\n", escape(c));
        }
        s += &format!("</{root}>\n");
        s
    }
}

pub(super) fn read_stanag(
    set: &PolicySet,
    source_name: &str,
    root: Element<'_, '_>,
    kind: LabelKind,
) -> Result<Label> {
    let invalid = |at: Position, reason: String| Error::Invalid {
        source_name: source_name.to_string(),
        at,
        reason,
    };
    let info = root
        .child("ConfidentialityInformation")
        .ok_or_else(|| invalid(root.at(), "missing ConfidentialityInformation".into()))?;
    let pid = info
        .child("PolicyIdentifier")
        .ok_or_else(|| invalid(info.at(), "missing PolicyIdentifier".into()))?;
    let uri_id = pid
        .attr("URI")
        .and_then(|u| u.trim().strip_prefix("urn:oid:"))
        .map(str::to_string);
    let name = pid.text().trim();
    let policy = match (&uri_id, name.is_empty()) {
        (Some(id), _) => {
            let p = set.find(id)?;
            if !name.is_empty() && !p.is_named(name) {
                return Err(invalid(
                    pid.at(),
                    format!(
                        "PolicyIdentifier names {name} but its URI is policy {}",
                        p.name
                    ),
                ));
            }
            p
        }
        (None, false) => set.find(name)?,
        (None, true) => return Err(invalid(pid.at(), "empty PolicyIdentifier".into())),
    };
    let cls_el = info
        .child("Classification")
        .ok_or_else(|| invalid(info.at(), "missing Classification".into()))?;
    let mut label = Label::new(policy, cls_el.text().trim())?;
    label.kind = kind;
    let mut ords = Vec::new();
    for cat in info.children_named("Category") {
        let tag_name = cat
            .attr("TagName")
            .ok_or_else(|| invalid(cat.at(), "Category without TagName".into()))?;
        let ty = cat
            .attr("Type")
            .ok_or_else(|| invalid(cat.at(), "Category without Type".into()))?;
        let mut any = false;
        for v in cat.children_named("GenericValue") {
            ords.push(resolve_named(
                policy,
                tag_name,
                Some(ty),
                cat.attr("URI"),
                v.text(),
            )?);
            any = true;
        }
        if !any {
            return Err(invalid(
                cat.at(),
                format!("Category {tag_name} has no GenericValue"),
            ));
        }
    }
    label.categories = policy.ordered_categories(ords, "label")?;
    if let Some(o) = root.child("OriginatorID") {
        label.originator_id = Some(OriginatorId {
            id_type: o.attr("IDType").map(str::to_string),
            value: o.text().trim().to_string(),
        });
    }
    label.creation_date_time = check_date(
        source_name,
        root.child("CreationDateTime")
            .map(|e| e.text().trim().to_string()),
    )?;
    let review = root.attr("ReviewDateTime").map(str::to_string).or_else(|| {
        root.child("ReviewDateTime")
            .map(|e| e.text().trim().to_string())
    });
    label.review_date_time = check_date(source_name, review)?;
    Ok(label)
}
