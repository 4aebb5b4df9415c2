//! The policy model: what an XML-SPIF file says, loaded into plain Rust types.
//!
//! A [`Policy`] holds classifications (ordered by `hierarchy`), category tag sets with
//! their tags and categories, marking data per `xml:lang`, and the equivalences used to
//! translate labels into other policies. Categories are numbered in document order (their
//! *ordinal*); labels keep their categories in that order, which is the order markings
//! are rendered in and the order SPIF tools such as surevine spiffing use.
//!
//! The types and the lookups are here; reading an XML-SPIF file into them is in
//! `parse`, and the marking data of each element in `marking_data`.

use std::collections::HashMap;

mod marking_data;
mod parse;

pub use marking_data::{codes, MarkingData, Markings};

/// Largest SPIF file accepted (the largest real one we know is under 1 MiB).
pub const MAX_SPIF_BYTES: usize = 8 * 1024 * 1024;
/// Deepest element nesting accepted in a SPIF.
pub const MAX_SPIF_DEPTH: usize = 64;

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

impl Policy {
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
