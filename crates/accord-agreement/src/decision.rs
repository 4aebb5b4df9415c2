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
//! 8. the label is releasable to the person's nationality and to the requesting party
//!    (a label not releasable to a party is released to nobody asking through it);
//! 9. the person is active, not suspended;
//!
//! and, when the object carries a dissemination list, the person is on it; and, when the
//! key is to be wrapped classically for the person's client ([`Wrapping::Classical`]:
//! an OpenTDF client, which receives keys only under RSA-OAEP or ECDH), the label's
//! classification, translated into the node's national policy, is within the node's
//! ceiling for classical key wrapping (rule `classical-wrapping`).
//!
//! An object that names no agreement is decided by [`decide_national`], with the same
//! rules where they apply; one the deciding party does not hold, by [`not_held`]. Every
//! route of a node that releases a share or accepts an object calls one of these.

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
    /// The classification is within the node's ceiling for classical key wrapping, when
    /// the key is to be wrapped classically ([`Wrapping::Classical`]).
    ClassicalWrapping,
    /// The label translates into the person's national policy.
    Translation,
    /// The SPIF access decision permits.
    Clearance,
    /// The label is releasable to the person's nationality and to the requesting party.
    Releasability,
    /// The person is on the object's dissemination list, when it has one.
    Dissemination,
    /// The person is active.
    PersonActive,
    /// A key the object depends on (the KAS key its share is wrapped to) was not revoked
    /// as compromised before the object is shown to have existed.
    KeyRevoked,
}

impl Rule {
    /// Every rule, in the order the decision checks them.
    pub const ALL: [Rule; 13] = [
        Rule::AgreementInForce,
        Rule::RequestingParty,
        Rule::PersonParty,
        Rule::AgreementScope,
        Rule::PersonScope,
        Rule::Ceiling,
        Rule::ClassicalWrapping,
        Rule::Translation,
        Rule::Clearance,
        Rule::Releasability,
        Rule::Dissemination,
        Rule::PersonActive,
        Rule::KeyRevoked,
    ];

    /// The rule's name as the API, the audit log and people see it (`agreement-in-force`).
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::AgreementInForce => "agreement-in-force",
            Rule::RequestingParty => "requesting-party",
            Rule::PersonParty => "person-party",
            Rule::AgreementScope => "agreement-scope",
            Rule::PersonScope => "person-scope",
            Rule::Ceiling => "ceiling",
            Rule::ClassicalWrapping => "classical-wrapping",
            Rule::Translation => "translation",
            Rule::Clearance => "clearance",
            Rule::Releasability => "releasability",
            Rule::Dissemination => "dissemination",
            Rule::PersonActive => "person-active",
            Rule::KeyRevoked => "key-revoked",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason, with the rule it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// The rule.
    pub rule: Rule,
    /// The reason in words.
    pub text: String,
}

