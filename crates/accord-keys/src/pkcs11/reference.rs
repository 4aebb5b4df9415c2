//! The reference a key file holds in place of a private key that lives in a token
//! (`SEQUENCE { UTF8String token, OCTET STRING id, SubjectPublicKeyInfo }`), and the
//! public-key encodings a token's attributes are turned into.

use crate::{der, Error};

/// The DER of the P-384 curve's OID, as `CKA_EC_PARAMS` wants it.
pub(super) fn p384_params() -> Vec<u8> {
    let mut out = Vec::new();
    der::push_tlv(&mut out, der::OID, der::OID_P384);
    out
}

/// A P-384 public key's SubjectPublicKeyInfo from its uncompressed point.
pub fn p384_spki(point: &[u8]) -> Vec<u8> {
    let mut alg = Vec::new();
    der::push_tlv(&mut alg, der::OID, der::OID_EC_PUBLIC_KEY);
    der::push_tlv(&mut alg, der::OID, der::OID_P384);
    spki(&alg, point)
}

/// A SubjectPublicKeyInfo: the AlgorithmIdentifier's contents `alg`, and the key.
fn spki(alg: &[u8], key: &[u8]) -> Vec<u8> {
    let mut bits = vec![0u8];
    bits.extend_from_slice(key);
    let mut body = Vec::new();
    der::push_tlv(&mut body, der::SEQUENCE, alg);
    der::push_tlv(&mut body, der::BIT_STRING, &bits);
    let mut out = Vec::new();
    der::push_tlv(&mut out, der::SEQUENCE, &body);
    out
}

/// A DER INTEGER's contents for an unsigned big-endian number.
fn der_uint(out: &mut Vec<u8>, n: &[u8]) {
    let n = match n.iter().position(|b| *b != 0) {
        Some(i) => &n[i..],
        None => &[0u8][..],
    };
    let mut v = Vec::with_capacity(n.len() + 1);
    if n[0] & 0x80 != 0 {
        v.push(0);
    }
    v.extend_from_slice(n);
    der::push_tlv(out, 0x02, &v);
}

/// An RSA public key's SubjectPublicKeyInfo from its modulus and exponent.
pub(super) fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    let mut ints = Vec::new();
    der_uint(&mut ints, modulus);
    der_uint(&mut ints, exponent);
    let mut key = Vec::new();
    der::push_tlv(&mut key, der::SEQUENCE, &ints);
    let mut alg = Vec::new();
    der::push_tlv(&mut alg, der::OID, der::OID_RSA);
    der::push_tlv(&mut alg, der::NULL, &[]);
    spki(&alg, &key)
}

/// A parsed key reference.
pub(super) struct Reference<'a> {
    pub(super) token: String,
    pub(super) id: &'a [u8],
    pub(super) spki: &'a [u8],
}

impl<'a> Reference<'a> {
    pub(super) fn parse(der_bytes: &'a [u8]) -> Result<Reference<'a>, Error> {
        let body = der::read_only(der_bytes, der::SEQUENCE, "token key reference")?;
        let (label, rest) = der::expect(body, 0x0c, "token key reference: token label")?;
        let (id, spki) = der::expect(rest, der::OCTET_STRING, "token key reference: key id")?;
        let token = std::str::from_utf8(label)
            .map_err(|_| Error::Der("token key reference: the token label is not UTF-8".into()))?
            .to_string();
        if id.is_empty() || id.len() > 64 {
            return Err(Error::Der(
                "token key reference: the key id must be 1 to 64 bytes".into(),
            ));
        }
        der::read_only(spki, der::SEQUENCE, "token key reference: public key")?;
        der::parse_spki(spki)?;
        Ok(Reference { token, id, spki })
    }
}

/// The token label a reference names, without a token (for `node info` and errors).
pub fn reference_token(der_bytes: &[u8]) -> Result<String, Error> {
    Ok(Reference::parse(der_bytes)?.token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkcs11::TokenKey;
    use aws_lc_rs::rsa;

    #[test]
    fn references_round_trip_and_bad_ones_are_named() {
        let spki = p384_spki(&[4u8; 97]);
        let mut body = Vec::new();
        der::push_tlv(&mut body, 0x0c, b"accord-pak");
        der::push_tlv(&mut body, der::OCTET_STRING, &[1, 2, 3]);
        body.extend_from_slice(&spki);
        let mut r = Vec::new();
        der::push_tlv(&mut r, der::SEQUENCE, &body);
        let p = Reference::parse(&r).unwrap();
        assert_eq!(
            (p.token.as_str(), p.id, p.spki),
            ("accord-pak", &[1u8, 2, 3][..], &spki[..])
        );
        assert_eq!(reference_token(&r).unwrap(), "accord-pak");
        let e = Reference::parse(&r[..r.len() - 1])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("token key reference"), "{e}");
        let e = TokenKey::resolve(&r, None, false).unwrap_err().to_string();
        assert!(e.contains("accord-pak") && e.contains("[pkcs11]"), "{e}");
    }

    #[test]
    fn spki_encodings_are_read_back() {
        let spki = p384_spki(&[4u8; 97]);
        let p = der::parse_spki(&spki).unwrap();
        assert_eq!(p.key.len(), 97);
        let k = rsa::PrivateDecryptingKey::generate(rsa::KeySize::Rsa2048).unwrap();
        let spki: aws_lc_rs::encoding::PublicKeyX509Der = {
            use aws_lc_rs::encoding::AsDer;
            k.public_key().as_der().unwrap()
        };
        let parsed = der::parse_spki(spki.as_ref()).unwrap();
        // The RSAPublicKey inside: SEQUENCE { n, e }.
        let body = der::read_only(parsed.key, der::SEQUENCE, "k").unwrap();
        let (n, rest) = der::expect(body, 0x02, "n").unwrap();
        let (e, _) = der::expect(rest, 0x02, "e").unwrap();
        assert_eq!(rsa_spki(n, e), spki.as_ref());
    }
}
