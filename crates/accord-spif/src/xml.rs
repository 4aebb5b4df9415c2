//! A small, bounded XML tree built with quick-xml.
//!
//! Policies, labels and clearances are small documents that are read whole, so a tree is
//! the simplest correct way to read them. The reader refuses inputs larger than a limit
//! and nesting deeper than a limit, resolves namespace prefixes, and keeps each element's
//! place in the file so that errors can point at its line and column.
//!
//! Why it is built the way it is: the largest SPIF we read (about 13,000 elements) must
//! load in well under 20 ms. So the tree borrows from the input (names, attribute values
//! and text are slices of the document unless they hold an entity, a character reference
//! or a carriage return to decode), every element and every attribute lives in one of two
//! flat vectors of the [`Document`] (no allocation per element, nothing to free one by
//! one), and an element's line and column are worked out only when something asks for
//! them, which is when an error is being reported.

use crate::error::{Error, Position, Result};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::borrow::Cow;

/// Most attributes accepted on one element.
pub const MAX_ATTRIBUTES: usize = 64;

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

/// A parsed document: its elements in document order (the root first) and their
/// attributes, borrowed from the input where possible.
#[derive(Debug, Clone)]
pub struct Document<'a> {
    input: &'a [u8],
    nodes: Vec<Node<'a>>,
    attrs: Vec<Attr<'a>>,
}

/// "No such element" in [`Node`] links (index 0 is the root, which is nobody's child or
/// sibling).
const NONE: u32 = 0;

#[derive(Debug, Clone)]
struct Node<'a> {
    ns: Option<Cow<'a, str>>,
    name: &'a str,
    text: Cow<'a, str>,
    /// Byte offset of the start tag's `<`.
    offset: u32,
    attrs_from: u32,
    attrs_to: u32,
    first_child: u32,
    next_sibling: u32,
}

/// One attribute: resolved namespace, local name and value.
#[derive(Debug, Clone)]
struct Attr<'a> {
    ns: Option<Cow<'a, str>>,
    name: &'a str,
    value: Cow<'a, str>,
}

impl<'a> Document<'a> {
    /// The root element.
    pub fn root(&self) -> Element<'_, 'a> {
        Element {
            doc: self,
            index: 0,
        }
    }
}

/// One element of a [`Document`]: a cheap handle to copy around.
#[derive(Clone, Copy)]
pub struct Element<'d, 'a> {
    doc: &'d Document<'a>,
    index: u32,
}

impl std::fmt::Debug for Element<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{}> at {}", self.name(), self.at())
    }
}

impl<'d, 'a> Element<'d, 'a> {
    fn node(&self) -> &'d Node<'a> {
        &self.doc.nodes[self.index as usize]
    }

    /// Local name (without prefix).
    pub fn name(&self) -> &'a str {
        self.node().name
    }

    /// Namespace URI, if any.
    pub fn ns(&self) -> Option<&'d str> {
        self.node().ns.as_deref()
    }

    /// Concatenated character data directly inside this element.
    pub fn text(&self) -> &'d str {
        &self.node().text
    }

    /// Where the start tag begins (computed on demand: errors are the only users).
    pub fn at(&self) -> Position {
        Position::of_offset(self.doc.input, self.node().offset as usize)
    }

    fn attrs(&self) -> &'d [Attr<'a>] {
        let n = self.node();
        &self.doc.attrs[n.attrs_from as usize..n.attrs_to as usize]
    }

    /// The value of the un-namespaced attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&'d str> {
        self.attrs()
            .iter()
            .find(|a| a.ns.is_none() && a.name == name)
            .map(|a| a.value.as_ref())
    }

    /// The value of `xml:lang`, if present.
    pub fn lang(&self) -> Option<&'d str> {
        self.attrs()
            .iter()
            .find(|a| a.ns.as_deref() == Some(XML_NS) && a.name == "lang")
            .map(|a| a.value.as_ref())
    }

    /// Child elements in document order.
    pub fn children(&self) -> Children<'d, 'a> {
        Children {
            doc: self.doc,
            next: self.node().first_child,
        }
    }

    /// Child elements with local name `name` (any namespace).
    pub fn children_named<'s>(&self, name: &'s str) -> impl Iterator<Item = Element<'d, 'a>> + 's
    where
        'd: 's,
        'a: 's,
    {
        self.children().filter(move |c| c.name() == name)
    }

    /// The first child element with local name `name`.
    pub fn child(&self, name: &str) -> Option<Element<'d, 'a>> {
        self.children().find(|c| c.name() == name)
    }
}

