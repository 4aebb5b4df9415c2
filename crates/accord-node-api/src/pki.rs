//! The node's small certificate authority: its TLS server certificate and the client
//! certificates it issues to its people.
//!
//! Authentication never rests on the CA chain alone: a person's certificate is
//! recognised by its exact SHA-256 fingerprint, recorded when the node issued it, and a
//! node's server certificate by the SHA-256 of its SubjectPublicKeyInfo, pinned in the
//! credential bundle and in agreements. The CA exists so that the certificates are
//! ordinary X.509 that any TLS stack and any security officer's tooling can read.

use crate::Error;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber, PKCS_ECDSA_P384_SHA384,
};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

/// How long issued certificates are valid: people's credentials for two years, the
/// node's own certificates for twenty (they are pinned, not chained to a public root).
/// How long a person's credential is valid when the node's configuration does not say
/// (node.toml `credential_validity_days`).
pub const PERSON_VALIDITY_DAYS: u32 = 365;
/// The longest a person's credential may be valid: people change posts, and a lost
/// credential must end by itself.
pub const MAX_PERSON_VALIDITY_DAYS: u32 = 3 * 365;
/// How long the node CA is valid: the agreement's life and more (it issues the node's
/// TLS certificates and people's credentials, which trust it).
const NODE_VALIDITY_DAYS: i64 = 7305;
/// How long a node TLS certificate is valid: two years, renewed by `accord key rotate
/// tls` (a new key, not the old key certified again, so the key's life is bounded too).
/// `accord node info` warns 30 days before; people's credentials trust a certificate
/// through the node CA only within its validity.
pub const NODE_TLS_VALIDITY_DAYS: i64 = 730;

/// A key pair in PEM, zeroized on drop.
pub struct KeyPem(pub Zeroizing<String>);

fn key_pair() -> Result<KeyPair, Error> {
    KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384)
        .map_err(|e| Error::Crypto(format!("generating a P-384 key: {e}")))
}

fn serial() -> Result<SerialNumber, Error> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| Error::Crypto("random serial".into()))?;
    b[0] &= 0x7f;
    Ok(SerialNumber::from_slice(&b))
}

fn ca_params(party: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, format!("Accord node {party}"));
    dn.push(DnType::CommonName, format!("Accord {party} node CA"));
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

/// The node CA and server certificate made at `accord init`.
pub struct NodeCertificates {
    /// CA certificate PEM.
    pub ca_cert: String,
    /// CA private key PEM.
    pub ca_key: KeyPem,
    /// Server certificate PEM.
    pub tls_cert: String,
    /// Server private key PEM.
    pub tls_key: KeyPem,
    /// SHA-256 of the server certificate's SPKI, lower-case hex (the pin).
    pub tls_spki_sha256: String,
}

/// Make the CA and the server certificate for `party`, valid for `hosts` (DNS names or
/// IP addresses, from the node URL and listen address).
pub fn make_node_certificates(party: &str, hosts: &[String]) -> Result<NodeCertificates, Error> {
    let now = OffsetDateTime::now_utc() - Duration::hours(1);
    let ca_key = key_pair()?;
    let mut ca = ca_params(party);
    ca.not_before = now;
    ca.not_after = now + Duration::days(NODE_VALIDITY_DAYS);
    ca.serial_number = Some(serial()?);
    let ca_cert = ca
        .self_signed(&ca_key)
        .map_err(|e| Error::Crypto(format!("CA certificate: {e}")))?;

    let tls = issue_node_tls(party, &ca_key, hosts)?;
    Ok(NodeCertificates {
        ca_cert: ca_cert.pem(),
        ca_key: KeyPem(Zeroizing::new(ca_key.serialize_pem())),
        tls_cert: tls.cert,
        tls_key: tls.key,
        tls_spki_sha256: tls.spki_sha256,
    })
}

/// A node's TLS key and certificate, as issued by its CA.
pub struct NodeTls {
    /// Certificate PEM.
    pub cert: String,
    /// Private key PEM.
    pub key: KeyPem,
    /// SHA-256 of the certificate's SPKI, lower-case hex (the pin).
    pub spki_sha256: String,
}

