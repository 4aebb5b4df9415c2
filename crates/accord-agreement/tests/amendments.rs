//! Amendments: a party changes its own keys over the agreement's life, each change a
//! signed record of the history, and the key epochs they make. The worked example of
//! docs/design/key-lifecycle.md (two rotations of the KAS key, one of the signing key,
//! one of the TLS key with a grace period, a revocation), then every attack the issue
//! names: an amendment signed by the wrong key, out of order, replayed, or taken from
//! another agreement.

mod common;
use accord_agreement::amendment::{KeyBook, KeyKind, NewKey};
use accord_agreement::*;
use accord_keys::{ClassicalAlg, KasAlg, KasPrivateKey, SigningKey};
use common::*;

fn kas(alg: KasAlg) -> KasKey {
    let k = KasPrivateKey::generate(alg).unwrap();
    KasKey {
        alg: k.alg().to_string(),
        kid: k.public_key().kid(),
        key: k.public_key().to_pem(),
    }
}

const T1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const T2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

/// The CIS-MOA with PAK's node (a hybrid KAS key K1, TLS pin T1, a log key),
/// countersigned in 2005.
fn signed_with_node(f: &Fixture) -> (Agreement, KasKey) {
    let k1 = kas(KasAlg::HybridP384MlKem1024);
    let mut body = f.cismoa_2005().body;
    body.parties[0].node = Some(Node {
        url: "https://pak.example".into(),
        tls_spki_sha256: T1.into(),
        kas_keys: vec![k1.clone()],
        log_verifier_key: Some("pak.log.accord+0a1b2c3d+AQID".into()),
    });
    let mut a = Agreement::draft(body).unwrap();
    a.approve(&f.pak, "summary", t("2005-09-01T00:00:00Z"))
        .unwrap();
    a.approve(&f.usa, "approval", t("2005-09-02T00:00:00Z"))
        .unwrap();
    a.sign(&f.pak, t("2005-09-20T00:00:00Z")).unwrap();
    a.sign(&f.usa, t("2005-09-21T00:00:00Z")).unwrap();
    (a, k1)
}

fn err(r: Result<&Record, Error>) -> String {
    r.map(|_| ()).unwrap_err().to_string()
}

