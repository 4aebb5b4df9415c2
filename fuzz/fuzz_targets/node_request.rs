//! Fuzz the node's request bodies through the parsers its routes use (`accord_node_api::wire`):
//! the rewrap envelope and the signed request inside it (then the client key and each
//! object's manifest), the seal plan and the seal sign bodies (and the manifest a sign
//! body carries, as the node checks it before signing). Each must refuse with a
//! `BadRequest`, never panic, and what it accepts must hold the checked shape.
#![no_main]
use accord_node_api::wire;
use libfuzzer_sys::fuzz_target;

fn rewrap_request(bytes: &[u8]) {
    if let Ok(req) = wire::parse_rewrap_request(bytes) {
        assert!(!req.objects.is_empty() && req.objects.len() <= wire::MAX_OBJECTS);
        assert_eq!(req.nonce.len(), 64);
        // One spelling of a nonce: replays in another case are the same nonce.
        assert!(req.nonce.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        let _ = wire::rewrap_client_key(&req);
        for o in &req.objects {
            let _ = accord_tdf::Manifest::parse(&serde_json::to_vec(o).unwrap_or_default());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(signed) = wire::parse_rewrap_body(data) {
        rewrap_request(&signed.request);
    }
    // The inner request directly too: through base64 the fuzzer would rarely reach it.
    rewrap_request(data);
    if let Ok(plan) = wire::parse_seal_plan(data) {
        assert!(plan.marking.is_some() != plan.label.is_some());
    }
    if let Ok(sign) = wire::parse_sign_request(data) {
        assert!(sign.assertions.len() <= 2);
        assert_eq!(
            sign.assertions[sign.label].id,
            accord_tdf::assertion::LABEL_ID
        );
        // What the node derives from the manifest before it signs.
        if let Ok(u) = accord_tdf::check_unsigned(&sign.manifest, &sign.assertions[sign.label]) {
            assert_eq!(u.manifest_digest.len(), 64);
        }
    }
    // The manifest check alone, on a bare manifest, with a fixed label assertion.
    let _ = accord_tdf::check_unsigned(data, &accord_tdf::assertion::label_assertion("<x/>"));
});
