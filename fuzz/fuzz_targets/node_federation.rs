//! Fuzz what one node reads from another (and a client from its node) in the exchange:
//! a partner's receipt (parsed, then verified against fixed keys, alone and as part of a
//! batch), a batch delivery body (`POST /v1/fed/inbox`) and a batch answer, a resumed
//! delivery's `accord-resume-from` header and a partial-delivery answer, a partner's
//! cross-border rewrap request, and the outbox and inbox listings. Each must refuse
//! cleanly, never panic.
#![no_main]
use accord_node_api::wire::PartnerRewrapRequest;
use accord_node_api::exchange::{InboxItem, OutboxItem};
use accord_node_api::receipt::Receipt;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn keys() -> &'static accord_agreement::SigningKeys {
    static K: OnceLock<accord_agreement::SigningKeys> = OnceLock::new();
    K.get_or_init(|| {
        let k = accord_keys::SigningKey::generate(accord_keys::ClassicalAlg::Es384).unwrap();
        accord_agreement::Signer::public_keys(&k).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = serde_json::from_slice::<Receipt>(data) {
        // A fuzzed receipt never verifies against a key the fuzzer does not hold.
        assert!(r.verify(keys()).is_err());
        assert!(Receipt::verify_all([&r, &r], keys()).is_err());
    }
    if let Ok(batch) = accord_node_api::wire::parse_batch(data) {
        // Every range it hands out lies inside the body, in order, without overlap.
        let mut at = 0;
        for (_, r) in &batch.objects {
            assert!(r.start >= at && r.end <= data.len() && r.start < r.end);
            at = r.end;
        }
        assert_eq!(at, data.len());
    }
    let _ = serde_json::from_slice::<accord_node_api::wire::BatchResponse>(data);
    if let Ok(n) = accord_node_api::wire::parse_resume(data) {
        // Only decimal digits are an offset, and they say what they parse to.
        assert!(data.iter().all(u8::is_ascii_digit));
        assert_eq!(
            std::str::from_utf8(data).unwrap().parse::<u64>().unwrap(),
            n
        );
    }
    let _ = serde_json::from_slice::<accord_node_api::wire::PartialDelivery>(data);
    let _ = serde_json::from_slice::<PartnerRewrapRequest>(data);
    let _ = serde_json::from_slice::<Vec<OutboxItem>>(data);
    let _ = serde_json::from_slice::<Vec<InboxItem>>(data);
});
