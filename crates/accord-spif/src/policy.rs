//! The policy model: what an XML-SPIF file says, loaded into plain Rust types.
//!
//! A [`Policy`] holds classifications (ordered by `hierarchy`), category tag sets with
//! their tags and categories, marking data per `xml:lang`, and the equivalences used to
//! translate labels into other policies. Categories are numbered in document order (their
//! *ordinal*); labels keep their categories in that order, which is the order markings
//! are rendered in and the order SPIF tools such as surevine spiffing use.

use crate::error::{Error, Position, Result};
use crate::marking::{codes, MarkingData, Markings};
use crate::xml::{self, Element, Limits};
use std::collections::HashMap;

/// Largest SPIF file accepted (the largest real one we know is under 1 MiB).
pub const MAX_SPIF_BYTES: usize = 8 * 1024 * 1024;
/// Deepest element nesting accepted in a SPIF.
pub const MAX_SPIF_DEPTH: usize = 64;

const SPIF_LIMITS: Limits = Limits {
    max_bytes: MAX_SPIF_BYTES,
    max_depth: MAX_SPIF_DEPTH,
    max_elements: 1_000_000,
};

/// The XML-SPIF namespace.
pub const SPIF_NS: &str = "http://www.xmlspif.org/spif";

/// How a category tag combines in the access decision (X.841 / XML-SPIF `tagType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TagType {
    /// Restrictive bitmap: the clearance must hold every value.
    Restrictive,
    /// Enumerated, restrictive: the clearance must hold every value.
    EnumeratedRestrictive,
    /// Permissive bitmap: the clearance must hold at least one value of the tag.
    Permissive,
    /// Enumerated, permissive: the clearance must hold at least one value of the tag.
    EnumeratedPermissive,
    /// Informative (tagType7): carried and displayed, never decides access.
    Informative,
}

impl TagType {
    /// True for restrictive and enumerated restrictive tags.
    pub fn is_restrictive(self) -> bool {
        matches!(self, TagType::Restrictive | TagType::EnumeratedRestrictive)
    }
    /// True for permissive and enumerated permissive tags.
    pub fn is_permissive(self) -> bool {
        matches!(self, TagType::Permissive | TagType::EnumeratedPermissive)
    }
    /// The STANAG 4774 `Category/@Type` value: `RESTRICTIVE`, `PERMISSIVE` or `INFORMATIVE`.
    pub fn stanag_name(self) -> &'static str {
        if self.is_restrictive() {
            "RESTRICTIVE"
        } else if self.is_permissive() {
            "PERMISSIVE"
        } else {
            "INFORMATIVE"
        }
    }
    /// The spiffy `tag/@type` value.
    pub fn spiffy_name(self) -> &'static str {
        match self {
            TagType::Restrictive => "restrictive",
            TagType::EnumeratedRestrictive => "enumeratedRestrictive",
            TagType::Permissive => "permissive",
            TagType::EnumeratedPermissive => "enumeratedPermissive",
            TagType::Informative => "informative",
        }
    }
    /// Parse a spiffy `tag/@type` value.
    pub fn from_spiffy(s: &str) -> Option<TagType> {
        Some(match s {
            "restrictive" => TagType::Restrictive,
            "enumeratedRestrictive" => TagType::EnumeratedRestrictive,
            "permissive" => TagType::Permissive,
            "enumeratedPermissive" => TagType::EnumeratedPermissive,
            "informative" => TagType::Informative,
            _ => return None,
        })
    }
    /// The family used when a category is named without its exact type (STANAG 4774
    /// and JSON): enumerated types fold into their bitmap counterparts.
    pub fn family(self) -> TagType {
        match self {
            TagType::EnumeratedRestrictive => TagType::Restrictive,
            TagType::EnumeratedPermissive => TagType::Permissive,
            t => t,
        }
    }
}

