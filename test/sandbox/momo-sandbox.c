/*
 * momo-sandbox.c - entry point of momo-sandbox, a local stand-in for MTN's
 * MoMo sandbox (Collection + Provisioning API): command line, run-time
 * configuration and counters, answer helpers, the libmicrohttpd request
 * handler (body collection, parking, delivery) and daemon start/stop.
 */
#define _GNU_SOURCE
#include "sandbox.h"
#include "callbacks.h"
#include "park.h"
#include "record.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct stats g_stats;
int g_verbose;
const char **g_sub_keys;
size_t g_n_sub_keys;
const char **g_prod_sub_keys[PROD_COUNT];
size_t g_n_prod_sub_keys[PROD_COUNT];

enum phase { PH_BODY, PH_DECIDED, PH_PARKED };

/* ---------- configuration ---------- */

static pthread_mutex_t cfg_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct config g_cfg;         /* live */
static struct config g_cfg_cli;     /* from the command line, for reset */

static const char *const status_body_names[] = { "normal", "malformed", "truncated", "oversized" };
static const char *const refuse_posts_names[] = { "none", "target_environment", "callback_host", "forbidden" };

/* Lock the configuration. */
static void cfg_lock(void)
{
    if (pthread_mutex_lock(&cfg_mtx) != 0)
        abort();
}

/* Unlock the configuration. */
static void cfg_unlock(void)
{
    if (pthread_mutex_unlock(&cfg_mtx) != 0)
        abort();
}

void config_snapshot(struct config *out)
{
    cfg_lock();
    *out = g_cfg;
    out->redirect = NULL;
    if (g_cfg.redirect) {
        out->redirect = strdup(g_cfg.redirect);
        if (!out->redirect)
            fprintf(stderr, "momo-sandbox: out of memory copying redirect\n");
    }
    cfg_unlock();
}

void config_release(struct config *c)
{
    free(c->redirect);
    c->redirect = NULL;
}

/* Integer settings: name, offset in struct config, allowed range. */
static const struct {
    const char *name;
    size_t off;
    long min, max;
} int_settings[] = {
    { "delay_ms", offsetof(struct config, delay_ms), 0, 3600000 },
    { "status_delay_ms", offsetof(struct config, status_delay_ms), 0, 3600000 },
    { "token_delay_ms", offsetof(struct config, token_delay_ms), 0, 3600000 },
    { "fail_first", offsetof(struct config, fail_first), 0, 1000000000 },
    { "fail_status", offsetof(struct config, fail_status), 429, 503 },
    { "drop_first", offsetof(struct config, drop_first), 0, 1000000000 },
    { "rate_limit_first", offsetof(struct config, rate_limit_first), 0, 1000000000 },
    { "fail_share", offsetof(struct config, fail_share), 0, 100 },
    { "drop_share", offsetof(struct config, drop_share), 0, 100 },
    { "hang_first", offsetof(struct config, hang_first), 0, 1000000000 },
    { "pending_ms", offsetof(struct config, pending_ms), 0, 1000000000 },
    { "ongoing_seconds", offsetof(struct config, ongoing_seconds), 0, 100000000 },
    { "not_found_ms", offsetof(struct config, not_found_ms), 0, 1000000000 },
    { "token_lifetime", offsetof(struct config, token_lifetime), 1, 100000000 },
    { "duplicate_callbacks_gap_ms", offsetof(struct config, duplicate_gap_ms), 0, 1000000000 },
    { "early_callbacks_ms", offsetof(struct config, early_ms), 0, 1000000000 },
    { "conflict_status", offsetof(struct config, conflict_status), 400, 500 },
};

/* Boolean settings: name, offset in struct config. */
static const struct {
    const char *name;
    size_t off;
} bool_settings[] = {
    { "reason_object", offsetof(struct config, reason_object) },
    { "deliver_callbacks", offsetof(struct config, deliver_callbacks) },
    { "duplicate_callbacks", offsetof(struct config, duplicate_callbacks) },
    { "early_callbacks", offsetof(struct config, early_callbacks) },
    { "conflict_permanent", offsetof(struct config, conflict_permanent) },
};
#define N_BOOL_SETTINGS (sizeof(bool_settings) / sizeof(bool_settings[0]))
#define N_INT_SETTINGS (sizeof(int_settings) / sizeof(int_settings[0]))

/* Parse a whole decimal integer within [min,max]; 0 on success. */
static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* 1 if s is an acceptable redirect target (printable ASCII, bounded). */
static int valid_redirect(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > REDIRECT_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7F)
            return 0;
    return 1;
}

/* Index of a status-body mode name, or -1. */
static int status_body_mode(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, status_body_names[i]) == 0)
            return i;
    return -1;
}

/* Index of a refuse_posts name, or -1. */
static int refuse_posts_mode(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, refuse_posts_names[i]) == 0)
            return i;
    return -1;
}

