//! The property tests: thousands of generated cases against a reference model, and one
//! decision for every route.

use crate::common::t;
use crate::{agreements, pak_officer, policies, texts, usa_report, IN_2010};
use accord_agreement::decision::Rule;
use accord_agreement::*;
use accord_spif::{Clearance, Label};
use proptest::prelude::*;

/// The reference model: its own tables of the two national policies.
mod model {
    /// (name, lacv, hierarchy) of the PAK and USA policies' classifications.
    pub const PAK: &[(&str, u64, u64)] = &[
        ("UNCLASSIFIED", 1, 1),
        ("RESTRICTED", 2, 2),
        ("CONFIDENTIAL", 3, 3),
        ("SECRET", 4, 4),
        ("TOP SECRET", 5, 5),
    ];
    pub const USA: &[(&str, u64, u64)] = &[
        ("UNCLASSIFIED", 1, 1),
        ("CONFIDENTIAL", 3, 2),
        ("SECRET", 4, 3),
        ("TOP SECRET", 5, 4),
    ];

    pub fn table(policy: &str) -> &'static [(&'static str, u64, u64)] {
        if policy == "PAK" {
            PAK
        } else {
            USA
        }
    }
    pub fn hierarchy(policy: &str, name: &str) -> u64 {
        table(policy).iter().find(|c| c.0 == name).unwrap().2
    }
    /// The classification a label of `from` has in `to`.
    pub fn translate(from: &str, to: &str, name: &str) -> &'static str {
        let lacv = table(from).iter().find(|c| c.0 == name).unwrap().1;
        let lacv = if from == "PAK" && to == "USA" && lacv == 2 {
            3
        } else {
            lacv
        };
        table(to).iter().find(|c| c.1 == lacv).unwrap().0
    }
}