/// A label and certificate value: an integer (kept in canonical decimal) or a string.
pub fn normalize_lacv(raw: &str) -> String {
    let t = raw.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        let s = t.trim_start_matches('0');
        if s.is_empty() {
            "0".to_string()
        } else {
            s.to_string()
        }
    } else {
        t.to_string()
    }
}

/// How many of a group's category references a label must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Exactly one.
    OnlyOne,
    /// At least one.
    OneOrMore,
    /// Every one.
    All,
}

/// A reference to categories of a tag set by name: one LACV, or all of a tag type.
#[derive(Debug, Clone)]
pub struct CategoryData {
    /// The tag set's name (`tagSetRef`).
    pub tag_set_ref: String,
    /// The tag type referred to.
    pub tag_type: TagType,
    /// One category's LACV, or `None` for every category of this tag type.
    pub lacv: Option<String>,
}

/// A `requiredCategory`: an operation over category references.
#[derive(Debug, Clone)]
pub struct CategoryGroup {
    /// How many must be present.
    pub operation: Operation,
    /// The references.
    pub members: Vec<CategoryData>,
}

/// `equivalentPolicy`: another policy this one can translate labels into.
#[derive(Debug, Clone)]
pub struct EquivalentPolicy {
    /// The name used by `policyRef` attributes in this SPIF.
    pub name: String,
    /// The other policy's OID.
    pub id: String,
    /// Categories to add to every label translated into that policy.
    pub required: Vec<CategoryGroup>,
}

/// When an equivalence applies (`applied`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// When translating from this policy to the other.
    Encrypt,
    /// When translating from the other policy to this one.
    Decrypt,
    /// Both ways.
    Both,
}

impl Applied {
    fn parse(s: &str) -> Option<Applied> {
        Some(match s {
            "encrypt" => Applied::Encrypt,
            "decrypt" => Applied::Decrypt,
            "both" => Applied::Both,
            _ => return None,
        })
    }
    /// True when the equivalence applies translating out of this policy.
    pub fn encrypts(self) -> bool {
        matches!(self, Applied::Encrypt | Applied::Both)
    }
    /// True when the equivalence applies translating into this policy.
    pub fn decrypts(self) -> bool {
        matches!(self, Applied::Decrypt | Applied::Both)
    }
}

/// `equivalentClassification`.
#[derive(Debug, Clone)]
pub struct EquivalentClassification {
    /// The other policy's OID.
    pub policy_id: String,
    /// The classification's LACV in the other policy.
    pub lacv: u64,
    /// Direction.
    pub applied: Applied,
    /// Categories (in the other policy) to add with this classification.
    pub required: Vec<CategoryGroup>,
}

/// `equivalentSecCategoryTag`.
#[derive(Debug, Clone)]
pub struct EquivalentCategory {
    /// The other policy's OID.
    pub policy_id: String,
    /// Tag set OID in the other policy.
    pub tag_set_id: String,
    /// Tag type in the other policy.
    pub tag_type: TagType,
    /// LACV in the other policy.
    pub lacv: String,
    /// Direction.
    pub applied: Applied,
    /// `action="discard"`: the category is dropped in the other policy.
    pub discard: bool,
}

/// A `securityClassification`.
#[derive(Debug, Clone)]
pub struct Classification {
    /// Name, e.g. `SECRET`.
    pub name: String,
    /// Label and certificate value.
    pub lacv: u64,
    /// Position in the hierarchy: higher is more sensitive.
    pub hierarchy: u64,
    /// Display colour (a name or `#RRGGBB`).
    pub color: Option<String>,
    /// No longer to be used on new labels.
    pub obsolete: bool,
    /// Marking data per language.
    pub markings: Markings,
    /// Categories a label with this classification must carry.
    pub required: Vec<CategoryGroup>,
    /// Equivalent classifications in other policies.
    pub equivalents: Vec<EquivalentClassification>,
}

