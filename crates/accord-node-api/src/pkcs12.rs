//! A person's credential as a PKCS#12 file (RFC 7292), the form browsers import a
//! client certificate in: Firefox everywhere and Chromium on Linux through NSS, and
//! OpenSSL's `openssl pkcs12`.
//!
//! The file is laid out as OpenSSL 3 writes one by default (`openssl pkcs12 -export`),
//! the layout readers meet most, with more iterations:
//!
//! * The `AuthenticatedSafe` holds two contents. First an `EncryptedData` (PBES2) whose
//!   `SafeContents` are the certificate bags: the person's certificate, then the chain
//!   (the node CA). Then a plain `Data` whose `SafeContents` is one
//!   `pkcs8ShroudedKeyBag`: the private key as a PKCS#8 `EncryptedPrivateKeyInfo`
//!   (PBES2).
//! * The certificates are encrypted too, not left as plain data: they are not secret to
//!   the node, but the file travels (mail, a USB stick), and the person's certificate
//!   names the person and their party. Encrypted, the file tells nothing without the
//!   passphrase. It costs one more key derivation on import.
//! * PBES2 is PBKDF2-HMAC-SHA256 ([`PBKDF2_ITERATIONS`], a random 16-byte salt) and
//!   AES-256-CBC (a random IV), each content with its own salt and IV. The passphrase
//!   goes into PBKDF2 as its UTF-8 bytes, as OpenSSL 3 writes and reads it (RFC 8018
//!   takes the password as an octet string; RFC 7292's BMPString rule is for its own
//!   PKCS#12 key derivation, below). NSS reads either form; OpenSSL only this one.
//! * The person's certificate bag and the key bag carry `friendlyName` (BMPString, the
//!   nickname NSS and Firefox show) and `localKeyId`, the SHA-1 of the certificate's
//!   DER, as OpenSSL and NSS's own `pk12util` write it: the reader pairs the key with
//!   the certificate by that attribute, and NSS refuses a key bag without one. (SHA-1
//!   is an identifier here, not a security function.)
//! * The integrity MAC is HMAC-SHA-256 over the `AuthenticatedSafe`, its key derived by
//!   the PKCS#12 KDF of RFC 7292 appendix B.2 with SHA-256 (ID 3) from the passphrase as
//!   a BMPString (UTF-16 big-endian) with a trailing NUL, a random 16-byte salt and
//!   [`MAC_ITERATIONS`].
//!
//! All the cryptography is aws-lc-rs's (PBKDF2, AES-256-CBC, SHA-256, HMAC, the random
//! salts and IVs); the ASN.1 structures are the RustCrypto `pkcs12`, `cms`, `x509-cert`
//! and `pkcs5` types, DER-encoded by `der`.

use crate::Error;
use ::pkcs12::cert_type::CertBag;
use ::pkcs12::digest_info::DigestInfo;
use ::pkcs12::mac_data::MacData;
use ::pkcs12::pfx::{Pfx, Version};
use ::pkcs12::safe_bag::SafeBag;
use aws_lc_rs::cipher::{EncryptionContext, PaddedBlockEncryptingKey, UnboundCipherKey, AES_256};
use aws_lc_rs::rand::SecureRandom;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::encrypted_data::EncryptedData;
use cms::enveloped_data::EncryptedContentInfo;
use pkcs8::der::asn1::{BmpString, ObjectIdentifier, OctetString, SetOfVec};
use pkcs8::der::{Any, Decode, Encode};
use pkcs8::pkcs5::{pbes2, EncryptionScheme};
use pkcs8::spki::AlgorithmIdentifierOwned;
use std::num::NonZeroU32;
use x509_cert::attr::Attribute;
use zeroize::Zeroizing;

