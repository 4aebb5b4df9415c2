//! A person's client for their node: seal and open through it with a credential.
//! Blocking (the CLI is synchronous); do not call from inside an async runtime.

use crate::credential::Credential;
use crate::exchange::{InboxItem, OutboxFilter, OutboxItem};
use crate::kind::Kind;
use crate::wire::{self, Reason};
use crate::Error;
use accord_keys::{KasAlg, KasPrivateKey, KasPublicKey, VerifyingKey};
use accord_tdf::manifest::{Assertion, KeyAccess};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// A connection to the node that issued a credential.
pub struct Client {
    cred: Credential,
    http: reqwest::blocking::Client,
    tls: rustls::ClientConfig,
    base: String,
}

/// The node's decision on one object.
#[derive(Debug)]
pub struct Released {
    /// Object id.
    pub object_id: String,
    /// `permit` or `deny`.
    pub decision: String,
    /// Reasons.
    pub reasons: Vec<Reason>,
    /// Audit log index of the decision.
    pub log_index: u64,
    /// The marking of the label the node decided under, as its policies render it.
    pub marking: String,
    /// The shares (permit).
    pub shares: Vec<accord_tdf::ReleasedShare>,
}

impl Client {
    /// Connect with `cred`: TLS pinned to the node's key, the person's certificate
    /// presented.
    pub fn new(cred: Credential) -> Result<Client, Error> {
        let tls = crate::tls::credential_client_config(&cred)?;
        let http = reqwest::blocking::Client::builder()
            .use_preconfigured_tls(tls.clone())
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(4)
            .build()
            .map_err(|e| Error::Http {
                url: cred.node_url.clone(),
                msg: e.to_string(),
            })?;
        let base = cred.node_url.trim_end_matches('/').to_string();
        Ok(Client {
            cred,
            http,
            tls,
            base,
        })
    }

    /// The credential.
    pub fn credential(&self) -> &Credential {
        &self.cred
    }

