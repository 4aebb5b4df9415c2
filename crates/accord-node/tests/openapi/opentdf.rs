//! The OpenTDF operations on one node (served with `dpop = "optional"`), each called
//! as an OpenTDF client calls it and as a stranger would, every answer checked against
//! the file. The decisions themselves are `tests/opentdf.rs`.

use crate::calling::{Checker, Http};
use accord_node::home::Home;
use accord_node_api::opentdf::kas::{self as otkas, Codec, PublicKeyRequest};
use serde_json::{json, Value};

pub(crate) fn opentdf_operations(
    c: &Checker,
    rt: &tokio::runtime::Runtime,
    home: &Home,
    anonymous: &Http,
) {
    let call = |m: &str, path: &str, body: Option<Vec<u8>>, ct: &str, headers: &[(&str, &str)]| {
        let r = anonymous.call_with(m, path, body, ct, headers);
        c.check(m, path, &r);
        r
    };
    let json_ct = "application/json";

    // Discovery, public.
    for path in [
        "/.well-known/opentdf-configuration",
        "/.well-known/openid-configuration",
        "/oauth/jwks",
    ] {
        assert_eq!(call("GET", path, None, json_ct, &[]).status, 200, "{path}");
    }
    let wk = "/wellknownconfiguration.WellKnownService/GetWellKnownConfiguration";
    let r = call("POST", wk, Some(b"{}".to_vec()), json_ct, &[]);
    assert_eq!(r.status, 200);
    assert!(r.json()["configuration"]["idp"]["token_endpoint"].is_string());
    let r = call("POST", wk, Some(Vec::new()), "application/proto", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(
        call("POST", wk, Some(b"{}".to_vec()), "text/plain", &[]).status,
        400
    );

    // PublicKey: both codecs; an algorithm the node does not hold.
    let pk = "/kas.AccessService/PublicKey";
    let r = call(
        "POST",
        pk,
        Some(json!({"algorithm": "rsa:2048"}).to_string().into_bytes()),
        json_ct,
        &[],
    );
    assert_eq!(r.status, 200);
    assert!(r.json()["publicKey"]
        .as_str()
        .unwrap()
        .contains("BEGIN PUBLIC KEY"));
    let proto = otkas::encode_public_key_request(
        Codec::Proto,
        &PublicKeyRequest {
            algorithm: "hpqt:secp384r1-mlkem1024".into(),
            fmt: String::new(),
            v: String::new(),
        },
    );
    let r = call("POST", pk, Some(proto), "application/proto", &[]);
    assert_eq!(r.status, 200);
    let k = otkas::decode_public_key_response(Codec::Proto, &r.body).unwrap();
    assert_eq!(k.kid.len(), 64);
    let r = call(
        "POST",
        pk,
        Some(json!({"algorithm": "hpqt:xwing"}).to_string().into_bytes()),
        json_ct,
        &[],
    );
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (404, Some("not_found"))
    );
    let r = call("POST", pk, Some(b"{not json".to_vec()), json_ct, &[]);
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (400, Some("invalid_argument"))
    );

    // The token endpoint: no credentials, a wrong secret, then the real ones.
    let client = rt
        .block_on(accord_node::directory::issue_opentdf_client(
            home, "officer",
        ))
        .unwrap();
    let form = "application/x-www-form-urlencoded";
    let token = "/oauth/token";
    let r = call(
        "POST",
        token,
        Some(b"grant_type=client_credentials".to_vec()),
        form,
        &[],
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let r = call(
        "POST",
        token,
        Some(b"grant_type=password".to_vec()),
        form,
        &[],
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let wrong = format!(
        "grant_type=client_credentials&client_id={}&client_secret=x",
        client.client_id
    );
    assert_eq!(
        call("POST", token, Some(wrong.into_bytes()), form, &[]).status,
        401
    );
    let right = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        client.client_id,
        client.client_secret.as_str()
    );
    let r = call("POST", token, Some(right.into_bytes()), form, &[]);
    assert_eq!(r.status, 200);
    let t: Value = r.json();
    assert_eq!(t["token_type"], "Bearer");
    let access = t["access_token"].as_str().unwrap().to_string();

    // Rewrap: no token; a token but a body that is no request; a request for no key.
    let rw = "/kas.AccessService/Rewrap";
    let body = json!({"signedRequestToken": "a.b.c"})
        .to_string()
        .into_bytes();
    let r = call("POST", rw, Some(body.clone()), json_ct, &[]);
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let bearer = format!("Bearer {access}");
    let r = call(
        "POST",
        rw,
        Some(body),
        json_ct,
        &[("authorization", &bearer)],
    );
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (400, Some("invalid_argument"))
    );
    let r = call(
        "POST",
        rw,
        Some(b"{".to_vec()),
        json_ct,
        &[("authorization", &bearer)],
    );
    assert_eq!(r.status, 400);
}