/// A `securityCategoryTagSet`.
#[derive(Debug, Clone)]
pub struct TagSet {
    /// Name, e.g. `Releasable To`.
    pub name: String,
    /// OID.
    pub id: String,
    /// Its tags.
    pub tags: Vec<Tag>,
}

/// A `securityCategoryTag`.
#[derive(Debug, Clone)]
pub struct Tag {
    /// Name.
    pub name: String,
    /// Type.
    pub tag_type: TagType,
    /// `enumType`-less encoding of informative tags (`tag7Encoding`), if given.
    pub tag7_encoding: Option<String>,
    /// At most one category of this tag on a label.
    pub single_selection: bool,
    /// Marking qualifiers and data per language.
    pub markings: Markings,
    /// Ordinals of its categories.
    pub categories: Vec<usize>,
}

/// A `tagCategory`.
#[derive(Debug, Clone)]
pub struct CategoryDef {
    /// Name, e.g. `PAK`.
    pub name: String,
    /// Normalised LACV.
    pub lacv: String,
    /// Index of its tag set in [`Policy::tag_sets`].
    pub tag_set: usize,
    /// Index of its tag in the tag set.
    pub tag: usize,
    /// Its tag's type (copied for speed).
    pub tag_type: TagType,
    /// No longer to be used on new labels.
    pub obsolete: bool,
    /// LACVs of classifications it may not be used with.
    pub excluded_classes: Vec<u64>,
    /// Categories it requires.
    pub required: Vec<CategoryGroup>,
    /// Categories it excludes.
    pub excluded: Vec<CategoryData>,
    /// Equivalents in other policies.
    pub equivalents: Vec<EquivalentCategory>,
    /// Marking data per language.
    pub markings: Markings,
}

/// A security policy read from an XML-SPIF file.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `securityPolicyId/@name`, e.g. `NATO`.
    pub name: String,
    /// `securityPolicyId/@id`, the policy OID.
    pub id: String,
    /// Where it was loaded from (file name), for messages.
    pub source_name: String,
    /// Classifications, ordered by hierarchy (lowest first).
    pub classifications: Vec<Classification>,
    /// Category tag sets in document order.
    pub tag_sets: Vec<TagSet>,
    /// All categories, in document order (index = ordinal).
    pub categories: Vec<CategoryDef>,
    /// Policy-level marking qualifiers and data per language.
    pub markings: Markings,
    /// Policies labels can be translated into.
    pub equivalent_policies: Vec<EquivalentPolicy>,
    by_lacv: HashMap<(usize, TagType, String), usize>,
    by_name: HashMap<(usize, TagType, String), usize>,
}

struct Ctx<'a> {
    source: &'a str,
}

