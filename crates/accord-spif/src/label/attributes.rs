//! The OpenTDF attribute form of a label: the names its attribute FQNs carry (policy,
//! classification, `(tag set, value)` pairs), percent-decoded and lower-cased by
//! `accord_tdf::label_attributes`, turned back into a label. Apart because it is one of
//! the label's forms, read only (the FQNs are written by `accord-tdf` from the label's
//! STANAG 4774 XML, which needs no policy).
//!
//! The FQNs name without letter case and without tag type, so a name matches the SPIF's
//! ignoring case, and a SPIF where two names a lookup could hit differ only in case (or
//! a tag set has two categories of that name under tags of different types) is refused
//! rather than guessed at.

use crate::label::Label;
use crate::set::PolicySet;

impl PolicySet {
    /// The label that OpenTDF attributes describe: policy `policy` (as a label's
    /// `PolicyIdentifier` gives it: its name, or its OID as [`PolicySet::get`] finds
    /// one), classification `classification` and
    /// categories `(tag set, value)`, every name compared with the SPIF's ignoring
    /// case; categories in the policy's order, then the label validated under its
    /// policy exactly as any label is ([`crate::Policy::validate`]).
    ///
    /// `Err` is the reason in words: `policy `xyz` is not held here`, `USA has no
    /// classification `ultra``, `USA has no category `Releasable To: xyz``, a name the
    /// SPIF makes ambiguous, a category named twice, or the policy's validation reasons
    /// (joined by `; `).
    pub fn label_from_attributes(
        &self,
        policy: &str,
        classification: &str,
        categories: &[(String, String)],
    ) -> Result<Label, String> {
        let oid = policy.strip_prefix("urn:oid:").unwrap_or(policy);
        let p = one(self.iter(), |p| p.name.as_str(), policy)
            .map_err(|(a, b)| {
                format!("two policies held here, {a} and {b}, differ only in case: policy `{policy}` is refused rather than guessed")
            })?
            .or_else(|| self.iter().find(|p| p.id == oid))
            .ok_or_else(|| format!("policy `{policy}` is not held here"))?;
        let name = &p.name;
        let cls = one(p.classifications.iter(), |c| c.name.as_str(), classification)
            .map_err(|(a, b)| {
                format!("{name} has two classifications that differ only in case ({a}, {b}): `{classification}` is refused rather than guessed")
            })?
            .ok_or_else(|| format!("{name} has no classification `{classification}`"))?;
        let mut label = Label::new(p, &cls.name).map_err(|e| e.to_string())?;
        let mut ords = Vec::with_capacity(categories.len());
        for (tag_set, value) in categories {
            let (ts, set) = one(p.tag_sets.iter().enumerate(), |(_, t)| t.name.as_str(), tag_set)
                .map_err(|(a, b)| {
                    format!("{name} has two tag sets that differ only in case ({a}, {b}): `{tag_set}` is refused rather than guessed")
                })?
                .ok_or_else(|| format!("{name} has no category `{tag_set}: {value}`"))?;
            let (o, _) = one(
                p.categories
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.tag_set == ts),
                |(_, c)| c.name.as_str(),
                value,
            )
            .map_err(|(a, b)| {
                format!(
                    "{name} has two categories in tag set {} that an attribute cannot tell apart ({a}, {b}: in case or tag type): `{}: {value}` is refused rather than guessed",
                    set.name, set.name
                )
            })?
            .ok_or_else(|| format!("{name} has no category `{}: {value}`", set.name))?;
            ords.push(o);
        }
        label.categories = p
            .ordered_categories(ords, "the attributes")
            .map_err(|e| e.to_string())?;
        let validity = p.validate(&label).map_err(|e| e.to_string())?;
        if validity.valid {
            Ok(label)
        } else {
            Err(validity.reasons.join("; "))
        }
    }
}

