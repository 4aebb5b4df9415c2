//! The marking data of a SPIF element: `markingQualifier` (prefix, suffix, separator)
//! and `markingData` (code bits and phrases), per `xml:lang`. Part of the policy model,
//! apart from the rest because only markings read it: the `marking` module renders and
//! parses markings with it, and re-exports it where it used to be defined.

/// Marking code bits (`markingData/code`).
pub mod codes {
    /// `pageTop`.
    pub const PAGE_TOP: u16 = 1;
    /// `pageBottom`.
    pub const PAGE_BOTTOM: u16 = 1 << 1;
    /// `documentEnd`.
    pub const DOCUMENT_END: u16 = 1 << 2;
    /// `noNameDisplay`: show nothing for this value.
    pub const NO_NAME_DISPLAY: u16 = 1 << 3;
    /// `noMarkingDisplay`.
    pub const NO_MARKING_DISPLAY: u16 = 1 << 4;
    /// `documentStart`.
    pub const DOCUMENT_START: u16 = 1 << 5;
    /// `suppressClassName`: the classification name is not shown.
    pub const SUPPRESS_CLASS_NAME: u16 = 1 << 6;
    /// `replacePolicy`: this phrase replaces the policy name.
    pub const REPLACE_POLICY: u16 = 1 << 7;
    /// The SPIF 2.0 locations (firstLineOfText, subject, waterMark, ...).
    pub const OTHER: u16 = 1 << 8;
}

/// Marking qualifiers and phrases for one language.
#[derive(Debug, Clone, Default)]
pub struct MarkingData {
    /// `xml:lang` ("" when none).
    pub lang: String,
    /// `qualifierCode="prefix"`.
    pub prefix: Option<String>,
    /// `qualifierCode="suffix"`.
    pub suffix: Option<String>,
    /// `qualifierCode="separator"`.
    pub separator: Option<String>,
    /// `markingData` entries: code bits and optional phrase, in document order.
    pub phrases: Vec<(u16, Option<String>)>,
}

impl MarkingData {
    fn entry(&self, loc: u16) -> Option<&(u16, Option<String>)> {
        self.phrases.iter().find(|(bits, _)| bits & loc != 0)
    }
    /// The phrase shown for a value named `name` at location `loc`.
    pub fn phrase<'a>(&'a self, loc: u16, name: &'a str) -> &'a str {
        match self.entry(loc) {
            Some((bits, _)) if bits & codes::NO_NAME_DISPLAY != 0 => "",
            Some((bits, Some(p))) if bits & codes::REPLACE_POLICY == 0 => p,
            _ => name,
        }
    }
    /// The phrase that replaces the policy name.
    pub fn policy_phrase<'a>(&'a self, loc: u16, name: &'a str) -> &'a str {
        match self
            .phrases
            .iter()
            .find(|(bits, _)| bits & (loc | codes::REPLACE_POLICY) != 0)
        {
            Some((_, Some(p))) => p,
            _ => name,
        }
    }
    /// True when this data suppresses the classification name at `loc`.
    pub fn suppress_class_name(&self, loc: u16) -> bool {
        self.entry(loc)
            .is_some_and(|(b, _)| b & codes::SUPPRESS_CLASS_NAME != 0)
    }
    /// True when this data replaces the policy name at `loc`.
    pub fn replace_policy(&self, loc: u16) -> bool {
        self.entry(loc)
            .is_some_and(|(b, _)| b & codes::REPLACE_POLICY != 0)
    }
    pub(crate) fn sep_or(&self, default: &'static str) -> &str {
        match self.separator.as_deref() {
            Some(s) if !s.is_empty() => s,
            _ => default,
        }
    }
}

/// Marking data for every language of one SPIF element.
#[derive(Debug, Clone, Default)]
pub struct Markings(pub Vec<MarkingData>);

impl Markings {
    /// The data for `lang`: exact (ASCII case ignored), then the primary language
    /// subtag, then the data without a language.
    pub fn get(&self, lang: &str) -> Option<&MarkingData> {
        let find = |l: &str| self.0.iter().find(|m| m.lang.eq_ignore_ascii_case(l));
        find(lang)
            .or_else(|| lang.find(['-', '_']).and_then(|p| find(&lang[..p])))
            .or_else(|| find(""))
    }
    /// The languages this element has data for.
    pub fn langs(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|m| m.lang.as_str())
    }
    /// Whether [`Markings::get`] finds data written for `lang` itself (exactly or by
    /// its primary subtag), not only the data without a language.
    pub(crate) fn speaks(&self, lang: &str) -> bool {
        let primary = lang.split(['-', '_']).next().unwrap_or(lang);
        self.0.iter().any(|m| {
            !m.lang.is_empty()
                && (m.lang.eq_ignore_ascii_case(lang) || m.lang.eq_ignore_ascii_case(primary))
        })
    }
}
