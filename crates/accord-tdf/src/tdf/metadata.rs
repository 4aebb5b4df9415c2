//! `encryptedMetadata`: metadata encrypted with a key share, written into each key
//! access object by `seal` and read back by `open`. Apart because both directions need
//! the one format, and neither owns it.

use crate::crypto;
use crate::Error;
use aws_lc_rs::aead::NONCE_LEN;

pub(super) fn encrypt_metadata(share: &[u8], metadata: &str) -> Result<String, Error> {
    let emb = crypto::gcm_seal(share, metadata.as_bytes())?;
    let j = serde_json::json!({
        "ciphertext": crate::b64_encode(&emb),
        "iv": crate::b64_encode(&emb[..NONCE_LEN]),
    });
    Ok(crate::b64_encode(j.to_string().as_bytes()))
}

pub(super) fn decrypt_metadata(share: &[u8], enc: &str) -> Result<String, Error> {
    let j: serde_json::Value =
        serde_json::from_slice(&crate::b64_decode(enc, "encryptedMetadata")?)
            .map_err(|e| Error::Manifest(format!("encryptedMetadata: {e}")))?;
    let ct = crate::b64_decode(
        j["ciphertext"].as_str().unwrap_or_default(),
        "encryptedMetadata.ciphertext",
    )?;
    let pt = crypto::gcm_open(share, &ct)
        .map_err(|_| Error::Integrity("encryptedMetadata does not decrypt".into()))?;
    String::from_utf8(pt.to_vec())
        .map_err(|_| Error::Manifest("encryptedMetadata is not UTF-8".into()))
}
