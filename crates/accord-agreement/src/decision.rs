//! The full access decision: may this person, asking through this party, see what this
//! label protects, under this agreement, at this time?
//!
//! One pure function, [`decide`]: no clock, no files, no network: everything it needs is
//! an argument, so a decision can be replayed and audited. It checks every rule and
//! returns every reason that applies, never just the first:
//!
//! 1. the agreement verifies and is in force at that time;
//! 2. the requesting party is a party to the agreement;
//! 3. the person belongs to the requesting party (a party decides only for its people),
//!    and their clearance is under that party's national policy;
//! 4. the label's scope is among the agreement's scopes (and among the person's);
//! 5. the label's classification is within the agreement's ceiling;
//! 6. the label translates into the person's national policy, and the agreement provides
//!    for that translation (no translation, no access);
//! 7. the SPIF access decision on the translated label permits the clearance;
//! 8. the label is releasable to the person's nationality;
//! 9. the person is active, not suspended.

use crate::lifecycle::{Checked, Status};
use crate::{Scope, Time};
use accord_spif::{Clearance, Label, PolicySet};
use serde::Serialize;

/// The tag set that names what a label's content is about (EXERCISES, ...).
pub const SCOPE_TAG_SET: &str = "Scope";
/// The permissive tag set listing the nationalities a label is releasable to.
pub const RELEASABLE_TO_TAG_SET: &str = "Releasable To";

/// Whether a person may currently be granted anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PersonStatus {
    /// Enrolled and in good standing.
    Active,
    /// Suspended: every request is denied.
    Suspended,
}

/// A person enrolled by a party (the parsed `PERSON.json`, clearance resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Stable identifier (`usa-officer`).
    pub id: String,
    /// Name for people.
    pub name: String,
    /// The party that enrolled the person (trigraph).
    pub party: String,
    /// The person's nationality (trigraph).
    pub nationality: String,
    /// The clearance, under the party's national policy.
    pub clearance: Clearance,
    /// The scopes the person works in.
    pub scopes: Vec<Scope>,
    /// Active or suspended.
    pub status: PersonStatus,
}

/// Which rule a reason is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The agreement verifies and is in force.
    AgreementInForce,
    /// The requesting party is a party to the agreement.
    RequestingParty,
    /// The person belongs to the requesting party, cleared under its national policy.
    PersonParty,
    /// The label's scopes are covered by the agreement.
    AgreementScope,
    /// The label's scopes are among the person's.
    PersonScope,
    /// The classification is within the ceiling.
    Ceiling,
    /// The label translates into the person's national policy.
    Translation,
    /// The SPIF access decision permits.
    Clearance,
    /// The label is releasable to the person's nationality.
    Releasability,
    /// The person is active.
    PersonActive,
}

/// One reason, with the rule it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// The rule.
    pub rule: Rule,
    /// The reason in words.
    pub text: String,
}

/// Permit or deny, with reasons: on deny, every rule that failed; on permit, what was
/// checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// True when access is permitted.
    pub permit: bool,
    /// The reasons.
    pub reasons: Vec<Reason>,
}

impl Decision {
    /// `permit` or `deny`.
    pub fn word(&self) -> &'static str {
        if self.permit {
            "permit"
        } else {
            "deny"
        }
    }

    /// The rules that failed (empty on permit).
    pub fn failed_rules(&self) -> Vec<Rule> {
        if self.permit {
            Vec::new()
        } else {
            self.reasons.iter().map(|r| r.rule).collect()
        }
    }
}

/// What is asked: who, what, under which agreement, through which party, when.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The person asking.
    pub person: &'a Person,
    /// The object's label, under its originator's policy.
    pub label: &'a Label,
    /// The agreement the exchange falls under, verified once ([`Checked::new`]).
    pub agreement: &'a Checked<'a>,
    /// The party asking on the person's behalf (trigraph).
    pub requesting_party: &'a str,
    /// The time of the request.
    pub at: Time,
}

