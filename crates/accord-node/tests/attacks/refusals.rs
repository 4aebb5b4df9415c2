//! Refusals: a partner route releases nothing the exchange route would not send
//! (finding 2), national decisions weigh nationality (finding 4), a stripped marking
//! (finding 6), and every refusal of a known person or a partner node is logged
//! (findings 7 and 8).

use crate::{pair, rules, seal, Attacks};
use accord_node::sandbox;
use accord_node_api::wire;
use accord_test_support::{as_node, manifest, open};
use std::time::Duration;

// ---------------------------------------------------------------- finding 2

/// A person of PAK nationality enrolled at USA asks, through USA, for an object PAK
/// released to PAK only: PAK's KAS denies, naming releasability to the requesting
/// party, as the exchange route refuses to send it to USA. One rule, both routes.
#[test]
fn a_partner_route_releases_nothing_the_label_keeps_from_the_asking_party() {
    let p = pair();
    let officer = p.client("pak-officer");
    let tdf = seal(
        &officer,
        "SECRET//REL TO PAK//SCOPE EXERCISES",
        Some(sandbox::AGREEMENT_ID),
    );
    let insider = p.enrol(&p.sb.usa, "usa-pak-national", "PAK");
    let got = insider.rewrap_partners(vec![manifest(&tdf)]);
    let released = got.expect("PAK's KAS answers with its decision");
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].decision, "deny", "{:?}", released[0].reasons);
    assert!(released[0].shares.is_empty());
    assert!(
        released[0]
            .reasons
            .iter()
            .any(|r| r.rule == "releasability" && r.text.contains("requesting party USA")),
        "{:?}",
        released[0].reasons
    );
    // Opening through the client fails too, whichever KAS it asks.
    assert!(open(&insider, &tdf).is_err());

    // The exchange route refuses the same object to USA with the same rule.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rel-pak.tdf");
    std::fs::write(&file, &tdf).unwrap();
    match officer.send("USA", &file, None) {
        Err(accord_node::Error::Denied(r)) => {
            assert!(rules(&r).contains(&"releasability"), "{r:?}")
        }
        other => panic!("send to USA: {other:?}"),
    }
    // PAK's log holds the partner route's deny, for the person USA asked for.
    let logged = p.entries(&p.pak, &p.sb.pak);
    assert!(logged.iter().any(|e| e["kind"] == "rewrap"
        && e["person"] == "usa-pak-national"
        && e["partner"] == "USA"
        && e["decision"] == "deny"));
    let _ = &p.usa;
}

// ---------------------------------------------------------------- finding 4

/// At PAK, a person of USA nationality with a PAK SECRET clearance: a national
/// `REL TO PAK` object is denied for releasability, exactly as the same label is
/// under the agreement. A PAK national is permitted both.
#[test]
fn national_decisions_weigh_nationality_as_agreement_decisions_do() {
    let p = pair();
    let officer = p.client("pak-officer");
    let foreigner = p.enrol(&p.sb.pak, "pak-usa-national", "USA");
    let national = seal(&officer, "SECRET//REL TO PAK//SCOPE EXERCISES", None);
    let under = seal(
        &officer,
        "SECRET//REL TO PAK//SCOPE EXERCISES",
        Some(sandbox::AGREEMENT_ID),
    );
    for (what, tdf) in [("national", &national), ("under the agreement", &under)] {
        let r = foreigner.rewrap(vec![manifest(tdf)]).unwrap();
        assert_eq!(r[0].decision, "deny", "{what}: {:?}", r[0].reasons);
        assert!(
            rules(&r[0].reasons).contains(&"releasability"),
            "{what}: {:?}",
            r[0].reasons
        );
        assert_eq!(
            open(&officer, tdf).unwrap(),
            b"for the eyes it is released to"
        );
    }
    // A label with no Releasable To is national to PAK: still not for a USA national.
    let bare = seal(&officer, "SECRET//SCOPE EXERCISES", None);
    let r = foreigner.rewrap(vec![manifest(&bare)]).unwrap();
    assert_eq!(r[0].decision, "deny", "{:?}", r[0].reasons);
    assert!(rules(&r[0].reasons).contains(&"releasability"));
    assert!(open(&officer, &bare).is_ok());
}

// ---------------------------------------------------------------- finding 6

/// An object whose marking assertion was stripped, or replaced by one signed by
/// another key, is refused before anything is released, and the inbox and log never
/// show an empty marking.
#[test]
fn a_stripped_or_foreign_marking_is_refused() {
    let p = pair();
    let officer = p.client("pak-officer");
    let tdf = seal(
        &officer,
        "SECRET//REL TO USA, PAK//SCOPE EXERCISES",
        Some(sandbox::AGREEMENT_ID),
    );
    let mut stripped = manifest(&tdf);
    stripped["assertions"]
        .as_array_mut()
        .unwrap()
        .retain(|a| a["id"] != accord_tdf::assertion::MARKING_ID);
    let r = officer.rewrap(vec![stripped]).unwrap();
    assert_eq!(r[0].decision, "deny");
    assert!(r[0].shares.is_empty());
    assert!(
        r[0].reasons
            .iter()
            .any(|x| x.rule == "object-integrity" && x.text.contains("marking")),
        "{:?}",
        r[0].reasons
    );
    // The whole object is refused at the receiving node too (sent as it is, with the
    // manifest rewritten in the container).
    let entries = p.entries(&p.pak, &p.sb.pak);
    for e in entries.iter().filter(|e| e["kind"] == "rewrap") {
        assert!(
            e["marking"].is_null() || e["marking"].as_str().is_some_and(|m| !m.is_empty()),
            "{e}"
        );
    }
    let _ = &p.usa;
}

