//! A headless Chromium for the web console's end-to-end tests, driven through
//! chromedriver over the W3C WebDriver protocol (plain HTTP on loopback, `reqwest` and
//! `serde_json`: no WebDriver crate).
//!
//! A node serves HTTPS with mutual TLS, so a [`Browser`] signs in as a person: it
//! starts Chromium with a HOME of its own whose NSS database (`$HOME/.pki/nssdb`,
//! where Chromium on Linux looks for client certificates and locally trusted roots)
//! holds that person's PKCS#12 and trusts the node's CA. Chromium would still ask which
//! certificate to send (and headless, wait for an answer that never comes), so the
//! machine-wide enterprise policy `AutoSelectCertificateForUrls` ([`POLICY`], in
//! [`POLICY_FILE`]) tells it to send the one certificate there is to loopback servers
//! on any port. That file is the only state shared between browsers: each has its own
//! HOME, NSS database, profile and chromedriver, so tests signing in as different
//! people run at once.
//!
//! Unlike the rest of this crate, everything here returns `Result<_, String>` rather
//! than panicking: the error names the WebDriver command that failed and the driver's
//! message. Every wait is bounded: page loads and scripts by the session's timeouts,
//! each HTTP request to chromedriver by a timeout longer than those, the external
//! tools and the driver's start by [`BrowserOptions::start_timeout`].
//!
//! Needs (Debian): `chromium`, `chromium-driver`, `libnss3-tools`, and the right to
//! write [`POLICY_FILE`] once (root, or a directory made writable beforehand).

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's Chromium reads mandatory enterprise policies from.
pub const POLICY_DIR: &str = "/etc/chromium/policies/managed";
/// The policy file [`Browser::start`] makes sure of.
pub const POLICY_FILE: &str = "/etc/chromium/policies/managed/accord-test.json";

/// The policy: whenever a loopback HTTPS server (any port; `127.0.0.1`, `localhost`
/// or `[::1]`) asks for a client certificate, send the first certificate in the NSS
/// database with no question asked (`filter` `{}` matches any certificate; each
/// browser's database holds one person's). Each list entry is itself a JSON string, as
/// the policy's schema requires. Patterns are content-settings patterns: without a
/// port (`https://127.0.0.1`) any port matches too, and a wrong port or scheme
/// (`https://127.0.0.1:9999`, `http://127.0.0.1:*`) matches nothing, and Chromium then
/// waits for a dialog headless Chromium never shows.
pub const POLICY: &str = r#"{
  "AutoSelectCertificateForUrls": [
    "{\"pattern\":\"https://127.0.0.1:*\",\"filter\":{}}",
    "{\"pattern\":\"https://localhost:*\",\"filter\":{}}",
    "{\"pattern\":\"https://[::1]:*\",\"filter\":{}}"
  ]
}
"#;

/// How much taller than its viewport headless Chromium (148) makes its window.
const HEADLESS_FRAME_HEIGHT: u32 = 139;

/// The key under which WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A person's certificate and key to import into the browser's NSS database.
#[derive(Clone, Debug)]
pub struct Pkcs12 {
    /// The PKCS#12 file.
    pub path: PathBuf,
    /// Its passphrase.
    pub passphrase: String,
}

/// What [`Browser::start`] sets up.
#[derive(Clone, Debug)]
pub struct BrowserOptions {
    /// The person's certificate to sign in with, or none (then a server that requires a
    /// client certificate refuses the handshake).
    pub pkcs12: Option<Pkcs12>,
    /// CA certificates (PEM) to trust for TLS servers: the node's CA.
    pub trusted_ca_pems: Vec<String>,
    /// The viewport's width and height in CSS pixels: a screenshot's size (device
    /// pixels are CSS pixels: the scale factor is forced to 1).
    pub window: (u32, u32),
    /// Chromium (Debian's launcher script, which execs /usr/lib/chromium/chromium).
    pub chromium: PathBuf,
    /// chromedriver, of Chromium's version.
    pub chromedriver: PathBuf,
    /// The longest a navigation may take.
    pub page_load_timeout: Duration,
    /// The longest a script ([`Browser::execute`]) may run.
    pub script_timeout: Duration,
    /// The longest each of the NSS tools, chromedriver's start and the session's start
    /// (Chromium's launch) may take.
    pub start_timeout: Duration,
}

