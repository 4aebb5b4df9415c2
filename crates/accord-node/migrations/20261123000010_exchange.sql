-- Exchange between partner nodes: what this node sends (outbox) and what it received
-- (inbox), with the receipts both sides keep. Portable SQL (TEXT and BIGINT only).
CREATE TABLE outbox (
    object_id    TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    person       TEXT NOT NULL,
    agreement    TEXT NOT NULL,
    marking      TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    queued       BIGINT NOT NULL,
    state        TEXT NOT NULL,
    attempts     BIGINT NOT NULL,
    next_attempt BIGINT NOT NULL,
    last_error   TEXT,
    reasons      TEXT,
    receipt      TEXT,
    done         BIGINT,
    PRIMARY KEY (object_id, recipient)
);

CREATE INDEX outbox_due ON outbox (state, next_attempt);

CREATE TABLE inbox (
    object_id TEXT PRIMARY KEY,
    sender    TEXT NOT NULL,
    agreement TEXT NOT NULL,
    marking   TEXT NOT NULL,
    label     TEXT NOT NULL,
    size      BIGINT NOT NULL,
    sha256    TEXT NOT NULL,
    received  BIGINT NOT NULL,
    receipt   TEXT NOT NULL
);
