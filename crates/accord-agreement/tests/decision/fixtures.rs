//! What the tests decide with: the national policies, the agreements (signed once), and
//! the people, labels and requests built from them.

use crate::common::{t, Fixture};
use accord_agreement::{
    decide, Agreement, Checked, Decision, Person, PersonStatus, Request, Scope, Wrapping,
};
use accord_spif::{Clearance, Label, PolicySet};
use std::sync::OnceLock;

pub(crate) fn policies() -> &'static PolicySet {
    static SET: OnceLock<PolicySet> = OnceLock::new();
    SET.get_or_init(|| {
        let mut set = PolicySet::new();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
        set.load_path(&dir).unwrap();
        set
    })
}

/// The agreements the tests decide under, signed once.
pub(crate) struct Agreements {
    /// CISMOA-2005: EXERCISES + TRAINING, ceiling SECRET, both translations,
    /// countersigned 2005-09-21, in force 2005-10-01 .. 2020-10-01.
    pub(crate) signed: Agreement,
    /// The same, terminated by PAK with effect from 2012-01-01 (notice 2011-06-01).
    pub(crate) terminated: Agreement,
    /// Approved by PAK only.
    pub(crate) draft: Agreement,
    /// Every scope, no ceiling, only the PAK -> USA translation; otherwise as `signed`.
    pub(crate) wide: Agreement,
    /// `signed` with one byte of its title changed.
    pub(crate) tampered: Agreement,
}

pub(crate) fn agreements() -> &'static Agreements {
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

pub(crate) fn clearance(policy: &str, top: &str, cats: &[(&str, &str)]) -> Clearance {
    let p = policies().find(policy).unwrap();
    let mut c = Clearance::up_to(p, top).unwrap();
    for (ts, v) in cats {
        c.add_category(p, ts, v).unwrap();
    }
    c
}

pub(crate) fn label(policy: &str, cls: &str, cats: &[(&str, &str)]) -> Label {
    let p = policies().find(policy).unwrap();
    let mut l = Label::new(p, cls).unwrap();
    for (ts, v) in cats {
        l.add_category(p, ts, v).unwrap();
    }
    l
}

pub(crate) fn pak_officer() -> Person {
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

pub(crate) fn usa_report() -> Label {
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

pub(crate) fn run(
    person: &Person,
    label: &Label,
    agreement: &Agreement,
    party: &str,
    at: &str,
) -> Decision {
    decide(
        policies(),
        &Request {
            person,
            label,
            agreement: &Checked::new(agreement),
            requesting_party: party,
            dissem: &[],
            at: t(at),
            wrapping: Wrapping::PostQuantum,
        },
    )
}

pub(crate) fn texts(d: &Decision) -> Vec<&str> {
    d.reasons.iter().map(|r| r.text.as_str()).collect()
}

pub(crate) const IN_2010: &str = "2010-01-01T00:00:00Z";
