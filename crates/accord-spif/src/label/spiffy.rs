//! The surevine "spiffy" XML form of a label, used by the spiffing conformance suite:
//! reading it and writing it, and the `<policy>` and `<tag>` elements clearances share
//! with it. Apart because it is one of the label's forms.

use super::read::check_date;
use crate::error::{Error, Position, Result};
use crate::label::{Category, Label, LabelKind, OriginatorId, SPIFFY_NS};
use crate::policy::{Policy, TagType};
use crate::set::PolicySet;
use crate::xml::{escape, Element};

impl Label {
    /// surevine spiffy XML. Accord adds `originatorID`, `creationDateTime`,
    /// `reviewDateTime` and a `kind` attribute in the spiffy namespace when the label has
    /// them, so that no form loses information; spiffing ignores them.
    pub fn to_spiffy_xml(&self) -> String {
        let mut s = format!("<label xmlns=\"{SPIFFY_NS}\"");
        if self.kind == LabelKind::Alternative {
            s += " kind=\"alternative\"";
        }
        s += ">\n";
        s += &format!(
            "  <policy id=\"{}\">{}</policy>\n",
            escape(&self.policy.id),
            escape(&self.policy.name)
        );
        s += &format!(
            "  <classification lacv=\"{}\">{}</classification>\n",
            self.classification.lacv,
            escape(&self.classification.name)
        );
        s += &spiffy_tags(&self.categories);
        if let Some(o) = &self.originator_id {
            match &o.id_type {
                Some(t) => {
                    s += &format!(
                        "  <originatorID type=\"{}\">{}</originatorID>\n",
                        escape(t),
                        escape(&o.value)
                    )
                }
                None => s += &format!("  <originatorID>{}</originatorID>\n", escape(&o.value)),
            }
        }
        if let Some(c) = &self.creation_date_time {
            s += &format!("  <creationDateTime>{}</creationDateTime>\n", escape(c));
        }
        if let Some(c) = &self.review_date_time {
            s += &format!("  <reviewDateTime>{}</reviewDateTime>\n", escape(c));
        }
        s += "</label>\n";
        s
    }
}

pub(crate) fn spiffy_tags(categories: &[Category]) -> String {
    let mut s = String::new();
    for c in categories {
        s += &format!(
            "  <tag type=\"{}\" id=\"{}\" lacv=\"{}\">{}</tag>\n",
            c.tag_type.spiffy_name(),
            escape(&c.tag_set_id),
            escape(&c.lacv),
            escape(&c.name)
        );
    }
    s
}

/// Resolve a spiffy `<tag type id lacv>` element.
pub(crate) fn resolve_spiffy_tag(
    policy: &Policy,
    source_name: &str,
    tag: Element<'_, '_>,
) -> Result<usize> {
    let invalid = |reason: String| Error::Invalid {
        source_name: source_name.to_string(),
        at: tag.at(),
        reason,
    };
    let ty = tag
        .attr("type")
        .ok_or_else(|| invalid("tag without type".into()))?;
    let tag_type =
        TagType::from_spiffy(ty).ok_or_else(|| invalid(format!("unsupported tag type {ty}")))?;
    let id = tag
        .attr("id")
        .ok_or_else(|| invalid("tag without id".into()))?;
    let lacv = tag
        .attr("lacv")
        .ok_or_else(|| invalid("tag without lacv".into()))?;
    let ts = policy
        .tag_set_by_id(id)
        .ok_or_else(|| Error::UnknownCategory {
            policy: policy.name.clone(),
            value: format!("tag set id {id}"),
        })?;
    policy
        .category_by_lacv(ts, tag_type, lacv)
        .ok_or_else(|| Error::UnknownCategory {
            policy: policy.name.clone(),
            value: format!("{ty} lacv {lacv} in tag set {}", policy.tag_sets[ts].name),
        })
}

pub(crate) fn spiffy_policy<'a>(
    set: &'a PolicySet,
    source_name: &str,
    root: Element<'_, '_>,
) -> Result<&'a Policy> {
    let pol = root.child("policy").ok_or_else(|| Error::Invalid {
        source_name: source_name.to_string(),
        at: root.at(),
        reason: format!("no policy in {}", root.name()),
    })?;
    match pol.attr("id") {
        Some(id) => set.find(id),
        None => set.find(pol.text().trim()),
    }
}

pub(super) fn read_spiffy(
    set: &PolicySet,
    source_name: &str,
    root: Element<'_, '_>,
) -> Result<Label> {
    let policy = spiffy_policy(set, source_name, root)?;
    let invalid = |at: Position, reason: String| Error::Invalid {
        source_name: source_name.to_string(),
        at,
        reason,
    };
    let cls_el = root
        .child("classification")
        .ok_or_else(|| invalid(root.at(), "no classification in label".into()))?;
    let lacv_s = cls_el
        .attr("lacv")
        .ok_or_else(|| invalid(cls_el.at(), "classification without lacv".into()))?;
    let lacv: u64 = lacv_s.trim().parse().map_err(|_| {
        invalid(
            cls_el.at(),
            format!("classification lacv {lacv_s:?} is not an integer"),
        )
    })?;
    let cls = policy
        .classification_by_lacv(lacv)
        .ok_or_else(|| Error::UnknownClassification {
            policy: policy.name.clone(),
            value: format!("lacv {lacv}"),
        })?;
    let mut label = Label::new(policy, &cls.name)?;
    if root.attr("kind") == Some("alternative") {
        label.kind = LabelKind::Alternative;
    }
    let mut ords = Vec::new();
    for tag in root.children_named("tag") {
        ords.push(resolve_spiffy_tag(policy, source_name, tag)?);
    }
    label.categories = policy.ordered_categories(ords, "label")?;
    if let Some(o) = root.child("originatorID") {
        label.originator_id = Some(OriginatorId {
            id_type: o.attr("type").map(str::to_string),
            value: o.text().trim().to_string(),
        });
    }
    label.creation_date_time = check_date(
        source_name,
        root.child("creationDateTime")
            .map(|e| e.text().trim().to_string()),
    )?;
    label.review_date_time = check_date(
        source_name,
        root.child("reviewDateTime")
            .map(|e| e.text().trim().to_string()),
    )?;
    Ok(label)
}
