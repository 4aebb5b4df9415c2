//! The attack review's findings (issue 15), driven through running nodes as an attacker
//! would: a raw TLS client writing its own request lines, a person of one party asking
//! through another, a person of the wrong nationality, an outsider holding connections,
//! a stripped assertion, malformed requests from a known person. Each test failed on
//! the code before the fix; each checks the variants an attacker would try next.
//!
//! One test binary in rooms: what reaches the node over a connection (`connections`),
//! the refusals of a person or a partner node (`refusals`), and what a partner's
//! federation can and cannot do to a node (`federation`).

mod connections;
mod federation;
mod refusals;

use accord_node::directory::{self, Enrolment};
use accord_node::home::Home;
use accord_node::server::{Running, ServeOptions};
use accord_node_api::client::Client;
use accord_node_api::credential::Credential;
use accord_node_api::wire;
use accord_test_support::{self as support, log_entries, Pair};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

/// The sandbox's two nodes, with the node's default options.
fn pair() -> Pair {
    Pair::start(ServeOptions::default)
}

/// What the attack tests ask of a [`Pair`].
trait Attacks {
    /// A client of the sandbox person `id`.
    fn client(&self, id: &str) -> Client;
    /// Enrol `id` at `home` with `nationality` and a SECRET clearance under the
    /// node's national policy (Releasable To both parties, every scope).
    fn enrol(&self, home: &Home, id: &str, nationality: &str) -> Client;
    /// Every entry of `home`'s audit log, once its published checkpoint covers them.
    fn entries(&self, running: &Running, home: &Home) -> Vec<serde_json::Value>;
}

impl Attacks for Pair {
    fn client(&self, id: &str) -> Client {
        Client::new(self.sb.credential(id).unwrap()).unwrap()
    }

    fn enrol(&self, home: &Home, id: &str, nationality: &str) -> Client {
        let party = home.config.party.clone();
        let classes: &[&str] = if party == "PAK" {
            &["UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET"]
        } else {
            &["UNCLASSIFIED", "CONFIDENTIAL", "SECRET"]
        };
        let clearance = serde_json::json!({
            "policy": {"name": party},
            "classifications": classes,
            "categories": [
                {"tagSet": "Releasable To", "values": ["PAK", "USA"]},
                {"tagSet": "Scope", "values": ["EXERCISES", "OPERATIONS", "TRAINING", "BASING", "EQUIPMENT"]}
            ]
        });
        let (_, cred) = self
            .rt
            .block_on(directory::add(
                home,
                &Enrolment {
                    id: id.into(),
                    name: format!("{id} name"),
                    nationality: nationality.into(),
                    clearance: ("clearance.json".into(), clearance.to_string().into_bytes()),
                    scopes: vec!["EXERCISES".into(), "OPERATIONS".into()],
                    role: Default::default(),
                },
            ))
            .unwrap();
        Client::new(cred).unwrap()
    }

    fn entries(&self, running: &Running, home: &Home) -> Vec<serde_json::Value> {
        running.publish_log().unwrap();
        log_entries(home)
    }
}

/// Seal `marking` at the node of `c`, under the sandbox agreement or nationally.
fn seal(c: &Client, marking: &str, agreement: Option<&str>) -> Vec<u8> {
    support::seal(c, marking, agreement, b"for the eyes it is released to")
}

fn rules(reasons: &[wire::Reason]) -> Vec<&str> {
    reasons.iter().map(|r| r.rule.as_str()).collect()
}

/// A raw TLS connection to a node (pinned), presenting `identity` if given: the
/// request line and headers are written as given, byte for byte, so no client library
/// normalises a path an attacker would send as is.
struct Raw {
    tls: rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>,
}

impl Raw {
    fn connect(cred: &Credential, identity: Option<&Credential>) -> Raw {
        let cfg = accord_node_api::tls::client_config(
            vec![cred.node_tls_spki_sha256.clone()],
            identity.map(|c| (c.certificate.as_str(), c.private_key.as_str())),
        )
        .unwrap();
        let mut cfg = cfg;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let addr = cred
            .node_url
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_string();
        let tcp = std::net::TcpStream::connect(&addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let conn = rustls::ClientConnection::new(
            Arc::new(cfg),
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        // Complete the handshake now (a server that drops the connection shows here).
        let _ = tls.conn.complete_io(&mut tls.sock);
        Raw { tls }
    }

    fn send(&mut self, head: &str) -> std::io::Result<()> {
        self.tls.write_all(head.as_bytes())?;
        self.tls.flush()
    }

    /// One request, `Connection: close`: the status and the body.
    fn get(cred: &Credential, identity: Option<&Credential>, path: &str) -> (u16, Vec<u8>) {
        let mut raw = Raw::connect(cred, identity);
        raw.send(&format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        ))
        .unwrap();
        let mut buf = Vec::new();
        let _ = raw.tls.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("GET {path}: no status in {text:?}"));
        let body = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| buf[i + 4..].to_vec())
            .unwrap_or_default();
        (status, body)
    }
}
