/* kestrel conformance: runs ONNX's node test data (model.onnx +
 * test_data_set_N/{input,output}_K.pb) through the public API on the CPU
 * reference backend and compares the outputs.
 *
 *   kestrel conformance [DIR] [--filter SUBSTR] [--write-doc docs/operators.md]
 *                       [--require-ops A,B,..] [--require-file FILE] [--strict]
 *                       [--verbose] [--no-fork] [--timeout SEC] [--atol X] [--rtol X]
 *
 * Each test runs in a forked child so that a crashing or hanging kernel is
 * reported as FAIL for that test and the run goes on. One line per test:
 *   PASS name | FAIL name: reason | SKIP name: reason
 * and finally "conformance: N passed, M failed, K skipped".
 *
 * Tests are attributed to an op: the op_type of the model's single node, or
 * else the op whose snake_case name is the longest prefix of the test name.
 * --require-ops makes the exit status 1 if any test of a listed op (other
 * than the *_expanded function-body variants) fails, or is skipped for a
 * reason other than an unsupported data type (test_training_* cases, which
 * need random dropout masks, may be skipped). Exit status 77 if DIR does not
 * exist (ctest: skipped). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "graph/ir.h"
#include "onnx/onnx_pb.h"
#include "onnx/onnx_tensor.h"
#include "tools/cli.h"

#define DEFAULT_DIR "/usr/share/libonnx-testdata/data/node"
#define MSG_BYTES 600

typedef enum { R_PASS = 0, R_FAIL, R_SKIP } result_kind;
/* why a test was skipped */
typedef enum { SK_NONE = 0, SK_DTYPE, SK_OP, SK_ATTR, SK_VERSION, SK_OTHER } skip_kind;

typedef struct result {
    result_kind kind;
    skip_kind skip;
    char msg[MSG_BYTES];
} result;

typedef struct options {
    const char *dir;
    const char *filter;
    const char *doc;
    int verbose;
    int strict;
    int fork;
    int timeout_s;
    double atol, rtol;
    char **required;
    int n_required;
} options;

typedef struct test_case {
    char *name;
    char *op; /* attributed op type (owned) */
    int expanded;
    result r;
} test_case;

