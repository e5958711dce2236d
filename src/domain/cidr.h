/* IP address ranges in CIDR notation ("203.0.113.0/24", "2001:db8::/32", or a single
 * address), for the webhook source allowlists. Pure, no I/O. */
#ifndef PASARELA_CIDR_H
#define PASARELA_CIDR_H

#include "core/common.h"

#define CIDR_TEXT_MAX 64

struct cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    int prefix_bits;
};

bool cidr_parse(const char *text, struct cidr *out);
/* True when the textual address lies in the range (an IPv4-mapped IPv6 address counts as
 * IPv4). */
bool cidr_contains(const struct cidr *c, const char *address);

#endif
