//! Key access: wrapping a key share to a KAS public key and unwrapping it with the KAS
//! private key, for every OpenTDF key access type, byte-compatible with
//! `lib/ocrypto` and `sdk/tdf.go`:
//!
//! * `hybrid-wrapped` (P-384 + ML-KEM-1024): ephemeral ECDH and ML-KEM encapsulation,
//!   wrap key = SHA3-256(mlkemSS ‖ ecdhSS ‖ ephemeralPoint ‖ kasPoint ‖ "MLKEM1024-P384")
//!   (draft-ietf-lamps-pq-composite-kem-14 §3.4), share = AES-256-GCM under it;
//!   `wrappedKey` = base64 DER `SEQUENCE { [0] mlkemCT ‖ ephemeralPoint, [1] nonce ‖ ct ‖ tag }`.
//! * `mlkem-wrapped`: the ML-KEM-1024 shared secret is the AES-256-GCM key; same envelope.
//! * `ec-wrapped`: ephemeral ECDH, HKDF-SHA256(salt = SHA-256("TDF")), AES-256-GCM;
//!   the ephemeral public key travels as PEM in `ephemeralPublicKey`.
//! * `wrapped`: RSA-OAEP with SHA-1 (as OpenTDF).
//!
//! The policy binding is HMAC-SHA256(share, base64 policy), hex, then base64.

use crate::crypto;
use crate::manifest::{KeyAccess, PolicyBinding};
use crate::Error;
use accord_keys::der;
use accord_keys::{KasAlg, KasPrivateKey, KasPublicKey};
use aws_lc_rs::{agreement, digest, kem, rand, rsa};
use zeroize::Zeroizing;

const HYBRID_LABEL: &[u8] = b"MLKEM1024-P384";
const MLKEM_CT_LEN: usize = 1568;

fn b64(data: &[u8]) -> String {
    crate::b64_encode(data)
}

fn envelope(kem_ct: &[u8], encrypted: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    der::push_tlv(&mut body, 0x80, kem_ct);
    der::push_tlv(&mut body, 0x81, encrypted);
    let mut out = Vec::new();
    der::push_tlv(&mut out, der::SEQUENCE, &body);
    out
}

fn parse_envelope(data: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    let e = |m: String| Error::Integrity(format!("wrapped key envelope: {m}"));
    let body = der::read_only(data, der::SEQUENCE, "wrapped key").map_err(|x| e(x.to_string()))?;
    let (ct, rest) = der::expect(body, 0x80, "KEM ciphertext").map_err(|x| e(x.to_string()))?;
    let enc = der::read_only(rest, 0x81, "encrypted key").map_err(|x| e(x.to_string()))?;
    Ok((ct, enc))
}

fn hybrid_combiner(
    mlkem_ss: &[u8],
    ecdh_ss: &[u8],
    eph: &[u8],
    kas_point: &[u8],
) -> Zeroizing<Vec<u8>> {
    let mut ctx = digest::Context::new(&digest::SHA3_256);
    ctx.update(mlkem_ss);
    ctx.update(ecdh_ss);
    ctx.update(eph);
    ctx.update(kas_point);
    ctx.update(HYBRID_LABEL);
    Zeroizing::new(ctx.finish().as_ref().to_vec())
}

fn ephemeral_ecdh(
    alg: &'static agreement::Algorithm,
    peer: &[u8],
) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), Error> {
    let eph = agreement::EphemeralPrivateKey::generate(alg, &rand::SystemRandom::new())
        .map_err(|_| Error::Crypto("ephemeral EC key".into()))?;
    let eph_pub = eph
        .compute_public_key()
        .map_err(|_| Error::Crypto("ephemeral EC public key".into()))?
        .as_ref()
        .to_vec();
    let ss = agreement::agree_ephemeral(
        eph,
        agreement::UnparsedPublicKey::new(alg, peer),
        Error::Crypto("ECDH with the KAS key failed".into()),
        |s| Ok(Zeroizing::new(s.to_vec())),
    )?;
    Ok((eph_pub, ss))
}

fn tdf_salt() -> [u8; 32] {
    crypto::sha256(b"TDF")
}

/// What a wrap produces for one key access object.
pub struct Wrapped {
    /// `type`.
    pub key_type: &'static str,
    /// `wrappedKey` (base64).
    pub wrapped_key: String,
    /// `ephemeralPublicKey` (PEM, `ec-wrapped` only).
    pub ephemeral_public_key: String,
}

