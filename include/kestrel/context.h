/* kestrel — context: allocator hook, log callback, last error.
 *
 * A ks_context carries everything that would otherwise be global: the host
 * allocator, the log sink, the plugin registry and the per-context error
 * message. Library code never prints; it logs through the callback.
 *
 * Thread safety: a context may be shared by threads for read-only use
 * (importing different models concurrently is NOT supported on one context:
 * the last-error slot is per context). Use one context per thread, or lock.
 *
 * Ownership: the caller owns the context; destroy it after every object
 * created from it has been destroyed. */
#ifndef KESTREL_CONTEXT_H
#define KESTREL_CONTEXT_H

#include <stddef.h>
#include "kestrel/export.h"
#include "kestrel/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ks_context ks_context;

typedef enum ks_log_level {
    KS_LOG_ERROR = 0,
    KS_LOG_WARN,
    KS_LOG_INFO,
    KS_LOG_DEBUG,
    KS_LOG_LEVEL_COUNT
} ks_log_level;

/* Host allocator hook. All three must be set, or all left NULL for libc.
 * alloc may return NULL, which the library reports as KS_OUT_OF_MEMORY. */
typedef struct ks_allocator {
    void *(*alloc)(void *user, size_t n_bytes);
    void *(*realloc)(void *user, void *ptr, size_t n_bytes);
    void (*free)(void *user, void *ptr);
    void *user;
} ks_allocator;

/* Log callback: message is borrowed for the duration of the call. */
typedef void (*ks_log_fn)(void *user, ks_log_level level, const char *message);

typedef struct ks_context_config {
    ks_allocator allocator; /* zero = libc malloc/realloc/free */
    ks_log_fn log;          /* NULL = discard log messages */
    void *log_user;
    ks_log_level log_level; /* messages above this level are dropped; default KS_LOG_WARN */
} ks_context_config;

/* Fills cfg with defaults (libc allocator, no logging, level WARN). */
KS_API void ks_context_config_init(ks_context_config *cfg);

/* Creates a context. cfg may be NULL for defaults. *out is owned by the
 * caller and released with ks_context_destroy. */
KS_API ks_status ks_context_create(const ks_context_config *cfg, ks_context **out);
/* Destroys a context; NULL is accepted. */
KS_API void ks_context_destroy(ks_context *ctx);

/* The message of the most recent error on this context ("" if none).
 * Borrowed: valid until the next call that fails on this context. */
KS_API const char *ks_context_last_error(const ks_context *ctx);
/* Status of the most recent error (KS_OK if none). */
KS_API ks_status ks_context_last_status(const ks_context *ctx);
KS_API void ks_context_clear_error(ks_context *ctx);

/* Sets the log level after creation. */
KS_API void ks_context_set_log_level(ks_context *ctx, ks_log_level level);

#ifdef __cplusplus
}
#endif
#endif
