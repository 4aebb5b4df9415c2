//! `docs/node-api.yaml` against the running node: the file documents exactly the routes
//! the server has, and every operation, called with valid and invalid requests over
//! real mTLS, answers a documented status with a body that validates against the
//! documented schema. The schema validator is the small subset of JSON Schema the file
//! uses; any other keyword in the file fails the test, so the file cannot claim what is
//! not checked.

use accord_node::directory::{self, Enrolment};
use accord_node::home::{self, Home, InitOptions};
use accord_node::server::{self, ServeOptions, ROUTES};
use accord_node_api::client::{self, Client};
use accord_node_api::credential::Credential;
use accord_node_api::wire;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
mod common;

use common::{free_port, policies};

const SECRET: &str = r#"{"policy": {"name": "PAK"}, "classifications": ["UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET"],
 "categories": [{"tagSet": "Releasable To", "values": ["PAK"]}, {"tagSet": "Scope", "values": ["EXERCISES", "TRAINING"]}]}"#;
const LOW: &str = r#"{"policy": {"name": "PAK"}, "classifications": ["UNCLASSIFIED", "RESTRICTED"],
 "categories": [{"tagSet": "Releasable To", "values": ["PAK"]}, {"tagSet": "Scope", "values": ["EXERCISES"]}]}"#;
const MARKING: &str = "SECRET//REL TO PAK//SCOPE EXERCISES";
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

fn spec_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/node-api.yaml")
}

fn spec() -> Value {
    let text = std::fs::read_to_string(spec_path()).unwrap();
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("docs/node-api.yaml: {e}"))
}

// ---------------------------------------------------------------------------------
// The schema validator: type, enum, const, required, properties,
// additionalProperties (false or a schema), items, minItems, maxItems, minLength,
// maxLength, minimum, allOf, $ref; annotations are ignored; anything else is an error.

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

fn resolve<'a>(doc: &'a Value, r: &str) -> &'a Value {
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
fn validate(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
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

// ---------------------------------------------------------------------------------
// Routes: the file, `server::ROUTES`, the router's source, the running server.

fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            let m = method.to_ascii_uppercase();
            assert!(
                METHODS.contains(&m.as_str()),
                "{path}: `{method}` is not an operation this test knows"
            );
            ops.insert((m, path.clone()));
        }
    }
    ops
}

fn skip_string(b: &[u8], mut i: usize) -> usize {
    // b[i] == '"'
    i += 1;
    while i < b.len() && b[i] != b'"' {
        if b[i] == b'\\' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

/// The index just past the `)` matching the `(` at `open`.
fn matching_paren(b: &[u8], open: usize) -> usize {
    let mut depth = 0;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = skip_string(b, i);
                continue;
            }
            b'\'' if i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') => {
                // a char literal such as '(' or '\n'
                i += if b[i + 1] == b'\\' { 4 } else { 3 };
                continue;
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!("unbalanced parentheses in server/routes.rs");
}

fn ident_at(b: &[u8], i: usize) -> &str {
    let end = (i..b.len())
        .find(|&j| !(b[j].is_ascii_alphanumeric() || b[j] == b'_'))
        .unwrap_or(b.len());
    std::str::from_utf8(&b[i..end]).unwrap()
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The `(METHOD, path)` of every `.route("path", get(..).post(..))` in server/routes.rs, and
/// the prefixes of every `.nest("prefix", ..)`.
fn routes_in_source() -> (BTreeSet<(String, String)>, Vec<String>) {
    let src =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/server/routes.rs"))
            .unwrap();
    // Comment lines out (they mention `.route(` too).
    let src: String = src
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("//") {
                ""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let b = src.as_bytes();
    let mut routes = BTreeSet::new();
    let mut nests = Vec::new();
    for (kind, needle) in [
        ("route", ".route("),
        ("nest", ".nest("),
        ("nest", ".nest_service("),
    ] {
        let mut from = 0;
        while let Some(p) = src[from..].find(needle) {
            let mut i = skip_ws(b, from + p + needle.len());
            from = i;
            if b[i] != b'"' {
                panic!("server/routes.rs: a {needle} whose path is not a string literal; list it in ROUTES and teach this test");
            }
            let end = skip_string(b, i);
            let path = src[i + 1..end - 1].to_string();
            if kind == "nest" {
                nests.push(path);
                continue;
            }
            i = skip_ws(b, end);
            assert_eq!(b[i], b',', "server/routes.rs: .route({path:?} ...)");
            i = skip_ws(b, i + 1);
            loop {
                let m = ident_at(b, i);
                assert!(
                    ["get", "post", "put", "delete", "patch"].contains(&m),
                    "server/routes.rs: route {path}: `{m}` is not a method router this test knows"
                );
                routes.insert((m.to_ascii_uppercase(), path.clone()));
                let close = matching_paren(b, i + m.len());
                i = skip_ws(b, close);
                if b[i] == b'.'
                    && ["get", "post", "put", "delete", "patch"].contains(&ident_at(b, i + 1))
                {
                    i += 1;
                } else {
                    break;
                }
            }
        }
    }
    (routes, nests)
}

#[test]
fn the_file_documents_exactly_the_routes_of_the_server() {
    let doc = spec();
    let documented = documented_operations(&doc);
    let listed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(listed.len(), ROUTES.len(), "ROUTES has duplicates");
    let missing: Vec<_> = listed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&listed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "served but not in docs/node-api.yaml: {missing:?}; documented but not served: {extra:?}"
    );

    // ROUTES is what the router's source says: every `.route(` is listed, and each
    // nested router's prefix has its routes listed (checked live below).
    let (in_source, nests) = routes_in_source();
    let outside_nests: BTreeSet<_> = listed
        .iter()
        .filter(|(_, p)| !nests.iter().any(|n| p.starts_with(&format!("{n}/"))))
        .cloned()
        .collect();
    assert_eq!(
        in_source, outside_nests,
        "server/routes.rs routes (left) differ from server::ROUTES (right)"
    );
    for n in &nests {
        assert!(
            listed.iter().any(|(_, p)| p.starts_with(&format!("{n}/"))),
            "server/routes.rs nests a router at {n} whose routes are not in ROUTES"
        );
    }

    // Every operation has an id, a security requirement and documented responses whose
    // schemas the validator supports.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["operationId"].is_string(),
                "{method} {path}: operationId"
            );
            assert!(op["security"].is_array(), "{method} {path}: security");
            for (status, resp) in op["responses"].as_object().unwrap() {
                assert!(status.parse::<u16>().is_ok(), "{method} {path}: {status}");
                let resp = match resp.get("$ref") {
                    Some(r) => resolve(&doc, r.as_str().unwrap()),
                    None => resp,
                };
                assert!(resp["description"].is_string(), "{method} {path} {status}");
            }
        }
    }
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        // A schema that accepts a value of its own type: the walk sees every keyword.
        check_keywords(&doc, schema, name);
    }
    let sec = &doc["components"]["securitySchemes"]["credential"];
    assert_eq!(sec["type"], "mutualTLS");
}

