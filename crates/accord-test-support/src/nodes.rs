//! Node homes and running nodes: the sandbox's PAK and USA, homes of any party with
//! people enrolled, agreements loaded, a node's client as its partners see it.

use crate::{database, free_port, policies};
use accord_agreement::{Agreement, Time, Translation};
use accord_node::directory::{self, Enrolment};
use accord_node::home::{self, Home, InitOptions};
use accord_node::partners::{self, Partner};
use accord_node::sandbox::{self, Sandbox, SandboxOptions};
use accord_node::server::{self, Running, ServeOptions};
use accord_node_api::client::Client;
use accord_node_api::credential::Credential;
use std::path::Path;
use std::time::Duration;

/// The running nodes' log on standard error when `ACCORD_TEST_LOG` gives a filter
/// (`ACCORD_TEST_LOG=accord_node=debug cargo test ...`): what a test that failed only
/// now and then did is read there. Nothing otherwise.
pub fn log_when_asked() {
    if let Ok(filter) = std::env::var("ACCORD_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
}

/// The sandbox's options with the databases and disk reserve given: PAK and USA on
/// loopback ports free now, their agreement for 15 years. The benchmarks take SQLite
/// and the default reserve; [`sandbox`] takes [`database`] and none.
pub fn sandbox_options(
    databases: (Option<String>, Option<String>),
    disk_reserve_mib: u64,
) -> SandboxOptions {
    SandboxOptions {
        pak_listen: format!("127.0.0.1:{}", free_port()),
        usa_listen: format!("127.0.0.1:{}", free_port()),
        databases,
        years: 15,
        disk_reserve_mib,
        pkcs11: (None, None),
    }
}

/// The sandbox's PAK and USA node homes in `dir`, as `accord quickstart` makes them
/// (their people, credentials and countersigned agreement), with a database each as
/// [`database`] says and no disk reserve (a test's disk is not the node's concern).
pub fn sandbox(rt: &tokio::runtime::Runtime, dir: &Path) -> Sandbox {
    rt.block_on(sandbox::create(
        dir,
        &sandbox_options((database(), database()), 0),
    ))
    .unwrap()
}

/// Serve options for tests that wait on deliveries: a failed delivery is retried after
/// at most 300 ms, four at a time.
pub fn fast() -> ServeOptions {
    ServeOptions {
        delivery: accord_node::DeliveryOptions {
            retry_cap: Duration::from_millis(300),
            parallel: 4,
        },
        ..ServeOptions::default()
    }
}

/// [`fast`] serve options whose clock runs `ahead` seconds ahead of the system's (read at
/// each look, so a test moves it while the nodes run): grace periods and expiries pass.
pub fn fast_ahead(
    ahead: std::sync::Arc<std::sync::atomic::AtomicI64>,
) -> impl Fn() -> ServeOptions + Clone {
    move || {
        let ahead = ahead.clone();
        ServeOptions {
            clock: std::sync::Arc::new(move || {
                let secs = ahead.load(std::sync::atomic::Ordering::SeqCst);
                accord_agreement::Time::from_unix(accord_agreement::Time::now().unix() + secs)
                    .unwrap()
            }),
            ..fast()
        }
    }
}

/// Sends `file` from `from` to party `to`, which must refuse it: waits (30 s at most)
/// until the outbox item's error or reasons say `says`, failing if it is delivered.
/// What they said.
pub fn send_refused(from: &Client, to: &str, file: &Path, says: &str) -> String {
    let item = from.send(to, file, None).unwrap();
    let mut said = String::new();
    wait(&format!("{to} refuses, saying {says:?}"), || {
        let o = from.outbox().unwrap();
        let i = o.iter().find(|o| o.id == item.id).unwrap();
        assert_ne!(i.state, "delivered", "delivered, not refused: {i:?}");
        said = format!(
            "{} {}",
            i.last_error.clone().unwrap_or_default(),
            serde_json::to_string(&i.reasons).unwrap()
        );
        said.contains(says)
    });
    said
}

/// Asserts that `c`'s inbox holds each of `ids` exactly once: nothing lost, nothing
/// delivered twice.
pub fn assert_held_once<'a>(c: &Client, ids: impl IntoIterator<Item = &'a String>) {
    let inbox = c.inbox().unwrap();
    for id in ids {
        let n = inbox.iter().filter(|i| &i.id == id).count();
        assert_eq!(n, 1, "{id} held {n} times: {inbox:#?}");
    }
}

