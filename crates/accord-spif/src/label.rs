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

use crate::error::{Error, Position, Result};
use crate::policy::{Policy, TagType};
use crate::set::PolicySet;
use crate::xml::{self, escape, Element, Limits};
use serde::{Deserialize, Serialize};

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
            Detected::Ber => crate::ber::read_ess_label(set, source_name, bytes),
        }
    }

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

    /// The JSON form as a value (object keys sorted; [`Label::write`] keeps the
    /// documented key order).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.json_form()).expect("label JSON serializes")
    }

    fn json_form(&self) -> LabelJson {
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
struct LabelJson {
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

pub(crate) enum Detected<'a> {
    Json,
    Xml(xml::Document<'a>),
    Ber,
}

pub(crate) fn check_size(source_name: &str, bytes: &[u8]) -> Result<()> {
    if bytes.len() > MAX_LABEL_BYTES {
        return Err(Error::TooLarge {
            source_name: source_name.to_string(),
            size: bytes.len(),
            limit: MAX_LABEL_BYTES,
        });
    }
    Ok(())
}

pub(crate) fn detect<'a>(source_name: &str, bytes: &'a [u8]) -> Result<Detected<'a>> {
    check_size(source_name, bytes)?;
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Err(Error::Empty {
            source_name: source_name.to_string(),
        }),
        Some(b'{') => Ok(Detected::Json),
        Some(b'<') => Ok(Detected::Xml(xml::parse(source_name, body, LABEL_LIMITS)?)),
        Some(0x30) | Some(0x31) => Ok(Detected::Ber),
        Some(_) => Err(Error::UnknownFormat {
            source_name: source_name.to_string(),
            reason: "not XML, JSON or a BER ESSSecurityLabel".to_string(),
        }),
    }
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

/// Check an xs:dateTime-shaped value: `YYYY-MM-DDThh:mm:ss[.fff][Z|±hh:mm]`.
pub(crate) fn check_date(source_name: &str, v: Option<String>) -> Result<Option<String>> {
    let Some(v) = v else { return Ok(None) };
    let t = v.trim();
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let mut ok = b.len() >= 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if ok {
        let mut rest = &t[19..];
        if let Some(frac) = rest.strip_prefix('.') {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            ok &= n > 0;
            rest = &frac[n..];
        }
        ok &= rest.is_empty()
            || rest == "Z"
            || (rest.len() == 6
                && (rest.starts_with('+') || rest.starts_with('-'))
                && rest.as_bytes()[3] == b':'
                && rest[1..3].bytes().all(|c| c.is_ascii_digit())
                && rest[4..6].bytes().all(|c| c.is_ascii_digit()));
    }
    if ok {
        Ok(Some(t.to_string()))
    } else {
        Err(Error::Invalid {
            source_name: source_name.to_string(),
            at: Position::default(),
            reason: format!("{v:?} is not a date and time like 2026-01-31T12:00:00Z"),
        })
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

/// Resolve a category named by tag set (name or `urn:oid:` URI), optional STANAG type
/// and value name.
pub(crate) fn resolve_named(
    policy: &Policy,
    tag_set: &str,
    stanag_type: Option<&str>,
    uri: Option<&str>,
    value: &str,
) -> Result<usize> {
    let ts = policy
        .tag_set_by_name(tag_set)
        .or_else(|| {
            uri.and_then(|u| u.strip_prefix("urn:oid:"))
                .and_then(|id| policy.tag_set_by_id(id))
        })
        .ok_or_else(|| Error::UnknownCategory {
            policy: policy.name.clone(),
            value: format!("tag set {tag_set:?}"),
        })?;
    let family = match stanag_type.map(|t| t.to_ascii_uppercase()) {
        None => None,
        Some(t) if t == "RESTRICTIVE" => Some(TagType::Restrictive),
        Some(t) if t == "PERMISSIVE" => Some(TagType::Permissive),
        Some(t) if t == "INFORMATIVE" => Some(TagType::Informative),
        Some(t) => {
            return Err(Error::UnknownCategory {
                policy: policy.name.clone(),
                value: format!(
                    "category type {t:?} (expected RESTRICTIVE, PERMISSIVE or INFORMATIVE)"
                ),
            })
        }
    };
    let found = match family {
        Some(f) => policy.category_by_name(ts, f, value),
        None => policy.category_by_name_any_type(ts, value),
    };
    found.ok_or_else(|| Error::UnknownCategory {
        policy: policy.name.clone(),
        value: format!(
            "{value:?} in tag set {}{}",
            policy.tag_sets[ts].name,
            stanag_type
                .map(|t| format!(" of type {t}"))
                .unwrap_or_default()
        ),
    })
}

fn read_stanag(
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

fn read_spiffy(set: &PolicySet, source_name: &str, root: Element<'_, '_>) -> Result<Label> {
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
