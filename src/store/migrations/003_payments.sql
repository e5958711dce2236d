-- Payments, their transitions, refunds, the tenant's event stream, idempotency keys, monthly
-- volume counters, the durable job queue, the webhook inbox, security events, and the
-- built-in sandbox provider's own records. Amounts are BIGINT minor units.
CREATE TABLE payments (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    status_detail TEXT NOT NULL,
    provider TEXT NOT NULL,
    provider_payment_id TEXT,
    checkout_url TEXT,
    description TEXT,
    customer TEXT NOT NULL,
    external_reference TEXT,
    metadata TEXT NOT NULL,
    amount_refunded BIGINT NOT NULL,
    refund_reserved BIGINT NOT NULL,
    provider_fee BIGINT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX payments_provider_ref ON payments (provider, provider_payment_id);
CREATE INDEX payments_tenant_status ON payments (tenant_id, status, id);

CREATE TABLE payment_transitions (
    tenant_id TEXT NOT NULL,
    payment_id TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    cause TEXT NOT NULL,
    detail TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE INDEX payment_transitions_payment ON payment_transitions (tenant_id, payment_id);

CREATE TABLE refunds (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    payment_id TEXT NOT NULL,
    amount BIGINT NOT NULL,
    status TEXT NOT NULL,
    provider_refund_id TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX refunds_payment ON refunds (tenant_id, payment_id);

CREATE TABLE events (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    data TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE idempotency_keys (
    tenant_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    state TEXT NOT NULL,
    status INTEGER,
    response TEXT,
    created_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_us);

CREATE TABLE tenant_volume (
    tenant_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    month TEXT NOT NULL,
    amount BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, currency, month)
);

CREATE TABLE jobs (
    id TEXT NOT NULL UNIQUE,
    tenant_id TEXT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    run_after_us BIGINT NOT NULL,
    last_error TEXT,
    correlation_id TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX jobs_due ON jobs (state, run_after_us);

CREATE TABLE webhook_inbox (
    provider TEXT NOT NULL,
    account TEXT NOT NULL,
    event_id TEXT NOT NULL,
    tenant_id TEXT,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    received TEXT NOT NULL,
    processed TEXT,
    PRIMARY KEY (provider, account, event_id)
);

CREATE TABLE security_events (
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    provider TEXT,
    tenant_id TEXT,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    created TEXT NOT NULL
);

CREATE TABLE sandbox_payments (
    id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    status_detail TEXT NOT NULL,
    fee BIGINT NOT NULL,
    amount_refunded BIGINT NOT NULL,
    external_reference TEXT NOT NULL,
    created_us BIGINT NOT NULL
);
CREATE INDEX sandbox_payments_created ON sandbox_payments (account, created_us);
