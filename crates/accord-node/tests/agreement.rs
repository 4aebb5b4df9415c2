//! Decisions under an agreement, through two running nodes (PAK seals, USA opens):
//! permit, wrong nationality, person's scope, scope not covered, above the ceiling,
//! expired (with the test clock), terminated (a later copy loaded).

use accord_agreement::{Agreement, Body, Party, Scope, Time};
use accord_node::directory::{self, Enrolment};
use accord_node::home::{Home, InitOptions};
use accord_node::server::{self, ServeOptions};
use accord_node_api::client::{self, Client};
use accord_node_api::credential::Credential;
use accord_node_api::wire;
use accord_test_support::{
    self as support, countersign, init_home, init_options, kas_recipient, load_agreement,
    log_entries, pak_usa_translations, policies, signing_key,
};
use std::path::Path;
use std::sync::Arc;

fn clearance(policy: &str, classes: &[&str], rel: &str) -> String {
    serde_json::json!({"policy": {"name": policy}, "classifications": classes,
        "categories": [{"tagSet": "Releasable To", "values": [rel]},
                       {"tagSet": "Scope", "values": ["EXERCISES", "TRAINING", "OPERATIONS"]}]})
    .to_string()
}

fn node(rt: &tokio::runtime::Runtime, dir: &Path, party: &str) -> Home {
    init_home(
        rt,
        dir,
        &InitOptions {
            authority: Some(format!("{party} ministry of defence")),
            ..init_options(party)
        },
    )
}

fn enrol(
    rt: &tokio::runtime::Runtime,
    home: &Home,
    id: &str,
    nationality: &str,
    clearance: &str,
    scopes: &[&str],
) -> Credential {
    rt.block_on(directory::add(
        home,
        &Enrolment {
            id: id.into(),
            name: id.into(),
            nationality: nationality.into(),
            clearance: ("clearance.json".into(), clearance.as_bytes().to_vec()),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            role: Default::default(),
        },
    ))
    .unwrap()
    .1
}

fn agreement(pak: &Home, usa: &Home) -> Agreement {
    let body = Body {
        id: "CISMOA-TEST".into(),
        title: "US-Pakistan CIS-MOA (test)".into(),
        version: 1,
        predecessor: None,
        effective_from: Time::parse("2020-01-01T00:00:00Z").unwrap(),
        expires: Time::parse("2035-01-01T00:00:00Z").unwrap(),
        scopes: vec![
            Scope::parse("EXERCISES").unwrap(),
            Scope::parse("TRAINING").unwrap(),
        ],
        ceiling: Some("SECRET".into()),
        translations: pak_usa_translations(),
        terms: String::new(),
        parties: vec![
            Party::from_descriptor(&pak.party).unwrap(),
            Party::from_descriptor(&usa.party).unwrap(),
        ],
    };
    let mut a = Agreement::draft(body).unwrap();
    let at = Time::parse("2020-01-01T00:00:00Z").unwrap();
    countersign(&mut a, &[(pak, "cabinet"), (usa, "DoD")], at);
    a
}

fn load(rt: &tokio::runtime::Runtime, home: &Home, a: &Agreement) {
    let text = String::from_utf8(a.to_canonical_json().unwrap()).unwrap();
    load_agreement(rt, home, &text);
}

/// Seal offline with the PAK party key (as a PAK node would sign), any label.
fn seal_offline(pak: &Home, usa: &Home, marking: &str) -> Vec<u8> {
    seal_with(pak, usa, marking, Some("CISMOA-TEST"))
}

/// Seal offline a PAK-policy label signed with `signer`'s key, for `kas`'s KAS, naming
/// `agreement`.
fn seal_with(signer: &Home, kas: &Home, marking: &str, agreement: Option<&str>) -> Vec<u8> {
    support::seal_offline(
        &signing_key(signer),
        kas_recipient(kas),
        marking,
        agreement,
        b"plan",
    )
    .unwrap()
}

/// Asks the node to sign for the manifest with the agreement attribute taken out of its
/// policy, and hands the signatures back as if they were for the real one.
struct LyingSigner<'a>(client::NodeSigner<'a>);

