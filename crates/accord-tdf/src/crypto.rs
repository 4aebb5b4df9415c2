//! Small symmetric helpers shared by key wrapping and segments: AES-256-GCM with a
//! random nonce in OpenTDF's `nonce ‖ ciphertext ‖ tag` layout, HMAC-SHA256, HKDF.

use crate::Error;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::{constant_time, hkdf, hmac, rand};
use zeroize::Zeroizing;

/// Nonce (12) + tag (16): the per-segment overhead.
pub const GCM_OVERHEAD: usize = 28;
/// GCM tag length.
pub const TAG_LEN: usize = 16;

/// An AES-256-GCM key.
pub fn gcm_key(key: &[u8]) -> Result<LessSafeKey, Error> {
    let k = UnboundKey::new(&AES_256_GCM, key)
        .map_err(|_| Error::Crypto("AES-256-GCM key must be 32 bytes".into()))?;
    Ok(LessSafeKey::new(k))
}

/// Encrypt to `nonce ‖ ciphertext ‖ tag` with a fresh random nonce.
pub fn gcm_seal(key: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, Error> {
    let k = gcm_key(key)?;
    let mut nonce = [0u8; NONCE_LEN];
    rand::fill(&mut nonce).map_err(|_| Error::Crypto("random nonce".into()))?;
    let mut out = Vec::with_capacity(plaintext.len() + GCM_OVERHEAD);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = k
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut out[NONCE_LEN..],
        )
        .map_err(|_| Error::Crypto("AES-GCM encryption failed".into()))?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Decrypt `nonce ‖ ciphertext ‖ tag`.
pub fn gcm_open(key: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    if data.len() < GCM_OVERHEAD {
        return Err(Error::Crypto(
            "AES-GCM message shorter than nonce and tag".into(),
        ));
    }
    let k = gcm_key(key)?;
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&data[..NONCE_LEN]);
    let mut buf = Zeroizing::new(data[NONCE_LEN..].to_vec());
    let n = k
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
        .map_err(|_| Error::Crypto("AES-GCM authentication failed".into()))?
        .len();
    buf.truncate(n);
    Ok(buf)
}

/// HMAC-SHA256.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut out = [0u8; 32];
    out.copy_from_slice(hmac::sign(&k, data).as_ref());
    out
}

/// Constant-time equality.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA256 to 32 bytes with empty info (OpenTDF `CalculateHKDF`).
pub fn hkdf_sha256(salt: &[u8], ikm: &[u8]) -> Result<Zeroizing<[u8; 32]>, Error> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let okm = prk
        .expand(&[], Len(32))
        .map_err(|_| Error::Crypto("HKDF expand".into()))?;
    let mut out = Zeroizing::new([0u8; 32]);
    okm.fill(&mut out[..])
        .map_err(|_| Error::Crypto("HKDF fill".into()))?;
    Ok(out)
}

/// SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref());
    out
}

/// 32 random bytes.
pub fn random_key() -> Result<Zeroizing<[u8; 32]>, Error> {
    let mut k = Zeroizing::new([0u8; 32]);
    rand::fill(&mut k[..]).map_err(|_| Error::Crypto("random key".into()))?;
    Ok(k)
}
