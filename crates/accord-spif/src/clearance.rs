//! Clearances: what a person may see under one policy.
//!
//! Read from the spiffy XML of the conformance suite (`<clearance>` with several
//! `<classification lacv>` and `<tag>` elements) or from a JSON form:
//! `{"policy": {"name": "USA"}, "classifications": ["SECRET"], "categories": [{"tagSet": "Releasable To", "values": ["USA"]}]}`.

use crate::error::{Error, Result};
use crate::label::json::{
    json_categories, json_err, resolve_named_categories, CategoryJson, PolicyJson,
};
use crate::label::read::{check_size, detect, resolve_named, Detected};
use crate::label::spiffy::{resolve_spiffy_tag, spiffy_policy, spiffy_tags};
use crate::label::{Category, ClassificationRef, PolicyId, SPIFFY_NS};
use crate::policy::Policy;
use crate::set::PolicySet;
use crate::xml::escape;
use serde::{Deserialize, Serialize};

/// A clearance under one policy: the classifications and categories a person holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clearance {
    /// The policy.
    pub policy: PolicyId,
    /// Classifications held (in the policy's hierarchy order).
    pub classifications: Vec<ClassificationRef>,
    /// Categories held, in policy order.
    pub categories: Vec<Category>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClearanceJson {
    policy: PolicyJson,
    classifications: Vec<String>,
    #[serde(default)]
    categories: Vec<CategoryJson>,
}

impl Clearance {
    /// A clearance holding no classification and no category.
    pub fn new(policy: &Policy) -> Clearance {
        Clearance {
            policy: policy.policy_id(),
            classifications: Vec::new(),
            categories: Vec::new(),
        }
    }

    /// A clearance holding every classification up to and including `classification`
    /// in the policy's hierarchy (the usual meaning of "cleared to SECRET").
    pub fn up_to(policy: &Policy, classification: &str) -> Result<Clearance> {
        let top = policy
            .classification_by_name(classification)
            .ok_or_else(|| Error::UnknownClassification {
                policy: policy.name.clone(),
                value: classification.to_string(),
            })?;
        let mut c = Clearance::new(policy);
        c.classifications = policy
            .classifications
            .iter()
            .filter(|x| x.hierarchy <= top.hierarchy)
            .map(|x| ClassificationRef {
                name: x.name.clone(),
                lacv: x.lacv,
            })
            .collect();
        Ok(c)
    }

    /// Add category `name` of tag set `tag_set` (ASCII case ignored).
    pub fn add_category(&mut self, policy: &Policy, tag_set: &str, name: &str) -> Result<()> {
        policy.check_policy(&self.policy)?;
        let o = resolve_named(policy, tag_set, None, None, name)?;
        let mut ords = policy.ordinals(&self.categories)?;
        ords.push(o);
        self.categories = policy.ordered_categories(ords, "clearance")?;
        Ok(())
    }

    /// True when the clearance holds the classification with this LACV.
    pub fn holds_classification(&self, lacv: u64) -> bool {
        self.classifications.iter().any(|c| c.lacv == lacv)
    }

    /// True when the clearance holds this category.
    pub fn holds(&self, category: &Category) -> bool {
        self.categories.iter().any(|c| c.same_as(category))
    }

