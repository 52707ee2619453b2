/* Shared helpers for CLI sub-commands (tools/cli_util.c). */
#ifndef KS_TOOLS_CLI_H
#define KS_TOOLS_CLI_H
#include <stdint.h>
#include "kestrel/kestrel.h"

/* Creates a context that logs to stderr at the given level. */
ks_context *ks_cli_context(ks_log_level level);
/* Parses "1x3x480x640" into dims; returns ndim or -1. */
int ks_cli_parse_dims(const char *s, int64_t *dims);
/* Parses "name:1x3x480x640"; name points into a static-lifetime copy owned by
 * the caller (strdup'ed). Returns 0 on success. */
int ks_cli_parse_named_shape(const char *s, char **name, int *ndim, int64_t *dims);
/* Prints "error: <status>: <last error>" to stderr and returns 1. */
int ks_cli_fail(ks_context *ctx, ks_status st, const char *what);
#endif
