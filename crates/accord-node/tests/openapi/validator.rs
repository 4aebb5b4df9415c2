//! The schema validator: type, enum, const, required, properties,
//! additionalProperties (false or a schema), items, minItems, maxItems, minLength,
//! maxLength, minimum, allOf, $ref; annotations are ignored; anything else is an error.

use crate::spec;
use serde_json::{json, Value};

const ANNOTATIONS: &[&str] = &[
    "description",
    "title",
    "format",
    "example",
    "examples",
    "contentEncoding",
    "contentMediaType",
    "deprecated",
    "readOnly",
    "writeOnly",
];

pub(crate) fn resolve<'a>(doc: &'a Value, r: &str) -> &'a Value {
    let ptr = r
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("only local $ref are supported: {r}"));
    doc.pointer(ptr)
        .unwrap_or_else(|| panic!("$ref {r} does not resolve"))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(want: &str, v: &Value) -> bool {
    let got = type_name(v);
    got == want || (want == "number" && got == "integer")
}

/// Check `v` against `schema`; `at` names the place in the body (`$.results[0].decision`).
pub(crate) fn validate(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let s = schema
        .as_object()
        .ok_or_else(|| format!("schema at {at} is not an object"))?;
    for (k, rule) in s {
        match k.as_str() {
            "$ref" => validate(doc, resolve(doc, rule.as_str().unwrap()), v, at)?,
            "type" => {
                let ok = match rule {
                    Value::String(t) => type_matches(t, v),
                    Value::Array(ts) => ts.iter().any(|t| type_matches(t.as_str().unwrap(), v)),
                    _ => return Err(format!("bad `type` in schema at {at}")),
                };
                if !ok {
                    return Err(format!("{at}: {} is not of type {rule}", type_name(v)));
                }
            }
            "enum" => {
                if !rule.as_array().unwrap().contains(v) {
                    return Err(format!("{at}: {v} is not one of {rule}"));
                }
            }
            "const" => {
                if rule != v {
                    return Err(format!("{at}: {v} is not {rule}"));
                }
            }
            "required" => {
                if let Some(o) = v.as_object() {
                    for name in rule.as_array().unwrap() {
                        let name = name.as_str().unwrap();
                        if !o.contains_key(name) {
                            return Err(format!("{at}: required property `{name}` is missing"));
                        }
                    }
                }
            }
            "properties" => {
                if let Some(o) = v.as_object() {
                    for (name, sub) in rule.as_object().unwrap() {
                        if let Some(x) = o.get(name) {
                            validate(doc, sub, x, &format!("{at}.{name}"))?;
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(o) = v.as_object() {
                    let known = s.get("properties").and_then(Value::as_object);
                    for (name, x) in o {
                        if known.is_some_and(|k| k.contains_key(name)) {
                            continue;
                        }
                        match rule {
                            Value::Bool(false) => {
                                return Err(format!("{at}: property `{name}` is not documented"))
                            }
                            Value::Bool(true) => {}
                            sub => validate(doc, sub, x, &format!("{at}.{name}"))?,
                        }
                    }
                }
            }
            "items" => {
                if let Some(a) = v.as_array() {
                    for (i, x) in a.iter().enumerate() {
                        validate(doc, rule, x, &format!("{at}[{i}]"))?;
                    }
                }
            }
            "minItems" | "maxItems" => {
                if let Some(a) = v.as_array() {
                    let n = rule.as_u64().unwrap() as usize;
                    if (k == "minItems" && a.len() < n) || (k == "maxItems" && a.len() > n) {
                        return Err(format!("{at}: {} items violates {k} {n}", a.len()));
                    }
                }
            }
            "minLength" | "maxLength" => {
                if let Some(t) = v.as_str() {
                    let n = rule.as_u64().unwrap() as usize;
                    let len = t.chars().count();
                    if (k == "minLength" && len < n) || (k == "maxLength" && len > n) {
                        return Err(format!("{at}: length {len} violates {k} {n}"));
                    }
                }
            }
            "minimum" => {
                if let Some(x) = v.as_f64() {
                    if x < rule.as_f64().unwrap() {
                        return Err(format!("{at}: {x} is below the minimum {rule}"));
                    }
                }
            }
            "allOf" => {
                for sub in rule.as_array().unwrap() {
                    validate(doc, sub, v, at)?;
                }
            }
            other if ANNOTATIONS.contains(&other) => {}
            other => {
                return Err(format!(
                    "schema keyword `{other}` at {at} is not supported by this test's validator"
                ))
            }
        }
    }
    Ok(())
}

pub(crate) fn check_keywords(doc: &Value, schema: &Value, at: &str) {
    let Some(s) = schema.as_object() else {
        panic!("{at}: schema is not an object")
    };
    for (k, v) in s {
        match k.as_str() {
            "properties" => {
                for (n, sub) in v.as_object().unwrap() {
                    check_keywords(doc, sub, &format!("{at}.{n}"));
                }
            }
            "items" => check_keywords(doc, v, &format!("{at}[]")),
            "allOf" => {
                for sub in v.as_array().unwrap() {
                    check_keywords(doc, sub, at);
                }
            }
            "additionalProperties" if v.is_object() => check_keywords(doc, v, at),
            "$ref" => {
                resolve(doc, v.as_str().unwrap());
            }
            "type"
            | "enum"
            | "const"
            | "required"
            | "additionalProperties"
            | "minItems"
            | "maxItems"
            | "minLength"
            | "maxLength"
            | "minimum" => {}
            other => assert!(
                ANNOTATIONS.contains(&other),
                "{at}: schema keyword `{other}` is not supported by this test's validator"
            ),
        }
    }
}

#[test]
fn the_validator_rejects_wrong_bodies() {
    let doc = spec();
    let schema = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let check = |name: &str, v: Value| validate(&doc, &schema(name), &v, "$");

    assert_eq!(
        check("Health", json!({"status": "ok", "party": "PAK"})),
        Ok(())
    );
    for (bad, why) in [
        (json!({"status": "ok"}), "required property `party`"),
        (json!({"status": "up", "party": "PAK"}), "is not one of"),
        (json!({"status": "ok", "party": 7}), "is not of type"),
        (
            json!({"status": "ok", "party": "PAK", "extra": 1}),
            "`extra` is not documented",
        ),
        (json!(["ok"]), "is not of type"),
    ] {
        let e = check("Health", bad.clone()).unwrap_err();
        assert!(e.contains(why), "{bad}: {e}");
    }
    let result = json!({"object_id": "x", "decision": "permit", "log_index": 3,
        "reasons": [{"rule": "clearance", "text": "ok"}]});
    assert_eq!(check("ObjectResult", result.clone()), Ok(()));
    let mut bad = result.clone();
    bad["reasons"][0]["why"] = json!("x");
    assert!(check("ObjectResult", bad)
        .unwrap_err()
        .contains("$.reasons[0]: property `why`"));
    let mut bad = result.clone();
    bad["log_index"] = json!(-1);
    assert!(check("ObjectResult", bad).unwrap_err().contains("minimum"));
    let mut bad = result;
    bad["decision"] = json!("maybe");
    assert!(check("ObjectResult", bad).is_err());
    // Nullable and allOf.
    assert_eq!(check("SealPlanRequest", json!({"marking": null})), Ok(()));
    assert!(check("SealPlanRequest", json!({"marking": 1})).is_err());
    let unsigned = json!({"assertions": [{"id": "accord-label", "type": "handling",
        "scope": "tdo", "statement": {"value": "x"}}], "log_index": 1});
    assert!(check("SignResponse", unsigned)
        .unwrap_err()
        .contains("`binding` is missing"));
    // A keyword the validator does not know is an error, not a pass.
    assert!(validate(&doc, &json!({"pattern": "^a$"}), &json!("b"), "$").is_err());
}
