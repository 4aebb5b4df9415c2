//! Equipment records against the agreement and against forgery, in process: a transfer
//! under an agreement that does not cover EQUIPMENT, one that is terminated and one that
//! has expired are refused with the reasons `accord_agreement::admit` gives for the same
//! label, agreement and parties (one decision, not a rule of the route's own), and
//! logged; a record altered, forged, or delivered by a node that did not make it is
//! refused by the receiving node and logged there; the same record delivered twice is
//! taken once. The whole story between two processes is
//! `crates/accord/tests/equipment.rs`.

use accord_agreement::{Agreement, Body, Party, Scope, Time};
use accord_equipment::record::{Body as RecordBody, Record};
use accord_keys::SigningKey;
use accord_node::directory::{self, Enrolment};
use accord_node::home::Home;
use accord_node::server::ServeOptions;
use accord_node_api::client::Client;
use accord_node_api::wire;
use accord_test_support::{
    countersign, load_agreement, pak_usa_translations, sandbox, signing_key, Pair,
};
use serde_json::json;
use std::time::{Duration, Instant};

const MARKING_USA: &str = "CONFIDENTIAL//REL TO USA, PAK//SCOPE EQUIPMENT";

/// Draft, sign and submit.
fn make(
    c: &Client,
    key: &SigningKey,
    d: serde_json::Value,
) -> Result<wire::Submitted, accord_node::Error> {
    let body: RecordBody = c.post_json("/v1/equipment/drafts", &d)?;
    let mut r = Record::new(body);
    r.sign(&c.credential().person, key).unwrap();
    c.post_bytes(
        "/v1/equipment/records",
        "application/json",
        r.to_json().into_bytes(),
    )
}

/// An agreement between PAK and USA made here: `scopes`, from yesterday for a year,
/// terminated yesterday when `terminated`.
fn agreement(id: &str, pak: &Home, usa: &Home, scopes: Vec<Scope>, terminated: bool) -> String {
    let start = Time::from_unix(Time::now().unix() - 2 * 86_400).unwrap();
    let mut a = Agreement::draft(Body {
        id: id.into(),
        title: format!("{id} (test)"),
        version: 1,
        predecessor: None,
        effective_from: start,
        expires: start.plus_years(1).unwrap(),
        scopes,
        ceiling: Some("SECRET".into()),
        translations: pak_usa_translations(),
        terms: "Test.".into(),
        parties: [pak, usa]
            .iter()
            .map(|h| Party::from_descriptor(&h.party).unwrap())
            .collect(),
    })
    .unwrap();
    countersign(&mut a, &[(pak, "approved"), (usa, "approved")], start);
    if terminated {
        let when = Time::from_unix(Time::now().unix() - 86_400).unwrap();
        a.terminate(
            &signing_key(usa),
            when,
            Time::from_unix(start.unix() + 60).unwrap(),
        )
        .unwrap();
    }
    a.to_toml().unwrap()
}

/// The reasons `accord_agreement::admit` gives for a record of USA's under `id`.
fn admit_reasons(home: &Home, agreement_text: &str, at: Time) -> Vec<String> {
    let a = Agreement::parse(agreement_text).unwrap();
    let checked = accord_agreement::Checked::new(&a);
    let label = home
        .policies
        .get("USA")
        .unwrap()
        .parse_marking(MARKING_USA, "")
        .unwrap();
    let d = accord_agreement::admit(
        &home.policies,
        &accord_agreement::Transfer {
            label: &label,
            agreement: &checked,
            from: "USA",
            to: "PAK",
            at,
        },
    );
    assert!(!d.permit);
    d.reasons.into_iter().map(|r| r.text).collect()
}

