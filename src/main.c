/* The pasarela command line: serve, migrate, audit verify, ledger check, rotate-master-key,
 * version. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "audit/audit.h"
#include "core/common.h"
#include "core/crypto.h"
#include "core/ids.h"
#include "core/log.h"
#include "http/idempotency.h"
#include "http/server.h"
#include "jobs/jobs.h"
#include "keys/keyring.h"
#include "ledger/ledger.h"
#include "providers/accounts.h"
#include "providers/breaker.h"
#include "providers/http_client.h"
#include "providers/oauth.h"
#include "providers/sandbox.h"
#include "webhooks/webhooks.h"

#define ADMIN_KEY_FILE "admin.key"
#define MASTER_KEY_FILE "master.key"
#define NEW_MASTER_KEY_FILE "master.key.new" /* the new key, until it replaces master.key */
#define LOCK_FILE "pasarela.lock"
/* A new master key with fewer distinct byte values than this is not random (32 random bytes
 * have about 30; fewer than 16 happens with probability below 2^-90). */
#define MASTER_KEY_MIN_DISTINCT_BYTES 16

static const char usage[] =
    "usage: pasarela <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve          run the HTTP API\n"
    "  migrate        bring the store's schema up to date\n"
    "  audit verify   prove the audit trail intact, or name the first broken record\n"
    "  rotate-master-key\n"
    "                 re-seal every secret under a new master key (server stopped)\n"
    "  ledger check   prove the ledger's invariants over the whole store\n"
    "  version        print the version\n"
    "\n"
    "`pasarela <command> --help` tells more about each.\n";

static const char serve_help[] =
    "usage: pasarela serve [--listen HOST:PORT] [--data DIR] [--demo] [--threads N]\n"
    "                      [--public-url URL] [--log LEVEL] [--audit-checkpoint-seconds N]\n"
    "\n"
    "Serves the API. Needs PASARELA_ADMIN_KEY (at least 32 characters) and\n"
    "PASARELA_MASTER_KEY (base64 of 32 bytes: openssl rand -base64 32), unless --demo,\n"
    "which generates both into the data directory (mode 0600) and prints the admin key once.\n"
    "Defaults: --listen 127.0.0.1:8080, --data ./data. Flags beat PASARELA_* variables.\n";

static const char migrate_help[] =
    "usage: pasarela migrate [--data DIR]\n"
    "\n"
    "Applies the store's pending migrations and prints the schema version. Safe to run\n"
    "again; works while the server is stopped.\n";

static const char audit_help[] =
    "usage: pasarela audit verify [--data DIR] [--tenant ID]\n"
    "\n"
    "Walks every audit chain (or one tenant's) and its checkpoints. Exit 0 with a summary\n"
    "when intact; exit 1 naming the first broken record otherwise. Needs the master key\n"
    "(PASARELA_MASTER_KEY, or the demo's key file in the data directory).\n";

static const char rotate_help[] =
    "usage: PASARELA_NEW_MASTER_KEY=... pasarela rotate-master-key [--data DIR]\n"
    "\n"
    "Re-seals every secret kept in the store (provider credentials and webhook secrets, the\n"
    "keyring holding the audit and sandbox keys) from the current master key\n"
    "(PASARELA_MASTER_KEY, or the demo's key file in the data directory) to the new one\n"
    "(PASARELA_NEW_MASTER_KEY: base64 of 32 random bytes, openssl rand -base64 32), in one\n"
    "transaction: all or nothing. The audit trail keeps verifying: its key is in the keyring.\n"
    "When the demo's key file holds the current key, it is replaced with the new one.\n"
    "Refuses while a server runs on the data directory. Exit 0 when rotated; 1 when a value\n"
    "cannot be unsealed with the current key (it is named; nothing changed); 2 when it cannot\n"
    "run (no or bad key, the same key twice, a server running).\n"
    "Afterwards start the server with the new key; keep the old one until you have checked.\n";
static const char ledger_help[] =
    "usage: pasarela ledger check [--data DIR]\n"
    "\n"
    "Proves the ledger's invariants over the whole store: every transaction has two or more\n"
    "entries summing to zero, every cached balance equals its entries, no pending, available\n"
    "or in-transit balance is below zero, every approved payment is posted exactly once with\n"
    "its refunds and chargeback, every payout as its state says. Exit 0 with a summary when\n"
    "all hold; exit 1 listing the problems otherwise. Works while the server is stopped.\n";

