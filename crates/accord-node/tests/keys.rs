//! Keys over an agreement's life at running nodes (issue 20): PAK rotates its KAS key
//! while both nodes run and objects travel both ways. What was sealed before still
//! opens at both nodes, what is sealed after names the new key at both (USA learns it
//! from the amended agreement over federation), every object is delivered once, and
//! both audit logs hold the copy's journey.

use accord_agreement::amendment::KeyKind;
use accord_agreement::Time;
use accord_node::rotation::{self, RotateOptions};
use accord_node::sandbox;
use accord_node_api::client::Client;
use accord_test_support::{fast, send_delivered as send, wait};
use accord_test_support::{log_entries, manifest, open, seal_into, Pair};
use std::time::Duration;

const MARKING: &str = "SECRET//REL TO USA, PAK//SCOPE EXERCISES";

/// The kids of the key access objects of a sealed object.
fn kao_kids(tdf: &[u8]) -> Vec<String> {
    manifest(tdf)["encryptionInformation"]["keyAccess"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn kas_rotation_while_both_nodes_run() {
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
    let old_kid = sb.pak.party.node.as_ref().unwrap().kas_keys[0].kid.clone();
    let usa_kid = sb.usa.party.node.as_ref().unwrap().kas_keys[0].kid.clone();
    let records_before = sb.agreement.records.len();

    // Before: an object from each side, both naming PAK's first KAS key.
    let before_pak = seal_into(&pak_officer, MARKING, Some(agreement), b"before, PAK", dir);
    let before_usa = seal_into(&usa_officer, MARKING, Some(agreement), b"before, USA", dir);
    for f in [&before_pak, &before_usa] {
        let kids = kao_kids(&std::fs::read(f).unwrap());
        assert!(
            kids.contains(&old_kid) && kids.contains(&usa_kid),
            "{kids:?}"
        );
    }
    let sent_before = send(&pak_officer, "USA", &before_pak);
    // Each node keeps the evidence that the object existed: PAK signed its label, USA
    // received it (what a revocation of a key it uses will be judged by).
    let digest =
        accord_tdf::assertion::manifest_digest(&manifest(&std::fs::read(&before_pak).unwrap()))
            .unwrap();
    for (home, evidence) in [(&sb.pak, "label"), (&sb.usa, "receive")] {
        let store = rt.block_on(home.store()).unwrap();
        let row = rt.block_on(store.sealed(&digest)).unwrap().unwrap();
        assert_eq!(
            (row.evidence.as_str(), row.object_id.as_str()),
            (evidence, sent_before.as_str())
        );
        assert!((Time::now().unix() - row.at).abs() < 120, "{row:?}");
    }

    // Rotate while both run, with two objects in flight from PAK (queued before the
    // rotation, delivered around it).
    let in_flight: Vec<_> = (0..2)
        .map(|i| {
            let f = seal_into(
                &pak_officer,
                MARKING,
                Some(agreement),
                format!("in flight {i}").as_bytes(),
                dir,
            );
            pak_officer.send("USA", &f, None).unwrap().id
        })
        .collect();
    let r = rt
        .block_on(rotation::rotate(
            &sb.pak,
            &RotateOptions {
                kind: KeyKind::Kas,
                reason: "scheduled rotation".into(),
                at: Time::now(),
                grace_days: None,
            },
        ))
        .unwrap();
    assert_eq!(r.old, old_kid);
    assert_ne!(r.new, old_kid);
    assert_eq!(r.agreements.len(), 1, "{:?}", r.agreements);
    assert_eq!(r.agreements[0].outcome, "amended");
    assert_eq!(r.agreements[0].records, records_before + 1);
    let new_kid = r.new.clone();
    // The old private key is kept, 0600, beside the new one.
    let ring = sb.pak.layout.keys().join("kas");
    for kid in [&old_kid, &new_kid] {
        let meta = std::fs::metadata(ring.join(format!("{kid}.key"))).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }

    // USA takes the amended copy over federation; PAK's node takes its new key.
    wait("USA loads the amendment", || {
        rt.block_on(usa.node.agreements())
            .unwrap()
            .iter()
            .any(|h| h.agreement.body.id == agreement && h.agreement.records.len() > records_before)
    });
    wait("PAK's node uses its new key", || {
        rt.block_on(pak.node.agreements()).unwrap();
        pak.node.own().current_kas().public_key().kid() == new_kid
    });

    // After: both sides seal to PAK's new key only.
    let after_pak = seal_into(&pak_officer, MARKING, Some(agreement), b"after, PAK", dir);
    let after_usa = seal_into(&usa_officer, MARKING, Some(agreement), b"after, USA", dir);
    for f in [&after_pak, &after_usa] {
        let kids = kao_kids(&std::fs::read(f).unwrap());
        assert!(
            kids.contains(&new_kid) && !kids.contains(&old_kid) && kids.contains(&usa_kid),
            "{kids:?}"
        );
    }

    // Everything opens: old-key objects at PAK (its ring) and at USA, new-key ones both.
    for f in [&before_pak, &before_usa, &after_pak, &after_usa] {
        let tdf = std::fs::read(f).unwrap();
        let at_pak = open(&pak_officer, &tdf).unwrap();
        let at_usa = open(&usa_officer, &tdf).unwrap();
        assert_eq!(at_pak, at_usa);
    }

    // Objects both ways after the rotation; the in-flight ones delivered once each.
    let sent_after = send(&pak_officer, "USA", &after_pak);
    send(&usa_officer, "PAK", &after_usa);
    send(&usa_officer, "PAK", &before_usa);
    wait("in-flight deliveries", || {
        let out = pak_officer.outbox().unwrap();
        in_flight
            .iter()
            .all(|id| out.iter().any(|o| &o.id == id && o.state == "delivered"))
    });
    let inbox = usa_officer.inbox().unwrap();
    for id in in_flight.iter().chain([&sent_before, &sent_after]) {
        assert_eq!(
            inbox.iter().filter(|i| &i.id == id).count(),
            1,
            "{id} held once at USA: {inbox:#?}"
        );
    }

    // USA's log says it took PAK's amended copy; PAK's and USA's logs hold the rewraps
    // of the old-key objects as permits.
    let usa_log = log_entries(&sb.usa);
    assert!(
        usa_log.iter().any(|e| e["kind"] == "agreement"
            && e["decision"] == "permit"
            && e["partner"] == "PAK"
            && e["reasons"].to_string().contains("replaced")),
        "{usa_log:#?}"
    );

    // PAK's log holds the rotation (`key`), written by the running node.
    wait("the rotation in PAK's log", || {
        log_entries(&sb.pak).iter().any(|e| {
            e["kind"] == "key"
                && e["subject"] == "kas"
                && e["change"] == "rotate"
                && e["detail"].as_str().is_some_and(|d| {
                    d.contains(&old_kid) && d.contains(&new_kid) && d.contains("amended")
                })
        })
    });

    // A copy of PAK's agreement whose KAS amendment is taken out is refused at USA: it
    // does not extend the copy held.
    let held = rt.block_on(usa.node.agreements()).unwrap();
    let mut shorter = held[0].agreement.clone();
    shorter.records.truncate(records_before);
    let store = rt.block_on(sb.usa.store()).unwrap();
    let e = rt
        .block_on(accord_node::agreements::load(
            &store,
            &sb.usa.party,
            &sb.usa.history,
            &shorter.to_toml().unwrap(),
        ))
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not extend"), "{e}");

    // The key history lists both, the old one replaced.
    let history = accord_keys::KeyHistory::load(&sb.pak.layout.keys()).unwrap();
    let old = history.keys.iter().find(|k| k.id == old_kid).unwrap();
    assert!(old.replaced.is_some(), "{history:?}");
    assert!(history.has("kas", &new_kid));
}

/// Rotates `kind` at PAK's node (`sb.pak`) now: what the rotation did.
fn rotate(
    rt: &tokio::runtime::Runtime,
    home: &accord_node::home::Home,
    kind: KeyKind,
) -> rotation::Rotated {
    rt.block_on(rotation::rotate(
        home,
        &RotateOptions {
            kind,
            reason: format!("scheduled {kind} rotation"),
            at: Time::now(),
            grace_days: None,
        },
    ))
    .unwrap()
}

/// The node holds its agreement at every moment of a rotation. The rotation lists the
/// new key in the key history, then amends the stored copy, then switches the key
/// files; a node that read the amended copy with keys read before the history changed
/// would leave the copy out as not its own, refuse its partner's deliveries as from no
/// partner (for good) and stop its own, for as long as that lasted (seen in CI).
#[test]
fn the_node_holds_its_agreement_through_every_step_of_a_rotation() {
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        officer,
        ..
    } = Pair::start(fast);
    let _ = &tmp;
    let done = std::sync::atomic::AtomicBool::new(false);
    // Several at once, as the node's own loops and requests ask, and a client reading
    // the node's party descriptor (which reads the keys again, apart from the agreements).
    let (looks, missing) = std::thread::scope(|s| {
        let watcher = || {
            let (mut looks, mut missing) = (0u32, Vec::new());
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let held = rt.block_on(pak.node.agreements()).unwrap();
                looks += 1;
                if !held
                    .iter()
                    .any(|h| h.agreement.body.id == sandbox::AGREEMENT_ID)
                {
                    let g = pak.node.own().generation;
                    if missing.last() != Some(&g) {
                        missing.push(g);
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            (looks, missing)
        };
        let watchers: Vec<_> = (0..4).map(|_| s.spawn(watcher)).collect();
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                officer.get_json::<serde_json::Value>("/v1/party").unwrap();
                std::thread::sleep(Duration::from_millis(7));
            }
        });
        for kind in [KeyKind::Kas, KeyKind::Signing].repeat(6) {
            rotate(&rt, &sb.pak, kind);
            // Until the node uses the new key, and a little after.
            std::thread::sleep(Duration::from_millis(250));
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        watchers.into_iter().map(|w| w.join().unwrap()).fold(
            (0, Vec::new()),
            |(n, mut m), (looks, missing)| {
                m.extend(missing);
                m.sort();
                m.dedup();
                (n + looks, m)
            },
        )
    });
    assert!(looks > 100, "looked {looks} times only");
    assert!(
        missing.is_empty(),
        "the agreement was left out while the node's keys were of generations {missing:?} ({looks} looks)"
    );
}

#[test]
fn signing_then_kas_rotation_while_both_nodes_run() {
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
    let records_before = sb.agreement.records.len();
    let old_signer = pak.node.own().signing().public_keys().classical.kid();

    // Before: objects whose labels PAK's first signing key signed, one of them
    // national (no agreement: only PAK's own keys vouch for it).
    let before = seal_into(&pak_officer, MARKING, Some(agreement), b"signed by S1", dir);
    let national = seal_into(
        &pak_officer,
        "SECRET//REL TO PAK//SCOPE EXERCISES",
        None,
        b"national, signed by S1",
        dir,
    );
    let sent_before = send(&pak_officer, "USA", &before);

    // Someone keeps a copy of the signing key about to be replaced.
    let kept = accord_keys::load_signing_key(&sb.pak.layout.key(accord_keys::SIGNING_KEY)).unwrap();
    let r = rotate(&rt, &sb.pak, KeyKind::Signing);
    assert_eq!(r.agreements[0].outcome, "amended", "{:?}", r.agreements);
    assert_eq!(r.old, old_signer);
    let new_signer = r.new.clone();
    // The old key's public half is kept; the private key file is the new one's.
    assert!(sb
        .pak
        .layout
        .keys()
        .join("signing")
        .join(format!("{old_signer}.pub"))
        .exists());
    wait("PAK's node signs with its new key", || {
        rt.block_on(pak.node.agreements()).unwrap();
        pak.node.own().signing().public_keys().classical.kid() == new_signer
    });
    // A receipt PAK signs with the new key before USA loaded the amendment is only a
    // retry: sent at once, delivered once.
    let early = seal_into(
        &usa_officer,
        MARKING,
        Some(agreement),
        b"to PAK, early",
        dir,
    );
    let early_id = send(&usa_officer, "PAK", &early);
    wait("USA loads the signing amendment", || {
        rt.block_on(usa.node.agreements())
            .unwrap()
            .iter()
            .any(|h| h.agreement.records.len() > records_before)
    });

    // After: PAK's labels are signed by the new key, and USA takes them.
    let after = seal_into(&pak_officer, MARKING, Some(agreement), b"signed by S2", dir);
    let sent_after = send(&pak_officer, "USA", &after);
    let back = seal_into(
        &usa_officer,
        MARKING,
        Some(agreement),
        b"to PAK, after",
        dir,
    );
    let back_id = send(&usa_officer, "PAK", &back);

    // Everything opens on both sides: labels by S1 and by S2.
    for f in [&before, &after, &early, &back] {
        let tdf = std::fs::read(f).unwrap();
        assert_eq!(
            open(&pak_officer, &tdf).unwrap(),
            open(&usa_officer, &tdf).unwrap()
        );
    }
    // The national object PAK's old key signed still opens at PAK.
    assert_eq!(
        open(&pak_officer, &std::fs::read(&national).unwrap()).unwrap(),
        b"national, signed by S1"
    );

    // The kept key cannot bring PAK's node into a new agreement: one drafted from
    // PAK's old party.json, signed with the old key and by USA, is refused at PAK.
    let mut body = sb.agreement.body.clone();
    body.id = "CISMOA-KEPT-KEY".into();
    let mut thief = accord_agreement::Agreement::draft(body).unwrap();
    let usa_key = accord_test_support::signing_key(&sb.usa);
    let t = Time::now();
    thief.approve(&kept, "approved", t).unwrap();
    thief.approve(&usa_key, "approved", t).unwrap();
    thief.sign(&kept, t).unwrap();
    thief.sign(&usa_key, t).unwrap();
    assert!(accord_agreement::verify(&thief).is_empty());
    let store = rt.block_on(sb.pak.store()).unwrap();
    let pak_now = accord_node::home::Home::open(&sb.pak.layout.dir).unwrap();
    let e = rt
        .block_on(accord_node::agreements::load(
            &store,
            &pak_now.party,
            &pak_now.history,
            &thief.to_toml().unwrap(),
        ))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("gives PAK signing keys that are not this node's"),
        "{e}"
    );

    // Then PAK's KAS key, its amendment signed by the new signing key.
    let r = rotate(&rt, &sb.pak, KeyKind::Kas);
    assert_eq!(r.agreements[0].outcome, "amended", "{:?}", r.agreements);
    assert_eq!(r.agreements[0].records, records_before + 2);
    wait("USA loads the KAS amendment", || {
        rt.block_on(usa.node.agreements())
            .unwrap()
            .iter()
            .any(|h| h.agreement.records.len() == records_before + 2 && h.findings.is_empty())
    });
    let last = seal_into(
        &usa_officer,
        MARKING,
        Some(agreement),
        b"to PAK's new KAS",
        dir,
    );
    assert!(kao_kids(&std::fs::read(&last).unwrap()).contains(&r.new));
    let last_id = send(&usa_officer, "PAK", &last);
    assert_eq!(
        open(&pak_officer, &std::fs::read(&last).unwrap()).unwrap(),
        b"to PAK's new KAS"
    );

    // Each object held once where it went.
    let at_usa = usa_officer.inbox().unwrap();
    for id in [&sent_before, &sent_after] {
        assert_eq!(
            at_usa.iter().filter(|i| &i.id == id).count(),
            1,
            "{at_usa:#?}"
        );
    }
    let at_pak = pak_officer.inbox().unwrap();
    for id in [&early_id, &back_id, &last_id] {
        assert_eq!(
            at_pak.iter().filter(|i| &i.id == id).count(),
            1,
            "{at_pak:#?}"
        );
    }
    // Both rotations in PAK's log.
    wait("both rotations in PAK's log", || {
        let log = log_entries(&sb.pak);
        ["signing", "kas"].iter().all(|k| {
            log.iter()
                .any(|e| e["kind"] == "key" && e["subject"] == *k && e["change"] == "rotate")
        })
    });
    // The agreement USA holds shows PAK's key epochs: two signing keys, two KAS keys.
    let held = rt.block_on(usa.node.agreements()).unwrap();
    let checked = held[0].checked();
    assert_eq!(checked.signing_keys_of("PAK").len(), 2);
    assert_eq!(checked.key_ids("PAK", KeyKind::Kas).len(), 2);
}