    /// A transport error in words; when the node could not be reached at all, with what
    /// to check, since "connection refused" alone tells a person nothing to do.
    fn said(&self, e: &reqwest::Error) -> String {
        let what = crate::tls::describe(e);
        if (e.is_connect() || e.is_timeout()) && !what.starts_with("the server's TLS key") {
            format!(
                "cannot reach the {} node at {} ({what}). Check that the node is running (`accord serve`, or `systemctl status` of its unit), that this is the address it serves (your credential names it), and that no firewall is in the way",
                self.cred.party, self.cred.node_url
            )
        } else {
            what
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn handle<T: DeserializeOwned>(
        &self,
        url: &str,
        r: reqwest::Result<reqwest::blocking::Response>,
    ) -> Result<T, Error> {
        let resp = r.map_err(|e| Error::Http {
            url: url.to_string(),
            msg: self.said(&e),
        })?;
        let status = resp.status();
        let bytes = resp.bytes().map_err(|e| Error::Http {
            url: url.to_string(),
            msg: self.said(&e),
        })?;
        self.answer(url, status, &bytes)
    }

    /// Turn an answer into the value or the error it carries.
    fn answer<T: DeserializeOwned>(
        &self,
        url: &str,
        status: reqwest::StatusCode,
        bytes: &[u8],
    ) -> Result<T, Error> {
        if status.is_success() {
            return serde_json::from_slice(bytes).map_err(|e| Error::Http {
                url: url.to_string(),
                msg: format!("unexpected answer: {e}"),
            });
        }
        let kind = crate::http::kind(status.as_u16());
        match serde_json::from_slice::<wire::Problem>(bytes) {
            Ok(p) if kind == Kind::Denied && !p.reasons.is_empty() => Err(Error::Denied(p.reasons)),
            Ok(p) => Err(Error::NodeRefused {
                party: self.cred.party.clone(),
                kind,
                status: status.as_u16(),
                error: p.error,
                reasons: p.reasons,
            }),
            Err(_) => Err(Error::Http {
                url: url.to_string(),
                msg: format!("status {status}"),
            }),
        }
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let url = self.url(path);
        self.handle(&url, self.http.get(&url).send())
    }

    fn post<B: serde::Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, Error> {
        let url = self.url(path);
        let bytes = serde_json::to_vec(body).map_err(|e| Error::Input(e.to_string()))?;
        self.handle(
            &url,
            self.http
                .post(&url)
                .header("content-type", "application/json")
                .body(bytes)
                .send(),
        )
    }

    /// `GET path` answered with JSON (the equipment routes, which the command line
    /// spells itself).
    pub fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.get(path)
    }

    /// `POST path` with a JSON body, answered with JSON.
    pub fn post_json<B: serde::Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, Error> {
        self.post(path, body)
    }

    /// `POST path` with `bytes` of `content_type` (a CSV import), answered with JSON.
    pub fn post_bytes<T: DeserializeOwned>(
        &self,
        path: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<T, Error> {
        let url = self.url(path);
        self.handle(
            &url,
            self.http
                .post(&url)
                .header("content-type", content_type)
                .body(bytes)
                .send(),
        )
    }

    /// `POST /v1/noop`: the HTTP and TLS floor, for benchmarks.
    pub fn noop(&self, body: Vec<u8>) -> Result<(), Error> {
        let url = self.url("/v1/noop");
        let r = self
            .http
            .post(&url)
            .body(body)
            .send()
            .map_err(|e| Error::Http {
                url: url.clone(),
                msg: self.said(&e),
            })?;
        if !r.status().is_success() {
            return Err(Error::Http {
                url,
                msg: format!("status {}", r.status()),
            });
        }
        Ok(())
    }

    /// `GET /v1/whoami`.
    pub fn whoami(&self) -> Result<wire::WhoAmI, Error> {
        self.get("/v1/whoami")
    }

    /// `GET /v1/status`: the node's agreements and partners, as the person may see them.
    pub fn status(&self) -> Result<wire::NodeStatus, Error> {
        self.get("/v1/status")
    }

    /// The label signers the node trusts.
    pub fn trusted_signers(&self) -> Result<Vec<VerifyingKey>, Error> {
        let t: wire::TrustInfo = self.get("/v1/trust")?;
        t.signers
            .iter()
            .map(|s| VerifyingKey::from_pem(&s.key).map_err(Error::from))
            .collect()
    }

    /// `POST /v1/seal/plan`.
    pub fn seal_plan(&self, req: &wire::SealPlanRequest) -> Result<wire::SealPlan, Error> {
        self.post("/v1/seal/plan", req)
    }

    /// `PUT /v1/outbox/{to}/{id}`: send a sealed object (streamed from `path`) to the
    /// partner party `to` through the node's outbox.
    pub fn send(
        &self,
        to: &str,
        path: &std::path::Path,
        progress: Option<UploadProgress>,
    ) -> Result<OutboxItem, Error> {
        let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let id = object_id(&read_manifest(&mut f)?)?;
        let size = f.metadata().map_err(|e| Error::io(path, e))?.len();
        drop(f);
        let url = self.url(&format!("/v1/outbox/{to}/{id}"));
        if size <= SMALL_UPLOAD {
            // Small: one body on the kept-alive connection.
            let body = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            if let Some(p) = &progress {
                p(size);
            }
            return self.handle(
                &url,
                self.http
                    .put(&url)
                    .header("content-type", "application/zip")
                    .body(body)
                    .send(),
            );
        }
        let herr = |msg: String| Error::Http {
            url: url.clone(),
            msg,
        };
        // Streamed in 1 MiB chunks from an async client on a runtime of its own: the
        // blocking client reads its body 8 KiB at a time, which halves the rate of a
        // large upload.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| herr(e.to_string()))?;
        let (status, bytes) = rt.block_on(async {
            let client = reqwest::Client::builder()
                .use_preconfigured_tls(self.tls.clone())
                .timeout(Duration::from_secs(24 * 3600))
                .build()
                .map_err(|e| herr(self.said(&e)))?;
            let file = tokio::fs::File::open(path)
                .await
                .map_err(|e| Error::io(path, e))?;
            let stream = futures_util::StreamExt::inspect(
                tokio_util::io::ReaderStream::with_capacity(file, 1 << 20),
                move |chunk| {
                    if let (Some(p), Ok(c)) = (&progress, chunk) {
                        p(c.len() as u64);
                    }
                },
            );
            let resp = client
                .put(&url)
                .header("content-type", "application/zip")
                .header("content-length", size)
                .body(reqwest::Body::wrap_stream(stream))
                .send()
                .await
                .map_err(|e| herr(self.said(&e)))?;
            let status = resp.status();
            let bytes = resp.bytes().await.map_err(|e| herr(self.said(&e)))?;
            Ok::<_, Error>((status, bytes))
        })?;
        self.answer(&url, status, &bytes)
    }

    /// `GET /v1/outbox`: what this person sent, and how each delivery stands.
    pub fn outbox(&self) -> Result<Vec<OutboxItem>, Error> {
        self.get("/v1/outbox")
    }

    /// `GET /v1/outbox?...`: only the entries `filter` selects (one object, one state,
    /// the most recent few).
    pub fn outbox_filtered(&self, filter: &OutboxFilter) -> Result<Vec<OutboxItem>, Error> {
        let mut q = Vec::new();
        if let Some(id) = &filter.id {
            q.push(format!("id={}", encode(id)));
        }
        if let Some(s) = &filter.state {
            q.push(format!("state={}", encode(s)));
        }
        if let Some(l) = filter.limit {
            q.push(format!("limit={l}"));
        }
        self.get(&format!("/v1/outbox?{}", q.join("&")))
    }

    /// `GET /v1/inbox`: what this person may see of what partners sent, oldest first.
    pub fn inbox(&self) -> Result<Vec<InboxItem>, Error> {
        self.get("/v1/inbox")
    }

    /// `GET /v1/inbox/{id}`: fetch a received object into `out`; returns its size.
    pub fn fetch<W: std::io::Write>(&self, id: &str, out: &mut W) -> Result<u64, Error> {
        self.fetch_from(id, None, out)
    }

    /// [`Client::fetch`] of the object `from` sent (a party code), for when partners
    /// sent objects under the same id.
    pub fn fetch_from<W: std::io::Write>(
        &self,
        id: &str,
        from: Option<&str>,
        out: &mut W,
    ) -> Result<u64, Error> {
        let url = match from {
            Some(f) if accord_keys::party::check_party_code(f).is_ok() => {
                self.url(&format!("/v1/inbox/{id}?from={f}"))
            }
            Some(f) => {
                return Err(Error::Input(format!(
                    "--from {f}: a party code is three capital letters (PAK)"
                )))
            }
            None => self.url(&format!("/v1/inbox/{id}")),
        };
        let herr = |e: &reqwest::Error| Error::Http {
            url: url.clone(),
            msg: self.said(e),
        };
        let mut resp = self
            .http
            .get(&url)
            .timeout(Duration::from_secs(3600))
            .send()
            .map_err(|e| herr(&e))?;
        if !resp.status().is_success() {
            let r: Result<serde_json::Value, Error> = self.handle(&url, Ok(resp));
            r?;
            return Err(Error::Refused(format!("{url}: unexpected answer")));
        }
        resp.copy_to(out).map_err(|e| herr(&e))
    }

    /// Ask the node's KAS to release the shares of `manifests` (one bulk request).
    pub fn rewrap(&self, manifests: Vec<serde_json::Value>) -> Result<Vec<Released>, Error> {
        let (ephemeral, body) = self.fresh_rewrap_body(manifests)?;
        let resp: wire::RewrapResponse = self.post("/v1/kas/rewrap", &body)?;
        self.released(&ephemeral, resp)
    }

    /// A signed rewrap request for `manifests` with a fresh nonce and a fresh hybrid key
    /// (returned: the answer is wrapped to it).
    fn fresh_rewrap_body(
        &self,
        manifests: Vec<serde_json::Value>,
    ) -> Result<(KasPrivateKey, wire::RewrapBody), Error> {
        let ephemeral = KasPrivateKey::generate(KasAlg::HybridP384MlKem1024)?;
        let mut nonce = [0u8; 32];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| Error::Crypto("random nonce".into()))?;
        let req = wire::RewrapRequest {
            nonce: hex::encode(nonce),
            issued_at: time::OffsetDateTime::now_utc().unix_timestamp(),
            client_public_key: ephemeral.public_key().to_pem(),
            objects: manifests,
        };
        let body = self.signed_rewrap_body(&req)?;
        Ok((ephemeral, body))
    }

    /// Ask the node to obtain, from partners' KASes, the shares of `manifests` that
    /// only they hold (objects sealed with `--require`): one answer per object per
    /// partner party, each share wrapped to a fresh key of this client.
    pub fn rewrap_partners(
        &self,
        manifests: Vec<serde_json::Value>,
    ) -> Result<Vec<Released>, Error> {
        let (ephemeral, body) = self.fresh_rewrap_body(manifests)?;
        let answers: Vec<wire::RewrapResponse> = self.post("/v1/kas/rewrap/partners", &body)?;
        let mut out = Vec::new();
        for a in answers {
            out.extend(self.released(&ephemeral, a)?);
        }
        Ok(out)
    }

    /// Sign a rewrap request with the credential's key (public for tests that replay
    /// or alter one).
    pub fn signed_rewrap_body(&self, req: &wire::RewrapRequest) -> Result<wire::RewrapBody, Error> {
        let bytes = serde_json::to_vec(req).map_err(|e| Error::Input(e.to_string()))?;
        let sig = sign_with_credential(&self.cred, &bytes)?;
        Ok(wire::RewrapBody {
            request: B64.encode(&bytes),
            signature: B64.encode(sig),
        })
    }

    /// Send a prepared rewrap body as is.
    pub fn send_rewrap_body(&self, body: &wire::RewrapBody) -> Result<wire::RewrapResponse, Error> {
        self.post("/v1/kas/rewrap", body)
    }

    /// Decrypt what a rewrap answer released.
    pub fn released(
        &self,
        ephemeral: &KasPrivateKey,
        resp: wire::RewrapResponse,
    ) -> Result<Vec<Released>, Error> {
        open_released(ephemeral, resp)
    }
}

/// Decrypt what a rewrap answer released to `ephemeral` (the key the request named):
/// the session key, then each share sealed under it.
pub fn open_released(
    ephemeral: &KasPrivateKey,
    resp: wire::RewrapResponse,
) -> Result<Vec<Released>, Error> {
    let kao = KeyAccess {
        key_type: resp.session_key.key_type.clone(),
        url: String::new(),
        protocol: "kas".into(),
        wrapped_key: resp.session_key.wrapped_key.clone(),
        policy_binding: serde_json::Value::Null,
        encrypted_metadata: String::new(),
        kid: String::new(),
        sid: String::new(),
        schema_version: String::new(),
        ephemeral_public_key: String::new(),
    };
    let session = accord_tdf::keyaccess::unwrap(ephemeral, &kao)?;
    let mut out = Vec::new();
    for r in resp.results {
        let mut shares = Vec::new();
        for s in &r.shares {
            let sealed = B64
                .decode(&s.share)
                .map_err(|_| Error::Crypto("a released share is not base64".into()))?;
            shares.push(accord_tdf::ReleasedShare {
                sid: s.sid.clone(),
                share: crate::share::open_share(&session, &r.object_id, &s.sid, &sealed)?,
            });
        }
        out.push(Released {
            object_id: r.object_id,
            decision: r.decision,
            reasons: r.reasons,
            log_index: r.log_index,
            marking: r.marking,
            shares,
        });
    }
    Ok(out)
}

/// ECDSA P-384 / SHA-384 (ASN.1) with the credential's private key.
pub fn sign_with_credential(cred: &Credential, msg: &[u8]) -> Result<Vec<u8>, Error> {
    use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P384_SHA384_ASN1_SIGNING};
    let der = crate::pki::pem_blocks(&cred.private_key, "PRIVATE KEY")?.remove(0);
    let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, &der)
        .map_err(|_| Error::Credential("private key is not a P-384 PKCS#8 key".into()))?;
    let sig = kp
        .sign(&aws_lc_rs::rand::SystemRandom::new(), msg)
        .map_err(|_| Error::Crypto("signing the request".into()))?;
    Ok(sig.as_ref().to_vec())
}