#[test]
fn keys_rotate_and_are_revoked_over_the_agreements_life() {
    let f = Fixture::new();
    let (mut a, k1) = signed_with_node(&f);
    let s2 = SigningKey::generate(ClassicalAlg::Es384).unwrap();
    let (k2, k3) = (
        kas(KasAlg::HybridP384MlKem1024),
        kas(KasAlg::HybridP384MlKem1024),
    );

    // 5: KAS K1 → K2, signed by S1.
    a.amend(
        &f.pak,
        KeyChange::Kas(vec![k2.clone()]),
        t("2008-03-01T00:00:00Z"),
        None,
        "scheduled rotation",
        t("2008-03-01T00:00:00Z"),
    )
    .unwrap();
    // 6: signing S1 → S2, signed by S1 and by S2.
    a.amend(
        &f.pak,
        KeyChange::Signing(&s2),
        t("2010-01-10T00:00:00Z"),
        None,
        "scheduled rotation",
        t("2010-01-10T00:00:00Z"),
    )
    .unwrap();
    // 7: TLS T1 → T2 with a week's grace, signed by S2 (S1 is refused now).
    let e = err(a.amend(
        &f.pak,
        KeyChange::Tls {
            spki_sha256: T2.into(),
            url: None,
        },
        t("2010-06-01T00:00:00Z"),
        None,
        "x",
        t("2010-05-01T00:00:00Z"),
    ));
    assert!(e.contains("not the signing key of any party"), "{e}");
    a.amend(
        &s2,
        KeyChange::Tls {
            spki_sha256: T2.into(),
            url: None,
        },
        t("2010-06-01T00:00:00Z"),
        Some(t("2010-06-08T00:00:00Z")),
        "certificate renewal",
        t("2010-05-01T00:00:00Z"),
    )
    .unwrap();
    // 8, 9: K2 compromised, revoked, replaced by K3.
    a.revoke(
        &s2,
        KeyKind::Kas,
        &k2.kid,
        t("2011-02-01T00:00:00Z"),
        "KAS host image exfiltrated",
        t("2011-02-03T00:00:00Z"),
    )
    .unwrap();
    a.amend(
        &s2,
        KeyChange::Kas(vec![k3.clone()]),
        t("2011-02-03T00:00:00Z"),
        None,
        "after the compromise",
        t("2011-02-03T00:00:00Z"),
    )
    .unwrap();
    // USA still signs with its body key; a termination by PAK is signed by S2.
    assert!(findings(&a).is_empty(), "{:#?}", findings(&a));

    // Both forms round-trip and verify.
    let again = Agreement::from_toml(&a.to_toml().unwrap()).unwrap();
    assert_eq!(again, a);
    let json = String::from_utf8(a.to_canonical_json().unwrap()).unwrap();
    assert_eq!(Agreement::from_json(&json).unwrap(), a);

    // The epochs, as known now.
    let book = a.key_book(t("2015-01-01T00:00:00Z")).unwrap();
    let kas_epochs: Vec<(String, Option<Time>, Option<Time>, bool)> = book
        .epochs("PAK", KeyKind::Kas)
        .iter()
        .map(|e| (e.id.clone(), e.from, e.until, e.revoked.is_some()))
        .collect();
    assert_eq!(
        kas_epochs,
        vec![
            (k1.kid.clone(), None, Some(t("2008-03-01T00:00:00Z")), false),
            (
                k2.kid.clone(),
                Some(t("2008-03-01T00:00:00Z")),
                Some(t("2011-02-03T00:00:00Z")),
                true
            ),
            (k3.kid.clone(), Some(t("2011-02-03T00:00:00Z")), None, false),
        ]
    );
    assert_eq!(
        book.signing_keys("PAK"),
        Some(&Signer::public_keys(&s2).unwrap())
    );
    // TLS: the old pin is accepted until the grace ends, then only the new one.
    let pins = |book: &KeyBook, at: &str| -> Vec<String> {
        book.in_force("PAK", KeyKind::Tls, t(at))
            .iter()
            .map(|e| e.id.clone())
            .collect()
    };
    assert_eq!(pins(&book, "2010-05-31T23:59:59Z"), [T1]);
    assert_eq!(pins(&book, "2010-06-07T23:59:59Z"), [T1, T2]);
    assert_eq!(pins(&book, "2010-06-08T00:00:00Z"), [T2]);
    // A revoked key is not in force from its compromise on.
    let kas_at = |at: &str| -> Vec<String> {
        book.in_force("PAK", KeyKind::Kas, t(at))
            .iter()
            .map(|e| e.id.clone())
            .collect()
    };
    assert_eq!(kas_at("2011-01-31T23:59:59Z"), [k2.kid.as_str()]);
    assert!(kas_at("2011-02-02T00:00:00Z").is_empty());
    // What was known in 2009 has no revocation and S1 in force.
    let then = a.key_book(t("2009-01-01T00:00:00Z")).unwrap();
    assert!(then
        .epochs("PAK", KeyKind::Kas)
        .iter()
        .all(|e| e.revoked.is_none()));
    assert_eq!(
        then.signing_keys("PAK"),
        Some(&Signer::public_keys(&f.pak).unwrap())
    );
    // The amendments do not change the status.
    assert_eq!(
        status(&a, t("2012-01-01T00:00:00Z")).unwrap().status,
        Status::InForce
    );
    // And later records of PAK are signed with S2.
    a.terminate(&s2, t("2019-01-01T00:00:00Z"), t("2018-01-01T00:00:00Z"))
        .unwrap();
    assert!(findings(&a).is_empty());
    assert!(a.records[5]
        .kind
        .describe_amendment()
        .unwrap()
        .contains("signing key"));
}

