//! A table test per rule of the decision: each rule refuses with its reason, every
//! reason that applies is given, and the dissemination list is enforced.

use crate::common::t;
use crate::fixtures::{
    agreements, clearance, label, pak_officer, policies, run, texts, usa_report, IN_2010,
};
use accord_agreement::decision::Rule;
use accord_agreement::{decide, Checked, Person, PersonStatus, Request, Scope, Wrapping};

#[test]
fn baseline_permits_with_reasons_for_each_rule() {
    let a = &agreements().signed;
    let d = run(&pak_officer(), &usa_report(), a, "PAK", IN_2010);
    assert!(d.permit, "{:#?}", d.reasons);
    let rules: Vec<Rule> = d.reasons.iter().map(|r| r.rule).collect();
    for rule in [
        Rule::AgreementInForce,
        Rule::RequestingParty,
        Rule::PersonParty,
        Rule::AgreementScope,
        Rule::PersonScope,
        Rule::Ceiling,
        Rule::Translation,
        Rule::Clearance,
        Rule::Releasability,
        Rule::PersonActive,
    ] {
        assert!(rules.contains(&rule), "{rule:?} missing from {rules:?}");
    }
}

#[test]
fn rule_agreement_in_force() {
    let (p, l) = (pak_officer(), usa_report());
    let a = agreements();
    let d = run(&p, &l, &a.signed, "PAK", "2021-01-01T00:00:00Z");
    assert_eq!(
        texts(&d),
        vec!["agreement CISMOA-2005 expired on 2020-10-01T00:00:00Z"]
    );
    let d = run(&p, &l, &a.signed, "PAK", "2005-09-25T00:00:00Z");
    assert_eq!(d.failed_rules(), vec![Rule::AgreementInForce]);
    assert!(texts(&d)[0].contains("is not yet in force: it takes effect on 2005-10-01T00:00:00Z"));
    let d = run(&p, &l, &a.terminated, "PAK", "2013-01-01T00:00:00Z");
    assert_eq!(texts(&d), vec!["agreement CISMOA-2005 was terminated by PAK with effect from 2012-01-01T00:00:00Z (notice signed 2011-06-01T00:00:00Z)"]);
    let d = run(&p, &l, &a.draft, "PAK", IN_2010);
    assert_eq!(
        texts(&d),
        vec![
            "agreement CISMOA-2005 is a draft: awaiting the approval of USA",
            "approved by PAK on 2005-09-01T00:00:00Z (summary)"
        ]
    );
    let d = run(&p, &l, &a.tampered, "PAK", IN_2010);
    // One reason per finding: the broken chain, then each record's signatures.
    assert_eq!(d.failed_rules(), vec![Rule::AgreementInForce; 5]);
    assert!(texts(&d)[0].starts_with("agreement CISMOA-2005 does not verify: record 1: (approve by PAK) does not follow the agreement body"));
}

#[test]
fn rule_requesting_party_and_person_party() {
    let (mut p, l) = (pak_officer(), usa_report());
    let a = &agreements().signed;
    let d = run(&p, &l, a, "GBR", IN_2010);
    assert_eq!(
        texts(&d),
        vec![
            "requesting party GBR is not a party to agreement CISMOA-2005 (PAK, USA)",
            "person pak-officer belongs to PAK, not to the requesting party GBR",
            // And a label not releasable to a party goes to nobody asking through it.
            "requesting party GBR is not in Releasable To (USA, PAK)",
        ]
    );
    let d = run(&p, &l, a, "USA", IN_2010);
    assert_eq!(
        texts(&d),
        vec!["person pak-officer belongs to PAK, not to the requesting party USA"]
    );
    // A PAK person cleared under the USA policy is not cleared under PAK's national policy.
    p.clearance = clearance(
        "USA",
        "SECRET",
        &[("Releasable To", "PAK"), ("Scope", "EXERCISES")],
    );
    let d = run(&p, &l, a, "PAK", IN_2010);
    assert_eq!(
        texts(&d),
        vec!["person pak-officer's clearance is under policy USA, not PAK's national policy PAK"]
    );
}

#[test]
fn rule_scope() {
    let p = pak_officer();
    let a = &agreements().signed;
    let l = label(
        "USA",
        "SECRET",
        &[("Releasable To", "PAK"), ("Scope", "BASING")],
    );
    let d = run(&p, &l, a, "PAK", IN_2010);
    let got = texts(&d);
    assert!(
        got.contains(&"scope BASING is not covered by the agreement (EXERCISES, TRAINING)"),
        "{got:#?}"
    );
    assert!(
        got.contains(
            &"scope BASING is not among person pak-officer's scopes (EXERCISES, TRAINING)"
        ),
        "{got:#?}"
    );
    // Scope is restrictive in both national policies: the clearance check fails too.
    assert_eq!(
        d.failed_rules(),
        vec![Rule::AgreementScope, Rule::PersonScope, Rule::Clearance]
    );
    // A label without a scope is outside every agreement.
    let l = label("USA", "SECRET", &[("Releasable To", "PAK")]);
    let d = run(&p, &l, a, "PAK", IN_2010);
    assert_eq!(texts(&d), vec!["the label has no Scope; agreement CISMOA-2005 covers only exchanges within its scopes (EXERCISES, TRAINING)"]);
}

