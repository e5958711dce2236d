/* The pasarela command line: serve, migrate, audit verify, ledger check, version. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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
#include "ledger/ledger.h"
#include "providers/accounts.h"
#include "providers/http_client.h"
#include "providers/sandbox.h"
#include "webhooks/webhooks.h"

#define ADMIN_KEY_FILE "admin.key"
#define MASTER_KEY_FILE "master.key"

static const char usage[] =
    "usage: pasarela <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve          run the HTTP API\n"
    "  migrate        bring the store's schema up to date\n"
    "  audit verify   prove the audit trail intact, or name the first broken record\n"
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

static bool write_secret_file(const char *dir, const char *name, const char *value)
{
    char path[CONFIG_PATH_BYTES + 32];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        return false;
    }
    size_t len = strlen(value);
    bool ok = write(fd, value, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    return close(fd) == 0 && ok;
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
        if (!write_secret_file(cfg->data_dir, MASTER_KEY_FILE, b64) || !load_master_key(cfg)) {
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
    if (!write_secret_file(cfg->data_dir, ADMIN_KEY_FILE, key)) {
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
    static struct job_kind kinds[3];
    kinds[0] = sandbox_job_kind;
    kinds[1] = webhook_job_kind;
    kinds[2] = ledger_release_job_kind;
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
    int threads = cfg.http_threads ? cfg.http_threads : default_threads();
    struct app app = {.cfg = &cfg, .routes = api_routes, .nroutes = api_routes_count};
    crypto_sha256(cfg.admin_key, strlen(cfg.admin_key), app.admin_key_sha256);
    audit_derive_key(cfg.master_key, MASTER_KEY_BYTES, app.audit_key);
    sandbox_derive_webhook_key(cfg.master_key, MASTER_KEY_BYTES, app.sandbox_webhook_key);
    accounts_derive_key(cfg.master_key, MASTER_KEY_BYTES, app.secrets_key);
    http_client_global_init();

    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL); /* threads started below inherit the mask */
    signal(SIGPIPE, SIG_IGN);

    if (!open_store(&cfg, threads + cfg.workers + 2, true, &app.store)) {
        return 1;
    }
    size_t nkinds;
    const struct job_kind *kinds = job_kinds(&nkinds);
    app.jobs = jobs_start(&app, kinds, nkinds, cfg.workers);
    struct server *server;
    struct perr err;
    if (server_start(&app, threads, &server, &err) != PERR_OK) {
        jobs_stop(app.jobs);
        store_close(app.store);
        return fail("%s", err.message);
    }
    log_emit(LOG_INFO, "listening",
             json_pack("{s:s, s:i, s:s, s:i, s:s, s:b}", "host", cfg.listen_host, "port",
                       server_port(server), "data", cfg.data_dir, "threads", threads, "version",
                       PASARELA_VERSION, "demo", cfg.demo));
    fflush(stdout);
    wait_for_stop(&app, &signals);
    server_stop(server);
    jobs_stop(app.jobs);
    checkpoint(&app);
    store_close(app.store);
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
    uint8_t key[SHA256_BYTES];
    audit_derive_key(cfg.master_key, MASTER_KEY_BYTES, key);
    enum perr_code rc = audit_verify(st, key, cfg.tenant[0] ? cfg.tenant : NULL, &v, &err);
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
