//! The return leg of an OpenTDF rewrap: each released key wrapped to the client's key
//! as the OpenTDF platform does it (`lib/ocrypto/asym_encryption.go`), since the
//! clients decrypt nothing else.
//!
//! - RSA client key: RSA-OAEP with SHA-1 and MGF1-SHA-1, empty label, per key; no
//!   session key.
//! - EC client key (P-256, P-384, P-521): one ephemeral key on the client's curve per
//!   request; `k = HKDF-SHA256(salt = SHA-256("TDF"), ikm = ECDH x-coordinate, info =
//!   empty)`; each key sealed AES-256-GCM with a random 12-byte nonce as `nonce ‖ ct ‖
//!   tag`; the ephemeral public key goes back as `sessionPublicKey` (SPKI PEM).
//!
//! Both are classical: this is why the decision bounds what an OpenTDF client may
//! receive (`Wrapping::Classical`).

use accord_node_api::opentdf::srt::{ClientKey, Curve};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey};
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1};
use aws_lc_rs::{digest, hkdf};
use zeroize::Zeroizing;

/// One request's wrapping to the client.
pub(crate) enum Session {
    Rsa(OaepPublicEncryptingKey),
    Ec {
        key: LessSafeKey,
        public_pem: String,
    },
}

impl Session {
    /// Prepare the wrapping to `client` (for EC, the ephemeral agreement happens here).
    pub(crate) fn new(client: &ClientKey) -> Result<Session, String> {
        match client {
            ClientKey::Rsa(spki) => {
                let k = PublicEncryptingKey::from_der(spki)
                    .map_err(|_| "the client's RSA public key does not parse".to_string())?;
                let k = OaepPublicEncryptingKey::new(k)
                    .map_err(|_| "the client's RSA public key cannot do OAEP".to_string())?;
                Ok(Session::Rsa(k))
            }
            ClientKey::Ec { curve, point } => {
                let alg = match curve {
                    Curve::P256 => &agreement::ECDH_P256,
                    Curve::P384 => &agreement::ECDH_P384,
                    Curve::P521 => &agreement::ECDH_P521,
                };
                let eph = EphemeralPrivateKey::generate(alg, &aws_lc_rs::rand::SystemRandom::new())
                    .map_err(|_| "random".to_string())?;
                let public = eph
                    .compute_public_key()
                    .map_err(|_| "ephemeral key".to_string())?;
                let der: PublicKeyX509Der<'_> = public
                    .as_der()
                    .map_err(|_| "encoding the session key".to_string())?;
                let mut public_pem = String::new();
                accord_keys::pem::encode_into(&mut public_pem, "PUBLIC KEY", der.as_ref());
                let salt = digest::digest(&digest::SHA256, b"TDF");
                let okm = agreement::agree_ephemeral(
                    eph,
                    UnparsedPublicKey::new(alg, point),
                    "the client's EC public key is not a point of its curve".to_string(),
                    |z| {
                        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt.as_ref()).extract(z);
                        let mut k = Zeroizing::new([0u8; 32]);
                        prk.expand(&[], hkdf::HKDF_SHA256)
                            .and_then(|o| o.fill(&mut k[..]))
                            .map_err(|_| "HKDF".to_string())?;
                        Ok(k)
                    },
                )?;
                let key = LessSafeKey::new(
                    UnboundKey::new(&AES_256_GCM, &okm[..]).map_err(|_| "AES key".to_string())?,
                );
                Ok(Session::Ec { key, public_pem })
            }
        }
    }

    /// `sessionPublicKey`: the ephemeral EC key, or empty for RSA.
    pub(crate) fn public_pem(&self) -> &str {
        match self {
            Session::Rsa(_) => "",
            Session::Ec { public_pem, .. } => public_pem,
        }
    }

    /// One key wrapped to the client (`kasWrappedKey`).
    pub(crate) fn wrap(&self, share: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Session::Rsa(k) => {
                let mut out = vec![0u8; k.ciphertext_size()];
                let n = k
                    .encrypt(&OAEP_SHA1_MGF1SHA1, share, &mut out, None)
                    .map_err(|_| "RSA-OAEP".to_string())?
                    .len();
                out.truncate(n);
                Ok(out)
            }
            Session::Ec { key, .. } => {
                let mut nonce = [0u8; 12];
                aws_lc_rs::rand::fill(&mut nonce).map_err(|_| "random".to_string())?;
                let mut buf = share.to_vec();
                key.seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::empty(),
                    &mut buf,
                )
                .map_err(|_| "AES-GCM".to_string())?;
                let mut out = nonce.to_vec();
                out.extend_from_slice(&buf);
                Ok(out)
            }
        }
    }
}
