//! The rules an agreement body must follow on its own, field by field: identifiers,
//! party codes, digests, node addresses and keys, no party or scope twice, a validity
//! period that is not empty. Apart because they are the document's validation, which
//! reading a document and drafting one both end with.

use crate::document::{Body, Node, MAX_PARTIES};
use crate::signature;
use crate::Error;

impl Body {
    /// Check the rules a body must follow on its own (field by field).
    pub fn check(&self) -> Result<(), Error> {
        check_id(&self.id, "id")?;
        if self.version == 0 {
            return Err(Error::field("version", "must be 1 or more"));
        }
        if self.parties.len() < 2 {
            return Err(Error::field(
                "parties",
                format!(
                    "an agreement needs at least 2 parties, found {}",
                    self.parties.len()
                ),
            ));
        }
        if self.parties.len() > MAX_PARTIES {
            return Err(Error::field(
                "parties",
                format!("at most {MAX_PARTIES} parties"),
            ));
        }
        for (i, p) in self.parties.iter().enumerate() {
            let path = format!("parties[{i}]");
            check_code(&p.code, &format!("{path}.code"))?;
            signature::check_keys(&p.signing_keys, &format!("{path}.signing-keys"))?;
            for (k, key) in p.kas_keys.iter().enumerate() {
                key.check(&format!("{path}.kas-keys[{k}]"))?;
            }
            if let Some(node) = &p.node {
                check_node(node, &format!("{path}.node"))?;
            }
            for (j, q) in self.parties[..i].iter().enumerate() {
                if q.code == p.code {
                    return Err(Error::field(
                        format!("{path}.code"),
                        format!("party {} is listed twice (also parties[{j}])", p.code),
                    ));
                }
                if q.signing_keys.ecdsa_p384 == p.signing_keys.ecdsa_p384
                    || q.signing_keys.ml_dsa_87 == p.signing_keys.ml_dsa_87
                {
                    return Err(Error::field(
                        format!("{path}.signing-keys"),
                        format!("the same key as parties[{j}] ({})", q.code),
                    ));
                }
            }
        }
        if self.scopes.is_empty() {
            return Err(Error::field("scopes", "at least one scope is required"));
        }
        for (i, s) in self.scopes.iter().enumerate() {
            if self.scopes[..i].contains(s) {
                return Err(Error::field(
                    format!("scopes[{i}]"),
                    format!("{s} is listed twice"),
                ));
            }
        }
        if self.effective_from >= self.expires {
            return Err(Error::field(
                "expires",
                format!(
                    "{} is not after effective-from {}",
                    self.expires, self.effective_from
                ),
            ));
        }
        for (i, t) in self.translations.iter().enumerate() {
            if t.from == t.to {
                return Err(Error::field(
                    format!("translations[{i}]"),
                    "translates a policy into itself",
                ));
            }
        }
        if let Some(p) = &self.predecessor {
            check_id(&p.id, "predecessor.id")?;
            check_digest(&p.digest, "predecessor.digest")?;
            if p.version == 0 || p.version >= self.version {
                return Err(Error::field(
                    "predecessor.version",
                    format!(
                        "{} must be at least 1 and below this version {}",
                        p.version, self.version
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn check_id(id: &str, field: &str) -> Result<(), Error> {
    if id.is_empty() {
        return Err(Error::field(field, "must not be empty"));
    }
    if id.len() > 128
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::field(
            field,
            format!("{id:?}: use at most 128 letters, digits, '-', '_' or '.'"),
        ));
    }
    Ok(())
}

fn check_code(code: &str, field: &str) -> Result<(), Error> {
    if code.len() != 3 || !code.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(Error::field(
            field,
            format!("{code:?} is not an ISO 3166 trigraph (three capital letters)"),
        ));
    }
    Ok(())
}

/// A TLS pin: SHA-256 of a SubjectPublicKeyInfo, 64 lower-case hex digits.
pub(crate) fn check_pin(pin: &str, field: &str) -> Result<(), Error> {
    if pin.len() != 64 || !pin.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
        return Err(Error::field(
            field,
            "expected 64 lower-case hex digits (SHA-256)",
        ));
    }
    Ok(())
}

pub(super) fn check_digest(d: &str, field: &str) -> Result<(), Error> {
    if d.len() != 96 || !d.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
        return Err(Error::field(
            field,
            "expected 96 lower-case hex digits (SHA-384)",
        ));
    }
    Ok(())
}

fn check_node(node: &Node, field: &str) -> Result<(), Error> {
    if !node.url.starts_with("https://") {
        return Err(Error::field(
            format!("{field}.url"),
            "must start with https://",
        ));
    }
    check_pin(&node.tls_spki_sha256, &format!("{field}.tls-spki-sha256"))?;
    for (k, key) in node.kas_keys.iter().enumerate() {
        key.check(&format!("{field}.kas-keys[{k}]"))?;
    }
    Ok(())
}