/// PBKDF2-HMAC-SHA256 iterations for the key and the certificates: OWASP's figure for
/// PBKDF2-HMAC-SHA256 (600,000, since 2023), where OpenSSL 3 writes 2,048 by default.
/// The file is made once and imported once, so the cost falls on whoever guesses at
/// the passphrase of a copied file: 600,000 HMAC-SHA256 a guess. (Here, writing a file
/// takes about 0.7 s and `openssl pkcs12` reads one in about 0.8 s, all three
/// derivations included.)
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// PKCS#12 KDF iterations for the MAC key: as many as [`PBKDF2_ITERATIONS`], not
/// OpenSSL's 2,048. The MAC is checked with the passphrase alone, so a guesser tests
/// guesses against whichever derivation is cheapest: with OpenSSL's count the MAC would
/// be some 600 times cheaper than PBKDF2 and the PBKDF2 count would buy nothing. (One
/// iteration here is one SHA-256 compression, half an iteration of PBKDF2-HMAC-SHA256,
/// so the MAC stays within a factor of two.)
pub const MAC_ITERATIONS: u32 = 600_000;

/// Salt length for PBKDF2 and for the MAC (16 bytes, as NIST SP 800-132 asks; OpenSSL
/// writes 8 for the MAC).
const SALT_LEN: usize = 16;

/// The longest passphrase accepted, in bytes.
pub const MAX_PASSPHRASE: usize = 1024;

const PBKDF2_ROUNDS: NonZeroU32 = match NonZeroU32::new(PBKDF2_ITERATIONS) {
    Some(n) => n,
    None => panic!("PBKDF2_ITERATIONS is 0"),
};

/// `id-data` (RFC 5652).
const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
/// `id-encryptedData` (RFC 5652).
const ID_ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
/// `id-sha256` (RFC 5754): the MAC's digest (HMAC-SHA-256).
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// PKCS#9 `friendlyName`.
const FRIENDLY_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.20");
/// PKCS#9 `localKeyId`.
const LOCAL_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");
/// `id-ecPublicKey` and the two curves the node may issue on.
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

fn encoding(e: pkcs8::der::Error) -> Error {
    Error::Crypto(format!("encoding the PKCS#12 file: {e}"))
}

/// A PKCS#12 file holding `cert_der` (X.509 DER) and its private key `key_pkcs8_der`
/// (PKCS#8 DER, ECDSA P-384 or P-256), with the certificates of `chain` (the issuing CA,
/// DER) after it, all protected by `passphrase`; `friendly_name` is the name browsers
/// show for the certificate. See the module documentation for the layout and the
/// encryption.
///
/// The key must be the certificate's (checked), the chain's certificates must parse,
/// `friendly_name` must be in Unicode's Basic Multilingual Plane (a BMPString), and the
/// passphrase must not be empty (at most [`MAX_PASSPHRASE`] bytes).
pub fn write(
    cert_der: &[u8],
    key_pkcs8_der: &[u8],
    chain: &[Vec<u8>],
    friendly_name: &str,
    passphrase: &str,
) -> Result<Vec<u8>, Error> {
    if passphrase.is_empty() {
        return Err(Error::Input(
            "an empty passphrase protects nothing: a PKCS#12 file needs one".into(),
        ));
    }
    if passphrase.len() > MAX_PASSPHRASE {
        return Err(Error::Input(format!(
            "the passphrase is longer than {MAX_PASSPHRASE} bytes"
        )));
    }
    let name = BmpString::from_utf8(friendly_name).map_err(|_| {
        Error::Input(format!(
            "the name `{friendly_name}` has a character a PKCS#12 friendlyName (a BMPString) cannot hold"
        ))
    })?;
    check_pair(cert_der, key_pkcs8_der)?;
    for (i, c) in chain.iter().enumerate() {
        x509_cert::Certificate::from_der(c)
            .map_err(|e| Error::Credential(format!("chain certificate {}: {e}", i + 1)))?;
    }

    let local_key_id =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, cert_der);
    let attributes = bag_attributes(&name, local_key_id.as_ref())?;

    // The certificates, encrypted.
    let mut cert_bags = vec![cert_bag(cert_der, Some(attributes.clone()))?];
    for c in chain {
        cert_bags.push(cert_bag(c, None)?);
    }
    let (alg, encrypted) = pbes2_encrypt(&cert_bags.to_der().map_err(encoding)?, passphrase)?;
    let certificates = EncryptedData {
        version: CmsVersion::V0,
        enc_content_info: EncryptedContentInfo {
            content_type: ID_DATA,
            content_enc_alg: AlgorithmIdentifierOwned::from_der(&alg).map_err(encoding)?,
            encrypted_content: Some(OctetString::new(encrypted).map_err(encoding)?),
        },
        unprotected_attrs: None,
    };

    // The key, in a shrouded key bag.
    let (alg, encrypted) = pbes2_encrypt(key_pkcs8_der, passphrase)?;
    let shrouded = pkcs8::EncryptedPrivateKeyInfo {
        encryption_algorithm: EncryptionScheme::from_der(&alg).map_err(encoding)?,
        encrypted_data: &encrypted,
    };
    let key_bag = SafeBag {
        bag_id: ::pkcs12::PKCS_12_PKCS8_KEY_BAG_OID,
        bag_value: shrouded.to_der().map_err(encoding)?,
        bag_attributes: Some(attributes),
    };

    let auth_safe = vec![
        ContentInfo {
            content_type: ID_ENCRYPTED_DATA,
            content: Any::encode_from(&certificates).map_err(encoding)?,
        },
        data(vec![key_bag].to_der().map_err(encoding)?)?,
    ]
    .to_der()
    .map_err(encoding)?;

    let mac_salt = random::<SALT_LEN>()?;
    let mac_key = mac_key(passphrase, &mac_salt, MAC_ITERATIONS);
    let mac = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &mac_key[..]),
        &auth_safe,
    );
    let pfx = Pfx {
        version: Version::V3,
        auth_safe: data(auth_safe)?,
        mac_data: Some(MacData {
            mac: DigestInfo {
                algorithm: AlgorithmIdentifierOwned {
                    oid: ID_SHA256,
                    parameters: Some(Any::null()),
                },
                digest: OctetString::new(mac.as_ref()).map_err(encoding)?,
            },
            mac_salt: OctetString::new(mac_salt.as_slice()).map_err(encoding)?,
            iterations: i32::try_from(MAC_ITERATIONS)
                .map_err(|_| Error::Crypto("MAC iterations do not fit an INTEGER".into()))?,
        }),
    };
    pfx.to_der().map_err(encoding)
}

