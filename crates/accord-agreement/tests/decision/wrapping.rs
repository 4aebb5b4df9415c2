//! Rule `classical-wrapping`: a key wrapped classically (an OpenTDF client) is released
//! only up to the node's ceiling for classical key wrapping, the label's classification
//! translated into the node's national policy; under an agreement and nationally alike,
//! with every other rule still checked, and a post-quantum wrapping unaffected.

use crate::common::t;
use crate::fixtures::{agreements, clearance, label, pak_officer, policies, IN_2010};
use accord_agreement::decision::Rule;
use accord_agreement::{
    decide, decide_national, Checked, Decision, NationalRequest, Person, PersonStatus, Request,
    Scope, Wrapping,
};
use accord_spif::{Label, Policy, PolicySet};

const ABOVE: &str = "use an Accord client, whose return key is post-quantum";

fn classical<'a>(ceiling: &'a str, policy: &'a str) -> Wrapping<'a> {
    Wrapping::Classical { ceiling, policy }
}

fn usa_officer() -> Person {
    Person {
        id: "usa-officer".into(),
        name: "Captain J. Doe".into(),
        party: "USA".into(),
        nationality: "USA".into(),
        clearance: clearance(
            "USA",
            "TOP SECRET",
            &[
                ("Releasable To", "USA"),
                ("Scope", "EXERCISES"),
                ("Scope", "TRAINING"),
            ],
        ),
        scopes: vec![Scope::Exercises, Scope::Training],
        status: PersonStatus::Active,
    }
}

/// Under CISMOA-2005 (in force in 2010, ceiling SECRET, both translations).
fn under(set: &PolicySet, person: &Person, label: &Label, wrapping: Wrapping<'_>) -> Decision {
    decide(
        set,
        &Request {
            person,
            label,
            agreement: &Checked::new(&agreements().signed),
            requesting_party: &person.party,
            dissem: &[],
            at: t(IN_2010),
            wrapping,
        },
    )
}

/// Nationally, at the person's own party.
fn national(set: &PolicySet, person: &Person, label: &Label, wrapping: Wrapping<'_>) -> Decision {
    decide_national(
        set,
        &NationalRequest {
            person,
            label,
            party: &person.party,
            national_policy: &person.party,
            requesting_party: &person.party,
            dissem: &[],
            wrapping,
        },
    )
}

/// The rule's reasons, permitting or denying.
fn wrapping_reasons(d: &Decision) -> Vec<&str> {
    d.reasons
        .iter()
        .filter(|r| r.rule == Rule::ClassicalWrapping)
        .map(|r| r.text.as_str())
        .collect()
}

/// Denied by this rule alone, with the reason `want`.
fn assert_only_wrapping_denies(d: &Decision, want: &str) {
    assert!(!d.permit, "{:#?}", d.reasons);
    assert_eq!(
        d.failed_rules(),
        vec![Rule::ClassicalWrapping],
        "{:#?}",
        d.reasons
    );
    assert_eq!(wrapping_reasons(d), vec![want]);
}

fn usa_label(cls: &str) -> Label {
    label(
        "USA",
        cls,
        &[
            ("Releasable To", "USA"),
            ("Releasable To", "PAK"),
            ("Scope", "EXERCISES"),
        ],
    )
}

fn pak_label(cls: &str) -> Label {
    label(
        "PAK",
        cls,
        &[
            ("Releasable To", "PAK"),
            ("Releasable To", "USA"),
            ("Scope", "EXERCISES"),
        ],
    )
}