#[test]
fn amendments_signed_by_the_wrong_key_are_refused() {
    let f = Fixture::new();
    let (base, _) = signed_with_node(&f);
    let s2 = SigningKey::generate(ClassicalAlg::Es384).unwrap();
    let k2 = kas(KasAlg::HybridP384MlKem1024);
    let kas_amend = |replaces: &str| RecordKind::Amend {
        key: KeyKind::Kas,
        effective: t("2008-03-01T00:00:00Z"),
        grace_until: None,
        replaces: replaces.into(),
        reason: "r".into(),
        new: NewKey::Kas(vec![k2.clone()]),
    };
    let k1 = base.body.parties[0].node.as_ref().unwrap().kas_keys[0]
        .kid
        .clone();

    // Signed only by a key that is not PAK's in force (the new key, say).
    let mut a = base.clone();
    push_raw(&mut a, &s2, "PAK", kas_amend(&k1), "2008-03-01T00:00:00Z");
    assert_finding(&a, "signature of PAK: ECDSA P-384 signature does not verify and ML-DSA-87 signature does not verify");
    // Signed by the other party.
    let mut a = base.clone();
    push_raw(
        &mut a,
        &f.usa,
        "PAK",
        kas_amend(&k1),
        "2008-03-01T00:00:00Z",
    );
    assert_finding(&a, "signature of PAK");

    // A signing amendment without the new key's signature.
    let mut a = base.clone();
    a.amend(
        &f.pak,
        KeyChange::Signing(&s2),
        t("2010-01-10T00:00:00Z"),
        None,
        "r",
        t("2010-01-10T00:00:00Z"),
    )
    .unwrap();
    let mut stripped = a.clone();
    if let RecordKind::Amend {
        new: NewKey::Signing { new_signature, .. },
        ..
    } = &mut stripped.records[4].kind
    {
        new_signature.ml_dsa_87.clear();
    }
    assert_finding(
        &stripped,
        "new-signature (the new signing key's, over the same record): ML-DSA-87 signature missing",
    );
    // The reader refuses a signing amendment with no new-signature at all.
    let toml = a.to_toml().unwrap();
    let cut: String = toml
        .lines()
        .filter(|l| !l.starts_with("new-signature") && !l.starts_with("[records.new-signature]"))
        .collect::<Vec<_>>()
        .join("\n");
    let e = Agreement::from_toml(&cut);
    assert!(e.is_err(), "a signing amendment without new-signature read");

    // After the signing amendment, a record by the old key is refused.
    let mut old = a.clone();
    push_raw(
        &mut old,
        &f.pak,
        "PAK",
        RecordKind::Terminate {
            effective: t("2019-01-01T00:00:00Z"),
        },
        "2018-01-01T00:00:00Z",
    );
    assert_finding(&old, "signature of PAK");
    assert_finding(&old, "from record 5");
}

