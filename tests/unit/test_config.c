/* Unit tests for core/config.h: defaults, environment over defaults, flags over environment,
 * both flag forms, and errors that name the offending flag or variable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/crypto.h"

/* The fake environment: a small table each test fills; anything not in it is unset. Values
 * are copied into writable storage because config_getenv_fn returns char *, like getenv. */
struct fake_var {
    const char *name;
    char value[512];
};

static struct fake_var fake_env[16];
static size_t fake_env_count;

static char *fake_getenv(const char *name)
{
    for (size_t i = 0; i < fake_env_count; i++) {
        if (strcmp(fake_env[i].name, name) == 0) {
            return fake_env[i].value;
        }
    }
    return NULL;
}

/* Sets or replaces name, like setenv. */
static void env_set(const char *name, const char *value)
{
    struct fake_var *v = NULL;
    for (size_t i = 0; i < fake_env_count && !v; i++) {
        v = strcmp(fake_env[i].name, name) == 0 ? &fake_env[i] : NULL;
    }
    if (!v) {
        PASSERT(fake_env_count < ARRAY_LEN(fake_env));
        v = &fake_env[fake_env_count++];
        v->name = name;
    }
    PASSERT(str_copy(v->value, sizeof(v->value), value));
}

static int env_reset(void **state)
{
    (void)state;
    fake_env_count = 0;
    return 0;
}

/* Loads a configuration from a NULL-terminated list of flags; argv strings are copied into
 * writable storage because config_load takes char **. */
static enum perr_code load(struct config *cfg, struct perr *err, const char *const *flags)
{
    static char storage[8][256];
    char *argv[8];
    int argc = 0;
    for (; flags && flags[argc]; argc++) {
        PASSERT(argc < 8);
        PASSERT(str_copy(storage[argc], sizeof(storage[argc]), flags[argc]));
        argv[argc] = storage[argc];
    }
    perr_clear(err);
    return config_load(cfg, argc, argv, fake_getenv, err);
}

/* A base64 master key of n bytes 0, 1, 2, ... */
static void master_key_b64(size_t n, char *out)
{
    uint8_t raw[64];
    PASSERT(n <= sizeof(raw));
    for (size_t i = 0; i < n; i++) {
        raw[i] = (uint8_t)i;
    }
    base64_encode(raw, n, out);
}

static void test_defaults(void **state)
{
    (void)state;
    struct config cfg;
    struct perr err;
    assert_int_equal(load(&cfg, &err, NULL), PERR_OK);
    assert_string_equal(cfg.listen_host, "127.0.0.1");
    assert_int_equal(cfg.listen_port, 8080);
    assert_string_equal(cfg.data_dir, "./data");
    assert_string_equal(cfg.public_url, "http://127.0.0.1:8080");
    assert_string_equal(cfg.admin_key, "");
    assert_false(cfg.has_master_key);
    assert_int_equal(cfg.log_level, LOG_INFO);
    assert_false(cfg.demo);
    assert_int_equal(cfg.http_threads, 0);
    assert_int_equal(cfg.audit_checkpoint_s, 60);
    assert_string_equal(cfg.tenant, "");
}

static void test_public_url_follows_listen(void **state)
{
    (void)state;
    struct config cfg;
    struct perr err;
    const char *flags[] = {"--listen", "0.0.0.0:9000", NULL};
    assert_int_equal(load(&cfg, &err, flags), PERR_OK);
    assert_string_equal(cfg.public_url, "http://0.0.0.0:9000");

    env_set("PASARELA_LISTEN", "[::1]:8443");
    assert_int_equal(load(&cfg, &err, NULL), PERR_OK);
    assert_string_equal(cfg.listen_host, "[::1]");
    assert_int_equal(cfg.listen_port, 8443);
    assert_string_equal(cfg.public_url, "http://[::1]:8443");
}

static void test_public_url_explicit_wins(void **state)
{
    (void)state;
    struct config cfg;
    struct perr err;
    env_set("PASARELA_PUBLIC_URL", "https://pay.example.com");
    const char *flags[] = {"--listen=0.0.0.0:9000", NULL};
    assert_int_equal(load(&cfg, &err, flags), PERR_OK);
    assert_string_equal(cfg.public_url, "https://pay.example.com");
}

