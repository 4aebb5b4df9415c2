-- OpenTDF clients (docs/opentdf.md): the client credentials a person is given to ask
-- the node's token endpoint for an access token. The secret is kept as its SHA-256
-- (hex); it is shown once, when issued. Revoked with the person's credentials.
CREATE TABLE opentdf_clients (
    client_id TEXT PRIMARY KEY,
    person    TEXT NOT NULL REFERENCES people (id),
    secret    TEXT NOT NULL,
    created   BIGINT NOT NULL,
    revoked   BIGINT
);
CREATE INDEX opentdf_clients_person ON opentdf_clients (person);
