-- The audit trail: one hash chain per tenant (chain_id = the tenant id) and one for the
-- platform (chain_id = 'platform'). docs/audit.md defines the canonical form that `hash`
-- covers; `mac` authenticates `hash` with a key derived from the master key.
CREATE TABLE audit_records (
    chain_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    id TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    mac TEXT NOT NULL,
    created TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    tenant_id TEXT,
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    changes TEXT NOT NULL,
    PRIMARY KEY (chain_id, seq)
);
CREATE UNIQUE INDEX audit_records_id ON audit_records (id);
CREATE INDEX audit_records_correlation ON audit_records (chain_id, correlation_id);
CREATE INDEX audit_records_entity ON audit_records (chain_id, entity_id);

-- The head of each chain, read and advanced in the transaction that appends; on PostgreSQL
-- its row lock serializes the appends of one chain while other chains proceed.
CREATE TABLE audit_chains (
    chain_id TEXT NOT NULL PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    checkpointed_seq BIGINT NOT NULL
);

-- Authenticated snapshots of chain heads: deleting the newest records is detected because
-- a checkpoint names a sequence number and hash that no longer exist.
CREATE TABLE audit_checkpoints (
    chain_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    created TEXT NOT NULL,
    mac TEXT NOT NULL,
    PRIMARY KEY (chain_id, seq)
);
