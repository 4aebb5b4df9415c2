-- A received object is held per (object id, sender): an object id is chosen by whoever
-- seals the object, so another partner can deliver an object of its own under an id it
-- has seen, and keyed by the id alone that object took the place of (or shut out) the
-- rightful sender's. The table is rebuilt with the two-column key (SQLite cannot change
-- a primary key in place); the rows held are copied as they are.
--
-- `file_name` names the object's file under blobs/inbox/ (`{sender}.{id}.{sha256}.tdf`:
-- different bytes never share a file); NULL for a row kept before this migration, whose
-- file is `{id}.tdf`, and for an object kept in a pack (`pack`, `pack_offset`).
CREATE TABLE inbox_per_sender (
    object_id   TEXT NOT NULL,
    sender      TEXT NOT NULL,
    agreement   TEXT NOT NULL,
    marking     TEXT NOT NULL,
    label       TEXT NOT NULL,
    size        BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    received    BIGINT NOT NULL,
    receipt     TEXT NOT NULL,
    pack        TEXT,
    pack_offset BIGINT,
    receipt_sig TEXT,
    file_name   TEXT,
    PRIMARY KEY (object_id, sender)
);

INSERT INTO inbox_per_sender (object_id, sender, agreement, marking, label, size, sha256,
                              received, receipt, pack, pack_offset, receipt_sig)
SELECT object_id, sender, agreement, marking, label, size, sha256,
       received, receipt, pack, pack_offset, receipt_sig
FROM inbox;

DROP TABLE inbox;

ALTER TABLE inbox_per_sender RENAME TO inbox;

-- The same for a queued send's file under blobs/outbox/: `{id}.{to}.{sha256}.tdf`, so
-- that two sends of the same id to the same partner racing each other cannot overwrite
-- the file of the one whose row is kept; NULL for a row queued before this migration,
-- whose file is `{id}.{to}.tdf`.
ALTER TABLE outbox ADD COLUMN file_name TEXT;