impl Default for BrowserOptions {
    fn default() -> Self {
        BrowserOptions {
            pkcs12: None,
            trusted_ca_pems: Vec::new(),
            window: (1280, 800),
            chromium: "/usr/bin/chromium".into(),
            chromedriver: "/usr/bin/chromedriver".into(),
            page_load_timeout: Duration::from_secs(30),
            script_timeout: Duration::from_secs(30),
            start_timeout: Duration::from_secs(60),
        }
    }
}

/// Milliseconds from the navigation's start, from
/// `performance.getEntriesByType('navigation')[0]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NavigationTiming {
    /// `duration`: to the end of the load event (0 while the page is still loading).
    pub duration: f64,
    /// `responseEnd`: the last byte of the document received.
    pub response_end: f64,
    /// `domContentLoadedEventEnd`.
    pub dom_content_loaded_event_end: f64,
    /// `loadEventEnd`.
    pub load_event_end: f64,
}

/// A decoded screenshot: 8-bit RGB, row by row.
#[derive(Clone, Debug)]
pub struct Screenshot {
    /// Width in device pixels.
    pub width: u32,
    /// Height in device pixels.
    pub height: u32,
    rgb: Vec<u8>,
}

impl Screenshot {
    /// Decode a PNG (any colour type and depth the `png` crate reads; alpha dropped).
    pub fn from_png(png_bytes: &[u8]) -> Result<Screenshot, String> {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder
            .read_info()
            .map_err(|e| format!("decoding the screenshot PNG: {e}"))?;
        let size = reader
            .output_buffer_size()
            .ok_or("decoding the screenshot PNG: image too large")?;
        let mut buf = vec![0; size];
        let info = reader
            .next_frame(&mut buf)
            .map_err(|e| format!("decoding the screenshot PNG: {e}"))?;
        let channels = match info.color_type {
            png::ColorType::Grayscale => 1,
            png::ColorType::GrayscaleAlpha => 2,
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            png::ColorType::Indexed => {
                return Err("decoding the screenshot PNG: palette not expanded".into())
            }
        };
        let (w, h) = (info.width as usize, info.height as usize);
        let mut rgb = Vec::with_capacity(w * h * 3);
        for row in buf.chunks(info.line_size).take(h) {
            for px in row.chunks(channels).take(w) {
                if channels < 3 {
                    rgb.extend_from_slice(&[px[0]; 3]);
                } else {
                    rgb.extend_from_slice(&px[..3]);
                }
            }
        }
        Ok(Screenshot {
            width: info.width,
            height: info.height,
            rgb,
        })
    }

    /// The red, green and blue of the pixel at (`x`, `y`), device pixels from the
    /// top left.
    pub fn rgb(&self, x: u32, y: u32) -> Result<[u8; 3], String> {
        if x >= self.width || y >= self.height {
            return Err(format!(
                "pixel ({x}, {y}) is outside the {}x{} screenshot",
                self.width, self.height
            ));
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        Ok([self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]])
    }
}

/// A running chromedriver (in a process group of its own, with Chromium in it) and
/// the temporary HOME it and Chromium use; killed and removed on drop.
struct Driver {
    child: Child,
    port: u16,
    home: tempfile::TempDir,
}

impl Driver {
    fn log_tail(&self) -> String {
        log_tail(self.home.path())
    }
}

fn log_tail(home: &Path) -> String {
    let mut s = String::new();
    for name in ["chromedriver.out", "chromedriver.log"] {
        if let Ok(t) = std::fs::read_to_string(home.join(name)) {
            let lines: Vec<&str> = t.lines().collect();
            let from = lines.len().saturating_sub(15);
            s.push_str(&format!("\n--- {name} (last lines) ---\n"));
            s.push_str(&lines[from..].join("\n"));
        }
    }
    s
}

/// Whether any process of group `pgid` is alive, zombies aside (Chromium's processes,
/// orphaned when chromedriver exits, are reaped by PID 1 when it gets to them).
fn group_alive(pgid: u32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|e| {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            return false;
        };
        // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        f.len() > 2 && f[0] != "Z" && f[2] == pgid.to_string()
    })
}