fn check_keywords(doc: &Value, schema: &Value, at: &str) {
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

// ---------------------------------------------------------------------------------
// Calling the running node.

struct Reply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

struct Http {
    client: reqwest::blocking::Client,
    base: String,
}

impl Http {
    fn new(base: &str, pin: &str, cred: Option<&Credential>) -> Http {
        Http::with_identity(
            base,
            pin,
            cred.map(|c| (c.certificate.as_str(), c.private_key.as_str())),
        )
    }

    /// Present `identity` (certificate PEM, key PEM): a person's, or a node's own TLS key.
    fn with_identity(base: &str, pin: &str, identity: Option<(&str, &str)>) -> Http {
        let tls = accord_node_api::tls::client_config(vec![pin.to_string()], identity).unwrap();
        Http {
            client: reqwest::blocking::Client::builder()
                .use_preconfigured_tls(tls)
                .build()
                .unwrap(),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Reply {
        self.call_as(method, path, body, "application/json")
    }

    fn call_as(&self, method: &str, path: &str, body: Option<Vec<u8>>, ct: &str) -> Reply {
        self.call_with(method, path, body, ct, &[])
    }

    fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        ct: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.client.request(m, format!("{}{path}", self.base));
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.header("content-type", ct).body(b);
        }
        let resp = rb.send().unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = resp.bytes().unwrap().to_vec();
        Reply {
            status,
            content_type,
            body,
        }
    }
}

/// Checks every answer against the file and remembers which operations were called.
struct Checker {
    doc: Value,
    called: Mutex<BTreeSet<(String, String, u16)>>,
}

impl Checker {
    /// The answer to `method` on the documented `template` must have a documented
    /// status, its content type, and a body that validates against its schema.
    fn check(&self, method: &str, template: &str, r: &Reply) {
        let what = format!("{method} {template} -> {}", r.status);
        let op = &self.doc["paths"][template][method.to_ascii_lowercase()];
        assert!(op.is_object(), "{what}: operation not documented");
        let resp = &op["responses"][r.status.to_string()];
        assert!(
            resp.is_object(),
            "{what}: status not documented; body: {}",
            String::from_utf8_lossy(&r.body)
        );
        let resp = match resp.get("$ref") {
            Some(x) => resolve(&self.doc, x.as_str().unwrap()),
            None => resp,
        };
        match resp.get("content").and_then(Value::as_object) {
            None => assert!(
                r.body.is_empty(),
                "{what}: documented without a body but has {} bytes",
                r.body.len()
            ),
            Some(content) => {
                let media = r.content_type.split(';').next().unwrap_or("").trim();
                let Some(c) = content.get(media) else {
                    panic!(
                        "{what}: content type `{}` is not documented",
                        r.content_type
                    )
                };
                if media == "application/zip" {
                    assert!(r.body.starts_with(b"PK"), "{what}: not a ZIP");
                } else if media == "application/json" {
                    let v = r.json();
                    if let Err(e) = validate(&self.doc, &c["schema"], &v, "$") {
                        panic!("{what}: {e}\nbody: {v:#}");
                    }
                } else if c["schema"]["type"] == "string"
                    && c["schema"]["contentMediaType"].is_null()
                {
                    assert!(std::str::from_utf8(&r.body).is_ok(), "{what}: not text");
                }
            }
        }
        self.called
            .lock()
            .unwrap()
            .insert((method.into(), template.into(), r.status));
    }

    /// A request body must validate against the operation's documented request schema.
    fn check_request(&self, method: &str, template: &str, body: &Value) {
        let op = &self.doc["paths"][template][method.to_ascii_lowercase()];
        let schema = &op["requestBody"]["content"]["application/json"]["schema"];
        if let Err(e) = validate(&self.doc, schema, body, "$") {
            panic!("request to {method} {template} does not match the file: {e}");
        }
    }

    fn schema(&self, name: &str) -> Value {
        json!({"$ref": format!("#/components/schemas/{name}")})
    }
}

fn make_node(rt: &tokio::runtime::Runtime, dir: &Path, people: &[(&str, &str)]) -> Vec<Credential> {
    rt.block_on(home::init(
        dir,
        &InitOptions {
            party: "PAK".into(),
            name: None,
            authority: None,
            policies: vec![policies()],
            listen: Some(format!("127.0.0.1:{}", free_port())),
            url: None,
            database: common::database(),
            disk_reserve_mib: Some(0),
        },
    ))
    .unwrap();
    let home = Home::open(dir).unwrap();
    people
        .iter()
        .map(|(id, clearance)| {
            rt.block_on(directory::add(
                &home,
                &Enrolment {
                    id: id.to_string(),
                    name: format!("{id} name"),
                    nationality: "PAK".into(),
                    clearance: (format!("{id}.json"), clearance.as_bytes().to_vec()),
                    scopes: vec!["EXERCISES".into()],
                },
            ))
            .unwrap()
            .1
        })
        .collect()
}

/// Signs through `POST /v1/seal/sign` by hand, checking the request and the answer
/// against the file.
struct CheckedSigner<'a> {
    http: &'a Http,
    checker: &'a Checker,
    /// What was sent, for the invalid variants.
    sent: Mutex<Option<Value>>,
}

