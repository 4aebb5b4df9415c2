//! The library API a party node builds on, driven end to end through the public API:
//! a remote [`AssertionSigner`], the agreement attribute, shares released by an online
//! KAS ([`ReleasedShare`]), [`verify_label`] from a manifest alone and [`unwrap_share`].

use accord_keys::{ClassicalAlg, KasAlg, KasPrivateKey, SigningKey, VerifyingKey};
use accord_tdf::manifest::{Assertion, Manifest, PolicyObject};
use accord_tdf::{
    agreement_of, assertion, inspect, keyaccess, open, seal, unwrap_share, verify_label,
    AssertionSigner, BoundLabel, Error, OpenOptions, OpenSummary, Recipient, ReleasedShare,
    SealOptions,
};
use base64::Engine;
use std::io::Cursor;
use std::sync::atomic::{AtomicUsize, Ordering};
use zeroize::Zeroizing;

const XML: &str = r#"<originatorConfidentialityLabel xmlns="urn:nato:stanag:4774:confidentialitymetadatalabel:1:0">
  <ConfidentialityInformation>
    <PolicyIdentifier URI="urn:oid:1.3.6.1.4.1.32473.1.2">USA</PolicyIdentifier>
    <Classification>SECRET</Classification>
    <Category TagName="Releasable To" Type="PERMISSIVE" URI="urn:oid:1.3.6.1.4.1.32473.1.2.1">
      <GenericValue>USA</GenericValue>
      <GenericValue>PAK</GenericValue>
    </Category>
  </ConfidentialityInformation>
</originatorConfidentialityLabel>
"#;
const MARKING: &str = "SECRET//REL TO USA, PAK";
const CISMOA: &str = "https://agreement.accord/attr/agreement/value/CISMOA-2005";

fn label() -> BoundLabel {
    BoundLabel {
        xml: XML.into(),
        marking: MARKING.into(),
    }
}

fn recipient(k: &KasPrivateKey, party: Option<&str>) -> Recipient {
    Recipient {
        kas: k.public_key().clone(),
        url: format!("https://{}.example/kas", party.unwrap_or("local")),
        party: party.map(String::from),
    }
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 13) as u8).collect()
}

fn seal_opts<'a>(
    signer: &'a dyn AssertionSigner,
    recipients: Vec<Recipient>,
    require: &[&str],
    agreement: Option<&str>,
) -> SealOptions<'a> {
    SealOptions {
        recipients,
        require: require.iter().map(|s| s.to_string()).collect(),
        signer,
        label: label(),
        segment_size: 256,
        mime_type: String::new(),
        metadata: Some("{\"note\":\"meta\"}".into()),
        agreement: agreement.map(String::from),
        progress: None,
    }
}

fn seal_to_vec(d: &[u8], opts: &SealOptions) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    seal(Cursor::new(d), &mut out, opts)?;
    Ok(out)
}

fn open_with(
    c: &[u8],
    keys: &[KasPrivateKey],
    released: &[ReleasedShare],
    trusted: &[VerifyingKey],
) -> Result<(Vec<u8>, OpenSummary), Error> {
    let mut out = Vec::new();
    let opts = OpenOptions {
        kas_keys: keys,
        released,
        trusted_signers: trusted,
        range: None,
        progress: None,
        decided_unlabelled: None,
    };
    let s = open(&mut Cursor::new(c), &mut out, &opts)?;
    Ok((out, s))
}

fn manifest_bytes(c: &[u8]) -> Vec<u8> {
    let l = accord_tdf::zip::read_layout(&mut Cursor::new(c)).unwrap();
    accord_tdf::zip::read_manifest(&mut Cursor::new(c), &l).unwrap()
}

fn container(c: &[u8], manifest: &[u8]) -> Vec<u8> {
    let l = accord_tdf::zip::read_layout(&mut Cursor::new(c)).unwrap();
    let mut w = accord_tdf::zip::ZipWriter::start(Vec::new()).unwrap();
    w.write_payload(
        &c[l.payload.data_offset as usize..(l.payload.data_offset + l.payload.size) as usize],
    )
    .unwrap();
    w.finish(manifest).unwrap()
}

fn aggregate(m: &Manifest) -> Vec<u8> {
    m.encryption_information
        .integrity_information
        .segments
        .iter()
        .flat_map(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(&s.hash)
                .unwrap()
        })
        .collect()
}