static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return true;
        }
    }
    return false;
}

static int fail(const char *fmt, const char *detail)
{
    fprintf(stderr, "pasarela: ");
    fprintf(stderr, fmt, detail);
    fputc('\n', stderr);
    return 2;
}

static bool load_config(struct config *cfg, int argc, char **argv)
{
    struct perr err;
    if (config_load(cfg, argc, argv, getenv, &err) != PERR_OK) {
        fail("%s", err.message);
        return false;
    }
    log_set_level(cfg->log_level);
    return true;
}

/* Reads a small secret file of the data directory into out (trailing newline removed). */
static bool read_secret_file(const char *dir, const char *name, char *out, size_t size)
{
    char path[CONFIG_PATH_BYTES + 32];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        return false;
    }
    bool ok = fgets(out, (int)size, f) != NULL;
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return ok && out[0];
}

/* Writes a new secret file (mode 0600); with replace, one left over is overwritten. */
static bool write_secret_file(const char *dir, const char *name, const char *value, bool replace)
{
    char path[CONFIG_PATH_BYTES + 32];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | (replace ? O_TRUNC : O_EXCL), 0600);
    if (fd < 0) {
        return false;
    }
    size_t len = strlen(value);
    bool ok = fchmod(fd, 0600) == 0 && write(fd, value, len) == (ssize_t)len &&
              write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    return close(fd) == 0 && ok;
}

/* serve holds a shared lock on DIR/pasarela.lock while it runs, rotate-master-key an
 * exclusive one: rotation refuses while any server uses the directory, and no server starts
 * during a rotation. Returns the open descriptor (closing it releases the lock), or -1 after
 * saying why (busy: what a held lock means). */
static int lock_data_dir(const char *dir, bool exclusive, const char *busy)
{
    char path[CONFIG_PATH_BYTES + 32];
    snprintf(path, sizeof(path), "%s/" LOCK_FILE, dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fail("cannot create the data directory %s", dir);
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fail("cannot open the lock file %s", path);
        return -1;
    }
    if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        fail(e == EWOULDBLOCK ? busy : "cannot lock %s", e == EWOULDBLOCK ? dir : path);
        return -1;
    }
    return fd;
}

/* The master key from the environment, else from the demo's key file. */
static bool load_master_key(struct config *cfg)
{
    char b64[128];
    if (cfg->has_master_key) {
        return true;
    }
    if (read_secret_file(cfg->data_dir, MASTER_KEY_FILE, b64, sizeof(b64)) &&
        config_parse_master_key(b64, cfg->master_key)) {
        cfg->has_master_key = true;
    }
    return cfg->has_master_key;
}

/* --demo: the admin and master keys from the data directory, generated on first use. */
static bool prepare_demo_keys(struct config *cfg)
{
    if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
        fail("cannot create the data directory %s", cfg->data_dir);
        return false;
    }
    if (!cfg->has_master_key && !load_master_key(cfg)) {
        uint8_t key[MASTER_KEY_BYTES];
        char b64[64];
        crypto_random(key, sizeof(key));
        base64_encode(key, sizeof(key), b64);
        if (!write_secret_file(cfg->data_dir, MASTER_KEY_FILE, b64, false) ||
            !load_master_key(cfg)) {
            fail("cannot write %s/" MASTER_KEY_FILE, cfg->data_dir);
            return false;
        }
    }
    if (cfg->admin_key[0]) {
        return true;
    }
    if (read_secret_file(cfg->data_dir, ADMIN_KEY_FILE, cfg->admin_key, sizeof(cfg->admin_key))) {
        printf("demo: the admin key is in %s/" ADMIN_KEY_FILE "\n", cfg->data_dir);
        fflush(stdout);
        return true;
    }
    char key[LIMIT_SECRET_BYTES + 8];
    memcpy(key, "admin_", 6);
    base62_random(key + 6, SECRET_RANDOM_CHARS);
    if (!write_secret_file(cfg->data_dir, ADMIN_KEY_FILE, key, false)) {
        fail("cannot write %s/" ADMIN_KEY_FILE, cfg->data_dir);
        return false;
    }
    str_copy(cfg->admin_key, sizeof(cfg->admin_key), key);
    printf("demo: generated the admin key (shown once, kept in %s/" ADMIN_KEY_FILE "):\n  %s\n",
           cfg->data_dir, key);
    fflush(stdout); /* before the server answers anyone */
    return true;
}