static void test_env_beats_defaults(void **state)
{
    (void)state;
    struct config cfg;
    struct perr err;
    char key[64];
    master_key_b64(MASTER_KEY_BYTES, key);
    env_set("PASARELA_LISTEN", "10.0.0.1:9090");
    env_set("PASARELA_DATA", "/var/lib/pasarela");
    env_set("PASARELA_LOG", "debug");
    env_set("PASARELA_PUBLIC_URL", "https://gw.example.com");
    env_set("PASARELA_ADMIN_KEY", "an-admin-key-of-at-least-32-characters");
    env_set("PASARELA_MASTER_KEY", key);
    env_set("PASARELA_THREADS", "12");
    env_set("PASARELA_AUDIT_CHECKPOINT_SECONDS", "300");
    assert_int_equal(load(&cfg, &err, NULL), PERR_OK);
    assert_string_equal(cfg.listen_host, "10.0.0.1");
    assert_int_equal(cfg.listen_port, 9090);
    assert_string_equal(cfg.data_dir, "/var/lib/pasarela");
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    assert_string_equal(cfg.public_url, "https://gw.example.com");
    assert_string_equal(cfg.admin_key, "an-admin-key-of-at-least-32-characters");
    assert_true(cfg.has_master_key);
    assert_int_equal(cfg.http_threads, 12);
    assert_int_equal(cfg.audit_checkpoint_s, 300);
}

static void test_empty_env_is_unset(void **state)
{
    (void)state;
    struct config cfg;
    struct perr err;
    env_set("PASARELA_DATA", "");
    env_set("PASARELA_LISTEN", "");
    assert_int_equal(load(&cfg, &err, NULL), PERR_OK);
    assert_string_equal(cfg.data_dir, "./data");
    assert_int_equal(cfg.listen_port, 8080);
}

static void test_flag_beats_env(void **state)
{
    (void)state;
    struct config cfg;
    struct perr err;
    env_set("PASARELA_LISTEN", "10.0.0.1:9090");
    env_set("PASARELA_DATA", "/from/env");
    env_set("PASARELA_LOG", "error");
    const char *flags[] = {"--listen", "127.0.0.2:7000", "--data=/from/flag",
                           "--log",    "warn",           NULL};
    assert_int_equal(load(&cfg, &err, flags), PERR_OK);
    assert_string_equal(cfg.listen_host, "127.0.0.2");
    assert_int_equal(cfg.listen_port, 7000);
    assert_string_equal(cfg.data_dir, "/from/flag");
    assert_int_equal(cfg.log_level, LOG_WARN);
    assert_string_equal(cfg.public_url, "http://127.0.0.2:7000");
}

static void test_flag_forms(void **state)
{
    (void)state;
    struct config cfg;
    struct perr err;
    const char *separate[] = {"--data", "/a b", "--threads", "3", "--tenant", "ten_x", NULL};
    assert_int_equal(load(&cfg, &err, separate), PERR_OK);
    assert_string_equal(cfg.data_dir, "/a b");
    assert_int_equal(cfg.http_threads, 3);
    assert_string_equal(cfg.tenant, "ten_x");

    const char *inline_form[] = {"--data=/c=d", "--threads=4", "--audit-checkpoint-seconds=5",
                                 "--public-url=http://x.test", NULL};
    assert_int_equal(load(&cfg, &err, inline_form), PERR_OK);
    assert_string_equal(cfg.data_dir, "/c=d"); /* only the first '=' separates */
    assert_int_equal(cfg.http_threads, 4);
    assert_int_equal(cfg.audit_checkpoint_s, 5);
    assert_string_equal(cfg.public_url, "http://x.test");

    /* The last occurrence of a flag wins. */
    const char *twice[] = {"--data=/first", "--data", "/second", NULL};
    assert_int_equal(load(&cfg, &err, twice), PERR_OK);
    assert_string_equal(cfg.data_dir, "/second");
}

static void test_demo_switch(void **state)
{
    (void)state;
    struct config cfg;
    struct perr err;
    const char *flags[] = {"--demo", NULL};
    assert_int_equal(load(&cfg, &err, flags), PERR_OK);
    assert_true(cfg.demo);

    /* A switch takes no value. */
    const char *with_value[] = {"--demo=yes", NULL};
    assert_int_equal(load(&cfg, &err, with_value), PERR_PARAM_UNKNOWN);
    assert_string_equal(err.param, "--demo=yes");
}

static void test_unknown_flag(void **state)
{
    (void)state;
    struct config cfg;
    struct perr err;
    const char *flags[] = {"--data", "/d", "--bogus", "1", NULL};
    assert_int_equal(load(&cfg, &err, flags), PERR_PARAM_UNKNOWN);
    assert_int_equal(err.code, PERR_PARAM_UNKNOWN);
    assert_string_equal(err.param, "--bogus");
    assert_non_null(strstr(err.message, "--bogus"));

    /* A known flag's name with extra characters is not that flag. */
    const char *longer[] = {"--listener=1.2.3.4:5", NULL};
    assert_int_equal(load(&cfg, &err, longer), PERR_PARAM_UNKNOWN);
    assert_string_equal(err.param, "--listener=1.2.3.4:5");

    /* Environment-only settings have no flag. */
    const char *env_only[] = {"--master-key", "x", NULL};
    assert_int_equal(load(&cfg, &err, env_only), PERR_PARAM_UNKNOWN);
    assert_string_equal(err.param, "--master-key");
}

