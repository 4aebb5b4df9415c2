#![no_main]
//! What a browser sends the console's label chooser (`/console/send/marking?...` and
//! the send form's fields), read as the node reads it
//! (`accord_node::console::read_choice`): the pairs, the choice, the label in Accord's
//! JSON form under the repository's policies, its validation and marking. Any bytes give
//! a marking or a reason, never a panic; a marking given reads back under its policy.
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn policies() -> &'static accord_spif::PolicySet {
    static SET: OnceLock<accord_spif::PolicySet> = OnceLock::new();
    SET.get_or_init(|| {
        let mut set = accord_spif::PolicySet::new();
        set.load_path(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies"))
            .expect("the repository's policies");
        set
    })
}

fuzz_target!(|data: &[u8]| {
    let set = policies();
    for national in ["USA", "PAK"] {
        if let Ok(marking) = accord_node::console::read_choice(set, national, data) {
            let p = set.get(national).expect("policy");
            p.parse_marking(&marking, "")
                .expect("a marking the chooser made reads back");
        }
    }
});
