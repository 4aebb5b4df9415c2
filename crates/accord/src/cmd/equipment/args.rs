//! The `accord equipment` command line: its commands and their arguments, each with an
//! example in its help (the work is in `super`).

use clap::{Args, Subcommand};
use std::path::PathBuf;

/// Which credential and signing key.
#[derive(Args, Debug, Clone)]
pub struct Who {
    #[command(flatten)]
    pub choice: crate::profile::Choice,
    /// Your credential (default: ACCORD_CREDENTIAL, else the profile in use).
    #[arg(long, value_name = "ID.credential", global = true)]
    pub credential: Option<PathBuf>,
    /// Your equipment signing key (`accord user signing-key`); default: beside the
    /// credential, ID.signing.key.
    #[arg(long, value_name = "FILE", global = true)]
    pub signing_key: Option<PathBuf>,
}

/// Items named on the command line or in a file.
#[derive(Args, Debug, Clone, Default)]
pub struct ItemsArg {
    /// An item, as NOMENCLATURE#SERIAL (repeatable): `--item 'AN/PRC-117G#00042'`.
    #[arg(long = "item", value_name = "NOMENCLATURE#SERIAL")]
    pub item: Vec<String>,
    /// Items from a CSV file with a header: nomenclature,serial (and optionally holder,
    /// condition): a scanner's list.
    #[arg(long = "items", value_name = "FILE.csv")]
    pub items: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum EquipmentCommand {
    /// Equipment accounts: open one (an officer), list them.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Import items into an account from CSV (a barcode scanner's export); every bad row is named by its line, nothing is half-imported.
    #[command(
        after_help = "Example:\n  accord equipment import --account USA-FMS-1 items.csv\n\nThe header names the columns: nomenclature, serial, class (cci, eeum, keymat, controlled), title_holder; optionally case, condition.\n\nExit codes: 0 imported, 1 refused (a serial already accounted for, not your account), 2 a bad row or file."
    )]
    Import {
        #[command(flatten)]
        who: Who,
        /// The account.
        #[arg(long)]
        account: String,
        /// The CSV file.
        file: PathBuf,
    },
    /// Items: list the ledger, show one with its custody history.
    #[command(subcommand)]
    Item(ItemCommand),
    /// Ship items to a partner under an agreement (you sign the transfer report).
    #[command(
        after_help = "Example:\n  accord equipment transfer --account USA-FMS-1 --to PAK --agreement CISMOA-2025 --items shipment.csv\n\nRefused when the agreement is not in force or does not cover EQUIPMENT, or an item is not on hand in your account.\n\nExit codes: 0 shipped (delivered to the partner's node in the background), 1 refused, 2 usage or input error."
    )]
    Transfer {
        #[command(flatten)]
        who: Who,
        /// Your account.
        #[arg(long)]
        account: String,
        /// The partner party.
        #[arg(long)]
        to: String,
        /// The agreement.
        #[arg(long)]
        agreement: String,
        #[command(flatten)]
        items: ItemsArg,
    },
    /// Receipt a transfer from a partner: what arrived (default: everything listed); what differs is recorded as a discrepancy.
    #[command(
        after_help = "Example:\n  accord equipment receive --transfer 6f1c… --account PAK-CCI-1 --items arrived.csv --note 'crate 7 short one KIV-77'\n\nExit codes: 0 receipted (discrepancies are printed), 1 refused, 2 usage or input error."
    )]
    Receive {
        #[command(flatten)]
        who: Who,
        /// The transfer record (`accord equipment records --kind transfer --state open`).
        #[arg(long)]
        transfer: String,
        /// Your account the items go into.
        #[arg(long)]
        account: String,
        #[command(flatten)]
        items: ItemsArg,
        /// Words on a discrepancy.
        #[arg(long)]
        note: Option<String>,
    },
    /// Issue items to a holder on a hand receipt, or take them back (the holder signs second: `accord equipment sign`).
    #[command(
        after_help = "Example:\n  accord equipment hand-receipt --account PAK-CCI-1 --holder pak-sgt-khan --item 'KIV-77#0001'\n  accord equipment hand-receipt --return --account PAK-CCI-1 --holder pak-sgt-khan --item 'KIV-77#0001'\n\nExit codes: 0 signed (awaiting the holder), 1 refused, 2 usage or input error."
    )]
    HandReceipt {
        #[command(flatten)]
        who: Who,
        /// Your account.
        #[arg(long)]
        account: String,
        /// The holder (a person of your node).
        #[arg(long)]
        holder: String,
        /// Take the items back instead of issuing them.
        #[arg(long = "return")]
        give_back: bool,
        #[command(flatten)]
        items: ItemsArg,
    },
    /// Certify an inventory: the serials sighted; the node computes what is missing, unexpected or with another holder, and the certification records it.
    #[command(
        after_help = "Example:\n  accord equipment inventory --account PAK-CCI-1 --items sighted.csv\n\nExit codes: 0 certified (differences are printed), 1 refused, 2 usage or input error."
    )]
    Inventory {
        #[command(flatten)]
        who: Who,
        /// Your account.
        #[arg(long)]
        account: String,
        #[command(flatten)]
        items: ItemsArg,
    },
    /// Record items destroyed, before two witnesses (each signs with `accord equipment sign`).
    #[command(
        after_help = "Example:\n  accord equipment destroy --account PAK-CCI-1 --witness pak-w1 --witness pak-w2 --item 'KIV-77#0009'\n\nExit codes: 0 signed, 1 refused, 2 usage or input error."
    )]
    Destroy {
        #[command(flatten)]
        who: Who,
        /// Your account.
        #[arg(long)]
        account: String,
        /// A witness (twice).
        #[arg(long = "witness", value_name = "PERSON")]
        witnesses: Vec<String>,
        #[command(flatten)]
        items: ItemsArg,
    },
    /// Return items to the provider that transferred them.
    #[command(
        after_help = "Example:\n  accord equipment return --account PAK-CCI-1 --item 'KIV-77#0009'\n\nExit codes: 0 returned, 1 refused, 2 usage or input error."
    )]
    Return {
        #[command(flatten)]
        who: Who,
        /// Your account.
        #[arg(long)]
        account: String,
        #[command(flatten)]
        items: ItemsArg,
    },
    /// Report items lost or compromised: delivered to the provider at once; overdue when not acknowledged within 24 hours.
    #[command(
        after_help = "Example:\n  accord equipment incident --account PAK-CCI-1 --item 'KIV-77#0003' --note 'lost in transit, convoy 12'\n\nExit codes: 0 reported, 1 refused, 2 usage or input error."
    )]
    Incident {
        #[command(flatten)]
        who: Who,
        /// Your account.
        #[arg(long)]
        account: String,
        #[command(flatten)]
        items: ItemsArg,
        /// What happened.
        #[arg(long)]
        note: String,
    },
    /// Acknowledge a partner's incident report.
    #[command(
        after_help = "Example:\n  accord equipment ack --incident 9e2d… --account USA-FMS-1\n\nExit codes: 0 acknowledged, 1 refused, 2 usage or input error."
    )]
    Ack {
        #[command(flatten)]
        who: Who,
        /// The incident record.
        #[arg(long)]
        incident: String,
        /// Your account.
        #[arg(long)]
        account: String,
    },
    /// End-use checks: request one (provider), answer one (receiver), reconcile the answer (provider).
    #[command(subcommand)]
    Check(CheckCommand),
    /// Add your signature to a record that names you (a holder, a witness).
    #[command(
        after_help = "Example:\n  accord equipment sign 4b7a…\n\nExit codes: 0 signed, 1 refused, 2 usage or input error."
    )]
    Sign {
        #[command(flatten)]
        who: Who,
        /// The record.
        id: String,
    },
    /// List records, newest first.
    #[command(
        after_help = "Example:\n  accord equipment records --kind incident\n  accord --json equipment records --kind transfer --state open\n\nExit codes: 0 ok, 1 refused, 2 usage error."
    )]
    Records {
        #[command(flatten)]
        who: Who,
        /// Only this kind (transfer, receipt, hand-receipt, hand-return, inventory, destruction, return, incident, incident-ack, check-request, check-answer, check-result).
        #[arg(long)]
        kind: Option<String>,
        /// Only this state (pending, done, open, answered).
        #[arg(long)]
        state: Option<String>,
    },
    /// Show a record, signed, with its signers.
    #[command(
        after_help = "Example:\n  accord --json equipment record 4b7a…\n\nExit codes: 0 ok, 1 refused, 2 usage error."
    )]
    Record {
        #[command(flatten)]
        who: Who,
        /// The record.
        id: String,
    },
    /// Reconcile the two parties' ledgers of what crossed under an agreement.
    #[command(
        after_help = "Example:\n  accord equipment reconcile --partner PAK --agreement CISMOA-2025\n\nExit codes: 0 ok, 1 refused, 2 usage error."
    )]
    Reconcile {
        #[command(flatten)]
        who: Who,
        /// The partner.
        #[arg(long)]
        partner: String,
        /// The agreement.
        #[arg(long)]
        agreement: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AccountCommand {
    /// Open an account with its custodian (an officer).
    #[command(
        after_help = "Example:\n  accord equipment account add --id USA-FMS-1 --custodian usa-custodian --alternate usa-custodian2 \\\n      --marking 'CONFIDENTIAL//REL TO USA, PAK//SCOPE EQUIPMENT'\n\nExit codes: 0 opened, 1 refused, 2 usage or input error."
    )]
    Add {
        #[command(flatten)]
        who: Who,
        /// The account's name.
        #[arg(long)]
        id: String,
        /// The custodian (role custodian).
        #[arg(long)]
        custodian: String,
        /// The alternate custodian.
        #[arg(long)]
        alternate: Option<String>,
        /// The marking its items and records carry, under your national policy.
        #[arg(long)]
        marking: String,
    },
    /// List the accounts.
    #[command(
        after_help = "Example:\n  accord equipment account list\n\nExit codes: 0 ok, 1 refused."
    )]
    List {
        #[command(flatten)]
        who: Who,
    },
}

