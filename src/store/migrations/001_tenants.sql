-- Tenants and their API keys. Times are RFC 3339 UTC text; ids are prefixed random strings
-- that sort by creation time.
CREATE TABLE tenants (
    id TEXT NOT NULL PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    plan TEXT NOT NULL,
    limits TEXT NOT NULL,
    platform_fee_bps INTEGER NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);

CREATE TABLE tenant_keys (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    lookup_prefix TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    last4 TEXT NOT NULL,
    created TEXT NOT NULL,
    revoked TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX tenant_keys_id ON tenant_keys (id);
CREATE INDEX tenant_keys_lookup ON tenant_keys (lookup_prefix);
