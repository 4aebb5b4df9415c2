//! A two-party sandbox: PAK and USA node homes under one countersigned CIS-MOA-style
//! agreement, with a few people enrolled. `accord quickstart` builds it so a newcomer
//! sees the whole system work; the federation tests build it so they test the same
//! thing.
//!
//! In real life each party makes its own node and signs with its own authority on its
//! own machine; here one process holds both parties' keys, which only a sandbox may.

use crate::directory::{self, Enrolment};
use crate::home::{self, Home, InitOptions};
use crate::Error;
use accord_agreement::{Agreement, Body, Party, Scope, Time, Translation};
use accord_node_api::credential::Credential;
use std::path::{Path, PathBuf};

/// The national policies the sandbox uses, built into the binary so the sandbox works
/// from any directory.
const POLICIES: [(&str, &str); 2] = [
    ("pak.xml", include_str!("../../../policies/pak.xml")),
    ("usa.xml", include_str!("../../../policies/usa.xml")),
];

/// The sandbox agreement's id.
pub const AGREEMENT_ID: &str = "CISMOA-SANDBOX";

/// How to lay out the sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// PAK's listen address (`127.0.0.1:0` is not allowed: the URL goes into the
    /// agreement, so the port must be known).
    pub pak_listen: String,
    /// USA's listen address.
    pub usa_listen: String,
    /// Database URL for each node (`None`: SQLite files in the homes).
    pub databases: (Option<String>, Option<String>),
    /// How long the agreement runs.
    pub years: u32,
    /// Each node's `disk_reserve_mib` ([`DISK_RESERVE_MIB`] for a quickstart).
    pub disk_reserve_mib: u64,
    /// The token PAK's and USA's keys live in (`[pkcs11]`), if any.
    pub pkcs11: (
        Option<crate::custody::Pkcs11Config>,
        Option<crate::custody::Pkcs11Config>,
    ),
}

/// The disk reserve of a quickstart's nodes. A sandbox holds a few small objects, and
/// a newcomer's machine (or a CI runner) may have less than a production node's
/// [`crate::disk::DEFAULT_RESERVE_MIB`] free; 64 MiB still keeps its audit logs
/// writable.
pub const DISK_RESERVE_MIB: u64 = 64;

/// A person enrolled in the sandbox.
#[derive(Debug, Clone)]
pub struct SandboxPerson {
    /// Id, also the credential's file stem.
    pub id: String,
    /// Their node's party.
    pub party: String,
    /// What they show (`cleared officer`, ...).
    pub role: String,
    /// Where the credential was written.
    pub credential: PathBuf,
}

/// What [`create`] made.
pub struct Sandbox {
    /// The sandbox directory.
    pub dir: PathBuf,
    /// PAK's node home (`DIR/pak`).
    pub pak: Home,
    /// USA's node home (`DIR/usa`).
    pub usa: Home,
    /// The countersigned agreement (`DIR/agreement.toml`).
    pub agreement: Agreement,
    /// The people, credentials in `DIR/credentials/`.
    pub people: Vec<SandboxPerson>,
}

impl Sandbox {
    /// A person's credential.
    pub fn credential(&self, id: &str) -> Result<Credential, Error> {
        let p = self
            .people
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| Error::NotFound(format!("no sandbox person {id}")))?;
        Credential::load(&p.credential)
    }
}

fn clearance(policy: &str, classes: &[&str], rel: &str) -> Vec<u8> {
    serde_json::json!({
        "policy": {"name": policy},
        "classifications": classes,
        "categories": [
            {"tagSet": "Releasable To", "values": [rel]},
            {"tagSet": "Scope", "values": Scope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>()}
        ]
    })
    .to_string()
    .into_bytes()
}

