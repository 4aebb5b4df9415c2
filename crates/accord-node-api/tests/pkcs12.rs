//! A person's credential as PKCS#12, read by the readers browsers and people use:
//! OpenSSL (`openssl pkcs12`) and NSS, the store of Firefox and of Chromium on Linux
//! (`pk12util`, `certutil`). Both must be installed (Debian's openssl and
//! libnss3-tools packages): a missing reader fails the test rather than skip it.

use accord_node_api::credential::Credential;
use accord_node_api::{pkcs12, pki};
use std::path::Path;
use std::process::{Command, Output};

/// An ASCII passphrase, and one that is not (Latin-1, beyond Latin-1, beyond the BMP):
/// the MAC's BMPString conversion and PBES2's UTF-8 both show in the second.
const PASSPHRASES: [&str; 2] = ["correct horse battery", "pässwörd €𝄞 ok"];

struct Fixture {
    credential: Credential,
    cert: Vec<u8>,
    ca: Vec<u8>,
}

fn fixture() -> Fixture {
    let n = pki::make_node_certificates("PAK", &["127.0.0.1".into()]).unwrap();
    let p = pki::issue_person("PAK", &n.ca_key.0, "pak-officer", 30).unwrap();
    let ca = pki::certs_from_pem(&n.ca_cert).unwrap().remove(0);
    Fixture {
        credential: Credential {
            accord_credential: 1,
            party: "PAK".into(),
            person: "pak-officer".into(),
            node_url: "https://127.0.0.1:8443".into(),
            node_tls_spki_sha256: n.tls_spki_sha256,
            node_certificate: n.tls_cert,
            node_ca_certificate: None,
            certificate: p.cert,
            private_key: p.key.0,
        },
        cert: p.der,
        ca,
    }
}

const NAME: &str = "Accord PAK pak-officer";

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{program} could not be run ({e}): this test needs it (Debian's {} package)",
                if program == "openssl" {
                    "openssl"
                } else {
                    "libnss3-tools"
                }
            )
        })
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

/// The PEM blocks of a reader's output, without the text around them (openssl prints
/// each bag's attributes before its block).
fn pem_only(out: &[u8]) -> String {
    let mut pem = String::new();
    let mut inside = false;
    for line in String::from_utf8(out.to_vec()).unwrap().lines() {
        inside |= line.starts_with("-----BEGIN ");
        if inside {
            pem.push_str(line);
            pem.push('\n');
        }
        inside &= !line.starts_with("-----END ");
    }
    pem
}

/// The public key and the private key, as aws-lc-rs re-encodes a P-384 PKCS#8 key:
/// equal for the same key however a reader wrote it.
fn canonical_key(pkcs8_der: &[u8]) -> Vec<u8> {
    use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P384_SHA384_ASN1_SIGNING};
    EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, pkcs8_der)
        .unwrap()
        .to_pkcs8v1()
        .unwrap()
        .as_ref()
        .to_vec()
}

