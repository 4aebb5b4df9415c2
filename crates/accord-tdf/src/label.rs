//! The label a sealed object carries: STANAG 4774 XML, its marking, and the OpenTDF
//! attribute FQNs that reflect it in the policy object.
//!
//! # Label → attribute FQN mapping
//! From the 4774 XML (`PolicyIdentifier`, `Classification`, `Category @TagName` /
//! `GenericValue`), with `P` the policy name:
//!
//! * `https://P.label.accord/attr/classification/value/CLASSIFICATION`
//! * `https://P.label.accord/attr/TAGNAME/value/VALUE` for each category value,
//!
//! every component lower-cased and percent-encoded (RFC 3986 unreserved characters
//! kept), in label order. Example: `SECRET//REL TO USA, PAK` under policy `USA` gives
//! `https://usa.label.accord/attr/classification/value/secret`,
//! `https://usa.label.accord/attr/releasable%20to/value/usa`, `.../value/pak`.
//! The mapping needs only the XML, so `open` can check label and policy agree without
//! the SPIF.
//!
//! # The agreement attribute
//! An object sealed under an agreement (`SealOptions::agreement`) carries one more FQN,
//! `https://agreement.accord/attr/agreement/value/ID`, with `ID` the agreement id
//! percent-encoded with its case kept (RFC 3986 unreserved characters kept, every other
//! byte of its UTF-8 as `%XX`): `CISMOA-2005` gives
//! `https://agreement.accord/attr/agreement/value/CISMOA-2005`. It lies outside the
//! label's `*.label.accord` namespace on purpose: the label/policy check compares only
//! FQNs of that namespace with the label (so any unexpected one there is refused), and
//! reads the agreement separately ([`agreement_of`]). Like every data attribute it is
//! bound to each key share by the policy binding and to the label signature by the
//! manifest digest, so a KAS can trust it once the label verifies.
//!
//! # Attribute FQNs → label
//! An object an OpenTDF SDK sealed carries no signed label, only its policy's attribute
//! FQNs. [`label_attributes`] reads them back, the exact inverse of
//! [`LabelSummary::attribute_fqns`] and [`agreement_fqn`]: the `*.label.accord`
//! attributes give the policy, the classification and the categories (percent-decoded,
//! lower-cased as the writer writes them, categories in attribute order), the
//! `agreement.accord` attribute the agreement. Whatever does not make exactly one label
//! is refused with the reason: no attributes, an attribute of no namespace this node
//! knows, attributes of two policies, no or two classifications, a malformed FQN. The
//! names are then matched against the policy's SPIF (ASCII and letter case ignored) by
//! `accord_spif::PolicySet::label_from_attributes`, which also validates the label.

use crate::manifest::PolicyObject;
use crate::Error;
use quick_xml::events::Event;
use quick_xml::Reader;

/// Largest label XML accepted.
pub const MAX_LABEL_XML: usize = 256 * 1024;

/// A label bound into a sealed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundLabel {
    /// STANAG 4774 XML.
    pub xml: String,
    /// The marking rendered by the label's policy.
    pub marking: String,
}

/// What the FQN mapping reads from the XML.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSummary {
    /// `PolicyIdentifier` text.
    pub policy: String,
    /// `Classification` text.
    pub classification: String,
    /// `(TagName, GenericValue)` pairs in order.
    pub categories: Vec<(String, String)>,
}