/// The node as a label signer for `accord_tdf::seal`: it signs after checking the
/// person may apply the label under the agreement the manifest's policy names, and logs
/// the labelling.
pub struct NodeSigner<'a> {
    /// The client.
    pub client: &'a Client,
    /// The log index of the labelling, once signed.
    pub log_index: std::sync::Mutex<Option<u64>>,
}

impl accord_tdf::AssertionSigner for NodeSigner<'_> {
    fn sign_assertions(
        &self,
        assertions: &mut [Assertion],
        manifest: &serde_json::Value,
        _aggregate: &[u8],
        _manifest_digest: &str,
    ) -> Result<(), accord_tdf::Error> {
        // The node derives the aggregate, the digest and the agreement from the manifest.
        let req = wire::SignRequest::new(assertions, manifest)
            .map_err(|e| accord_tdf::Error::Manifest(format!("the signing request: {e}")))?;
        let resp: wire::SignResponse = self.client.post("/v1/seal/sign", &req).map_err(|e| {
            accord_tdf::Error::Usage(format!("the node did not sign the label: {e}"))
        })?;
        let index = apply_signed(assertions, resp)?;
        if let Ok(mut g) = self.log_index.lock() {
            *g = Some(index);
        }
        Ok(())
    }
}

/// Put the node's signed assertions in place of the unsigned ones; the log index of
/// the labelling.
pub fn apply_signed(
    assertions: &mut [Assertion],
    resp: wire::SignResponse,
) -> Result<u64, accord_tdf::Error> {
    if resp.assertions.len() != assertions.len() {
        return Err(accord_tdf::Error::Usage(
            "the node returned a different number of assertions".into(),
        ));
    }
    for (a, v) in assertions.iter_mut().zip(resp.assertions) {
        let signed: Assertion = serde_json::from_value(v)
            .map_err(|e| accord_tdf::Error::Usage(format!("the node's signed assertion: {e}")))?;
        *a = signed;
    }
    Ok(resp.log_index)
}