int config_apply_json(const struct json *doc, const struct jnode *obj, char *err, size_t errlen)
{
    struct config n;
    cfg_lock();
    n = g_cfg;
    cfg_unlock();
    n.redirect = NULL;
    int redirect_set = 0;
    char *redirect = NULL;

    for (const struct jnode *m = json_child(doc, obj); m; m = json_next(doc, m)) {
        size_t i;
        for (i = 0; i < N_INT_SETTINGS; i++)
            if (strcmp(m->key, int_settings[i].name) == 0)
                break;
        if (i < N_INT_SETTINGS) {
            long v;
            if (m->type != J_NUMBER ||
                parse_long(m->str, int_settings[i].min, int_settings[i].max, &v) != 0 ||
                (strcmp(m->key, "fail_status") == 0 && v != 429 && v != 500 && v != 503)) {
                if (strcmp(m->key, "fail_status") == 0)
                    snprintf(err, errlen, "fail_status: expected 429, 500 or 503");
                else
                    snprintf(err, errlen, "%s: expected an integer from %ld to %ld", m->key,
                             int_settings[i].min, int_settings[i].max);
                goto fail;
            }
            *(long *)((char *)&n + int_settings[i].off) = v;
            continue;
        }
        for (i = 0; i < N_BOOL_SETTINGS; i++)
            if (strcmp(m->key, bool_settings[i].name) == 0)
                break;
        if (i < N_BOOL_SETTINGS) {
            long *target = (long *)((char *)&n + bool_settings[i].off);
            if (m->type == J_TRUE || m->type == J_FALSE)
                *target = m->type == J_TRUE;
            else if (m->type == J_NUMBER && (strcmp(m->str, "0") == 0 || strcmp(m->str, "1") == 0))
                *target = m->str[0] == '1';
            else {
                snprintf(err, errlen, "%s: expected true or false", m->key);
                goto fail;
            }
        } else if (strcmp(m->key, "status_body") == 0) {
            int mode = m->type == J_STRING ? status_body_mode(m->str) : -1;
            if (mode < 0) {
                snprintf(err, errlen, "status_body: expected normal, malformed, truncated or oversized");
                goto fail;
            }
            n.status_body = mode;
        } else if (strcmp(m->key, "refuse_posts") == 0) {
            int mode = m->type == J_STRING ? refuse_posts_mode(m->str) : -1;
            if (mode < 0) {
                snprintf(err, errlen, "refuse_posts: expected none, target_environment, callback_host or forbidden");
                goto fail;
            }
            n.refuse_posts = mode;
        } else if (strcmp(m->key, "redirect") == 0) {
            free(redirect);
            redirect = NULL;
            redirect_set = 1;
            if (m->type == J_NULL || (m->type == J_STRING && m->len == 0))
                continue;
            if (m->type != J_STRING || !valid_redirect(m->str)) {
                snprintf(err, errlen, "redirect: expected a URL (printable ASCII, at most %d bytes) or null",
                         REDIRECT_MAX);
                goto fail;
            }
            redirect = strdup(m->str);
            if (!redirect) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
        } else {
            snprintf(err, errlen, "unknown setting: %.100s", m->key);
            goto fail;
        }
    }
    cfg_lock();
    char *old = g_cfg.redirect;
    if (redirect_set) {
        n.redirect = redirect;
    } else {
        n.redirect = old;
        old = NULL;
    }
    g_cfg = n;
    cfg_unlock();
    free(old);
    return 0;
fail:
    free(redirect);
    return -1;
}

void config_reset(void)
{
    char *copy = g_cfg_cli.redirect ? strdup(g_cfg_cli.redirect) : NULL;
    if (g_cfg_cli.redirect && !copy)
        fprintf(stderr, "momo-sandbox: out of memory restoring redirect\n");
    cfg_lock();
    char *old = g_cfg.redirect;
    g_cfg = g_cfg_cli;
    g_cfg.redirect = copy;
    cfg_unlock();
    free(old);
}

void config_to_json(struct sbuf *b)
{
    struct config c;
    config_snapshot(&c);
    sb_str(b, "{");
    for (size_t i = 0; i < N_INT_SETTINGS; i++)
        sb_printf(b, "%s\"%s\":%ld", i ? "," : "", int_settings[i].name,
                  *(const long *)((const char *)&c + int_settings[i].off));
    sb_printf(b, ",\"status_body\":\"%s\"", status_body_names[c.status_body]);
    sb_printf(b, ",\"refuse_posts\":\"%s\"", refuse_posts_names[c.refuse_posts]);
    sb_str(b, ",\"redirect\":");
    sb_jstrz(b, c.redirect);
    for (size_t i = 0; i < N_BOOL_SETTINGS; i++)
        sb_printf(b, ",\"%s\":%s", bool_settings[i].name,
                  *(const long *)((const char *)&c + bool_settings[i].off) ? "true" : "false");
    sb_str(b, "}");
    config_release(&c);
}

void stats_reset(void)
{
    unsigned long *p = (unsigned long *)&g_stats;
    for (size_t i = 0; i < sizeof(g_stats) / sizeof(unsigned long); i++)
        __atomic_store_n(&p[i], 0, __ATOMIC_RELAXED);
}

/* ---------- answers ---------- */

static struct MHD_Response *shared[ANS_COUNT];
static unsigned int shared_status[ANS_COUNT];

#define JSON_CTYPE "application/json;charset=utf-8"

static const char body_411[] =
    "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"\"http://www.w3.org/TR/html4/strict.dtd\">\r\n"
    "<HTML><HEAD><TITLE>Length Required</TITLE>\r\n"
    "<META HTTP-EQUIV=\"Content-Type\" Content=\"text/html; charset=us-ascii\"></HEAD>\r\n"
    "<BODY><h2>Length Required</h2>\r\n"
    "<hr><p>HTTP Error 411. The request must be chunked or have a content length.</p>\r\n"
    "</BODY></HTML>\r\n";

/* Create one shared answer with a static body. */
static int make_shared(int which, unsigned int status, const char *body, const char *ctype)
{
    size_t n = body ? strlen(body) : 0;
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)(body ? body : ""),
                                                             MHD_RESPMEM_PERSISTENT);
    if (!r)
        return -1;
    if (ctype && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES) {
        MHD_destroy_response(r);
        return -1;
    }
    shared[which] = r;
    shared_status[which] = status;
    return 0;
}

