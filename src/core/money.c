#include "core/money.h"

/* Exponents beyond 18 would make 10^exponent overflow int64; every ISO exponent is 0..4. */
#define MONEY_EXPONENT_MAX 18
#define MONEY_CODE_CHARS 3

/* ISO 4217 list one (amendment 176 and later). Numeric codes are unique except ANG and XCG:
 * the Caribbean guilder replaced the Netherlands Antillean guilder in 2025 keeping 532, and
 * both stay here while providers still send ANG. */
static const struct currency currencies[] = {
    /* North and Central America */
    {"USD", 840, 2, MONEY_MAX_MINOR}, /* US Dollar */
    {"CAD", 124, 2, MONEY_MAX_MINOR}, /* Canadian Dollar */
    {"MXN", 484, 2, MONEY_MAX_MINOR}, /* Mexican Peso */
    {"GTQ", 320, 2, MONEY_MAX_MINOR}, /* Quetzal */
    {"BZD", 84, 2, MONEY_MAX_MINOR},  /* Belize Dollar */
    {"HNL", 340, 2, MONEY_MAX_MINOR}, /* Lempira */
    {"NIO", 558, 2, MONEY_MAX_MINOR}, /* Cordoba Oro */
    {"CRC", 188, 2, MONEY_MAX_MINOR}, /* Costa Rican Colon */
    {"PAB", 590, 2, MONEY_MAX_MINOR}, /* Balboa */
    {"SVC", 222, 2, MONEY_MAX_MINOR}, /* El Salvador Colon */
    /* Caribbean */
    {"CUP", 192, 2, MONEY_MAX_MINOR}, /* Cuban Peso */
    {"DOP", 214, 2, MONEY_MAX_MINOR}, /* Dominican Peso */
    {"HTG", 332, 2, MONEY_MAX_MINOR}, /* Gourde */
    {"JMD", 388, 2, MONEY_MAX_MINOR}, /* Jamaican Dollar */
    {"TTD", 780, 2, MONEY_MAX_MINOR}, /* Trinidad and Tobago Dollar */
    {"BBD", 52, 2, MONEY_MAX_MINOR},  /* Barbados Dollar */
    {"BSD", 44, 2, MONEY_MAX_MINOR},  /* Bahamian Dollar */
    {"XCD", 951, 2, MONEY_MAX_MINOR}, /* East Caribbean Dollar */
    {"KYD", 136, 2, MONEY_MAX_MINOR}, /* Cayman Islands Dollar */
    {"BMD", 60, 2, MONEY_MAX_MINOR},  /* Bermudian Dollar */
    {"AWG", 533, 2, MONEY_MAX_MINOR}, /* Aruban Florin */
    {"ANG", 532, 2, MONEY_MAX_MINOR}, /* Netherlands Antillean Guilder (until 2025) */
    {"XCG", 532, 2, MONEY_MAX_MINOR}, /* Caribbean Guilder (from 2025) */
    /* South America */
    {"SRD", 968, 2, MONEY_MAX_MINOR}, /* Surinam Dollar */
    {"GYD", 328, 2, MONEY_MAX_MINOR}, /* Guyana Dollar */
    {"COP", 170, 2, MONEY_MAX_MINOR}, /* Colombian Peso */
    {"VES", 928, 2, MONEY_MAX_MINOR}, /* Bolivar Soberano */
    {"VED", 926, 2, MONEY_MAX_MINOR}, /* Bolivar Soberano (digital) */
    {"BRL", 986, 2, MONEY_MAX_MINOR}, /* Brazilian Real */
    {"ARS", 32, 2, MONEY_MAX_MINOR},  /* Argentine Peso */
    {"CLP", 152, 0, MONEY_MAX_MINOR}, /* Chilean Peso */
    {"PEN", 604, 2, MONEY_MAX_MINOR}, /* Sol */
    {"BOB", 68, 2, MONEY_MAX_MINOR},  /* Boliviano */
    {"PYG", 600, 0, MONEY_MAX_MINOR}, /* Guarani */
    {"UYU", 858, 2, MONEY_MAX_MINOR}, /* Peso Uruguayo */
    {"FKP", 238, 2, MONEY_MAX_MINOR}, /* Falkland Islands Pound */
    /* Funds and units of account of the Americas */
    {"CLF", 990, 4, MONEY_MAX_MINOR}, /* Unidad de Fomento */
    {"UYI", 940, 0, MONEY_MAX_MINOR}, /* Uruguay Peso en Unidades Indexadas */
    {"UYW", 927, 4, MONEY_MAX_MINOR}, /* Unidad Previsional */
    {"BOV", 984, 2, MONEY_MAX_MINOR}, /* Mvdol */
    {"COU", 970, 2, MONEY_MAX_MINOR}, /* Unidad de Valor Real */
    {"MXV", 979, 2, MONEY_MAX_MINOR}, /* Mexican Unidad de Inversion (UDI) */
    {"USN", 997, 2, MONEY_MAX_MINOR}, /* US Dollar (Next day) */
    /* Elsewhere */
    {"EUR", 978, 2, MONEY_MAX_MINOR}, /* Euro */
    {"GBP", 826, 2, MONEY_MAX_MINOR}, /* Pound Sterling */
    {"CHF", 756, 2, MONEY_MAX_MINOR}, /* Swiss Franc */
    {"JPY", 392, 0, MONEY_MAX_MINOR}, /* Yen */
    {"CNY", 156, 2, MONEY_MAX_MINOR}, /* Yuan Renminbi */
    {"INR", 356, 2, MONEY_MAX_MINOR}, /* Indian Rupee */
    {"KRW", 410, 0, MONEY_MAX_MINOR}, /* Won */
    /* Three decimals */
    {"BHD", 48, 3, MONEY_MAX_MINOR},  /* Bahraini Dinar */
    {"KWD", 414, 3, MONEY_MAX_MINOR}, /* Kuwaiti Dinar */
    {"JOD", 400, 3, MONEY_MAX_MINOR}, /* Jordanian Dinar */
    {"OMR", 512, 3, MONEY_MAX_MINOR}, /* Rial Omani */
    {"TND", 788, 3, MONEY_MAX_MINOR}, /* Tunisian Dinar */
    {"IQD", 368, 3, MONEY_MAX_MINOR}, /* Iraqi Dinar */
    {"LYD", 434, 3, MONEY_MAX_MINOR}, /* Libyan Dinar */
};

