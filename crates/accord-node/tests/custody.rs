//! Hardware custody (issue 20): keys in a PKCS#11 token, through SoftHSM2 (Debian's
//! `softhsm2`, which `.ci/run` installs; the tests skip with a note elsewhere).
//!
//! First the keys themselves: made in the token, signing, deriving and decrypting
//! there, their files holding references only, a reference that names another key
//! refused. Then a running exchange whose PAK node has its keys in a token from
//! `accord init`: labels signed and key shares unwrapped in the token, objects
//! travelling both ways, each key kind rotated into the token with what was sealed
//! before still opening.

use accord_agreement::amendment::KeyKind;
use accord_agreement::Time;
use accord_keys::pkcs11::{read_pin_file, REFERENCE_LABEL};
use accord_keys::{KasAlg, KasPrivateKey, SigningKey, Token, TokenSpec};
use accord_node::custody::Pkcs11Config;
use accord_node::rotation::{self, RotateOptions};
use accord_node::sandbox;
use accord_node_api::client::Client;
use accord_test_support::softhsm::softhsm;
use accord_test_support::{fast, send_delivered as send, wait};
use accord_test_support::{open, sandbox_options, seal_into, Pair};
use aws_lc_rs::{agreement, kem, rsa};
use std::sync::Arc;
use zeroize::Zeroizing;

const MARKING: &str = "SECRET//REL TO USA, PAK//SCOPE EXERCISES";

fn login(
    module: &std::path::Path,
    token: &str,
    pin: &str,
) -> Result<Arc<Token>, accord_keys::Error> {
    Token::open(TokenSpec {
        module,
        token,
        pin: Zeroizing::new(pin.to_string()),
    })
}

/// The PEM labels of a key file's blocks, in order.
fn labels(pem: &str) -> Vec<String> {
    pem.lines()
        .filter_map(|l| l.strip_prefix("-----BEGIN "))
        .map(|l| l.trim_end_matches('-').to_string())
        .collect()
}

