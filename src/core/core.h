/* kestrel internal core: context internals, allocation, errors, logging.
 * Not a public header. */
#ifndef KS_CORE_H
#define KS_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "kestrel/kestrel.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define KS_UNUSED(x) ((void)(x))

/* Returns early with the status of expr if it is not KS_OK. */
#define KS_CHECK(expr)                          \
    do {                                        \
        ks_status ks_check_st_ = (expr);        \
        if (ks_check_st_ != KS_OK)              \
            return ks_check_st_;                \
    } while (0)

#define KS_ERR_MSG_BYTES 1024

struct ks_context {
    ks_allocator alloc;
    ks_log_fn log;
    void *log_user;
    ks_log_level log_level;
    ks_status last_status;
    char last_error[KS_ERR_MSG_BYTES];
    struct ks_plugin_registry *plugins; /* owned; may be NULL */
    void *cuda;                         /* backend state (cuda backend owns) */
};

/* Allocation through the context's hook. ks__alloc zero-fills. Sizes that
 * overflow return NULL. None of these set an error; callers do. */
void *ks__alloc(ks_context *ctx, size_t n_bytes);
void *ks__alloc_array(ks_context *ctx, size_t n, size_t elem_bytes);
void *ks__realloc(ks_context *ctx, void *p, size_t n_bytes);
void ks__free(ks_context *ctx, void *p);
char *ks__strdup(ks_context *ctx, const char *s);

/* Records an error on the context (printf-style message) and returns st.
 * Also logs it at KS_LOG_DEBUG. Passing st == KS_OK is a bug. */
ks_status ks__error(ks_context *ctx, ks_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
ks_status ks__verror(ks_context *ctx, ks_status st, const char *fmt, va_list ap);
/* Records KS_OUT_OF_MEMORY with "out of memory allocating N bytes for WHAT". */
ks_status ks__oom(ks_context *ctx, size_t n_bytes, const char *what);
/* Prefixes the current last error with "prefix: " (used to add file/node
 * context as an error propagates up). Returns the current last status. */
ks_status ks__error_prefix(ks_context *ctx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

void ks__log(ks_context *ctx, ks_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Checked int64 arithmetic: return 0 on overflow. */
int ks__mul_i64(int64_t a, int64_t b, int64_t *out);
int ks__add_i64(int64_t a, int64_t b, int64_t *out);

/* Reads a whole file into memory (ctx allocator). */
ks_status ks__read_file(ks_context *ctx, const char *path, void **data, size_t *n_bytes);

#ifdef __cplusplus
}
#endif
#endif