impl Ctx<'_> {
    fn err(&self, at: Position, reason: impl Into<String>) -> Error {
        Error::Invalid {
            source_name: self.source.to_string(),
            at,
            reason: reason.into(),
        }
    }
    fn req<'d>(&self, el: Element<'d, '_>, attr: &str) -> Result<&'d str> {
        el.attr(attr)
            .ok_or_else(|| self.err(el.at(), format!("<{}> has no {attr} attribute", el.name())))
    }
    fn bool_attr(&self, el: Element<'_, '_>, attr: &str) -> Result<bool> {
        match el.attr(attr).map(str::trim) {
            None => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some("false") | Some("0") => Ok(false),
            Some(v) => Err(self.err(el.at(), format!("{attr}={v:?} is not a boolean"))),
        }
    }
    fn u64_attr(&self, el: Element<'_, '_>, attr: &str) -> Result<u64> {
        let v = self.req(el, attr)?;
        v.trim().parse::<u64>().map_err(|_| {
            self.err(
                el.at(),
                format!("<{}> {attr}={v:?} is not a non-negative integer", el.name()),
            )
        })
    }
    fn tag_type(&self, el: Element<'_, '_>) -> Result<TagType> {
        let t = self.req(el, "tagType")?;
        Ok(match t {
            "restrictive" => TagType::Restrictive,
            "permissive" => TagType::Permissive,
            "enumerated" => match el.attr("enumType") {
                Some("permissive") => TagType::EnumeratedPermissive,
                Some("restrictive") => TagType::EnumeratedRestrictive,
                Some(o) => return Err(self.err(el.at(), format!("unknown enumType {o:?}"))),
                None => return Err(self.err(el.at(), "enumerated tag without enumType")),
            },
            "tagType7" | "informative" => TagType::Informative,
            o => return Err(self.err(el.at(), format!("unknown tagType {o:?}"))),
        })
    }
    fn category_data(&self, el: Element<'_, '_>) -> Result<CategoryData> {
        Ok(CategoryData {
            tag_set_ref: self.req(el, "tagSetRef")?.to_string(),
            tag_type: self.tag_type(el)?,
            lacv: el.attr("lacv").map(normalize_lacv),
        })
    }
    fn group(&self, el: Element<'_, '_>) -> Result<CategoryGroup> {
        let operation = match self.req(el, "operation")? {
            "onlyOne" => Operation::OnlyOne,
            "oneOrMore" => Operation::OneOrMore,
            "all" => Operation::All,
            o => return Err(self.err(el.at(), format!("unknown operation {o:?}"))),
        };
        let members = el
            .children_named("categoryGroup")
            .map(|c| self.category_data(c))
            .collect::<Result<Vec<_>>>()?;
        Ok(CategoryGroup { operation, members })
    }
    fn groups(&self, el: Element<'_, '_>) -> Result<Vec<CategoryGroup>> {
        el.children_named("requiredCategory")
            .map(|c| self.group(c))
            .collect()
    }
    fn markings(&self, el: Element<'_, '_>) -> Result<Markings> {
        let mut langs: Vec<String> = Vec::new();
        for q in el.children_named("markingQualifier") {
            for qq in q.children_named("qualifier") {
                let l = qq.lang().unwrap_or("").to_string();
                if !langs.contains(&l) {
                    langs.push(l);
                }
            }
        }
        for d in el.children_named("markingData") {
            let l = d.lang().unwrap_or("").to_string();
            if !langs.contains(&l) {
                langs.push(l);
            }
        }
        let mut out = Vec::new();
        for lang in langs {
            let mut m = MarkingData {
                lang: lang.clone(),
                ..MarkingData::default()
            };
            for pass_lang in [Some(lang.as_str()), None] {
                if pass_lang.is_none() && lang.is_empty() {
                    break;
                }
                let want = pass_lang.unwrap_or("");
                for q in el.children_named("markingQualifier") {
                    for qq in q.children_named("qualifier") {
                        if qq.lang().unwrap_or("") != want {
                            continue;
                        }
                        let text = self.req(qq, "markingQualifier")?.to_string();
                        let slot = match self.req(qq, "qualifierCode")? {
                            "prefix" => &mut m.prefix,
                            "suffix" => &mut m.suffix,
                            "separator" => &mut m.separator,
                            o => {
                                return Err(
                                    self.err(qq.at(), format!("unknown qualifierCode {o:?}"))
                                )
                            }
                        };
                        if slot.is_none() {
                            *slot = Some(text);
                        }
                    }
                }
            }
            for d in el.children_named("markingData") {
                if d.lang().unwrap_or("") != lang {
                    continue;
                }
                let mut bits = 0u16;
                let mut located = false;
                for c in d.children_named("code") {
                    let (b, loc) = match c.text().trim() {
                        "pageTop" => (codes::PAGE_TOP, true),
                        "pageBottom" => (codes::PAGE_BOTTOM, true),
                        "pageTopBottom" => (codes::PAGE_TOP | codes::PAGE_BOTTOM, true),
                        "documentStart" => (codes::DOCUMENT_START, true),
                        "documentEnd" => (codes::DOCUMENT_END, true),
                        "noNameDisplay" => (codes::NO_NAME_DISPLAY, false),
                        "noMarkingDisplay" => (codes::NO_MARKING_DISPLAY, true),
                        "suppressClassName" => (codes::SUPPRESS_CLASS_NAME, false),
                        "replacePolicy" => (codes::REPLACE_POLICY, false),
                        "firstLineOfText" | "lastLineOfText" | "subject" | "xHeader"
                        | "portionMarking" | "inputTitle" | "waterMark" => (codes::OTHER, true),
                        o => return Err(self.err(c.at(), format!("unknown marking code {o:?}"))),
                    };
                    bits |= b;
                    located |= loc;
                }
                if !located {
                    bits |= codes::PAGE_BOTTOM;
                }
                m.phrases.push((bits, d.attr("phrase").map(str::to_string)));
            }
            out.push(m);
        }
        Ok(Markings(out))
    }
}

