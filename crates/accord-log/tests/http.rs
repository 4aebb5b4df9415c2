//! HTTP end to end: a witness server and the submit client; a log read over HTTP from a
//! static-style server, verified and proven.

use std::sync::Arc;
use std::time::Duration;

use accord_log::http::{log_router, submit_checkpoint, witness_router};
use accord_log::source::{DirSource, HttpSource, LogSource, TileNodes};
use accord_log::verify::verify_log;
use accord_log::witness::Witness;
use accord_log::writer::create_log;
use accord_log::{Error, Log, LogOptions};

fn serve(app: axum::Router) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    format!(
        "http://{}",
        rx.recv_timeout(Duration::from_secs(10)).unwrap()
    )
}

fn grow(dir: &std::path::Path, n: usize) -> accord_log::checkpoint::SignedCheckpoint {
    let log = Log::open(dir, LogOptions::default()).unwrap();
    log.appender()
        .append_many_blocking((0..n).map(|i| format!("e{i}").into_bytes()).collect())
        .unwrap();
    log.close().unwrap()
}

#[test]
fn witness_over_http_and_log_over_http() {
    let d = tempfile::tempdir().unwrap();
    let key = create_log(d.path(), "http.test.example/log")
        .unwrap()
        .verifier()
        .clone();
    let cp = grow(d.path(), 300);
    let wd = tempfile::tempdir().unwrap();
    let w = Arc::new(Witness::open(wd.path(), "witness.http.example", vec![key.clone()]).unwrap());
    let wkey = w.verifier().clone();
    let wurl = serve(witness_router(w));
    let src = DirSource::new(d.path());
    // First submission: the client starts from 0.
    let s = submit_checkpoint(&wurl, &wkey, &cp, &src, 0).unwrap();
    assert_eq!(s.previous_size, 0);
    // Grow, submit with a stale hint: the client follows the 409 and sends a proof.
    let cp2 = grow(d.path(), 200);
    let s = submit_checkpoint(&wurl, &wkey, &cp2, &src, 0).unwrap();
    assert_eq!(s.previous_size, 300);
    // Attach the cosignature and verify the log over HTTP, requiring the witness.
    let log = Log::open(d.path(), LogOptions::default()).unwrap();
    log.add_cosignatures(500, s.cosignatures).unwrap();
    log.close().unwrap();
    let lurl = serve(log_router(Arc::new(DirSource::new(d.path()))));
    let http = HttpSource::new(&lurl).unwrap();
    assert!(matches!(http.fetch("tile/0/999"), Err(Error::NotFound(_))));
    let r = verify_log(
        &http,
        &key,
        std::slice::from_ref(&wkey),
        None,
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(r.entries, 500);
    let proof =
        accord_log::merkle::inclusion_proof(&mut TileNodes::new(&http, 500), 7, 500).unwrap();
    assert_eq!(proof.len(), 9);
    // The checkpoint the old witness state knew cannot come back: 409 refused by the client.
    let e = submit_checkpoint(&wurl, &wkey, &cp, &src, 300).unwrap_err();
    assert!(
        matches!(e, Error::WitnessRefused { status: 409, .. }),
        "{e}"
    );
}
