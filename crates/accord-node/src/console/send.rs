//! Seal and send: the label chooser, built from the national SPIF, offering only what
//! the person may apply (classifications their clearance holds, restrictive categories
//! they hold, their scopes; any Releasable To); the marking shown as it is built; the
//! agreement among those in force and the partner; then the upload, sealed at the node
//! as it streams in and sent.
//!
//! Each step is the API's: the label is planned by `POST /v1/seal/plan`'s component
//! (its decision and audit entry), signed by `POST /v1/seal/sign`'s, the object sealed by
//! the same library call as `accord seal` (`client::seal_planned`), and queued by
//! `PUT /v1/outbox/{to}/{id}`'s. The page works without JavaScript; `console.js` adds
//! the upload's progress and the live marking.

use super::{Console, PeerExt};
use crate::caller::{Caller, Peer};
use crate::node::Node;
use crate::refusal::Refusal;
use accord_agreement::decision::SCOPE_TAG_SET;
use accord_agreement::Duty;
use accord_node_api::wire::{self, Rule};
use accord_node_api::Kind;
use accord_spif::{Label, Policy, TagType};
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use std::io::Read;
use std::sync::Arc;

/// Where the form posts.
pub(crate) const ACTION: &str = "/console/send";

/// What the person chose: the classification, categories by tag set, agreement, partner.
#[derive(Debug, Default, Clone)]
pub(crate) struct Choice {
    classification: String,
    categories: Vec<(String, String)>,
    agreement: String,
    to: String,
}

impl Choice {
    /// From the form's fields: `classification`, `cat` (`TAGSET|VALUE`, repeated),
    /// `agreement`, `to`.
    fn from_pairs(pairs: &[(String, String)]) -> Choice {
        let mut c = Choice::default();
        for (k, v) in pairs {
            match k.as_str() {
                "classification" => c.classification = v.clone(),
                "cat" => {
                    if let Some((ts, val)) = v.split_once('|') {
                        c.categories.push((ts.to_string(), val.to_string()));
                    }
                }
                "agreement" => c.agreement = v.clone(),
                "to" => c.to = v.clone(),
                _ => {}
            }
        }
        c
    }

    fn has(&self, ts: &str, v: &str) -> bool {
        self.categories.iter().any(|(a, b)| a == ts && b == v)
    }

    /// The label chosen, in Accord's JSON form under the national policy.
    fn label_json(&self, policy: &Policy) -> String {
        let mut sets: Vec<(String, Vec<String>)> = Vec::new();
        for (ts, v) in &self.categories {
            match sets.iter_mut().find(|(n, _)| n == ts) {
                Some((_, vals)) => vals.push(v.clone()),
                None => sets.push((ts.clone(), vec![v.clone()])),
            }
        }
        serde_json::json!({
            "policy": {"name": policy.name},
            "classification": self.classification,
            "categories": sets.iter().map(|(ts, vals)| serde_json::json!({"tagSet": ts, "values": vals})).collect::<Vec<_>>(),
        })
        .to_string()
    }
}

/// The label and marking a choice makes, or why it makes none.
fn build(node: &Node, choice: &Choice) -> Result<(Label, String), String> {
    build_in(node.policies(), &node.home.config.national_policy, choice)
}

