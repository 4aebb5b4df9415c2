//! KAS key pairs: the keys a key access service unwraps key shares with.
//!
//! | algorithm (`--kas`) | OpenTDF key access type | public key (`kas.pub`) | private key (`kas.key`) |
//! | --- | --- | --- | --- |
//! | `hybrid-p384-mlkem1024` (default) | `hybrid-wrapped` | SPKI, OID 1.3.6.1.5.5.7.6.63, key = ML-KEM-1024 ek ‖ P-384 point | `PRIVATE KEY` (PKCS#8 P-384) then `ML-KEM-1024 PRIVATE KEY` |
//! | `mlkem1024` | `mlkem-wrapped` | SPKI, OID 2.16.840.1.101.3.4.4.3 | `ML-KEM-1024 PRIVATE KEY` |
//! | `ec-p384`, `ec-p256` | `ec-wrapped` | SPKI id-ecPublicKey | `PRIVATE KEY` (PKCS#8) |
//! | `rsa2048` | `wrapped` | SPKI rsaEncryption | `PRIVATE KEY` (PKCS#8) |
//!
//! The public keys are byte-for-byte what the OpenTDF platform serves for the same
//! algorithm, so an OpenTDF client can wrap to an Accord KAS key. The
//! `ML-KEM-1024 PRIVATE KEY` block is Accord's own: the FIPS 203 expanded decapsulation
//! key (3168 bytes) followed by the encapsulation key (1568 bytes), because aws-lc-rs
//! does not yet rebuild a key from the 64-byte seed that OpenTDF's PKCS#8 form holds.
//!
//! Private-key operations ([`KasPrivateKey::ecdh`], [`KasPrivateKey::mlkem_decapsulate`],
//! [`KasPrivateKey::rsa_oaep_decrypt`]) stay in this crate; the key bytes never leave it.
//!
//! A key made by [`KasPrivateKey::generate_in`] keeps its classical half (P-384 or
//! RSA-2048) in a PKCS#11 token ([`crate::pkcs11`]); `kas.key` then holds an
//! `ACCORD PKCS11 KEY` reference in place of that half's `PRIVATE KEY` block.

use crate::der;
use crate::pem;
use crate::pkcs11::{self, Token, TokenKey, TokenKeyKind};
use crate::Error;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::{agreement, kem, rsa};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use zeroize::Zeroizing;

/// PEM label of Accord's ML-KEM-1024 private key block.
pub const MLKEM_PRIVATE_LABEL: &str = "ML-KEM-1024 PRIVATE KEY";
const MLKEM1024_DK_LEN: usize = 3168;
const MLKEM1024_EK_LEN: usize = 1568;
const P384_POINT_LEN: usize = 97;

/// The algorithm of a KAS key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KasAlg {
    /// P-384 ECDH + ML-KEM-1024, combined as draft-ietf-lamps-pq-composite-kem (the default).
    HybridP384MlKem1024,
    /// ML-KEM-1024 alone.
    MlKem1024,
    /// ECDH on P-256.
    EcP256,
    /// ECDH on P-384.
    EcP384,
    /// RSA-2048 with OAEP.
    Rsa2048,
}

impl KasAlg {
    /// Every algorithm, default first.
    pub const ALL: [KasAlg; 5] = [
        KasAlg::HybridP384MlKem1024,
        KasAlg::MlKem1024,
        KasAlg::EcP256,
        KasAlg::EcP384,
        KasAlg::Rsa2048,
    ];