impl LabelSummary {
    /// Read the summary from STANAG 4774 XML.
    pub fn from_xml(xml: &str) -> Result<Self, Error> {
        if xml.len() > MAX_LABEL_XML {
            return Err(Error::Label("label XML is over 256 KiB".into()));
        }
        let mut r = Reader::from_str(xml);
        let mut s = LabelSummary::default();
        let mut path: Vec<String> = Vec::new();
        let mut tag_name = String::new();
        let mut text = String::new();
        let mut root_ok = false;
        loop {
            let ev = r.read_event().map_err(|e| {
                Error::Label(format!("label XML at byte {}: {e}", r.buffer_position()))
            })?;
            match ev {
                Event::Start(e) => {
                    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    if path.is_empty() {
                        root_ok = name.ends_with("ConfidentialityLabel");
                    }
                    if name == "Category" {
                        tag_name.clear();
                        // The duplicate check costs each attribute a look at those
                        // before it: a label's Category carries three or four.
                        if e.attributes().with_checks(false).count() > 16 {
                            return Err(Error::Label(
                                "a Category has more than 16 attributes".into(),
                            ));
                        }
                        for a in e.attributes().flatten() {
                            if a.key.local_name().as_ref() == b"TagName" {
                                tag_name = a
                                    .unescape_value()
                                    .map_err(|e| Error::Label(format!("Category TagName: {e}")))?
                                    .into_owned();
                            }
                        }
                    }
                    text.clear();
                    path.push(name);
                    if path.len() > 16 {
                        return Err(Error::Label("label XML nested too deeply".into()));
                    }
                }
                Event::Text(t) => {
                    let t = t
                        .decode()
                        .map_err(|e| Error::Label(format!("label XML text: {e}")))?;
                    text.push_str(&t);
                }
                Event::CData(c) => {
                    let c = c
                        .decode()
                        .map_err(|e| Error::Label(format!("label XML text: {e}")))?;
                    text.push_str(&c);
                }
                // quick-xml hands entity and character references over on their own,
                // between the pieces of text around them.
                Event::GeneralRef(r) => {
                    let bad =
                        |e: quick_xml::Error| Error::Label(format!("label XML reference: {e}"));
                    if r.is_char_ref() {
                        let ch = r.resolve_char_ref().map_err(bad)?.ok_or_else(|| {
                            Error::Label("label XML: bad character reference".into())
                        })?;
                        text.push(ch);
                    } else {
                        let name = r.decode().map_err(|e| bad(e.into()))?;
                        text.push_str(quick_xml::escape::resolve_xml_entity(&name).ok_or_else(
                            || Error::Label(format!("label XML: unknown entity &{name};")),
                        )?);
                    }
                }
                Event::End(_) => {
                    let value = text.trim().to_string();
                    text.clear();
                    // Only where STANAG 4774 puts them, and the first two once, so that
                    // this summary reads the label as the policy library does.
                    let at = |parent: &str, depth: usize| {
                        path.len() == depth && path[depth - 2] == parent
                    };
                    let once = |slot: &mut String, what: &str| {
                        if !slot.is_empty() {
                            return Err(Error::Label(format!("label has two {what} elements")));
                        }
                        *slot = value.clone();
                        Ok(())
                    };
                    match path.last().map(String::as_str) {
                        Some("PolicyIdentifier") if at("ConfidentialityInformation", 3) => {
                            once(&mut s.policy, "PolicyIdentifier")?
                        }
                        Some("Classification") if at("ConfidentialityInformation", 3) => {
                            once(&mut s.classification, "Classification")?
                        }
                        Some("GenericValue") if at("Category", 4) => {
                            s.categories.push((tag_name.clone(), value))
                        }
                        Some("PolicyIdentifier" | "Classification" | "GenericValue") => {
                            return Err(Error::Label(format!(
                                "label element {} is not where STANAG 4774 puts it",
                                path.join("/")
                            )))
                        }
                        _ => {}
                    }
                    path.pop();
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if !root_ok {
            return Err(Error::Label(
                "not a STANAG 4774 confidentiality label".into(),
            ));
        }
        if s.policy.is_empty() || s.classification.is_empty() {
            return Err(Error::Label(
                "label has no PolicyIdentifier or Classification".into(),
            ));
        }
        Ok(s)
    }

    /// The attribute FQNs (see the module docs).
    pub fn attribute_fqns(&self) -> Vec<String> {
        let ns = format!("https://{}.label.accord/attr/", enc(&self.policy));
        let mut v = vec![format!(
            "{ns}classification/value/{}",
            enc(&self.classification)
        )];
        for (tag, value) in &self.categories {
            v.push(format!("{ns}{}/value/{}", enc(tag), enc(value)));
        }
        v
    }
}

/// The FQN prefix of the agreement attribute (see the module docs).
pub const AGREEMENT_FQN_PREFIX: &str = "https://agreement.accord/attr/agreement/value/";
/// Longest agreement id accepted, in bytes.
pub const MAX_AGREEMENT_ID: usize = 256;

/// The attribute FQN that names agreement `id` (see the module docs).
pub fn agreement_fqn(id: &str) -> Result<String, Error> {
    if id.is_empty() || id.len() > MAX_AGREEMENT_ID {
        return Err(Error::Usage(format!(
            "an agreement id must be 1 to {MAX_AGREEMENT_ID} bytes long"
        )));
    }
    let mut out = String::from(AGREEMENT_FQN_PREFIX);
    for b in id.bytes() {
        if unreserved(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

/// The agreement a policy object names, if it names exactly one well-formed one.
///
/// For display (`inspect`); `open` and [`crate::verify_label`] refuse a policy whose
/// agreement attribute is malformed or repeated.
pub fn agreement_of(policy: &PolicyObject) -> Option<String> {
    agreement_in(policy).ok().flatten()
}

/// The agreement a policy object names: `Ok(None)` without one, an integrity error when
/// there are several or one is not in the canonical form [`agreement_fqn`] writes.
pub(crate) fn agreement_in(policy: &PolicyObject) -> Result<Option<String>, Error> {
    let mut found = None;
    for (i, a) in policy.body.data_attributes.iter().enumerate() {
        if !in_namespace(&a.attribute, "agreement.accord") {
            continue;
        }
        let bad = |m: &str| {
            Error::Integrity(format!("policy dataAttributes[{i}] `{}`: {m}", a.attribute))
        };
        let id = agreement_id(&a.attribute).map_err(bad)?;
        if found.is_some() {
            return Err(bad("a second agreement attribute"));
        }
        found = Some(id);
    }
    Ok(found)
}

/// The agreement id of an agreement attribute, when it is in the canonical form
/// [`agreement_fqn`] writes; else what is wrong with it.
fn agreement_id(fqn: &str) -> Result<String, &'static str> {
    let id = fqn
        .strip_prefix(AGREEMENT_FQN_PREFIX)
        .and_then(pct_decode)
        .ok_or("not an agreement attribute Accord writes")?;
    if agreement_fqn(&id).ok().as_deref() != Some(fqn) {
        return Err("agreement id is not in canonical form");
    }
    Ok(id)
}

/// Whether `fqn` lies in a label's `*.label.accord` namespace (case-insensitively, so
/// that a differently-cased FQN cannot slip past the label/policy check).
pub fn is_label_fqn(fqn: &str) -> bool {
    host_of(fqn).is_some_and(|h| h.to_ascii_lowercase().ends_with(".label.accord"))
}

fn in_namespace(fqn: &str, host: &str) -> bool {
    host_of(fqn).is_some_and(|h| h.eq_ignore_ascii_case(host))
}

fn host_of(fqn: &str) -> Option<&str> {
    let scheme = fqn.get(..8)?;
    if !scheme.eq_ignore_ascii_case("https://") {
        return None;
    }
    let rest = &fqn[8..];
    Some(rest.split('/').next().unwrap_or(rest))
}

/// Check that the policy's label-namespace FQNs are exactly the label's, in order, and
/// read the agreement attribute. Attributes of other namespaces (foreign OpenTDF
/// attributes) are not the label's business and are left alone.
pub(crate) fn check_policy_agrees(
    label: &LabelSummary,
    policy: &PolicyObject,
) -> Result<Option<String>, Error> {
    let in_policy: Vec<&str> = policy
        .body
        .data_attributes
        .iter()
        .map(|a| a.attribute.as_str())
        .filter(|a| is_label_fqn(a))
        .collect();
    let from_label = label.attribute_fqns();
    if in_policy != from_label.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(Error::Integrity(format!(
            "label/policy mismatch: the label gives attributes [{}] but the policy has [{}]",
            from_label.join(", "),
            in_policy.join(", ")
        )));
    }
    agreement_in(policy)
}

/// Most attributes [`label_attributes`] reads from one policy.
pub const MAX_ATTRIBUTES: usize = 256;
/// Longest attribute FQN [`label_attributes`] reads, in bytes.
pub const MAX_ATTRIBUTE_FQN: usize = 2048;

/// The label an object's policy attributes describe, as they name it (see the module
/// docs): every name and value percent-decoded and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeLabel {
    /// The policy named by the `<policy>.label.accord` namespace (`usa`).
    pub policy: String,
    /// The classification (`secret`).
    pub classification: String,
    /// `(tag set, value)` pairs in attribute order (`("releasable to", "pak")`).
    pub categories: Vec<(String, String)>,
    /// The agreement the object is sealed under, its id with its case kept.
    pub agreement: Option<String>,
}

/// The reason an object whose policy has no attributes is refused.
const NO_ATTRIBUTES: &str =
    "the object's policy carries no attributes: it has no label, and this node releases nothing without one";

/// The label that attribute FQNs (a policy's `dataAttributes`) describe: the inverse of
/// [`LabelSummary::attribute_fqns`] plus the agreement attribute (see the module docs).
/// `Err` is the reason the attributes make no label, in words: no attributes, an
/// attribute in no namespace this node knows, attributes of two policies, no or two
/// classifications, a malformed FQN, more than [`MAX_ATTRIBUTES`] attributes or one
/// longer than [`MAX_ATTRIBUTE_FQN`] bytes.
pub fn label_attributes(fqns: &[String]) -> Result<AttributeLabel, String> {
    if fqns.is_empty() {
        return Err(NO_ATTRIBUTES.to_string());
    }
    if fqns.len() > MAX_ATTRIBUTES {
        return Err(format!(
            "the object's policy carries {} attributes, more than the {MAX_ATTRIBUTES} this node reads",
            fqns.len()
        ));
    }
    let mut policies: Vec<String> = Vec::new();
    let mut classifications: Vec<String> = Vec::new();
    let mut categories: Vec<(String, String)> = Vec::new();
    let mut agreement: Option<String> = None;
    for fqn in fqns {
        if fqn.len() > MAX_ATTRIBUTE_FQN {
            return Err(format!(
                "attribute `{}` is {} bytes long, more than the {MAX_ATTRIBUTE_FQN} an attribute may be",
                shortened(fqn),
                fqn.len()
            ));
        }
        let malformed = |why: &str| {
            format!("attribute `{fqn}` is not an attribute value FQN (https://<namespace>/attr/<name>/value/<value>): {why}")
        };
        let (host, name, value) = split_fqn(fqn).map_err(malformed)?;
        if host.eq_ignore_ascii_case("agreement.accord") {
            let id = agreement_id(fqn).map_err(|why| format!("attribute `{fqn}`: {why}"))?;
            if agreement.is_some() {
                return Err(format!(
                    "attribute `{fqn}`: a second agreement attribute (one object is sealed under one agreement)"
                ));
            }
            agreement = Some(id);
            continue;
        }
        if !is_label_fqn(fqn) {
            return Err(format!(
                "attribute `{fqn}` maps to no label of this node's policies"
            ));
        }
        let policy = &host[..host.len() - LABEL_HOST_SUFFIX.len()];
        if policy.is_empty() {
            return Err(malformed("its namespace names no policy"));
        }
        let decode = |what: &str, part: &str| {
            pct_decode(part)
                .map(|d| d.to_lowercase())
                .ok_or_else(|| {
                    malformed(&format!(
                        "its {what} `{part}` is not percent-encoded UTF-8 (RFC 3986 unreserved characters, every other byte as %XX)"
                    ))
                })
        };
        let policy = decode("policy name", policy)?;
        let name = decode("attribute name", name)?;
        let value = decode("value", value)?;
        if !policies.contains(&policy) {
            policies.push(policy);
        }
        if name == "classification" {
            classifications.push(value);
        } else {
            categories.push((name, value));
        }
    }
    if policies.len() > 1 {
        return Err(format!(
            "the attributes name {} policies ({}): one object has one label",
            count(policies.len()),
            some(&policies)
        ));
    }
    match (policies.pop(), classifications.len()) {
        (Some(policy), 1) => Ok(AttributeLabel {
            policy,
            classification: classifications.remove(0),
            categories,
            agreement,
        }),
        (_, 0) => Err("no classification attribute".to_string()),
        (_, n) => Err(format!(
            "{} classifications ({})",
            count(n),
            some(&classifications)
        )),
    }
}

/// The host part of a label's namespace after the policy name.
const LABEL_HOST_SUFFIX: &str = ".label.accord";

/// The namespace (host), attribute name and value of an attribute value FQN
/// `https://<namespace>/attr/<name>/value/<value>`, still percent-encoded; else what is
/// wrong with it.
fn split_fqn(fqn: &str) -> Result<(&str, &str, &str), &'static str> {
    let rest = match fqn.get(..8) {
        Some(scheme) if scheme.eq_ignore_ascii_case("https://") => &fqn[8..],
        _ => return Err("it does not start with https://"),
    };
    let (host, path) = rest
        .split_once('/')
        .ok_or("it has no path after its namespace")?;
    if host.is_empty() {
        return Err("its namespace is empty");
    }
    let parts: Vec<&str> = path.splitn(5, '/').collect();
    match parts[..] {
        [attr, name, value_kw, value]
            if attr.eq_ignore_ascii_case("attr") && value_kw.eq_ignore_ascii_case("value") =>
        {
            if name.is_empty() {
                Err("its attribute name is empty")
            } else if value.is_empty() {
                Err("its value is empty")
            } else {
                Ok((host, name, value))
            }
        }
        _ => Err("its path is not /attr/<name>/value/<value>"),
    }
}

/// `two`, `three`, ... for a reason's text.
fn count(n: usize) -> String {
    match n {
        2 => "two".into(),
        3 => "three".into(),
        4 => "four".into(),
        n => n.to_string(),
    }
}

/// The first eight of `names`, for a reason's text.
fn some(names: &[String]) -> String {
    let more = if names.len() > 8 { ", ..." } else { "" };
    format!("{}{more}", names[..names.len().min(8)].join(", "))
}

/// The start of an over-long FQN, for a reason's text.
fn shortened(fqn: &str) -> String {
    let mut end = 80.min(fqn.len());
    while !fqn.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &fqn[..end])
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

fn pct_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else if unreserved(b[i]) {
            out.push(b[i]);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.to_lowercase().bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The summary reads a label as the policy library does: each element where STANAG
    /// 4774 puts it, the policy and classification once. A label with two
    /// classifications must not be summarised (and its attributes bound) as the last
    /// one while it is decided as the first.
    #[test]
    fn a_label_is_read_one_way_only() {
        let label = |inner: &str| {
            format!(
                r#"<originatorConfidentialityLabel xmlns="urn:nato:stanag:4774:confidentialitymetadatalabel:1:0"><ConfidentialityInformation><PolicyIdentifier>USA</PolicyIdentifier>{inner}</ConfidentialityInformation></originatorConfidentialityLabel>"#
            )
        };
        let err = |inner: &str| {
            LabelSummary::from_xml(&label(inner))
                .unwrap_err()
                .to_string()
        };
        assert!(err(
            "<Classification>SECRET</Classification><Classification>UNCLASSIFIED</Classification>"
        )
        .contains("two Classification elements"));
        assert!(err(
            "<Classification>SECRET</Classification><PolicyIdentifier>NATO</PolicyIdentifier>"
        )
        .contains("two PolicyIdentifier elements"));
        assert!(err("<Classification>SECRET</Classification><X><Classification>UNCLASSIFIED</Classification></X>")
            .contains("not where STANAG 4774 puts it"));
        assert!(
            err("<Classification>SECRET</Classification><GenericValue>PAK</GenericValue>")
                .contains("not where STANAG 4774 puts it")
        );
        let many: String = (0..17).map(|i| format!(r#" a{i}="x""#)).collect();
        assert!(err(&format!(
            "<Classification>SECRET</Classification><Category TagName=\"Releasable To\"{many}><GenericValue>PAK</GenericValue></Category>"
        ))
        .contains("more than 16 attributes"));
        // Escaped text is one value.
        let s = LabelSummary::from_xml(&label(
            r#"<Classification>SECRET</Classification><Category TagName="Releasable To"><GenericValue>A&amp;B</GenericValue></Category>"#,
        ))
        .unwrap();
        assert_eq!(
            s.categories,
            [("Releasable To".to_string(), "A&B".to_string())]
        );
    }

    #[test]
    fn fqns_from_4774() {
        let xml = r#"<originatorConfidentialityLabel xmlns="urn:nato:stanag:4774:confidentialitymetadatalabel:1:0">
  <ConfidentialityInformation>
    <PolicyIdentifier URI="urn:oid:1.2">USA</PolicyIdentifier>
    <Classification>SECRET</Classification>
    <Category TagName="Releasable To" Type="PERMISSIVE" URI="urn:oid:1.3">
      <GenericValue>USA</GenericValue>
      <GenericValue>PAK</GenericValue>
    </Category>
  </ConfidentialityInformation>
</originatorConfidentialityLabel>"#;
        let s = LabelSummary::from_xml(xml).unwrap();
        assert_eq!(
            s.attribute_fqns(),
            vec![
                "https://usa.label.accord/attr/classification/value/secret",
                "https://usa.label.accord/attr/releasable%20to/value/usa",
                "https://usa.label.accord/attr/releasable%20to/value/pak",
            ]
        );
        assert!(LabelSummary::from_xml("<a/>").is_err());
        assert!(LabelSummary::from_xml("<x").is_err());
    }

    fn policy(fqns: &[&str]) -> PolicyObject {
        PolicyObject {
            uuid: "u".into(),
            body: crate::manifest::PolicyBody {
                data_attributes: fqns
                    .iter()
                    .map(|a| crate::manifest::AttributeObject {
                        attribute: a.to_string(),
                        display_name: String::new(),
                        is_default: false,
                        pub_key: String::new(),
                        kas_url: String::new(),
                    })
                    .collect(),
                dissem: vec![],
            },
        }
    }

    #[test]
    fn agreement_fqn_keeps_case_and_round_trips() {
        let f = agreement_fqn("CISMOA-2005").unwrap();
        assert_eq!(
            f,
            "https://agreement.accord/attr/agreement/value/CISMOA-2005"
        );
        let g = agreement_fqn("US/PAK 2025 é").unwrap();
        assert_eq!(
            g,
            "https://agreement.accord/attr/agreement/value/US%2FPAK%202025%20%C3%A9"
        );
        assert_eq!(
            agreement_of(&policy(&[&g])).as_deref(),
            Some("US/PAK 2025 é")
        );
        assert_eq!(agreement_of(&policy(&["https://x.label.accord/a"])), None);
        assert!(agreement_fqn("").is_err());
        assert!(agreement_fqn(&"a".repeat(MAX_AGREEMENT_ID + 1)).is_err());
        // Repeated, non-canonical or malformed agreement attributes are refused.
        for bad in [
            vec![f.as_str(), f.as_str()],
            vec!["https://agreement.accord/attr/agreement/value/%41"],
            vec!["https://agreement.accord/attr/agreement/value/%zz"],
            vec!["https://agreement.accord/attr/agreement/value/a b"],
            vec!["HTTPS://AGREEMENT.ACCORD/attr/other/value/x"],
        ] {
            let p = policy(&bad);
            assert!(agreement_in(&p).is_err(), "{bad:?}");
            assert_eq!(agreement_of(&p), None);
        }
    }

    fn summary(policy: &str, classification: &str, categories: &[(&str, &str)]) -> LabelSummary {
        LabelSummary {
            policy: policy.into(),
            classification: classification.into(),
            categories: categories
                .iter()
                .map(|(t, v)| (t.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn lower(s: &LabelSummary, agreement: Option<&str>) -> AttributeLabel {
        AttributeLabel {
            policy: s.policy.to_lowercase(),
            classification: s.classification.to_lowercase(),
            categories: s
                .categories
                .iter()
                .map(|(t, v)| (t.to_lowercase(), v.to_lowercase()))
                .collect(),
            agreement: agreement.map(str::to_string),
        }
    }

    /// `label_attributes` is the exact inverse of `attribute_fqns` (and of
    /// `agreement_fqn`): names with spaces, reserved and non-ASCII characters come back
    /// decoded and lower-cased, categories in label order.
    #[test]
    fn attributes_read_back_the_label_they_were_written_from() {
        let labels = [
            summary("USA", "SECRET", &[]),
            summary(
                "USA",
                "SECRET",
                &[("Releasable To", "USA"), ("Releasable To", "PAK")],
            ),
            summary(
                "PAK",
                "TOP SECRET",
                &[
                    ("Special Handling", "ORCON"),
                    ("Releasable To", "PAK"),
                    ("Scope", "EXERCISES"),
                ],
            ),
            summary("PAK", "RESTRICTED", &[("Special Handling", "NOFORN")]),
            summary(
                "Geheim.Policy",
                "STRENG GEHEIM É",
                &[("Zweck/Art", "A&B 100%"), ("Tag~_-.", "x?y#z")],
            ),
        ];
        for s in &labels {
            let fqns = s.attribute_fqns();
            assert_eq!(label_attributes(&fqns).unwrap(), lower(s, None), "{fqns:?}");
            let mut with = fqns.clone();
            with.insert(1, agreement_fqn("US/PAK 2025 é").unwrap());
            assert_eq!(
                label_attributes(&with).unwrap(),
                lower(s, Some("US/PAK 2025 é"))
            );
        }
        // The writer's output for a tag name with a space, read back.
        let fqns = labels[1].attribute_fqns();
        assert_eq!(
            fqns[1],
            "https://usa.label.accord/attr/releasable%20to/value/usa"
        );
        // Case does not matter (the platform lower-cases FQNs), nor hex digit case.
        let shouted: Vec<String> = fqns
            .iter()
            .map(|f| f.to_uppercase().replacen("HTTPS://", "https://", 1))
            .collect();
        assert_eq!(label_attributes(&shouted).unwrap(), lower(&labels[1], None));
    }

    /// The labels the policy library writes (`Label::to_stanag_xml`), read as the node
    /// reads them, give the attributes `accord_spif::PolicySet::label_from_attributes`
    /// turns back into those labels (its tests start from the same triples).
    #[test]
    fn labels_as_the_policy_library_writes_them() {
        let xml = |policy: &str, oid: &str, cls: &str, cats: &str| {
            format!(
                "<originatorConfidentialityLabel xmlns=\"urn:nato:stanag:4774:confidentialitymetadatalabel:1:0\">\n  <ConfidentialityInformation>\n    <PolicyIdentifier URI=\"urn:oid:{oid}\">{policy}</PolicyIdentifier>\n    <Classification>{cls}</Classification>\n{cats}  </ConfidentialityInformation>\n</originatorConfidentialityLabel>\n"
            )
        };
        let cases = [
            (
                xml(
                    "USA",
                    "1.3.6.1.4.1.32473.1.2",
                    "SECRET",
                    "    <Category TagName=\"Releasable To\" Type=\"PERMISSIVE\" URI=\"urn:oid:1.3.6.1.4.1.32473.1.2.1\">\n      <GenericValue>USA</GenericValue>\n      <GenericValue>PAK</GenericValue>\n    </Category>\n    <Category TagName=\"Scope\" Type=\"RESTRICTIVE\" URI=\"urn:oid:1.3.6.1.4.1.32473.1.2.3\">\n      <GenericValue>EXERCISES</GenericValue>\n    </Category>\n",
                ),
                ("usa", "secret", vec![("releasable to", "usa"), ("releasable to", "pak"), ("scope", "exercises")]),
            ),
            (
                xml(
                    "PAK",
                    "1.3.6.1.4.1.32473.1.1",
                    "TOP SECRET",
                    "    <Category TagName=\"Special Handling\" Type=\"RESTRICTIVE\" URI=\"urn:oid:1.3.6.1.4.1.32473.1.1.2\">\n      <GenericValue>NOFORN</GenericValue>\n    </Category>\n",
                ),
                ("pak", "top secret", vec![("special handling", "noforn")]),
            ),
            (
                xml("PAK", "1.3.6.1.4.1.32473.1.1", "UNCLASSIFIED", ""),
                ("pak", "unclassified", vec![]),
            ),
        ];
        for (xml, (policy, classification, categories)) in cases {
            let fqns = LabelSummary::from_xml(&xml).unwrap().attribute_fqns();
            let got = label_attributes(&fqns).unwrap();
            assert_eq!(got.policy, policy);
            assert_eq!(got.classification, classification);
            let want: Vec<(String, String)> = categories
                .iter()
                .map(|(t, v)| (t.to_string(), v.to_string()))
                .collect();
            assert_eq!(got.categories, want);
            assert_eq!(got.agreement, None);
        }
    }

    /// Whatever does not make exactly one label is refused with the reason.
    #[test]
    fn attributes_that_make_no_label_are_refused_with_the_reason() {
        let err = |fqns: &[&str]| {
            let v: Vec<String> = fqns.iter().map(|s| s.to_string()).collect();
            label_attributes(&v).unwrap_err()
        };
        let secret = "https://usa.label.accord/attr/classification/value/secret";
        assert_eq!(err(&[]), NO_ATTRIBUTES);
        assert_eq!(
            err(&[secret, "https://x/attr/y/value/z"]),
            "attribute `https://x/attr/y/value/z` maps to no label of this node's policies"
        );
        assert_eq!(
            err(&[
                secret,
                "https://pak.label.accord/attr/releasable%20to/value/pak"
            ]),
            "the attributes name two policies (usa, pak): one object has one label"
        );
        assert_eq!(
            err(&["https://usa.label.accord/attr/releasable%20to/value/pak"]),
            "no classification attribute"
        );
        assert_eq!(
            err(&[&agreement_fqn("CISMOA-2005").unwrap()]),
            "no classification attribute"
        );
        assert_eq!(
            err(&[
                secret,
                "https://usa.label.accord/attr/classification/value/confidential"
            ]),
            "two classifications (secret, confidential)"
        );
        let a = agreement_fqn("A").unwrap();
        let b = agreement_fqn("B").unwrap();
        assert!(err(&[secret, &a, &b]).contains("a second agreement attribute"));
        assert!(
            err(&[secret, "https://agreement.accord/attr/agreement/value/%41"])
                .contains("agreement id is not in canonical form")
        );
        for (bad, why) in [
            (
                "http://usa.label.accord/attr/classification/value/secret",
                "does not start with https://",
            ),
            ("usa", "does not start with https://"),
            ("https://usa.label.accord", "no path after its namespace"),
            (
                "https:///attr/classification/value/secret",
                "namespace is empty",
            ),
            (
                "https://usa.label.accord/attr/classification/secret",
                "is not /attr/<name>/value/<value>",
            ),
            (
                "https://usa.label.accord/attr/classification/value/secret/x",
                "is not /attr/<name>/value/<value>",
            ),
            (
                "https://usa.label.accord/attrs/classification/value/secret",
                "is not /attr/<name>/value/<value>",
            ),
            (
                "https://usa.label.accord/attr//value/secret",
                "attribute name is empty",
            ),
            (
                "https://usa.label.accord/attr/classification/value/",
                "value is empty",
            ),
            (
                "https://.label.accord/attr/classification/value/secret",
                "names no policy",
            ),
            (
                "https://usa.label.accord/attr/classification/value/%zz",
                "its value `%zz` is not percent-encoded",
            ),
            (
                "https://usa.label.accord/attr/classification/value/%e9",
                "its value `%e9` is not percent-encoded",
            ),
            (
                "https://usa.label.accord/attr/releasable to/value/pak",
                "its attribute name `releasable to` is not percent-encoded",
            ),
            (
                "https://u%2.label.accord/attr/classification/value/secret",
                "its policy name `u%2` is not percent-encoded",
            ),
        ] {
            let e = err(&[bad]);
            assert!(e.starts_with(&format!("attribute `{bad}` ")), "{e}");
            assert!(e.contains(why), "{bad}: {e}");
        }
        // Bounded: the number of attributes and the length of each.
        let many = vec![secret.to_string(); MAX_ATTRIBUTES + 1];
        assert!(label_attributes(&many)
            .unwrap_err()
            .contains("more than the 256"));
        let long = format!("{secret}{}", "x".repeat(MAX_ATTRIBUTE_FQN));
        let e = label_attributes(&[long]).unwrap_err();
        assert!(e.contains("more than the 2048") && e.len() < 300, "{e}");
        let at_most = vec![secret.to_string(); MAX_ATTRIBUTES];
        assert!(label_attributes(&at_most)
            .unwrap_err()
            .contains("256 classifications"));
    }

    #[test]
    fn only_label_namespace_fqns_are_compared_with_the_label() {
        let s = LabelSummary {
            policy: "USA".into(),
            classification: "SECRET".into(),
            categories: vec![],
        };
        let label = "https://usa.label.accord/attr/classification/value/secret";
        let agreement = agreement_fqn("CISMOA-2005").unwrap();
        let ok = policy(&[
            label,
            &agreement,
            "https://example.com/attr/foreign/value/x",
        ]);
        assert_eq!(
            check_policy_agrees(&s, &ok).unwrap().as_deref(),
            Some("CISMOA-2005")
        );
        assert_eq!(check_policy_agrees(&s, &policy(&[label])).unwrap(), None);
        for bad in [
            vec![],
            vec![
                label,
                "https://usa.label.accord/attr/releasable%20to/value/pak",
            ],
            vec![
                label,
                "HTTPS://PAK.LABEL.ACCORD/attr/classification/value/secret",
            ],
            vec!["https://usa.label.accord/attr/classification/value/top%20secret"],
        ] {
            let e = check_policy_agrees(&s, &policy(&bad)).unwrap_err();
            assert!(e.to_string().contains("label/policy mismatch"), "{e}");
        }
    }
}