#[test]
fn amendments_out_of_order_replayed_or_from_another_agreement_are_refused() {
    let f = Fixture::new();
    let (base, _) = signed_with_node(&f);
    let k2 = kas(KasAlg::HybridP384MlKem1024);

    // Before the agreement is countersigned: refused by the library, and found when
    // written by hand.
    let mut draft = f.cismoa_2005();
    let e = err(draft.amend(
        &f.pak,
        KeyChange::Kas(vec![k2.clone()]),
        t("2005-08-01T00:00:00Z"),
        None,
        "r",
        t("2005-08-01T00:00:00Z"),
    ));
    assert!(e.contains("not countersigned"), "{e}");
    // Backdated: the new key in effect before the amendment was signed.
    let mut a = base.clone();
    let e = err(a.amend(
        &f.pak,
        KeyChange::Kas(vec![k2.clone()]),
        t("2008-01-01T00:00:00Z"),
        None,
        "r",
        t("2008-03-01T00:00:00Z"),
    ));
    assert!(e.contains("cannot be backdated"), "{e}");
    // Dated before the record it follows.
    let e = err(a.amend(
        &f.pak,
        KeyChange::Kas(vec![k2.clone()]),
        t("2005-09-10T00:00:00Z"),
        None,
        "r",
        t("2005-09-10T00:00:00Z"),
    ));
    assert!(e.contains("before the last record"), "{e}");
    // After the agreement expired.
    let e = err(a.amend(
        &f.pak,
        KeyChange::Kas(vec![k2.clone()]),
        t("2021-01-01T00:00:00Z"),
        None,
        "r",
        t("2021-01-01T00:00:00Z"),
    ));
    assert!(e.contains("after the agreement expired"), "{e}");

    // The same amendment twice: the copy does not follow the record before it, and
    // brings a key that was the party's already.
    a.amend(
        &f.pak,
        KeyChange::Kas(vec![k2.clone()]),
        t("2008-03-01T00:00:00Z"),
        None,
        "r",
        t("2008-03-01T00:00:00Z"),
    )
    .unwrap();
    let mut twice = a.clone();
    twice.records.push(a.records[4].clone());
    assert_finding(&twice, "record 6: (amend by PAK) does not follow record 5");
    assert_finding(&twice, "was PAK's before");

    // Taken from another agreement with the same parties and keys: the chain and the
    // signature (which covers the other body's digest) both fail.
    let mut other_body = base.body.clone();
    other_body.id = "CISMOA-OTHER".into();
    let mut other = Agreement::draft(other_body).unwrap();
    other
        .approve(&f.pak, "summary", t("2005-09-01T00:00:00Z"))
        .unwrap();
    other
        .approve(&f.usa, "approval", t("2005-09-02T00:00:00Z"))
        .unwrap();
    other.sign(&f.pak, t("2005-09-20T00:00:00Z")).unwrap();
    other.sign(&f.usa, t("2005-09-21T00:00:00Z")).unwrap();
    other
        .amend(
            &f.pak,
            KeyChange::Kas(vec![k2.clone()]),
            t("2008-03-01T00:00:00Z"),
            None,
            "r",
            t("2008-03-01T00:00:00Z"),
        )
        .unwrap();
    let mut grafted = base.clone();
    grafted.records.push(other.records[4].clone());
    assert_finding(
        &grafted,
        "record 5: (amend by PAK) does not follow record 4",
    );
    assert_finding(&grafted, "record 5: (amend by PAK) signature of PAK");

    // A key that comes back (K2 → K1), a hybrid key replaced by RSA alone, a grace
    // period for a KAS key or of more than 90 days, a revocation of a key never had or
    // compromised in the future.
    let k1 = base.body.parties[0].node.clone().unwrap().kas_keys;
    let e = err(a.amend(
        &f.pak,
        KeyChange::Kas(k1),
        t("2009-01-01T00:00:00Z"),
        None,
        "r",
        t("2009-01-01T00:00:00Z"),
    ));
    assert!(e.contains("a key never comes back"), "{e}");
    let e = err(a.amend(
        &f.pak,
        KeyChange::Kas(vec![kas(KasAlg::Rsa2048)]),
        t("2009-01-01T00:00:00Z"),
        None,
        "r",
        t("2009-01-01T00:00:00Z"),
    ));
    assert!(e.contains("a downgrade"), "{e}");
    let e = err(a.amend(
        &f.pak,
        KeyChange::Kas(vec![kas(KasAlg::HybridP384MlKem1024)]),
        t("2009-01-01T00:00:00Z"),
        Some(t("2009-01-02T00:00:00Z")),
        "r",
        t("2009-01-01T00:00:00Z"),
    ));
    assert!(e.contains("has no grace period"), "{e}");
    let e = err(a.amend(
        &f.pak,
        KeyChange::Tls {
            spki_sha256: T2.into(),
            url: None,
        },
        t("2009-01-01T00:00:00Z"),
        Some(t("2009-06-01T00:00:00Z")),
        "r",
        t("2009-01-01T00:00:00Z"),
    ));
    assert!(e.contains("90 days"), "{e}");
    let e = err(a.revoke(
        &f.pak,
        KeyKind::Kas,
        T2,
        t("2009-01-01T00:00:00Z"),
        "r",
        t("2009-01-01T00:00:00Z"),
    ));
    assert!(e.contains("never had"), "{e}");
    let e = err(a.revoke(
        &f.pak,
        KeyKind::Kas,
        &k2.kid,
        t("2009-02-01T00:00:00Z"),
        "r",
        t("2009-01-01T00:00:00Z"),
    ));
    assert!(e.contains("after the revocation was signed"), "{e}");
    // USA's key cannot touch PAK's: an amendment is always of the signer's own keys,
    // and USA, which the body gives no node, has no node keys to amend (a node is
    // added by redrafting, which PAK signs too).
    let e = err(a.amend(
        &f.usa,
        KeyChange::Tls {
            spki_sha256: T2.into(),
            url: None,
        },
        t("2009-01-01T00:00:00Z"),
        None,
        "r",
        t("2009-01-01T00:00:00Z"),
    ));
    assert!(e.contains("USA has no node in the agreement"), "{e}");
    // A KAS key of PAK cannot become USA's offline key, nor come back to PAK.
    let e = err(a.amend(
        &f.usa,
        KeyChange::OfflineKas(vec![k2.clone()]),
        t("2009-01-01T00:00:00Z"),
        None,
        "r",
        t("2009-01-01T00:00:00Z"),
    ));
    assert!(e.contains("was PAK's, not USA's before"), "{e}");
    // The same key twice in one amendment.
    let k4 = kas(KasAlg::HybridP384MlKem1024);
    let e = err(a.amend(
        &f.pak,
        KeyChange::Kas(vec![k4.clone(), k4]),
        t("2009-01-01T00:00:00Z"),
        None,
        "r",
        t("2009-01-01T00:00:00Z"),
    ));
    assert!(e.contains("listed twice"), "{e}");
    // The signing key in force cannot be revoked (its holder could still sign): it is
    // replaced first, then revoked.
    let s1 = Signer::public_keys(&f.pak).unwrap().kids().0;
    let e = err(a.revoke(
        &f.pak,
        KeyKind::Signing,
        &s1,
        t("2009-01-01T00:00:00Z"),
        "r",
        t("2009-01-01T00:00:00Z"),
    ));
    assert!(e.contains("amend the signing key first"), "{e}");
    // A record dated in the future.
    let e = err(a.amend(
        &f.pak,
        KeyChange::Kas(vec![kas(KasAlg::HybridP384MlKem1024)]),
        t("2099-01-01T00:00:00Z"),
        None,
        "r",
        t("2099-01-01T00:00:00Z"),
    ));
    assert!(
        e.contains("in the future") || e.contains("after the agreement expired"),
        "{e}"
    );
    // A renewal would copy the body's keys, superseded since: refused.
    let e = a.renew(5, None, None).unwrap_err().to_string();
    assert!(e.contains("has key amendments"), "{e}");
    assert!(findings(&a).is_empty());
}

