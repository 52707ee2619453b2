/* Core: status strings, half conversion, tensor sizes, npy round trip. */
#include "kestrel/kestrel.h"
#include "harness.h"

int main(void) {
    ks_context *ctx = NULL;
    KS_T_CHECK(ks_context_create(NULL, &ctx) == KS_OK);
    KS_T_CHECK(strcmp(ks_status_name(KS_INVALID_MODEL), "INVALID_MODEL") == 0);
    KS_T_CHECK(strcmp(ks_status_str(KS_OK), "success") == 0);
    KS_T_CHECK(strcmp(ks_status_name((ks_status)999), "UNKNOWN_STATUS") == 0);

    /* half: exhaustive round trip of every finite half value */
    int bad = 0;
    for (unsigned h = 0; h < 65536; h++) {
        if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu))
            continue; /* NaN payloads */
        float f = ks_half_to_float((uint16_t)h);
        if (ks_float_to_half(f) != h)
            bad++;
    }
    KS_T_CHECK_EQ_I(bad, 0);
    KS_T_CHECK_EQ_I(ks_float_to_half(1.0f), 0x3c00);
    KS_T_CHECK_EQ_I(ks_float_to_half(65520.0f), 0x7c00);
    KS_T_CHECK_EQ_I(ks_float_to_half(1.0f + 1.0f / 2048), 0x3c00); /* tie to even */
    KS_T_CHECK(isnan(ks_half_to_float(ks_float_to_half(NAN))));

    ks_tensor t = {KS_DTYPE_FLOAT32, 3, {2, 3, 4}, NULL};
    KS_T_CHECK_EQ_I(ks_tensor_numel(&t), 24);
    KS_T_CHECK_EQ_I(ks_tensor_nbytes(&t), 96);
    ks_tensor huge = {KS_DTYPE_FLOAT32, 4, {INT64_MAX / 2, 4, 1, 1}, NULL};
    KS_T_CHECK_EQ_I(ks_tensor_numel(&huge), -1);
    KS_T_CHECK(ks_tensor_alloc(ctx, &huge) != KS_OK);

    KS_T_CHECK(ks_tensor_alloc(ctx, &t) == KS_OK);
    for (int i = 0; i < 24; i++)
        ((float *)t.data)[i] = (float)i * 0.5f;
    const char *path = KS_BINARY_DIR "/test_core.npy";
    KS_T_CHECK_OK(ctx, ks_tensor_save_npy(ctx, path, &t));
    ks_tensor u;
    KS_T_CHECK_OK(ctx, ks_tensor_load_npy(ctx, path, &u));
    KS_T_CHECK_EQ_I(u.ndim, 3);
    KS_T_CHECK_EQ_I(u.dims[2], 4);
    KS_T_CHECK(u.data && memcmp(u.data, t.data, 96) == 0);
    ks_tensor_release(ctx, &u);
    ks_tensor_release(ctx, &t);

    char buf[64];
    int64_t d[3] = {1, -1, 640};
    KS_T_CHECK(strcmp(ks_shape_str(d, 3, buf, sizeof buf), "1x?x640") == 0);
    ks_context_destroy(ctx);
    return ks_t_done();
}