#[derive(Subcommand, Debug)]
pub enum ItemCommand {
    /// List items (of one account).
    #[command(
        after_help = "Example:\n  accord equipment item list --account PAK-CCI-1\n\nExit codes: 0 ok, 1 refused."
    )]
    List {
        #[command(flatten)]
        who: Who,
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
    },
    /// Show an item and its custody history.
    #[command(
        after_help = "Example:\n  accord equipment item show 'KIV-77#0001'\n\nExit codes: 0 ok, 1 refused or no such item."
    )]
    Show {
        #[command(flatten)]
        who: Who,
        /// NOMENCLATURE#SERIAL.
        item: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum CheckCommand {
    /// Ask the receiver for an end-use check of the items you transferred under an agreement.
    #[command(
        after_help = "Example:\n  accord equipment check request --account USA-FMS-1 --to PAK --agreement CISMOA-2025\n\nExit codes: 0 requested, 1 refused, 2 usage error."
    )]
    Request {
        #[command(flatten)]
        who: Who,
        /// Your account.
        #[arg(long)]
        account: String,
        /// The receiver.
        #[arg(long)]
        to: String,
        /// The agreement.
        #[arg(long)]
        agreement: String,
    },
    /// Answer a check request: a signed inventory of exactly the items that provider transferred (never any other item of yours).
    #[command(
        after_help = "Example:\n  accord equipment check answer --request 71aa… --account PAK-CCI-1\n\nExit codes: 0 answered, 1 refused, 2 usage error."
    )]
    Answer {
        #[command(flatten)]
        who: Who,
        /// The request.
        #[arg(long)]
        request: String,
        /// Your account.
        #[arg(long)]
        account: String,
    },
    /// Reconcile the receiver's answer against your transfer records (matched, missing, unexpected, condition).
    #[command(
        after_help = "Example:\n  accord equipment check reconcile --answer 0c3e… --account USA-FMS-1\n\nExit codes: 0 reconciled (differences are printed), 1 refused, 2 usage error."
    )]
    Reconcile {
        #[command(flatten)]
        who: Who,
        /// The answer.
        #[arg(long)]
        answer: String,
        /// Your account.
        #[arg(long)]
        account: String,
    },
}
