//! Signing key pairs: one classical key (ECDSA P-384 / ES384 by default, or Ed25519)
//! and one ML-DSA-87 key, always together.
//!
//! Agreements are signed by both (a record is valid only when both signatures verify),
//! so a quantum adversary who forges the classical signature still fails on ML-DSA-87,
//! and a flaw found in ML-DSA still leaves ECDSA. Sealed-object assertions use the
//! classical key as JWS (`ES384` / `EdDSA`), which OpenTDF readers understand.
//!
//! Files: `signing.key` holds two `PRIVATE KEY` (PKCS#8) PEM blocks, classical first,
//! then ML-DSA-87; `signing.pub` holds the two matching `PUBLIC KEY` (SPKI) blocks in
//! the same order. ES384 signatures are the fixed 96-byte `r ‖ s` form JWS uses;
//! ML-DSA-87 signatures are the 4627-byte FIPS 204 encoding with an empty context.

use crate::der;
use crate::pem;
use crate::pkcs11::{self, Token, TokenKey};
use crate::Error;
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature as pq;
use aws_lc_rs::signature::{self, KeyPair};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use zeroize::Zeroizing;

/// A signature algorithm, named as in JWS/JOSE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SignatureAlg {
    /// ECDSA P-384 with SHA-384, fixed `r ‖ s` signatures.
    #[serde(rename = "ES384")]
    Es384,
    /// Ed25519.
    #[serde(rename = "EdDSA")]
    Ed25519,
    /// ML-DSA-87 (FIPS 204), pure mode, empty context.
    #[serde(rename = "ML-DSA-87")]
    MlDsa87,
}

impl SignatureAlg {
    /// The JWS `alg` name.
    pub fn jws_name(self) -> &'static str {
        match self {
            SignatureAlg::Es384 => "ES384",
            SignatureAlg::Ed25519 => "EdDSA",
            SignatureAlg::MlDsa87 => "ML-DSA-87",
        }
    }
}

impl fmt::Display for SignatureAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.jws_name())
    }
}

/// The classical half of a signing key pair (`--signing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClassicalAlg {
    /// ECDSA P-384 (the default).
    Es384,
    /// Ed25519.
    Ed25519,
}

impl ClassicalAlg {
    /// The command-line name: `es384` or `ed25519`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClassicalAlg::Es384 => "es384",
            ClassicalAlg::Ed25519 => "ed25519",
        }
    }

    /// The signature algorithm.
    pub fn signature_alg(self) -> SignatureAlg {
        match self {
            ClassicalAlg::Es384 => SignatureAlg::Es384,
            ClassicalAlg::Ed25519 => SignatureAlg::Ed25519,
        }
    }
}

impl FromStr for ClassicalAlg {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "es384" | "ES384" => Ok(ClassicalAlg::Es384),
            "ed25519" | "Ed25519" | "EdDSA" => Ok(ClassicalAlg::Ed25519),
            _ => Err(Error::UnknownAlgorithm(format!(
                "signing algorithm `{s}` (expected es384 or ed25519)"
            ))),
        }
    }
}

/// One public verification key: algorithm and DER SubjectPublicKeyInfo.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    alg: SignatureAlg,
    spki: Vec<u8>,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({}, kid {})", self.alg, self.kid())
    }
}

