//! What the receiver refuses, with its reasons, and who is told or logged what:
//! objects not releasable or forged, an unpinned client, an agreement not in force;
//! originator control; a send shown only to its sender; refusals logged only when
//! accountable.

use crate::{as_pak_node, deliver_direct, fast, pair, seal, sha256_hex, MARKING};
use accord_agreement::Time;
use accord_node::sandbox;
use accord_node::server::ServeOptions;
use accord_node_api::client::{self, Client};
use accord_node_api::wire;
use accord_test_support::{
    self as support, kas_recipient, log_entries as entries, object_id, seal_offline, start, Pair,
};
use std::sync::Arc;

#[test]
fn the_receiver_refuses_with_reasons() {
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        officer,
    } = pair();
    let good = std::fs::read(seal(
        &officer,
        "SECRET//REL TO USA, PAK//SCOPE EXERCISES",
        b"x",
        tmp.path(),
    ))
    .unwrap();
    let (partner, as_pak) = as_pak_node(&rt, &sb, &pak);

    // Not releasable to USA (the sender's node would refuse; a direct delivery is
    // refused by the receiver too).
    let national = std::fs::read(seal(
        &officer,
        "SECRET//REL TO PAK//SCOPE EXERCISES",
        b"y",
        tmp.path(),
    ))
    .unwrap();
    let (s, p) = deliver_direct(&rt, &as_pak, &usa, &object_id(&national), national.clone());
    assert_eq!(s, 403, "{p:?}");
    assert!(p.reasons.iter().any(|r| r.rule == "releasability"), "{p:?}");

    // A forged label assertion: signed by a key the agreement does not give PAK.
    let forged = {
        let rogue = accord_keys::SigningKey::generate(accord_keys::ClassicalAlg::Es384).unwrap();
        seal_offline(
            &rogue,
            kas_recipient(&sb.usa),
            "SECRET//REL TO USA, PAK//SCOPE EXERCISES",
            Some(sandbox::AGREEMENT_ID),
            b"forged",
        )
        .unwrap()
    };
    let (s, p) = deliver_direct(&rt, &as_pak, &usa, &object_id(&forged), forged.clone());
    assert_eq!(s, 403, "{p:?}");
    assert_eq!(p.reasons[0].rule, "object-integrity", "{p:?}");

    // The same two in one batch with a good object: each gets its own answer, in order;
    // the good one is kept and receipted, the others refused with their reasons.
    let batch = wire::batch_body(&[
        (object_id(&good), good.clone()),
        (object_id(&national), national),
        (object_id(&forged), forged),
    ]);
    let url = format!("https://127.0.0.1:{}/v1/fed/inbox", usa.addr.port());
    let answer: wire::BatchResponse = rt.block_on(async {
        let r = as_pak
            .post(&url)
            .header("content-type", wire::BATCH_MEDIA_TYPE)
            .body(batch)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
    });
    let r = &answer.results;
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].id, object_id(&good));
    r[0].receipt
        .as_ref()
        .expect("the good object's receipt")
        .verify(&sb.agreement.body.party("USA").unwrap().signing_keys)
        .unwrap();
    assert_eq!(
        (r[1].status, r[1].reasons[0].rule.as_str()),
        (Some(403), "releasability")
    );
    assert_eq!(
        (r[2].status, r[2].reasons[0].rule.as_str()),
        (Some(403), "object-integrity")
    );
    assert!(r[1].receipt.is_none() && r[2].receipt.is_none());

    // An unpinned client: a person's credential is not a partner node.
    let person = {
        let c = sb.credential("pak-officer").unwrap();
        let tls = accord_node_api::tls::client_config(
            vec![partner.tls_spki_sha256.clone()],
            Some((&c.certificate, &c.private_key)),
        )
        .unwrap();
        let _g = rt.enter();
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .unwrap()
    };
    let (s, p) = deliver_direct(&rt, &person, &usa, &object_id(&good), good.clone());
    assert_eq!(s, 403, "{p:?}");
    assert_eq!(p.reasons[0].rule, "partner", "{p:?}");

    // The agreement not in force at USA (its clock in 2060): refused both ways.
    rt.block_on(usa.stop()).unwrap();
    let later = ServeOptions {
        clock: Arc::new(|| Time::parse("2060-01-01T00:00:00Z").unwrap()),
        ..fast()
    };
    let usa = start(&rt, &sb.usa, later);
    let (s, p) = deliver_direct(&rt, &as_pak, &usa, &object_id(&good), good.clone());
    assert_eq!(s, 403, "{p:?}");
    assert_eq!(p.reasons[0].rule, "agreement-in-force", "{p:?}");

    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
    let refused: Vec<String> = entries(&sb.usa)
        .iter()
        .filter(|e| e["kind"] == "receive" && e["decision"] == "deny")
        .map(|e| e["reasons"][0]["rule"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        refused,
        [
            "releasability",
            "object-integrity",
            "releasability",
            "object-integrity",
            "partner",
            "agreement-in-force"
        ]
    );
}

