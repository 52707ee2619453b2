/* BatchedNMS plugin (src/plugins/nms): the kestrel NMS (ks_nms_cpu /
 * ks_nms_cuda, src/vision/nms.*) as an operator through the public plugin
 * API. See README.md. Register with ks_plugin_register(ctx, ks__nms_plugin_desc()). */
#ifndef KS_PLUGINS_NMS_PLUGIN_H
#define KS_PLUGINS_NMS_PLUGIN_H
#include "kestrel/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

const ks_plugin_desc *ks__nms_plugin_desc(void);
/* Reads serialize()d BatchedNMS parameters (v1 or v2); 0 on success, -1 otherwise. */
int ks__nms_plugin_peek(const void *bytes, size_t n_bytes, float *score_threshold, float *iou_threshold,
                        int32_t *top_k, int32_t *max_output, int32_t *class_aware);

#ifdef KS_HAVE_CUDA
/* nms_plugin.cu: per-row best class of scores [B*N][C] -> best[B*N], cls[B*N]. */
int ks__nms_plugin_argmax_cuda(const float *scores, int64_t rows, int64_t classes, float *best,
                               int32_t *cls, void *stream, char *err, size_t err_bytes);
/* nms_plugin.cu: rows [R][4] boxes + [R][L] landmarks -> [R][4 + L]. */
int ks__nms_plugin_pack_cuda(const float *boxes, const float *landmarks, int64_t rows, int L, float *dst,
                             void *stream, char *err, size_t err_bytes);
#endif

#ifdef __cplusplus
}
#endif
#endif
