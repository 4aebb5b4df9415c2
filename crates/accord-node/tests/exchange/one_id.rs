//! One object id, several objects: another partner's object under the same id, and
//! deliveries or sends of one id racing each other with different bytes.

use crate::{as_pak_node, deliver_direct, fast, pair, seal, sha256_hex, wait_done, MARKING};
use accord_agreement::Time;
use accord_node::home::{Home, InitOptions};
use accord_node::sandbox::Sandbox;
use accord_node_api::client::Client;
use accord_node_api::exchange::OutboxItem;
use accord_node_api::wire;
use accord_test_support::{
    self as support, countersign, init_home, init_options, load_agreement, log_entries as entries,
    object_id, pak_usa_translations, seal_into, signing_key, Pair,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The three-party agreement of [`trio`].
const TRILATERAL: &str = "CISMOA-TRILATERAL";

/// `bytes`, a sealed object, with its label and marking assertions signed again by
/// `key`: the same object id, label and payload in other bytes (ECDSA signatures are
/// randomised), as anyone who holds the object can make with a key of their own.
fn resign(bytes: &[u8], key: &accord_keys::SigningKey) -> Vec<u8> {
    use accord_tdf::{assertion, zip};
    use base64::Engine as _;
    let mut cur = std::io::Cursor::new(bytes);
    let layout = zip::read_layout(&mut cur).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&zip::read_manifest(&mut cur, &layout).unwrap()).unwrap();
    let digest = assertion::manifest_digest(&manifest).unwrap();
    for a in manifest["assertions"].as_array_mut().unwrap() {
        let mut parsed: accord_tdf::manifest::Assertion =
            serde_json::from_value(a.clone()).unwrap();
        if parsed.id != assertion::LABEL_ID && parsed.id != assertion::MARKING_ID {
            continue;
        }
        // The aggregate the first signature bound: its claims hold it, followed by
        // the assertion's 32-byte hash.
        let claims = parsed.binding.signature.split('.').nth(1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(claims)
                .unwrap(),
        )
        .unwrap();
        let bound = base64::engine::general_purpose::STANDARD
            .decode(claims["assertionSig"].as_str().unwrap())
            .unwrap();
        assertion::sign(&mut parsed, &bound[..bound.len() - 32], &digest, key).unwrap();
        *a = serde_json::to_value(&parsed).unwrap();
    }
    let payload = &bytes[layout.payload.data_offset as usize..][..layout.payload.size as usize];
    let mut w = zip::ZipWriter::start(Vec::new()).unwrap();
    w.write_payload(payload).unwrap();
    let out = w.finish(&serde_json::to_vec(&manifest).unwrap()).unwrap();
    assert_eq!(object_id(&out), object_id(bytes));
    out
}

/// A person as their node sees them on a connection, to call the node directly.
fn person_peer(sb: &Sandbox, id: &str) -> accord_node::Peer {
    let c = sb.credential(id).unwrap();
    let der = accord_node_api::pki::pem_blocks(&c.certificate, "CERTIFICATE").unwrap();
    accord_node::Peer {
        cert: Some(Arc::new(der[0].to_vec())),
    }
}

/// PAK and USA running as in [`pair`], both also holding [`TRILATERAL`], a three-party
/// agreement with GBR (all five scopes, ceiling SECRET, both translations); and GBR's
/// node home. GBR's node is not started: a test acts as it, with its keys.
fn trio() -> (Pair, Home) {
    use accord_agreement::{Agreement, Body, Party, Scope};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sb = support::sandbox(&rt, tmp.path());
    let gbr = init_home(
        &rt,
        &tmp.path().join("gbr"),
        &InitOptions {
            authority: Some("Ministry of Defence".into()),
            policies: vec![sb.dir.join("policies").join("pak.xml")],
            ..init_options("GBR")
        },
    );
    let start = Time::from_unix(Time::now().unix() - 86_400).unwrap();
    let homes = [&sb.pak, &sb.usa, &gbr];
    let mut a = Agreement::draft(Body {
        id: TRILATERAL.into(),
        title:
            "Trilateral agreement between Pakistan, the United States and the United Kingdom (test)"
                .into(),
        version: 1,
        predecessor: None,
        effective_from: start,
        expires: start.plus_years(15).unwrap(),
        scopes: Scope::ALL.to_vec(),
        ceiling: Some("SECRET".into()),
        translations: pak_usa_translations(),
        terms: "Exchanges between the three parties' forces.".into(),
        parties: homes
            .iter()
            .map(|h| Party::from_descriptor(&h.party).unwrap())
            .collect(),
    })
    .unwrap();
    countersign(&mut a, &homes.map(|h| (h, "approved")), start);
    let text = a.to_toml().unwrap();
    for h in [&sb.pak, &sb.usa] {
        load_agreement(&rt, h, &text);
    }
    (Pair::serve(rt, tmp, sb, fast), gbr)
}

