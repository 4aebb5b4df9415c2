//! Fuzz the ZTDF manifest parser and what reads its fields: policy object, label XML,
//! assertion JWS parsing and hashing, JSON canonicalization, a KAS's `verify_label`
//! (which must refuse, never panic, on whatever a client sends) and the label signer's
//! `kid` a KAS reads ahead from a manifest's JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = accord_tdf::verify_label(data, &[]);
    if let Ok(m) = accord_tdf::Manifest::parse(data) {
        let _ = m.policy_object().map(|p| accord_tdf::agreement_of(&p));
        let _ = m.plaintext_size();
        for a in &m.assertions {
            let _ =
                accord_tdf::LabelSummary::from_xml(&a.statement.value).map(|l| l.attribute_fqns());
            let _ = accord_tdf::assertion::parse_jws(a);
            let _ = accord_tdf::assertion::assertion_hash(a);
        }
        let _ = String::from_utf8(m.to_json());
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = accord_tdf::assertion::label_header_kid(&v);
    }
    if let Ok(c) = accord_tdf::jcs::canonicalize_json(data) {
        // Canonical JSON is a fixed point.
        assert_eq!(
            accord_tdf::jcs::canonicalize_json(&c).ok().as_deref(),
            Some(&c[..])
        );
    }
});
