//! Reading an XML-SPIF file into the policy model: every element and attribute, with
//! its position in errors, then the check that every reference inside the policy names
//! something that exists. Apart because it is the parser of untrusted input; the model
//! and its lookups do not need it.

use crate::error::{Error, Position, Result};
use crate::policy::{
    codes, normalize_lacv, Applied, CategoryData, CategoryDef, CategoryGroup, Classification,
    EquivalentCategory, EquivalentClassification, EquivalentPolicy, MarkingData, Markings,
    Operation, Policy, Tag, TagSet, TagType, MAX_SPIF_BYTES, MAX_SPIF_DEPTH, SPIF_NS,
};
use crate::xml::{self, Element, Limits};
use std::collections::HashMap;

const SPIF_LIMITS: Limits = Limits {
    max_bytes: MAX_SPIF_BYTES,
    max_depth: MAX_SPIF_DEPTH,
    max_elements: 1_000_000,
};

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
}