impl accord_tdf::AssertionSigner for LyingSigner<'_> {
    fn sign_assertions(
        &self,
        assertions: &mut [accord_tdf::manifest::Assertion],
        manifest: &serde_json::Value,
        aggregate: &[u8],
        manifest_digest: &str,
    ) -> Result<(), accord_tdf::Error> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut shown = manifest.clone();
        let policy = &mut shown["encryptionInformation"]["policy"];
        let mut p: serde_json::Value =
            serde_json::from_slice(&b64.decode(policy.as_str().unwrap()).unwrap()).unwrap();
        p["body"]["dataAttributes"]
            .as_array_mut()
            .unwrap()
            .retain(|a| {
                !a["attribute"]
                    .as_str()
                    .unwrap()
                    .contains("agreement.accord")
            });
        *policy = serde_json::Value::String(b64.encode(p.to_string()));
        self.0
            .sign_assertions(assertions, &shown, aggregate, manifest_digest)
    }
}

fn open(c: &Client, tdf: &[u8]) -> Result<Vec<u8>, Vec<String>> {
    match support::open(c, tdf) {
        Ok(out) => Ok(out),
        Err(accord_node::Error::Denied(r)) => {
            Err(r.into_iter().map(|r| r.rule.to_string()).collect())
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[test]
fn decisions_under_an_agreement() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let pak = node(&rt, &tmp.path().join("pak"), "PAK");
    let usa = node(&rt, &tmp.path().join("usa"), "USA");
    let a = agreement(&pak, &usa);
    load(&rt, &pak, &a);
    load(&rt, &usa, &a);
    let pak_officer = enrol(
        &rt,
        &pak,
        "pak-officer",
        "PAK",
        &clearance(
            "PAK",
            &["UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET"],
            "PAK",
        ),
        &["EXERCISES"],
    );
    let usa_classes = ["UNCLASSIFIED", "CONFIDENTIAL", "SECRET", "TOP SECRET"];
    let usa_officer = enrol(
        &rt,
        &usa,
        "usa-officer",
        "USA",
        &clearance("USA", &usa_classes, "USA"),
        &["EXERCISES", "OPERATIONS"],
    );
    let foreign = enrol(
        &rt,
        &usa,
        "usa-gbr",
        "GBR",
        &clearance("USA", &usa_classes, "USA"),
        &["EXERCISES"],
    );
    let trainer = enrol(
        &rt,
        &usa,
        "usa-trainer",
        "USA",
        &clearance("USA", &usa_classes, "USA"),
        &["TRAINING"],
    );

    let pak_node = rt
        .block_on(server::start(
            pak.layout.dir.as_path(),
            ServeOptions::default(),
        ))
        .unwrap();
    let usa_node = rt
        .block_on(server::start(
            usa.layout.dir.as_path(),
            ServeOptions::default(),
        ))
        .unwrap();

    // Sealed at PAK under the agreement: key access for PAK and USA.
    let pak_officer = Client::new(pak_officer).unwrap();
    let mut tdf = Vec::new();
    let sealed = client::seal(
        &pak_officer,
        &wire::SealPlanRequest {
            marking: Some("SECRET//REL TO USA, PAK//SCOPE EXERCISES".into()),
            label: None,
            agreement: Some("CISMOA-TEST".into()),
            choose_agreement: false,
        },
        &b"joint exercise plan"[..],
        &mut tdf,
        1 << 20,
        None,
    )
    .unwrap();
    let parties: Vec<&str> = sealed
        .plan
        .recipients
        .iter()
        .map(|r| r.party.as_str())
        .collect();
    assert_eq!(parties, ["PAK", "USA"]);
    // A label the agreement does not cover cannot be applied under it; the refusal is
    // logged like the permit, both naming the agreement.
    let refused = client::seal(
        &pak_officer,
        &wire::SealPlanRequest {
            marking: Some("SECRET//REL TO USA, PAK//SCOPE OPERATIONS".into()),
            label: None,
            agreement: Some("CISMOA-TEST".into()),
            choose_agreement: false,
        },
        &b"operations order"[..],
        &mut Vec::new(),
        1 << 20,
        None,
    );
    match refused {
        Err(accord_node::Error::Denied(r)) => assert_eq!(r[0].rule, "agreement-scope", "{r:?}"),
        other => panic!("expected a denial, got {other:?}"),
    }
    // Nor by skipping the plan: a client that seals by itself, naming the agreement in
    // the policy, and asks the node only to sign. The node decides under the agreement
    // the manifest's policy names, whatever the client says, and refuses (and logs) it.
    let signer = client::NodeSigner {
        client: &pak_officer,
        log_index: std::sync::Mutex::new(None),
    };
    let ops = "SECRET//REL TO USA, PAK//SCOPE OPERATIONS";
    let bypass = support::seal_offline(
        &signer,
        kas_recipient(&pak),
        ops,
        Some("CISMOA-TEST"),
        b"plan",
    );
    let err = bypass.expect_err("the node signed a label the agreement does not cover");
    assert!(err.to_string().contains("agreement-scope"), "{err}");
    // A label the person may apply, for an object wrapped for a KAS the plan would not
    // name: not signed either.
    let stranger =
        accord_keys::KasPrivateKey::generate(accord_keys::KasAlg::HybridP384MlKem1024).unwrap();
    let elsewhere = support::seal_offline(
        &signer,
        accord_tdf::Recipient {
            kas: stranger.public_key().clone(),
            url: "https://kas.elsewhere.example".into(),
            party: None,
        },
        "SECRET//REL TO USA, PAK//SCOPE EXERCISES",
        Some("CISMOA-TEST"),
        b"plan",
    );
    let err = elsewhere.expect_err("the node signed for an object wrapped for a stranger");
    assert!(
        err.to_string()
            .contains("is not a KAS this label goes to under agreement CISMOA-TEST"),
        "{err}"
    );
    // Nor by describing another object: a client that shows the node the same manifest
    // without the agreement (a national decision, which permits) gets a signature for
    // that manifest only. Put on the object that names the agreement, it does not
    // verify, and the KAS releases nothing.
    let lying = LyingSigner(client::NodeSigner {
        client: &pak_officer,
        log_index: std::sync::Mutex::new(None),
    });
    let spliced = support::seal_offline(
        &lying,
        kas_recipient(&pak),
        ops,
        Some("CISMOA-TEST"),
        b"plan",
    )
    .unwrap();
    assert_eq!(
        open(&pak_officer, &spliced),
        Err(vec!["object-integrity".to_string()])
    );

    let officer = Client::new(usa_officer).unwrap();
    assert_eq!(open(&officer, &tdf).unwrap(), b"joint exercise plan");

    assert_eq!(
        open(&Client::new(foreign).unwrap(), &tdf),
        Err(vec!["releasability".to_string()])
    );
    assert_eq!(
        open(&Client::new(trainer).unwrap(), &tdf),
        Err(vec!["person-scope".to_string()])
    );

    let ops = seal_offline(&pak, &usa, "SECRET//REL TO USA, PAK//SCOPE OPERATIONS");
    assert_eq!(
        open(&officer, &ops),
        Err(vec!["agreement-scope".to_string()])
    );
    let ts = seal_offline(&pak, &usa, "TOP SECRET//REL TO USA, PAK//SCOPE EXERCISES");
    assert_eq!(open(&officer, &ts), Err(vec!["ceiling".to_string()]));

    // A partner's key vouches only for objects under an agreement that lists it: a PAK
    // label signed with the USA key and naming no agreement does not open at PAK (it
    // would otherwise be decided under PAK's national policy alone, as if PAK had
    // labelled it), nor one naming an agreement the USA key is not in.
    let marking = "SECRET//REL TO USA, PAK//SCOPE EXERCISES";
    for agreement in [None, Some("CISMOA-OTHER")] {
        let stray = seal_with(&usa, &pak, marking, agreement);
        assert_eq!(
            open(&pak_officer, &stray),
            Err(vec!["object-integrity".to_string()]),
            "{agreement:?}"
        );
    }
    // Under the agreement that lists it, the same key's label is taken (and decided).
    let listed = seal_with(&usa, &pak, marking, Some("CISMOA-TEST"));
    assert_eq!(open(&pak_officer, &listed).unwrap(), b"plan");

    // Expired: the same node with its clock in 2040 (a test-only override).
    rt.block_on(usa_node.stop()).unwrap();
    let later = ServeOptions {
        clock: Arc::new(|| Time::parse("2040-01-01T00:00:00Z").unwrap()),
        ..ServeOptions::default()
    };
    let usa_node = rt
        .block_on(server::start(usa.layout.dir.as_path(), later))
        .unwrap();
    assert_eq!(
        open(&officer, &tdf),
        Err(vec!["agreement-in-force".to_string()])
    );
    rt.block_on(usa_node.stop()).unwrap();

    // Terminated: PAK gives notice, the later copy is loaded at USA.
    let mut t = a.clone();
    t.terminate(
        &signing_key(&pak),
        Time::parse("2025-06-01T00:00:00Z").unwrap(),
        Time::parse("2025-01-01T00:00:00Z").unwrap(),
    )
    .unwrap();
    load(&rt, &usa, &t);
    let usa_node = rt
        .block_on(server::start(
            usa.layout.dir.as_path(),
            ServeOptions::default(),
        ))
        .unwrap();
    assert_eq!(
        open(&officer, &tdf),
        Err(vec!["agreement-in-force".to_string()])
    );
    rt.block_on(usa_node.stop()).unwrap();
    rt.block_on(pak_node.stop()).unwrap();
    let labels: Vec<(String, String, String)> = log_entries(&pak)
        .into_iter()
        .filter(|e| e["kind"] == "label")
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
            (s("decision"), s("agreement"), s("marking"))
        })
        .collect();
    assert_eq!(
        labels,
        [
            (
                "permit".to_string(),
                "CISMOA-TEST".to_string(),
                "SECRET//REL TO PAK, USA//SCOPE EXERCISES".to_string()
            ),
            (
                "deny".to_string(),
                "CISMOA-TEST".to_string(),
                "SECRET//REL TO PAK, USA//SCOPE OPERATIONS".to_string()
            ),
            (
                "deny".to_string(),
                "CISMOA-TEST".to_string(),
                "SECRET//REL TO PAK, USA//SCOPE OPERATIONS".to_string()
            ),
            // The object wrapped for a stranger's KAS: refused (422) as the route
            // answers, logged like every refusal of a known person.
            ("deny".to_string(), String::new(), String::new()),
            // What the lying client showed the node: no agreement, a national permit.
            (
                "permit".to_string(),
                String::new(),
                "SECRET//REL TO PAK, USA//SCOPE OPERATIONS".to_string()
            ),
        ]
    );
}

