//! The lifecycle: table tests for each bad document, and the 2005 → 2020 → renewal
//! timeline of the US–Pakistan CIS-MOA.

mod common;
use accord_agreement::*;
use common::*;

fn status_at(a: &Agreement, at: &str) -> StatusReport {
    status(a, t(at)).unwrap()
}

#[test]
fn unsigned_is_a_draft() {
    let f = Fixture::new();
    let a = f.cismoa_2005();
    assert!(verify(&a).is_empty());
    let s = status_at(&a, "2010-01-01T00:00:00Z");
    assert_eq!(s.status, Status::Draft);
    assert_eq!(
        s.reasons[0],
        "agreement CISMOA-2005 is a draft: awaiting the approval of PAK, USA"
    );
}

#[test]
fn approved_by_one_party_is_still_a_draft() {
    let f = Fixture::new();
    let mut a = f.cismoa_2005();
    a.approve(
        &f.pak,
        "Cabinet circulation summary",
        t("2005-09-01T00:00:00Z"),
    )
    .unwrap();
    let s = status_at(&a, "2010-01-01T00:00:00Z");
    assert_eq!(s.status, Status::Draft);
    assert_eq!(
        s.reasons[0],
        "agreement CISMOA-2005 is a draft: awaiting the approval of USA"
    );
    assert_eq!(
        s.reasons[1],
        "approved by PAK on 2005-09-01T00:00:00Z (Cabinet circulation summary)"
    );
}

#[test]
fn partly_signed_is_approved_not_in_force() {
    let f = Fixture::new();
    let mut a = f.cismoa_2005();
    a.approve(
        &f.pak,
        "Cabinet circulation summary",
        t("2005-09-01T00:00:00Z"),
    )
    .unwrap();
    a.approve(&f.usa, "DoD", t("2005-09-02T00:00:00Z")).unwrap();
    a.sign(&f.usa, t("2005-09-03T00:00:00Z")).unwrap();
    assert!(verify(&a).is_empty());
    let s = status_at(&a, "2010-01-01T00:00:00Z");
    assert_eq!(s.status, Status::Approved);
    assert!(
        s.reasons[0].ends_with("awaiting the signature of PAK"),
        "{:?}",
        s.reasons
    );
}

#[test]
fn countersigned_lifecycle_by_time() {
    let f = Fixture::new();
    let a = f.cismoa_signed();
    assert!(verify(&a).is_empty());
    assert_eq!(
        status_at(&a, "2005-09-20T12:00:00Z").status,
        Status::Approved
    );
    let s = status_at(&a, "2005-09-25T00:00:00Z");
    assert_eq!(s.status, Status::Countersigned);
    assert_eq!(
        s.reasons,
        vec!["agreement CISMOA-2005 was countersigned on 2005-09-21T00:00:00Z but is not yet in force: it takes effect on 2005-10-01T00:00:00Z"]
    );
    assert_eq!(
        status_at(&a, "2005-10-01T00:00:00Z").status,
        Status::InForce
    );
    assert_eq!(
        status_at(&a, "2020-09-30T23:59:59Z").status,
        Status::InForce
    );
    let s = status_at(&a, "2020-10-01T00:00:00Z");
    assert_eq!(s.status, Status::Expired);
    assert_eq!(
        s.reasons,
        vec!["agreement CISMOA-2005 expired on 2020-10-01T00:00:00Z"]
    );
}

#[test]
fn one_byte_changed_in_the_body_breaks_every_record() {
    let f = Fixture::new();
    let text = f.cismoa_signed().to_toml().unwrap();
    let tampered = text.replacen("version = 1", "version = 2", 1);
    let b = Agreement::from_toml(&tampered).unwrap();
    let got = findings(&b);
    assert!(
        got[0].starts_with("record 1: (approve by PAK) does not follow the agreement body"),
        "{got:#?}"
    );
    assert!(
        got.iter().filter(|f| f.contains("signature of")).count() == 4,
        "{got:#?}"
    );
    assert!(status(&b, t("2010-01-01T00:00:00Z")).is_err());
    // One character of the title.
    let tampered = text.replacen("Memorandum", "Memorandun", 1);
    assert!(!verify(&Agreement::from_toml(&tampered).unwrap()).is_empty());
}

