//! Fuzz what an OpenTDF client sends a node (`accord_node_api::opentdf`): the Connect
//! bodies of `Rewrap`, `PublicKey` and `GetWellKnownConfiguration` in the codec the
//! first byte chooses, gzip inflation under a small bound, the signed request token
//! (parse and time checks), the unsigned request inside it (parse, then the requests to
//! answer) and the client's return-leg key; a DPoP proof's JWS and JWK; and the policy
//! attributes an OpenTDF object's label is rebuilt from (`accord_tdf::label_attributes`,
//! then the repository's policies), which must round-trip through the writer; and what
//! an external OpenID issuer serves or signs (its discovery document, its key set, its
//! access tokens) and a client assertion's `x5c`. Each must
//! refuse with an error, never panic; what decodes must encode back to the same message.
#![no_main]
use accord_node_api::opentdf::{self, Codec};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// The repository's policies (PAK, USA), loaded once.
fn policies() -> &'static accord_spif::PolicySet {
    static SET: OnceLock<accord_spif::PolicySet> = OnceLock::new();
    SET.get_or_init(|| {
        let mut set = accord_spif::PolicySet::new();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies");
        set.load_path(std::path::Path::new(dir)).expect("policies/");
        set
    })
}

/// Attribute FQNs, one per line: the label they describe, if any, written back as
/// attributes reads as the same label.
fn attributes(text: &str) {
    let fqns: Vec<String> = text.lines().map(str::to_string).collect();
    let Ok(a) = accord_tdf::label_attributes(&fqns) else {
        return;
    };
    if let Ok(label) =
        policies().label_from_attributes(&a.policy, &a.classification, &a.categories)
    {
        let xml = label.to_stanag_xml();
        let summary = accord_tdf::LabelSummary::from_xml(&xml).expect("a label's own XML");
        let again = accord_tdf::label_attributes(&summary.attribute_fqns()).expect("written back");
        let relabel = policies()
            .label_from_attributes(&again.policy, &again.classification, &again.categories)
            .expect("the same label again");
        assert_eq!(relabel.to_stanag_xml(), xml);
    }
}

fn unsigned(body: &str) {
    if let Ok(req) = opentdf::UnsignedRewrapRequest::parse(body) {
        let requests = req.policy_requests();
        assert!(!requests.is_empty());
        let kaos: usize = requests.iter().map(|r| r.key_access_objects.len()).sum();
        assert!((1..=opentdf::MAX_KAOS).contains(&kaos));
        let _ = opentdf::client_key(&req.client_public_key);
        // Serialising and reading back gives the same request.
        let json = serde_json::to_string(&req).unwrap_or_default();
        assert_eq!(opentdf::UnsignedRewrapRequest::parse(&json).ok(), Some(req));
    }
}

fn token(text: &str) {
    if let Ok(srt) = opentdf::SignedRequestToken::parse(text) {
        assert!(opentdf::srt::ALGORITHMS.contains(&srt.alg()));
        assert!(srt.signing_input().len() < text.len());
        let _ = srt.check_times(1_750_000_000);
        let _ = srt.check_times(i64::MIN);
        let _ = srt.check_times(i64::MAX);
        if let Ok(Some(jwk)) = srt.jwk() {
            assert_eq!(jwk.thumbprint().len(), 43);
            assert_eq!(
                opentdf::Jwk::from_json(&jwk.to_json()).ok(),
                Some(jwk.clone())
            );
            let _ = srt.verify(&jwk);
        }
        unsigned(srt.request_body());
    }
}

/// An external issuer's documents and tokens, and a client assertion's certificate.
fn issuer(body: &[u8], text: Option<&str>) {
    use opentdf::oidc;
    if let Ok(m) = oidc::ProviderMetadata::parse(body, "https://idp.example/realms/x") {
        assert_eq!(m.issuer.trim_end_matches('/'), "https://idp.example/realms/x");
        assert!(m.jwks_uri.starts_with("https://"));
    }
    if let Ok(set) = oidc::JwkSet::parse(body) {
        assert!(!set.keys.is_empty() && set.keys.len() <= oidc::MAX_JWKS_KEYS);
        for alg in opentdf::srt::ALGORITHMS {
            if let Some(k) = set.find(None, alg) {
                assert!(k.jwk.suits(alg));
            }
            let kid = set.keys[0].kid.clone();
            let _ = set.find(kid.as_deref(), alg);
        }
    }
    let Some(text) = text else { return };
    if let Ok(jws) = oidc::parse_access_token(text) {
        let claims = jws.claims();
        let _ = oidc::audiences(claims);
        let _ = oidc::string_claim(claims, "preferred_username", 128);
        if let Ok(t) = opentdf::Times::read(claims) {
            let _ = t.check(1_750_000_000, 60, 86_400);
            let _ = t.check(i64::MAX, i64::MAX, i64::MAX);
            let _ = t.check(i64::MIN, 0, i64::MIN);
        }
        if let Ok(der) = oidc::x5c_leaf(&jws) {
            assert!(der.len() <= oidc::MAX_CERTIFICATE + 3);
            let _ = accord_node_api::pki::spki_of_cert(&der)
                .and_then(accord_node_api::pki::ec_point_of_spki);
        }
    }
    let _ = oidc::issuer_of(text);
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let codec = if first & 1 == 0 {
        Codec::Json
    } else {
        Codec::Proto
    };

    if let Ok(req) = opentdf::decode_rewrap_request(codec, body) {
        let again = opentdf::encode_rewrap_request(codec, &req);
        assert_eq!(
            opentdf::decode_rewrap_request(codec, &again).ok(),
            Some(req.clone())
        );
        token(&req.signed_request_token);
    }
    if let Ok(req) = opentdf::decode_public_key_request(codec, body) {
        let again = opentdf::encode_public_key_request(codec, &req);
        assert_eq!(
            opentdf::decode_public_key_request(codec, &again).ok(),
            Some(req)
        );
    }
    let _ = opentdf::decode_wellknown_request(codec, body);
    if let Ok(config) = opentdf::decode_wellknown_response(codec, body) {
        let again = opentdf::encode_wellknown(codec, &config);
        // Binary numbers are doubles both ways; JSON keeps them as they came.
        assert!(opentdf::decode_wellknown_response(codec, &again).is_ok());
    }
    if let Ok(inflated) = opentdf::inflate_gzip(body, 64 * 1024) {
        assert!(inflated.len() <= 64 * 1024);
        let _ = opentdf::decode_rewrap_request(codec, &inflated);
    }
    // The token, the unsigned request and the key directly too: through the envelope
    // the fuzzer would rarely reach them.
    issuer(body, std::str::from_utf8(body).ok());
    if let Ok(text) = std::str::from_utf8(body) {
        token(text);
        unsigned(text);
        attributes(text);
        if let Ok(jws) = opentdf::Jws::parse(text) {
            if let Some(jwk) = jws.header().get("jwk") {
                if let Ok(k) = opentdf::Jwk::from_value(jwk) {
                    let _ = jws.verify(&k);
                }
            }
        }
        if let Ok(opentdf::ClientKey::Rsa(der)) = opentdf::client_key(text) {
            assert!(opentdf::Jwk::from_spki_der(&der).is_ok());
        }
    }
});
