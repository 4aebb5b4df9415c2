-- Small objects received in one batch are kept together in one pack file, synced once
-- for the batch, rather than one file (and one fsync) each. `pack` names the file under
-- blobs/packs/ and `pack_offset` where the object starts in it; both are NULL for an
-- object kept in a file of its own (blobs/inbox/ID.tdf).
ALTER TABLE inbox ADD COLUMN pack TEXT;
ALTER TABLE inbox ADD COLUMN pack_offset BIGINT;
