#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cli.h"

static void log_stderr(void *user, ks_log_level level, const char *msg) {
    static const char *const names[] = {"error", "warn", "info", "debug"};
    (void)user;
    fprintf(stderr, "[kestrel %s] %s\n", names[level < 4 ? level : 3], msg);
}

ks_context *ks_cli_context(ks_log_level level) {
    ks_context_config cfg;
    ks_context_config_init(&cfg);
    cfg.log = log_stderr;
    cfg.log_level = level;
    ks_context *ctx = NULL;
    if (ks_context_create(&cfg, &ctx) != KS_OK) {
        fprintf(stderr, "kestrel: cannot create context\n");
        return NULL;
    }
    return ctx;
}

int ks_cli_parse_dims(const char *s, int64_t *dims) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || n >= KS_MAX_DIMS)
            return -1;
        dims[n++] = v;
        p = end;
        if (*p == 'x' || *p == 'X' || *p == ',')
            p++;
        else if (*p)
            return -1;
    }
    return n;
}

int ks_cli_parse_named_shape(const char *s, char **name, int *ndim, int64_t *dims) {
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return -1;
    *name = strndup(s, (size_t)(colon - s));
    *ndim = ks_cli_parse_dims(colon + 1, dims);
    if (*ndim < 0) {
        free(*name);
        *name = NULL;
        return -1;
    }
    return 0;
}

int ks_cli_fail(ks_context *ctx, ks_status st, const char *what) {
    const char *msg = ctx ? ks_context_last_error(ctx) : "";
    fprintf(stderr, "kestrel: %s failed: %s%s%s\n", what, ks_status_name(st), msg[0] ? ": " : "", msg);
    return 1;
}