#[test]
fn permits_at_and_below_the_ceiling_and_denies_above_under_an_agreement() {
    let set = policies();
    let p = usa_officer();
    // In the label's own policy: USA labels, USA's ceiling.
    for (cls, ceiling) in [
        ("UNCLASSIFIED", "CONFIDENTIAL"),
        ("CONFIDENTIAL", "CONFIDENTIAL"),
        ("SECRET", "SECRET"),
    ] {
        let d = under(set, &p, &usa_label(cls), classical(ceiling, "USA"));
        assert!(d.permit, "{cls} under {ceiling}: {:#?}", d.reasons);
        assert_eq!(
            wrapping_reasons(&d),
            vec![format!(
                "{cls} is within this node's ceiling for classical key wrapping ({ceiling})"
            )]
        );
    }
    let d = under(
        set,
        &p,
        &usa_label("SECRET"),
        classical("CONFIDENTIAL", "USA"),
    );
    assert_only_wrapping_denies(
        &d,
        &format!("SECRET is above this node's ceiling for classical key wrapping (CONFIDENTIAL): {ABOVE}"),
    );
    // The ceiling as the national policy writes it, whatever the configuration's case.
    let d = under(
        set,
        &p,
        &usa_label("SECRET"),
        classical("confidential", "usa"),
    );
    assert_only_wrapping_denies(
        &d,
        &format!("SECRET is above this node's ceiling for classical key wrapping (CONFIDENTIAL): {ABOVE}"),
    );
}

/// The label's classification is translated into the national policy the ceiling is
/// written in, and named as that policy writes it: PAK's RESTRICTED is USA's
/// CONFIDENTIAL; USA's CONFIDENTIAL is PAK's CONFIDENTIAL, above PAK's RESTRICTED.
#[test]
fn the_classification_is_translated_into_the_national_policy() {
    let set = policies();
    let usa = usa_officer();
    let d = under(
        set,
        &usa,
        &pak_label("RESTRICTED"),
        classical("CONFIDENTIAL", "USA"),
    );
    assert!(d.permit, "{:#?}", d.reasons);
    assert_eq!(
        wrapping_reasons(&d),
        vec![
            "CONFIDENTIAL is within this node's ceiling for classical key wrapping (CONFIDENTIAL)"
        ]
    );
    let d = under(
        set,
        &usa,
        &pak_label("SECRET"),
        classical("CONFIDENTIAL", "USA"),
    );
    assert_only_wrapping_denies(
        &d,
        &format!("SECRET is above this node's ceiling for classical key wrapping (CONFIDENTIAL): {ABOVE}"),
    );
    let pak = pak_officer();
    let d = under(
        set,
        &pak,
        &usa_label("CONFIDENTIAL"),
        classical("RESTRICTED", "PAK"),
    );
    assert_only_wrapping_denies(
        &d,
        &format!("CONFIDENTIAL is above this node's ceiling for classical key wrapping (RESTRICTED): {ABOVE}"),
    );
    let d = under(
        set,
        &pak,
        &usa_label("CONFIDENTIAL"),
        classical("CONFIDENTIAL", "PAK"),
    );
    assert!(d.permit, "{:#?}", d.reasons);
}

#[test]
fn the_national_decision_has_the_rule_too() {
    let set = policies();
    let p = usa_officer();
    let mine = |cls: &str| label("USA", cls, &[("Releasable To", "USA")]);
    for cls in ["UNCLASSIFIED", "CONFIDENTIAL"] {
        let d = national(set, &p, &mine(cls), classical("CONFIDENTIAL", "USA"));
        assert!(d.permit, "{cls}: {:#?}", d.reasons);
        assert_eq!(wrapping_reasons(&d).len(), 1);
    }
    let d = national(
        set,
        &p,
        &mine("TOP SECRET"),
        classical("CONFIDENTIAL", "USA"),
    );
    assert_only_wrapping_denies(
        &d,
        &format!("TOP SECRET is above this node's ceiling for classical key wrapping (CONFIDENTIAL): {ABOVE}"),
    );
    // Every reason is still given: a suspended person is refused for that too.
    let mut suspended = usa_officer();
    suspended.status = PersonStatus::Suspended;
    let d = national(
        set,
        &suspended,
        &mine("SECRET"),
        classical("CONFIDENTIAL", "USA"),
    );
    assert_eq!(
        d.failed_rules(),
        vec![Rule::ClassicalWrapping, Rule::PersonActive]
    );
}