#[test]
fn originator_control_needs_both_kases() {
    let Pair {
        rt,
        tmp: _tmp,
        sb,
        pak,
        usa,
        officer,
    } = pair();
    let mut tdf = Vec::new();
    client::seal_required(
        &officer,
        &wire::SealPlanRequest {
            marking: Some("SECRET//REL TO USA, PAK//SCOPE OPERATIONS".into()),
            label: None,
            agreement: Some(sandbox::AGREEMENT_ID.into()),
            choose_agreement: false,
        },
        &["PAK".into(), "USA".into()],
        &b"originator-controlled"[..],
        &mut tdf,
        1 << 20,
        None,
    )
    .unwrap();
    let manifest = client::read_manifest(&mut std::io::Cursor::new(&tdf)).unwrap();
    let mut sids: Vec<&str> = manifest["encryptionInformation"]["keyAccess"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["sid"].as_str().unwrap())
        .collect();
    sids.sort();
    assert_eq!(sids, ["PAK", "USA"]);
    let open = |c: &Client| support::open(c, &tdf);

    // The US officer opens: USA releases its share, PAK's KAS its own, asked by USA.
    let us = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    assert_eq!(open(&us).unwrap(), b"originator-controlled");
    // And the PAK officer: the USA KAS is asked the other way.
    assert_eq!(open(&officer).unwrap(), b"originator-controlled");
    // The clerk is refused (by USA, before PAK is asked).
    let clerk = Client::new(sb.credential("usa-clerk").unwrap()).unwrap();
    match open(&clerk) {
        Err(accord_node::Error::Denied(r)) => assert!(r.iter().any(|r| r.rule == "clearance")),
        other => panic!("clerk: {other:?}"),
    }
    // With PAK's node down, USA alone cannot open it.
    rt.block_on(pak.stop()).unwrap();
    let e = open(&us).unwrap_err().to_string();
    assert!(e.contains("PAK's KAS cannot be reached"), "{e}");
    rt.block_on(usa.stop()).unwrap();

    // PAK's log holds its decision for the US officer, asked through the USA node.
    let pak_log = entries(&sb.pak);
    let fwd = pak_log
        .iter()
        .find(|e| e["kind"] == "rewrap" && e["person"] == "usa-officer")
        .expect("PAK logged the cross-border rewrap");
    assert_eq!(fwd["decision"], "permit");
    assert_eq!(fwd["partner"], "USA");
    let usa_log = entries(&sb.usa);
    assert!(usa_log
        .iter()
        .any(|e| e["kind"] == "rewrap" && e["person"] == "pak-officer" && e["partner"] == "PAK"));
}

/// Someone else sending an object already queued for that partner gets a 409 that says
/// nothing of that send (it used to be answered with the other person's entry: who
/// sent it, its marking, its receipt); the person who sent it, sending again, gets
/// their own entry.
#[test]
fn a_send_is_shown_only_to_its_sender() {
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        officer: _,
    } = pair();
    // At USA: the officer sends an object to PAK, and the clerk sends the same one.
    let us = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    let theirs = seal(&us, MARKING, b"from USA", tmp.path());
    let sent = us.send("PAK", &theirs, None).unwrap();
    let clerk = Client::new(sb.credential("usa-clerk").unwrap()).unwrap();
    match clerk.send("PAK", &theirs, None) {
        Err(accord_node::Error::NodeRefused { status, error, .. }) => {
            assert_eq!(status, 409, "{error}");
            assert!(
                error.contains("already sent to PAK by someone else"),
                "{error}"
            );
            assert!(
                !error.contains("usa-officer") && !error.contains(&sent.marking),
                "{error}"
            );
        }
        other => panic!("the clerk was answered {other:?}"),
    }
    // The officer sending again is answered with their own entry.
    let again = us.send("PAK", &theirs, None).unwrap();
    assert_eq!((again.person.as_str(), again.id), ("usa-officer", sent.id));

    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
}

