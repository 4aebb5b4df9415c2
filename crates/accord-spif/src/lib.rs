//! Security policies (XML-SPIF), confidentiality labels (STANAG 4774), clearances,
//! markings, access decisions and translation.
//!
//! # API overview
//!
//! ```no_run
//! use accord_spif::{decide, Clearance, Label, LabelFormat, PolicySet};
//! # fn main() -> accord_spif::Result<()> {
//! // Load policies: a SPIF file, or a directory of them. Policies are found by name or
//! // OID, ignoring ASCII case ("USA", "usa", "1.3.6.1.4.1.32473.1.2").
//! let mut set = PolicySet::new();
//! set.load_path("policies".as_ref())?;
//! let usa = set.find("USA")?;
//!
//! // Read a label: STANAG 4774 XML, spiffy XML or JSON, detected from the content.
//! // The source name ("label.xml") appears in errors with line and column.
//! let bytes = std::fs::read("label.xml").unwrap();
//! let label = Label::read(&set, "label.xml", &bytes)?;
//!
//! // Or build one, or parse what a person typed.
//! let mut built = Label::new(usa, "SECRET")?;
//! built.add_category(usa, "Releasable To", "PAK")?;
//! let typed = usa.parse_marking("SECRET//REL TO USA, PAK", "")?;
//!
//! // Its categories as (tag set, value) pairs: ("Releasable To", "PAK"), ("Scope", "EXERCISES").
//! let rel_to: Vec<&str> = label.values("Releasable To");
//! for (tag_set, value) in label.category_pairs() { let _ = (tag_set, value); }
//!
//! // Render its marking (text + classification colour), per xml:lang ("" = default).
//! let marking = usa.render(&typed, "")?;         // marking.text == "SECRET//REL TO USA, PAK"
//!
//! // Validate it against its policy, with reasons.
//! let validity = usa.validate(&label)?;         // validity.valid, validity.reasons
//!
//! // Decide access for a clearance (spiffy XML or JSON).
//! let clearance = Clearance::read(&set, "alice.json", &std::fs::read("alice.json").unwrap())?;
//! let decision = decide(&clearance, &label);     // decision.permit, decision.reasons
//!
//! // Translate into an equivalent policy, and write any form.
//! let in_pak = set.translate(&label, "PAK")?;
//! let xml = in_pak.write(LabelFormat::Stanag4774);
//! # let _ = (rel_to, marking, validity, decision, xml, built); Ok(()) }
//! ```
//!
//! Deny reasons are sentences such as `clearance does not hold classification SECRET`,
//! `clearance lacks restrictive category NOFORN` and
//! `clearance holds none of the permissive categories of Releasable To: GBR, CAN`.
//!
//! Inputs are bounded ([`policy::MAX_SPIF_BYTES`], [`label::MAX_LABEL_BYTES`], nesting
//! depth), and every error names the input and, for XML and JSON, the line and column.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clearance;
pub mod decide;
pub mod error;
pub mod label;
pub mod marking;
pub mod policy;
pub mod set;
pub mod translate;
pub mod validate;
pub mod xml;

pub use clearance::Clearance;
pub use decide::{decide, Decision};
pub use error::{Error, Position, Result};
pub use label::{
    Category, ClassificationRef, Label, LabelFormat, LabelKind, OriginatorId, PolicyId,
};
pub use marking::Marking;
pub use policy::{Policy, TagType};
pub use set::PolicySet;
pub use validate::Validity;
