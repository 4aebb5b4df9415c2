//! The document's two forms: TOML for people and JSON (the canonical form, or any JSON
//! with the same fields), read field by field into the types with the path of every
//! bad field in its error, and written back. Apart because it is the document's
//! parser, the part that takes untrusted input.

use super::check::check_digest;
use super::keys::{KeyKind, NewKey};
use crate::document::{
    Agreement, Body, KasKey, Node, Party, Predecessor, Record, RecordKind, Scope, Translation,
    MAX_PARTIES, MAX_RECORDS,
};
use crate::reader::{self, as_string, Obj, MAX_LONG, MAX_SHORT};
use crate::signature::{decode_b64, HybridSignature, SigningKeys};
use crate::{canonical, Error, Time};
use serde::Serialize;
use serde_json::Value;

impl Agreement {
    /// A draft: the body and no records.
    pub fn draft(body: Body) -> Result<Self, Error> {
        body.check()?;
        Ok(Agreement {
            body,
            records: Vec::new(),
        })
    }

    /// Read the TOML form.
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        Self::from_value(&reader::toml_to_value(text)?)
    }

    /// Read the JSON form (the canonical form or any JSON with the same fields).
    pub fn from_json(text: &str) -> Result<Self, Error> {
        Self::from_value(&reader::json_to_value(text)?)
    }

    /// Read either form: JSON when the first non-blank character is `{`, else TOML.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.trim_start().starts_with('{') {
            Self::from_json(text)
        } else {
            Self::from_toml(text)
        }
    }

    /// Read a value tree (from TOML or JSON).
    pub fn from_value(v: &Value) -> Result<Self, Error> {
        let mut o = Obj::new(v, "")?;
        let id = o.string("id", MAX_SHORT)?;
        let title = o.string("title", MAX_SHORT)?;
        let version = o.uint("version")?;
        let predecessor = match o.get("predecessor") {
            None => None,
            Some(p) => Some(read_predecessor(p)?),
        };
        let effective_from = read_time(o.req("effective-from")?, "effective-from")?;
        let expires = read_time(o.req("expires")?, "expires")?;
        let mut scopes = Vec::new();
        for (i, s) in o.array("scopes", Scope::ALL.len() * 2)?.iter().enumerate() {
            let path = format!("scopes[{i}]");
            let name = as_string(s, &path, MAX_SHORT)?;
            scopes.push(Scope::parse(&name).ok_or_else(|| {
                Error::field(
                    &path,
                    format!(
                        "unknown scope {name:?} (expected EXERCISES, OPERATIONS, TRAINING, BASING or EQUIPMENT)"
                    ),
                )
            })?);
        }
        let ceiling = o.opt_string("ceiling", MAX_SHORT)?;
        let mut translations = Vec::new();
        for (i, t) in o.array("translations", 256)?.iter().enumerate() {
            let mut t = Obj::new(t, &format!("translations[{i}]"))?;
            translations.push(Translation {
                from: t.string("from", MAX_SHORT)?,
                to: t.string("to", MAX_SHORT)?,
            });
            t.finish()?;
        }
        let terms = o.opt_string("terms", MAX_LONG)?.unwrap_or_default();
        let mut parties = Vec::new();
        for (i, p) in o.array("parties", MAX_PARTIES)?.iter().enumerate() {
            parties.push(read_party(p, &format!("parties[{i}]"))?);
        }
        let mut records = Vec::new();
        for (i, r) in o.array("records", MAX_RECORDS)?.iter().enumerate() {
            records.push(read_record(r, &format!("records[{i}]"))?);
        }
        o.finish()?;
        let body = Body {
            id,
            title,
            version,
            predecessor,
            effective_from,
            expires,
            scopes,
            ceiling,
            translations,
            terms,
            parties,
        };
        body.check()?;
        Ok(Agreement { body, records })
    }

    /// The whole document as JSON (body fields and `records`).
    pub fn to_value(&self) -> Result<Value, Error> {
        let mut v =
            serde_json::to_value(&self.body).map_err(|e| Error::Canonical(e.to_string()))?;
        if let Value::Object(m) = &mut v {
            m.insert(
                "records".into(),
                Value::Array(self.records.iter().map(Record::to_value).collect()),
            );
        }
        Ok(v)
    }

    /// The whole document as canonical JSON.
    pub fn to_canonical_json(&self) -> Result<Vec<u8>, Error> {
        canonical::to_vec(&self.to_value()?)
    }

    /// The TOML form people read and edit.
    pub fn to_toml(&self) -> Result<String, Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            body: &'a Body,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            records: &'a [Value],
        }
        let records: Vec<Value> = self.records.iter().map(Record::to_value).collect();
        toml::to_string(&Out {
            body: &self.body,
            records: &records,
        })
        .map_err(|e| Error::Canonical(format!("cannot write TOML: {e}")))
    }
}