/// A rotation that cannot amend an agreement in force switches nothing: the node keeps
/// its key, the new one waits in keys/pending/, and the next run finishes with it.
#[test]
fn a_rotation_that_cannot_amend_switches_nothing_and_the_next_run_finishes() {
    let Pair {
        rt, tmp, sb, pak, ..
    } = Pair::start(fast);
    let _ = &tmp;
    let old_kid = pak.node.own().current_kas().public_key().kid();
    // Dated before the agreement's last record: its amendment cannot be appended.
    let early = Time::from_unix(sb.agreement.records.last().unwrap().time.unix() - 3600).unwrap();
    let e = rt
        .block_on(rotation::rotate(
            &sb.pak,
            &RotateOptions {
                kind: KeyKind::Kas,
                reason: "scheduled rotation".into(),
                at: early,
                grace_days: None,
            },
        ))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("was not rotated") && e.contains(agreement_id()) && e.contains("keys/pending/"),
        "{e}"
    );
    let pending = sb.pak.layout.keys().join("pending").join("kas.key");
    let waiting = accord_keys::load_kas_private(&pending)
        .unwrap()
        .public_key()
        .kid();
    // Nothing switched: the files, the agreement, the running node.
    let kas_pub = accord_keys::load_kas_public(&sb.pak.layout.key(accord_keys::KAS_PUB)).unwrap();
    assert_eq!(kas_pub.kid(), old_kid);
    let party = accord_keys::load_party(&sb.pak.layout.party()).unwrap();
    assert_eq!(party.node.unwrap().kas_keys[0].kid, old_kid);
    std::thread::sleep(Duration::from_millis(300));
    let held = rt.block_on(pak.node.agreements()).unwrap();
    assert_eq!(held.len(), 1, "the agreement is still the node's");
    assert_eq!(held[0].agreement.records.len(), sb.agreement.records.len());
    assert_eq!(pak.node.own().current_kas().public_key().kid(), old_kid);
    // The history lists the waiting key beside the old one, neither replaced.
    let history = accord_keys::KeyHistory::load(&sb.pak.layout.keys()).unwrap();
    assert!(history
        .keys
        .iter()
        .any(|k| k.id == old_kid && k.replaced.is_none()));

    // The next run takes the waiting key and finishes.
    let r = rotate(&rt, &sb.pak, KeyKind::Kas);
    assert_eq!(r.new, waiting);
    assert_eq!(r.agreements[0].outcome, "amended");
    assert!(!pending.exists());
    let history = accord_keys::KeyHistory::load(&sb.pak.layout.keys()).unwrap();
    assert!(history
        .keys
        .iter()
        .any(|k| k.id == old_kid && k.replaced.is_some()));
    assert!(history
        .keys
        .iter()
        .any(|k| k.id == waiting && k.replaced.is_none()));
    // A third run right away is a new rotation, with a new key.
    let again = rotate(&rt, &sb.pak, KeyKind::Kas);
    assert_ne!(again.new, waiting);
    assert_eq!(again.old, waiting);
}

