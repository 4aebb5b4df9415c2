//! A private key inside a token, and what the node asks of it.

use super::reference::{p384_params, p384_spki, rsa_spki, Reference};
use super::{token_error, Token, TokenKeyKind};
use crate::{der, Error};
use aws_lc_rs::{agreement, digest, rand::SecureRandom, rsa, signature};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use std::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

/// `CKA_EC_POINT` is a DER OCTET STRING around the point (PKCS#11 2.40); some modules
/// give the bare point.
fn unwrap_ec_point(v: &[u8]) -> Result<&[u8], Error> {
    if v.first() == Some(&0x04) && v.len() == 97 {
        return Ok(v);
    }
    let point = der::read_only(v, der::OCTET_STRING, "CKA_EC_POINT")?;
    if point.len() != 97 || point[0] != 0x04 {
        return Err(Error::Token(
            "the token gave a P-384 public key that is not an uncompressed point".into(),
        ));
    }
    Ok(point)
}

impl Token {
    /// Make a key pair inside the token: its private key sensitive and never
    /// extractable, its public key a session object (the reference keeps it).
    fn generate(self: &Arc<Self>, kind: TokenKeyKind, label: &str) -> Result<TokenKey, Error> {
        let mut id = vec![0u8; 16];
        aws_lc_rs::rand::SystemRandom::new()
            .fill(&mut id)
            .map_err(|_| Error::Crypto("drawing a key id".into()))?;
        let common = |usage: Vec<Attribute>| {
            let mut v = vec![
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Id(id.clone()),
                Attribute::Label(label.as_bytes().to_vec()),
            ];
            v.extend(usage);
            v
        };
        let session = self.anchor.lock().unwrap_or_else(|p| p.into_inner());
        let (mechanism, public, private) = match kind {
            TokenKeyKind::EcSign | TokenKeyKind::EcDerive => {
                let sign = kind == TokenKeyKind::EcSign;
                (
                    Mechanism::EccKeyPairGen,
                    vec![
                        Attribute::Token(false),
                        Attribute::EcParams(p384_params()),
                        Attribute::Verify(sign),
                        Attribute::Derive(!sign),
                    ],
                    common(vec![
                        Attribute::Sign(sign),
                        Attribute::Derive(!sign),
                        Attribute::Decrypt(false),
                    ]),
                )
            }
            TokenKeyKind::Rsa => (
                Mechanism::RsaPkcsKeyPairGen,
                vec![
                    Attribute::Token(false),
                    Attribute::ModulusBits(2048.into()),
                    Attribute::PublicExponent(vec![1, 0, 1]),
                    Attribute::Encrypt(true),
                ],
                common(vec![
                    Attribute::Decrypt(true),
                    Attribute::Sign(false),
                    Attribute::Derive(false),
                ]),
            ),
        };
        let (pub_h, priv_h) = session
            .generate_key_pair(&mechanism, &public, &private)
            .map_err(|e| token_error(&format!("making a {} key in {:?}", kind, self.label), e))?;
        let spki = match kind {
            TokenKeyKind::Rsa => {
                let attrs = session
                    .get_attributes(
                        pub_h,
                        &[AttributeType::Modulus, AttributeType::PublicExponent],
                    )
                    .map_err(|e| token_error("reading the new RSA public key", e))?;
                let (mut n, mut e) = (Vec::new(), Vec::new());
                for a in attrs {
                    match a {
                        Attribute::Modulus(v) => n = v,
                        Attribute::PublicExponent(v) => e = v,
                        _ => {}
                    }
                }
                rsa_spki(&n, &e)
            }
            _ => {
                let attrs = session
                    .get_attributes(pub_h, &[AttributeType::EcPoint])
                    .map_err(|e| token_error("reading the new EC public key", e))?;
                let point = attrs
                    .into_iter()
                    .find_map(|a| match a {
                        Attribute::EcPoint(v) => Some(v),
                        _ => None,
                    })
                    .unwrap_or_default();
                p384_spki(unwrap_ec_point(&point)?)
            }
        };
        let _ = session.destroy_object(pub_h);
        drop(session);
        Ok(TokenKey {
            token: self.clone(),
            id,
            handle: priv_h,
            spki,
            kind,
        })
    }

