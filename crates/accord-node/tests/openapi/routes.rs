//! Routes: the file, `server::ROUTES`, the router's source, the running server.

use crate::validator::{check_keywords, resolve};
use crate::{spec, METHODS};
use accord_node::server::ROUTES;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

pub(crate) fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
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
    // The routes' source: `routes.rs`, and the equipment routes it merges.
    let src = [
        "src/server/routes.rs",
        "src/server/equipment.rs",
        "src/server/opentdf.rs",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(f)).unwrap())
    .collect::<Vec<_>>()
    .join("\n");
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