/// Marks `home`'s own key `kid` of `kind` compromised in its key history, as a
/// revocation whose replacement failed leaves it, and waits for the running `node` to
/// read it.
fn mark_compromised(
    rt: &tokio::runtime::Runtime,
    home: &accord_node::home::Home,
    node: &accord_node::server::Running,
    kind: KeyKind,
    kid: &str,
) {
    let keys_dir = home.layout.keys();
    let mut h = accord_keys::KeyHistory::load(&keys_dir).unwrap();
    for k in h.keys.iter_mut().filter(|k| k.id == kid) {
        k.compromised = Some(Time::now().to_string());
        k.revoked_because = Some("test".into());
    }
    h.save(&keys_dir).unwrap();
    wait("the node reads its key history", || {
        rt.block_on(node.node.agreements()).unwrap();
        node.node.own().revocation(kind, kid).is_some()
    });
}

/// Why `c`'s node refuses to seal an object under the sandbox agreement.
fn seal_refused(c: &Client) -> String {
    let mut out = Vec::new();
    accord_node_api::client::seal(
        c,
        &accord_node_api::wire::SealPlanRequest {
            marking: Some(MARKING.into()),
            label: None,
            agreement: Some(sandbox::AGREEMENT_ID.into()),
            choose_agreement: false,
        },
        &b"x"[..],
        &mut out,
        1 << 20,
        None,
    )
    .unwrap_err()
    .to_string()
}