#[test]
fn rule_ceiling() {
    let mut p = pak_officer();
    p.clearance = clearance(
        "PAK",
        "TOP SECRET",
        &[("Releasable To", "PAK"), ("Scope", "EXERCISES")],
    );
    let a = &agreements().signed;
    let l = label(
        "USA",
        "TOP SECRET",
        &[("Releasable To", "PAK"), ("Scope", "EXERCISES")],
    );
    let d = run(&p, &l, a, "PAK", IN_2010);
    assert_eq!(
        texts(&d),
        vec!["classification TOP SECRET is above the agreement's ceiling SECRET"]
    );
    // No ceiling: permitted.
    let pak_label = label(
        "PAK",
        "TOP SECRET",
        &[("Releasable To", "PAK"), ("Scope", "EXERCISES")],
    );
    assert!(run(&p, &pak_label, &agreements().wide, "PAK", IN_2010).permit);
}

#[test]
fn rule_translation() {
    let p = pak_officer();
    // WIDE-2005 provides only PAK -> USA; a USA label cannot reach a PAK person.
    let d = run(&p, &usa_report(), &agreements().wide, "PAK", IN_2010);
    assert_eq!(
        texts(&d),
        vec!["agreement WIDE-2005 provides no translation from policy USA into policy PAK"]
    );
    // PAK RESTRICTED translates to USA CONFIDENTIAL for a USA person.
    let usa_person = Person {
        id: "usa-officer".into(),
        name: "Col. J. Smith".into(),
        party: "USA".into(),
        nationality: "USA".into(),
        clearance: clearance(
            "USA",
            "CONFIDENTIAL",
            &[("Releasable To", "USA"), ("Scope", "TRAINING")],
        ),
        scopes: vec![Scope::Training],
        status: PersonStatus::Active,
    };
    let l = label(
        "PAK",
        "RESTRICTED",
        &[("Releasable To", "USA"), ("Scope", "TRAINING")],
    );
    let d = run(&usa_person, &l, &agreements().wide, "USA", IN_2010);
    assert!(d.permit, "{:#?}", d.reasons);
}

#[test]
fn rule_clearance() {
    let p = pak_officer();
    let a = &agreements().signed;
    let l = label(
        "USA",
        "SECRET",
        &[
            ("Special Handling", "ORCON"),
            ("Releasable To", "PAK"),
            ("Scope", "EXERCISES"),
        ],
    );
    let d = run(&p, &l, a, "PAK", IN_2010);
    assert_eq!(d.failed_rules(), vec![Rule::Clearance]);
    assert!(
        texts(&d)[0].starts_with("person pak-officer's clearance"),
        "{:?}",
        texts(&d)
    );
    assert!(texts(&d)[0].contains("ORCON"), "{:?}", texts(&d));
    let l = label(
        "USA",
        "CONFIDENTIAL",
        &[("Releasable To", "PAK"), ("Scope", "EXERCISES")],
    );
    let mut low = pak_officer();
    low.clearance = clearance(
        "PAK",
        "RESTRICTED",
        &[("Releasable To", "PAK"), ("Scope", "EXERCISES")],
    );
    let d = run(&low, &l, a, "PAK", IN_2010);
    assert_eq!(d.failed_rules(), vec![Rule::Clearance]);
}

#[test]
fn rule_releasability() {
    let mut p = pak_officer();
    p.nationality = "GBR".into();
    let a = &agreements().signed;
    let d = run(&p, &usa_report(), a, "PAK", IN_2010);
    assert_eq!(d.failed_rules(), vec![Rule::Releasability]);
    let got = texts(&d)[0];
    assert!(
        got == "person's nationality GBR is not in Releasable To (PAK, USA)"
            || got == "person's nationality GBR is not in Releasable To (USA, PAK)",
        "{got}"
    );
    // No Releasable To: national to its originator only.
    let l = label("USA", "SECRET", &[("Scope", "EXERCISES")]);
    let d = run(&pak_officer(), &l, a, "PAK", IN_2010);
    assert_eq!(
        texts(&d),
        vec!["the label has no Releasable To, so it is not releasable to nationality PAK"]
    );
    let pak_label = label("PAK", "SECRET", &[("Scope", "EXERCISES")]);
    assert!(run(&pak_officer(), &pak_label, a, "PAK", IN_2010).permit);
}

#[test]
fn rule_person_active() {
    let mut p = pak_officer();
    p.status = PersonStatus::Suspended;
    let d = run(&p, &usa_report(), &agreements().signed, "PAK", IN_2010);
    assert_eq!(texts(&d), vec!["person pak-officer is suspended"]);
}

#[test]
fn every_reason_that_applies_is_given() {
    let mut p = pak_officer();
    p.status = PersonStatus::Suspended;
    p.nationality = "GBR".into();
    let l = label(
        "USA",
        "TOP SECRET",
        &[("Releasable To", "USA"), ("Scope", "BASING")],
    );
    let d = run(&p, &l, &agreements().signed, "USA", "2021-01-01T00:00:00Z");
    assert_eq!(
        d.failed_rules(),
        vec![
            Rule::AgreementInForce,
            Rule::PersonParty,
            Rule::AgreementScope,
            Rule::PersonScope,
            Rule::Ceiling,
            Rule::Clearance,
            Rule::Clearance,
            Rule::Clearance,
            Rule::Releasability,
            Rule::PersonActive
        ]
    );
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
                wrapping: Wrapping::PostQuantum,
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
