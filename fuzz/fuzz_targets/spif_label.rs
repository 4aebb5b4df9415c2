//! Fuzz the label and clearance readers (STANAG 4774 XML, spiffy XML, JSON, BER) against
//! real policies: never a panic; a label that reads writes back in every form to the same
//! label, and renders, validates and decides without panicking.
#![no_main]

use accord_spif::{decide, Clearance, Label, LabelFormat, Policy, PolicySet};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn set() -> &'static PolicySet {
    static SET: OnceLock<PolicySet> = OnceLock::new();
    SET.get_or_init(|| {
        let mut s = PolicySet::new();
        for (name, bytes) in [
            ("usa.xml", &include_bytes!("../../policies/usa.xml")[..]),
            ("pak.xml", &include_bytes!("../../policies/pak.xml")[..]),
            (
                "nato.xml",
                &include_bytes!("../../testdata/spiffing/nato-4774-policy.xml")[..],
            ),
            (
                "uk-demo.xml",
                &include_bytes!("../../testdata/spiffing/uk-demo.xml")[..],
            ),
            (
                "tlp.xml",
                &include_bytes!("../../testdata/spiffing/tlp.xml")[..],
            ),
            (
                "tlp-plus.xml",
                &include_bytes!("../../testdata/spiffing/tlp-plus.xml")[..],
            ),
        ] {
            s.add(Policy::from_xml(name, bytes).unwrap()).unwrap();
        }
        s
    })
}

fuzz_target!(|data: &[u8]| {
    let set = set();
    if let Ok(c) = Clearance::read(set, "fuzz", data) {
        let json = c.to_json_string();
        assert_eq!(Clearance::read(set, "json", json.as_bytes()).unwrap(), c);
        assert_eq!(
            Clearance::read(set, "xml", c.to_spiffy_xml().as_bytes()).unwrap(),
            c
        );
    }
    let Ok(label) = Label::read(set, "fuzz", data) else {
        return;
    };
    for f in [
        LabelFormat::Stanag4774,
        LabelFormat::Spiffy,
        LabelFormat::Json,
    ] {
        let text = label.write(f);
        let back = Label::read(set, "written", text.as_bytes())
            .unwrap_or_else(|e| panic!("{f:?} does not read back: {e}\n{text}"));
        assert_eq!(back, label, "{f:?}");
    }
    let p = set.find(&label.policy.id).unwrap();
    p.render(&label, "").unwrap();
    p.render(&label, "fr").unwrap();
    p.validate(&label).unwrap();
    let c = Clearance::up_to(p, &p.classifications.last().unwrap().name).unwrap();
    let _ = decide(&c, &label);
    for q in set.iter() {
        let _ = set.translate(&label, &q.id);
    }
});
