//! Classification banners: the marking of the highest classification on a page, in
//! the colour the national policy gives it, with text that meets WCAG AA contrast; and
//! the style sheet that gives every classification of every policy its colours, so that
//! no page needs an inline style (the Content-Security-Policy allows none).

use crate::node::Node;
use accord_spif::Label;

/// What a banner shows: the classification's name and the style class of its colours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Banner {
    /// `SECRET`.
    pub text: String,
    /// `cls-0-4`: policy index and LACV (see [`styles`]).
    pub class: String,
    /// The colour the policy gives the classification (`#C8102E`), for tests.
    pub color: String,
}

/// The style class of a classification: policy index in the set, and LACV.
pub(crate) fn class_of(index: usize, lacv: u64) -> String {
    format!("cls-{index}-{lacv}")
}

impl Node {
    /// The banner of a page showing `labels`: the highest classification among them as
    /// the person's national policy ranks it (each label translated into that policy),
    /// or the national policy's lowest when the page shows none. A label that cannot be
    /// translated is marked as written, above everything translated: an unknown
    /// classification is never under-marked.
    pub(crate) fn banner<'a>(&self, labels: impl IntoIterator<Item = &'a Label>) -> Banner {
        let set = self.policies();
        let national = self.home.config.national_policy.as_str();
        let index = |id: &str| set.iter().position(|p| p.id == id).unwrap_or(0);
        let nat = set.get(national);
        let mut best: Option<(u64, Banner)> = None;
        for l in labels {
            let (rank, b) = match set.translate(l, national).ok().and_then(|t| {
                let p = nat?;
                let c = p.classification_by_lacv(t.classification.lacv)?;
                Some((c.hierarchy, banner_of(index(&p.id), c)))
            }) {
                Some(x) => x,
                None => {
                    let own = set.get(&l.policy.id);
                    let b = own
                        .and_then(|p| {
                            let c = p.classification_by_lacv(l.classification.lacv)?;
                            Some(banner_of(index(&p.id), c))
                        })
                        .unwrap_or_else(|| Banner {
                            text: l.classification.name.clone(),
                            class: "cls-unknown".into(),
                            color: "#000000".into(),
                        });
                    (u64::MAX, b)
                }
            };
            if best.as_ref().is_none_or(|(r, _)| rank > *r) {
                best = Some((rank, b));
            }
        }
        if let Some((_, b)) = best {
            return b;
        }
        nat.and_then(|p| {
            let c = p.classifications.iter().min_by_key(|c| c.hierarchy)?;
            Some(banner_of(index(&p.id), c))
        })
        .unwrap_or(Banner {
            text: "UNCLASSIFIED".into(),
            class: "cls-unknown".into(),
            color: "#000000".into(),
        })
    }

    /// The label a marking shows, read back under the national policy first, then
    /// under each other policy (a marking is the label's own text: the audit log and the
    /// outbox keep markings, not labels).
    fn label_of_marking(&self, marking: &str) -> Option<Label> {
        let set = self.policies();
        let national = set.get(&self.home.config.national_policy);
        national
            .into_iter()
            .chain(set.iter())
            .find_map(|p| p.parse_marking(marking, "").ok())
    }

    /// The banner of a page showing these markings; one that does not read under any
    /// policy is taken as the national policy's highest classification, so that the
    /// page is never under-marked.
    pub(crate) fn banner_of_markings<'a>(
        &self,
        markings: impl IntoIterator<Item = &'a str>,
    ) -> Banner {
        let mut labels = Vec::new();
        for m in markings {
            match self.label_of_marking(m) {
                Some(l) => labels.push(l),
                None => {
                    let set = self.policies();
                    if let Some((i, p)) = set.iter().enumerate().find(|(_, p)| {
                        p.id == self.home.config.national_policy
                            || p.name == self.home.config.national_policy
                    }) {
                        if let Some(c) = p.classifications.iter().max_by_key(|c| c.hierarchy) {
                            return banner_of(i, c);
                        }
                    }
                }
            }
        }
        self.banner(labels.iter())
    }

    /// The style class of a marking's classification (outbox and audit rows).
    pub(crate) fn marking_class(&self, marking: &str) -> String {
        self.label_of_marking(marking)
            .map(|l| self.portion_class(&l))
            .unwrap_or_else(|| "cls-unknown".into())
    }

    /// The style class of one label's own classification (its portion marking).
    pub(crate) fn portion_class(&self, l: &Label) -> String {
        let set = self.policies();
        set.iter()
            .position(|p| p.id == l.policy.id)
            .map(|i| class_of(i, l.classification.lacv))
            .unwrap_or_else(|| "cls-unknown".into())
    }
}