#[test]
fn every_amendment_reads_back_as_written() {
    // A party's first offline KAS key (the body gave it none: `replaces` is absent),
    // a TLS key with a new URL and a grace period, a log key, a signing key, a
    // revocation: each round-trips through TOML and JSON and verifies.
    let f = Fixture::new();
    let (mut a, _) = signed_with_node(&f);
    let s2 = SigningKey::generate(ClassicalAlg::Es384).unwrap();
    a.amend(
        &f.usa,
        KeyChange::OfflineKas(vec![kas(KasAlg::HybridP384MlKem1024)]),
        t("2008-01-01T00:00:00Z"),
        None,
        "first offline key",
        t("2008-01-01T00:00:00Z"),
    )
    .unwrap();
    a.amend(
        &f.pak,
        KeyChange::Tls {
            spki_sha256: T2.into(),
            url: Some("https://pak2.example".into()),
        },
        t("2008-02-01T00:00:00Z"),
        Some(t("2008-02-08T00:00:00Z")),
        "moved",
        t("2008-01-15T00:00:00Z"),
    )
    .unwrap();
    a.amend(
        &f.pak,
        KeyChange::Log("pak.log.accord+0a1b2c3e+AQ+D".into()),
        t("2008-03-01T00:00:00Z"),
        Some(t("2008-03-02T00:00:00Z")),
        "new log key",
        t("2008-03-01T00:00:00Z"),
    )
    .unwrap();
    a.amend(
        &f.pak,
        KeyChange::Signing(&s2),
        t("2008-04-01T00:00:00Z"),
        None,
        "rotation",
        t("2008-04-01T00:00:00Z"),
    )
    .unwrap();
    a.revoke(
        &s2,
        KeyKind::Tls,
        T1,
        t("2008-02-02T00:00:00Z"),
        "old host sold",
        t("2008-05-02T00:00:00Z"),
    )
    .unwrap();
    assert!(findings(&a).is_empty(), "{:#?}", findings(&a));
    let toml = a.to_toml().unwrap();
    assert_eq!(Agreement::from_toml(&toml).unwrap(), a, "{toml}");
    let json = String::from_utf8(a.to_canonical_json().unwrap()).unwrap();
    assert_eq!(Agreement::from_json(&json).unwrap(), a);
    // The log key's id is its name and hash, though its key holds `+`.
    let book = a.key_book(t("2009-01-01T00:00:00Z")).unwrap();
    assert_eq!(
        book.current("PAK", KeyKind::Log)[0].id,
        "pak.log.accord+0a1b2c3e"
    );
    // A revoked TLS key is out from its compromise, within its grace period too.
    assert_eq!(
        book.in_force("PAK", KeyKind::Tls, t("2008-02-01T12:00:00Z"))
            .len(),
        2
    );
    let tls = book.in_force("PAK", KeyKind::Tls, t("2008-02-03T00:00:00Z"));
    assert!(
        tls.iter().all(|e| e.id == T2),
        "{tls:#?} {:#?}",
        book.epochs("PAK", KeyKind::Tls)
    );
}

#[test]
fn an_amendment_has_only_the_fields_of_its_key() {
    let f = Fixture::new();
    let (mut a, _) = signed_with_node(&f);
    a.amend(
        &f.pak,
        KeyChange::Tls {
            spki_sha256: T2.into(),
            url: None,
        },
        t("2008-03-01T00:00:00Z"),
        None,
        "renewal",
        t("2008-03-01T00:00:00Z"),
    )
    .unwrap();
    let toml = a.to_toml().unwrap();
    let e = Agreement::from_toml(&toml.replace("key = \"tls\"", "key = \"vault\"")).unwrap_err();
    assert!(e.to_string().contains("unknown key \"vault\""), "{e}");
    let e = Agreement::from_toml(&toml.replace(
        "reason = \"renewal\"",
        "reason = \"renewal\"\nreference = \"x\"",
    ))
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("`records[4].reference`: unknown field"),
        "{e}"
    );
    let e = Agreement::from_toml(&toml.replace(T2, "not-a-pin")).unwrap_err();
    assert!(e.to_string().contains("64 lower-case hex"), "{e}");
}
