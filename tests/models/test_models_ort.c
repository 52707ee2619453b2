/* Real-model check: kestrel's CPU reference against onnxruntime.
 *
 *   test_models_ort <manifest.json>...   check these manifests
 *   test_models_ort --all                every <build>/ort_refs/<model>/manifest.json
 *   test_models_ort                      skipped (77): ctest runs it per model, with a
 *                                        manifest, as model_ort_* (tests/models/tests.cmake)
 *
 * Manifests and .npy files come from tests/models/gen_ort_refs.py (see its
 * header for the format). Each case is run through the public API only:
 * ks_model_load_file, ks_model_set_input_shape, ks_session_create,
 * ks_session_run. Per output the metric is
 *     rel = max|a - b| / max(max|b|, 1e-6)      (a = kestrel, b = ORT)
 * and must be <= the manifest's tolerance (1e-4 for float32 models, larger
 * for float16 ones, reason in the manifest). The per-element worst ratio
 * |a - b| / max(|b|, 1e-6) is reported too (informational: it is large
 * wherever b is near 0).
 * Graph outputs produced directly by a Sigmoid are gated against float64
 * sigmoid of ORT's own logits ("file_exact"; ORT's approximate sigmoid has
 * ~1.3e-7 absolute error, see gen_ort_refs.py), the raw-ORT metric is shown
 * beside it.
 * Where ORT itself fails on a case ("ort_error"), kestrel must fail too,
 * with an error message that names a node. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "vision/json_mini.h"
#include "kestrel/kestrel.h"

/* ---------------------------------------------------------------- JSON */

static const char *jstr(const jm_node *o, const char *key) {
    const jm_node *v = jm_get(o, key);
    return v && v->type == JM_STR ? v->str : NULL;
}

/* ---------------------------------------------------------------- compare */

