//! Reading a parsed TOML or JSON tree into typed fields, naming every field in errors
//! (`parties[1].signing-keys.ml-dsa-87: not base64`) and refusing unknown fields.
//!
//! Both formats are first parsed into a `serde_json::Value` (TOML through `toml::Table`),
//! so one reader gives the same errors for the human file and the canonical form.

use crate::Error;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Longest short string (names, ids, references) accepted.
pub const MAX_SHORT: usize = 1024;
/// Longest long string (free-text terms) accepted.
pub const MAX_LONG: usize = 256 * 1024;

/// Parse TOML text into a JSON value tree. TOML datetimes become their text, to be read
/// (and checked for a zone) like any time string.
pub fn toml_to_value(text: &str) -> Result<Value, Error> {
    let table: toml::Table = toml::from_str(text).map_err(|e| Error::Syntax {
        format: "TOML",
        message: e.to_string().trim_end().to_string(),
    })?;
    Ok(convert(toml::Value::Table(table)))
}

fn convert(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(convert).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.into_iter().map(|(k, v)| (k, convert(v))).collect())
        }
    }
}

/// Parse JSON text into a value tree.
pub fn json_to_value(text: &str) -> Result<Value, Error> {
    serde_json::from_str(text).map_err(|e| Error::Syntax {
        format: "JSON",
        message: e.to_string(),
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

/// A table being read: remembers which fields were taken so the rest can be refused.
pub struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
    used: BTreeSet<&'static str>,
}

impl<'a> Obj<'a> {
    /// Start reading `value` (at `path`, empty for the top level) as a table.
    pub fn new(value: &'a Value, path: &str) -> Result<Self, Error> {
        match value {
            Value::Object(map) => Ok(Obj {
                path: path.to_string(),
                map,
                used: BTreeSet::new(),
            }),
            other => Err(Error::field(
                if path.is_empty() { "(document)" } else { path },
                format!("expected a table, found {}", kind(other)),
            )),
        }
    }

    /// The full path of a field of this table.
    pub fn path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// A field's raw value, if present.
    pub fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.used.insert(key);
        self.map.get(key)
    }

    /// A required field's raw value.
    pub fn req(&mut self, key: &'static str) -> Result<&'a Value, Error> {
        let path = self.path(key);
        self.get(key).ok_or_else(|| Error::field(path, "missing"))
    }

    /// A required string, at most `max` bytes, not empty.
    pub fn string(&mut self, key: &'static str, max: usize) -> Result<String, Error> {
        let v = self.req(key)?;
        as_string(v, &self.path(key), max)
    }

    /// An optional string.
    pub fn opt_string(&mut self, key: &'static str, max: usize) -> Result<Option<String>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => as_string(v, &self.path(key), max).map(Some),
        }
    }

    /// A required unsigned integer.
    pub fn uint(&mut self, key: &'static str) -> Result<u64, Error> {
        let path = self.path(key);
        let v = self.req(key)?;
        v.as_u64().ok_or_else(|| {
            Error::field(
                path,
                format!("expected a non-negative integer, found {}", kind(v)),
            )
        })
    }

    /// An optional array (absent = empty), at most `max` items.
    pub fn array(&mut self, key: &'static str, max: usize) -> Result<&'a [Value], Error> {
        let path = self.path(key);
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(items)) if items.len() <= max => Ok(items),
            Some(Value::Array(items)) => Err(Error::field(
                path,
                format!("{} items, at most {max} allowed", items.len()),
            )),
            Some(other) => Err(Error::field(
                path,
                format!("expected an array, found {}", kind(other)),
            )),
        }
    }

    /// Refuse any field that was not read.
    pub fn finish(self) -> Result<(), Error> {
        for key in self.map.keys() {
            if !self.used.contains(key.as_str()) {
                let expected: Vec<&str> = self.used.iter().copied().collect();
                return Err(Error::field(
                    self.path(key),
                    format!("unknown field (expected one of: {})", expected.join(", ")),
                ));
            }
        }
        Ok(())
    }
}

/// A value as a string of at most `max` bytes, not empty and without NUL.
pub fn as_string(v: &Value, path: &str, max: usize) -> Result<String, Error> {
    match v {
        Value::String(s) if s.is_empty() => Err(Error::field(path, "must not be empty")),
        Value::String(s) if s.len() > max => Err(Error::field(
            path,
            format!("{} bytes long, at most {max} allowed", s.len()),
        )),
        Value::String(s) if s.contains('\0') => Err(Error::field(path, "contains a NUL character")),
        Value::String(s) => Ok(s.clone()),
        other => Err(Error::field(
            path,
            format!("expected a string, found {}", kind(other)),
        )),
    }
}