fn agreement_id() -> &'static str {
    sandbox::AGREEMENT_ID
}

/// A KAS key revoked as compromised since a time serves only objects the node can show
/// existed before: one whose label the node signed earlier opens; one sealed to the
/// key without the node (as whoever holds the key could) is refused, naming the
/// revocation. The current key is replaced first, the revocation reaches USA in the
/// agreement, and both are in PAK's log.
#[test]
fn a_revoked_kas_key_serves_only_what_was_sealed_before() {
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        officer: pak_officer,
    } = Pair::start(fast);
    let dir = tmp.path();
    let agreement = sandbox::AGREEMENT_ID;
    let records_before = sb.agreement.records.len();
    let k1 = pak.node.own().current_kas().public_key().kid();
    let before = seal_into(
        &pak_officer,
        MARKING,
        Some(agreement),
        b"sealed before",
        dir,
    );
    std::thread::sleep(Duration::from_millis(1100));
    let compromised = Time::now();
    std::thread::sleep(Duration::from_millis(1100));
    // After the compromise, an object sealed to K1 without the node, its label signed
    // as PAK's (whoever holds the key could make such an object, or change one).
    let forged = accord_test_support::seal_offline(
        &accord_test_support::signing_key(&sb.pak),
        accord_test_support::kas_recipient(&sb.pak),
        MARKING,
        Some(agreement),
        b"sealed after",
    )
    .unwrap();
    assert!(kao_kids(&forged).contains(&k1));
    // Before the revocation both open.
    assert_eq!(open(&pak_officer, &forged).unwrap(), b"sealed after");

    let r = rt
        .block_on(rotation::revoke(
            &sb.pak,
            &rotation::RevokeOptions {
                kind: KeyKind::Kas,
                kid: k1.clone(),
                compromised,
                reason: "KAS host image exfiltrated".into(),
                at: Time::now(),
            },
        ))
        .unwrap();
    let k2 = r
        .replaced_by
        .clone()
        .expect("the current key is replaced first");
    assert_eq!(r.agreements[0].outcome, "revoked", "{:?}", r.agreements);
    assert_eq!(r.agreements[0].records, records_before + 2);
    // The revocation is written before the replacement: the node may read the one
    // before the other, so wait for both.
    wait("PAK's node reads the revocation and its new key", || {
        rt.block_on(pak.node.agreements()).unwrap();
        let own = pak.node.own();
        own.revocation(KeyKind::Kas, &k1).is_some() && own.current_kas().public_key().kid() == k2
    });

    // Sealed before (PAK signed its label then): opens. Sealed after: refused.
    let tdf = std::fs::read(&before).unwrap();
    assert_eq!(open(&pak_officer, &tdf).unwrap(), b"sealed before");
    match open(&pak_officer, &forged) {
        Err(accord_node::Error::Denied(reasons)) => {
            let r = reasons
                .iter()
                .find(|r| {
                    r.rule
                        == accord_node_api::wire::Rule::Decision(accord_agreement::Rule::KeyRevoked)
                })
                .unwrap_or_else(|| panic!("{reasons:?}"));
            assert!(
                r.text.contains("revoked as compromised since")
                    && r.text.contains("KAS host image exfiltrated")
                    && r.text
                        .contains("no record here shows this object was sealed before"),
                "{}",
                r.text
            );
        }
        other => panic!("the forged object opened or failed otherwise: {other:?}"),
    }
    // In PAK's log: the refusal, and the revocation.
    wait("PAK's log", || {
        let log = log_entries(&sb.pak);
        log.iter().any(|e| {
            e["kind"] == "rewrap"
                && e["decision"] == "deny"
                && e["reasons"].to_string().contains("key-revoked")
        }) && log
            .iter()
            .any(|e| e["kind"] == "key" && e["change"] == "revoke")
    });
    // USA holds the revocation in its copy: K1 revoked since the compromise.
    wait("USA loads the revocation", || {
        let held = rt.block_on(usa.node.agreements()).unwrap();
        held.iter().any(|h| {
            h.agreement.records.len() == records_before + 2
                && h.agreement
                    .key_book(Time::now())
                    .ok()
                    .and_then(|b| {
                        b.epochs("PAK", KeyKind::Kas)
                            .iter()
                            .find(|e| e.id == k1)
                            .and_then(|e| e.revoked.clone())
                    })
                    .is_some_and(|rv| rv.compromised == compromised)
        })
    });
    // A kid the node never held, a compromise in the future: refused at once.
    let bad = |kid: &str, when: Time| {
        rt.block_on(rotation::revoke(
            &sb.pak,
            &rotation::RevokeOptions {
                kind: KeyKind::Kas,
                kid: kid.into(),
                compromised: when,
                reason: "x".into(),
                at: Time::now(),
            },
        ))
        .unwrap_err()
        .to_string()
    };
    assert!(bad(&"0".repeat(64), compromised).contains("no KAS key of this node"));
    let later = Time::from_unix(Time::now().unix() + 3600).unwrap();
    assert!(bad(&k2, later).contains("after now"));
    // A revocation is not changed by running it again with another time.
    let earlier = Time::from_unix(compromised.unix() - 60).unwrap();
    assert!(bad(&k1, earlier).contains("revoked already"));

    // Fail closed. The current key marked compromised (as a revocation whose
    // replacement failed leaves it): the node seals to it no more.
    let history_path = sb.pak.layout.keys().join("history.json");
    let kept = std::fs::read(&history_path).unwrap();
    mark_compromised(&rt, &sb.pak, &pak, KeyKind::Kas, &k2);
    let e = seal_refused(&pak_officer);
    assert!(e.contains("revoked and not yet replaced"), "{e}");
    // Key files that change and do not read: the KAS releases nothing.
    std::fs::write(&history_path, b"{\"keys\": \"not a list\"}").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    rt.block_on(pak.node.agreements()).unwrap();
    assert!(
        open(&pak_officer, &tdf).is_err(),
        "released with unreadable keys"
    );
    std::fs::write(&history_path, kept).unwrap();
}

