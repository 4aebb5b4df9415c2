//! A person's file (PERSON.json): its round trip and every bad field named.

use crate::fixtures::policies;
use accord_agreement::PersonFile;

#[test]
fn person_json_round_trip_and_errors() {
    let json =
        br#"{"id": "pak-officer", "name": "Major A. Khan", "party": "PAK", "nationality": "PAK",
        "clearance": {"policy": {"name": "PAK"}, "classifications": ["SECRET"],
                      "categories": [{"tagSet": "Releasable To", "values": ["PAK"]}]},
        "scopes": ["EXERCISES"], "status": "active"}"#;
    let p = PersonFile::from_json(json)
        .unwrap()
        .into_person(policies(), None)
        .unwrap();
    assert_eq!(p.clearance.policy.name, "PAK");
    let bad = |s: &str, want: &str| {
        let e = PersonFile::from_json(s.as_bytes())
            .and_then(|f| f.into_person(policies(), None))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "want {want:?}, got {e:?}");
    };
    let ok =
        r#""id": "x", "name": "n", "party": "PAK", "nationality": "PAK", "clearance": "c.json""#;
    bad(
        &format!("{{{ok}, \"scopes\": [], \"status\": \"retired\"}}"),
        "field `status`: \"retired\": expected \"active\" or \"suspended\"",
    );
    bad(
        &format!("{{{ok}, \"scopes\": [\"SPYING\"], \"status\": \"active\"}}"),
        "field `scopes[0]`: unknown scope",
    );
    bad(
        &format!("{{{ok}, \"status\": \"active\", \"rank\": 3}}"),
        "field `rank`: unknown field",
    );
    bad(
        r#"{"id": "x", "name": "n", "party": "pak"}"#,
        "field `party`: \"pak\" is not an ISO 3166 trigraph",
    );
    bad(
        &format!("{{{ok}, \"status\": \"active\"}}"),
        "field `clearance`: the clearance file c.json was not read",
    );
    bad(
        r#"{"id": "x", "name": "n", "party": "PAK", "nationality": "PAK", "clearance": {"policy": {"name": "PAK"}, "classifications": ["ULTRA"]}, "status": "active"}"#,
        "field `clearance`",
    );
}
