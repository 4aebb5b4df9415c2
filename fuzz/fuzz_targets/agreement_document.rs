//! Fuzz the agreement document parsers (TOML and JSON) and the PERSON.json parser:
//! never a panic; a document that parses writes back (TOML and canonical JSON) to the
//! same document, and verifying it never panics.
#![no_main]

use accord_agreement::{verify, Agreement, PersonFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = PersonFile::from_json(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for parsed in [Agreement::from_toml(text), Agreement::from_json(text)] {
        let Ok(doc) = parsed else { continue };
        let _ = verify(&doc);
        let toml = doc.to_toml().expect("a parsed document writes as TOML");
        assert_eq!(
            Agreement::from_toml(&toml).expect("written TOML parses"),
            doc
        );
        let json = doc
            .to_canonical_json()
            .expect("a parsed document canonicalizes");
        let json = String::from_utf8(json).expect("canonical JSON is UTF-8");
        assert_eq!(
            Agreement::from_json(&json).expect("canonical JSON parses"),
            doc
        );
    }
});