/// The children of an element, in document order.
#[derive(Clone)]
pub struct Children<'d, 'a> {
    doc: &'d Document<'a>,
    next: u32,
}

impl<'d, 'a> Iterator for Children<'d, 'a> {
    type Item = Element<'d, 'a>;
    fn next(&mut self) -> Option<Element<'d, 'a>> {
        if self.next == NONE {
            return None;
        }
        let e = Element {
            doc: self.doc,
            index: self.next,
        };
        self.next = self.doc.nodes[self.next as usize].next_sibling;
        Some(e)
    }
}

/// `part`, a slice quick-xml handed out of `input`, as a slice of `input` itself, so that
/// it lives as long as the input rather than as long as the event it came in. `None`
/// when `part` does not lie inside `input` (quick-xml decoded it into a buffer).
fn rebase<'a>(input: &'a str, part: &[u8]) -> Option<&'a str> {
    let start = (part.as_ptr() as usize).checked_sub(input.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    input.get(start..end)
}

/// A decoded value that borrows from an event, made to borrow from the input instead
/// (or owned, when it was decoded into a buffer).
fn rebase_cow<'a>(input: &'a str, value: Cow<'_, str>) -> Cow<'a, str> {
    match value {
        Cow::Borrowed(s) => match rebase(input, s.as_bytes()) {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(s.to_string()),
        },
        Cow::Owned(s) => Cow::Owned(s),
    }
}

/// Append character data to an element's text without copying the first (usually only)
/// piece.
fn append<'a>(text: &mut Cow<'a, str>, piece: Cow<'a, str>) {
    if text.is_empty() {
        *text = piece;
    } else {
        text.to_mut().push_str(&piece);
    }
}

/// Namespace declarations in scope: (prefix or "" for the default namespace, URI), the
/// innermost last. An empty URI undeclares.
struct Scope<'a> {
    decls: Vec<(&'a str, Cow<'a, str>)>,
}

impl<'a> Scope<'a> {
    fn lookup(&self, prefix: &str) -> Option<Cow<'a, str>> {
        match self.decls.iter().rev().find(|(p, _)| *p == prefix) {
            Some((_, uri)) if uri.is_empty() => None,
            Some((_, uri)) => Some(uri.clone()),
            None if prefix == "xml" => Some(Cow::Borrowed(XML_NS)),
            None => None,
        }
    }
}

/// An open element: its index, its last child so far (to link the next one), and the
/// number of namespace declarations it made.
struct Frame {
    index: u32,
    last_child: u32,
    decls: usize,
}