static double elem(const ks_tensor *t, int64_t i) {
    switch (t->dtype) {
    case KS_DTYPE_FLOAT32: return ((const float *)t->data)[i];
    case KS_DTYPE_FLOAT16: return ks_half_to_float(((const uint16_t *)t->data)[i]);
    case KS_DTYPE_FLOAT64: return ((const double *)t->data)[i];
    case KS_DTYPE_INT64: return (double)((const int64_t *)t->data)[i];
    case KS_DTYPE_INT32: return ((const int32_t *)t->data)[i];
    case KS_DTYPE_INT8: return ((const int8_t *)t->data)[i];
    case KS_DTYPE_UINT8:
    case KS_DTYPE_BOOL: return ((const uint8_t *)t->data)[i];
    default: return NAN;
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Returns 1 when a matches b within tol. */
static int compare(const char *label, const ks_tensor *a, const ks_tensor *b, double tol,
                   const char *ref_kind) {
    char sa[96], sb[96];
    ks_shape_str(a->dims, a->ndim, sa, sizeof sa);
    ks_shape_str(b->dims, b->ndim, sb, sizeof sb);
    int same_shape = a->ndim == b->ndim;
    for (int i = 0; same_shape && i < a->ndim; i++)
        same_shape = a->dims[i] == b->dims[i];
    if (!same_shape) {
        printf("  %s: FAIL shape kestrel %s vs ORT %s\n", label, sa, sb);
        return 0;
    }
    if (a->dtype != b->dtype) {
        printf("  %s: FAIL dtype kestrel %s vs ORT %s\n", label, ks_dtype_name(a->dtype),
               ks_dtype_name(b->dtype));
        return 0;
    }
    int64_t n = ks_tensor_numel(a), worst_i = -1, nan_bad = 0;
    double max_abs = 0, max_b = 0, worst_ratio = 0;
    int64_t max_abs_i = -1;
    for (int64_t i = 0; i < n; i++) {
        double x = elem(a, i), y = elem(b, i);
        if (isnan(x) || isnan(y) || isinf(x) || isinf(y)) {
            if (!((isnan(x) && isnan(y)) || x == y))
                nan_bad++;
            continue;
        }
        double d = fabs(x - y);
        if (fabs(y) > max_b)
            max_b = fabs(y);
        if (d > max_abs) {
            max_abs = d;
            max_abs_i = i;
        }
        double r = d / fmax(fabs(y), 1e-6);
        if (r > worst_ratio) {
            worst_ratio = r;
            worst_i = i;
        }
    }
    double rel = max_abs / fmax(max_b, 1e-6);
    int ok = rel <= tol && nan_bad == 0;
    if (ref_kind)
        printf("  %s %s vs %s: %s rel %.3g (tol %.3g) max_abs %.3g at #%lld, max|b| %.4g", label,
               sa, ref_kind, tol < INFINITY ? (ok ? "ok" : "FAIL") : "info", rel, tol, max_abs,
               (long long)max_abs_i, max_b);
    else
        printf("  %s %s: %s rel %.3g (tol %.3g) max_abs %.3g at #%lld, max|b| %.4g", label, sa,
               ok ? "ok" : "FAIL", rel, tol, max_abs, (long long)max_abs_i, max_b);
    if (worst_i >= 0)
        printf("; worst elem ratio %.3g at #%lld (kestrel %.7g, ORT %.7g)", worst_ratio,
               (long long)worst_i, elem(a, worst_i), elem(b, worst_i));
    if (nan_bad)
        printf("; %lld non-finite mismatches", (long long)nan_bad);
    printf("\n");
    return ok;
}

/* ---------------------------------------------------------------- cases */

static int run_case(ks_context *ctx, const char *dir, const char *model_path, const jm_node *c,
                    double tol) {
    const char *cname = jstr(c, "name");
    const char *ort_error = jstr(c, "ort_error");
    const jm_node *ins = jm_get(c, "inputs"), *outs = jm_get(c, "outputs");
    int n_in = ins ? ins->n : 0;
    printf("case %s%s\n", cname ? cname : "?", ort_error ? " (ORT fails on it)" : "");
    ks_model *m = NULL;
    ks_session *s = NULL;
    ks_tensor in_t[8];
    const char *in_names[8];
    ks_tensor out_t[32];
    memset(in_t, 0, sizeof in_t);
    memset(out_t, 0, sizeof out_t);
    int n_out_model = 0, ok = 1;
    ks_status st = KS_OK;
    const char *stage = "load";
    char path[8192];
    double t0 = now_s();

    if (n_in > 8) {
        printf("  FAIL: too many inputs\n");
        return 0;
    }
    st = ks_model_load_file(ctx, model_path, NULL, &m);
    for (int i = 0; st == KS_OK && i < n_in; i++) {
        const jm_node *ji = ins->items[i];
        in_names[i] = jstr(ji, "name");
        snprintf(path, sizeof path, "%s/%s", dir, jstr(ji, "file"));
        if (ks_tensor_load_npy(ctx, path, &in_t[i]) != KS_OK) {
            printf("  FAIL: cannot read %s: %s\n", path, ks_context_last_error(ctx));
            ok = 0;
            goto done;
        }
        stage = "set_input_shape";
        st = ks_model_set_input_shape(m, in_names[i], in_t[i].ndim, in_t[i].dims);
    }
    if (st == KS_OK) {
        stage = "session_create";
        st = ks_session_create(m, NULL, &s);
    }
    if (st == KS_OK) {
        stage = "run";
        n_out_model = ks_model_num_outputs(m);
        if (n_out_model > 32) {
            printf("  FAIL: too many outputs\n");
            ok = 0;
            goto done;
        }
        st = ks_session_run(s, n_in, in_names, in_t, 0, NULL, out_t);
    }
    double dt = now_s() - t0;
    if (ort_error) {
        const char *msg = ks_context_last_error(ctx);
        if (st == KS_OK) {
            printf("  FAIL: ORT fails (%s) but kestrel ran it\n", ort_error);
            ok = 0;
        } else if (!msg || !strstr(msg, "node")) {
            printf("  FAIL: kestrel failed at %s (%s) without naming a node: %s\n", stage,
                   ks_status_name(st), msg ? msg : "(no message)");
            ok = 0;
        } else {
            printf("  ok: both fail. ORT: %.200s\n      kestrel (%s, at %s): %s\n", ort_error,
                   ks_status_name(st), stage, msg);
        }
        goto done;
    }
    if (st != KS_OK) {
        printf("  FAIL at %s: %s: %s\n", stage, ks_status_name(st), ks_context_last_error(ctx));
        ok = 0;
        goto done;
    }
    printf("  ran in %.2f s\n", dt);
    for (int j = 0; outs && j < outs->n; j++) {
        const jm_node *jo = outs->items[j];
        const char *oname = jstr(jo, "name");
        int k = -1;
        for (int q = 0; q < n_out_model; q++)
            if (oname && !strcmp(ks_model_output_name(m, q), oname))
                k = q;
        if (k < 0) {
            printf("  %s: FAIL: kestrel model has no output of that name\n", oname);
            ok = 0;
            continue;
        }
        ks_tensor ref = {0};
        snprintf(path, sizeof path, "%s/%s", dir, jstr(jo, "file"));
        if (ks_tensor_load_npy(ctx, path, &ref) != KS_OK) {
            printf("  FAIL: cannot read %s: %s\n", path, ks_context_last_error(ctx));
            ok = 0;
            continue;
        }
        const char *fexact = jstr(jo, "file_exact");
        if (fexact) {
            /* gate on the exact reference, show the raw ORT numbers too */
            ks_tensor ex = {0};
            snprintf(path, sizeof path, "%s/%s", dir, fexact);
            if (ks_tensor_load_npy(ctx, path, &ex) != KS_OK) {
                printf("  FAIL: cannot read %s: %s\n", path, ks_context_last_error(ctx));
                ok = 0;
            } else {
                ok &= compare(oname, &out_t[k], &ex, tol, "exact (float64 sigmoid of ORT logits)");
                compare(oname, &out_t[k], &ref, INFINITY, "raw ORT");
                ks_tensor_release(ctx, &ex);
            }
        } else {
            ok &= compare(oname, &out_t[k], &ref, tol, NULL);
        }
        ks_tensor_release(ctx, &ref);
    }
done:
    for (int i = 0; i < n_out_model; i++)
        ks_tensor_release(ctx, &out_t[i]);
    for (int i = 0; i < n_in; i++)
        ks_tensor_release(ctx, &in_t[i]);
    ks_session_destroy(s);
    ks_model_destroy(m);
    return ok;
}

/* Returns 0 pass, 1 fail. */
static int run_manifest(const char *manifest) {
    jm_node *root = jm_read_file(manifest);
    if (!root) {
        printf("FAIL: cannot parse %s\n", manifest);
        return 1;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", manifest);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    const char *model = jstr(root, "model");
    const jm_node *tolv = jm_get(root, "tolerance");
    double tol = tolv && tolv->type == JM_NUM ? tolv->num : 1e-4;
    const jm_node *cases = jm_get(root, "cases");
    printf("== %s (tolerance %.3g: %s)\n", jstr(root, "model_rel"), tol,
           jstr(root, "tolerance_why") ? jstr(root, "tolerance_why") : "");
    int failed = 0, n = 0;
    ks_context *ctx = NULL;
    if (ks_context_create(NULL, &ctx) != KS_OK) {
        jm_free(root);
        return 1;
    }
    for (int i = 0; cases && i < cases->n; i++, n++)
        if (!run_case(ctx, dir, model, cases->items[i], tol))
            failed++;
    printf("== %s: %d of %d cases passed\n", jstr(root, "model_rel"), n - failed, n);
    ks_context_destroy(ctx);
    jm_free(root);
    return failed ? 1 : 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = 0, n = 0;
    if (argc < 2)
        KS_T_SKIP("needs a manifest path or --all; the model_ort_* tests run it per model");
    if (strcmp(argv[1], "--all") != 0) {
        for (int i = 1; i < argc; i++, n++)
            rc |= run_manifest(argv[i]);
        return rc;
    }
    const char *root = KS_BINARY_DIR "/ort_refs";
    DIR *d = opendir(root);
    if (d) {
        struct dirent *e;
        char path[8192];
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s/manifest.json", root, e->d_name);
            FILE *f = fopen(path, "rb");
            if (!f)
                continue;
            fclose(f);
            rc |= run_manifest(path);
            n++;
        }
        closedir(d);
    }
    if (n == 0)
        KS_T_SKIP("no manifests under %s: the model_ort_* tests (tests/models/tests.cmake) run "
                  "gen_ort_refs.py first",
                  root);
    return rc;
}