fn signal_group(pgid: u32, sig: &str) {
    let _ = Command::new("/bin/kill")
        .args(["-s", sig, "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver leads its own process group (Chromium's processes are in it;
        // crashpad's handlers leave it, and exit with the browser): end the group, the
        // leader reaped first, then wait for the rest so the HOME can be removed.
        let pgid = self.child.id();
        signal_group(pgid, "TERM");
        let t0 = Instant::now();
        loop {
            let _ = self.child.try_wait();
            if !group_alive(pgid) {
                break;
            }
            if t0.elapsed() > Duration::from_secs(3) {
                signal_group(pgid, "KILL");
                if t0.elapsed() > Duration::from_secs(6) {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run an external tool with a deadline; its output in the error.
fn run_tool(mut cmd: Command, what: &str, timeout: Duration) -> Result<(), String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", cmd.get_program()))?;
    let t0 = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if t0.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what}: still running after {timeout:?}, killed"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("{what}: {e}")),
        }
    };
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({status}): {}{}",
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        ))
    }
}

/// Make sure [`POLICY_FILE`] holds [`POLICY`]: unchanged if it does (browsers of other
/// tests may be starting), otherwise written whole and renamed into place.
pub fn ensure_policy() -> Result<(), String> {
    if std::fs::read_to_string(POLICY_FILE).is_ok_and(|t| t == POLICY) {
        return Ok(());
    }
    let how = || {
        format!(
            "Chromium auto-selects the client certificate only by a machine-wide policy. \
             As root, run once:\n  mkdir -p {POLICY_DIR} && cat > {POLICY_FILE} <<'EOF'\n{POLICY}EOF"
        )
    };
    std::fs::create_dir_all(POLICY_DIR)
        .map_err(|e| format!("cannot make {POLICY_DIR}: {e}. {}", how()))?;
    let tmp = tempfile::NamedTempFile::new_in(POLICY_DIR)
        .map_err(|e| format!("cannot write in {POLICY_DIR}: {e}. {}", how()))?;
    std::fs::write(tmp.path(), POLICY)
        .map_err(|e| format!("cannot write in {POLICY_DIR}: {e}. {}", how()))?;
    // NamedTempFile is 0600; Chromium reads the policy as whoever runs it.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| format!("cannot make {} readable: {e}", tmp.path().display()))?;
    }
    tmp.persist(POLICY_FILE)
        .map_err(|e| format!("cannot write {POLICY_FILE}: {}. {}", e.error, how()))?;
    Ok(())
}