static bool check_serve_keys(struct config *cfg)
{
    bool weak = strlen(cfg->admin_key) < LIMIT_ADMIN_KEY_MIN;
    if (cfg->demo && (!cfg->admin_key[0] || !weak)) {
        return prepare_demo_keys(cfg);
    }
    if (weak) {
        fail("%s", cfg->admin_key[0]
                       ? "PASARELA_ADMIN_KEY is too weak: use at least 32 random characters "
                         "(openssl rand -hex 32), or run with --demo"
                       : "PASARELA_ADMIN_KEY is not set: set it to at least 32 random characters "
                         "(openssl rand -hex 32), or run with --demo");
        return false;
    }
    if (!load_master_key(cfg)) {
        fail("%s", "PASARELA_MASTER_KEY is not set: set it to the base64 of 32 random bytes "
                   "(openssl rand -base64 32), or run with --demo");
        return false;
    }
    return true;
}

static int default_threads(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long n = cores > 0 ? cores * 16 : 16;
    return (int)(n < 8 ? 8 : n > 64 ? 64 : n);
}

static bool open_store(const struct config *cfg, int nconns, bool migrate, struct store **st)
{
    struct perr err;
    int applied;
    if (store_open(cfg->data_dir, nconns, st, &err) != PERR_OK) {
        fail("cannot open the store: %s", err.message[0] ? err.message : "see the log");
        return false;
    }
    if (migrate && store_migrate(*st, &applied, &err) != PERR_OK) {
        fail("cannot migrate the store: %s", err.message[0] ? err.message : "see the log");
        store_close(*st);
        return false;
    }
    return true;
}

static const struct job_kind *job_kinds(size_t *count)
{
    static struct job_kind kinds[4];
    kinds[0] = sandbox_job_kind;
    kinds[1] = webhook_job_kind;
    kinds[2] = oauth_refresh_job_kind;
    kinds[3] = ledger_release_job_kind;
    *count = ARRAY_LEN(kinds);
    return kinds;
}

/* Periodic housekeeping: audit checkpoints, expired idempotency keys. */
static void checkpoint(struct app *app)
{
    idempotency_expire(app->store);

    struct perr err;
    int written;
    if (audit_checkpoint(app->store, app->audit_key, &written, &err) != PERR_OK) {
        log_msg(LOG_ERROR, "audit checkpoint failed: %s", err.message);
    } else if (written > 0) {
        log_emit(LOG_DEBUG, "audit checkpoint", json_pack("{s:i}", "chains", written));
    }
}

