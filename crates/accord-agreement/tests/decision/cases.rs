//! The generated cases of the property tests: a person, a label, one of the test
//! agreements, a requesting party and a time, drawn so that both permits and denies are
//! common.

use crate::common::t;
use accord_agreement::Scope;
use proptest::prelude::*;

#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) agreement: usize,
    pub(crate) at: i64,
    pub(crate) requesting: &'static str,
    pub(crate) person_party: &'static str,
    pub(crate) nationality: &'static str,
    pub(crate) clearance_policy: &'static str,
    pub(crate) clearance_top: usize,
    pub(crate) clearance_rel: Vec<&'static str>,
    pub(crate) clearance_sh: Vec<&'static str>,
    pub(crate) clearance_scopes: Vec<Scope>,
    pub(crate) person_scopes: Vec<Scope>,
    pub(crate) active: bool,
    pub(crate) label_policy: &'static str,
    pub(crate) label_cls: usize,
    pub(crate) label_rel: Vec<&'static str>,
    pub(crate) label_sh: Vec<&'static str>,
    pub(crate) label_scopes: Vec<Scope>,
}

fn subset<T: Clone + std::fmt::Debug + 'static>(
    items: &'static [T],
) -> impl Strategy<Value = Vec<T>> {
    proptest::collection::vec(any::<bool>(), items.len()).prop_map(move |mask| {
        items
            .iter()
            .zip(mask)
            .filter(|(_, m)| *m)
            .map(|(x, _)| x.clone())
            .collect()
    })
}

const CODES: &[&str] = &["PAK", "USA", "GBR"];
const POLS: &[&str] = &["PAK", "USA"];
const SH: &[&str] = &["NOFORN", "ORCON"];

pub(crate) fn case() -> impl Strategy<Value = Case> {
    let times = prop_oneof![
        // Around the interesting instants, and anywhere 2004 .. 2025.
        1 => Just(t("2005-09-21T00:00:00Z").unix()),
        1 => Just(t("2005-10-01T00:00:00Z").unix()),
        1 => Just(t("2012-01-01T00:00:00Z").unix()),
        1 => Just(t("2020-10-01T00:00:00Z").unix()),
        4 => 1_072_915_200i64..1_735_689_600i64,
        // Mostly within 2005-10 .. 2011-12, when every signed agreement is in force.
        8 => 1_128_124_800i64..1_325_376_000i64,
    ];
    // Agreements: signed, terminated, draft, wide, tampered; mostly in-force ones.
    let agreements = prop_oneof![4 => Just(0usize), 2 => Just(1usize), 1 => Just(2usize), 4 => Just(3usize), 1 => Just(4usize)];
    (
        (
            agreements,
            times,
            prop::sample::select(CODES),
            prop::sample::select(CODES),
            prop::sample::select(CODES),
            prop::sample::select(POLS),
        ),
        (
            0usize..5,
            subset(CODES),
            subset(SH),
            subset(&Scope::ALL),
            subset(&Scope::ALL),
            proptest::bool::weighted(0.9),
        ),
        (
            prop::sample::select(POLS),
            0usize..5,
            subset(CODES),
            subset(SH),
            subset(&Scope::ALL),
        ),
        proptest::collection::vec(proptest::bool::weighted(0.85), 7),
    )
        .prop_map(
            |(
                (agreement, at, requesting, person_party, nationality, clearance_policy),
                (
                    clearance_top,
                    clearance_rel,
                    clearance_sh,
                    clearance_scopes,
                    person_scopes,
                    active,
                ),
                (label_policy, label_cls, label_rel, label_sh, label_scopes),
                coherent,
            )| {
                let mut c = Case {
                    agreement,
                    at,
                    requesting,
                    person_party,
                    nationality,
                    clearance_policy,
                    clearance_top,
                    clearance_rel,
                    clearance_sh,
                    clearance_scopes,
                    person_scopes,
                    active,
                    label_policy,
                    label_cls,
                    label_rel,
                    label_sh,
                    label_scopes,
                };
                // Pull most cases towards a coherent request so that permits are common and
                // each rule is often the only one failing.
                if coherent[0] {
                    c.person_party = c.requesting;
                }
                if coherent[1] && c.person_party != "GBR" {
                    c.clearance_policy = c.person_party;
                }
                if coherent[2] {
                    c.nationality = c.person_party;
                }
                if coherent[3] {
                    c.label_scopes
                        .retain(|s| *s == Scope::Exercises || *s == Scope::Training);
                    for s in c.label_scopes.clone() {
                        if !c.person_scopes.contains(&s) {
                            c.person_scopes.push(s);
                        }
                        if !c.clearance_scopes.contains(&s) {
                            c.clearance_scopes.push(s);
                        }
                    }
                    if c.label_scopes.is_empty() {
                        c.label_scopes.push(Scope::Exercises);
                        c.person_scopes.push(Scope::Exercises);
                        c.clearance_scopes.push(Scope::Exercises);
                    }
                    c.person_scopes.sort();
                    c.person_scopes.dedup();
                    c.clearance_scopes.sort();
                    c.clearance_scopes.dedup();
                }
                if coherent[4] {
                    if !c.label_rel.contains(&c.nationality) {
                        c.label_rel.push(c.nationality);
                    }
                    if !c.clearance_rel.contains(&c.nationality) {
                        c.clearance_rel.push(c.nationality);
                    }
                }
                if coherent[5] {
                    for s in c.label_sh.clone() {
                        if !c.clearance_sh.contains(&s) {
                            c.clearance_sh.push(s);
                        }
                    }
                }
                if coherent[6] {
                    c.clearance_top = 4;
                    c.label_cls %= 3;
                }
                c
            },
        )
}