#[test]
fn one_byte_changed_in_a_signature() {
    let f = Fixture::new();
    let mut a = f.cismoa_signed();
    a.records[3].signature.ml_dsa_87[100] ^= 0x01;
    assert_finding(
        &a,
        "record 4: (sign by USA) signature of USA: ML-DSA-87 signature does not verify",
    );
    let mut a = f.cismoa_signed();
    a.records[2].signature.ecdsa_p384[5] ^= 0x80;
    let got = findings(&a);
    assert!(
        got[0].contains(
            "record 3: (sign by PAK) signature of PAK: ECDSA P-384 signature does not verify"
        ),
        "{got:#?}"
    );
    // The chain also notices: record 4 no longer follows record 3.
    assert_finding(&a, "record 4: (sign by USA) does not follow record 3");
}

#[test]
fn half_a_hybrid_signature_is_not_a_signature() {
    let f = Fixture::new();
    let mut a = f.cismoa_signed();
    a.records[3].signature.ml_dsa_87.clear();
    assert_finding(
        &a,
        "record 4: (sign by USA) signature of USA: ML-DSA-87 signature missing",
    );
}

#[test]
fn signature_by_a_non_party() {
    let f = Fixture::new();
    // GBR's key signs a record claiming to be USA's signature.
    let mut a = f.cismoa_2005();
    a.approve(&f.pak, "summary", t("2005-09-01T00:00:00Z"))
        .unwrap();
    push_raw(
        &mut a,
        &f.gbr,
        "USA",
        RecordKind::Approve {
            reference: "forged".into(),
        },
        "2005-09-02T00:00:00Z",
    );
    assert_finding(&a, "record 2: (approve by USA) signature of USA: ECDSA P-384 signature does not verify and ML-DSA-87 signature does not verify");
    // A record naming a party that is not in the agreement.
    let mut a = f.cismoa_2005();
    push_raw(
        &mut a,
        &f.gbr,
        "GBR",
        RecordKind::Approve {
            reference: "x".into(),
        },
        "2005-09-02T00:00:00Z",
    );
    assert_finding(
        &a,
        "record 1: (approve by GBR) GBR is not a party to the agreement (parties: PAK, USA)",
    );
    // And the library refuses to sign with a non-party key.
    let mut a = f.cismoa_2005();
    let e = a
        .approve(&f.gbr, "x", t("2005-09-01T00:00:00Z"))
        .unwrap_err();
    assert_eq!(e.to_string(), "the key given is not the signing key of any party to agreement CISMOA-2005 (parties: PAK, USA)");
}

#[test]
fn expired_and_not_yet_effective() {
    let f = Fixture::new();
    let a = f.cismoa_signed();
    assert_eq!(
        status_at(&a, "2021-01-01T00:00:00Z").status,
        Status::Expired
    );
    assert_eq!(
        status_at(&a, "2005-09-30T23:59:59Z").status,
        Status::Countersigned
    );
    // Never countersigned and past expiry.
    let d = f.cismoa_2005();
    let s = status_at(&d, "2021-01-01T00:00:00Z");
    assert_eq!(s.status, Status::Expired);
    assert_eq!(
        s.reasons[1],
        "agreement CISMOA-2005 was never countersigned"
    );
}

