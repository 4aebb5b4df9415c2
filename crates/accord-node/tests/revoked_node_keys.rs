//! TLS, log and witness keys revoked while both nodes run (issue 20): a revoked key is
//! no longer accepted by the partner from the moment it holds the `revoke` record,
//! whatever grace period its replacement gave it, and the node stops signing with a
//! revoked log or witness key at once. Exchanges go on throughout, each object
//! delivered once. And a pinned TLS key does not extend its certificate's life: a
//! partner presenting an expired node certificate is refused, saying so.

use accord_agreement::amendment::KeyKind;
use accord_agreement::Time;
use accord_log::note::VerifierKey;
use accord_node::rotation::{self, RevokeOptions, RotateOptions};
use accord_node::sandbox;
use accord_node_api::client::Client;
use accord_test_support::Pair;
use accord_test_support::{fast, log_entries, open, seal_into, send_delivered as send, wait};

const MARKING: &str = "SECRET//REL TO USA, PAK//SCOPE EXERCISES";

use accord_test_support::{published_checkpoint as checkpoint, signatures_named};

fn vkey(text: &str) -> VerifierKey {
    VerifierKey::parse(text.trim()).unwrap()
}

#[test]
fn tls_log_and_witness_keys_revoked_while_both_nodes_run() {
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        officer: pak_officer,
    } = Pair::start(fast);
    let usa_officer = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    let dir = tmp.path();
    let agreement = sandbox::AGREEMENT_ID;
    let mut records = sb.agreement.records.len();
    let (mut to_usa, mut to_pak) = (Vec::new(), Vec::new());
    let mut exchange = |round: &str| {
        let f = seal_into(
            &pak_officer,
            MARKING,
            Some(agreement),
            round.as_bytes(),
            dir,
        );
        to_usa.push(send(&pak_officer, "USA", &f));
        assert_eq!(
            open(&usa_officer, &std::fs::read(&f).unwrap()).unwrap(),
            round.as_bytes()
        );
        let f = seal_into(
            &usa_officer,
            MARKING,
            Some(agreement),
            round.as_bytes(),
            dir,
        );
        to_pak.push(send(&usa_officer, "PAK", &f));
        assert_eq!(
            open(&pak_officer, &std::fs::read(&f).unwrap()).unwrap(),
            round.as_bytes()
        );
    };
    let rotate = |kind: KeyKind| {
        rt.block_on(rotation::rotate(
            &sb.pak,
            &RotateOptions {
                kind,
                reason: format!("scheduled {kind} rotation"),
                at: Time::now(),
                grace_days: None,
            },
        ))
        .unwrap()
    };
    let revoke = |kind: KeyKind, kid: &str| {
        rt.block_on(rotation::revoke(
            &sb.pak,
            &RevokeOptions {
                kind,
                kid: kid.to_string(),
                compromised: Time::now(),
                reason: format!("{kind} host stolen"),
                at: Time::now(),
            },
        ))
        .unwrap()
    };
    // USA's view of PAK now, once it holds `n` records.
    let usa_holds = |n: usize| {
        wait(&format!("USA holds {n} records"), || {
            rt.block_on(usa.node.agreements())
                .unwrap()
                .iter()
                .any(|h| h.agreement.records.len() == n && h.findings.is_empty())
        });
        let held = rt.block_on(usa.node.agreements()).unwrap();
        accord_node::partners::in_force(&held, "USA", Time::now())
            .into_iter()
            .find(|p| p.code == "PAK")
            .unwrap()
    };
    exchange("before");

    // TLS: rotated (a week's grace for the old key), presented once USA has it, then
    // the old key revoked: USA accepts the new key alone, grace or not.
    let tls = rotate(KeyKind::Tls);
    records += 1;
    wait("PAK presents its new TLS key", || {
        accord_keys::load_party(&sb.pak.layout.party())
            .unwrap()
            .node
            .unwrap()
            .tls_spki_sha256
            == tls.new
    });
    assert_eq!(usa_holds(records).tls_pins.len(), 2);
    let r = revoke(KeyKind::Tls, &tls.old);
    assert_eq!(r.replaced_by, None);
    assert_eq!(r.agreements[0].outcome, "revoked", "{:?}", r.agreements);
    records += 1;
    assert_eq!(usa_holds(records).tls_pins, vec![tls.new.clone()]);
    exchange("after the TLS revocation");

    // Log: rotated, both keys sign; the old one revoked: it stops signing at PAK, and
    // USA's witness accepts the new key alone.
    let origin = sb.pak.config.log_origin.clone();
    let log1 = rotate(KeyKind::Log);
    records += 1;
    assert_eq!(usa_holds(records).log_keys.len(), 2);
    wait("PAK's log signed by both keys", || {
        signatures_named(&sb.pak, &origin) == 2
    });
    revoke(KeyKind::Log, &log1.old);
    records += 1;
    let p = usa_holds(records);
    assert_eq!(p.log_keys.len(), 1);
    assert!(p.log_keys[0].starts_with(&log1.new), "{:?}", p.log_keys);
    wait("PAK's revoked log key stops signing", || {
        signatures_named(&sb.pak, &origin) == 1
    });
    exchange("after the old log key's revocation");
    // USA's witness cosigns PAK's new checkpoints under the new key.
    let usa_witness =
        vkey(&std::fs::read_to_string(sb.usa.layout.dir.join("witness/witness.vkey")).unwrap());
    let new_log = vkey(&p.log_keys[0]);
    let size = checkpoint(&sb.pak).checkpoint.size;
    wait("USA's witness cosigns PAK's log under the new key", || {
        let cp = checkpoint(&sb.pak);
        cp.checkpoint.size >= size
            && cp
                .verify(&new_log, std::slice::from_ref(&usa_witness))
                .is_ok()
    });

    // The log key in use revoked: replaced first, and the replaced key signs nothing.
    let r = revoke(KeyKind::Log, &log1.new);
    let log2 = r
        .replaced_by
        .clone()
        .expect("the current log key is replaced");
    records += 2;
    let p = usa_holds(records);
    assert_eq!(p.log_keys.len(), 1);
    assert!(p.log_keys[0].starts_with(&log2), "{:?}", p.log_keys);
    wait("PAK's log signed by its newest key alone", || {
        let cp = checkpoint(&sb.pak);
        cp.note
            .signatures
            .iter()
            .filter(|s| s.name == origin)
            .count()
            == 1
            && cp.verify(&vkey(&p.log_keys[0]), &[]).is_ok()
    });

    // Witness: rotated (the amendment pins it), rotated again (the first pinned key in
    // its grace), and that key revoked: USA checks PAK's cosignatures with the newest
    // alone, and PAK's witness cosigns with it alone.
    let w1 = rotate(KeyKind::Witness);
    let w2 = rotate(KeyKind::Witness);
    records += 2;
    assert_eq!(usa_holds(records).witness_keys.len(), 2);
    revoke(KeyKind::Witness, &w1.new);
    records += 1;
    let p = usa_holds(records);
    assert_eq!(p.witness_keys.len(), 1);
    assert!(
        p.witness_keys[0].starts_with(&w2.new),
        "{:?}",
        p.witness_keys
    );
    exchange("after the witness revocation");
    let pak_witness = vkey(&p.witness_keys[0]);
    wait(
        "PAK's witness cosigns USA's log with its newest key alone",
        || {
            let cp = checkpoint(&sb.usa);
            let usa_log = vkey(
                &accord_keys::load_party(&sb.usa.layout.party())
                    .unwrap()
                    .node
                    .unwrap()
                    .log_verifier_key,
            );
            cp.verify(&usa_log, std::slice::from_ref(&pak_witness))
                .is_ok()
                && signatures_named(&sb.usa, &pak_witness.name) == 1
        },
    );

    // PAK restarts: its log opens, and the check against USA's witness passes.
    rt.block_on(pak.stop()).unwrap();
    let pak = accord_test_support::start(&rt, &sb.pak, fast());
    exchange("after PAK restarted");

    // Nothing lost, nothing twice; every revocation in PAK's log.
    accord_test_support::assert_held_once(&usa_officer, &to_usa);
    accord_test_support::assert_held_once(&pak_officer, &to_pak);
    let log = log_entries(&sb.pak);
    for kind in ["tls", "log", "witness"] {
        assert!(
            log.iter()
                .any(|e| e["kind"] == "key" && e["change"] == "revoke" && e["subject"] == kind),
            "no {kind} revocation in PAK's log"
        );
    }
    drop((pak, usa));
}

