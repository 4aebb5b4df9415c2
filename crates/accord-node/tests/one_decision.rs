//! One decision for every route, checked against the decision function itself: for
//! random people (party, nationality, clearance, scopes) and random labels (national or
//! under the agreement, classification, Releasable To, scope), every route that could
//! release a share answers exactly as `accord_agreement` decides for that person asking
//! through their party: the same permit or deny, with the same failing rules. And no
//! route releases what the exchange decision would not send to the asking party.
//!
//! Routes: the person's own node's KAS (`/v1/kas/rewrap`), the partner's KAS asked
//! through the person's node (`/v1/kas/rewrap/partners` → `/v1/fed/kas/rewrap`), and the
//! own node's KAS as OpenTDF clients ask it (`kas.AccessService/Rewrap`: the label
//! rebuilt from the policy's attributes, and the decision's classical ceiling, since the
//! key goes back under ECDH).

use accord_agreement::{Checked, Person, PersonStatus, Scope, Time};
use accord_node::directory::{self, Enrolment};
use accord_node::sandbox;
use accord_node::server::ServeOptions;
use accord_node_api::client::{self, Client};
use accord_node_api::wire;
use accord_spif::{Clearance, Label};
use accord_test_support as support;
use accord_test_support::opentdf::OpenTdfClient;

/// A small deterministic generator (the seed is printed: a failure can be replayed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn subset<T: Clone>(&mut self, xs: &[T]) -> Vec<T> {
        xs.iter()
            .filter(|_| self.next().is_multiple_of(2))
            .cloned()
            .collect()
    }
}

const SCOPES: [&str; 3] = ["EXERCISES", "OPERATIONS", "TRAINING"];

/// The nodes' ceiling for classical key wrapping (OpenTDF clients).
const CEILING: &str = "CONFIDENTIAL";

/// The rules an OpenTDF denial names (`... desc = forbidden: rule: text; rule: text`),
/// read as the known rule names that open a reason.
fn opentdf_failed(error: &str) -> Vec<String> {
    let known: Vec<&str> = accord_agreement::Rule::ALL
        .iter()
        .map(|r| r.as_str())
        .chain([
            "label",
            "key-access",
            "object-integrity",
            "request",
            "manifest",
        ])
        .collect();
    let reasons = error.split("desc = forbidden: ").nth(1).unwrap_or("");
    let mut v: Vec<String> = reasons
        .split("; ")
        .filter_map(|r| r.split(": ").next())
        .filter(|r| known.contains(r))
        .map(str::to_string)
        .collect();
    v.sort();
    v.dedup();
    v
}

