/* JPEG decode on the GPU with nvJPEG, loaded at run time (dlopen("libnvjpeg.so.13")):
 * the development and CI machines have no nvJPEG, so nothing here needs its header or
 * links against it. The few declarations needed are repeated below (nvjpeg.h, CUDA 13:
 * opaque handles, status 0 = success, NVJPEG_OUTPUT_RGBI = 5 / BGRI = 6 write interleaved
 * pixels to channel[0], nvjpegImage_t = 4 channel pointers + 4 size_t pitches).
 *
 * The library handle and symbols are resolved once per ks_gpu_jpeg object (dlopen
 * reference-counts the library), so there is no process-global state here. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "vision/vision_internal.h"

typedef struct nvjpeg_handle_s *nvjpeg_handle;
typedef struct nvjpeg_state_s *nvjpeg_state;
typedef struct {
    unsigned char *channel[4];
    size_t pitch[4];
} nvjpeg_image;

enum { NVJ_OK = 0, NVJ_BAD_JPEG = 3, NVJ_NOT_SUPPORTED = 4, NVJ_OUTPUT_RGBI = 5, NVJ_OUTPUT_BGRI = 6 };

typedef int (*fn_create_simple)(nvjpeg_handle *);
typedef int (*fn_destroy)(nvjpeg_handle);
typedef int (*fn_state_create)(nvjpeg_handle, nvjpeg_state *);
typedef int (*fn_state_destroy)(nvjpeg_state);
typedef int (*fn_get_info)(nvjpeg_handle, const unsigned char *, size_t, int *, int *, int *, int *);
typedef int (*fn_decode)(nvjpeg_handle, nvjpeg_state, const unsigned char *, size_t, int, nvjpeg_image *, void *);

struct ks_gpu_jpeg {
    ks_context *ctx;
    void *lib;
    nvjpeg_handle h;
    nvjpeg_state st;
    fn_destroy destroy;
    fn_state_destroy state_destroy;
    fn_get_info get_info;
    fn_decode decode;
};

#ifdef KS_HAVE_CUDA
static const char *status_text(int s) {
    static const char *const t[] = {"success", "not initialized", "invalid parameter", "bad JPEG",
                                    "JPEG not supported", "allocator failure", "execution failed",
                                    "architecture mismatch", "internal error", "implementation not supported",
                                    "incomplete bitstream"};
    return s >= 0 && s < (int)KS_ARRAY_LEN(t) ? t[s] : "unknown nvJPEG status";
}
#endif

void ks_gpu_jpeg_destroy(ks_gpu_jpeg *j) {
    if (!j)
        return;
    if (j->st && j->state_destroy)
        j->state_destroy(j->st);
    if (j->h && j->destroy)
        j->destroy(j->h);
    if (j->lib)
        dlclose(j->lib);
    ks__free(j->ctx, j);
}

ks_status ks_gpu_jpeg_create(ks_context *ctx, ks_gpu_jpeg **out) {
    if (!ctx || !out)
        return KS_INVALID_ARGUMENT;
    *out = NULL;
#ifndef KS_HAVE_CUDA
    return ks__error(ctx, KS_NO_DEVICE, "nvJPEG decode: built without CUDA");
#else
    if (ks__cuda_device_count() <= 0)
        return ks__error(ctx, KS_NO_DEVICE, "nvJPEG decode: no CUDA device");
    void *lib = dlopen("libnvjpeg.so.13", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        lib = dlopen("libnvjpeg.so", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return ks__error(ctx, KS_NO_DEVICE, "nvJPEG decode: cannot load libnvjpeg.so.13 (%s)", dlerror());
    ks_gpu_jpeg *j = ks__alloc(ctx, sizeof(*j));
    if (!j) {
        dlclose(lib);
        return ks__oom(ctx, sizeof(*j), "nvJPEG decoder");
    }
    j->ctx = ctx;
    j->lib = lib;
    fn_create_simple create = (fn_create_simple)dlsym(lib, "nvjpegCreateSimple");
    fn_state_create state_create = (fn_state_create)dlsym(lib, "nvjpegJpegStateCreate");
    j->destroy = (fn_destroy)dlsym(lib, "nvjpegDestroy");
    j->state_destroy = (fn_state_destroy)dlsym(lib, "nvjpegJpegStateDestroy");
    j->get_info = (fn_get_info)dlsym(lib, "nvjpegGetImageInfo");
    j->decode = (fn_decode)dlsym(lib, "nvjpegDecode");
    if (!create || !state_create || !j->destroy || !j->state_destroy || !j->get_info || !j->decode) {
        ks_gpu_jpeg_destroy(j);
        return ks__error(ctx, KS_NO_DEVICE, "nvJPEG decode: libnvjpeg lacks the expected symbols");
    }
    int s = create(&j->h);
    if (s == NVJ_OK)
        s = state_create(j->h, &j->st);
    if (s != NVJ_OK) {
        ks_gpu_jpeg_destroy(j);
        return ks__error(ctx, KS_DEVICE_ERROR, "nvJPEG decode: initialisation failed: %s", status_text(s));
    }
    *out = j;
    return KS_OK;
#endif
}

ks_status ks_gpu_jpeg_decode(ks_gpu_jpeg *j, const void *data, size_t n, ks_pixel_format fmt, void *stream,
                             ks_image *out) {
    if (!j || !out || (!data && n))
        return KS_INVALID_ARGUMENT;
    ks_context *ctx = j->ctx;
    memset(out, 0, sizeof(*out));
    if (fmt != KS_PIXEL_BGR && fmt != KS_PIXEL_RGB)
        return ks__error(ctx, KS_INVALID_ARGUMENT, "nvJPEG decode: output must be BGR or RGB, not %s",
                         ks_pixel_format_name(fmt));
    const unsigned char *p = (const unsigned char *)data;
    if (n < 3 || p[0] != 0xff || p[1] != 0xd8 || p[2] != 0xff)
        return ks__error(ctx, KS_CORRUPT_FILE, "nvJPEG decode: not a JPEG (%zu bytes)", n);
#ifndef KS_HAVE_CUDA
    KS_UNUSED(stream);
    return ks__error(ctx, KS_NO_DEVICE, "nvJPEG decode: built without CUDA");
#else
    int nc = 0, sub = 0, widths[4] = {0}, heights[4] = {0};
    int s = j->get_info(j->h, p, n, &nc, &sub, widths, heights);
    if (s != NVJ_OK)
        return ks__error(ctx, s == NVJ_BAD_JPEG ? KS_CORRUPT_FILE : KS_DEVICE_ERROR,
                         "nvJPEG decode: reading the header: %s", status_text(s));
    if (widths[0] <= 0 || heights[0] <= 0 || widths[0] > 65535 || heights[0] > 65535)
        return ks__error(ctx, KS_CORRUPT_FILE, "nvJPEG decode: size %dx%d out of range", widths[0], heights[0]);
    size_t bytes = ks_image_bytes(fmt, widths[0], heights[0]);
    void *d = NULL;
    const char *msg = "";
    if (ks__cuda_malloc(&d, bytes, &msg))
        return ks__error(ctx, KS_OUT_OF_MEMORY, "nvJPEG decode: cudaMalloc(%zu): %s", bytes, msg);
    nvjpeg_image im;
    memset(&im, 0, sizeof im);
    im.channel[0] = d;
    im.pitch[0] = (size_t)widths[0] * 3;
    s = j->decode(j->h, j->st, p, n, fmt == KS_PIXEL_BGR ? NVJ_OUTPUT_BGRI : NVJ_OUTPUT_RGBI, &im, stream);
    if (s != NVJ_OK) {
        ks__cuda_free(d);
        return ks__error(ctx, s == NVJ_BAD_JPEG || s == 10 ? KS_CORRUPT_FILE : KS_DEVICE_ERROR,
                         "nvJPEG decode: %s", status_text(s));
    }
    ks_image_wrap(out, widths[0], heights[0], fmt, d, 0, KS_MEMORY_DEVICE);
    out->owner_ = d;
    return KS_OK;
#endif
}

ks_status ks_image_decode_device(ks_context *ctx, const void *data, size_t n_bytes, ks_pixel_format fmt,
                                 void *stream, ks_image *out) {
    if (!ctx || !out)
        return KS_INVALID_ARGUMENT;
    memset(out, 0, sizeof(*out));
    ks_gpu_jpeg *j = NULL;
    KS_CHECK(ks_gpu_jpeg_create(ctx, &j));
    ks_status st = ks_gpu_jpeg_decode(j, data, n_bytes, fmt, stream, out);
#ifdef KS_HAVE_CUDA
    if (st == KS_OK) { /* the decoder's state is released below: finish its work first */
        const char *msg = "";
        if (ks__cuda_stream_sync(stream, &msg)) {
            ks_image_release(ctx, out);
            st = ks__error(ctx, KS_DEVICE_ERROR, "nvJPEG decode: %s", msg);
        }
    }
#endif
    ks_gpu_jpeg_destroy(j);
    return st;
}

int ks_image_gpu_decode_available(ks_context *ctx) {
    ks_gpu_jpeg *j = NULL;
    if (ks_gpu_jpeg_create(ctx, &j) != KS_OK) {
        if (ctx)
            ks_context_clear_error(ctx);
        return 0;
    }
    ks_gpu_jpeg_destroy(j);
    return 1;
}