    /// The name used on the command line and in `party.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            KasAlg::HybridP384MlKem1024 => "hybrid-p384-mlkem1024",
            KasAlg::MlKem1024 => "mlkem1024",
            KasAlg::EcP256 => "ec-p256",
            KasAlg::EcP384 => "ec-p384",
            KasAlg::Rsa2048 => "rsa2048",
        }
    }

    /// The OpenTDF key access object `type` for keys of this algorithm.
    pub fn key_access_type(self) -> &'static str {
        match self {
            KasAlg::HybridP384MlKem1024 => "hybrid-wrapped",
            KasAlg::MlKem1024 => "mlkem-wrapped",
            KasAlg::EcP256 | KasAlg::EcP384 => "ec-wrapped",
            KasAlg::Rsa2048 => "wrapped",
        }
    }

    /// Whether the algorithm resists a quantum adversary.
    pub fn is_post_quantum(self) -> bool {
        matches!(self, KasAlg::HybridP384MlKem1024 | KasAlg::MlKem1024)
    }
}

impl fmt::Display for KasAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KasAlg {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        KasAlg::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                Error::UnknownAlgorithm(format!(
                    "KAS algorithm `{s}` (expected one of hybrid-p384-mlkem1024, mlkem1024, ec-p384, ec-p256, rsa2048)"
                ))
            })
    }
}

/// A KAS public key: what senders wrap key shares to.
#[derive(Clone, PartialEq, Eq)]
pub struct KasPublicKey {
    alg: KasAlg,
    spki: Vec<u8>,
}

impl fmt::Debug for KasPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KasPublicKey({}, kid {})", self.alg, self.kid())
    }
}

impl KasPublicKey {
    /// Parse a DER SubjectPublicKeyInfo, recognising the algorithm from its OID.
    pub fn from_spki_der(der_bytes: &[u8]) -> Result<Self, Error> {
        let spki = der::parse_spki(der_bytes)?;
        let alg = match (spki.algorithm, spki.parameter) {
            (der::OID_ML_KEM_1024_P384, None)
                if spki.key.len() == MLKEM1024_EK_LEN + P384_POINT_LEN =>
            {
                KasAlg::HybridP384MlKem1024
            }
            (der::OID_ML_KEM_1024, None) if spki.key.len() == MLKEM1024_EK_LEN => KasAlg::MlKem1024,
            (der::OID_EC_PUBLIC_KEY, Some(der::OID_P384)) => KasAlg::EcP384,
            (der::OID_EC_PUBLIC_KEY, Some(der::OID_P256)) => KasAlg::EcP256,
            (der::OID_RSA, None) => KasAlg::Rsa2048,
            _ => {
                return Err(Error::WrongKeyType(
                    "public key is not a KAS key of a supported algorithm or size".into(),
                ))
            }
        };
        let key = KasPublicKey {
            alg,
            spki: der_bytes.to_vec(),
        };
        key.check()?;
        Ok(key)
    }

    /// Validate the key material with aws-lc-rs (point on curve, ML-KEM key accepted).
    fn check(&self) -> Result<(), Error> {
        let bad = |what: &str| Error::WrongKeyType(format!("{} public key: {what}", self.alg));
        match self.alg {
            KasAlg::HybridP384MlKem1024 => {
                kem::EncapsulationKey::new(&kem::ML_KEM_1024, self.mlkem_public().unwrap_or(&[]))
                    .map_err(|_| bad("ML-KEM-1024 part rejected"))?;
                agreement::ParsedPublicKey::try_from(&agreement::UnparsedPublicKey::new(
                    &agreement::ECDH_P384,
                    self.ec_point().unwrap_or(&[]),
                ))
                .map_err(|_| bad("P-384 point rejected"))?;
            }
            KasAlg::MlKem1024 => {
                kem::EncapsulationKey::new(&kem::ML_KEM_1024, self.mlkem_public().unwrap_or(&[]))
                    .map_err(|_| bad("ML-KEM-1024 key rejected"))?;
            }
            KasAlg::EcP256 | KasAlg::EcP384 => {
                agreement::ParsedPublicKey::try_from(&agreement::UnparsedPublicKey::new(
                    self.ecdh_algorithm().unwrap_or(&agreement::ECDH_P384),
                    self.ec_point().unwrap_or(&[]),
                ))
                .map_err(|_| bad("point rejected"))?;
            }
            KasAlg::Rsa2048 => {
                let k = rsa::PublicEncryptingKey::from_der(&self.spki)
                    .map_err(|_| bad("RSA key rejected"))?;
                if k.key_size_bits() < 2048 {
                    return Err(bad("RSA keys under 2048 bits are refused"));
                }
            }
        }
        Ok(())
    }