impl accord_tdf::AssertionSigner for CheckedSigner<'_> {
    fn sign_assertions(
        &self,
        assertions: &mut [accord_tdf::manifest::Assertion],
        manifest: &Value,
        _aggregate: &[u8],
        _manifest_digest: &str,
    ) -> Result<(), accord_tdf::Error> {
        let body =
            serde_json::to_value(wire::SignRequest::new(assertions, manifest).unwrap()).unwrap();
        self.checker.check_request("POST", "/v1/seal/sign", &body);
        let r = self
            .http
            .call("POST", "/v1/seal/sign", Some(body.to_string().into_bytes()));
        self.checker.check("POST", "/v1/seal/sign", &r);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let resp: wire::SignResponse = serde_json::from_slice(&r.body).unwrap();
        for (a, v) in assertions.iter_mut().zip(resp.assertions) {
            *a = serde_json::from_value(v).unwrap();
        }
        *self.sent.lock().unwrap() = Some(body);
        Ok(())
    }
}

fn rewrap_body(client: &Client, objects: Vec<Value>, nonce: &str) -> (Value, Value) {
    let eph =
        accord_keys::KasPrivateKey::generate(accord_keys::KasAlg::HybridP384MlKem1024).unwrap();
    let req = wire::RewrapRequest {
        nonce: nonce.into(),
        issued_at: time::OffsetDateTime::now_utc().unix_timestamp(),
        client_public_key: eph.public_key().to_pem(),
        objects,
    };
    let body = client.signed_rewrap_body(&req).unwrap();
    (
        serde_json::to_value(&req).unwrap(),
        serde_json::to_value(&body).unwrap(),
    )
}

