//! The headless-Chromium harness against a tiny HTTPS server that requires a client
//! certificate from the node's CA: the person's certificate is chosen without a
//! prompt, the page shows its fingerprint, a screenshot has the page's colours; and
//! without the person's PKCS#12 the handshake fails.
//!
//! Runs only with `ACCORD_TEST_BROWSER=1` (needs Chromium, chromedriver, the NSS tools
//! and the right to write /etc/chromium/policies/managed/): otherwise each test says
//! why and passes.

use accord_node_api::pki;
use accord_test_support::browser::{enabled, Browser, BrowserOptions, Pkcs12};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

/// The swatch's colour: CSS `rgb(32, 160, 96)`.
const SWATCH: [u8; 3] = [32, 160, 96];

/// `unwrap` that prints the error as it reads (a harness error has line breaks).
trait Must<T> {
    fn must(self) -> T;
}

impl<T, E: std::fmt::Display> Must<T> for Result<T, E> {
    #[track_caller]
    fn must(self) -> T {
        self.unwrap_or_else(|e| panic!("{e}"))
    }
}

/// A node's CA and server certificate, and a person's certificate from that CA.
struct Pki {
    node: pki::NodeCertificates,
    person: pki::PersonCertificate,
}

fn make_pki() -> Pki {
    let node =
        pki::make_node_certificates("PAK", &["127.0.0.1".into(), "localhost".into()]).unwrap();
    let person = pki::issue_person("PAK", &node.ca_key.0, "pak-officer", 30).unwrap();
    Pki { node, person }
}

/// The person's PKCS#12, written by openssl (AES-256-CBC, SHA-256 MAC: what NSS reads).
fn write_pkcs12(dir: &Path, person: &pki::PersonCertificate, pass: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("person.pem"), &person.cert).unwrap();
    std::fs::write(dir.join("person.key"), person.key.0.as_bytes()).unwrap();
    let out = dir.join("person.p12");
    let o = std::process::Command::new("openssl")
        .args([
            "pkcs12",
            "-export",
            "-keypbe",
            "AES-256-CBC",
            "-certpbe",
            "AES-256-CBC",
        ])
        .args(["-macalg", "sha256", "-name", "pak-officer"])
        .arg("-inkey")
        .arg(dir.join("person.key"))
        .arg("-in")
        .arg(dir.join("person.pem"))
        .arg("-out")
        .arg(&out)
        .arg("-passout")
        .arg(format!("pass:{pass}"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "openssl pkcs12 -export: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// What the server saw: the fingerprint of each client certificate it was shown, and
/// each failed handshake.
#[derive(Default)]
struct Seen {
    fingerprints: Vec<String>,
    handshake_errors: Vec<String>,
}

/// Serve HTTPS on a loopback port, requiring a client certificate issued by the node's
/// CA; `/` answers a page with the certificate's SHA-256 and a coloured div.
async fn serve(pki: &Pki) -> (u16, Arc<Mutex<Seen>>) {
    let provider = accord_node_api::tls::provider();
    let mut roots = rustls::RootCertStore::empty();
    for der in pki::certs_from_pem(&pki.node.ca_cert).unwrap() {
        roots.add(der.into()).unwrap();
    }
    // WebPkiClientVerifier requires a client certificate unless told otherwise.
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .unwrap();
    let certs = pki::certs_from_pem(&pki.node.tls_cert)
        .unwrap()
        .into_iter()
        .map(Into::into)
        .collect();
    let key = pki::pem_blocks(&pki.node.tls_key.0, "PRIVATE KEY")
        .unwrap()
        .remove(0);
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.to_vec().into());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.must();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                let accept = tokio::time::timeout(Duration::from_secs(30), acceptor.accept(tcp));
                let mut tls = match accept.await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        seen.lock().unwrap().handshake_errors.push(e.to_string());
                        return;
                    }
                    Err(_) => {
                        seen.lock()
                            .unwrap()
                            .handshake_errors
                            .push("timed out".into());
                        return;
                    }
                };
                let fp = {
                    let (_, conn) = tls.get_ref();
                    let cert = &conn.peer_certificates().expect("client certificate")[0];
                    hex::encode(pki::sha256(cert))
                };
                seen.lock().unwrap().fingerprints.push(fp.clone());
                // The request's head (the body, if any, is not read).
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                    match tokio::time::timeout(Duration::from_secs(10), tls.read(&mut buf)).await {
                        Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or("");
                let (status, body) = if path == "/" {
                    ("200 OK", page(&fp))
                } else {
                    ("404 Not Found", "not found".to_string())
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, seen)
}

