//! Sealed objects: ZTDF/OpenTDF TDF3 containers, segments, manifest, key access, key splits, assertions, key wrapping
#![forbid(unsafe_code)]
