-- Roles (accord_agreement::Role): what a person may do at their node. Everyone
-- enrolled before roles existed is a member; an officer is named with
-- `accord user role ID officer`.
ALTER TABLE people ADD COLUMN role TEXT NOT NULL DEFAULT 'member';

-- Every change to the directory (a person enrolled, suspended, resumed, given a role,
-- given or stripped of a credential), whoever made it: an officer through the node, or
-- the operator with `accord user ...` on the node's host while the node runs. The
-- change and its row commit together; the running node writes each row into the audit
-- log and marks it `logged`, so a change made while the node was down is logged when
-- it starts.
CREATE TABLE directory_changes (
    id         TEXT PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor      TEXT,
    credential TEXT,
    person     TEXT NOT NULL,
    change     TEXT NOT NULL,
    detail     TEXT NOT NULL,
    logged     BIGINT
);

CREATE INDEX directory_changes_pending ON directory_changes (logged, at);