/// What sealing through the node did.
#[derive(Debug)]
pub struct SealedThroughNode {
    /// The plan the node made.
    pub plan: wire::SealPlan,
    /// The library's summary.
    pub summary: accord_tdf::SealSummary,
    /// Audit log index of the labelling.
    pub log_index: Option<u64>,
}

/// Seal `input` to `output` through the node: the node checks the label and names the
/// KASes, the payload is encrypted here, the node signs the label.
pub fn seal<R: std::io::Read + Send, W: std::io::Write>(
    client: &Client,
    req: &wire::SealPlanRequest,
    input: R,
    output: W,
    segment_size: u64,
    progress: Option<accord_tdf::Progress<'_>>,
) -> Result<SealedThroughNode, Error> {
    seal_required(client, req, &[], input, output, segment_size, progress)
}

/// [`seal`] with originator control: the key is split so that every party in
/// `require` must release its share (each through its own KAS) for the object to open.
pub fn seal_required<R: std::io::Read + Send, W: std::io::Write>(
    client: &Client,
    req: &wire::SealPlanRequest,
    require: &[String],
    input: R,
    output: W,
    segment_size: u64,
    progress: Option<accord_tdf::Progress<'_>>,
) -> Result<SealedThroughNode, Error> {
    let plan = client.seal_plan(req)?;
    let signer = NodeSigner {
        client,
        log_index: std::sync::Mutex::new(None),
    };
    let summary = seal_planned(
        &plan,
        req.agreement.as_deref(),
        require,
        &signer,
        input,
        output,
        segment_size,
        progress,
    )?;
    let log_index = signer.log_index.lock().ok().and_then(|g| *g);
    Ok(SealedThroughNode {
        plan,
        summary,
        log_index,
    })
}

