//! Fuzz the key files a person hands a command (`accord open --kas-key`, `seal
//! --signing-key`, `agreement sign --key`) and a node reads from its home: the PEM
//! reader, Accord's own block handling, public keys (SubjectPublicKeyInfo), and the
//! `ACCORD PKCS11 KEY` reference to a key in a token (read without a token: it must
//! say which token, never panic). Private keys whose blocks are PKCS#8 are aws-lc's
//! to parse (C, fuzzed upstream) and slow to build: they are read only when a block
//! is a token reference, which is this crate's parser.
#![no_main]
use accord_keys::pkcs11::REFERENCE_LABEL;
use accord_keys::{KasPrivateKey, KasPublicKey, SigningKey, SigningPublicKeys};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        let _ = accord_keys::pkcs11::reference_token(data);
        return;
    };
    let _ = KasPublicKey::from_pem(text);
    let _ = SigningPublicKeys::from_pem(text);
    let Ok(blocks) = accord_keys::pem::decode_all(text, "fuzz") else {
        return;
    };
    let mut reference = false;
    for b in &blocks {
        if b.label == REFERENCE_LABEL {
            reference = true;
        }
        let _ = accord_keys::pkcs11::reference_token(&b.der);
    }
    if reference {
        let e = KasPrivateKey::from_pem(text).err();
        let f = SigningKey::from_pem(text).err();
        // Without a token, a file holding a reference never loads.
        assert!(e.is_some() && f.is_some());
    }
});
