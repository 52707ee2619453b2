/* DetectionDecode plugin (src/plugins/decode): kestrel's box decoders
 * (ks_decode_cpu / ks_decode_cuda, src/vision/decode.*) as an operator through
 * the public plugin API. See README.md. Register with
 * ks_plugin_register(ctx, ks__decode_plugin_desc()) or ks_vision_register_plugins. */
#ifndef KS_PLUGINS_DECODE_PLUGIN_H
#define KS_PLUGINS_DECODE_PLUGIN_H
#include "kestrel/plugin.h"
#include "kestrel/vision.h"

#ifdef __cplusplus
extern "C" {
#endif

const ks_plugin_desc *ks__decode_plugin_desc(void);

/* What a DetectionDecode node's stored parameters say (for recognising engine files). */
typedef struct ks_decode_plugin_info {
    ks_box_decoder kind;
    ks_detector_family family; /* KS_FAMILY_AUTO when the node did not name one */
    int32_t input_w, input_h;
    float score_threshold;
    int32_t sqrt_score;
} ks_decode_plugin_info;

/* Parses serialize()d DetectionDecode parameters; 0 on success, -1 if the bytes are not
 * DetectionDecode parameters of a known version. */
int ks__decode_plugin_peek(const void *bytes, size_t n_bytes, ks_decode_plugin_info *out);

#ifdef __cplusplus
}
#endif
#endif
