#![no_main]
//! The node's path handling under `/log/`: the one parser of a log resource that the
//! router serves from and the access gate decides on (`Resource::parse`). Whatever is
//! accepted is the canonical spelling of exactly one resource (it round-trips), and
//! only hash tiles and the checkpoint are public: no byte string parses as a public
//! resource whose canonical path is an entry bundle's.
use accord_log::tile::Resource;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = Resource::parse(path) {
        let canonical = r.path();
        assert_eq!(canonical, path.strip_prefix('/').unwrap_or(path));
        assert_eq!(Resource::parse(&canonical).expect("re-parse"), r);
        assert_eq!(r.is_public(), !canonical.starts_with("tile/entries/"));
        assert!(!canonical.contains('%') && !canonical.contains("//"));
    }
});
