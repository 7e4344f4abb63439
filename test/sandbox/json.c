/*
 * json.c - strict, bounded JSON parser (depth and node limits, strict UTF-8,
 * no trailing garbage) and a growable JSON output buffer for momo-sandbox.
 */
#define _GNU_SOURCE
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    const unsigned char *s;
    size_t len, pos;
    struct json *doc;
    char *ap;           /* arena write position */
    char *aend;         /* arena end */
    int depth;
};

/* Skip JSON whitespace. */
static void skip_ws(struct parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

/* Allocate a node; returns its index or -1 when the node limit is reached. */
static int new_node(struct parser *p, enum jtype t)
{
    struct json *d = p->doc;
    if (d->count >= JSON_MAX_NODES)
        return -1;
    if (d->count == d->cap) {
        int ncap = d->cap ? d->cap * 2 : 16;
        if (ncap > JSON_MAX_NODES)
            ncap = JSON_MAX_NODES;
        struct jnode *n = realloc(d->nodes, (size_t)ncap * sizeof(*n));
        if (!n)
            return -1;
        d->nodes = n;
        d->cap = ncap;
    }
    struct jnode *n = &d->nodes[d->count];
    memset(n, 0, sizeof(*n));
    n->type = t;
    n->next = -1;
    n->child = -1;
    return d->count++;
}

/* Value of one hex digit, or -1. */
static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Read 4 hex digits at p->pos; -1 on error. */
static long read_hex4(struct parser *p)
{
    if (p->len - p->pos < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[p->pos + (size_t)i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    p->pos += 4;
    return v;
}

/* Append one byte to the arena; -1 if it would overflow. */
static int arena_put(struct parser *p, unsigned char c)
{
    if (p->ap >= p->aend)
        return -1;
    *p->ap++ = (char)c;
    return 0;
}

/* Encode code point cp as UTF-8 into the arena. */
static int arena_utf8(struct parser *p, unsigned long cp)
{
    if (cp < 0x80)
        return arena_put(p, (unsigned char)cp);
    if (cp < 0x800)
        return arena_put(p, (unsigned char)(0xC0 | (cp >> 6))) ||
               arena_put(p, (unsigned char)(0x80 | (cp & 0x3F)));
    if (cp < 0x10000)
        return arena_put(p, (unsigned char)(0xE0 | (cp >> 12))) ||
               arena_put(p, (unsigned char)(0x80 | ((cp >> 6) & 0x3F))) ||
               arena_put(p, (unsigned char)(0x80 | (cp & 0x3F)));
    return arena_put(p, (unsigned char)(0xF0 | (cp >> 18))) ||
           arena_put(p, (unsigned char)(0x80 | ((cp >> 12) & 0x3F))) ||
           arena_put(p, (unsigned char)(0x80 | ((cp >> 6) & 0x3F))) ||
           arena_put(p, (unsigned char)(0x80 | (cp & 0x3F)));
}

/* Length of the valid UTF-8 sequence starting at s (avail bytes), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned long cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2; cp = c & 0x1F; min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3; cp = c & 0x0F; min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4; cp = c & 0x07; min = 0x10000;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Parse a string at p->pos (which is at '"') into the arena; 0 on success. */
static int parse_string(struct parser *p, const char **out, size_t *outlen)
{
    p->pos++;                       /* opening quote */
    char *start = p->ap;
    for (;;) {
        if (p->pos >= p->len)
            return -1;
        unsigned char c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            p->pos++;
            if (p->pos >= p->len)
                return -1;
            unsigned char e = p->s[p->pos++];
            int rc = 0;
            switch (e) {
            case '"': rc = arena_put(p, '"'); break;
            case '\\': rc = arena_put(p, '\\'); break;
            case '/': rc = arena_put(p, '/'); break;
            case 'b': rc = arena_put(p, '\b'); break;
            case 'f': rc = arena_put(p, '\f'); break;
            case 'n': rc = arena_put(p, '\n'); break;
            case 'r': rc = arena_put(p, '\r'); break;
            case 't': rc = arena_put(p, '\t'); break;
            case 'u': {
                long cp = read_hex4(p);
                if (cp < 0)
                    return -1;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (p->len - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                        return -1;
                    p->pos += 2;
                    long lo = read_hex4(p);
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return -1;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return -1;
                }
                if (cp == 0)
                    return -1;      /* NUL inside strings is refused */
                rc = arena_utf8(p, (unsigned long)cp);
                break;
            }
            default:
                return -1;
            }
            if (rc)
                return -1;
            continue;
        }
        size_t n = utf8_seq(p->s + p->pos, p->len - p->pos);
        if (n == 0)
            return -1;
        for (size_t i = 0; i < n; i++)
            if (arena_put(p, p->s[p->pos + i]))
                return -1;
        p->pos += n;
    }
    *outlen = (size_t)(p->ap - start);
    if (arena_put(p, 0))
        return -1;
    *out = start;
    return 0;
}

/* Parse a number per the JSON grammar, copying its text into the arena. */
static int parse_number(struct parser *p, const char **out, size_t *outlen)
{
    size_t st = p->pos;
    const unsigned char *s = p->s;
    if (p->pos < p->len && s[p->pos] == '-')
        p->pos++;
    if (p->pos >= p->len)
        return -1;
    if (s[p->pos] == '0') {
        p->pos++;
    } else if (s[p->pos] >= '1' && s[p->pos] <= '9') {
        while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
            p->pos++;
    } else {
        return -1;
    }
    if (p->pos < p->len && s[p->pos] == '.') {
        p->pos++;
        size_t d = p->pos;
        while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
            p->pos++;
        if (p->pos == d)
            return -1;
    }
    if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (s[p->pos] == '+' || s[p->pos] == '-'))
            p->pos++;
        size_t d = p->pos;
        while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
            p->pos++;
        if (p->pos == d)
            return -1;
    }
    char *start = p->ap;
    for (size_t i = st; i < p->pos; i++)
        if (arena_put(p, s[i]))
            return -1;
    *outlen = p->pos - st;
    if (arena_put(p, 0))
        return -1;
    *out = start;
    return 0;
}