/// Seal `input` to `output` under a plan the node made (its label, the KASes it named,
/// the agreement), the label signed by `signer`: what `accord seal` does at the
/// person's end and the console does at the node, one way. With `require`, the key is
/// split so that each of those parties' KASes must release its share.
#[allow(clippy::too_many_arguments)]
pub fn seal_planned<R: std::io::Read + Send, W: std::io::Write>(
    plan: &wire::SealPlan,
    agreement: Option<&str>,
    require: &[String],
    signer: &dyn accord_tdf::AssertionSigner,
    input: R,
    output: W,
    segment_size: u64,
    progress: Option<accord_tdf::Progress<'_>>,
) -> Result<accord_tdf::SealSummary, Error> {
    for party in require {
        if !plan.recipients.iter().any(|r| &r.party == party) {
            return Err(Error::Refused(format!(
                "{party} is required but gets no key access for this label under {}: {}",
                agreement.unwrap_or("no agreement (use --agreement)"),
                plan.excluded
                    .iter()
                    .map(|r| r.text.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            )));
        }
    }
    let mut recipients = Vec::new();
    for r in &plan.recipients {
        if !require.is_empty() && !require.contains(&r.party) {
            continue;
        }
        recipients.push(accord_tdf::Recipient {
            kas: KasPublicKey::from_pem(&r.kas_key)?,
            url: r.url.clone(),
            party: Some(r.party.clone()),
        });
    }
    let opts = accord_tdf::SealOptions {
        recipients,
        require: require.to_vec(),
        signer,
        label: accord_tdf::BoundLabel {
            xml: plan.label_xml.clone(),
            marking: plan.marking.clone(),
        },
        segment_size,
        mime_type: String::new(),
        metadata: None,
        progress,
        agreement: plan.agreement.clone(),
    };
    Ok(accord_tdf::seal(input, output, &opts)?)
}

/// The manifest JSON of a sealed object.
pub fn read_manifest<R: std::io::Read + std::io::Seek>(
    r: &mut R,
) -> Result<serde_json::Value, Error> {
    let layout = accord_tdf::zip::read_layout(r)?;
    let bytes = accord_tdf::zip::read_manifest(r, &layout)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Input(format!("manifest: {e}")))
}