#[test]
fn a_partner_node_certificate_past_its_dates_is_refused_though_pinned() {
    use std::sync::Arc;
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        officer: pak_officer,
    } = Pair::start(fast);
    let dir = tmp.path();
    // USA's clock past the end of PAK's node certificate (two years), the agreement
    // still in force (fifteen).
    let days = accord_node_api::pki::NODE_TLS_VALIDITY_DAYS + 2;
    rt.block_on(usa.stop()).unwrap();
    let usa = accord_test_support::start(
        &rt,
        &sb.usa,
        accord_node::server::ServeOptions {
            clock: Arc::new(move || Time::from_unix(Time::now().unix() + days * 86_400).unwrap()),
            ..fast()
        },
    );
    let f = seal_into(
        &pak_officer,
        MARKING,
        Some(sandbox::AGREEMENT_ID),
        b"late",
        dir,
    );
    let said = accord_test_support::send_refused(&pak_officer, "USA", &f, "expired on");
    assert!(said.contains("accord key rotate tls"), "{said}");
    drop((pak, usa));
}

/// Partners are merged over every agreement in force: a key revoked under one is
/// refused under every one (a revocation that reached one copy first does not leave
/// the key accepted through another), and a witness whose pinned keys are all revoked
/// has none, though pinned.
#[test]
fn a_key_revoked_under_one_agreement_is_refused_under_every_one() {
    use accord_agreement::{Agreement, KeyChange};
    use accord_node::agreements::Held;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sb = accord_test_support::sandbox(&rt, tmp.path());
    let pak = accord_test_support::signing_key(&sb.pak);
    let usa = accord_test_support::signing_key(&sb.usa);
    let t = Time::now();
    let mut first = sb.agreement.clone();
    let mut body = first.body.clone();
    body.id = "CISMOA-SECOND".into();
    let mut second = Agreement::draft(body).unwrap();
    for k in [&pak, &usa] {
        second.approve(k, "approved", t).unwrap();
    }
    for k in [&pak, &usa] {
        second.sign(k, t).unwrap();
    }
    // PAK's new log key in both, with a week's grace for the old one; a witness key
    // pinned in the second.
    let old_log = sb.pak.party.node.as_ref().unwrap().log_verifier_key.clone();
    let origin = old_log.split('+').next().unwrap().to_string();
    let new_log = accord_log::note::SigningKey::generate(&origin, accord_log::note::TYPE_ED25519)
        .unwrap()
        .verifier()
        .to_string();
    let witness = accord_log::note::SigningKey::generate(
        "witness.pak.accord",
        accord_log::note::TYPE_COSIGNATURE_V1,
    )
    .unwrap()
    .verifier()
    .to_string();
    let grace = Time::from_unix(t.unix() + 7 * 86_400).unwrap();
    for doc in [&mut first, &mut second] {
        doc.amend(
            &pak,
            KeyChange::Log(new_log.clone()),
            t,
            Some(grace),
            "rotation",
            t,
        )
        .unwrap();
    }
    second
        .amend(
            &pak,
            KeyChange::Witness(witness.clone()),
            t,
            None,
            "pinned",
            t,
        )
        .unwrap();
    let held = |docs: &[&Agreement]| -> Vec<Held> {
        docs.iter()
            .map(|d| Held {
                findings: accord_agreement::verify(d),
                agreement: (*d).clone(),
            })
            .collect()
    };
    let pak_at = |held: &[Held]| {
        accord_node::partners::in_force(held, "USA", Time::from_unix(t.unix() + 1).unwrap())
            .into_iter()
            .find(|p| p.code == "PAK")
            .unwrap()
    };
    let p = pak_at(&held(&[&first, &second]));
    assert_eq!(p.log_keys.len(), 2, "{:?}", p.log_keys);
    assert_eq!(p.witness_keys, vec![witness.clone()]);
    assert!(p.witness_pinned);
    // The old log key revoked in the first only, the pinned witness key in the second.
    let old_id = accord_agreement::amendment::verifier_key_id(&old_log);
    first
        .revoke(&pak, KeyKind::Log, &old_id, t, "log host stolen", t)
        .unwrap();
    second
        .revoke(
            &pak,
            KeyKind::Witness,
            &accord_agreement::amendment::verifier_key_id(&witness),
            t,
            "witness host stolen",
            t,
        )
        .unwrap();
    let p = pak_at(&held(&[&first, &second]));
    assert_eq!(p.log_keys, vec![new_log.clone()]);
    assert!(p.witness_keys.is_empty() && p.witness_pinned, "{p:?}");
    // The second alone still accepts the old log key through its grace.
    assert_eq!(pak_at(&held(&[&second])).log_keys.len(), 2);
}
