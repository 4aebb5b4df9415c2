//! The reference model, written independently of the library: its own classification
//! tables of the two national policies (`model`) and its own status arithmetic, giving
//! the set of rules a case must fail (`expected`).

use crate::cases::Case;
use crate::common::t;
use accord_agreement::decision::Rule;
use accord_agreement::Scope;

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

pub(crate) fn cls_name(policy: &str, i: usize) -> &'static str {
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
pub(crate) fn expected(c: &Case) -> Vec<Rule> {
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