    /// Read a clearance from spiffy XML or JSON (detected), finding its policy in `set`.
    pub fn read(set: &PolicySet, source_name: &str, bytes: &[u8]) -> Result<Clearance> {
        match detect(source_name, bytes)? {
            Detected::Json => Clearance::read_json(set, source_name, bytes),
            Detected::Xml(doc) => {
                let root = doc.root();
                if root.ns() != Some(SPIFFY_NS) || root.name() != "clearance" {
                    return Err(Error::Invalid {
                        source_name: source_name.to_string(),
                        at: root.at(),
                        reason: format!("<{}> is not a spiffy clearance", root.name()),
                    });
                }
                let policy = spiffy_policy(set, source_name, root)?;
                let mut lacvs = Vec::new();
                for c in root.children_named("classification") {
                    let Some(l) = c.attr("lacv") else { continue };
                    let lacv: u64 = l.trim().parse().map_err(|_| Error::Invalid {
                        source_name: source_name.to_string(),
                        at: c.at(),
                        reason: format!("classification lacv {l:?} is not an integer"),
                    })?;
                    lacvs.push(lacv);
                }
                let mut clearance = Clearance::new(policy);
                clearance.set_classifications(policy, lacvs)?;
                let mut ords = Vec::new();
                for tag in root.children_named("tag") {
                    ords.push(resolve_spiffy_tag(policy, source_name, tag)?);
                }
                clearance.categories = policy.ordered_categories(ords, "clearance")?;
                Ok(clearance)
            }
            Detected::Ber => Err(Error::UnknownFormat {
                source_name: source_name.to_string(),
                reason: "BER clearances are not supported; use spiffy XML or JSON".to_string(),
            }),
        }
    }

    fn set_classifications(&mut self, policy: &Policy, mut lacvs: Vec<u64>) -> Result<()> {
        lacvs.sort_unstable();
        lacvs.dedup();
        let mut classes = Vec::new();
        for l in lacvs {
            let c =
                policy
                    .classification_by_lacv(l)
                    .ok_or_else(|| Error::UnknownClassification {
                        policy: policy.name.clone(),
                        value: format!("lacv {l}"),
                    })?;
            classes.push((
                c.hierarchy,
                ClassificationRef {
                    name: c.name.clone(),
                    lacv: c.lacv,
                },
            ));
        }
        classes.sort_by_key(|(h, _)| *h);
        self.classifications = classes.into_iter().map(|(_, c)| c).collect();
        Ok(())
    }

    /// Read a clearance from its JSON form.
    pub fn read_json(set: &PolicySet, source_name: &str, bytes: &[u8]) -> Result<Clearance> {
        check_size(source_name, bytes)?;
        let j: ClearanceJson =
            serde_json::from_slice(bytes).map_err(|e| json_err(source_name, &e))?;
        let policy = j.policy.find(set)?;
        let mut lacvs = Vec::new();
        for name in &j.classifications {
            let c = policy.classification_by_name(name).ok_or_else(|| {
                Error::UnknownClassification {
                    policy: policy.name.clone(),
                    value: name.clone(),
                }
            })?;
            lacvs.push(c.lacv);
        }
        let mut clearance = Clearance::new(policy);
        clearance.set_classifications(policy, lacvs)?;
        clearance.categories = resolve_named_categories(policy, &j.categories, "clearance")?;
        Ok(clearance)
    }

    /// The JSON form, pretty-printed with the documented key order.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string_pretty(&self.json_form()).expect("clearance JSON serializes") + "\n"
    }

    /// The JSON form as a value.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.json_form()).expect("clearance JSON serializes")
    }

    fn json_form(&self) -> ClearanceJson {
        ClearanceJson {
            policy: PolicyJson {
                name: Some(self.policy.name.clone()),
                id: Some(self.policy.id.clone()),
            },
            classifications: self
                .classifications
                .iter()
                .map(|c| c.name.clone())
                .collect(),
            categories: json_categories(&self.categories),
        }
    }

    /// The spiffy XML form.
    pub fn to_spiffy_xml(&self) -> String {
        let mut s = format!("<clearance xmlns=\"{SPIFFY_NS}\">\n");
        s += &format!(
            "  <policy id=\"{}\">{}</policy>\n",
            escape(&self.policy.id),
            escape(&self.policy.name)
        );
        for c in &self.classifications {
            s += &format!(
                "  <classification lacv=\"{}\">{}</classification>\n",
                c.lacv,
                escape(&c.name)
            );
        }
        s += &spiffy_tags(&self.categories);
        s += "</clearance>\n";
        s
    }
}
