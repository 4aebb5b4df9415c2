//! Fuzz the sealed-object container reader: ZIP64 layout, manifest entry, inspection.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = std::io::Cursor::new(data);
    if let Ok(layout) = accord_tdf::zip::read_layout(&mut r) {
        assert!(layout.payload.data_offset + layout.payload.size <= layout.file_size);
        assert!(layout.manifest.data_offset + layout.manifest.size <= layout.file_size);
    }
    let _ = accord_tdf::inspect(&mut std::io::Cursor::new(data));
});