fn setup(clock_offset_secs: i64) -> (Pair, String, String) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sb = sandbox(&rt, tmp.path());
    let noeq = agreement(
        "NO-EQUIPMENT",
        &sb.pak,
        &sb.usa,
        vec![Scope::Exercises, Scope::Training],
        false,
    );
    let ended = agreement("TERMINATED", &sb.pak, &sb.usa, Scope::ALL.to_vec(), true);
    for h in [&sb.pak, &sb.usa] {
        load_agreement(&rt, h, &noeq);
        load_agreement(&rt, h, &ended);
    }
    let opts = move || ServeOptions {
        clock: std::sync::Arc::new(move || {
            Time::from_unix(Time::now().unix() + clock_offset_secs).unwrap()
        }),
        ..ServeOptions::default()
    };
    (Pair::serve(rt, tmp, sb, opts), noeq, ended)
}

fn open_account(p: &Pair, officer: &str, id: &str, custodian: &str, marking: &str) {
    let c = Client::new(p.sb.credential(officer).unwrap()).unwrap();
    let _: wire::AccountView = c
        .post_json(
            "/v1/equipment/accounts",
            &json!({"id": id, "custodian": custodian, "marking": marking}),
        )
        .unwrap();
}

fn import(c: &Client, account: &str, serials: std::ops::RangeInclusive<u32>) {
    let mut csv = String::from("nomenclature,serial,class,title_holder\n");
    for i in serials {
        csv.push_str(&format!("KIV-77,U{i:03},cci,USA\n"));
    }
    let _: wire::Imported = c
        .post_bytes(
            &format!("/v1/equipment/accounts/{account}/import"),
            "text/csv",
            csv.into_bytes(),
        )
        .unwrap();
}

fn transfer(agreement: &str, serial: &str) -> serde_json::Value {
    json!({"kind": "transfer", "account": "USA-FMS-1", "partner": "PAK", "agreement": agreement,
           "items": [{"nomenclature": "KIV-77", "serial": serial}]})
}

/// Delivers record `r` to the node at `url` as a node would (`http` carries that
/// node's TLS key): the status and the JSON answered.
fn put_record(
    rt: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    url: &str,
    r: &Record,
) -> (u16, serde_json::Value) {
    rt.block_on(async {
        let resp = http
            .put(format!("{url}/v1/fed/equipment/records/{}", r.body.id))
            .header("content-type", "application/json")
            .body(r.to_json())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    })
}

