-- Leases of every bootsrv sharing this database. The primary key on the
-- address is what makes sharing safe: a commit writes over a row only
-- when the address is free for its client (INSERT ... ON CONFLICT ...
-- WHERE), so two servers can never both commit one address.
CREATE TABLE bootsrv_leases (
    ip        inet PRIMARY KEY,
    client    bytea NOT NULL,            -- ClientKey: 'c' + option 61, or 'h' + chaddr; empty when declined
    mac       text NOT NULL DEFAULT '',
    client_id text NOT NULL DEFAULT '',  -- option 61, hex
    hostname  text NOT NULL DEFAULT '',
    expiry    timestamptz NOT NULL,
    declined  boolean NOT NULL DEFAULT false,
    server    text NOT NULL DEFAULT '',  -- the server that wrote the row last
    txid      bigint NOT NULL            -- the writing transaction, for reading changes since a snapshot
);
CREATE INDEX bootsrv_leases_client ON bootsrv_leases (client);
CREATE INDEX bootsrv_leases_txid ON bootsrv_leases (txid);

-- One row per server, its heartbeat written every lease_store.heartbeat.
CREATE TABLE bootsrv_servers (
    id        text PRIMARY KEY,
    server_ip inet,
    heartbeat timestamptz NOT NULL
);
