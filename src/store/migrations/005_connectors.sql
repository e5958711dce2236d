-- Connectors: the account each payment went through (a tenant's own, by the tenant's id, or
-- the operator's, 'platform'), a lookup of payments by pasarela's id alone (providers give it
-- back as their external reference), and the single-use OAuth states of account connections.
ALTER TABLE payments ADD COLUMN provider_account TEXT NOT NULL DEFAULT 'platform';
CREATE INDEX payments_id ON payments (id);

CREATE TABLE oauth_states (
    nonce TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    return_url TEXT,
    expires_us BIGINT NOT NULL,
    used_us BIGINT
);
