//! The OpenTDF surface of a node, driven as an OpenTDF client drives it (Connect JSON
//! and binary protobuf, the token endpoint, DPoP proofs, signed request tokens), and
//! held against Accord's own route on the same objects: the same decision, except the
//! classical ceiling. The unmodified third-party client (otdf-python) is
//! `scripts/interop/otdf-python.sh`.

use accord_node::home::{DpopMode, Home};
use accord_node::server::ServeOptions;
use accord_node_api::client::Client;
use accord_node_api::opentdf::kas::{self as otkas, Codec, PublicKeyRequest};
use accord_test_support as support;
use accord_test_support::opentdf::{jws, now, read_json, OpenTdfClient};
use aws_lc_rs::digest;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P384_SHA384_FIXED_SIGNING};
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use serde_json::{json, Value};

/// The single result of a one-object rewrap answer.
fn only_result(r: &Value) -> &Value {
    let results = r["responses"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{r}");
    &results[0]
}

/// The rules named in a denied result's error (`forbidden: rule: text; rule: text`).
fn denied_rules(result: &Value) -> Vec<String> {
    let e = result["error"].as_str().unwrap();
    assert!(
        e.contains("code = PermissionDenied desc = forbidden: "),
        "{e}"
    );
    let mut v: Vec<String> = e
        .split("forbidden: ")
        .nth(1)
        .unwrap()
        .split("; ")
        .filter_map(|r| r.split(':').next().map(str::to_string))
        .collect();
    v.sort();
    v.dedup();
    v
}

const LOW: &str = r#"{"policy": {"name": "PAK"}, "classifications": ["UNCLASSIFIED", "RESTRICTED"],
 "categories": [{"tagSet": "Releasable To", "values": ["PAK"]}, {"tagSet": "Scope", "values": ["EXERCISES"]}]}"#;