/// Read a time field (RFC 3339 with a zone).
pub(crate) fn read_time(v: &Value, path: &str) -> Result<Time, Error> {
    let s = as_string(v, path, 64)?;
    Time::parse(&s).map_err(|e| Error::field(path, e.to_string()))
}

fn read_predecessor(v: &Value) -> Result<Predecessor, Error> {
    let mut o = Obj::new(v, "predecessor")?;
    let p = Predecessor {
        id: o.string("id", MAX_SHORT)?,
        version: o.uint("version")?,
        digest: o.string("digest", MAX_SHORT)?,
        ends: read_time(o.req("ends")?, "predecessor.ends")?,
    };
    o.finish()?;
    Ok(p)
}

/// Read a party table (also the shape of the agreement's view of a party descriptor).
pub fn read_party(v: &Value, path: &str) -> Result<Party, Error> {
    let mut o = Obj::new(v, path)?;
    let code = o.string("code", MAX_SHORT)?;
    let name = o.string("name", MAX_SHORT)?;
    let authority = o.string("authority", MAX_SHORT)?;
    let policy = o.string("policy", MAX_SHORT)?;
    let keys_path = o.path("signing-keys");
    let signing_keys = read_keys(o.req("signing-keys")?, &keys_path)?;
    let kas_path = o.path("kas-keys");
    let mut kas_keys = Vec::new();
    for (i, k) in o.array("kas-keys", 64)?.iter().enumerate() {
        kas_keys.push(read_kas_key(k, &format!("{kas_path}[{i}]"))?);
    }
    let node = match o.get("node") {
        None => None,
        Some(n) => Some(read_node(n, &o.path("node"))?),
    };
    o.finish()?;
    Ok(Party {
        code,
        name,
        authority,
        policy,
        signing_keys,
        kas_keys,
        node,
    })
}

fn read_keys(v: &Value, path: &str) -> Result<SigningKeys, Error> {
    let mut o = Obj::new(v, path)?;
    let ec_path = o.path("ecdsa-p384");
    let ml_path = o.path("ml-dsa-87");
    let keys = SigningKeys {
        ecdsa_p384: decode_b64(&o.string("ecdsa-p384", 8192)?, &ec_path)?,
        ml_dsa_87: decode_b64(&o.string("ml-dsa-87", 8192)?, &ml_path)?,
    };
    o.finish()?;
    Ok(keys)
}

fn read_node(v: &Value, path: &str) -> Result<Node, Error> {
    let mut o = Obj::new(v, path)?;
    let url = o.string("url", MAX_SHORT)?;
    let tls_spki_sha256 = o.string("tls-spki-sha256", MAX_SHORT)?;
    let mut kas_keys = Vec::new();
    let kas_path = o.path("kas-keys");
    for (i, k) in o.array("kas-keys", 64)?.iter().enumerate() {
        kas_keys.push(read_kas_key(k, &format!("{kas_path}[{i}]"))?);
    }
    let log_verifier_key = o.opt_string("log-verifier-key", 16384)?;
    o.finish()?;
    Ok(Node {
        url,
        tls_spki_sha256,
        kas_keys,
        log_verifier_key,
    })
}

fn read_kas_key(v: &Value, path: &str) -> Result<KasKey, Error> {
    let mut o = Obj::new(v, path)?;
    let k = KasKey {
        alg: o.string("alg", MAX_SHORT)?,
        kid: o.string("kid", MAX_SHORT)?,
        key: o.string("key", 16384)?,
    };
    o.finish()?;
    Ok(k)
}

fn read_signature(v: &Value, path: &str) -> Result<HybridSignature, Error> {
    let mut s = Obj::new(v, path)?;
    let ec_path = s.path("ecdsa-p384");
    let ml_path = s.path("ml-dsa-87");
    let sig = HybridSignature {
        ecdsa_p384: match s.opt_string("ecdsa-p384", 8192)? {
            Some(t) => decode_b64(&t, &ec_path)?,
            None => Vec::new(),
        },
        ml_dsa_87: match s.opt_string("ml-dsa-87", 16384)? {
            Some(t) => decode_b64(&t, &ml_path)?,
            None => Vec::new(),
        },
    };
    s.finish()?;
    Ok(sig)
}

