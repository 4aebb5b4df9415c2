//! The console over HTTP, as a browser would reach it but without one (the browser
//! tests in `crates/accord/tests/browser.rs` drive Chromium): every page's banner,
//! headers and refusals; opening through the same decision and audit entry as the API;
//! officers' pages and the API behind them refused to members, to the suspended and to
//! strangers; forms refused without their page's token or from another origin; a
//! suspension through the console in force at once; an audit entry's proof checked.

mod equipment;

use accord_node::sandbox::{self, Sandbox};
use accord_node_api::client::Client;
use accord_node_api::credential::Credential;
use accord_test_support::{open, Pair};
use std::time::{Duration, Instant};

const MARKING: &str = "SECRET//REL TO USA, PAK//SCOPE EXERCISES";

/// A browser-like HTTP client holding `id`'s certificate (no redirects followed, so
/// that a form's answer is seen as sent).
struct Browser {
    http: reqwest::blocking::Client,
    base: String,
}

struct Page {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Browser {
    fn of(sb: &Sandbox, id: &str) -> Browser {
        let (http, base) = accord_test_support::person_http(sb, id);
        Browser { http, base }
    }

    fn with(cred: Credential) -> Browser {
        let tls = accord_node_api::tls::credential_client_config(&cred).unwrap();
        let http = reqwest::blocking::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        Browser {
            http,
            base: cred.node_url.trim_end_matches('/').to_string(),
        }
    }

    fn host(&self) -> String {
        self.base.trim_start_matches("https://").to_string()
    }

    fn page(r: reqwest::blocking::Response) -> Page {
        Page {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().unwrap(),
        }
    }

    fn get(&self, path: &str) -> Page {
        Browser::page(
            self.http
                .get(format!("{}{path}", self.base))
                .send()
                .unwrap(),
        )
    }

    /// A form post as the browser sends it from the node's own page.
    fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_from(path, form, &format!("https://{}", self.host()))
    }

    fn post_from(&self, path: &str, form: &[(&str, &str)], origin: &str) -> Page {
        Browser::page(
            self.http
                .post(format!("{}{path}", self.base))
                .header("origin", origin)
                .form(form)
                .send()
                .unwrap(),
        )
    }

    fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&b).unwrap());
        }
        let r = r.send().unwrap();
        let s = r.status().as_u16();
        let bytes = r.bytes().unwrap();
        (
            s,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }
}

/// The value of the hidden token of the form posting to `action` on `page`.
fn token(page: &Page, action: &str) -> String {
    let at = page
        .body
        .find(&format!("action=\"{action}\""))
        .unwrap_or_else(|| panic!("no form to {action} in:\n{}", page.body));
    let rest = &page.body[at..];
    let v = rest.find("name=\"token\" value=\"").unwrap() + "name=\"token\" value=\"".len();
    rest[v..v + rest[v..].find('"').unwrap()].to_string()
}

