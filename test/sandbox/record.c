/*
 * record.c - the requests received on the MTN API paths, for contract tests
 * (GET /_sandbox/recorded): a ring of the last RECORD_MAX requests.  Secrets
 * are never kept: Authorization is reduced to its scheme ("Bearer",
 * "Basic") and Ocp-Apim-Subscription-Key to whether it was there.
 */
#define _GNU_SOURCE
#include "record.h"
#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct recorded {
    unsigned long seq;          /* 1, 2, ... in arrival order (since the last clear) */
    char *method;
    char *path;
    char *headers;              /* JSON object text, secrets masked */
    char *body;                 /* NULL: no body */
    size_t body_len;            /* bytes received (body holds at most RECORD_BODY_MAX) */
    int body_utf8;              /* 1 if the kept bytes are valid UTF-8 */
};

static pthread_mutex_t rec_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct recorded *ring;   /* RECORD_MAX slots, allocated at the first record */
static unsigned long received;  /* requests recorded since the last clear */

static void lock(void)
{
    if (pthread_mutex_lock(&rec_mtx) != 0)
        abort();
}

static void unlock(void)
{
    if (pthread_mutex_unlock(&rec_mtx) != 0)
        abort();
}

static void rec_free(struct recorded *r)
{
    free(r->method);
    free(r->path);
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* 1 if s (n bytes) is valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static int valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        unsigned long cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            cp = c & 0x07;
        } else
            return 0;
        if (k > n - i - 1)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += k + 1;
    }
    return 1;
}

struct hdr_ctx {
    struct sbuf *b;
    int first;
};

/* Append one header as "Name":"value", its secret masked. */
static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    struct hdr_ctx *h = cls;
    (void)kind;
    if (!key)
        return MHD_YES;
    if (!value)
        value = "";
    sb_str(h->b, h->first ? "" : ",");
    h->first = 0;
    sb_jstrz(h->b, key);
    sb_str(h->b, ":");
    if (ieq(key, "Authorization")) {
        /* the scheme alone ("Bearer", "Basic"), never the credentials */
        size_t n = strcspn(value, " ");
        sb_jstr(h->b, value, n);
    } else if (ieq(key, "Ocp-Apim-Subscription-Key")) {
        sb_str(h->b, value[0] ? "\"present\"" : "\"empty\"");
    } else
        sb_jstrz(h->b, value);
    return MHD_YES;
}

void record_request(struct MHD_Connection *c, const char *method, const char *url,
                    const char *body, size_t body_len, int too_big)
{
    struct recorded r;
    struct sbuf hb;
    struct hdr_ctx h = { &hb, 1 };

    memset(&r, 0, sizeof(r));
    sb_init(&hb);
    sb_str(&hb, "{");
    MHD_get_connection_values(c, MHD_HEADER_KIND, add_header, &h);
    sb_str(&hb, "}");
    r.headers = sb_take(&hb, NULL);
    r.method = strdup(method);
    r.path = strdup(url);
    if (body && !too_big) {
        size_t keep = body_len < RECORD_BODY_MAX ? body_len : RECORD_BODY_MAX;
        r.body = malloc(keep + 1);
        if (r.body) {
            memcpy(r.body, body, keep);
            r.body[keep] = 0;
            r.body_utf8 = valid_utf8((const unsigned char *)r.body, keep);
        }
        r.body_len = body_len;
    }
    if (!r.headers || !r.method || !r.path || (body && !too_big && !r.body)) {
        rec_free(&r);           /* out of memory: the request goes unrecorded (dropped counts it) */
        lock();
        received++;
        unlock();
        return;
    }

    lock();
    if (!ring)
        ring = calloc(RECORD_MAX, sizeof(*ring));
    received++;
    if (ring) {
        struct recorded *slot = &ring[(received - 1) % RECORD_MAX];
        rec_free(slot);
        r.seq = received;
        *slot = r;
    } else
        rec_free(&r);
    unlock();
}

void record_json(struct sbuf *b)
{
    lock();
    unsigned long first = received > RECORD_MAX ? received - RECORD_MAX + 1 : 1;
    unsigned long kept = 0;
    sb_str(b, "{\"requests\":[");
    for (unsigned long s = first; ring && s <= received && !b->failed; s++) {
        const struct recorded *r = &ring[(s - 1) % RECORD_MAX];
        if (r->seq != s)
            continue;           /* lost to an allocation failure */
        sb_str(b, kept ? "," : "");
        kept++;
        sb_printf(b, "{\"seq\":%lu,\"method\":", r->seq);
        sb_jstrz(b, r->method);
        sb_str(b, ",\"path\":");
        sb_jstrz(b, r->path);
        sb_str(b, ",\"headers\":");
        sb_str(b, r->headers);
        sb_str(b, ",\"body\":");
        sb_jstrz(b, r->body && r->body_utf8 ? r->body : NULL);
        sb_printf(b, ",\"body_length\":%zu,\"body_truncated\":%s,\"body_utf8\":%s}",
                  r->body_len, r->body_len > RECORD_BODY_MAX ? "true" : "false",
                  !r->body || r->body_utf8 ? "true" : "false");
    }
    sb_printf(b, "],\"received\":%lu,\"dropped\":%lu}", received, received - kept);
    unlock();
}

void record_clear(void)
{
    lock();
    if (ring)
        for (size_t i = 0; i < RECORD_MAX; i++)
            rec_free(&ring[i]);
    received = 0;
    unlock();
}