impl Policy {
    /// Load a policy from the bytes of an XML-SPIF file. `source_name` (usually the file
    /// name) is used in error messages.
    pub fn from_xml(source_name: &str, bytes: &[u8]) -> Result<Policy> {
        let doc = xml::parse(source_name, bytes, SPIF_LIMITS)?;
        let root = doc.root();
        let cx = Ctx {
            source: source_name,
        };
        if root.name() != "SPIF" || !(root.ns().is_none() || root.ns() == Some(SPIF_NS)) {
            return Err(cx.err(
                root.at(),
                format!("not a SPIF: the root element is <{}>", root.name()),
            ));
        }
        let pid = root
            .child("securityPolicyId")
            .ok_or_else(|| cx.err(root.at(), "no securityPolicyId"))?;
        let name = cx.req(pid, "name")?.to_string();
        let id = cx.req(pid, "id")?.trim().to_string();

        let mut equivalent_policies = Vec::new();
        if let Some(eps) = root.child("equivalentPolicies") {
            for ep in eps.children_named("equivalentPolicy") {
                let e = EquivalentPolicy {
                    name: cx.req(ep, "name")?.to_string(),
                    id: cx.req(ep, "id")?.trim().to_string(),
                    required: cx.groups(ep)?,
                };
                if equivalent_policies
                    .iter()
                    .any(|x: &EquivalentPolicy| x.name == e.name)
                {
                    return Err(cx.err(ep.at(), format!("duplicate equivalent policy {}", e.name)));
                }
                equivalent_policies.push(e);
            }
        }
        let policy_ref = |el: Element<'_, '_>| -> Result<String> {
            let r = cx.req(el, "policyRef")?;
            equivalent_policies
                .iter()
                .find(|p| p.name == r)
                .map(|p| p.id.clone())
                .ok_or_else(|| {
                    cx.err(
                        el.at(),
                        format!("policyRef {r:?} names no equivalentPolicy of this SPIF"),
                    )
                })
        };

        let classes_el = root
            .child("securityClassifications")
            .ok_or_else(|| cx.err(root.at(), "no securityClassifications"))?;
        let mut classifications: Vec<Classification> = Vec::new();
        for c in classes_el.children_named("securityClassification") {
            let mut equivalents = Vec::new();
            for e in c.children_named("equivalentClassification") {
                let applied_s = cx.req(e, "applied")?;
                equivalents.push(EquivalentClassification {
                    policy_id: policy_ref(e)?,
                    lacv: cx.u64_attr(e, "lacv")?,
                    applied: Applied::parse(applied_s)
                        .ok_or_else(|| cx.err(e.at(), format!("unknown applied {applied_s:?}")))?,
                    required: cx.groups(e)?,
                });
            }
            let cls = Classification {
                name: cx.req(c, "name")?.to_string(),
                lacv: cx.u64_attr(c, "lacv")?,
                hierarchy: cx.u64_attr(c, "hierarchy")?,
                color: c.attr("color").map(str::to_string),
                obsolete: cx.bool_attr(c, "obsolete")?,
                markings: cx.markings(c)?,
                required: cx.groups(c)?,
                equivalents,
            };
            if classifications.iter().any(|x| x.lacv == cls.lacv) {
                return Err(cx.err(
                    c.at(),
                    format!("duplicate classification lacv {} ({})", cls.lacv, cls.name),
                ));
            }
            if classifications.iter().any(|x| x.name == cls.name) {
                return Err(cx.err(
                    c.at(),
                    format!("duplicate classification name {}", cls.name),
                ));
            }
            classifications.push(cls);
        }
        if classifications.is_empty() {
            return Err(cx.err(classes_el.at(), "no securityClassification"));
        }
        let class_by_name: HashMap<String, u64> = classifications
            .iter()
            .map(|c| (c.name.clone(), c.lacv))
            .collect();

        let mut tag_sets = Vec::new();
        let mut categories = Vec::new();
        let mut by_lacv = HashMap::new();
        let mut by_name = HashMap::new();
        if let Some(tss) = root.child("securityCategoryTagSets") {
            for ts_el in tss.children_named("securityCategoryTagSet") {
                let ts_index = tag_sets.len();
                let ts_name = cx.req(ts_el, "name")?.to_string();
                let ts_id = cx.req(ts_el, "id")?.trim().to_string();
                if tag_sets
                    .iter()
                    .any(|t: &TagSet| t.name == ts_name || t.id == ts_id)
                {
                    return Err(
                        cx.err(ts_el.at(), format!("duplicate tag set {ts_name} ({ts_id})"))
                    );
                }
                let mut tags = Vec::new();
                for tag_el in ts_el.children_named("securityCategoryTag") {
                    let tag_index = tags.len();
                    let tag_type = cx.tag_type(tag_el)?;
                    let mut tag = Tag {
                        // `name` is optional in the schema: default to the tag set's.
                        name: tag_el.attr("name").unwrap_or(&ts_name).to_string(),
                        tag_type,
                        tag7_encoding: tag_el.attr("tag7Encoding").map(str::to_string),
                        single_selection: cx.bool_attr(tag_el, "singleSelection")?,
                        markings: cx.markings(tag_el)?,
                        categories: Vec::new(),
                    };
                    for cat_el in tag_el.children_named("tagCategory") {
                        let cat_name = cx.req(cat_el, "name")?.to_string();
                        let lacv = normalize_lacv(cx.req(cat_el, "lacv")?);
                        let mut excluded_classes = Vec::new();
                        for ex in cat_el.children_named("excludedClass") {
                            let cname = ex.text().trim();
                            let l = *class_by_name.get(cname).ok_or_else(|| {
                                cx.err(
                                    ex.at(),
                                    format!("excludedClass {cname:?} is not a classification of this policy"),
                                )
                            })?;
                            if excluded_classes.contains(&l) {
                                return Err(cx.err(
                                    ex.at(),
                                    format!("duplicate excluded classification {cname} in category {cat_name}"),
                                ));
                            }
                            excluded_classes.push(l);
                        }
                        let mut equivalents = Vec::new();
                        for e in cat_el.children_named("equivalentSecCategoryTag") {
                            let discard = match e.attr("action") {
                                None => false,
                                Some("discard") => true,
                                Some(o) => {
                                    return Err(cx.err(e.at(), format!("unknown action {o:?}")))
                                }
                            };
                            let applied_s = e.attr("applied").unwrap_or("both");
                            equivalents.push(EquivalentCategory {
                                policy_id: policy_ref(e)?,
                                tag_set_id: cx.req(e, "tagSetId")?.trim().to_string(),
                                tag_type: cx.tag_type(e)?,
                                lacv: normalize_lacv(e.attr("lacv").unwrap_or("")),
                                applied: Applied::parse(applied_s).ok_or_else(|| {
                                    cx.err(e.at(), format!("unknown applied {applied_s:?}"))
                                })?,
                                discard,
                            });
                        }
                        let ordinal = categories.len();
                        let key = (ts_index, tag_type, lacv.clone());
                        if let Some(other) = by_lacv.insert(key, ordinal) {
                            let other: &CategoryDef = &categories[other];
                            return Err(cx.err(
                                cat_el.at(),
                                format!(
                                    "duplicate lacv {lacv} in tag set {ts_name}: categories {} and {cat_name}",
                                    other.name
                                ),
                            ));
                        }
                        let name_key = (ts_index, tag_type.family(), cat_name.clone());
                        if by_name.insert(name_key, ordinal).is_some() {
                            return Err(cx.err(
                                cat_el.at(),
                                format!("duplicate category name {cat_name} in tag set {ts_name}"),
                            ));
                        }
                        categories.push(CategoryDef {
                            name: cat_name,
                            lacv,
                            tag_set: ts_index,
                            tag: tag_index,
                            tag_type,
                            obsolete: cx.bool_attr(cat_el, "obsolete")?,
                            excluded_classes,
                            required: cx.groups(cat_el)?,
                            excluded: cat_el
                                .children_named("excludedCategory")
                                .map(|x| cx.category_data(x))
                                .collect::<Result<Vec<_>>>()?,
                            equivalents,
                            markings: cx.markings(cat_el)?,
                        });
                        tag.categories.push(ordinal);
                    }
                    tags.push(tag);
                }
                tag_sets.push(TagSet {
                    name: ts_name,
                    id: ts_id,
                    tags,
                });
            }
        }
        classifications.sort_by_key(|c| c.hierarchy);
        let policy = Policy {
            name,
            id,
            source_name: source_name.to_string(),
            classifications,
            tag_sets,
            categories,
            markings: cx.markings(root)?,
            equivalent_policies,
            by_lacv,
            by_name,
        };
        policy.check_references(&cx, root)?;
        Ok(policy)
    }