#[test]
fn terminated() {
    let f = Fixture::new();
    let mut a = f.cismoa_signed();
    a.terminate(&f.pak, t("2012-01-01T00:00:00Z"), t("2011-06-01T00:00:00Z"))
        .unwrap();
    assert!(verify(&a).is_empty());
    let s = status_at(&a, "2011-07-01T00:00:00Z");
    assert_eq!(s.status, Status::InForce);
    assert_eq!(
        s.reasons[1],
        "PAK has given notice of termination with effect from 2012-01-01T00:00:00Z"
    );
    let s = status_at(&a, "2012-01-01T00:00:00Z");
    assert_eq!(s.status, Status::Terminated);
    assert_eq!(s.reasons, vec!["agreement CISMOA-2005 was terminated by PAK with effect from 2012-01-01T00:00:00Z (notice signed 2011-06-01T00:00:00Z)"]);
    // Before the notice was signed the notice does not count.
    assert_eq!(
        status_at(&a, "2011-05-01T00:00:00Z").status,
        Status::InForce
    );
    assert_eq!(a.ends(), Some(t("2012-01-01T00:00:00Z")));
    // A backdated termination is refused by the library and flagged by verify.
    let mut b = f.cismoa_signed();
    assert!(b
        .terminate(&f.usa, t("2010-01-01T00:00:00Z"), t("2011-01-01T00:00:00Z"))
        .is_err());
    push_raw(
        &mut b,
        &f.usa,
        "USA",
        RecordKind::Terminate {
            effective: t("2010-01-01T00:00:00Z"),
        },
        "2011-01-01T00:00:00Z",
    );
    assert_finding(&b, "a termination cannot be backdated");
    // Terminating a draft is out of order.
    let mut c = f.cismoa_2005();
    assert!(c
        .terminate(&f.usa, t("2010-01-01T00:00:00Z"), t("2009-01-01T00:00:00Z"))
        .is_err());
}

#[test]
fn records_out_of_order() {
    let f = Fixture::new();
    // Swapping two records breaks the chain.
    let mut a = f.cismoa_signed();
    a.records.swap(1, 2);
    assert_finding(&a, "record 2: (sign by PAK) does not follow record 1");
    // Removing one breaks it too.
    let mut a = f.cismoa_signed();
    a.records.remove(1);
    assert_finding(&a, "record 2: (sign by PAK) does not follow record 1");
    // A correctly chained signature before its party's approval.
    let mut a = f.cismoa_2005();
    push_raw(
        &mut a,
        &f.pak,
        "PAK",
        RecordKind::Sign,
        "2005-09-01T00:00:00Z",
    );
    assert_finding(
        &a,
        "record 1: (sign by PAK) PAK signed before approving the agreement: records out of order",
    );
    // A record dated before the one it follows.
    let mut a = f.cismoa_2005();
    a.approve(&f.pak, "summary", t("2005-09-05T00:00:00Z"))
        .unwrap();
    push_raw(
        &mut a,
        &f.usa,
        "USA",
        RecordKind::Approve {
            reference: "x".into(),
        },
        "2005-09-01T00:00:00Z",
    );
    assert_finding(&a, "record 2: (approve by USA) is dated 2005-09-01T00:00:00Z, before the record it follows (2005-09-05T00:00:00Z): records out of order");
    // Signing twice, approving after countersignature.
    let mut a = f.cismoa_signed();
    push_raw(
        &mut a,
        &f.usa,
        "USA",
        RecordKind::Sign,
        "2005-09-22T00:00:00Z",
    );
    assert_finding(&a, "USA has already signed the agreement");
    // The library refuses to write a record older than the last one.
    let mut a = f.cismoa_2005();
    a.approve(&f.pak, "summary", t("2005-09-05T00:00:00Z"))
        .unwrap();
    assert!(a.approve(&f.usa, "x", t("2005-09-01T00:00:00Z")).is_err());
}

