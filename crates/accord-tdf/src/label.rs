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
        let id = a
            .attribute
            .strip_prefix(AGREEMENT_FQN_PREFIX)
            .and_then(pct_decode)
            .ok_or_else(|| bad("not an agreement attribute Accord writes"))?;
        if agreement_fqn(&id).ok().as_deref() != Some(a.attribute.as_str()) {
            return Err(bad("agreement id is not in canonical form"));
        }
        if found.is_some() {
            return Err(bad("a second agreement attribute"));
        }
        found = Some(id);
    }
    Ok(found)
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
