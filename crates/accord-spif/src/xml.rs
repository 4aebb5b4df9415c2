//! A small, bounded XML tree built with quick-xml.
//!
//! Policies, labels and clearances are small documents that are read whole, so a tree is
//! the simplest correct way to read them. The reader refuses inputs larger than a limit
//! and nesting deeper than a limit, resolves namespace prefixes, and keeps each element's
//! line and column so that errors can point at the place in the file.

use crate::error::{Error, Position, Result};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// The XML namespace (`xml:lang` and friends).
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Limits applied while reading one document.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted input, in bytes.
    pub max_bytes: usize,
    /// Deepest accepted element nesting.
    pub max_depth: usize,
    /// Most elements accepted in one document.
    pub max_elements: usize,
}

/// One element: resolved namespace, local name, attributes, children and text.
#[derive(Debug, Clone, Default)]
pub struct Element {
    /// Namespace URI, if any.
    pub ns: Option<String>,
    /// Local name (without prefix).
    pub name: String,
    /// Attributes: (namespace, local name, value).
    pub attrs: Vec<(Option<String>, String, String)>,
    /// Child elements in document order.
    pub children: Vec<Element>,
    /// Concatenated character data directly inside this element.
    pub text: String,
    /// Where the start tag begins.
    pub at: Position,
}

