//! Every operation of one node, with valid and invalid requests from its officer and
//! clerk, a person of another node and an anonymous caller; then the exchange's.

use crate::calling::{rewrap_body, CheckedSigner, Checker, Http};
use crate::exchange::exchange_operations;
use crate::routes::documented_operations;
use crate::validator::validate;
use crate::{spec, METHODS};
use accord_node::home::Home;
use accord_node::server::{self, ServeOptions};
use accord_node_api::client::{self, Client};
use accord_node_api::wire;
use accord_test_support::clearance::{LOW, MARKING, SECRET};
use accord_test_support::make_node;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Mutex;

#[test]
fn every_operation_answers_as_documented() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pak");
    let creds = make_node(&rt, &dir, "PAK", &[("officer", SECRET), ("clerk", LOW)]);
    // A credential from another node, presented to this one.
    let foreign = make_node(
        &rt,
        &tmp.path().join("other"),
        "PAK",
        &[("officer", SECRET)],
    );
    // OpenTDF clients served, Bearer tokens taken (the operations are called below).
    accord_node::opentdf::enable(&dir, accord_node::home::DpopMode::Optional, "CONFIDENTIAL")
        .unwrap();
    let running = rt
        .block_on(server::start(&dir, ServeOptions::default()))
        .unwrap();
    let checker = Checker {
        doc: spec(),
        called: Mutex::new(BTreeSet::new()),
    };
    let c = &checker;
    let base = creds[0].node_url.clone();
    let pin = creds[0].node_tls_spki_sha256.clone();
    let officer = Http::new(&base, &pin, Some(&creds[0]));
    let clerk = Http::new(&base, &pin, Some(&creds[1]));
    let stranger = Http::new(&base, &pin, Some(&foreign[0]));
    let anonymous = Http::new(&base, &pin, None);
    let post = |h: &Http, path: &str, body: &Value| {
        let r = h.call("POST", path, Some(body.to_string().into_bytes()));
        c.check("POST", path, &r);
        r
    };
    let post_raw = |h: &Http, path: &str, body: &[u8]| {
        let r = h.call("POST", path, Some(body.to_vec()));
        c.check("POST", path, &r);
        r
    };
    let get = |h: &Http, path: &str| {
        let r = h.call("GET", path, None);
        c.check("GET", path, &r);
        r
    };

    // Public routes.
    let r = get(&anonymous, "/health");
    assert_eq!((r.status, r.json()["party"].as_str()), (200, Some("PAK")));
    let r = get(&anonymous, "/v1/party");
    assert_eq!(r.status, 200);
    let home = Home::open(&dir).unwrap();
    assert_eq!(
        r.json(),
        serde_json::to_value(&home.party).unwrap(),
        "/v1/party is party.json"
    );
    // The benchmarks' floors are for the node's people only: a stranger's body is
    // never read, whatever its size.
    for (who, status) in [(&anonymous, 401), (&stranger, 403), (&officer, 204)] {
        let r = who.call_as(
            "PUT",
            "/v1/noop",
            Some(vec![7u8; wire::MAX_BODY + 1]),
            "application/octet-stream",
        );
        c.check("PUT", "/v1/noop", &r);
        assert_eq!(r.status, status);
        let r = who.call("POST", "/v1/noop", Some(b"anything".to_vec()));
        c.check("POST", "/v1/noop", &r);
        assert_eq!(r.status, status);
    }
    let r = post_raw(&anonymous, "/v1/noop", &vec![0u8; wire::MAX_BODY + 1]);
    assert_eq!(r.status, 401);
    let r = post_raw(&officer, "/v1/noop", &vec![0u8; wire::MAX_BODY + 1]);
    assert_eq!(r.status, 413);

    // Who am I, and whom the node trusts: with, without and with a foreign credential.
    let r = get(&officer, "/v1/whoami");
    assert_eq!(
        (r.status, r.json()["person"].as_str()),
        (200, Some("officer"))
    );
    assert_eq!(get(&anonymous, "/v1/whoami").status, 401);
    let r = get(&stranger, "/v1/whoami");
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["reasons"][0]["rule"], "credential");
    let r = get(&officer, "/v1/status");
    assert_eq!(
        (
            r.status,
            r.json()["person"].as_str(),
            r.json()["party"].as_str()
        ),
        (200, Some("officer"), Some("PAK"))
    );
    assert_eq!(get(&anonymous, "/v1/status").status, 401);
    let r = get(&stranger, "/v1/status");
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["reasons"][0]["rule"], "credential");
    let r = get(&officer, "/v1/trust");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["signers"][0]["party"], "PAK");

    // The officers' routes: the officer is made one; the clerk stays a member.
    rt.block_on(accord_node::directory::set_role(
        &home,
        "officer",
        accord_agreement::Role::Officer,
    ))
    .unwrap();
    let put = |h: &Http, path: &str, body: &[u8]| {
        let r = h.call("PUT", path, Some(body.to_vec()));
        // /v1/people/ID/WHAT is documented as /v1/people/{id}/WHAT.
        let what = path.rsplit('/').next().unwrap();
        c.check("PUT", &format!("/v1/people/{{id}}/{what}"), &r);
        r
    };
    let r = get(&officer, "/v1/people");
    assert_eq!(r.status, 200);
    assert_eq!(r.json().as_array().map(|a| a.len()), Some(2));
    assert_eq!(get(&anonymous, "/v1/people").status, 401);
    assert_eq!(get(&stranger, "/v1/people").status, 403);
    let r = get(&clerk, "/v1/people");
    assert_eq!(
        (r.status, r.json()["reasons"][0]["rule"].as_str()),
        (403, Some("role"))
    );
    for (who, path, body, status) in [
        (
            &officer,
            "/v1/people/clerk/status",
            &br#"{"status":"suspended"}"#[..],
            200,
        ),
        (
            &officer,
            "/v1/people/clerk/status",
            br#"{"status":"active"}"#,
            200,
        ),
        (
            &officer,
            "/v1/people/clerk/status",
            br#"{"status":"gone"}"#,
            400,
        ),
        (
            &officer,
            "/v1/people/clerk/status",
            br#"{"status":"active","x":1}"#,
            400,
        ),
        (
            &officer,
            "/v1/people/officer/status",
            br#"{"status":"suspended"}"#,
            400,
        ),
        (
            &officer,
            "/v1/people/nobody/status",
            br#"{"status":"active"}"#,
            404,
        ),
        (
            &clerk,
            "/v1/people/clerk/status",
            br#"{"status":"active"}"#,
            403,
        ),
        (
            &anonymous,
            "/v1/people/clerk/status",
            br#"{"status":"active"}"#,
            401,
        ),
        (
            &officer,
            "/v1/people/clerk/role",
            br#"{"role":"officer"}"#,
            200,
        ),
        (
            &officer,
            "/v1/people/clerk/role",
            br#"{"role":"member"}"#,
            200,
        ),
        (
            &officer,
            "/v1/people/clerk/role",
            br#"{"role":"admin"}"#,
            400,
        ),
        (
            &officer,
            "/v1/people/officer/role",
            br#"{"role":"member"}"#,
            400,
        ),
        (
            &clerk,
            "/v1/people/clerk/role",
            br#"{"role":"officer"}"#,
            403,
        ),
        (
            &stranger,
            "/v1/people/clerk/role",
            br#"{"role":"officer"}"#,
            403,
        ),
    ] {
        let r = put(who, path, body);
        assert_eq!(r.status, status, "{path} {}", String::from_utf8_lossy(body));
    }
    let r = put(
        &officer,
        "/v1/people/clerk/status",
        &vec![b' '; (1 << 20) + 1],
    );
    assert_eq!(r.status, 413);
    assert_eq!(get(&anonymous, "/v1/trust").status, 401);
    assert_eq!(get(&stranger, "/v1/trust").status, 403);

    // Seal plan: valid, and each way of being wrong.
    let plan_req = json!({"marking": MARKING});
    c.check_request("POST", "/v1/seal/plan", &plan_req);
    let r = post(&officer, "/v1/seal/plan", &plan_req);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let plan: wire::SealPlan = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(plan.marking, MARKING);
    assert_eq!(
        post(
            &officer,
            "/v1/seal/plan",
            &json!({"marking": MARKING, "label": "x"})
        )
        .status,
        400
    );
    assert_eq!(post(&officer, "/v1/seal/plan", &json!({})).status, 400);
    assert_eq!(
        post(
            &officer,
            "/v1/seal/plan",
            &json!({"marking": MARKING, "colour": "red"})
        )
        .status,
        400
    );
    assert_eq!(
        post_raw(&officer, "/v1/seal/plan", b"{not json").status,
        400
    );
    assert_eq!(
        post(
            &officer,
            "/v1/seal/plan",
            &json!({"marking": "TOP SECRET//NOFORN//BANANA"})
        )
        .status,
        422
    );
    let r = post(&clerk, "/v1/seal/plan", &plan_req);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["reasons"][0]["rule"], "clearance");
    assert_eq!(post(&anonymous, "/v1/seal/plan", &plan_req).status, 401);
    assert_eq!(post(&stranger, "/v1/seal/plan", &plan_req).status, 403);
    assert_eq!(
        post(
            &officer,
            "/v1/seal/plan",
            &json!({"marking": MARKING, "agreement": "no-such-agreement"})
        )
        .status,
        403
    );

    // Seal sign, through a real seal whose signer calls the route by hand.
    let signer = CheckedSigner {
        http: &officer,
        checker: c,
        sent: Mutex::new(None),
    };
    let recipients = plan
        .recipients
        .iter()
        .map(|p| accord_tdf::Recipient {
            kas: accord_keys::KasPublicKey::from_pem(&p.kas_key).unwrap(),
            url: p.url.clone(),
            party: Some(p.party.clone()),
        })
        .collect();
    let plain = b"exercise plan, phase 3".repeat(100);
    let mut tdf = Vec::new();
    accord_tdf::seal(
        &plain[..],
        &mut tdf,
        &accord_tdf::SealOptions {
            recipients,
            require: Vec::new(),
            signer: &signer,
            label: accord_tdf::BoundLabel {
                xml: plan.label_xml.clone(),
                marking: plan.marking.clone(),
            },
            segment_size: accord_tdf::DEFAULT_SEGMENT_SIZE,
            mime_type: String::new(),
            metadata: None,
            progress: None,
            agreement: None,
        },
    )
    .unwrap();
    let sent = signer.sent.lock().unwrap().clone().unwrap();
    // The node's signature is real: the object opens through the node.
    let officer_client = Client::new(creds[0].clone()).unwrap();
    let mut opened = Vec::new();
    client::open(
        &officer_client,
        &mut std::io::Cursor::new(tdf.clone()),
        &mut opened,
        None,
        None,
    )
    .unwrap();
    assert_eq!(opened, plain);
    let mut no_label = sent.clone();
    no_label["assertions"] = json!([sent["assertions"][1].clone()]);
    let mut marking_lies = sent.clone();
    marking_lies["assertions"][1]["statement"]["value"] = json!("UNCLASSIFIED//REL TO PAK");
    let mut bad_manifest = sent.clone();
    bad_manifest["manifest"]["encryptionInformation"]["integrityInformation"]["segments"][0]
        ["hash"] = json!("%%%");
    // A policy that does not carry the label's attributes: the node will not sign for it.
    let mut policy_lies = sent.clone();
    let policy = sent["manifest"]["encryptionInformation"]["policy"]
        .as_str()
        .unwrap();
    let mut p: Value = serde_json::from_slice(&B64.decode(policy).unwrap()).unwrap();
    p["body"]["dataAttributes"] = json!([]);
    policy_lies["manifest"]["encryptionInformation"]["policy"] = json!(B64.encode(p.to_string()));
    let mut already_signed = sent.clone();
    already_signed["manifest"]["assertions"] = sent["assertions"].clone();
    let mut extra_field = sent.clone();
    extra_field["signer"] = json!("me");
    for (body, status, says) in [
        (&no_label, 400, "no label assertion"),
        (&extra_field, 400, "unknown field `signer`"),
        (&bad_manifest, 400, "segments.hash"),
        (&policy_lies, 400, "label/policy mismatch"),
        (&already_signed, 400, "must not carry assertions yet"),
        (&marking_lies, 422, "the marking assertion says"),
        (
            &json!({"assertions": "x", "manifest": {}}),
            400,
            "request body",
        ),
    ] {
        let r = post(&officer, "/v1/seal/sign", body);
        let text = String::from_utf8_lossy(&r.body);
        assert_eq!(r.status, status, "{body}: {text}");
        assert!(text.contains(says), "{says}: {text}");
    }
    assert_eq!(post_raw(&officer, "/v1/seal/sign", b"[]").status, 400);
    assert_eq!(post(&clerk, "/v1/seal/sign", &sent).status, 403);
    assert_eq!(post(&anonymous, "/v1/seal/sign", &sent).status, 401);
    // Who is asking comes before the body is parsed (it may be 12 MiB).
    assert_eq!(post_raw(&anonymous, "/v1/seal/sign", b"[]").status, 401);

    // Rewrap: permit, deny inside a 200, and refusals.
    let manifest = client::read_manifest(&mut std::io::Cursor::new(tdf.clone())).unwrap();
    let (inner, body) = rewrap_body(&officer_client, vec![manifest.clone()], &"ab".repeat(32));
    c.check_request("POST", "/v1/kas/rewrap", &body);
    validate(&c.doc, &c.schema("RewrapRequest"), &inner, "$").unwrap();
    let r = post(&officer, "/v1/kas/rewrap", &body);
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["results"][0]["decision"], "permit");
    assert_eq!(v["results"][0]["marking"], MARKING);
    // The same body again: a replay.
    let r = post(&officer, "/v1/kas/rewrap", &body);
    assert_eq!(r.status, 403);
    assert!(r.json()["reasons"][0]["text"]
        .as_str()
        .unwrap()
        .contains("replayed"));
    let clerk_client = Client::new(creds[1].clone()).unwrap();
    let (_, body) = rewrap_body(
        &clerk_client,
        vec![manifest.clone(), json!({"not": "a manifest"})],
        &"cd".repeat(32),
    );
    let r = post(&clerk, "/v1/kas/rewrap", &body);
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["results"][0]["decision"], "deny");
    assert_eq!(v["results"][0]["reasons"][0]["rule"], "clearance");
    assert_eq!(v["results"][1]["decision"], "deny");
    assert_eq!(v["results"][1]["object_id"], "object[1]");
    // Signed by the officer, sent by the clerk.
    let (_, forged) = rewrap_body(&officer_client, vec![manifest.clone()], &"ef".repeat(32));
    assert_eq!(post(&clerk, "/v1/kas/rewrap", &forged).status, 403);
    let (_, no_objects) = rewrap_body(&officer_client, vec![], &"01".repeat(32));
    assert_eq!(post(&officer, "/v1/kas/rewrap", &no_objects).status, 400);
    let (_, short_nonce) = rewrap_body(&officer_client, vec![manifest.clone()], "abcd");
    assert_eq!(post(&officer, "/v1/kas/rewrap", &short_nonce).status, 400);
    assert_eq!(
        post(
            &officer,
            "/v1/kas/rewrap",
            &json!({"request": "!!", "signature": ""})
        )
        .status,
        400
    );
    assert_eq!(
        post(&officer, "/v1/kas/rewrap", &json!({"request": ""})).status,
        400
    );
    assert_eq!(
        post_raw(&officer, "/v1/kas/rewrap", b"\xff\xfe").status,
        400
    );
    assert_eq!(post(&anonymous, "/v1/kas/rewrap", &forged).status, 401);
    assert_eq!(post(&stranger, "/v1/kas/rewrap", &forged).status, 403);

    // The audit log under /log/ (a checkpoint covers a durable entry within 100 ms).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let size = loop {
        let r = get(&anonymous, "/log/checkpoint");
        assert_eq!(r.status, 200);
        let cp = accord_log::checkpoint::SignedCheckpoint::parse(&r.body).unwrap();
        if cp.checkpoint.size >= 8 || std::time::Instant::now() > deadline {
            break cp.checkpoint.size;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    // label, rewrap permit, replay, 2 clerk denials, forged, stranger, clerk's label...
    assert!(size >= 8, "{size}");
    let width = accord_log::tile::tile_width(0, 0, size);
    let tile = format!("/log/{}", accord_log::tile::tile_path(0, 0, width));
    let r = anonymous.call("GET", &tile, None);
    c.check("GET", "/log/tile/{level}/{index}", &r);
    assert_eq!((r.status, r.body.len() as u64), (200, 32 * width));
    let r = anonymous.call("GET", "/log/tile/0/999", None);
    c.check("GET", "/log/tile/{level}/{index}", &r);
    assert_eq!(r.status, 404);
    let bundle = format!("/log/{}", accord_log::tile::entries_path(0, width));
    // The entries name people, markings and objects: not for anyone who can connect,
    // nor for a credential of another node.
    for who in [&anonymous, &stranger] {
        let r = who.call("GET", &bundle, None);
        c.check("GET", "/log/tile/entries/{index}", &r);
        assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    }
    let r = officer.call("GET", &bundle, None);
    c.check("GET", "/log/tile/entries/{index}", &r);
    assert_eq!(r.status, 200);
    let entries = accord_log::tile::parse_bundle(&bundle, &r.body, width).unwrap();
    assert_eq!(entries.len() as u64, width);
    let r = officer.call("GET", "/log/tile/entries/x999/000", None);
    c.check("GET", "/log/tile/entries/{index}", &r);
    assert_eq!(r.status, 404);

    // Methods a documented path does not have are 405; an unknown path is 404.
    let sample = |p: &str| -> String {
        p.replace("{level}/{index}", "0/000")
            .replace("{index}", "000")
    };
    let documented = documented_operations(&c.doc);
    for (_, path) in &documented {
        for m in METHODS {
            if documented.contains(&(m.to_string(), path.clone())) {
                continue;
            }
            let r = anonymous.call(m, &sample(path), None);
            assert_eq!(r.status, 405, "{m} {path}");
        }
    }
    assert_eq!(anonymous.call("GET", "/v1/nothing-here", None).status, 404);

    crate::equipment::equipment_operations(c, &rt, &home, &officer, &clerk, &anonymous, &stranger);
    crate::opentdf::opentdf_operations(c, &rt, &home, &anonymous);

    rt.block_on(running.stop()).unwrap();
    drop(rt);

    // The exchange routes, between two nodes under an agreement.
    exchange_operations(c);

    // Every documented operation was called.
    let called = c.called.lock().unwrap().clone();
    for (m, p) in &documented {
        assert!(
            called.iter().any(|(cm, cp, _)| cm == m && cp == p),
            "{m} {p} was never called"
        );
    }
}