/// An agreement verifies against the keys it carries, so anyone can make one naming
/// "PAK" with keys of their own. The PAK node takes only one whose PAK is itself: an
/// impostor's agreement is refused (and its signer never trusted), as is one drafted
/// from another node's party.json.
#[test]
fn a_node_loads_only_agreements_that_name_it_with_its_own_keys() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let pak = node(&rt, &tmp.path().join("pak"), "PAK");
    let usa = node(&rt, &tmp.path().join("usa"), "USA");
    let impostor = node(&rt, &tmp.path().join("impostor"), "PAK");
    let try_load = |home: &Home, a: &Agreement| {
        let text = String::from_utf8(a.to_canonical_json().unwrap()).unwrap();
        rt.block_on(async {
            let s = home.store().await.unwrap();
            let r = accord_node::agreements::load(&s, &home.party, &home.history, &text).await;
            s.close().await;
            r
        })
    };
    // Signed by the impostor's "PAK" keys and by USA: it verifies, but not for this PAK.
    let forged = agreement(&impostor, &usa);
    assert!(accord_agreement::verify(&forged).is_empty());
    let e = try_load(&pak, &forged).unwrap_err().to_string();
    assert!(
        e.contains("gives PAK signing keys that are not this node's") && e.contains("not loaded"),
        "{e}"
    );
    // The same agreement is fine where it does name the node with its keys.
    try_load(&usa, &forged).unwrap();
    // Nothing of it is held at PAK: an object signed by the impostor is not trusted.
    let held = rt.block_on(async {
        let s = pak.store().await.unwrap();
        let a = s.agreements().await.unwrap();
        s.close().await;
        a
    });
    assert!(held.is_empty());

    // PAK's own signing keys, but another node's TLS key: drafted from the wrong file.
    let mut mixed = pak.party.clone();
    mixed.node = impostor.party.node.clone();
    let mut body = agreement(&pak, &usa).body;
    body.id = "CISMOA-MIXED".into();
    body.parties[0] = Party::from_descriptor(&mixed).unwrap();
    let mut a = Agreement::draft(body).unwrap();
    let at = Time::parse("2020-01-01T00:00:00Z").unwrap();
    countersign(&mut a, &[(&pak, "cabinet"), (&usa, "DoD")], at);
    let e = try_load(&pak, &a).unwrap_err().to_string();
    assert!(e.contains("a TLS key (pin) that is not this node's"), "{e}");

    // And the other way round: the impostor cannot take the real PAK's agreement.
    let e = try_load(&impostor, &agreement(&pak, &usa))
        .unwrap_err()
        .to_string();
    assert!(e.contains("signing keys that are not this node's"), "{e}");
}

