//! What the readers of every label form share (and the clearance readers too): the
//! size bound, detecting the form from the content, checking dates, and resolving a
//! category named by tag set, type and value. Apart because it belongs to no one form.

use crate::error::{Error, Position, Result};
use crate::label::{LABEL_LIMITS, MAX_LABEL_BYTES};
use crate::policy::{Policy, TagType};
use crate::xml;

pub(crate) enum Detected<'a> {
    Json,
    Xml(xml::Document<'a>),
    Ber,
}

pub(crate) fn check_size(source_name: &str, bytes: &[u8]) -> Result<()> {
    if bytes.len() > MAX_LABEL_BYTES {
        return Err(Error::TooLarge {
            source_name: source_name.to_string(),
            size: bytes.len(),
            limit: MAX_LABEL_BYTES,
        });
    }
    Ok(())
}

pub(crate) fn detect<'a>(source_name: &str, bytes: &'a [u8]) -> Result<Detected<'a>> {
    check_size(source_name, bytes)?;
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Err(Error::Empty {
            source_name: source_name.to_string(),
        }),
        Some(b'{') => Ok(Detected::Json),
        Some(b'<') => Ok(Detected::Xml(xml::parse(source_name, body, LABEL_LIMITS)?)),
        Some(0x30) | Some(0x31) => Ok(Detected::Ber),
        Some(_) => Err(Error::UnknownFormat {
            source_name: source_name.to_string(),
            reason: "not XML, JSON or a BER ESSSecurityLabel".to_string(),
        }),
    }
}

/// Check an xs:dateTime-shaped value: `YYYY-MM-DDThh:mm:ss[.fff][Z|±hh:mm]`.
pub(crate) fn check_date(source_name: &str, v: Option<String>) -> Result<Option<String>> {
    let Some(v) = v else { return Ok(None) };
    let t = v.trim();
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let mut ok = b.len() >= 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if ok {
        let mut rest = &t[19..];
        if let Some(frac) = rest.strip_prefix('.') {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            ok &= n > 0;
            rest = &frac[n..];
        }
        ok &= rest.is_empty()
            || rest == "Z"
            || (rest.len() == 6
                && (rest.starts_with('+') || rest.starts_with('-'))
                && rest.as_bytes()[3] == b':'
                && rest[1..3].bytes().all(|c| c.is_ascii_digit())
                && rest[4..6].bytes().all(|c| c.is_ascii_digit()));
    }
    if ok {
        Ok(Some(t.to_string()))
    } else {
        Err(Error::Invalid {
            source_name: source_name.to_string(),
            at: Position::default(),
            reason: format!("{v:?} is not a date and time like 2026-01-31T12:00:00Z"),
        })
    }
}

/// Resolve a category named by tag set (name or `urn:oid:` URI), optional STANAG type
/// and value name.
pub(crate) fn resolve_named(
    policy: &Policy,
    tag_set: &str,
    stanag_type: Option<&str>,
    uri: Option<&str>,
    value: &str,
) -> Result<usize> {
    let ts = policy
        .tag_set_by_name(tag_set)
        .or_else(|| {
            uri.and_then(|u| u.strip_prefix("urn:oid:"))
                .and_then(|id| policy.tag_set_by_id(id))
        })
        .ok_or_else(|| Error::UnknownCategory {
            policy: policy.name.clone(),
            value: format!("tag set {tag_set:?}"),
        })?;
    let family = match stanag_type.map(|t| t.to_ascii_uppercase()) {
        None => None,
        Some(t) if t == "RESTRICTIVE" => Some(TagType::Restrictive),
        Some(t) if t == "PERMISSIVE" => Some(TagType::Permissive),
        Some(t) if t == "INFORMATIVE" => Some(TagType::Informative),
        Some(t) => {
            return Err(Error::UnknownCategory {
                policy: policy.name.clone(),
                value: format!(
                    "category type {t:?} (expected RESTRICTIVE, PERMISSIVE or INFORMATIVE)"
                ),
            })
        }
    };
    let found = match family {
        Some(f) => policy.category_by_name(ts, f, value),
        None => policy.category_by_name_any_type(ts, value),
    };
    found.ok_or_else(|| Error::UnknownCategory {
        policy: policy.name.clone(),
        value: format!(
            "{value:?} in tag set {}{}",
            policy.tag_sets[ts].name,
            stanag_type
                .map(|t| format!(" of type {t}"))
                .unwrap_or_default()
        ),
    })
}
