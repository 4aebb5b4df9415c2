//! Fuzz the marking parser (what a person types) under the PAK, USA and NATO policies:
//! never a panic; a marking that reads as a label renders, and the rendered marking
//! reads back to the same categories.
#![no_main]

use accord_spif::Policy;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn policies() -> &'static [Policy] {
    static P: OnceLock<Vec<Policy>> = OnceLock::new();
    P.get_or_init(|| {
        [
            ("usa.xml", &include_bytes!("../../policies/usa.xml")[..]),
            ("pak.xml", &include_bytes!("../../policies/pak.xml")[..]),
            (
                "nato.xml",
                &include_bytes!("../../testdata/spiffing/nato-4774-policy.xml")[..],
            ),
        ]
        .into_iter()
        .map(|(n, b)| Policy::from_xml(n, b).unwrap())
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() > 4096 {
        return;
    }
    for (i, p) in policies().iter().enumerate() {
        let Ok(label) = p.parse_marking(text, "") else {
            continue;
        };
        let m = p.render(&label, "").expect("a parsed label renders");
        if i < 2 {
            // Our banner policies display every value, so the marking reads back whole.
            let again = p.parse_marking(&m.text, "").unwrap_or_else(|e| {
                panic!(
                    "{:?} rendered from {text:?} does not read back: {e}",
                    m.text
                )
            });
            assert_eq!(
                again.categories, label.categories,
                "{text:?} -> {:?}",
                m.text
            );
            assert_eq!(again.classification, label.classification);
        }
    }
});