/// What an originator holding every key (KAS and signer) could build: a container whose
/// policy is edited by `edit`, with the policy bindings and label signatures remade, so
/// every check passes except the ones about what the policy says.
fn forge(
    c: &[u8],
    kas: &KasPrivateKey,
    signer: &SigningKey,
    edit: impl Fn(&mut PolicyObject),
) -> Vec<u8> {
    let mut m = Manifest::parse(&manifest_bytes(c)).unwrap();
    let old = m.encryption_information.policy.clone();
    let mut p = m.policy_object().unwrap();
    edit(&mut p);
    let new = base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&p).unwrap());
    for kao in &mut m.encryption_information.key_access {
        let share = unwrap_share(kas, kao, &old).unwrap();
        kao.policy_binding = serde_json::to_value(keyaccess::policy_binding(&share, &new)).unwrap();
    }
    m.encryption_information.policy = new;
    let value = serde_json::to_value(&m).unwrap();
    let digest = assertion::manifest_digest(&value).unwrap();
    let agg = aggregate(&m);
    signer
        .sign_assertions(&mut m.assertions, &value, &agg, &digest)
        .unwrap();
    container(c, &m.to_json())
}

/// A signer standing in for a node: it signs with its own key (the client never holds
/// it) and counts the calls.
struct NodeSigner {
    key: SigningKey,
    calls: AtomicUsize,
}

impl AssertionSigner for NodeSigner {
    fn sign_assertions(
        &self,
        assertions: &mut [Assertion],
        _manifest: &serde_json::Value,
        aggregate: &[u8],
        manifest_digest: &str,
    ) -> Result<(), Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        for a in assertions {
            assertion::sign(a, aggregate, manifest_digest, &self.key)?;
        }
        Ok(())
    }
}

