//! Fuzz the credential file a person's tools read (`CredentialFile::parse`): the JSON,
//! exactly one key form, the certificate PEM and its `notAfter` (the X.509 time
//! parser), and for a protected key the PKCS#8 EncryptedPrivateKeyInfo with its PBES2
//! parameters, whose scrypt and PBKDF2 work must be bounded before anything is derived.
//! Nothing may panic; no passphrase is tried (that is scrypt's work, bounded by the
//! parser under test).
#![no_main]
use accord_node_api::credential::CredentialFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = CredentialFile::parse(data) {
        let _ = f.not_after();
        let _ = f.fingerprint();
        assert!(f.node_url().starts_with("https://"));
        if !f.is_protected() {
            let _ = f.unlock(None);
        }
    }
});
