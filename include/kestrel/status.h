/* kestrel — status codes.
 *
 * Every fallible call returns a ks_status. KS_OK is 0; everything else is an
 * error whose human-readable detail is kept in the context
 * (ks_context_last_error). The list is written once, as an X-macro, and
 * generates the enum, ks_status_name() and ks_status_str(). */
#ifndef KESTREL_STATUS_H
#define KESTREL_STATUS_H

#include "kestrel/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KS_STATUS_LIST(X)                                                        \
    X(OK, "success")                                                             \
    X(INVALID_ARGUMENT, "invalid argument")                                      \
    X(INVALID_MODEL, "invalid or malformed model")                               \
    X(UNSUPPORTED_OP, "unsupported operator")                                    \
    X(UNSUPPORTED_ATTR, "unsupported attribute or attribute value")              \
    X(UNSUPPORTED_SHAPE, "unsupported or inconsistent shape")                    \
    X(UNSUPPORTED_DTYPE, "unsupported data type")                                \
    X(OUT_OF_MEMORY, "out of memory")                                            \
    X(DEVICE_ERROR, "GPU device error")                                          \
    X(NO_DEVICE, "no GPU device available")                                      \
    X(IO_ERROR, "I/O error")                                                     \
    X(CORRUPT_FILE, "corrupt or truncated file")                                 \
    X(VERSION_MISMATCH, "incompatible file version or target")                   \
    X(NOT_FOUND, "not found")                                                    \
    X(NUMERIC_ERROR, "non-finite value (NaN or Inf)")                            \
    X(INTERNAL, "internal error")

typedef enum ks_status {
#define KS_X_(name, text) KS_##name,
    KS_STATUS_LIST(KS_X_)
#undef KS_X_
    KS_STATUS_COUNT
} ks_status;

/* Short upper-case name ("INVALID_MODEL"); static storage, never NULL. */
KS_API const char *ks_status_name(ks_status s);
/* Human-readable description ("invalid or malformed model"); static storage. */
KS_API const char *ks_status_str(ks_status s);

#ifdef __cplusplus
}
#endif
#endif
