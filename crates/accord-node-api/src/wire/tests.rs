//! The parsers of request bodies: what they take and what they refuse.

use super::*;
use base64::Engine;
use serde_json::json;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn err<T: std::fmt::Debug>(r: Result<T, BadRequest>) -> String {
    r.unwrap_err().0
}

#[test]
fn rewrap_bodies() {
    let inner = json!({"nonce": "ab".repeat(32), "issued_at": 1, "client_public_key": "k",
        "objects": [{}]})
    .to_string();
    let body = json!({"request": b64(inner.as_bytes()), "signature": b64(b"sig")}).to_string();
    let s = parse_rewrap_body(body.as_bytes()).unwrap();
    assert_eq!(
        (s.request.as_slice(), s.signature.as_slice()),
        (inner.as_bytes(), &b"sig"[..])
    );
    let r = parse_rewrap_request(&s.request).unwrap();
    assert_eq!(r.objects.len(), 1);
    assert!(err(rewrap_client_key(&r)).starts_with("client_public_key: "));

    assert!(err(parse_rewrap_body(b"{")).starts_with("rewrap body: "));
    assert!(err(parse_rewrap_body(br#"{"request":"!","signature":""}"#))
        .contains("`request` is not base64"));
    assert!(err(parse_rewrap_body(br#"{"request":"","signature":"!"}"#))
        .contains("`signature` is not base64"));
    assert!(
        err(parse_rewrap_body(br#"{"request":"","signature":"","x":1}"#)).contains("unknown field")
    );
    let with = |nonce: &str, n: usize| {
        json!({"nonce": nonce, "issued_at": 1, "client_public_key": "k",
            "objects": vec![json!({}); n]})
        .to_string()
    };
    assert!(
        err(parse_rewrap_request(with(&"ab".repeat(32), 0).as_bytes()))
            .contains("1 to 1024 objects, not 0")
    );
    assert!(err(parse_rewrap_request(
        with(&"ab".repeat(32), MAX_OBJECTS + 1).as_bytes()
    ))
    .contains("not 1025"));
    assert!(err(parse_rewrap_request(with("abcd", 1).as_bytes())).contains("nonce"));
    // 64 characters, not hex; and multi-byte characters that are 64 bytes long.
    assert!(err(parse_rewrap_request(with(&"zz".repeat(32), 1).as_bytes())).contains("nonce"));
    assert!(err(parse_rewrap_request(with(&"é".repeat(32), 1).as_bytes())).contains("nonce"));
}

#[test]
fn a_classical_client_key_is_refused() {
    let k = accord_keys::KasPrivateKey::generate(accord_keys::KasAlg::EcP384).unwrap();
    let r = RewrapRequest {
        nonce: "ab".repeat(32),
        issued_at: 1,
        client_public_key: k.public_key().to_pem(),
        objects: vec![json!({})],
    };
    assert!(err(rewrap_client_key(&r)).contains("must be hybrid-p384-mlkem1024"));
    let k = accord_keys::KasPrivateKey::generate(accord_keys::KasAlg::HybridP384MlKem1024).unwrap();
    let r = RewrapRequest {
        client_public_key: k.public_key().to_pem(),
        ..r
    };
    assert!(rewrap_client_key(&r).is_ok());
}

#[test]
fn seal_plan_bodies() {
    assert!(parse_seal_plan(br#"{"marking":"SECRET"}"#).is_ok());
    assert!(parse_seal_plan(br#"{"label":"<x/>","agreement":"A"}"#).is_ok());
    for bad in [
        &br#"{}"#[..],
        br#"{"marking":"S","label":"L"}"#,
        br#"{"marking":null}"#,
    ] {
        assert!(err(parse_seal_plan(bad)).contains("exactly one"));
    }
    assert!(err(parse_seal_plan(br#"{"marking":"S","colour":1}"#)).contains("unknown field"));
    assert!(err(parse_seal_plan(b"\xff")).starts_with("request body: "));
}

#[test]
fn sign_bodies() {
    let a = |id: &str| {
        json!({"id": id, "type": "handling", "scope": "tdo",
            "statement": {"format": "string", "value": "v"}})
    };
    let body = |assertions: Vec<serde_json::Value>, manifest: serde_json::Value| {
        json!({"assertions": assertions, "manifest": manifest}).to_string()
    };
    let ok = parse_sign_request(
        body(
            vec![a("accord-marking"), a("accord-label")],
            json!({"payload": {}}),
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(
        (ok.label, ok.manifest.as_slice()),
        (1, &br#"{"payload":{}}"#[..])
    );
    assert!(err(parse_sign_request(
        body(vec![a("accord-marking")], json!({})).as_bytes()
    ))
    .contains("no label assertion"));
    for bad in [
        vec![a("accord-label"), a("accord-label")],
        vec![a("accord-label"), a("accord-marking"), a("accord-marking")],
        vec![a("accord-label"), a("other")],
    ] {
        assert!(err(parse_sign_request(body(bad, json!({})).as_bytes()))
            .contains("only the label and marking"));
    }
    assert!(err(parse_sign_request(
        body(vec![a("accord-label")], json!("m")).as_bytes()
    ))
    .contains("manifest: not a JSON object"));
    assert!(err(parse_sign_request(
        body(vec![json!({"id": 1})], json!({})).as_bytes()
    ))
    .starts_with("assertions: "));
    assert!(err(parse_sign_request(
        br#"{"assertions":[],"aggregate":"","manifest_digest":""}"#
    ))
    .contains("unknown field"));
    assert!(err(parse_sign_request(b"[]")).starts_with("request body: "));
}
