use accord_keys::*;
use aws_lc_rs::{agreement, kem, rsa};

#[test]
fn every_kas_algorithm_round_trips_through_pem_and_its_operations_work() {
    for alg in KasAlg::ALL {
        let key = KasPrivateKey::generate(alg).unwrap();
        let pem = key.to_pem().unwrap();
        let loaded = KasPrivateKey::from_pem(&pem).unwrap();
        assert_eq!(loaded.alg(), alg);
        assert_eq!(loaded.public_key(), key.public_key(), "{alg}");
        let public = KasPublicKey::from_pem(&key.public_key().to_pem()).unwrap();
        assert_eq!(&public, key.public_key());
        assert_eq!(public.kid().len(), 64);

        if let Some(point) = public.ec_point() {
            let eph = agreement::EphemeralPrivateKey::generate(
                public.ecdh_algorithm().unwrap(),
                &aws_lc_rs::rand::SystemRandom::new(),
            )
            .unwrap();
            let eph_pub = eph.compute_public_key().unwrap().as_ref().to_vec();
            let ours = agreement::agree_ephemeral(
                eph,
                agreement::UnparsedPublicKey::new(public.ecdh_algorithm().unwrap(), point),
                (),
                |s| Ok(s.to_vec()),
            )
            .unwrap();
            assert_eq!(&loaded.ecdh(&eph_pub).unwrap()[..], &ours[..], "{alg}");
            assert!(loaded.ecdh(&[4u8; 97]).is_err());
        }
        if let Some(ek) = public.mlkem_public() {
            let ek = kem::EncapsulationKey::new(&kem::ML_KEM_1024, ek).unwrap();
            let (ct, ss) = ek.encapsulate().unwrap();
            assert_eq!(
                &loaded.mlkem_decapsulate(ct.as_ref()).unwrap()[..],
                ss.as_ref()
            );
        }
        if let Some(rsa_pub) = public.rsa_public() {
            let oaep = rsa::OaepPublicEncryptingKey::new(rsa_pub).unwrap();
            let mut ct = vec![0u8; oaep.ciphertext_size()];
            let ct = oaep
                .encrypt(&rsa::OAEP_SHA1_MGF1SHA1, b"share", &mut ct, None)
                .unwrap()
                .to_vec();
            assert_eq!(
                &loaded
                    .rsa_oaep_decrypt(&rsa::OAEP_SHA1_MGF1SHA1, &ct)
                    .unwrap()[..],
                b"share"
            );
        } else {
            assert!(loaded
                .rsa_oaep_decrypt(&rsa::OAEP_SHA1_MGF1SHA1, &[0; 256])
                .is_err());
        }
        let dbg = format!("{key:?}");
        assert!(dbg.contains("<private>") && !dbg.contains("BEGIN"), "{dbg}");
    }
}

#[test]
fn hybrid_public_key_has_opentdf_layout() {
    let key = KasPrivateKey::generate(KasAlg::HybridP384MlKem1024).unwrap();
    let spki = der::parse_spki(key.public_key().spki_der()).unwrap();
    assert_eq!(spki.algorithm, der::OID_ML_KEM_1024_P384);
    assert_eq!(spki.key.len(), 1568 + 97);
    assert_eq!(
        spki.key[1568], 0x04,
        "EC point uncompressed, after the ML-KEM key"
    );
    let pem = key.public_key().to_pem();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
}

#[test]
fn signing_keys_sign_and_verify_with_both_algorithms() {
    for alg in [ClassicalAlg::Es384, ClassicalAlg::Ed25519] {
        let key = SigningKey::generate(alg).unwrap();
        let loaded = SigningKey::from_pem(&key.to_pem().unwrap()).unwrap();
        assert_eq!(loaded.public_keys(), key.public_keys());
        let public = SigningPublicKeys::from_pem(&key.public_keys().to_pem()).unwrap();
        let msg = b"agreement PAK-USA";
        let c = loaded.sign_classical(msg).unwrap();
        let m = loaded.sign_ml_dsa(msg).unwrap();
        if alg == ClassicalAlg::Es384 {
            assert_eq!(c.len(), 96);
        }
        assert_eq!(m.len(), 4627);
        public.verify_both(msg, &c, &m).unwrap();
        assert!(public.verify_both(b"agreement PAK-USB", &c, &m).is_err());
        let mut bad = m.clone();
        bad[10] ^= 1;
        assert!(matches!(
            public.ml_dsa.verify(msg, &bad),
            Err(Error::BadSignature(_))
        ));
        let other = SigningKey::generate(alg).unwrap();
        assert!(other.public_keys().classical.verify(msg, &c).is_err());
        let dbg = format!("{key:?}");
        assert!(dbg.contains("<private>") && !dbg.contains("BEGIN"));
    }
}

#[test]
fn wrong_key_types_are_refused_clearly() {
    let signing = SigningKey::generate(ClassicalAlg::Es384).unwrap();
    let kas = KasPrivateKey::generate(KasAlg::EcP384).unwrap();
    let err = KasPrivateKey::from_pem(&signing.to_pem().unwrap()).unwrap_err();
    assert!(matches!(err, Error::WrongKeyType(_)), "{err}");
    assert!(SigningKey::from_pem(&kas.to_pem().unwrap()).is_err());
    assert!(KasPublicKey::from_pem(&signing.public_keys().ml_dsa.to_pem()).is_err());
    assert!(VerifyingKey::from_pem(
        &KasPrivateKey::generate(KasAlg::EcP256)
            .unwrap()
            .public_key()
            .to_pem()
    )
    .is_err());
    assert!(KasPrivateKey::from_pem("").is_err());
    assert!(KasPrivateKey::from_pem(
        "-----BEGIN ML-KEM-1024 PRIVATE KEY-----\nAAAA\n-----END ML-KEM-1024 PRIVATE KEY-----\n"
    )
    .is_err());
}