/// Make the HOME with its NSS database, then start chromedriver in it.
fn start_driver(opts: &BrowserOptions) -> Result<Driver, String> {
    for (tool, package) in [
        (opts.chromium.as_path(), "chromium"),
        (opts.chromedriver.as_path(), "chromium-driver"),
        (Path::new("/usr/bin/certutil"), "libnss3-tools"),
        (Path::new("/usr/bin/pk12util"), "libnss3-tools"),
    ] {
        if !tool.exists() {
            return Err(format!(
                "{} not found: install the Debian package {package}",
                tool.display()
            ));
        }
    }
    ensure_policy()?;
    let t = opts.start_timeout;
    let home = tempfile::Builder::new()
        .prefix("accord-browser-")
        .tempdir()
        .map_err(|e| format!("making the browser's HOME: {e}"))?;
    let nssdb = home.path().join(".pki/nssdb");
    std::fs::create_dir_all(&nssdb).map_err(|e| format!("making {}: {e}", nssdb.display()))?;
    let db = format!("sql:{}", nssdb.display());
    let mut c = Command::new("/usr/bin/certutil");
    c.args(["-N", "-d", &db, "--empty-password"]);
    run_tool(c, "certutil -N (a new NSS database)", t)?;
    if let Some(p12) = &opts.pkcs12 {
        let path = std::fs::canonicalize(&p12.path)
            .map_err(|e| format!("PKCS#12 {}: {e}", p12.path.display()))?;
        // The passphrase from a file, not the command line.
        let pw = home.path().join("p12.pass");
        std::fs::write(&pw, &p12.passphrase).map_err(|e| format!("{}: {e}", pw.display()))?;
        let mut c = Command::new("/usr/bin/pk12util");
        c.arg("-i")
            .arg(&path)
            .args(["-d", &db, "-K", ""])
            .arg("-w")
            .arg(&pw);
        let r = run_tool(c, &format!("pk12util -i {}", path.display()), t);
        let _ = std::fs::remove_file(&pw);
        r?;
    }
    for (i, pem) in opts.trusted_ca_pems.iter().enumerate() {
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(format!("trusted CA {i} is not a PEM certificate"));
        }
        let f = home.path().join(format!("ca-{i}.pem"));
        std::fs::write(&f, pem).map_err(|e| format!("{}: {e}", f.display()))?;
        let mut c = Command::new("/usr/bin/certutil");
        c.args(["-A", "-d", &db, "-n", &format!("accord-test-ca-{i}")])
            .args(["-t", "C,,", "-a", "-i"])
            .arg(&f);
        run_tool(c, &format!("certutil -A (trusting CA {i})"), t)?;
    }

    // `--port=0`: chromedriver takes a free port and says which. It chooses the port
    // itself, and two chromedrivers starting at once (tests run in parallel) can pick
    // the same one: the loser exits saying the port is not available, and is started
    // again.
    for attempt in 1..=3u64 {
        let out_path = home.path().join("chromedriver.out");
        let out = std::fs::File::create(&out_path).map_err(|e| format!("{e}"))?;
        let err = out.try_clone().map_err(|e| format!("{e}"))?;
        let mut cmd = Command::new(&opts.chromedriver);
        cmd.arg("--port=0")
            .arg(format!(
                "--log-path={}",
                home.path().join("chromedriver.log").display()
            ))
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join(".config"))
            .env("XDG_CACHE_HOME", home.path().join(".cache"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("starting {}: {e}", opts.chromedriver.display()))?;
        let t0 = Instant::now();
        loop {
            let text = std::fs::read_to_string(&out_path).unwrap_or_default();
            if let Some(rest) = text.split("started successfully on port ").nth(1) {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                let mut driver = Driver {
                    child,
                    port: 0,
                    home,
                };
                driver.port = digits
                    .parse()
                    .map_err(|_| format!("chromedriver's port in: {text}"))?;
                return Ok(driver);
            }
            if let Ok(Some(status)) = child.try_wait() {
                if attempt < 3 && text.contains("port not available") {
                    // Exited before starting Chromium: the HOME serves the next one.
                    break;
                }
                let driver = Driver {
                    child,
                    port: 0,
                    home,
                };
                return Err(format!(
                    "chromedriver exited ({status}) before listening{}",
                    driver.log_tail()
                ));
            }
            if t0.elapsed() > t {
                let driver = Driver {
                    child,
                    port: 0,
                    home,
                };
                return Err(format!(
                    "chromedriver did not listen within {t:?}{}",
                    driver.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100 * attempt));
    }
    Err("chromedriver could not listen after 3 attempts".into())
}

/// A headless Chromium signed in as one person (or none); see the module's doc. Ends
/// its session, chromedriver and Chromium and removes its HOME on drop (or on
/// [`Browser::quit`]).
pub struct Browser {
    http: reqwest::Client,
    session: String,
    open: bool,
    request_timeout: Duration,
    // Dropped after Browser::drop has ended the session.
    driver: Driver,
}

/// An element of the current page.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl std::fmt::Debug for Element<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Element({})", self.id)
    }
}

fn element_id(v: &Value, what: &str) -> Result<String, String> {
    v.get(ELEMENT_KEY)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{what}: not an element reference: {v}"))
}

fn as_string(v: Value, what: &str) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s),
        v => Err(format!("{what}: expected a string, got {v}")),
    }
}