/// A witness keeps its state per log name. An agreement that gives a party's log the
/// name another party's log has (here GBR's node made with PAK's URL, so its log
/// origin is PAK's) is not loaded where the first name is known: its log could replace
/// PAK's witnessed state and have PAK's genuine checkpoints refused.
#[test]
fn an_agreement_giving_a_log_another_partys_name_is_not_loaded() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let pak = node(&rt, &tmp.path().join("pak"), "PAK");
    let usa = node(&rt, &tmp.path().join("usa"), "USA");
    let gbr = init_home(
        &rt,
        &tmp.path().join("gbr"),
        &InitOptions {
            authority: Some("GBR ministry of defence".into()),
            policies: vec![policies().join("pak.xml")],
            url: Some(pak.config.url.clone()),
            ..init_options("GBR")
        },
    );
    assert_eq!(gbr.config.log_origin, pak.config.log_origin);
    load(&rt, &usa, &agreement(&pak, &usa));
    let mut body = agreement(&gbr, &usa).body;
    body.id = "CISMOA-GBR".into();
    let mut a = Agreement::draft(body).unwrap();
    let at = Time::parse("2020-01-01T00:00:00Z").unwrap();
    countersign(&mut a, &[(&gbr, "MoD"), (&usa, "DoD")], at);
    let text = String::from_utf8(a.to_canonical_json().unwrap()).unwrap();
    let e = rt
        .block_on(async {
            let s = usa.store().await.unwrap();
            let r = accord_node::agreements::load(&s, &usa.party, &usa.history, &text).await;
            s.close().await;
            r
        })
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("which PAK's log has") && e.contains("not loaded"),
        "{e}"
    );
}