/// A delivery from a caller that is not a partner. With no client certificate it
/// leaves no entry in the audit log: it is no identity, and anyone may connect without
/// one (each such request used to write a durable entry holding the raw path). With a
/// certificate no agreement pins, it is logged with the certificate's fingerprint, and
/// the object id only when it is one. A partner's refusals are all logged, their
/// reasons cut to a bounded length.
#[test]
fn only_accountable_refusals_are_logged_and_never_at_the_callers_length() {
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        officer,
    } = pair();
    let good = std::fs::read(seal(&officer, MARKING, b"x", tmp.path())).unwrap();
    let id = object_id(&good);
    let usa_pin = sb.usa.party.node.as_ref().unwrap().tls_spki_sha256.clone();
    let client_as = |identity: Option<(&str, &str)>| {
        let tls = accord_node_api::tls::client_config(vec![usa_pin.clone()], identity).unwrap();
        let _g = rt.enter();
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .unwrap()
    };
    let anonymous = client_as(None);
    let cred = sb.credential("pak-officer").unwrap();
    let stranger = client_as(Some((&cred.certificate, &cred.private_key)));
    let fingerprint =
        sha256_hex(&accord_node_api::pki::pem_blocks(&cred.certificate, "CERTIFICATE").unwrap()[0]);
    let (_, as_pak) = as_pak_node(&rt, &sb, &pak);
    let chosen = format!("chosen-by-the-caller-{}", "x".repeat(1000));
    let batch = |client: &reqwest::Client| {
        rt.block_on(async {
            client
                .post(format!(
                    "https://127.0.0.1:{}/v1/fed/inbox",
                    usa.addr.port()
                ))
                .header("content-type", wire::BATCH_MEDIA_TYPE)
                .body(wire::batch_body(&[(id.clone(), good.clone())]))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    for path in [&id, &chosen] {
        assert_eq!(
            deliver_direct(&rt, &anonymous, &usa, path, good.clone()).0,
            403
        );
        assert_eq!(
            deliver_direct(&rt, &stranger, &usa, path, good.clone()).0,
            403
        );
    }
    assert_eq!(batch(&anonymous), 403);
    assert_eq!(batch(&stranger), 403);
    // A partner's delivery under a path that is no object id: refused, and logged.
    let (s, p) = deliver_direct(&rt, &as_pak, &usa, &chosen, good.clone());
    assert_eq!(s, 400, "{p:?}");

    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
    let denies: Vec<serde_json::Value> = entries(&sb.usa)
        .into_iter()
        .filter(|e| e["kind"] == "receive" && e["decision"] == "deny")
        .collect();
    // The stranger's three, each with its certificate; none from the anonymous caller.
    let strangers: Vec<&serde_json::Value> =
        denies.iter().filter(|e| e["partner"].is_null()).collect();
    assert_eq!(strangers.len(), 3, "{strangers:#?}");
    for e in &strangers {
        assert_eq!(e["credential"], *fingerprint, "{e}");
        assert_eq!(e["reasons"][0]["rule"], "partner", "{e}");
        assert!(!e.to_string().contains("chosen-by-the-caller"), "{e}");
    }
    let objects: Vec<&serde_json::Value> = strangers.iter().map(|e| &e["object"]).collect();
    assert_eq!(
        objects,
        [
            &serde_json::json!(id),
            &serde_json::Value::Null,
            &serde_json::Value::Null
        ]
    );
    // The partner's: logged, without the path as its object, its reason cut short.
    let partners: Vec<&serde_json::Value> =
        denies.iter().filter(|e| e["partner"] == "PAK").collect();
    assert_eq!(partners.len(), 1, "{partners:#?}");
    assert!(partners[0]["object"].is_null());
    let text = partners[0]["reasons"][0]["text"].as_str().unwrap();
    assert!(
        text.len() <= 520 && text.ends_with('…') && text.contains("chosen-by-the-caller"),
        "{text}"
    );
}
