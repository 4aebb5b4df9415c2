//! Fuzz the XML-SPIF loader: never a panic; a policy that loads can render the marking
//! of a label of each of its classifications and validate it.
#![no_main]

use accord_spif::{Label, Policy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Policy::from_xml("fuzz.xml", data) else {
        return;
    };
    for name in p.classification_names() {
        let label = Label::new(&p, name).expect("a classification of the policy");
        let _ = p.render(&label, "");
        let _ = p.validate(&label);
    }
});