static void test_flag_without_value(void **state)
{
    (void)state;
    struct config cfg;
    struct perr err;
    const char *flags[] = {"--data", NULL};
    assert_int_equal(load(&cfg, &err, flags), PERR_PARAM_MISSING);
    assert_string_equal(err.param, "--data");

    const char *empty[] = {"--data=", NULL};
    assert_int_equal(load(&cfg, &err, empty), PERR_PARAM_INVALID);
    assert_string_equal(err.param, "--data");
}

static void expect_listen_rejected(const char *value)
{
    struct config cfg;
    struct perr err;
    const char *flags[] = {"--listen", value, NULL};
    assert_int_equal(load(&cfg, &err, flags), PERR_PARAM_INVALID);
    assert_string_equal(err.param, "--listen");
    assert_non_null(strstr(err.message, "--listen"));
}

static void test_bad_listen(void **state)
{
    (void)state;
    expect_listen_rejected("127.0.0.1:65536");
    expect_listen_rejected("127.0.0.1:99999999999999999999");
    expect_listen_rejected("127.0.0.1:-1");
    expect_listen_rejected("127.0.0.1:");
    expect_listen_rejected("127.0.0.1:80x");
    expect_listen_rejected("127.0.0.1");
    expect_listen_rejected(":8080");

    struct config cfg;
    struct perr err;
    const char *edge[] = {"--listen", "localhost:65535", NULL};
    assert_int_equal(load(&cfg, &err, edge), PERR_OK);
    assert_int_equal(cfg.listen_port, 65535);
    assert_string_equal(cfg.listen_host, "localhost");
}

static void test_bad_listen_env_names_variable(void **state)
{
    (void)state;
    struct config cfg;
    struct perr err;
    env_set("PASARELA_LISTEN", "127.0.0.1:70000");
    assert_int_equal(load(&cfg, &err, NULL), PERR_PARAM_INVALID);
    assert_string_equal(err.param, "PASARELA_LISTEN");
    assert_non_null(strstr(err.message, "PASARELA_LISTEN"));
}

static void test_bad_log_level(void **state)
{
    (void)state;
    struct config cfg;
    struct perr err;
    const char *flags[] = {"--log=verbose", NULL};
    assert_int_equal(load(&cfg, &err, flags), PERR_PARAM_INVALID);
    assert_string_equal(err.param, "--log");
    assert_non_null(strstr(err.message, "--log"));

    const char *upper[] = {"--log", "DEBUG", NULL};
    assert_int_equal(load(&cfg, &err, upper), PERR_PARAM_INVALID);
    assert_string_equal(err.param, "--log");

    env_set("PASARELA_LOG", "loud");
    assert_int_equal(load(&cfg, &err, NULL), PERR_PARAM_INVALID);
    assert_string_equal(err.param, "PASARELA_LOG");
    assert_non_null(strstr(err.message, "PASARELA_LOG"));
}

static void test_every_log_level(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        enum log_level level;
    } cases[] = {
        {"debug", LOG_DEBUG}, {"info", LOG_INFO}, {"warn", LOG_WARN}, {"error", LOG_ERROR}};
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct config cfg;
        struct perr err;
        const char *flags[] = {"--log", cases[i].name, NULL};
        assert_int_equal(load(&cfg, &err, flags), PERR_OK);
        assert_int_equal(cfg.log_level, cases[i].level);
    }
}

static void test_bad_numbers(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"--threads", "0"},
        {"--threads", "65"},
        {"--threads", "4x"},
        {"--threads", ""},
        {"--audit-checkpoint-seconds", "0"},
        {"--audit-checkpoint-seconds", "86401"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct config cfg;
        struct perr err;
        const char *flags[] = {bad[i][0], bad[i][1], NULL};
        assert_int_equal(load(&cfg, &err, flags), PERR_PARAM_INVALID);
        assert_string_equal(err.param, bad[i][0]);
    }
}

static void test_bad_public_url(void **state)
{
    (void)state;
    struct config cfg;
    struct perr err;
    const char *flags[] = {"--public-url", "ftp://x.test", NULL};
    assert_int_equal(load(&cfg, &err, flags), PERR_PARAM_INVALID);
    assert_string_equal(err.param, "--public-url");

    env_set("PASARELA_PUBLIC_URL", "pay.example.com");
    assert_int_equal(load(&cfg, &err, NULL), PERR_PARAM_INVALID);
    assert_string_equal(err.param, "PASARELA_PUBLIC_URL");
}

