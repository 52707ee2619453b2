/* Builder internals shared by builder.c, passes_plan.c and tactics.c. */
#ifndef KS_CUDA_BUILDER_H
#define KS_CUDA_BUILDER_H
#include <stdarg.h>

#include "backends/cuda/cuda_rt.h"
#include "graph/ir.h"

typedef struct kb {
    ks_context *ctx;
    const ks_build_config *cfg;
    ks_graph *g;
    ks_eng_desc *d;
    int sm;
    int *vt;         /* IR value -> engine tensor (as produced) */
    int *cvt;        /* [2*v + (fp16)] constant weight / cast cache */
    int *n_uses;     /* consumers per value (nodes) */
    int *consumer;   /* one consumer (meaningful when n_uses == 1) */
    int *is_output;
    int n_bn_folded, n_act_fused, n_res_fused, n_ew_fused, n_views, n_casts;
    int n_plugins;
    int *dwpw;       /* candidate depthwise -> pointwise layer pairs (2 ints each), by
                      * final layer index; fused or not by tactics.c */
    int n_dwpw;
    int *pwseg;      /* candidate 1x1 conv -> segmap layer pairs (2 ints each), by final layer index; fused
                      * (the segmap runs the conv in front, own:pointwise:1+segmap) or not by tactics.c */
    int n_pwseg;
    unsigned char *score32; /* per node: a score head kept in FP32 in an FP16 build (builder.c) */
    int n_score32;
    int n_segmap, n_segmap_nodes; /* segment-fuse: layers made, nodes they replace */
    char *report;
    size_t report_len, report_cap;
} kb;

void ks__kb_report(kb *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Makes engine tensor tid the storage of output binding i (or copies). */
ks_status ks__plan_bind_output(kb *b, int i, int tid, const char *name);
/* Concat elimination, dead-layer removal, activation memory plan. */
ks_status ks__plan_passes(kb *b);
/* KESTREL_DWPW: "off" = no fused depthwise+pointwise candidates; "force" or
 * "force:N" = fuse every candidate (tile config N) whatever the timing says
 * (tests); unset = timed. Returns 0 off, 1 timed, 2 forced (fastest tile),
 * 3 + N forced with tile N. */
int ks__dwpw_mode(void);
/* KESTREL_PW_SEG: unset or "off" = no 1x1 conv + segmap candidates (the default: the fused kernel measured
 * slower, tactics.c); "on" = candidates, fused where timing says so; "force" = fuse every candidate whatever the
 * timing says (tests). Returns 0 off, 1 timed, 2 forced. */
int ks__pwseg_mode(void);
/* Times candidate tactics per layer (timing cache) and fixes workspace. */
ks_status ks__tactics_select(kb *b, ks_engine *e);
/* Lowering + passes only (no GPU): for tests and tools. */
ks_status ks__engine_build_desc(ks_model *model, const ks_build_config *cfg, int sm, ks_eng_desc **out,
                                char **report);
#endif