fn denied(r: Result<wire::Submitted, accord_node::Error>) -> Vec<wire::Reason> {
    match r {
        Err(accord_node::Error::Denied(reasons)) => reasons,
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[test]
fn transfers_are_refused_when_the_agreement_does_not_allow_them_with_the_decisions_reasons() {
    let (p, noeq, ended) = setup(0);
    let (usa_c, usa_key) = accord_test_support::custodian(&p.rt, &p.sb.usa, "usa-custodian");
    open_account(&p, "usa-officer", "USA-FMS-1", "usa-custodian", MARKING_USA);
    import(&usa_c, "USA-FMS-1", 1..=3);
    let now = Time::now();
    for (id, text, rule) in [
        ("NO-EQUIPMENT", &noeq, "agreement-scope"),
        ("TERMINATED", &ended, "agreement-in-force"),
    ] {
        let reasons = denied(make(&usa_c, &usa_key, transfer(id, "U001")));
        let rules: Vec<&str> = reasons.iter().map(|r| r.rule.as_str()).collect();
        assert!(rules.contains(&rule), "{id}: {reasons:?}");
        // The route says what the one decision says, reason for reason.
        for want in admit_reasons(&p.sb.usa, text, now) {
            assert!(
                reasons.iter().any(|r| r.text == want),
                "{id}: {want:?} not in {reasons:?}"
            );
        }
    }
    // Nothing moved, and each refusal is in USA's log.
    let items: Vec<wire::ItemView> = usa_c.get_json("/v1/equipment/items").unwrap();
    assert!(items.iter().all(|i| i.status == "in-service"), "{items:?}");
    p.usa.publish_log().unwrap();
    let log = accord_test_support::log_entries(&p.sb.usa);
    let refused = log
        .iter()
        .filter(|e| {
            e["kind"] == "equipment" && e["decision"] == "deny" && e["change"] == "transfer"
        })
        .count();
    assert_eq!(refused, 2, "{log:#?}");
    // Under the sandbox agreement (in force, covering EQUIPMENT) it goes.
    let ok = make(
        &usa_c,
        &usa_key,
        transfer(accord_node::sandbox::AGREEMENT_ID, "U001"),
    )
    .unwrap();
    assert_eq!(ok.state, "done");
}

#[test]
fn a_transfer_under_an_expired_agreement_is_refused() {
    // The nodes' clock 16 years on: the sandbox's 15-year agreement has expired.
    let (p, _, _) = setup(16 * 366 * 86_400);
    let (usa_c, usa_key) = accord_test_support::custodian(&p.rt, &p.sb.usa, "usa-custodian");
    open_account(&p, "usa-officer", "USA-FMS-1", "usa-custodian", MARKING_USA);
    import(&usa_c, "USA-FMS-1", 1..=1);
    let reasons = denied(make(
        &usa_c,
        &usa_key,
        transfer(accord_node::sandbox::AGREEMENT_ID, "U001"),
    ));
    assert!(
        reasons
            .iter()
            .any(|r| r.rule.as_str() == "agreement-in-force" && r.text.contains("expired")),
        "{reasons:?}"
    );
}

#[test]
fn an_altered_forged_or_misdelivered_record_is_refused_by_the_receiving_node() {
    let (p, _, _) = setup(0);
    let (usa_c, usa_key) = accord_test_support::custodian(&p.rt, &p.sb.usa, "usa-custodian");
    let (pak_c, _) = accord_test_support::custodian(&p.rt, &p.sb.pak, "pak-custodian");
    open_account(&p, "usa-officer", "USA-FMS-1", "usa-custodian", MARKING_USA);
    open_account(
        &p,
        "pak-officer",
        "PAK-CCI-1",
        "pak-custodian",
        "CONFIDENTIAL//REL TO PAK, USA//SCOPE EQUIPMENT",
    );
    import(&usa_c, "USA-FMS-1", 1..=2);
    let s = make(
        &usa_c,
        &usa_key,
        transfer(accord_node::sandbox::AGREEMENT_ID, "U001"),
    )
    .unwrap();
    // PAK takes it (delivered in the background).
    let t0 = Instant::now();
    while pak_c
        .get_json::<Vec<wire::RecordView>>("/v1/equipment/records?kind=transfer")
        .unwrap()
        .is_empty()
    {
        assert!(t0.elapsed() < Duration::from_secs(30), "never delivered");
        std::thread::sleep(Duration::from_millis(50));
    }
    let v: serde_json::Value = usa_c
        .get_json(&format!("/v1/equipment/records/{}", s.id))
        .unwrap();
    let signed: Record = serde_json::from_value(v["record"].clone()).unwrap();
    signed
        .verify_attested(
            &accord_agreement::SigningKeys::from_public(signing_key(&p.sb.usa).public_keys())
                .unwrap(),
        )
        .unwrap();

    // Deliver to PAK as USA's node would, with USA's node key.
    let (partner, http) =
        accord_test_support::as_node(&p.rt, &p.usa, &p.sb.usa, "PAK", Duration::from_secs(10));
    let put = |r: &Record| put_record(&p.rt, &http, &partner.url, r);
    // The same record again: held already, taken once.
    let (status, body) = put(&signed);
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("unchanged")),
        "{body}"
    );

    // Altered after signing: another serial, same id.
    let mut altered = signed.clone();
    altered.body.items[0].key.serial = "U002".into();
    let (status, body) = put(&altered);
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("signature"),
        "{body}"
    );

    // Forged: a new record in the custodian's name, signed with a key of the forger's
    // and "attested" with another key than the one the agreement pins for USA.
    let mut forged_body = signed.body.clone();
    forged_body.id = accord_equipment::record::new_id();
    forged_body.items[0].key.serial = "U002".into();
    let mut forged = Record::new(forged_body);
    let mallory = SigningKey::generate(accord_keys::ClassicalAlg::Es384).unwrap();
    forged.sign("usa-custodian", &mallory).unwrap();
    forged.attest(&mallory).unwrap();
    let (status, body) = put(&forged);
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("attestation"),
        "{body}"
    );

    // A record of PAK's own, "delivered" by USA's node: a node delivers its own records.
    let mut theirs = signed.clone();
    theirs.body.party = "PAK".into();
    theirs.body.id = accord_equipment::record::new_id();
    let (status, body) = put(&theirs);
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("its own party's records"),
        "{body}"
    );

    // Only one transfer at PAK, and each refusal in PAK's log with its reasons.
    let held: Vec<wire::RecordView> = pak_c
        .get_json("/v1/equipment/records?kind=transfer")
        .unwrap();
    assert_eq!(held.len(), 1);
    p.pak.publish_log().unwrap();
    let log = accord_test_support::log_entries(&p.sb.pak);
    let refusals: Vec<_> = log
        .iter()
        .filter(|e| e["kind"] == "equipment" && e["decision"] == "deny" && e["partner"] == "USA")
        .collect();
    assert_eq!(refusals.len(), 3, "{log:#?}");
    assert!(refusals
        .iter()
        .all(|e| !e["reasons"].as_array().unwrap().is_empty()));
    let taken = log
        .iter()
        .filter(|e| {
            e["kind"] == "equipment" && e["decision"] == "permit" && e["object"] == s.id.as_str()
        })
        .count();
    assert_eq!(taken, 1, "delivered twice, taken and logged once");
}