#[test]
fn renewal_that_overlaps_its_predecessor() {
    let f = Fixture::new();
    let old = f.cismoa_signed();
    // renew() refuses to overlap.
    assert!(old
        .renew(15, Some(t("2019-01-01T00:00:00Z")), None)
        .is_err());
    // A hand-made overlapping renewal is flagged by verify and by verify_renewal.
    let mut r = old.renew(15, None, None).unwrap();
    r.body.effective_from = t("2019-01-01T00:00:00Z");
    r.body.expires = t("2034-01-01T00:00:00Z");
    assert_finding(&r, "the renewal takes effect on 2019-01-01T00:00:00Z and overlaps its predecessor CISMOA-2005 version 1, which ends on 2020-10-01T00:00:00Z");
    assert!(verify_renewal(&r, &old)
        .iter()
        .any(|f| f.problem.contains("overlaps its predecessor CISMOA-2005")));
    // A predecessor that was terminated early may be followed from its end.
    let mut ended = f.cismoa_signed();
    ended
        .terminate(&f.usa, t("2015-01-01T00:00:00Z"), t("2014-01-01T00:00:00Z"))
        .unwrap();
    let r = ended.renew(10, None, None).unwrap();
    assert_eq!(r.body.effective_from, t("2015-01-01T00:00:00Z"));
    assert!(verify(&r).is_empty());
    assert!(verify_renewal(&r, &ended).is_empty());
    // The wrong predecessor is noticed.
    let other = Fixture::new().cismoa_signed();
    assert!(verify_renewal(&r, &other)
        .iter()
        .any(|f| f.problem.contains("is not the one the renewal names")));
    // The same body with a history that ends later (not terminated) overlaps.
    assert!(verify_renewal(&r, &old)
        .iter()
        .any(|f| f.problem.contains("overlaps its predecessor")));
}

#[test]
fn renewal_of_a_draft_is_refused() {
    let f = Fixture::new();
    let e = f
        .cismoa_2005()
        .renew(15, None, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("was never countersigned"), "{e}");
}

/// 2005 → 2020 → renewal: in force in 2010, expired in 2021, and the renewal in force
/// only after its countersignature.
#[test]
fn cismoa_2005_2020_renewal_timeline() {
    let f = Fixture::new();
    let old = f.cismoa_signed();
    assert_eq!(
        status_at(&old, "2010-06-01T00:00:00Z").status,
        Status::InForce
    );
    assert_eq!(
        status_at(&old, "2021-06-01T00:00:00Z").status,
        Status::Expired
    );

    let mut new = old
        .renew(
            15,
            Some(t("2023-08-01T00:00:00Z")),
            Some("CISMOA-2023".into()),
        )
        .unwrap();
    assert_eq!(new.body.version, 2);
    assert_eq!(new.body.expires, t("2038-08-01T00:00:00Z"));
    let p = new.body.predecessor.clone().unwrap();
    assert_eq!(
        (p.id.as_str(), p.version, p.ends),
        ("CISMOA-2005", 1, t("2020-10-01T00:00:00Z"))
    );
    new.approve(
        &f.pak,
        "Federal cabinet approval by circulation summary",
        t("2023-07-20T00:00:00Z"),
    )
    .unwrap();
    new.approve(&f.usa, "DoD approval", t("2023-07-25T00:00:00Z"))
        .unwrap();
    new.sign(&f.usa, t("2023-08-05T00:00:00Z")).unwrap();
    // Effective from 1 August, but PAK has not signed yet: not in force.
    let s = status_at(&new, "2023-08-06T00:00:00Z");
    assert_eq!(s.status, Status::Approved);
    new.sign(&f.pak, t("2023-08-10T00:00:00Z")).unwrap();
    assert_eq!(
        status_at(&new, "2023-08-09T23:59:59Z").status,
        Status::Approved
    );
    let s = status_at(&new, "2023-08-10T00:00:00Z");
    assert_eq!(s.status, Status::InForce);
    assert_eq!(s.reasons, vec!["agreement CISMOA-2023 was countersigned on 2023-08-10T00:00:00Z and is in force from 2023-08-01T00:00:00Z until 2038-08-01T00:00:00Z"]);
    // Between the two agreements nothing was in force.
    assert_eq!(
        status_at(&new, "2022-01-01T00:00:00Z").status,
        Status::Draft
    );
    assert_eq!(
        status_at(&old, "2022-01-01T00:00:00Z").status,
        Status::Expired
    );
    // The predecessor's history stays verifiable, and the renewal names it.
    assert!(verify(&old).is_empty());
    assert!(verify(&new).is_empty());
    assert!(verify_renewal(&new, &old).is_empty());
    // Through TOML too.
    let again = Agreement::from_toml(&new.to_toml().unwrap()).unwrap();
    assert!(verify_renewal(
        &again,
        &Agreement::from_toml(&old.to_toml().unwrap()).unwrap()
    )
    .is_empty());
}