const struct currency *money_currency(const char *code)
{
    if (!code) {
        return NULL;
    }
    for (size_t i = 0; i < ARRAY_LEN(currencies); i++) {
        if (strcmp(currencies[i].code, code) == 0) {
            return &currencies[i];
        }
    }
    return NULL;
}

const struct currency *money_currencies(size_t *count)
{
    PASSERT(count != NULL);
    *count = ARRAY_LEN(currencies);
    return currencies;
}

/* One sentence for every way an amount can be wrong, with an example in cur's own exponent:
 * "1050 means 10.50 MXN" tells the client what a minor unit is. */
static enum perr_code amount_invalid(const char *key, const struct currency *cur, struct perr *err)
{
    char example[MONEY_DECIMAL_BYTES];
    money_to_decimal(1050, cur->exponent, example);
    return perr_set(err, PERR_PARAM_INVALID, key,
                    "'%.64s' must be a positive integer count of minor units of %s (1050 means "
                    "%s %s), at most %lld.",
                    key, cur->code, example, cur->code, (long long)cur->max_minor);
}

enum perr_code money_parse_amount(json_t *body, const char *key, const struct currency *cur,
                                  int64_t *out, struct perr *err)
{
    PASSERT(key != NULL && cur != NULL && out != NULL);
    json_t *v = json_object_get(body, key);
    if (!v) {
        char example[MONEY_DECIMAL_BYTES];
        money_to_decimal(1050, cur->exponent, example);
        return perr_set(err, PERR_PARAM_MISSING, key,
                        "'%.64s' is required: a positive integer count of minor units of %s "
                        "(1050 means %s %s).",
                        key, cur->code, example, cur->code);
    }
    /* json_is_integer is false for reals, so 100.0 is refused like "100" and true. */
    if (!json_is_integer(v)) {
        return amount_invalid(key, cur, err);
    }
    json_int_t n = json_integer_value(v);
    if (n <= 0 || n > cur->max_minor) {
        return amount_invalid(key, cur, err);
    }
    *out = n;
    return PERR_OK;
}

static bool all_upper_ascii(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 'A' || s[i] > 'Z') {
            return false;
        }
    }
    return true;
}

/* "mxn" -> "MXN" when s is three ASCII letters; false otherwise. */
static bool upper_code(const char *s, size_t len, char out[MONEY_CODE_CHARS + 1])
{
    if (len != MONEY_CODE_CHARS) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= 'a' && c <= 'z') {
            c = (char)(c - 'a' + 'A');
        }
        if (c < 'A' || c > 'Z') {
            return false;
        }
        out[i] = c;
    }
    out[len] = '\0';
    return true;
}