    /// Parse a `kas.pub` PEM file (one `PUBLIC KEY` block).
    pub fn from_pem(text: &str) -> Result<Self, Error> {
        let blocks = pem::decode_all(text, "KAS public key")?;
        match blocks.as_slice() {
            [b] if b.label == "PUBLIC KEY" => Self::from_spki_der(&b.der),
            _ => Err(Error::Pem(
                "KAS public key: expected exactly one `PUBLIC KEY` block".into(),
            )),
        }
    }

    /// The PEM text of `kas.pub`.
    pub fn to_pem(&self) -> String {
        let mut s = String::new();
        pem::encode_into(&mut s, "PUBLIC KEY", &self.spki);
        s
    }

    /// The algorithm.
    pub fn alg(&self) -> KasAlg {
        self.alg
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The key id: lowercase hex SHA-256 of the DER SubjectPublicKeyInfo (stable, public).
    pub fn kid(&self) -> String {
        crate::spki_kid(&self.spki)
    }

    fn raw(&self) -> &[u8] {
        der::parse_spki(&self.spki).map(|s| s.key).unwrap_or(&[])
    }

    /// The uncompressed SEC1 EC point (hybrid and EC keys).
    pub fn ec_point(&self) -> Option<&[u8]> {
        match self.alg {
            KasAlg::HybridP384MlKem1024 => self.raw().get(MLKEM1024_EK_LEN..),
            KasAlg::EcP256 | KasAlg::EcP384 => Some(self.raw()),
            _ => None,
        }
    }

    /// The ML-KEM-1024 encapsulation key (hybrid and ML-KEM keys).
    pub fn mlkem_public(&self) -> Option<&[u8]> {
        match self.alg {
            KasAlg::HybridP384MlKem1024 | KasAlg::MlKem1024 => self.raw().get(..MLKEM1024_EK_LEN),
            _ => None,
        }
    }

    /// The aws-lc-rs ECDH algorithm of the EC part.
    pub fn ecdh_algorithm(&self) -> Option<&'static agreement::Algorithm> {
        match self.alg {
            KasAlg::HybridP384MlKem1024 | KasAlg::EcP384 => Some(&agreement::ECDH_P384),
            KasAlg::EcP256 => Some(&agreement::ECDH_P256),
            _ => None,
        }
    }

    /// The RSA public key (RSA keys).
    pub fn rsa_public(&self) -> Option<rsa::PublicEncryptingKey> {
        match self.alg {
            KasAlg::Rsa2048 => rsa::PublicEncryptingKey::from_der(&self.spki).ok(),
            _ => None,
        }
    }
}

enum Inner {
    Hybrid {
        ec: agreement::PrivateKey,
        dk: kem::DecapsulationKey,
    },
    MlKem {
        dk: kem::DecapsulationKey,
    },
    Ec {
        ec: agreement::PrivateKey,
    },
    Rsa {
        key: rsa::PrivateDecryptingKey,
    },
    /// The hybrid with its P-384 half in a token.
    HybridToken {
        ec: TokenKey,
        dk: kem::DecapsulationKey,
    },
    /// A P-384 or RSA-2048 key in a token.
    Token {
        key: TokenKey,
    },
}

/// A KAS private key. Never printed (its `Debug` shows only the algorithm and kid); the
/// aws-lc-rs key objects clear their memory when dropped, and every byte copy made while
/// encoding or decoding is zeroized.
pub struct KasPrivateKey {
    inner: Inner,
    public: KasPublicKey,
}