/// A signing key revoked as compromised since a time vouches only for labels of
/// objects shown to have existed before, at the node and at its partner: an object
/// whose label PAK's node signed earlier (and delivered to USA) opens at both; one
/// labelled with the key afterwards without the node (as whoever holds the key could)
/// is refused at PAK and at USA, naming the revocation. The current key is replaced
/// first; labels by the new key open at both.
#[test]
fn a_revoked_signing_key_vouches_only_for_what_was_sealed_before() {
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
    let records_before = sb.agreement.records.len();
    let s1 = pak.node.own().signing().public_keys().classical.kid();
    let before = seal_into(
        &pak_officer,
        MARKING,
        Some(agreement),
        b"labelled before",
        dir,
    );
    send(&pak_officer, "USA", &before);
    std::thread::sleep(Duration::from_millis(1100));
    let compromised = Time::now();
    std::thread::sleep(Duration::from_millis(1100));
    // After the compromise, labels signed with S1 without the node: one object for
    // PAK's KAS, one for USA's.
    let stolen = accord_test_support::signing_key(&sb.pak);
    let forge = |to: &accord_node::home::Home, text: &[u8]| {
        accord_test_support::seal_offline(
            &stolen,
            accord_test_support::kas_recipient(to),
            MARKING,
            Some(agreement),
            text,
        )
        .unwrap()
    };
    let forged_pak = forge(&sb.pak, b"forged for PAK");
    let forged_usa = forge(&sb.usa, b"forged for USA");
    // Before the revocation both open: nothing tells them from the node's.
    assert_eq!(open(&pak_officer, &forged_pak).unwrap(), b"forged for PAK");
    assert_eq!(open(&usa_officer, &forged_usa).unwrap(), b"forged for USA");

    let revoke = |kid: &str, when: Time| {
        rt.block_on(rotation::revoke(
            &sb.pak,
            &rotation::RevokeOptions {
                kind: KeyKind::Signing,
                kid: kid.into(),
                compromised: when,
                reason: "signing host stolen".into(),
                at: Time::now(),
            },
        ))
    };
    let r = revoke(&s1, compromised).unwrap();
    let s2 = r
        .replaced_by
        .clone()
        .expect("the current key is replaced first");
    assert_eq!(r.kind, KeyKind::Signing);
    assert_eq!(r.agreements[0].outcome, "revoked", "{:?}", r.agreements);
    // The signing amendment, then the revocation signed by the new key.
    assert_eq!(r.agreements[0].records, records_before + 2);
    wait(
        "PAK's node reads the revocation and signs with its new key",
        || {
            rt.block_on(pak.node.agreements()).unwrap();
            let own = pak.node.own();
            own.revocation(KeyKind::Signing, &s1).is_some()
                && own.signing().public_keys().classical.kid() == s2
        },
    );
    wait("USA loads the revocation", || {
        rt.block_on(usa.node.agreements()).unwrap().iter().any(|h| {
            h.checked()
                .revocation("PAK", KeyKind::Signing, &s1)
                .is_some_and(|rv| rv.compromised == compromised)
        })
    });

    let key_revoked = |reasons: &[accord_node_api::wire::Reason]| {
        reasons
            .iter()
            .find(|r| {
                r.rule == accord_node_api::wire::Rule::Decision(accord_agreement::Rule::KeyRevoked)
            })
            .map(|r| r.text.clone())
    };
    // Labelled before (PAK's node signed it then; USA received it then): opens at both.
    let tdf = std::fs::read(&before).unwrap();
    assert_eq!(open(&pak_officer, &tdf).unwrap(), b"labelled before");
    assert_eq!(open(&usa_officer, &tdf).unwrap(), b"labelled before");
    // Labelled after with the stolen key: refused at PAK and, from the agreement's
    // record, at USA.
    for (who, forged) in [(&pak_officer, &forged_pak), (&usa_officer, &forged_usa)] {
        match open(who, forged) {
            Err(accord_node::Error::Denied(reasons)) => {
                let text = key_revoked(&reasons).unwrap_or_else(|| panic!("{reasons:?}"));
                assert!(
                    text.contains("PAK's signing key")
                        && text.contains("revoked as compromised since")
                        && text.contains("signing host stolen")
                        && text.contains("no record here shows this object was sealed before"),
                    "{text}"
                );
            }
            other => panic!("the forged object opened or failed otherwise: {other:?}"),
        }
    }
    // Labelled after by the new key: opens at both, and travels once.
    let after = seal_into(
        &pak_officer,
        MARKING,
        Some(agreement),
        b"labelled by S2",
        dir,
    );
    let after_id = send(&pak_officer, "USA", &after);
    let tdf = std::fs::read(&after).unwrap();
    assert_eq!(open(&pak_officer, &tdf).unwrap(), b"labelled by S2");
    assert_eq!(open(&usa_officer, &tdf).unwrap(), b"labelled by S2");
    assert_eq!(
        usa_officer
            .inbox()
            .unwrap()
            .iter()
            .filter(|i| i.id == after_id)
            .count(),
        1
    );
    // In PAK's log: the refusal and the revocation of the signing key.
    wait("PAK's log", || {
        let log = log_entries(&sb.pak);
        log.iter().any(|e| {
            e["kind"] == "rewrap"
                && e["decision"] == "deny"
                && e["reasons"].to_string().contains("key-revoked")
        }) && log
            .iter()
            .any(|e| e["kind"] == "key" && e["change"] == "revoke" && e["subject"] == "signing")
    });
    // Refused at once: a kid the node never had; a second time with another time.
    let e = revoke(&"0".repeat(64), compromised)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no signing key of this node"), "{e}");
    let earlier = Time::from_unix(compromised.unix() - 60).unwrap();
    let e = revoke(&s1, earlier).unwrap_err().to_string();
    assert!(e.contains("revoked already"), "{e}");

    // Fail closed: the current signing key marked compromised (as a revocation whose
    // replacement failed leaves it): the node labels nothing more.
    mark_compromised(&rt, &sb.pak, &pak, KeyKind::Signing, &s2);
    let e = seal_refused(&pak_officer);
    assert!(
        e.contains("signing key is revoked and not yet replaced"),
        "{e}"
    );
    // Nor receipts: a delivery to PAK waits (retried, nothing kept meanwhile).
    let to_pak = seal_into(&usa_officer, MARKING, Some(agreement), b"to PAK", dir);
    let item = usa_officer.send("PAK", &to_pak, None).unwrap();
    wait("PAK refuses to receipt", || {
        let o = usa_officer.outbox().unwrap();
        let i = o.iter().find(|o| o.id == item.id).unwrap();
        assert_ne!(i.state, "delivered");
        i.last_error
            .as_deref()
            .is_some_and(|e| e.contains("revoked and not yet replaced"))
    });
}

