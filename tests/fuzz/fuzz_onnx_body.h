/* The body shared by the libFuzzer target (fuzz_onnx.c) and the ctest replay
 * of saved crashing inputs (test_fuzz_replay.c): import the bytes as an ONNX
 * model; if that succeeds and every input has a small static shape, run it
 * once on zero inputs. Any status is fine; crashes, leaks and sanitizer
 * reports are the bugs. */
#ifndef KS_FUZZ_ONNX_BODY_H
#define KS_FUZZ_ONNX_BODY_H
#include <stdint.h>
#include <string.h>

#include "kestrel/kestrel.h"

#define KS_FUZZ_MAX_INPUTS 8
#define KS_FUZZ_MAX_OUTPUTS 64
#define KS_FUZZ_MAX_ELEMS (1 << 12)       /* per input */
#define KS_FUZZ_MAX_TOTAL_ELEMS (1 << 14) /* all inputs */

static void ks_fuzz_onnx_one(ks_context *ctx, const uint8_t *data, size_t size, int run) {
    ks_model *m = NULL;
    if (ks_model_load_memory(ctx, data, size, NULL, &m) != KS_OK)
        return;
    int n_in = ks_model_num_inputs(m), n_out = ks_model_num_outputs(m);
    int ok = run && n_in <= KS_FUZZ_MAX_INPUTS && n_out <= KS_FUZZ_MAX_OUTPUTS &&
             ks_model_num_nodes(m) <= 256;
    ks_tensor ins[KS_FUZZ_MAX_INPUTS];
    const char *names[KS_FUZZ_MAX_INPUTS];
    memset(ins, 0, sizeof ins);
    int64_t total = 0;
    for (int i = 0; ok && i < n_in; i++) {
        int nd = 0;
        if (ks_model_input_info(m, i, &ins[i].dtype, &nd, ins[i].dims, NULL) != KS_OK || nd < 0) {
            ok = 0;
            break;
        }
        ins[i].ndim = nd;
        int64_t numel = 1;
        for (int d = 0; d < nd && ok; d++) {
            if (ins[i].dims[d] < 0 || ins[i].dims[d] > KS_FUZZ_MAX_ELEMS)
                ok = 0;
            else
                numel *= ins[i].dims[d];
            if (numel > KS_FUZZ_MAX_ELEMS)
                ok = 0;
        }
        total += numel;
        if (total > KS_FUZZ_MAX_TOTAL_ELEMS)
            ok = 0;
        names[i] = ks_model_input_name(m, i);
        if (ok && ks_tensor_alloc(ctx, &ins[i]) != KS_OK)
            ok = 0;
    }
    if (ok) {
        ks_session *s = NULL;
        if (ks_session_create(m, NULL, &s) == KS_OK) {
            ks_tensor outs[KS_FUZZ_MAX_OUTPUTS];
            memset(outs, 0, sizeof outs);
            if (ks_session_run(s, n_in, names, ins, 0, NULL, outs) == KS_OK)
                for (int i = 0; i < n_out; i++)
                    ks_tensor_release(ctx, &outs[i]);
        }
        ks_session_destroy(s);
    }
    for (int i = 0; i < n_in && i < KS_FUZZ_MAX_INPUTS; i++)
        ks_tensor_release(ctx, &ins[i]);
    ks_model_destroy(m);
}
#endif