/// A new TLS key and certificate for `party`'s node, valid for `hosts`, issued by the
/// node CA whose key is `ca_key_pem`: what `accord key rotate tls` makes. People's
/// credentials (format 2) trust the CA for the node's name, so they follow the node to
/// its new key.
pub fn rekey_node_tls(party: &str, ca_key_pem: &str, hosts: &[String]) -> Result<NodeTls, Error> {
    let ca_key = KeyPair::from_pem(ca_key_pem)
        .map_err(|e| Error::Credential(format!("reading the node CA key: {e}")))?;
    issue_node_tls(party, &ca_key, hosts)
}

fn issue_node_tls(party: &str, ca_key: &KeyPair, hosts: &[String]) -> Result<NodeTls, Error> {
    let now = OffsetDateTime::now_utc() - Duration::hours(1);
    let tls_key = key_pair()?;
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, format!("Accord node {party}"));
    dn.push(DnType::CommonName, format!("Accord {party} node"));
    p.distinguished_name = dn;
    for h in hosts {
        let san = match h.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                h.clone()
                    .try_into()
                    .map_err(|e| Error::Input(format!("host name `{h}`: {e}")))?,
            ),
        };
        if !p.subject_alt_names.contains(&san) {
            p.subject_alt_names.push(san);
        }
    }
    p.not_before = now;
    p.not_after = now + Duration::days(NODE_TLS_VALIDITY_DAYS);
    p.serial_number = Some(serial()?);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let issuer = Issuer::new(ca_params(party), ca_key);
    let tls_cert = p
        .signed_by(&tls_key, &issuer)
        .map_err(|e| Error::Crypto(format!("server certificate: {e}")))?;
    let spki = spki_of_cert(tls_cert.der())?;
    Ok(NodeTls {
        cert: tls_cert.pem(),
        key: KeyPem(Zeroizing::new(tls_key.serialize_pem())),
        spki_sha256: hex::encode(sha256(spki)),
    })
}

/// A client certificate issued to a person.
pub struct PersonCertificate {
    /// Certificate PEM.
    pub cert: String,
    /// Its DER.
    pub der: Vec<u8>,
    /// Private key PEM (PKCS#8, P-384).
    pub key: KeyPem,
    /// SHA-256 of the certificate DER, lower-case hex: how the node recognises it.
    pub fingerprint: String,
    /// Serial number, hex.
    pub serial: String,
    /// Not after, Unix seconds.
    pub not_after: i64,
}

/// Issue a client certificate for person `id` of `party`, signed by the node CA, valid
/// for `days` (1 to [`MAX_PERSON_VALIDITY_DAYS`]).
pub fn issue_person(
    party: &str,
    ca_key_pem: &str,
    id: &str,
    days: u32,
) -> Result<PersonCertificate, Error> {
    if !(1..=MAX_PERSON_VALIDITY_DAYS).contains(&days) {
        return Err(Error::Input(format!(
            "a credential is valid for 1 to {MAX_PERSON_VALIDITY_DAYS} days, not {days}"
        )));
    }
    let ca_key = KeyPair::from_pem(ca_key_pem)
        .map_err(|e| Error::Credential(format!("reading the node CA key: {e}")))?;
    let key = key_pair()?;
    let now = OffsetDateTime::now_utc() - Duration::minutes(5);
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, format!("Accord node {party}"));
    dn.push(DnType::CommonName, id);
    p.distinguished_name = dn;
    p.subject_alt_names = vec![SanType::URI(
        format!("urn:accord:person:{party}:{}", uri_escape(id))
            .try_into()
            .map_err(|e| Error::Input(format!("person id `{id}`: {e}")))?,
    )];
    let sn = serial()?;
    let serial_hex = hex::encode(sn.as_ref());
    p.serial_number = Some(sn);
    p.not_before = now;
    p.not_after = now + Duration::days(i64::from(days));
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let issuer = Issuer::new(ca_params(party), &ca_key);
    let cert = p
        .signed_by(&key, &issuer)
        .map_err(|e| Error::Crypto(format!("person certificate: {e}")))?;
    let der = cert.der().to_vec();
    Ok(PersonCertificate {
        cert: cert.pem(),
        fingerprint: hex::encode(sha256(&der)),
        der,
        key: KeyPem(Zeroizing::new(key.serialize_pem())),
        serial: serial_hex,
        not_after: p.not_after.unix_timestamp(),
    })
}

fn uri_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn der_err(e: accord_keys::Error) -> Error {
    Error::Credential(format!("certificate: {e}"))
}

