//! A party's node: the directory of its people, the agreements its party signed, its
//! key access service (KAS), its exchange of sealed objects with partner nodes, and its
//! audit log, served over mutually authenticated TLS.
//!
//! The KAS releases a key share only to the node's own people, only when the one
//! decision of `accord-agreement` permits (or, for an object that names no agreement,
//! the national policy alone), and only after the decision is durable in the party's
//! audit log. Every decision, permit or deny, is logged with its reasons.
//!
//! # The map
//!
//! What crosses the wire (request and response bodies, their parsers, the refusal
//! kinds and their HTTP statuses, credentials, receipts, TLS pinning, the person's
//! client) is in the crate below this one, `accord-node-api`: the node and the client
//! both use it and neither can reach into the other.
//!
//! Each room below owns one concern; [`Node`] (`node.rs`) only holds their state
//! together (the home, the database, the keys, the log appender, the clock, the
//! agreements held, the caches) and every component adds its methods to it.
//!
//! | room | owns |
//! |---|---|
//! | [`home`], `disk` | the node home made by `accord init` (keys, policies, the log directory; `node.toml` in `home/config.rs`); the room it keeps free on disk |
//! | `store/` | the database (SQLite or PostgreSQL, one code path): the connection, its one writer, statements committed together, and a file per table group: `people`, `agreements`, `nonces` (the exchange's tables are in `exchange/store.rs`) |
//! | `caller` | who is asking: a person by the certificate the node issued them, a partner node by the TLS key an agreement in force pins |
//! | [`directory`] | people and their credentials (enrol, suspend, resume, remove) |
//! | [`agreements`], `agreement_sync` | agreements loaded, verified and replaced; offered to and received from partner nodes |
//! | `decision` | the bridge to the one decision of `accord-agreement`: which of its three entry points applies, the trusted label signers, a label's marking |
//! | `kas`, `crossborder` | rewrap: the request checked, each object decided, the decisions logged, then the shares released; a partner's KAS asked for its share (originator control), and the partner route |
//! | [`opentdf`] | the same KAS for OpenTDF clients: the token endpoint, discovery, Connect `PublicKey` and `Rewrap` (labels from policy attributes, `Wrapping::Classical`) |
//! | `tokens` | the OpenTDF clients' credentials the node holds: its token key (issuer), the DPoP proofs seen, the classical KAS keys (state only, so that `Node` can hold it) |
//! | `labelling` | seal plans (which KASes, under which agreement) and label signing |
//! | `exchange/` | sealed objects between partner nodes: `send` (outbox), `delivery` (the loop) and `attempt` (one delivery of 1..n objects), `receive` and `accept` (one acceptance of 1..n objects), `inbox`, `blobs` (files, spools, packs), `store` (outbox, inbox, receipts) |
//! | [`partners`], `witnessing` | partner nodes from the agreements in force and the clients that reach them (and the latest probe of each); each node witnesses its partners' logs and has its own checkpoints cosigned |
//! | `status`, `metrics` | what the node's people see first when something fails (`GET /v1/status`: agreements, each partner's reachability and deliveries, what expires); what officers' monitoring counts |
//! | `audit`, `refusal`, `strangers` | one way to write an audit entry, and every refusal of a known caller logged; the [`Refusal`] every component answers with (a kind, no HTTP status); refusals of unknown callers, rate-limited |
//! | [`server`], [`admission`] | HTTP at the edge: the TLS listener (`server/mod.rs`), the routes and the only place a refusal's kind becomes a status (`server/routes.rs`, checked against `docs/node-api.yaml`); how much body the node holds in memory at once and for whom |
//! | [`backup`] | backups of a running node, consistent (the database snapshot first, the audit log after it, the files the database names), in a tar archive with a manifest, optionally encrypted to a recovery key; their restore, checked before anything is written |
//! | [`equipment`] | equipment accountability: accounts, the ledger of items, records signed by the people they name (`draft`: the rules of each kind, written once; `submit`: signatures checked, decided, attested, applied), their delivery to and receipt from partner nodes (`federation`), what people read (`views`), the tables (`store`) |
//! | [`sandbox`] | two parties' nodes under one agreement (`accord quickstart`, tests, benchmarks) |
//!
//! # A rewrap, end to end
//!
//! `POST /v1/kas/rewrap` → `server/routes.rs` → `Node::rewrap` (`kas.rs`):
//! `caller::authenticate` → `checked_rewrap_request` (`accord_node_api::wire::check_rewrap_request`,
//! the clock skew, the nonce in `store/nonces.rs`) → `release`: `decide_object` per
//! object, which calls `decision::decide_for` (the one decision) → `audit::log_entries`
//! (durable before anything is released) → each share sealed to the session key
//! (`accord_node_api::share`). A refusal comes back as a [`Refusal`]; `routes.rs`
//! spells its kind as a status.
//!
//! # A delivery, end to end
//!
//! Sender: `PUT /v1/outbox/{to}/{id}` → `Node::send` (`exchange/send.rs`): authenticate,
//! spool the body (`blobs`), verify the label, the exchange decision (`admit`), log it,
//! keep the file and queue the outbox row (`exchange/store.rs`). Then
//! `delivery::deliver_loop` takes due rows, groups them (`units`: a large object alone,
//! small ones in batches) and `attempt::attempt` sends each unit to the partner in
//! force, streamed (resumed where a broken delivery stopped) or as one batch body.
//!
//! Receiver: `PUT /v1/fed/inbox/{id}` or `POST /v1/fed/inbox` → `Node::receive` /
//! `Node::receive_batch` (`exchange/receive.rs`): `caller::partner_of`, the body spooled
//! or parsed → `accept::accept`: what is held already answers, the rest is checked again
//! here (`admit_verified`), kept, logged, receipted and committed in one go.
//!
//! Back at the sender: `attempt` checks the receipts (`verify`, `outcome`) and
//! `delivery::record` marks each row delivered, refused or due again.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admission;
mod agreement_sync;
pub mod agreements;
mod audit;
pub mod backup;
mod cache;
mod caller;
pub mod console;
mod crossborder;
pub mod custody;
mod decision;
pub mod directory;
mod directory_log;
mod disk;
mod entry_kind;
pub mod equipment;
mod exchange;
pub mod home;
mod kas;
mod labelling;
mod log_keys;
mod metrics;
mod node;
mod officers;
pub mod opentdf;
mod own_keys;
pub use own_keys::{key_places, load_signing_key_file};
pub mod partners;
mod refusal;
pub mod rotation;
pub mod sandbox;
pub mod server;
mod status;
mod store;
mod strangers;
mod tls_switch;
mod tokens;
mod witnessing;

pub use accord_node_api::Error;
pub use caller::Peer;
pub use disk::DEFAULT_RESERVE_MIB;
pub use exchange::DeliveryOptions;
pub use node::{Node, Refusal};
pub use store::PersonRecord;
