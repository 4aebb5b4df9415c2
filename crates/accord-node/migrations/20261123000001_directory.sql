-- The node's directory, agreements and replay guard. Portable SQL: the same migration
-- runs on SQLite and PostgreSQL (TEXT and BIGINT only; binary values are hex).
CREATE TABLE people (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    party       TEXT NOT NULL,
    nationality TEXT NOT NULL,
    clearance   TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    status      TEXT NOT NULL,
    created     BIGINT NOT NULL,
    updated     BIGINT NOT NULL
);

CREATE TABLE credentials (
    fingerprint TEXT PRIMARY KEY,
    person      TEXT NOT NULL REFERENCES people (id),
    serial      TEXT NOT NULL,
    issued      BIGINT NOT NULL,
    not_after   BIGINT NOT NULL,
    revoked     BIGINT
);

CREATE INDEX credentials_person ON credentials (person);

CREATE TABLE agreements (
    id       TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    digest   TEXT NOT NULL,
    records  BIGINT NOT NULL,
    loaded   BIGINT NOT NULL
);

CREATE TABLE rewrap_nonces (
    nonce  TEXT PRIMARY KEY,
    person TEXT NOT NULL,
    seen   BIGINT NOT NULL
);

CREATE INDEX rewrap_nonces_seen ON rewrap_nonces (seen);