    /// The private key with `id`, checked to be the one `spki` names.
    fn find(self: &Arc<Self>, id: &[u8], spki: &[u8]) -> Result<TokenKey, Error> {
        let parsed = der::parse_spki(spki)?;
        let kind = match parsed.algorithm {
            a if a == der::OID_EC_PUBLIC_KEY && parsed.parameter == Some(der::OID_P384) => {
                // Signing or ECDH: the key's own attributes say which.
                TokenKeyKind::EcSign
            }
            a if a == der::OID_RSA => TokenKeyKind::Rsa,
            _ => {
                return Err(Error::WrongKeyType(
                    "a token key reference names a key that is neither P-384 nor RSA".into(),
                ))
            }
        };
        let found = self.with_session(|s| {
            s.find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Id(id.to_vec()),
            ])
            .map_err(|e| token_error("looking for a key", e))
        })?;
        let handle = match found.as_slice() {
            [h] => *h,
            [] => {
                return Err(Error::Token(format!(
                    "token {:?} holds no private key with id {} (was the token reset, or is \
                     this another token with the same label?)",
                    self.label,
                    hex::encode(id)
                )))
            }
            _ => {
                return Err(Error::Token(format!(
                    "token {:?} holds {} private keys with id {}",
                    self.label,
                    found.len(),
                    hex::encode(id)
                )))
            }
        };
        let kind = match kind {
            TokenKeyKind::Rsa => TokenKeyKind::Rsa,
            _ => {
                let derive = self.with_session(|s| {
                    let attrs = s
                        .get_attributes(handle, &[AttributeType::Derive])
                        .map_err(|e| token_error("reading a key's usage", e))?;
                    Ok(attrs.iter().any(|a| matches!(a, Attribute::Derive(true))))
                })?;
                if derive {
                    TokenKeyKind::EcDerive
                } else {
                    TokenKeyKind::EcSign
                }
            }
        };
        let key = TokenKey {
            token: self.clone(),
            id: id.to_vec(),
            handle,
            spki: spki.to_vec(),
            kind,
        };
        key.prove()?;
        Ok(key)
    }
}

/// A private key inside a token. Never printed: only its token, kind and public key.
pub struct TokenKey {
    token: Arc<Token>,
    id: Vec<u8>,
    handle: ObjectHandle,
    spki: Vec<u8>,
    kind: TokenKeyKind,
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TokenKey({} in {:?}, id {})",
            self.kind,
            self.token.label,
            hex::encode(&self.id)
        )
    }
}

impl TokenKey {
    /// Make a P-384 signing key in `token`.
    pub fn generate_signing(token: &Arc<Token>, label: &str) -> Result<TokenKey, Error> {
        token.generate(TokenKeyKind::EcSign, label)
    }

    /// Make a P-384 ECDH key in `token`.
    pub fn generate_ecdh(token: &Arc<Token>, label: &str) -> Result<TokenKey, Error> {
        token.generate(TokenKeyKind::EcDerive, label)
    }

    /// Make an RSA-2048 decryption key in `token`.
    pub fn generate_rsa(token: &Arc<Token>, label: &str) -> Result<TokenKey, Error> {
        token.generate(TokenKeyKind::Rsa, label)
    }

    /// What the key does.
    pub fn kind(&self) -> TokenKeyKind {
        self.kind
    }

    /// The token it lives in.
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// Its public key (DER SubjectPublicKeyInfo).
    pub fn spki(&self) -> &[u8] {
        &self.spki
    }

    /// Its uncompressed public point (EC keys).
    pub fn ec_point(&self) -> Result<Vec<u8>, Error> {
        let spki = der::parse_spki(&self.spki)?;
        Ok(spki.key.to_vec())
    }