enum perr_code money_parse_currency(json_t *body, const char *key, const struct currency **out,
                                    struct perr *err)
{
    PASSERT(key != NULL && out != NULL);
    json_t *v = json_object_get(body, key);
    if (!v) {
        return perr_set(err, PERR_PARAM_MISSING, key,
                        "'%.64s' is required: an upper-case ISO 4217 currency code such as MXN.",
                        key);
    }
    if (!json_is_string(v)) {
        return perr_set(err, PERR_PARAM_INVALID, key,
                        "'%.64s' must be a string: an upper-case ISO 4217 currency code such as "
                        "MXN.",
                        key);
    }
    /* The length check comes first: "MXN\u0000x" must not pass as "MXN". */
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    const struct currency *cur = len == MONEY_CODE_CHARS ? money_currency(s) : NULL;
    if (cur) {
        *out = cur;
        return PERR_OK;
    }
    char upper[MONEY_CODE_CHARS + 1];
    if (upper_code(s, len, upper) && money_currency(upper)) {
        return perr_set(err, PERR_PARAM_INVALID, key,
                        "'%.64s' must be upper case: send '%s', not '%s'.", key, upper, s);
    }
    if (len == MONEY_CODE_CHARS && all_upper_ascii(s, len)) {
        return perr_set(err, PERR_PARAM_INVALID, key,
                        "'%.64s': '%s' is not a currency pasarela supports; send an ISO 4217 "
                        "code such as MXN.",
                        key, s);
    }
    return perr_set(err, PERR_PARAM_INVALID, key,
                    "'%.64s' must be an upper-case ISO 4217 currency code such as MXN.", key);
}

void money_to_decimal(int64_t minor, int exponent, char out[MONEY_DECIMAL_BYTES])
{
    PASSERT(exponent >= 0 && exponent <= MONEY_EXPONENT_MAX);
    /* Unsigned negation, so INT64_MIN has a magnitude (2^63) instead of overflowing. */
    uint64_t mag = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    char digits[MONEY_DECIMAL_BYTES]; /* least significant first */
    int n = 0;
    do {
        digits[n++] = (char)('0' + mag % 10);
        mag /= 10;
    } while (mag > 0);
    while (n < exponent + 1) { /* "0.05": at least one digit before the point */
        digits[n++] = '0';
    }
    size_t pos = 0;
    if (minor < 0) {
        out[pos++] = '-';
    }
    for (int i = n - 1; i >= 0; i--) {
        out[pos++] = digits[i];
        if (i == exponent && exponent > 0) {
            out[pos++] = '.';
        }
    }
    out[pos] = '\0';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* mag = mag * 10 + digit, false when that would exceed limit. */
static bool push_digit(uint64_t *mag, int digit, uint64_t limit)
{
    if (*mag > (limit - (uint64_t)digit) / 10) {
        return false;
    }
    *mag = *mag * 10 + (uint64_t)digit;
    return true;
}

bool money_from_decimal(const char *s, int exponent, bool allow_negative, int64_t *out)
{
    PASSERT(s != NULL && out != NULL);
    PASSERT(exponent >= 0 && exponent <= MONEY_EXPONENT_MAX);
    bool negative = s[0] == '-';
    if (negative && !allow_negative) {
        return false;
    }
    const char *p = negative ? s + 1 : s;
    /* A negative magnitude may reach 2^63, which is INT64_MIN. */
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t mag = 0;
    if (!is_digit(*p)) {
        return false; /* "", "-", ".5", "+1", " 1" */
    }
    for (; is_digit(*p); p++) {
        if (!push_digit(&mag, *p - '0', limit)) {
            return false;
        }
    }
    if (*p == '.') {
        p++;
        if (!is_digit(*p)) {
            return false; /* "1." */
        }
    }
    /* The first `exponent` fraction digits count; shorter fractions are padded with zeros. */
    for (int i = 0; i < exponent; i++) {
        int digit = is_digit(*p) ? *p++ - '0' : 0;
        if (!push_digit(&mag, digit, limit)) {
            return false;
        }
    }
    for (; is_digit(*p); p++) { /* further digits are allowed only as zeros: "1.230" */
        if (*p != '0') {
            return false;
        }
    }
    if (*p != '\0') {
        return false; /* "1e3", "1 ", "1,5", "0x10" */
    }
    if (!negative) {
        *out = (int64_t)mag;
    } else if (mag == (uint64_t)INT64_MAX + 1) {
        *out = INT64_MIN;
    } else {
        *out = -(int64_t)mag;
    }
    return true;
}

bool money_add(int64_t a, int64_t b, int64_t *out)
{
    PASSERT(out != NULL);
    if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b)) {
        return false;
    }
    *out = a + b;
    return true;
}

int64_t money_fee_bps(int64_t amount, int bps)
{
    PASSERT(amount >= 0 && amount <= MONEY_MAX_MINOR);
    PASSERT(bps >= 0 && bps <= 10000);
    /* amount * bps <= 999999999999 * 10000 < 2^63, so the product cannot overflow; with
     * bps <= 10000 the rounded result is at most (amount * 10000 + 5000) / 10000 = amount. */
    return (amount * bps + 5000) / 10000;
}
