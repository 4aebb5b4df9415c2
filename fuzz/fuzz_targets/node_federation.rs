//! Fuzz what one node reads from another (and a client from its node) in the exchange:
//! a partner's receipt (parsed, then verified against fixed keys), a partner's
//! cross-border rewrap request, and the outbox and inbox listings. Each must refuse
//! cleanly, never panic.
#![no_main]
use accord_node::crossborder::PartnerRewrapRequest;
use accord_node::exchange::{InboxItem, OutboxItem};
use accord_node::receipt::Receipt;
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
    }
    let _ = serde_json::from_slice::<PartnerRewrapRequest>(data);
    let _ = serde_json::from_slice::<Vec<OutboxItem>>(data);
    let _ = serde_json::from_slice::<Vec<InboxItem>>(data);
});