/// Under a three-party agreement PAK sends an object to USA. GBR, which can learn the
/// object's id (PAK may send it to GBR too), delivers an object of its own, validly
/// signed by GBR, under that id to USA first. USA holds objects per sender: PAK's
/// delivery still gets its receipt (it was a 409 that PAK took as final, and PAK's
/// object was never delivered); the inbox lists both with their senders; a fetch by
/// id alone says which senders there are to choose from, and naming one gives its
/// bytes.
#[test]
fn another_partners_object_under_the_same_id_does_not_keep_out_the_senders() {
    let (
        Pair {
            rt,
            tmp,
            sb,
            pak,
            usa,
            officer,
        },
        gbr,
    ) = trio();
    let file = seal_into(
        &officer,
        MARKING,
        Some(TRILATERAL),
        b"trilateral plan",
        tmp.path(),
    );
    let ours = std::fs::read(&file).unwrap();
    let id = object_id(&ours);
    let theirs = resign(&ours, &signing_key(&gbr));
    let usa_as_partner = accord_node::partners::in_force(
        &rt.block_on(pak.node.agreements()).unwrap(),
        "PAK",
        Time::now(),
    )
    .into_iter()
    .find(|p| p.code == "USA")
    .unwrap();
    let as_gbr = {
        let _g = rt.enter();
        accord_node::partners::client(&gbr, &usa_as_partner, Duration::from_secs(60)).unwrap()
    };
    let (s, p) = deliver_direct(&rt, &as_gbr, &usa, &id, theirs.clone());
    assert_eq!(s, 200, "{p:?}");

    // PAK's own delivery, through its node: delivered with a receipt for its bytes.
    officer.send("USA", &file, None).unwrap();
    let done = wait_done(&officer, 1);
    assert_eq!(done[0].state, "delivered", "{done:#?}");
    let receipt = done[0].receipt.clone().unwrap();
    assert_eq!(
        (receipt.body.from.as_str(), receipt.body.sha256.clone()),
        ("PAK", sha256_hex(&ours))
    );
    // GBR again: its own receipt again; other bytes from GBR under the id it holds: a
    // conflict, GBR's own.
    let (s, _) = deliver_direct(&rt, &as_gbr, &usa, &id, theirs.clone());
    assert_eq!(s, 200);
    let (s, p) = deliver_direct(&rt, &as_gbr, &usa, &id, resign(&ours, &signing_key(&gbr)));
    assert_eq!(s, 409, "{p:?}");
    assert!(p.error.contains("from GBR is held here already"), "{p:?}");
    let gbr_conflict = p.error;

    // USA's inbox lists both, each with its sender.
    let us = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    let mut from: Vec<String> = us
        .inbox()
        .unwrap()
        .into_iter()
        .filter(|i| i.id == id)
        .map(|i| i.from)
        .collect();
    from.sort();
    assert_eq!(from, ["GBR", "PAK"]);
    // By id alone the node cannot choose for the person: a 409 naming the senders.
    match us.fetch(&id, &mut Vec::new()) {
        Err(accord_node::Error::NodeRefused { status, error, .. }) => {
            assert_eq!(status, 409, "{error}");
            assert!(
                error.contains("from PAK and GBR") || error.contains("from GBR and PAK"),
                "{error}"
            );
        }
        other => panic!("fetched by id alone: {other:?}"),
    }
    // Naming the sender (`GET /v1/inbox/{id}?from=CODE`) gives that sender's bytes.
    for (sender, bytes) in [("PAK", &ours), ("GBR", &theirs)] {
        let mut got = Vec::new();
        us.fetch_from(&id, Some(sender), &mut got).unwrap();
        assert!(got == *bytes, "{sender}'s object differs");
    }
    let e = us
        .fetch_from(&id, Some("pak"), &mut Vec::new())
        .unwrap_err();
    assert!(e.to_string().contains("three capital letters"), "{e}");
    // The clerk may see neither.
    let clerk = person_peer(&sb, "usa-clerk");
    let e = rt
        .block_on(usa.node.fetch_from(&clerk, &id, None))
        .unwrap_err();
    assert_eq!(e.kind, accord_node_api::Kind::Denied, "{}", e.error);

    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
    let mut permits: Vec<String> = entries(&sb.usa)
        .iter()
        .filter(|e| e["kind"] == "receive" && e["decision"] == "permit" && e["object"] == *id)
        .map(|e| e["partner"].as_str().unwrap().to_string())
        .collect();
    permits.sort();
    assert_eq!(permits, ["GBR", "PAK"]);
    // GBR's conflict is a refusal of a partner, logged like any other.
    assert!(
        entries(&sb.usa).iter().any(|e| e["kind"] == "receive"
            && e["decision"] == "deny"
            && e["partner"] == "GBR"
            && e["object"] == *id
            && e["reasons"][0]["text"] == *gbr_conflict),
        "GBR's conflict is not logged"
    );
}

