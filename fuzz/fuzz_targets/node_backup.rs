#![no_main]
//! A backup archive as `accord restore` checks it before writing anything
//! (`accord_node::backup::check_archive`): any bytes give a manifest or an error, never
//! a panic, in bounded memory; and one that passes names every member it holds.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = accord_node::backup::check_archive(data) {
        assert_eq!(m.format, accord_node::backup::FORMAT);
    }
});
