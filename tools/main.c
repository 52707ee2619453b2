/* kestrel CLI dispatcher. Each sub-command lives in tools/cmd_<name>.c and
 * exports `int ks_cmd_<name>(int argc, char **argv)` (argv[0] is the
 * sub-command name). A command file not linked makes the command report
 * that it is not built. */
#include <stdio.h>
#include <string.h>

#include "kestrel/kestrel.h"
#include "tools/cli.h"

#define KS_COMMANDS(X)                                                                  \
    X(run, "run a model (ONNX on the CPU, or an engine on the GPU) and write .npy outputs") \
    X(info, "print a model's inputs, outputs, opset, op histogram, parameters and FLOPs")  \
    X(conformance, "run ONNX's node test data against the CPU reference")                  \
    X(build, "build an optimized GPU engine file from a model")                            \
    X(bench, "benchmark a model or engine (latency/throughput, trtexec-like)")             \
    X(detect, "detect faces or objects in images; JSON and drawn output")

#define X(name, help) int ks_cmd_##name(int argc, char **argv) __attribute__((weak));
KS_COMMANDS(X)
#undef X

static void usage(FILE *f) {
    fprintf(f, "kestrel %s — inference engine for real-time vision\n\nusage: kestrel <command> [options]\n\ncommands:\n",
            ks_version());
#define X(name, help) fprintf(f, "  %-12s %s\n", #name, help);
    KS_COMMANDS(X)
#undef X
    fprintf(f, "\n'kestrel <command> --help' for a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("kestrel %s\n", ks_version());
        return 0;
    }
#define X(name, help)                                                               \
    if (!strcmp(argv[1], #name)) {                                                  \
        if (!ks_cmd_##name) {                                                       \
            fprintf(stderr, "kestrel: command '%s' is not built in this binary\n", #name); \
            return 2;                                                               \
        }                                                                           \
        return ks_cmd_##name(argc - 1, argv + 1);                                   \
    }
    KS_COMMANDS(X)
#undef X
    fprintf(stderr, "kestrel: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