int shared_answers_init(void)
{
    int rc = 0;
    rc |= make_shared(ANS_202_EMPTY, 202, NULL, NULL);
    rc |= make_shared(ANS_201_EMPTY, 201, NULL, NULL);
    rc |= make_shared(ANS_400_EMPTY, 400, NULL, NULL);
    rc |= make_shared(ANS_401_EMPTY, 401, NULL, NULL);
    rc |= make_shared(ANS_401_SUBKEY, 401,
                      "{\"statusCode\":401,\"message\":\"Access denied due to invalid subscription key. "
                      "Make sure to provide a valid key for an active subscription.\"}", JSON_CTYPE);
    rc |= make_shared(ANS_404_PATH, 404, "{\"statusCode\":404,\"message\":\"Resource not found\"}",
                      JSON_CTYPE);
    rc |= make_shared(ANS_404_RESOURCE, 404,
                      "{\"code\":\"RESOURCE_NOT_FOUND\",\"message\":\"Requested resource was not found.\"}",
                      JSON_CTYPE);
    rc |= make_shared(ANS_409_EXISTS, 409,
                      "{\"code\":\"RESOURCE_ALREADY_EXIST\",\"message\":\"Duplicated reference id. "
                      "Creation of resource failed.\"}", JSON_CTYPE);
    rc |= make_shared(ANS_500_EMPTY, 500, NULL, NULL);
    rc |= make_shared(ANS_500_TARGET_ENV, 500,
                      "{\"code\":\"NOT_ALLOWED_TARGET_ENVIRONMENT\",\"message\":\"Access to target "
                      "environment is forbidden\"}", JSON_CTYPE);
    rc |= make_shared(ANS_500_CURRENCY, 500,
                      "{\"code\":\"INVALID_CURRENCY\",\"message\":\"Currency not supported.\"}", JSON_CTYPE);
    rc |= make_shared(ANS_500_CALLBACK, 500,
                      "{\"code\":\"INVALID_CALLBACK_URL_HOST\",\"message\":\"Callback URL with host "
                      "not allowed.\"}", JSON_CTYPE);
    rc |= make_shared(ANS_500_LOGIN, 500, "{\"error\":\"login_failed\"}", JSON_CTYPE);
    rc |= make_shared(ANS_503_UNAVAILABLE, 503,
                      "{\"code\":\"SERVICE_UNAVAILABLE\",\"message\":\"Service unavailable, "
                      "please try again later.\"}", JSON_CTYPE);
    rc |= make_shared(ANS_429_RATE, 429,
                      "{\"statusCode\":429,\"message\":\"Rate limit is exceeded. Try again in 1 seconds.\"}",
                      JSON_CTYPE);
    rc |= make_shared(ANS_411_LENGTH, 411, body_411, "text/html; charset=us-ascii");
    rc |= make_shared(ANS_413_TOO_LARGE, 413,
                      "{\"statusCode\":413,\"message\":\"Request entity too large\"}", JSON_CTYPE);
    rc |= make_shared(ANS_200_EMPTY, 200, NULL, NULL);
    rc |= make_shared(ANS_403_FORBIDDEN, 403,
                      "{\"statusCode\":403,\"message\":\"Forbidden\"}", JSON_CTYPE);
    rc |= make_shared(ANS_500_NOT_FOUND, 500,
                      "{\"code\":\"RESOURCE_NOT_FOUND\",\"message\":\"Requested resource was not found.\"}",
                      JSON_CTYPE);
    rc |= make_shared(ANS_500_NOT_ALLOWED, 500,
                      "{\"code\":\"NOT_ALLOWED\",\"message\":\"Authorization failed. Insufficient permissions.\"}",
                      JSON_CTYPE);
    rc |= make_shared(ANS_500_INTERNAL, 500,
                      "{\"code\":\"INTERNAL_PROCESSING_ERROR\",\"message\":\"An internal error occurred "
                      "while processing.\"}", JSON_CTYPE);
    rc |= make_shared(ANS_409_NOT_APPROVED, 409,
                      "{\"code\":\"PAYMENT_NOT_APPROVED\",\"message\":\"The transaction is not "
                      "successfully completed.\"}", JSON_CTYPE);
    if (rc)
        return -1;
    if (MHD_add_response_header(shared[ANS_429_RATE], "Retry-After", "1") != MHD_YES ||
        MHD_add_response_header(shared[ANS_411_LENGTH], MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES ||
        MHD_add_response_header(shared[ANS_413_TOO_LARGE], MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)
        return -1;
    return 0;
}

void shared_answers_free(void)
{
    for (int i = 0; i < ANS_COUNT; i++)
        if (shared[i]) {
            MHD_destroy_response(shared[i]);
            shared[i] = NULL;
        }
}

/* Drop an answer decided earlier (when a handler replaces it). */
static void release_answer(struct req *r)
{
    if (r->resp && !r->resp_shared)
        MHD_destroy_response(r->resp);
    r->resp = NULL;
    r->resp_shared = 0;
}

void reply_shared(struct req *r, int which)
{
    release_answer(r);
    r->resp = shared[which];
    r->resp_shared = 1;
    r->status = shared_status[which];
}

/* Answer with a copy of len bytes of body and an optional content type. */
static void reply_copy(struct req *r, unsigned int status, const char *body, size_t len,
                       const char *ctype)
{
    release_answer(r);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        reply_shared(r, ANS_500_EMPTY);
        return;
    }
    if (ctype && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES) {
        MHD_destroy_response(resp);
        reply_shared(r, ANS_500_EMPTY);
        return;
    }
    r->resp = resp;
    r->status = status;
}

void reply_json(struct req *r, unsigned int status, const char *json)
{
    reply_copy(r, status, json, json ? strlen(json) : 0, json ? JSON_CTYPE : NULL);
}

void reply_text(struct req *r, unsigned int status, const char *text)
{
    reply_copy(r, status, text, strlen(text), "text/plain; charset=utf-8");
}

void reply_take(struct req *r, unsigned int status, char *body, size_t len, const char *ctype)
{
    release_answer(r);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        reply_shared(r, ANS_500_EMPTY);
        return;
    }
    if (ctype && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES) {
        MHD_destroy_response(resp);
        reply_shared(r, ANS_500_EMPTY);
        return;
    }
    r->resp = resp;
    r->status = status;
}

void reply_sbuf(struct req *r, unsigned int status, struct sbuf *b)
{
    size_t len;
    char *p = sb_take(b, &len);
    if (!p) {
        reply_shared(r, ANS_500_EMPTY);
        return;
    }
    reply_take(r, status, p, len, JSON_CTYPE);
}