impl fmt::Debug for KasPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "KasPrivateKey({}, kid {}, <private>)",
            self.public.alg,
            self.public.kid()
        )
    }
}

fn crypto(what: &str) -> Error {
    Error::Crypto(what.to_string())
}

fn ec_spki(ec: &agreement::PrivateKey) -> Result<Vec<u8>, Error> {
    let public = ec
        .compute_public_key()
        .map_err(|_| crypto("computing an EC public key"))?;
    let der: PublicKeyX509Der = public
        .as_der()
        .map_err(|_| crypto("encoding an EC public key"))?;
    Ok(der.as_ref().to_vec())
}

fn ec_point(ec: &agreement::PrivateKey) -> Result<Vec<u8>, Error> {
    let public = ec
        .compute_public_key()
        .map_err(|_| crypto("computing an EC public key"))?;
    Ok(public.as_ref().to_vec())
}

/// What a PKCS#8 `PrivateKeyInfo` holds when its algorithm is one OpenTDF writes with
/// the ML-KEM seed (`lib/ocrypto/mlkem.go` `marshalKEMPrivatePKCS8`): the hybrid
/// (1.3.6.1.5.5.7.6.63) or ML-KEM-1024 alone (2.16.840.1.101.3.4.4.3). `None` for
/// anything else.
fn opentdf_seed_form(pkcs8: &[u8]) -> Option<&'static str> {
    let (info, _) = der::expect(pkcs8, der::SEQUENCE, "PrivateKeyInfo").ok()?;
    let (_, rest) = der::expect(info, 0x02, "version").ok()?;
    let (alg, _) = der::expect(rest, der::SEQUENCE, "algorithm").ok()?;
    let (oid, _) = der::expect(alg, der::OID, "algorithm OID").ok()?;
    match oid {
        o if o == der::OID_ML_KEM_1024_P384 => Some("a hybrid P-384 + ML-KEM-1024 key"),
        o if o == der::OID_ML_KEM_1024 => Some("an ML-KEM-1024 key"),
        _ => None,
    }
}

