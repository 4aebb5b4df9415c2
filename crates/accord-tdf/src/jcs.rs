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
    let v: Value = serde_json::from_slice(text)
        .map_err(|e| Error::Manifest(format!("line {} column {}: {e}", e.line(), e.column())))?;
    canonical(&v)
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
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
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
        }
    }
    Ok(())
}

fn string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\r' => out.extend_from_slice(b"\\r"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
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
    }
}
