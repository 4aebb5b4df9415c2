-- When an object was sealed, as far as this node can show it (issue 20: a key revoked
-- as compromised since a time refuses what it did after then, so the node must be
-- able to show what existed before). One row per manifest digest (SHA-256 of the
-- manifest without its assertions, which covers every key access object): the first
-- evidence kept. `evidence` is `label` (this node signed the object's label, after its
-- `label` audit entry) or `receive` (a partner delivered it, with its `receive` entry);
-- `at` Unix seconds. Evidence starts being gathered before any key is compromised.
CREATE TABLE sealed (
    manifest_digest TEXT PRIMARY KEY,
    object_id       TEXT NOT NULL,
    evidence        TEXT NOT NULL,
    at              BIGINT NOT NULL
);