void reply_header(struct req *r, const char *name, const char *value)
{
    if (!r->resp || r->resp_shared)
        return;
    if (MHD_add_response_header(r->resp, name, value) != MHD_YES)
        fprintf(stderr, "momo-sandbox: cannot add header %s\n", name);
}

const char *hdr(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* ---------- request handling ---------- */

/* Queue the decided answer, or close the connection for a drop. */
static enum MHD_Result deliver(struct MHD_Connection *c, struct req *r)
{
    if (r->action == ACT_DROP || !r->resp) {
        release_answer(r);
        return MHD_NO;
    }
    if (r->status_ref[0])
        store_note_status_answer(r->status_ref);
    if (r->token_rec)
        store_note_token_answer(r->token_rec, r->status);
    enum MHD_Result ret = MHD_queue_response(c, r->status, r->resp);
    release_answer(r);
    return ret;
}

/* libmicrohttpd access handler: collects the body, decides, parks or answers. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    struct req *r = *req_cls;
    (void)cls;
    (void)version;

    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        *req_cls = r;
        r->phase = PH_BODY;
        snprintf(r->method, sizeof(r->method), "%s", method);
        if (g_verbose) {
            r->t0 = now_ms();
            r->url = strdup(url);
        }
        STAT_INC(requests);
        const char *cl = hdr(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
        long len;
        if (cl && parse_long(cl, 0, LONG_MAX, &len) == 0 && len > MAX_BODY) {
            /* answer at once; MHD closes the connection instead of reading the body */
            r->phase = PH_DECIDED;
            reply_shared(r, ANS_413_TOO_LARGE);
            return deliver(c, r);
        }
        return MHD_YES;
    }

    switch (r->phase) {
    case PH_BODY:
        if (*upload_data_size) {
            size_t n = *upload_data_size;
            *upload_data_size = 0;
            if (r->too_big)
                return MHD_YES;
            if (n > MAX_BODY - r->body_len) {
                r->too_big = 1;
                free(r->body);
                r->body = NULL;
                r->body_len = r->body_cap = 0;
                return MHD_YES;
            }
            if (r->body_len + n + 1 > r->body_cap) {
                size_t cap = r->body_cap ? r->body_cap : 1024;
                while (cap < r->body_len + n + 1)
                    cap *= 2;
                char *nb = realloc(r->body, cap);
                if (!nb)
                    return MHD_NO;
                r->body = nb;
                r->body_cap = cap;
            }
            memcpy(r->body + r->body_len, upload_data, n);
            r->body_len += n;
            r->body[r->body_len] = 0;
            return MHD_YES;
        }
        r->phase = PH_DECIDED;
        if (strncmp(url, "/_sandbox/", 10) != 0)
            record_request(c, method, url, r->body, r->body_len, r->too_big);
        if (r->too_big)
            reply_shared(r, ANS_413_TOO_LARGE);
        else if (strncmp(url, "/_sandbox/", 10) == 0)
            control_handle(c, url, method, r);
        else
            mtn_handle(c, url, method, r);
        if (r->action == ACT_HANG) {
            release_answer(r);
            if (park(c, 0, &r->gone) == 0) {
                r->phase = PH_PARKED;
                return MHD_YES;
            }
            return MHD_NO;
        }
        if (r->due_ms > 0 && r->due_ms > now_ms()) {
            if (park(c, r->due_ms, &r->gone) == 0) {
                r->phase = PH_PARKED;
                return MHD_YES;
            }
        }
        return deliver(c, r);
    case PH_PARKED:
        r->phase = PH_DECIDED;
        if (r->gone) {
            release_answer(r);
            if (r->action == ACT_HANG)
                r->note = "hang-first (client gone)";
            return MHD_NO;
        }
        return deliver(c, r);
    default:
        return MHD_NO;
    }
}

/* libmicrohttpd completion callback: logs (with --verbose) and frees the request state. */
static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct req *r = *req_cls;
    (void)cls;
    (void)c;
    if (!r)
        return;
    if (g_verbose) {
        const char *how = "";
        if (r->action == ACT_DROP)
            how = " (answer dropped)";
        else if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
            how = " (connection closed early)";
        fprintf(stderr, "momo-sandbox: %s %s -> %u%s%s%s (%ld ms)\n", r->method,
                r->url ? r->url : "?", r->action == ACT_HANG ? 0 : r->status, how,
                r->note ? " " : "", r->note ? r->note : "", (long)(now_ms() - r->t0));
    }
    release_answer(r);
    free(r->body);
    free(r->url);
    free(r);
    *req_cls = NULL;
}

