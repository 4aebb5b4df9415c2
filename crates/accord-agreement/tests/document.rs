//! The document format: TOML round trip, canonical bytes, and every bad-input error
//! naming its field.

mod common;
use accord_agreement::*;
use common::*;

#[test]
fn toml_round_trip_keeps_signatures_valid() {
    let f = Fixture::new();
    let a = f.cismoa_signed();
    let text = a.to_toml().unwrap();
    let back = Agreement::from_toml(&text).unwrap();
    assert_eq!(back, a);
    assert!(verify(&back).is_empty());
    let json = String::from_utf8(a.to_canonical_json().unwrap()).unwrap();
    assert_eq!(Agreement::from_json(&json).unwrap(), a);
    assert_eq!(Agreement::parse(&json).unwrap(), a);
}

fn err_of(text: &str) -> String {
    Agreement::parse(text).unwrap_err().to_string()
}

fn replace_line(text: &str, starts: &str, with: &str) -> String {
    let mut done = false;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            if !done && l.starts_with(starts) {
                done = true;
                with.to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(done, "no line starts with {starts}");
    out.join("\n")
}

#[test]
fn bad_documents_name_the_field() {
    let f = Fixture::new();
    let text = f.cismoa_signed().to_toml().unwrap();
    let cases: Vec<(String, &str)> = vec![
        (
            format!("colour = \"blue\"\n{text}"),
            "field `colour`: unknown field",
        ),
        (replace_line(&text, "title =", ""), "field `title`: missing"),
        (
            replace_line(&text, "version =", "version = \"one\""),
            "field `version`: expected a non-negative integer",
        ),
        (
            replace_line(
                &text,
                "effective-from =",
                "effective-from = \"2005-10-01T00:00:00\"",
            ),
            "field `effective-from`: invalid time \"2005-10-01T00:00:00\": no zone",
        ),
        (
            replace_line(
                &text,
                "effective-from =",
                "effective-from = 2005-10-01T00:00:00",
            ),
            "field `effective-from`: invalid time",
        ),
        (
            replace_line(&text, "expires =", "expires = \"2005-01-01T00:00:00Z\""),
            "field `expires`: 2005-01-01T00:00:00Z is not after effective-from",
        ),
        (
            replace_line(&text, "scopes =", "scopes = [\"EXERCISES\", \"SPYING\"]"),
            "field `scopes[1]`: unknown scope \"SPYING\"",
        ),
        (
            replace_line(&text, "scopes =", "scopes = []"),
            "field `scopes`: at least one scope",
        ),
        (
            replace_line(&text, "code = \"USA\"", "code = \"usa\""),
            "field `parties[1].code`: \"usa\" is not an ISO 3166 trigraph",
        ),
        (
            replace_line(&text, "ecdsa-p384 =", "ecdsa-p384 = \"!!\""),
            "field `parties[0].signing-keys.ecdsa-p384`: not base64",
        ),
        (
            replace_line(&text, "kind = \"approve\"", "kind = \"veto\""),
            "field `records[0].kind`: unknown record kind \"veto\"",
        ),
        (
            replace_line(&text, "reference =", "effective = \"2030-01-01T00:00:00Z\""),
            "field `records[0].reference`: missing",
        ),
        (
            replace_line(&text, "time =", "time = \"yesterday\""),
            "field `records[0].time`: invalid time",
        ),
        ("id = [".to_string(), "TOML syntax error"),
        (
            "{\"id\": 5}".to_string(),
            "field `id`: expected a string, found a number",
        ),
        (
            "{\"id\": \"X\", \"bogus\": 1}".to_string(),
            "field `title`: missing",
        ),
        ("[1]".to_string(), "field `id`: missing"),
        ("[x".to_string(), "TOML syntax error"),
    ];
    for (input, want) in cases {
        let got = err_of(&input);
        assert!(got.contains(want), "want {want:?}, got {got:?}");
    }
}

#[test]
fn party_listed_twice_or_sharing_keys_is_refused() {
    let f = Fixture::new();
    let mut body = f.cismoa_2005().body;
    body.parties.push(Fixture::party("PAK", &f.gbr));
    assert!(Agreement::draft(body.clone())
        .unwrap_err()
        .to_string()
        .contains("parties[2].code"));
    body.parties[2] = Fixture::party("GBR", &f.pak);
    assert!(Agreement::draft(body)
        .unwrap_err()
        .to_string()
        .contains("the same key as parties[0]"));
}

#[test]
fn canonical_body_ignores_toml_layout() {
    let f = Fixture::new();
    let a = f.cismoa_signed();
    let text = a.to_toml().unwrap();
    // Comments, blank lines and a zone offset instead of Z change nothing signed.
    let edited = replace_line(
        &text,
        "effective-from =",
        "# effective at midnight UTC\n\neffective-from = \"2005-10-01T05:00:00+05:00\"",
    );
    let b = Agreement::from_toml(&edited).unwrap();
    assert_eq!(b.body.canonical().unwrap(), a.body.canonical().unwrap());
    assert!(verify(&b).is_empty());
}

#[test]
#[ignore]
fn show_toml() {
    let f = Fixture::new();
    println!("{}", f.cismoa_signed().to_toml().unwrap());
}