/// The one item whose name is `wanted` ignoring case; `Err` with the names of two that
/// both are.
fn one<'a, T: Copy>(
    items: impl IntoIterator<Item = T>,
    name: impl Fn(T) -> &'a str,
    wanted: &str,
) -> Result<Option<T>, (&'a str, &'a str)> {
    let wanted = wanted.to_lowercase();
    let mut found: Option<T> = None;
    for item in items {
        if name(item).to_lowercase() == wanted {
            if let Some(first) = found {
                return Err((name(first), name(item)));
            }
            found = Some(item);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use crate::label::Label;
    use crate::policy::Policy;
    use crate::set::PolicySet;
    use std::path::Path;

    fn dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")
    }

    fn set() -> PolicySet {
        let mut s = PolicySet::new();
        s.load_path(&dir()).unwrap();
        s
    }

    fn label(s: &PolicySet, policy: &str, cls: &str, cats: &[(&str, &str)]) -> Label {
        let p = s.find(policy).unwrap();
        let mut l = Label::new(p, cls).unwrap();
        for (ts, v) in cats {
            l.add_category(p, ts, v).unwrap();
        }
        l
    }

    fn pairs(cats: &[(&str, &str)]) -> Vec<(String, String)> {
        cats.iter()
            .map(|(t, v)| (t.to_string(), v.to_string()))
            .collect()
    }

    /// What `accord_tdf::label_attributes` reads from the FQNs a label's 4774 XML gives:
    /// the names lower-cased, categories in label order.
    fn attributes_of(l: &Label) -> (String, String, Vec<(String, String)>) {
        (
            l.policy.name.to_lowercase(),
            l.classification.name.to_lowercase(),
            l.category_pairs()
                .map(|(t, v)| (t.to_lowercase(), v.to_lowercase()))
                .collect(),
        )
    }

    /// Every valid label comes back equal from its attributes.
    #[test]
    fn labels_come_back_from_their_attributes() {
        let s = set();
        let labels = [
            label(&s, "USA", "UNCLASSIFIED", &[]),
            label(
                &s,
                "USA",
                "SECRET",
                &[
                    ("Releasable To", "USA"),
                    ("Releasable To", "PAK"),
                    ("Scope", "EXERCISES"),
                ],
            ),
            label(
                &s,
                "USA",
                "TOP SECRET",
                &[("Special Handling", "ORCON"), ("Scope", "TRAINING")],
            ),
            label(&s, "PAK", "RESTRICTED", &[("Releasable To", "PAK")]),
            label(
                &s,
                "PAK",
                "TOP SECRET",
                &[("Special Handling", "NOFORN"), ("Scope", "BASING")],
            ),
        ];
        for l in &labels {
            assert!(s.find(&l.policy.id).unwrap().validate(l).unwrap().valid);
            let (policy, cls, cats) = attributes_of(l);
            assert_eq!(s.label_from_attributes(&policy, &cls, &cats).unwrap(), *l);
            // Any case, any category order.
            let mut rev = cats.clone();
            rev.reverse();
            let upper = s
                .label_from_attributes(&policy.to_uppercase(), &cls.to_uppercase(), &rev)
                .unwrap();
            assert_eq!(upper, *l);
        }
        // The triples accord-tdf's tests read from the labels as `to_stanag_xml` writes
        // them (`labels_as_the_policy_library_writes_them`).
        for (policy, cls, cats, want) in [
            (
                "usa",
                "secret",
                pairs(&[
                    ("releasable to", "usa"),
                    ("releasable to", "pak"),
                    ("scope", "exercises"),
                ]),
                &labels[1],
            ),
            (
                "pak",
                "top secret",
                pairs(&[("special handling", "noforn")]),
                &label(&s, "PAK", "TOP SECRET", &[("Special Handling", "NOFORN")]),
            ),
            (
                "pak",
                "unclassified",
                vec![],
                &label(&s, "PAK", "UNCLASSIFIED", &[]),
            ),
        ] {
            assert_eq!(s.label_from_attributes(policy, cls, &cats).unwrap(), *want);
            assert_eq!(attributes_of(want), (policy.into(), cls.into(), cats));
        }
    }

    /// What names nothing, or makes an invalid label, is refused with the reason.
    #[test]
    fn attributes_that_make_no_valid_label_are_refused() {
        let s = set();
        let err = |p: &str, c: &str, cats: &[(&str, &str)]| {
            s.label_from_attributes(p, c, &pairs(cats)).unwrap_err()
        };
        assert_eq!(err("xyz", "secret", &[]), "policy `xyz` is not held here");
        // Found as a label's PolicyIdentifier is: by name, or by OID.
        for oid in ["1.3.6.1.4.1.32473.1.2", "urn:oid:1.3.6.1.4.1.32473.1.2"] {
            let l = s.label_from_attributes(oid, "secret", &[]).unwrap();
            assert_eq!(l, label(&s, "USA", "SECRET", &[]));
        }
        assert_eq!(
            err("1.3.6.1.4.1.32473.1.9", "secret", &[]),
            "policy `1.3.6.1.4.1.32473.1.9` is not held here"
        );
        assert_eq!(
            err("usa", "ultra", &[]),
            "USA has no classification `ultra`"
        );
        // RESTRICTED is PAK's, not USA's.
        assert_eq!(
            err("usa", "restricted", &[]),
            "USA has no classification `restricted`"
        );
        assert_eq!(
            err("usa", "secret", &[("releasable to", "xyz")]),
            "USA has no category `Releasable To: xyz`"
        );
        assert_eq!(
            err("usa", "secret", &[("caveat", "xyz")]),
            "USA has no category `caveat: xyz`"
        );
        assert!(err(
            "usa",
            "secret",
            &[("releasable to", "pak"), ("Releasable To", "PAK")]
        )
        .contains("appears twice"));
        // The policy's own validation, with its messages.
        assert_eq!(
            err(
                "pak",
                "secret",
                &[("special handling", "noforn"), ("releasable to", "usa")]
            ),
            "category NOFORN may not be used with category USA"
        );
        let e = err("pak", "unclassified", &[("special handling", "orcon")]);
        assert_eq!(
            e,
            "category ORCON may not be used with classification UNCLASSIFIED"
        );
    }

    /// A SPIF with two names that differ only in case cannot be mapped from
    /// lower-cased attributes: refused, never guessed.
    #[test]
    fn names_the_spif_makes_ambiguous_are_refused() {
        let xml = std::fs::read_to_string(dir().join("usa.xml")).unwrap();
        let twin = |from: &str, to: &str| {
            assert!(xml.contains(from), "{from}");
            let mut s = PolicySet::new();
            s.add(Policy::from_xml("twin.xml", xml.replacen(from, to, 1).as_bytes()).unwrap())
                .unwrap();
            s
        };
        let s = twin(
            r#"<securityClassification name="CONFIDENTIAL""#,
            r#"<securityClassification name="Secret""#,
        );
        let e = s.label_from_attributes("usa", "secret", &[]).unwrap_err();
        assert!(
            e.contains("two classifications that differ only in case (Secret, SECRET)"),
            "{e}"
        );
        // Names that do not collide still map.
        assert!(s.label_from_attributes("usa", "top secret", &[]).is_ok());
        let s = twin(r#"<tagCategory name="PAK""#, r#"<tagCategory name="usa""#);
        let e = s
            .label_from_attributes("usa", "secret", &pairs(&[("releasable to", "usa")]))
            .unwrap_err();
        assert!(e.contains("two categories in tag set Releasable To"), "{e}");
    }
}