/* Waits for SIGTERM or SIGINT, checkpointing the audit chains every interval meanwhile. */
static void wait_for_stop(struct app *app, const sigset_t *signals)
{
    struct timespec interval = {.tv_sec = app->cfg->audit_checkpoint_s};
    for (;;) {
        int sig = sigtimedwait(signals, NULL, &interval);
        if (sig == SIGTERM || sig == SIGINT) {
            log_msg(LOG_INFO, "received %s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            return;
        }
        if (sig < 0 && errno == EAGAIN) {
            checkpoint(app);
        }
    }
}

/* The keys the server works with, from the store's keyring (initialised on the first start);
 * refuses, naming the key ids, a master key that is not the one the store was sealed with. */
static bool open_keyring(struct app *app, char key_id[CRYPTO_KID_BYTES])
{
    struct keyring kr;
    struct perr err;
    enum perr_code rc = keyring_open(app->store, app->cfg->master_key, true, &kr, &err);
    if (rc != PERR_OK) {
        fail(rc == PERR_CONFLICT
                 ? "the master key does not open this data directory: %s. Start with the master "
                   "key that sealed it (after rotate-master-key, the new one)"
                 : "cannot open the keyring: %s",
             err.message);
        return false;
    }
    memcpy(app->audit_key, kr.audit_key, SHA256_BYTES);
    memcpy(app->sandbox_webhook_key, kr.sandbox_webhook_key, SHA256_BYTES);
    memcpy(app->secrets_key, kr.secrets_key, SHA256_BYTES);
    str_copy(key_id, CRYPTO_KID_BYTES, kr.key_id);
    keyring_release(&kr);
    return true;
}

static int cmd_serve(int argc, char **argv)
{
    struct config cfg;
    if (wants_help(argc, argv)) {
        fputs(serve_help, stdout);
        return 0;
    }
    if (!load_config(&cfg, argc, argv) || !check_serve_keys(&cfg)) {
        return 2;
    }
    int lock = lock_data_dir(cfg.data_dir, false,
                             "%s is being re-sealed by rotate-master-key: start the server when it "
                             "has finished, with the new master key");
    if (lock < 0) {
        return 2;
    }
    int threads = cfg.http_threads ? cfg.http_threads : default_threads();
    struct app app = {.cfg = &cfg, .routes = api_routes, .nroutes = api_routes_count};
    crypto_sha256(cfg.admin_key, strlen(cfg.admin_key), app.admin_key_sha256);
    http_client_global_init();
    app.breakers = breakers_new(cfg.breaker_failures, cfg.breaker_cooldown_ms);

    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL); /* threads started below inherit the mask */
    signal(SIGPIPE, SIG_IGN);

    if (!open_store(&cfg, threads + cfg.workers + 2, true, &app.store)) {
        breakers_free(app.breakers);
        close(lock);
        return 1;
    }
    char key_id[CRYPTO_KID_BYTES];
    if (!open_keyring(&app, key_id)) {
        store_close(app.store);
        breakers_free(app.breakers);
        close(lock);
        return 2;
    }
    size_t nkinds;
    const struct job_kind *kinds = job_kinds(&nkinds);
    app.jobs = jobs_start(&app, kinds, nkinds, cfg.workers);
    struct server *server;
    struct perr err;
    if (server_start(&app, &server, &err) != PERR_OK) {
        jobs_stop(app.jobs);
        store_close(app.store);
        breakers_free(app.breakers);
        close(lock);
        return fail("%s", err.message);
    }
    log_emit(LOG_INFO, "listening",
             json_pack("{s:s, s:i, s:s, s:i, s:s, s:b, s:s}", "host", cfg.listen_host, "port",
                       server_port(server), "data", cfg.data_dir, "threads", threads, "version",
                       PASARELA_VERSION, "demo", cfg.demo, "master_key_id", key_id));
    fflush(stdout);
    wait_for_stop(&app, &signals);
    server_stop(server);
    jobs_stop(app.jobs);
    checkpoint(&app);
    store_close(app.store);
    breakers_free(app.breakers);
    crypto_wipe(app.audit_key, sizeof(app.audit_key));
    crypto_wipe(app.sandbox_webhook_key, sizeof(app.sandbox_webhook_key));
    crypto_wipe(app.secrets_key, sizeof(app.secrets_key));
    close(lock);
    log_msg(LOG_INFO, "stopped");
    return 0;
}

static int cmd_migrate(int argc, char **argv)
{
    struct config cfg;
    struct store *st;
    struct perr err;
    int applied;
    if (wants_help(argc, argv)) {
        fputs(migrate_help, stdout);
        return 0;
    }
    if (!load_config(&cfg, argc, argv) || !open_store(&cfg, 1, false, &st)) {
        return 2;
    }
    enum perr_code rc = store_migrate(st, &applied, &err);
    if (rc == PERR_OK) {
        printf("schema version %d (%d migration%s applied)\n", store_schema_version(st), applied,
               applied == 1 ? "" : "s");
    }
    store_close(st);
    return rc == PERR_OK ? 0 : fail("migration failed: %s", err.message);
}

static int cmd_audit(int argc, char **argv)
{
    struct config cfg;
    struct store *st;
    struct perr err;
    struct audit_verdict v;
    if (argc < 1 || wants_help(argc, argv) || strcmp(argv[0], "verify") != 0) {
        fputs(audit_help, argc < 1 || wants_help(argc, argv) ? stdout : stderr);
        return argc < 1 || wants_help(argc, argv) ? 0 : 2;
    }
    if (!load_config(&cfg, argc - 1, argv + 1)) {
        return 2;
    }
    if (!load_master_key(&cfg)) {
        return fail("%s", "audit verify needs the master key: set PASARELA_MASTER_KEY");
    }
    if (!open_store(&cfg, 1, false, &st)) {
        return 2;
    }
    struct keyring kr;
    enum perr_code rc = keyring_open(st, cfg.master_key, false, &kr, &err);
    if (rc != PERR_OK) {
        store_close(st);
        return fail("cannot open the keyring: %s", err.message);
    }
    rc = audit_verify(st, kr.audit_key, cfg.tenant[0] ? cfg.tenant : NULL, &v, &err);
    keyring_release(&kr);
    store_close(st);
    if (rc != PERR_OK) {
        return fail("cannot read the audit trail: %s", err.message);
    }
    if (v.intact) {
        printf("audit: intact: %lld chain%s, %lld records, %lld checkpoints verified\n",
               (long long)v.chains, v.chains == 1 ? "" : "s", (long long)v.records,
               (long long)v.checkpoints);
        return 0;
    }
    printf("audit: BROKEN: chain %s, record %lld: %s: %s\n", v.chain_id, (long long)v.seq,
           v.problem, v.detail);
    return 1;
}

