//! CLI tests for `accord policy show` and `accord label render|parse|check|decide|translate`:
//! trycmd cases in tests/cmd/label/*.toml (run from the workspace root, so that they use
//! the shipped policies/ and the conformance data in testdata/), plus assert-style checks
//! for what a fixed transcript cannot express.

use std::process::Command;

#[test]
fn cli_label_cases() {
    trycmd::TestCases::new().case("tests/cmd/label/*.toml");
}

fn accord(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .args(args)
        .output()
        .expect("run accord")
}

/// Every label form the CLI writes reads back to the same marking.
#[test]
fn parse_then_render_round_trips_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    for marking in [
        "SECRET//REL TO USA, PAK",
        "TOP SECRET//ORCON/NOFORN",
        "CONFIDENTIAL//REL TO USA, PAK, GBR//SCOPE EXERCISES, TRAINING",
        "UNCLASSIFIED",
    ] {
        for format in ["4774", "json", "spiffy"] {
            let out = accord(&[
                "label",
                "parse",
                "--policy",
                "policies/usa.xml",
                marking,
                "--format",
                format,
            ]);
            assert!(
                out.status.success(),
                "{marking} {format}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let file = dir.path().join(format!("label.{format}"));
            std::fs::write(&file, &out.stdout).unwrap();
            let render = accord(&[
                "label",
                "render",
                "--policy",
                "policies",
                file.to_str().unwrap(),
            ]);
            assert!(render.status.success());
            assert_eq!(
                String::from_utf8(render.stdout).unwrap(),
                format!("{marking}\n")
            );
        }
    }
}

/// A huge input is refused with a clear message, not read whole.
#[test]
fn huge_label_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.xml");
    std::fs::write(&file, vec![b' '; 2 * 1024 * 1024]).unwrap();
    let out = accord(&[
        "label",
        "check",
        "--policy",
        "policies",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("is more than the limit of 1048576 bytes"),
        "{err}"
    );
}
