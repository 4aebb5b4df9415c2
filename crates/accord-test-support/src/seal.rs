//! Sealed objects for the tests: sealed through a node as a person does, or offline
//! with any key (as an attacker or a misconfigured party would), and read back.

use accord_node::home::Home;
use accord_node_api::client::{self, Client};
use accord_node_api::wire;
use std::path::{Path, PathBuf};

/// `text` sealed through the node of `c` under `marking`, naming `agreement` (or sealed
/// nationally with `None`), in segments of 1 MiB: the object's bytes.
pub fn seal(c: &Client, marking: &str, agreement: Option<&str>, text: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    client::seal(
        c,
        &wire::SealPlanRequest {
            marking: Some(marking.into()),
            label: None,
            agreement: agreement.map(str::to_string),
            choose_agreement: false,
        },
        text,
        &mut out,
        1 << 20,
        None,
    )
    .unwrap();
    out
}

/// [`seal`], written to `dir/ID.tdf` (ID the object's id) for a person to send: its path.
pub fn seal_into(
    c: &Client,
    marking: &str,
    agreement: Option<&str>,
    text: &[u8],
    dir: &Path,
) -> PathBuf {
    let out = seal(c, marking, agreement, text);
    let p = dir.join(format!("{}.tdf", object_id(&out)));
    std::fs::write(&p, out).unwrap();
    p
}

/// `tdf` opened through the node of `c` (its KAS, and its partners' through it): the
/// plaintext, or the node's refusal.
pub fn open(c: &Client, tdf: &[u8]) -> Result<Vec<u8>, accord_node::Error> {
    let mut out = Vec::new();
    client::open(c, &mut std::io::Cursor::new(tdf), &mut out, None, None)?;
    Ok(out)
}

/// A sealed object's manifest.
pub fn manifest(tdf: &[u8]) -> serde_json::Value {
    client::read_manifest(&mut std::io::Cursor::new(tdf)).unwrap()
}

/// A sealed object's id (its policy's uuid), as the exchange routes name it.
pub fn object_id(tdf: &[u8]) -> String {
    client::object_id(&manifest(tdf)).unwrap()
}

/// A node home's KAS (its first KAS key and its URL) as a recipient of an object sealed
/// offline.
pub fn kas_recipient(home: &Home) -> accord_tdf::Recipient {
    accord_tdf::Recipient {
        kas: home.party.node.as_ref().unwrap().kas_keys[0]
            .key("kas")
            .unwrap(),
        url: home.config.url.clone(),
        party: Some(home.config.party.clone()),
    }
}

/// A label of the repository's PAK policy, from its marking: its STANAG 4774 XML and
/// the marking as the policy renders it.
pub fn pak_label(marking: &str) -> (String, String) {
    let mut set = accord_spif::PolicySet::new();
    set.load_path(&crate::policies()).unwrap();
    let p = set.find("PAK").unwrap();
    let l = p.parse_marking(marking, "").unwrap();
    (l.to_stanag_xml(), p.render(&l, "").unwrap().text)
}

/// `text` sealed without any node: a [`pak_label`] for the one KAS `to`, naming
/// `agreement`, its label assertions signed by `signer` (a key of anyone's, or a node
/// through a client).
pub fn seal_offline(
    signer: &dyn accord_tdf::AssertionSigner,
    to: accord_tdf::Recipient,
    marking: &str,
    agreement: Option<&str>,
    text: &[u8],
) -> Result<Vec<u8>, accord_tdf::Error> {
    let (xml, marking) = pak_label(marking);
    let mut out = Vec::new();
    accord_tdf::seal(
        text,
        &mut out,
        &accord_tdf::SealOptions {
            recipients: vec![to],
            require: vec![],
            signer,
            label: accord_tdf::BoundLabel { xml, marking },
            segment_size: accord_tdf::DEFAULT_SEGMENT_SIZE,
            mime_type: String::new(),
            metadata: None,
            progress: None,
            agreement: agreement.map(str::to_string),
        },
    )?;
    Ok(out)
}
