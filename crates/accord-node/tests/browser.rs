//! The console in a real headless Chromium (Debian's, through chromedriver), each
//! person signed in with the PKCS#12 file their node wrote, chosen by Chromium's
//! `AutoSelectCertificateForUrls` policy, the node's CA trusted: a US officer opens what
//! PAK sent; a PAK officer seals and sends through the label chooser; the clerk and the
//! suspended officer are refused with their reasons on screen; an officer suspends a
//! person, refused at once; the audit page checks a proof; every page's banner is
//! checked from the screenshot's pixels against the policy's colour. Screenshots go to
//! `ACCORD_SCREENSHOTS` (default `target/console-screenshots`).
//!
//! Runs with `ACCORD_TEST_BROWSER=1` (`.ci/run` sets it and installs chromium,
//! chromium-driver and libnss3-tools); otherwise each test says why and passes.

use accord_node::sandbox::Sandbox;
use accord_node_api::client::Client;
use accord_test_support::browser::{enabled, Browser, BrowserOptions, Pkcs12, Screenshot};
use accord_test_support::{open, Pair};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const MARKING: &str = "SECRET//REL TO USA, PAK//SCOPE EXERCISES";

trait Must<T> {
    fn must(self) -> T;
}

impl<T, E: std::fmt::Display> Must<T> for Result<T, E> {
    #[track_caller]
    fn must(self) -> T {
        self.unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Where screenshots are kept.
fn shots() -> PathBuf {
    let d = std::env::var_os("ACCORD_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots")
        });
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A browser signed in as sandbox person `id` at their node.
async fn browser(sb: &Sandbox, id: &str) -> Browser {
    let creds = sb.dir.join("credentials");
    let passphrase = std::fs::read_to_string(creds.join(format!("{id}.p12.passphrase"))).unwrap();
    let home = if id.starts_with("pak") {
        &sb.pak
    } else {
        &sb.usa
    };
    let ca = std::fs::read_to_string(home.layout.key("ca.crt")).unwrap();
    Browser::start(BrowserOptions {
        pkcs12: Some(Pkcs12 {
            path: creds.join(format!("{id}.p12")),
            passphrase: passphrase.trim_end().to_string(),
        }),
        trusted_ca_pems: vec![ca],
        ..BrowserOptions::default()
    })
    .await
    .must()
}

fn url(sb: &Sandbox, party: &str, path: &str) -> String {
    let home = if party == "PAK" { &sb.pak } else { &sb.usa };
    format!("{}{path}", home.config.url.trim_end_matches('/'))
}

/// The colour the node's national policy gives `classification`.
fn policy_colour(home: &accord_node::home::Home, classification: &str) -> [u8; 3] {
    let p = home.policies.get(&home.config.national_policy).unwrap();
    let c = p
        .classifications
        .iter()
        .find(|c| c.name == classification)
        .unwrap();
    let hex = c.color.as_deref().unwrap().trim_start_matches('#');
    let v = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap();
    [v(0), v(2), v(4)]
}

/// Both banners of the current page: their text, and the colour of their background
/// read from a screenshot, a few pixels in from their left edge (clear of the text).
async fn banners(b: &Browser, name: &str) -> Vec<(String, [u8; 3])> {
    let mut out = Vec::new();
    for id in ["banner-top", "banner-bottom"] {
        let e = b.find(&format!("#{id}")).await.must();
        let text = e.text().await.must();
        // Into view, then one screenshot.
        b.execute(
            "document.getElementById(arguments[0]).scrollIntoView()",
            vec![id.into()],
        )
        .await
        .must();
        let [x, y, _w, h] = e.rect().await.must();
        let png = b.screenshot_png().await.must();
        std::fs::write(shots().join(format!("{name}-{id}.png")), &png).unwrap();
        let scroll = b
            .execute("return [window.scrollX, window.scrollY]", vec![])
            .await
            .must();
        let (sx, sy) = (scroll[0].as_f64().unwrap(), scroll[1].as_f64().unwrap());
        let shot = Screenshot::from_png(&png).must();
        let px = shot
            .rgb((x - sx + 4.0) as u32, (y - sy + h / 2.0) as u32)
            .must();
        out.push((text, px));
    }
    b.execute("window.scrollTo(0, 0)", vec![]).await.must();
    out
}

async fn wait_text(b: &Browser, css: &str, want: &str, timeout: Duration) -> String {
    let t0 = Instant::now();
    loop {
        if let Ok(t) = b.text(css).await {
            if t.contains(want) {
                return t;
            }
            if t0.elapsed() > timeout {
                panic!("`{css}` says {t:?}, not {want:?}");
            }
        } else if t0.elapsed() > timeout {
            panic!("no `{css}` on {}", b.source().await.unwrap_or_default());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sent(p: &Pair, text: &[u8]) -> String {
    p.send_to_usa(MARKING, text)
}

#[test]
fn a_us_officer_opens_what_pak_sent_and_every_page_has_its_banner_in_the_policys_colour() {
    if !enabled("a_us_officer_opens_what_pak_sent") {
        return;
    }
    let p = Pair::start(Default::default);
    let text = b"joint exercise plan, phase three".to_vec();
    let id = sent(&p, &text);
    // An equipment account with two items, marked CONFIDENTIAL.
    let (custodian, _) = accord_test_support::custodian(&p.rt, &p.sb.usa, "usa-custodian");
    let officer =
        accord_node_api::client::Client::new(p.sb.credential("usa-officer").unwrap()).unwrap();
    let _: accord_node_api::wire::AccountView = officer
        .post_json(
            "/v1/equipment/accounts",
            &serde_json::json!({"id": "USA-FMS-1", "custodian": "usa-custodian",
                "marking": "CONFIDENTIAL//REL TO USA, PAK//SCOPE EQUIPMENT"}),
        )
        .unwrap();
    let _: accord_node_api::wire::Imported = custodian
        .post_bytes(
            "/v1/equipment/accounts/USA-FMS-1/import",
            "text/csv",
            b"nomenclature,serial,class,title_holder\nKIV-77,U001,cci,USA\nAN/PRC-117G,R001,eeum,USA\n".to_vec(),
        )
        .unwrap();
    let sb = &p.sb;
    p.rt.block_on(async {
        let b = browser(sb, "usa-officer").await;
        b.goto(&url(sb, "USA", "/console/inbox")).await.must();
        let t0 = Instant::now();
        b.goto(&url(sb, "USA", "/console/inbox")).await.must();
        let timing = b.navigation_timing().await.must();
        eprintln!(
            "inbox navigation: {:.0} ms (measured {:?})",
            timing.duration,
            t0.elapsed()
        );
        let row = b.text("#inbox tbody").await.must();
        assert!(
            row.contains(&id) && row.contains("SECRET//REL TO PAK, USA//SCOPE EXERCISES"),
            "{row}"
        );
        std::fs::write(shots().join("inbox.png"), b.screenshot_png().await.must()).unwrap();
        // Every page: the banner top and bottom is the policy's colour for what it says.
        for (page, want) in [
            ("/console/inbox", "SECRET"),
            ("/console/send", "UNCLASSIFIED"),
            ("/console/outbox", "UNCLASSIFIED"),
            ("/console/agreements", "UNCLASSIFIED"),
            ("/console/people", "UNCLASSIFIED"),
            ("/console/audit", "SECRET"),
            ("/console/status", "UNCLASSIFIED"),
            ("/console/equipment", "CONFIDENTIAL"),
        ] {
            b.goto(&url(sb, "USA", page)).await.must();
            let name = page.trim_start_matches("/console/");
            std::fs::write(
                shots().join(format!("{name}.png")),
                b.screenshot_png().await.must(),
            )
            .unwrap();
            for (banner, colour) in banners(&b, name).await {
                assert_eq!(banner, want, "{page}");
                assert_eq!(
                    colour,
                    policy_colour(&sb.usa, want),
                    "{page}: the banner's pixels"
                );
            }
        }
        // Open it: the same bytes.
        b.goto(&url(sb, "USA", "/console/inbox")).await.must();
        b.find(&format!("a[href='/console/inbox/PAK/{id}']"))
            .await
            .must()
            .click()
            .await
            .must();
        b.wait_for("#view", Duration::from_secs(10))
            .await
            .must()
            .click()
            .await
            .must();
        let shown = wait_text(&b, "#content", "phase three", Duration::from_secs(20)).await;
        assert_eq!(shown.as_bytes(), text.as_slice());
        std::fs::write(shots().join("opened.png"), b.screenshot_png().await.must()).unwrap();
        for (banner, colour) in banners(&b, "opened").await {
            assert_eq!(
                (banner.as_str(), colour),
                ("SECRET", policy_colour(&sb.usa, "SECRET"))
            );
        }

        // The audit page checks the proof of the entry of what was received.
        b.goto(&url(
            sb,
            "USA",
            &format!("/console/audit?kind=receive&object={id}"),
        ))
        .await
        .must();
        b.find("#audit tbody a").await.must().click().await.must();
        let t0 = Instant::now();
        loop {
            let r = b.text("#proof-result").await.must();
            if r.contains("Proof passed") {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "{r}: {}",
                b.text("#checks").await.must()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
            b.execute("location.reload()", vec![]).await.must();
        }
        assert!(b
            .text("#checks")
            .await
            .must()
            .contains("PAK's witness cosignature"));
        std::fs::write(
            shots().join("audit-entry.png"),
            b.screenshot_png().await.must(),
        )
        .unwrap();
        b.quit().await.must();
    });
}

#[test]
fn a_pak_officer_seals_a_file_through_the_label_chooser_and_it_arrives_at_usa() {
    if !enabled("a_pak_officer_seals_a_file_through_the_label_chooser") {
        return;
    }
    let p = Pair::start(Default::default);
    let sb = &p.sb;
    let file = p.tmp.path().join("convoy.txt");
    let text = b"convoy timings, second serial\n".repeat(20_000);
    std::fs::write(&file, &text).unwrap();
    p.rt.block_on(async {
        let b = browser(sb, "pak-officer").await;
        b.goto(&url(sb, "PAK", "/console/send")).await.must();
        b.find("#classification option[value='SECRET']")
            .await
            .must()
            .click()
            .await
            .must();
        b.find("input[value='Releasable To|USA']")
            .await
            .must()
            .click()
            .await
            .must();
        b.find("input[value='Scope|EXERCISES']")
            .await
            .must()
            .click()
            .await
            .must();
        // The marking as it is built (console.js asks the node).
        wait_text(
            &b,
            "#marking-preview",
            "SECRET//REL TO PAK, USA//SCOPE EXERCISES",
            Duration::from_secs(10),
        )
        .await;
        b.find("#to option[value='USA']")
            .await
            .must()
            .click()
            .await
            .must();
        b.find("#file").await.must().upload(&file).await.must();
        std::fs::write(shots().join("send.png"), b.screenshot_png().await.must()).unwrap();
        b.find("#seal-and-send").await.must().click().await.must();
        // Then the outbox, where the receipt shows once delivered.
        let t0 = Instant::now();
        loop {
            if b.current_url().await.must().contains("/console/outbox")
                && b.text("#outbox")
                    .await
                    .unwrap_or_default()
                    .contains("verified")
            {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "{}",
                b.source().await.must()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
            if b.current_url().await.must().contains("/console/outbox") {
                b.execute("location.reload()", vec![]).await.must();
            }
        }
        std::fs::write(shots().join("outbox.png"), b.screenshot_png().await.must()).unwrap();
        b.quit().await.must();
    });
    // It arrived at USA, and opens there to the bytes uploaded.
    let out = p.officer.outbox().unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].state, "delivered");
    assert!(out[0].receipt.is_some());
    let usa = Client::new(sb.credential("usa-officer").unwrap()).unwrap();
    let mut tdf = Vec::new();
    usa.fetch(&out[0].id, &mut tdf).unwrap();
    assert_eq!(open(&usa, &tdf).unwrap(), text);
}

#[test]
fn refusals_show_their_reasons_and_a_suspension_is_in_force_at_once() {
    if !enabled("refusals_show_their_reasons") {
        return;
    }
    let p = Pair::start(Default::default);
    let id = sent(&p, b"for cleared officers");
    let sb = &p.sb;
    p.rt.block_on(async {
        // The clerk: not cleared for it, and no officer's page (nor link to one).
        let clerk = browser(sb, "usa-clerk").await;
        clerk
            .goto(&url(sb, "USA", &format!("/console/inbox/PAK/{id}")))
            .await
            .must();
        let why = clerk.text("#reasons").await.must();
        assert!(why.contains("clearance") && why.contains("SECRET"), "{why}");
        std::fs::write(
            shots().join("refused-clerk.png"),
            clerk.screenshot_png().await.must(),
        )
        .unwrap();
        assert!(clerk
            .find_all("nav a[href='/console/people']")
            .await
            .must()
            .is_empty());
        clerk.goto(&url(sb, "USA", "/console/people")).await.must();
        let why = clerk.text("#reasons").await.must();
        assert!(
            why.contains("role") && why.contains("for officers"),
            "{why}"
        );

        // The suspended officer: refused, saying so.
        let suspended = browser(sb, "usa-suspended").await;
        suspended
            .goto(&url(sb, "USA", "/console/inbox"))
            .await
            .must();
        let why = suspended.text("#reasons").await.must();
        assert!(
            why.contains("person-active") && why.contains("suspended"),
            "{why}"
        );
        suspended.quit().await.must();

        // An officer suspends the clerk, who is refused on their next page.
        let officer = browser(sb, "usa-officer").await;
        officer
            .goto(&url(sb, "USA", "/console/people"))
            .await
            .must();
        officer
            .find("#person-usa-clerk button.suspend")
            .await
            .must()
            .click()
            .await
            .must();
        wait_text(
            &officer,
            "#person-usa-clerk .status",
            "suspended",
            Duration::from_secs(10),
        )
        .await;
        clerk.goto(&url(sb, "USA", "/console/inbox")).await.must();
        let why = clerk.text("#reasons").await.must();
        assert!(why.contains("suspended"), "{why}");
        clerk.quit().await.must();
        officer.quit().await.must();
    });
    let clerk = Client::new(sb.credential("usa-clerk").unwrap()).unwrap();
    assert_eq!(clerk.whoami().unwrap().status, "suspended");
}