/* ---------------------------------------------------------------- small utils */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}
static int is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static void set_result(result *r, result_kind k, skip_kind sk, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_result(result *r, result_kind k, skip_kind sk, const char *fmt, ...) {
    r->kind = k;
    r->skip = sk;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
}

/* Squashes a status into a skip category, or SK_NONE when it is a failure. */
static skip_kind skip_of(ks_status st) {
    switch (st) {
    case KS_UNSUPPORTED_DTYPE:
        return SK_DTYPE;
    case KS_UNSUPPORTED_OP:
        return SK_OP;
    case KS_UNSUPPORTED_ATTR:
        return SK_ATTR;
    case KS_VERSION_MISMATCH:
        return SK_VERSION;
    default:
        return SK_NONE;
    }
}

/* Drops "<path>/model.onnx: " from messages to keep lines short. */
static const char *short_msg(const char *m, const char *path) {
    size_t n = strlen(path);
    if (!strncmp(m, path, n) && m[n] == ':' && m[n + 1] == ' ')
        return m + n + 2;
    return m;
}

/* ---------------------------------------------------------------- comparison */

static double get_f(const ks_tensor *t, int64_t i) {
    switch (t->dtype) {
    case KS_DTYPE_FLOAT32:
        return ((const float *)t->data)[i];
    case KS_DTYPE_FLOAT64:
        return ((const double *)t->data)[i];
    case KS_DTYPE_FLOAT16:
        return ks_half_to_float(((const uint16_t *)t->data)[i]);
    default:
        return 0;
    }
}
static int64_t get_i(const ks_tensor *t, int64_t i) {
    switch (t->dtype) {
    case KS_DTYPE_INT8:
        return ((const int8_t *)t->data)[i];
    case KS_DTYPE_UINT8:
        return ((const uint8_t *)t->data)[i];
    case KS_DTYPE_BOOL:
        return ((const uint8_t *)t->data)[i] != 0;
    case KS_DTYPE_INT32:
        return ((const int32_t *)t->data)[i];
    case KS_DTYPE_INT64:
        return ((const int64_t *)t->data)[i];
    default:
        return 0;
    }
}

/* Returns 1 if equal within tolerance; else writes a reason. */
static int compare(const ks_tensor *got, const ks_tensor *want, const char *oname, int oi,
                   const options *o, char *why, size_t why_n) {
    char sg[128], sw[128];
    if (got->dtype != want->dtype) {
        snprintf(why, why_n, "output %d '%s': dtype %s, expected %s", oi, oname,
                 ks_dtype_name(got->dtype), ks_dtype_name(want->dtype));
        return 0;
    }
    int same = got->ndim == want->ndim;
    for (int d = 0; same && d < want->ndim; d++)
        same = got->dims[d] == want->dims[d];
    if (!same) {
        snprintf(why, why_n, "output %d '%s': shape %s, expected %s", oi, oname,
                 ks_shape_str(got->dims, got->ndim, sg, sizeof sg),
                 ks_shape_str(want->dims, want->ndim, sw, sizeof sw));
        return 0;
    }
    int64_t n = ks_tensor_numel(want);
    if (n > 0 && (!got->data || !want->data)) {
        snprintf(why, why_n, "output %d '%s': no data", oi, oname);
        return 0;
    }
    int is_float = want->dtype == KS_DTYPE_FLOAT32 || want->dtype == KS_DTYPE_FLOAT64 ||
                   want->dtype == KS_DTYPE_FLOAT16;
    if (!is_float) {
        for (int64_t i = 0; i < n; i++)
            if (get_i(got, i) != get_i(want, i)) {
                snprintf(why, why_n, "output %d '%s': element %lld is %lld, expected %lld", oi,
                         oname, (long long)i, (long long)get_i(got, i), (long long)get_i(want, i));
                return 0;
            }
        return 1;
    }
    double atol = o->atol, rtol = o->rtol;
    if (want->dtype == KS_DTYPE_FLOAT16) {
        atol = atol > 1e-3 ? atol : 1e-3;
        rtol = rtol > 1e-3 ? rtol : 1e-3;
    }
    double max_err = 0;
    int64_t bad = -1, first_bad = -1;
    for (int64_t i = 0; i < n; i++) {
        double a = get_f(got, i), b = get_f(want, i);
        if (isnan(a) || isnan(b)) {
            if (isnan(a) && isnan(b))
                continue;
            if (first_bad < 0)
                first_bad = i;
            max_err = INFINITY;
            bad = i;
            continue;
        }
        if (isinf(a) || isinf(b)) {
            if (a == b)
                continue;
            if (first_bad < 0)
                first_bad = i;
            max_err = INFINITY;
            bad = i;
            continue;
        }
        double e = fabs(a - b);
        if (e > atol + rtol * fabs(b)) {
            if (first_bad < 0)
                first_bad = i;
            if (e > max_err || bad < 0) {
                max_err = e > max_err ? e : max_err;
                bad = i;
            }
        }
    }
    if (first_bad < 0)
        return 1;
    snprintf(why, why_n,
             "max abs err %.6g at output %d '%s' (element %lld: got %.9g, expected %.9g)", max_err,
             oi, oname, (long long)bad, get_f(got, bad), get_f(want, bad));
    return 0;
}

/* ---------------------------------------------------------------- one test */

static int count_files(const char *dir, const char *prefix) {
    int n = 0;
    char p[4400]; /* dir is at most a 4300-byte set path */
    for (;;) {
        snprintf(p, sizeof p, "%s/%s_%d.pb", dir, prefix, n);
        if (!is_file(p))
            return n;
        n++;
    }
}

static void release_all(ks_context *ctx, ks_tensor *t, int n) {
    for (int i = 0; t && i < n; i++)
        ks_tensor_release(ctx, &t[i]);
}

/* Runs one data set; returns 1 if it passed, 0 with r set otherwise. */
static int run_data_set(ks_context *ctx, const char *model_path, const char *set_dir,
                        const options *o, result *r) {
    ks_model *m = NULL;
    ks_session *s = NULL;
    ks_tensor *ins = NULL, *outs = NULL, *want = NULL;
    char **in_names = NULL;
    const char **bind = NULL;
    int n_in = count_files(set_dir, "input"), n_want = count_files(set_dir, "output");
    int ok = 0, n_out = 0;
    ks_status st = ks_model_load_file(ctx, model_path, NULL, &m);
    if (st != KS_OK) {
        skip_kind sk = skip_of(st);
        set_result(r, sk ? R_SKIP : R_FAIL, sk, "import: %s: %s", ks_status_name(st),
                   short_msg(ks_context_last_error(ctx), model_path));
        return 0;
    }
    int n_model_in = ks_model_num_inputs(m);
    n_out = ks_model_num_outputs(m);
    ins = calloc((size_t)n_in + 1, sizeof(ks_tensor));
    in_names = calloc((size_t)n_in + 1, sizeof(char *));
    bind = calloc((size_t)n_in + 1, sizeof(char *));
    outs = calloc((size_t)n_out + 1, sizeof(ks_tensor));
    want = calloc((size_t)n_want + 1, sizeof(ks_tensor));
    if (!ins || !in_names || !bind || !outs || !want) {
        set_result(r, R_FAIL, SK_NONE, "out of memory");
        goto done;
    }
    char p[4400]; /* set_dir is at most 4300 bytes */
    int n_bind = 0;
    for (int i = 0; i < n_in; i++) {
        snprintf(p, sizeof p, "%s/input_%d.pb", set_dir, i);
        st = ks__onnx_load_tensor_pb(ctx, p, &ins[i], &in_names[i]);
        if (st != KS_OK) {
            skip_kind sk = st == KS_UNSUPPORTED_DTYPE ? SK_DTYPE : SK_NONE;
            set_result(r, sk ? R_SKIP : R_FAIL, sk, "input_%d.pb: %s: %s", i, ks_status_name(st),
                       ks_context_last_error(ctx));
            goto done;
        }
        /* Bind by the tensor's name when it names a model input, else by position. */
        const char *bn = NULL;
        for (int k = 0; k < n_model_in; k++)
            if (in_names[i][0] && !strcmp(in_names[i], ks_model_input_name(m, k)))
                bn = ks_model_input_name(m, k);
        if (!bn && i < n_model_in)
            bn = ks_model_input_name(m, i);
        if (!bn) {
            set_result(r, R_FAIL, SK_NONE, "input_%d.pb ('%s') matches no model input (%d inputs)",
                       i, in_names[i], n_model_in);
            goto done;
        }
        bind[n_bind++] = bn;
        st = ks_model_set_input_shape(m, bn, ins[i].ndim, ins[i].dims);
        if (st != KS_OK) {
            set_result(r, R_FAIL, SK_NONE, "set input shape '%s': %s: %s", bn, ks_status_name(st),
                       short_msg(ks_context_last_error(ctx), model_path));
            goto done;
        }
    }
    for (int i = 0; i < n_want; i++) {
        snprintf(p, sizeof p, "%s/output_%d.pb", set_dir, i);
        st = ks__onnx_load_tensor_pb(ctx, p, &want[i], NULL);
        if (st != KS_OK) {
            skip_kind sk = st == KS_UNSUPPORTED_DTYPE ? SK_DTYPE : SK_NONE;
            set_result(r, sk ? R_SKIP : R_FAIL, sk, "output_%d.pb: %s: %s", i, ks_status_name(st),
                       ks_context_last_error(ctx));
            goto done;
        }
    }
    if (n_want != n_out) {
        set_result(r, R_FAIL, SK_NONE, "model has %d outputs, test data %d", n_out, n_want);
        goto done;
    }
    st = ks_session_create(m, NULL, &s);
    if (st != KS_OK) {
        skip_kind sk = skip_of(st);
        set_result(r, sk ? R_SKIP : R_FAIL, sk, "session: %s: %s", ks_status_name(st),
                   short_msg(ks_context_last_error(ctx), model_path));
        goto done;
    }
    st = ks_session_run(s, n_bind, bind, ins, 0, NULL, outs);
    if (st != KS_OK) {
        skip_kind sk = skip_of(st);
        set_result(r, sk ? R_SKIP : R_FAIL, sk, "run: %s: %s", ks_status_name(st),
                   short_msg(ks_context_last_error(ctx), model_path));
        goto done;
    }
    for (int i = 0; i < n_out; i++) {
        char why[MSG_BYTES - 32];
        if (!compare(&outs[i], &want[i], ks_model_output_name(m, i), i, o, why, sizeof why)) {
            set_result(r, R_FAIL, SK_NONE, "%s", why);
            goto done;
        }
    }
    ok = 1;
done:
    release_all(ctx, ins, n_in);
    release_all(ctx, want, n_want);
    release_all(ctx, outs, n_out);
    for (int i = 0; in_names && i < n_in; i++)
        ks__free(ctx, in_names[i]);
    free(ins);
    free(in_names);
    free(bind);
    free(outs);
    free(want);
    ks_session_destroy(s);
    ks_model_destroy(m);
    return ok;
}

static void run_test(const options *o, const char *name, result *r) {
    char dir[4096], model[4200], set[4300];
    snprintf(dir, sizeof dir, "%s/%s", o->dir, name);
    snprintf(model, sizeof model, "%s/model.onnx", dir);
    ks_context *ctx = NULL;
    if (ks_context_create(NULL, &ctx) != KS_OK) {
        set_result(r, R_FAIL, SK_NONE, "cannot create a context");
        return;
    }
    int n_sets = 0;
    for (int k = 0;; k++) {
        snprintf(set, sizeof set, "%s/test_data_set_%d", dir, k);
        if (!is_dir(set))
            break;
        n_sets++;
        if (!run_data_set(ctx, model, set, o, r)) {
            if (k > 0 && r->kind == R_FAIL) {
                char tmp[MSG_BYTES];
                snprintf(tmp, sizeof tmp, "data set %d: %.560s", k, r->msg);
                memcpy(r->msg, tmp, sizeof tmp);
            }
            ks_context_destroy(ctx);
            return;
        }
    }
    ks_context_destroy(ctx);
    if (!n_sets)
        set_result(r, R_SKIP, SK_OTHER, "no test_data_set_* directories");
    else
        set_result(r, R_PASS, SK_NONE, "%s", "");
}

/* Runs run_test in a child process; a crash or a timeout becomes FAIL. */
static void run_test_isolated(const options *o, const char *name, result *r) {
    if (!o->fork) {
        run_test(o, name, r);
        return;
    }
    int fds[2];
    if (pipe(fds) != 0) {
        run_test(o, name, r);
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        run_test(o, name, r);
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        result cr;
        memset(&cr, 0, sizeof cr);
        run_test(o, name, &cr);
        const char *p = (const char *)&cr;
        size_t left = sizeof cr;
        while (left) {
            ssize_t w = write(fds[1], p, left);
            if (w <= 0)
                break;
            p += w;
            left -= (size_t)w;
        }
        _exit(0);
    }
    close(fds[1]);
    memset(r, 0, sizeof *r);
    size_t got = 0;
    int timed_out = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (got < sizeof *r) {
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long elapsed_ms =
            (long)(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        long left_ms = (long)o->timeout_s * 1000 - elapsed_ms;
        if (left_ms <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd pfd = {fds[0], POLLIN, 0};
        int pr = poll(&pfd, 1, (int)(left_ms > 1000 ? 1000 : left_ms));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        ssize_t n = read(fds[0], (char *)r + got, sizeof *r - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) {
        set_result(r, R_FAIL, SK_NONE, "timed out after %d s", o->timeout_s);
    } else if (WIFSIGNALED(status)) {
        set_result(r, R_FAIL, SK_NONE, "crashed: signal %d (%s)", WTERMSIG(status),
                   strsignal(WTERMSIG(status)));
    } else if (got != sizeof *r) {
        set_result(r, R_FAIL, SK_NONE, "the test process exited with status %d without a result",
                   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    r->msg[sizeof r->msg - 1] = '\0';
}

/* ---------------------------------------------------------------- op attribution */

typedef struct strlist {
    char **v;
    int n, cap;
} strlist;

static int sl_find(const strlist *l, const char *s) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s))
            return i;
    return -1;
}
static void sl_add(strlist *l, const char *s) {
    if (sl_find(l, s) >= 0)
        return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, (size_t)l->cap * sizeof(char *));
    }
    l->v[l->n++] = strdup(s);
}
static void sl_free(strlist *l) {
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* op_type of the model's only node (not counting Constant nodes when there
 * is exactly one other node), or NULL. */
static char *single_op(ks_context *ctx, const char *model_path) {
    void *data;
    size_t n;
    if (ks__read_file(ctx, model_path, &data, &n) != KS_OK)
        return NULL;
    Onnx__ModelProto *mp = (Onnx__ModelProto *)ks__pb_unpack(ctx, &onnx__model_proto__descriptor,
                                                             data, n, model_path, "ONNX model");
    ks__free(ctx, data);
    if (!mp)
        return NULL;
    char *op = NULL;
    const Onnx__GraphProto *g = mp->graph;
    if (g) {
        const char *cand = NULL;
        int others = 0, consts = 0;
        for (size_t i = 0; i < g->n_node; i++) {
            const char *t = g->node[i]->op_type ? g->node[i]->op_type : "";
            if (!strcmp(t, "Constant")) {
                consts++;
                continue;
            }
            others++;
            cand = t;
        }
        if (others == 1)
            op = strdup(cand);
        else if (others == 0 && consts == 1)
            op = strdup("Constant");
    }
    ks__pb_free(ctx, &mp->base);
    return op;
}

static void squash(const char *s, char *out, size_t n) {
    size_t k = 0;
    for (; *s && k + 1 < n; s++)
        if (*s != '_')
            out[k++] = (char)tolower((unsigned char)*s);
    out[k] = '\0';
}

/* Longest op whose squashed name equals the squashed test-name prefix ending
 * at an underscore boundary. */
static const char *op_from_test_name(const char *test, const strlist *ops) {
    const char *rest = !strncmp(test, "test_", 5) ? test + 5 : test;
    const char *best = NULL;
    size_t best_len = 0;
    size_t L = strlen(rest);
    for (size_t end = 1; end <= L; end++) {
        if (end != L && rest[end] != '_')
            continue;
        char pre[256], sq[256];
        size_t m = end < sizeof pre - 1 ? end : sizeof pre - 1;
        memcpy(pre, rest, m);
        pre[m] = '\0';
        squash(pre, sq, sizeof sq);
        for (int i = 0; i < ops->n; i++) {
            char so[256];
            squash(ops->v[i], so, sizeof so);
            if (!strcmp(so, sq) && end > best_len) {
                best = ops->v[i];
                best_len = end;
            }
        }
    }
    return best;
}

/* ---------------------------------------------------------------- doc */

static int is_supported_op(const char *op) {
    return !strcmp(op, "Upsample") || ks__op_from_name(op) != KS_OP_COUNT;
}

static int write_doc(const options *o, test_case *tc, int n, int n_pass, int n_fail, int n_skip) {
    FILE *f = fopen(o->doc, "w");
    if (!f) {
        fprintf(stderr, "kestrel conformance: cannot write %s: %s\n", o->doc, strerror(errno));
        return 1;
    }
    fprintf(f,
            "# Operators\n\n"
            "Generated by `kestrel conformance --write-doc docs/operators.md` from ONNX's node\n"
            "test data (`%s`, %d test cases; Debian `libonnx-testdata`). Each case imports\n"
            "`model.onnx` through the public API, runs it on the CPU reference backend and\n"
            "compares every output (floats: |got - expected| <= %g + %g * |expected|, float16\n"
            "outputs at least 1e-3; integers and bools exactly; NaN equals NaN).\n\n",
            o->dir, n, o->atol, o->rtol);
    fprintf(f, "**conformance: %d passed, %d failed, %d skipped**\n\n", n_pass, n_fail, n_skip);
    fprintf(f,
            "Tests are attributed to the op type of the model's single node, else to the op\n"
            "named by the test's prefix (`*_expanded` cases run the op's function body, i.e.\n"
            "other ops). Skips are unsupported data types (string, bfloat16, float8, uint16 ...),\n"
            "ops or attributes used inside the test, or opset forms older than 7.\n\n");
    fprintf(f, "## Supported operators\n\n| Op | ONNX tests | pass | fail | skip | notes |\n"
               "|---|---:|---:|---:|---:|---|\n");
    strlist ops = {0};
    for (int i = 0; i < KS_OP_COUNT; i++)
        if (i != KS_OP_PLUGIN)
            sl_add(&ops, ks__op_name((ks_op)i));
    sl_add(&ops, "Upsample");
    qsort(ops.v, (size_t)ops.n, sizeof(char *), cmp_str);
    for (int i = 0; i < ops.n; i++) {
        int t = 0, p = 0, fl = 0, s = 0;
        for (int k = 0; k < n; k++) {
            if (!tc[k].op || strcmp(tc[k].op, ops.v[i]))
                continue;
            t++;
            p += tc[k].r.kind == R_PASS;
            fl += tc[k].r.kind == R_FAIL;
            s += tc[k].r.kind == R_SKIP;
        }
        const char *note = !strcmp(ops.v[i], "Upsample") ? "imported as Resize" : "";
        if (!t)
            fprintf(f, "| %s | 0 | | | | no test in the data%s%s |\n", ops.v[i], *note ? "; " : "",
                    note);
        else
            fprintf(f, "| %s | %d | %d | %d | %d | %s |\n", ops.v[i], t, p, fl, s, note);
    }
    sl_free(&ops);
    fprintf(f, "\n## ONNX operators in the test data that kestrel does not support\n\n");
    strlist un = {0};
    for (int k = 0; k < n; k++)
        if (tc[k].op && !is_supported_op(tc[k].op))
            sl_add(&un, tc[k].op);
    qsort(un.v, (size_t)un.n, sizeof(char *), cmp_str);
    for (int i = 0; i < un.n; i++) {
        int t = 0;
        for (int k = 0; k < n; k++)
            t += tc[k].op && !strcmp(tc[k].op, un.v[i]);
        fprintf(f, "%s%s (%d)", i ? ", " : "", un.v[i], t);
    }
    fprintf(f, "%s\n", un.n ? "" : "(none)");
    int n_unattr = 0;
    for (int k = 0; k < n; k++)
        n_unattr += !tc[k].op;
    if (n_unattr) {
        fprintf(f, "\nTests not attributed to any op (%d): ", n_unattr);
        int first = 1;
        for (int k = 0; k < n; k++)
            if (!tc[k].op) {
                fprintf(f, "%s`%s`", first ? "" : ", ", tc[k].name);
                first = 0;
            }
        fprintf(f, "\n");
    }
    sl_free(&un);
    fprintf(f, "\n## Failing tests of supported operators\n\n");
    int any = 0;
    for (int k = 0; k < n; k++) {
        if (tc[k].r.kind != R_FAIL)
            continue;
        char msg[200];
        snprintf(msg, sizeof msg, "%.199s", tc[k].r.msg);
        for (char *c = msg; *c; c++)
            if (*c == '|' || *c == '\n')
                *c = '/';
        fprintf(f, "- `%s` (%s): %s\n", tc[k].name, tc[k].op ? tc[k].op : "?", msg);
        any = 1;
    }
    if (!any)
        fprintf(f, "(none)\n");
    fclose(f);
    return 0;
}

/* ---------------------------------------------------------------- main */

static void add_required(options *o, const char *list) {
    char *dup = strdup(list);
    for (char *tok = strtok(dup, ", \t\n"); tok; tok = strtok(NULL, ", \t\n")) {
        o->required = realloc(o->required, (size_t)(o->n_required + 1) * sizeof(char *));
        o->required[o->n_required++] = strdup(tok);
    }
    free(dup);
}

static int read_required_file(options *o, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *h = strchr(line, '#');
        if (h)
            *h = '\0';
        add_required(o, line);
    }
    fclose(f);
    return 0;
}

