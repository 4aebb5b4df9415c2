//! Accord's own national policies (policies/pak.xml, policies/usa.xml): markings,
//! parsing, decisions with reasons, validation, translation both ways, and every label
//! form round-tripping.

use accord_spif::{decide, Clearance, Label, LabelFormat, PolicySet};
use std::path::PathBuf;

fn set() -> PolicySet {
    let mut s = PolicySet::new();
    s.load_path(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies"))
        .unwrap();
    s
}

#[test]
fn policies_load_and_are_found_by_name_or_oid() {
    let s = set();
    assert_eq!(s.len(), 2);
    assert_eq!(s.find("usa").unwrap().name, "USA");
    assert_eq!(s.find("urn:oid:1.3.6.1.4.1.32473.1.1").unwrap().name, "PAK");
    let pak = s.find("PAK").unwrap();
    let names: Vec<&str> = pak.classification_names();
    assert_eq!(
        names,
        [
            "UNCLASSIFIED",
            "RESTRICTED",
            "CONFIDENTIAL",
            "SECRET",
            "TOP SECRET"
        ]
    );
    let usa = s.find("USA").unwrap();
    assert_eq!(
        usa.classification_names(),
        ["UNCLASSIFIED", "CONFIDENTIAL", "SECRET", "TOP SECRET"]
    );
    for p in [pak, usa] {
        for ts in ["Releasable To", "Special Handling", "Scope"] {
            assert!(p.tag_set_by_name(ts).is_some(), "{} lacks {ts}", p.name);
        }
        assert!(p.classifications.iter().all(|c| c.color.is_some()));
    }
    assert!(matches!(
        s.find("GBR"),
        Err(accord_spif::Error::UnknownPolicy(_))
    ));
}

#[test]
fn banner_marking_renders_and_parses_back() {
    let s = set();
    let usa = s.find("USA").unwrap();
    let mut l = Label::new(usa, "SECRET").unwrap();
    l.add_category(usa, "Releasable To", "PAK").unwrap();
    l.add_category(usa, "Releasable To", "USA").unwrap();
    let m = usa.render(&l, "").unwrap();
    assert_eq!(m.text, "SECRET//REL TO USA, PAK");
    assert_eq!(m.color.as_deref(), Some("#C8102E"));
    assert_eq!(usa.parse_marking("SECRET//REL TO USA, PAK", "").unwrap(), l);
    assert_eq!(
        usa.parse_marking("  secret // rel to usa,pak ", "")
            .unwrap(),
        l
    );
    l.add_category(usa, "Scope", "TRAINING").unwrap();
    l.add_category(usa, "Scope", "EXERCISES").unwrap();
    let text = usa.render(&l, "").unwrap().text;
    assert_eq!(text, "SECRET//REL TO USA, PAK//SCOPE EXERCISES, TRAINING");
    assert_eq!(usa.parse_marking(&text, "").unwrap(), l);
    assert_eq!(
        l.category_pairs().collect::<Vec<_>>(),
        [
            ("Releasable To", "USA"),
            ("Releasable To", "PAK"),
            ("Scope", "EXERCISES"),
            ("Scope", "TRAINING")
        ]
    );
    let nf = usa.parse_marking("TOP SECRET//ORCON/NOFORN", "").unwrap();
    assert_eq!(nf.values("Special Handling"), ["ORCON", "NOFORN"]);
    assert_eq!(
        usa.render(&nf, "").unwrap().text,
        "TOP SECRET//ORCON/NOFORN"
    );
    for bad in [
        "SECRET//REL TO XYZ",
        "SECRETIVE",
        "SECRET//NOFORN//BOGUS",
        "RESTRICTED",
    ] {
        let e = usa.parse_marking(bad, "").unwrap_err();
        assert!(
            matches!(e, accord_spif::Error::Marking { .. }),
            "{bad}: {e}"
        );
    }
}

#[test]
fn decisions_name_their_reasons() {
    let s = set();
    let usa = s.find("USA").unwrap();
    let label = usa.parse_marking("SECRET//NOFORN", "").unwrap();
    let mut c = Clearance::up_to(usa, "CONFIDENTIAL").unwrap();
    c.add_category(usa, "Releasable To", "PAK").unwrap();
    let d = decide(&c, &label);
    assert!(!d.permit);
    assert_eq!(
        d.reasons,
        [
            "clearance does not hold classification SECRET",
            "clearance lacks restrictive category NOFORN"
        ]
    );
    let mut ok = Clearance::up_to(usa, "TOP SECRET").unwrap();
    ok.add_category(usa, "Special Handling", "NOFORN").unwrap();
    assert!(decide(&ok, &label).permit);

    let rel = usa.parse_marking("SECRET//REL TO USA, GBR", "").unwrap();
    let mut pak_officer = Clearance::up_to(usa, "SECRET").unwrap();
    pak_officer
        .add_category(usa, "Releasable To", "PAK")
        .unwrap();
    let d = decide(&pak_officer, &rel);
    assert_eq!(
        d.reasons,
        ["clearance holds none of the permissive categories of Releasable To: USA, GBR"]
    );
    let rel_pak = usa.parse_marking("SECRET//REL TO USA, PAK", "").unwrap();
    assert!(decide(&pak_officer, &rel_pak).permit);

    // A clearance under another policy never permits.
    let pak = s.find("PAK").unwrap();
    let other = Clearance::up_to(pak, "TOP SECRET").unwrap();
    let d = decide(&other, &rel_pak);
    assert!(!d.permit && d.reasons[0].contains("policy PAK"));
}

#[test]
fn validation_gives_reasons() {
    let s = set();
    let usa = s.find("USA").unwrap();
    let l = usa.parse_marking("SECRET//NOFORN//REL TO USA", "").unwrap();
    let v = usa.validate(&l).unwrap();
    assert!(!v.valid);
    assert_eq!(
        v.reasons,
        ["category NOFORN may not be used with category USA"]
    );
    let l = usa.parse_marking("UNCLASSIFIED//ORCON", "").unwrap();
    assert_eq!(
        usa.validate(&l).unwrap().reasons,
        ["category ORCON may not be used with classification UNCLASSIFIED"]
    );
    let ok = usa.parse_marking("SECRET//REL TO USA, PAK", "").unwrap();
    assert!(usa.validate(&ok).unwrap().valid);
}

#[test]
fn translation_both_ways() {
    let s = set();
    let pak = s.find("PAK").unwrap();
    let usa = s.find("USA").unwrap();
    let p = pak
        .parse_marking("SECRET//REL TO PAK, USA//SCOPE EXERCISES", "")
        .unwrap();
    let u = s.translate(&p, "USA").unwrap();
    assert_eq!(
        usa.render(&u, "").unwrap().text,
        "SECRET//REL TO USA, PAK//SCOPE EXERCISES"
    );
    let back = s.translate(&u, "pak").unwrap();
    assert_eq!(back.classification, p.classification);
    assert_eq!(back.categories, p.categories);

    // Table: PAK → USA → PAK. RESTRICTED has no US counterpart: it is handled as US
    // CONFIDENTIAL and comes back CONFIDENTIAL (translation never lowers protection).
    for (from, to_usa, back_pak) in [
        ("UNCLASSIFIED", "UNCLASSIFIED", "UNCLASSIFIED"),
        ("RESTRICTED", "CONFIDENTIAL", "CONFIDENTIAL"),
        ("CONFIDENTIAL", "CONFIDENTIAL", "CONFIDENTIAL"),
        ("SECRET", "SECRET", "SECRET"),
        ("TOP SECRET", "TOP SECRET", "TOP SECRET"),
    ] {
        let l = Label::new(pak, from).unwrap();
        let u = s.translate(&l, "USA").unwrap();
        assert_eq!(u.classification.name, to_usa);
        assert_eq!(
            s.translate(&u, "PAK").unwrap().classification.name,
            back_pak
        );
    }
    // Every USA classification round-trips exactly.
    for c in usa.classification_names() {
        let l = Label::new(usa, c).unwrap();
        let back = s
            .translate(&s.translate(&l, "PAK").unwrap(), "USA")
            .unwrap();
        assert_eq!(back.classification.name, c);
    }
}

#[test]
fn every_form_round_trips() {
    let s = set();
    for p in s.iter() {
        let mut count = 0;
        for cls in p.classification_names() {
            for (i, extra) in [
                vec![],
                vec![
                    ("Releasable To", "USA"),
                    ("Releasable To", "PAK"),
                    ("Releasable To", "GBR"),
                ],
                vec![
                    ("Special Handling", "NOFORN"),
                    ("Scope", "BASING"),
                    ("Scope", "EQUIPMENT"),
                ],
                vec![
                    ("Special Handling", "ORCON"),
                    ("Releasable To", "PAK"),
                    ("Scope", "OPERATIONS"),
                ],
            ]
            .into_iter()
            .enumerate()
            {
                let mut l = Label::new(p, cls).unwrap();
                for (ts, v) in extra {
                    l.add_category(p, ts, v).unwrap();
                }
                if i == 3 {
                    l.originator_id = Some(accord_spif::OriginatorId {
                        id_type: Some("rfc822Name".into()),
                        value: "officer@example.invalid".into(),
                    });
                    l.creation_date_time = Some("2026-11-23T12:00:00Z".into());
                    l.review_date_time = Some("2036-11-23T12:00:00.5+05:00".into());
                }
                for f in [
                    LabelFormat::Stanag4774,
                    LabelFormat::Spiffy,
                    LabelFormat::Json,
                ] {
                    let text = l.write(f);
                    let back = Label::read(&s, "round-trip", text.as_bytes())
                        .unwrap_or_else(|e| panic!("{f:?}: {e}\n{text}"));
                    assert_eq!(back, l, "{f:?}\n{text}");
                }
                let m = p.render(&l, "").unwrap().text;
                assert_eq!(
                    p.parse_marking(&m, "").unwrap().categories,
                    l.categories,
                    "{m}"
                );
                count += 1;
            }
        }
        assert!(count >= 16);
    }
}

#[test]
fn bad_labels_are_clear_errors() {
    let s = set();
    let cases: &[(&str, &str)] = &[
        ("<originatorConfidentialityLabel xmlns=\"urn:nato:stanag:4774:confidentialitymetadatalabel:1:0\">\n<ConfidentialityInformation>\n<PolicyIdentifier>USA</PolicyIdentifier>\n<Classification>SECRET</Classification>\n</Confidentiality>", "x.xml: malformed XML at line 5"),
        ("<originatorConfidentialityLabel xmlns=\"urn:nato:stanag:4774:confidentialitymetadatalabel:1:0\"><ConfidentialityInformation><PolicyIdentifier>GBR</PolicyIdentifier><Classification>SECRET</Classification></ConfidentialityInformation></originatorConfidentialityLabel>", "unknown policy \"GBR\""),
        ("<originatorConfidentialityLabel xmlns=\"urn:nato:stanag:4774:confidentialitymetadatalabel:1:0\"><ConfidentialityInformation><PolicyIdentifier>USA</PolicyIdentifier><Classification>RESTRICTED</Classification></ConfidentialityInformation></originatorConfidentialityLabel>", "policy USA: unknown classification RESTRICTED"),
        ("<originatorConfidentialityLabel xmlns=\"urn:nato:stanag:4774:confidentialitymetadatalabel:1:0\"><ConfidentialityInformation><PolicyIdentifier>USA</PolicyIdentifier><Classification>SECRET</Classification><Category TagName=\"Releasable To\" Type=\"PERMISSIVE\"><GenericValue>PAK</GenericValue><GenericValue>PAK</GenericValue></Category></ConfidentialityInformation></originatorConfidentialityLabel>", "category PAK of tag set Releasable To appears twice"),
        ("{\"policy\": {\"name\": \"USA\"},\n \"classification\": \"SECRET\",\n \"bogus\": 1}", "x.xml: malformed JSON at line 3"),
        ("{\"policy\": {\"name\": \"USA\"}, \"classification\": \"SECRET\", \"categories\": [{\"tagSet\": \"Releasable To\", \"values\": [\"XYZ\"]}]}", "unknown category \"XYZ\""),
        ("", "no data to parse"),
        ("hello", "unrecognised format"),
    ];
    for (input, want) in cases {
        let e = Label::read(&s, "x.xml", input.as_bytes()).unwrap_err();
        assert!(e.to_string().contains(want), "{e} does not contain {want}");
    }
    // Attributes per element are bounded (quick-xml's duplicate check looks at every
    // earlier attribute of the element).
    let many: String = (0..65).map(|i| format!(" a{i}=\"x\"")).collect();
    let e = Label::read(
        &s,
        "many.xml",
        format!("<originatorConfidentialityLabel{many}/>").as_bytes(),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("more than 64 attributes on one element"),
        "{e}"
    );
    let deep = "<a>".repeat(100);
    let e = Label::read(&s, "deep.xml", deep.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("nested deeper than 32"), "{e}");
    let huge = vec![b' '; 2 * 1024 * 1024];
    assert!(matches!(
        Label::read(&s, "huge", &huge),
        Err(accord_spif::Error::TooLarge { .. })
    ));
}
