//! Fixtures shared by the integration tests: parties with fresh aws-lc-rs keys and the
//! US–Pakistan CIS-MOA of October 2005.
#![allow(dead_code)]

use accord_agreement::*;
use accord_keys::{ClassicalAlg, SigningKey};

pub fn t(s: &str) -> Time {
    Time::parse(s).unwrap()
}

pub struct Fixture {
    pub pak: SigningKey,
    pub usa: SigningKey,
    pub gbr: SigningKey,
}

impl Fixture {
    pub fn new() -> Self {
        Fixture {
            pak: SigningKey::generate(ClassicalAlg::Es384).unwrap(),
            usa: SigningKey::generate(ClassicalAlg::Es384).unwrap(),
            gbr: SigningKey::generate(ClassicalAlg::Es384).unwrap(),
        }
    }

    pub fn party(code: &str, signer: &SigningKey) -> Party {
        let (name, authority) = match code {
            "PAK" => ("Islamic Republic of Pakistan", "Joint Staff Headquarters"),
            "USA" => ("United States of America", "Department of Defense"),
            _ => ("United Kingdom", "Ministry of Defence"),
        };
        Party {
            code: code.into(),
            name: name.into(),
            authority: authority.into(),
            policy: code.into(),
            signing_keys: Signer::public_keys(signer).unwrap(),
            kas_keys: vec![],
            node: None,
        }
    }

    /// The 2005 CIS-MOA as a draft: 15 years from 2005-10-01.
    pub fn cismoa_2005(&self) -> Agreement {
        Agreement::draft(Body {
            id: "CISMOA-2005".into(),
            title: "Communication Interoperability and Security Memorandum of Agreement".into(),
            version: 1,
            predecessor: None,
            effective_from: t("2005-10-01T00:00:00Z"),
            expires: t("2020-10-01T00:00:00Z"),
            scopes: vec![Scope::Exercises, Scope::Training],
            ceiling: Some("SECRET".into()),
            translations: vec![
                Translation {
                    from: "PAK".into(),
                    to: "USA".into(),
                },
                Translation {
                    from: "USA".into(),
                    to: "PAK".into(),
                },
            ],
            terms: "Each party protects the other's classified information.".into(),
            parties: vec![Self::party("PAK", &self.pak), Self::party("USA", &self.usa)],
        })
        .unwrap()
    }

    /// The 2005 CIS-MOA approved and countersigned in September/October 2005.
    pub fn cismoa_signed(&self) -> Agreement {
        let mut a = self.cismoa_2005();
        a.approve(
            &self.pak,
            "Cabinet circulation summary 2005",
            t("2005-09-01T00:00:00Z"),
        )
        .unwrap();
        a.approve(&self.usa, "DoD approval", t("2005-09-02T00:00:00Z"))
            .unwrap();
        a.sign(&self.pak, t("2005-09-20T00:00:00Z")).unwrap();
        a.sign(&self.usa, t("2005-09-21T00:00:00Z")).unwrap();
        a
    }
}

/// Append a record by hand (bypassing the lifecycle checks of `approve`/`sign`), chained
/// and signed correctly, to build documents the library itself would refuse to make.
pub fn push_raw(a: &mut Agreement, signer: &SigningKey, party: &str, kind: RecordKind, at: &str) {
    let body_digest = a.body.digest().unwrap();
    let previous = match a.records.last() {
        Some(r) => r.digest().unwrap(),
        None => body_digest.clone(),
    };
    let mut r = Record {
        kind,
        party: party.into(),
        time: t(at),
        previous,
        signature: HybridSignature {
            ecdsa_p384: vec![],
            ml_dsa_87: vec![],
        },
    };
    r.signature = Signer::sign(signer, &r.message(&body_digest).unwrap()).unwrap();
    a.records.push(r);
}

/// What `verify` finds, in words.
pub fn findings(a: &Agreement) -> Vec<String> {
    verify(a).iter().map(|f| f.to_string()).collect()
}

/// `verify` finds `want` (part of a finding's words).
pub fn assert_finding(a: &Agreement, want: &str) {
    let got = findings(a);
    assert!(
        got.iter().any(|f| f.contains(want)),
        "want {want:?} in {got:#?}"
    );
}