/* Match a literal word (true/false/null). */
static int match_word(struct parser *p, const char *w)
{
    size_t n = strlen(w);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, w, n) != 0)
        return -1;
    p->pos += n;
    return 0;
}

static int parse_value(struct parser *p);

/* Parse an array or object body (p->pos at '[' or '{'); returns node index or -1. */
static int parse_container(struct parser *p, int is_obj)
{
    if (++p->depth > JSON_MAX_DEPTH)
        return -1;
    int idx = new_node(p, is_obj ? J_OBJECT : J_ARRAY);
    if (idx < 0)
        return -1;
    p->pos++;
    skip_ws(p);
    char close = is_obj ? '}' : ']';
    if (p->pos < p->len && p->s[p->pos] == (unsigned char)close) {
        p->pos++;
        p->depth--;
        return idx;
    }
    int last = -1;
    for (;;) {
        const char *key = NULL;
        size_t keylen = 0;
        skip_ws(p);
        if (is_obj) {
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return -1;
            if (parse_string(p, &key, &keylen))
                return -1;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return -1;
            p->pos++;
            skip_ws(p);
        }
        int child = parse_value(p);
        if (child < 0)
            return -1;
        p->doc->nodes[child].key = key;
        p->doc->nodes[child].keylen = keylen;
        if (last < 0)
            p->doc->nodes[idx].child = child;
        else
            p->doc->nodes[last].next = child;
        last = child;
        skip_ws(p);
        if (p->pos >= p->len)
            return -1;
        unsigned char c = p->s[p->pos++];
        if (c == ',')
            continue;
        if (c == (unsigned char)close)
            break;
        return -1;
    }
    p->depth--;
    return idx;
}

/* Parse any value at p->pos (whitespace already skipped); node index or -1. */
static int parse_value(struct parser *p)
{
    if (p->pos >= p->len)
        return -1;
    unsigned char c = p->s[p->pos];
    int idx;
    switch (c) {
    case '{':
        return parse_container(p, 1);
    case '[':
        return parse_container(p, 0);
    case '"': {
        idx = new_node(p, J_STRING);
        if (idx < 0)
            return -1;
        const char *s;
        size_t n;
        if (parse_string(p, &s, &n))
            return -1;
        p->doc->nodes[idx].str = s;
        p->doc->nodes[idx].len = n;
        return idx;
    }
    case 't':
        if (match_word(p, "true"))
            return -1;
        return new_node(p, J_TRUE);
    case 'f':
        if (match_word(p, "false"))
            return -1;
        return new_node(p, J_FALSE);
    case 'n':
        if (match_word(p, "null"))
            return -1;
        return new_node(p, J_NULL);
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            idx = new_node(p, J_NUMBER);
            if (idx < 0)
                return -1;
            const char *s;
            size_t n;
            if (parse_number(p, &s, &n))
                return -1;
            p->doc->nodes[idx].str = s;
            p->doc->nodes[idx].len = n;
            return idx;
        }
        return -1;
    }
}

int json_parse(const char *text, size_t len, struct json *out)
{
    memset(out, 0, sizeof(*out));
    if (len > ((size_t)1 << 30))
        return -1;
    out->arena = malloc(len + 2);
    if (!out->arena)
        return -1;
    struct parser p = {
        .s = (const unsigned char *)text, .len = len, .pos = 0, .doc = out,
        .ap = out->arena, .aend = out->arena + len + 2, .depth = 0,
    };
    skip_ws(&p);
    int root = parse_value(&p);
    if (root < 0)
        goto fail;
    skip_ws(&p);
    if (p.pos != p.len)
        goto fail;
    return 0;
fail:
    json_free(out);
    return -1;
}

