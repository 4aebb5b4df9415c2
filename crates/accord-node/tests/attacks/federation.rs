//! What a partner's federation can and cannot do to a node: a node on a rolled-back log
//! refuses to serve (and a partner's unsigned claim stops nothing), a termination
//! reaches the partner, a renewal comes over only once signed by the receiver.

use crate::{pair, rules, seal, Attacks};
use accord_agreement::Time;
use accord_node::home::Home;
use accord_node::sandbox;
use accord_node::server::{self, Running, ServeOptions};
use accord_node_api::client::Client;
use accord_node_api::wire;
use accord_test_support::{as_node, load_agreement, signing_key, wait_cosigned as cosigned, Pair};
use std::path::Path;
use std::time::Duration;

/// Wait until `home`'s published checkpoint covers its whole log and carries the
/// cosignature of `partner`'s witness; its size.
fn wait_cosigned(running: &Running, home: &Home, partner: &Home) -> u64 {
    let size = running.publish_log().unwrap();
    cosigned(home, partner, size, Duration::from_secs(30))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A node restarted on its audit log restored from an older copy (behind what USA's
/// witness cosigned) refuses to serve, saying so; on the log USA witnessed it serves.
#[test]
fn a_node_on_a_rolled_back_log_refuses_to_serve() {
    let Pair {
        rt,
        tmp,
        sb,
        pak,
        usa,
        ..
    } = pair();
    let officer = Client::new(sb.credential("pak-officer").unwrap()).unwrap();
    seal(&officer, "SECRET//REL TO PAK//SCOPE EXERCISES", None);
    let first = wait_cosigned(&pak, &sb.pak, &sb.usa);
    rt.block_on(pak.stop()).unwrap();
    let backup = tmp.path().join("pak-log-backup");
    copy_dir(&sb.pak.layout.log(), &backup);

    let start = || rt.block_on(server::start(&sb.pak.layout.dir, ServeOptions::default()));
    let pak = start().expect("the log USA witnessed serves");
    for _ in 0..3 {
        seal(&officer, "SECRET//REL TO PAK//SCOPE EXERCISES", None);
    }
    let later = wait_cosigned(&pak, &sb.pak, &sb.usa);
    assert!(later > first, "{later} > {first}");
    rt.block_on(pak.stop()).unwrap();
    let witnessed = tmp.path().join("pak-log-witnessed");
    copy_dir(&sb.pak.layout.log(), &witnessed);

    // The log as it was at `first` entries.
    std::fs::remove_dir_all(sb.pak.layout.log()).unwrap();
    copy_dir(&backup, &sb.pak.layout.log());
    let e = match start() {
        Ok(_) => panic!("a node on a rolled-back log served"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("rolled back") && e.contains("USA"), "{e}");
    assert!(e.contains("went backwards"), "{e}");

    // The variant: the old copy grown to the witnessed size with other entries (a fork
    // with the node's own log key): refused too.
    let log =
        accord_log::Log::open(&sb.pak.layout.log(), accord_log::LogOptions::default()).unwrap();
    let forged: Vec<Vec<u8>> = (first..later)
        .map(|i| format!("{{\"kind\":\"forged\",\"n\":{i}}}").into_bytes())
        .collect();
    log.appender().append_many_blocking(forged).unwrap();
    assert_eq!(log.close().unwrap().checkpoint.size, later);
    let e = match start() {
        Ok(_) => panic!("a node on a forked log served"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("rolled back") && e.contains("fork"), "{e}");

    // A partner cannot stop a node by claiming a larger tree: USA's witness state for
    // PAK's log replaced by a checkpoint of size 1,000,000 signed by another key. PAK,
    // on the log USA witnessed, serves.
    std::fs::remove_dir_all(sb.pak.layout.log()).unwrap();
    copy_dir(&witnessed, &sb.pak.layout.log());
    let origin = accord_log::writer::read_checkpoint(&sb.pak.layout.log())
        .unwrap()
        .checkpoint
        .origin;
    let liar =
        accord_log::note::SigningKey::generate(&origin, accord_log::note::TYPE_ED25519).unwrap();
    let claim = accord_log::checkpoint::Checkpoint {
        origin: origin.clone(),
        size: 1_000_000,
        root: [9u8; 32],
        extensions: vec![],
    }
    .to_text();
    let note = accord_log::note::Note {
        text: claim.clone(),
        signatures: vec![liar.sign(&claim, 0)],
    };
    let state =
        sb.usa
            .layout
            .dir
            .join("witness/state")
            .join(hex::encode(aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA256,
                origin.as_bytes(),
            )));
    assert!(state.exists(), "USA's witness holds PAK's log");
    std::fs::write(&state, note.to_bytes()).unwrap();
    let pak = start().expect("a partner's unsigned claim stops nothing");
    rt.block_on(pak.stop()).unwrap();
    rt.block_on(usa.stop()).unwrap();
}

/// A termination loaded at PAK reaches USA over federation, verified and loaded there:
/// USA then seals nothing more under the agreement, and its log records the copy it
/// took from PAK's node.
#[test]
fn a_termination_at_one_node_reaches_the_partner() {
    let p = pair();
    let held = p.rt.block_on(p.pak.node.agreements()).unwrap();
    let mut doc = held
        .iter()
        .find(|h| h.agreement.body.id == sandbox::AGREEMENT_ID)
        .unwrap()
        .agreement
        .clone();
    let before = doc.records.len();
    let key = signing_key(&p.sb.pak);
    let now = Time::now();
    doc.terminate(&key, Time::from_unix(now.unix() + 2).unwrap(), now)
        .unwrap();
    // The officer loads it at PAK only, as `accord agreement load` does.
    load_agreement(&p.rt, &p.sb.pak, &doc.to_toml().unwrap());

    // USA learns of it without anyone loading it there.
    let t0 = std::time::Instant::now();
    loop {
        let usa_held = p.rt.block_on(p.usa.node.agreements()).unwrap();
        let records = usa_held
            .iter()
            .find(|h| h.agreement.body.id == sandbox::AGREEMENT_ID)
            .map(|h| h.agreement.records.len())
            .unwrap();
        if records > before {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "USA never got PAK's termination"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(2500));
    let us = p.client("usa-officer");
    let plan = us.seal_plan(&wire::SealPlanRequest {
        marking: Some("SECRET//REL TO USA, PAK//SCOPE EXERCISES".into()),
        label: None,
        agreement: Some(sandbox::AGREEMENT_ID.into()),
        choose_agreement: false,
    });
    match plan {
        Err(accord_node::Error::Denied(r)) => {
            assert!(rules(&r).contains(&"agreement-in-force"), "{r:?}")
        }
        other => panic!("USA sealed under a terminated agreement: {other:?}"),
    }
    let logged = p.entries(&p.usa, &p.sb.usa);
    assert!(logged.iter().any(|e| e["kind"] == "agreement"
        && e["partner"] == "PAK"
        && e["decision"] == "permit"
        && e["agreement"] == sandbox::AGREEMENT_ID));
}

/// A renewal is a new agreement, the receiving party's to enter: offered by the
/// partner's node before the receiver's party signed it, it is refused (and logged);
/// once both parties signed it, it is taken.
#[test]
fn a_renewal_comes_over_federation_only_once_signed_by_the_receiver() {
    let p = pair();
    let held = p.rt.block_on(p.usa.node.agreements()).unwrap();
    let current = held
        .iter()
        .find(|h| h.agreement.body.id == sandbox::AGREEMENT_ID)
        .unwrap()
        .agreement
        .clone();
    let pak_key = signing_key(&p.sb.pak);
    let usa_key = signing_key(&p.sb.usa);
    let now = Time::now();
    let mut renewal = current
        .renew(5, None, Some("CISMOA-SANDBOX-RENEWED".into()))
        .unwrap();
    renewal.approve(&pak_key, "PAK cabinet", now).unwrap();
    renewal.sign(&pak_key, now).unwrap();

    // PAK's node offers it, as its offer loop would.
    let (usa_as_seen_by_pak, as_pak) =
        as_node(&p.rt, &p.pak, &p.sb.pak, "USA", Duration::from_secs(30));
    let offer = |doc: &accord_agreement::Agreement| {
        let url = format!(
            "{}/v1/fed/agreements/{}",
            usa_as_seen_by_pak.url, doc.body.id
        );
        let body = doc.to_canonical_json().unwrap();
        p.rt.block_on(async {
            let r = as_pak
                .put(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    let (s, t) = offer(&renewal);
    assert_eq!(s, 422, "{t}");
    assert!(t.contains("USA has not signed"), "{t}");
    renewal.approve(&usa_key, "USA DoD", now).unwrap();
    renewal.sign(&usa_key, now).unwrap();
    let (s, t) = offer(&renewal);
    assert_eq!(s, 200, "{t}");
    assert!(t.contains("\"new\""), "{t}");
    let logged = p.entries(&p.usa, &p.sb.usa);
    let taken: Vec<_> = logged
        .iter()
        .filter(|e| e["kind"] == "agreement" && e["agreement"] == "CISMOA-SANDBOX-RENEWED")
        .map(|e| e["decision"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(taken, ["deny", "permit"]);
}