#[cfg(unix)]
#[test]
fn keygen_writes_five_files_with_private_ones_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pak");
    let opts = KeygenOptions {
        party: "PAK".into(),
        name: Some("Pakistan".into()),
        authority: Some("Joint Staff Headquarters".into()),
        policy_id: None,
        kas: KasAlg::HybridP384MlKem1024,
        signing: ClassicalAlg::Es384,
    };
    let made = keygen(&out, &opts).unwrap();
    let mode = |n: &str| std::fs::metadata(out.join(n)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(KAS_KEY), 0o600);
    assert_eq!(mode(SIGNING_KEY), 0o600);
    assert_eq!(mode(PARTY_JSON) & 0o077, 0o044 & mode(PARTY_JSON));
    let party = load_party(&out.join(PARTY_JSON)).unwrap();
    assert_eq!(party, made.party);
    assert_eq!(party.signing_keys.classical.alg, SignatureAlg::Es384);
    assert_eq!(party.signing_keys.ml_dsa_87.alg, SignatureAlg::MlDsa87);
    let kas = load_kas_private(&out.join(KAS_KEY)).unwrap();
    assert_eq!(&party.kas_public_keys().unwrap()[0], kas.public_key());
    assert_eq!(
        load_kas_public(&out.join(KAS_PUB)).unwrap(),
        *kas.public_key()
    );
    let signer = load_signing_key(&out.join(SIGNING_KEY)).unwrap();
    assert_eq!(
        &load_signing_public(&out.join(SIGNING_PUB)).unwrap(),
        signer.public_keys()
    );
    assert_eq!(&party.signing_public_keys().unwrap(), signer.public_keys());
    // Never overwrite keys.
    let err = keygen(&out, &opts).unwrap_err().to_string();
    assert!(err.contains("already exists"), "{err}");
    // Bad party code.
    let bad = KeygenOptions {
        party: "pak".into(),
        ..opts
    };
    assert!(keygen(&dir.path().join("x"), &bad).is_err());
}

#[test]
fn party_json_refuses_unknown_fields_and_mismatched_keys() {
    let dir = tempfile::tempdir().unwrap();
    let opts = KeygenOptions {
        party: "USA".into(),
        name: None,
        authority: None,
        policy_id: Some("1.2.3".into()),
        kas: KasAlg::EcP256,
        signing: ClassicalAlg::Ed25519,
    };
    let made = keygen(dir.path(), &opts).unwrap();
    let json = made.party.to_json();
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["extra"] = serde_json::json!(1);
    let err = PartyDescriptor::from_json(v.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field"), "{err}");

    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["kas_keys"][0]["kid"] = serde_json::json!("00");
    let err = PartyDescriptor::from_json(v.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("kas_keys[0].kid"), "{err}");

    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["signing_keys"]["classical"]["alg"] = serde_json::json!("ES384");
    let err = PartyDescriptor::from_json(v.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("signing_keys.classical"), "{err}");

    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["node"] = serde_json::json!({"url": "https://usa.example", "tls_spki_sha256": "ab".repeat(32),
        "kas_keys": [], "log_verifier_key": "usa.example+1234+AAAA"});
    let p = PartyDescriptor::from_json(v.to_string().as_bytes()).unwrap();
    assert_eq!(p.node.unwrap().url, "https://usa.example");
    assert!(PartyDescriptor::from_json(b"{").is_err());
}

/// OpenTDF's PKCS#8 form of an ML-KEM or hybrid private key holds the 64-byte seed,
/// which aws-lc-rs cannot expand: such a file is named for what it is, not called "not
/// a KAS key".
#[test]
fn opentdf_seed_form_keys_are_named_for_what_they_are() {
    // PrivateKeyInfo { 0, { OID }, OCTET STRING (seed ‖ ...) }, as OpenTDF writes it.
    let pkcs8 = |oid: &[u8], private: &[u8]| {
        let mut alg = Vec::new();
        der::push_tlv(&mut alg, der::OID, oid);
        let mut info = Vec::new();
        der::push_tlv(&mut info, 0x02, &[0]);
        der::push_tlv(&mut info, der::SEQUENCE, &alg);
        der::push_tlv(&mut info, der::OCTET_STRING, private);
        let mut out = Vec::new();
        der::push_tlv(&mut out, der::SEQUENCE, &info);
        let mut pem_text = String::new();
        pem::encode_into(&mut pem_text, "PRIVATE KEY", &out);
        pem_text
    };
    let seed = [7u8; 64];
    let mut wrapped_seed = Vec::new();
    der::push_tlv(&mut wrapped_seed, 0x80, &seed);
    for (oid, private, what) in [
        (
            der::OID_ML_KEM_1024_P384,
            seed.to_vec(),
            "a hybrid P-384 + ML-KEM-1024 key",
        ),
        (der::OID_ML_KEM_1024, wrapped_seed, "an ML-KEM-1024 key"),
    ] {
        let e = KasPrivateKey::from_pem(&pkcs8(oid, &private))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("OpenTDF's PKCS#8 form of {what}")),
            "{e}"
        );
        assert!(e.contains("aws-lc-rs"), "{e}");
    }
}
