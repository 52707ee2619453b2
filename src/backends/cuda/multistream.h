/* The auxiliary-stream schedule of an engine (multistream.c). The schedule itself is host code on the
 * engine description (tested without a GPU in test_engine_lowering); the execution context adds the
 * streams and events. */
#pragma once
#include "format/engine_format.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KS_MS_MAX_AUX 4
#define KS_MS_NS (KS_MS_MAX_AUX + 1)

typedef struct ks_ms_plan {
    int n_layers, n_aux;   /* n_aux: auxiliary streams used (1..KS_MS_MAX_AUX) */
    int8_t *stream;        /* per layer: 0 = the caller's stream, 1..n_aux */
    uint8_t *rec;          /* per layer: its event is recorded after it */
    int *wait_off;         /* per layer: its waits are waits[wait_off[i] .. wait_off[i + 1]) */
    int *waits;            /* layer indices whose events are waited on */
    int first[KS_MS_NS];   /* first layer of each stream (-1 = unused) */
    int tail[KS_MS_NS];    /* last layer of each stream */
    void *aux[KS_MS_NS];   /* cudaStream_t (contexts only) */
    void **ev;             /* cudaEvent_t per layer, then the fork event (contexts only) */
} ks_ms_plan;

/* Schedules the layers of d over the caller's stream and up to n_aux auxiliary streams; *out stays NULL
 * when they form one chain (or n_aux is 0). */
ks_status ks__ms_schedule(ks_context *ctx, const ks_eng_desc *d, int n_aux, ks_ms_plan **out);
void ks__ms_plan_free(ks_context *ctx, ks_ms_plan *p);
/* 1 when layer b (after a) must wait for layer a: memory one writes and the other touches, the shared
 * workspace, or a barrier kind. */
int ks__ms_conflict(const ks_eng_desc *d, int a, int b);

#ifdef __cplusplus
}
#endif