/// Open through the node: ask its KAS, then decrypt here with the released shares.
pub fn open<R: std::io::Read + std::io::Seek + Send, W: std::io::Write>(
    client: &Client,
    input: &mut R,
    output: W,
    range: Option<(u64, u64)>,
    progress: Option<accord_tdf::Progress<'_>>,
) -> Result<(accord_tdf::OpenSummary, Released), Error> {
    let manifest = read_manifest(input)?;
    input
        .seek(std::io::SeekFrom::Start(0))
        .map_err(|e| Error::Input(format!("rewinding the object: {e}")))?;
    let mut released = client.rewrap(vec![manifest.clone()])?;
    let mut r = released
        .pop()
        .ok_or_else(|| Error::Refused("the node answered no result".into()))?;
    if r.decision != "permit" {
        return Err(Error::Denied(r.reasons));
    }
    // Originator control: shares only other parties' KASes hold are asked for through
    // the node, from each of them.
    let needed = split_ids(&manifest)?;
    if needed
        .iter()
        .any(|sid| !r.shares.iter().any(|s| &s.sid == sid))
    {
        for p in client.rewrap_partners(vec![manifest])? {
            if p.decision != "permit" {
                return Err(Error::Denied(p.reasons));
            }
            r.shares.extend(p.shares);
        }
    }
    let trusted = client.trusted_signers()?;
    let opts = accord_tdf::OpenOptions {
        kas_keys: &[],
        trusted_signers: &trusted,
        range,
        progress,
        released: &r.shares,
        // The node decided an object with no label assertion from its policy's
        // attributes (an OpenTDF SDK sealed it): it opens under that label.
        decided_unlabelled: (!r.marking.is_empty()).then_some(r.marking.as_str()),
    };
    let summary = accord_tdf::open(input, output, &opts)?;
    Ok((summary, r))
}

/// The object id (policy uuid) of a manifest.
pub fn object_id(manifest: &serde_json::Value) -> Result<String, Error> {
    let bytes = serde_json::to_vec(manifest).map_err(|e| Error::Input(e.to_string()))?;
    let m = accord_tdf::Manifest::parse(&bytes)?;
    Ok(m.policy_object()?.uuid)
}

/// Objects up to this size are sent in one body over the kept-alive connection; larger
/// ones stream in 1 MiB chunks.
const SMALL_UPLOAD: u64 = 8 << 20;

/// Called with the bytes uploaded since the last call.
pub type UploadProgress = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

/// The split ids of a manifest's key access objects (one per required party).
fn split_ids(manifest: &serde_json::Value) -> Result<Vec<String>, Error> {
    let bytes = serde_json::to_vec(manifest).map_err(|e| Error::Input(e.to_string()))?;
    let m = accord_tdf::Manifest::parse(&bytes)?;
    let mut sids: Vec<String> = m
        .encryption_information
        .key_access
        .iter()
        .map(|k| k.sid.clone())
        .collect();
    sids.sort();
    sids.dedup();
    Ok(sids)
}

/// Percent-encode a query value (everything but unreserved characters).
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