/// A `ContentInfo` of type `data` holding `content`.
fn data(content: Vec<u8>) -> Result<ContentInfo, Error> {
    Ok(ContentInfo {
        content_type: ID_DATA,
        content: Any::encode_from(&OctetString::new(content).map_err(encoding)?)
            .map_err(encoding)?,
    })
}

/// A certificate bag for `der` (an X.509 certificate).
fn cert_bag(der: &[u8], attributes: Option<SetOfVec<Attribute>>) -> Result<SafeBag, Error> {
    let bag = CertBag {
        cert_id: ::pkcs12::PKCS_12_X509_CERT_OID,
        cert_value: OctetString::new(der).map_err(encoding)?,
    };
    Ok(SafeBag {
        bag_id: ::pkcs12::PKCS_12_CERT_BAG_OID,
        bag_value: bag.to_der().map_err(encoding)?,
        bag_attributes: attributes,
    })
}

/// `friendlyName` and `localKeyId`.
fn bag_attributes(name: &BmpString, local_key_id: &[u8]) -> Result<SetOfVec<Attribute>, Error> {
    let attribute = |oid, value: Any| -> Result<Attribute, Error> {
        Ok(Attribute {
            oid,
            values: SetOfVec::try_from(vec![value]).map_err(encoding)?,
        })
    };
    let name = Any::encode_from(name).map_err(encoding)?;
    let key_id =
        Any::encode_from(&OctetString::new(local_key_id).map_err(encoding)?).map_err(encoding)?;
    SetOfVec::try_from(vec![
        attribute(FRIENDLY_NAME, name)?,
        attribute(LOCAL_KEY_ID, key_id)?,
    ])
    .map_err(encoding)
}

