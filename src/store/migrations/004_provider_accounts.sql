-- A tenant's (or, with owner 'platform', the operator's) account at a provider: its mode,
-- its non-secret settings, and its secrets sealed with AES-256-GCM under a key derived from
-- the master key (never stored in clear), with masked hints for display.
CREATE TABLE provider_accounts (
    owner TEXT NOT NULL,
    provider TEXT NOT NULL,
    mode TEXT NOT NULL,
    is_default INTEGER NOT NULL,
    config TEXT NOT NULL,
    secrets TEXT NOT NULL,
    hints TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (owner, provider)
);
