//! Markings: the human text of a label, rendered from the policy's marking data, and
//! read back from what a person types.
//!
//! Rendering follows XML-SPIF as surevine spiffing implements it (the conformance suite
//! checks it byte for byte): the policy name (or a `replacePolicy` phrase), the
//! classification (unless a category says `suppressClassName`), then each tag's
//! categories with the tag's prefix, separator (default `/`) and suffix, tags separated
//! by the policy separator (default a space), and the policy prefix and suffix around the
//! whole. Marking data is chosen per `xml:lang`: exact tag, then its primary language,
//! then the data without a language.

use crate::clearance::Clearance;
use crate::error::{Error, Result};
use crate::label::Label;
use crate::policy::Policy;

/// The marking data is part of the policy model ([`crate::policy`]); its old paths here
/// still work.
pub use crate::policy::{codes, MarkingData, Markings};

/// A rendered marking: the text and the classification's display colour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marking {
    /// The marking text, e.g. `SECRET//REL TO USA, PAK`.
    pub text: String,
    /// The classification colour from the policy (a name or `#RRGGBB`), if any.
    pub color: Option<String>,
}

const LOC: u16 = codes::PAGE_BOTTOM;

impl Policy {
    /// Whether any of the policy's marking data is written for `lang` (exactly or by
    /// its primary subtag). When none is, [`Policy::render`] in `lang` gives the
    /// markings without a language, so a caller asking for a language should say so
    /// rather than pass off the default language's marking as a translation.
    pub fn has_markings_in(&self, lang: &str) -> bool {
        lang.is_empty()
            || self.markings.speaks(lang)
            || self.classifications.iter().any(|c| c.markings.speaks(lang))
            || self
                .tag_sets
                .iter()
                .flat_map(|t| &t.tags)
                .any(|t| t.markings.speaks(lang))
            || self.categories.iter().any(|c| c.markings.speaks(lang))
    }

    /// The marking of `label` under this policy in language `lang` ("" for the default).
    pub fn render(&self, label: &Label, lang: &str) -> Result<Marking> {
        self.check_policy(&label.policy)?;
        let cls = self
            .classification_by_lacv(label.classification.lacv)
            .ok_or_else(|| Error::UnknownClassification {
                policy: self.name.clone(),
                value: label.classification.name.clone(),
            })?;
        let ords = self.ordinals(&label.categories)?;
        let cat_data = |o: usize| self.categories[o].markings.get(lang);
        let suppress = ords
            .iter()
            .any(|&o| cat_data(o).is_some_and(|m| m.suppress_class_name(LOC)));
        let pm = self.markings.get(lang);
        let sep = pm.map(|m| m.sep_or(" ")).unwrap_or(" ");
        let cm = cls.markings.get(lang);
        let mut text = String::new();
        if let Some(m) = pm.filter(|m| m.replace_policy(LOC)) {
            text += m.policy_phrase(LOC, &self.name);
        } else if let Some(m) = cm.filter(|m| m.replace_policy(LOC)) {
            text += m.policy_phrase(LOC, &cls.name);
        } else if let Some((m, o)) = ords.iter().find_map(|&o| {
            cat_data(o)
                .filter(|m| m.replace_policy(LOC))
                .map(|m| (m, o))
        }) {
            text += m.policy_phrase(LOC, &self.categories[o].name);
        } else {
            text += &self.name;
        }
        if !suppress {
            if !text.is_empty() {
                text += sep;
            }
            text += match (cm, pm) {
                (Some(m), _) | (None, Some(m)) => m.phrase(LOC, &cls.name),
                (None, None) => &cls.name,
            };
        }
        self.category_markings(&mut text, &ords, lang, sep);
        if let Some(m) = pm {
            if let Some(p) = &m.prefix {
                text.insert_str(0, p);
            }
            if let Some(s) = &m.suffix {
                text += s;
            }
        }
        Ok(Marking {
            text,
            color: cls.color.clone(),
        })
    }

    /// The marking of a clearance: `{CLASS|CLASS} categories`, in language `lang`.
    pub fn render_clearance(&self, clearance: &Clearance, lang: &str) -> Result<String> {
        self.check_policy(&clearance.policy)?;
        let pm = self.markings.get(lang);
        let sep = pm.map(|m| m.sep_or(" ")).unwrap_or(" ");
        let mut text = String::new();
        if let Some(p) = pm.and_then(|m| m.prefix.as_ref()) {
            text += p;
        }
        text += "{";
        let names: Vec<&str> = clearance
            .classifications
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        text += &names.join("|");
        text += "}";
        let ords = self.ordinals(&clearance.categories)?;
        self.category_markings(&mut text, &ords, lang, sep);
        if let Some(s) = pm.and_then(|m| m.suffix.as_ref()) {
            text += s;
        }
        Ok(text)
    }

