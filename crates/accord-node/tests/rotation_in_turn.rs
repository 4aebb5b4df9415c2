//! Every key kind of a node rotated in turn while both nodes run and objects travel
//! both ways (issue 20): PAK rotates its KAS, signing, TLS, log and witness keys, one
//! after the other. After each rotation, sends both ways are delivered once and
//! everything sealed so far opens at both nodes; the two nodes keep witnessing each
//! other's logs; and once the grace periods end, the old log key signs nothing and USA
//! accepts PAK's checkpoints under the new one alone.

use accord_agreement::amendment::KeyKind;
use accord_agreement::Time;
use accord_log::note::VerifierKey;
use accord_node::rotation::{self, RotateOptions};
use accord_node::sandbox;
use accord_node_api::client::Client;
use accord_test_support::Pair;
use accord_test_support::{log_entries, open, seal_into, send_delivered as send, wait};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

const MARKING: &str = "SECRET//REL TO USA, PAK//SCOPE EXERCISES";

use accord_test_support::published_checkpoint as checkpoint;

/// A node's witness key now (`witness/witness.vkey`).
fn witness_key(home: &accord_node::home::Home) -> VerifierKey {
    let text = std::fs::read_to_string(home.layout.dir.join("witness/witness.vkey")).unwrap();
    VerifierKey::parse(text.trim()).unwrap()
}

/// A node's log key now (its party.json's).
fn log_key(home: &accord_node::home::Home) -> VerifierKey {
    let party = accord_keys::load_party(&home.layout.party()).unwrap();
    VerifierKey::parse(&party.node.unwrap().log_verifier_key).unwrap()
}