impl VerifyingKey {
    /// Parse a DER SubjectPublicKeyInfo of an ES384, Ed25519 or ML-DSA-87 key.
    pub fn from_spki_der(der_bytes: &[u8]) -> Result<Self, Error> {
        let spki = der::parse_spki(der_bytes)?;
        let alg = match (spki.algorithm, spki.parameter) {
            (der::OID_EC_PUBLIC_KEY, Some(der::OID_P384)) => SignatureAlg::Es384,
            (der::OID_ED25519, None) => SignatureAlg::Ed25519,
            (der::OID_ML_DSA_87, None) => SignatureAlg::MlDsa87,
            _ => {
                return Err(Error::WrongKeyType(
                    "public key is not an ES384, Ed25519 or ML-DSA-87 signing key".into(),
                ))
            }
        };
        let key = VerifyingKey {
            alg,
            spki: der_bytes.to_vec(),
        };
        // Validate now so a bad key is reported when loaded, not at first use.
        let ok = match alg {
            SignatureAlg::Es384 => {
                signature::ParsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, key.raw())
                    .is_ok()
            }
            SignatureAlg::Ed25519 => key.raw().len() == 32,
            SignatureAlg::MlDsa87 => key.raw().len() == 2592,
        };
        if !ok {
            return Err(Error::WrongKeyType(format!("{alg} public key rejected")));
        }
        Ok(key)
    }

    /// The algorithm.
    pub fn alg(&self) -> SignatureAlg {
        self.alg
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The raw public key (EC point, Ed25519 key, ML-DSA key).
    pub fn raw(&self) -> &[u8] {
        der::parse_spki(&self.spki).map(|s| s.key).unwrap_or(&[])
    }

    /// The key id: lowercase hex SHA-256 of the DER SubjectPublicKeyInfo.
    pub fn kid(&self) -> String {
        crate::spki_kid(&self.spki)
    }

    /// One `PUBLIC KEY` PEM block.
    pub fn to_pem(&self) -> String {
        let mut s = String::new();
        pem::encode_into(&mut s, "PUBLIC KEY", &self.spki);
        s
    }

    /// Parse one `PUBLIC KEY` PEM block.
    pub fn from_pem(text: &str) -> Result<Self, Error> {
        let blocks = pem::decode_all(text, "signing public key")?;
        match blocks.as_slice() {
            [b] if b.label == "PUBLIC KEY" => Self::from_spki_der(&b.der),
            _ => Err(Error::Pem(
                "signing public key: expected exactly one `PUBLIC KEY` block".into(),
            )),
        }
    }

    /// Verify `signature` over `message`.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> Result<(), Error> {
        let ok = match self.alg {
            SignatureAlg::Es384 => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, self.raw())
                    .verify(message, sig)
                    .is_ok()
            }
            SignatureAlg::Ed25519 => {
                signature::UnparsedPublicKey::new(&signature::ED25519, self.raw())
                    .verify(message, sig)
                    .is_ok()
            }
            SignatureAlg::MlDsa87 => signature::UnparsedPublicKey::new(&pq::ML_DSA_87, self.raw())
                .verify(message, sig)
                .is_ok(),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::BadSignature(format!(
                "{} signature does not verify with key {}",
                self.alg,
                self.kid()
            )))
        }
    }
}

/// The two public keys of a party's signer: classical and ML-DSA-87 (`signing.pub`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningPublicKeys {
    /// ES384 or Ed25519.
    pub classical: VerifyingKey,
    /// ML-DSA-87.
    pub ml_dsa: VerifyingKey,
}

impl SigningPublicKeys {
    /// The PEM text of `signing.pub`: classical block, then ML-DSA-87 block.
    pub fn to_pem(&self) -> String {
        let mut s = self.classical.to_pem();
        s.push_str(&self.ml_dsa.to_pem());
        s
    }

    /// Parse `signing.pub`.
    pub fn from_pem(text: &str) -> Result<Self, Error> {
        let blocks = pem::decode_all(text, "signing public key file")?;
        if blocks.len() != 2 || blocks.iter().any(|b| b.label != "PUBLIC KEY") {
            return Err(Error::Pem(
                "signing public key file: expected two `PUBLIC KEY` blocks (classical, then ML-DSA-87)"
                    .into(),
            ));
        }
        let classical = VerifyingKey::from_spki_der(&blocks[0].der)?;
        let ml_dsa = VerifyingKey::from_spki_der(&blocks[1].der)?;
        Self::new(classical, ml_dsa)
    }

    /// Pair two keys, checking their algorithms.
    pub fn new(classical: VerifyingKey, ml_dsa: VerifyingKey) -> Result<Self, Error> {
        if classical.alg == SignatureAlg::MlDsa87 {
            return Err(Error::WrongKeyType(
                "the classical signing key must be ES384 or Ed25519".into(),
            ));
        }
        if ml_dsa.alg != SignatureAlg::MlDsa87 {
            return Err(Error::WrongKeyType(
                "the post-quantum signing key must be ML-DSA-87".into(),
            ));
        }
        Ok(SigningPublicKeys { classical, ml_dsa })
    }

    /// Verify both signatures over `message`: both must hold.
    pub fn verify_both(
        &self,
        message: &[u8],
        classical_sig: &[u8],
        ml_dsa_sig: &[u8],
    ) -> Result<(), Error> {
        self.classical.verify(message, classical_sig)?;
        self.ml_dsa.verify(message, ml_dsa_sig)
    }
}

