//! PAK clearances (JSON, as `accord user add --clearance` takes them) and the national
//! marking the node tests seal under, so that what one test file grants and another
//! checks are the same words.

/// The national marking the single-node tests seal under: PAK SECRET, Releasable To
/// PAK, scope EXERCISES. [`SECRET`] and [`SECRET_EXERCISES`] open it; [`LOW`] does not.
pub const MARKING: &str = "SECRET//REL TO PAK//SCOPE EXERCISES";

/// Cleared to PAK SECRET, Releasable To PAK, scopes EXERCISES and TRAINING.
pub const SECRET: &str = r#"{"policy": {"name": "PAK"}, "classifications": ["UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET"],
 "categories": [{"tagSet": "Releasable To", "values": ["PAK"]}, {"tagSet": "Scope", "values": ["EXERCISES", "TRAINING"]}]}"#;

/// Cleared to PAK SECRET, Releasable To PAK, scope EXERCISES only.
pub const SECRET_EXERCISES: &str = r#"{"policy": {"name": "PAK"}, "classifications": ["UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET"],
 "categories": [{"tagSet": "Releasable To", "values": ["PAK"]}, {"tagSet": "Scope", "values": ["EXERCISES"]}]}"#;

/// Cleared to PAK RESTRICTED only (Releasable To PAK, scope EXERCISES): denied
/// [`MARKING`] for its classification.
pub const LOW: &str = r#"{"policy": {"name": "PAK"}, "classifications": ["UNCLASSIFIED", "RESTRICTED"],
 "categories": [{"tagSet": "Releasable To", "values": ["PAK"]}, {"tagSet": "Scope", "values": ["EXERCISES"]}]}"#;