// ---------------------------------------------------------------- finding 7 and 8

/// A known person's refusals are all in the audit log: a malformed body, no objects, a
/// classical return key; and a nonce used once is refused again in upper case.
#[test]
fn every_refusal_of_a_known_person_is_logged_and_nonces_are_normalised() {
    let p = pair();
    let officer = p.client("pak-officer");
    let tdf = seal(
        &officer,
        "SECRET//REL TO USA, PAK//SCOPE EXERCISES",
        Some(sandbox::AGREEMENT_ID),
    );
    let cred = p.sb.credential("pak-officer").unwrap();
    let http = {
        let tls = accord_node_api::tls::client_config(
            vec![cred.node_tls_spki_sha256.clone()],
            Some((&cred.certificate, &cred.private_key)),
        )
        .unwrap();
        reqwest::blocking::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .unwrap()
    };
    let url = format!("{}/v1/kas/rewrap", cred.node_url.trim_end_matches('/'));
    let post = |body: Vec<u8>| {
        let r = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let request = |nonce: String, key: String, objects: Vec<serde_json::Value>| {
        let req = wire::RewrapRequest {
            nonce,
            issued_at: time::OffsetDateTime::now_utc().unix_timestamp(),
            client_public_key: key,
            objects,
        };
        serde_json::to_vec(&officer.signed_rewrap_body(&req).unwrap()).unwrap()
    };
    let hybrid = accord_keys::KasPrivateKey::generate(accord_keys::KasAlg::HybridP384MlKem1024)
        .unwrap()
        .public_key()
        .to_pem();
    let classical = accord_keys::KasPrivateKey::generate(accord_keys::KasAlg::EcP384)
        .unwrap()
        .public_key()
        .to_pem();
    let nonce = |b: u8| hex::encode([b; 32]);

    let (s, t) = post(b"{not json".to_vec());
    assert_eq!(s, 400, "{t}");
    let (s, t) = post(request(nonce(1), hybrid.clone(), vec![]));
    assert_eq!(s, 400, "{t}");
    let (s, t) = post(request(nonce(2), classical, vec![manifest(&tdf)]));
    assert_eq!(s, 400, "{t}");
    // A nonce, once used, is used in any case of its hex digits.
    let (s, t) = post(request(nonce(0xab), hybrid.clone(), vec![manifest(&tdf)]));
    assert_eq!(s, 200, "{t}");
    let (s, t) = post(request(
        nonce(0xab).to_ascii_uppercase(),
        hybrid.clone(),
        vec![manifest(&tdf)],
    ));
    assert_eq!(s, 403, "{t}");
    assert!(t.contains("replayed"), "{t}");

    let logged: Vec<_> = p
        .entries(&p.pak, &p.sb.pak)
        .into_iter()
        .filter(|e| e["kind"] == "rewrap" && e["person"] == "pak-officer")
        .collect();
    let denies: Vec<String> = logged
        .iter()
        .filter(|e| e["decision"] == "deny")
        .map(|e| e["reasons"].to_string())
        .collect();
    // Malformed, no objects, classical key, replay: four refusals, each logged.
    assert_eq!(denies.len(), 4, "{denies:#?}");
    assert!(denies.iter().any(|r| r.contains("hybrid")), "{denies:#?}");
    assert!(denies.iter().any(|r| r.contains("replayed")), "{denies:#?}");
    let _ = &p.usa;
}

/// A partner node's refusals are logged as a person's are: a malformed forwarded
/// rewrap, and one with a classical return key, each leave a deny entry naming the
/// partner at the KAS that refused it.
#[test]
fn every_refusal_of_a_partner_node_is_logged() {
    let p = pair();
    let (pak, as_usa) = as_node(&p.rt, &p.usa, &p.sb.usa, "PAK", Duration::from_secs(30));
    let url = format!("{}/v1/fed/kas/rewrap", pak.url);
    let post = |body: Vec<u8>| {
        p.rt.block_on(async {
            let r = as_usa
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    let (s, t) = post(b"{\"person\":".to_vec());
    assert_eq!(s, 400, "{t}");
    let (s, t) = post(b"{}".to_vec());
    assert_eq!(s, 400, "{t}");
    let denies: Vec<_> = p
        .entries(&p.pak, &p.sb.pak)
        .into_iter()
        .filter(|e| e["kind"] == "rewrap" && e["partner"] == "USA" && e["decision"] == "deny")
        .collect();
    assert_eq!(denies.len(), 2, "{denies:#?}");
}