/* ---------- command line and main ---------- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: momo-sandbox [options]\n"
        "  --listen ADDR              listen address (default 127.0.0.1)\n"
        "  --port N                   plain HTTP port (default 18080; 0 = none)\n"
        "  --tls-port N --tls-cert FILE --tls-key FILE   also serve HTTPS (PEM cert/key)\n"
        "  --threads N                worker threads per listener (default 2)\n"
        "  --subscription-key KEY     accepted Ocp-Apim-Subscription-Key (repeatable; default: any)\n"
        "  --api-user UUID --api-key KEY   pre-provisioned API user and key (repeatable pairs)\n"
        "  --callback-host HOST       providerCallbackHost of the pre-provisioned users (default any)\n"
        "  --product-subscription-key PRODUCT=KEY   a key of one product only (repeatable); a product\n"
        "                             that has some accepts only its own keys\n"
        "  --product-api-user PRODUCT=UUID:KEY      an API user of one product only (repeatable)\n"
        "  --balance PRODUCT=AMOUNT   initial account balance of a product in EUR (default 1000000)\n"
        "  --deliver-callbacks        send recorded callbacks to their URL (libcurl, 5 s, one try)\n"
        "  --callback-cacert FILE     CA certificates that verify HTTPS callback URLs\n"
        "  --duplicate-callbacks      record (and send) every callback twice\n"
        "  --duplicate-callbacks-gap-ms N   the second copy N ms after the first (default 0)\n"
        "  --early-callbacks          record callbacks at acceptance; status lags behind\n"
        "  --early-callbacks-ms N     how long the status lags behind (default 1000)\n"
        "  --token-lifetime SECONDS   token lifetime (default 3600)\n"
        "  --reason-object            answer reason as {\"code\",\"message\"} instead of a string\n"
        "  --pending-ms N             successful payments are PENDING for N ms (default 0)\n"
        "  --ongoing-seconds N        46733123453 stays PENDING N s, then FAILED EXPIRED (default 300)\n"
        "  --not-found-ms N           status GET is 404 for N ms after the 202 (default 0)\n"
        "  --delay-ms N               every product call answers after N ms\n"
        "  --status-delay-ms N        status GETs answer after N ms (instead of --delay-ms)\n"
        "  --fail-first N             first N POSTs per reference id fail (not stored)\n"
        "  --fail-status CODE         500 (default), 503 or 429 for --fail-first/--fail-share\n"
        "  --drop-first N             first N POSTs per reference id: processed, then connection closed\n"
        "  --rate-limit-first N       first N POSTs per reference id get 429 (not stored)\n"
        "  --fail-share PCT           PCT%% of POSTs and GETs fail with --fail-status, without effect\n"
        "  --drop-share PCT           PCT%% of POSTs are processed, then the connection is closed\n"
        "  --hang-first N             first N POSTs per reference id are never answered\n"
        "  --status-body MODE         normal | malformed | truncated | oversized\n"
        "  --redirect URL             answer every product call with 302 to URL\n"
        "  --pidfile FILE             write the process id to FILE (removed on exit)\n"
        "  --verbose                  one log line per request on stderr\n"
        "  --help\n");
}

enum opt {
    O_LISTEN = 256, O_PORT, O_TLS_PORT, O_TLS_CERT, O_TLS_KEY, O_THREADS, O_SUBKEY, O_API_USER,
    O_API_KEY, O_CALLBACK_HOST, O_TOKEN_LIFETIME, O_REASON_OBJECT, O_PENDING_MS, O_ONGOING,
    O_NOT_FOUND_MS, O_DELAY_MS, O_FAIL_FIRST, O_FAIL_STATUS, O_DROP_FIRST, O_RATE_LIMIT_FIRST,
    O_FAIL_SHARE, O_DROP_SHARE, O_HANG_FIRST, O_STATUS_BODY, O_REDIRECT, O_PIDFILE, O_VERBOSE,
    O_HELP, O_PROD_SUBKEY, O_PROD_API_USER, O_BALANCE, O_DELIVER_CB, O_CB_CACERT, O_DUP_CB,
    O_DUP_GAP, O_EARLY_CB, O_EARLY_MS, O_STATUS_DELAY
};

static const struct option long_opts[] = {
    { "listen", required_argument, NULL, O_LISTEN },
    { "port", required_argument, NULL, O_PORT },
    { "tls-port", required_argument, NULL, O_TLS_PORT },
    { "tls-cert", required_argument, NULL, O_TLS_CERT },
    { "tls-key", required_argument, NULL, O_TLS_KEY },
    { "threads", required_argument, NULL, O_THREADS },
    { "subscription-key", required_argument, NULL, O_SUBKEY },
    { "api-user", required_argument, NULL, O_API_USER },
    { "api-key", required_argument, NULL, O_API_KEY },
    { "callback-host", required_argument, NULL, O_CALLBACK_HOST },
    { "token-lifetime", required_argument, NULL, O_TOKEN_LIFETIME },
    { "reason-object", no_argument, NULL, O_REASON_OBJECT },
    { "pending-ms", required_argument, NULL, O_PENDING_MS },
    { "ongoing-seconds", required_argument, NULL, O_ONGOING },
    { "not-found-ms", required_argument, NULL, O_NOT_FOUND_MS },
    { "delay-ms", required_argument, NULL, O_DELAY_MS },
    { "status-delay-ms", required_argument, NULL, O_STATUS_DELAY },
    { "fail-first", required_argument, NULL, O_FAIL_FIRST },
    { "fail-status", required_argument, NULL, O_FAIL_STATUS },
    { "drop-first", required_argument, NULL, O_DROP_FIRST },
    { "rate-limit-first", required_argument, NULL, O_RATE_LIMIT_FIRST },
    { "fail-share", required_argument, NULL, O_FAIL_SHARE },
    { "drop-share", required_argument, NULL, O_DROP_SHARE },
    { "hang-first", required_argument, NULL, O_HANG_FIRST },
    { "status-body", required_argument, NULL, O_STATUS_BODY },
    { "redirect", required_argument, NULL, O_REDIRECT },
    { "pidfile", required_argument, NULL, O_PIDFILE },
    { "verbose", no_argument, NULL, O_VERBOSE },
    { "help", no_argument, NULL, O_HELP },
    { "product-subscription-key", required_argument, NULL, O_PROD_SUBKEY },
    { "product-api-user", required_argument, NULL, O_PROD_API_USER },
    { "balance", required_argument, NULL, O_BALANCE },
    { "deliver-callbacks", no_argument, NULL, O_DELIVER_CB },
    { "callback-cacert", required_argument, NULL, O_CB_CACERT },
    { "duplicate-callbacks", no_argument, NULL, O_DUP_CB },
    { "duplicate-callbacks-gap-ms", required_argument, NULL, O_DUP_GAP },
    { "early-callbacks", no_argument, NULL, O_EARLY_CB },
    { "early-callbacks-ms", required_argument, NULL, O_EARLY_MS },
    { NULL, 0, NULL, 0 },
};

/* An API user of one product (--product-api-user). */
struct prod_user {
    int prod;
    char id[37];
    const char *key;            /* points into argv */
};