/// PAK's TLS key amended in the agreement with a grace period: USA keeps accepting
/// PAK's node with its old key (both ways: as a client, and as the server USA calls)
/// while the grace runs, and refuses it once the grace has ended, saying why.
#[test]
fn a_partner_accepts_the_old_tls_key_only_during_its_grace_period() {
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;
    let ahead = Arc::new(AtomicI64::new(0));
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        officer: pak_officer,
    } = Pair::start(accord_test_support::fast_ahead(ahead.clone()));
    let usa_officer = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    let dir = tmp.path();
    let agreement = sandbox::AGREEMENT_ID;
    let old_pin = sb.pak.party.node.as_ref().unwrap().tls_spki_sha256.clone();

    // PAK amends its TLS key, with an hour's grace for the old one; USA loads it.
    let new_key = accord_keys::SigningKey::generate(accord_keys::ClassicalAlg::Es384).unwrap();
    let new_pin = accord_keys::spki_kid(new_key.public_keys().classical.spki_der());
    let now = Time::now();
    let grace_until = Time::from_unix(now.unix() + 3600).unwrap();
    let mut doc = rt.block_on(usa.node.agreements()).unwrap()[0]
        .agreement
        .clone();
    let records = doc.records.len();
    doc.amend(
        &accord_test_support::signing_key(&sb.pak),
        accord_agreement::KeyChange::Tls {
            spki_sha256: new_pin.clone(),
            url: None,
        },
        now,
        Some(grace_until),
        "scheduled TLS rotation",
        now,
    )
    .unwrap();
    rt.block_on(async {
        let store = sb.usa.store().await.unwrap();
        let own = accord_keys::load_party(&sb.usa.layout.party()).unwrap();
        let history = accord_keys::KeyHistory::load(&sb.usa.layout.keys()).unwrap();
        accord_node::agreements::load(&store, &own, &history, &doc.to_toml().unwrap())
            .await
            .unwrap();
        store.close().await;
    });
    wait("USA's node holds the amendment", || {
        rt.block_on(usa.node.agreements())
            .unwrap()
            .iter()
            .any(|h| h.agreement.records.len() == records + 1)
    });
    let partner = |at: Time| {
        let held = rt.block_on(usa.node.agreements()).unwrap();
        accord_node::partners::in_force(&held, "USA", at)
            .into_iter()
            .find(|p| p.code == "PAK")
            .unwrap()
    };
    // Within the grace: both keys; the new one is PAK's key in force.
    let p = partner(Time::now());
    assert_eq!(p.tls_spki_sha256, new_pin);
    assert!(p.tls_pins.contains(&old_pin) && p.tls_pins.contains(&new_pin));
    // PAK, still on its old certificate, reaches USA and USA reaches it.
    let to_usa = seal_into(
        &pak_officer,
        MARKING,
        Some(agreement),
        b"during the grace",
        dir,
    );
    send(&pak_officer, "USA", &to_usa);
    let to_pak = seal_into(&usa_officer, MARKING, Some(agreement), b"back", dir);
    send(&usa_officer, "PAK", &to_pak);

    // After the grace: only the new key.
    ahead.store(2 * 3600, Ordering::SeqCst);
    let after = Time::from_unix(Time::now().unix() + 2 * 3600).unwrap();
    assert_eq!(partner(after).tls_pins, vec![new_pin.clone()]);
    // USA refuses PAK's node as a client, saying why...
    let late = seal_into(&pak_officer, MARKING, Some(agreement), b"too late", dir);
    let said =
        accord_test_support::send_refused(&pak_officer, "USA", &late, "grace period has ended");
    assert!(said.contains(&old_pin[..16]), "{said}");
    // ...and as the server it calls.
    let late_back = seal_into(
        &usa_officer,
        MARKING,
        Some(agreement),
        b"too late back",
        dir,
    );
    let item = usa_officer.send("PAK", &late_back, None).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let o = usa_officer.outbox().unwrap();
    let i = o.iter().find(|o| o.id == item.id).unwrap();
    assert_ne!(i.state, "delivered", "{i:?}");
    // Refused by USA's own client: PAK's certificate key is no longer pinned.
    assert!(
        i.last_error
            .as_deref()
            .is_some_and(|e| e.contains("pinned")),
        "{i:?}"
    );
    drop(pak);
}