#[test]
fn opentdf_clients_are_decided_as_accord_clients_are() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sb = support::sandbox(&rt, tmp.path());
    let pak_dir = sb.pak.layout.dir.clone();
    let usa_dir = sb.usa.layout.dir.clone();
    let e = accord_node::opentdf::enable(&pak_dir, DpopMode::Required, "CONFIDENTIAL").unwrap();
    assert!(e.configured && e.made.len() == 3, "{e:?}");
    accord_node::opentdf::enable(&usa_dir, DpopMode::Required, "CONFIDENTIAL").unwrap();
    let clerk_cred = rt
        .block_on(accord_node::directory::add(
            &sb.pak,
            &accord_node::directory::Enrolment {
                id: "pak-clerk".into(),
                name: "PAK clerk".into(),
                nationality: "PAK".into(),
                clearance: ("low.json".into(), LOW.as_bytes().to_vec()),
                scopes: vec!["EXERCISES".into()],
                role: Default::default(),
            },
        ))
        .unwrap()
        .1;
    let pak_home = Home::open(&pak_dir).unwrap();
    let usa_home = Home::open(&usa_dir).unwrap();
    let officer = OpenTdfClient::new(&pak_home, "pak-officer");
    let clerk = OpenTdfClient::new(&pak_home, "pak-clerk");
    let usa_officer = OpenTdfClient::new(&usa_home, "usa-officer");
    let pair = support::Pair::serve(rt, tmp, sb, ServeOptions::default);
    let clerk_client = Client::new(clerk_cred).unwrap();

    // Discovery: the issuer, its token endpoint, the hybrid key as base key.
    let conf: Value = officer
        .http
        .get(format!("{}/.well-known/opentdf-configuration", officer.url))
        .send()
        .map(read_json)
        .unwrap();
    assert_eq!(conf["platform_issuer"], officer.url.as_str());
    assert_eq!(
        conf["idp"]["token_endpoint"],
        format!("{}/oauth/token", officer.url)
    );
    assert_eq!(
        conf["base_key"]["public_key"]["algorithm"],
        "hpqt:secp384r1-mlkem1024"
    );

    // PublicKey in binary protobuf, gzip, as otdf-python sends it; and in JSON.
    for (alg, found) in [
        ("rsa:2048", true),
        ("ec:secp384r1", true),
        ("hpqt:secp384r1-mlkem1024", true),
        ("mlkem:768", false),
    ] {
        let body = otkas::encode_public_key_request(
            Codec::Proto,
            &PublicKeyRequest {
                algorithm: alg.into(),
                fmt: String::new(),
                v: "2".into(),
            },
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &body).unwrap();
        let r = officer
            .http
            .post(format!("{}/kas.AccessService/PublicKey", officer.url))
            .header("content-type", "application/proto")
            .header("content-encoding", "gzip")
            .body(gz.finish().unwrap())
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let bytes = r.bytes().unwrap();
        if found {
            assert_eq!(status, 200, "{alg}: {}", String::from_utf8_lossy(&bytes));
            let k = otkas::decode_public_key_response(Codec::Proto, &bytes).unwrap();
            assert!(
                k.public_key.starts_with("-----BEGIN PUBLIC KEY-----"),
                "{alg}"
            );
            assert_eq!(k.kid.len(), 64, "{alg}");
        } else {
            assert_eq!(status, 404, "{alg}");
            let e: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(e["code"], "not_found");
        }
    }

    // The same objects through both routes: the same decision; the OpenTDF route adds
    // only the classical ceiling.
    let conf_tdf = support::seal(&pair.officer, "CONFIDENTIAL//REL TO PAK", None, b"c");
    let secret_tdf = support::seal(&pair.officer, "SECRET//REL TO PAK", None, b"s");

    let (status, r) = officer.rewrap(&conf_tdf);
    assert_eq!(status, 200, "{r}");
    let res = only_result(&r);
    assert_eq!(res["status"], "permit", "{r}");
    let share = officer.unwrap_key(&r, res);
    let m = support::manifest(&conf_tdf);
    accord_tdf::keyaccess::check_policy_binding(
        &share,
        m["encryptionInformation"]["policy"].as_str().unwrap(),
        &m["encryptionInformation"]["keyAccess"][0]["policyBinding"],
    )
    .expect("the released key is the object's share");
    assert_eq!(support::open(&pair.officer, &conf_tdf).unwrap(), b"c");

    // Accord's own route on the same object with its label assertions taken out (as an
    // OpenTDF SDK would have sealed it): decided from the policy's attributes, as the
    // OpenTDF route decides it; an assertion present but altered is no such object.
    let mut stripped = support::manifest(&conf_tdf);
    stripped["assertions"] = json!([]);
    let own = pair
        .officer
        .rewrap(vec![stripped.clone()])
        .unwrap()
        .remove(0);
    assert_eq!(own.decision, "permit", "{:?}", own.reasons);
    assert_eq!(own.marking, "CONFIDENTIAL//REL TO PAK");
    assert_eq!(own.shares[0].share.as_slice(), share.as_slice());
    let clerk_own = clerk_client.rewrap(vec![stripped]).unwrap().remove(0);
    assert_eq!(clerk_own.decision, "deny");
    assert!(
        clerk_own.reasons.iter().any(|r| r.rule == "clearance"),
        "{:?}",
        clerk_own.reasons
    );
    let mut altered = support::manifest(&conf_tdf);
    altered["assertions"][0]["statement"]["value"] = json!("<x/>");
    let own = pair.officer.rewrap(vec![altered]).unwrap().remove(0);
    assert_eq!(own.decision, "deny");
    assert!(
        own.reasons.iter().any(|r| r.rule == "object-integrity"),
        "{:?}",
        own.reasons
    );

    let (_, r) = officer.rewrap(&secret_tdf);
    assert_eq!(denied_rules(only_result(&r)), ["classical-wrapping"], "{r}");
    assert_eq!(support::open(&pair.officer, &secret_tdf).unwrap(), b"s");

    let (_, r) = clerk.rewrap(&conf_tdf);
    let opentdf_rules = denied_rules(only_result(&r));
    let accord = support::open(&clerk_client, &conf_tdf)
        .unwrap_err()
        .to_string();
    assert_eq!(opentdf_rules, ["clearance"], "{r}");
    assert!(accord.contains("clearance"), "{accord}");

    // Who may ask.
    let token = officer.token();
    let srt = officer.srt(&conf_tdf);
    let url = format!("{}/kas.AccessService/Rewrap", officer.url);
    let refused = |status: u16, body: &Value, words: &str| {
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["code"], "unauthenticated", "{body}");
        assert!(
            body["message"].as_str().unwrap().contains(words),
            "{body} lacks {words}"
        );
    };
    // No DPoP at the token endpoint of a node that requires it; a wrong secret.
    let (s, b) = officer.token_with(&officer.secret.clone(), false);
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{b}"
    );
    let (s, b) = officer.token_with("not-the-secret", true);
    assert_eq!(
        (s, b["error"].as_str()),
        (401, Some("invalid_client")),
        "{b}"
    );
    // A token of another node's issuer.
    let usa_token = usa_officer.token();
    let (s, b) = officer.rewrap_raw(
        &usa_token,
        Some(officer.proof(&url, Some(&usa_token))),
        &srt,
    );
    refused(s, &b, "not issued by this node");
    // Tokens signed with PAK's own token key: expired, and for a person it never issued.
    let jwks: Value = officer
        .http
        .get(format!("{}/oauth/jwks", officer.url))
        .send()
        .map(read_json)
        .unwrap();
    let kid = jwks["keys"][0]["kid"].as_str().unwrap();
    let pem = std::fs::read_to_string(pak_home.layout.key("token.key")).unwrap();
    let der = B64
        .decode(
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap();
    let token_key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &der).unwrap();
    let thumb = {
        let j = officer.jwk();
        let c = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            j["x"].as_str().unwrap(),
            j["y"].as_str().unwrap()
        );
        B64URL.encode(digest::digest(&digest::SHA256, c.as_bytes()))
    };
    let forge = |sub: &str, client: &str, iat: i64| {
        jws(
            json!({"alg": "ES384", "typ": "at+jwt", "kid": kid}),
            &json!({"iss": officer.url, "aud": format!("{}/kas", officer.url), "sub": sub,
                    "client_id": client, "accord_party": "PAK", "iat": iat, "exp": iat + 300,
                    "jti": "x", "cnf": {"jkt": thumb}}),
            &token_key,
        )
    };
    let expired = forge("pak-officer", &officer.client_id, now() - 3600);
    let (s, b) = officer.rewrap_raw(&expired, Some(officer.proof(&url, Some(&expired))), &srt);
    refused(s, &b, "expired");
    let stranger = forge("nobody", "nobody.0", now());
    let (s, b) = officer.rewrap_raw(&stranger, Some(officer.proof(&url, Some(&stranger))), &srt);
    refused(s, &b, "did not issue");
    // A forged token that is well formed works only with the proof's key: the forger's
    // signature check is what stops the rest (the key is the node's; this proves the
    // checks above are about what they say, not about the signature).
    let good = forge("pak-officer", &officer.client_id, now());
    let (s, b) = officer.rewrap_raw(&good, Some(officer.proof(&url, Some(&good))), &srt);
    assert_eq!(s, 200, "{b}");
    // No proof for a bound token; a proof replayed; a proof for another token.
    let (s, b) = officer.rewrap_raw(&token, None, &srt);
    refused(s, &b, "DPoP proof");
    let proof = officer.proof(&url, Some(&token));
    let (s, b) = officer.rewrap_raw(&token, Some(proof.clone()), &srt);
    assert_eq!(s, 200, "{b}");
    let (s, b) = officer.rewrap_raw(&token, Some(proof), &srt);
    refused(s, &b, "used before");
    let (s, b) = officer.rewrap_raw(&token, Some(officer.proof(&url, Some(&usa_token))), &srt);
    refused(s, &b, "ath");
    // Another person's DPoP key cannot use this token.
    let (s, b) = officer.rewrap_raw(&token, Some(clerk.proof(&url, Some(&token))), &srt);
    refused(s, &b, "another key");
    // A signed request token changed after signing: refused, and in the audit log.
    let mut parts: Vec<String> = srt.split('.').map(str::to_string).collect();
    let mut claims: Value = serde_json::from_slice(&B64URL.decode(&parts[1]).unwrap()).unwrap();
    claims["requestBody"] = json!(claims["requestBody"]
        .as_str()
        .unwrap()
        .replace("kao-0-0", "kao-9-9"));
    parts[1] = B64URL.encode(claims.to_string());
    let tampered = parts.join(".");
    let (s, b) = officer.rewrap_raw(&token, Some(officer.proof(&url, Some(&token))), &tampered);
    refused(s, &b, "does not verify with the DPoP key");

    // Every decision above is in PAK's log: the permits, the denials with their rules,
    // the tampered request as a refusal of pak-officer.
    pair.pak.publish_log().unwrap();
    let entries: Vec<Value> = support::log_entries(&pak_home)
        .into_iter()
        .filter(|e| {
            e["kind"] == "rewrap"
                && e["credential"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("opentdf-client:"))
        })
        .collect();
    let summary: Vec<(String, String, Vec<String>)> = entries
        .iter()
        .map(|e| {
            let mut rules: Vec<String> = if e["decision"] == "deny" {
                e["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["rule"].as_str().unwrap().to_string())
                    .collect()
            } else {
                Vec::new()
            };
            rules.sort();
            rules.dedup();
            (
                e["person"].as_str().unwrap().to_string(),
                e["decision"].as_str().unwrap().to_string(),
                rules,
            )
        })
        .collect();
    let s = |p: &str, d: &str, r: &[&str]| {
        (
            p.to_string(),
            d.to_string(),
            r.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        summary,
        vec![
            s("pak-officer", "permit", &[]),
            s("pak-officer", "deny", &["classical-wrapping"]),
            s("pak-clerk", "deny", &["clearance"]),
            // The wrong client secret at the token endpoint.
            s("pak-officer", "deny", &["credential"]),
            // A token of this node's key naming a client it never issued: refused,
            // and logged under the person it names (an expired token or another
            // node's names nobody the node can vouch for: a stranger's refusal).
            s("nobody", "deny", &["credential"]),
            s("pak-officer", "permit", &[]),
            s("pak-officer", "deny", &["credential"]),
            s("pak-officer", "permit", &[]),
            s("pak-officer", "deny", &["credential"]),
            s("pak-officer", "deny", &["credential"]),
            s("pak-officer", "deny", &["credential"]),
            // The tampered signed request token: it does not verify with the DPoP key.
            s("pak-officer", "deny", &["credential"]),
        ]
    );
    assert!(entries[0]["detail"]
        .as_str()
        .unwrap()
        .contains("verified with the DPoP key"));
    drop(pair);
}