/// A certificate's pin as agreements and credentials write it: SHA-256 of its
/// SubjectPublicKeyInfo, lower-case hex.
pub fn spki_pin(cert: &[u8]) -> Result<String, Error> {
    Ok(hex::encode(sha256(spki_of_cert(cert)?)))
}

/// The SubjectPublicKeyInfo (whole DER element) of an X.509 certificate.
pub fn spki_of_cert(cert: &[u8]) -> Result<&[u8], Error> {
    use accord_keys::der::{expect, read_tlv, SEQUENCE};
    let (cert_body, _) = expect(cert, SEQUENCE, "Certificate").map_err(der_err)?;
    let (tbs, _) = expect(cert_body, SEQUENCE, "tbsCertificate").map_err(der_err)?;
    let mut rest = tbs;
    // [0] version (optional), serial, signature, issuer, validity, subject, spki.
    let (first, r) = read_tlv(rest, "tbsCertificate").map_err(der_err)?;
    if first.tag == 0xa0 {
        rest = r;
    }
    for _ in 0..5 {
        rest = read_tlv(rest, "tbsCertificate").map_err(der_err)?.1;
    }
    let after = expect(rest, SEQUENCE, "subjectPublicKeyInfo")
        .map_err(der_err)?
        .1;
    Ok(&rest[..rest.len() - after.len()])
}

/// When a certificate (DER) stops being valid, in Unix seconds: its `notAfter`, read
/// so that people and officers are told before a credential or a node certificate
/// expires (`accord status`, `/v1/status`).
pub fn not_after(cert: &[u8]) -> Result<i64, Error> {
    validity(cert).map(|(_, after)| after)
}

/// A certificate's notBefore, Unix seconds.
pub fn not_before(cert: &[u8]) -> Result<i64, Error> {
    validity(cert).map(|(before, _)| before)
}

/// Why a certificate is not valid at `now` (Unix seconds), if it is not: "that
/// expired on T" or "that is not valid before T". One that does not read is not valid.
pub fn outside_validity(cert: &[u8], now: i64) -> Option<String> {
    let at = |t: i64| {
        OffsetDateTime::from_unix_timestamp(t)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| t.to_string())
    };
    match validity(cert) {
        Err(e) => Some(format!("whose validity does not read: {e}")),
        Ok((_, after)) if now > after => Some(format!("that expired on {}", at(after))),
        Ok((before, _)) if now < before => Some(format!("that is not valid before {}", at(before))),
        Ok(_) => None,
    }
}

/// A certificate's notBefore and notAfter, Unix seconds.
fn validity(cert: &[u8]) -> Result<(i64, i64), Error> {
    use accord_keys::der::{expect, read_tlv, SEQUENCE};
    let (cert_body, _) = expect(cert, SEQUENCE, "Certificate").map_err(der_err)?;
    let (tbs, _) = expect(cert_body, SEQUENCE, "tbsCertificate").map_err(der_err)?;
    let mut rest = tbs;
    // [0] version (optional), serial, signature, issuer, validity.
    let (first, r) = read_tlv(rest, "tbsCertificate").map_err(der_err)?;
    if first.tag == 0xa0 {
        rest = r;
    }
    for _ in 0..3 {
        rest = read_tlv(rest, "tbsCertificate").map_err(der_err)?.1;
    }
    let (validity, _) = expect(rest, SEQUENCE, "validity").map_err(der_err)?;
    let (nb, r) = read_tlv(validity, "notBefore").map_err(der_err)?;
    let (na, _) = read_tlv(r, "notAfter").map_err(der_err)?;
    let ascii = |v: &[u8], what: &str| {
        std::str::from_utf8(v)
            .map(str::to_string)
            .map_err(|_| Error::Credential(format!("certificate {what} is not ASCII")))
    };
    Ok((
        x509_time(nb.tag, &ascii(nb.value, "notBefore")?)?,
        x509_time(na.tag, &ascii(na.value, "notAfter")?)?,
    ))
}