/// A signer that does something other than signing.
struct BadSigner(&'static str);

impl AssertionSigner for BadSigner {
    fn sign_assertions(
        &self,
        assertions: &mut [Assertion],
        _manifest: &serde_json::Value,
        aggregate: &[u8],
        manifest_digest: &str,
    ) -> Result<(), Error> {
        let key = SigningKey::generate(ClassicalAlg::Ed25519).unwrap();
        for a in assertions.iter_mut() {
            if self.0 == "relabel" {
                a.statement.value = a.statement.value.replace("SECRET", "UNCLASSIFIED");
            }
            if self.0 != "unsigned" {
                assertion::sign(a, aggregate, manifest_digest, &key)?;
            }
        }
        if self.0 == "refuse" {
            return Err(Error::Untrusted(
                "the person may not apply this label".into(),
            ));
        }
        Ok(())
    }
}

#[test]
fn a_remote_signer_signs_the_label_and_open_trusts_its_key() {
    let kas = KasPrivateKey::generate(KasAlg::HybridP384MlKem1024).unwrap();
    let node = NodeSigner {
        key: SigningKey::generate(ClassicalAlg::Ed25519).unwrap(),
        calls: AtomicUsize::new(0),
    };
    let d = data(1000);
    let c = seal_to_vec(
        &d,
        &seal_opts(&node, vec![recipient(&kas, None)], &[], None),
    )
    .unwrap();
    assert_eq!(node.calls.load(Ordering::SeqCst), 1);
    let trusted = [node.key.public_keys().classical.clone()];
    let (out, s) = open_with(&c, std::slice::from_ref(&kas), &[], &trusted).unwrap();
    assert_eq!(out, d);
    let signer = s.signer.as_ref().unwrap();
    assert_eq!(signer.alg, "EdDSA");
    assert_eq!(signer.kid, node.key.public_keys().classical.kid());
    assert_eq!(s.marking, MARKING);

    // A signer that changes the label, leaves it unsigned or refuses: nothing sealed.
    for (bad, want) in [
        ("relabel", "changed assertion `accord-label`"),
        ("unsigned", "without a JWS binding"),
        ("refuse", "may not apply this label"),
    ] {
        let s = BadSigner(bad);
        let err = seal_to_vec(&d, &seal_opts(&s, vec![recipient(&kas, None)], &[], None))
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{bad}: {err}");
    }
}

#[test]
fn the_agreement_travels_in_the_policy_and_is_read_back_everywhere() {
    let kas = KasPrivateKey::generate(KasAlg::EcP384).unwrap();
    let signer = SigningKey::generate(ClassicalAlg::Es384).unwrap();
    let trusted = [signer.public_keys().classical.clone()];
    let d = data(700);
    let opts = seal_opts(
        &signer,
        vec![recipient(&kas, None)],
        &[],
        Some("CISMOA-2005"),
    );
    let c = seal_to_vec(&d, &opts).unwrap();

    let i = inspect(&mut Cursor::new(&c)).unwrap();
    assert_eq!(i.agreement.as_deref(), Some("CISMOA-2005"));
    let p = i.manifest.policy_object().unwrap();
    let fqns: Vec<&str> = p
        .body
        .data_attributes
        .iter()
        .map(|a| a.attribute.as_str())
        .collect();
    assert_eq!(
        fqns,
        [
            "https://usa.label.accord/attr/classification/value/secret",
            "https://usa.label.accord/attr/releasable%20to/value/usa",
            "https://usa.label.accord/attr/releasable%20to/value/pak",
            CISMOA,
        ]
    );
    assert_eq!(agreement_of(&p).as_deref(), Some("CISMOA-2005"));

    let (out, s) = open_with(&c, std::slice::from_ref(&kas), &[], &trusted).unwrap();
    assert_eq!(out, d);
    assert_eq!(s.agreement.as_deref(), Some("CISMOA-2005"));
    let v = verify_label(&manifest_bytes(&c), &trusted).unwrap();
    assert_eq!(v.agreement.as_deref(), Some("CISMOA-2005"));

    // Without an agreement: none anywhere.
    let plain = seal_to_vec(
        &d,
        &seal_opts(&signer, vec![recipient(&kas, None)], &[], None),
    )
    .unwrap();
    assert_eq!(inspect(&mut Cursor::new(&plain)).unwrap().agreement, None);
    assert_eq!(
        open_with(&plain, std::slice::from_ref(&kas), &[], &trusted)
            .unwrap()
            .1
            .agreement,
        None
    );
    assert!(seal_to_vec(
        &d,
        &seal_opts(&signer, vec![recipient(&kas, None)], &[], Some(""))
    )
    .is_err());

    // The agreement is bound like the rest of the policy: changing it alone breaks the
    // policy binding (open) and the label's manifest digest (verify_label).
    let other = "https://agreement.accord/attr/agreement/value/OTHER-2030";
    let mut m: serde_json::Value = serde_json::from_slice(&manifest_bytes(&c)).unwrap();
    let mut p2 = p.clone();
    p2.body.data_attributes[3].attribute = other.into();
    m["encryptionInformation"]["policy"] = base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(&p2).unwrap())
        .into();
    let swapped = m.to_string();
    let err = open_with(
        &container(&c, swapped.as_bytes()),
        std::slice::from_ref(&kas),
        &[],
        &trusted,
    )
    .unwrap_err();
    assert!(err.to_string().contains("policy binding"), "{err}");
    let err = verify_label(swapped.as_bytes(), &trusted).unwrap_err();
    assert!(err.to_string().contains("manifest changed"), "{err}");

    // An originator holding every key still cannot add a label-namespace attribute the
    // label does not give; attributes of other namespaces are not the label's concern.
    let extra = forge(&c, &kas, &signer, |p| {
        p.body.data_attributes[0].attribute =
            "https://usa.label.accord/attr/classification/value/unclassified".into();
    });
    for err in [
        open_with(&extra, std::slice::from_ref(&kas), &[], &trusted)
            .unwrap_err()
            .to_string(),
        verify_label(&manifest_bytes(&extra), &trusted)
            .unwrap_err()
            .to_string(),
    ] {
        assert!(err.contains("label/policy mismatch"), "{err}");
    }
    let foreign = forge(&c, &kas, &signer, |p| {
        let mut a = p.body.data_attributes[0].clone();
        a.attribute = "https://example.com/attr/project/value/blue".into();
        p.body.data_attributes.push(a);
    });
    assert_eq!(
        open_with(&foreign, std::slice::from_ref(&kas), &[], &trusted)
            .unwrap()
            .0,
        d
    );
    let twice = forge(&c, &kas, &signer, |p| {
        let a = p.body.data_attributes[3].clone();
        p.body.data_attributes.push(a);
    });
    let err = verify_label(&manifest_bytes(&twice), &trusted).unwrap_err();
    assert!(err.to_string().contains("second agreement"), "{err}");
}

