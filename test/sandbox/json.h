/*
 * json.h - strict, bounded JSON parser and growable JSON output buffer
 * used by momo-sandbox to read request bodies and write answers.
 */
#ifndef MOMO_SANDBOX_JSON_H
#define MOMO_SANDBOX_JSON_H

#include <stddef.h>

enum jtype { J_NULL, J_FALSE, J_TRUE, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT };

/* One parsed value; children of arrays/objects are linked by index. */
struct jnode {
    enum jtype type;
    int next;           /* next sibling, -1 at the end */
    int child;          /* first child of an array/object, -1 if empty */
    const char *key;    /* member name (decoded, NUL-terminated) inside an object */
    size_t keylen;
    const char *str;    /* decoded string or the number's text, NUL-terminated */
    size_t len;         /* bytes in str */
};

struct json {
    struct jnode *nodes;
    int count;
    int cap;
    char *arena;        /* decoded strings live here */
};

#define JSON_MAX_DEPTH 32
#define JSON_MAX_NODES 4096

/* Parse text (len bytes) strictly (RFC 8259, UTF-8, no NUL in strings); 0 on success. */
int json_parse(const char *text, size_t len, struct json *out);
/* Release what json_parse allocated (safe on a zeroed struct). */
void json_free(struct json *doc);
/* The top-level value of a parsed document. */
const struct jnode *json_root(const struct json *doc);
/* First member of object obj named name, or NULL. */
const struct jnode *json_member(const struct json *doc, const struct jnode *obj,
                                const char *name);
/* Next sibling of n, or NULL. */
const struct jnode *json_next(const struct json *doc, const struct jnode *n);
/* First child of an array/object, or NULL. */
const struct jnode *json_child(const struct json *doc, const struct jnode *n);
/* Number of Unicode code points in a valid UTF-8 string. */
size_t utf8_count(const char *s, size_t len);

/* Growable output buffer; after an allocation failure it stays failed. */
struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
};

void sb_init(struct sbuf *b);
/* Reserve room for n more bytes; 0 on success. */
int sb_reserve(struct sbuf *b, size_t n);
/* Append n raw bytes. */
void sb_mem(struct sbuf *b, const char *s, size_t n);
/* Append a NUL-terminated string. */
void sb_str(struct sbuf *b, const char *s);
/* Append formatted text. */
void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s (n bytes) as a quoted, escaped JSON string. */
void sb_jstr(struct sbuf *b, const char *s, size_t n);
/* Append a NUL-terminated string as a JSON string, or null when s is NULL. */
void sb_jstrz(struct sbuf *b, const char *s);
/* Append the value n of doc as compact JSON. */
void json_write(struct sbuf *b, const struct json *doc, const struct jnode *n);
/* Hand over the buffer (NUL-terminated) to the caller; NULL if it failed. */
char *sb_take(struct sbuf *b, size_t *len);
/* Free the buffer. */
void sb_free(struct sbuf *b);

#endif