enum Classical {
    Es384(signature::EcdsaKeyPair),
    Ed25519(signature::Ed25519KeyPair),
    /// ES384 in a PKCS#11 token.
    Token(TokenKey),
}

/// A party's signing key pair (`signing.key`): classical + ML-DSA-87. Never printed.
pub struct SigningKey {
    classical: Classical,
    ml_dsa: pq::PqdsaKeyPair,
    public: SigningPublicKeys,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey({} kid {}, ML-DSA-87 kid {}, <private>)",
            self.public.classical.alg,
            self.public.classical.kid(),
            self.public.ml_dsa.kid()
        )
    }
}

fn crypto(what: &str) -> Error {
    Error::Crypto(what.to_string())
}

fn public_of(classical: &Classical, ml_dsa: &pq::PqdsaKeyPair) -> Result<SigningPublicKeys, Error> {
    let (alg, spki) = match classical {
        Classical::Es384(k) => {
            let d: PublicKeyX509Der = k
                .public_key()
                .as_der()
                .map_err(|_| crypto("encoding an ES384 public key"))?;
            (SignatureAlg::Es384, d.as_ref().to_vec())
        }
        Classical::Ed25519(k) => {
            let d: PublicKeyX509Der = k
                .public_key()
                .as_der()
                .map_err(|_| crypto("encoding an Ed25519 public key"))?;
            (SignatureAlg::Ed25519, d.as_ref().to_vec())
        }
        Classical::Token(k) => (SignatureAlg::Es384, k.spki().to_vec()),
    };
    let d: PublicKeyX509Der = ml_dsa
        .public_key()
        .as_der()
        .map_err(|_| crypto("encoding an ML-DSA-87 public key"))?;
    Ok(SigningPublicKeys {
        classical: VerifyingKey { alg, spki },
        ml_dsa: VerifyingKey {
            alg: SignatureAlg::MlDsa87,
            spki: d.as_ref().to_vec(),
        },
    })
}