#[test]
fn shares_released_elsewhere_open_the_object_and_a_wrong_share_is_a_binding_failure() {
    let pak = KasPrivateKey::generate(KasAlg::HybridP384MlKem1024).unwrap();
    let usa = KasPrivateKey::generate(KasAlg::MlKem1024).unwrap();
    let signer = SigningKey::generate(ClassicalAlg::Es384).unwrap();
    let trusted = [signer.public_keys().classical.clone()];
    let d = data(2000);
    let c = seal_to_vec(
        &d,
        &seal_opts(
            &signer,
            vec![recipient(&pak, Some("PAK")), recipient(&usa, Some("USA"))],
            &["PAK", "USA"],
            None,
        ),
    )
    .unwrap();
    let m = inspect(&mut Cursor::new(&c)).unwrap().manifest;
    let ei = &m.encryption_information;
    let kao = |sid: &str| ei.key_access.iter().find(|k| k.sid == sid).unwrap();

    // What PAK's online KAS does, then the client opens with USA's local key.
    let pak_share = unwrap_share(&pak, kao("PAK"), &ei.policy).unwrap();
    let released = [ReleasedShare {
        sid: "PAK".into(),
        share: pak_share.clone(),
    }];
    let usa_key = KasPrivateKey::from_pem(&usa.to_pem().unwrap()).unwrap();
    let (out, s) = open_with(&c, std::slice::from_ref(&usa_key), &released, &trusted).unwrap();
    assert_eq!(out, d);
    assert_eq!(s.metadata.as_deref(), Some("{\"note\":\"meta\"}"));

    // Every share released, no local key at all.
    let usa_share = unwrap_share(&usa, kao("USA"), &ei.policy).unwrap();
    let both = [
        released[0].clone(),
        ReleasedShare {
            sid: "USA".into(),
            share: usa_share,
        },
    ];
    assert_eq!(open_with(&c, &[], &both, &trusted).unwrap().0, d);

    // The other split is still needed: exit code 3 names it.
    let err = open_with(&c, &[], &released, &trusted).unwrap_err();
    assert!(
        matches!(err, Error::NoKey(ref m) if m.contains("share USA")),
        "{err}"
    );

    // A wrong share (another split's, a random one, a short one) never opens it.
    for wrong in [
        Zeroizing::new(both[1].share.to_vec()),
        Zeroizing::new(vec![7u8; 32]),
        Zeroizing::new(pak_share[..31].to_vec()),
    ] {
        let bad = [ReleasedShare {
            sid: "PAK".into(),
            share: wrong,
        }];
        let err = open_with(&c, std::slice::from_ref(&usa_key), &bad, &trusted).unwrap_err();
        assert!(
            matches!(err, Error::Integrity(ref m) if m.contains("policy binding")),
            "{err}"
        );
    }
    // The share never shows in debug output.
    let dbg = format!("{:?}", released[0]);
    assert!(dbg.contains("PAK") && dbg.contains("32 bytes"), "{dbg}");
}

#[test]
fn unwrap_share_unwraps_and_checks_the_policy_binding() {
    let kas = KasPrivateKey::generate(KasAlg::EcP256).unwrap();
    let stranger = KasPrivateKey::generate(KasAlg::EcP256).unwrap();
    let rsa = KasPrivateKey::generate(KasAlg::Rsa2048).unwrap();
    let signer = SigningKey::generate(ClassicalAlg::Es384).unwrap();
    let c = seal_to_vec(
        b"x",
        &seal_opts(&signer, vec![recipient(&kas, None)], &[], None),
    )
    .unwrap();
    let m = inspect(&mut Cursor::new(&c)).unwrap().manifest;
    let ei = &m.encryption_information;
    let kao = &ei.key_access[0];
    let share = unwrap_share(&kas, kao, &ei.policy).unwrap();
    assert_eq!(share.len(), 32);
    keyaccess::check_policy_binding(&share, &ei.policy, &kao.policy_binding).unwrap();

    let other_policy = base64::engine::general_purpose::STANDARD.encode(b"{\"uuid\":\"x\"}");
    let err = unwrap_share(&kas, kao, &other_policy).unwrap_err();
    assert!(
        matches!(err, Error::Integrity(ref m) if m.contains("policy binding")),
        "{err}"
    );
    assert!(matches!(
        unwrap_share(&stranger, kao, &ei.policy).unwrap_err(),
        Error::Integrity(_)
    ));
    let err = unwrap_share(&rsa, kao, &ei.policy).unwrap_err();
    assert!(err.to_string().contains("wrong key type"), "{err}");
}