/// The banner's text and class at the top and the bottom of `page`.
fn banners(page: &Page) -> Vec<(String, String)> {
    ["banner-top", "banner-bottom"]
        .iter()
        .map(|id| {
            let at = page
                .body
                .find(&format!("id=\"{id}\""))
                .unwrap_or_else(|| panic!("no {id}"));
            let tag_start = page.body[..at].rfind('<').unwrap();
            let tag_end = at + page.body[at..].find('>').unwrap();
            let tag = &page.body[tag_start..tag_end];
            let class = tag
                .split("class=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string();
            let text_end = tag_end + 1 + page.body[tag_end + 1..].find('<').unwrap();
            (page.body[tag_end + 1..text_end].to_string(), class)
        })
        .collect()
}

fn assert_console_headers(p: &Page) {
    let h = |k: &str| {
        p.headers
            .get(k)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let csp = h("content-security-policy");
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("script-src 'self'")
            && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("form-action 'self'"),
        "{csp}"
    );
    assert_eq!(h("cache-control"), "no-store");
    assert_eq!(h("x-content-type-options"), "nosniff");
    assert_eq!(h("x-frame-options"), "DENY");
    assert_eq!(h("referrer-policy"), "same-origin");
    assert!(h("strict-transport-security").starts_with("max-age="));
    // No inline script or style, nothing from another site.
    assert!(
        !p.body.contains("<script>") && !p.body.contains("style=") && !p.body.contains("<style")
    );
    assert!(!p.body.contains("http://") && !p.body.contains("//cdn"));
}

/// The USA node's audit entries, parsed.
fn usa_log(sb: &Sandbox) -> Vec<serde_json::Value> {
    let dir = sb.usa.layout.log();
    let cp = accord_log::writer::read_checkpoint(&dir).unwrap();
    let mut out = Vec::new();
    accord_log::source::read_entries(
        &accord_log::source::DirSource::new(dir),
        cp.checkpoint.size,
        0,
        cp.checkpoint.size,
        |_, e| out.push(serde_json::from_slice(e).unwrap()),
    )
    .unwrap();
    out
}

/// The USA node's audit entries once `done` holds of them (its checkpoint is published
/// a moment after the entries are durable), within 20 s.
fn usa_log_when(
    sb: &Sandbox,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let t0 = Instant::now();
    loop {
        let log = usa_log(sb);
        if done(&log) {
            return log;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the log never got there: {log:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// PAK's officer sends one object to USA; its id and plaintext.
fn sent(p: &Pair) -> (String, Vec<u8>) {
    let text = b"joint exercise plan, phase two".to_vec();
    (p.send_to_usa(MARKING, &text), text)
}

#[test]
fn an_officer_opens_what_a_partner_sent_through_the_same_decision_as_the_api() {
    let p = Pair::start(Default::default);
    let (id, text) = sent(&p);
    let usa = Browser::of(&p.sb, "usa-officer");

    let inbox = usa.get("/console/inbox");
    assert_eq!(inbox.status, 200, "{}", inbox.body);
    assert_console_headers(&inbox);
    assert!(
        inbox.body.contains(&id)
            && inbox
                .body
                .contains("SECRET//REL TO PAK, USA//SCOPE EXERCISES"),
        "{}",
        inbox.body
    );
    // The banner is the highest classification shown, top and bottom, in the USA
    // policy's colour class for SECRET.
    let b = banners(&inbox);
    assert_eq!(b[0], b[1]);
    assert_eq!(b[0].0, "SECRET");
    let css = usa.get("/console/static/classes.css").body;
    let class = b[0]
        .1
        .split_whitespace()
        .find(|c| c.starts_with("cls-"))
        .unwrap();
    let rule = css
        .lines()
        .find(|l| l.starts_with(&format!(".{class} ")))
        .unwrap();
    assert!(
        rule.contains("#c8102e") && rule.contains("color: #ffffff"),
        "{rule}"
    );

    let object = usa.get(&format!("/console/inbox/PAK/{id}"));
    assert_eq!(object.status, 200, "{}", object.body);
    let action = format!("/console/inbox/PAK/{id}/open");
    let t = token(&object, &action);

    // Without the page's token nothing is opened, and the refusal is logged.
    for form in [
        vec![("how", "view")],
        vec![("how", "view"), ("token", "forged")],
    ] {
        let r = usa.post(&action, &form);
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.body.contains("<code>form</code>"), "{}", r.body);
    }
    // From another site, even with the token, nothing is opened either: refused before
    // any route (not the person's act, so not in their log).
    let r = usa.post_from(
        &action,
        &[("how", "view"), ("token", &t)],
        "https://evil.example",
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("another origin"), "{}", r.body);
    let form_refusals = |log: &[serde_json::Value]| {
        log.iter()
            .filter(|e| {
                e["decision"] == "deny"
                    && e["reasons"][0]["rule"] == "form"
                    && e["person"] == "usa-officer"
                    && e["request"] == action.as_str()
            })
            .count()
    };
    usa_log_when(&p.sb, |l| form_refusals(l) == 2);

    let view = usa.post(&action, &[("how", "view"), ("token", &t)]);
    assert_eq!(view.status, 200, "{}", view.body);
    assert!(
        view.body.contains(std::str::from_utf8(&text).unwrap()),
        "{}",
        view.body
    );
    assert_eq!(banners(&view)[0].0, "SECRET");
    let download = Browser::page(
        usa.http
            .post(format!("{}{action}", usa.base))
            .header("origin", format!("https://{}", usa.host()))
            .form(&[("how", "download"), ("token", &t)])
            .send()
            .unwrap(),
    );
    assert_eq!(download.body.as_bytes(), text.as_slice());
    assert_eq!(download.headers["cache-control"], "no-store");

    // The same bytes as the API's open, and the same audit entries: a fetch and a
    // rewrap permit for the officer, as `accord open --credential` leaves.
    let api = Client::new(p.sb.credential("usa-officer").unwrap()).unwrap();
    let mut tdf = Vec::new();
    api.fetch(&id, &mut tdf).unwrap();
    assert_eq!(open(&api, &tdf).unwrap(), text);
    let log = usa_log_when(&p.sb, |l| {
        l.iter()
            .filter(|e| {
                e["kind"] == "rewrap" && e["person"] == "usa-officer" && e["object"] == id.as_str()
            })
            .count()
            == 3
    });
    let mine = |kind: &str| {
        log.iter()
            .filter(|e| {
                e["kind"] == kind && e["person"] == "usa-officer" && e["object"] == id.as_str()
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    let rewraps = mine("rewrap");
    assert_eq!(rewraps.len(), 3, "view, download, API: {log:#?}");
    // Field by field, but for when and which request: the time also appears in the
    // in-force reason ("in force at T"), and the two requests may straddle a second.
    let shape = |e: &serde_json::Value| {
        let mut e = e.clone();
        for k in ["time", "request"] {
            e.as_object_mut().unwrap().remove(k);
        }
        for r in e["reasons"].as_array_mut().unwrap() {
            if r["rule"] == "agreement-in-force" {
                let text = r["text"].as_str().unwrap();
                let untimed = text.split(" at ").next().unwrap().to_string();
                r["text"] = serde_json::json!(untimed);
            }
        }
        e
    };
    assert_eq!(
        shape(&rewraps[0]),
        shape(&rewraps[2]),
        "the console's entry is the API's"
    );
    assert_eq!(rewraps[0]["decision"], "permit");
}

#[test]
fn refusals_are_shown_with_their_reasons_and_officers_pages_are_for_officers() {
    let p = Pair::start(Default::default);
    let (id, _) = sent(&p);

    // The clerk: not cleared for SECRET, so the object is not in their inbox, and
    // asking for it says why.
    let clerk = Browser::of(&p.sb, "usa-clerk");
    let inbox = clerk.get("/console/inbox");
    assert_eq!(inbox.status, 200);
    assert!(!inbox.body.contains(&id));
    assert_eq!(banners(&inbox)[0].0, "UNCLASSIFIED");
    let object = clerk.get(&format!("/console/inbox/PAK/{id}"));
    assert_eq!(object.status, 403, "{}", object.body);
    assert!(
        object.body.contains("<code>clearance</code>"),
        "{}",
        object.body
    );
    assert!(!object.body.contains("phase two"));

    // A member: no officer's page, and not the API behind it.
    for path in ["/console/people", "/console/audit", "/console/audit/0"] {
        let r = clerk.get(path);
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert!(
            r.body.contains("<code>role</code>") && r.body.contains("for officers"),
            "{}",
            r.body
        );
        assert!(
            !r.body.contains("href=\"/console/people\""),
            "no link to officers' pages"
        );
    }
    let (s, body) = clerk.api(reqwest::Method::GET, "/v1/people", None);
    assert_eq!(s, 403, "{body}");
    assert_eq!(body["reasons"][0]["rule"], "role");
    let (s, _) = clerk.api(
        reqwest::Method::PUT,
        "/v1/people/usa-clerk/role",
        Some(serde_json::json!({"role": "officer"})),
    );
    assert_eq!(s, 403, "a member may not make themselves an officer");

    // The suspended officer: refused everything, with the reason.
    let suspended = Browser::of(&p.sb, "usa-suspended");
    for path in ["/console/inbox", "/console/people", "/console/status"] {
        let r = suspended.get(path);
        assert_eq!(r.status, 403, "{path}");
        assert!(
            r.body.contains("<code>person-active</code>") && r.body.contains("suspended"),
            "{}",
            r.body
        );
    }
    let (s, _) = suspended.api(reqwest::Method::GET, "/v1/people", None);
    assert_eq!(s, 403);

    // A partner's person (PAK's officer) is a stranger here: no page.
    let stranger = Browser::with(Credential {
        node_url: p.sb.credential("usa-officer").unwrap().node_url,
        node_tls_spki_sha256: p.sb.credential("usa-officer").unwrap().node_tls_spki_sha256,
        ..p.sb.credential("pak-officer").unwrap()
    });
    let r = stranger.get("/console/inbox");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("<code>credential</code>"));
    assert!(!r.body.contains(&id));

    // Every refusal of a known caller is in the log.
    let log = usa_log_when(&p.sb, |l| {
        l.iter()
            .any(|e| e["kind"] == "role" && e["person"] == "usa-suspended")
            && l.iter()
                .any(|e| e["kind"] == "role" && e["person"] == "usa-clerk")
    });
    assert!(log.iter().any(|e| e["kind"] == "role"
        && e["person"] == "usa-clerk"
        && e["reasons"][0]["rule"] == "role"));
    assert!(
        log.iter()
            .any(|e| e["kind"] == "role" && e["person"] == "usa-suspended"),
        "{:#?}",
        log.iter()
            .filter(|e| e["person"] == "usa-suspended")
            .collect::<Vec<_>>()
    );
}

#[test]
fn an_officer_suspends_a_person_who_is_refused_at_once_and_the_change_is_logged() {
    let p = Pair::start(Default::default);
    let (id, _) = sent(&p);
    let officer = Browser::of(&p.sb, "usa-officer");
    let clerk_api = Client::new(p.sb.credential("usa-clerk").unwrap()).unwrap();
    assert_eq!(clerk_api.whoami().unwrap().status, "active");

    let people = officer.get("/console/people");
    assert_eq!(people.status, 200, "{}", people.body);
    assert!(people.body.contains("usa-clerk") && people.body.contains("usa-suspended"));
    let action = "/console/people/usa-clerk/status";
    let t = token(&people, action);
    // The token is for this form only.
    let wrong = officer.post(
        "/console/people/usa-officer/status",
        &[("status", "suspended"), ("token", &t)],
    );
    assert_eq!(wrong.status, 403);
    let r = officer.post(action, &[("status", "suspended"), ("token", &t)]);
    assert_eq!(r.status, 303, "{}", r.body);

    // At once, on every route.
    let clerk = Browser::of(&p.sb, "usa-clerk");
    let page = clerk.get("/console/inbox");
    assert_eq!(page.status, 403);
    assert!(page.body.contains("suspended"));
    assert_eq!(clerk_api.whoami().unwrap().status, "suspended");
    let mut tdf = Vec::new();
    assert!(clerk_api.fetch(&id, &mut tdf).is_err());

    // Resumed and made an officer by the API, the clerk reaches the people page.
    let (s, v) = officer.api(
        reqwest::Method::PUT,
        "/v1/people/usa-clerk/status",
        Some(serde_json::json!({"status": "active"})),
    );
    assert_eq!((s, v["status"].as_str()), (200, Some("active")), "{v}");
    let (s, v) = officer.api(
        reqwest::Method::PUT,
        "/v1/people/usa-clerk/role",
        Some(serde_json::json!({"role": "officer"})),
    );
    assert_eq!((s, v["role"].as_str()), (200, Some("officer")), "{v}");
    assert_eq!(clerk.get("/console/people").status, 200);
    // An officer may not demote or suspend themselves.
    let (s, _) = officer.api(
        reqwest::Method::PUT,
        "/v1/people/usa-officer/role",
        Some(serde_json::json!({"role": "member"})),
    );
    assert_eq!(s, 400);
    let (s, _) = officer.api(
        reqwest::Method::PUT,
        "/v1/people/usa-officer/status",
        Some(serde_json::json!({"status": "suspended"})),
    );
    assert_eq!(s, 400);
    let (s, _) = officer.api(
        reqwest::Method::PUT,
        "/v1/people/nobody/role",
        Some(serde_json::json!({"role": "member"})),
    );
    assert_eq!(s, 404);

    // Each change is in the log with the officer who made it (durable before the
    // answer; the checkpoint that shows it follows within a moment).
    let log = usa_log_when(&p.sb, |l| {
        l.iter()
            .filter(|e| {
                e["kind"] == "directory"
                    && e["person"] == "usa-officer"
                    && e["decision"] == "permit"
            })
            .count()
            == 3
    });
    let changes: Vec<_> = log
        .iter()
        .filter(|e| {
            e["kind"] == "directory" && e["subject"] == "usa-clerk" && e["person"] == "usa-officer"
        })
        .map(|e| {
            (
                e["change"].as_str().unwrap().to_string(),
                e["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            ("suspend".to_string(), "suspended".to_string()),
            ("resume".to_string(), "active".to_string()),
            ("role".to_string(), "member → officer".to_string()),
        ]
    );
    // The enrolments made at the command line reached the log too (no officer: the
    // operator).
    assert!(log.iter().any(|e| e["kind"] == "directory"
        && e["change"] == "enrol"
        && e["subject"] == "usa-clerk"
        && e["person"].is_null()));
}

#[test]
fn the_audit_page_checks_an_entrys_proof_against_the_cosigned_checkpoint() {
    let p = Pair::start(Default::default);
    let (id, _) = sent(&p);
    let officer = Browser::of(&p.sb, "usa-officer");
    usa_log_when(&p.sb, |l| {
        l.iter()
            .any(|e| e["kind"] == "receive" && e["object"] == id.as_str())
    });
    let list = officer.get(&format!("/console/audit?kind=receive&object={id}"));
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains(&id));
    let at = list.body.find("href=\"/console/audit/").unwrap() + "href=\"/console/audit/".len();
    let index: u64 = list.body[at..at + list.body[at..].find('"').unwrap()]
        .parse()
        .unwrap();
    // PAK's witness cosigns USA's checkpoints within a moment.
    let t0 = Instant::now();
    let page = loop {
        let page = officer.get(&format!("/console/audit/{index}"));
        assert_eq!(page.status, 200, "{}", page.body);
        if page.body.contains("Proof passed") {
            break page;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{}", page.body);
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        page.body.contains("PAK&#39;s witness cosignature")
            || page.body.contains("PAK's witness cosignature"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("failed"), "{}", page.body);
    let beyond = officer.get("/console/audit/99999999");
    assert_eq!(beyond.status, 404);
}

/// A multipart form body (fields, then the file) and its content type.
fn multipart(fields: &[(&str, &str)], file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "accord-test-boundary-7d1f";
    let mut b = Vec::new();
    for (k, v) in fields {
        b.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    b.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"plan.txt\"\r\nContent-Type: text/plain\r\n\r\n").as_bytes(),
    );
    b.extend_from_slice(file);
    b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), b)
}

impl Browser {
    fn post_multipart(&self, path: &str, fields: &[(&str, &str)], file: &[u8]) -> Page {
        let (ct, body) = multipart(fields, file);
        Browser::page(
            self.http
                .post(format!("{}{path}", self.base))
                .header("origin", format!("https://{}", self.host()))
                .header("content-type", ct)
                .body(body)
                .send()
                .unwrap(),
        )
    }
}

#[test]
fn a_pak_officer_seals_through_the_chooser_and_it_arrives_at_usa_with_its_receipt() {
    let p = Pair::start(Default::default);
    let pak = Browser::of(&p.sb, "pak-officer");
    let page = pak.get("/console/send");
    assert_eq!(page.status, 200, "{}", page.body);
    assert_console_headers(&page);
    // The chooser offers what the officer's clearance holds (PAK: up to SECRET), not
    // TOP SECRET.
    assert!(
        page.body.contains("<option value=\"SECRET\"")
            && !page.body.contains("value=\"TOP SECRET\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("value=\"Releasable To|USA\""));
    let t = token(&page, "/console/send");
    // The marking as it is built.
    let m = pak.get("/console/send/marking?classification=SECRET&cat=Releasable+To%7CPAK&cat=Releasable+To%7CUSA&cat=Scope%7CEXERCISES");
    let v: serde_json::Value = serde_json::from_str(&m.body).unwrap();
    assert_eq!(
        v["marking"], "SECRET//REL TO PAK, USA//SCOPE EXERCISES",
        "{v}"
    );
    let text = b"convoy timings for the joint exercise".repeat(1000);
    let fields = [
        ("token", t.as_str()),
        ("classification", "SECRET"),
        ("cat", "Releasable To|PAK"),
        ("cat", "Releasable To|USA"),
        ("cat", "Scope|EXERCISES"),
        ("agreement", sandbox::AGREEMENT_ID),
        ("to", "USA"),
    ];
    let r = pak.post_multipart("/console/send", &fields, &text);
    assert_eq!(r.status, 303, "{}", r.body);
    let to = r.headers["location"].to_str().unwrap().to_string();
    let id = to.rsplit("#object-").next().unwrap().to_string();

    // Delivered with its receipt, whose signature the outbox page checks.
    let t0 = Instant::now();
    let outbox = loop {
        let o = pak.get("/console/outbox");
        if o.body.contains("verified") {
            break o;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{}", o.body);
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        outbox.body.contains(&format!("id=\"object-{id}\"")),
        "{}",
        outbox.body
    );
    assert!(outbox.body.contains("signed by USA, verified"));
    // USA's officer opens it with the API: the bytes uploaded.
    let usa = Client::new(p.sb.credential("usa-officer").unwrap()).unwrap();
    let mut tdf = Vec::new();
    usa.fetch(&id, &mut tdf).unwrap();
    assert_eq!(open(&usa, &tdf).unwrap(), text);

    // Without the page's token, nothing is sealed or sent.
    let r = pak.post_multipart("/console/send", &fields[1..], b"x");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("<code>form</code>"));
    assert_eq!(p.officer.outbox().unwrap().len(), 1);
}

#[test]
fn a_label_the_person_may_not_apply_is_refused_with_its_reasons() {
    let p = Pair::start(Default::default);
    let clerk = Browser::of(&p.sb, "usa-clerk");
    let page = clerk.get("/console/send");
    assert_eq!(page.status, 200);
    // Not offered...
    assert!(
        !page.body.contains("<option value=\"SECRET\""),
        "{}",
        page.body
    );
    // ...and refused when sent anyway, with the decision's reasons.
    let t = token(&page, "/console/send");
    let r = clerk.post_multipart(
        "/console/send",
        &[
            ("token", &t),
            ("classification", "SECRET"),
            ("cat", "Releasable To|USA"),
            ("cat", "Releasable To|PAK"),
            ("cat", "Scope|EXERCISES"),
            ("agreement", sandbox::AGREEMENT_ID),
            ("to", "PAK"),
        ],
        b"not for the clerk",
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("<code>clearance</code>"), "{}", r.body);
    let usa_clerk = Client::new(p.sb.credential("usa-clerk").unwrap()).unwrap();
    assert!(usa_clerk.outbox().unwrap().is_empty());
}

#[test]
fn requests_another_site_makes_a_browser_send_are_refused_before_any_route() {
    let p = Pair::start(Default::default);
    let (id, _) = sent(&p);
    let officer = Browser::of(&p.sb, "usa-officer");
    let send = |method: reqwest::Method, path: &str, headers: &[(&str, &str)]| {
        let mut r = officer
            .http
            .request(method, format!("{}{path}", officer.base));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let r = r.body("{}").send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let before = usa_log(&p.sb).len();
    // An image or a no-cors fetch another page makes: to the API and to the console.
    let image = [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-mode", "no-cors"),
        ("sec-fetch-dest", "image"),
    ];
    for (m, path) in [
        (reqwest::Method::POST, "/v1/seal/plan".to_string()),
        (reqwest::Method::GET, format!("/v1/inbox/{id}")),
        (reqwest::Method::GET, "/log/tile/entries/000".to_string()),
        (reqwest::Method::GET, format!("/console/inbox/PAK/{id}")),
        (reqwest::Method::GET, "/console/audit".to_string()),
    ] {
        let (s, body) = send(m.clone(), &path, &image);
        assert_eq!(s, 403, "{m} {path}: {body}");
        assert!(body.contains("another site"), "{body}");
    }
    // Nothing of it is in the officer's log: they did not ask.
    std::thread::sleep(Duration::from_millis(300));
    let after = usa_log(&p.sb);
    assert!(
        after[before..].iter().all(|e| e["person"] != "usa-officer"),
        "{:#?}",
        &after[before..]
    );
    // A link followed from elsewhere to a console page is the person's own navigation.
    let (s, body) = send(
        reqwest::Method::GET,
        "/console/inbox",
        &[
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "document"),
        ],
    );
    assert_eq!(s, 200, "{body}");
}

#[test]
fn the_send_form_reads_no_more_than_small_fields_before_its_file() {
    let p = Pair::start(Default::default);
    let pak = Browser::of(&p.sb, "pak-officer");
    let page = pak.get("/console/send");
    let t = token(&page, "/console/send");
    let long = "x".repeat(64 << 10);
    let r = pak.post_multipart(
        "/console/send",
        &[("token", &t), ("classification", &long)],
        b"x",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("too long"), "{}", r.body);
    assert!(p.officer.outbox().unwrap().is_empty());
}

impl Browser {
    /// The agreement form: its token, then the file.
    fn post_agreement(&self, token: &str, file: &[u8]) -> Page {
        let boundary = "accord-test-boundary-agreement";
        let mut b = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n{token}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"agreement\"; filename=\"agreement.toml\"\r\nContent-Type: application/toml\r\n\r\n"
        )
        .into_bytes();
        b.extend_from_slice(file);
        b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        Browser::page(
            self.http
                .post(format!("{}/console/agreements", self.base))
                .header("origin", format!("https://{}", self.host()))
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(b)
                .send()
                .unwrap(),
        )
    }
}

#[test]
fn officers_load_agreements_through_the_console_and_members_cannot() {
    let p = Pair::start(Default::default);
    let doc = std::fs::read(p.sb.dir.join("agreement.toml")).unwrap();
    let officer = Browser::of(&p.sb, "usa-officer");
    let page = officer.get("/console/agreements");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(sandbox::AGREEMENT_ID) && page.body.contains("in-force"));
    let t = token(&page, "/console/agreements");
    // The agreement again: verified, nothing new.
    let r = officer.post_agreement(&t, &doc);
    assert_eq!(r.status, 303, "{}", r.body);
    // A copy changed after the signatures: refused with what does not verify.
    let tampered =
        String::from_utf8(doc.clone())
            .unwrap()
            .replacen("Pakistan", "Pakistan and others", 1);
    let r = officer.post_agreement(&t, tampered.as_bytes());
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body.contains("<code>agreement-valid</code>"),
        "{}",
        r.body
    );
    // A member: no form on the page, and the post refused by role.
    let clerk = Browser::of(&p.sb, "usa-clerk");
    let page = clerk.get("/console/agreements");
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("id=\"load\""));
    let r = clerk.post_agreement("x", &doc);
    assert_eq!(r.status, 403);
    assert!(r.body.contains("<code>role</code>"), "{}", r.body);
    // Both the load and its refusal are in the log, naming the officer.
    let log = usa_log_when(&p.sb, |l| {
        l.iter()
            .filter(|e| e["kind"] == "agreement" && e["person"] == "usa-officer")
            .count()
            == 2
    });
    let mine: Vec<_> = log
        .iter()
        .filter(|e| e["kind"] == "agreement" && e["person"] == "usa-officer")
        .map(|e| e["decision"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(mine, ["permit", "deny"]);
}

#[test]
fn an_officer_enrols_a_person_who_signs_in_with_what_was_handed_over() {
    let p = Pair::start(Default::default);
    let (id, text) = sent(&p);
    let officer = Browser::of(&p.sb, "usa-officer");
    let page = officer.get("/console/people");
    let t = token(&page, "/console/people");
    let r = officer
        .http
        .post(format!("{}/console/people", officer.base))
        .header("origin", format!("https://{}", officer.host()))
        .form(&[
            ("token", t.as_str()),
            ("id", "usa-analyst"),
            ("name", "Analyst Rivera"),
            ("nationality", "USA"),
            ("classification", "SECRET"),
            ("scope", "EXERCISES"),
            ("scope", "TRAINING"),
            ("role", "member"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-tar");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body = r.bytes().unwrap();
    // What is handed over: the credential, its PKCS#12 and the passphrase.
    let mut files = std::collections::BTreeMap::new();
    let mut a = tar::Archive::new(&body[..]);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        assert_eq!(e.header().mode().unwrap() & 0o077, 0, "owner-only");
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut b).unwrap();
        files.insert(name, b);
    }
    assert_eq!(
        files.keys().cloned().collect::<Vec<_>>(),
        [
            "usa-analyst.credential",
            "usa-analyst.p12",
            "usa-analyst.p12.passphrase"
        ]
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usa-analyst.credential");
    std::fs::write(&path, &files["usa-analyst.credential"]).unwrap();
    // The new person signs in, is a member, and opens what PAK sent.
    let analyst = Client::new(Credential::load(&path).unwrap()).unwrap();
    let me = analyst.whoami().unwrap();
    assert_eq!(
        (me.person.as_str(), me.role.as_str()),
        ("usa-analyst", "member")
    );
    let mut tdf = Vec::new();
    analyst.fetch(&id, &mut tdf).unwrap();
    assert_eq!(open(&analyst, &tdf).unwrap(), text);
    // The enrolment is in the log, naming the officer.
    usa_log_when(&p.sb, |l| {
        l.iter().any(|e| {
            e["kind"] == "directory"
                && e["change"] == "enrol"
                && e["subject"] == "usa-analyst"
                && e["person"] == "usa-officer"
        })
    });
    // The same id again is refused with the reason; a member may not enrol.
    let page = officer.get("/console/people");
    let t = token(&page, "/console/people");
    let again = officer.post(
        "/console/people",
        &[
            ("token", &t),
            ("id", "usa-analyst"),
            ("name", "x"),
            ("nationality", "USA"),
            ("classification", "SECRET"),
            ("role", "member"),
        ],
    );
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(again.body.contains("already enrolled"), "{}", again.body);
    let clerk = Browser::of(&p.sb, "usa-clerk");
    let r = clerk.post(
        "/console/people",
        &[
            ("token", "x"),
            ("id", "sneaky"),
            ("name", "x"),
            ("role", "officer"),
        ],
    );
    assert_eq!(r.status, 403);
    assert!(r.body.contains("<code>role</code>"));
}

/// The status page says what expires soon, with what to do: here the person's own
/// credential, the node's clock 355 days on (credentials last 365), and nothing about
/// the node's certificate (two years) or the agreement (fifteen).
#[test]
fn the_status_page_warns_of_a_credential_about_to_expire() {
    use accord_agreement::Time;
    let p = Pair::start(|| accord_node::server::ServeOptions {
        clock: std::sync::Arc::new(|| Time::from_unix(Time::now().unix() + 355 * 86_400).unwrap()),
        ..accord_test_support::fast()
    });
    let officer = Browser::of(&p.sb, "usa-officer");
    let r = officer.get("/console/status");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("id=\"warnings\""), "{}", r.body);
    assert!(r.body.contains("Your credential expires in "), "{}", r.body);
    assert!(r.body.contains("accord user renew"), "{}", r.body);
    assert!(!r.body.contains("key rotate"), "{}", r.body);
    assert!(!r.body.contains("Agreement CISMOA"), "{}", r.body);
    // Today, nothing.
    drop(p);
    let p = Pair::start(accord_test_support::fast);
    let r = Browser::of(&p.sb, "usa-officer").get("/console/status");
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("id=\"warnings\""), "{}", r.body);
}
