//! The rules of each kind of record that need no ledger: what its body must hold and
//! how many people sign it. Who those people must be (the account's custodian, the
//! holder) and whether the items are where the record says is the node's question,
//! asked of its ledger; whether the agreement allows the record to cross is the one
//! decision's (`accord_agreement::admit`).
//!
//! | kind | signers | must name |
//! | --- | --- | --- |
//! | transfer | shipping custodian | agreement, partner, items with class and title holder |
//! | receipt | receiving custodian | the transfer (refers), agreement, partner |
//! | hand-receipt, hand-return | custodian, holder | holder (the second signer), items |
//! | inventory | custodian | differences |
//! | destruction | custodian, two witnesses | items |
//! | return | custodian | agreement, partner (the provider), items |
//! | incident | custodian | items, note (what happened) |
//! | incident-ack | provider's custodian | the incident, agreement, partner |
//! | check-request | provider's custodian | agreement, partner (the receiver), no items |
//! | check-answer | receiver's custodian | the request, agreement, partner |
//! | check-result | provider's custodian | the answer, agreement, partner, differences |

use crate::record::{Body, Kind};
use crate::Error;

/// How many people sign a record of `kind`.
pub fn signers(kind: Kind) -> usize {
    match kind {
        Kind::HandReceipt | Kind::HandReturn => 2,
        Kind::Destruction => 3,
        _ => 1,
    }
}

/// Check `body` against the rules of its kind (after [`Body::check`]).
pub fn check(body: &Body) -> Result<(), Error> {
    let k = body.kind;
    let rule = |what: &str| Error::Rule(format!("a {k} record {what}"));
    if body.signers.len() != signers(k) {
        return Err(rule(&format!(
            "is signed by {} {}, not {}",
            signers(k),
            if signers(k) == 1 { "person" } else { "people" },
            body.signers.len()
        )));
    }
    // An incident crosses to the provider when its items came from one; of the
    // party's own items, it stays at home.
    let crosses = k.crosses() && k != Kind::Incident;
    if k == Kind::Incident && body.agreement.is_some() != body.partner.is_some() {
        return Err(rule(
            "names both the agreement and the provider, or neither",
        ));
    }
    if crosses && (body.agreement.is_none() || body.partner.is_none()) {
        return Err(rule("names the agreement and the partner party it goes to"));
    }
    if !crosses && k != Kind::Incident && body.partner.is_some() {
        return Err(rule("stays at its party's node and names no partner"));
    }
    if body.partner.as_deref() == Some(body.party.as_str()) {
        return Err(rule("goes to another party than its own"));
    }
    match (k.answers(), &body.refers) {
        (Some(a), None) => return Err(rule(&format!("names the {a} record it answers"))),
        (None, Some(_)) => return Err(rule("answers no other record")),
        _ => {}
    }
    let needs_items = matches!(
        k,
        Kind::Transfer
            | Kind::HandReceipt
            | Kind::HandReturn
            | Kind::Destruction
            | Kind::Return
            | Kind::Incident
    );
    if needs_items && body.items.is_empty() {
        return Err(rule("names at least one item"));
    }
    if matches!(k, Kind::CheckRequest | Kind::IncidentAck) && !body.items.is_empty() {
        return Err(rule("names no items"));
    }
    match k {
        Kind::Transfer => {
            for (i, l) in body.items.iter().enumerate() {
                if l.class.is_none() || l.title_holder.is_none() {
                    return Err(Error::field(
                        format!("items[{i}]"),
                        format!(
                            "{}: a transfer gives each item's class and title holder",
                            l.key
                        ),
                    ));
                }
            }
        }
        Kind::HandReceipt | Kind::HandReturn => match &body.holder {
            Some(h) if body.signers[1] == *h => {}
            _ => return Err(rule("names the holder, who signs second")),
        },
        Kind::Inventory | Kind::CheckResult if body.differences.is_none() => {
            return Err(rule("records the differences found"));
        }
        Kind::Incident if body.note.as_deref().is_none_or(|n| n.trim().is_empty()) => {
            return Err(rule("says what happened (note)"));
        }
        _ => {}
    }
    if !matches!(k, Kind::HandReceipt | Kind::HandReturn) && body.holder.is_some() {
        return Err(rule("names no holder"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{new_id, Line, Reference, FORMAT};
    use crate::ItemKey;

    fn body(kind: Kind, signers: &[&str]) -> Body {
        Body {
            accord_equipment_record: FORMAT,
            id: new_id(),
            kind,
            party: "USA".into(),
            at: "2026-12-02T10:00:00Z".into(),
            account: "USA-FMS-1".into(),
            label: "{}".into(),
            agreement: None,
            partner: None,
            refers: None,
            items: vec![Line::of(ItemKey::new("KIV-77", "0001").unwrap())],
            holder: None,
            signers: signers.iter().map(|s| s.to_string()).collect(),
            differences: None,
            note: None,
        }
    }

    #[test]
    fn each_kind_has_its_shape() {
        let mut t = body(Kind::Transfer, &["c"]);
        assert!(check(&t)
            .unwrap_err()
            .to_string()
            .contains("agreement and the partner"));
        t.agreement = Some("a".into());
        t.partner = Some("PAK".into());
        assert!(check(&t)
            .unwrap_err()
            .to_string()
            .contains("class and title holder"));
        t.items[0].class = Some(crate::AccountingClass::Cci);
        t.items[0].title_holder = Some("USA".into());
        check(&t).unwrap();
        t.partner = Some("USA".into());
        assert!(check(&t).is_err());

        let mut h = body(Kind::HandReceipt, &["c", "h"]);
        assert!(check(&h).unwrap_err().to_string().contains("holder"));
        h.holder = Some("h".into());
        check(&h).unwrap();
        assert!(check(&body(Kind::Destruction, &["c", "w"])).is_err());
        check(&body(Kind::Destruction, &["c", "w1", "w2"])).unwrap();

        let mut r = body(Kind::Receipt, &["c"]);
        r.agreement = Some("a".into());
        r.partner = Some("USA".into());
        r.party = "PAK".into();
        assert!(check(&r).unwrap_err().to_string().contains("answers"));
        r.refers = Some(Reference {
            id: new_id(),
            digest: "0".repeat(64),
        });
        check(&r).unwrap();
        let mut i = body(Kind::Incident, &["c"]);
        assert!(check(&i).unwrap_err().to_string().contains("what happened"));
        i.note = Some("lost in transit".into());
        check(&i).unwrap();
    }
}