#[test]
fn keys_made_in_a_token_work_there_and_their_files_hold_references() {
    let Some(hsm) = softhsm("keys_made_in_a_token_work_there_and_their_files_hold_references")
    else {
        return;
    };
    hsm.token("accord-keys-test", "1234-keys");
    let m = hsm.module.as_path();

    // Logging in: a wrong PIN and a wrong label are named.
    let e = login(m, "accord-keys-test", "wrong")
        .unwrap_err()
        .to_string();
    assert!(e.contains("PIN") && e.contains("not right"), "{e}");
    let e = login(m, "no-such-token", "1234-keys")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no token labelled \"no-such-token\"") && e.contains("accord-keys-test"),
        "{e}"
    );
    let token = login(m, "accord-keys-test", "1234-keys").unwrap();

    // Signing: ES384 in the token, ML-DSA-87 in software; both verify.
    let signer = SigningKey::generate_in(&token, "test signing").unwrap();
    assert_eq!(signer.token(), Some("accord-keys-test"));
    let msg = b"an agreement record";
    let (a, b) = (
        signer.sign_classical(msg).unwrap(),
        signer.sign_ml_dsa(msg).unwrap(),
    );
    signer.public_keys().verify_both(msg, &a, &b).unwrap();
    let pem = signer.to_pem().unwrap();
    assert_eq!(labels(&pem), [REFERENCE_LABEL, "PRIVATE KEY"]);
    // Without the token the file does not load, and says where the key is.
    let e = SigningKey::from_pem(&pem).unwrap_err().to_string();
    assert!(
        e.contains("accord-keys-test") && e.contains("[pkcs11]"),
        "{e}"
    );
    let again = SigningKey::from_pem_in(&pem, Some(&token)).unwrap();
    assert_eq!(again.public_keys().to_pem(), signer.public_keys().to_pem());
    let c = again.sign_classical(msg).unwrap();
    signer.public_keys().classical.verify(msg, &c).unwrap();

    // The hybrid KAS key: ECDH in the token, ML-KEM-1024 in software.
    let kas = KasPrivateKey::generate_in(KasAlg::HybridP384MlKem1024, &token, "test kas").unwrap();
    assert_eq!(kas.token(), Some("accord-keys-test"));
    let pem = kas.to_pem().unwrap();
    assert_eq!(labels(&pem), [REFERENCE_LABEL, "ML-KEM-1024 PRIVATE KEY"]);
    let kas = KasPrivateKey::from_pem_in(&pem, Some(&token)).unwrap();
    let eph = agreement::PrivateKey::generate(&agreement::ECDH_P384).unwrap();
    let eph_pub = eph.compute_public_key().unwrap();
    let point = kas.public_key().ec_point().unwrap().to_vec();
    let expected = agreement::agree(
        &eph,
        agreement::UnparsedPublicKey::new(&agreement::ECDH_P384, &point),
        (),
        |ss| Ok(ss.to_vec()),
    )
    .unwrap();
    assert_eq!(*kas.ecdh(eph_pub.as_ref()).unwrap(), expected);
    let ek =
        kem::EncapsulationKey::new(&kem::ML_KEM_1024, kas.public_key().mlkem_public().unwrap())
            .unwrap();
    let (ct, ss) = ek.encapsulate().unwrap();
    assert_eq!(
        *kas.mlkem_decapsulate(ct.as_ref()).unwrap(),
        ss.as_ref().to_vec()
    );
    // A point off the curve never reaches the token.
    let mut bad = eph_pub.as_ref().to_vec();
    bad[60] ^= 1;
    let e = kas.ecdh(&bad).unwrap_err().to_string();
    assert!(e.contains("invalid point"), "{e}");

    // RSA-2048 (OpenTDF's `wrapped`): OAEP with SHA-1, as OpenTDF clients wrap.
    let rsa_key = KasPrivateKey::generate_in(KasAlg::Rsa2048, &token, "test rsa").unwrap();
    let rsa_key = KasPrivateKey::from_pem_in(&rsa_key.to_pem().unwrap(), Some(&token)).unwrap();
    let public = rsa_key.public_key().rsa_public().unwrap();
    let oaep = rsa::OaepPublicEncryptingKey::new(public).unwrap();
    let mut out = vec![0u8; oaep.ciphertext_size()];
    let ct = oaep
        .encrypt(&rsa::OAEP_SHA1_MGF1SHA1, b"a key share", &mut out, None)
        .unwrap()
        .to_vec();
    assert_eq!(
        rsa_key
            .rsa_oaep_decrypt(&rsa::OAEP_SHA1_MGF1SHA1, &ct)
            .unwrap()
            .as_slice(),
        b"a key share"
    );
    // ML-KEM alone has no classical half to keep.
    let e = KasPrivateKey::generate_in(KasAlg::MlKem1024, &token, "x")
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot live in a token"), "{e}");

    // A reference whose public key is another key's is refused: the token's key with
    // that id is proved against the public key before it is used.
    let other = SigningKey::generate_in(&token, "test other").unwrap();
    let forged = splice_public(
        &signer.to_pem().unwrap(),
        other.public_keys().classical.spki_der(),
    );
    let e = SigningKey::from_pem_in(&forged, Some(&token))
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not the key its reference names"), "{e}");
    // So for an ECDH key and an RSA key.
    for alg in [KasAlg::EcP384, KasAlg::Rsa2048] {
        let a = KasPrivateKey::generate_in(alg, &token, "test a").unwrap();
        let b = KasPrivateKey::generate_in(alg, &token, "test b").unwrap();
        let forged = splice_public(&a.to_pem().unwrap(), b.public_key().spki_der());
        let e = KasPrivateKey::from_pem_in(&forged, Some(&token))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("is not the key its reference names"),
            "{alg}: {e}"
        );
    }
    // Used for the wrong purpose: a KAS file holding a signing key's reference.
    let sign_ref = signer.to_pem().unwrap();
    let first_block: String = sign_ref
        .split_inclusive('\n')
        .take_while(|l| !l.starts_with(&format!("-----END {REFERENCE_LABEL}")))
        .chain(std::iter::once(
            format!("-----END {REFERENCE_LABEL}-----\n").as_str(),
        ))
        .collect();
    let e = KasPrivateKey::from_pem_in(&first_block, Some(&token))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("is not a P-384 ECDH key for that use alone"),
        "{e}"
    );

    // The token lost the login (as when it is removed and put back): the next
    // operation logs in again and succeeds, for signing and for ECDH.
    token.log_out().unwrap();
    let c = again.sign_classical(msg).unwrap();
    signer.public_keys().classical.verify(msg, &c).unwrap();
    token.log_out().unwrap();
    assert_eq!(*kas.ecdh(eph_pub.as_ref()).unwrap(), expected);

    // The PIN file: owner-only, one line.
    let dir = tempfile::tempdir().unwrap();
    let pin = dir.path().join("pin");
    std::fs::write(&pin, "1234-keys\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pin, std::fs::Permissions::from_mode(0o640)).unwrap();
    let e = read_pin_file(&pin).unwrap_err().to_string();
    assert!(
        e.contains("may be read by others") && e.contains("640"),
        "{e}"
    );
    std::fs::set_permissions(&pin, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(read_pin_file(&pin).unwrap().as_str(), "1234-keys");
}

/// `pem` (a key file whose first block is a reference) with the reference's public
/// key replaced by `new` (of the same length).
fn splice_public(pem: &str, new: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let body: String = pem
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let mut der = b64.decode(body).unwrap();
    let n = der.len();
    der[n - new.len()..].copy_from_slice(new);
    let rest: String = pem
        .split_inclusive('\n')
        .skip_while(|l| !l.starts_with("-----END"))
        .skip(1)
        .collect();
    let mut out = format!("-----BEGIN {REFERENCE_LABEL}-----\n");
    for chunk in b64.encode(&der).as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {REFERENCE_LABEL}-----\n"));
    out + &rest
}

/// No private key of the node's signing or KAS key is in `keys/` save the
/// post-quantum halves: every `*.key` of them holds a reference where its classical
/// half would be.
fn assert_classical_halves_absent(keys: &std::path::Path) {
    let signing = std::fs::read_to_string(keys.join("signing.key")).unwrap();
    assert_eq!(labels(&signing), [REFERENCE_LABEL, "PRIVATE KEY"]);
    let mut kas_files = vec![keys.join("kas.key")];
    if let Ok(ring) = std::fs::read_dir(keys.join("kas")) {
        kas_files.extend(ring.map(|e| e.unwrap().path()));
    }
    for f in kas_files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert_eq!(
            labels(&text),
            [REFERENCE_LABEL, "ML-KEM-1024 PRIVATE KEY"],
            "{}",
            f.display()
        );
    }
    // And the pending files a rotation leaves are gone or references too.
    for e in std::fs::read_dir(keys).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("signing") && name.ends_with(".key") {
            let t = std::fs::read_to_string(&p).unwrap();
            assert_eq!(labels(&t)[0], REFERENCE_LABEL, "{name}");
        }
    }
}

