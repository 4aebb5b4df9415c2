//! The full decision: a table test per rule, and a property test over thousands of
//! generated (person, label, agreement, time) cases against a reference model written
//! independently here (its own classification tables, its own status arithmetic).

mod common;
use accord_agreement::decision::Rule;
use accord_agreement::*;
use accord_spif::{Clearance, Label, PolicySet};
use common::*;
use proptest::prelude::*;
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

/// The agreements the tests decide under, signed once.
struct Agreements {
    /// CISMOA-2005: EXERCISES + TRAINING, ceiling SECRET, both translations,
    /// countersigned 2005-09-21, in force 2005-10-01 .. 2020-10-01.
    signed: Agreement,
    /// The same, terminated by PAK with effect from 2012-01-01 (notice 2011-06-01).
    terminated: Agreement,
    /// Approved by PAK only.
    draft: Agreement,
    /// Every scope, no ceiling, only the PAK -> USA translation; otherwise as `signed`.
    wide: Agreement,
    /// `signed` with one byte of its title changed.
    tampered: Agreement,
}

fn agreements() -> &'static Agreements {
    static A: OnceLock<Agreements> = OnceLock::new();
    A.get_or_init(|| {
        let f = Fixture::new();
        let signed = f.cismoa_signed();
        let mut terminated = f.cismoa_signed();
        terminated
            .terminate(&f.pak, t("2012-01-01T00:00:00Z"), t("2011-06-01T00:00:00Z"))
            .unwrap();
        let mut draft = f.cismoa_2005();
        draft
            .approve(&f.pak, "summary", t("2005-09-01T00:00:00Z"))
            .unwrap();
        let mut body = f.cismoa_2005().body;
        body.id = "WIDE-2005".into();
        body.scopes = Scope::ALL.to_vec();
        body.ceiling = None;
        body.translations.retain(|t| t.from == "PAK");
        let mut wide = Agreement::draft(body).unwrap();
        wide.approve(&f.pak, "s", t("2005-09-01T00:00:00Z"))
            .unwrap();
        wide.approve(&f.usa, "s", t("2005-09-02T00:00:00Z"))
            .unwrap();
        wide.sign(&f.pak, t("2005-09-20T00:00:00Z")).unwrap();
        wide.sign(&f.usa, t("2005-09-21T00:00:00Z")).unwrap();
        let mut tampered = f.cismoa_signed();
        tampered.body.title.replace_range(0..1, "X");
        Agreements {
            signed,
            terminated,
            draft,
            wide,
            tampered,
        }
    })
}

fn clearance(policy: &str, top: &str, cats: &[(&str, &str)]) -> Clearance {
    let p = policies().find(policy).unwrap();
    let mut c = Clearance::up_to(p, top).unwrap();
    for (ts, v) in cats {
        c.add_category(p, ts, v).unwrap();
    }
    c
}

fn label(policy: &str, cls: &str, cats: &[(&str, &str)]) -> Label {
    let p = policies().find(policy).unwrap();
    let mut l = Label::new(p, cls).unwrap();
    for (ts, v) in cats {
        l.add_category(p, ts, v).unwrap();
    }
    l
}

fn pak_officer() -> Person {
    Person {
        id: "pak-officer".into(),
        name: "Major A. Khan".into(),
        party: "PAK".into(),
        nationality: "PAK".into(),
        clearance: clearance(
            "PAK",
            "SECRET",
            &[
                ("Releasable To", "PAK"),
                ("Scope", "EXERCISES"),
                ("Scope", "TRAINING"),
            ],
        ),
        scopes: vec![Scope::Exercises, Scope::Training],
        status: PersonStatus::Active,
    }
}

fn usa_report() -> Label {
    label(
        "USA",
        "SECRET",
        &[
            ("Releasable To", "USA"),
            ("Releasable To", "PAK"),
            ("Scope", "EXERCISES"),
        ],
    )
}

fn run(person: &Person, label: &Label, agreement: &Agreement, party: &str, at: &str) -> Decision {
    decide(
        policies(),
        &Request {
            person,
            label,
            agreement: &Checked::new(agreement),
            requesting_party: party,
            dissem: &[],
            at: t(at),
        },
    )
}

fn texts(d: &Decision) -> Vec<&str> {
    d.reasons.iter().map(|r| r.text.as_str()).collect()
}

const IN_2010: &str = "2010-01-01T00:00:00Z";

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

#[test]
fn person_json_round_trip_and_errors() {
    let json =
        br#"{"id": "pak-officer", "name": "Major A. Khan", "party": "PAK", "nationality": "PAK",
        "clearance": {"policy": {"name": "PAK"}, "classifications": ["SECRET"],
                      "categories": [{"tagSet": "Releasable To", "values": ["PAK"]}]},
        "scopes": ["EXERCISES"], "status": "active"}"#;
    let p = PersonFile::from_json(json)
        .unwrap()
        .into_person(policies(), None)
        .unwrap();
    assert_eq!(p.clearance.policy.name, "PAK");
    let bad = |s: &str, want: &str| {
        let e = PersonFile::from_json(s.as_bytes())
            .and_then(|f| f.into_person(policies(), None))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "want {want:?}, got {e:?}");
    };
    let ok =
        r#""id": "x", "name": "n", "party": "PAK", "nationality": "PAK", "clearance": "c.json""#;
    bad(
        &format!("{{{ok}, \"scopes\": [], \"status\": \"retired\"}}"),
        "field `status`: \"retired\": expected \"active\" or \"suspended\"",
    );
    bad(
        &format!("{{{ok}, \"scopes\": [\"SPYING\"], \"status\": \"active\"}}"),
        "field `scopes[0]`: unknown scope",
    );
    bad(
        &format!("{{{ok}, \"status\": \"active\", \"rank\": 3}}"),
        "field `rank`: unknown field",
    );
    bad(
        r#"{"id": "x", "name": "n", "party": "pak"}"#,
        "field `party`: \"pak\" is not an ISO 3166 trigraph",
    );
    bad(
        &format!("{{{ok}, \"status\": \"active\"}}"),
        "field `clearance`: the clearance file c.json was not read",
    );
    bad(
        r#"{"id": "x", "name": "n", "party": "PAK", "nationality": "PAK", "clearance": {"policy": {"name": "PAK"}, "classifications": ["ULTRA"]}, "status": "active"}"#,
        "field `clearance`",
    );
}

// ------------------------------------------------------------------ property test

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
