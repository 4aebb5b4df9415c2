//! A private key inside a token, and what the node asks of it.

use super::reference::{p384_params, p384_spki, rsa_spki, Reference};
use super::{Failed, Token, TokenKeyKind};
use crate::{der, Error};
use aws_lc_rs::{agreement, digest, rand::SecureRandom, rsa, signature};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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

/// The mechanisms each kind of key may be used with, and nothing else (no raw RSA, no
/// PKCS#1 v1.5, no signature recovery, no wrapping).
fn allowed(kind: TokenKeyKind) -> Vec<MechanismType> {
    match kind {
        TokenKeyKind::EcSign => vec![MechanismType::ECDSA],
        TokenKeyKind::EcDerive => vec![MechanismType::ECDH1_DERIVE],
        TokenKeyKind::Rsa => vec![MechanismType::RSA_PKCS_OAEP],
    }
}

impl Token {
    /// Make a key pair inside the token: its private key sensitive, never extractable,
    /// not modifiable, for its one use; its public key a session object (the reference
    /// keeps it). A key made but not finished (its public key unreadable) is destroyed.
    fn generate(self: &Arc<Self>, kind: TokenKeyKind, label: &str) -> Result<TokenKey, Error> {
        let mut id = vec![0u8; 16];
        aws_lc_rs::rand::SystemRandom::new()
            .fill(&mut id)
            .map_err(|_| Error::Crypto("drawing a key id".into()))?;
        let (sign, derive, decrypt) = (
            kind == TokenKeyKind::EcSign,
            kind == TokenKeyKind::EcDerive,
            kind == TokenKeyKind::Rsa,
        );
        let private = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Modifiable(false),
            Attribute::Id(id.clone()),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Sign(sign),
            Attribute::Derive(derive),
            Attribute::Decrypt(decrypt),
            Attribute::SignRecover(false),
            Attribute::Unwrap(false),
            Attribute::AllowedMechanisms(allowed(kind)),
        ];
        let (mechanism, public) = match kind {
            TokenKeyKind::Rsa => (
                Mechanism::RsaPkcsKeyPairGen,
                vec![
                    Attribute::Token(false),
                    Attribute::ModulusBits(2048.into()),
                    Attribute::PublicExponent(vec![1, 0, 1]),
                    Attribute::Encrypt(true),
                ],
            ),
            _ => (
                Mechanism::EccKeyPairGen,
                vec![
                    Attribute::Token(false),
                    Attribute::EcParams(p384_params()),
                    Attribute::Verify(sign),
                    Attribute::Derive(derive),
                ],
            ),
        };
        let what = format!("making a {kind} key in {:?}", self.label);
        // The pair is made, its public key read and the public object destroyed in
        // one session, so that a lost session makes the whole again.
        let (priv_h, spki) = self.with_session(&what, |s| {
            let (pub_h, priv_h) = s.generate_key_pair(&mechanism, &public, &private)?;
            let types: &[AttributeType] = match kind {
                TokenKeyKind::Rsa => &[AttributeType::Modulus, AttributeType::PublicExponent],
                _ => &[AttributeType::EcPoint],
            };
            let attrs = s.get_attributes(pub_h, types);
            let _ = s.destroy_object(pub_h);
            match attrs {
                Ok(a) => Ok((priv_h, a)),
                Err(e) => {
                    let _ = s.destroy_object(priv_h);
                    Err(e)
                }
            }
        })?;
        let (priv_h, attrs) = (priv_h, spki);
        let spki = match kind {
            TokenKeyKind::Rsa => {
                let (mut n, mut e) = (Vec::new(), Vec::new());
                for a in attrs {
                    match a {
                        Attribute::Modulus(v) => n = v,
                        Attribute::PublicExponent(v) => e = v,
                        _ => {}
                    }
                }
                Ok(rsa_spki(&n, &e))
            }
            _ => {
                let point = attrs
                    .into_iter()
                    .find_map(|a| match a {
                        Attribute::EcPoint(v) => Some(v),
                        _ => None,
                    })
                    .unwrap_or_default();
                unwrap_ec_point(&point).map(p384_spki)
            }
        };
        let spki = match spki {
            Ok(s) => s,
            Err(e) => {
                let _ =
                    self.with_session("destroying a key made wrong", |s| s.destroy_object(priv_h));
                return Err(e);
            }
        };
        Ok(TokenKey {
            token: self.clone(),
            id,
            handle: Mutex::new(priv_h),
            refinding: AtomicBool::new(false),
            spki,
            kind,
        })
    }

    /// The handle of the one private key with `id`, checked to be in custody: a token
    /// object, always sensitive, never extractable, of `kind`'s key type and use.
    fn find_handle(&self, id: &[u8], kind: TokenKeyKind) -> Result<ObjectHandle, Error> {
        let found = self.with_session("looking for a key", |s| {
            s.find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Id(id.to_vec()),
            ])
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
        let attrs = self.with_session("reading a key's attributes", |s| {
            s.get_attributes(
                handle,
                &[
                    AttributeType::Token,
                    AttributeType::AlwaysSensitive,
                    AttributeType::NeverExtractable,
                    AttributeType::KeyType,
                    AttributeType::Sign,
                    AttributeType::Derive,
                    AttributeType::Decrypt,
                ],
            )
        })?;
        let (mut custody, mut key_type, mut uses) = (0, None, (false, false, false));
        for a in attrs {
            match a {
                Attribute::Token(true)
                | Attribute::AlwaysSensitive(true)
                | Attribute::NeverExtractable(true) => custody += 1,
                Attribute::KeyType(t) => key_type = Some(t),
                Attribute::Sign(b) => uses.0 = b,
                Attribute::Derive(b) => uses.1 = b,
                Attribute::Decrypt(b) => uses.2 = b,
                _ => {}
            }
        }
        let refuse = |why: &str| {
            Err(Error::Token(format!(
                "the key with id {} in token {:?} {why}",
                hex::encode(id),
                self.label
            )))
        };
        if custody != 3 {
            return refuse(
                "has been, or could be, outside the token (not always sensitive, or once \
                 extractable): Accord uses only keys made in the token",
            );
        }
        let (want_type, want_uses) = match kind {
            TokenKeyKind::EcSign => (KeyType::EC, (true, false, false)),
            TokenKeyKind::EcDerive => (KeyType::EC, (false, true, false)),
            TokenKeyKind::Rsa => (KeyType::RSA, (false, false, true)),
        };
        if key_type != Some(want_type) || uses != want_uses {
            return refuse(&format!("is not a {kind} key for that use alone"));
        }
        Ok(handle)
    }

    /// The private key with `id`, checked to be in custody and to be the one `spki`
    /// names. `derive` says whether an EC key is for ECDH (else for signing): the
    /// caller knows, from the file it reads; the token's flags are checked against it.
    fn find(self: &Arc<Self>, id: &[u8], spki: &[u8], derive: bool) -> Result<TokenKey, Error> {
        let parsed = der::parse_spki(spki)?;
        let kind = match parsed.algorithm {
            a if a == der::OID_EC_PUBLIC_KEY && parsed.parameter == Some(der::OID_P384) => {
                if derive {
                    TokenKeyKind::EcDerive
                } else {
                    TokenKeyKind::EcSign
                }
            }
            a if a == der::OID_RSA && derive => TokenKeyKind::Rsa,
            _ => {
                return Err(Error::WrongKeyType(format!(
                    "the token key reference names a key that is not a {}",
                    if derive {
                        "P-384 or RSA KAS key"
                    } else {
                        "P-384 signing key"
                    }
                )))
            }
        };
        let handle = self.find_handle(id, kind)?;
        let key = TokenKey {
            token: self.clone(),
            id: id.to_vec(),
            handle: Mutex::new(handle),
            refinding: AtomicBool::new(false),
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
    /// Found again by `id` (and proved again) when the token says it is no longer
    /// valid: a token removed and put back may number its objects anew.
    handle: Mutex<ObjectHandle>,
    refinding: AtomicBool,
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

    /// Find the key a reference names in `token`, and prove it is that key; `derive`:
    /// a KAS key (ECDH or RSA decryption), else a signing key.
    pub fn resolve(
        reference: &[u8],
        token: Option<&Arc<Token>>,
        derive: bool,
    ) -> Result<TokenKey, Error> {
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
        token.find(r.id, r.spki, derive)
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
                // Another key does not decrypt it: that is the mismatch.
                let out = self
                    .rsa_oaep_decrypt(&rsa::OAEP_SHA1_MGF1SHA1, &ct)
                    .map_err(|e| match e {
                        Error::Crypto(_) => mismatch(),
                        e => e,
                    })?;
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

    /// Run `f` with this key's handle in a session of the token. A handle the token
    /// no longer knows is found again by id, proved again, and `f` tried once more.
    fn run<T>(
        &self,
        mut f: impl FnMut(&cryptoki::session::Session, ObjectHandle) -> Result<T, CkError>,
    ) -> Result<T, Failed> {
        let h = *self.handle.lock().unwrap_or_else(|p| p.into_inner());
        match self.token.try_session(|s| f(s, h)) {
            Err(Failed::Op(CkError::Pkcs11(
                RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid,
                _,
            ))) if !self.refinding.swap(true, Ordering::SeqCst) => {
                let again = self
                    .token
                    .ensure_logged_in()
                    .and_then(|()| self.token.find_handle(&self.id, self.kind))
                    .and_then(|h| {
                        *self.handle.lock().unwrap_or_else(|p| p.into_inner()) = h;
                        self.prove().map(|()| h)
                    });
                self.refinding.store(false, Ordering::SeqCst);
                let h = again.map_err(Failed::Unavailable)?;
                self.token.try_session(|s| f(s, h))
            }
            other => other,
        }
    }

    /// ES384: SHA-384 here, ECDSA in the token; the signature is `r ‖ s` (96 bytes).
    pub fn sign_es384(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        self.expect(TokenKeyKind::EcSign)?;
        let hash = digest::digest(&digest::SHA384, message);
        let sig = self
            .run(|s, h| s.sign(&Mechanism::Ecdsa, h, hash.as_ref()))
            .map_err(|e| e.into_error("signing in the token"))?;
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
        let value = self
            .run(|s, h| {
                let params = Ecdh1DeriveParams::new(EcKdf::null(), peer_point);
                let secret = s.derive_key(
                    &Mechanism::Ecdh1Derive(params),
                    h,
                    &[
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::GENERIC_SECRET),
                        Attribute::ValueLen(48.into()),
                        Attribute::Token(false),
                        Attribute::Sensitive(false),
                        Attribute::Extractable(true),
                    ],
                )?;
                let value = s.get_attributes(secret, &[AttributeType::Value]);
                // A secret that could not be destroyed fails the operation, so that
                // its session is closed (which destroys it) rather than pooled.
                s.destroy_object(secret)?;
                value
            })
            .map_err(|e| e.into_error("ECDH in the token"))?;
        value
            .into_iter()
            .find_map(|a| match a {
                Attribute::Value(v) => Some(Zeroizing::new(v)),
                _ => None,
            })
            .filter(|v| v.len() == 48)
            .ok_or_else(|| Error::Token("the token gave no 48-byte ECDH secret".into()))
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
        let out = self.run(|s, h| {
            let params = PkcsOaepParams::new(hash, mgf, PkcsOaepSource::empty());
            s.decrypt(&Mechanism::RsaPkcsOaep(params), h, ciphertext)
        });
        match out {
            Ok(v) => Ok(Zeroizing::new(v)),
            // The token does not do this OAEP: say so (SoftHSM2 2.6 does SHA-1 only).
            Err(Failed::Op(CkError::Pkcs11(
                RvError::MechanismInvalid | RvError::MechanismParamInvalid,
                _,
            ))) => Err(Error::Token(format!(
                "token {:?} does not do RSA-OAEP with {:?}",
                self.token.label,
                oaep.id()
            ))),
            Err(Failed::Unavailable(e)) => Err(e),
            // Every other failure reads alike, as it does in software, so that no
            // caller learns why a ciphertext did not decrypt.
            Err(Failed::Op(_)) => Err(Error::Crypto("RSA-OAEP decryption failed".into())),
        }
    }
}