    fn category_markings(&self, text: &mut String, ords: &[usize], lang: &str, sep: &str) {
        let mut current: Option<(usize, usize)> = None;
        let mut tag_sep = "/";
        let mut tag_suffix = "";
        for &o in ords {
            let cat = &self.categories[o];
            let tag = self.tag_of(o);
            let phrase = match cat.markings.get(lang).or_else(|| tag.markings.get(lang)) {
                Some(m) => m.phrase(LOC, &cat.name),
                None => &cat.name,
            };
            if phrase.is_empty() {
                continue;
            }
            if current != Some((cat.tag_set, cat.tag)) {
                current = Some((cat.tag_set, cat.tag));
                *text += tag_suffix;
                if !text.is_empty() {
                    *text += sep;
                }
                match tag.markings.get(lang) {
                    Some(tm) => {
                        tag_suffix = tm.suffix.as_deref().unwrap_or("");
                        tag_sep = tm.sep_or("/");
                        if let Some(p) = &tm.prefix {
                            *text += p;
                        }
                    }
                    None => {
                        tag_suffix = "";
                        tag_sep = "/";
                    }
                }
            } else {
                *text += tag_sep;
            }
            *text += phrase;
        }
        *text += tag_suffix;
    }

    /// Read a marking string (what a person types, e.g. `SECRET//REL TO USA, PAK`) as a
    /// label under this policy. Letter case and spacing around separators are ignored;
    /// values the policy never displays (`noNameDisplay`) cannot be read back.
    pub fn parse_marking(&self, marking: &str, lang: &str) -> Result<Label> {
        let fail = |reason: String| Error::Marking {
            marking: marking.to_string(),
            policy: self.name.clone(),
            reason,
        };
        let input: Vec<char> = marking.trim().chars().collect();
        let pm = self.markings.get(lang);
        let sep = pm.map(|m| m.sep_or(" ")).unwrap_or(" ").to_string();
        let mut start = 0;
        let mut end = input.len();
        if let Some(p) = pm.and_then(|m| m.prefix.as_deref()) {
            if let Some(n) = match_lit(&input[..end], start, p) {
                start = n;
            }
        }
        if let Some(s) = pm.and_then(|m| m.suffix.as_deref()) {
            let s: Vec<char> = s.trim().chars().collect();
            if !s.is_empty() && end >= s.len() {
                let tail = &input[end - s.len()..end];
                if tail.iter().zip(&s).all(|(a, b)| eq_ci(*a, *b)) {
                    end -= s.len();
                }
            }
        }
        let input = &input[..end];

        // Head: [policy phrase sep] classification phrase.
        let mut best: Option<(usize, u64, Option<usize>)> = None;
        for cls in &self.classifications {
            let cm = cls.markings.get(lang);
            let mut class_phrases = vec![cls.name.as_str()];
            let p = match (cm, pm) {
                (Some(m), _) | (None, Some(m)) => m.phrase(LOC, &cls.name),
                (None, None) => &cls.name,
            };
            if !p.is_empty() && p != cls.name {
                class_phrases.push(p);
            }
            let mut heads: Vec<(String, Option<usize>)> = vec![(String::new(), None)];
            if let Some(m) = pm.filter(|m| m.replace_policy(LOC)) {
                heads.push((m.policy_phrase(LOC, &self.name).to_string(), None));
            } else if let Some(m) = cm.filter(|m| m.replace_policy(LOC)) {
                heads.push((m.policy_phrase(LOC, &cls.name).to_string(), None));
            } else {
                heads.push((self.name.clone(), None));
                for (o, c) in self.categories.iter().enumerate() {
                    if let Some(m) = c.markings.get(lang).filter(|m| m.replace_policy(LOC)) {
                        heads.push((m.policy_phrase(LOC, &c.name).to_string(), Some(o)));
                    }
                }
            }
            for (head, implied) in &heads {
                for cp in &class_phrases {
                    let mut pos = Some(start);
                    if !head.is_empty() {
                        pos = pos
                            .and_then(|p| match_lit(input, p, head))
                            .and_then(|p| match_lit(input, p, &sep));
                    }
                    if let Some(p) = pos.and_then(|p| match_lit(input, p, cp)) {
                        if at_boundary(input, p) && best.is_none_or(|b| p > b.0) {
                            best = Some((p, cls.lacv, *implied));
                        }
                    }
                }
            }
        }
        let (mut pos, lacv, implied) = best.ok_or_else(|| {
            fail(format!(
                "it does not start with a classification of the policy ({})",
                self.classification_names().join(", ")
            ))
        })?;
        let cls = self.classification_by_lacv(lacv).expect("found above");
        let mut ords: Vec<usize> = implied.into_iter().collect();

        // Tags: sep, prefix, phrase (tag sep phrase)*, suffix.
        loop {
            pos = skip_ws(input, pos);
            if pos >= input.len() {
                break;
            }
            let after_sep = match_lit(input, pos, &sep).unwrap_or(pos);
            let mut matched: Option<(usize, Vec<usize>)> = None;
            for (ti, ts) in self.tag_sets.iter().enumerate() {
                for (gi, tag) in ts.tags.iter().enumerate() {
                    let tm = tag.markings.get(lang);
                    let prefix = tm.and_then(|m| m.prefix.as_deref()).unwrap_or("");
                    let suffix = tm.and_then(|m| m.suffix.as_deref()).unwrap_or("");
                    let tsep = tm.map(|m| m.sep_or("/")).unwrap_or("/");
                    let Some(mut p) = match_lit(input, after_sep, prefix) else {
                        continue;
                    };
                    let phrases: Vec<(usize, &str, &str)> = tag
                        .categories
                        .iter()
                        .map(|&o| {
                            let c = &self.categories[o];
                            let ph = match c.markings.get(lang).or(tm) {
                                Some(m) => m.phrase(LOC, &c.name),
                                None => &c.name,
                            };
                            (o, ph, c.name.as_str())
                        })
                        .collect();
                    let mut found = Vec::new();
                    let mut cur = p;
                    loop {
                        let mut best_v: Option<(usize, usize)> = None;
                        for (o, ph, name) in &phrases {
                            for cand in [*ph, *name] {
                                if cand.is_empty() {
                                    continue;
                                }
                                if let Some(e) = match_lit(input, cur, cand) {
                                    if at_boundary(input, e) && best_v.is_none_or(|b| e > b.0) {
                                        best_v = Some((e, *o));
                                    }
                                }
                            }
                        }
                        let Some((e, o)) = best_v else { break };
                        found.push(o);
                        p = e;
                        // The tag separator counts only when another value follows.
                        match match_lit(input, p, tsep) {
                            Some(n) if n > p => cur = n,
                            _ => break,
                        }
                    }
                    if found.is_empty() {
                        continue;
                    }
                    if !suffix.trim().is_empty() {
                        match match_lit(input, p, suffix) {
                            Some(n) => p = n,
                            None => continue,
                        }
                    }
                    let _ = (ti, gi);
                    if matched.as_ref().is_none_or(|m| p > m.0) {
                        matched = Some((p, found));
                    }
                }
            }
            match matched {
                Some((p, found)) => {
                    ords.extend(found);
                    pos = p;
                }
                None => {
                    let rest: String = input[pos..].iter().collect();
                    return Err(fail(format!(
                        "no category of the policy matches {rest:?} (character {})",
                        pos + 1
                    )));
                }
            }
        }
        let mut label = Label::new(self, &cls.name)?;
        label.categories = self.ordered_categories(ords, "marking")?;
        Ok(label)
    }
}

fn eq_ci(a: char, b: char) -> bool {
    a == b || a.to_lowercase().eq(b.to_lowercase())
}

fn skip_ws(input: &[char], mut p: usize) -> usize {
    while p < input.len() && input[p].is_whitespace() {
        p += 1;
    }
    p
}

/// Match literal `lit` at `p`, ignoring letter case; whitespace in `lit` matches any run
/// of whitespace (also none), and whitespace before the literal is skipped.
fn match_lit(input: &[char], p: usize, lit: &str) -> Option<usize> {
    let mut p = skip_ws(input, p);
    let mut chars = lit.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            p = skip_ws(input, p);
            continue;
        }
        if p < input.len() && eq_ci(input[p], c) {
            p += 1;
        } else {
            return None;
        }
    }
    Some(p)
}

/// A value ends at a word boundary: end of input or the next character is not
/// alphanumeric (so `US` does not match the start of `USA`).
fn at_boundary(input: &[char], p: usize) -> bool {
    p >= input.len() || !input[p].is_alphanumeric() || p == 0 || !input[p - 1].is_alphanumeric()
}
