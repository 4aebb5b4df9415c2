//! Canonical JSON (RFC 8785, JSON Canonicalization Scheme), written here so that the
//! bytes every party signs are defined by this code and the RFC, not by a serializer's
//! defaults.
//!
//! Agreement documents hold only strings, integers, booleans, arrays and objects, so the
//! ECMAScript number formatting of RFC 8785 §3.2.2.3 reduces to integer formatting: a
//! number that is not an integer of magnitude at most 2^53 is refused rather than written
//! in a way another implementation might not reproduce.

use crate::Error;
use serde_json::Value;

/// Largest integer magnitude written (IEEE 754 doubles are exact up to 2^53).
const MAX_SAFE_INTEGER: u64 = 1 << 53;

/// Write `value` as RFC 8785 canonical JSON.
pub fn to_vec(value: &Value) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    write_value(value, &mut out)?;
    Ok(out)
}

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), Error> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out)?,
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // Members sorted by the UTF-16 code units of their names (RFC 8785 §3.2.3).
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (name, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(name, out);
                out.push(b':');
                write_value(item, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_number(n: &serde_json::Number, out: &mut Vec<u8>) -> Result<(), Error> {
    if let Some(u) = n.as_u64() {
        if u <= MAX_SAFE_INTEGER {
            out.extend_from_slice(u.to_string().as_bytes());
            return Ok(());
        }
    } else if let Some(i) = n.as_i64() {
        if i.unsigned_abs() <= MAX_SAFE_INTEGER {
            out.extend_from_slice(i.to_string().as_bytes());
            return Ok(());
        }
    } else if let Some(f) = n.as_f64() {
        if f.is_finite() && f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER as f64 {
            // -0 is written as 0, as ECMAScript does.
            let i = f as i64;
            out.extend_from_slice(i.to_string().as_bytes());
            return Ok(());
        }
    }
    Err(Error::Canonical(format!(
        "number {n} is not an integer of magnitude at most 2^53"
    )))
}

/// Strings as ECMAScript's JSON.stringify writes them (RFC 8785 §3.2.2.2): `"` and `\`
/// escaped, the short escapes for \b \t \n \f \r, other controls as `\u00xx` in lower
/// case, everything else as UTF-8.
fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    // Copy runs of bytes that need no escape in one go (every byte of a multi-byte
    // UTF-8 sequence is >= 0x80, so runs never split a character).
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            0x08 => Some(b"\\b"),
            b'\t' => Some(b"\\t"),
            b'\n' => Some(b"\\n"),
            0x0c => Some(b"\\f"),
            b'\r' => Some(b"\\r"),
            0x00..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..i]);
        match escape {
            Some(e) => out.extend_from_slice(e),
            None => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
        }
        run = i + 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: Value) -> String {
        String::from_utf8(to_vec(&v).unwrap()).unwrap()
    }

    #[test]
    fn sorts_members_by_utf16_code_units() {
        // RFC 8785 §3.2.3 example: "\u20ac" (€) sorts before "\ud83d\ude00" (😀) in UTF-16
        // although its UTF-8 bytes sort after; "\r" first, "1" before letters.
        let v = json!({"\u{20ac}": "Euro Sign", "\r": "Carriage Return", "\u{fb33}": "Hebrew Letter Dalet With Dagesh", "1": "One", "\u{1f600}": "Emoji: Grinning Face", "\u{80}": "Control", "\u{f6}": "Latin Small Letter O With Diaeresis"});
        let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(canon(v), expected);
    }

    #[test]
    fn escapes_like_ecmascript() {
        let v = json!("\u{0}\u{1f}\u{7f}\"\\/\u{08}\u{0c}\n\r\té");
        assert_eq!(
            canon(v),
            "\"\\u0000\\u001f\u{7f}\\\"\\\\/\\b\\f\\n\\r\\té\""
        );
    }

    #[test]
    fn no_whitespace_and_nested() {
        let v = json!({"b": [1, true, null, {"z": -5, "a": "x"}], "a": {}});
        assert_eq!(canon(v), r#"{"a":{},"b":[1,true,null,{"a":"x","z":-5}]}"#);
    }

    #[test]
    fn refuses_non_integers_and_unsafe_integers() {
        assert!(to_vec(&json!(1.5)).is_err());
        assert!(to_vec(&json!(9007199254740993u64)).is_err());
        assert_eq!(canon(json!(9007199254740992u64)), "9007199254740992");
        assert_eq!(canon(json!(-0.0)), "0");
        assert_eq!(canon(json!(3.0)), "3");
    }
}