/// Deliveries of one id from one partner, racing each other with different bytes (on
/// their own and in batches): exactly one is kept and receipted, the others are refused
/// (409) and each refusal is logged, and what USA holds is the bytes of the one receipt
/// it gave. (All used to pass the check for a held id before any was kept, each got a
/// signed receipt, and the last file moved into place won, whatever the row said.)
#[test]
fn racing_deliveries_of_one_id_get_one_receipt_for_the_bytes_held() {
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        officer,
    } = pair();
    let key = signing_key(&sb.pak);
    let original = std::fs::read(seal(&officer, MARKING, b"raced", tmp.path())).unwrap();
    let id = object_id(&original);
    let variants: Vec<Vec<u8>> = (0..8).map(|_| resign(&original, &key)).collect();
    let (_, as_pak) = as_pak_node(&rt, &sb, &pak);
    let base = format!("https://127.0.0.1:{}/v1/fed/inbox", usa.addr.port());
    // Each answer: the receipt, or the status and error. Even ones alone, odd ones in a
    // batch (of one: a batch may not name an id twice).
    type Answer = Result<accord_node_api::receipt::Receipt, (u16, String)>;
    let answers: Vec<Answer> = rt.block_on(futures_util::future::join_all(
        variants.iter().enumerate().map(|(k, v)| {
            let (client, base, id, body) = (as_pak.clone(), base.clone(), id.clone(), v.clone());
            async move {
                if k % 2 == 0 {
                    let r = client
                        .put(format!("{base}/{id}"))
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    let bytes = r.bytes().await.unwrap();
                    if status == 200 {
                        Ok(serde_json::from_slice(&bytes).unwrap())
                    } else {
                        Err((status, String::from_utf8_lossy(&bytes).into_owned()))
                    }
                } else {
                    let r = client
                        .post(&base)
                        .header("content-type", wire::BATCH_MEDIA_TYPE)
                        .body(wire::batch_body(&[(id, body)]))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    let mut a: wire::BatchResponse =
                        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
                    let one = a.results.remove(0);
                    match one.receipt {
                        Some(receipt) => Ok(receipt),
                        None => Err((one.status.unwrap_or(0), one.error.unwrap_or_default())),
                    }
                }
            }
        }),
    ));
    let kept: Vec<usize> = (0..answers.len()).filter(|&k| answers[k].is_ok()).collect();
    assert_eq!(kept.len(), 1, "receipted: {kept:?}");
    for a in &answers {
        if let Err((s, text)) = a {
            assert!(
                *s == 409 && text.contains("held here already"),
                "{s} {text}"
            );
        }
    }
    let receipt = answers[kept[0]].as_ref().unwrap();
    receipt
        .verify(&sb.agreement.body.party("USA").unwrap().signing_keys)
        .unwrap();
    assert_eq!(receipt.body.sha256, sha256_hex(&variants[kept[0]]));
    let us = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    let mut held = Vec::new();
    us.fetch(&id, &mut held).unwrap();
    assert!(
        held == variants[kept[0]],
        "USA holds other bytes than it receipted"
    );
    // What was kept is held in one place: a single delivery's file, or a pack.
    let files = std::fs::read_dir(sb.usa.layout.blobs().join("inbox"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(files <= 1, "{files} files in the inbox");

    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
    let conflicts = entries(&sb.usa)
        .iter()
        .filter(|e| {
            e["kind"] == "receive"
                && e["decision"] == "deny"
                && e["object"] == *id
                && e["partner"] == "PAK"
                && e["reasons"][0]["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("held here already"))
        })
        .count();
    assert_eq!(conflicts, answers.len() - 1);
}

/// Sends of one id to one partner racing each other with different bytes: one row is
/// kept, its file holds its bytes (the others' files never overwrite it), every sender
/// is answered with that row, and it is delivered with a receipt for those bytes (the
/// file used to be whichever was moved last, the receipt then never matched the row,
/// and the delivery was retried forever).
#[test]
fn racing_sends_of_one_id_keep_the_file_of_the_row_kept() {
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        officer,
    } = pair();
    let key = signing_key(&sb.pak);
    let original = std::fs::read(seal(&officer, MARKING, b"sent twice", tmp.path())).unwrap();
    let variants: Vec<(PathBuf, Vec<u8>)> = (0..6)
        .map(|k| {
            let bytes = resign(&original, &key);
            let p = tmp.path().join(format!("variant-{k}.tdf"));
            std::fs::write(&p, &bytes).unwrap();
            (p, bytes)
        })
        .collect();
    let answers: Vec<OutboxItem> = std::thread::scope(|s| {
        let threads: Vec<_> = variants
            .iter()
            .map(|(p, _)| s.spawn(|| officer.send("USA", p, None).unwrap()))
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let queued = &answers[0].sha256;
    assert!(
        answers.iter().all(|a| &a.sha256 == queued),
        "the senders were answered with different entries: {answers:#?}"
    );
    let bytes = &variants
        .iter()
        .find(|(_, b)| &sha256_hex(b) == queued)
        .unwrap()
        .1;
    let done = wait_done(&officer, 1);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].state, "delivered", "{done:#?}");
    assert_eq!(&done[0].receipt.as_ref().unwrap().body.sha256, queued);
    let us = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    let mut held = Vec::new();
    us.fetch(&answers[0].id, &mut held).unwrap();
    assert!(&held == bytes, "USA holds other bytes than were queued");
    // Only the kept file stays behind until delivered, then none.
    let t0 = Instant::now();
    let outbox = sb.pak.layout.blobs().join("outbox");
    while std::fs::read_dir(&outbox).unwrap().count() > 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "files left in the outbox"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
}

/// A seal plan that names no agreement and lets the node choose: under the sandbox's
/// one agreement it is that agreement (USA gets key access); for a label no partner may
/// read it is none (sealed for PAK alone); with the trilateral agreement held too, both
/// cover the label, and the node lists them rather than choose. Without the choice the
/// plan is national, as before.
#[test]
fn a_seal_plan_gets_the_one_agreement_that_covers_its_label_or_the_list_of_them() {
    let plan = |c: &Client, marking: &str, choose: bool| {
        c.seal_plan(&wire::SealPlanRequest {
            marking: Some(marking.into()),
            label: None,
            agreement: None,
            choose_agreement: choose,
        })
    };
    let parties = |p: &wire::SealPlan| {
        let mut v: Vec<String> = p.recipients.iter().map(|r| r.party.clone()).collect();
        v.dedup();
        v
    };
    {
        let p = pair();
        let chosen = plan(&p.officer, MARKING, true).unwrap();
        assert_eq!(
            chosen.agreement.as_deref(),
            Some(accord_node::sandbox::AGREEMENT_ID)
        );
        assert_eq!(parties(&chosen), ["PAK", "USA"]);
        let national = plan(&p.officer, "SECRET//REL TO PAK//SCOPE EXERCISES", true).unwrap();
        assert_eq!(national.agreement, None);
        assert_eq!(parties(&national), ["PAK"]);
        let unchosen = plan(&p.officer, MARKING, false).unwrap();
        assert_eq!(unchosen.agreement, None);
        assert_eq!(parties(&unchosen), ["PAK"]);
        let Pair { rt, pak, usa, .. } = p;
        rt.block_on(usa.stop()).unwrap();
        rt.block_on(pak.stop()).unwrap();
    }
    let (p, _gbr) = trio();
    match plan(&p.officer, MARKING, true) {
        Err(accord_node::Error::NodeRefused {
            kind,
            error,
            reasons,
            ..
        }) => {
            assert_eq!(kind, accord_node_api::Kind::Unacceptable, "{error}");
            assert!(
                error.contains(accord_node::sandbox::AGREEMENT_ID) && error.contains(TRILATERAL),
                "{error}"
            );
            assert_eq!(reasons.len(), 2, "{reasons:?}");
            assert!(reasons
                .iter()
                .all(|r| r.rule.as_str() == "agreement-in-force"));
        }
        other => panic!("expected the two agreements listed, got {other:?}"),
    }
    // Naming one still works.
    let named = p
        .officer
        .seal_plan(&wire::SealPlanRequest {
            marking: Some(MARKING.into()),
            label: None,
            agreement: Some(TRILATERAL.into()),
            choose_agreement: true,
        })
        .unwrap();
    assert_eq!(named.agreement.as_deref(), Some(TRILATERAL));
    // The refusal is logged, as every refusal of a known caller.
    let Pair {
        rt, sb, pak, usa, ..
    } = p;
    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
    assert!(entries(&sb.pak).iter().any(|e| e["kind"] == "label"
        && e["decision"] == "deny"
        && e["reasons"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("covers this label"))));
}