impl Browser {
    /// Set up the HOME and NSS database, make sure of the policy, start chromedriver
    /// and open a session (Chromium's launch). Takes about a second on an idle machine.
    pub async fn start(opts: BrowserOptions) -> Result<Browser, String> {
        let o = opts.clone();
        let driver = tokio::task::spawn_blocking(move || start_driver(&o))
            .await
            .map_err(|e| format!("starting chromedriver: {e}"))??;
        // reqwest's client is built with rustls (no TLS is used to talk to
        // chromedriver), which needs the process's crypto provider: aws-lc-rs.
        accord_node_api::tls::provider();
        let request_timeout =
            opts.page_load_timeout.max(opts.script_timeout) + Duration::from_secs(30);
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("HTTP client for chromedriver: {e}"))?;
        let (w, h) = opts.window;
        let profile = driver.home.path().join("profile");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "acceptInsecureCerts": false,
            "timeouts": {
                "pageLoad": opts.page_load_timeout.as_millis() as u64,
                "script": opts.script_timeout.as_millis() as u64,
                "implicit": 0,
            },
            "goog:chromeOptions": {
                "binary": opts.chromium,
                "args": [
                    "--headless=new",
                    // Root cannot use Chromium's sandbox (and containers rarely allow
                    // the user namespaces it needs).
                    "--no-sandbox",
                    "--disable-gpu",
                    // /dev/shm is small in containers; shared memory goes to /tmp.
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-background-networking",
                    "--disable-sync",
                    "--disable-features=Translate,MediaRouter",
                    "--password-store=basic",
                    "--force-device-scale-factor=1",
                    "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.display()),
                    // The viewport is the window less room for a toolbar that
                    // headless Chromium does not draw; set_viewport corrects the
                    // guess (slowly: a second) if this version's room differs.
                    format!("--window-size={w},{}", h + HEADLESS_FRAME_HEIGHT),
                ],
            },
        }}});
        let url = format!("http://127.0.0.1:{}/session", driver.port);
        let v = send(
            &http,
            reqwest::Method::POST,
            &url,
            Some(caps),
            "new session (Chromium's launch)",
            opts.start_timeout,
        )
        .await
        .map_err(|e| format!("{e}{}", driver.log_tail()))?;
        let session = v
            .get("sessionId")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("new session: no sessionId in {v}"))?
            .to_owned();
        let browser = Browser {
            http,
            session,
            open: true,
            request_timeout,
            driver,
        };
        browser.set_viewport(w, h).await?;
        Ok(browser)
    }

    /// Make the viewport (what a screenshot shows) `width` x `height` CSS pixels: the
    /// window is resized to that plus what its frame takes (headless Chromium's window
    /// keeps room for a toolbar it does not draw: `--window-size=800,600` gives an
    /// 800x461 viewport).
    pub async fn set_viewport(&self, width: u32, height: u32) -> Result<(), String> {
        let sizes = || async {
            let v = self
                .execute(
                    "return [outerWidth, outerHeight, innerWidth, innerHeight];",
                    vec![],
                )
                .await?;
            let n: Vec<i64> = v
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default();
            match n[..] {
                [ow, oh, iw, ih] => Ok((ow, oh, iw, ih)),
                _ => Err(format!("window sizes: got {v}")),
            }
        };
        let (ow, oh, iw, ih) = sizes().await?;
        if (iw, ih) == (i64::from(width), i64::from(height)) {
            return Ok(());
        }
        let (w, h) = (i64::from(width) + ow - iw, i64::from(height) + oh - ih);
        self.cmd(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": w, "height": h})),
            &format!("set window rect {w}x{h}"),
        )
        .await?;
        let (_, _, iw, ih) = sizes().await?;
        if (iw, ih) != (i64::from(width), i64::from(height)) {
            return Err(format!(
                "asked for a {width}x{height} viewport (window {w}x{h}), got {iw}x{ih}"
            ));
        }
        Ok(())
    }

    /// The browser's HOME (its NSS database is `.pki/nssdb`, Chromium's profile
    /// `profile`, chromedriver's log `chromedriver.log`); removed on drop.
    pub fn home(&self) -> &Path {
        self.driver.home.path()
    }

    async fn cmd(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> Result<Value, String> {
        let url = format!(
            "http://127.0.0.1:{}/session/{}{path}",
            self.driver.port, self.session
        );
        send(&self.http, method, &url, body, what, self.request_timeout).await
    }

    /// Navigate to `url` and wait for the page's load (at most the page-load timeout).
    /// A page that cannot be loaded is an error naming Chromium's `net::ERR_` code
    /// (chromedriver itself reports some network errors, sometimes, and otherwise
    /// Chromium shows its error page; both are this error). The error page stays the
    /// current page.
    pub async fn goto(&self, url: &str) -> Result<(), String> {
        let what = format!("goto {url}");
        match self
            .cmd(reqwest::Method::POST, "/url", Some(json!({ "url": url })), &what)
            .await
        {
            Ok(_) => match self.error_page().await? {
                None => Ok(()),
                Some(code) => Err(format!(
                    "WebDriver {what}: Chromium shows its error page: {code}"
                )),
            },
            Err(e) if e.contains("timeout") => Err(format!(
                "{e} (if the server asks for a client certificate and no pattern of {POLICY_FILE} \
                 matches the URL, Chromium waits for a certificate dialog that headless mode never shows)"
            )),
            Err(e) => Err(e),
        }
    }

    /// If the current page is Chromium's error page (a page that could not be
    /// loaded), the error it shows (`net::ERR_BAD_SSL_CLIENT_AUTH_CERT`,
    /// `ERR_CONNECTION_REFUSED`, ...).
    pub async fn error_page(&self) -> Result<Option<String>, String> {
        let v = self
            .execute(
                "if (location.protocol !== 'chrome-error:') return null;
                 const c = document.querySelector('.error-code');
                 return c && c.textContent.trim() || 'an error page without an error code';",
                vec![],
            )
            .await?;
        Ok(v.as_str().map(str::to_owned))
    }

    /// The current page's URL.
    pub async fn current_url(&self) -> Result<String, String> {
        let v = self
            .cmd(reqwest::Method::GET, "/url", None, "current url")
            .await?;
        as_string(v, "current url")
    }

    /// The current page's title.
    pub async fn title(&self) -> Result<String, String> {
        let v = self
            .cmd(reqwest::Method::GET, "/title", None, "title")
            .await?;
        as_string(v, "title")
    }

    /// The current page's DOM, serialised.
    pub async fn source(&self) -> Result<String, String> {
        let v = self
            .cmd(reqwest::Method::GET, "/source", None, "page source")
            .await?;
        as_string(v, "page source")
    }

    /// The first element matching CSS selector `css` (an error if none does).
    pub async fn find(&self, css: &str) -> Result<Element<'_>, String> {
        let what = format!("find `{css}`");
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
                &what,
            )
            .await?;
        Ok(Element {
            browser: self,
            id: element_id(&v, &what)?,
        })
    }

    /// Every element matching `css`, in document order (none is not an error).
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element<'_>>, String> {
        let what = format!("find all `{css}`");
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
                &what,
            )
            .await?;
        let list = v
            .as_array()
            .ok_or_else(|| format!("{what}: not a list: {v}"))?;
        list.iter()
            .map(|e| {
                Ok(Element {
                    browser: self,
                    id: element_id(e, &what)?,
                })
            })
            .collect()
    }

    /// The rendered text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> Result<String, String> {
        self.find(css).await?.text().await
    }

    /// The first element matching `css`, once there is one: polled every 100 ms for at
    /// most `timeout`.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element<'_>, String> {
        let t0 = Instant::now();
        loop {
            match self.find(css).await {
                Ok(e) => return Ok(e),
                Err(e) if e.contains("no such element") && t0.elapsed() < timeout => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) if e.contains("no such element") => {
                    return Err(format!("waited {timeout:?} for `{css}`: {e}"))
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Run `script` (a function body: `arguments` are `args`, `return` gives the
    /// result) in the page, synchronously; its result as JSON. Elements are passed as
    /// [`Element::to_json`].
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value, String> {
        let first_line = script.trim().lines().next().unwrap_or("");
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
            &format!("execute `{first_line}`"),
        )
        .await
    }

    /// A screenshot of the viewport, PNG.
    pub async fn screenshot_png(&self) -> Result<Vec<u8>, String> {
        use base64::Engine;
        let v = self
            .cmd(reqwest::Method::GET, "/screenshot", None, "screenshot")
            .await?;
        let b64 = as_string(v, "screenshot")?;
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| format!("screenshot: base64: {e}"))
    }

    /// A screenshot of the viewport, decoded.
    pub async fn screenshot(&self) -> Result<Screenshot, String> {
        Screenshot::from_png(&self.screenshot_png().await?)
    }

    /// The colour of the viewport's pixel at (`x`, `y`) (device pixels), from a fresh
    /// screenshot.
    pub async fn pixel(&self, x: u32, y: u32) -> Result<[u8; 3], String> {
        self.screenshot().await?.rgb(x, y)
    }

    /// The colour at the centre of the first element matching `css`, from a
    /// screenshot (the element scrolled into view first if it is not).
    pub async fn colour_at_centre(&self, css: &str) -> Result<[u8; 3], String> {
        self.find(css).await?.colour_at_centre().await
    }

    /// The navigation timing of the current page.
    pub async fn navigation_timing(&self) -> Result<NavigationTiming, String> {
        let v = self
            .execute(
                "const e = performance.getEntriesByType('navigation')[0];
                 return e ? [e.duration, e.responseEnd, e.domContentLoadedEventEnd, e.loadEventEnd] : null;",
                vec![],
            )
            .await?;
        let n: Vec<f64> = v
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        if n.len() != 4 {
            return Err(format!(
                "navigation timing: no navigation entry for this page (got {v})"
            ));
        }
        Ok(NavigationTiming {
            duration: n[0],
            response_end: n[1],
            dom_content_loaded_event_end: n[2],
            load_event_end: n[3],
        })
    }

    /// End the session (Chromium exits), then chromedriver; the HOME is removed. What
    /// drop does, but waiting asynchronously and saying if the session's end failed.
    pub async fn quit(mut self) -> Result<(), String> {
        self.open = false;
        self.cmd(reqwest::Method::DELETE, "", None, "end session")
            .await
            .map(|_| ())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        // Drop cannot await: end the session with a plain blocking HTTP request, so
        // that Chromium exits by itself before its process group is signalled.
        use std::io::{Read, Write};
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.driver.port));
        let t = Duration::from_secs(5);
        if let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, t) {
            let _ = s.set_read_timeout(Some(t));
            let _ = s.set_write_timeout(Some(t));
            let req = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                self.session
            );
            if s.write_all(req.as_bytes()).is_ok() {
                // Until the whole answer is in (chromedriver keeps the connection
                // open): its head, then Content-Length bytes.
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                let t0 = Instant::now();
                while t0.elapsed() < t && !http_answer_complete(&got) {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
            }
        }
    }
}

