//! May a sealed object pass from one party's node to another's under an agreement?
//!
//! The party-level half of the decision: before a node accepts an object from a
//! partner (and before the sender queues it), the exchange itself must be allowed,
//! whoever later opens it. [`admit`] checks, and returns every reason that applies:
//!
//! 1. the agreement verifies and is in force at that time;
//! 2. the sending and the receiving party are both parties to it;
//! 3. the label's scope is among the agreement's scopes;
//! 4. the label's classification is within the agreement's ceiling;
//! 5. the agreement provides for translating the label into the receiver's policy
//!    (unless the label is already under it);
//! 6. the label is releasable to the receiving party.
//!
//! Each person's own decision ([`crate::decide`]) still follows when they open it.

use crate::decision::{
    check_ceiling, check_in_force, releasable_to, verdict, Decision, Reason, Releasee, Rule,
    SCOPE_TAG_SET,
};
use crate::lifecycle::Checked;
use crate::{Scope, Time};
use accord_spif::{Label, PolicySet};

/// An exchange between two parties' nodes.
#[derive(Debug, Clone, Copy)]
pub struct Transfer<'a> {
    /// The object's label, under its originator's policy.
    pub label: &'a Label,
    /// The agreement the exchange falls under, verified once.
    pub agreement: &'a Checked<'a>,
    /// The sending party (trigraph).
    pub from: &'a str,
    /// The receiving party (trigraph).
    pub to: &'a str,
    /// The time of the exchange.
    pub at: Time,
}

/// Decide whether the exchange is allowed; see the module documentation for the rules.
pub fn admit(policies: &PolicySet, t: &Transfer<'_>) -> Decision {
    let body = &t.agreement.agreement().body;
    let id = &body.id;
    let mut deny: Vec<Reason> = Vec::new();
    let mut ok: Vec<Reason> = Vec::new();
    let say = |list: &mut Vec<Reason>, rule: Rule, text: String| list.push(Reason { rule, text });

    check_in_force(t.agreement, t.at, &mut ok, &mut deny);

    for (role, code) in [("sending", t.from), ("receiving", t.to)] {
        if body.party(code).is_none() {
            say(
                &mut deny,
                Rule::RequestingParty,
                format!(
                    "{role} party {code} is not a party to agreement {id} ({})",
                    body.party_codes()
                ),
            );
        }
    }
    if body.party(t.from).is_some() && body.party(t.to).is_some() {
        say(
            &mut ok,
            Rule::RequestingParty,
            format!("{} and {} are parties to agreement {id}", t.from, t.to),
        );
    }

    let scopes: Vec<&str> = t.label.values(SCOPE_TAG_SET);
    if scopes.is_empty() {
        say(
            &mut deny,
            Rule::AgreementScope,
            format!(
                "the label has no {SCOPE_TAG_SET}; agreement {id} covers only exchanges within its scopes ({})",
                body.scope_names()
            ),
        );
    }
    let mut scope_ok = !scopes.is_empty();
    for s in &scopes {
        if !Scope::parse(&s.to_ascii_uppercase()).is_some_and(|x| body.scopes.contains(&x)) {
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
    }
    if scope_ok {
        say(
            &mut ok,
            Rule::AgreementScope,
            format!("scope {} is covered by the agreement", scopes.join(", ")),
        );
    }

    check_ceiling(policies, body, t.label, &mut ok, &mut deny);

    if let Some(receiver) = body.party(t.to) {
        match policies.get(&receiver.policy) {
            None => say(
                &mut deny,
                Rule::Translation,
                format!(
                    "{}'s national policy {} is not loaded",
                    t.to, receiver.policy
                ),
            ),
            Some(target) if target.id == t.label.policy.id => {}
            Some(target) => {
                let provided = body.translations.iter().any(|tr| {
                    policies
                        .get(&tr.from)
                        .is_some_and(|p| p.id == t.label.policy.id)
                        && policies.get(&tr.to).is_some_and(|p| p.id == target.id)
                });
                if provided {
                    say(
                        &mut ok,
                        Rule::Translation,
                        format!(
                            "agreement {id} provides for translating policy {} labels into policy {}",
                            t.label.policy.name, target.name
                        ),
                    );
                } else {
                    say(
                        &mut deny,
                        Rule::Translation,
                        format!(
                            "agreement {id} provides no translation from policy {} into {}'s policy {}",
                            t.label.policy.name, t.to, target.name
                        ),
                    );
                }
            }
        }
    }

    let to = Releasee {
        code: t.to,
        name: t.to.to_string(),
        refused: t.to.to_string(),
        national: None,
    };
    verdict(
        Rule::Releasability,
        releasable_to(t.label, &to, None),
        &mut ok,
        &mut deny,
    );

    Decision::of(ok, deny)
}