/// [`build`] under `policies`, the national policy named `national`.
fn build_in(
    policies: &accord_spif::PolicySet,
    national: &str,
    choice: &Choice,
) -> Result<(Label, String), String> {
    let policy = policies
        .get(national)
        .ok_or("the national policy is missing")?;
    if choice.classification.is_empty() {
        return Err("choose a classification".into());
    }
    let label = Label::read_json(
        policies,
        "the chosen label",
        choice.label_json(policy).as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    let validity = policy.validate(&label).map_err(|e| e.to_string())?;
    if !validity.valid {
        return Err(validity.reasons.join("; "));
    }
    let marking = policy.render(&label, "").map_err(|e| e.to_string())?;
    Ok((label, marking.text))
}

fn national(node: &Node) -> Option<&Policy> {
    node.policies().get(&node.home.config.national_policy)
}

/// One tag set as the chooser offers it.
struct Offer {
    tag_set: String,
    permissive: bool,
    values: Vec<String>,
}

/// What `caller` may apply: classifications their clearance holds; for each tag set,
/// the categories: any of a permissive one (the decision then asks that their own
/// nationality is among them), a restrictive one's only those they hold, the scope tag
/// set's only their scopes.
fn offers(node: &Node, caller: &Caller) -> (Vec<String>, Vec<Offer>) {
    let Some(policy) = national(node) else {
        return (vec![], vec![]);
    };
    let clearance = accord_spif::Clearance::read(
        node.policies(),
        "clearance",
        caller.record.clearance.as_bytes(),
    )
    .ok();
    let holds_class = |lacv: u64| {
        clearance
            .as_ref()
            .is_some_and(|c| c.holds_classification(lacv))
    };
    let classes = policy
        .classifications
        .iter()
        .filter(|c| !c.obsolete && holds_class(c.lacv))
        .map(|c| c.name.clone())
        .collect();
    let mut out = Vec::new();
    for (i, ts) in policy.tag_sets.iter().enumerate() {
        let mut values = Vec::new();
        let mut permissive = false;
        for d in policy
            .categories
            .iter()
            .filter(|d| d.tag_set == i && !d.obsolete)
        {
            let cat = accord_spif::Category {
                tag_set: ts.name.clone(),
                tag_set_id: ts.id.clone(),
                tag: ts
                    .tags
                    .get(d.tag)
                    .map(|t| t.name.clone())
                    .unwrap_or_default(),
                tag_type: d.tag_type,
                name: d.name.clone(),
                lacv: d.lacv.clone(),
            };
            let offered = if ts.name == SCOPE_TAG_SET {
                caller.record.scopes.iter().any(|s| s == &d.name)
            } else if d.tag_type == TagType::Permissive {
                permissive = true;
                true
            } else {
                clearance.as_ref().is_some_and(|c| c.holds(&cat))
            };
            if offered && !values.contains(&d.name) {
                values.push(d.name.clone());
            }
        }
        if !values.is_empty() {
            out.push(Offer {
                tag_set: ts.name.clone(),
                permissive,
                values,
            });
        }
    }
    (classes, out)
}

use super::forms::pairs;

/// `GET /console/send`: the chooser, the agreement and partner, the file.
pub(crate) async fn form(
    State(c): State<Arc<Console>>,
    peer: PeerExt,
    q: axum::extract::RawQuery,
) -> Response {
    let caller = match c.caller(&peer, Duty::Exchange).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut choice = Choice::from_pairs(&pairs(q.0.as_deref()));
    let (classes, offered) = offers(&c.node, &caller);
    if q.0.is_none() {
        // A first visit: the lowest classification, releasable to the person's own
        // nationality.
        choice.classification = classes.first().cloned().unwrap_or_default();
        if let Some(o) = offered
            .iter()
            .find(|o| o.permissive && o.values.contains(&caller.record.nationality))
        {
            choice
                .categories
                .push((o.tag_set.clone(), caller.record.nationality.clone()));
        }
    }
    let held = c.node.agreements().await.unwrap_or_default();
    let at = (c.node.clock)();
    let in_force: Vec<_> = crate::agreements::states(&held, at)
        .into_iter()
        .filter(|s| s.status == "in-force")
        .collect();
    let mut partners: Vec<String> = in_force
        .iter()
        .flat_map(|s| s.parties.iter().cloned())
        .filter(|p| p != c.node.party())
        .collect();
    partners.sort();
    partners.dedup();
    let built = build(&c.node, &choice);
    let banner = match &built {
        Ok((l, _)) => c.node.banner([l]),
        Err(_) => c.node.banner([]),
    };
    let body = html! {
        form #send method="post" action=(ACTION) enctype="multipart/form-data" {
            (c.token_field(&caller, ACTION))
            fieldset #chooser {
                legend { "Label (" (national(&c.node).map(|p| p.name.as_str()).unwrap_or("")) " policy)" }
                label { "Classification "
                    select name="classification" #classification {
                        @for cl in &classes { option value=(cl) selected[*cl == choice.classification] { (cl) } }
                    }
                }
                @for o in &offered {
                    fieldset.tagset {
                        legend { (o.tag_set) @if o.permissive { " (include your own nationality)" } }
                        @for v in &o.values {
                            label.cat {
                                input type="checkbox" name="cat" value={(o.tag_set) "|" (v)} checked[choice.has(&o.tag_set, v)];
                                " " (v)
                            }
                        }
                    }
                }
                p { "Marking: "
                    @match &built {
                        Ok((l, m)) => span.portion.(c.node.portion_class(l)) #marking-preview { (m) },
                        Err(e) => span.bad #marking-preview { (e) },
                    }
                    " " button type="submit" formmethod="get" formenctype="application/x-www-form-urlencoded" formaction=(ACTION) #preview { "Show marking" }
                }
            }
            fieldset {
                legend { "Send" }
                label { "Agreement "
                    select name="agreement" #agreement {
                        @for s in &in_force { option value=(s.id) selected[s.id == choice.agreement] { (s.id) " — " (s.title) " (" (s.scopes.join(", ")) ")" } }
                    }
                }
                " "
                label { "To "
                    select name="to" #to {
                        @for p in &partners { option value=(p) selected[*p == choice.to] { (p) } }
                    }
                }
                @if in_force.is_empty() { p.bad { "No agreement is in force: nothing can be sent." } }
            }
            fieldset {
                legend { "File" }
                input type="file" name="file" #file required;
                " "
                button type="submit" #seal-and-send { "Seal and send" }
                progress #upload-progress max="100" value="0" hidden {}
                span #upload-status {}
            }
        }
        script src="/console/static/console.js" {}
    };
    c.page(
        StatusCode::OK,
        Some(&caller),
        "Seal and send",
        &banner,
        body,
    )
}

