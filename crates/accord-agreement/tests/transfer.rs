//! The party-level decision on an exchange between nodes: each rule refuses with its
//! reason, and every reason that applies is given.

mod common;
use accord_agreement::decision::Rule;
use accord_agreement::*;
use accord_spif::{Label, PolicySet};
use common::*;
use std::sync::OnceLock;

fn policies() -> &'static PolicySet {
    static SET: OnceLock<PolicySet> = OnceLock::new();
    SET.get_or_init(|| {
        let mut set = PolicySet::new();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
        set.load_path(&dir).unwrap();
        set
    })
}

fn label(policy: &str, cls: &str, cats: &[(&str, &str)]) -> Label {
    let p = policies().find(policy).unwrap();
    let mut l = Label::new(p, cls).unwrap();
    for (ts, v) in cats {
        l.add_category(p, ts, v).unwrap();
    }
    l
}

fn run(l: &Label, a: &Agreement, from: &str, to: &str, at: &str) -> Decision {
    admit(
        policies(),
        &Transfer {
            label: l,
            agreement: &Checked::new(a),
            from,
            to,
            at: t(at),
        },
    )
}

fn rules(d: &Decision) -> Vec<Rule> {
    d.reasons.iter().map(|r| r.rule).collect()
}

const IN_2010: &str = "2010-01-01T00:00:00Z";

#[test]
fn an_exchange_within_the_agreement_is_admitted() {
    let a = Fixture::new().cismoa_signed();
    let l = label(
        "PAK",
        "SECRET",
        &[
            ("Releasable To", "USA"),
            ("Releasable To", "PAK"),
            ("Scope", "EXERCISES"),
        ],
    );
    let d = run(&l, &a, "PAK", "USA", IN_2010);
    assert!(d.permit, "{:#?}", d.reasons);
    for r in [
        Rule::AgreementInForce,
        Rule::RequestingParty,
        Rule::AgreementScope,
        Rule::Ceiling,
        Rule::Translation,
        Rule::Releasability,
    ] {
        assert!(rules(&d).contains(&r), "{r:?} missing");
    }
}

#[test]
fn each_rule_refuses_with_its_reason() {
    let f = Fixture::new();
    let a = f.cismoa_signed();
    let ok = [("Releasable To", "USA"), ("Scope", "EXERCISES")];
    // Expired.
    let l = label("PAK", "SECRET", &ok);
    let d = run(&l, &a, "PAK", "USA", "2030-01-01T00:00:00Z");
    assert_eq!(rules(&d), vec![Rule::AgreementInForce]);
    // A third party.
    let d = run(&l, &a, "PAK", "GBR", IN_2010);
    assert!(!d.permit);
    assert!(d.reasons.iter().any(|r| r.rule == Rule::RequestingParty
        && r.text.contains("receiving party GBR is not a party")));
    // Not releasable to the receiver.
    let l = label(
        "PAK",
        "SECRET",
        &[("Releasable To", "PAK"), ("Scope", "EXERCISES")],
    );
    let d = run(&l, &a, "PAK", "USA", IN_2010);
    assert_eq!(rules(&d), vec![Rule::Releasability]);
    assert_eq!(d.reasons[0].text, "USA is not in Releasable To (PAK)");
    // Above the ceiling, outside the scopes: both reasons.
    let l = label(
        "PAK",
        "TOP SECRET",
        &[("Releasable To", "USA"), ("Scope", "OPERATIONS")],
    );
    let d = run(&l, &a, "PAK", "USA", IN_2010);
    assert_eq!(rules(&d), vec![Rule::AgreementScope, Rule::Ceiling]);
    // Terminated.
    let mut term = f.cismoa_signed();
    term.terminate(&f.pak, t("2008-01-01T00:00:00Z"), t("2007-06-01T00:00:00Z"))
        .unwrap();
    let l = label("PAK", "SECRET", &ok);
    let d = run(&l, &term, "PAK", "USA", IN_2010);
    assert_eq!(rules(&d), vec![Rule::AgreementInForce]);
}
