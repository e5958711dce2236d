-- Keys that must outlive a rotation of the master key (the audit key, the sandbox's webhook
-- key), each sealed under the secrets key derived from the master key; src/keys/keyring.h.
-- `sealed` is "v2:<key id>:" + base64, like every sealed value.
CREATE TABLE keyring (
    name TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    created TEXT NOT NULL
);