/// The fields of an amendment (`amend`): which key, when, what it replaces, and the
/// new key in the one form its kind takes.
fn read_amend(o: &mut Obj<'_>) -> Result<RecordKind, Error> {
    let key = read_key_kind(o)?;
    let effective = read_time(o.req("effective")?, &o.path("effective"))?;
    let grace_until = match o.get("grace-until") {
        None => None,
        Some(g) => Some(read_time(g, &o.path("grace-until"))?),
    };
    let replaces = o.opt_string("replaces", MAX_SHORT)?.unwrap_or_default();
    let reason = o.string("reason", MAX_SHORT)?;
    let new = match key {
        KeyKind::Signing => {
            let keys_path = o.path("signing-keys");
            let keys = read_keys(o.req("signing-keys")?, &keys_path)?;
            crate::signature::check_keys(&keys, &keys_path)?;
            let sig_path = o.path("new-signature");
            let new_signature = read_signature(
                o.get("new-signature").ok_or_else(|| {
                    Error::field(
                        &sig_path,
                        "missing (a new signing key signs its own amendment)",
                    )
                })?,
                &sig_path,
            )?;
            NewKey::Signing {
                keys,
                new_signature,
            }
        }
        KeyKind::Kas | KeyKind::OfflineKas => {
            let kas_path = o.path("kas-keys");
            let mut keys = Vec::new();
            for (i, k) in o.array("kas-keys", 64)?.iter().enumerate() {
                let field = format!("{kas_path}[{i}]");
                let k = read_kas_key(k, &field)?;
                k.check(&field)?;
                keys.push(k);
            }
            NewKey::Kas(keys)
        }
        KeyKind::Tls => {
            let spki_sha256 = o.string("tls-spki-sha256", MAX_SHORT)?;
            super::check::check_pin(&spki_sha256, &o.path("tls-spki-sha256"))?;
            let url = o.opt_string("url", MAX_SHORT)?;
            if url.as_ref().is_some_and(|u| !u.starts_with("https://")) {
                return Err(Error::field(o.path("url"), "must start with https://"));
            }
            NewKey::Tls { spki_sha256, url }
        }
        KeyKind::Log => NewKey::Verifier(o.string("log-verifier-key", 16384)?),
        KeyKind::Witness => NewKey::Verifier(o.string("witness-key", 16384)?),
    };
    Ok(RecordKind::Amend {
        key,
        effective,
        grace_until,
        replaces,
        reason,
        new,
    })
}

fn read_key_kind(o: &mut Obj<'_>) -> Result<KeyKind, Error> {
    let name = o.string("key", MAX_SHORT)?;
    KeyKind::parse(&name).ok_or_else(|| {
        Error::field(
            o.path("key"),
            format!(
                "unknown key {name:?} (expected {})",
                KeyKind::ALL.map(|k| k.as_str()).join(", ")
            ),
        )
    })
}

fn read_record(v: &Value, path: &str) -> Result<Record, Error> {
    let mut o = Obj::new(v, path)?;
    let kind_name = o.string("kind", MAX_SHORT)?;
    let party = o.string("party", MAX_SHORT)?;
    let time = read_time(o.req("time")?, &o.path("time"))?;
    let previous = o.string("previous", MAX_SHORT)?;
    check_digest(&previous, &o.path("previous"))?;
    let kind = match kind_name.as_str() {
        "approve" => RecordKind::Approve {
            reference: o.opt_string("reference", MAX_SHORT)?.ok_or_else(|| {
                Error::field(o.path("reference"), "missing (an approval names its reference)")
            })?,
        },
        "sign" => RecordKind::Sign,
        "terminate" => RecordKind::Terminate {
            effective: match o.get("effective") {
                Some(e) => read_time(e, &o.path("effective"))?,
                None => {
                    return Err(Error::field(
                        o.path("effective"),
                        "missing (a termination names when it takes effect)",
                    ))
                }
            },
        },
        "amend" => read_amend(&mut o)?,
        "revoke" => RecordKind::Revoke {
            key: read_key_kind(&mut o)?,
            kid: o.string("kid", MAX_SHORT)?,
            compromised: read_time(o.req("compromised")?, &o.path("compromised"))?,
            reason: o.string("reason", MAX_SHORT)?,
        },
        other => {
            return Err(Error::field(
                o.path("kind"),
                format!(
                    "unknown record kind {other:?} (expected approve, sign, terminate, amend or revoke)"
                ),
            ))
        }
    };
    let sig_path = o.path("signature");
    let signature = read_signature(o.req("signature")?, &sig_path)?;
    // A field of another kind (a reference on a signature, say) is not read above, and
    // `finish` refuses it by name.
    o.finish()?;
    Ok(Record {
        kind,
        party,
        time,
        previous,
        signature,
    })
}