/// `GET /console/send/marking?...`: the marking a choice makes (the live preview).
pub(crate) async fn marking(
    State(c): State<Arc<Console>>,
    peer: PeerExt,
    q: axum::extract::RawQuery,
) -> Response {
    if let Err(r) = c.caller(&peer, Duty::Exchange).await {
        return r;
    }
    let choice = Choice::from_pairs(&pairs(q.0.as_deref()));
    let v = match build(&c.node, &choice) {
        Ok((l, m)) => {
            serde_json::json!({"marking": m, "class": c.node.portion_class(&l), "error": null})
        }
        Err(e) => serde_json::json!({"marking": null, "class": null, "error": e}),
    };
    axum::Json(v).into_response()
}

/// Most fields before the file.
const MAX_FIELDS: usize = 128;
/// Longest field before the file.
const MAX_FIELD: usize = 4096;

/// Pieces of the upload in flight between the request and the sealing thread.
const IN_FLIGHT: usize = 4;
/// The size of those pieces.
const PIECE: usize = 1 << 20;

/// The upload as the sealing thread reads it.
struct Upload {
    /// A piece, or the upload broke off (the seal then fails: an object cut short is
    /// never sealed and signed).
    rx: tokio::sync::mpsc::Receiver<Result<axum::body::Bytes, ()>>,
    chunk: axum::body::Bytes,
}

impl Read for Upload {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(c)) => self.chunk = c,
                Some(Err(())) => {
                    return Err(std::io::Error::other("the upload broke off"));
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk = self.chunk.slice(n..);
        Ok(n)
    }
}

/// The node as the label's signer for a console seal: the API's signing component, for
/// the person on the connection.
struct ConsoleSigner {
    node: Arc<Node>,
    peer: Peer,
    rt: tokio::runtime::Handle,
}

impl accord_tdf::AssertionSigner for ConsoleSigner {
    fn sign_assertions(
        &self,
        assertions: &mut [accord_tdf::manifest::Assertion],
        manifest: &serde_json::Value,
        _aggregate: &[u8],
        _manifest_digest: &str,
    ) -> Result<(), accord_tdf::Error> {
        let req = wire::SignRequest::new(assertions, manifest)
            .map_err(|e| accord_tdf::Error::Manifest(format!("the signing request: {e}")))?;
        let body = serde_json::to_vec(&req).map_err(|e| accord_tdf::Error::Usage(e.to_string()))?;
        let resp = self
            .rt
            .block_on(self.node.seal_sign(&self.peer, body.into()))
            .map_err(|r| {
                accord_tdf::Error::Usage(format!("the node did not sign the label: {}", r.error))
            })?;
        accord_node_api::client::apply_signed(assertions, resp).map(|_| ())
    }
}

fn bad(text: impl Into<String>) -> Refusal {
    Refusal::new(Kind::BadRequest, Rule::Request, text)
}

/// `POST /console/send`: the chosen label planned, the upload sealed as it arrives,
/// the object queued for the partner; then the outbox, where its delivery and receipt
/// show.
pub(crate) async fn send(
    State(c): State<Arc<Console>>,
    peer: PeerExt,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let caller = match c.caller(&peer, Duty::Exchange).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let r = seal_and_send(&c, &peer.0, &caller, &headers, &mut form).await;
    // Every refusal of the person is in the audit log (those of the decisions are there
    // already, the others go now).
    match c
        .node
        .answered(crate::audit::EntryKind::Send, &caller, r)
        .await
    {
        Ok(id) => Redirect::to(&format!("/console/outbox#object-{id}")).into_response(),
        Err(r) => c.refused(Some(&caller), "Seal and send", &r),
    }
}