    /// Every `tagSetRef` and LACV inside this policy must name something that exists.
    fn check_references(&self, cx: &Ctx<'_>, root: Element<'_, '_>) -> Result<()> {
        let check = |d: &CategoryData, kind: &str, name: &str| -> Result<()> {
            self.tag_set_of_data(d)
                .and_then(|ts| match &d.lacv {
                    Some(l) => self.category_of_data(ts, d, l).map(drop),
                    None => Ok(()),
                })
                .map_err(|reason| cx.err(root.at(), format!("{kind} {name}: {reason}")))
        };
        for c in &self.classifications {
            for g in &c.required {
                for d in &g.members {
                    check(d, "classification", &c.name)?;
                }
            }
        }
        for c in &self.categories {
            for g in &c.required {
                for d in &g.members {
                    check(d, "category", &c.name)?;
                }
            }
            for d in &c.excluded {
                check(d, "category", &c.name)?;
            }
        }
        Ok(())
    }

    fn tag_set_of_data(&self, d: &CategoryData) -> std::result::Result<usize, String> {
        self.tag_sets
            .iter()
            .position(|t| t.name == d.tag_set_ref)
            .ok_or_else(|| format!("no tag set named {:?}", d.tag_set_ref))
    }

    fn category_of_data(
        &self,
        ts: usize,
        d: &CategoryData,
        lacv: &str,
    ) -> std::result::Result<usize, String> {
        self.by_lacv
            .get(&(ts, d.tag_type, lacv.to_string()))
            .copied()
            .ok_or_else(|| {
                format!(
                    "tag set {:?} has no {} category with lacv {lacv}",
                    d.tag_set_ref,
                    d.tag_type.spiffy_name()
                )
            })
    }

