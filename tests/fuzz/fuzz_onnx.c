/* libFuzzer target for the ONNX importer (and, for small static models, the
 * CPU executor behind it). Build and run: tests/fuzz/README.md.
 * KS_FUZZ_NO_RUN=1 in the environment limits it to importing. */
#include <stdlib.h>

#include "fuzz_onnx_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static ks_context *ctx;
    static int run = -1;
    if (!ctx && ks_context_create(NULL, &ctx) != KS_OK)
        return 0;
    if (run < 0) {
        const char *e = getenv("KS_FUZZ_NO_RUN");
        run = !(e && *e && *e != '0');
    }
    ks_fuzz_onnx_one(ctx, data, size, run);
    ks_context_clear_error(ctx);
    return 0;
}
