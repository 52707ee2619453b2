#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "core/core.h"

const char *ks_version(void) { return KS_VERSION_STRING; }

static const char *const status_names[] = {
#define KS_X_(name, text) #name,
    KS_STATUS_LIST(KS_X_)
#undef KS_X_
};
static const char *const status_texts[] = {
#define KS_X_(name, text) text,
    KS_STATUS_LIST(KS_X_)
#undef KS_X_
};
_Static_assert(KS_ARRAY_LEN(status_names) == KS_STATUS_COUNT, "status table");

const char *ks_status_name(ks_status s) {
    if ((unsigned)s >= KS_STATUS_COUNT)
        return "UNKNOWN_STATUS";
    return status_names[s];
}

const char *ks_status_str(ks_status s) {
    if ((unsigned)s >= KS_STATUS_COUNT)
        return "unknown status";
    return status_texts[s];
}

static void *libc_alloc(void *u, size_t n) {
    KS_UNUSED(u);
    return malloc(n);
}
static void *libc_realloc(void *u, void *p, size_t n) {
    KS_UNUSED(u);
    return realloc(p, n);
}
static void libc_free(void *u, void *p) {
    KS_UNUSED(u);
    free(p);
}

void ks_context_config_init(ks_context_config *cfg) {
    if (!cfg)
        return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->log_level = KS_LOG_WARN;
}

ks_status ks_context_create(const ks_context_config *cfg, ks_context **out) {
    if (!out)
        return KS_INVALID_ARGUMENT;
    *out = NULL;
    ks_context_config def;
    if (!cfg) {
        ks_context_config_init(&def);
        cfg = &def;
    }
    ks_allocator a = cfg->allocator;
    int n_set = (a.alloc != NULL) + (a.realloc != NULL) + (a.free != NULL);
    if (n_set != 0 && n_set != 3)
        return KS_INVALID_ARGUMENT;
    if (n_set == 0) {
        a.alloc = libc_alloc;
        a.realloc = libc_realloc;
        a.free = libc_free;
        a.user = NULL;
    }
    ks_context *ctx = a.alloc(a.user, sizeof(*ctx));
    if (!ctx)
        return KS_OUT_OF_MEMORY;
    memset(ctx, 0, sizeof(*ctx));
    ctx->alloc = a;
    ctx->log = cfg->log;
    ctx->log_user = cfg->log_user;
    ctx->log_level = cfg->log_level;
    *out = ctx;
    return KS_OK;
}

/* Backends and registries hook their teardown here (weak so the core links
 * without them). */
void ks__plugins_destroy(ks_context *ctx) __attribute__((weak));
void ks__cuda_context_destroy(ks_context *ctx) __attribute__((weak));

void ks_context_destroy(ks_context *ctx) {
    if (!ctx)
        return;
    if (ks__plugins_destroy)
        ks__plugins_destroy(ctx);
    if (ks__cuda_context_destroy)
        ks__cuda_context_destroy(ctx);
    ks_allocator a = ctx->alloc;
    a.free(a.user, ctx);
}

const char *ks_context_last_error(const ks_context *ctx) { return ctx ? ctx->last_error : ""; }
ks_status ks_context_last_status(const ks_context *ctx) { return ctx ? ctx->last_status : KS_OK; }
void ks_context_clear_error(ks_context *ctx) {
    if (!ctx)
        return;
    ctx->last_status = KS_OK;
    ctx->last_error[0] = '\0';
}
void ks_context_set_log_level(ks_context *ctx, ks_log_level level) {
    if (ctx)
        ctx->log_level = level;
}

void *ks__alloc(ks_context *ctx, size_t n) {
    if (n == 0)
        n = 1;
    void *p = ctx->alloc.alloc(ctx->alloc.user, n);
    if (p)
        memset(p, 0, n);
    return p;
}

void *ks__alloc_array(ks_context *ctx, size_t n, size_t elem) {
    if (elem && n > SIZE_MAX / elem)
        return NULL;
    return ks__alloc(ctx, n * elem);
}

void *ks__realloc(ks_context *ctx, void *p, size_t n) {
    if (n == 0)
        n = 1;
    return ctx->alloc.realloc(ctx->alloc.user, p, n);
}

void ks__free(ks_context *ctx, void *p) {
    if (p)
        ctx->alloc.free(ctx->alloc.user, p);
}

char *ks__strdup(ks_context *ctx, const char *s) {
    if (!s)
        s = "";
    size_t n = strlen(s) + 1;
    char *d = ctx->alloc.alloc(ctx->alloc.user, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

ks_status ks__verror(ks_context *ctx, ks_status st, const char *fmt, va_list ap) {
    if (!ctx)
        return st;
    ctx->last_status = st;
    vsnprintf(ctx->last_error, sizeof(ctx->last_error), fmt, ap);
    ks__log(ctx, KS_LOG_DEBUG, "error %s: %s", ks_status_name(st), ctx->last_error);
    return st;
}

ks_status ks__error(ks_context *ctx, ks_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ks__verror(ctx, st, fmt, ap);
    va_end(ap);
    return st;
}

ks_status ks__oom(ks_context *ctx, size_t n_bytes, const char *what) {
    return ks__error(ctx, KS_OUT_OF_MEMORY, "out of memory allocating %zu bytes for %s", n_bytes,
                     what ? what : "?");
}

ks_status ks__error_prefix(ks_context *ctx, const char *fmt, ...) {
    if (!ctx)
        return KS_INTERNAL;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    char old[KS_ERR_MSG_BYTES];
    memcpy(old, ctx->last_error, sizeof(old));
    size_t pl = strlen(prefix);
    if (pl > sizeof(ctx->last_error) - 3)
        pl = sizeof(ctx->last_error) - 3;
    memcpy(ctx->last_error, prefix, pl);
    ctx->last_error[pl] = ':';
    ctx->last_error[pl + 1] = ' ';
    size_t room = sizeof(ctx->last_error) - pl - 3;
    size_t ol = strlen(old);
    if (ol > room)
        ol = room;
    memcpy(ctx->last_error + pl + 2, old, ol);
    ctx->last_error[pl + 2 + ol] = '\0';
    return ctx->last_status;
}

void ks__log(ks_context *ctx, ks_log_level level, const char *fmt, ...) {
    if (!ctx || !ctx->log || level > ctx->log_level)
        return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    ctx->log(ctx->log_user, level, buf);
}

int ks__mul_i64(int64_t a, int64_t b, int64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
int ks__add_i64(int64_t a, int64_t b, int64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

ks_status ks__read_file(ks_context *ctx, const char *path, void **data, size_t *n_bytes) {
    *data = NULL;
    *n_bytes = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return ks__error(ctx, KS_IO_ERROR, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return ks__error(ctx, KS_IO_ERROR, "%s: cannot seek", path);
    }
    long sz = ftell(f);
    if (sz < 0) {
        fclose(f);
        return ks__error(ctx, KS_IO_ERROR, "%s: cannot determine size", path);
    }
    rewind(f);
    void *buf = ks__alloc(ctx, (size_t)sz + 1);
    if (!buf) {
        fclose(f);
        return ks__oom(ctx, (size_t)sz, path);
    }
    size_t got = sz ? fread(buf, 1, (size_t)sz, f) : 0;
    fclose(f);
    if (got != (size_t)sz) {
        ks__free(ctx, buf);
        return ks__error(ctx, KS_IO_ERROR, "%s: short read (%zu of %ld bytes)", path, got, sz);
    }
    *data = buf;
    *n_bytes = (size_t)sz;
    return KS_OK;
}