/* Command-line settings that are not part of struct config. */
struct options {
    const char *listen;
    long port, tls_port, threads;
    const char *tls_cert, *tls_key, *callback_host, *pidfile, *callback_cacert;
    const char **api_users, **api_keys;
    size_t n_api_users, n_api_keys;
    struct prod_user *prod_users;
    size_t n_prod_users;
};

/* Split "PRODUCT=VALUE" of --flag; returns the product and sets *value, or -1 (reported). */
static int product_arg(const char *flag, const char *arg, const char **value)
{
    const char *eq = strchr(arg, '=');
    char name[32];
    if (eq && (size_t)(eq - arg) < sizeof(name)) {
        memcpy(name, arg, (size_t)(eq - arg));
        name[eq - arg] = 0;
        int p = product_index(name);
        if (p >= 0) {
            *value = eq + 1;
            return p;
        }
    }
    fprintf(stderr, "momo-sandbox: --%s needs PRODUCT=..., PRODUCT one of collection, disbursement, "
            "remittance: %s\n", flag, arg);
    return -1;
}

/* Append s to a growable array of strings; 0 on success. */
static int push(const char ***arr, size_t *n, const char *s)
{
    const char **na = realloc(*arr, (*n + 1) * sizeof(*na));
    if (!na)
        return -1;
    na[(*n)++] = s;
    *arr = na;
    return 0;
}

/* Name of an integer option for error messages. */
static const char *opt_name(int id)
{
    for (const struct option *o = long_opts; o->name; o++)
        if (o->val == id)
            return o->name;
    return "?";
}

/* Parse argv into o and g_cfg_cli; 0 on success, 1 for --help, -1 on error. */
static int parse_args(int argc, char **argv, struct options *o)
{
    int ch;
    long v;
    while ((ch = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        long *target = NULL;
        long min = 0, max = 1000000000;
        switch (ch) {
        case O_LISTEN: o->listen = optarg; continue;
        case O_PORT: target = &o->port; max = 65535; break;
        case O_TLS_PORT: target = &o->tls_port; min = 1; max = 65535; break;
        case O_TLS_CERT: o->tls_cert = optarg; continue;
        case O_TLS_KEY: o->tls_key = optarg; continue;
        case O_THREADS: target = &o->threads; min = 1; max = 64; break;
        case O_SUBKEY:
            if (!*optarg) {
                fprintf(stderr, "momo-sandbox: --subscription-key must not be empty\n");
                return -1;
            }
            if (push(&g_sub_keys, &g_n_sub_keys, optarg) != 0)
                return -1;
            continue;
        case O_API_USER:
            if (!is_uuid(optarg)) {
                fprintf(stderr, "momo-sandbox: --api-user must be a UUID: %s\n", optarg);
                return -1;
            }
            if (push(&o->api_users, &o->n_api_users, optarg) != 0)
                return -1;
            continue;
        case O_API_KEY:
            if (!*optarg || strlen(optarg) > API_KEY_MAX) {
                fprintf(stderr, "momo-sandbox: --api-key must have 1 to %d characters\n", API_KEY_MAX);
                return -1;
            }
            if (push(&o->api_keys, &o->n_api_keys, optarg) != 0)
                return -1;
            continue;
        case O_CALLBACK_HOST:
            if (strlen(optarg) > CALLBACK_HOST_MAX) {
                fprintf(stderr, "momo-sandbox: --callback-host is too long\n");
                return -1;
            }
            o->callback_host = optarg;
            continue;
        case O_TOKEN_LIFETIME: target = &g_cfg_cli.token_lifetime; min = 1; max = 100000000; break;
        case O_REASON_OBJECT: g_cfg_cli.reason_object = 1; continue;
        case O_PENDING_MS: target = &g_cfg_cli.pending_ms; break;
        case O_ONGOING: target = &g_cfg_cli.ongoing_seconds; max = 100000000; break;
        case O_NOT_FOUND_MS: target = &g_cfg_cli.not_found_ms; break;
        case O_DELAY_MS: target = &g_cfg_cli.delay_ms; max = 3600000; break;
        case O_STATUS_DELAY: target = &g_cfg_cli.status_delay_ms; max = 3600000; break;
        case O_FAIL_FIRST: target = &g_cfg_cli.fail_first; break;
        case O_FAIL_STATUS:
            if (parse_long(optarg, 429, 503, &v) != 0 || (v != 429 && v != 500 && v != 503)) {
                fprintf(stderr, "momo-sandbox: --fail-status must be 500, 503 or 429\n");
                return -1;
            }
            g_cfg_cli.fail_status = v;
            continue;
        case O_DROP_FIRST: target = &g_cfg_cli.drop_first; break;
        case O_RATE_LIMIT_FIRST: target = &g_cfg_cli.rate_limit_first; break;
        case O_FAIL_SHARE: target = &g_cfg_cli.fail_share; max = 100; break;
        case O_DROP_SHARE: target = &g_cfg_cli.drop_share; max = 100; break;
        case O_HANG_FIRST: target = &g_cfg_cli.hang_first; break;
        case O_STATUS_BODY: {
            int m = status_body_mode(optarg);
            if (m < 0) {
                fprintf(stderr, "momo-sandbox: --status-body must be normal, malformed, truncated or oversized\n");
                return -1;
            }
            g_cfg_cli.status_body = m;
            continue;
        }
        case O_REDIRECT:
            if (!valid_redirect(optarg)) {
                fprintf(stderr, "momo-sandbox: --redirect needs a URL (printable ASCII)\n");
                return -1;
            }
            free(g_cfg_cli.redirect);
            g_cfg_cli.redirect = strdup(optarg);
            if (!g_cfg_cli.redirect)
                return -1;
            continue;
        case O_PIDFILE: o->pidfile = optarg; continue;
        case O_VERBOSE: g_verbose = 1; continue;
        case O_PROD_SUBKEY: {
            const char *k;
            int p = product_arg("product-subscription-key", optarg, &k);
            if (p < 0)
                return -1;
            if (!*k) {
                fprintf(stderr, "momo-sandbox: --product-subscription-key: the key must not be empty\n");
                return -1;
            }
            if (push(&g_prod_sub_keys[p], &g_n_prod_sub_keys[p], k) != 0)
                return -1;
            continue;
        }
        case O_PROD_API_USER: {
            const char *uk;
            int p = product_arg("product-api-user", optarg, &uk);
            if (p < 0)
                return -1;
            char id[37];
            snprintf(id, sizeof(id), "%s", uk);
            if (strlen(uk) < 38 || uk[36] != ':' || !is_uuid(id) || strlen(uk + 37) > API_KEY_MAX) {
                fprintf(stderr, "momo-sandbox: --product-api-user needs PRODUCT=UUID:KEY (key 1 to %d "
                        "characters): %s\n", API_KEY_MAX, optarg);
                return -1;
            }
            struct prod_user *nu = realloc(o->prod_users, (o->n_prod_users + 1) * sizeof(*nu));
            if (!nu)
                return -1;
            o->prod_users = nu;
            nu[o->n_prod_users].prod = p;
            memcpy(nu[o->n_prod_users].id, id, sizeof(id));
            nu[o->n_prod_users].key = uk + 37;
            o->n_prod_users++;
            continue;
        }
        case O_BALANCE: {
            const char *a;
            int64_t cents;
            int p = product_arg("balance", optarg, &a);
            if (p < 0)
                return -1;
            if (parse_cents(a, &cents) != 0) {
                fprintf(stderr, "momo-sandbox: --balance needs PRODUCT=AMOUNT (e.g. 1000.50): %s\n", optarg);
                return -1;
            }
            balance_set_initial(p, cents);
            continue;
        }
        case O_DELIVER_CB: g_cfg_cli.deliver_callbacks = 1; continue;
        case O_CB_CACERT: o->callback_cacert = optarg; continue;
        case O_DUP_CB: g_cfg_cli.duplicate_callbacks = 1; continue;
        case O_DUP_GAP: target = &g_cfg_cli.duplicate_gap_ms; break;
        case O_EARLY_CB: g_cfg_cli.early_callbacks = 1; continue;
        case O_EARLY_MS: target = &g_cfg_cli.early_ms; break;
        case O_HELP: return 1;
        default: return -1;
        }
        if (parse_long(optarg, min, max, target) != 0) {
            fprintf(stderr, "momo-sandbox: --%s needs an integer from %ld to %ld\n", opt_name(ch), min, max);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "momo-sandbox: unexpected argument: %s\n", argv[optind]);
        return -1;
    }
    if (o->n_api_users != o->n_api_keys) {
        fprintf(stderr, "momo-sandbox: --api-user and --api-key must come in pairs\n");
        return -1;
    }
    if (o->tls_port && (!o->tls_cert || !o->tls_key)) {
        fprintf(stderr, "momo-sandbox: --tls-port needs --tls-cert and --tls-key\n");
        return -1;
    }
    if ((o->tls_cert || o->tls_key) && !o->tls_port) {
        fprintf(stderr, "momo-sandbox: --tls-cert/--tls-key need --tls-port\n");
        return -1;
    }
    if (o->port == 0 && o->tls_port == 0) {
        fprintf(stderr, "momo-sandbox: nothing to listen on (--port 0 and no --tls-port)\n");
        return -1;
    }
    if (o->port != 0 && o->port == o->tls_port) {
        fprintf(stderr, "momo-sandbox: --port and --tls-port must differ\n");
        return -1;
    }
    return 0;
}

/* Read a whole (small) file into a NUL-terminated malloc'd string, or NULL. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "momo-sandbox: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
        if (len + 1 == cap) {
            if (cap >= 1024 * 1024) {
                fprintf(stderr, "momo-sandbox: %s is too large\n", path);
                free(buf);
                buf = NULL;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (buf && ferror(f)) {
        fprintf(stderr, "momo-sandbox: cannot read %s\n", path);
        free(buf);
        buf = NULL;
    }
    if (fclose(f) != 0 && buf) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[len] = 0;
    return buf;
}

static int mhd_starting;        /* MHD's messages are shown while starting, or with --verbose */

/* Logger for libmicrohttpd's own messages (e.g. why a certificate or key was refused). */
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (!g_verbose && !__atomic_load_n(&mhd_starting, __ATOMIC_RELAXED))
        return;
    fprintf(stderr, "momo-sandbox: libmicrohttpd: ");
    vfprintf(stderr, fmt, ap);
}

