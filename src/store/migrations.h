/* The numbered SQL migrations in src/store/migrations/, embedded into the binary at build
 * time by scripts/embed-migrations (generated migrations.c), in ascending version order. */
#ifndef PASARELA_MIGRATIONS_H
#define PASARELA_MIGRATIONS_H

#include <stddef.h>

struct migration {
    int version;
    const char *name;
    const char *sql;
};

extern const struct migration migrations[];
extern const size_t migrations_count;

#endif
