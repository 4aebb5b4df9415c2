//! Fuzz the key files a person hands a command (`accord open --kas-key`, `seal
//! --signing-key`, `agreement sign --key`) and a node reads from its home: PEM, the
//! PKCS#8 and ML-KEM blocks, public keys, and the `ACCORD PKCS11 KEY` reference to a
//! key in a token (read without a token: it must say which token, never panic).
#![no_main]
use accord_keys::{KasPrivateKey, KasPublicKey, SigningKey, SigningPublicKeys};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        let _ = accord_keys::pkcs11::reference_token(data);
        return;
    };
    if let Ok(k) = KasPrivateKey::from_pem(text) {
        let _ = k.to_pem();
    }
    if let Ok(k) = SigningKey::from_pem(text) {
        let _ = k.to_pem();
    }
    let _ = KasPublicKey::from_pem(text);
    let _ = SigningPublicKeys::from_pem(text);
    if let Ok(blocks) = accord_keys::pem::decode_all(text, "fuzz") {
        for b in blocks {
            let _ = accord_keys::pkcs11::reference_token(&b.der);
        }
    }
});
