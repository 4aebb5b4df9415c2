//! Hardware custody's cost (issue 20): the KAS key's classical half in SoftHSM2
//! against the same kind of key in a file, in the same run.
//!
//! 1. The key operations alone, on `THREADS` threads: a hybrid KAS unwrap (P-384 ECDH
//!    and ML-KEM-1024 decapsulation) and an ES384 signature, token against file.
//! 2. First opens through a running node: PAK's node with its keys in the token and
//!    PAK's node with its keys in files, each rewrapping `COLD` distinct objects
//!    once (label verification, the unwrap, the decision and its durable audit
//!    entry), in requests of `BULK`.
//!
//! Prints each rate and the token/file ratio. `cargo bench -p accord-node --bench
//! custody` (env: THREADS=4, SECS=3, COLD=512, BULK=64). Needs Debian's softhsm2.

use accord_keys::{ClassicalAlg, KasAlg, KasPrivateKey, SigningKey, Token, TokenSpec};
use accord_node::custody::Pkcs11Config;
use accord_node::sandbox;
use accord_node::server::{self, ServeOptions};
use accord_test_support::bench::{self, drive, env, Run};
use accord_test_support::sandbox_options;
use accord_test_support::softhsm::softhsm;
use aws_lc_rs::agreement;
use std::sync::Arc;

fn line(what: &str, file: &Run, token: &Run, unit: &str) {
    println!(
        "  {what:<34} file {:>9.0} {unit}/s   token {:>9.0} {unit}/s   token/file {:.3}",
        file.rate(),
        token.rate(),
        token.rate() / file.rate()
    );
}

/// Hybrid unwraps per second with `key`: an ECDH and a decapsulation per call.
fn unwraps(key: Arc<KasPrivateKey>, threads: usize, secs: u64) -> Run {
    let eph = agreement::PrivateKey::generate(&agreement::ECDH_P384).unwrap();
    let point = eph.compute_public_key().unwrap().as_ref().to_vec();
    let ek = aws_lc_rs::kem::EncapsulationKey::new(
        &aws_lc_rs::kem::ML_KEM_1024,
        key.public_key().mlkem_public().unwrap(),
    )
    .unwrap();
    let (ct, _) = ek.encapsulate().unwrap();
    let ct = ct.as_ref().to_vec();
    drive(
        threads,
        secs,
        1,
        Arc::new(move |_| {
            key.ecdh(&point).unwrap();
            key.mlkem_decapsulate(&ct).unwrap();
        }),
    )
}

fn signatures(key: Arc<SigningKey>, threads: usize, secs: u64) -> Run {
    drive(
        threads,
        secs,
        1,
        Arc::new(move |_| {
            key.sign_classical(b"a label assertion").unwrap();
        }),
    )
}

/// First opens of `cold` distinct objects at PAK's node, its keys where `pkcs11` says.
fn node_first_opens(pkcs11: Option<Pkcs11Config>, cold: usize, bulk: usize, threads: usize) -> Run {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sb = rt
        .block_on(sandbox::create(
            tmp.path(),
            &sandbox::SandboxOptions {
                pkcs11: (pkcs11, None),
                ..sandbox_options((None, None), accord_node::DEFAULT_RESERVE_MIB)
            },
        ))
        .unwrap();
    let running = rt
        .block_on(server::start(&sb.pak.layout.dir, ServeOptions::default()))
        .unwrap();
    let cred = sb.credential("pak-officer").unwrap();
    let manifests = bench::seal_distinct(&cred, bench::SECRET, cold, threads);
    let run = bench::first_opens(&cred, &manifests, bulk, threads);
    rt.block_on(running.stop()).unwrap();
    run
}

fn main() {
    let Some(hsm) = softhsm("custody bench") else {
        return;
    };
    let threads = env("THREADS", 4);
    let secs = env("SECS", 3) as u64;
    let cold = env("COLD", 512);
    let bulk = env("BULK", 64);
    hsm.token("accord-bench-keys", "bench-pin");
    hsm.token("accord-bench-node", "bench-pin");
    let token = Token::open(TokenSpec {
        module: &hsm.module,
        token: "accord-bench-keys",
        pin: zeroize::Zeroizing::new("bench-pin".into()),
    })
    .unwrap();

    println!(
        "custody: SoftHSM2 ({}) against files, {threads} threads",
        hsm.module.display()
    );
    let kas_file = Arc::new(KasPrivateKey::generate(KasAlg::HybridP384MlKem1024).unwrap());
    let kas_token =
        Arc::new(KasPrivateKey::generate_in(KasAlg::HybridP384MlKem1024, &token, "bench").unwrap());
    line(
        "hybrid KAS unwrap (ECDH + ML-KEM)",
        &unwraps(kas_file, threads, secs),
        &unwraps(kas_token, threads, secs),
        "unwraps",
    );
    let sign_file = Arc::new(SigningKey::generate(ClassicalAlg::Es384).unwrap());
    let sign_token = Arc::new(SigningKey::generate_in(&token, "bench").unwrap());
    line(
        "ES384 signature",
        &signatures(sign_file, threads, secs),
        &signatures(sign_token, threads, secs),
        "signatures",
    );

    let pin = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(pin.path(), "bench-pin\n").unwrap();
    let custody = Pkcs11Config {
        module: hsm.module.clone(),
        token: "accord-bench-node".into(),
        pin_file: Some(pin.path().to_path_buf()),
    };
    let file = node_first_opens(None, cold, bulk, threads);
    let token = node_first_opens(Some(custody), cold, bulk, threads);
    line(
        &format!("node first opens ({cold}, bulk {bulk})"),
        &file,
        &token,
        "rewraps",
    );
    println!(
        "  p50 per request: file {:.2} ms, token {:.2} ms; p99: file {:.2} ms, token {:.2} ms",
        file.p50.as_secs_f64() * 1e3,
        token.p50.as_secs_f64() * 1e3,
        file.p99.as_secs_f64() * 1e3,
        token.p99.as_secs_f64() * 1e3
    );
}
