//! A set of loaded policies, found by name or OID.

use crate::error::{Error, Result};
use crate::policy::Policy;
use std::path::Path;

/// Policies loaded from files or directories; labels and clearances find their policy here
/// by `PolicyIdentifier` (name or OID, ignoring ASCII case).
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    policies: Vec<Policy>,
}

impl PolicySet {
    /// An empty set.
    pub fn new() -> PolicySet {
        PolicySet::default()
    }

    /// Add a policy. Two policies with the same OID or the same name are refused.
    pub fn add(&mut self, policy: Policy) -> Result<()> {
        if let Some(old) = self
            .policies
            .iter()
            .find(|p| p.id == policy.id || p.name.eq_ignore_ascii_case(&policy.name))
        {
            return Err(Error::Duplicate(format!(
                "{}: policy {} ({}) is already loaded from {}",
                policy.source_name, policy.name, policy.id, old.source_name
            )));
        }
        self.policies.push(policy);
        Ok(())
    }

    /// Load one SPIF file, or every `*.xml` file of a directory (in name order).
    pub fn load_path(&mut self, path: &Path) -> Result<()> {
        let io = |e: std::io::Error| Error::Io {
            path: path.display().to_string(),
            error: e,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.is_dir() {
            let mut files = Vec::new();
            for entry in std::fs::read_dir(path).map_err(io)? {
                let p = entry.map_err(io)?.path();
                if p.extension().and_then(|e| e.to_str()) == Some("xml") && p.is_file() {
                    files.push(p);
                }
            }
            files.sort();
            for f in files {
                self.load_file(&f)?;
            }
            Ok(())
        } else {
            self.load_file(path)
        }
    }

    fn load_file(&mut self, path: &Path) -> Result<()> {
        let name = path.display().to_string();
        let bytes = read_limited(path, crate::policy::MAX_SPIF_BYTES)?;
        let policy = Policy::from_xml(&name, &bytes)?;
        self.add(policy)
    }

    /// The policy whose name or OID is `name_or_id` (ASCII case ignored, `urn:oid:` allowed).
    pub fn get(&self, name_or_id: &str) -> Option<&Policy> {
        let s = name_or_id.trim();
        let s = s.strip_prefix("urn:oid:").unwrap_or(s);
        self.policies
            .iter()
            .find(|p| p.id == s)
            .or_else(|| self.policies.iter().find(|p| p.is_named(s)))
    }

    /// Like [`PolicySet::get`], with an error naming what was not found.
    pub fn find(&self, name_or_id: &str) -> Result<&Policy> {
        self.get(name_or_id)
            .ok_or_else(|| Error::UnknownPolicy(name_or_id.to_string()))
    }

    /// All loaded policies in load order.
    pub fn iter(&self) -> impl Iterator<Item = &Policy> {
        self.policies.iter()
    }

    /// Number of loaded policies.
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// True when no policy is loaded.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }
}

/// Read a whole file, refusing more than `limit` bytes.
pub(crate) fn read_limited(path: &Path, limit: usize) -> Result<Vec<u8>> {
    use std::io::Read;
    let io = |e: std::io::Error| Error::Io {
        path: path.display().to_string(),
        error: e,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut buf = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(io)?;
    if buf.len() > limit {
        return Err(Error::TooLarge {
            source_name: path.display().to_string(),
            size: buf.len(),
            limit,
        });
    }
    Ok(buf)
}
