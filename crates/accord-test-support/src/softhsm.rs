//! SoftHSM2 tokens for the hardware-custody tests and benchmark (Debian's `softhsm2`,
//! installed by `.ci/run`).
//!
//! SoftHSM2 reads its configuration (where its tokens live) from `SOFTHSM2_CONF` when
//! the module is initialised, once per process. [`softhsm`] therefore points it, once,
//! at a directory of this process's own, so the tests never touch the machine's
//! tokens; each test makes tokens with labels of its own.

use std::path::PathBuf;
use std::sync::OnceLock;

/// Where Debian's package puts the module.
pub const DEBIAN_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// This process's SoftHSM2.
pub struct SoftHsm {
    /// The PKCS#11 module.
    pub module: PathBuf,
}

/// The process's SoftHSM2, or `None` (with a note on stderr) when it is not installed
/// and the run is not CI's: under `CI=true` a missing SoftHSM2 fails the test.
pub fn softhsm(test: &str) -> Option<&'static SoftHsm> {
    static HSM: OnceLock<Option<SoftHsm>> = OnceLock::new();
    let hsm = HSM.get_or_init(|| {
        let module = std::env::var_os("ACCORD_TEST_PKCS11_MODULE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEBIAN_MODULE));
        if !module.exists() {
            return None;
        }
        let dir = std::env::temp_dir().join(format!("accord-softhsm-{}", std::process::id()));
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        // Before the module is first loaded, which reads it.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        Some(SoftHsm { module })
    });
    match hsm {
        Some(h) => Some(h),
        None if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "{test}: SoftHSM2 is missing (apt-get install softhsm2): CI runs the custody tests"
        ),
        None => {
            eprintln!(
                "{test}: skipped: SoftHSM2 is not installed (apt-get install softhsm2, or set \
                 ACCORD_TEST_PKCS11_MODULE)"
            );
            None
        }
    }
}

impl SoftHsm {
    /// Make a token labelled `label` with user PIN `pin`, through this process's
    /// module ([`accord_keys::pkcs11::init_token`]): a token another program made
    /// after the module was loaded here is not seen whole by SoftHSM2.
    pub fn token(&self, label: &str, pin: &str) {
        accord_keys::pkcs11::init_token(&self.module, label, "so-pin-for-tests", pin)
            .unwrap_or_else(|e| panic!("making token {label}: {e}"));
    }
}