    /// The reference a key file holds in place of the private key.
    pub fn reference(&self) -> Vec<u8> {
        let mut body = Vec::new();
        der::push_tlv(&mut body, 0x0c, self.token.label.as_bytes());
        der::push_tlv(&mut body, der::OCTET_STRING, &self.id);
        body.extend_from_slice(&self.spki);
        let mut out = Vec::new();
        der::push_tlv(&mut out, der::SEQUENCE, &body);
        out
    }

    /// Find the key a reference names in `token`, and prove it is that key.
    pub fn resolve(reference: &[u8], token: Option<&Arc<Token>>) -> Result<TokenKey, Error> {
        let r = Reference::parse(reference)?;
        let token = token.ok_or_else(|| {
            Error::Token(format!(
                "this key lives in the PKCS#11 token {:?}, and no token is configured here \
                 (node.toml's [pkcs11] names it)",
                r.token
            ))
        })?;
        if r.token != token.label {
            return Err(Error::Token(format!(
                "this key lives in the token {:?}, but the token configured is {:?}",
                r.token, token.label
            )));
        }
        token.find(r.id, r.spki)
    }

    /// Show that the token's key is the one the public key names: sign, derive or
    /// decrypt once and check the result in software.
    fn prove(&self) -> Result<(), Error> {
        let mismatch = || {
            Error::Token(format!(
                "the key with id {} in token {:?} is not the key its reference names",
                hex::encode(&self.id),
                self.token.label
            ))
        };
        match self.kind {
            TokenKeyKind::EcSign => {
                let msg = b"accord: token key check";
                let sig = self.sign_es384(msg)?;
                let point = self.ec_point()?;
                signature::UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, &point)
                    .verify(msg, &sig)
                    .map_err(|_| mismatch())
            }
            TokenKeyKind::EcDerive => {
                let eph = agreement::PrivateKey::generate(&agreement::ECDH_P384)
                    .map_err(|_| Error::Crypto("generating a P-384 key".into()))?;
                let eph_pub = eph
                    .compute_public_key()
                    .map_err(|_| Error::Crypto("computing a P-384 public key".into()))?;
                let ours = self.ecdh(eph_pub.as_ref())?;
                let point = self.ec_point()?;
                let theirs = agreement::agree(
                    &eph,
                    agreement::UnparsedPublicKey::new(&agreement::ECDH_P384, &point),
                    mismatch(),
                    |ss| Ok(Zeroizing::new(ss.to_vec())),
                )?;
                if *ours == *theirs {
                    Ok(())
                } else {
                    Err(mismatch())
                }
            }
            TokenKeyKind::Rsa => {
                let public = rsa::PublicEncryptingKey::from_der(&self.spki)
                    .map_err(|_| Error::WrongKeyType("the reference's RSA key".into()))?;
                let oaep = rsa::OaepPublicEncryptingKey::new(public)
                    .map_err(|_| Error::Crypto("preparing RSA-OAEP".into()))?;
                let msg = b"accord: token key check";
                let mut ct = vec![0u8; oaep.ciphertext_size()];
                // SHA-1, as OpenTDF wraps (and all SoftHSM2 2.6 does in OAEP).
                let ct = oaep
                    .encrypt(&rsa::OAEP_SHA1_MGF1SHA1, msg, &mut ct, None)
                    .map_err(|_| Error::Crypto("RSA-OAEP encryption".into()))?
                    .to_vec();
                let out = self.rsa_oaep_decrypt(&rsa::OAEP_SHA1_MGF1SHA1, &ct)?;
                if out.as_slice() == msg {
                    Ok(())
                } else {
                    Err(mismatch())
                }
            }
        }
    }

    fn expect(&self, kind: TokenKeyKind) -> Result<(), Error> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(Error::WrongKeyType(format!(
                "the token key is a {} key, not a {kind} key",
                self.kind
            )))
        }
    }

    /// ES384: SHA-384 here, ECDSA in the token; the signature is `r ‖ s` (96 bytes).
    pub fn sign_es384(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        self.expect(TokenKeyKind::EcSign)?;
        let hash = digest::digest(&digest::SHA384, message);
        let sig = self.token.with_session(|s| {
            s.sign(&Mechanism::Ecdsa, self.handle, hash.as_ref())
                .map_err(|e| token_error("signing in the token", e))
        })?;
        if sig.len() != 96 {
            return Err(Error::Token(format!(
                "the token gave a {}-byte ES384 signature, not 96",
                sig.len()
            )));
        }
        Ok(sig)
    }

    /// ECDH in the token with a peer's uncompressed point, checked to lie on P-384
    /// first (in software: an invalid point is refused before the token sees it).
    pub fn ecdh(&self, peer_point: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.expect(TokenKeyKind::EcDerive)?;
        agreement::ParsedPublicKey::try_from(&agreement::UnparsedPublicKey::new(
            &agreement::ECDH_P384,
            peer_point,
        ))
        .map_err(|_| Error::Crypto("ECDH with the peer point failed (invalid point?)".into()))?;
        self.token.with_session(|s| {
            let params = Ecdh1DeriveParams::new(EcKdf::null(), peer_point);
            let secret = s
                .derive_key(
                    &Mechanism::Ecdh1Derive(params),
                    self.handle,
                    &[
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::GENERIC_SECRET),
                        Attribute::ValueLen(48.into()),
                        Attribute::Token(false),
                        Attribute::Sensitive(false),
                        Attribute::Extractable(true),
                    ],
                )
                .map_err(|e| token_error("ECDH in the token", e))?;
            let value = s.get_attributes(secret, &[AttributeType::Value]);
            let _ = s.destroy_object(secret);
            let value = value.map_err(|e| token_error("reading the ECDH secret", e))?;
            value
                .into_iter()
                .find_map(|a| match a {
                    Attribute::Value(v) => Some(Zeroizing::new(v)),
                    _ => None,
                })
                .filter(|v| v.len() == 48)
                .ok_or_else(|| Error::Token("the token gave no 48-byte ECDH secret".into()))
        })
    }

    /// RSA-OAEP decryption in the token, with SHA-1 or SHA-256 (OpenTDF uses SHA-1).
    pub fn rsa_oaep_decrypt(
        &self,
        oaep: &'static rsa::OaepAlgorithm,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.expect(TokenKeyKind::Rsa)?;
        let (hash, mgf) = match oaep.id() {
            rsa::EncryptionAlgorithmId::OaepSha1Mgf1sha1 => {
                (MechanismType::SHA1, PkcsMgfType::MGF1_SHA1)
            }
            rsa::EncryptionAlgorithmId::OaepSha256Mgf1sha256 => {
                (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256)
            }
            other => {
                return Err(Error::UnknownAlgorithm(format!(
                    "RSA-OAEP with {other:?} in a token"
                )))
            }
        };
        self.token.with_session(|s| {
            let params = PkcsOaepParams::new(hash, mgf, PkcsOaepSource::empty());
            s.decrypt(&Mechanism::RsaPkcsOaep(params), self.handle, ciphertext)
                .map(Zeroizing::new)
                .map_err(|e| match e {
                    // The token does not do this OAEP: say so (SoftHSM2 2.6 does SHA-1
                    // only). Every other failure reads alike, as it does in software,
                    // so that no caller learns why a ciphertext did not decrypt.
                    CkError::Pkcs11(
                        RvError::MechanismInvalid | RvError::MechanismParamInvalid,
                        _,
                    ) => Error::Token(format!(
                        "token {:?} does not do RSA-OAEP with {:?}",
                        self.token.label,
                        oaep.id()
                    )),
                    _ => Error::Crypto("RSA-OAEP decryption failed".into()),
                })
        })
    }
}
