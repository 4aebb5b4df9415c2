//! `PERSON.json`: a person enrolled by a party, as the decision needs them.
//!
//! ```json
//! {
//!   "id": "pak-officer",
//!   "name": "Major A. Khan",
//!   "party": "PAK",
//!   "nationality": "PAK",
//!   "clearance": {"policy": {"name": "PAK"}, "classifications": ["SECRET"],
//!                 "categories": [{"tagSet": "Releasable To", "values": ["PAK"]}]},
//!   "scopes": ["EXERCISES", "TRAINING"],
//!   "status": "active"
//! }
//! ```
//! `clearance` is either the clearance itself in the JSON form of `accord-spif`, or a
//! string: the path of a clearance file (JSON or spiffy XML), relative to the person
//! file. `status` is `active` or `suspended`. Unknown fields are refused.

use crate::decision::{Person, PersonStatus};
use crate::reader::{self, as_string, Obj, MAX_SHORT};
use crate::{Error, Scope};
use accord_spif::{Clearance, PolicySet};
use serde_json::Value;

/// Largest person file accepted.
pub const MAX_PERSON_JSON: usize = 256 * 1024;

/// Where a person's clearance is.
#[derive(Debug, Clone, PartialEq)]
pub enum ClearanceSource {
    /// The clearance, inline, in the JSON form of `accord-spif`.
    Inline(Value),
    /// The path of a clearance file, relative to the person file.
    File(String),
}

/// A parsed `PERSON.json`, its clearance not yet resolved against policies.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonFile {
    /// Stable identifier.
    pub id: String,
    /// Name for people.
    pub name: String,
    /// Enrolling party (trigraph).
    pub party: String,
    /// Nationality (trigraph).
    pub nationality: String,
    /// The clearance or where to find it.
    pub clearance: ClearanceSource,
    /// Scopes the person works in.
    pub scopes: Vec<Scope>,
    /// Active or suspended.
    pub status: PersonStatus,
}

fn trigraph(v: String, field: &str) -> Result<String, Error> {
    if v.len() == 3 && v.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(v)
    } else {
        Err(Error::field(
            field,
            format!("{v:?} is not an ISO 3166 trigraph (three capital letters)"),
        ))
    }
}

impl PersonFile {
    /// Parse `PERSON.json`. Errors name the field (`person field `scopes[1]`: ...`).
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_PERSON_JSON {
            return Err(Error::Person(format!(
                "larger than {MAX_PERSON_JSON} bytes"
            )));
        }
        let text =
            std::str::from_utf8(bytes).map_err(|e| Error::Person(format!("not UTF-8: {e}")))?;
        let v = reader::json_to_value(text)?;
        let mut o = Obj::new(&v, "")?;
        let id = o.string("id", MAX_SHORT)?;
        let name = o.string("name", MAX_SHORT)?;
        let party = trigraph(o.string("party", MAX_SHORT)?, "party")?;
        let nationality = trigraph(o.string("nationality", MAX_SHORT)?, "nationality")?;
        let clearance = match o.req("clearance")? {
            Value::String(path) if !path.is_empty() => ClearanceSource::File(path.clone()),
            v @ Value::Object(_) => ClearanceSource::Inline(v.clone()),
            _ => return Err(Error::field(
                "clearance",
                "expected the clearance (a JSON object) or the path of a clearance file (a string)",
            )),
        };
        let mut scopes = Vec::new();
        for (i, s) in o.array("scopes", 16)?.iter().enumerate() {
            let path = format!("scopes[{i}]");
            let n = as_string(s, &path, MAX_SHORT)?;
            let scope = Scope::parse(&n).ok_or_else(|| {
                Error::field(&path, format!("unknown scope {n:?} (expected EXERCISES, OPERATIONS, TRAINING, BASING or EQUIPMENT)"))
            })?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        let status = match o.string("status", MAX_SHORT)?.as_str() {
            "active" => PersonStatus::Active,
            "suspended" => PersonStatus::Suspended,
            other => {
                return Err(Error::field(
                    "status",
                    format!("{other:?}: expected \"active\" or \"suspended\""),
                ))
            }
        };
        o.finish()?;
        Ok(PersonFile {
            id,
            name,
            party,
            nationality,
            clearance,
            scopes,
            status,
        })
    }

    /// Resolve the clearance against `policies`: inline, or from `file_bytes` (the
    /// contents of the file [`ClearanceSource::File`] names, read by the caller).
    pub fn into_person(
        self,
        policies: &PolicySet,
        file_bytes: Option<&[u8]>,
    ) -> Result<Person, Error> {
        let clearance = match (&self.clearance, file_bytes) {
            (ClearanceSource::Inline(v), _) => {
                let bytes = serde_json::to_vec(v).map_err(|e| Error::Person(e.to_string()))?;
                Clearance::read_json(policies, "clearance", &bytes)
                    .map_err(|e| Error::field("clearance", e.to_string()))?
            }
            (ClearanceSource::File(path), Some(bytes)) => Clearance::read(policies, path, bytes)
                .map_err(|e| Error::field("clearance", e.to_string()))?,
            (ClearanceSource::File(path), None) => {
                return Err(Error::field(
                    "clearance",
                    format!("the clearance file {path} was not read"),
                ))
            }
        };
        Ok(Person {
            id: self.id,
            name: self.name,
            party: self.party,
            nationality: self.nationality,
            clearance,
            scopes: self.scopes,
            status: self.status,
        })
    }
}