/* Start one MHD daemon on addr:port (TLS when cert/key given); NULL on failure. */
static struct MHD_Daemon *start_daemon(const char *listen, long port, long threads,
                                       const char *cert, const char *key)
{
    struct addrinfo hints, *ai = NULL;
    char portstr[16];
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    snprintf(portstr, sizeof(portstr), "%ld", port);
    int gai = getaddrinfo(listen, portstr, &hints, &ai);
    if (gai != 0 || !ai) {
        fprintf(stderr, "momo-sandbox: cannot resolve %s: %s\n", listen, gai_strerror(gai));
        return NULL;
    }
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                         MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (cert)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem opts[16];
    int n = 0;
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_logger, NULL };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, ai->ai_addr };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, threads, NULL };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT, 16384, NULL };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, 600, NULL };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL };
    if (cert) {
        opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cert };
        opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key };
    }
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };

    __atomic_store_n(&mhd_starting, 1, __ATOMIC_RELAXED);
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, &on_request, NULL,
                                            MHD_OPTION_ARRAY, opts,
                                            MHD_OPTION_NOTIFY_COMPLETED, &on_completed, NULL,
                                            MHD_OPTION_END);
    __atomic_store_n(&mhd_starting, 0, __ATOMIC_RELAXED);
    freeaddrinfo(ai);
    if (!d)
        fprintf(stderr, "momo-sandbox: cannot start %s listener on %s:%ld (port in use? bad cert/key?)\n",
                cert ? "HTTPS" : "HTTP", listen, port);
    return d;
}