/// That `key` (PKCS#8) is the private key of `cert`'s public key.
fn check_pair(cert: &[u8], key: &[u8]) -> Result<(), Error> {
    use aws_lc_rs::signature::{
        EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING,
    };
    let cert = x509_cert::Certificate::from_der(cert)
        .map_err(|e| Error::Credential(format!("the certificate: {e}")))?;
    let info = pkcs8::PrivateKeyInfo::try_from(key)
        .map_err(|e| Error::Credential(format!("the private key (PKCS#8): {e}")))?;
    let curve = match info.algorithm.oid {
        EC_PUBLIC_KEY => info.algorithm.parameters_oid().ok(),
        _ => None,
    };
    let alg = match curve {
        Some(SECP384R1) => &ECDSA_P384_SHA384_ASN1_SIGNING,
        Some(SECP256R1) => &ECDSA_P256_SHA256_ASN1_SIGNING,
        _ => {
            return Err(Error::Credential(format!(
                "the private key is not an ECDSA P-384 or P-256 key (algorithm {})",
                info.algorithm.oid
            )))
        }
    };
    let pair = EcdsaKeyPair::from_pkcs8(alg, key)
        .map_err(|e| Error::Credential(format!("the private key does not load: {e}")))?;
    let spki = &cert.tbs_certificate.subject_public_key_info;
    if spki.subject_public_key.as_bytes() != Some(pair.public_key().as_ref()) {
        return Err(Error::Credential(
            "the private key is not the certificate's (their public keys differ)".into(),
        ));
    }
    Ok(())
}

fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut b = [0u8; N];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| Error::Crypto("no randomness for a PKCS#12 salt or IV".into()))?;
    Ok(b)
}

/// `plain` encrypted under `passphrase` with PBES2 (PBKDF2-HMAC-SHA256 with
/// [`PBKDF2_ITERATIONS`] and a fresh salt, AES-256-CBC with a fresh IV): the DER of the
/// `AlgorithmIdentifier` and the ciphertext.
fn pbes2_encrypt(plain: &[u8], passphrase: &str) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let salt = random::<SALT_LEN>()?;
    let iv = random::<16>()?;
    let mut key = Zeroizing::new([0u8; 32]);
    aws_lc_rs::pbkdf2::derive(
        aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
        PBKDF2_ROUNDS,
        &salt,
        passphrase.as_bytes(),
        &mut key[..],
    );
    let cipher = UnboundCipherKey::new(&AES_256, &key[..])
        .and_then(PaddedBlockEncryptingKey::cbc_pkcs7)
        .map_err(|e| Error::Crypto(format!("AES-256-CBC key: {e}")))?;
    // Room for the padding, so that the plaintext is never copied by a reallocation.
    let mut buf = Zeroizing::new(Vec::with_capacity(plain.len() + 16));
    buf.extend_from_slice(plain);
    cipher
        .less_safe_encrypt(&mut *buf, EncryptionContext::Iv128(iv.into()))
        .map_err(|e| Error::Crypto(format!("AES-256-CBC: {e}")))?;
    let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, &iv)
        .map_err(|e| Error::Crypto(format!("PBES2 parameters: {e}")))?;
    let alg = EncryptionScheme::Pbes2(params).to_der().map_err(encoding)?;
    Ok((alg, buf.to_vec()))
}