/* The new master key from PASARELA_NEW_MASTER_KEY (the environment keeps it out of process
 * listings): well formed, random-looking, and not the current key. */
static bool read_new_master_key(const struct config *cfg, uint8_t out[MASTER_KEY_BYTES])
{
    const char *b64 = getenv("PASARELA_NEW_MASTER_KEY");
    if (!b64 || !*b64) {
        fail("%s", "PASARELA_NEW_MASTER_KEY is not set: set it to the base64 of 32 random bytes "
                   "(openssl rand -base64 32)");
        return false;
    }
    if (!config_parse_master_key(b64, out)) {
        fail("%s", "PASARELA_NEW_MASTER_KEY must be the base64 of exactly 32 bytes "
                   "(openssl rand -base64 32)");
        return false;
    }
    bool seen[256] = {0};
    int distinct = 0;
    for (size_t i = 0; i < MASTER_KEY_BYTES; i++) {
        distinct += !seen[out[i]];
        seen[out[i]] = true;
    }
    const char *problem =
        distinct < MASTER_KEY_MIN_DISTINCT_BYTES
            ? "PASARELA_NEW_MASTER_KEY is too weak: it does not look like random bytes; make "
              "one with openssl rand -base64 32"
        : crypto_equal(out, cfg->master_key, MASTER_KEY_BYTES)
            ? "PASARELA_NEW_MASTER_KEY is the current master key: rotate to a new one"
            : NULL;
    if (problem) {
        crypto_wipe(out, MASTER_KEY_BYTES);
        fail("%s", problem);
        return false;
    }
    return true;
}

/* True when the demo's key file in dir holds key. */
static bool key_file_holds(const char *dir, const uint8_t key[MASTER_KEY_BYTES])
{
    char b64[128];
    uint8_t stored[MASTER_KEY_BYTES];
    bool same = read_secret_file(dir, MASTER_KEY_FILE, b64, sizeof(b64)) &&
                config_parse_master_key(b64, stored) && crypto_equal(stored, key, MASTER_KEY_BYTES);
    crypto_wipe(b64, sizeof(b64));
    crypto_wipe(stored, sizeof(stored));
    return same;
}