/// Why `key` (named in words: "the PAK KAS key 9b1c…"), revoked as compromised since
/// `compromised` for `why`, may not serve an object, if it may not: the thief could have
/// made or changed any object after then, so only one shown to have existed before
/// (`sealed`: when, and the evidence) still may. A key's own signature says nothing
/// about when: the evidence is the node's own record (it signed the label, it received
/// the object). Both KAS routes ask this.
pub fn revoked_key(
    key: &str,
    compromised: Time,
    why: &str,
    sealed: Option<(Time, &str)>,
) -> Option<Reason> {
    let text = match sealed {
        Some((at, _)) if at < compromised => return None,
        Some((at, evidence)) => format!(
            "{key} was revoked as compromised since {compromised} ({why}); this object is first recorded here at {at} ({evidence}), not before then"
        ),
        None => format!(
            "{key} was revoked as compromised since {compromised} ({why}); no record here shows this object was sealed before then"
        ),
    };
    Some(Reason {
        rule: Rule::KeyRevoked,
        text,
    })
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
    /// Permit with the reasons checked when nothing was denied; else deny with every
    /// reason that failed.
    pub(crate) fn of(ok: Vec<Reason>, deny: Vec<Reason>) -> Decision {
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

/// How the key a decision releases reaches the person's client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrapping<'a> {
    /// Under a post-quantum (hybrid) key, as Accord's own clients receive it: no ceiling
    /// of its own.
    PostQuantum,
    /// Under a classical key only (RSA-OAEP or ECDH), as OpenTDF clients receive it:
    /// released up to the node's ceiling for classical key wrapping (rule
    /// `classical-wrapping`), the label's classification translated into the policy the
    /// ceiling is written in.
    Classical {
        /// The ceiling, a classification name of `policy` (`CONFIDENTIAL`).
        ceiling: &'a str,
        /// The node's national policy, as the policy set names it, that `ceiling` is
        /// a classification of.
        policy: &'a str,
    },
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
    /// The object's dissemination list (the ZTDF policy's `dissem`): when not empty,
    /// only the people it names (by id) may read the object.
    pub dissem: &'a [String],
    /// The time of the request.
    pub at: Time,
    /// How the released key reaches the person's client.
    pub wrapping: Wrapping<'a>,
}

/// What is asked of a party's node about an object under no agreement: a national
/// decision, under the deciding party's national policy alone.
#[derive(Debug, Clone, Copy)]
pub struct NationalRequest<'a> {
    /// The person asking.
    pub person: &'a Person,
    /// The object's label.
    pub label: &'a Label,
    /// The party deciding (trigraph): the object is national to it.
    pub party: &'a str,
    /// The deciding party's national policy, as the policy set names it.
    pub national_policy: &'a str,
    /// The party asking on the person's behalf (trigraph).
    pub requesting_party: &'a str,
    /// The object's dissemination list, as in [`Request::dissem`].
    pub dissem: &'a [String],
    /// How the released key reaches the person's client, as in [`Request::wrapping`].
    pub wrapping: Wrapping<'a>,
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
        ..
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
    let their_policy = body.party(&person.party).map(|p| {
        (
            p.code.as_str(),
            policies.get(&p.policy).ok_or(p.policy.as_str()),
        )
    });
    check_person_party(person, requesting_party, their_policy, &mut ok, &mut deny);

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

    // 5. Ceiling, compared in the label's own policy; and the node's ceiling for
    // classical key wrapping, in its national policy.
    check_ceiling(policies, body, label, &mut ok, &mut deny);
    check_wrapping(policies, label, req.wrapping, &mut ok, &mut deny);

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
        check_clearance(person, translated, &to.name, &mut ok, &mut deny);
    }

    // 8. Releasability to the person's nationality and to the requesting party: a label
    // not releasable to a party is not released to anyone asking through it, whatever
    // the person's nationality (and the same rule decides an exchange, [`crate::admit`]).
    let originator = body
        .parties
        .iter()
        .find(|p| {
            policies
                .get(&p.policy)
                .is_some_and(|pol| pol.id == label.policy.id)
        })
        .map(|p| p.code.as_str());
    check_releasable(
        label,
        &person.nationality,
        requesting_party,
        originator,
        &mut ok,
        &mut deny,
    );

    // Dissemination list of the object's policy, when it has one.
    check_dissem(person, req.dissem, &mut ok, &mut deny);

    // 9. Active.
    check_active(person, &mut ok, &mut deny);

    Decision::of(ok, deny)
}