fn list(items: &[&str]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// Decide, checking every rule; see the module documentation for the rules.
pub fn decide(policies: &PolicySet, req: &Request<'_>) -> Decision {
    let Request {
        person,
        label,
        agreement: checked,
        requesting_party,
        at,
    } = *req;
    let body = &checked.agreement().body;
    let id = &body.id;
    let mut deny: Vec<Reason> = Vec::new();
    let mut ok: Vec<Reason> = Vec::new();
    let say = |list: &mut Vec<Reason>, rule: Rule, text: String| list.push(Reason { rule, text });

    // 1. In force.
    check_in_force(checked, at, &mut ok, &mut deny);

    // 2. Requesting party.
    let party = body.party(requesting_party);
    if party.is_none() {
        say(
            &mut deny,
            Rule::RequestingParty,
            format!(
                "requesting party {requesting_party} is not a party to agreement {id} ({})",
                body.party_codes()
            ),
        );
    } else {
        say(
            &mut ok,
            Rule::RequestingParty,
            format!("requesting party {requesting_party} is a party to agreement {id}"),
        );
    }

    // 3. The person belongs to the requesting party, cleared under its policy.
    let pid = &person.id;
    let mut person_ok = true;
    if person.party != requesting_party {
        person_ok = false;
        say(
            &mut deny,
            Rule::PersonParty,
            format!(
                "person {pid} belongs to {}, not to the requesting party {requesting_party}",
                person.party
            ),
        );
    }
    if let Some(p) = body.party(&person.party) {
        match policies.get(&p.policy) {
            Some(national) if national.id == person.clearance.policy.id => {}
            Some(national) => {
                person_ok = false;
                say(
                    &mut deny,
                    Rule::PersonParty,
                    format!(
                        "person {pid}'s clearance is under policy {}, not {}'s national policy {}",
                        person.clearance.policy.name, p.code, national.name
                    ),
                );
            }
            None => {
                person_ok = false;
                say(
                    &mut deny,
                    Rule::PersonParty,
                    format!("{}'s national policy {} is not loaded", p.code, p.policy),
                );
            }
        }
    }
    if person_ok {
        say(
            &mut ok,
            Rule::PersonParty,
            format!("person {pid} is enrolled by {requesting_party}"),
        );
    }

    // 4. Scope.
    let label_scopes: Vec<&str> = label.values(SCOPE_TAG_SET);
    if label_scopes.is_empty() {
        say(
            &mut deny,
            Rule::AgreementScope,
            format!(
                "the label has no {SCOPE_TAG_SET}; agreement {id} covers only exchanges within its scopes ({})",
                body.scope_names()
            ),
        );
    }
    let mut scope_ok = !label_scopes.is_empty();
    let mut person_scope_ok = !label_scopes.is_empty();
    for s in &label_scopes {
        let scope = Scope::parse(&s.to_ascii_uppercase());
        if !scope.is_some_and(|x| body.scopes.contains(&x)) {
            scope_ok = false;
            say(
                &mut deny,
                Rule::AgreementScope,
                format!(
                    "scope {s} is not covered by the agreement ({})",
                    body.scope_names()
                ),
            );
        }
        if !scope.is_some_and(|x| person.scopes.contains(&x)) {
            person_scope_ok = false;
            let theirs: Vec<&str> = person.scopes.iter().map(|x| x.as_str()).collect();
            say(
                &mut deny,
                Rule::PersonScope,
                format!(
                    "scope {s} is not among person {pid}'s scopes ({})",
                    list(&theirs)
                ),
            );
        }
    }
    if scope_ok {
        say(
            &mut ok,
            Rule::AgreementScope,
            format!(
                "scope {} is covered by the agreement",
                label_scopes.join(", ")
            ),
        );
    }
    if person_scope_ok {
        say(
            &mut ok,
            Rule::PersonScope,
            format!(
                "scope {} is among person {pid}'s scopes",
                label_scopes.join(", ")
            ),
        );
    }

    // 5. Ceiling, compared in the label's own policy.
    check_ceiling(policies, body, label, &mut ok, &mut deny);

    // 6. Translation into the person's national policy, and 7. the SPIF decision.
    let from = &label.policy;
    let to = &person.clearance.policy;
    let translated = if from.id == to.id {
        Some(label.clone())
    } else {
        let provided = body.translations.iter().any(|t| {
            policies.get(&t.from).is_some_and(|p| p.id == from.id)
                && policies.get(&t.to).is_some_and(|p| p.id == to.id)
        });
        if !provided {
            say(
                &mut deny,
                Rule::Translation,
                format!(
                    "agreement {id} provides no translation from policy {} into policy {}",
                    from.name, to.name
                ),
            );
            None
        } else {
            match policies.translate(label, &to.id) {
                Ok(l) => {
                    say(
                        &mut ok,
                        Rule::Translation,
                        format!(
                            "the label translates from policy {} into policy {}",
                            from.name, to.name
                        ),
                    );
                    Some(l)
                }
                Err(e) => {
                    say(
                        &mut deny,
                        Rule::Translation,
                        format!(
                            "the label cannot be translated from policy {} into policy {}: {e}",
                            from.name, to.name
                        ),
                    );
                    None
                }
            }
        }
    };
    if let Some(translated) = &translated {
        let d = accord_spif::decide(&person.clearance, translated);
        if d.permit {
            say(
                &mut ok,
                Rule::Clearance,
                format!(
                    "person {pid}'s clearance permits the label under policy {}",
                    to.name
                ),
            );
        } else {
            for r in d.reasons {
                say(&mut deny, Rule::Clearance, format!("person {pid}'s {r}"));
            }
        }
    }

    // 8. Releasability to the person's nationality.
    let nat = &person.nationality;
    let rel: Vec<&str> = label.values(RELEASABLE_TO_TAG_SET);
    let originator = body
        .parties
        .iter()
        .find(|p| {
            policies
                .get(&p.policy)
                .is_some_and(|pol| pol.id == label.policy.id)
        })
        .map(|p| p.code.as_str());
    if rel.iter().any(|r| r.eq_ignore_ascii_case(nat)) {
        say(
            &mut ok,
            Rule::Releasability,
            format!(
                "nationality {nat} is in {RELEASABLE_TO_TAG_SET} ({})",
                rel.join(", ")
            ),
        );
    } else if rel.is_empty() && originator == Some(nat.as_str()) {
        say(
            &mut ok,
            Rule::Releasability,
            format!("the label is national to {nat}, the person's nationality"),
        );
    } else if rel.is_empty() {
        say(
            &mut deny,
            Rule::Releasability,
            format!(
                "the label has no {RELEASABLE_TO_TAG_SET}, so it is not releasable to nationality {nat}"
            ),
        );
    } else {
        say(
            &mut deny,
            Rule::Releasability,
            format!(
                "person's nationality {nat} is not in {RELEASABLE_TO_TAG_SET} ({})",
                rel.join(", ")
            ),
        );
    }

    // 9. Active.
    match person.status {
        PersonStatus::Active => say(
            &mut ok,
            Rule::PersonActive,
            format!("person {pid} is active"),
        ),
        PersonStatus::Suspended => say(
            &mut deny,
            Rule::PersonActive,
            format!("person {pid} is suspended"),
        ),
    }

    if deny.is_empty() {
        Decision {
            permit: true,
            reasons: ok,
        }
    } else {
        Decision {
            permit: false,
            reasons: deny,
        }
    }
}

/// Rule 1: the agreement verifies and is in force at `at`.
pub(crate) fn check_in_force(
    checked: &Checked<'_>,
    at: Time,
    ok: &mut Vec<Reason>,
    deny: &mut Vec<Reason>,
) {
    let id = &checked.agreement().body.id;
    let say = |list: &mut Vec<Reason>, rule: Rule, text: String| list.push(Reason { rule, text });
    match checked.status(at) {
        Err(invalid) => {
            for f in &invalid.findings {
                say(
                    deny,
                    Rule::AgreementInForce,
                    format!("agreement {id} does not verify: {f}"),
                );
            }
        }
        Ok(report) if report.status == Status::InForce => say(
            ok,
            Rule::AgreementInForce,
            format!("agreement {id} is in force at {at}"),
        ),
        Ok(report) => {
            for r in report.reasons {
                say(deny, Rule::AgreementInForce, r);
            }
        }
    }
}

/// Rule 5: the label's classification is within the ceiling, compared in the label's
/// own policy.
pub(crate) fn check_ceiling(
    policies: &PolicySet,
    body: &crate::Body,
    label: &Label,
    ok: &mut Vec<Reason>,
    deny: &mut Vec<Reason>,
) {
    let say = |list: &mut Vec<Reason>, rule: Rule, text: String| list.push(Reason { rule, text });
    let cls = &label.classification.name;
    match (&body.ceiling, policies.get(&label.policy.id)) {
        (None, _) => {}
        (Some(ceiling), None) => say(
            deny,
            Rule::Ceiling,
            format!(
                "the label's policy {} is not loaded, so its classification cannot be compared with the ceiling {ceiling}",
                label.policy.name
            ),
        ),
        (Some(ceiling), Some(policy)) => {
            let top = policy.classification_by_name(ceiling);
            let this = policy.classification_by_lacv(label.classification.lacv);
            match (top, this) {
                (Some(top), Some(this)) if this.hierarchy <= top.hierarchy => say(
                    ok,
                    Rule::Ceiling,
                    format!("classification {cls} is within the ceiling {ceiling}"),
                ),
                (Some(_), Some(_)) => say(
                    deny,
                    Rule::Ceiling,
                    format!("classification {cls} is above the agreement's ceiling {ceiling}"),
                ),
                (None, _) => say(
                    deny,
                    Rule::Ceiling,
                    format!(
                        "the agreement's ceiling {ceiling} is not a classification of policy {}",
                        policy.name
                    ),
                ),
                (_, None) => say(
                    deny,
                    Rule::Ceiling,
                    format!("classification {cls} is not defined by policy {}", policy.name),
                ),
            }
        }
    }
}
