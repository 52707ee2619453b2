/* kestrel info M.onnx [--shapes name:1x3x480x640 ...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cli.h"

static void print_value(const char *kind, const char *name, ks_dtype dt, int ndim,
                        const int64_t *dims, const char *const *names) {
    printf("  %-7s %-24s %-8s [", kind, name, ks_dtype_name(dt));
    if (ndim < 0)
        printf("unknown rank");
    for (int d = 0; d < ndim; d++) {
        if (d)
            printf(", ");
        if (dims[d] >= 0)
            printf("%lld", (long long)dims[d]);
        else if (names && names[d])
            printf("%s", names[d]);
        else
            printf("?");
    }
    printf("]\n");
}

typedef struct op_count {
    const char *op;
    int n;
} op_count;

static int cmp_count(const void *a, const void *b) {
    const op_count *x = a, *y = b;
    if (x->n != y->n)
        return y->n - x->n;
    return strcmp(x->op, y->op);
}

int ks_cmd_info(int argc, char **argv) {
    const char *path = NULL;
    char *shape_names[16];
    int shape_ndim[16];
    int64_t shape_dims[16][KS_MAX_DIMS];
    int n_shapes = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: kestrel info MODEL(.onnx|.prototxt) [--shapes name:1x3x480x640]...\n"
                   "Prints inputs, outputs, opset, op histogram, parameter count and FLOPs\n"
                   "(FLOPs need static shapes: pass --shapes for dynamic inputs).\n");
            return 0;
        } else if (!strcmp(argv[i], "--shapes") && i + 1 < argc) {
            char *list = argv[++i];
            for (char *tok = strtok(list, ","); tok && n_shapes < 16; tok = strtok(NULL, ",")) {
                if (ks_cli_parse_named_shape(tok, &shape_names[n_shapes], &shape_ndim[n_shapes],
                                             shape_dims[n_shapes]) != 0) {
                    fprintf(stderr, "kestrel info: bad --shapes entry '%s' (want name:1x3x480x640)\n", tok);
                    return 2;
                }
                n_shapes++;
            }
        } else if (argv[i][0] == '-' ) {
            fprintf(stderr, "kestrel info: unknown option %s\n", argv[i]);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "usage: kestrel info MODEL [--shapes name:dims]\n");
        return 2;
    }
    ks_context *ctx = ks_cli_context(KS_LOG_WARN);
    if (!ctx)
        return 1;
    ks_model *m = NULL;
    int rc = 0;
    ks_status st = ks_model_load_file(ctx, path, NULL, &m);
    if (st != KS_OK) {
        rc = ks_cli_fail(ctx, st, "import");
        goto out;
    }
    for (int i = 0; i < n_shapes; i++) {
        st = ks_model_set_input_shape(m, shape_names[i], shape_ndim[i], shape_dims[i]);
        if (st != KS_OK) {
            rc = ks_cli_fail(ctx, st, "--shapes");
            goto out;
        }
    }
    if (n_shapes && (st = ks_model_optimize(m)) != KS_OK) {
        rc = ks_cli_fail(ctx, st, "shape inference");
        goto out;
    }
    printf("model:   %s\nopset:   %d\n", path, ks_model_opset(m));
    for (int i = 0; i < ks_model_num_inputs(m); i++) {
        ks_dtype dt;
        int nd;
        int64_t dims[KS_MAX_DIMS];
        const char *names[KS_MAX_DIMS];
        ks_model_input_info(m, i, &dt, &nd, dims, names);
        print_value("input", ks_model_input_name(m, i), dt, nd, dims, names);
    }
    for (int i = 0; i < ks_model_num_outputs(m); i++) {
        ks_dtype dt;
        int nd;
        int64_t dims[KS_MAX_DIMS];
        const char *names[KS_MAX_DIMS];
        ks_model_output_info(m, i, &dt, &nd, dims, names);
        print_value("output", ks_model_output_name(m, i), dt, nd, dims, names);
    }
    int nn = ks_model_num_nodes(m);
    op_count counts[256];
    int n_ops = 0;
    for (int i = 0; i < nn; i++) {
        const char *op = ks_model_node_op(m, i);
        int k;
        for (k = 0; k < n_ops; k++)
            if (!strcmp(counts[k].op, op))
                break;
        if (k == n_ops && n_ops < 256)
            counts[n_ops++] = (op_count){op, 0};
        if (k < n_ops)
            counts[k].n++;
    }
    qsort(counts, (size_t)n_ops, sizeof(op_count), cmp_count);
    printf("nodes:   %d (after folding constants and shape subgraphs)\nops:    ", nn);
    for (int k = 0; k < n_ops; k++)
        printf(" %s:%d", counts[k].op, counts[k].n);
    printf("\nparams:  %lld\n", (long long)ks_model_num_params(m));
    int64_t flops = ks_model_flops(m);
    if (flops >= 0)
        printf("FLOPs:   %.4f GFLOP (2 per multiply-add; Conv, ConvTranspose, Gemm, MatMul)\n",
               (double)flops / 1e9);
    else
        printf("FLOPs:   unknown (dynamic shapes: pass --shapes)\n");
out:
    for (int i = 0; i < n_shapes; i++)
        free(shape_names[i]);
    ks_model_destroy(m);
    ks_context_destroy(ctx);
    return rc;
}