    /// The ordinals of the categories a [`CategoryData`] refers to in this policy, in
    /// ordinal order.
    pub fn resolve_data(&self, d: &CategoryData) -> std::result::Result<Vec<usize>, String> {
        let ts = self.tag_set_of_data(d)?;
        match &d.lacv {
            Some(l) => self.category_of_data(ts, d, l).map(|o| vec![o]),
            // A tag's categories have consecutive ordinals and tags are numbered in
            // document order, so walking the tags gives the ordinals in order.
            None => Ok(self.tag_sets[ts]
                .tags
                .iter()
                .filter(|t| t.tag_type == d.tag_type)
                .flat_map(|t| t.categories.iter().copied())
                .collect()),
        }
    }

    /// The classification with this LACV.
    pub fn classification_by_lacv(&self, lacv: u64) -> Option<&Classification> {
        self.classifications.iter().find(|c| c.lacv == lacv)
    }

    /// The classification with this name (exact first, then ignoring ASCII case).
    pub fn classification_by_name(&self, name: &str) -> Option<&Classification> {
        let name = name.trim();
        self.classifications
            .iter()
            .find(|c| c.name == name)
            .or_else(|| {
                self.classifications
                    .iter()
                    .find(|c| c.name.eq_ignore_ascii_case(name))
            })
    }

