//! Benchmark: verifying an agreement and deciding under it, side by side with the limit
//! set by the cryptography alone (the same hybrid signature verifications done directly
//! with accord-keys). Prints the ratio measured in the same run.
//!
//! `cargo bench -p accord-agreement --bench verify`

use accord_agreement::signature::verify as verify_hybrid;
use accord_agreement::*;
use accord_keys::{ClassicalAlg, SigningKey};
use std::time::{Duration, Instant};

fn t(s: &str) -> Time {
    Time::parse(s).unwrap()
}

fn party(code: &str, key: &SigningKey) -> Party {
    Party {
        code: code.into(),
        name: code.into(),
        authority: "Authority".into(),
        policy: code.into(),
        signing_keys: Signer::public_keys(key).unwrap(),
        kas_keys: vec![],
        node: None,
    }
}

/// Run `f` repeatedly for about `budget`, return operations per second.
fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        f();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let pak = SigningKey::generate(ClassicalAlg::Es384).unwrap();
    let usa = SigningKey::generate(ClassicalAlg::Es384).unwrap();
    let mut a = Agreement::draft(Body {
        id: "CISMOA-2005".into(),
        title: "CIS-MOA".into(),
        version: 1,
        predecessor: None,
        effective_from: t("2005-10-01T00:00:00Z"),
        expires: t("2020-10-01T00:00:00Z"),
        scopes: vec![Scope::Exercises, Scope::Training],
        ceiling: Some("SECRET".into()),
        translations: vec![],
        terms: "Terms.".into(),
        parties: vec![party("PAK", &pak), party("USA", &usa)],
    })
    .unwrap();
    a.approve(&pak, "summary", t("2005-09-01T00:00:00Z"))
        .unwrap();
    a.approve(&usa, "approval", t("2005-09-02T00:00:00Z"))
        .unwrap();
    a.sign(&pak, t("2005-09-03T00:00:00Z")).unwrap();
    a.sign(&usa, t("2005-09-04T00:00:00Z")).unwrap();
    assert!(verify(&a).is_empty());

    // The limit: the four hybrid verifications alone, on precomputed messages.
    let digest = a.body.digest().unwrap();
    let jobs: Vec<(SigningKeys, Vec<u8>, HybridSignature)> = a
        .records
        .iter()
        .map(|r| {
            let keys = a.body.party(&r.party).unwrap().signing_keys.clone();
            (keys, r.message(&digest).unwrap(), r.signature.clone())
        })
        .collect();
    let budget = Duration::from_secs(3);
    let crypto = rate(budget, || {
        for (k, m, s) in &jobs {
            verify_hybrid(k, m, s).unwrap();
        }
    });
    let full = rate(budget, || {
        assert!(verify(&a).is_empty());
    });
    let at = t("2010-01-01T00:00:00Z");
    let status_rate = rate(budget, || {
        assert_eq!(status(&a, at).unwrap().status, Status::InForce);
    });
    // Decisions under the agreement verified once (as a KAS holds it).
    let mut set = accord_spif::PolicySet::new();
    set.load_path(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies"))
        .unwrap();
    let (pak_policy, usa_policy) = (set.find("PAK").unwrap(), set.find("USA").unwrap());
    let mut clearance = accord_spif::Clearance::up_to(pak_policy, "SECRET").unwrap();
    clearance
        .add_category(pak_policy, "Releasable To", "PAK")
        .unwrap();
    clearance
        .add_category(pak_policy, "Scope", "EXERCISES")
        .unwrap();
    let person = Person {
        id: "pak-officer".into(),
        name: "Major A. Khan".into(),
        party: "PAK".into(),
        nationality: "PAK".into(),
        clearance,
        scopes: vec![Scope::Exercises],
        status: PersonStatus::Active,
    };
    let mut label = accord_spif::Label::new(usa_policy, "SECRET").unwrap();
    label
        .add_category(usa_policy, "Releasable To", "PAK")
        .unwrap();
    label
        .add_category(usa_policy, "Scope", "EXERCISES")
        .unwrap();
    a.body.translations = vec![Translation {
        from: "USA".into(),
        to: "PAK".into(),
    }];
    let mut a2 = Agreement::draft(a.body.clone()).unwrap();
    a2.approve(&pak, "summary", t("2005-09-01T00:00:00Z"))
        .unwrap();
    a2.approve(&usa, "approval", t("2005-09-02T00:00:00Z"))
        .unwrap();
    a2.sign(&pak, t("2005-09-03T00:00:00Z")).unwrap();
    a2.sign(&usa, t("2005-09-04T00:00:00Z")).unwrap();
    let checked = Checked::new(&a2);
    let request = Request {
        person: &person,
        label: &label,
        agreement: &checked,
        requesting_party: "PAK",
        dissem: &[],
        at,
        wrapping: accord_agreement::Wrapping::PostQuantum,
    };
    let decisions = rate(budget, || {
        assert!(decide(&set, &request).permit);
    });
    println!("agreement with 4 records (2 parties), ECDSA P-384 + ML-DSA-87 on each record");
    println!("  limit: 4 hybrid signature verifications   {crypto:>9.0} /s");
    println!(
        "  accord_agreement::verify                  {full:>9.0} /s   ratio to limit {:.2}",
        full / crypto
    );
    println!(
        "  accord_agreement::status                  {status_rate:>9.0} /s   ratio to limit {:.2}",
        status_rate / crypto
    );
    println!(
        "  decide, agreement checked once (USA label, PAK person) {decisions:>9.0} /s   = {:.0} decisions per agreement verification",
        decisions / full
    );

    // Fifteen years of key amendments: one a quarter, 60 in all, in turn a new KAS key
    // (hybrid), a new TLS pin and a new signing key (signed by the old and the new).
    let mut body = a.body.clone();
    body.expires = t("2025-10-01T00:00:00Z");
    body.parties[0].node = Some(Node {
        url: "https://pak.example".into(),
        tls_spki_sha256: format!("{:064x}", 0),
        kas_keys: vec![kas_key()],
        log_verifier_key: None,
    });
    let mut amended = Agreement::draft(body).unwrap();
    amended
        .approve(&pak, "summary", t("2005-09-01T00:00:00Z"))
        .unwrap();
    amended
        .approve(&usa, "approval", t("2005-09-02T00:00:00Z"))
        .unwrap();
    amended.sign(&pak, t("2005-09-03T00:00:00Z")).unwrap();
    amended.sign(&usa, t("2005-09-04T00:00:00Z")).unwrap();
    let plain = amended.clone();
    let mut signer = pak;
    let start = t("2006-01-01T00:00:00Z").unix();
    for i in 0..60i64 {
        let at = Time::from_unix(start + i * 91 * 86_400).unwrap();
        match i % 3 {
            0 => {
                amended
                    .amend(
                        &signer,
                        KeyChange::Kas(vec![kas_key()]),
                        at,
                        None,
                        "quarterly",
                        at,
                    )
                    .unwrap();
            }
            1 => {
                let pin = format!("{:064x}", i + 1);
                amended
                    .amend(
                        &signer,
                        KeyChange::Tls {
                            spki_sha256: pin,
                            url: None,
                        },
                        at,
                        None,
                        "quarterly",
                        at,
                    )
                    .unwrap();
            }
            _ => {
                let next = SigningKey::generate(ClassicalAlg::Es384).unwrap();
                amended
                    .amend(
                        &signer,
                        KeyChange::Signing(&next),
                        at,
                        None,
                        "quarterly",
                        at,
                    )
                    .unwrap();
                signer = next;
            }
        }
    }
    assert!(verify(&amended).is_empty());
    let none = rate(budget, || {
        assert!(verify(&plain).is_empty());
    });
    let sixty = rate(budget, || {
        assert!(verify(&amended).is_empty());
    });
    let sixty_status = rate(budget, || {
        assert_eq!(status(&amended, at).unwrap().status, Status::InForce);
    });
    println!("agreement with 15 years of key amendments (60: 20 KAS, 20 TLS, 20 signing with two signatures)");
    println!(
        "  verify, no amendments (4 records)         {none:>9.0} /s   {:>7.2} ms",
        1000.0 / none
    );
    println!(
        "  verify, 60 amendments (64 records)        {sixty:>9.0} /s   {:>7.2} ms   ratio to none {:.1} (records 16x, signatures 21x)",
        1000.0 / sixty,
        none / sixty
    );
    println!(
        "  status, 60 amendments                     {sixty_status:>9.0} /s   {:>7.2} ms",
        1000.0 / sixty_status
    );
}

/// A fresh hybrid KAS public key, as a party descriptor lists it.
fn kas_key() -> KasKey {
    let k = accord_keys::KasPrivateKey::generate(accord_keys::KasAlg::HybridP384MlKem1024).unwrap();
    KasKey {
        alg: k.alg().to_string(),
        kid: k.public_key().kid(),
        key: k.public_key().to_pem(),
    }
}