/// Nothing unranked is released: a label whose classification does not translate into
/// the national policy, a ceiling that is not a classification of it, a national policy
/// not loaded.
#[test]
fn what_cannot_be_ranked_is_denied() {
    // PAK's RESTRICTED without its equivalent in USA.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
    let pak = std::fs::read_to_string(dir.join("pak.xml")).unwrap();
    let line = r#"<equivalentClassification policyRef="USA" lacv="3" applied="encrypt"/>"#;
    assert!(pak.contains(line));
    let mut broken = PolicySet::new();
    broken
        .add(Policy::from_xml("pak.xml", pak.replacen(line, "", 1).as_bytes()).unwrap())
        .unwrap();
    broken.load_path(&dir.join("usa.xml")).unwrap();
    let p = usa_officer();
    let restricted = label("PAK", "RESTRICTED", &[("Releasable To", "USA")]);
    let d = under(&broken, &p, &restricted, classical("TOP SECRET", "USA"));
    assert!(!d.permit);
    assert!(d.failed_rules().contains(&Rule::ClassicalWrapping));
    let why = wrapping_reasons(&d);
    assert_eq!(why.len(), 1);
    assert!(
        why[0].starts_with("classification RESTRICTED of policy PAK does not translate into this node's national policy USA, so it cannot be ranked against this node's ceiling for classical key wrapping (TOP SECRET): "),
        "{}",
        why[0]
    );
    assert!(why[0].contains("has no equivalent"), "{}", why[0]);
    // The same label, post-quantum, is not refused by this rule.
    let d = under(&broken, &p, &restricted, Wrapping::PostQuantum);
    assert!(!d.failed_rules().contains(&Rule::ClassicalWrapping));

    // A ceiling the national policy does not define (RESTRICTED is PAK's, not USA's).
    let set = policies();
    for l in [usa_label("UNCLASSIFIED"), pak_label("UNCLASSIFIED")] {
        let d = under(set, &p, &l, classical("RESTRICTED", "USA"));
        assert_only_wrapping_denies(
            &d,
            "this node's ceiling for classical key wrapping is configured as RESTRICTED, which is not a classification of its national policy USA: the ceiling is unknown, so nothing is released through classical key wrapping",
        );
    }
    // Whatever the label, even one that does not translate.
    let d = under(&broken, &p, &restricted, classical("RESTRICTED", "USA"));
    assert!(wrapping_reasons(&d)[0].contains("the ceiling is unknown"));
    let d = national(
        set,
        &p,
        &usa_label("UNCLASSIFIED"),
        classical("ULTRA", "USA"),
    );
    assert_eq!(d.failed_rules(), vec![Rule::ClassicalWrapping]);
    assert!(wrapping_reasons(&d)[0].contains("the ceiling is unknown"));

    // A national policy that is not loaded.
    let d = under(
        set,
        &p,
        &usa_label("UNCLASSIFIED"),
        classical("CONFIDENTIAL", "GBR"),
    );
    assert_only_wrapping_denies(
        &d,
        "this node's national policy GBR is not loaded, so the label cannot be ranked against this node's ceiling for classical key wrapping (CONFIDENTIAL)",
    );
}

/// A post-quantum wrapping adds no reason and changes no verdict.
#[test]
fn post_quantum_is_unaffected() {
    let set = policies();
    let p = usa_officer();
    for cls in ["UNCLASSIFIED", "CONFIDENTIAL", "SECRET", "TOP SECRET"] {
        for d in [
            under(set, &p, &usa_label(cls), Wrapping::PostQuantum),
            national(
                set,
                &p,
                &label("USA", cls, &[("Releasable To", "USA")]),
                Wrapping::PostQuantum,
            ),
        ] {
            assert!(wrapping_reasons(&d).is_empty(), "{:#?}", d.reasons);
        }
    }
    // SECRET is within CISMOA's ceiling and the officer's clearance: permitted
    // post-quantum, refused classically under CONFIDENTIAL; TOP SECRET is above the
    // agreement's ceiling either way, and classically above this node's too.
    assert!(under(set, &p, &usa_label("SECRET"), Wrapping::PostQuantum).permit);
    let d = under(set, &p, &usa_label("TOP SECRET"), Wrapping::PostQuantum);
    assert_eq!(d.failed_rules(), vec![Rule::Ceiling]);
    let d = under(
        set,
        &p,
        &usa_label("TOP SECRET"),
        classical("CONFIDENTIAL", "USA"),
    );
    assert_eq!(
        d.failed_rules(),
        vec![Rule::Ceiling, Rule::ClassicalWrapping]
    );
}