/// Decide an object that names no agreement, for a person asking through
/// `requesting_party`: the label must be under the deciding party's national policy (a
/// foreign label opens only under an agreement), only the deciding party's own people
/// are decided for, and then the same rules as under an agreement apply where they
/// mean anything without one: the person's party and policy, the SPIF decision,
/// releasability (to the person's nationality and the requesting party), the
/// dissemination list, and the person's status. Every reason that applies is given.
pub fn decide_national(policies: &PolicySet, req: &NationalRequest<'_>) -> Decision {
    let NationalRequest {
        person,
        label,
        party,
        national_policy,
        requesting_party,
        dissem,
        wrapping,
    } = *req;
    let mut deny: Vec<Reason> = Vec::new();
    let mut ok: Vec<Reason> = Vec::new();
    let say = |list: &mut Vec<Reason>, rule: Rule, text: String| list.push(Reason { rule, text });
    let national = policies.get(national_policy);

    // The requesting party: a national object is decided only for the party's own.
    if requesting_party != party {
        say(
            &mut deny,
            Rule::RequestingParty,
            format!("the object names no agreement: {requesting_party}'s people have no access to it at {party}"),
        );
    } else {
        say(
            &mut ok,
            Rule::RequestingParty,
            format!("the object is national to {party}, the requesting party"),
        );
    }

    // The person belongs to the requesting party, cleared under the national policy.
    check_person_party(
        person,
        requesting_party,
        Some((party, national.ok_or(national_policy))),
        &mut ok,
        &mut deny,
    );

    // The label is under the national policy, and the clearance permits it.
    match national {
        Some(n) if n.id == label.policy.id => {
            check_clearance(person, label, &n.name, &mut ok, &mut deny)
        }
        _ => say(
            &mut deny,
            Rule::AgreementInForce,
            format!(
                "the object names no agreement and its label is under policy {}, not {party}'s national policy {national_policy}; a foreign label opens only under an agreement",
                label.policy.name
            ),
        ),
    }

    check_wrapping(policies, label, wrapping, &mut ok, &mut deny);
    check_releasable(
        label,
        &person.nationality,
        requesting_party,
        Some(party),
        &mut ok,
        &mut deny,
    );
    check_dissem(person, dissem, &mut ok, &mut deny);
    check_active(person, &mut ok, &mut deny);
    Decision::of(ok, deny)
}

/// The decision when the object names agreement `id` and the deciding party (`party`)
/// does not hold it: nothing opens under an agreement that is not there to check.
pub fn not_held(id: &str, party: &str) -> Decision {
    Decision {
        permit: false,
        reasons: vec![Reason {
            rule: Rule::AgreementInForce,
            text: format!("agreement {id} is not loaded at the {party} node"),
        }],
    }
}

/// Rule 3: the person belongs to the requesting party and, when their party's national
/// policy is known (`their_policy`: the party's code, and its policy or the name of one
/// not loaded), is cleared under it.
fn check_person_party(
    person: &Person,
    requesting_party: &str,
    their_policy: Option<(&str, Result<&accord_spif::Policy, &str>)>,
    ok: &mut Vec<Reason>,
    deny: &mut Vec<Reason>,
) {
    let pid = &person.id;
    let before = deny.len();
    let mut refuse = |text: String| {
        deny.push(Reason {
            rule: Rule::PersonParty,
            text,
        })
    };
    if person.party != requesting_party {
        refuse(format!(
            "person {pid} belongs to {}, not to the requesting party {requesting_party}",
            person.party
        ));
    }
    match their_policy {
        Some((_, Ok(national))) if national.id == person.clearance.policy.id => {}
        Some((code, Ok(national))) => refuse(format!(
            "person {pid}'s clearance is under policy {}, not {code}'s national policy {}",
            person.clearance.policy.name, national.name
        )),
        Some((code, Err(name))) => refuse(format!("{code}'s national policy {name} is not loaded")),
        None => {}
    }
    if deny.len() == before {
        ok.push(Reason {
            rule: Rule::PersonParty,
            text: format!("person {pid} is enrolled by {requesting_party}"),
        });
    }
}

/// Rule 7: the SPIF access decision on `label` (already in the person's policy,
/// `policy`) permits the person's clearance; on deny, each of its reasons.
fn check_clearance(
    person: &Person,
    label: &Label,
    policy: &str,
    ok: &mut Vec<Reason>,
    deny: &mut Vec<Reason>,
) {
    let pid = &person.id;
    let d = accord_spif::decide(&person.clearance, label);
    if d.permit {
        ok.push(Reason {
            rule: Rule::Clearance,
            text: format!("person {pid}'s clearance permits the label under policy {policy}"),
        });
    } else {
        for r in d.reasons {
            deny.push(Reason {
                rule: Rule::Clearance,
                text: format!("person {pid}'s {r}"),
            });
        }
    }
}

/// One rule's verdict as a reason: `Ok` to `ok`, `Err` to `deny`.
pub(crate) fn verdict(
    rule: Rule,
    r: Result<String, String>,
    ok: &mut Vec<Reason>,
    deny: &mut Vec<Reason>,
) {
    match r {
        Ok(text) => ok.push(Reason { rule, text }),
        Err(text) => deny.push(Reason { rule, text }),
    }
}