impl SigningKey {
    /// Generate a classical key of `alg` and an ML-DSA-87 key.
    pub fn generate(alg: ClassicalAlg) -> Result<Self, Error> {
        let classical = match alg {
            ClassicalAlg::Es384 => Classical::Es384(
                signature::EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING)
                    .map_err(|_| crypto("generating an ES384 key"))?,
            ),
            ClassicalAlg::Ed25519 => Classical::Ed25519(
                signature::Ed25519KeyPair::generate()
                    .map_err(|_| crypto("generating an Ed25519 key"))?,
            ),
        };
        Self::with_new_ml_dsa(classical)
    }

    /// `classical` with a new ML-DSA-87 key beside it.
    fn with_new_ml_dsa(classical: Classical) -> Result<Self, Error> {
        let ml_dsa = pq::PqdsaKeyPair::generate(&pq::ML_DSA_87_SIGNING)
            .map_err(|_| crypto("generating an ML-DSA-87 key"))?;
        let public = public_of(&classical, &ml_dsa)?;
        Ok(SigningKey {
            classical,
            ml_dsa,
            public,
        })
    }

    /// The public keys.
    pub fn public_keys(&self) -> &SigningPublicKeys {
        &self.public
    }

    /// The classical algorithm.
    pub fn classical_alg(&self) -> SignatureAlg {
        self.public.classical.alg
    }

    /// Sign with the classical key (ES384: fixed `r ‖ s`; Ed25519: 64 bytes).
    pub fn sign_classical(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        match &self.classical {
            Classical::Es384(k) => k
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| crypto("ES384 signing failed")),
            Classical::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
            Classical::Token(k) => k.sign_es384(message),
        }
    }

    /// Generate a signing key whose classical half (ES384) is made inside `token`
    /// and never leaves it; the ML-DSA-87 half is made here (no token holds ML-DSA
    /// yet). `label` names the key in the token.
    pub fn generate_in(token: &Arc<Token>, label: &str) -> Result<Self, Error> {
        let classical = Classical::Token(TokenKey::generate_signing(token, label)?);
        Self::with_new_ml_dsa(classical)
    }

    /// The token the classical half lives in, if it lives in one.
    pub fn token(&self) -> Option<&str> {
        match &self.classical {
            Classical::Token(k) => Some(k.token().label()),
            _ => None,
        }
    }

    /// Sign with ML-DSA-87.
    pub fn sign_ml_dsa(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let mut sig = vec![0u8; self.ml_dsa.algorithm().signature_len()];
        let n = self
            .ml_dsa
            .sign(message, &mut sig)
            .map_err(|_| crypto("ML-DSA-87 signing failed"))?;
        sig.truncate(n);
        Ok(sig)
    }

    /// The PEM text of `signing.key` (zeroized when dropped).
    pub fn to_pem(&self) -> Result<Zeroizing<String>, Error> {
        let ml_dsa = self
            .ml_dsa
            .to_pkcs8v1()
            .map_err(|_| crypto("encoding the ML-DSA-87 key"))?;
        let mut out = Zeroizing::new(String::new());
        let classical = match &self.classical {
            Classical::Es384(k) => k.to_pkcs8v1(),
            Classical::Ed25519(k) => k.to_pkcs8v1(),
            Classical::Token(k) => {
                pem::encode_into(&mut out, pkcs11::REFERENCE_LABEL, &k.reference());
                pem::encode_into(&mut out, "PRIVATE KEY", ml_dsa.as_ref());
                return Ok(out);
            }
        }
        .map_err(|_| crypto("encoding the classical signing key"))?;
        pem::encode_into(&mut out, "PRIVATE KEY", classical.as_ref());
        pem::encode_into(&mut out, "PRIVATE KEY", ml_dsa.as_ref());
        Ok(out)
    }

    /// Parse `signing.key`: a classical PKCS#8 block then an ML-DSA-87 PKCS#8 block.
    /// A key whose classical half lives in a token is refused here: see
    /// [`SigningKey::from_pem_in`].
    pub fn from_pem(text: &str) -> Result<Self, Error> {
        Self::from_pem_in(text, None)
    }

    /// Parse `signing.key`, whose classical half may be a reference to a key in
    /// `token` (then found there and proved to be the key the reference names).
    pub fn from_pem_in(text: &str, token: Option<&Arc<Token>>) -> Result<Self, Error> {
        let blocks = pem::decode_all(text, "signing key")?;
        if let [r, m] = blocks.as_slice() {
            if r.label == pkcs11::REFERENCE_LABEL && m.label == "PRIVATE KEY" {
                let key = TokenKey::resolve(&r.der, token, false)?;
                if key.kind() != pkcs11::TokenKeyKind::EcSign {
                    return Err(Error::WrongKeyType(format!(
                        "signing key: the token key is a {} key, not a P-384 signing key",
                        key.kind()
                    )));
                }
                let classical = Classical::Token(key);
                let ml_dsa =
                    pq::PqdsaKeyPair::from_pkcs8(&pq::ML_DSA_87_SIGNING, &m.der).map_err(|_| {
                        Error::WrongKeyType(
                            "signing key: second block is not an ML-DSA-87 key".into(),
                        )
                    })?;
                let public = public_of(&classical, &ml_dsa)?;
                return Ok(SigningKey {
                    classical,
                    ml_dsa,
                    public,
                });
            }
        }
        if blocks.iter().any(|b| b.label == "PUBLIC KEY") {
            return Err(Error::Pem(
                "signing key: this is a public key (signing.pub); give the private signing.key"
                    .into(),
            ));
        }
        if blocks.len() != 2 || blocks.iter().any(|b| b.label != "PRIVATE KEY") {
            return Err(Error::Pem(
                "signing key: expected two `PRIVATE KEY` blocks (classical, then ML-DSA-87); is this a KAS key?"
                    .into(),
            ));
        }
        let classical = if let Ok(k) = signature::EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            &blocks[0].der,
        ) {
            Classical::Es384(k)
        } else if let Ok(k) = signature::Ed25519KeyPair::from_pkcs8(&blocks[0].der) {
            Classical::Ed25519(k)
        } else {
            return Err(Error::WrongKeyType(
                "signing key: first block is not an ES384 (P-384) or Ed25519 key".into(),
            ));
        };
        let ml_dsa =
            pq::PqdsaKeyPair::from_pkcs8(&pq::ML_DSA_87_SIGNING, &blocks[1].der).map_err(|_| {
                Error::WrongKeyType("signing key: second block is not an ML-DSA-87 key".into())
            })?;
        let public = public_of(&classical, &ml_dsa)?;
        Ok(SigningKey {
            classical,
            ml_dsa,
            public,
        })
    }
}
