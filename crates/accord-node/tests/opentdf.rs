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

/// A sandbox whose two nodes serve OpenTDF clients (DPoP required), not started yet:
/// the runtime, its directory, the sandbox, and the two homes' directories.
fn opentdf_sandbox() -> (
    tokio::runtime::Runtime,
    tempfile::TempDir,
    accord_node::sandbox::Sandbox,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sb = support::sandbox(&rt, tmp.path());
    let pak_dir = sb.pak.layout.dir.clone();
    let usa_dir = sb.usa.layout.dir.clone();
    let e = accord_node::opentdf::enable(&pak_dir, DpopMode::Required, "CONFIDENTIAL").unwrap();
    assert!(e.configured && e.made.len() == 3, "{e:?}");
    accord_node::opentdf::enable(&usa_dir, DpopMode::Required, "CONFIDENTIAL").unwrap();
    (rt, tmp, sb, pak_dir, usa_dir)
}

#[test]
fn opentdf_clients_are_decided_as_accord_clients_are() {
    let (rt, tmp, sb, pak_dir, usa_dir) = opentdf_sandbox();
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
    let thumb = officer.jkt();
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

/// The two other ways to a token: a client assertion signed with the person's
/// credential key (`private_key_jwt`), and an external OpenID issuer's token naming a
/// person of the node. Each is taken only while what stands behind it stands, and each
/// refusal says why.
#[test]
fn tokens_from_a_credential_and_from_an_external_issuer() {
    use accord_test_support::oidc::{TestIssuer, EC_KID, RSA_KID};
    let (rt, tmp, sb, pak_dir, usa_dir) = opentdf_sandbox();

    // The external issuer, trusted by PAK (its keys read at once).
    let idp = TestIssuer::start();
    let ca = tmp.path().join("idp-ca.pem");
    std::fs::write(&ca, &idp.ca_pem).unwrap();
    let issuer_config =
        |discovery: &str, ca: Option<&std::path::Path>| accord_node::home::IssuerConfig {
            discovery: discovery.into(),
            audience: "accord-kas".into(),
            person_claim: "preferred_username".into(),
            ca_file: ca.map(|c| c.display().to_string()),
        };
    // Not trusted without its CA: the officer finds out now, and node.toml is unchanged.
    let e = rt
        .block_on(accord_node::opentdf::trust_issuer(
            &pak_dir,
            issuer_config(&idp.url, None),
        ))
        .unwrap_err()
        .to_string();
    assert!(e.contains("could not be read"), "{e}");
    let t = rt
        .block_on(accord_node::opentdf::trust_issuer(
            &pak_dir,
            issuer_config(
                &format!("{}/.well-known/openid-configuration", idp.url),
                Some(&ca),
            ),
        ))
        .unwrap();
    assert_eq!((t.issuer.as_str(), t.keys), (idp.url.as_str(), 2), "{t:?}");
    let e = rt
        .block_on(accord_node::opentdf::trust_issuer(
            &pak_dir,
            issuer_config(&idp.url, Some(&ca)),
        ))
        .unwrap_err()
        .to_string();
    assert!(e.contains("one issuer at a time"), "{e}");

    let officer_cred = sb.credential("pak-officer").unwrap();
    let pak_home = Home::open(&pak_dir).unwrap();
    let usa_home = Home::open(&usa_dir).unwrap();
    let officer = OpenTdfClient::new(&pak_home, "pak-officer");
    let usa_officer = OpenTdfClient::new(&usa_home, "usa-officer");
    let usa_cred = sb.credential("usa-officer").unwrap();
    let pair = support::Pair::serve(rt, tmp, sb, ServeOptions::default);
    let conf_tdf = support::seal(&pair.officer, "CONFIDENTIAL//REL TO PAK", None, b"c");
    let srt = officer.srt(&conf_tdf);
    let url = format!("{}/kas.AccessService/Rewrap", officer.url);
    let rewrap =
        |token: &str| officer.rewrap_raw(token, Some(officer.proof(&url, Some(token))), &srt);
    let refused = |(status, body): (u16, Value), words: &str| {
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["code"], "unauthenticated", "{body}");
        assert!(
            body["message"].as_str().unwrap().contains(words),
            "{body} lacks {words}"
        );
    };

    // The discovery document points OpenTDF clients at the external issuer.
    let conf: Value = officer
        .http
        .get(format!("{}/.well-known/opentdf-configuration", officer.url))
        .send()
        .map(read_json)
        .unwrap();
    assert_eq!(conf["platform_issuer"], idp.url.as_str(), "{conf}");
    assert_eq!(
        conf["idp"]["token_endpoint"],
        format!("{}/protocol/openid-connect/token", idp.url)
    );

    // 1. A client assertion signed with the credential key.
    let (s, b) = officer.token_by_assertion(&officer.assertion(&officer_cred, json!({})));
    assert_eq!((s, b["token_type"].as_str()), (200, Some("DPoP")), "{b}");
    let by_credential = b["access_token"].as_str().unwrap().to_string();
    let (s, b) = rewrap(&by_credential);
    assert_eq!(
        (s, only_result(&b)["status"].as_str()),
        (200, Some("permit")),
        "{b}"
    );
    // Refused: a replayed assertion; one naming someone else; for another audience;
    // living too long; another node's credential; signed by another key than x5c's.
    let once = officer.assertion(&officer_cred, json!({}));
    assert_eq!(officer.token_by_assertion(&once).0, 200);
    let assertion_refused = |a: &str, words: &str| {
        let (s, b) = officer.token_by_assertion(a);
        assert_eq!(
            (s, b["error"].as_str()),
            (401, Some("invalid_client")),
            "{b}"
        );
        let d = b["error_description"].as_str().unwrap();
        assert!(d.contains(words), "{d} lacks {words}");
    };
    assertion_refused(&once, "used before");
    assertion_refused(
        &officer.assertion(&officer_cred, json!({"sub": "usa-officer"})),
        "`sub` must be the person's id",
    );
    assertion_refused(
        &officer.assertion(
            &officer_cred,
            json!({"aud": "https://elsewhere/oauth/token"}),
        ),
        "`aud` must be",
    );
    assertion_refused(
        &officer.assertion(&officer_cred, json!({"exp": now() + 3600})),
        "lives too long",
    );
    assertion_refused(
        &officer.assertion(&usa_cred, json!({})),
        "not issued by the PAK node",
    );
    let mut spliced: Vec<String> = officer
        .assertion(&officer_cred, json!({}))
        .split('.')
        .map(str::to_string)
        .collect();
    let other: Vec<String> = officer
        .assertion(
            &usa_cred,
            json!({"iss": "pak-officer", "sub": "pak-officer"}),
        )
        .split('.')
        .map(str::to_string)
        .collect();
    spliced[1] = other[1].clone();
    spliced[2] = other[2].clone();
    assertion_refused(
        &spliced.join("."),
        "does not verify with the credential's key",
    );

    // 2. The external issuer's tokens: RS256 (Keycloak's default) and ES256, bound to
    // the client's DPoP key.
    let jkt = officer.jkt();
    let rs = idp.rs256(
        RSA_KID,
        &idp.claims("pak-officer", "accord-kas", Some(&jkt)),
    );
    let (s, b) = rewrap(&rs);
    assert_eq!(
        (s, only_result(&b)["status"].as_str()),
        (200, Some("permit")),
        "{b}"
    );
    let es = idp.es256(&idp.claims("pak-officer", "accord-kas", Some(&jkt)));
    assert_eq!(rewrap(&es).0, 200);
    // Refused: a person this node does not have; another audience; expired; unbound
    // (DPoP is required); a key the issuer does not publish; a claim changed after
    // signing; another issuer's token; an `alg` the node never takes.
    refused(
        rewrap(&idp.rs256(
            RSA_KID,
            &idp.claims("usa-officer", "accord-kas", Some(&jkt)),
        )),
        "token for unknown person usa-officer",
    );
    refused(
        rewrap(&idp.rs256(
            RSA_KID,
            &idp.claims("pak-officer", "another-kas", Some(&jkt)),
        )),
        "audience",
    );
    let mut old = idp.claims("pak-officer", "accord-kas", Some(&jkt));
    old["iat"] = json!(now() - 4000);
    old["exp"] = json!(now() - 3700);
    refused(rewrap(&idp.rs256(RSA_KID, &old)), "expired");
    refused(
        rewrap(&idp.rs256(RSA_KID, &idp.claims("pak-officer", "accord-kas", None))),
        "requires DPoP-bound tokens",
    );
    // Without `iat`, a token living ten days is still bounded; an ID token is not an
    // access token.
    let mut long = idp.claims("pak-officer", "accord-kas", Some(&jkt));
    long.as_object_mut().unwrap().remove("iat");
    long["exp"] = json!(now() + 10 * 86_400);
    refused(rewrap(&idp.rs256(RSA_KID, &long)), "lives too long");
    let mut id_token = idp.claims("pak-officer", "accord-kas", Some(&jkt));
    id_token["typ"] = json!("ID");
    refused(
        rewrap(&idp.rs256(RSA_KID, &id_token)),
        "not an access token",
    );
    let fetches = idp.key_set_fetches();
    for _ in 0..5 {
        refused(
            rewrap(&idp.rs256(
                "rotated-2",
                &idp.claims("pak-officer", "accord-kas", Some(&jkt)),
            )),
            "does not publish",
        );
    }
    assert!(
        idp.key_set_fetches() <= fetches + 1,
        "unknown key ids made the node fetch the key set {} times",
        idp.key_set_fetches() - fetches
    );
    refused(
        rewrap(&idp.rs256(EC_KID, &idp.claims("pak-officer", "accord-kas", Some(&jkt)))),
        "",
    );
    let mut parts: Vec<String> = rs.split('.').map(str::to_string).collect();
    parts[1] = B64URL.encode(
        idp.claims("pak-officer", "accord-kas", Some(&jkt))
            .to_string()
            .replace("5d1c0b7e", "attacker"),
    );
    refused(rewrap(&parts.join(".")), "signature");
    let usa_token = usa_officer.token();
    refused(rewrap(&usa_token), "not issued by this node");
    let none = format!(
        "{}.{}.",
        B64URL.encode(r#"{"alg":"none","typ":"JWT"}"#),
        B64URL.encode(
            idp.claims("pak-officer", "accord-kas", Some(&jkt))
                .to_string()
        )
    );
    refused(rewrap(&none), "");

    // 3. A revoked credential: the token it obtained is refused at the next rewrap,
    // and the credential obtains no more.
    pair.rt
        .block_on(accord_node::directory::revoke(
            &pak_home,
            "pak-officer",
            None,
        ))
        .unwrap();
    refused(rewrap(&by_credential), "revoked");
    let (s, b) = officer.token_by_assertion(&officer.assertion(&officer_cred, json!({})));
    assert_eq!(s, 401, "{b}");
    assert!(
        b["error_description"].as_str().unwrap().contains("revoked"),
        "{b}"
    );

    // The audit log names the credential each permit was released under.
    pair.pak.publish_log().unwrap();
    let fingerprint = hex::encode(digest::digest(
        &digest::SHA256,
        &accord_node_api::pki::certs_from_pem(&officer_cred.certificate).unwrap()[0],
    ));
    let permits: Vec<String> = support::log_entries(&pak_home)
        .into_iter()
        .filter(|e| {
            e["kind"] == "rewrap"
                && e["decision"] == "permit"
                && e["detail"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("OpenTDF"))
        })
        .map(|e| e["credential"].as_str().unwrap().to_string())
        .collect();
    let external = format!("oidc:accord-tests@{}", idp.url);
    assert_eq!(
        permits,
        vec![fingerprint, external.clone(), external],
        "{permits:?}"
    );
    drop(pair);
}