/// Whom releasability is checked for, and how reasons name them.
pub(crate) struct Releasee<'a> {
    /// The trigraph.
    pub code: &'a str,
    /// How a reason names them (`nationality PAK`, `requesting party USA`, `USA`).
    pub name: String,
    /// How a refusal names them (`person's nationality GBR`, ...).
    pub refused: String,
    /// Who they are, said after "the label is national to CODE" (`the person's
    /// nationality`), when a label without Releasable To may be theirs.
    pub national: Option<&'a str>,
}

/// Whether `label` is releasable to `to.code`: the code is in its Releasable To, or the
/// label has none and the code is the originator's (the party whose national policy
/// the label is under), whose own the label is. `Ok` says why it is, `Err` why not.
/// One rule for a person's nationality, the party asking for them, and the party an
/// object is sent to.
pub(crate) fn releasable_to(
    label: &Label,
    to: &Releasee<'_>,
    originator: Option<&str>,
) -> Result<String, String> {
    let rel: Vec<&str> = label.values(RELEASABLE_TO_TAG_SET);
    let code = to.code;
    if rel.iter().any(|r| r.eq_ignore_ascii_case(code)) {
        Ok(format!(
            "{} is in {RELEASABLE_TO_TAG_SET} ({})",
            to.name,
            rel.join(", ")
        ))
    } else if let (true, Some(who), true) = (
        rel.is_empty(),
        to.national,
        originator.is_some_and(|o| o.eq_ignore_ascii_case(code)),
    ) {
        Ok(format!("the label is national to {code}, {who}"))
    } else if rel.is_empty() {
        Err(format!(
            "the label has no {RELEASABLE_TO_TAG_SET}, so it is not releasable to {}",
            to.name
        ))
    } else {
        Err(format!(
            "{} is not in {RELEASABLE_TO_TAG_SET} ({})",
            to.refused,
            rel.join(", ")
        ))
    }
}

/// Rule 8: releasable to the person's nationality and to the party asking for them.
fn check_releasable(
    label: &Label,
    nationality: &str,
    requesting_party: &str,
    originator: Option<&str>,
    ok: &mut Vec<Reason>,
    deny: &mut Vec<Reason>,
) {
    let mut say = |r: Result<String, String>| verdict(Rule::Releasability, r, ok, deny);
    let person = Releasee {
        code: nationality,
        name: format!("nationality {nationality}"),
        refused: format!("person's nationality {nationality}"),
        national: Some("the person's nationality"),
    };
    say(releasable_to(label, &person, originator));
    if !requesting_party.eq_ignore_ascii_case(nationality) {
        let party = Releasee {
            code: requesting_party,
            name: format!("requesting party {requesting_party}"),
            refused: format!("requesting party {requesting_party}"),
            national: Some("the requesting party"),
        };
        say(releasable_to(label, &party, originator));
    }
}

/// The dissemination list: when the object has one, the person must be on it.
fn check_dissem(person: &Person, dissem: &[String], ok: &mut Vec<Reason>, deny: &mut Vec<Reason>) {
    if dissem.is_empty() {
        return;
    }
    let pid = &person.id;
    let shown: Vec<&str> = dissem.iter().take(8).map(String::as_str).collect();
    let more = if dissem.len() > 8 { ", ..." } else { "" };
    if dissem.iter().any(|d| d == pid) {
        ok.push(Reason {
            rule: Rule::Dissemination,
            text: format!("person {pid} is on the object's dissemination list"),
        });
    } else {
        deny.push(Reason {
            rule: Rule::Dissemination,
            text: format!(
                "person {pid} is not on the object's dissemination list ({}{more})",
                shown.join(", ")
            ),
        });
    }
}

/// Rule 9: the person is active.
fn check_active(person: &Person, ok: &mut Vec<Reason>, deny: &mut Vec<Reason>) {
    let pid = &person.id;
    match person.status {
        PersonStatus::Active => ok.push(Reason {
            rule: Rule::PersonActive,
            text: format!("person {pid} is active"),
        }),
        PersonStatus::Suspended => deny.push(Reason {
            rule: Rule::PersonActive,
            text: format!("person {pid} is suspended"),
        }),
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
        (Some(ceiling), Some(policy)) => match rank(policy, label.classification.lacv, ceiling)
        {
            Ok(Ranked { within: true, .. }) => say(
                ok,
                Rule::Ceiling,
                format!("classification {cls} is within the ceiling {ceiling}"),
            ),
            Ok(Ranked { within: false, .. }) => say(
                deny,
                Rule::Ceiling,
                format!("classification {cls} is above the agreement's ceiling {ceiling}"),
            ),
            Err(Unranked::Ceiling) => say(
                deny,
                Rule::Ceiling,
                format!(
                    "the agreement's ceiling {ceiling} is not a classification of policy {}",
                    policy.name
                ),
            ),
            Err(Unranked::Classification) => say(
                deny,
                Rule::Ceiling,
                format!("classification {cls} is not defined by policy {}", policy.name),
            ),
        },
    }
}

