//! Fuzz what reaches the equipment rules from outside: a CSV import, a list of items
//! sighted, and a record (as a
//! partner node delivers it, or a person submits it). Never a panic; a record that
//! reads writes back to the same record, and checking its rules and signatures never
//! panics.
#![no_main]

use accord_equipment::{csv, record::Record, rules};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(rows) = csv::read(text) {
            let mut keys: Vec<_> = rows.iter().map(|r| &r.key).collect();
            let n = keys.len();
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), n, "an import never holds an item twice");
        }
        if let Ok(lines) = csv::read_lines(text) {
            for l in &lines {
                l.key.check("item").expect("a line read holds a valid item key");
            }
        }
    }
    if let Ok(r) = Record::from_json(data) {
        let _ = rules::check(&r.body);
        let _ = r.verify_signatures();
        let _ = r.body.digest();
        let back = Record::from_json(r.to_json().as_bytes()).expect("a record read writes back");
        assert_eq!(back, r);
    }
});