static void test_admin_key_too_long(void **state)
{
    (void)state;
    struct config cfg;
    struct perr err;
    char key[LIMIT_ADMIN_KEY_MAX + 2];
    memset(key, 'k', LIMIT_ADMIN_KEY_MAX);
    key[LIMIT_ADMIN_KEY_MAX] = '\0';
    env_set("PASARELA_ADMIN_KEY", key);
    assert_int_equal(load(&cfg, &err, NULL), PERR_OK);
    assert_int_equal(strlen(cfg.admin_key), LIMIT_ADMIN_KEY_MAX);

    key[LIMIT_ADMIN_KEY_MAX] = 'k';
    key[LIMIT_ADMIN_KEY_MAX + 1] = '\0';
    env_set("PASARELA_ADMIN_KEY", key);
    assert_int_equal(load(&cfg, &err, NULL), PERR_PARAM_INVALID);
    assert_string_equal(err.param, "PASARELA_ADMIN_KEY");
}

static void expect_master_key_rejected(const char *value)
{
    struct config cfg;
    struct perr err;
    env_set("PASARELA_MASTER_KEY", value);
    assert_int_equal(load(&cfg, &err, NULL), PERR_PARAM_INVALID);
    assert_string_equal(err.param, "PASARELA_MASTER_KEY");
    assert_non_null(strstr(err.message, "PASARELA_MASTER_KEY"));
    assert_false(cfg.has_master_key);

    uint8_t out[MASTER_KEY_BYTES];
    assert_false(config_parse_master_key(value, out));
}

static void test_bad_master_key(void **state)
{
    (void)state;
    char b64[128];
    expect_master_key_rejected("not base64 at all!!");
    expect_master_key_rejected("AAAA*AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="); /* 44, bad char */
    master_key_b64(16, b64);
    expect_master_key_rejected(b64);
    master_key_b64(31, b64);
    expect_master_key_rejected(b64);
    master_key_b64(33, b64);
    expect_master_key_rejected(b64);
    master_key_b64(48, b64);
    expect_master_key_rejected(b64);
    master_key_b64(MASTER_KEY_BYTES, b64);
    b64[strlen(b64) - 1] = '\0'; /* drop the padding: not a multiple of 4 */
    expect_master_key_rejected(b64);
}

static void test_valid_master_key(void **state)
{
    (void)state;
    char b64[64];
    uint8_t expected[MASTER_KEY_BYTES];
    for (size_t i = 0; i < MASTER_KEY_BYTES; i++) {
        expected[i] = (uint8_t)i;
    }
    master_key_b64(MASTER_KEY_BYTES, b64);
    assert_int_equal(strlen(b64), 44);

    uint8_t out[MASTER_KEY_BYTES];
    assert_true(config_parse_master_key(b64, out));
    assert_memory_equal(out, expected, MASTER_KEY_BYTES);

    struct config cfg;
    struct perr err;
    env_set("PASARELA_MASTER_KEY", b64);
    assert_int_equal(load(&cfg, &err, NULL), PERR_OK);
    assert_true(cfg.has_master_key);
    assert_memory_equal(cfg.master_key, expected, MASTER_KEY_BYTES);

    /* The output of `openssl rand -base64 32` has this shape. */
    assert_true(config_parse_master_key("q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=", out));
    assert_int_equal(out[0], 0xab);
    assert_int_equal(out[1], 0xcd);
    assert_int_equal(out[31], 0x90);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, env_reset),
        cmocka_unit_test_setup(test_public_url_follows_listen, env_reset),
        cmocka_unit_test_setup(test_public_url_explicit_wins, env_reset),
        cmocka_unit_test_setup(test_env_beats_defaults, env_reset),
        cmocka_unit_test_setup(test_empty_env_is_unset, env_reset),
        cmocka_unit_test_setup(test_flag_beats_env, env_reset),
        cmocka_unit_test_setup(test_flag_forms, env_reset),
        cmocka_unit_test_setup(test_demo_switch, env_reset),
        cmocka_unit_test_setup(test_unknown_flag, env_reset),
        cmocka_unit_test_setup(test_flag_without_value, env_reset),
        cmocka_unit_test_setup(test_bad_listen, env_reset),
        cmocka_unit_test_setup(test_bad_listen_env_names_variable, env_reset),
        cmocka_unit_test_setup(test_bad_log_level, env_reset),
        cmocka_unit_test_setup(test_every_log_level, env_reset),
        cmocka_unit_test_setup(test_bad_numbers, env_reset),
        cmocka_unit_test_setup(test_bad_public_url, env_reset),
        cmocka_unit_test_setup(test_admin_key_too_long, env_reset),
        cmocka_unit_test_setup(test_bad_master_key, env_reset),
        cmocka_unit_test_setup(test_valid_master_key, env_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
