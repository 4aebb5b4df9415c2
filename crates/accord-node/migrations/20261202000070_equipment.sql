-- Equipment accountability (crate accord-equipment): accounts with their custodians,
-- the ledger of items, the signed records of every transaction, and each item's
-- history. Portable SQL: TEXT and BIGINT only.

-- A person's public signing keys (two PEM PUBLIC KEY blocks: ECDSA P-384 then
-- ML-DSA-87), with which they sign equipment records; NULL until one is issued.
ALTER TABLE people ADD COLUMN signing_keys TEXT;

CREATE TABLE equipment_accounts (
    id        TEXT PRIMARY KEY,
    custodian TEXT NOT NULL REFERENCES people (id),
    alternate TEXT REFERENCES people (id),
    label     TEXT NOT NULL,
    created   BIGINT NOT NULL
);

-- One row per item this party accounts for (or transferred away: status
-- 'transferred', `transferred_to` the partner).
CREATE TABLE equipment_items (
    nomenclature   TEXT NOT NULL,
    serial         TEXT NOT NULL,
    class          TEXT NOT NULL,
    loa            TEXT,
    title_holder   TEXT NOT NULL,
    provider       TEXT,
    agreement      TEXT,
    account        TEXT NOT NULL REFERENCES equipment_accounts (id),
    holder         TEXT,
    condition      TEXT NOT NULL,
    status         TEXT NOT NULL,
    transferred_to TEXT,
    label          TEXT NOT NULL,
    updated        BIGINT NOT NULL,
    PRIMARY KEY (nomenclature, serial)
);

CREATE INDEX equipment_items_account ON equipment_items (account, nomenclature, serial);
CREATE INDEX equipment_items_provider ON equipment_items (provider, agreement);
CREATE INDEX equipment_items_transferred ON equipment_items (transferred_to, agreement);

-- Every record: made here (origin = this party) or received from a partner. `state`:
-- 'pending' (awaiting signatures), 'done'; for records received: 'open' until
-- answered (a transfer until receipted, an incident until acknowledged, a check
-- request until answered), then 'answered'. `delivered`: when the partner took a
-- record that crosses (NULL: still to deliver). `label`, `signers` (comma-separated),
-- `next_signer`, `items` and `summary` are read from the record when it is stored, so
-- that lists and histories need not parse each record (a hybrid-signed record is some
-- 12 KB of JSON).
CREATE TABLE equipment_records (
    id        TEXT PRIMARY KEY,
    kind      TEXT NOT NULL,
    origin    TEXT NOT NULL,
    account   TEXT NOT NULL,
    partner   TEXT,
    agreement TEXT,
    refers    TEXT,
    at        BIGINT NOT NULL,
    digest    TEXT NOT NULL,
    state     TEXT NOT NULL,
    crosses   BIGINT NOT NULL,
    delivered BIGINT,
    answered  BIGINT,
    label       TEXT NOT NULL,
    signers     TEXT NOT NULL,
    next_signer TEXT,
    items       BIGINT NOT NULL,
    summary     TEXT NOT NULL,
    record      TEXT NOT NULL
);

CREATE INDEX equipment_records_kind ON equipment_records (kind, state, at);
CREATE INDEX equipment_records_delivery ON equipment_records (crosses, delivered);
CREATE INDEX equipment_records_refers ON equipment_records (refers);

-- Which records name which item, in order (`at`: microseconds when the node took the
-- record): an item's custody history.
CREATE TABLE equipment_history (
    nomenclature TEXT NOT NULL,
    serial       TEXT NOT NULL,
    at           BIGINT NOT NULL,
    record       TEXT NOT NULL,
    PRIMARY KEY (nomenclature, serial, record)
);

CREATE INDEX equipment_history_item ON equipment_history (nomenclature, serial, at);
