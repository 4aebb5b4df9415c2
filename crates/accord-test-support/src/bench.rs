//! What the node's benchmarks share: their settings from the environment, and what
//! they measure of this machine itself in the same run, to compare with: aws-lc's
//! P-384 rates on one thread. The machine's speed moves from hour to hour, so a figure
//! is read against these rather than against an earlier run's.

use aws_lc_rs::{agreement, rand::SystemRandom, signature, signature::KeyPair};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The whole number in the environment variable `name`, or `default` when it is unset
/// or not a number.
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// How many times per second `f` runs on one thread (measured for 0.7 s).
fn rate(f: &mut dyn FnMut()) -> f64 {
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed() < Duration::from_millis(700) {
        f();
        n += 1;
    }
    n as f64 / t.elapsed().as_secs_f64()
}

/// ES384 verifications per second on one thread.
pub fn es384_verify_rate() -> f64 {
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P384_SHA384_FIXED_SIGNING;
    let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let kp = signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).unwrap();
    let msg = [7u8; 512];
    let sig = kp.sign(&rng, &msg).unwrap();
    let pk = signature::UnparsedPublicKey::new(
        &signature::ECDSA_P384_SHA384_FIXED,
        kp.public_key().as_ref().to_vec(),
    );
    rate(&mut || assert!(pk.verify(&msg, sig.as_ref()).is_ok()))
}

/// P-384 ECDH agreements per second on one thread.
pub fn ecdh_rate() -> f64 {
    let mine = agreement::PrivateKey::generate(&agreement::ECDH_P384).unwrap();
    let theirs = agreement::PrivateKey::generate(&agreement::ECDH_P384)
        .unwrap()
        .compute_public_key()
        .unwrap();
    let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P384, theirs.as_ref().to_vec());
    rate(&mut || {
        agreement::agree(&mine, &peer, (), |k| Ok(k.len())).unwrap();
    })
}

/// The cores this process may use.
pub fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

/// What a load run did: operations, over how long, and the latency of each call.
pub struct Run {
    /// Operations done (calls times the operations each does).
    pub ops: u64,
    /// Seconds the run took.
    pub secs: f64,
    /// Median call latency.
    pub p50: Duration,
    /// 99th percentile call latency.
    pub p99: Duration,
}

impl Run {
    /// Operations per second.
    pub fn rate(&self) -> f64 {
        self.ops as f64 / self.secs
    }
}

/// `threads` workers calling `f(worker)` over and over for `secs` seconds, each call
/// doing `per_call` operations: what they did, with the calls' latencies.
pub fn drive(threads: usize, secs: u64, per_call: u64, f: Arc<dyn Fn(usize) + Send + Sync>) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|w| {
            let (stop, done, f) = (stop.clone(), done.clone(), f.clone());
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    f(w);
                    lat.push(t.elapsed());
                    done.fetch_add(per_call, Ordering::Relaxed);
                }
                lat
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let mut lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let secs = t0.elapsed().as_secs_f64();
    lat.sort();
    let q = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Run {
        ops: done.load(Ordering::Relaxed),
        secs,
        p50: q(0.50),
        p99: q(0.99),
    }
}

/// The marking the node benchmarks seal under (the sandbox agreement's ceiling).
pub const SECRET: &str = "SECRET//REL TO USA, PAK//SCOPE EXERCISES";

/// `n` distinct objects marked `marking`, sealed through the node of `cred` by
/// `threads` clients in parallel under the sandbox agreement: their manifests, which a
/// rewrap takes.
pub fn seal_distinct(
    cred: &accord_node_api::credential::Credential,
    marking: &str,
    n: usize,
    threads: usize,
) -> Vec<serde_json::Value> {
    use accord_node_api::{client, wire};
    let sealed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..threads {
            let sealed = &sealed;
            s.spawn(move || {
                let c = client::Client::new(cred.clone()).unwrap();
                for i in (t..n).step_by(threads) {
                    let mut out = Vec::new();
                    client::seal(
                        &c,
                        &wire::SealPlanRequest {
                            marking: Some(marking.into()),
                            label: None,
                            agreement: Some(accord_node::sandbox::AGREEMENT_ID.into()),
                            choose_agreement: false,
                        },
                        format!("object {i}").as_bytes(),
                        &mut out,
                        1 << 20,
                        None,
                    )
                    .unwrap();
                    let m = client::read_manifest(&mut std::io::Cursor::new(out)).unwrap();
                    sealed.lock().unwrap().push(m);
                }
            });
        }
    });
    sealed.into_inner().unwrap()
}

/// First opens: every manifest rewrapped once, in requests of `bulk`, by `threads`
/// clients of `cred`, each decision asserted a permit. What they did: objects, time,
/// request latencies.
pub fn first_opens(
    cred: &accord_node_api::credential::Credential,
    manifests: &[serde_json::Value],
    bulk: usize,
    threads: usize,
) -> Run {
    let batches: Vec<Vec<serde_json::Value>> = manifests.chunks(bulk).map(|c| c.to_vec()).collect();
    let queue = std::sync::Mutex::new(batches);
    let t0 = Instant::now();
    let mut lat = Vec::new();
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                let queue = &queue;
                s.spawn(move || {
                    let c = accord_node_api::client::Client::new(cred.clone()).unwrap();
                    let mut lat = Vec::new();
                    loop {
                        let Some(b) = queue.lock().unwrap().pop() else {
                            break;
                        };
                        let t = Instant::now();
                        let r = c.rewrap(b).unwrap();
                        assert!(r.iter().all(|x| x.decision == "permit"));
                        lat.push(t.elapsed());
                    }
                    lat
                })
            })
            .collect();
        for h in hs {
            lat.extend(h.join().unwrap());
        }
    });
    let secs = t0.elapsed().as_secs_f64();
    lat.sort();
    let q = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    Run {
        ops: manifests.len() as u64,
        secs,
        p50: q(0.5),
        p99: q(0.99),
    }
}
