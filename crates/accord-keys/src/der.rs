//! The few DER shapes Accord writes and reads itself: SubjectPublicKeyInfo with a
//! parameterless algorithm (ML-KEM, composite ML-KEM + ECDH), and plain TLV walking.
//!
//! aws-lc-rs encodes and parses the classical keys (EC, RSA, Ed25519, ML-DSA) itself;
//! this module only covers what it does not, and it is strict: definite lengths only,
//! lengths bounded by the input, no trailing bytes.

use crate::Error;

/// DER tag numbers used here.
pub const SEQUENCE: u8 = 0x30;
/// OBJECT IDENTIFIER.
pub const OID: u8 = 0x06;
/// BIT STRING.
pub const BIT_STRING: u8 = 0x03;
/// OCTET STRING.
pub const OCTET_STRING: u8 = 0x04;
/// NULL.
pub const NULL: u8 = 0x05;

/// `id-ecPublicKey` (1.2.840.10045.2.1).
pub const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// `secp384r1` (1.3.132.0.34).
pub const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// `prime256v1` (1.2.840.10045.3.1.7).
pub const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// `id-alg-ml-kem-1024` (2.16.840.1.101.3.4.4.3), FIPS 203.
pub const OID_ML_KEM_1024: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, 0x03];
/// `id-MLKEM1024-ECDH-P384` (1.3.6.1.5.5.7.6.63), draft-ietf-lamps-pq-composite-kem;
/// the OID the OpenTDF platform uses for its P-384 + ML-KEM-1024 hybrid KAS keys.
pub const OID_ML_KEM_1024_P384: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x06, 0x3f];
/// `rsaEncryption` (1.2.840.113549.1.1.1).
pub const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// `id-Ed25519` (1.3.101.112).
pub const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
/// `id-ml-dsa-87` (2.16.840.1.101.3.4.3.19), FIPS 204.
pub const OID_ML_DSA_87: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x13];

/// Append one TLV with the given tag and contents.
pub fn push_tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
}

/// One TLV read from a buffer.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    /// The tag byte (single-byte tags only).
    pub tag: u8,
    /// The contents.
    pub value: &'a [u8],
}

/// Read one TLV from the front of `input`, returning it and the rest.
pub fn read_tlv<'a>(input: &'a [u8], what: &str) -> Result<(Tlv<'a>, &'a [u8]), Error> {
    let bad = |why: &str| Error::Der(format!("{what}: {why}"));
    if input.len() < 2 {
        return Err(bad("truncated header"));
    }
    let tag = input[0];
    if tag & 0x1f == 0x1f {
        return Err(bad("multi-byte tags are not supported"));
    }
    let first = input[1];
    let (len, header) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return Err(bad("unsupported length encoding"));
        }
        if input.len() < 2 + n {
            return Err(bad("truncated length"));
        }
        let mut len = 0usize;
        for b in &input[2..2 + n] {
            len = (len << 8) | *b as usize;
        }
        if len < 0x80 || (n > 1 && input[2] == 0) {
            return Err(bad("non-minimal length"));
        }
        (len, 2 + n)
    };
    let end = header
        .checked_add(len)
        .filter(|end| *end <= input.len())
        .ok_or_else(|| bad("length runs past the end of the data"))?;
    Ok((
        Tlv {
            tag,
            value: &input[header..end],
        },
        &input[end..],
    ))
}

/// Read exactly one TLV with the expected tag, refusing trailing bytes.
pub fn read_only<'a>(input: &'a [u8], tag: u8, what: &str) -> Result<&'a [u8], Error> {
    let (tlv, rest) = read_tlv(input, what)?;
    if tlv.tag != tag {
        return Err(Error::Der(format!(
            "{what}: expected tag 0x{tag:02x}, found 0x{:02x}",
            tlv.tag
        )));
    }
    if !rest.is_empty() {
        return Err(Error::Der(format!("{what}: trailing bytes")));
    }
    Ok(tlv.value)
}

/// Read a TLV with the expected tag from the front of `input`.
pub fn expect<'a>(input: &'a [u8], tag: u8, what: &str) -> Result<(&'a [u8], &'a [u8]), Error> {
    let (tlv, rest) = read_tlv(input, what)?;
    if tlv.tag != tag {
        return Err(Error::Der(format!(
            "{what}: expected tag 0x{tag:02x}, found 0x{:02x}",
            tlv.tag
        )));
    }
    Ok((tlv.value, rest))
}

/// A parsed SubjectPublicKeyInfo: algorithm OID, optional parameter OID, key bits.
#[derive(Debug, Clone, Copy)]
pub struct Spki<'a> {
    /// The algorithm OID contents.
    pub algorithm: &'a [u8],
    /// The parameter, when it is an OID (EC curves); `None` when absent or NULL.
    pub parameter: Option<&'a [u8]>,
    /// The public key bytes (BIT STRING without its unused-bits byte).
    pub key: &'a [u8],
}

/// Parse a DER SubjectPublicKeyInfo.
pub fn parse_spki(der: &[u8]) -> Result<Spki<'_>, Error> {
    let body = read_only(der, SEQUENCE, "SubjectPublicKeyInfo")?;
    let (alg_id, rest) = expect(body, SEQUENCE, "AlgorithmIdentifier")?;
    let (algorithm, params) = expect(alg_id, OID, "algorithm OID")?;
    let parameter = if params.is_empty() {
        None
    } else {
        let (p, trailing) = read_tlv(params, "algorithm parameters")?;
        if !trailing.is_empty() {
            return Err(Error::Der("AlgorithmIdentifier: trailing bytes".into()));
        }
        match p.tag {
            OID => Some(p.value),
            NULL => None,
            t => {
                return Err(Error::Der(format!(
                    "AlgorithmIdentifier: unexpected parameter tag 0x{t:02x}"
                )))
            }
        }
    };
    let bits = read_only(rest, BIT_STRING, "subjectPublicKey")?;
    match bits.split_first() {
        Some((0, key)) => Ok(Spki {
            algorithm,
            parameter,
            key,
        }),
        _ => Err(Error::Der(
            "subjectPublicKey: BIT STRING must be byte-aligned".into(),
        )),
    }
}

/// Encode a SubjectPublicKeyInfo with a parameterless algorithm.
pub fn encode_spki(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
    let mut alg = Vec::new();
    push_tlv(&mut alg, OID, algorithm);
    let mut bits = Vec::with_capacity(key.len() + 1);
    bits.push(0);
    bits.extend_from_slice(key);
    let mut body = Vec::new();
    push_tlv(&mut body, SEQUENCE, &alg);
    push_tlv(&mut body, BIT_STRING, &bits);
    let mut out = Vec::new();
    push_tlv(&mut out, SEQUENCE, &body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spki_round_trip_and_long_lengths() {
        let key = vec![7u8; 1665];
        let der = encode_spki(OID_ML_KEM_1024_P384, &key);
        let spki = parse_spki(&der).unwrap();
        assert_eq!(spki.algorithm, OID_ML_KEM_1024_P384);
        assert_eq!(spki.key, &key[..]);
        assert!(spki.parameter.is_none());
    }

    #[test]
    fn hostile_lengths_are_refused() {
        assert!(read_tlv(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff], "x").is_err());
        assert!(read_tlv(&[0x30, 0x81, 0x05, 1, 2], "x").is_err());
        assert!(read_tlv(&[0x30], "x").is_err());
        assert!(parse_spki(&[0x30, 0x00]).is_err());
    }
}
