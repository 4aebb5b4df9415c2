-- The receipts of one batch share their two signatures (about 6 KB, most of it the
-- ML-DSA-87 signature): they are kept once here, under the SHA-256 of the pair, and the
-- outbox and inbox rows of a batch's objects hold the rest of the receipt and this key.
CREATE TABLE receipt_signatures (
    digest     TEXT PRIMARY KEY,
    ecdsa_p384 TEXT NOT NULL,
    ml_dsa_87  TEXT NOT NULL
);

ALTER TABLE outbox ADD COLUMN receipt_sig TEXT;
ALTER TABLE inbox ADD COLUMN receipt_sig TEXT;