#[derive(Debug, Clone)]
struct Case {
    agreement: usize,
    at: i64,
    requesting: &'static str,
    person_party: &'static str,
    nationality: &'static str,
    clearance_policy: &'static str,
    clearance_top: usize,
    clearance_rel: Vec<&'static str>,
    clearance_sh: Vec<&'static str>,
    clearance_scopes: Vec<Scope>,
    person_scopes: Vec<Scope>,
    active: bool,
    label_policy: &'static str,
    label_cls: usize,
    label_rel: Vec<&'static str>,
    label_sh: Vec<&'static str>,
    label_scopes: Vec<Scope>,
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

fn case() -> impl Strategy<Value = Case> {
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

fn cls_name(policy: &str, i: usize) -> &'static str {
    let t = model::table(policy);
    t[i % t.len()].0
}

/// What the model knows of an agreement: in force at the case's time, scopes, ceiling,
/// translations.
type ModelTerms = (
    bool,
    Vec<Scope>,
    Option<&'static str>,
    Vec<(&'static str, &'static str)>,
);

/// The reference model's answer: the set of rules that fail.
fn expected(c: &Case) -> Vec<Rule> {
    use std::collections::BTreeSet;
    let mut fail = BTreeSet::new();
    let t0 = |s: &str| t(s).unix();
    let (in_force, scopes, ceiling, translations): ModelTerms = match c.agreement {
        0 => (
            c.at >= t0("2005-10-01T00:00:00Z") && c.at < t0("2020-10-01T00:00:00Z"),
            vec![Scope::Exercises, Scope::Training],
            Some("SECRET"),
            vec![("PAK", "USA"), ("USA", "PAK")],
        ),
        1 => (
            c.at >= t0("2005-10-01T00:00:00Z") && c.at < t0("2012-01-01T00:00:00Z"),
            vec![Scope::Exercises, Scope::Training],
            Some("SECRET"),
            vec![("PAK", "USA"), ("USA", "PAK")],
        ),
        2 | 4 => (
            false,
            vec![Scope::Exercises, Scope::Training],
            Some("SECRET"),
            vec![("PAK", "USA"), ("USA", "PAK")],
        ),
        _ => (
            c.at >= t0("2005-10-01T00:00:00Z") && c.at < t0("2020-10-01T00:00:00Z"),
            Scope::ALL.to_vec(),
            None,
            vec![("PAK", "USA")],
        ),
    };
    if !in_force {
        fail.insert(Rule::AgreementInForce);
    }
    let is_party = |p: &str| p == "PAK" || p == "USA";
    if !is_party(c.requesting) {
        fail.insert(Rule::RequestingParty);
    }
    if c.person_party != c.requesting
        || (is_party(c.person_party) && c.clearance_policy != c.person_party)
    {
        fail.insert(Rule::PersonParty);
    }
    if c.label_scopes.is_empty() || c.label_scopes.iter().any(|s| !scopes.contains(s)) {
        fail.insert(Rule::AgreementScope);
    }
    if !c.label_scopes.is_empty() && c.label_scopes.iter().any(|s| !c.person_scopes.contains(s)) {
        fail.insert(Rule::PersonScope);
    }
    let lcls = cls_name(c.label_policy, c.label_cls);
    if let Some(ceiling) = ceiling {
        if model::hierarchy(c.label_policy, lcls) > model::hierarchy(c.label_policy, ceiling) {
            fail.insert(Rule::Ceiling);
        }
    }
    let translated = if c.label_policy == c.clearance_policy {
        Some(lcls)
    } else if translations.contains(&(c.label_policy, c.clearance_policy)) {
        Some(model::translate(c.label_policy, c.clearance_policy, lcls))
    } else {
        fail.insert(Rule::Translation);
        None
    };
    if let Some(tcls) = translated {
        let top = cls_name(c.clearance_policy, c.clearance_top);
        let cls_ok =
            model::hierarchy(c.clearance_policy, tcls) <= model::hierarchy(c.clearance_policy, top);
        let sh_ok = c.label_sh.iter().all(|s| c.clearance_sh.contains(s));
        let scope_ok = c
            .label_scopes
            .iter()
            .all(|s| c.clearance_scopes.contains(s));
        let rel_ok =
            c.label_rel.is_empty() || c.label_rel.iter().any(|r| c.clearance_rel.contains(r));
        if !(cls_ok && sh_ok && scope_ok && rel_ok) {
            fail.insert(Rule::Clearance);
        }
    }
    // Releasable to the person's nationality and to the party asking for them.
    let releasable = |code: &str| {
        c.label_rel.contains(&code) || (c.label_rel.is_empty() && code == c.label_policy)
    };
    if !releasable(c.nationality) || !releasable(c.requesting) {
        fail.insert(Rule::Releasability);
    }
    if !c.active {
        fail.insert(Rule::PersonActive);
    }
    fail.into_iter().collect()
}

fn build(c: &Case) -> (Person, Label) {
    let cp = policies().find(c.clearance_policy).unwrap();
    let mut cl = Clearance::up_to(cp, cls_name(c.clearance_policy, c.clearance_top)).unwrap();
    for r in &c.clearance_rel {
        cl.add_category(cp, "Releasable To", r).unwrap();
    }
    for s in &c.clearance_sh {
        cl.add_category(cp, "Special Handling", s).unwrap();
    }
    for s in &c.clearance_scopes {
        cl.add_category(cp, "Scope", s.as_str()).unwrap();
    }
    let person = Person {
        id: "p".into(),
        name: "P".into(),
        party: c.person_party.into(),
        nationality: c.nationality.into(),
        clearance: cl,
        scopes: c.person_scopes.clone(),
        status: if c.active {
            PersonStatus::Active
        } else {
            PersonStatus::Suspended
        },
    };
    let lp = policies().find(c.label_policy).unwrap();
    let mut l = Label::new(lp, cls_name(c.label_policy, c.label_cls)).unwrap();
    for r in &c.label_rel {
        l.add_category(lp, "Releasable To", r).unwrap();
    }
    for s in &c.label_sh {
        l.add_category(lp, "Special Handling", s).unwrap();
    }
    for s in &c.label_scopes {
        l.add_category(lp, "Scope", s.as_str()).unwrap();
    }
    (person, l)
}

/// Thousands of generated cases; every one must agree with the model on permit/deny
/// and on exactly which rules fail. Both answers must be common.
#[test]
fn decision_matches_the_reference_model() {
    use proptest::test_runner::{Config, TestRunner};
    let permits = std::cell::Cell::new(0usize);
    let denies = std::cell::Cell::new(0usize);
    let mut runner = TestRunner::new(Config {
        cases: 2000,
        failure_persistence: None,
        ..Config::default()
    });
    // Each agreement verified once, as a node does when it loads one.
    let a = agreements();
    let checked: Vec<Checked<'static>> = [&a.signed, &a.terminated, &a.draft, &a.wide, &a.tampered]
        .into_iter()
        .map(Checked::new)
        .collect();
    runner
        .run(&case(), |c| {
            let agreement = &checked[c.agreement];
            let (person, label) = build(&c);
            let d = decide(
                policies(),
                &Request {
                    person: &person,
                    label: &label,
                    agreement,
                    requesting_party: c.requesting,
                    dissem: &[],
                    at: Time::from_unix(c.at).unwrap(),
                },
            );
            let mut got = d.failed_rules();
            got.sort();
            got.dedup();
            let want = expected(&c);
            prop_assert_eq!(d.permit, want.is_empty(), "reasons: {:?}", d.reasons);
            prop_assert_eq!(got, want, "reasons: {:?}", d.reasons);
            prop_assert!(!d.reasons.is_empty() && d.reasons.iter().all(|r| r.text.len() > 10));
            if d.permit {
                permits.set(permits.get() + 1)
            } else {
                denies.set(denies.get() + 1)
            }
            Ok(())
        })
        .unwrap();
    eprintln!(
        "reference model: {} permits, {} denies",
        permits.get(),
        denies.get()
    );
    assert!(
        permits.get() >= 100 && denies.get() >= 100,
        "permits {} denies {}",
        permits.get(),
        denies.get()
    );
}

/// One decision for every route: for the same person, label, requesting party and
/// dissemination list, the decision under an agreement in force and the national
/// decision of the label's own party give the same verdict on every rule they share
/// (releasability to the person and to the requesting party, the dissemination list,
/// the person's status); and whatever the KAS permits under an agreement, the
/// exchange decision would send to the requesting party.
#[test]
fn routes_share_their_rules() {
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config {
        cases: 1000,
        failure_persistence: None,
        ..Config::default()
    });
    let a = agreements();
    let signed = Checked::new(&a.signed);
    let lists: [Vec<String>; 3] = [vec![], vec!["p".into()], vec!["q".into(), "r".into()]];
    runner
        .run(&(case(), 0usize..3), |(c, l)| {
            let (person, label) = build(&c);
            let dissem = &lists[l];
            let at = t(IN_2010);
            let under = decide(
                policies(),
                &Request {
                    person: &person,
                    label: &label,
                    agreement: &signed,
                    requesting_party: c.requesting,
                    dissem,
                    at,
                },
            );
            let national = decide_national(
                policies(),
                &NationalRequest {
                    person: &person,
                    label: &label,
                    party: c.label_policy,
                    national_policy: c.label_policy,
                    requesting_party: c.requesting,
                    dissem,
                },
            );
            let fails = |d: &Decision, r: Rule| !d.permit && d.failed_rules().contains(&r);
            for rule in [Rule::Releasability, Rule::Dissemination, Rule::PersonActive] {
                prop_assert_eq!(
                    fails(&under, rule),
                    fails(&national, rule),
                    "{:?}: under {:?} national {:?}",
                    rule,
                    under.reasons,
                    national.reasons
                );
            }
            prop_assert_eq!(fails(&under, Rule::Dissemination), l == 2);
            if under.permit && c.requesting != c.label_policy {
                let sent = admit(
                    policies(),
                    &Transfer {
                        label: &label,
                        agreement: &signed,
                        from: c.label_policy,
                        to: c.requesting,
                        at,
                    },
                );
                prop_assert!(
                    !sent.failed_rules().contains(&Rule::Releasability),
                    "released to {} what would not be sent there: {:?}",
                    c.requesting,
                    sent.reasons
                );
            }
            // A national decision is made only for the party's own people.
            if c.requesting != c.label_policy {
                prop_assert!(fails(&national, Rule::RequestingParty));
            }
            Ok(())
        })
        .unwrap();
}

/// An object with a dissemination list opens only for the people on it, under an
/// agreement and nationally alike, and the refusal names the list.
#[test]
fn dissemination_list_is_enforced() {
    let a = &agreements().signed;
    let (p, l) = (pak_officer(), usa_report());
    let on = vec!["pak-officer".to_string()];
    let off = vec!["someone-else".to_string()];
    let with = |dissem: &[String]| {
        decide(
            policies(),
            &Request {
                person: &p,
                label: &l,
                agreement: &Checked::new(a),
                requesting_party: "PAK",
                dissem,
                at: t(IN_2010),
            },
        )
    };
    assert!(with(&on).permit);
    let d = with(&off);
    assert!(!d.permit);
    assert_eq!(
        texts(&d),
        vec!["person pak-officer is not on the object's dissemination list (someone-else)"]
    );
}