#[test]
fn every_operation_answers_as_documented() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pak");
    let creds = make_node(&rt, &dir, &[("officer", SECRET), ("clerk", LOW)]);
    // A credential from another node, presented to this one.
    let foreign = make_node(&rt, &tmp.path().join("other"), &[("officer", SECRET)]);
    let running = rt
        .block_on(server::start(&dir, ServeOptions::default()))
        .unwrap();
    let checker = Checker {
        doc: spec(),
        called: Mutex::new(BTreeSet::new()),
    };
    let c = &checker;
    let base = creds[0].node_url.clone();
    let pin = creds[0].node_tls_spki_sha256.clone();
    let officer = Http::new(&base, &pin, Some(&creds[0]));
    let clerk = Http::new(&base, &pin, Some(&creds[1]));
    let stranger = Http::new(&base, &pin, Some(&foreign[0]));
    let anonymous = Http::new(&base, &pin, None);
    let post = |h: &Http, path: &str, body: &Value| {
        let r = h.call("POST", path, Some(body.to_string().into_bytes()));
        c.check("POST", path, &r);
        r
    };
    let post_raw = |h: &Http, path: &str, body: &[u8]| {
        let r = h.call("POST", path, Some(body.to_vec()));
        c.check("POST", path, &r);
        r
    };
    let get = |h: &Http, path: &str| {
        let r = h.call("GET", path, None);
        c.check("GET", path, &r);
        r
    };

    // Public routes.
    let r = get(&anonymous, "/health");
    assert_eq!((r.status, r.json()["party"].as_str()), (200, Some("PAK")));
    let r = get(&anonymous, "/v1/party");
    assert_eq!(r.status, 200);
    let home = Home::open(&dir).unwrap();
    assert_eq!(
        r.json(),
        serde_json::to_value(&home.party).unwrap(),
        "/v1/party is party.json"
    );
    // The benchmarks' floors are for the node's people only: a stranger's body is
    // never read, whatever its size.
    for (who, status) in [(&anonymous, 401), (&stranger, 403), (&officer, 204)] {
        let r = who.call_as(
            "PUT",
            "/v1/noop",
            Some(vec![7u8; wire::MAX_BODY + 1]),
            "application/octet-stream",
        );
        c.check("PUT", "/v1/noop", &r);
        assert_eq!(r.status, status);
        let r = who.call("POST", "/v1/noop", Some(b"anything".to_vec()));
        c.check("POST", "/v1/noop", &r);
        assert_eq!(r.status, status);
    }
    let r = post_raw(&anonymous, "/v1/noop", &vec![0u8; wire::MAX_BODY + 1]);
    assert_eq!(r.status, 401);
    let r = post_raw(&officer, "/v1/noop", &vec![0u8; wire::MAX_BODY + 1]);
    assert_eq!(r.status, 413);

    // Who am I, and whom the node trusts: with, without and with a foreign credential.
    let r = get(&officer, "/v1/whoami");
    assert_eq!(
        (r.status, r.json()["person"].as_str()),
        (200, Some("officer"))
    );
    assert_eq!(get(&anonymous, "/v1/whoami").status, 401);
    let r = get(&stranger, "/v1/whoami");
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["reasons"][0]["rule"], "credential");
    let r = get(&officer, "/v1/trust");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["signers"][0]["party"], "PAK");
    assert_eq!(get(&anonymous, "/v1/trust").status, 401);
    assert_eq!(get(&stranger, "/v1/trust").status, 403);

    // Seal plan: valid, and each way of being wrong.
    let plan_req = json!({"marking": MARKING});
    c.check_request("POST", "/v1/seal/plan", &plan_req);
    let r = post(&officer, "/v1/seal/plan", &plan_req);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let plan: wire::SealPlan = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(plan.marking, MARKING);
    assert_eq!(
        post(
            &officer,
            "/v1/seal/plan",
            &json!({"marking": MARKING, "label": "x"})
        )
        .status,
        400
    );
    assert_eq!(post(&officer, "/v1/seal/plan", &json!({})).status, 400);
    assert_eq!(
        post(
            &officer,
            "/v1/seal/plan",
            &json!({"marking": MARKING, "colour": "red"})
        )
        .status,
        400
    );
    assert_eq!(
        post_raw(&officer, "/v1/seal/plan", b"{not json").status,
        400
    );
    assert_eq!(
        post(
            &officer,
            "/v1/seal/plan",
            &json!({"marking": "TOP SECRET//NOFORN//BANANA"})
        )
        .status,
        422
    );
    let r = post(&clerk, "/v1/seal/plan", &plan_req);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["reasons"][0]["rule"], "clearance");
    assert_eq!(post(&anonymous, "/v1/seal/plan", &plan_req).status, 401);
    assert_eq!(post(&stranger, "/v1/seal/plan", &plan_req).status, 403);
    assert_eq!(
        post(
            &officer,
            "/v1/seal/plan",
            &json!({"marking": MARKING, "agreement": "no-such-agreement"})
        )
        .status,
        403
    );

    // Seal sign, through a real seal whose signer calls the route by hand.
    let signer = CheckedSigner {
        http: &officer,
        checker: c,
        sent: Mutex::new(None),
    };
    let recipients = plan
        .recipients
        .iter()
        .map(|p| accord_tdf::Recipient {
            kas: accord_keys::KasPublicKey::from_pem(&p.kas_key).unwrap(),
            url: p.url.clone(),
            party: Some(p.party.clone()),
        })
        .collect();
    let plain = b"exercise plan, phase 3".repeat(100);
    let mut tdf = Vec::new();
    accord_tdf::seal(
        &plain[..],
        &mut tdf,
        &accord_tdf::SealOptions {
            recipients,
            require: Vec::new(),
            signer: &signer,
            label: accord_tdf::BoundLabel {
                xml: plan.label_xml.clone(),
                marking: plan.marking.clone(),
            },
            segment_size: accord_tdf::DEFAULT_SEGMENT_SIZE,
            mime_type: String::new(),
            metadata: None,
            progress: None,
            agreement: None,
        },
    )
    .unwrap();
    let sent = signer.sent.lock().unwrap().clone().unwrap();
    // The node's signature is real: the object opens through the node.
    let officer_client = Client::new(creds[0].clone()).unwrap();
    let mut opened = Vec::new();
    client::open(
        &officer_client,
        &mut std::io::Cursor::new(tdf.clone()),
        &mut opened,
        None,
        None,
    )
    .unwrap();
    assert_eq!(opened, plain);
    let mut no_label = sent.clone();
    no_label["assertions"] = json!([sent["assertions"][1].clone()]);
    let mut marking_lies = sent.clone();
    marking_lies["assertions"][1]["statement"]["value"] = json!("UNCLASSIFIED//REL TO PAK");
    let mut bad_manifest = sent.clone();
    bad_manifest["manifest"]["encryptionInformation"]["integrityInformation"]["segments"][0]
        ["hash"] = json!("%%%");
    // A policy that does not carry the label's attributes: the node will not sign for it.
    let mut policy_lies = sent.clone();
    let policy = sent["manifest"]["encryptionInformation"]["policy"]
        .as_str()
        .unwrap();
    let mut p: Value = serde_json::from_slice(&B64.decode(policy).unwrap()).unwrap();
    p["body"]["dataAttributes"] = json!([]);
    policy_lies["manifest"]["encryptionInformation"]["policy"] = json!(B64.encode(p.to_string()));
    let mut already_signed = sent.clone();
    already_signed["manifest"]["assertions"] = sent["assertions"].clone();
    let mut extra_field = sent.clone();
    extra_field["signer"] = json!("me");
    for (body, status, says) in [
        (&no_label, 400, "no label assertion"),
        (&extra_field, 400, "unknown field `signer`"),
        (&bad_manifest, 400, "segments.hash"),
        (&policy_lies, 400, "label/policy mismatch"),
        (&already_signed, 400, "must not carry assertions yet"),
        (&marking_lies, 422, "the marking assertion says"),
        (
            &json!({"assertions": "x", "manifest": {}}),
            400,
            "request body",
        ),
    ] {
        let r = post(&officer, "/v1/seal/sign", body);
        let text = String::from_utf8_lossy(&r.body);
        assert_eq!(r.status, status, "{body}: {text}");
        assert!(text.contains(says), "{says}: {text}");
    }
    assert_eq!(post_raw(&officer, "/v1/seal/sign", b"[]").status, 400);
    assert_eq!(post(&clerk, "/v1/seal/sign", &sent).status, 403);
    assert_eq!(post(&anonymous, "/v1/seal/sign", &sent).status, 401);
    // Who is asking comes before the body is parsed (it may be 12 MiB).
    assert_eq!(post_raw(&anonymous, "/v1/seal/sign", b"[]").status, 401);

    // Rewrap: permit, deny inside a 200, and refusals.
    let manifest = client::read_manifest(&mut std::io::Cursor::new(tdf.clone())).unwrap();
    let (inner, body) = rewrap_body(&officer_client, vec![manifest.clone()], &"ab".repeat(32));
    c.check_request("POST", "/v1/kas/rewrap", &body);
    validate(&c.doc, &c.schema("RewrapRequest"), &inner, "$").unwrap();
    let r = post(&officer, "/v1/kas/rewrap", &body);
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["results"][0]["decision"], "permit");
    assert_eq!(v["results"][0]["marking"], MARKING);
    // The same body again: a replay.
    let r = post(&officer, "/v1/kas/rewrap", &body);
    assert_eq!(r.status, 403);
    assert!(r.json()["reasons"][0]["text"]
        .as_str()
        .unwrap()
        .contains("replayed"));
    let clerk_client = Client::new(creds[1].clone()).unwrap();
    let (_, body) = rewrap_body(
        &clerk_client,
        vec![manifest.clone(), json!({"not": "a manifest"})],
        &"cd".repeat(32),
    );
    let r = post(&clerk, "/v1/kas/rewrap", &body);
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["results"][0]["decision"], "deny");
    assert_eq!(v["results"][0]["reasons"][0]["rule"], "clearance");
    assert_eq!(v["results"][1]["decision"], "deny");
    assert_eq!(v["results"][1]["object_id"], "object[1]");
    // Signed by the officer, sent by the clerk.
    let (_, forged) = rewrap_body(&officer_client, vec![manifest.clone()], &"ef".repeat(32));
    assert_eq!(post(&clerk, "/v1/kas/rewrap", &forged).status, 403);
    let (_, no_objects) = rewrap_body(&officer_client, vec![], &"01".repeat(32));
    assert_eq!(post(&officer, "/v1/kas/rewrap", &no_objects).status, 400);
    let (_, short_nonce) = rewrap_body(&officer_client, vec![manifest.clone()], "abcd");
    assert_eq!(post(&officer, "/v1/kas/rewrap", &short_nonce).status, 400);
    assert_eq!(
        post(
            &officer,
            "/v1/kas/rewrap",
            &json!({"request": "!!", "signature": ""})
        )
        .status,
        400
    );
    assert_eq!(
        post(&officer, "/v1/kas/rewrap", &json!({"request": ""})).status,
        400
    );
    assert_eq!(
        post_raw(&officer, "/v1/kas/rewrap", b"\xff\xfe").status,
        400
    );
    assert_eq!(post(&anonymous, "/v1/kas/rewrap", &forged).status, 401);
    assert_eq!(post(&stranger, "/v1/kas/rewrap", &forged).status, 403);

    // The audit log under /log/ (a checkpoint covers a durable entry within 100 ms).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let size = loop {
        let r = get(&anonymous, "/log/checkpoint");
        assert_eq!(r.status, 200);
        let cp = accord_log::checkpoint::SignedCheckpoint::parse(&r.body).unwrap();
        if cp.checkpoint.size >= 8 || std::time::Instant::now() > deadline {
            break cp.checkpoint.size;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    // label, rewrap permit, replay, 2 clerk denials, forged, stranger, clerk's label...
    assert!(size >= 8, "{size}");
    let width = accord_log::tile::tile_width(0, 0, size);
    let tile = format!("/log/{}", accord_log::tile::tile_path(0, 0, width));
    let r = anonymous.call("GET", &tile, None);
    c.check("GET", "/log/tile/{level}/{index}", &r);
    assert_eq!((r.status, r.body.len() as u64), (200, 32 * width));
    let r = anonymous.call("GET", "/log/tile/0/999", None);
    c.check("GET", "/log/tile/{level}/{index}", &r);
    assert_eq!(r.status, 404);
    let bundle = format!("/log/{}", accord_log::tile::entries_path(0, width));
    // The entries name people, markings and objects: not for anyone who can connect,
    // nor for a credential of another node.
    for who in [&anonymous, &stranger] {
        let r = who.call("GET", &bundle, None);
        c.check("GET", "/log/tile/entries/{index}", &r);
        assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    }
    let r = officer.call("GET", &bundle, None);
    c.check("GET", "/log/tile/entries/{index}", &r);
    assert_eq!(r.status, 200);
    let entries = accord_log::tile::parse_bundle(&bundle, &r.body, width).unwrap();
    assert_eq!(entries.len() as u64, width);
    let r = officer.call("GET", "/log/tile/entries/x999/000", None);
    c.check("GET", "/log/tile/entries/{index}", &r);
    assert_eq!(r.status, 404);

    // Methods a documented path does not have are 405; an unknown path is 404.
    let sample = |p: &str| -> String {
        p.replace("{level}/{index}", "0/000")
            .replace("{index}", "000")
    };
    let documented = documented_operations(&c.doc);
    for (_, path) in &documented {
        for m in METHODS {
            if documented.contains(&(m.to_string(), path.clone())) {
                continue;
            }
            let r = anonymous.call(m, &sample(path), None);
            assert_eq!(r.status, 405, "{m} {path}");
        }
    }
    assert_eq!(anonymous.call("GET", "/v1/nothing-here", None).status, 404);

    rt.block_on(running.stop()).unwrap();
    drop(rt);

    // The exchange routes, between two nodes under an agreement.
    exchange_operations(c);

    // Every documented operation was called.
    let called = c.called.lock().unwrap().clone();
    for (m, p) in &documented {
        assert!(
            called.iter().any(|(cm, cp, _)| cm == m && cp == p),
            "{m} {p} was never called"
        );
    }
}