void json_free(struct json *doc)
{
    free(doc->nodes);
    free(doc->arena);
    memset(doc, 0, sizeof(*doc));
}

const struct jnode *json_root(const struct json *doc)
{
    return doc->count > 0 ? &doc->nodes[0] : NULL;
}

const struct jnode *json_child(const struct json *doc, const struct jnode *n)
{
    if (!n || (n->type != J_OBJECT && n->type != J_ARRAY) || n->child < 0)
        return NULL;
    return &doc->nodes[n->child];
}

const struct jnode *json_next(const struct json *doc, const struct jnode *n)
{
    if (!n || n->next < 0)
        return NULL;
    return &doc->nodes[n->next];
}

const struct jnode *json_member(const struct json *doc, const struct jnode *obj,
                                const char *name)
{
    if (!obj || obj->type != J_OBJECT)
        return NULL;
    size_t nl = strlen(name);
    for (const struct jnode *c = json_child(doc, obj); c; c = json_next(doc, c))
        if (c->keylen == nl && memcmp(c->key, name, nl) == 0)
            return c;
    return NULL;
}

size_t utf8_count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

void sb_init(struct sbuf *b)
{
    memset(b, 0, sizeof(*b));
}

int sb_reserve(struct sbuf *b, size_t n)
{
    if (b->failed)
        return -1;
    if (b->cap - b->len > n)
        return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap - b->len <= n) {
        if (ncap > ((size_t)1 << 40)) {
            b->failed = 1;
            return -1;
        }
        ncap *= 2;
    }
    char *np = realloc(b->p, ncap);
    if (!np) {
        b->failed = 1;
        return -1;
    }
    b->p = np;
    b->cap = ncap;
    return 0;
}

void sb_mem(struct sbuf *b, const char *s, size_t n)
{
    if (sb_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void sb_str(struct sbuf *b, const char *s)
{
    sb_mem(b, s, strlen(s));
}

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof(tmp)) {
        sb_mem(b, tmp, (size_t)n);
        return;
    }
    if (sb_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    int m = vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (m != n) {
        b->failed = 1;
        return;
    }
    b->len += (size_t)n;
}

void sb_jstr(struct sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* worst case every byte becomes \u00XX */
    if (n > ((size_t)1 << 36) || sb_reserve(b, n * 6 + 2))
        return;
    char *o = b->p + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': *o++ = '\\'; *o++ = '"'; break;
        case '\\': *o++ = '\\'; *o++ = '\\'; break;
        case '\n': *o++ = '\\'; *o++ = 'n'; break;
        case '\r': *o++ = '\\'; *o++ = 'r'; break;
        case '\t': *o++ = '\\'; *o++ = 't'; break;
        case '\b': *o++ = '\\'; *o++ = 'b'; break;
        case '\f': *o++ = '\\'; *o++ = 'f'; break;
        default:
            if (c < 0x20 || c == 0x7F) {
                *o++ = '\\'; *o++ = 'u'; *o++ = '0'; *o++ = '0';
                *o++ = hex[c >> 4]; *o++ = hex[c & 15];
            } else {
                *o++ = (char)c;
            }
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
    b->p[b->len] = 0;
}

void sb_jstrz(struct sbuf *b, const char *s)
{
    if (!s)
        sb_str(b, "null");
    else
        sb_jstr(b, s, strlen(s));
}

char *sb_take(struct sbuf *b, size_t *len)
{
    if (b->failed) {
        sb_free(b);
        return NULL;
    }
    if (!b->p && sb_reserve(b, 1))
        return NULL;
    if (!b->failed && b->p)
        b->p[b->len] = 0;
    char *p = b->p;
    if (len)
        *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void sb_free(struct sbuf *b)
{
    free(b->p);
    sb_init(b);
}

void json_write(struct sbuf *b, const struct json *doc, const struct jnode *n)
{
    switch (n->type) {
    case J_NULL: sb_str(b, "null"); return;
    case J_FALSE: sb_str(b, "false"); return;
    case J_TRUE: sb_str(b, "true"); return;
    case J_NUMBER: sb_mem(b, n->str, n->len); return;
    case J_STRING: sb_jstr(b, n->str, n->len); return;
    case J_ARRAY:
    case J_OBJECT: {
        int obj = n->type == J_OBJECT;
        sb_str(b, obj ? "{" : "[");
        int first = 1;
        for (const struct jnode *c = json_child(doc, n); c && !b->failed; c = json_next(doc, c)) {
            if (!first)
                sb_str(b, ",");
            first = 0;
            if (obj) {
                sb_jstr(b, c->key, c->keylen);
                sb_str(b, ":");
            }
            json_write(b, doc, c);
        }
        sb_str(b, obj ? "}" : "]");
        return;
    }
    }
}