/// The MAC key: RFC 7292 appendix B.2 with SHA-256 (u = 32, v = 64 bytes), ID 3, the
/// passphrase as a BMPString with a trailing NUL (UTF-16 big-endian; a character
/// beyond the BMP as its surrogate pair, as OpenSSL and NSS convert it), for a 32-byte
/// key (one block of output, so one round of step 6).
fn mac_key(passphrase: &str, salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
    const V: usize = 64;
    let mut pass = Zeroizing::new(Vec::with_capacity(2 * passphrase.len() + 2));
    for unit in passphrase.encode_utf16() {
        pass.extend_from_slice(&unit.to_be_bytes());
    }
    pass.extend_from_slice(&[0, 0]);
    // D || S || P, S and P each repeated to a whole number of v-byte blocks.
    let s_len = V * salt.len().div_ceil(V);
    let p_len = V * pass.len().div_ceil(V);
    let mut input = Zeroizing::new(Vec::with_capacity(V + s_len + p_len));
    input.extend_from_slice(&[3u8; V]);
    input.extend(salt.iter().cycle().take(s_len));
    input.extend(pass.iter().cycle().take(p_len));
    let mut a = Zeroizing::new([0u8; 32]);
    a.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &input).as_ref());
    for _ in 1..iterations {
        let next = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &a[..]);
        a.copy_from_slice(next.as_ref());
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Vec<u8>, Zeroizing<Vec<u8>>, String) {
        let n = crate::pki::make_node_certificates("PAK", &["127.0.0.1".into()]).unwrap();
        let p = crate::pki::issue_person("PAK", &n.ca_key.0, "pak-officer", 30).unwrap();
        let key = crate::pki::pem_blocks(&p.key.0, "PRIVATE KEY")
            .unwrap()
            .remove(0);
        (p.der, key, n.ca_cert)
    }

    /// The MAC key derivation against OpenSSL's PKCS12KDF (`openssl kdf`), ASCII and
    /// not, and a passphrase longer than one block. OpenSSL's KDF takes the password
    /// already as a BMPString with its NUL (the conversion is checked by
    /// `openssl pkcs12` reading whole files, in tests/pkcs12.rs).
    #[test]
    fn the_mac_key_is_openssls_pkcs12kdf() {
        let salt = [0x5au8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
        for (pass, iter) in [
            ("correct horse", 1u32),
            ("correct horse", 2048),
            ("pässwörd €𝄞", 1000),
            (&"x".repeat(100) as &str, 3),
        ] {
            let out = std::process::Command::new("openssl")
                .args(["kdf", "-keylen", "32", "-kdfopt", "digest:SHA256"])
                .arg("-kdfopt")
                .arg(format!(
                    "hexpass:{}0000",
                    pass.encode_utf16()
                        .map(|u| format!("{u:04x}"))
                        .collect::<String>()
                ))
                .arg("-kdfopt")
                .arg(format!("hexsalt:{}", hex::encode(salt)))
                .arg("-kdfopt")
                .arg(format!("iter:{iter}"))
                .args(["-kdfopt", "id:3", "PKCS12KDF"])
                .output()
                .expect("openssl is needed for this test (Debian's openssl package)");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let theirs = String::from_utf8(out.stdout)
                .unwrap()
                .trim()
                .replace(':', "")
                .to_lowercase();
            assert_eq!(hex::encode(*mac_key(pass, &salt, iter)), theirs, "{pass}");
        }
    }

    /// The shrouded key decrypts, with RustCrypto's independent PBES2, to the key given.
    #[test]
    fn the_key_bag_decrypts_to_the_key_with_an_independent_pbes2() {
        let (cert, key, _) = pair();
        let (alg, ct) = pbes2_encrypt(&key, "correct horse").unwrap();
        let scheme = EncryptionScheme::from_der(&alg).unwrap();
        let EncryptionScheme::Pbes2(params) = &scheme else {
            panic!("not PBES2")
        };
        assert_eq!(
            params.kdf.pbkdf2().unwrap().iteration_count,
            PBKDF2_ITERATIONS
        );
        let info = pkcs8::EncryptedPrivateKeyInfo {
            encryption_algorithm: scheme,
            encrypted_data: &ct,
        };
        assert_eq!(info.decrypt("correct horse").unwrap().as_bytes(), &key[..]);
        assert!(check_pair(&cert, &key).is_ok());
    }

    #[test]
    fn what_cannot_be_written_is_refused_saying_why() {
        let (cert, key, ca) = pair();
        let (other, other_key, _) = pair();
        let ca = crate::pki::certs_from_pem(&ca).unwrap();
        let e = write(&cert, &key, &ca, "n", "").unwrap_err().to_string();
        assert!(e.contains("empty passphrase"), "{e}");
        let e = write(&cert, &other_key, &ca, "n", "pw")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not the certificate's"), "{e}");
        let e = write(&other, &key, &ca, "n", "pw").unwrap_err().to_string();
        assert!(e.contains("not the certificate's"), "{e}");
        let e = write(&cert, &key, &[vec![0x30, 0]], "n", "pw")
            .unwrap_err()
            .to_string();
        assert!(e.contains("chain certificate 1"), "{e}");
        let e = write(&cert, &key, &ca, "clef \u{1F511}", "pw")
            .unwrap_err()
            .to_string();
        assert!(e.contains("BMPString"), "{e}");
        let e = write(&cert[..50], &key, &ca, "n", "pw")
            .unwrap_err()
            .to_string();
        assert!(e.contains("the certificate"), "{e}");
        let e = write(&cert, &key[..40], &ca, "n", "pw")
            .unwrap_err()
            .to_string();
        assert!(e.contains("private key"), "{e}");
        let e = write(&cert, &key, &ca, "n", &"p".repeat(MAX_PASSPHRASE + 1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("longer than"), "{e}");
    }

    /// The file parses back with the `pkcs12` types: the layout the module describes.
    #[test]
    fn the_file_has_the_layout_described() {
        let (cert, key, ca) = pair();
        let ca = crate::pki::certs_from_pem(&ca).unwrap();
        let p12 = write(&cert, &key, &ca, "pak-officer", "pw").unwrap();
        let pfx = Pfx::from_der(&p12).unwrap();
        assert_eq!(pfx.auth_safe.content_type, ID_DATA);
        let mac = pfx.mac_data.unwrap();
        assert_eq!(mac.mac.algorithm.oid, ID_SHA256);
        assert_eq!(mac.iterations, MAC_ITERATIONS as i32);
        assert_eq!(mac.mac_salt.as_bytes().len(), SALT_LEN);
        let auth_safe = OctetString::from_der(&pfx.auth_safe.content.to_der().unwrap()).unwrap();
        // The MAC is HMAC-SHA-256 over the AuthenticatedSafe with the KDF's key.
        let key_for_mac = mac_key("pw", mac.mac_salt.as_bytes(), MAC_ITERATIONS);
        aws_lc_rs::hmac::verify(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key_for_mac[..]),
            auth_safe.as_bytes(),
            mac.mac.digest.as_bytes(),
        )
        .unwrap();
        let contents = Vec::<ContentInfo>::from_der(auth_safe.as_bytes()).unwrap();
        assert_eq!(contents.len(), 2);
        assert_eq!(contents[0].content_type, ID_ENCRYPTED_DATA);
        assert_eq!(contents[1].content_type, ID_DATA);
        let ed = EncryptedData::from_der(&contents[0].content.to_der().unwrap()).unwrap();
        assert_eq!(ed.enc_content_info.content_enc_alg.oid, pbes2::PBES2_OID);
        let bags = OctetString::from_der(&contents[1].content.to_der().unwrap()).unwrap();
        let bags = Vec::<SafeBag>::from_der(bags.as_bytes()).unwrap();
        assert_eq!(bags.len(), 1);
        assert_eq!(bags[0].bag_id, ::pkcs12::PKCS_12_PKCS8_KEY_BAG_OID);
        // pkcs12 0.1's SafeBag decoder keeps bagValue's [0] EXPLICIT wrapper (its
        // encoder takes the value without it).
        let wrapped = pkcs8::der::AnyRef::from_der(&bags[0].bag_value).unwrap();
        assert_eq!(pkcs8::der::Tagged::tag(&wrapped).octet(), 0xa0);
        let shrouded = pkcs8::EncryptedPrivateKeyInfo::try_from(wrapped.value()).unwrap();
        assert_eq!(shrouded.decrypt("pw").unwrap().as_bytes(), &key[..]);
        let attributes = bags[0].bag_attributes.as_ref().unwrap();
        let key_id = attributes.iter().find(|a| a.oid == LOCAL_KEY_ID).unwrap();
        let key_id =
            OctetString::from_der(&key_id.values.get(0).unwrap().to_der().unwrap()).unwrap();
        assert_eq!(
            key_id.as_bytes(),
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &cert).as_ref()
        );
        let name = attributes.iter().find(|a| a.oid == FRIENDLY_NAME).unwrap();
        let name = BmpString::from_der(&name.values.get(0).unwrap().to_der().unwrap()).unwrap();
        assert_eq!(name.to_string(), "pak-officer");
    }
}
