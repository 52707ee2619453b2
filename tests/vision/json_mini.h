/* A minimal JSON reader for tests: parses a whole document into a tree of nodes
 * (objects, arrays, strings, numbers, true/false/null). No unicode escapes beyond \uXXXX
 * (kept as '?'). Header-only, test code only. */
#ifndef KS_TEST_JSON_MINI_H
#define KS_TEST_JSON_MINI_H
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

typedef enum { JM_NULL, JM_BOOL, JM_NUM, JM_STR, JM_ARR, JM_OBJ } jm_type;

typedef struct jm_node {
    jm_type type;
    double num;
    char *str;              /* JM_STR value */
    int n;                  /* children (array items / object members) */
    struct jm_node **items; /* children */
    char **keys;            /* JM_OBJ member names */
} jm_node;

typedef struct {
    const char *p, *end;
    int err;
} jm_parser;

static void jm_ws(jm_parser *ps) {
    while (ps->p < ps->end && isspace((unsigned char)*ps->p))
        ps->p++;
}

static char *jm_string(jm_parser *ps) {
    if (ps->p >= ps->end || *ps->p != '"') {
        ps->err = 1;
        return NULL;
    }
    ps->p++;
    size_t cap = 16, n = 0;
    char *s = malloc(cap);
    while (ps->p < ps->end && *ps->p != '"') {
        char c = *ps->p++;
        if (c == '\\' && ps->p < ps->end) {
            char e = *ps->p++;
            c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : e;
            if (e == 'u') {
                ps->p += 4;
                c = '?';
            }
        }
        if (n + 2 > cap)
            s = realloc(s, cap *= 2);
        s[n++] = c;
    }
    if (ps->p >= ps->end) {
        ps->err = 1;
        free(s);
        return NULL;
    }
    ps->p++;
    s[n] = 0;
    return s;
}

static jm_node *jm_value(jm_parser *ps);

static void jm_push(jm_node *n, jm_node *child, char *key) {
    n->items = realloc(n->items, sizeof(jm_node *) * (size_t)(n->n + 1));
    if (n->type == JM_OBJ)
        n->keys = realloc(n->keys, sizeof(char *) * (size_t)(n->n + 1)), n->keys[n->n] = key;
    n->items[n->n++] = child;
}

static jm_node *jm_value(jm_parser *ps) {
    jm_ws(ps);
    if (ps->p >= ps->end) {
        ps->err = 1;
        return NULL;
    }
    jm_node *n = calloc(1, sizeof(jm_node));
    char c = *ps->p;
    if (c == '{' || c == '[') {
        n->type = c == '{' ? JM_OBJ : JM_ARR;
        char close = c == '{' ? '}' : ']';
        ps->p++;
        jm_ws(ps);
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return n;
        }
        for (;;) {
            char *key = NULL;
            if (n->type == JM_OBJ) {
                jm_ws(ps);
                key = jm_string(ps);
                jm_ws(ps);
                if (ps->err || ps->p >= ps->end || *ps->p != ':') {
                    ps->err = 1;
                    free(key);
                    return n;
                }
                ps->p++;
            }
            jm_node *child = jm_value(ps);
            if (ps->err) {
                free(key);
                return n;
            }
            jm_push(n, child, key);
            jm_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                continue;
            }
            if (ps->p < ps->end && *ps->p == close) {
                ps->p++;
                return n;
            }
            ps->err = 1;
            return n;
        }
    } else if (c == '"') {
        n->type = JM_STR;
        n->str = jm_string(ps);
    } else if (!strncmp(ps->p, "true", 4) || !strncmp(ps->p, "false", 5)) {
        n->type = JM_BOOL;
        n->num = *ps->p == 't';
        ps->p += *ps->p == 't' ? 4 : 5;
    } else if (!strncmp(ps->p, "null", 4)) {
        n->type = JM_NULL;
        ps->p += 4;
    } else if (!strncmp(ps->p, "NaN", 3)) {
        n->type = JM_NUM;
        n->num = NAN;
        ps->p += 3;
    } else {
        char *e;
        n->type = JM_NUM;
        n->num = strtod(ps->p, &e);
        if (e == ps->p)
            ps->err = 1;
        ps->p = e;
    }
    return n;
}

static jm_node *jm_parse(const char *text, size_t len) {
    jm_parser ps = {text, text + len, 0};
    jm_node *n = jm_value(&ps);
    return ps.err ? NULL : n; /* leaks the partial tree on error: test code */
}

static void jm_free(jm_node *n) {
    if (!n)
        return;
    for (int i = 0; i < n->n; i++) {
        jm_free(n->items[i]);
        if (n->keys)
            free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->str);
    free(n);
}

static jm_node *jm_get(const jm_node *n, const char *key) {
    if (!n || n->type != JM_OBJ)
        return NULL;
    for (int i = 0; i < n->n; i++)
        if (!strcmp(n->keys[i], key))
            return n->items[i];
    return NULL;
}

static jm_node *jm_read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)sz + 1);
    size_t got = fread(buf, 1, (size_t)sz, f);
    fclose(f);
    buf[got] = 0;
    jm_node *n = jm_parse(buf, got);
    free(buf);
    return n;
}
#endif