async fn seal_and_send(
    c: &Arc<Console>,
    peer: &Peer,
    caller: &Caller,
    headers: &HeaderMap,
    form: &mut Multipart,
) -> Result<String, Refusal> {
    // Another site's post is refused before anything of its body is read.
    c.forms.check_origin(headers)?;
    // The fields before the file, each small: the token first checked, then the choice.
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut total = 0usize;
    loop {
        let Some(field) = form
            .next_field()
            .await
            .map_err(|e| bad(format!("the form: {e}")))?
        else {
            return Err(bad("the form carries no file: choose one"));
        };
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            return upload(c, peer, caller, headers, &fields, field).await;
        }
        if field.file_name().is_some() {
            return Err(bad(format!(
                "the form's field `{name}` is a file: only `file` may be"
            )));
        }
        if fields.len() >= MAX_FIELDS {
            return Err(bad("the form has too many fields"));
        }
        let mut v = Vec::new();
        let mut field = field;
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| bad(format!("the form's {name}: {e}")))?
        {
            v.extend_from_slice(&chunk);
            total += chunk.len();
            if v.len() > MAX_FIELD || total > super::FORM_BODY {
                return Err(bad(format!(
                    "the form's field `{name}` is too long ({MAX_FIELD} bytes at most, {} in all)",
                    super::FORM_BODY
                )));
            }
        }
        let v = String::from_utf8(v).map_err(|_| bad(format!("the form's {name} is not UTF-8")))?;
        fields.push((name, v));
    }
}

