use aws_lc_rs::{
    agreement,
    rand::SystemRandom,
    signature::{self, KeyPair},
};
use std::time::Instant;
fn main() {
    let rng = SystemRandom::new();
    let pkcs8 =
        signature::EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
            .unwrap();
    let kp = signature::EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        pkcs8.as_ref(),
    )
    .unwrap();
    let msg = [7u8; 200];
    let sig = kp.sign(&rng, &msg).unwrap();
    let pk = signature::UnparsedPublicKey::new(
        &signature::ECDSA_P384_SHA384_FIXED,
        kp.public_key().as_ref().to_vec(),
    );
    let n = 3000;
    let t = Instant::now();
    for _ in 0..n {
        pk.verify(&msg, sig.as_ref()).unwrap();
    }
    println!("verify {:.0}/s", n as f64 / t.elapsed().as_secs_f64());
    let t = Instant::now();
    for _ in 0..n {
        kp.sign(&rng, &msg).unwrap();
    }
    println!("sign {:.0}/s", n as f64 / t.elapsed().as_secs_f64());
    let priv_ = agreement::PrivateKey::generate(&agreement::ECDH_P384).unwrap();
    let other = agreement::PrivateKey::generate(&agreement::ECDH_P384)
        .unwrap()
        .compute_public_key()
        .unwrap();
    let t = Instant::now();
    for _ in 0..n {
        agreement::agree(
            &priv_,
            &agreement::UnparsedPublicKey::new(&agreement::ECDH_P384, other.as_ref()),
            (),
            |k| Ok(k.len()),
        )
        .unwrap();
    }
    println!("ecdh {:.0}/s", n as f64 / t.elapsed().as_secs_f64());
    let ed = signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let ed = signature::Ed25519KeyPair::from_pkcs8(ed.as_ref()).unwrap();
    let s = ed.sign(&msg);
    let epk =
        signature::UnparsedPublicKey::new(&signature::ED25519, ed.public_key().as_ref().to_vec());
    let t = Instant::now();
    for _ in 0..n {
        epk.verify(&msg, s.as_ref()).unwrap();
    }
    println!(
        "ed25519 verify {:.0}/s",
        n as f64 / t.elapsed().as_secs_f64()
    );
}
