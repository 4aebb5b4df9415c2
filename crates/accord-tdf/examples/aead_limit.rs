//! The AEAD limit for `scripts/bench/seal-open.sh`: aws-lc-rs AES-256-GCM over N MiB
//! in memory, in the same 2 MiB segments and on all cores as `accord seal`, with no I/O.
//! Prints `aead_limit_seconds=<s> bytes=<n>` for the script.
//!
//! `cargo run --release -p accord-tdf --example aead_limit -- 1024`

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use rayon::prelude::*;
use std::time::Instant;

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1024);
    let seg = 2 * 1024 * 1024;
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).expect("key"));
    // 64 MiB working set reused, like the pipeline's recycled buffers.
    let mut bufs: Vec<Vec<u8>> = (0..32).map(|i| vec![i as u8; seg]).collect();
    let total = mib * 1024 * 1024;
    let rounds = total.div_ceil(seg * bufs.len());
    let start = Instant::now();
    let mut n = 0usize;
    for r in 0..rounds {
        bufs.par_iter_mut().enumerate().for_each(|(i, b)| {
            let mut nonce = [0u8; 12];
            nonce[..8].copy_from_slice(&((r * 64 + i) as u64).to_le_bytes());
            let tag = key
                .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), b)
                .expect("seal");
            let _ = std::hint::black_box(tag);
        });
        n += seg * bufs.len();
    }
    let s = start.elapsed().as_secs_f64();
    println!(
        "aead_limit_seconds={s:.4} bytes={n} gbps={:.2}",
        n as f64 / s / 1e9
    );
}