#[test]
fn verify_label_checks_the_label_from_the_manifest_alone() {
    let kas = KasPrivateKey::generate(KasAlg::EcP384).unwrap();
    let signer = SigningKey::generate(ClassicalAlg::Es384).unwrap();
    let trusted = [signer.public_keys().classical.clone()];
    let c = seal_to_vec(
        &data(900),
        &seal_opts(&signer, vec![recipient(&kas, None)], &[], None),
    )
    .unwrap();
    let mb = manifest_bytes(&c);
    let v = verify_label(&mb, &trusted).unwrap();
    let policy = v.manifest.policy_object().unwrap();
    assert_eq!(v.object_id, policy.uuid);
    assert_eq!(v.label.policy, "USA");
    assert_eq!(v.label.classification, "SECRET");
    assert_eq!(v.label_xml, XML);
    assert_eq!(v.marking, MARKING);
    assert_eq!(v.signer.alg, "ES384");
    assert_eq!(v.signer.kid, trusted[0].kid());
    assert_eq!(v.agreement, None);

    // Untrusted signer.
    let stranger = SigningKey::generate(ClassicalAlg::Es384).unwrap();
    assert!(matches!(
        verify_label(&mb, &[stranger.public_keys().classical.clone()]).unwrap_err(),
        Error::Untrusted(_)
    ));
    assert!(matches!(
        verify_label(&mb, &[]).unwrap_err(),
        Error::Untrusted(_)
    ));

    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut m: serde_json::Value = serde_json::from_slice(&mb).unwrap();
        f(&mut m);
        verify_label(m.to_string().as_bytes(), &trusted)
            .unwrap_err()
            .to_string()
    };
    // The label statement, the segment list, the key access and the marking are bound.
    let err = edit(&|m| {
        let x = m["assertions"][0]["statement"]["value"]
            .as_str()
            .unwrap()
            .replace("SECRET", "CONFIDENTIAL");
        m["assertions"][0]["statement"]["value"] = x.into();
    });
    assert!(err.contains("statement changed"), "{err}");
    let err = edit(&|m| {
        let segs = &mut m["encryptionInformation"]["integrityInformation"]["segments"];
        let a = segs[0].clone();
        segs[0] = segs[1].clone();
        segs[1] = a;
    });
    assert!(err.contains("not bound to this payload"), "{err}");
    let err = edit(&|m| {
        m["encryptionInformation"]["keyAccess"][0]["url"] = "https://evil.example/kas".into();
    });
    assert!(err.contains("manifest changed"), "{err}");
    let err = edit(&|m| {
        m["assertions"][1]["statement"]["value"] = "UNCLASSIFIED".into();
    });
    assert!(err.contains("accord-marking"), "{err}");
    let err = edit(&|m| {
        let a = m["assertions"][0].clone();
        m["assertions"].as_array_mut().unwrap().push(a);
    });
    assert!(err.contains("appears twice"), "{err}");
    let err = edit(&|m| {
        m["assertions"].as_array_mut().unwrap().remove(0);
    });
    assert!(err.contains("no signed label assertion"), "{err}");

    // A label bound HS256 with the payload key (OpenTDF's default) vouches for nothing
    // to a KAS: refused with a clear error, by open as well.
    let share = unwrap_share(
        &kas,
        &v.manifest.encryption_information.key_access[0],
        &v.manifest.encryption_information.policy,
    )
    .unwrap();
    let mut m = v.manifest.clone();
    let jws = m.assertions[0].binding.signature.clone();
    let claims = jws.split('.').nth(1).unwrap();
    let header =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let input = format!("{header}.{claims}");
    let mac = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &share),
        input.as_bytes(),
    );
    m.assertions[0].binding.signature = format!(
        "{input}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.as_ref())
    );
    let hs = m.to_json();
    let err = verify_label(&hs, &trusted).unwrap_err();
    assert!(
        matches!(err, Error::Untrusted(ref e) if e.contains("HS256") && e.contains("payload key")),
        "{err}"
    );
    let err = open_with(
        &container(&c, &hs),
        std::slice::from_ref(&kas),
        &[],
        &trusted,
    )
    .unwrap_err();
    assert!(err.to_string().contains("HS256"), "{err}");

    // Bad input: clear errors, bounded.
    assert!(matches!(
        verify_label(b"{not json", &trusted).unwrap_err(),
        Error::Manifest(_)
    ));
    let huge = vec![b' '; 10 * 1024 * 1024 + 1];
    let err = verify_label(&huge, &trusted).unwrap_err();
    assert!(err.to_string().contains("over 10 MB"), "{err}");
}