/// Build the sandbox in `dir`, which must not hold one already.
pub async fn create(dir: &Path, opts: &SandboxOptions) -> Result<Sandbox, Error> {
    if dir.join("pak").exists() || dir.join("usa").exists() {
        return Err(Error::Exists(format!(
            "{} already holds a sandbox (pak/ or usa/): remove it or choose another --dir",
            dir.display()
        )));
    }
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).map_err(|e| Error::io(&policies, e))?;
    for (name, text) in POLICIES {
        let p = policies.join(name);
        std::fs::write(&p, text).map_err(|e| Error::io(&p, e))?;
    }
    let mut homes = Vec::new();
    for (party, listen, db, authority, pkcs11) in [
        (
            "PAK",
            &opts.pak_listen,
            &opts.databases.0,
            "Joint Staff Headquarters",
            &opts.pkcs11.0,
        ),
        (
            "USA",
            &opts.usa_listen,
            &opts.databases.1,
            "Department of Defense",
            &opts.pkcs11.1,
        ),
    ] {
        let home_dir = dir.join(party.to_ascii_lowercase());
        home::init(
            &home_dir,
            &InitOptions {
                party: party.into(),
                name: None,
                authority: Some(authority.into()),
                policies: vec![policies.clone()],
                listen: Some(listen.clone()),
                url: None,
                database: db.clone(),
                disk_reserve_mib: Some(opts.disk_reserve_mib),
                pkcs11: pkcs11.clone(),
            },
        )
        .await?;
        homes.push(Home::open(&home_dir)?);
    }
    let usa = homes
        .pop()
        .ok_or_else(|| Error::Input("no USA home".into()))?;
    let pak = homes
        .pop()
        .ok_or_else(|| Error::Input("no PAK home".into()))?;

    // The agreement: all five scopes, ceiling SECRET, both translations, `years` long,
    // approved and signed by both parties.
    let now = Time::now();
    let start = Time::from_unix(now.unix() - 86_400)?;
    let body = Body {
        id: AGREEMENT_ID.into(),
        title: "Communication Interoperability and Security Memorandum of Agreement between Pakistan and the United States (sandbox)".into(),
        version: 1,
        predecessor: None,
        effective_from: start,
        expires: start.plus_years(opts.years)?,
        scopes: Scope::ALL.to_vec(),
        ceiling: Some("SECRET".into()),
        translations: vec![
            Translation { from: "PAK".into(), to: "USA".into() },
            Translation { from: "USA".into(), to: "PAK".into() },
        ],
        terms: "Communication interoperability and security between the parties' forces for joint exercises, operations, training, basing and equipment.".into(),
        parties: vec![
            Party::from_descriptor(&pak.party)?,
            Party::from_descriptor(&usa.party)?,
        ],
    };
    let mut a = Agreement::draft(body)?;
    let pak_key = pak.signing_key()?;
    let usa_key = usa.signing_key()?;
    a.approve(&pak_key, "approved by the Joint Staff Headquarters", start)?;
    a.approve(&usa_key, "approved by the Department of Defense", start)?;
    a.sign(&pak_key, start)?;
    a.sign(&usa_key, start)?;
    let toml_path = dir.join("agreement.toml");
    std::fs::write(&toml_path, a.to_toml()?).map_err(|e| Error::io(&toml_path, e))?;
    let text = a.to_toml()?;
    for h in [&pak, &usa] {
        let s = h.store().await?;
        crate::agreements::load(&s, &h.party, &h.history, &text).await?;
        s.close().await;
    }

    // The people.
    let creds = dir.join("credentials");
    std::fs::create_dir_all(&creds).map_err(|e| Error::io(&creds, e))?;
    let pak_classes = ["UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET"];
    let usa_classes = ["UNCLASSIFIED", "CONFIDENTIAL", "SECRET"];
    let all_scopes: Vec<String> = Scope::ALL.iter().map(|s| s.as_str().to_string()).collect();
    // (node, id, name, clearance, role, active)
    type Cast<'a> = (&'a Home, &'a str, &'a str, Vec<u8>, &'a str, bool);
    let cast: [Cast; 4] = [
        (
            &pak,
            "pak-officer",
            "Major Ayesha Khan",
            clearance("PAK", &pak_classes, "PAK"),
            "cleared PAK officer",
            true,
        ),
        (
            &usa,
            "usa-officer",
            "Captain John Miller",
            clearance("USA", &usa_classes, "USA"),
            "cleared US officer",
            true,
        ),
        (
            &usa,
            "usa-clerk",
            "Sam Lee",
            clearance("USA", &["UNCLASSIFIED"], "USA"),
            "uncleared US clerk",
            true,
        ),
        (
            &usa,
            "usa-suspended",
            "Lt. Dana Cruz",
            clearance("USA", &usa_classes, "USA"),
            "suspended US officer",
            false,
        ),
    ];
    let mut people = Vec::new();
    for (home, id, name, clr, role, active) in cast {
        let (_, cred) = directory::add(
            home,
            &Enrolment {
                id: id.into(),
                name: name.into(),
                nationality: home.config.party.clone(),
                clearance: ("clearance.json".into(), clr),
                scopes: all_scopes.clone(),
                // The officers manage their node; the clerk is a member.
                role: if id.ends_with("-clerk") {
                    accord_agreement::Role::Member
                } else {
                    accord_agreement::Role::Officer
                },
            },
        )
        .await?;
        if !active {
            directory::set_status(home, id, false).await?;
        }
        let path = creds.join(format!("{id}.credential"));
        cred.save(&path)?;
        // For the console: the browser's form, and its passphrase beside it.
        let (p12, passphrase) = directory::browser_credential(home, &cred, None)?;
        accord_keys::write_private_file(&creds.join(format!("{id}.p12")), &p12)?;
        let mut line = zeroize::Zeroizing::new(String::with_capacity(passphrase.len() + 1));
        line.push_str(&passphrase);
        line.push('\n');
        accord_keys::write_private_file(
            &creds.join(format!("{id}.p12.passphrase")),
            line.as_bytes(),
        )?;
        people.push(SandboxPerson {
            id: id.into(),
            party: home.config.party.clone(),
            role: role.into(),
            credential: path,
        });
    }
    Ok(Sandbox {
        dir: dir.to_path_buf(),
        pak,
        usa,
        agreement: a,
        people,
    })
}

/// Open a sandbox [`create`] made in `dir`.
pub fn open(dir: &Path) -> Result<Sandbox, Error> {
    let pak = Home::open(&dir.join("pak"))?;
    let usa = Home::open(&dir.join("usa"))?;
    let toml_path = dir.join("agreement.toml");
    let text = std::fs::read_to_string(&toml_path).map_err(|e| Error::io(&toml_path, e))?;
    let agreement = Agreement::parse(&text)?;
    let roles = [
        ("pak-officer", "PAK", "cleared PAK officer"),
        ("usa-officer", "USA", "cleared US officer"),
        ("usa-clerk", "USA", "uncleared US clerk"),
        ("usa-suspended", "USA", "suspended US officer"),
    ];
    let mut people = Vec::new();
    for (id, party, role) in roles {
        let credential = dir.join("credentials").join(format!("{id}.credential"));
        if !credential.exists() {
            return Err(Error::NotFound(format!(
                "{} is missing: not a complete sandbox",
                credential.display()
            )));
        }
        people.push(SandboxPerson {
            id: id.into(),
            party: party.into(),
            role: role.into(),
            credential,
        });
    }
    Ok(Sandbox {
        dir: dir.to_path_buf(),
        pak,
        usa,
        agreement,
        people,
    })
}