impl KasPrivateKey {
    /// Generate a fresh key pair.
    pub fn generate(alg: KasAlg) -> Result<Self, Error> {
        let gen_ec = |a: &'static agreement::Algorithm| {
            agreement::PrivateKey::generate(a).map_err(|_| crypto("generating an EC key"))
        };
        let gen_mlkem = || {
            kem::DecapsulationKey::generate(&kem::ML_KEM_1024)
                .map_err(|_| crypto("generating an ML-KEM-1024 key"))
        };
        let inner = match alg {
            KasAlg::HybridP384MlKem1024 => Inner::Hybrid {
                ec: gen_ec(&agreement::ECDH_P384)?,
                dk: gen_mlkem()?,
            },
            KasAlg::MlKem1024 => Inner::MlKem { dk: gen_mlkem()? },
            KasAlg::EcP256 => Inner::Ec {
                ec: gen_ec(&agreement::ECDH_P256)?,
            },
            KasAlg::EcP384 => Inner::Ec {
                ec: gen_ec(&agreement::ECDH_P384)?,
            },
            KasAlg::Rsa2048 => Inner::Rsa {
                key: rsa::PrivateDecryptingKey::generate(rsa::KeySize::Rsa2048)
                    .map_err(|_| crypto("generating an RSA key"))?,
            },
        };
        let spki = match &inner {
            Inner::Hybrid { ec, dk } => {
                let mut raw = mlkem_ek(dk)?;
                raw.extend_from_slice(&ec_point(ec)?);
                der::encode_spki(der::OID_ML_KEM_1024_P384, &raw)
            }
            Inner::MlKem { dk } => der::encode_spki(der::OID_ML_KEM_1024, &mlkem_ek(dk)?),
            Inner::Ec { ec } => ec_spki(ec)?,
            Inner::Rsa { key } => {
                let der: PublicKeyX509Der = key
                    .public_key()
                    .as_der()
                    .map_err(|_| crypto("encoding an RSA public key"))?;
                der.as_ref().to_vec()
            }
            Inner::HybridToken { .. } | Inner::Token { .. } => {
                return Err(crypto("a token key is made by generate_in"))
            }
        };
        let public = KasPublicKey { alg, spki };
        Ok(KasPrivateKey { inner, public })
    }

    /// The matching public key.
    pub fn public_key(&self) -> &KasPublicKey {
        &self.public
    }

    /// The algorithm.
    pub fn alg(&self) -> KasAlg {
        self.public.alg
    }

    /// The PEM text of `kas.key` (zeroized when dropped).
    pub fn to_pem(&self) -> Result<Zeroizing<String>, Error> {
        let mut out = Zeroizing::new(String::new());
        let ec_pkcs8 = |ec: &agreement::PrivateKey| -> Result<Zeroizing<Vec<u8>>, Error> {
            let der: Pkcs8V1Der = ec
                .as_der()
                .map_err(|_| crypto("encoding an EC private key"))?;
            Ok(Zeroizing::new(der.as_ref().to_vec()))
        };
        let mlkem_block = |dk: &kem::DecapsulationKey| -> Result<Zeroizing<Vec<u8>>, Error> {
            let bytes = dk
                .key_bytes()
                .map_err(|_| crypto("encoding an ML-KEM private key"))?;
            let mut raw = Zeroizing::new(bytes.as_ref().to_vec());
            raw.extend_from_slice(self.public.mlkem_public().unwrap_or(&[]));
            Ok(raw)
        };
        match &self.inner {
            Inner::Hybrid { ec, dk } => {
                pem::encode_into(&mut out, "PRIVATE KEY", &ec_pkcs8(ec)?);
                pem::encode_into(&mut out, MLKEM_PRIVATE_LABEL, &mlkem_block(dk)?);
            }
            Inner::MlKem { dk } => {
                pem::encode_into(&mut out, MLKEM_PRIVATE_LABEL, &mlkem_block(dk)?)
            }
            Inner::Ec { ec } => pem::encode_into(&mut out, "PRIVATE KEY", &ec_pkcs8(ec)?),
            Inner::Rsa { key } => {
                let der: Pkcs8V1Der = key
                    .as_der()
                    .map_err(|_| crypto("encoding an RSA private key"))?;
                pem::encode_into(&mut out, "PRIVATE KEY", der.as_ref());
            }
            Inner::HybridToken { ec, dk } => {
                pem::encode_into(&mut out, pkcs11::REFERENCE_LABEL, &ec.reference());
                pem::encode_into(&mut out, MLKEM_PRIVATE_LABEL, &mlkem_block(dk)?);
            }
            Inner::Token { key } => {
                pem::encode_into(&mut out, pkcs11::REFERENCE_LABEL, &key.reference())
            }
        }
        Ok(out)
    }

    /// Generate a key pair of `alg` whose classical half is made inside `token` and
    /// never leaves it: the hybrid's P-384 half, an `ec-p384` key or an `rsa2048` key.
    /// The hybrid's ML-KEM-1024 half is made here (no token holds ML-KEM yet). `label`
    /// names the key in the token.
    pub fn generate_in(alg: KasAlg, token: &Arc<Token>, label: &str) -> Result<Self, Error> {
        let (inner, spki) = match alg {
            KasAlg::HybridP384MlKem1024 => {
                let ec = TokenKey::generate_ecdh(token, label)?;
                let dk = kem::DecapsulationKey::generate(&kem::ML_KEM_1024)
                    .map_err(|_| crypto("generating an ML-KEM-1024 key"))?;
                let mut raw = mlkem_ek(&dk)?;
                raw.extend_from_slice(&ec.ec_point()?);
                let spki = der::encode_spki(der::OID_ML_KEM_1024_P384, &raw);
                (Inner::HybridToken { ec, dk }, spki)
            }
            KasAlg::EcP384 => {
                let key = TokenKey::generate_ecdh(token, label)?;
                let spki = key.spki().to_vec();
                (Inner::Token { key }, spki)
            }
            KasAlg::Rsa2048 => {
                let key = TokenKey::generate_rsa(token, label)?;
                let spki = key.spki().to_vec();
                (Inner::Token { key }, spki)
            }
            other => {
                return Err(Error::WrongKeyType(format!(
                    "a {other} KAS key cannot live in a token: its classical half must be \
                     P-384 or RSA-2048 (ML-KEM stays in software)"
                )))
            }
        };
        Ok(KasPrivateKey {
            inner,
            public: KasPublicKey { alg, spki },
        })
    }

    /// The token the classical half lives in, if it lives in one.
    pub fn token(&self) -> Option<&str> {
        match &self.inner {
            Inner::HybridToken { ec: k, .. } | Inner::Token { key: k } => Some(k.token().label()),
            _ => None,
        }
    }

    /// Parse a `kas.key` PEM file. The algorithm follows from the blocks: a P-384
    /// PKCS#8 key then an ML-KEM block is the hybrid; an ML-KEM block alone is ML-KEM;
    /// a single PKCS#8 key is EC (P-256/P-384) or RSA.
    pub fn from_pem(text: &str) -> Result<Self, Error> {
        Self::from_pem_in(text, None)
    }

    /// Parse a `kas.key` PEM file whose classical half may be a reference to a key in
    /// `token` (then found there and proved to be the key the reference names).
    pub fn from_pem_in(text: &str, token: Option<&Arc<Token>>) -> Result<Self, Error> {
        let blocks = pem::decode_all(text, "KAS private key")?;
        let labels: Vec<&str> = blocks.iter().map(|b| b.label.as_str()).collect();
        match labels.as_slice() {
            [pkcs11::REFERENCE_LABEL, MLKEM_PRIVATE_LABEL] => {
                let ec = TokenKey::resolve(&blocks[0].der, token, true)?;
                if ec.kind() != TokenKeyKind::EcDerive {
                    return Err(Error::WrongKeyType(format!(
                        "KAS private key: the hybrid's token key is a {} key, not P-384 ECDH",
                        ec.kind()
                    )));
                }
                let (dk, ek) = parse_mlkem_block(&blocks[1].der)?;
                let public = hybrid_public(ek, &ec.ec_point()?);
                Ok(KasPrivateKey {
                    inner: Inner::HybridToken { ec, dk },
                    public,
                })
            }
            [pkcs11::REFERENCE_LABEL] => {
                let key = TokenKey::resolve(&blocks[0].der, token, true)?;
                let alg = match key.kind() {
                    TokenKeyKind::EcDerive => KasAlg::EcP384,
                    TokenKeyKind::Rsa => KasAlg::Rsa2048,
                    TokenKeyKind::EcSign => return Err(Error::WrongKeyType(
                        "KAS private key: the token key is a signing key (is this signing.key?)"
                            .into(),
                    )),
                };
                let public = KasPublicKey {
                    alg,
                    spki: key.spki().to_vec(),
                };
                Ok(KasPrivateKey {
                    inner: Inner::Token { key },
                    public,
                })
            }
            ["PRIVATE KEY", MLKEM_PRIVATE_LABEL] => {
                let ec = agreement::PrivateKey::from_private_key_der(
                    &agreement::ECDH_P384,
                    &blocks[0].der,
                )
                .map_err(|_| {
                    Error::WrongKeyType(
                        "KAS private key: the hybrid key's first block is not a P-384 key".into(),
                    )
                })?;
                let (dk, ek) = parse_mlkem_block(&blocks[1].der)?;
                let public = hybrid_public(ek, &ec_point(&ec)?);
                Ok(KasPrivateKey {
                    inner: Inner::Hybrid { ec, dk },
                    public,
                })
            }
            [MLKEM_PRIVATE_LABEL] => {
                let (dk, ek) = parse_mlkem_block(&blocks[0].der)?;
                let public = KasPublicKey {
                    alg: KasAlg::MlKem1024,
                    spki: der::encode_spki(der::OID_ML_KEM_1024, &ek),
                };
                Ok(KasPrivateKey {
                    inner: Inner::MlKem { dk },
                    public,
                })
            }
            ["PRIVATE KEY"] => {
                let der_bytes = &blocks[0].der;
                for (alg, ecdh) in [
                    (KasAlg::EcP384, &agreement::ECDH_P384),
                    (KasAlg::EcP256, &agreement::ECDH_P256),
                ] {
                    if let Ok(ec) = agreement::PrivateKey::from_private_key_der(ecdh, der_bytes) {
                        let public = KasPublicKey {
                            alg,
                            spki: ec_spki(&ec)?,
                        };
                        return Ok(KasPrivateKey {
                            inner: Inner::Ec { ec },
                            public,
                        });
                    }
                }
                if let Ok(key) = rsa::PrivateDecryptingKey::from_pkcs8(der_bytes) {
                    if key.key_size_bits() < 2048 {
                        return Err(Error::WrongKeyType(
                            "KAS private key: RSA keys under 2048 bits are refused".into(),
                        ));
                    }
                    let der: PublicKeyX509Der = key
                        .public_key()
                        .as_der()
                        .map_err(|_| crypto("encoding an RSA public key"))?;
                    let public = KasPublicKey {
                        alg: KasAlg::Rsa2048,
                        spki: der.as_ref().to_vec(),
                    };
                    return Ok(KasPrivateKey {
                        inner: Inner::Rsa { key },
                        public,
                    });
                }
                if let Some(what) = opentdf_seed_form(der_bytes) {
                    return Err(Error::WrongKeyType(format!(
                        "KAS private key: this is OpenTDF's PKCS#8 form of {what}, which holds the 64-byte seed; \
                         Accord cannot read it yet, because aws-lc-rs builds an ML-KEM key only from its \
                         expanded form, not from the seed. Keep this key with the OpenTDF platform, or give \
                         the node a key of its own (`accord keygen --kas hybrid-p384-mlkem1024`)"
                    )));
                }
                Err(Error::WrongKeyType(
                    "KAS private key: not a P-384, P-256 or RSA PKCS#8 key (is this a signing key?)"
                        .into(),
                ))
            }
            _ => Err(Error::WrongKeyType(format!(
                "KAS private key: unexpected PEM blocks {labels:?}"
            ))),
        }
    }

    /// ECDH with a peer's uncompressed SEC1 point (hybrid and EC keys). Returns the
    /// shared secret (the x coordinate), zeroized on drop.
    pub fn ecdh(&self, peer_point: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let ec = match &self.inner {
            Inner::Hybrid { ec, .. } | Inner::Ec { ec } => ec,
            Inner::HybridToken { ec, .. } => return ec.ecdh(peer_point),
            Inner::Token { key } if key.kind() == TokenKeyKind::EcDerive => {
                return key.ecdh(peer_point)
            }
            _ => {
                return Err(Error::WrongKeyType(format!(
                    "{} key cannot do ECDH",
                    self.alg()
                )))
            }
        };
        let peer = agreement::UnparsedPublicKey::new(ec.algorithm(), peer_point);
        agreement::agree(
            ec,
            peer,
            Error::Crypto("ECDH with the peer point failed (invalid point?)".into()),
            |ss| Ok(Zeroizing::new(ss.to_vec())),
        )
    }

    /// ML-KEM-1024 decapsulation (hybrid and ML-KEM keys).
    pub fn mlkem_decapsulate(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let dk = match &self.inner {
            Inner::Hybrid { dk, .. } | Inner::MlKem { dk } | Inner::HybridToken { dk, .. } => dk,
            _ => {
                return Err(Error::WrongKeyType(format!(
                    "{} key cannot decapsulate ML-KEM",
                    self.alg()
                )))
            }
        };
        let ss = dk
            .decapsulate(kem::Ciphertext::from(ciphertext))
            .map_err(|_| Error::Crypto("ML-KEM-1024 decapsulation failed".into()))?;
        Ok(Zeroizing::new(ss.as_ref().to_vec()))
    }

    /// RSA-OAEP decryption (RSA keys) with the given OAEP parameters.
    pub fn rsa_oaep_decrypt(
        &self,
        oaep: &'static rsa::OaepAlgorithm,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let key = match &self.inner {
            Inner::Rsa { key } => key,
            Inner::Token { key } if key.kind() == TokenKeyKind::Rsa => {
                return key.rsa_oaep_decrypt(oaep, ciphertext)
            }
            _ => {
                return Err(Error::WrongKeyType(format!(
                    "{} key cannot do RSA-OAEP",
                    self.alg()
                )))
            }
        };
        // PrivateDecryptingKey is not Clone; re-parse from PKCS#8 to build the OAEP key.
        let der: Pkcs8V1Der = key
            .as_der()
            .map_err(|_| crypto("encoding an RSA private key"))?;
        let der = Zeroizing::new(der.as_ref().to_vec());
        let key = rsa::PrivateDecryptingKey::from_pkcs8(&der)
            .map_err(|_| crypto("reloading an RSA private key"))?;
        let oaep_key =
            rsa::OaepPrivateDecryptingKey::new(key).map_err(|_| crypto("preparing RSA-OAEP"))?;
        let mut out = Zeroizing::new(vec![0u8; oaep_key.min_output_size()]);
        let n = oaep_key
            .decrypt(oaep, ciphertext, &mut out, None)
            .map_err(|_| Error::Crypto("RSA-OAEP decryption failed".into()))?
            .len();
        out.truncate(n);
        Ok(out)
    }
}