#[test]
fn a_node_signs_and_unwraps_through_its_token_and_rotates_into_it() {
    let Some(hsm) = softhsm("a_node_signs_and_unwraps_through_its_token_and_rotates_into_it")
    else {
        return;
    };
    hsm.token("accord-pak-node", "pak-user-pin");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let pin = tmp.path().join("pak.pin");
    std::fs::write(&pin, "pak-user-pin\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pin, std::fs::Permissions::from_mode(0o600)).unwrap();
    let custody = Pkcs11Config {
        module: hsm.module.clone(),
        token: "accord-pak-node".into(),
        pin_file: Some(pin.clone()),
    };
    let sb = rt
        .block_on(sandbox::create(
            tmp.path(),
            &accord_node::sandbox::SandboxOptions {
                pkcs11: (Some(custody.clone()), None),
                ..sandbox_options((None, None), 0)
            },
        ))
        .unwrap();
    let keys = sb.pak.layout.keys();
    assert_classical_halves_absent(&keys);
    let toml = std::fs::read_to_string(sb.pak.layout.config()).unwrap();
    assert!(
        toml.contains("[pkcs11]") && toml.contains("accord-pak-node"),
        "{toml}"
    );
    assert!(
        !toml.contains("pak-user-pin"),
        "the PIN is never in node.toml"
    );

    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa: _usa,
        officer: pak_officer,
    } = Pair::serve(rt, tmp, sb, fast);
    assert_eq!(pak.node.own().signing().token(), Some("accord-pak-node"));
    assert_eq!(
        pak.node.own().current_kas().token(),
        Some("accord-pak-node")
    );
    let usa_officer = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    let dir = tmp.path();
    let agreement = sandbox::AGREEMENT_ID;

    // Labels signed in PAK's token; key shares unwrapped there.
    let mut sealed = Vec::new();
    let from_pak = seal_into(
        &pak_officer,
        MARKING,
        Some(agreement),
        b"from PAK, token S1",
        dir,
    );
    send(&pak_officer, "USA", &from_pak);
    let from_usa = seal_into(
        &usa_officer,
        MARKING,
        Some(agreement),
        b"from USA, token K1",
        dir,
    );
    send(&usa_officer, "PAK", &from_usa);
    sealed.extend([from_pak, from_usa]);

    // Each key kind rotated in turn, each new key made in the token.
    for (n, kind) in [KeyKind::Kas, KeyKind::Signing].into_iter().enumerate() {
        let home = accord_node::home::Home::open(&sb.pak.layout.dir).unwrap();
        let r = rt
            .block_on(rotation::rotate(
                &home,
                &RotateOptions {
                    kind,
                    reason: format!("scheduled {kind} rotation"),
                    at: Time::now(),
                    grace_days: None,
                },
            ))
            .unwrap();
        assert_eq!(r.agreements[0].outcome, "amended", "{:?}", r.agreements);
        wait("PAK's node takes its new key", || match kind {
            KeyKind::Kas => pak.node.own().current_kas().public_key().kid() == r.new,
            _ => pak.node.own().signing().public_keys().classical.kid() == r.new,
        });
        assert_eq!(pak.node.own().signing().token(), Some("accord-pak-node"));
        assert_eq!(
            pak.node.own().current_kas().token(),
            Some("accord-pak-node")
        );
        assert_classical_halves_absent(&keys);
        let text = format!("after rotation {n}");
        let p = seal_into(&pak_officer, MARKING, Some(agreement), text.as_bytes(), dir);
        // USA seals to PAK's new KAS key once it has the amended agreement.
        wait("USA's copy of the agreement is amended", || {
            rt.block_on(_usa.node.agreements())
                .unwrap()
                .iter()
                .any(|h| {
                    h.agreement.body.id == agreement
                        && h.agreement.records.len() == sb.agreement.records.len() + n + 1
                })
        });
        let u = seal_into(&usa_officer, MARKING, Some(agreement), text.as_bytes(), dir);
        send(&pak_officer, "USA", &p);
        send(&usa_officer, "PAK", &u);
        sealed.extend([p, u]);
        // Everything sealed so far opens at both nodes.
        for f in &sealed {
            let tdf = std::fs::read(f).unwrap();
            assert_eq!(
                open(&pak_officer, &tdf).unwrap(),
                open(&usa_officer, &tdf).unwrap(),
                "{}",
                f.display()
            );
        }
    }
    // The agreement's chain of amendments, signed in the token, verifies anywhere.
    let held = rt.block_on(_usa.node.agreements()).unwrap();
    let h = held
        .iter()
        .find(|h| h.agreement.body.id == agreement)
        .unwrap();
    assert!(h.findings.is_empty(), "{:?}", h.findings);
    assert!(accord_agreement::verify(&h.agreement).is_empty());

    // The node's home alone opens nothing: its key files name the token.
    let e = accord_keys::load_signing_key(&keys.join("signing.key"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("accord-pak-node"), "{e}");
}