static int is_required(const options *o, const char *op) {
    for (int i = 0; op && i < o->n_required; i++)
        if (!strcmp(o->required[i], op))
            return 1;
    return 0;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: kestrel conformance [DIR] [options]\n"
            "  DIR                 ONNX node test directory (default %s)\n"
            "  --filter SUBSTR     only tests whose name contains SUBSTR\n"
            "  --write-doc FILE    write the operator table (docs/operators.md)\n"
            "  --require-ops LIST  comma-separated ops whose tests must all pass (exit 1 if not)\n"
            "  --require-file FILE the same, ops listed in a file ('#' comments)\n"
            "  --strict            exit 1 if any test fails\n"
            "  --timeout SEC       per-test time limit (default 120)\n"
            "  --atol X --rtol X   float tolerance (default 1e-4 each)\n"
            "  --no-fork           run tests in-process (debugging; a crash ends the run)\n"
            "  --verbose           print timing and attribution\n"
            "exit: 0 ok, 1 failures (with --strict/--require-*), 2 usage, 77 DIR missing\n",
            DEFAULT_DIR);
}

int ks_cmd_conformance(int argc, char **argv) {
    options o;
    memset(&o, 0, sizeof o);
    o.dir = DEFAULT_DIR;
    o.fork = 1;
    o.timeout_s = 120;
    o.atol = 1e-4;
    o.rtol = 1e-4;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_next = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--filter") && has_next) {
            o.filter = argv[++i];
        } else if (!strcmp(a, "--write-doc") && has_next) {
            o.doc = argv[++i];
        } else if (!strcmp(a, "--require-ops") && has_next) {
            add_required(&o, argv[++i]);
        } else if (!strcmp(a, "--require-file") && has_next) {
            if (read_required_file(&o, argv[++i]) != 0) {
                fprintf(stderr, "kestrel conformance: cannot read %s\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--timeout") && has_next) {
            o.timeout_s = atoi(argv[++i]);
            if (o.timeout_s <= 0)
                o.timeout_s = 120;
        } else if (!strcmp(a, "--atol") && has_next) {
            o.atol = atof(argv[++i]);
        } else if (!strcmp(a, "--rtol") && has_next) {
            o.rtol = atof(argv[++i]);
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            o.verbose = 1;
        } else if (!strcmp(a, "--strict")) {
            o.strict = 1;
        } else if (!strcmp(a, "--no-fork")) {
            o.fork = 0;
        } else if (a[0] != '-') {
            o.dir = a;
        } else {
            fprintf(stderr, "kestrel conformance: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!is_dir(o.dir)) {
        fprintf(stderr, "kestrel conformance: %s: no such directory (skipped)\n", o.dir);
        return 77;
    }

    /* Collect test directories. */
    DIR *d = opendir(o.dir);
    if (!d) {
        fprintf(stderr, "kestrel conformance: %s: %s\n", o.dir, strerror(errno));
        return 77;
    }
    strlist names = {0};
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (o.filter && !strstr(e->d_name, o.filter))
            continue;
        snprintf(p, sizeof p, "%s/%s/model.onnx", o.dir, e->d_name);
        if (is_file(p))
            sl_add(&names, e->d_name);
    }
    closedir(d);
    qsort(names.v, (size_t)names.n, sizeof(char *), cmp_str);

    ks_context *ctx = NULL;
    if (ks_context_create(NULL, &ctx) != KS_OK)
        return 1;
    test_case *tc = calloc((size_t)names.n + 1, sizeof *tc);
    /* Attribution: single-node op types, then name prefixes. */
    strlist ops = {0};
    for (int i = 0; i < KS_OP_COUNT; i++)
        if (i != KS_OP_PLUGIN)
            sl_add(&ops, ks__op_name((ks_op)i));
    sl_add(&ops, "Upsample");
    for (int i = 0; i < names.n; i++) {
        tc[i].name = names.v[i];
        snprintf(p, sizeof p, "%s/%s/model.onnx", o.dir, names.v[i]);
        tc[i].op = single_op(ctx, p);
        if (tc[i].op)
            sl_add(&ops, tc[i].op);
        tc[i].expanded = strstr(names.v[i], "_expanded") != NULL;
    }
    for (int i = 0; i < names.n; i++) {
        if (tc[i].op && !tc[i].expanded)
            continue;
        const char *op = op_from_test_name(tc[i].name, &ops);
        free(tc[i].op);
        tc[i].op = op ? strdup(op) : NULL;
    }
    ks_context_destroy(ctx);

    int n_pass = 0, n_fail = 0, n_skip = 0, n_req_bad = 0;
    for (int i = 0; i < names.n; i++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        run_test_isolated(&o, tc[i].name, &tc[i].r);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        result *r = &tc[i].r;
        const char *tag = r->kind == R_PASS ? "PASS" : r->kind == R_FAIL ? "FAIL" : "SKIP";
        n_pass += r->kind == R_PASS;
        n_fail += r->kind == R_FAIL;
        n_skip += r->kind == R_SKIP;
        /* Training-mode cases (random dropout masks) may be skipped. */
        int training = !strncmp(tc[i].name, "test_training_", 14);
        int req_bad =
            is_required(&o, tc[i].op) && !tc[i].expanded &&
            (r->kind == R_FAIL || (r->kind == R_SKIP && r->skip != SK_DTYPE && !training));
        n_req_bad += req_bad;
        printf("%s %s%s%s", tag, tc[i].name, r->msg[0] ? ": " : "", r->msg);
        if (req_bad)
            printf("  [required op %s]", tc[i].op);
        if (o.verbose)
            printf("  (%s, %.1f ms)", tc[i].op ? tc[i].op : "?",
                   (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
        printf("\n");
        fflush(stdout);
    }
    for (int k = 0; k < o.n_required; k++) {
        int t = 0;
        for (int i = 0; i < names.n; i++)
            t += tc[i].op && !strcmp(tc[i].op, o.required[k]) && !tc[i].expanded;
        if (!t && !o.filter)
            printf("NOTE required op %s has no test in %s\n", o.required[k], o.dir);
    }
    printf("conformance: %d passed, %d failed, %d skipped\n", n_pass, n_fail, n_skip);
    if (o.n_required) {
        if (n_req_bad)
            printf("conformance: %d test(s) of required ops failed or were skipped for a reason "
                   "other than an unsupported dtype\n",
                   n_req_bad);
        rc = n_req_bad ? 1 : 0;
    }
    if (o.strict && n_fail)
        rc = 1;
    if (o.doc && write_doc(&o, tc, names.n, n_pass, n_fail, n_skip) != 0)
        rc = rc ? rc : 1;
    for (int i = 0; i < names.n; i++)
        free(tc[i].op);
    free(tc);
    sl_free(&names);
    sl_free(&ops);
    for (int k = 0; k < o.n_required; k++)
        free(o.required[k]);
    free(o.required);
    return rc;
}