fn failed(reasons: &[wire::Reason]) -> Vec<String> {
    let mut v: Vec<String> = reasons.iter().map(|r| r.rule.to_string()).collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn every_route_answers_as_the_decision_function() {
    let seed = std::env::var("ONE_DECISION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x05ee_dacc_012d);
    eprintln!("ONE_DECISION_SEED={seed}");
    let mut rng = Rng(seed);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sb = support::sandbox(&rt, tmp.path());
    for home in [&sb.pak, &sb.usa] {
        accord_node::opentdf::enable(
            &home.layout.dir,
            accord_node::home::DpopMode::Required,
            CEILING,
        )
        .unwrap();
    }
    let pak = support::start(&rt, &sb.pak, ServeOptions::default());
    let usa = support::start(&rt, &sb.usa, ServeOptions::default());
    let sealer = Client::new(sb.credential("pak-officer").unwrap()).unwrap();
    let held = rt.block_on(pak.node.agreements()).unwrap();
    let agreement = &held
        .iter()
        .find(|h| h.agreement.body.id == sandbox::AGREEMENT_ID)
        .unwrap()
        .agreement;
    let checked = Checked::new(agreement);
    let (mut permits, mut denies, mut compared) = (0, 0, 0);
    let mut opentdf_compared = 0;

    for case in 0..40 {
        // The label, sealed at PAK by its officer (who may read it).
        let cls = *rng.pick(&["UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET"]);
        let rel = rng.pick(&[vec![], vec!["PAK"], vec!["USA", "PAK"]]).clone();
        let scope = *rng.pick(&SCOPES);
        let under = !rng.next().is_multiple_of(3);
        let marking = if rel.is_empty() {
            format!("{cls}//SCOPE {scope}")
        } else {
            format!("{cls}//REL TO {}//SCOPE {scope}", rel.join(", "))
        };
        let mut tdf = Vec::new();
        client::seal(
            &sealer,
            &wire::SealPlanRequest {
                marking: Some(marking.clone()),
                label: None,
                agreement: under.then(|| sandbox::AGREEMENT_ID.to_string()),
                choose_agreement: false,
            },
            &b"case"[..],
            &mut tdf,
            1 << 20,
            None,
        )
        .unwrap_or_else(|e| panic!("case {case}: sealing {marking}: {e}"));
        let manifest = client::read_manifest(&mut std::io::Cursor::new(&tdf)).unwrap();

        // The person, enrolled at a random node.
        let home = if rng.next().is_multiple_of(2) {
            &sb.pak
        } else {
            &sb.usa
        };
        let party = home.config.party.clone();
        // Half the people fit most labels (their party's nationality, cleared to the
        // top, every scope), so that permits are common; a random flaw may remain.
        let fit = rng.next().is_multiple_of(2);
        let nationality = if fit && !rng.next().is_multiple_of(4) {
            party.clone()
        } else {
            rng.pick(&["PAK", "USA", "GBR"]).to_string()
        };
        let classes: Vec<&str> = if party == "PAK" {
            vec!["UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET"]
        } else {
            vec!["UNCLASSIFIED", "CONFIDENTIAL", "SECRET"]
        };
        let top = if fit {
            classes.len()
        } else {
            1 + rng.below(classes.len())
        };
        let clearance_rel = if fit {
            vec!["PAK", "USA"]
        } else {
            rng.subset(&["PAK", "USA"])
        };
        let mut clearance_scopes = if fit {
            SCOPES.to_vec()
        } else {
            rng.subset(&SCOPES)
        };
        if clearance_scopes.is_empty() {
            clearance_scopes.push(scope);
        }
        let person_scopes = if fit {
            SCOPES.to_vec()
        } else {
            rng.subset(&SCOPES)
        };
        let clearance = serde_json::json!({
            "policy": {"name": party},
            "classifications": &classes[..top],
            "categories": [
                {"tagSet": "Releasable To", "values": clearance_rel},
                {"tagSet": "Scope", "values": clearance_scopes}
            ]
        })
        .to_string();
        let id = format!("p{case}");
        let (_, cred) = rt
            .block_on(directory::add(
                home,
                &Enrolment {
                    id: id.clone(),
                    name: id.clone(),
                    nationality: nationality.clone(),
                    clearance: ("c.json".into(), clearance.clone().into_bytes()),
                    scopes: person_scopes.iter().map(|s| s.to_string()).collect(),
                    role: Default::default(),
                },
            ))
            .unwrap();
        let person = Person {
            id: id.clone(),
            name: id.clone(),
            party: party.clone(),
            nationality: nationality.clone(),
            clearance: Clearance::read(&home.policies, "c.json", clearance.as_bytes()).unwrap(),
            scopes: person_scopes
                .iter()
                .filter_map(|s| Scope::parse(s))
                .collect(),
            status: PersonStatus::Active,
        };
        let label = {
            let xml = manifest["assertions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["id"] == accord_tdf::assertion::LABEL_ID)
                .unwrap()["statement"]["value"]
                .as_str()
                .unwrap()
                .to_string();
            Label::read(&sb.pak.policies, "label", xml.as_bytes()).unwrap()
        };

        // What the decision function says for this person asking through their party.
        let now = Time::now();
        let expected = if under {
            accord_agreement::decide(
                &sb.pak.policies,
                &accord_agreement::Request {
                    person: &person,
                    label: &label,
                    agreement: &checked,
                    requesting_party: &party,
                    dissem: &[],
                    at: now,
                    wrapping: accord_agreement::Wrapping::PostQuantum,
                },
            )
        } else {
            accord_agreement::decide_national(
                &sb.pak.policies,
                &accord_agreement::NationalRequest {
                    person: &person,
                    label: &label,
                    party: "PAK",
                    national_policy: "PAK",
                    requesting_party: &party,
                    dissem: &[],
                    wrapping: accord_agreement::Wrapping::PostQuantum,
                },
            )
        };
        // The same with the key going back under a classical wrapping (OpenTDF).
        let classical = accord_agreement::Wrapping::Classical {
            ceiling: CEILING,
            policy: &party,
        };
        let expected_classical = if under {
            accord_agreement::decide(
                &sb.pak.policies,
                &accord_agreement::Request {
                    person: &person,
                    label: &label,
                    agreement: &checked,
                    requesting_party: &party,
                    dissem: &[],
                    at: now,
                    wrapping: classical,
                },
            )
        } else {
            accord_agreement::decide_national(
                &sb.pak.policies,
                &accord_agreement::NationalRequest {
                    person: &person,
                    label: &label,
                    party: "PAK",
                    national_policy: "PAK",
                    requesting_party: &party,
                    dissem: &[],
                    wrapping: classical,
                },
            )
        };
        let mut want_classical: Vec<String> = expected_classical
            .failed_rules()
            .iter()
            .map(|r| r.as_str().to_string())
            .collect();
        want_classical.sort();
        want_classical.dedup();
        let mut want = expected.failed_rules();
        want.sort();
        want.dedup();
        let mut want: Vec<String> = want.iter().map(|r| r.as_str().to_string()).collect();
        want.sort();
        if expected.permit {
            permits += 1
        } else {
            denies += 1
        }
        let what = format!(
            "case {case}: {marking} ({}) for {id} of {party}, nationality {nationality}, cleared {} REL {:?} scopes {:?}",
            if under { "under the agreement" } else { "national" },
            classes[top - 1],
            clearance_rel,
            person_scopes
        );

        // A route's answer is the decision's: the same verdict, the same failing rules.
        let mut agrees = |route: &str, a: &client::Released| {
            compared += 1;
            assert_eq!(
                a.decision == "permit",
                expected.permit,
                "{what}: {route} {:?}",
                a.reasons
            );
            if !expected.permit {
                assert_eq!(failed(&a.reasons), want, "{what}: {route}");
            }
        };

        // Route 1: the person's own node's KAS, when it holds a share of the object.
        let c = Client::new(cred).unwrap();
        let own = c.rewrap(vec![manifest.clone()]).unwrap().remove(0);
        // A KAS that holds no share of the object (or does not take its labeller's
        // word outside an agreement) refuses before deciding: a deny, never a permit.
        let not_its_object = own
            .reasons
            .iter()
            .any(|r| r.rule == "key-access" || r.rule == "object-integrity");
        if not_its_object {
            assert_eq!(own.decision, "deny", "{what}: {:?}", own.reasons);
        } else {
            agrees("own KAS", &own);
            // Route 3: the same KAS through the OpenTDF API.
            let ot = OpenTdfClient::new(home, &id);
            let (status, r) = ot.rewrap(&tdf);
            assert_eq!(status, 200, "{what}: OpenTDF {r}");
            let result = &r["responses"][0]["results"][0];
            opentdf_compared += 1;
            assert_eq!(
                result["status"] == "permit",
                expected_classical.permit,
                "{what}: OpenTDF route {result}"
            );
            if !expected_classical.permit {
                let error = result["error"].as_str().unwrap_or("");
                assert_eq!(
                    opentdf_failed(error),
                    want_classical,
                    "{what}: OpenTDF route {error}"
                );
            }
        }
        // Route 2: the partner's KAS through the person's node (objects under the
        // agreement with a share for PAK's KAS, asked by a USA person).
        if party == "USA" && under {
            let answers = c.rewrap_partners(vec![manifest.clone()]).unwrap();
            for a in &answers {
                agrees("PAK's KAS through USA", a);
            }
            // No route releases what the exchange decision would not send to USA.
            let sent = accord_agreement::admit(
                &sb.pak.policies,
                &accord_agreement::Transfer {
                    label: &label,
                    agreement: &checked,
                    from: "PAK",
                    to: "USA",
                    at: now,
                },
            );
            if !sent.permit {
                assert!(
                    !expected.permit,
                    "{what}: released to USA what admit refuses"
                );
            }
        }
    }
    eprintln!(
        "{permits} permits, {denies} denies, {compared} route answers compared, and {opentdf_compared} through the OpenTDF route"
    );
    assert!(
        opentdf_compared >= 10,
        "{opentdf_compared} OpenTDF answers compared"
    );
    assert!(
        permits >= 3 && denies >= 10,
        "{permits} permits, {denies} denies"
    );
    rt.block_on(usa.stop()).unwrap();
    rt.block_on(pak.stop()).unwrap();
}