/// A classification ranked against a ceiling of the same policy.
struct Ranked<'p> {
    /// At or below the ceiling.
    within: bool,
    /// The classification, as the policy writes it.
    this: &'p accord_spif::policy::Classification,
    /// The ceiling, as the policy writes it.
    top: &'p accord_spif::policy::Classification,
}

/// What a policy does not define, so that nothing can be ranked.
enum Unranked {
    /// The ceiling is not one of its classifications.
    Ceiling,
    /// The classification is not.
    Classification,
}

/// Where classification `lacv` of `policy` stands against the classification named
/// `ceiling` of the same policy (by `hierarchy`): the one comparison of every ceiling.
fn rank<'p>(
    policy: &'p accord_spif::Policy,
    lacv: u64,
    ceiling: &str,
) -> Result<Ranked<'p>, Unranked> {
    let top = policy
        .classification_by_name(ceiling)
        .ok_or(Unranked::Ceiling)?;
    let this = policy
        .classification_by_lacv(lacv)
        .ok_or(Unranked::Classification)?;
    Ok(Ranked {
        within: this.hierarchy <= top.hierarchy,
        this,
        top,
    })
}

/// The node's ceiling for classical key wrapping: when the key is to be wrapped
/// classically, the label's classification is translated into the node's national
/// policy (by the policies' equivalences, [`PolicySet::translate`], as rule 6
/// translates a label; only the classification is ranked, so the label's categories
/// are left out of it) and must not rank above the ceiling. A label that does not
/// translate, a national policy not loaded or a ceiling that is not one of its
/// classifications is denied: never ranked too low.
fn check_wrapping(
    policies: &PolicySet,
    label: &Label,
    wrapping: Wrapping<'_>,
    ok: &mut Vec<Reason>,
    deny: &mut Vec<Reason>,
) {
    let Wrapping::Classical { ceiling, policy } = wrapping else {
        return;
    };
    let what = "this node's ceiling for classical key wrapping";
    let r = (|| {
        let national = policies.get(policy).ok_or_else(|| {
            format!("this node's national policy {policy} is not loaded, so the label cannot be ranked against {what} ({ceiling})")
        })?;
        // A ceiling the policy does not define refuses everything, whatever the label.
        let unknown = || {
            format!(
                "{what} is configured as {ceiling}, which is not a classification of its national policy {}: the ceiling is unknown, so nothing is released through classical key wrapping",
                national.name
            )
        };
        if national.classification_by_name(ceiling).is_none() {
            return Err(unknown());
        }
        let classification = Label {
            categories: Vec::new(),
            ..label.clone()
        };
        let translated = policies
            .translate(&classification, &national.id)
            .map_err(|e| {
                format!(
                    "classification {} of policy {} does not translate into this node's national policy {}, so it cannot be ranked against {what} ({ceiling}): {e}",
                    label.classification.name, label.policy.name, national.name
                )
            })?;
        match rank(national, translated.classification.lacv, ceiling) {
            Ok(Ranked {
                within: true,
                this,
                top,
            }) => Ok(format!("{} is within {what} ({})", this.name, top.name)),
            Ok(Ranked { this, top, .. }) => Err(format!(
                "{} is above {what} ({}): use an Accord client, whose return key is post-quantum",
                this.name, top.name
            )),
            Err(Unranked::Ceiling) => Err(unknown()),
            Err(Unranked::Classification) => Err(format!(
                "classification {} of policy {} translates to no classification of policy {}",
                label.classification.name, label.policy.name, national.name
            )),
        }
    })();
    verdict(Rule::ClassicalWrapping, r, ok, deny);
}