/// Wrap a 32-byte share to a KAS public key.
pub fn wrap(kas: &KasPublicKey, share: &[u8]) -> Result<Wrapped, Error> {
    let mut ephemeral_public_key = String::new();
    let wrapped = match kas.alg() {
        KasAlg::HybridP384MlKem1024 => {
            let kas_point = kas.ec_point().unwrap_or_default();
            let (eph, ecdh_ss) = ephemeral_ecdh(&agreement::ECDH_P384, kas_point)?;
            let ek = kem::EncapsulationKey::new(
                &kem::ML_KEM_1024,
                kas.mlkem_public().unwrap_or_default(),
            )
            .map_err(|_| Error::Crypto("ML-KEM-1024 public key rejected".into()))?;
            let (ct, ss) = ek
                .encapsulate()
                .map_err(|_| Error::Crypto("ML-KEM encapsulation".into()))?;
            let wrap_key = hybrid_combiner(ss.as_ref(), &ecdh_ss, &eph, kas_point);
            let enc = crypto::gcm_seal(&wrap_key, share)?;
            let mut kem_ct = ct.as_ref().to_vec();
            kem_ct.extend_from_slice(&eph);
            envelope(&kem_ct, &enc)
        }
        KasAlg::MlKem1024 => {
            let ek = kem::EncapsulationKey::new(
                &kem::ML_KEM_1024,
                kas.mlkem_public().unwrap_or_default(),
            )
            .map_err(|_| Error::Crypto("ML-KEM-1024 public key rejected".into()))?;
            let (ct, ss) = ek
                .encapsulate()
                .map_err(|_| Error::Crypto("ML-KEM encapsulation".into()))?;
            let enc = crypto::gcm_seal(ss.as_ref(), share)?;
            envelope(ct.as_ref(), &enc)
        }
        KasAlg::EcP256 | KasAlg::EcP384 => {
            let alg = kas.ecdh_algorithm().unwrap_or(&agreement::ECDH_P384);
            let (eph, ecdh_ss) = ephemeral_ecdh(alg, kas.ec_point().unwrap_or_default())?;
            let key = crypto::hkdf_sha256(&tdf_salt(), &ecdh_ss)?;
            let spki = ec_point_spki(kas.alg(), &eph);
            let mut pem = String::new();
            accord_keys::pem::encode_into(&mut pem, "PUBLIC KEY", &spki);
            ephemeral_public_key = pem;
            crypto::gcm_seal(&key[..], share)?
        }
        KasAlg::Rsa2048 => {
            let public = kas
                .rsa_public()
                .ok_or_else(|| Error::Crypto("RSA public key".into()))?;
            let oaep = rsa::OaepPublicEncryptingKey::new(public)
                .map_err(|_| Error::Crypto("RSA-OAEP key".into()))?;
            let mut out = vec![0u8; oaep.ciphertext_size()];
            oaep.encrypt(&rsa::OAEP_SHA1_MGF1SHA1, share, &mut out, None)
                .map_err(|_| Error::Crypto("RSA-OAEP encryption".into()))?
                .to_vec()
        }
    };
    Ok(Wrapped {
        key_type: kas.alg().key_access_type(),
        wrapped_key: b64(&wrapped),
        ephemeral_public_key,
    })
}

fn ec_point_spki(alg: KasAlg, point: &[u8]) -> Vec<u8> {
    let curve = if alg == KasAlg::EcP256 {
        der::OID_P256
    } else {
        der::OID_P384
    };
    let mut a = Vec::new();
    der::push_tlv(&mut a, der::OID, der::OID_EC_PUBLIC_KEY);
    der::push_tlv(&mut a, der::OID, curve);
    let mut bits = vec![0u8];
    bits.extend_from_slice(point);
    let mut body = Vec::new();
    der::push_tlv(&mut body, der::SEQUENCE, &a);
    der::push_tlv(&mut body, der::BIT_STRING, &bits);
    let mut out = Vec::new();
    der::push_tlv(&mut out, der::SEQUENCE, &body);
    out
}

/// Whether `key` can unwrap key access objects of this `type`.
pub fn key_fits(key: &KasPrivateKey, key_type: &str) -> bool {
    key.alg().key_access_type() == key_type
}

