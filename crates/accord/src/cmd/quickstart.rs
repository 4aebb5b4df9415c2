//! `accord quickstart`: the whole system on one machine in one command. Two parties'
//! nodes (PAK and USA) under a countersigned CIS-MOA-style agreement, a SECRET document
//! sealed at PAK and sent to USA, opened by a cleared US officer, refused with reasons
//! to a clerk and a suspended officer, both audit logs verified with the partner's
//! cosignature. Everything it does is an ordinary library call a real deployment makes.

use crate::exit::{Code, Output};
use crate::input::{shell_path, shell_word};
use accord_node::sandbox::{self, Sandbox, SandboxOptions};
use accord_node::server::{self, Running, ServeOptions};
use accord_node_api::client::{self, Client};
use accord_node_api::wire;
use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `accord quickstart`.
#[derive(Args, Debug)]
#[command(
    after_help = QUICKSTART_HELP
)]
pub struct QuickstartArgs {
    /// Where to build the sandbox.
    #[arg(long, value_name = "DIR", default_value = "accord-sandbox")]
    pub dir: PathBuf,
    /// Stop the nodes and exit when the walk-through is done.
    #[arg(long)]
    pub no_serve: bool,
}

/// Narration on stderr with a spinner per step on a terminal; facts for the summary.
struct Story {
    json: bool,
    steps: Vec<serde_json::Value>,
    ok: bool,
}

impl Story {
    fn step<T>(&mut self, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let pb = (!self.json && std::io::stderr().is_terminal()).then(|| {
            let pb = ProgressBar::new_spinner();
            pb.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            pb.set_message(what.to_string());
            pb.enable_steady_tick(Duration::from_millis(100));
            pb
        });
        let r = f();
        if let Some(pb) = pb {
            pb.finish_and_clear();
        }
        r
    }

    fn say(&mut self, name: &str, ok: bool, text: String, facts: serde_json::Value) {
        self.ok &= ok;
        if !self.json {
            eprintln!("{} {text}", if ok { "✔" } else { "✘" });
        }
        self.steps
            .push(serde_json::json!({"step": name, "ok": ok, "text": text, "facts": facts}));
    }
}

fn free_port(ip: &str) -> Result<u16> {
    Ok(std::net::TcpListener::bind((ip, 0))?.local_addr()?.port())
}

fn reasons_text(r: &[wire::Reason]) -> String {
    r.iter()
        .map(|r| format!("[{}] {}", r.rule, r.text))
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn run(args: QuickstartArgs, out: &Output) -> Result<Code> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut story = Story {
        json: out.json,
        steps: vec![],
        ok: true,
    };
    let dir = args.dir.clone();
    refuse_foreign(&dir)?;
    let existing = dir.join("pak").join("node.toml").exists();
    let sb: Sandbox = if existing {
        let sb = sandbox::open(&dir)?;
        story.say(
            "sandbox",
            true,
            format!("reusing the sandbox in {}", dir.display()),
            serde_json::json!({"dir": dir}),
        );
        sb
    } else {
        // Two loopback addresses, as two machines would have two.
        let usa_ip = if std::net::TcpListener::bind("127.0.0.2:0").is_ok() {
            "127.0.0.2"
        } else {
            "127.0.0.1"
        };
        let opts = SandboxOptions {
            pak_listen: format!("127.0.0.1:{}", free_port("127.0.0.1")?),
            usa_listen: format!("{usa_ip}:{}", free_port(usa_ip)?),
            databases: (None, None),
            years: 15,
            disk_reserve_mib: sandbox::DISK_RESERVE_MIB,
            pkcs11: (None, None),
        };
        let sb = story.step("creating the PAK and USA nodes and their agreement", || {
            rt.block_on(sandbox::create(&dir, &opts))
                .map_err(anyhow::Error::from)
        })?;
        story.say(
            "sandbox",
            true,
            format!(
                "created node homes {} and {}, agreement {} (countersigned, in force until {}, all five scopes, ceiling SECRET), four people",
                dir.join("pak").display(),
                dir.join("usa").display(),
                sb.agreement.body.id,
                sb.agreement.body.expires
            ),
            serde_json::json!({"dir": dir, "agreement": sb.agreement.body.id}),
        );
        sb
    };

    let (pak, usa) = story.step("starting both nodes", || {
        let pak = rt.block_on(server::start(&sb.pak.layout.dir, ServeOptions::default()))?;
        let usa = rt.block_on(server::start(&sb.usa.layout.dir, ServeOptions::default()))?;
        Ok((pak, usa))
    })?;
    story.say(
        "nodes",
        true,
        format!(
            "PAK node at {}, USA node at {} (mutual TLS, pinned keys from the agreement)",
            sb.pak.config.url, sb.usa.config.url
        ),
        serde_json::json!({"pak": sb.pak.config.url, "usa": sb.usa.config.url}),
    );

    let result = walk(&sb, &mut story, &dir, (&pak, &usa));
    if let Err(e) = &result {
        story.say("error", false, format!("{e:#}"), serde_json::json!({}));
    }

    if out.json {
        out.print_json(&serde_json::json!({
            "ok": story.ok,
            "dir": dir,
            "steps": story.steps,
            "nodes": {"pak": sb.pak.config.url, "usa": sb.usa.config.url},
            "credentials": sb.people.iter().map(|p| serde_json::json!({"id": p.id, "party": p.party, "role": p.role, "credential": p.credential})).collect::<Vec<_>>(),
        }));
    } else {
        print_next(&sb, &dir, args.no_serve);
    }

    if args.no_serve {
        stop(&rt, pak, usa)?;
    } else {
        eprintln!("\nboth nodes keep serving; Ctrl-C (or SIGTERM) stops them");
        rt.block_on(accord_node::server::wait_for_signal());
        stop(&rt, pak, usa)?;
    }
    Ok(if story.ok { Code::Ok } else { Code::Negative })
}