/* Raise the open-file limit to its hard maximum (many keep-alive clients). */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            fprintf(stderr, "momo-sandbox: setrlimit: %s\n", strerror(errno));
    }
}

/* Host part of a URL, bracketed if it is an IPv6 literal. */
static void url_host(char *out, size_t n, const char *addr)
{
    if (strchr(addr, ':'))
        snprintf(out, n, "[%s]", addr);
    else
        snprintf(out, n, "%s", addr);
}

int main(int argc, char **argv)
{
    struct options o = { .listen = "127.0.0.1", .port = 18080, .threads = 2 };
    int rc = 1;
    char *cert = NULL, *key = NULL;
    struct MHD_Daemon *dhttp = NULL, *dtls = NULL;
    int pid_written = 0;

    g_cfg_cli.fail_status = 500;
    g_cfg_cli.conflict_status = 409;
    g_cfg_cli.ongoing_seconds = 300;
    g_cfg_cli.token_lifetime = 3600;
    g_cfg_cli.early_ms = 1000;

    int pr = parse_args(argc, argv, &o);
    if (pr != 0) {
        usage(pr > 0 ? stdout : stderr);
        rc = pr > 0 ? 0 : 2;
        goto out;
    }
    g_cfg = g_cfg_cli;
    g_cfg.redirect = NULL;
    if (g_cfg_cli.redirect) {
        g_cfg.redirect = strdup(g_cfg_cli.redirect);
        if (!g_cfg.redirect) {
            fprintf(stderr, "momo-sandbox: out of memory\n");
            goto out;
        }
    }

    if (o.tls_port) {
        if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
            fprintf(stderr, "momo-sandbox: this libmicrohttpd has no TLS support\n");
            goto out;
        }
        cert = read_file(o.tls_cert);
        key = read_file(o.tls_key);
        if (!cert || !key)
            goto out;
    }
    if (store_init() != 0 || shared_answers_init() != 0) {
        fprintf(stderr, "momo-sandbox: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < o.n_api_users; i++) {
        if (users_add(o.api_users[i], o.callback_host, o.api_keys[i], 0, ALL_PRODUCTS) < 0) {
            fprintf(stderr, "momo-sandbox: cannot add API user %s\n", o.api_users[i]);
            goto out;
        }
    }
    for (size_t i = 0; i < o.n_prod_users; i++) {
        const struct prod_user *pu = &o.prod_users[i];
        int ur = users_add(pu->id, o.callback_host, pu->key, 0, 1u << pu->prod);
        if (ur <= 0) {
            fprintf(stderr, "momo-sandbox: cannot add API user %s for %s%s\n", pu->id,
                    product_name(pu->prod), ur == 0 ? ": it was given before with another key" : "");
            if (ur == 0)
                rc = 2;         /* a command-line error */
            goto out;
        }
    }
    if (o.callback_cacert) {
        FILE *f = fopen(o.callback_cacert, "r");
        if (!f) {
            fprintf(stderr, "momo-sandbox: cannot open %s: %s\n", o.callback_cacert, strerror(errno));
            goto out;
        }
        fclose(f);
    }

    /* signals are taken by sigwait in this thread; every other thread blocks them */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0) {
        fprintf(stderr, "momo-sandbox: pthread_sigmask failed\n");
        goto out;
    }
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        fprintf(stderr, "momo-sandbox: cannot ignore SIGPIPE\n");
    raise_nofile();

    if (park_start() != 0) {
        fprintf(stderr, "momo-sandbox: cannot start the parking thread\n");
        goto out;
    }
    if (callbacks_start(o.callback_cacert) != 0) {
        fprintf(stderr, "momo-sandbox: cannot start the callback threads\n");
        goto out;
    }
    if (o.port) {
        dhttp = start_daemon(o.listen, o.port, o.threads, NULL, NULL);
        if (!dhttp)
            goto out;
    }
    if (o.tls_port) {
        dtls = start_daemon(o.listen, o.tls_port, o.threads, cert, key);
        if (!dtls)
            goto out;
    }
    if (o.pidfile) {
        FILE *f = fopen(o.pidfile, "w");
        if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
            fprintf(stderr, "momo-sandbox: cannot write pidfile %s: %s\n", o.pidfile, strerror(errno));
            goto out;
        }
        pid_written = 1;
    }

    char host[300];
    url_host(host, sizeof(host), o.listen);
    if (o.port && o.tls_port)
        printf("momo-sandbox: listening on http://%s:%ld, https://%s:%ld\n", host, o.port, host, o.tls_port);
    else if (o.port)
        printf("momo-sandbox: listening on http://%s:%ld\n", host, o.port);
    else
        printf("momo-sandbox: listening on https://%s:%ld\n", host, o.tls_port);
    if (fflush(stdout) != 0)
        fprintf(stderr, "momo-sandbox: cannot write to stdout\n");

    for (;;) {
        int sig;
        int e = sigwait(&sigs, &sig);
        if (e == 0)
            break;
        if (e != 0 && e != EINTR) {
            fprintf(stderr, "momo-sandbox: sigwait: %s\n", strerror(e));
            break;
        }
    }
    if (g_verbose)
        fprintf(stderr, "momo-sandbox: shutting down\n");
    rc = 0;

out:
    park_stop();
    if (dhttp)
        MHD_stop_daemon(dhttp);
    if (dtls)
        MHD_stop_daemon(dtls);
    callbacks_stop();
    if (pid_written && unlink(o.pidfile) != 0)
        fprintf(stderr, "momo-sandbox: cannot remove pidfile %s: %s\n", o.pidfile, strerror(errno));
    shared_answers_free();
    store_destroy();
    tokens_destroy();
    users_destroy();
    free(g_cfg.redirect);
    free(g_cfg_cli.redirect);
    free(g_sub_keys);
    for (int p = 0; p < PROD_COUNT; p++)
        free(g_prod_sub_keys[p]);
    free(o.prod_users);
    free(o.api_users);
    free(o.api_keys);
    free(cert);
    free(key);
    return rc;
}
