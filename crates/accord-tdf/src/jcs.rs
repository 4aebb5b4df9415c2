//! RFC 8785 JSON canonicalization for the values a manifest holds (objects, arrays,
//! strings, integers, booleans, null): keys sorted by UTF-16 code units, no
//! whitespace, strings escaped as ECMAScript `JSON.stringify` does. Used for the
//! assertion hash (as OpenTDF's `GetHash`) and for the manifest digest Accord signs.

use crate::Error;
use serde_json::Value;

/// Canonical bytes of `v`. Fractional numbers are refused (manifests have none).
pub fn canonical(v: &Value) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    write(v, &mut out, 0)?;
    Ok(out)
}

/// Parse JSON text (at most 10 MB) and return its canonical bytes.
pub fn canonicalize_json(text: &[u8]) -> Result<Vec<u8>, Error> {
    if text.len() > 10 * 1024 * 1024 {
        return Err(Error::Manifest("JSON text over 10 MB".into()));
    }
    let v: Value =
        serde_json::from_slice(text).map_err(|e| crate::manifest::json_error("JSON", e))?;
    canonical(&v)
}

/// Canonical bytes of the object `v` without its member `skip` (the manifest without
/// its assertions, for the digest the assertions sign), without copying the rest.
pub fn canonical_without(v: &Value, skip: &str) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    match v {
        Value::Object(o) => write_object(o, Some(skip), &mut out, 0)?,
        other => write(other, &mut out, 0)?,
    }
    Ok(out)
}

fn write_object(
    o: &serde_json::Map<String, Value>,
    skip: Option<&str>,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), Error> {
    let mut keys: Vec<&String> = o.keys().filter(|k| Some(k.as_str()) != skip).collect();
    keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
    out.push(b'{');
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(k, out);
        out.push(b':');
        write(&o[k], out, depth + 1)?;
    }
    out.push(b'}');
    Ok(())
}

fn write(v: &Value, out: &mut Vec<u8>, depth: usize) -> Result<(), Error> {
    if depth > 64 {
        return Err(Error::Manifest("JSON nested too deeply".into()));
    }
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                return Err(Error::Manifest(
                    "fractional numbers are not expected in a manifest".into(),
                ));
            }
        }
        Value::String(s) => string(s, out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(x, out, depth + 1)?;
            }
            out.push(b']');
        }
        Value::Object(o) => write_object(o, None, out, depth)?,
    }
    Ok(())
}

/// Escape as ECMAScript does: `"` and `\`, the control characters (short forms where
/// there are some), everything else as it is. Runs with nothing to escape, nearly all
/// of a manifest, are copied whole (only ASCII is ever escaped, so the UTF-8 bytes of
/// other characters are copied unchanged).
fn string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0x0c => b"\\f",
            b'\r' => b"\\r",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 15) as usize]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8785_shapes() {
        let v: Value =
            serde_json::from_str(r#"{"b":[1,true,null],"a":"<x>\n\u0001é","€":0,"\r":1}"#).unwrap();
        assert_eq!(
            String::from_utf8(canonical(&v).unwrap()).unwrap(),
            "{\"\\r\":1,\"a\":\"<x>\\n\\u0001é\",\"b\":[1,true,null],\"€\":0}"
        );
        assert!(canonical(&serde_json::json!(1.5)).is_err());
        let mut without = v.clone();
        without.as_object_mut().unwrap().remove("b");
        assert_eq!(
            canonical_without(&v, "b").unwrap(),
            canonical(&without).unwrap()
        );
    }

    #[test]
    fn every_control_character_and_the_rest_escape_as_ecmascript_does() {
        let all: String = (0u32..0x80)
            .chain([0xe9, 0x20ac, 0x1f600])
            .filter_map(char::from_u32)
            .collect();
        let mut out = Vec::new();
        string(&all, &mut out);
        let mut want = String::from("\"");
        for c in all.chars() {
            match c {
                '"' => want.push_str("\\\""),
                '\\' => want.push_str("\\\\"),
                '\u{8}' => want.push_str("\\b"),
                '\t' => want.push_str("\\t"),
                '\n' => want.push_str("\\n"),
                '\u{c}' => want.push_str("\\f"),
                '\r' => want.push_str("\\r"),
                c if (c as u32) < 0x20 => want.push_str(&format!("\\u{:04x}", c as u32)),
                c => want.push(c),
            }
        }
        want.push('"');
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }
}