/// PAK rotates its TLS key while both nodes run: USA takes the amended agreement over
/// federation, then PAK presents the new key (server and client) and party.json names
/// it; exchanges both ways work before, across and after, and after the old key's grace
/// too; a person's credential of format 2 follows the node to its new key through the
/// node CA, while one of format 1 (the old pin alone) is refused by its client.
#[test]
fn tls_rotation_while_both_nodes_run() {
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;
    let ahead = Arc::new(AtomicI64::new(0));
    let opts = accord_test_support::fast_ahead(ahead.clone());
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        officer: pak_officer,
    } = Pair::start(opts.clone());
    let usa_officer = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    let dir = tmp.path();
    let agreement = sandbox::AGREEMENT_ID;
    let old_pin = sb.pak.party.node.as_ref().unwrap().tls_spki_sha256.clone();
    let v2 = sb.credential("pak-officer").unwrap();
    assert_eq!(v2.accord_credential, 2);
    let v1 = accord_node_api::credential::Credential {
        accord_credential: 1,
        node_ca_certificate: None,
        ..v2.clone()
    };
    let before = seal_into(&pak_officer, MARKING, Some(agreement), b"before", dir);
    let sent_before = send(&pak_officer, "USA", &before);

    // USA is down while PAK rotates: PAK keeps presenting its old key.
    rt.block_on(usa.stop()).unwrap();
    let r = rotate(&rt, &sb.pak, KeyKind::Tls);
    assert_eq!(r.old, old_pin);
    let new_pin = r.new.clone();
    assert_ne!(new_pin, old_pin);
    assert_eq!(r.agreements[0].outcome, "amended", "{:?}", r.agreements);
    let grace_until = Time::parse(r.grace_until.as_deref().unwrap()).unwrap();
    assert_eq!(
        grace_until.unix(),
        Time::parse(&r.effective).unwrap().unix() + 7 * 86_400
    );
    // Running it again while the key waits finishes the same rotation: the same key,
    // no second amendment.
    let again = rotate(&rt, &sb.pak, KeyKind::Tls);
    assert_eq!(again.new, new_pin);
    assert_eq!(again.agreements[0].records, r.agreements[0].records);

    std::thread::sleep(Duration::from_secs(5));
    let pak_pin = || {
        accord_keys::load_party(&sb.pak.layout.party())
            .unwrap()
            .node
            .unwrap()
            .tls_spki_sha256
    };
    assert_eq!(pak_pin(), old_pin, "switched before USA acknowledged");
    assert!(sb.pak.layout.key("tls.next.key").exists());
    // PAK presents the new key once USA (up again) has taken the amendment.
    let usa = accord_test_support::start(&rt, &sb.usa, opts());
    wait("PAK switches to its new TLS key", || {
        accord_keys::load_party(&sb.pak.layout.party())
            .unwrap()
            .node
            .unwrap()
            .tls_spki_sha256
            == new_pin
    });
    assert!(!sb.pak.layout.key("tls.next.key").exists());
    // It waited for USA's acknowledgement: USA's node holds the amended copy.
    wait("USA holds the amendment", || {
        rt.block_on(usa.node.agreements())
            .unwrap()
            .iter()
            .any(|h| h.agreement.records.len() > sb.agreement.records.len())
    });
    // Its server presents the new key: a client pinned to it gets in; one pinned to the
    // old key alone (a format 1 credential) is refused by its own client, saying why.
    let pinned_to = |pin: &str| {
        Client::new(accord_node_api::credential::Credential {
            node_tls_spki_sha256: pin.into(),
            ..v1.clone()
        })
        .unwrap()
    };
    pinned_to(&new_pin).inbox().unwrap();
    let e = pinned_to(&old_pin).inbox().unwrap_err().to_string();
    assert!(e.contains("not the one pinned"), "{e}");
    // A format 2 credential follows through the node CA.
    let follows = Client::new(v2).unwrap();
    let tdf = std::fs::read(&before).unwrap();
    assert_eq!(open(&follows, &tdf).unwrap(), b"before");

    // Both ways after the switch, and after the old key's grace (USA then accepts only
    // the new key, which PAK presents).
    let mut sent_to_usa = vec![sent_before];
    let mut sent_to_pak = Vec::new();
    for (i, when) in [0, 8 * 86_400].into_iter().enumerate() {
        ahead.store(when, Ordering::SeqCst);
        let text = format!("after {i}");
        let out = seal_into(&follows, MARKING, Some(agreement), text.as_bytes(), dir);
        sent_to_usa.push(send(&follows, "USA", &out));
        let tdf = std::fs::read(&out).unwrap();
        assert_eq!(open(&usa_officer, &tdf).unwrap(), text.as_bytes());
        let back = seal_into(&usa_officer, MARKING, Some(agreement), b"back", dir);
        sent_to_pak.push(send(&usa_officer, "PAK", &back));
        let tdf = std::fs::read(&back).unwrap();
        assert_eq!(open(&follows, &tdf).unwrap(), b"back");
    }
    let held = rt.block_on(usa.node.agreements()).unwrap();
    let later = Time::from_unix(Time::now().unix() + 8 * 86_400).unwrap();
    let p = accord_node::partners::in_force(&held, "USA", later)
        .into_iter()
        .find(|p| p.code == "PAK")
        .unwrap();
    assert_eq!(p.tls_pins, vec![new_pin.clone()]);

    // Each object held once where it went.
    accord_test_support::assert_held_once(&usa_officer, &sent_to_usa);
    accord_test_support::assert_held_once(&follows, &sent_to_pak);
    // PAK's log: the rotation, then the switch.
    wait("PAK's log", || {
        let log = log_entries(&sb.pak);
        log.iter()
            .any(|e| e["kind"] == "key" && e["change"] == "rotate" && e["subject"] == "tls")
            && log
                .iter()
                .any(|e| e["kind"] == "key" && e["change"] == "switch")
    });
    drop(pak);
}
