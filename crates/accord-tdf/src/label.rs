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
                        for a in e.attributes().flatten() {
                            if a.key.local_name().as_ref() == b"TagName" {
                                tag_name = a
                                    .unescape_value()
                                    .map_err(|e| Error::Label(format!("Category TagName: {e}")))?
                                    .into_owned();
                            }
                        }
                    }
                    path.push(name);
                    if path.len() > 16 {
                        return Err(Error::Label("label XML nested too deeply".into()));
                    }
                }
                Event::End(_) => {
                    path.pop();
                }
                Event::Text(t) => {
                    let text = t
                        .decode()
                        .map_err(|e| Error::Label(format!("label XML text: {e}")))?;
                    let text = quick_xml::escape::unescape(&text)
                        .map_err(|e| Error::Label(format!("label XML text: {e}")))?
                        .trim()
                        .to_string();
                    match path.last().map(String::as_str) {
                        Some("PolicyIdentifier") => s.policy = text,
                        Some("Classification") => s.classification = text,
                        Some("GenericValue") => s.categories.push((tag_name.clone(), text)),
                        _ => {}
                    }
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
}