/// A record is dated when it is signed. A partner's copy whose new record is dated
/// ahead of this node's clock is refused: taken, it would bar every record of this
/// party (a termination, an amendment) dated before it. A copy with another valid
/// record where the held one has its own is an equivocation, refused as one.
#[test]
fn a_copy_with_a_record_dated_ahead_is_not_loaded() {
    use accord_agreement::{HybridSignature, Record, RecordKind, Signer};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let pak = node(&rt, &tmp.path().join("pak"), "PAK");
    let usa = node(&rt, &tmp.path().join("usa"), "USA");
    let a = agreement(&pak, &usa);
    load(&rt, &usa, &a);
    // PAK's notice of termination, signed by PAK's key but dated `ahead` seconds on.
    let notice = |ahead: i64| {
        let mut b = a.clone();
        let now = Time::now().unix();
        let body_digest = b.body.digest().unwrap();
        let mut r = Record {
            kind: RecordKind::Terminate {
                effective: Time::from_unix(now + 30 * 86_400).unwrap(),
            },
            party: "PAK".into(),
            time: Time::from_unix(now + ahead).unwrap(),
            previous: b.records.last().unwrap().digest().unwrap(),
            signature: HybridSignature {
                ecdsa_p384: vec![],
                ml_dsa_87: vec![],
            },
        };
        r.signature = Signer::sign(&signing_key(&pak), &r.message(&body_digest).unwrap()).unwrap();
        b.records.push(r);
        assert!(
            accord_agreement::verify(&b).is_empty(),
            "a well-formed record"
        );
        String::from_utf8(b.to_canonical_json().unwrap()).unwrap()
    };
    let try_load = |text: &str| {
        rt.block_on(async {
            let s = usa.store().await.unwrap();
            let r = accord_node::agreements::load(&s, &usa.party, &usa.history, text).await;
            s.close().await;
            r
        })
    };
    let e = try_load(&notice(86_400)).unwrap_err().to_string();
    assert!(
        e.contains("record 5 (terminate, by PAK)") && e.contains("in the future"),
        "{e}"
    );
    // Within the clocks' skew (5 minutes): taken.
    assert_eq!(try_load(&notice(60)).unwrap().outcome, "replaced");
    // Another valid record 5 by PAK (a second notice, other times): two histories
    // under PAK's key, refused and called what it is.
    let e = try_load(&notice(120)).unwrap_err().to_string();
    assert!(
        e.contains("equivocation")
            && e.contains("record 5 of this copy (terminate, signed by PAK")
            && e.contains("not loaded"),
        "{e}"
    );
}
