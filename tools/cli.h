/* Shared helpers for CLI sub-commands (tools/cli_util.c). */
#ifndef KS_TOOLS_CLI_H
#define KS_TOOLS_CLI_H
#include <stdint.h>
#include "kestrel/kestrel.h"
#include "kestrel/engine.h"

/* Creates a context that logs to stderr at the given level. */
ks_context *ks_cli_context(ks_log_level level);
/* Parses "1x3x480x640" into dims; returns ndim or -1. */
int ks_cli_parse_dims(const char *s, int64_t *dims);
/* Parses "name:1x3x480x640"; name points into a static-lifetime copy owned by
 * the caller (strdup'ed). Returns 0 on success. */
int ks_cli_parse_named_shape(const char *s, char **name, int *ndim, int64_t *dims);
/* Prints "error: <status>: <last error>" to stderr and returns 1. */
int ks_cli_fail(ks_context *ctx, ks_status st, const char *what);

#define KS_CLI_MAX_SHAPES 16

/* Build options shared by `build` and `bench` (tools/cmd_build.c). */
typedef struct ks_cli_build_opts {
    ks_build_config cfg;
    ks_input_shape shapes[KS_CLI_MAX_SHAPES];
    char *shape_names[KS_CLI_MAX_SHAPES];
    ks_layer_precision lp[64];
    int batch;
} ks_cli_build_opts;

void ks_cli_build_opts_init(ks_cli_build_opts *o);
/* Consumes the build option at argv[*i] (and its value); returns 1 if taken, 0 if not a build
 * option, -1 on a bad value. */
int ks_cli_build_opt(ks_cli_build_opts *o, int argc, char **argv, int *i);
/* Checks the parsed build options together (e.g. --io-fp16 needs --fp16); prints the error for cmd,
 * returns 0 when they are consistent. */
int ks_cli_build_opts_check(const ks_cli_build_opts *o, const char *cmd);
void ks_cli_build_opts_help(void);
ks_status ks_cli_build_engine(ks_context *ctx, const char *onnx, ks_cli_build_opts *o, ks_engine **out,
                              double *seconds);
#endif