/// Unwrap a share. `Err(Integrity)` when the key fits but the share does not decrypt.
pub fn unwrap(key: &KasPrivateKey, kao: &KeyAccess) -> Result<Zeroizing<Vec<u8>>, Error> {
    let wrapped = crate::b64_decode(&kao.wrapped_key, "keyAccess.wrappedKey")?;
    let fail = |what: &str| {
        Error::Integrity(format!(
            "key access object for kid {}: {what}",
            short(&kao.kid)
        ))
    };
    // A key in a token that cannot be reached is no sign of tampering: said as it is.
    let or_token = |e: accord_keys::Error, what: &str| match e {
        accord_keys::Error::Token(_) => Error::Keys(e),
        _ => fail(what),
    };
    let share = match key.alg() {
        KasAlg::HybridP384MlKem1024 => {
            let (kem_ct, enc) = parse_envelope(&wrapped)?;
            if kem_ct.len() != MLKEM_CT_LEN + 97 {
                return Err(fail("hybrid ciphertext has the wrong length"));
            }
            let (ct, eph) = kem_ct.split_at(MLKEM_CT_LEN);
            let ecdh_ss = key
                .ecdh(eph)
                .map_err(|e| or_token(e, "invalid ephemeral P-384 point"))?;
            let mlkem_ss = key
                .mlkem_decapsulate(ct)
                .map_err(|_| fail("ML-KEM decapsulation failed"))?;
            let kas_point = key.public_key().ec_point().unwrap_or_default();
            let wrap_key = hybrid_combiner(&mlkem_ss, &ecdh_ss, eph, kas_point);
            crypto::gcm_open(&wrap_key, enc)
                .map_err(|_| fail("wrapped key does not decrypt (tampered, or another key)"))?
        }
        KasAlg::MlKem1024 => {
            let (ct, enc) = parse_envelope(&wrapped)?;
            if ct.len() != MLKEM_CT_LEN {
                return Err(fail("ML-KEM ciphertext has the wrong length"));
            }
            let ss = key
                .mlkem_decapsulate(ct)
                .map_err(|_| fail("ML-KEM decapsulation failed"))?;
            crypto::gcm_open(&ss, enc)
                .map_err(|_| fail("wrapped key does not decrypt (tampered, or another key)"))?
        }
        KasAlg::EcP256 | KasAlg::EcP384 => {
            let blocks =
                accord_keys::pem::decode_all(&kao.ephemeral_public_key, "ephemeralPublicKey")
                    .map_err(|e| fail(&e.to_string()))?;
            let spki = der::parse_spki(&blocks[0].der).map_err(|e| fail(&e.to_string()))?;
            let ecdh_ss = key
                .ecdh(spki.key)
                .map_err(|e| or_token(e, "invalid ephemeral EC point"))?;
            let k = crypto::hkdf_sha256(&tdf_salt(), &ecdh_ss)?;
            crypto::gcm_open(&k[..], &wrapped)
                .map_err(|_| fail("wrapped key does not decrypt (tampered, or another key)"))?
        }
        KasAlg::Rsa2048 => key
            .rsa_oaep_decrypt(&rsa::OAEP_SHA1_MGF1SHA1, &wrapped)
            .map_err(|e| or_token(e, "RSA-OAEP decryption failed (tampered, or another key)"))?,
    };
    if share.len() != 32 {
        return Err(fail("unwrapped share is not 32 bytes"));
    }
    Ok(share)
}

/// What a KAS does for one key access object: unwrap its share with the KAS private key
/// and check that the share is bound to `policy_b64` (the object's
/// `encryptionInformation.policy`), so a share is never released for a policy other
/// than the one it was sealed under.
pub fn unwrap_share(
    key: &KasPrivateKey,
    kao: &KeyAccess,
    policy_b64: &str,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    if !key_fits(key, &kao.key_type) {
        return Err(Error::Keys(accord_keys::Error::WrongKeyType(format!(
            "key access object for kid {} is `{}`, but the KAS key is {}",
            short(&kao.kid),
            kao.key_type,
            key.alg().key_access_type()
        ))));
    }
    let share = unwrap(key, kao)?;
    check_policy_binding(&share, policy_b64, &kao.policy_binding)?;
    Ok(share)
}

fn short(kid: &str) -> &str {
    kid.get(..16).unwrap_or(kid)
}

/// The policy binding OpenTDF writes: base64(hex(HMAC-SHA256(share, policy_b64))).
pub fn policy_binding(share: &[u8], policy_b64: &str) -> PolicyBinding {
    let mac = crypto::hmac_sha256(share, policy_b64.as_bytes());
    PolicyBinding {
        alg: "HS256".into(),
        hash: b64(hex::encode(mac).as_bytes()),
    }
}

/// Check a policy binding, accepting the object or bare-string form, and the hash as
/// base64 of hex (OpenTDF), bare hex, or base64 of the raw MAC.
pub fn check_policy_binding(
    share: &[u8],
    policy_b64: &str,
    binding: &serde_json::Value,
) -> Result<(), Error> {
    let hash = match binding {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(o) => {
            if let Some(alg) = o.get("alg").and_then(|a| a.as_str()) {
                if alg != "HS256" {
                    return Err(Error::Unsupported(format!(
                        "policy binding algorithm `{alg}`"
                    )));
                }
            }
            o.get("hash")
                .and_then(|h| h.as_str())
                .ok_or_else(|| Error::Manifest("policyBinding has no hash".into()))?
                .to_string()
        }
        _ => {
            return Err(Error::Manifest(
                "policyBinding is neither a string nor an object".into(),
            ))
        }
    };
    let mac = crypto::hmac_sha256(share, policy_b64.as_bytes());
    let hex_mac = hex::encode(mac);
    let candidates: Vec<Vec<u8>> = [
        crate::b64_decode(&hash, "policyBinding").ok(),
        Some(hash.as_bytes().to_vec()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let ok = candidates
        .iter()
        .any(|c| crypto::ct_eq(c, hex_mac.as_bytes()) || crypto::ct_eq(c, &mac));
    if ok {
        Ok(())
    } else {
        Err(Error::Integrity(
            "policy binding does not match: the policy was changed or the share is not bound to it"
                .into(),
        ))
    }
}