    /// The index of the tag set with this OID.
    pub fn tag_set_by_id(&self, id: &str) -> Option<usize> {
        self.tag_sets.iter().position(|t| t.id == id.trim())
    }

    /// The index of the tag set with this name (exact first, then ignoring ASCII case).
    pub fn tag_set_by_name(&self, name: &str) -> Option<usize> {
        let name = name.trim();
        self.tag_sets
            .iter()
            .position(|t| t.name == name)
            .or_else(|| {
                self.tag_sets
                    .iter()
                    .position(|t| t.name.eq_ignore_ascii_case(name))
            })
    }

    /// The ordinal of a category by tag set index, exact tag type and LACV.
    pub fn category_by_lacv(&self, tag_set: usize, tag_type: TagType, lacv: &str) -> Option<usize> {
        self.by_lacv
            .get(&(tag_set, tag_type, normalize_lacv(lacv)))
            .copied()
    }

    /// The ordinal of a category by tag set index, tag type family (enumerated folded
    /// into bitmap) and name (exact first, then ignoring ASCII case).
    pub fn category_by_name(&self, tag_set: usize, family: TagType, name: &str) -> Option<usize> {
        let name = name.trim();
        if let Some(&o) = self
            .by_name
            .get(&(tag_set, family.family(), name.to_string()))
        {
            return Some(o);
        }
        self.categories.iter().position(|c| {
            c.tag_set == tag_set
                && c.tag_type.family() == family.family()
                && c.name.eq_ignore_ascii_case(name)
        })
    }

    /// The ordinal of a category in a tag set by name, whatever its type, when the name
    /// is unambiguous within the tag set.
    pub fn category_by_name_any_type(&self, tag_set: usize, name: &str) -> Option<usize> {
        let name = name.trim();
        let mut found = self
            .categories
            .iter()
            .enumerate()
            .filter(|(_, c)| c.tag_set == tag_set && c.name.eq_ignore_ascii_case(name));
        let first = found.next().map(|(i, _)| i);
        if found.next().is_some() {
            None
        } else {
            first
        }
    }

    /// The tag a category belongs to.
    pub fn tag_of(&self, ordinal: usize) -> &Tag {
        let c = &self.categories[ordinal];
        &self.tag_sets[c.tag_set].tags[c.tag]
    }

    /// True when this policy's name or OID is `name_or_id` (ignoring ASCII case, and an
    /// optional `urn:oid:` prefix).
    pub fn is_named(&self, name_or_id: &str) -> bool {
        let s = name_or_id.trim();
        let s = s.strip_prefix("urn:oid:").unwrap_or(s);
        self.name.eq_ignore_ascii_case(s) || self.id.eq_ignore_ascii_case(s)
    }

    /// The marking used for a classification when a label has no categories: handy for
    /// listings.
    pub fn classification_names(&self) -> Vec<&str> {
        self.classifications
            .iter()
            .map(|c| c.name.as_str())
            .collect()
    }
}