/// An incident reported at PAK reaches USA at once, and shows as overdue there once 24
/// hours pass unacknowledged (USA's clock is a day and an hour ahead of PAK's).
/// A destruction needs the custodian and two witnesses, each signing with their own key.
/// A custodian whose clearance does not reach an account's label does not see its items:
/// the ledger is decided like any object.
#[test]
fn incidents_fall_overdue_destructions_are_witnessed_and_items_are_decided_for_the_reader() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sb = sandbox(&rt, tmp.path());
    // Pair::serve starts PAK, then USA.
    let started = std::sync::atomic::AtomicUsize::new(0);
    let opts = move || {
        let ahead = if started.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            0
        } else {
            25 * 3600
        };
        ServeOptions {
            clock: std::sync::Arc::new(move || {
                Time::from_unix(Time::now().unix() + ahead).unwrap()
            }),
            ..ServeOptions::default()
        }
    };
    let p = Pair::serve(rt, tmp, sb, opts);
    let (usa_c, usa_key) = accord_test_support::custodian(&p.rt, &p.sb.usa, "usa-custodian");
    let (pak_c, pak_key) = accord_test_support::custodian(&p.rt, &p.sb.pak, "pak-custodian");
    let (w1, w1_key) = accord_test_support::custodian(&p.rt, &p.sb.pak, "pak-w1");
    let (w2, w2_key) = accord_test_support::custodian(&p.rt, &p.sb.pak, "pak-w2");
    open_account(&p, "usa-officer", "USA-FMS-1", "usa-custodian", MARKING_USA);
    open_account(
        &p,
        "pak-officer",
        "PAK-CCI-1",
        "pak-custodian",
        "CONFIDENTIAL//REL TO PAK, USA//SCOPE EQUIPMENT",
    );
    import(&usa_c, "USA-FMS-1", 1..=3);
    // USA's clock is ahead: its record is dated in PAK's future, which PAK takes (the
    // agreement is in force at PAK's now too).
    let t = make(&usa_c, &usa_key, json!({"kind": "transfer", "account": "USA-FMS-1", "partner": "PAK",
        "agreement": accord_node::sandbox::AGREEMENT_ID,
        "items": [{"nomenclature": "KIV-77", "serial": "U001"}, {"nomenclature": "KIV-77", "serial": "U002"}, {"nomenclature": "KIV-77", "serial": "U003"}]})).unwrap();
    let wait = |c: &Client, kind: &str| {
        let t0 = Instant::now();
        loop {
            let v: Vec<wire::RecordView> = c
                .get_json(&format!("/v1/equipment/records?kind={kind}"))
                .unwrap();
            if let Some(r) = v.into_iter().next() {
                return r;
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "no {kind}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait(&pak_c, "transfer");
    make(
        &pak_c,
        &pak_key,
        json!({"kind": "receipt", "account": "PAK-CCI-1", "refers": t.id}),
    )
    .unwrap();
    let inc = make(
        &pak_c,
        &pak_key,
        json!({"kind": "incident", "account": "PAK-CCI-1",
        "items": [{"nomenclature": "KIV-77", "serial": "U001"}], "note": "lost in transit"}),
    )
    .unwrap();
    let at_usa = wait(&usa_c, "incident");
    assert_eq!(at_usa.id, inc.id);
    assert!(at_usa.overdue, "{at_usa:?}");
    // At PAK the clock has not run out yet.
    let at_pak = wait(&pak_c, "incident");
    assert!(!at_pak.overdue && at_pak.due.is_some(), "{at_pak:?}");

    // Destruction: the custodian, then each witness.
    let d = make(&pak_c, &pak_key, json!({"kind": "destruction", "account": "PAK-CCI-1",
        "items": [{"nomenclature": "KIV-77", "serial": "U002"}], "witnesses": ["pak-w1", "pak-w2"]})).unwrap();
    assert_eq!(
        (d.state.as_str(), d.next_signer.as_deref()),
        ("pending", Some("pak-w1"))
    );
    let cosign = |c: &Client, key: &SigningKey| -> Result<wire::Submitted, accord_node::Error> {
        let v: serde_json::Value = c
            .get_json(&format!("/v1/equipment/records/{}", d.id))
            .unwrap();
        let mut r: Record = serde_json::from_value(v["record"].clone()).unwrap();
        r.sign(&c.credential().person, key).unwrap();
        c.post_bytes(
            "/v1/equipment/records",
            "application/json",
            r.to_json().into_bytes(),
        )
    };
    // The second witness cannot sign before the first (the record names the order).
    assert!(w2
        .get_json::<serde_json::Value>(&format!("/v1/equipment/records/{}", d.id))
        .is_ok());
    let s = cosign(&w1, &w1_key).unwrap();
    assert_eq!(s.next_signer.as_deref(), Some("pak-w2"));
    let item: wire::ItemHistory = pak_c
        .get_json("/v1/equipment/item?nomenclature=KIV-77&serial=U002")
        .unwrap();
    assert_eq!(
        item.item.status, "in-service",
        "not destroyed until every witness signed"
    );
    let s = cosign(&w2, &w2_key).unwrap();
    assert_eq!(s.state, "done");
    let item: wire::ItemHistory = pak_c
        .get_json("/v1/equipment/item?nomenclature=KIV-77&serial=U002")
        .unwrap();
    assert_eq!(item.item.status, "destroyed");

    // A custodian cleared UNCLASSIFIED only sees none of an account marked CONFIDENTIAL.
    let clearance = json!({"policy": {"name": "PAK"}, "classifications": ["UNCLASSIFIED"],
        "categories": [{"tagSet": "Releasable To", "values": ["PAK"]}, {"tagSet": "Scope", "values": ["EQUIPMENT"]}]});
    let (_, cred) =
        p.rt.block_on(directory::add(
            &p.sb.pak,
            &Enrolment {
                id: "pak-low".into(),
                name: "low".into(),
                nationality: "PAK".into(),
                clearance: ("c.json".into(), clearance.to_string().into_bytes()),
                scopes: vec!["EQUIPMENT".into()],
                role: accord_agreement::Role::Custodian,
            },
        ))
        .unwrap();
    let low = Client::new(cred).unwrap();
    let seen: Vec<wire::ItemView> = low.get_json("/v1/equipment/items").unwrap();
    assert!(seen.is_empty(), "{seen:?}");
    let all: Vec<wire::ItemView> = pak_c.get_json("/v1/equipment/items").unwrap();
    assert_eq!(all.len(), 3);
    assert!(low
        .get_json::<wire::ItemHistory>("/v1/equipment/item?nomenclature=KIV-77&serial=U003")
        .is_err());
}

/// USA revokes its signing key as compromised: a record that key attests and that
/// arrives at PAK afterwards is refused there with rule `key-revoked` (PAK learns the
/// revocation from the agreement), while the record PAK held before stays held.
#[test]
fn a_record_attested_by_a_revoked_key_after_its_compromise_is_refused() {
    let (p, _, _) = setup(0);
    let (usa_c, usa_key) = accord_test_support::custodian(&p.rt, &p.sb.usa, "usa-custodian");
    let (pak_c, _) = accord_test_support::custodian(&p.rt, &p.sb.pak, "pak-custodian");
    open_account(&p, "usa-officer", "USA-FMS-1", "usa-custodian", MARKING_USA);
    import(&usa_c, "USA-FMS-1", 1..=2);
    let s = make(
        &usa_c,
        &usa_key,
        transfer(accord_node::sandbox::AGREEMENT_ID, "U001"),
    )
    .unwrap();
    let t0 = Instant::now();
    while pak_c
        .get_json::<Vec<wire::RecordView>>("/v1/equipment/records?kind=transfer")
        .unwrap()
        .is_empty()
    {
        assert!(t0.elapsed() < Duration::from_secs(30), "never delivered");
        std::thread::sleep(Duration::from_millis(50));
    }
    let v: serde_json::Value = usa_c
        .get_json(&format!("/v1/equipment/records/{}", s.id))
        .unwrap();
    let signed: Record = serde_json::from_value(v["record"].clone()).unwrap();

    // USA's node key is copied; USA revokes it (replacing it first).
    let stolen = signing_key(&p.sb.usa);
    let s1 = stolen.public_keys().classical.kid();
    let r =
        p.rt.block_on(accord_node::rotation::revoke(
            &p.sb.usa,
            &accord_node::rotation::RevokeOptions {
                kind: accord_agreement::amendment::KeyKind::Signing,
                kid: s1.clone(),
                compromised: Time::now(),
                reason: "node key copied".into(),
                at: Time::now(),
            },
        ))
        .unwrap();
    assert!(r.replaced_by.is_some());
    let t0 = Instant::now();
    while !p
        .rt
        .block_on(p.pak.node.agreements())
        .unwrap()
        .iter()
        .any(|h| {
            h.checked()
                .revocation("USA", accord_agreement::amendment::KeyKind::Signing, &s1)
                .is_some()
        })
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "PAK never took the revocation"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let (partner, http) =
        accord_test_support::as_node(&p.rt, &p.usa, &p.sb.usa, "PAK", Duration::from_secs(10));
    let put = |r: &Record| put_record(&p.rt, &http, &partner.url, r);
    // A new record, the custodian's signature real, attested with the copied key.
    let mut body = signed.body.clone();
    body.id = accord_equipment::record::new_id();
    body.items[0].key.serial = "U002".into();
    let mut late = Record::new(body);
    late.sign("usa-custodian", &usa_key).unwrap();
    late.attest(&stolen).unwrap();
    let (status, body) = put(&late);
    assert_eq!(status, 422, "{body}");
    let said = body.to_string();
    assert!(
        said.contains("key-revoked")
            && said.contains("revoked as compromised since")
            && said.contains("node key copied"),
        "{said}"
    );
    // The record held before the revocation stays held.
    let (status, body) = put(&signed);
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("unchanged")),
        "{body}"
    );
}