/// An X.509 time: UTCTime (`YYMMDDHHMMSSZ`, years 1950..2049) or GeneralizedTime
/// (`YYYYMMDDHHMMSSZ`), as RFC 5280 section 4.1.2.5 allows them.
fn x509_time(tag: u8, text: &str) -> Result<i64, Error> {
    let bad = || {
        Error::Credential(format!(
            "certificate notAfter `{text}` is not an RFC 5280 time"
        ))
    };
    if !text.is_ascii() {
        return Err(bad());
    }
    let (year, rest) = match (tag, text.len()) {
        (0x17, 13) => {
            let yy: i32 = text[..2].parse().map_err(|_| bad())?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        (0x18, 15) => (text[..4].parse().map_err(|_| bad())?, &text[4..]),
        _ => return Err(bad()),
    };
    if !rest.ends_with('Z') || !rest[..10].bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n = |i: usize| rest[i..i + 2].parse::<u8>().map_err(|_| bad());
    let month = time::Month::try_from(n(0)?).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(year, month, n(2)?).map_err(|_| bad())?;
    let t = time::Time::from_hms(n(4)?, n(6)?, n(8)?).map_err(|_| bad())?;
    Ok(time::PrimitiveDateTime::new(date, t)
        .assume_utc()
        .unix_timestamp())
}

/// The public key bits of a certificate's SPKI (for P-384: the uncompressed point).
pub fn ec_point_of_cert(cert: &[u8]) -> Result<&[u8], Error> {
    ec_point_of_spki(spki_of_cert(cert)?)
}

/// The public key bits of an SPKI (for P-384: the uncompressed point).
pub fn ec_point_of_spki(spki: &[u8]) -> Result<&[u8], Error> {
    Ok(accord_keys::der::parse_spki(spki).map_err(der_err)?.key)
}

/// The DER of every `label` block of PEM text (`CERTIFICATE`, `PRIVATE KEY`).
pub fn pem_blocks(pem: &str, label: &str) -> Result<Vec<zeroize::Zeroizing<Vec<u8>>>, Error> {
    let blocks: Vec<_> = accord_keys::pem::decode_all(pem, label)
        .map_err(|e| Error::Credential(e.to_string()))?
        .into_iter()
        .filter(|b| b.label == label)
        .map(|b| b.der)
        .collect();
    if blocks.is_empty() {
        return Err(Error::Credential(format!("no {label} block in PEM")));
    }
    Ok(blocks)
}

/// Certificates from PEM text.
pub fn certs_from_pem(pem: &str) -> Result<Vec<Vec<u8>>, Error> {
    Ok(pem_blocks(pem, "CERTIFICATE")?
        .into_iter()
        .map(|d| d.to_vec())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_and_person_certificates() {
        let n = make_node_certificates("PAK", &["127.0.0.1".into(), "localhost".into()]).unwrap();
        let der = certs_from_pem(&n.tls_cert).unwrap().remove(0);
        let spki = spki_of_cert(&der).unwrap();
        assert_eq!(hex::encode(sha256(spki)), n.tls_spki_sha256);
        assert_eq!(ec_point_of_spki(spki).unwrap().len(), 97);
        let p = issue_person("PAK", &n.ca_key.0, "pak-officer", PERSON_VALIDITY_DAYS).unwrap();
        assert_eq!(hex::encode(sha256(&p.der)), p.fingerprint);
        assert!(spki_of_cert(&p.der).is_ok());
        assert!(spki_of_cert(&p.der[..40]).is_err());
    }

    #[test]
    fn not_after_is_read_from_the_certificate_as_issued() {
        let n = make_node_certificates("PAK", &["127.0.0.1".into()]).unwrap();
        let p = issue_person("PAK", &n.ca_key.0, "pak-officer", PERSON_VALIDITY_DAYS).unwrap();
        // rcgen writes whole seconds; the issuer's value is the one in the certificate.
        assert_eq!(not_after(&p.der).unwrap(), p.not_after);
        assert!(not_after(&p.der[..60]).is_err());
    }

    #[test]
    fn x509_times_both_forms_and_nothing_else() {
        assert_eq!(x509_time(0x17, "491231235959Z").unwrap(), 2524607999);
        assert_eq!(x509_time(0x17, "500101000000Z").unwrap(), -631152000);
        assert_eq!(x509_time(0x18, "20500101000000Z").unwrap(), 2524608000);
        for (tag, t) in [
            (0x17, "491231235959"),
            (0x17, "4912312359590"),
            (0x18, "2050010100000Z"),
            (0x18, "20501301000000Z"),
            (0x18, "2050010100000+Z"),
            (0x18, "205001010000\u{e9}Z"),
            (0x04, "500101000000Z"),
        ] {
            assert!(x509_time(tag, t).is_err(), "{t}");
        }
    }
}