impl Element {
    /// The value of the un-namespaced attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(ns, n, _)| ns.is_none() && n == name)
            .map(|(_, _, v)| v.as_str())
    }

    /// The value of `xml:lang`, if present.
    pub fn lang(&self) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(ns, n, _)| ns.as_deref() == Some(XML_NS) && n == "lang")
            .map(|(_, _, v)| v.as_str())
    }

    /// Child elements with local name `name` (any namespace).
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first child element with local name `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

struct Frame {
    element: Element,
    /// Namespace declarations made on this element: (prefix or "" for default, uri).
    decls: Vec<(String, String)>,
}

fn lookup_ns(stack: &[Frame], root_decls: &[(String, String)], prefix: &str) -> Option<String> {
    for frame in stack.iter().rev() {
        if let Some((_, uri)) = frame.decls.iter().rev().find(|(p, _)| p == prefix) {
            return if uri.is_empty() {
                None
            } else {
                Some(uri.clone())
            };
        }
    }
    if let Some((_, uri)) = root_decls.iter().find(|(p, _)| p == prefix) {
        return Some(uri.clone());
    }
    None
}

/// Parse `input` into its root element, within `limits`.
pub fn parse(source_name: &str, input: &[u8], limits: Limits) -> Result<Element> {
    if input.len() > limits.max_bytes {
        return Err(Error::TooLarge {
            source_name: source_name.to_string(),
            size: input.len(),
            limit: limits.max_bytes,
        });
    }
    if input.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::Empty {
            source_name: source_name.to_string(),
        });
    }
    let text = std::str::from_utf8(input).map_err(|e| Error::Xml {
        source_name: source_name.to_string(),
        at: Position::of_offset(input, e.valid_up_to()),
        reason: "the document is not valid UTF-8".to_string(),
    })?;
    let mut reader = Reader::from_str(text);
    {
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.check_end_names = true;
        config.trim_text(false);
    }
    let xml_err = |reader: &Reader<&[u8]>, reason: String| Error::Xml {
        source_name: source_name.to_string(),
        at: Position::of_offset(input, reader.error_position() as usize),
        reason,
    };
    let lines = LineIndex::new(input);
    let predefined = [("xml".to_string(), XML_NS.to_string())];
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    loop {
        let start_pos = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|e| xml_err(&reader, e.to_string()))?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(Error::Xml {
                        source_name: source_name.to_string(),
                        at: Position::of_offset(input, start_pos),
                        reason: "content after the root element".to_string(),
                    });
                }
                elements += 1;
                let at = lines.position(input, start_pos);
                if stack.len() >= limits.max_depth {
                    return Err(Error::TooDeep {
                        source_name: source_name.to_string(),
                        at,
                        limit: limits.max_depth,
                    });
                }
                if elements > limits.max_elements {
                    return Err(Error::Invalid {
                        source_name: source_name.to_string(),
                        at,
                        reason: format!("more than {} elements", limits.max_elements),
                    });
                }
                let frame = open(source_name, input, &reader, &start, at, &stack, &predefined)?;
                stack.push(frame);
            }
            Event::End(_) => {
                let frame = stack
                    .pop()
                    .ok_or_else(|| xml_err(&reader, "end tag without a start tag".to_string()))?;
                match stack.last_mut() {
                    Some(parent) => parent.element.children.push(frame.element),
                    None => root = Some(frame.element),
                }
            }
            Event::Empty(_) => unreachable_empty(),
            Event::Text(t) => {
                // Whitespace between elements carries nothing in SPIFs, labels or
                // clearances (every value is trimmed): skip it without allocating.
                if t.iter().all(|b| b.is_ascii_whitespace()) {
                    continue;
                }
                let s = t
                    .xml_content()
                    .map_err(|e| xml_err(&reader, e.to_string()))?;
                match stack.last_mut() {
                    Some(frame) => frame.element.text.push_str(&s),
                    None => {
                        if !s.trim().is_empty() {
                            return Err(Error::Xml {
                                source_name: source_name.to_string(),
                                at: Position::of_offset(input, start_pos),
                                reason: "text outside the root element".to_string(),
                            });
                        }
                    }
                }
            }
            Event::CData(c) => {
                let s = c.decode().map_err(|e| xml_err(&reader, e.to_string()))?;
                if let Some(frame) = stack.last_mut() {
                    frame.element.text.push_str(&s);
                }
            }
            Event::GeneralRef(r) => {
                let ch = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| xml_err(&reader, e.to_string()))?
                } else {
                    let name = r.decode().map_err(|e| xml_err(&reader, e.to_string()))?;
                    match name.as_ref() {
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "amp" => Some('&'),
                        "apos" => Some('\''),
                        "quot" => Some('"'),
                        other => {
                            return Err(Error::Xml {
                                source_name: source_name.to_string(),
                                at: Position::of_offset(input, start_pos),
                                reason: format!("unknown entity &{other};"),
                            })
                        }
                    }
                };
                let ch = ch.ok_or_else(|| xml_err(&reader, "bad character reference".into()))?;
                if let Some(frame) = stack.last_mut() {
                    frame.element.text.push(ch);
                }
            }
            Event::DocType(_) => {
                return Err(Error::Xml {
                    source_name: source_name.to_string(),
                    at: Position::of_offset(input, start_pos),
                    reason: "document type declarations are not accepted".to_string(),
                })
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(frame) = stack.last() {
        return Err(Error::Xml {
            source_name: source_name.to_string(),
            at: Position::of_offset(input, input.len()),
            reason: format!("element <{}> is not closed", frame.element.name),
        });
    }
    root.ok_or_else(|| Error::Xml {
        source_name: source_name.to_string(),
        at: Position::of_offset(input, input.len()),
        reason: "no root element".to_string(),
    })
}

/// Line starts of a text, so that positions are found in O(log n).
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &[u8]) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(
            text.iter()
                .enumerate()
                .filter(|(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { starts }
    }
    fn position(&self, text: &[u8], offset: usize) -> Position {
        let offset = offset.min(text.len());
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        let line_text = &text[start..offset];
        let column = if line_text.is_ascii() {
            line_text.len() + 1
        } else {
            String::from_utf8_lossy(line_text).chars().count() + 1
        };
        Position { line, column }
    }
}

fn unreachable_empty() {
    // expand_empty_elements turns every `<a/>` into Start + End.
}

fn open(
    source_name: &str,
    input: &[u8],
    reader: &Reader<&[u8]>,
    start: &BytesStart<'_>,
    at: Position,
    stack: &[Frame],
    predefined: &[(String, String)],
) -> Result<Frame> {
    let attr_err = |reason: String| Error::Xml {
        source_name: source_name.to_string(),
        at: Position::of_offset(input, reader.buffer_position() as usize),
        reason,
    };
    let mut decls = Vec::new();
    let mut raw_attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| attr_err(e.to_string()))?;
        let key = std::str::from_utf8(attr.key.as_ref())
            .map_err(|_| attr_err("attribute name is not UTF-8".into()))?
            .to_string();
        let value = attr
            .unescape_value()
            .map_err(|e| attr_err(e.to_string()))?
            .into_owned();
        if key == "xmlns" {
            decls.push((String::new(), value));
        } else if let Some(p) = key.strip_prefix("xmlns:") {
            decls.push((p.to_string(), value));
        } else {
            raw_attrs.push((key, value));
        }
    }
    let qname = std::str::from_utf8(start.name().as_ref())
        .map_err(|_| attr_err("element name is not UTF-8".into()))?
        .to_string();
    let frame_decls = decls.clone();
    let tmp = [Frame {
        element: Element::default(),
        decls,
    }];
    let resolve = |prefix: &str| -> Option<String> {
        lookup_ns(&tmp, &[], prefix).or_else(|| {
            if tmp[0].decls.iter().any(|(p, _)| p == prefix) {
                None
            } else {
                lookup_ns(stack, predefined, prefix)
            }
        })
    };
    let (ns, name) = match qname.split_once(':') {
        Some((p, local)) => {
            let ns = resolve(p).ok_or_else(|| attr_err(format!("undeclared prefix {p:?}")))?;
            (Some(ns), local.to_string())
        }
        None => (resolve(""), qname.clone()),
    };
    let mut attrs = Vec::with_capacity(raw_attrs.len());
    for (key, value) in raw_attrs {
        match key.split_once(':') {
            Some((p, local)) => {
                let ns = resolve(p).ok_or_else(|| attr_err(format!("undeclared prefix {p:?}")))?;
                attrs.push((Some(ns), local.to_string(), value));
            }
            None => attrs.push((None, key, value)),
        }
    }
    Ok(Frame {
        element: Element {
            ns,
            name,
            attrs,
            children: Vec::new(),
            text: String::new(),
            at,
        },
        decls: frame_decls,
    })
}

/// Escape text for element content or a double-quoted attribute value.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        max_bytes: 1 << 20,
        max_depth: 8,
        max_elements: 1000,
    };

    #[test]
    fn namespaces_and_lang() {
        let doc = br#"<s:a xmlns:s="urn:x"><s:b xml:lang="fr" k="v&amp;w">t&lt;u</s:b></s:a>"#;
        let root = parse("t", doc, L).unwrap();
        assert_eq!(root.ns.as_deref(), Some("urn:x"));
        let b = root.child("b").unwrap();
        assert_eq!(b.lang(), Some("fr"));
        assert_eq!(b.attr("k"), Some("v&w"));
        assert_eq!(b.text, "t<u");
    }

    #[test]
    fn errors_have_positions() {
        let err = parse("f.xml", b"<a>\n  <b></c>\n</a>", L).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("f.xml: malformed XML at line 2"), "{msg}");
        let deep = "<a>".repeat(20) + &"</a>".repeat(20);
        assert!(matches!(
            parse("d", deep.as_bytes(), L),
            Err(Error::TooDeep { .. })
        ));
        assert!(matches!(parse("e", b"  ", L), Err(Error::Empty { .. })));
        assert!(matches!(
            parse("e", b"<!DOCTYPE a><a/>", L),
            Err(Error::Xml { .. })
        ));
    }
}