/* Moves the new key file over the demo's key file, durably. */
static bool replace_key_file(const char *dir)
{
    char from[CONFIG_PATH_BYTES + 32], to[CONFIG_PATH_BYTES + 32];
    snprintf(from, sizeof(from), "%s/" NEW_MASTER_KEY_FILE, dir);
    snprintf(to, sizeof(to), "%s/" MASTER_KEY_FILE, dir);
    if (rename(from, to) != 0) {
        return false;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool ok = fd >= 0 && fsync(fd) == 0;
    return (fd < 0 || close(fd) == 0) && ok;
}

static void print_rotation(const struct config *cfg, const struct keyring_rotation *rep,
                           bool key_file)
{
    printf("rotate-master-key: master key id %s -> %s\n", rep->old_key_id, rep->new_key_id);
    for (size_t i = 0; i < rep->ncolumns; i++) {
        printf("  re-sealed %lld value%s of %s\n", (long long)rep->columns[i].resealed,
               rep->columns[i].resealed == 1 ? "" : "s", rep->columns[i].column);
    }
    if (key_file) {
        printf("  %s/" MASTER_KEY_FILE " now holds the new key\n", cfg->data_dir);
    }
    printf("Start the server with the new master key; keep the old one until you have checked "
           "that it serves and `audit verify` passes.\n");
}

/* Re-seals the store under new_key; when the demo's key file holds the current key, the new
 * key is written beside it first (master.key.new: a crash after the commit leaves it there)
 * and moved over it after the commit. */
static int rotate(const struct config *cfg, const uint8_t new_key[MASTER_KEY_BYTES])
{
    char path[CONFIG_PATH_BYTES + 32], b64[64];
    snprintf(path, sizeof(path), "%s/" NEW_MASTER_KEY_FILE, cfg->data_dir);
    bool key_file = key_file_holds(cfg->data_dir, cfg->master_key);
    base64_encode(new_key, MASTER_KEY_BYTES, b64);
    bool written = !key_file || write_secret_file(cfg->data_dir, NEW_MASTER_KEY_FILE, b64, true);
    crypto_wipe(b64, sizeof(b64));
    if (!written) {
        return fail("cannot write %s", path);
    }
    struct store *st;
    struct keyring_rotation rep;
    struct perr err;
    enum perr_code rc = PERR_STORE_UNAVAILABLE;
    if (open_store(cfg, 1, true, &st)) {
        rc = keyring_rotate(st, cfg->master_key, new_key, &rep, &err);
        store_close(st);
        if (rc != PERR_OK) {
            fail("nothing was changed: %s", err.message);
        }
    }
    if (rc != PERR_OK) {
        if (key_file) {
            unlink(path);
        }
        return rc == PERR_CONFLICT ? 1 : 2;
    }
    if (key_file && !replace_key_file(cfg->data_dir)) {
        return fail("the store is re-sealed under the new key, but it could not be moved over "
                    "the key file: rename %s to " MASTER_KEY_FILE " by hand",
                    path);
    }
    print_rotation(cfg, &rep, key_file);
    return 0;
}

static int cmd_rotate(int argc, char **argv)
{
    struct config cfg;
    uint8_t new_key[MASTER_KEY_BYTES];
    if (wants_help(argc, argv)) {
        fputs(rotate_help, stdout);
        return 0;
    }
    if (!load_config(&cfg, argc, argv)) {
        return 2;
    }
    if (!load_master_key(&cfg)) {
        return fail("%s",
                    "rotate-master-key needs the current master key: set "
                    "PASARELA_MASTER_KEY (or keep the demo's key file in the data directory)");
    }
    if (!read_new_master_key(&cfg, new_key)) {
        return 2;
    }
    int lock = lock_data_dir(cfg.data_dir, true,
                             "a server is running on %s (it holds its " LOCK_FILE
                             "): stop it before rotating the master key");
    int code = lock < 0 ? 2 : rotate(&cfg, new_key);
    if (lock >= 0) {
        close(lock);
    }
    crypto_wipe(new_key, sizeof(new_key));
    crypto_wipe(cfg.master_key, sizeof(cfg.master_key));
    return code;
}

static int cmd_ledger(int argc, char **argv)
{
    struct config cfg;
    struct store *st;
    struct perr err;
    struct ledger_check_report r;
    if (argc < 1 || wants_help(argc, argv) || strcmp(argv[0], "check") != 0) {
        fputs(ledger_help, argc < 1 || wants_help(argc, argv) ? stdout : stderr);
        return argc < 1 || wants_help(argc, argv) ? 0 : 2;
    }
    if (!load_config(&cfg, argc - 1, argv + 1) || !open_store(&cfg, 1, false, &st)) {
        return 2;
    }
    enum perr_code rc = ledger_check(st, &r, &err);
    store_close(st);
    if (rc != PERR_OK) {
        return fail("cannot read the ledger: %s", err.message);
    }
    if (r.problems_total == 0) {
        printf("ledger: consistent: %lld transactions, %lld entries, %lld accounts, %lld "
               "payments, %lld payouts\n",
               (long long)r.transactions, (long long)r.entries, (long long)r.accounts,
               (long long)r.payments, (long long)r.payouts);
        return 0;
    }
    printf("ledger: INCONSISTENT: %lld problem%s found\n", (long long)r.problems_total,
           r.problems_total == 1 ? "" : "s");
    for (size_t i = 0; i < r.nproblems; i++) {
        printf("  %s\n", r.problems[i]);
    }
    if ((int64_t)r.nproblems < r.problems_total) {
        printf("  ... and more (at most %d are read per invariant)\n",
               LEDGER_CHECK_PROBLEMS_MAX + 1);
    }
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0) {
        return cmd_serve(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "migrate") == 0) {
        return cmd_migrate(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "audit") == 0) {
        return cmd_audit(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "rotate-master-key") == 0) {
        return cmd_rotate(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "ledger") == 0) {
        return cmd_ledger(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("pasarela %s\n", PASARELA_VERSION);
        return 0;
    }
    fprintf(stderr, "pasarela: unknown command '%s'\n\n%s", cmd, usage);
    return 2;
}
