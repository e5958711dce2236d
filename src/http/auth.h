/* Authentication: the admin key (compared as SHA-256 digests in constant time) or a tenant
 * key (looked up by its indexed prefix, its SHA-256 compared in constant time), then the
 * tenant context: a tenant key acts on its own tenant; the admin key on the platform, or on
 * the tenant named by the Pasarela-Tenant header. */
#ifndef PASARELA_AUTH_H
#define PASARELA_AUTH_H

#include "http/http.h"

/* Fills req->auth, or returns the error to answer (401, 403, 404). */
enum perr_code auth_authenticate(struct request *req, enum auth_need need, unsigned flags,
                                 struct perr *err) WARN_UNUSED;

/* The lookup prefix of a tenant key secret: its first SECRET_PREFIX_CHARS characters. */
void auth_key_prefix(const char *secret, char *out /* SECRET_PREFIX_CHARS + 1 */);

#endif