/// Parse `input` into a document, within `limits`.
pub fn parse<'a>(source_name: &str, input: &'a [u8], limits: Limits) -> Result<Document<'a>> {
    if input.len() > limits.max_bytes {
        return Err(Error::TooLarge {
            source_name: source_name.to_string(),
            size: input.len(),
            limit: limits.max_bytes,
        });
    }
    // Offsets are kept in 32 bits.
    if u32::try_from(input.len()).is_err() {
        return Err(Error::TooLarge {
            source_name: source_name.to_string(),
            size: input.len(),
            limit: u32::MAX as usize,
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
    // Sized from the input so that a typical document never grows them (real SPIFs have
    // an element per 70 bytes or so), capped so that a hostile input reserves little.
    let mut doc = Document {
        input,
        nodes: Vec::with_capacity((input.len() / 64).min(limits.max_elements).min(1 << 15)),
        attrs: Vec::with_capacity((input.len() / 32).min(1 << 16)),
    };
    let mut scope = Scope { decls: Vec::new() };
    let mut stack: Vec<Frame> = Vec::new();
    let mut closed = false;
    loop {
        let start_pos = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|e| xml_err(&reader, e.to_string()))?;
        match event {
            Event::Start(start) => {
                if closed {
                    return Err(Error::Xml {
                        source_name: source_name.to_string(),
                        at: Position::of_offset(input, start_pos),
                        reason: "content after the root element".to_string(),
                    });
                }
                if stack.len() >= limits.max_depth {
                    return Err(Error::TooDeep {
                        source_name: source_name.to_string(),
                        at: Position::of_offset(input, start_pos),
                        limit: limits.max_depth,
                    });
                }
                if doc.nodes.len() >= limits.max_elements {
                    return Err(Error::Invalid {
                        source_name: source_name.to_string(),
                        at: Position::of_offset(input, start_pos),
                        reason: format!("more than {} elements", limits.max_elements),
                    });
                }
                // Both fit in 32 bits: the input does, and so does every count below its
                // length.
                let index = doc.nodes.len() as u32;
                let decls = open(
                    source_name,
                    text,
                    &reader,
                    &start,
                    start_pos as u32,
                    &mut scope,
                    &mut doc,
                )?;
                if let Some(parent) = stack.last_mut() {
                    if parent.last_child == NONE {
                        doc.nodes[parent.index as usize].first_child = index;
                    } else {
                        doc.nodes[parent.last_child as usize].next_sibling = index;
                    }
                    parent.last_child = index;
                }
                stack.push(Frame {
                    index,
                    last_child: NONE,
                    decls,
                });
            }
            Event::End(_) => {
                let frame = stack
                    .pop()
                    .ok_or_else(|| xml_err(&reader, "end tag without a start tag".to_string()))?;
                scope.decls.truncate(scope.decls.len() - frame.decls);
                closed = stack.is_empty();
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
                match stack.last() {
                    Some(frame) => append(&mut doc.nodes[frame.index as usize].text, s),
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
                if let Some(frame) = stack.last() {
                    append(&mut doc.nodes[frame.index as usize].text, s);
                }
            }
            Event::GeneralRef(r) => {
                let mut buf = [0u8; 4];
                let resolved: &str = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| xml_err(&reader, e.to_string()))?
                        .ok_or_else(|| xml_err(&reader, "bad character reference".into()))?
                        .encode_utf8(&mut buf)
                } else {
                    let name = r.decode().map_err(|e| xml_err(&reader, e.to_string()))?;
                    quick_xml::escape::resolve_xml_entity(&name).ok_or_else(|| Error::Xml {
                        source_name: source_name.to_string(),
                        at: Position::of_offset(input, start_pos),
                        reason: format!("unknown entity &{name};"),
                    })?
                };
                if let Some(frame) = stack.last() {
                    doc.nodes[frame.index as usize]
                        .text
                        .to_mut()
                        .push_str(resolved);
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
            reason: format!(
                "element <{}> is not closed",
                doc.nodes[frame.index as usize].name
            ),
        });
    }
    if doc.nodes.is_empty() {
        return Err(Error::Xml {
            source_name: source_name.to_string(),
            at: Position::of_offset(input, input.len()),
            reason: "no root element".to_string(),
        });
    }
    Ok(doc)
}

fn unreachable_empty() {
    // expand_empty_elements turns every `<a/>` into Start + End.
}

/// Read a start tag into a new node of `doc`: declare its namespaces in `scope`, then
/// resolve its name and its attributes' names. Returns how many namespaces it declared.
///
/// At most [`MAX_ATTRIBUTES`] attributes per element: XML-SPIF elements carry a handful.
fn open<'a>(
    source_name: &str,
    input: &'a str,
    reader: &Reader<&[u8]>,
    start: &BytesStart<'_>,
    offset: u32,
    scope: &mut Scope<'a>,
    doc: &mut Document<'a>,
) -> Result<usize> {
    let attr_err = |reason: String| Error::Xml {
        source_name: source_name.to_string(),
        at: Position::of_offset(input.as_bytes(), reader.buffer_position() as usize),
        reason,
    };
    let not_utf8 = || attr_err("a name is not valid UTF-8".into());
    let mut decls = 0;
    // Attributes are stored with their qualified names first, and resolved once every
    // namespace this start tag declares is in scope.
    let attrs_from = doc.attrs.len();
    for (i, attr) in start.attributes().enumerate() {
        // The duplicate check costs each attribute a look at those before it: bounded.
        if i == MAX_ATTRIBUTES {
            return Err(attr_err(format!(
                "more than {MAX_ATTRIBUTES} attributes on one element"
            )));
        }
        let attr = attr.map_err(|e| attr_err(e.to_string()))?;
        let key = rebase(input, attr.key.as_ref()).ok_or_else(not_utf8)?;
        // Nothing to unescape (the usual case): the value is the input's own text, which
        // was checked to be UTF-8 once for the whole document.
        let value = match rebase(input, &attr.value) {
            Some(v) if !v.contains('&') => Cow::Borrowed(v),
            _ => rebase_cow(
                input,
                attr.unescape_value().map_err(|e| attr_err(e.to_string()))?,
            ),
        };
        if key == "xmlns" {
            scope.decls.push(("", value));
            decls += 1;
        } else if let Some(p) = key.strip_prefix("xmlns:") {
            scope.decls.push((p, value));
            decls += 1;
        } else {
            doc.attrs.push(Attr {
                ns: None,
                name: key,
                value,
            });
        }
    }
    let qname = rebase(input, start.name().as_ref()).ok_or_else(not_utf8)?;
    let (ns, name) = match qname.split_once(':') {
        Some((p, local)) => {
            let ns = scope
                .lookup(p)
                .ok_or_else(|| attr_err(format!("undeclared prefix {p:?}")))?;
            (Some(ns), local)
        }
        None => (scope.lookup(""), qname),
    };
    for attr in &mut doc.attrs[attrs_from..] {
        if let Some((p, local)) = attr.name.split_once(':') {
            let ns = scope
                .lookup(p)
                .ok_or_else(|| attr_err(format!("undeclared prefix {p:?}")))?;
            attr.ns = Some(ns);
            attr.name = local;
        }
    }
    // Fewer attributes than bytes, and the input's length fits in 32 bits.
    doc.nodes.push(Node {
        ns,
        name,
        text: Cow::Borrowed(""),
        offset,
        attrs_from: attrs_from as u32,
        attrs_to: doc.attrs.len() as u32,
        first_child: NONE,
        next_sibling: NONE,
    });
    Ok(decls)
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
        let doc = parse("t", doc, L).unwrap();
        let root = doc.root();
        assert_eq!(root.ns(), Some("urn:x"));
        let b = root.child("b").unwrap();
        assert_eq!(b.ns(), Some("urn:x"));
        assert_eq!(b.lang(), Some("fr"));
        assert_eq!(b.attr("k"), Some("v&w"));
        assert_eq!(b.text(), "t<u");
    }

    #[test]
    fn children_in_order_text_and_decoded_values() {
        let doc = "<r xmlns=\"urn:d\">\r\n <a n=\"1\"/><b/><a n=\"2\">x<![CDATA[<y>]]>&#122;</a>\
                   <c xmlns=\"\" v=\"&quot;q&quot;\">l1\r\nl2</c></r>";
        let doc = parse("t", doc.as_bytes(), L).unwrap();
        let root = doc.root();
        assert_eq!(root.ns(), Some("urn:d"));
        let names: Vec<_> = root.children().map(|c| c.name()).collect();
        assert_eq!(names, ["a", "b", "a", "c"]);
        let a: Vec<_> = root.children_named("a").map(|c| c.attr("n")).collect();
        assert_eq!(a, [Some("1"), Some("2")]);
        let a2 = root.children_named("a").nth(1).unwrap();
        assert_eq!(a2.text(), "x<y>z");
        assert_eq!(a2.ns(), Some("urn:d"));
        let c = root.child("c").unwrap();
        assert_eq!(c.ns(), None, "xmlns=\"\" undeclares the default namespace");
        assert_eq!(c.attr("v"), Some("\"q\""));
        assert_eq!(c.text(), "l1\nl2");
        assert_eq!(root.child("b").unwrap().children().count(), 0);
        assert!(root.child("z").is_none());
    }

    #[test]
    fn element_positions_count_characters() {
        let doc = "<r>\n  <a/>\n\u{e9}\u{e9}<b/></r>";
        let doc = parse("t", doc.as_bytes(), L).unwrap();
        let root = doc.root();
        assert_eq!(root.at(), Position { line: 1, column: 1 });
        assert_eq!(
            root.child("a").unwrap().at(),
            Position { line: 2, column: 3 }
        );
        assert_eq!(
            root.child("b").unwrap().at(),
            Position { line: 3, column: 3 }
        );
    }

    #[test]
    fn structure_errors() {
        for (doc, want) in [
            ("<a/><b/>", "content after the root element"),
            ("x<a/>", "text outside the root element"),
            ("<a>", "not closed"),
            ("<p:a/>", "undeclared prefix"),
            ("<a p:x=\"1\"/>", "undeclared prefix"),
            ("<a>&foo;</a>", "unknown entity"),
            ("<?xml version=\"1.0\"?><!-- c -->", "no root element"),
        ] {
            let err = parse("f", doc.as_bytes(), L).unwrap_err().to_string();
            assert!(err.contains(want), "{doc}: {err}");
        }
        let many = "<a>".to_string() + &"<b/>".repeat(1000) + "</a>";
        let err = parse("f", many.as_bytes(), L).unwrap_err().to_string();
        assert!(err.contains("more than 1000 elements"), "{err}");
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
