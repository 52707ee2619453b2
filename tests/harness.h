/* Minimal test harness: assertions print both values; a test exits 0 on
 * success, 1 on failure, 77 when skipped (ctest SKIP_RETURN_CODE 77).
 *
 *   int main(void) { KS_T_CHECK(1 + 1 == 2); KS_T_CHECK_EQ_I(x, 3); return ks_t_done(); }
 */
#ifndef KS_TEST_HARNESS_H
#define KS_TEST_HARNESS_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ks_t_failures_ = 0;
static int ks_t_checks_ = 0;

#define KS_T_CHECK(cond)                                                          \
    do {                                                                          \
        ks_t_checks_++;                                                           \
        if (!(cond)) {                                                            \
            ks_t_failures_++;                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                         \
    } while (0)

#define KS_T_CHECK_MSG(cond, ...)                                                 \
    do {                                                                          \
        ks_t_checks_++;                                                           \
        if (!(cond)) {                                                            \
            ks_t_failures_++;                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
        }                                                                         \
    } while (0)

#define KS_T_CHECK_EQ_I(a, b)                                                     \
    do {                                                                          \
        long long ks_a_ = (long long)(a), ks_b_ = (long long)(b);                 \
        KS_T_CHECK_MSG(ks_a_ == ks_b_, "%s = %lld, %s = %lld", #a, ks_a_, #b, ks_b_); \
    } while (0)

#define KS_T_CHECK_NEAR(a, b, tol)                                                \
    do {                                                                          \
        double ks_a_ = (double)(a), ks_b_ = (double)(b);                          \
        KS_T_CHECK_MSG(fabs(ks_a_ - ks_b_) <= (tol), "%s = %.9g, %s = %.9g (tol %g)", #a, ks_a_, #b, \
                       ks_b_, (double)(tol));                                     \
    } while (0)

/* Checks a ks_status is KS_OK, printing the context's last error if not. */
#define KS_T_CHECK_OK(ctx, expr)                                                  \
    do {                                                                          \
        ks_status ks_st_ = (expr);                                                \
        KS_T_CHECK_MSG(ks_st_ == KS_OK, "%s -> %s: %s", #expr, ks_status_name(ks_st_), \
                       ks_context_last_error(ctx));                               \
    } while (0)

#define KS_T_SKIP(...)                                                            \
    do {                                                                          \
        fprintf(stderr, "SKIPPED: ");                                             \
        fprintf(stderr, __VA_ARGS__);                                             \
        fputc('\n', stderr);                                                      \
        exit(77);                                                                 \
    } while (0)

static inline int ks_t_done(void) {
    if (ks_t_failures_) {
        fprintf(stderr, "FAILED: %d of %d checks\n", ks_t_failures_, ks_t_checks_);
        return 1;
    }
    fprintf(stderr, "ok: %d checks\n", ks_t_checks_);
    return 0;
}

/* Models directory: $KESTREL_MODELS, else ../shared/models relative to the
 * source tree (KS_SOURCE_DIR is defined by tests/CMakeLists.txt). */
/* IoU of two boxes (x1, y1, x2, y2); 0 when they do not overlap. */
static inline float ks_t_box_iou(const float *a, const float *b) {
    float iw = fminf(a[2], b[2]) - fmaxf(a[0], b[0]), ih = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    if (iw <= 0 || ih <= 0)
        return 0;
    float i = iw * ih, u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i;
    return u > 0 ? i / u : 0;
}

static inline const char *ks_t_models_dir(void) {
    const char *e = getenv("KESTREL_MODELS");
    if (e && *e)
        return e;
    return KS_SOURCE_DIR "/../shared/models";
}
static inline const char *ks_t_images_dir(void) {
    const char *e = getenv("KESTREL_IMAGES");
    if (e && *e)
        return e;
    return KS_SOURCE_DIR "/../shared/images";
}
#endif