/// Waits (30 s at most, then panics naming `what`) until `cond` holds.
pub fn wait(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = std::time::Instant::now();
    while !cond() {
        assert!(t0.elapsed() < Duration::from_secs(30), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `file` from `from` to party `to` and waits (30 s at most) until it is
/// delivered; its outbox id.
pub fn send_delivered(from: &Client, to: &str, file: &Path) -> String {
    let item = from.send(to, file, None).unwrap();
    // On a time-out, the outbox item as it last stood (its attempts, last error and
    // reasons) says why it was not delivered.
    let mut last = None;
    let t0 = std::time::Instant::now();
    loop {
        let o = from.outbox().unwrap().into_iter().find(|o| o.id == item.id);
        if o.as_ref().is_some_and(|o| o.state == "delivered") {
            return item.id;
        }
        last = o.or(last);
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "timed out: delivery to {to}; the outbox item: {last:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the node of `home` with `opts` on `rt` (which then runs it: keep it until
/// the node is stopped).
pub fn start(rt: &tokio::runtime::Runtime, home: &Home, opts: ServeOptions) -> Running {
    log_when_asked();
    rt.block_on(server::start(&home.layout.dir, opts)).unwrap()
}

/// What most exchange and attack tests start from: the [`sandbox`] with its PAK and USA
/// nodes running, and PAK's officer. Destructured, the bindings drop in reverse order:
/// the runtime, which runs the nodes, last.
pub struct Pair {
    /// Runs both nodes.
    pub rt: tokio::runtime::Runtime,
    /// Holds the sandbox.
    pub tmp: tempfile::TempDir,
    /// The sandbox: homes, agreement, people.
    pub sb: Sandbox,
    /// PAK's node.
    pub pak: Running,
    /// USA's node.
    pub usa: Running,
    /// `pak-officer`, cleared for what the sandbox seals.
    pub officer: Client,
}

impl Pair {
    /// A new sandbox in a temporary directory, both nodes started with `opts()`.
    pub fn start(opts: impl Fn() -> ServeOptions) -> Pair {
        log_when_asked();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let sb = sandbox(&rt, tmp.path());
        Pair::serve(rt, tmp, sb, opts)
    }

    /// The nodes of `sb`, a sandbox made (and changed: more agreements, say) on `rt` in
    /// `tmp`, started with `opts()`.
    pub fn serve(
        rt: tokio::runtime::Runtime,
        tmp: tempfile::TempDir,
        sb: Sandbox,
        opts: impl Fn() -> ServeOptions,
    ) -> Pair {
        let pak = start(&rt, &sb.pak, opts());
        let usa = start(&rt, &sb.usa, opts());
        let officer = Client::new(sb.credential("pak-officer").unwrap()).unwrap();
        Pair {
            rt,
            tmp,
            sb,
            pak,
            usa,
            officer,
        }
    }
}

impl Pair {
    /// PAK's officer seals `text` under `marking` and the sandbox agreement and sends it
    /// to USA; once delivered (30 s at most), its id.
    pub fn send_to_usa(&self, marking: &str, text: &[u8]) -> String {
        let file = crate::seal_into(
            &self.officer,
            marking,
            Some(sandbox::AGREEMENT_ID),
            text,
            self.tmp.path(),
        );
        let item = self.officer.send("USA", &file, None).unwrap();
        let t0 = std::time::Instant::now();
        while self
            .officer
            .outbox()
            .unwrap()
            .iter()
            .any(|o| o.state == "queued")
        {
            assert!(t0.elapsed() < Duration::from_secs(30), "not delivered");
            std::thread::sleep(Duration::from_millis(50));
        }
        item.id
    }
}

/// A browser-like HTTP client holding sandbox person `id`'s certificate (redirects not
/// followed, so that a form's answer is seen as sent), and their node's URL.
pub fn person_http(sb: &Sandbox, id: &str) -> (reqwest::blocking::Client, String) {
    let cred = sb.credential(id).unwrap();
    let tls = accord_node_api::tls::credential_client_config(&cred).unwrap();
    let http = reqwest::blocking::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    (http, cred.node_url.trim_end_matches('/').to_string())
}

/// How the tests make a node home of `party`: the repository's [`policies`], a loopback
/// port free now, a database as [`database`] says, no disk reserve, no name or
/// authority. Change what a test needs with `InitOptions { .., ..init_options(party) }`.
pub fn init_options(party: &str) -> InitOptions {
    InitOptions {
        party: party.into(),
        name: None,
        authority: None,
        policies: vec![policies()],
        listen: Some(format!("127.0.0.1:{}", free_port())),
        url: None,
        database: database(),
        disk_reserve_mib: Some(0),
        pkcs11: None,
    }
}

/// Makes a node home in `dir` (as `accord init` does) and opens it.
pub fn init_home(rt: &tokio::runtime::Runtime, dir: &Path, opts: &InitOptions) -> Home {
    rt.block_on(home::init(dir, opts)).unwrap();
    Home::open(dir).unwrap()
}

/// A node home of `party` in `dir` ([`init_options`]) with `people` enrolled, each
/// `(id, clearance JSON)`: named "ID name", of the party's nationality, with the scope
/// EXERCISES. Their credentials, in that order.
pub fn make_node(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    party: &str,
    people: &[(&str, &str)],
) -> Vec<Credential> {
    let home = init_home(rt, dir, &init_options(party));
    people
        .iter()
        .map(|(id, clearance)| {
            rt.block_on(directory::add(
                &home,
                &Enrolment {
                    id: id.to_string(),
                    name: format!("{id} name"),
                    nationality: party.into(),
                    clearance: (format!("{id}.json"), clearance.as_bytes().to_vec()),
                    scopes: vec!["EXERCISES".into()],
                    role: Default::default(),
                },
            ))
            .unwrap()
            .1
        })
        .collect()
}

/// A node home's party signing key (what approves and signs its agreements and its
/// label assertions).
pub fn signing_key(home: &Home) -> accord_keys::SigningKey {
    home.signing_key().unwrap()
}

/// Has each party of `parties`, `(home, the authority that approves)`, approve
/// `agreement` at `at`, then each sign it, in that order: what makes a drafted agreement
/// countersigned (in force from its start).
pub fn countersign(agreement: &mut Agreement, parties: &[(&Home, &str)], at: Time) {
    for (home, authority) in parties {
        agreement
            .approve(&signing_key(home), authority, at)
            .unwrap();
    }
    for (home, _) in parties {
        agreement.sign(&signing_key(home), at).unwrap();
    }
}

/// Loads an agreement document (TOML or canonical JSON) into a node home, as
/// `accord agreement load` does, whether or not the node runs.
pub fn load_agreement(rt: &tokio::runtime::Runtime, home: &Home, text: &str) {
    rt.block_on(async {
        let s = home.store().await.unwrap();
        accord_node::agreements::load(&s, &home.party, &home.history, text)
            .await
            .unwrap();
        s.close().await;
    });
}

/// Translations both ways between PAK's and USA's policies, as the sandbox's agreement
/// and the tests' own agreements have them.
pub fn pak_usa_translations() -> Vec<Translation> {
    vec![
        Translation {
            from: "PAK".into(),
            to: "USA".into(),
        },
        Translation {
            from: "USA".into(),
            to: "PAK".into(),
        },
    ]
}

/// `home`'s node as its partner `partner` sees it, from `running` (that node): the
/// partner's entry among those in force now (its URL and pins), and an HTTPS client
/// presenting `home`'s node identity, pinned as their agreement says, with `timeout`:
/// what the node's delivery loop and federation calls use, for a test to call the
/// partner's `/v1/fed/` routes by hand.
pub fn as_node(
    rt: &tokio::runtime::Runtime,
    running: &Running,
    home: &Home,
    partner: &str,
    timeout: Duration,
) -> (Partner, reqwest::Client) {
    let entry = partners::in_force(
        &rt.block_on(running.node.agreements()).unwrap(),
        &home.config.party,
        Time::now(),
    )
    .into_iter()
    .find(|p| p.code == partner)
    .unwrap_or_else(|| panic!("{} has no partner {partner} in force", home.config.party));
    let client = {
        let _g = rt.enter();
        partners::client(home, &entry, timeout).unwrap()
    };
    (entry, client)
}

/// Enrols `id` at `home` as an equipment custodian (cleared to SECRET under the home's
/// national policy, scope EQUIPMENT) and issues their equipment signing key: their
/// client and key.
pub fn custodian(
    rt: &tokio::runtime::Runtime,
    home: &Home,
    id: &str,
) -> (Client, accord_keys::SigningKey) {
    let party = home.config.party.clone();
    let clearance = serde_json::json!({
        "policy": {"name": party},
        "classifications": ["UNCLASSIFIED", "CONFIDENTIAL", "SECRET"],
        "categories": [{"tagSet": "Releasable To", "values": [party]}, {"tagSet": "Scope", "values": ["EQUIPMENT"]}]
    });
    let (_, cred) = rt
        .block_on(directory::add(
            home,
            &Enrolment {
                id: id.into(),
                name: id.into(),
                nationality: party,
                clearance: ("custodian.json".into(), clearance.to_string().into_bytes()),
                scopes: vec!["EQUIPMENT".into()],
                role: accord_agreement::Role::Custodian,
            },
        ))
        .unwrap();
    let (_, key) = rt.block_on(directory::issue_signing_key(home, id)).unwrap();
    (Client::new(cred).unwrap(), key)
}
