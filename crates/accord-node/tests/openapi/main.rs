//! `docs/node-api.yaml` against the running node: the file documents exactly the routes
//! the server has, and every operation, called with valid and invalid requests over
//! real mTLS, answers a documented status with a body that validates against the
//! documented schema. The schema validator is the small subset of JSON Schema the file
//! uses; any other keyword in the file fails the test, so the file cannot claim what is
//! not checked.
//!
//! One test binary in rooms: the validator (`validator`), the routes the file and the
//! server have (`routes`), how the node is called and each answer checked (`calling`),
//! and the operations called: a node's own (`operations`), then the exchange between
//! two (`exchange`).

mod calling;
mod equipment;
mod exchange;
mod opentdf;
mod operations;
mod routes;
mod validator;

use serde_json::Value;
use std::path::{Path, PathBuf};

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

fn spec_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/node-api.yaml")
}

fn spec() -> Value {
    let text = std::fs::read_to_string(spec_path()).unwrap();
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("docs/node-api.yaml: {e}"))
}
