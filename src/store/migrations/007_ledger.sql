-- The double-entry ledger (docs/ledger.md). A journal transaction has two or more entries
-- that sum to zero, is never changed once written, and names its cause; (tenant, cause type,
-- cause id, kind) is unique, so every cause posts once however often it is reported.
-- ledger_accounts caches each account's balance, updated in the transaction that writes the
-- entry; `pasarela ledger check` proves the cache equal to the sum of the entries.
ALTER TABLE payments ADD COLUMN account_mode TEXT NOT NULL DEFAULT 'platform';
-- Payments that moved on before the ledger existed have no postings, and get none later:
-- their mode is 'legacy'. Pending ones are posted like any other when they are approved.
UPDATE payments SET account_mode = 'legacy' WHERE status <> 'pending';
ALTER TABLE tenants ADD COLUMN settlement_delay_seconds BIGINT NOT NULL DEFAULT 0;

CREATE TABLE ledger_accounts (
    owner TEXT NOT NULL,
    currency TEXT NOT NULL,
    kind TEXT NOT NULL,
    balance BIGINT NOT NULL,
    PRIMARY KEY (owner, currency, kind)
);

CREATE TABLE ledger_transactions (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    currency TEXT NOT NULL,
    kind TEXT NOT NULL,
    cause_type TEXT NOT NULL,
    cause_id TEXT NOT NULL,
    payment_id TEXT,
    account_mode TEXT NOT NULL,
    volume BIGINT NOT NULL,
    correlation_id TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX ledger_transactions_cause
    ON ledger_transactions (tenant_id, cause_type, cause_id, kind);
CREATE INDEX ledger_transactions_payment ON ledger_transactions (tenant_id, payment_id);
CREATE INDEX ledger_transactions_created ON ledger_transactions (created);

CREATE TABLE ledger_entries (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    account_owner TEXT NOT NULL,
    account TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ledger_entries_transaction ON ledger_entries (tenant_id, transaction_id);
CREATE INDEX ledger_entries_account ON ledger_entries (account_owner, currency, account);

CREATE TABLE payouts (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    reference TEXT,
    failure_reason TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX payouts_id ON payouts (id);
CREATE INDEX payouts_status ON payouts (status, id);