/// Whether `got` holds an HTTP/1.1 answer's head and all the body its Content-Length
/// announces.
fn http_answer_complete(got: &[u8]) -> bool {
    let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    got.len() >= end + 4 + length
}

impl Element<'_> {
    /// The element's WebDriver reference, for [`Browser::execute`]'s arguments.
    pub fn to_json(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    async fn cmd(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> Result<Value, String> {
        self.browser
            .cmd(method, &format!("/element/{}{path}", self.id), body, what)
            .await
    }

    /// The element's rendered text.
    pub async fn text(&self) -> Result<String, String> {
        let v = self
            .cmd(reqwest::Method::GET, "/text", None, "element text")
            .await?;
        as_string(v, "element text")
    }

    /// The element's attribute `name` (or property of that name, as WebDriver's "Get
    /// Element Attribute" has it), none if it has none.
    pub async fn attr(&self, name: &str) -> Result<Option<String>, String> {
        let what = format!("attribute `{name}`");
        match self
            .cmd(
                reqwest::Method::GET,
                &format!("/attribute/{name}"),
                None,
                &what,
            )
            .await?
        {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            v => Ok(Some(v.to_string())),
        }
    }

    /// Click the element (scrolled into view; an error if something covers it).
    pub async fn click(&self) -> Result<(), String> {
        self.cmd(reqwest::Method::POST, "/click", Some(json!({})), "click")
            .await
            .map(|_| ())
    }

    /// Type `text` into the element.
    pub async fn send_keys(&self, text: &str) -> Result<(), String> {
        self.cmd(
            reqwest::Method::POST,
            "/value",
            Some(json!({ "text": text })),
            "send keys",
        )
        .await
        .map(|_| ())
    }

    /// Empty an input or textarea.
    pub async fn clear(&self) -> Result<(), String> {
        self.cmd(reqwest::Method::POST, "/clear", Some(json!({})), "clear")
            .await
            .map(|_| ())
    }

    /// Choose `file` in an `<input type=file>` (its path made absolute; it must
    /// exist, on this machine: chromedriver runs here).
    pub async fn upload(&self, file: &Path) -> Result<(), String> {
        let abs =
            std::fs::canonicalize(file).map_err(|e| format!("upload {}: {e}", file.display()))?;
        let s = abs
            .to_str()
            .ok_or_else(|| format!("upload {}: path is not UTF-8", abs.display()))?;
        self.send_keys(s).await
    }

    /// The element's rectangle: x, y (CSS pixels from the document's top left),
    /// width, height.
    pub async fn rect(&self) -> Result<[f64; 4], String> {
        let v = self
            .cmd(reqwest::Method::GET, "/rect", None, "element rect")
            .await?;
        let n = |k: &str| {
            v.get(k)
                .and_then(Value::as_f64)
                .ok_or_else(|| format!("element rect: no `{k}` in {v}"))
        };
        Ok([n("x")?, n("y")?, n("width")?, n("height")?])
    }

    /// The colour at the element's centre, from a screenshot of the viewport (the
    /// element scrolled into view first if it is not wholly in it).
    pub async fn colour_at_centre(&self) -> Result<[u8; 3], String> {
        let v = self
            .browser
            .execute(
                "const r = arguments[0].getBoundingClientRect();
                 if (r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth)
                     arguments[0].scrollIntoView({block: 'center', inline: 'center'});
                 return [scrollX, scrollY, devicePixelRatio];",
                vec![self.to_json()],
            )
            .await?;
        let n: Vec<f64> = v
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let [sx, sy, dpr] = n[..] else {
            return Err(format!("scroll position and pixel ratio: got {v}"));
        };
        let [x, y, w, h] = self.rect().await?;
        let shot = self.browser.screenshot().await?;
        let px = ((x + w / 2.0 - sx) * dpr).floor();
        let py = ((y + h / 2.0 - sy) * dpr).floor();
        if px < 0.0 || py < 0.0 {
            return Err(format!("the element's centre ({px}, {py}) is not in view"));
        }
        shot.rgb(px as u32, py as u32)
    }
}

/// One WebDriver request; its `value`, or the error it answered (`error`: `message`)
/// with the command that failed.
async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
    what: &str,
    timeout: Duration,
) -> Result<Value, String> {
    let path = url.split_once("/session").map_or(url, |(_, p)| p);
    let ctx = format!("WebDriver {what} ({method} /session{path})");
    let mut req = http.request(method, url).timeout(timeout);
    if let Some(b) = body {
        // reqwest's `json` feature is not in the workspace's build.
        req = req
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(b.to_string());
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("{ctx}: {}", accord_node_api::tls::describe(&e)))?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .map_err(|e| format!("{ctx}: reading the answer: {e}"))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{ctx}: HTTP {status}, not JSON ({e}): {text}"))?;
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    if let Some(err) = value.get("error").and_then(Value::as_str) {
        let msg = value.get("message").and_then(Value::as_str).unwrap_or("");
        return Err(format!("{ctx}: {err}: {msg}"));
    }
    if !status.is_success() {
        return Err(format!("{ctx}: HTTP {status}: {text}"));
    }
    Ok(value)
}

/// Whether the browser tests run: `ACCORD_TEST_BROWSER=1` (`.ci/run` sets it and
/// installs what they need); with it, Chromium, chromedriver and the NSS tools must be
/// there. Without it, `test` says why it is skipped.
pub fn enabled(test: &str) -> bool {
    if std::env::var("ACCORD_TEST_BROWSER").as_deref() == Ok("1") {
        for tool in [
            "/usr/bin/chromium",
            "/usr/bin/chromedriver",
            "/usr/bin/certutil",
        ] {
            assert!(
                Path::new(tool).exists(),
                "ACCORD_TEST_BROWSER=1 but {tool} is missing (apt-get install chromium chromium-driver libnss3-tools)"
            );
        }
        true
    } else {
        eprintln!(
            "{test}: skipped: set ACCORD_TEST_BROWSER=1 to drive headless Chromium \
             (needs chromium, chromium-driver, libnss3-tools, and writing {POLICY_FILE})"
        );
        false
    }
}