/// The hybrid's public key: the ML-KEM-1024 encapsulation key then the P-384 point,
/// under OpenTDF's OID.
fn hybrid_public(mut ek: Vec<u8>, point: &[u8]) -> KasPublicKey {
    ek.extend_from_slice(point);
    KasPublicKey {
        alg: KasAlg::HybridP384MlKem1024,
        spki: der::encode_spki(der::OID_ML_KEM_1024_P384, &ek),
    }
}

fn mlkem_ek(dk: &kem::DecapsulationKey) -> Result<Vec<u8>, Error> {
    let ek = dk
        .encapsulation_key()
        .map_err(|_| crypto("deriving the ML-KEM encapsulation key"))?;
    let bytes = ek
        .key_bytes()
        .map_err(|_| crypto("encoding the ML-KEM encapsulation key"))?;
    Ok(bytes.as_ref().to_vec())
}

fn parse_mlkem_block(raw: &[u8]) -> Result<(kem::DecapsulationKey, Vec<u8>), Error> {
    if raw.len() != MLKEM1024_DK_LEN + MLKEM1024_EK_LEN {
        return Err(Error::WrongKeyType(format!(
            "KAS private key: `{MLKEM_PRIVATE_LABEL}` block is {} bytes, expected {}",
            raw.len(),
            MLKEM1024_DK_LEN + MLKEM1024_EK_LEN
        )));
    }
    let dk = kem::DecapsulationKey::new(&kem::ML_KEM_1024, &raw[..MLKEM1024_DK_LEN])
        .map_err(|_| Error::WrongKeyType("KAS private key: ML-KEM-1024 key rejected".into()))?;
    let ek = raw[MLKEM1024_DK_LEN..].to_vec();
    kem::EncapsulationKey::new(&kem::ML_KEM_1024, &ek).map_err(|_| {
        Error::WrongKeyType("KAS private key: ML-KEM-1024 public part rejected".into())
    })?;
    Ok((dk, ek))
}
