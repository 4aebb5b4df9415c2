//! The rules reasons are about, and a reason: the API's and the audit log's vocabulary
//! of refusals (in `wire`'s types, re-exported there).

use serde::{Deserialize, Serialize};

/// What a reason is about: a rule of the decision (`accord_agreement::Rule`, the one
/// decision every route makes), or a check the node makes before or beside it. One
/// typed value from the decision to the audit log and the API, where it is written as
/// its kebab-case name (`agreement-in-force`, `object-integrity`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// A rule of the decision.
    Decision(accord_agreement::Rule),
    /// Who is asking: a credential or certificate the node recognises.
    Credential,
    /// The request itself: its shape, signature, freshness, nonce, size.
    Request,
    /// The object: its label signature, assertions, manifest and shares hold together.
    ObjectIntegrity,
    /// Key access: the object holds a share for this KAS, or goes only to KASes the
    /// label goes to.
    KeyAccess,
    /// The label a person applies: under the national policy, valid.
    Label,
    /// The manifest a signing request carries.
    Manifest,
    /// A partner node: recognised, reachable, answering as the agreement says.
    Partner,
    /// The node's storage: room on disk.
    Storage,
    /// An agreement held: its records and signatures verify (why one is `invalid`).
    AgreementValid,
    /// The person's role at their node allows what they ask (`accord_agreement::Role`).
    Role,
    /// A form of the console carries the token of the page that made it (CSRF defence).
    Form,
    /// Equipment custody: the items are where the record says, in the signer's account,
    /// each serial once.
    Custody,
    /// A signed record: each signature is by the person named, with their keys, and
    /// verifies; a partner's is attested by its node.
    Signature,
    /// A rule this version does not know (named by a newer partner node).
    Unknown,
}

impl Rule {
    /// Every rule the node itself names (beside the decision's).
    pub const NODE: [Rule; 13] = [
        Rule::Credential,
        Rule::Request,
        Rule::ObjectIntegrity,
        Rule::KeyAccess,
        Rule::Label,
        Rule::Manifest,
        Rule::Partner,
        Rule::Storage,
        Rule::AgreementValid,
        Rule::Role,
        Rule::Form,
        Rule::Custody,
        Rule::Signature,
    ];

    /// The name, as the API and the audit log write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Decision(r) => r.as_str(),
            Rule::Credential => "credential",
            Rule::Request => "request",
            Rule::ObjectIntegrity => "object-integrity",
            Rule::KeyAccess => "key-access",
            Rule::Label => "label",
            Rule::Manifest => "manifest",
            Rule::Partner => "partner",
            Rule::Storage => "storage",
            Rule::AgreementValid => "agreement-valid",
            Rule::Role => "role",
            Rule::Form => "form",
            Rule::Custody => "custody",
            Rule::Signature => "signature",
            Rule::Unknown => "unknown",
        }
    }

    /// The rule of a name ([`Rule::Unknown`] for one this version does not know).
    pub fn from_name(name: &str) -> Rule {
        accord_agreement::Rule::ALL
            .into_iter()
            .map(Rule::Decision)
            .chain(Rule::NODE)
            .find(|r| r.as_str() == name)
            .unwrap_or(Rule::Unknown)
    }
}

impl From<accord_agreement::Rule> for Rule {
    fn from(r: accord_agreement::Rule) -> Rule {
        Rule::Decision(r)
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Rule {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Rule {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Rule, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Rule::from_name(&name))
    }
}

/// One reason for a decision, with the rule it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The rule (`clearance`, `agreement-in-force`, `object-integrity`, ...).
    pub rule: Rule,
    /// The reason in words.
    pub text: String,
}

impl Reason {
    /// A reason.
    pub fn new(rule: impl Into<Rule>, text: impl Into<String>) -> Reason {
        Reason {
            rule: rule.into(),
            text: text.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rules_are_written_by_their_names_and_read_back() {
        use super::Rule;
        use accord_agreement::Rule as D;
        for d in [
            D::AgreementInForce,
            D::Releasability,
            D::Dissemination,
            D::PersonActive,
        ] {
            // The decision's own serde name and the API's are one.
            let theirs = serde_json::to_value(d).unwrap();
            let ours = serde_json::to_value(Rule::from(d)).unwrap();
            assert_eq!(theirs, ours);
            assert_eq!(serde_json::from_value::<Rule>(ours).unwrap(), Rule::from(d));
        }
        for r in Rule::NODE {
            let v = serde_json::to_value(r).unwrap();
            assert_eq!(serde_json::from_value::<Rule>(v).unwrap(), r);
        }
        assert_eq!(
            serde_json::from_str::<Rule>("\"a-rule-of-tomorrow\"").unwrap(),
            Rule::Unknown
        );
    }
}