fn banner_of(index: usize, c: &accord_spif::policy::Classification) -> Banner {
    Banner {
        text: c.name.clone(),
        class: class_of(index, c.lacv),
        color: c.color.clone().unwrap_or_else(|| "#000000".into()),
    }
}

/// The style sheet of every classification of every policy: its colour as background,
/// and black or white text, whichever has the higher contrast (WCAG 2 relative
/// luminance; AA asks 4.5:1 for text).
pub(crate) fn styles(set: &accord_spif::PolicySet) -> String {
    let mut css = String::from(
        "/* Classification colours from the node's policies (XML-SPIF). */\n\
         .cls-unknown { background: #000000; color: #ffffff; }\n",
    );
    for (i, p) in set.iter().enumerate() {
        for c in &p.classifications {
            let bg = c.color.as_deref().and_then(rgb).unwrap_or((0, 0, 0));
            let fg = text_on(bg);
            css.push_str(&format!(
                ".{} {{ background: #{:02x}{:02x}{:02x}; color: {}; }}\n",
                class_of(i, c.lacv),
                bg.0,
                bg.1,
                bg.2,
                if fg == (0, 0, 0) {
                    "#000000"
                } else {
                    "#ffffff"
                }
            ));
        }
    }
    css
}

/// A colour as the policy writes it: `#RRGGBB`, `#RGB` or a basic CSS name.
pub(crate) fn rgb(s: &str) -> Option<(u8, u8, u8)> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix('#') {
        let v = |a: &str| u8::from_str_radix(a, 16).ok();
        return match h.len() {
            6 => Some((v(&h[0..2])?, v(&h[2..4])?, v(&h[4..6])?)),
            3 => {
                let d = |i: usize| v(&h[i..i + 1]).map(|x| x * 17);
                Some((d(0)?, d(1)?, d(2)?))
            }
            _ => None,
        };
    }
    Some(match s.to_ascii_lowercase().as_str() {
        "black" => (0, 0, 0),
        "white" => (255, 255, 255),
        "red" => (255, 0, 0),
        "green" => (0, 128, 0),
        "blue" => (0, 0, 255),
        "yellow" => (255, 255, 0),
        "orange" => (255, 165, 0),
        "purple" => (128, 0, 128),
        "maroon" => (128, 0, 0),
        "navy" => (0, 0, 128),
        "gray" | "grey" => (128, 128, 128),
        _ => return None,
    })
}

fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
    let ch = |c: u8| {
        let c = c as f64 / 255.0;
        if c <= 0.03928 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b)
}

/// The WCAG 2 contrast ratio of two colours.
pub(crate) fn contrast(a: (u8, u8, u8), b: (u8, u8, u8)) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

/// Black or white, whichever reads better on `bg`.
pub(crate) fn text_on(bg: (u8, u8, u8)) -> (u8, u8, u8) {
    if contrast(bg, (0, 0, 0)) >= contrast(bg, (255, 255, 255)) {
        (0, 0, 0)
    } else {
        (255, 255, 255)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_colour_gets_text_at_aa_contrast() {
        for c in ["#007A33", "#FFD100", "#0033A0", "#C8102E", "#FF8C00"] {
            let bg = rgb(c).unwrap();
            let r = contrast(bg, text_on(bg));
            assert!(r >= 4.5, "{c}: {r:.2}");
        }
    }

    #[test]
    fn colours_parse_in_the_spellings_policies_use() {
        assert_eq!(rgb("#c8102e"), Some((0xc8, 0x10, 0x2e)));
        assert_eq!(rgb("#fff"), Some((255, 255, 255)));
        assert_eq!(rgb("Red"), Some((255, 0, 0)));
        assert_eq!(rgb("#12345"), None);
        assert_eq!(rgb("chartreuse-ish"), None);
    }
}
