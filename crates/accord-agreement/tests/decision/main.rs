//! The full decision: a table test per rule, and a property test over thousands of
//! generated (person, label, agreement, time) cases against a reference model written
//! independently here (its own classification tables, its own status arithmetic).
//!
//! One test binary in modules: `fixtures` (the policies, agreements, people and labels
//! the tests decide with), `rules` (a table test per rule), `wrapping` (rule
//! `classical-wrapping`), `person_json` (a person's file), and the property tests:
//! `cases` (the generated cases), `reference` (the reference model and its answer) and
//! `property` (the library against the model).

#[path = "../common/mod.rs"]
mod common;

mod cases;
mod fixtures;
mod person_json;
mod property;
mod reference;
mod rules;
mod wrapping;
