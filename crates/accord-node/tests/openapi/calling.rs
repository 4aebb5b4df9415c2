//! Calling the running node, and checking each answer against the file.

use crate::validator::{resolve, validate};
use accord_node_api::client::Client;
use accord_node_api::credential::Credential;
use accord_node_api::wire;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Mutex;

pub(crate) struct Reply {
    pub(crate) status: u16,
    content_type: String,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

pub(crate) struct Http {
    client: reqwest::blocking::Client,
    base: String,
}

impl Http {
    pub(crate) fn new(base: &str, pin: &str, cred: Option<&Credential>) -> Http {
        Http::with_identity(
            base,
            pin,
            cred.map(|c| (c.certificate.as_str(), c.private_key.as_str())),
        )
    }

    /// Present `identity` (certificate PEM, key PEM): a person's, or a node's own TLS key.
    pub(crate) fn with_identity(base: &str, pin: &str, identity: Option<(&str, &str)>) -> Http {
        let tls = accord_node_api::tls::client_config(vec![pin.to_string()], identity).unwrap();
        Http {
            client: reqwest::blocking::Client::builder()
                .use_preconfigured_tls(tls)
                .build()
                .unwrap(),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    pub(crate) fn call(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Reply {
        self.call_as(method, path, body, "application/json")
    }

    pub(crate) fn call_as(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        ct: &str,
    ) -> Reply {
        self.call_with(method, path, body, ct, &[])
    }

    pub(crate) fn call_with(
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
pub(crate) struct Checker {
    pub(crate) doc: Value,
    pub(crate) called: Mutex<BTreeSet<(String, String, u16)>>,
}

impl Checker {
    /// The answer to `method` on the documented `template` must have a documented
    /// status, its content type, and a body that validates against its schema.
    pub(crate) fn check(&self, method: &str, template: &str, r: &Reply) {
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
    pub(crate) fn check_request(&self, method: &str, template: &str, body: &Value) {
        let op = &self.doc["paths"][template][method.to_ascii_lowercase()];
        let schema = &op["requestBody"]["content"]["application/json"]["schema"];
        if let Err(e) = validate(&self.doc, schema, body, "$") {
            panic!("request to {method} {template} does not match the file: {e}");
        }
    }

    pub(crate) fn schema(&self, name: &str) -> Value {
        json!({"$ref": format!("#/components/schemas/{name}")})
    }
}

/// Signs through `POST /v1/seal/sign` by hand, checking the request and the answer
/// against the file.
pub(crate) struct CheckedSigner<'a> {
    pub(crate) http: &'a Http,
    pub(crate) checker: &'a Checker,
    /// What was sent, for the invalid variants.
    pub(crate) sent: Mutex<Option<Value>>,
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

pub(crate) fn rewrap_body(client: &Client, objects: Vec<Value>, nonce: &str) -> (Value, Value) {
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