/// The rest of [`seal_and_send`], once the file's field is reached.
async fn upload(
    c: &Arc<Console>,
    peer: &Peer,
    caller: &Caller,
    headers: &HeaderMap,
    fields: &[(String, String)],
    mut file: axum::extract::multipart::Field<'_>,
) -> Result<String, Refusal> {
    let token = fields
        .iter()
        .find(|(k, _)| k == super::forms::FIELD)
        .map(|(_, v)| v.as_str());
    super::forms::checked(
        c,
        headers,
        caller,
        ACTION,
        token,
        crate::audit::EntryKind::Label,
    )
    .await?;
    let choice = Choice::from_pairs(fields);
    let policy = national(&c.node).ok_or_else(|| Refusal::internal("national policy missing"))?;
    if choice.to.is_empty() || choice.agreement.is_empty() {
        return Err(bad("choose the agreement and the partner to send to"));
    }
    // The label's plan: the API's seal plan, its decision in the audit log.
    let req = wire::SealPlanRequest {
        marking: None,
        label: Some(choice.label_json(policy)),
        agreement: Some(choice.agreement.clone()),
        choose_agreement: false,
    };
    let body = serde_json::to_vec(&req).map_err(Refusal::internal)?;
    let plan = c.node.seal_plan(peer, &body).await?;

    // Seal as the upload streams in, to an unnamed file under the node's blobs.
    // Sealed straight into the outbox's spool: queued as written, no copy.
    let sealed = crate::exchange::SpoolWriter::new(&c.node).map_err(Refusal::internal)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<axum::body::Bytes, ()>>(IN_FLIGHT);
    let blobs = c.node.home.layout.blobs();
    let reserve = c.node.home.config.disk_reserve();
    crate::disk::check_room(&blobs, reserve, 0)?;
    let signer = ConsoleSigner {
        node: c.node.clone(),
        peer: peer.clone(),
        rt: tokio::runtime::Handle::current(),
    };
    let agreement = choice.agreement.clone();
    let sealing = tokio::task::spawn_blocking(move || {
        let mut out = sealed;
        let summary = accord_node_api::client::seal_planned(
            &plan,
            Some(&agreement),
            &[],
            &signer,
            Upload {
                rx,
                chunk: axum::body::Bytes::new(),
            },
            &mut out,
            accord_tdf::DEFAULT_SEGMENT_SIZE,
            None,
        );
        let file = match summary {
            Ok(_) => out.finish().map(Some),
            Err(_) => Ok(None),
        };
        (summary, file)
    });
    let mut received: u64 = 0;
    let mut upload_error = None;
    // HTTP hands the upload over in frames of 16 KiB or so: gathered into pieces of
    // 1 MiB before they cross to the sealing thread, which then wakes 64 times less.
    let mut piece: Vec<u8> = Vec::with_capacity(PIECE);
    loop {
        match file.chunk().await {
            Ok(Some(chunk)) => {
                let before = received;
                received += chunk.len() as u64;
                if received > crate::exchange::MAX_OBJECT {
                    upload_error = Some(bad(format!(
                        "the file is larger than the node takes ({} bytes)",
                        crate::exchange::MAX_OBJECT
                    )));
                    break;
                }
                // The disk keeps its reserve (the sealed copy, then the outbox's): looked
                // at every 64 MiB.
                if before >> 26 != received >> 26 {
                    if let Err(r) = crate::disk::check_room(&blobs, reserve, 2 * received) {
                        upload_error = Some(r);
                        break;
                    }
                }
                piece.extend_from_slice(&chunk);
                if piece.len() >= PIECE {
                    let full = std::mem::replace(&mut piece, Vec::with_capacity(PIECE));
                    // The sealing thread takes pieces as fast as it seals them; gone,
                    // it has failed, and says why below.
                    if tx.send(Ok(full.into())).await.is_err() {
                        break;
                    }
                }
            }
            Ok(None) => {
                if !piece.is_empty() {
                    let _ = tx.send(Ok(std::mem::take(&mut piece).into())).await;
                }
                break;
            }
            Err(e) => {
                upload_error = Some(bad(format!("the upload broke off: {e}")));
                break;
            }
        }
    }
    if upload_error.is_some() {
        let _ = tx.send(Err(())).await;
    }
    drop(tx);
    let (summary, sealed) = sealing.await.map_err(Refusal::internal)?;
    if let Some(e) = upload_error {
        return Err(e);
    }
    let summary = summary.map_err(|e| match e {
        accord_node_api::Error::Denied(reasons) => Refusal {
            kind: Kind::Denied,
            error: "the label was refused".into(),
            reasons,
            logged: true,
        },
        e => Refusal::new(Kind::Unacceptable, Rule::Label, format!("sealing: {e}")),
    })?;
    let sealed = sealed
        .map_err(Refusal::internal)?
        .ok_or_else(|| Refusal::internal("sealed, but no file"))?;
    let id = summary
        .manifest
        .policy_object()
        .map_err(Refusal::internal)?
        .uuid;
    // Queued as `PUT /v1/outbox/{to}/{id}` queues it: its checks, decision and entry.
    c.node.send_written(peer, &choice.to, &id, sealed).await?;
    Ok(id)
}

/// What a person's browser sends the chooser (a query string or a form body), read as
/// the console reads it: the choice, then the label and marking it makes under
/// `policies`, or why none (the fuzz target `console_form`).
pub fn read_choice(
    policies: &accord_spif::PolicySet,
    national: &str,
    form: &[u8],
) -> Result<String, String> {
    let choice = Choice::from_pairs(&pairs(std::str::from_utf8(form).ok()));
    build_in(policies, national, &choice).map(|(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::read_choice;

    fn policies() -> accord_spif::PolicySet {
        let mut set = accord_spif::PolicySet::new();
        set.load_path(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies"))
            .unwrap();
        set
    }

    #[test]
    fn a_choice_reads_into_its_marking_or_says_why_not() {
        let set = policies();
        let q = b"classification=SECRET&cat=Releasable+To%7CUSA&cat=Releasable+To%7CPAK&cat=Scope%7CEXERCISES&agreement=X&to=PAK";
        assert_eq!(
            read_choice(&set, "USA", q).unwrap(),
            "SECRET//REL TO USA, PAK//SCOPE EXERCISES"
        );
        for (bad, why) in [
            (&b""[..], "choose a classification"),
            (b"classification=SECRET&cat=Releasable+To%7CXXX", "XXX"),
            (b"classification=MOST+SECRET", "MOST SECRET"),
            (b"\xff\xfe", "choose a classification"),
        ] {
            let e = read_choice(&set, "USA", bad).unwrap_err();
            assert!(e.contains(why), "{}: {e}", String::from_utf8_lossy(bad));
        }
        // A category without its tag set names nothing, and is left out.
        assert_eq!(
            read_choice(&set, "USA", b"classification=SECRET&cat=nobar").unwrap(),
            "SECRET"
        );
    }
}
