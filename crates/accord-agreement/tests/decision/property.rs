//! The property tests: thousands of generated cases decided by the library and by the
//! reference model, which must agree; and the decision under an agreement, the
//! national decision and the exchange decision, which must agree on the rules they
//! share.

use crate::cases::{case, Case};
use crate::common::t;
use crate::fixtures::{agreements, policies, IN_2010};
use crate::reference::{cls_name, expected};
use accord_agreement::decision::Rule;
use accord_agreement::{
    admit, decide, decide_national, Checked, Decision, NationalRequest, Person, PersonStatus,
    Request, Time, Transfer, Wrapping,
};
use accord_spif::{Clearance, Label};
use proptest::prelude::*;

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
                    wrapping: Wrapping::PostQuantum,
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
                    wrapping: Wrapping::PostQuantum,
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
                    wrapping: Wrapping::PostQuantum,
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