#[test]
fn openssl_reads_the_certificates_and_the_key_with_the_modern_algorithms() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let key = pki::pem_blocks(&f.credential.private_key, "PRIVATE KEY")
        .unwrap()
        .remove(0);
    for (i, pass) in PASSPHRASES.iter().enumerate() {
        let p12 = f.credential.to_pkcs12(pass, Some(&f.ca)).unwrap();
        let file = write_file(dir.path(), &format!("c{i}.p12"), &p12);
        let out = run(
            "openssl",
            &[
                "pkcs12",
                "-in",
                &file,
                "-passin",
                &format!("pass:{pass}"),
                "-info",
                "-noenc",
            ],
        );
        let said = text(&out);
        assert!(out.status.success(), "{said}");
        for line in [
            format!("MAC: sha256, Iteration {}", pkcs12::MAC_ITERATIONS),
            "MAC length: 32, salt length: 16".to_string(),
            format!(
                "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration {}, PRF hmacWithSHA256",
                pkcs12::PBKDF2_ITERATIONS
            ),
            format!(
                "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration {}, PRF hmacWithSHA256",
                pkcs12::PBKDF2_ITERATIONS
            ),
            format!("friendlyName: {NAME}"),
        ] {
            assert!(said.contains(&line), "`{line}` not said:\n{said}");
        }
        // The MAC verified with the passphrase as OpenSSL converts it, not with its
        // fallback for writers that take each byte for a character.
        assert!(!said.contains("broken"), "{said}");
        assert_eq!(said.matches("Shrouded Keybag").count(), 1, "{said}");
        assert_eq!(said.matches("Certificate bag").count(), 2, "{said}");

        let pem = pem_only(&out.stdout);
        assert_eq!(
            pki::certs_from_pem(&pem).unwrap(),
            vec![f.cert.clone(), f.ca.clone()],
            "the person's certificate, then the CA's"
        );
        let theirs = pki::pem_blocks(&pem, "PRIVATE KEY").unwrap();
        assert_eq!(theirs.len(), 1);
        assert_eq!(canonical_key(&theirs[0]), canonical_key(&key));
        // The key and its certificate carry the same localKeyID (SHA-1 of the cert).
        let key_id = hex::encode_upper(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            &f.cert,
        ));
        let spaced = key_id
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            said.matches(&format!("localKeyID: {spaced}")).count(),
            2,
            "{said}"
        );
    }

    // Without a CA: the person's certificate alone.
    let p12 = f.credential.to_pkcs12(PASSPHRASES[0], None).unwrap();
    let file = write_file(dir.path(), "alone.p12", &p12);
    let pass = format!("pass:{}", PASSPHRASES[0]);
    let out = run(
        "openssl",
        &["pkcs12", "-in", &file, "-passin", &pass, "-noenc"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let pem = pem_only(&out.stdout);
    assert_eq!(pki::certs_from_pem(&pem).unwrap(), vec![f.cert.clone()]);
}

#[test]
fn nss_imports_a_user_certificate_with_its_key() {
    let f = fixture();
    for (i, pass) in PASSPHRASES.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sql:{}", dir.path().join("nssdb").display());
        std::fs::create_dir(dir.path().join("nssdb")).unwrap();
        let out = run("certutil", &["-N", "-d", &db, "--empty-password"]);
        assert!(out.status.success(), "{}", text(&out));
        let p12 = f.credential.to_pkcs12(pass, Some(&f.ca)).unwrap();
        let file = write_file(dir.path(), &format!("c{i}.p12"), &p12);

        let out = run("pk12util", &["-i", &file, "-d", &db, "-W", pass, "-K", ""]);
        assert!(out.status.success(), "pk12util -i ({pass}): {}", text(&out));

        let keys = run("certutil", &["-K", "-d", &db]);
        let keys_said = text(&keys);
        assert!(keys.status.success(), "{keys_said}");
        let key_lines: Vec<_> = keys_said
            .lines()
            .filter(|l| l.trim_start().starts_with('<'))
            .collect();
        assert_eq!(key_lines.len(), 1, "{keys_said}");
        assert!(
            key_lines[0].contains(" ec ") && key_lines[0].contains(NAME),
            "{keys_said}"
        );

        let certs = run("certutil", &["-L", "-d", &db]);
        let certs_said = text(&certs);
        assert!(certs.status.success(), "{certs_said}");
        let trust = |nickname: &str| -> Option<String> {
            certs_said
                .lines()
                .find(|l| l.starts_with(nickname) && l[nickname.len()..].starts_with("  "))
                .map(|l| l[nickname.len()..].trim().to_string())
        };
        // u,u,u: a user certificate, one whose private key is in the database.
        assert_eq!(trust(NAME).as_deref(), Some("u,u,u"), "{certs_said}");
        // The CA came along, with no trust given (the browser's own choice).
        assert_eq!(
            trust("Accord PAK node CA - Accord node PAK").as_deref(),
            Some(",,"),
            "{certs_said}"
        );

        // The certificate NSS holds under that name is the person's.
        let out = run("certutil", &["-L", "-d", &db, "-n", NAME, "-a"]);
        assert!(out.status.success(), "{}", text(&out));
        let pem = pem_only(&out.stdout);
        assert_eq!(pki::certs_from_pem(&pem).unwrap(), vec![f.cert.clone()]);
    }
}

#[test]
fn a_wrong_passphrase_is_refused_by_both_readers() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let p12 = f.credential.to_pkcs12(PASSPHRASES[1], Some(&f.ca)).unwrap();
    let file = write_file(dir.path(), "c.p12", &p12);
    // Wrong, and the right one read byte by byte as Latin-1 (a writer's classic bug).
    let latin1: String = PASSPHRASES[1].bytes().map(char::from).collect::<String>();
    for (i, wrong) in ["correct horse", "pässwörd €𝄞 oK", &latin1]
        .iter()
        .enumerate()
    {
        let out = run(
            "openssl",
            &[
                "pkcs12",
                "-in",
                &file,
                "-passin",
                &format!("pass:{wrong}"),
                "-noenc",
            ],
        );
        let said = text(&out);
        assert!(!out.status.success(), "{said}");
        assert!(said.contains("Mac verify error"), "{said}");
        assert!(!said.contains("BEGIN"), "{said}");

        // A fresh database each time (certutil -N on an existing one asks for its
        // password, and loops on a closed standard input).
        let nssdb = dir.path().join(format!("nssdb{i}"));
        std::fs::create_dir(&nssdb).unwrap();
        let db = format!("sql:{}", nssdb.display());
        let out = run("certutil", &["-N", "-d", &db, "--empty-password"]);
        assert!(out.status.success(), "{}", text(&out));
        let out = run("pk12util", &["-i", &file, "-d", &db, "-W", wrong, "-K", ""]);
        assert!(!out.status.success(), "{}", text(&out));
        let keys = run("certutil", &["-K", "-d", &db]);
        assert!(
            !text(&keys).contains(NAME),
            "a key was imported: {}",
            text(&keys)
        );
    }
}

#[test]
fn a_ca_that_did_not_issue_the_certificate_is_refused() {
    let f = fixture();
    let other = pki::make_node_certificates("IND", &["127.0.0.1".into()]).unwrap();
    let other_ca = pki::certs_from_pem(&other.ca_cert).unwrap().remove(0);
    let e = f
        .credential
        .to_pkcs12("pw", Some(&other_ca))
        .unwrap_err()
        .to_string();
    assert!(e.contains("did not issue"), "{e}");
    let e = f
        .credential
        .to_pkcs12("pw", Some(&f.cert[..30]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("the CA certificate"), "{e}");
}