fn page(fingerprint: &str) -> String {
    let [r, g, b] = SWATCH;
    format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Accord harness</title>\
         <style>body{{margin:0;background:#fff;font:16px sans-serif}}\
         #swatch{{position:absolute;left:40px;top:80px;width:200px;height:120px;background:rgb({r},{g},{b})}}\
         </style></head><body><p id=fp>{fingerprint}</p><div id=swatch></div></body></html>"
    )
}

fn options(pki: &Pki, pkcs12: Option<Pkcs12>) -> BrowserOptions {
    BrowserOptions {
        pkcs12,
        trusted_ca_pems: vec![pki.node.ca_cert.clone()],
        window: (800, 600),
        page_load_timeout: Duration::from_secs(20),
        ..BrowserOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signs_in_with_the_persons_certificate_without_a_prompt() {
    if !enabled("signs_in_with_the_persons_certificate_without_a_prompt") {
        return;
    }
    let pki = make_pki();
    let dir = tempfile::tempdir().unwrap();
    let p12 = write_pkcs12(dir.path(), &pki.person, "correct horse");
    let (port, seen) = serve(&pki).await;

    let t0 = Instant::now();
    let browser = Browser::start(options(
        &pki,
        Some(Pkcs12 {
            path: p12,
            passphrase: "correct horse".into(),
        }),
    ))
    .await
    .must();
    let started = t0.elapsed();
    let url = format!("https://127.0.0.1:{port}/");
    // Had Chromium asked which certificate to send, headless, it would wait for an
    // answer until the page-load timeout and this would fail.
    let t1 = Instant::now();
    browser.goto(&url).await.must();
    let loaded = t1.elapsed();
    eprintln!("browser start {started:?}, first page {loaded:?}");

    assert_eq!(browser.error_page().await.must(), None);
    assert_eq!(browser.title().await.must(), "Accord harness");
    assert_eq!(browser.current_url().await.must(), url);
    let shown = browser.text("#fp").await.must();
    assert_eq!(
        shown, pki.person.fingerprint,
        "the page shows another certificate"
    );
    assert!(browser
        .source()
        .await
        .must()
        .contains(&pki.person.fingerprint));
    assert_eq!(seen.lock().unwrap().fingerprints[0], pki.person.fingerprint);

    let swatch = browser
        .wait_for("#swatch", Duration::from_secs(5))
        .await
        .must();
    assert_eq!(swatch.attr("id").await.must().as_deref(), Some("swatch"));
    assert_eq!(swatch.attr("title").await.must(), None);
    let [x, y, w, h] = swatch.rect().await.must();
    assert_eq!([x, y, w, h], [40.0, 80.0, 200.0, 120.0]);
    assert_eq!(swatch.colour_at_centre().await.must(), SWATCH);
    assert_eq!(browser.colour_at_centre("#swatch").await.must(), SWATCH);
    let png = browser.screenshot_png().await.must();
    assert_eq!(&png[1..4], b"PNG");
    let shot = accord_test_support::browser::Screenshot::from_png(&png).must();
    assert_eq!((shot.width, shot.height), (800, 600));
    assert_eq!(shot.rgb(45, 85).must(), SWATCH);
    assert_eq!(shot.rgb(5, 590).must(), [255, 255, 255], "the page's white");
    assert_eq!(browser.pixel(239, 199).await.must(), SWATCH);

    let timing = browser.navigation_timing().await.must();
    eprintln!("{timing:?}");
    assert!(timing.response_end > 0.0, "{timing:?}");
    assert!(
        timing.dom_content_loaded_event_end >= timing.response_end,
        "{timing:?}"
    );
    assert!(
        timing.duration >= timing.dom_content_loaded_event_end,
        "{timing:?}"
    );
    assert!(timing.duration < 20_000.0, "{timing:?}");

    let n = browser
        .execute(
            "return arguments[0] + document.querySelectorAll('div').length;",
            vec![41.into()],
        )
        .await
        .must();
    assert_eq!(n, 42);
    assert!(browser.find_all("p, div").await.must().len() == 2);
    let missing = browser.find("#nothing").await.unwrap_err();
    assert!(
        missing.contains("no such element") && missing.contains("find `#nothing`"),
        "{missing}"
    );
    let waited = browser
        .wait_for("#nothing", Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(waited.contains("waited"), "{waited}");

    // Forms: typing, clearing, a file chosen by path, a click.
    browser
        .execute(
            "document.body.insertAdjacentHTML('beforeend',
               '<input id=name><input id=file type=file><button id=go onclick=\"document.title=document.getElementById(\\'name\\').value\">go</button>');
             return null;",
            vec![],
        )
        .await
        .must();
    let name = browser.find("#name").await.must();
    name.send_keys("wrong").await.must();
    name.clear().await.must();
    name.send_keys("Pakistan officer").await.must();
    browser.find("#go").await.must().click().await.must();
    assert_eq!(browser.title().await.must(), "Pakistan officer");
    let upload = dir.path().join("person.pem");
    browser
        .find("#file")
        .await
        .must()
        .upload(&upload)
        .await
        .must();
    let chosen = browser
        .execute(
            "return document.getElementById('file').files[0].name;",
            vec![],
        )
        .await
        .must();
    assert_eq!(chosen, "person.pem");

    let t2 = Instant::now();
    browser.quit().await.must();
    eprintln!("quit {:?}", t2.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_persons_certificate_the_handshake_fails() {
    if !enabled("without_the_persons_certificate_the_handshake_fails") {
        return;
    }
    let pki = make_pki();
    let (port, seen) = serve(&pki).await;
    // The CA trusted, but no PKCS#12: Chromium has no certificate to send.
    let browser = Browser::start(options(&pki, None)).await.must();
    let home = browser.home().to_owned();
    let url = format!("https://127.0.0.1:{port}/");
    // Which network error Chromium shows depends on whether it reads the server's
    // alert before the connection closes (TLS 1.3: the client's certificate is judged
    // after the client has finished its handshake): ERR_BAD_SSL_CLIENT_AUTH_CERT,
    // ERR_SOCKET_NOT_CONNECTED, ERR_CONNECTION_RESET.
    let refused = browser.goto(&url).await.unwrap_err();
    eprintln!("{refused}");
    assert!(
        refused.contains("ERR_") && refused.contains(&url),
        "{refused}"
    );
    // Chromium's error page is the current page.
    let shown = browser.error_page().await.must().unwrap_or_default();
    assert!(shown.contains("ERR_"), "{shown}");
    let source = browser.source().await.must();
    assert!(!source.contains(&pki.person.fingerprint));
    assert!(
        browser.find("#fp").await.is_err(),
        "the server's page loaded"
    );
    let seen = seen.lock().unwrap();
    assert!(
        seen.fingerprints.is_empty(),
        "a client certificate was sent"
    );
    assert!(
        seen.handshake_errors
            .iter()
            .any(|e| e.contains("peer sent no certificates")),
        "the server refused no handshake for want of a certificate: {:?}",
        seen.handshake_errors
    );
    drop(seen);
    drop(browser);
    assert!(!home.exists(), "the browser's HOME was not removed");
}
