/* Replays every saved fuzzer input under tests/fuzz/corpus-regressions/
 * through the same body as the libFuzzer target (import, then a run on zero
 * inputs for small static models). Passing means: no crash (and, in the
 * sanitizer build, no ASan/UBSan report or leak). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "fuzz/fuzz_onnx_body.h"

int main(void) {
    const char *dir = KS_SOURCE_DIR "/tests/fuzz/corpus-regressions";
    DIR *d = opendir(dir);
    if (!d)
        KS_T_SKIP("%s: no such directory", dir);
    ks_context *ctx = NULL;
    KS_T_CHECK(ks_context_create(NULL, &ctx) == KS_OK);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "README.md"))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        rewind(f);
        uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
        size_t got = len > 0 ? fread(buf, 1, (size_t)len, f) : 0;
        fclose(f);
        fprintf(stderr, "replay %s (%zu bytes)\n", e->d_name, got);
        ks_fuzz_onnx_one(ctx, buf, got, 1);
        free(buf);
        n++;
    }
    closedir(d);
    ks_context_destroy(ctx);
    fprintf(stderr, "replayed %d inputs\n", n);
    KS_T_CHECK(n >= 0);
    return ks_t_done();
}
