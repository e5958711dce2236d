#include "domain/cidr.h"

#include <arpa/inet.h>
#include <errno.h>

static bool parse_address(const char *text, int *family, uint8_t addr[16])
{
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, text, addr) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, text, addr) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(addr, mapped, sizeof(mapped)) == 0) {
            memmove(addr, addr + 12, 4);
            memset(addr + 4, 0, 12);
            *family = AF_INET;
        } else {
            *family = AF_INET6;
        }
        return true;
    }
    return false;
}

bool cidr_parse(const char *text, struct cidr *out)
{
    char buf[CIDR_TEXT_MAX];
    if (!str_copy(buf, sizeof(buf), text)) {
        return false;
    }
    char *slash = strchr(buf, '/');
    if (slash) {
        *slash = '\0';
    }
    if (!parse_address(buf, &out->family, out->addr)) {
        return false;
    }
    int max = out->family == AF_INET ? 32 : 128;
    out->prefix_bits = max;
    if (slash) {
        char *end;
        errno = 0;
        long bits = strtol(slash + 1, &end, 10);
        if (errno || *end || end == slash + 1 || slash[1] < '0' || slash[1] > '9' || bits < 0 ||
            bits > max) {
            return false;
        }
        out->prefix_bits = (int)bits;
    }
    return true;
}

bool cidr_contains(const struct cidr *c, const char *address)
{
    int family;
    uint8_t addr[16];
    if (!parse_address(address, &family, addr) || family != c->family) {
        return false;
    }
    int full = c->prefix_bits / 8, rest = c->prefix_bits % 8;
    if (memcmp(addr, c->addr, (size_t)full) != 0) {
        return false;
    }
    if (rest == 0) {
        return true;
    }
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (addr[full] & mask) == (c->addr[full] & mask);
}