/// What `accord init` puts in a node home (and `accord keygen` in a keys directory);
/// quickstart puts none of them at the top of its DIR (its node homes are DIR/pak and
/// DIR/usa).
const NODE_HOME_MARKERS: [&str; 5] = [
    "node.toml",
    "party.json",
    "node.db",
    "keys/kas.key",
    "log/checkpoint",
];

/// Refuse a DIR that is a node home (or looks like one): quickstart would write its
/// policies and node homes into it. A sandbox quickstart made earlier has none of
/// these at its top, so running again on it still works.
fn refuse_foreign(dir: &Path) -> Result<()> {
    let found: Vec<&str> = NODE_HOME_MARKERS
        .into_iter()
        .filter(|m| dir.join(m).exists())
        .collect();
    if !found.is_empty() {
        bail!(
            "{} looks like a node home (it has {}), not a sandbox quickstart made: quickstart would write its own policies and node homes into it; give --dir a new directory, or one quickstart made before",
            dir.display(),
            found.join(", ")
        );
    }
    Ok(())
}

fn stop(rt: &tokio::runtime::Runtime, pak: Running, usa: Running) -> Result<()> {
    rt.block_on(async {
        usa.stop().await?;
        pak.stop().await
    })?;
    Ok(())
}

fn walk(sb: &Sandbox, story: &mut Story, dir: &Path, nodes: (&Running, &Running)) -> Result<()> {
    let work = dir.join("files");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let pak_officer = Client::new(sb.credential("pak-officer")?)?;
    let marking = "SECRET//REL TO USA, PAK//SCOPE EXERCISES";
    let text = format!(
        "JOINT EXERCISE PLAN\n\nExercise window, communications plan and liaison officers for the\ncombined exercise under agreement {}.\n",
        sandbox::AGREEMENT_ID
    );
    let plain_path = work.join("exercise-plan.txt");
    std::fs::write(&plain_path, &text)?;
    let sealed_path = work.join("exercise-plan.tdf");
    let sealed = story.step("sealing at PAK", || {
        let mut f = std::fs::File::create(&sealed_path)?;
        Ok(client::seal(
            &pak_officer,
            &wire::SealPlanRequest {
                marking: Some(marking.into()),
                label: None,
                agreement: Some(sandbox::AGREEMENT_ID.into()),
                choose_agreement: false,
            },
            text.as_bytes(),
            &mut f,
            1 << 20,
            None,
        )?)
    })?;
    let parties: Vec<&str> = sealed
        .plan
        .recipients
        .iter()
        .map(|r| r.party.as_str())
        .collect();
    story.say(
        "seal",
        true,
        format!(
            "pak-officer sealed {} as {} (key access for {}; label signed by the PAK node)",
            sealed_path.display(),
            sealed.plan.marking,
            parties.join(" and ")
        ),
        serde_json::json!({"file": sealed_path, "marking": sealed.plan.marking, "key_access": parties}),
    );

    let queued = pak_officer.send("USA", &sealed_path, None)?;
    let t0 = Instant::now();
    let delivered = loop {
        let o = pak_officer
            .outbox_filtered(&accord_node_api::exchange::OutboxFilter {
                id: Some(queued.id.clone()),
                ..Default::default()
            })?
            .into_iter()
            .next()
            .context("the send vanished from the outbox")?;
        if o.state != "queued" {
            break o;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            bail!("not delivered after 30 s: {:?}", o.last_error);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let receipt = delivered.receipt.clone();
    story.say(
        "send",
        delivered.state == "delivered",
        match &receipt {
            Some(r) => format!(
                "sent {} to USA; the USA node checked it and returned a receipt signed with its party key (USA log index {})",
                queued.id, r.body.log_index
            ),
            None => format!("delivery {}: {}", delivered.state, reasons_text(&delivered.reasons)),
        },
        serde_json::json!({"id": queued.id, "state": delivered.state}),
    );

    let officer = Client::new(sb.credential("usa-officer")?)?;
    let inbox = officer.inbox()?;
    let fetched_path = work.join("received.tdf");
    {
        let mut f = std::fs::File::create(&fetched_path)?;
        officer.fetch(&queued.id, &mut f)?;
    }
    let mut opened = Vec::new();
    let r = client::open(
        &officer,
        &mut std::fs::File::open(&fetched_path)?,
        &mut opened,
        None,
        None,
    );
    let ok = r.is_ok() && opened == text.as_bytes();
    story.say(
        "open",
        ok,
        match &r {
            Ok((_, rel)) => format!(
                "usa-officer found it in the USA inbox ({}), fetched it and opened it: \"{}\" (decision logged at USA index {})",
                crate::exit::count(inbox.len() as u64, "item", "items"),
                text.lines().next().unwrap_or_default(),
                rel.log_index
            ),
            Err(e) => format!("usa-officer could not open it: {e}"),
        },
        serde_json::json!({"opened": ok}),
    );

    for (id, expect) in [
        ("usa-clerk", "clearance"),
        ("usa-suspended", "person-active"),
    ] {
        let c = Client::new(sb.credential(id)?)?;
        let r = client::open(
            &c,
            &mut std::fs::File::open(&fetched_path)?,
            &mut Vec::new(),
            None,
            None,
        );
        match r {
            Err(accord_node::Error::Denied(reasons)) => {
                let ok = reasons.iter().any(|r| r.rule == expect);
                story.say(
                    &format!("refuse-{id}"),
                    ok,
                    format!("{id} was refused: {}", reasons_text(&reasons)),
                    serde_json::json!({"reasons": crate::json::from_wire(&reasons)}),
                );
            }
            other => story.say(
                &format!("refuse-{id}"),
                false,
                format!("{id} was not refused as expected: {:?}", other.err()),
                serde_json::json!({}),
            ),
        }
    }

    for (home, partner, running) in [(&sb.pak, &sb.usa, nodes.0), (&sb.usa, &sb.pak, nodes.1)] {
        let (party, other) = (&home.config.party, &partner.config.party);
        // Every decision above is durable in the log; the published checkpoint may lag
        // behind. Publish one covering them all, and wait for the partner to cosign it
        // (or a later one): verifying an older cosigned checkpoint would leave them out.
        let covering = running.publish_log()?;
        let vkey = accord_log::note::VerifierKey::parse(
            &home
                .party
                .node
                .as_ref()
                .context("no node part in party.json")?
                .log_verifier_key,
        )?;
        let wpath = partner.layout.dir.join("witness").join("witness.vkey");
        let src = accord_log::source::DirSource::new(home.layout.log());
        // The node submits each new checkpoint to the partner's witness and publishes
        // it with the cosignature; wait for the latest to be cosigned.
        let t0 = Instant::now();
        let report = story.step(
            &format!("waiting for {other} to witness {party}'s log"),
            || loop {
                let wkey = std::fs::read_to_string(&wpath)
                    .ok()
                    .and_then(|t| accord_log::note::VerifierKey::parse(t.trim()).ok());
                let r = match &wkey {
                    Some(w) => accord_log::verify::verify_log(
                        &src,
                        &vkey,
                        std::slice::from_ref(w),
                        None,
                        &mut |_, _| {},
                    )
                    .map_err(anyhow::Error::from),
                    None => Err(anyhow::anyhow!(
                        "{} has no witness key yet",
                        wpath.display()
                    )),
                };
                let r = r.and_then(|r| {
                    if r.entries >= covering {
                        Ok(r)
                    } else {
                        Err(anyhow::anyhow!(
                            "{other} has cosigned {party}'s log up to {} entries, not yet the {covering} made so far",
                            r.entries
                        ))
                    }
                });
                match r {
                    Ok(r) => return Ok((r, wkey)),
                    Err(e) if t0.elapsed() > Duration::from_secs(20) => return Err(e),
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            },
        )?;
        let (report, wkey) = report;
        story.say(
            &format!("log-{party}"),
            true,
            format!(
                "{party} audit log verifies with {other}'s cosignature: {} entries, signed by {party}'s log key and witnessed by {other} (witness key {})",
                report.entries,
                wkey.map(|w| w.to_string()).unwrap_or_default()
            ),
            serde_json::json!({"entries": report.entries, "witness": other}),
        );
    }
    Ok(())
}

fn print_next(sb: &Sandbox, dir: &Path, no_serve: bool) {
    let c = |id: &str| shell_path(&dir.join("credentials").join(format!("{id}.credential")));
    println!("\nAccord sandbox in {}", dir.display());
    println!("  agreement  {}", dir.join("agreement.toml").display());
    for p in &sb.people {
        println!("  {:<14} {} ({})", p.id, p.credential.display(), p.role);
    }
    let creds = dir.join("credentials");
    println!("\nThe console, in a browser (import the person's .p12 file; its passphrase is in the .p12.passphrase file beside it; trust the node's CA: see the README's \"The console\"):");
    for (home, who) in [(&sb.pak, "pak-officer"), (&sb.usa, "usa-officer")] {
        println!(
            "  {:<4} {}/console/   as {who}: import {}, trust {}",
            home.config.party,
            home.config.url.trim_end_matches('/'),
            creds.join(format!("{who}.p12")).display(),
            home.layout.key("ca.crt").display()
        );
    }
    println!("\nTry next:");
    if no_serve {
        println!("  accord serve --dir {} &", shell_path(&dir.join("pak")));
        println!("  accord serve --dir {} &", shell_path(&dir.join("usa")));
    }
    println!("  accord inbox --credential {}", c("usa-officer"));
    println!(
        "  accord seal --credential {} \\\n      --label \"CONFIDENTIAL//REL TO USA, PAK//SCOPE TRAINING\" \\\n      --agreement {} notes.txt -o notes.tdf",
        c("pak-officer"),
        sandbox::AGREEMENT_ID
    );
    println!(
        "  accord send --credential {} \\\n      --to USA notes.tdf --wait 30",
        c("pak-officer")
    );
    println!(
        "  accord open --credential {} \\\n      {} -o plan.txt",
        c("usa-clerk"),
        shell_path(&dir.join("files").join("received.tdf"))
    );
    let vkey = |h: &accord_node::home::Home| {
        h.party
            .node
            .as_ref()
            .map(|n| n.log_verifier_key.clone())
            .unwrap_or_default()
    };
    println!(
        "  accord audit verify --log {} \\\n      --credential {} \\\n      --key {} \\\n      --witness-key \"$(cat {})\"",
        shell_word(&format!("{}/log/", sb.usa.config.url)),
        c("usa-officer"),
        shell_word(&vkey(&sb.usa)),
        shell_path(&dir.join("pak").join("witness").join("witness.vkey"))
    );
}

// `--help` texts: examples stay under 76 columns, so that an 80-column terminal
// does not break them for copy and paste; prose is one line a paragraph, which clap
// wraps.
const QUICKSTART_HELP: &str = "\
Examples:
  cargo run --release -- quickstart
  accord quickstart --dir /tmp/accord-demo --no-serve

Creates DIR/pak and DIR/usa (node homes), DIR/agreement.toml (countersigned, 15 years, all five scopes, ceiling SECRET) and DIR/credentials/*.credential (pak-officer, usa-officer, usa-clerk, usa-suspended) with each person's browser credential (ID.p12, its passphrase in ID.p12.passphrase), starts both nodes on loopback, and walks through an exchange. Run it again on the same DIR to reuse the sandbox. A DIR that is itself a node home (it holds node.toml, party.json, node.db, keys/kas.key or log/checkpoint) is refused: quickstart would overwrite its policies.

Nodes keep serving until Ctrl-C, so you can try the commands it prints; --no-serve stops them when the walk-through is done.

Exit codes: 0 every step behaved as expected, 1 a step did not, 2 usage or startup error (including a DIR that is a node home).";
