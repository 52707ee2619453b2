/* kestrel — export macro and version. */
#ifndef KESTREL_EXPORT_H
#define KESTREL_EXPORT_H

#if defined(_WIN32)
#define KS_API __declspec(dllexport)
#elif defined(__GNUC__)
#define KS_API __attribute__((visibility("default")))
#else
#define KS_API
#endif

#define KS_VERSION_MAJOR 0
#define KS_VERSION_MINOR 1
#define KS_VERSION_PATCH 0
#define KS_VERSION_STRING "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif
/* Run-time library version, e.g. "0.1.0"; static storage. */
KS_API const char *ks_version(void);
#ifdef __cplusplus
}
#endif
#endif