/// Send, deliver, receive, list and fetch between the sandbox's PAK and USA nodes; the
/// partner-node route is also called by hand with PAK's node key.
fn exchange_operations(c: &Checker) {
    use accord_node::sandbox::{self, SandboxOptions};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sb = rt
        .block_on(sandbox::create(
            tmp.path(),
            &SandboxOptions {
                pak_listen: format!("127.0.0.1:{}", free_port()),
                usa_listen: format!("127.0.0.1:{}", free_port()),
                databases: (common::database(), common::database()),
                years: 15,
                disk_reserve_mib: 0,
            },
        ))
        .unwrap();
    let pak = rt
        .block_on(server::start(&sb.pak.layout.dir, ServeOptions::default()))
        .unwrap();
    let usa = rt
        .block_on(server::start(&sb.usa.layout.dir, ServeOptions::default()))
        .unwrap();
    let node_of = |h: &Home| {
        let n = h.party.node.clone().unwrap();
        (n.url, n.tls_spki_sha256)
    };
    let (pak_url, pak_pin) = node_of(&sb.pak);
    let (usa_url, usa_pin) = node_of(&sb.usa);
    let cred = |id: &str| sb.credential(id).unwrap();
    let officer = Http::new(&pak_url, &pak_pin, Some(&cred("pak-officer")));
    let anonymous_pak = Http::new(&pak_url, &pak_pin, None);
    let us_officer = Http::new(&usa_url, &usa_pin, Some(&cred("usa-officer")));
    let us_clerk = Http::new(&usa_url, &usa_pin, Some(&cred("usa-clerk")));
    let anonymous_usa = Http::new(&usa_url, &usa_pin, None);
    // PAK's node, as the delivery loop presents itself to USA.
    let pak_cert = std::fs::read_to_string(sb.pak.layout.key("tls.crt")).unwrap();
    let pak_key = sb.pak.read_key("tls.key").unwrap();
    let pak_node = Http::with_identity(&usa_url, &usa_pin, Some((&pak_cert, &pak_key)));

    let put = |h: &Http, template: &str, path: &str, body: &[u8]| {
        let r = h.call_as("PUT", path, Some(body.to_vec()), "application/zip");
        c.check("PUT", template, &r);
        r
    };
    let get = |h: &Http, template: &str, path: &str| {
        let r = h.call("GET", path, None);
        c.check("GET", template, &r);
        r
    };
    let seal = |text: &[u8]| {
        let mut out = Vec::new();
        let sealed = client::seal(
            &Client::new(cred("pak-officer")).unwrap(),
            &wire::SealPlanRequest {
                marking: Some("SECRET//REL TO USA, PAK//SCOPE EXERCISES".into()),
                label: None,
                agreement: Some(sandbox::AGREEMENT_ID.into()),
            },
            text,
            &mut out,
            1 << 20,
            None,
        )
        .unwrap();
        let id = sealed.summary.manifest.policy_object().unwrap().uuid;
        (id, out)
    };
    let (id, tdf) = seal(b"joint exercise plan");
    let (id2, tdf2) = seal(b"second plan");

    // Node to node, by hand: USA keeps the object and signs a receipt; again, the same
    // receipt; other bytes under the same id, a conflict.
    let fed = |id: &str| format!("/v1/fed/inbox/{id}");
    let t = "/v1/fed/inbox/{id}";
    let r = put(&pak_node, t, &fed(&id), &tdf);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let receipt = r.json();
    assert_eq!(receipt["body"]["object_id"], json!(id));
    assert_eq!(put(&pak_node, t, &fed(&id), &tdf).json(), receipt);
    assert_eq!(put(&pak_node, t, &fed(&id), &tdf2).status, 409);
    assert_eq!(put(&pak_node, t, &fed("not-a-uuid"), &tdf).status, 400);
    // A person is not a partner node; nor is a connection without a certificate.
    let r = put(&us_officer, t, &fed(&id2), &tdf2);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["reasons"][0]["rule"], "partner");
    assert_eq!(put(&anonymous_usa, t, &fed(&id2), &tdf2).status, 403);

    // Resuming a broken delivery: nothing of id2 is held (offset 0); a resume from an
    // offset not held is a 416; a resume header that is not an offset, a 400.
    let tp = "/v1/fed/inbox/{id}/partial";
    let partial = |id: &str| format!("{}/partial", fed(id));
    let r = get(&pak_node, tp, &partial(&id2));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json(), json!({"offset": 0}));
    assert_eq!(get(&pak_node, tp, &partial("not-a-uuid")).status, 400);
    assert_eq!(get(&us_officer, tp, &partial(&id2)).status, 403);
    let resume = |from: &str| {
        let r = pak_node.call_with(
            "PUT",
            &fed(&id2),
            Some(tdf2.clone()),
            "application/zip",
            &[(wire::RESUME_HEADER, from)],
        );
        c.check("PUT", t, &r);
        r
    };
    let r = resume("100");
    assert_eq!(r.status, 416, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("send the object whole"));
    assert_eq!(resume("ten").status, 400);

    // Agreement records: PAK's node offers its copy of the agreement (unchanged at
    // USA); a copy under another id, a person and a stranger are refused.
    let ta = "/v1/fed/agreements/{id}";
    let doc = rt
        .block_on(pak.node.agreements())
        .unwrap()
        .iter()
        .find(|h| h.agreement.body.id == sandbox::AGREEMENT_ID)
        .unwrap()
        .agreement
        .to_canonical_json()
        .unwrap();
    let offer = |h: &Http, id: &str, body: &[u8]| {
        let r = h.call_as(
            "PUT",
            &format!("/v1/fed/agreements/{id}"),
            Some(body.to_vec()),
            "application/json",
        );
        c.check("PUT", ta, &r);
        r
    };
    let r = offer(&pak_node, sandbox::AGREEMENT_ID, &doc);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["outcome"], "unchanged");
    assert_eq!(offer(&pak_node, "OTHER-ID", &doc).status, 400);
    assert_eq!(offer(&pak_node, sandbox::AGREEMENT_ID, b"{").status, 400);
    assert_eq!(offer(&us_officer, sandbox::AGREEMENT_ID, &doc).status, 403);
    assert_eq!(
        offer(&anonymous_usa, sandbox::AGREEMENT_ID, &doc).status,
        401
    );

    // The witnessed checkpoint: PAK's node asks USA's witness what it cosigned of
    // PAK's log (its note, signed by PAK's log key); a person is not a partner node.
    let tw = "/v1/fed/witness/checkpoint";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let r = loop {
        let r = pak_node.call("GET", tw, None);
        c.check("GET", tw, &r);
        if r.status == 200 || std::time::Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let cp = accord_log::checkpoint::SignedCheckpoint::parse(&r.body).unwrap();
    let pak_log_key =
        accord_log::note::VerifierKey::parse(&sb.pak.party.node.as_ref().unwrap().log_verifier_key)
            .unwrap();
    cp.verify(&pak_log_key, &[]).unwrap();
    let r = us_officer.call("GET", tw, None);
    c.check("GET", tw, &r);
    assert_eq!(r.status, 403);

    // A batch: two new objects and one already held (answered with its receipt); then
    // the same batch again (the same receipts); a malformed batch; a person.
    let (id3, tdf3) = seal(b"third plan");
    let (id4, tdf4) = seal(b"fourth plan");
    let t = "/v1/fed/inbox";
    let batch = accord_node_api::wire::batch_body(&[
        (id3.clone(), tdf3.clone()),
        (id.clone(), tdf.clone()),
        (id4.clone(), tdf4.clone()),
    ]);
    let post_batch = |h: &Http, body: &[u8]| {
        let r = h.call_as(
            "POST",
            t,
            Some(body.to_vec()),
            accord_node_api::wire::BATCH_MEDIA_TYPE,
        );
        c.check("POST", t, &r);
        r
    };
    let r = post_batch(&pak_node, &batch);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let answer = r.json();
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(
        results[1]["receipt"], receipt,
        "the held object keeps its receipt"
    );
    for (k, want) in [(0, &id3), (2, &id4)] {
        assert_eq!(results[k]["id"], json!(want));
        assert_eq!(results[k]["receipt"]["body"]["object_id"], json!(want));
        assert_eq!(results[k]["receipt"]["batch"]["size"], json!(2));
    }
    assert_eq!(post_batch(&pak_node, &batch).json(), answer);
    assert_eq!(post_batch(&pak_node, &batch[..batch.len() - 1]).status, 400);
    assert_eq!(post_batch(&pak_node, b"{}\n").status, 400);
    let r = post_batch(&us_officer, &batch);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["reasons"][0]["rule"], "partner");

    // Witnessing: the witness key is public; only a partner node may submit, and a
    // body that is not an add-checkpoint request is a 400.
    let r = get(&anonymous_usa, "/v1/witness", "/v1/witness");
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).starts_with("witness.usa.accord+"));
    let t = "/v1/fed/witness/add-checkpoint";
    let post_text = |h: &Http, body: &[u8]| {
        let r = h.call_as("POST", t, Some(body.to_vec()), "text/plain");
        c.check("POST", t, &r);
        r
    };
    assert_eq!(post_text(&pak_node, b"not a request").status, 400);
    let r = post_text(&us_officer, b"old 0\n\n");
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["reasons"][0]["rule"], "partner");

    // A person sends through their node's outbox; the delivery loop delivers.
    let out = |to: &str, id: &str| format!("/v1/outbox/{to}/{id}");
    let t = "/v1/outbox/{to}/{id}";
    let r = put(&officer, t, &out("USA", &id2), &tdf2);
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["state"], "queued");
    assert_eq!(put(&officer, t, &out("USA", "x"), &tdf2).status, 400);
    assert_eq!(put(&officer, t, &out("PAK", &id2), &tdf2).status, 400);
    assert_eq!(put(&officer, t, &out("FRA", &id2), &tdf2).status, 403);
    assert_eq!(put(&officer, t, &out("USA", &id), &tdf2).status, 400);
    let bogus = "00000000-0000-4000-8000-000000000000";
    assert_eq!(
        put(&officer, t, &out("USA", bogus), b"not a zip").status,
        422
    );
    assert_eq!(put(&anonymous_pak, t, &out("USA", &id2), &tdf2).status, 401);
    let t0 = std::time::Instant::now();
    loop {
        let r = get(&officer, "/v1/outbox", "/v1/outbox");
        assert_eq!(r.status, 200);
        let v = r.json();
        if v.as_array().unwrap().iter().all(|o| o["state"] != "queued") {
            assert_eq!(v[0]["state"], "delivered", "{v:#}");
            assert!(v[0]["receipt"].is_object());
            break;
        }
        assert!(t0.elapsed().as_secs() < 30, "not delivered: {v:#}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(get(&anonymous_pak, "/v1/outbox", "/v1/outbox").status, 401);
    let r = get(&officer, "/v1/outbox", "/v1/outbox?state=delivered&limit=1");
    assert_eq!((r.status, r.json().as_array().unwrap().len()), (200, 1));
    assert_eq!(
        get(&officer, "/v1/outbox", "/v1/outbox?state=lost").status,
        400
    );
    assert_eq!(
        get(&officer, "/v1/outbox", "/v1/outbox?colour=red").status,
        400
    );

    // USA's people: the inbox lists what each may see; fetch returns the object.
    let r = get(&us_officer, "/v1/inbox", "/v1/inbox");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json().as_array().unwrap().len(),
        4,
        "two single, two from the batch"
    );
    let r = get(&us_clerk, "/v1/inbox", "/v1/inbox");
    assert_eq!((r.status, r.json()), (200, json!([])));
    assert_eq!(get(&anonymous_usa, "/v1/inbox", "/v1/inbox").status, 401);
    let t = "/v1/inbox/{id}";
    let r = get(&us_officer, t, &format!("/v1/inbox/{id2}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, tdf2);
    let r = get(&us_officer, t, &format!("/v1/inbox/{id4}"));
    assert_eq!(
        (r.status, &r.body),
        (200, &tdf4),
        "an object kept from a batch"
    );
    assert_eq!(get(&us_clerk, t, &format!("/v1/inbox/{id2}")).status, 403);
    assert_eq!(
        get(&us_officer, t, &format!("/v1/inbox/{bogus}")).status,
        404
    );
    assert_eq!(get(&us_officer, t, "/v1/inbox/nope").status, 400);
    assert_eq!(
        get(&anonymous_usa, t, &format!("/v1/inbox/{id2}")).status,
        401
    );
    // Naming the sender: the right one serves the object, another holds none under
    // the id, and what is not a party code (or not a known key) is a 400.
    let r = get(&us_officer, t, &format!("/v1/inbox/{id2}?from=PAK"));
    assert_eq!((r.status, &r.body), (200, &tdf2));
    assert_eq!(
        get(&us_officer, t, &format!("/v1/inbox/{id2}?from=GBR")).status,
        404
    );
    for q in ["from=pak", "sender=PAK"] {
        let r = get(&us_officer, t, &format!("/v1/inbox/{id2}?{q}"));
        assert_eq!(r.status, 400, "{q}: {}", String::from_utf8_lossy(&r.body));
    }

    // Cross-border rewrap: the US officer asks USA for the shares PAK's KAS holds; USA
    // forwards to PAK (node to node) and returns PAK's answer.
    let manifest = client::read_manifest(&mut std::io::Cursor::new(&tdf)).unwrap();
    let us_client = Client::new(cred("usa-officer")).unwrap();
    let nonce = |b: u8| hex::encode([b; 32]);
    let post_json = |h: &Http, template: &str, body: &Value| {
        let r = h.call("POST", template, Some(body.to_string().into_bytes()));
        c.check("POST", template, &r);
        r
    };
    let t = "/v1/kas/rewrap/partners";
    let (req, body) = rewrap_body(&us_client, vec![manifest.clone()], &nonce(0x51));
    c.check_request("POST", t, &body);
    let _ = req;
    let r = post_json(&us_officer, t, &body);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let answers = r.json();
    assert_eq!(answers.as_array().unwrap().len(), 1);
    assert_eq!(answers[0]["party"], "PAK");
    assert_eq!(answers[0]["results"][0]["decision"], "permit");
    assert_eq!(post_json(&us_officer, t, &json!({})).status, 400);
    assert_eq!(post_json(&anonymous_usa, t, &body).status, 401);

    // The same, as PAK's node asking USA's KAS for one of PAK's people.
    let t = "/v1/fed/kas/rewrap";
    let eph =
        accord_keys::KasPrivateKey::generate(accord_keys::KasAlg::HybridP384MlKem1024).unwrap();
    let fed_req = json!({
        "person": {"id": "pak-officer", "name": "Major Ayesha Khan", "party": "PAK",
                   "nationality": "PAK",
                   "clearance": r#"{"policy": {"name": "PAK"}, "classifications": ["UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET"], "categories": [{"tagSet": "Releasable To", "values": ["PAK"]}, {"tagSet": "Scope", "values": ["EXERCISES"]}]}"#,
                   "scopes": ["EXERCISES"], "status": "active"},
        "nonce": nonce(0x52),
        "issued_at": time::OffsetDateTime::now_utc().unix_timestamp(),
        "client_public_key": eph.public_key().to_pem(),
        "objects": [manifest],
    });
    c.check_request("POST", t, &fed_req);
    // A request issued more than 300 s away from the KAS's clock: refused (403), so
    // that its nonce cannot be replayed once pruned.
    let mut stale = fed_req.clone();
    stale["nonce"] = json!(nonce(0x53));
    stale["issued_at"] = json!(time::OffsetDateTime::now_utc().unix_timestamp() - 1000);
    let r = post_json(&pak_node, t, &stale);
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    // A classical key to wrap the share to: refused (400), hybrid only.
    let mut classical = fed_req.clone();
    classical["nonce"] = json!(nonce(0x54));
    classical["client_public_key"] = json!(accord_keys::KasPrivateKey::generate(
        accord_keys::KasAlg::EcP384
    )
    .unwrap()
    .public_key()
    .to_pem());
    let r = post_json(&pak_node, t, &classical);
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert!(String::from_utf8_lossy(&r.body).contains("hybrid-p384-mlkem1024"));
    let r = post_json(&pak_node, t, &fed_req);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["results"][0]["decision"], "permit");
    // Replayed: refused.
    assert_eq!(post_json(&pak_node, t, &fed_req).status, 403);
    assert_eq!(post_json(&pak_node, t, &json!({"person": 1})).status, 400);
    // A person is not a partner node.
    assert_eq!(post_json(&us_officer, t, &fed_req).status, 403);

    rt.block_on(pak.stop()).unwrap();
    rt.block_on(usa.stop()).unwrap();
    // The stale and the replayed partner requests are in USA's log, naming PAK's node.
    let refused: Vec<String> = common::log_entries(&sb.usa)
        .into_iter()
        .filter(|e| e["kind"] == "rewrap" && e["decision"] == "deny" && e["partner"] == "PAK")
        .map(|e| e["reasons"][0]["text"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        refused.iter().any(|t| t.contains("was issued at")),
        "{refused:#?}"
    );
    assert!(
        refused.iter().any(|t| t.contains("replayed")),
        "{refused:#?}"
    );
}
