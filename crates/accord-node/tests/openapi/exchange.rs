//! The exchange routes, between the sandbox's two nodes under their agreement.

use crate::calling::{rewrap_body, Checker, Http};
use accord_node::home::Home;
use accord_node::sandbox;
use accord_node::server::ServeOptions;
use accord_node_api::client::{self, Client};
use accord_node_api::wire;
use accord_test_support as support;
use serde_json::{json, Value};

/// Send, deliver, receive, list and fetch between the sandbox's PAK and USA nodes; the
/// partner-node route is also called by hand with PAK's node key.
pub(crate) fn exchange_operations(c: &Checker) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sb = support::sandbox(&rt, tmp.path());
    let pak = support::start(&rt, &sb.pak, ServeOptions::default());
    let usa = support::start(&rt, &sb.usa, ServeOptions::default());
    let node_of = |h: &Home| {
        let n = h.party.node.clone().unwrap();
        (n.url, n.tls_spki_sha256)
    };
    let (pak_url, pak_pin) = node_of(&sb.pak);
    let (usa_url, usa_pin) = node_of(&sb.usa);
    let cred = |id: &str| sb.credential(id).unwrap();
    let officer = Http::new(&pak_url, &pak_pin, Some(&cred("pak-officer")));
    let anonymous_pak = Http::new(&pak_url, &pak_pin, None);
    let us_officer = Http::new(&usa_url, &usa_pin, Some(&cred("usa-officer")));
    let us_clerk = Http::new(&usa_url, &usa_pin, Some(&cred("usa-clerk")));
    let anonymous_usa = Http::new(&usa_url, &usa_pin, None);
    // PAK's node, as the delivery loop presents itself to USA.
    let pak_cert = std::fs::read_to_string(sb.pak.layout.key("tls.crt")).unwrap();
    let pak_key = sb.pak.read_key("tls.key").unwrap();
    let pak_node = Http::with_identity(&usa_url, &usa_pin, Some((&pak_cert, &pak_key)));

    let put = |h: &Http, template: &str, path: &str, body: &[u8]| {
        let r = h.call_as("PUT", path, Some(body.to_vec()), "application/zip");
        c.check("PUT", template, &r);
        r
    };
    let get = |h: &Http, template: &str, path: &str| {
        let r = h.call("GET", path, None);
        c.check("GET", template, &r);
        r
    };
    let seal = |text: &[u8]| {
        let mut out = Vec::new();
        let sealed = client::seal(
            &Client::new(cred("pak-officer")).unwrap(),
            &wire::SealPlanRequest {
                marking: Some("SECRET//REL TO USA, PAK//SCOPE EXERCISES".into()),
                label: None,
                agreement: Some(sandbox::AGREEMENT_ID.into()),
                choose_agreement: false,
            },
            text,
            &mut out,
            1 << 20,
            None,
        )
        .unwrap();
        let id = sealed.summary.manifest.policy_object().unwrap().uuid;
        (id, out)
    };
    let (id, tdf) = seal(b"joint exercise plan");
    let (id2, tdf2) = seal(b"second plan");

    // Node to node, by hand: USA keeps the object and signs a receipt; again, the same
    // receipt; other bytes under the same id, a conflict.
    let fed = |id: &str| format!("/v1/fed/inbox/{id}");
    let t = "/v1/fed/inbox/{id}";
    let r = put(&pak_node, t, &fed(&id), &tdf);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let receipt = r.json();
    assert_eq!(receipt["body"]["object_id"], json!(id));
    assert_eq!(put(&pak_node, t, &fed(&id), &tdf).json(), receipt);
    assert_eq!(put(&pak_node, t, &fed(&id), &tdf2).status, 409);
    assert_eq!(put(&pak_node, t, &fed("not-a-uuid"), &tdf).status, 400);
    // A person is not a partner node; nor is a connection without a certificate.
    let r = put(&us_officer, t, &fed(&id2), &tdf2);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["reasons"][0]["rule"], "partner");
    assert_eq!(put(&anonymous_usa, t, &fed(&id2), &tdf2).status, 403);

    // Resuming a broken delivery: nothing of id2 is held (offset 0); a resume from an
    // offset not held is a 416; a resume header that is not an offset, a 400.
    let tp = "/v1/fed/inbox/{id}/partial";
    let partial = |id: &str| format!("{}/partial", fed(id));
    let r = get(&pak_node, tp, &partial(&id2));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json(), json!({"offset": 0}));
    assert_eq!(get(&pak_node, tp, &partial("not-a-uuid")).status, 400);
    assert_eq!(get(&us_officer, tp, &partial(&id2)).status, 403);
    let resume = |from: &str| {
        let r = pak_node.call_with(
            "PUT",
            &fed(&id2),
            Some(tdf2.clone()),
            "application/zip",
            &[(wire::RESUME_HEADER, from)],
        );
        c.check("PUT", t, &r);
        r
    };
    let r = resume("100");
    assert_eq!(r.status, 416, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("send the object whole"));
    assert_eq!(resume("ten").status, 400);

    // Agreement records: PAK's node offers its copy of the agreement (unchanged at
    // USA); a copy under another id, a person and a stranger are refused.
    let ta = "/v1/fed/agreements/{id}";
    let doc = rt
        .block_on(pak.node.agreements())
        .unwrap()
        .iter()
        .find(|h| h.agreement.body.id == sandbox::AGREEMENT_ID)
        .unwrap()
        .agreement
        .to_canonical_json()
        .unwrap();
    let offer = |h: &Http, id: &str, body: &[u8]| {
        let r = h.call_as(
            "PUT",
            &format!("/v1/fed/agreements/{id}"),
            Some(body.to_vec()),
            "application/json",
        );
        c.check("PUT", ta, &r);
        r
    };
    let r = offer(&pak_node, sandbox::AGREEMENT_ID, &doc);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["outcome"], "unchanged");
    assert_eq!(offer(&pak_node, "OTHER-ID", &doc).status, 400);
    assert_eq!(offer(&pak_node, sandbox::AGREEMENT_ID, b"{").status, 400);
    assert_eq!(offer(&us_officer, sandbox::AGREEMENT_ID, &doc).status, 403);
    assert_eq!(
        offer(&anonymous_usa, sandbox::AGREEMENT_ID, &doc).status,
        401
    );

    // The witnessed checkpoint: PAK's node asks USA's witness what it cosigned of
    // PAK's log (its note, signed by PAK's log key); a person is not a partner node.
    let tw = "/v1/fed/witness/checkpoint";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let r = loop {
        let r = pak_node.call("GET", tw, None);
        c.check("GET", tw, &r);
        if r.status == 200 || std::time::Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let cp = accord_log::checkpoint::SignedCheckpoint::parse(&r.body).unwrap();
    let pak_log_key =
        accord_log::note::VerifierKey::parse(&sb.pak.party.node.as_ref().unwrap().log_verifier_key)
            .unwrap();
    cp.verify(&pak_log_key, &[]).unwrap();
    let r = us_officer.call("GET", tw, None);
    c.check("GET", tw, &r);
    assert_eq!(r.status, 403);

    // A batch: two new objects and one already held (answered with its receipt); then
    // the same batch again (the same receipts); a malformed batch; a person.
    let (id3, tdf3) = seal(b"third plan");
    let (id4, tdf4) = seal(b"fourth plan");
    let t = "/v1/fed/inbox";
    let batch = accord_node_api::wire::batch_body(&[
        (id3.clone(), tdf3.clone()),
        (id.clone(), tdf.clone()),
        (id4.clone(), tdf4.clone()),
    ]);
    let post_batch = |h: &Http, body: &[u8]| {
        let r = h.call_as(
            "POST",
            t,
            Some(body.to_vec()),
            accord_node_api::wire::BATCH_MEDIA_TYPE,
        );
        c.check("POST", t, &r);
        r
    };
    let r = post_batch(&pak_node, &batch);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let answer = r.json();
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(
        results[1]["receipt"], receipt,
        "the held object keeps its receipt"
    );
    for (k, want) in [(0, &id3), (2, &id4)] {
        assert_eq!(results[k]["id"], json!(want));
        assert_eq!(results[k]["receipt"]["body"]["object_id"], json!(want));
        assert_eq!(results[k]["receipt"]["batch"]["size"], json!(2));
    }
    assert_eq!(post_batch(&pak_node, &batch).json(), answer);
    assert_eq!(post_batch(&pak_node, &batch[..batch.len() - 1]).status, 400);
    assert_eq!(post_batch(&pak_node, b"{}\n").status, 400);
    let r = post_batch(&us_officer, &batch);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["reasons"][0]["rule"], "partner");

    // Witnessing: the witness key is public; only a partner node may submit, and a
    // body that is not an add-checkpoint request is a 400.
    let r = get(&anonymous_usa, "/v1/witness", "/v1/witness");
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).starts_with("witness.usa.accord+"));
    let t = "/v1/fed/witness/add-checkpoint";
    let post_text = |h: &Http, body: &[u8]| {
        let r = h.call_as("POST", t, Some(body.to_vec()), "text/plain");
        c.check("POST", t, &r);
        r
    };
    assert_eq!(post_text(&pak_node, b"not a request").status, 400);
    let r = post_text(&us_officer, b"old 0\n\n");
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["reasons"][0]["rule"], "partner");

    // A person sends through their node's outbox; the delivery loop delivers.
    let out = |to: &str, id: &str| format!("/v1/outbox/{to}/{id}");
    let t = "/v1/outbox/{to}/{id}";
    let r = put(&officer, t, &out("USA", &id2), &tdf2);
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["state"], "queued");
    assert_eq!(put(&officer, t, &out("USA", "x"), &tdf2).status, 400);
    assert_eq!(put(&officer, t, &out("PAK", &id2), &tdf2).status, 400);
    assert_eq!(put(&officer, t, &out("FRA", &id2), &tdf2).status, 403);
    assert_eq!(put(&officer, t, &out("USA", &id), &tdf2).status, 400);
    let bogus = "00000000-0000-4000-8000-000000000000";
    assert_eq!(
        put(&officer, t, &out("USA", bogus), b"not a zip").status,
        422
    );
    assert_eq!(put(&anonymous_pak, t, &out("USA", &id2), &tdf2).status, 401);
    let t0 = std::time::Instant::now();
    loop {
        let r = get(&officer, "/v1/outbox", "/v1/outbox");
        assert_eq!(r.status, 200);
        let v = r.json();
        if v.as_array().unwrap().iter().all(|o| o["state"] != "queued") {
            assert_eq!(v[0]["state"], "delivered", "{v:#}");
            assert!(v[0]["receipt"].is_object());
            break;
        }
        assert!(t0.elapsed().as_secs() < 30, "not delivered: {v:#}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(get(&anonymous_pak, "/v1/outbox", "/v1/outbox").status, 401);
    let r = get(&officer, "/v1/outbox", "/v1/outbox?state=delivered&limit=1");
    assert_eq!((r.status, r.json().as_array().unwrap().len()), (200, 1));
    assert_eq!(
        get(&officer, "/v1/outbox", "/v1/outbox?state=lost").status,
        400
    );
    assert_eq!(
        get(&officer, "/v1/outbox", "/v1/outbox?colour=red").status,
        400
    );

    // USA's people: the inbox lists what each may see; fetch returns the object.
    let r = get(&us_officer, "/v1/inbox", "/v1/inbox");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json().as_array().unwrap().len(),
        4,
        "two single, two from the batch"
    );
    let r = get(&us_clerk, "/v1/inbox", "/v1/inbox");
    assert_eq!((r.status, r.json()), (200, json!([])));
    assert_eq!(get(&anonymous_usa, "/v1/inbox", "/v1/inbox").status, 401);
    let t = "/v1/inbox/{id}";
    let r = get(&us_officer, t, &format!("/v1/inbox/{id2}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, tdf2);
    let r = get(&us_officer, t, &format!("/v1/inbox/{id4}"));
    assert_eq!(
        (r.status, &r.body),
        (200, &tdf4),
        "an object kept from a batch"
    );
    assert_eq!(get(&us_clerk, t, &format!("/v1/inbox/{id2}")).status, 403);
    assert_eq!(
        get(&us_officer, t, &format!("/v1/inbox/{bogus}")).status,
        404
    );
    assert_eq!(get(&us_officer, t, "/v1/inbox/nope").status, 400);
    assert_eq!(
        get(&anonymous_usa, t, &format!("/v1/inbox/{id2}")).status,
        401
    );
    // Naming the sender: the right one serves the object, another holds none under
    // the id, and what is not a party code (or not a known key) is a 400.
    let r = get(&us_officer, t, &format!("/v1/inbox/{id2}?from=PAK"));
    assert_eq!((r.status, &r.body), (200, &tdf2));
    assert_eq!(
        get(&us_officer, t, &format!("/v1/inbox/{id2}?from=GBR")).status,
        404
    );
    for q in ["from=pak", "sender=PAK"] {
        let r = get(&us_officer, t, &format!("/v1/inbox/{id2}?{q}"));
        assert_eq!(r.status, 400, "{q}: {}", String::from_utf8_lossy(&r.body));
    }

    // Cross-border rewrap: the US officer asks USA for the shares PAK's KAS holds; USA
    // forwards to PAK (node to node) and returns PAK's answer.
    let manifest = client::read_manifest(&mut std::io::Cursor::new(&tdf)).unwrap();
    let us_client = Client::new(cred("usa-officer")).unwrap();
    let nonce = |b: u8| hex::encode([b; 32]);
    let post_json = |h: &Http, template: &str, body: &Value| {
        let r = h.call("POST", template, Some(body.to_string().into_bytes()));
        c.check("POST", template, &r);
        r
    };
    let t = "/v1/kas/rewrap/partners";
    let (req, body) = rewrap_body(&us_client, vec![manifest.clone()], &nonce(0x51));
    c.check_request("POST", t, &body);
    let _ = req;
    let r = post_json(&us_officer, t, &body);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let answers = r.json();
    assert_eq!(answers.as_array().unwrap().len(), 1);
    assert_eq!(answers[0]["party"], "PAK");
    assert_eq!(answers[0]["results"][0]["decision"], "permit");
    assert_eq!(post_json(&us_officer, t, &json!({})).status, 400);
    assert_eq!(post_json(&anonymous_usa, t, &body).status, 401);

    // The same, as PAK's node asking USA's KAS for one of PAK's people.
    let t = "/v1/fed/kas/rewrap";
    let eph =
        accord_keys::KasPrivateKey::generate(accord_keys::KasAlg::HybridP384MlKem1024).unwrap();
    let fed_req = json!({
        "person": {"id": "pak-officer", "name": "Major Ayesha Khan", "party": "PAK",
                   "nationality": "PAK",
                   "clearance": r#"{"policy": {"name": "PAK"}, "classifications": ["UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET"], "categories": [{"tagSet": "Releasable To", "values": ["PAK"]}, {"tagSet": "Scope", "values": ["EXERCISES"]}]}"#,
                   "scopes": ["EXERCISES"], "status": "active"},
        "nonce": nonce(0x52),
        "issued_at": time::OffsetDateTime::now_utc().unix_timestamp(),
        "client_public_key": eph.public_key().to_pem(),
        "objects": [manifest],
    });
    c.check_request("POST", t, &fed_req);
    // A request issued more than 300 s away from the KAS's clock: refused (403), so
    // that its nonce cannot be replayed once pruned.
    let mut stale = fed_req.clone();
    stale["nonce"] = json!(nonce(0x53));
    stale["issued_at"] = json!(time::OffsetDateTime::now_utc().unix_timestamp() - 1000);
    let r = post_json(&pak_node, t, &stale);
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    // A classical key to wrap the share to: refused (400), hybrid only.
    let mut classical = fed_req.clone();
    classical["nonce"] = json!(nonce(0x54));
    classical["client_public_key"] = json!(accord_keys::KasPrivateKey::generate(
        accord_keys::KasAlg::EcP384
    )
    .unwrap()
    .public_key()
    .to_pem());
    let r = post_json(&pak_node, t, &classical);
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert!(String::from_utf8_lossy(&r.body).contains("hybrid-p384-mlkem1024"));
    let r = post_json(&pak_node, t, &fed_req);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["results"][0]["decision"], "permit");
    // Replayed: refused.
    assert_eq!(post_json(&pak_node, t, &fed_req).status, 403);
    assert_eq!(post_json(&pak_node, t, &json!({"person": 1})).status, 400);
    // A person is not a partner node.
    assert_eq!(post_json(&us_officer, t, &fed_req).status, 403);

    rt.block_on(pak.stop()).unwrap();
    rt.block_on(usa.stop()).unwrap();
    // The stale and the replayed partner requests are in USA's log, naming PAK's node.
    let refused: Vec<String> = support::log_entries(&sb.usa)
        .into_iter()
        .filter(|e| e["kind"] == "rewrap" && e["decision"] == "deny" && e["partner"] == "PAK")
        .map(|e| e["reasons"][0]["text"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        refused.iter().any(|t| t.contains("was issued at")),
        "{refused:#?}"
    );
    assert!(
        refused.iter().any(|t| t.contains("replayed")),
        "{refused:#?}"
    );
}
