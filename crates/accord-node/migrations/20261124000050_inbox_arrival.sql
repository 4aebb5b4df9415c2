-- The order objects arrived in. `received` is whole seconds (it is what `accord inbox`
-- shows), so objects received in the same second were listed by id; `arrival` grows
-- with every object a node takes in (nanoseconds since the epoch, or one more than the
-- last), so the inbox lists them as they came. Rows from before have 0: within their
-- second they keep the order by id.
ALTER TABLE inbox ADD COLUMN arrival BIGINT NOT NULL DEFAULT 0;