/// Waits until `home`'s published checkpoint is larger than `after` entries, signed by
/// `log` and cosigned by `witness`.
fn wait_witnessed(
    home: &accord_node::home::Home,
    log: &VerifierKey,
    witness: &VerifierKey,
    after: u64,
) -> u64 {
    let t0 = std::time::Instant::now();
    loop {
        let cp = checkpoint(home);
        let last = match cp.verify(log, std::slice::from_ref(witness)) {
            Ok(_) if cp.checkpoint.size > after => return cp.checkpoint.size,
            Ok(_) => format!("size {} not past {after}", cp.checkpoint.size),
            Err(e) => e.to_string(),
        };
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "{}'s log never witnessed under {} and {}: {last}",
            home.config.party,
            log,
            witness
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn every_key_kind_rotated_in_turn_while_both_nodes_run() {
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
    let records = sb.agreement.records.len();

    let mut sealed: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut to_usa = Vec::new();
    let mut to_pak = Vec::new();
    // An object each way, delivered; then everything sealed so far opens at both.
    let mut exchange = |round: &str| {
        let text = format!("PAK to USA, {round}").into_bytes();
        let f = seal_into(&pak_officer, MARKING, Some(agreement), &text, dir);
        to_usa.push(send(&pak_officer, "USA", &f));
        sealed.push((f, text));
        let text = format!("USA to PAK, {round}").into_bytes();
        let f = seal_into(&usa_officer, MARKING, Some(agreement), &text, dir);
        to_pak.push(send(&usa_officer, "PAK", &f));
        sealed.push((f, text));
        for (f, text) in &sealed {
            let tdf = std::fs::read(f).unwrap();
            for (who, c) in [("PAK", &pak_officer), ("USA", &usa_officer)] {
                assert_eq!(
                    &open(c, &tdf).unwrap_or_else(|e| panic!("{round}: {who} opens {f:?}: {e}")),
                    text,
                    "{round}"
                );
            }
        }
    };
    exchange("before any rotation");
    let pak_log_first = log_key(&sb.pak);
    let usa_witness = witness_key(&sb.usa);
    let witnessed = wait_witnessed(&sb.pak, &pak_log_first, &usa_witness, 0);

    // Each kind in turn; USA loads each amendment before the next one.
    let kinds = [
        KeyKind::Kas,
        KeyKind::Signing,
        KeyKind::Tls,
        KeyKind::Log,
        KeyKind::Witness,
    ];
    let mut rotated = Vec::new();
    for (i, kind) in kinds.into_iter().enumerate() {
        let r = rt
            .block_on(rotation::rotate(
                &sb.pak,
                &RotateOptions {
                    kind,
                    reason: format!("scheduled {kind} rotation"),
                    at: Time::now(),
                    grace_days: None,
                },
            ))
            .unwrap();
        assert_eq!(
            r.agreements[0].outcome, "amended",
            "{kind}: {:?}",
            r.agreements
        );
        assert_eq!(r.agreements[0].records, records + i + 1, "{kind}");
        assert_ne!(r.old, r.new, "{kind}");
        wait(&format!("USA loads PAK's {kind} amendment"), || {
            rt.block_on(usa.node.agreements())
                .unwrap()
                .iter()
                .any(|h| h.agreement.records.len() == records + i + 1 && h.findings.is_empty())
        });
        if kind == KeyKind::Tls {
            wait("PAK presents its new TLS key", || {
                accord_keys::load_party(&sb.pak.layout.party())
                    .unwrap()
                    .node
                    .unwrap()
                    .tls_spki_sha256
                    == r.new
            });
        }
        exchange(&format!("after the {kind} rotation"));
        rotated.push(r);
    }

    // The log: party.json names the new key, of the same origin; through the grace
    // the checkpoint is signed by both keys, and USA's witness cosigns it.
    let pak_log = log_key(&sb.pak);
    assert_ne!(pak_log, pak_log_first);
    assert_eq!(pak_log.name, pak_log_first.name);
    let size = wait_witnessed(&sb.pak, &pak_log, &usa_witness, witnessed);
    wait_witnessed(&sb.pak, &pak_log_first, &usa_witness, witnessed);
    // USA accepts both now, and its copy of the agreement pins the new one.
    let held = rt.block_on(usa.node.agreements()).unwrap();
    let partner = |at: Time| {
        accord_node::partners::in_force(&held, "USA", at)
            .into_iter()
            .find(|p| p.code == "PAK")
            .unwrap()
    };
    let p = partner(Time::now());
    assert_eq!(p.log_keys.len(), 2, "{:?}", p.log_keys);
    assert_eq!(
        p.log_verifier_key.as_deref(),
        Some(pak_log.to_string().as_str())
    );

    // The witness: USA checks PAK's cosignatures with the key the amendment pinned,
    // and PAK's witness cosigns USA's log with it (and with the old one, in grace).
    let pak_witness = witness_key(&sb.pak);
    let pinned = rotated[4].new.clone();
    assert_eq!(
        accord_agreement::amendment::verifier_key_id(&pak_witness.to_string()),
        pinned
    );
    assert_eq!(p.witness_keys, vec![pak_witness.to_string()]);
    let usa_log = log_key(&sb.usa);
    let usa_size = wait_witnessed(&sb.usa, &usa_log, &pak_witness, 0);

    // After every grace: PAK's checkpoints are signed by the new log key alone, USA's
    // witness accepts them under it, and USA's node no longer accepts the old one.
    ahead.store(8 * 86_400, Ordering::SeqCst);
    let later = Time::from_unix(Time::now().unix() + 8 * 86_400).unwrap();
    assert_eq!(partner(later).log_keys, vec![pak_log.to_string()]);
    exchange("after every grace period");
    wait("PAK's old log key stops signing", || {
        checkpoint(&sb.pak).verify(&pak_log_first, &[]).is_err()
    });
    let size = wait_witnessed(&sb.pak, &pak_log, &usa_witness, size);
    // The old witness key no longer cosigns either: USA's new checkpoints carry PAK's
    // new witness key alone.
    let usa_size = wait_witnessed(&sb.usa, &usa_log, &pak_witness, usa_size);
    wait("PAK's old witness key stops cosigning", || {
        checkpoint(&sb.usa).checkpoint.size >= usa_size
            && accord_test_support::signatures_named(&sb.usa, &pak_witness.name) == 1
    });

    // The old log and witness keys sign nothing again: their private halves are gone,
    // their public halves kept.
    let files = |kind: &str, ext: &str| {
        std::fs::read_dir(sb.pak.layout.keys().join(kind))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == ext)
            })
            .count()
    };
    wait("PAK gives up its old log and witness keys", || {
        ["log", "witness"]
            .iter()
            .all(|k| files(k, "key") == 0 && files(k, "vkey") == 1)
    });

    // PAK restarts: its log opens under the new key, and the check against USA's
    // witness (which may hold a checkpoint the old key signed) passes.
    rt.block_on(pak.stop()).unwrap();
    let pak = accord_test_support::start(&rt, &sb.pak, opts());
    exchange("after PAK restarted");
    wait_witnessed(&sb.pak, &pak_log, &usa_witness, size);

    // Nothing lost, nothing twice.
    accord_test_support::assert_held_once(&usa_officer, &to_usa);
    accord_test_support::assert_held_once(&pak_officer, &to_pak);
    // PAK's log holds every rotation, and verifies under its new key.
    let log = log_entries(&sb.pak);
    for kind in kinds {
        assert!(
            log.iter().any(|e| e["kind"] == "key"
                && e["change"] == "rotate"
                && e["subject"] == kind.as_str()),
            "no {kind} rotation in PAK's log"
        );
    }
    // USA's copy shows PAK's epochs: two of each kind (one witness key: none was
    // pinned before).
    let held = rt.block_on(usa.node.agreements()).unwrap();
    let checked = held[0].checked();
    for kind in [KeyKind::Kas, KeyKind::Tls, KeyKind::Log] {
        assert_eq!(checked.key_ids("PAK", kind).len(), 2, "{kind}");
    }
    assert_eq!(checked.key_ids("PAK", KeyKind::Witness), vec![pinned]);
    drop((pak, usa));
}
