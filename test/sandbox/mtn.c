/*
 * mtn.c - emulation of MTN MoMo's API as the live sandbox behaves: token
 * endpoints of the three products, Collection request-to-pay / status /
 * balance / account-holder, the Provisioning API, and fault injection.
 */
#define _GNU_SOURCE
#include "sandbox.h"
#include "store.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>

/* Outcome of a payer MSISDN from the sandbox's test-number table. */
struct test_number {
    const char *msisdn;
    const char *status;
    const char *reason;
};

static const struct test_number test_numbers[] = {
    { "46733123450", "FAILED", "INTERNAL_PROCESSING_ERROR" },
    { "46733123451", "FAILED", "APPROVAL_REJECTED" },
    { "46733123452", "FAILED", "EXPIRED" },
    { "46733123453", "PENDING", NULL },         /* then FAILED EXPIRED */
    { "46733123454", "CREATED", NULL },
    { "46733123455", "FAILED", "PAYER_NOT_FOUND" },
    { "46733123456", "FAILED", "PAYEE_NOT_ALLOWED_TO_RECEIVE" },
    { "46733123457", "FAILED", "NOT_ALLOWED" },
    { "46733123458", "FAILED", "NOT_ALLOWED_TARGET_ENVIRONMENT" },
    { "46733123459", "FAILED", "INVALID_CALLBACK_URL_HOST" },
    { "46733123460", "FAILED", "INVALID_CURRENCY" },
    { "46733123461", "FAILED", "INTERNAL_PROCESSING_ERROR" },
    { "46733123462", "FAILED", "SERVICE_UNAVAILABLE" },
    { "46733123463", "FAILED", "COULD_NOT_PERFORM_TRANSACTION" },
    { "46733123464", "FAILED", "TRANSFERTYPE_UNKNOWN" },
};

static const struct { const char *code, *message; } reason_messages[] = {
    { "INTERNAL_PROCESSING_ERROR", "An internal error occurred while processing." },
    { "APPROVAL_REJECTED", "The payer rejected the request." },
    { "EXPIRED", "The payer did not approve the request in time." },
    { "PAYER_NOT_FOUND", "Payer not found." },
    { "PAYEE_NOT_ALLOWED_TO_RECEIVE", "Payee is not allowed to receive." },
    { "NOT_ALLOWED", "Not allowed." },
    { "NOT_ALLOWED_TARGET_ENVIRONMENT", "Access to target environment is forbidden" },
    { "INVALID_CALLBACK_URL_HOST", "Callback URL with host not allowed." },
    { "INVALID_CURRENCY", "Currency not supported." },
    { "SERVICE_UNAVAILABLE", "Service unavailable." },
    { "COULD_NOT_PERFORM_TRANSACTION", "Could not perform the transaction." },
    { "TRANSFERTYPE_UNKNOWN", "Transfer type unknown." },
};

/* Human-readable message of a reason code. */
static const char *reason_message(const char *code)
{
    for (size_t i = 0; i < sizeof(reason_messages) / sizeof(reason_messages[0]); i++)
        if (strcmp(reason_messages[i].code, code) == 0)
            return reason_messages[i].message;
    return code;
}

const char *payment_status_now(const struct payment *p, int64_t now, const char **reason)
{
    *reason = NULL;
    if (strcmp(p->party_type, "MSISDN") == 0) {
        for (size_t i = 0; i < sizeof(test_numbers) / sizeof(test_numbers[0]); i++) {
            const struct test_number *t = &test_numbers[i];
            if (strcmp(t->msisdn, p->party_id) != 0)
                continue;
            if (strcmp(t->msisdn, "46733123453") == 0) {
                if (now < p->ongoing_until_ms)
                    return "PENDING";
                *reason = "EXPIRED";
                return "FAILED";
            }
            *reason = t->reason;
            return t->status;
        }
    }
    return now < p->pending_until_ms ? "PENDING" : "SUCCESSFUL";
}

/* 1 if the request carries an accepted Ocp-Apim-Subscription-Key. */
static int subkey_ok(struct MHD_Connection *c)
{
    const char *k = hdr(c, "Ocp-Apim-Subscription-Key");
    if (!k || !*k)
        return 0;
    if (g_n_sub_keys == 0)
        return 1;
    for (size_t i = 0; i < g_n_sub_keys; i++)
        if (strcmp(g_sub_keys[i], k) == 0)
            return 1;
    return 0;
}

/* 1 if a POST announces its body (Content-Length or Transfer-Encoding). */
static int has_length(struct MHD_Connection *c)
{
    return hdr(c, MHD_HTTP_HEADER_CONTENT_LENGTH) || hdr(c, MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

/* 1 for GET and HEAD. */
static int is_get(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* Answer 405 with the allowed method. */
static void reply_405(struct req *r, const char *allow)
{
    reply_json(r, 405, "{\"statusCode\":405,\"message\":\"Method not allowed\"}");
    reply_header(r, MHD_HTTP_HEADER_ALLOW, allow);
}

/* Answer with the configured failure status, without effect. */
static void reply_fail_status(struct req *r, long code)
{
    if (code == 503)
        reply_shared(r, ANS_503_UNAVAILABLE);
    else if (code == 429)
        reply_shared(r, ANS_429_RATE);
    else
        reply_shared(r, ANS_500_EMPTY);
}

/* 1 with probability pct percent. */
static int chance(long pct)
{
    if (pct <= 0)
        return 0;
    if (pct >= 100)
        return 1;
    return (long)(rnd_u32() % 100) < pct;
}

/* Checks shared by product calls with a bearer token; 0 if passed, else answered. */
static int product_auth(struct MHD_Connection *c, struct req *r, int prod,
                        const struct apiuser **user)
{
    if (!subkey_ok(c)) {
        STAT_INC(unauthorized);
        reply_shared(r, ANS_401_SUBKEY);
        return -1;
    }
    const char *a = hdr(c, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!a || strncasecmp(a, "Bearer ", 7) != 0) {
        STAT_INC(unauthorized);
        reply_shared(r, ANS_401_EMPTY);
        return -1;
    }
    a += 7;
    while (*a == ' ')
        a++;
    if (!tokens_check(a, prod, user)) {
        STAT_INC(unauthorized);
        reply_shared(r, ANS_401_EMPTY);
        return -1;
    }
    const char *env = hdr(c, "X-Target-Environment");
    if (!env || strcmp(env, "sandbox") != 0) {
        reply_shared(r, ANS_500_TARGET_ENV);
        return -1;
    }
    return 0;
}

/* POST /{product}/token/: HTTP Basic with API user and key. */
static void handle_token(struct MHD_Connection *c, struct req *r, int prod, const struct config *cfg)
{
    STAT_INC(token_requests);
    if (!has_length(c)) {
        STAT_INC(token_rejected);
        reply_shared(r, ANS_411_LENGTH);
        return;
    }
    if (!subkey_ok(c)) {
        STAT_INC(token_rejected);
        STAT_INC(unauthorized);
        reply_shared(r, ANS_401_SUBKEY);
        return;
    }
    const char *a = hdr(c, MHD_HTTP_HEADER_AUTHORIZATION);
    unsigned char dec[1024];
    long dl = -1;
    if (a && strncasecmp(a, "Basic ", 6) == 0) {
        a += 6;
        while (*a == ' ')
            a++;
        size_t al = strlen(a);
        if (al <= 1000)
            dl = b64_decode(a, al, dec);
    }
    char *colon = dl > 0 ? memchr(dec, ':', (size_t)dl) : NULL;
    if (!colon || memchr(dec, 0, (size_t)dl)) {
        STAT_INC(token_rejected);
        STAT_INC(unauthorized);
        reply_shared(r, ANS_401_EMPTY);
        return;
    }
    dec[dl] = 0;
    *colon = 0;
    const struct apiuser *u = users_login((const char *)dec, colon + 1);
    if (!u) {
        STAT_INC(token_rejected);
        reply_shared(r, ANS_500_LOGIN);
        return;
    }
    char *tok = NULL;
    if (tokens_issue(prod, u, cfg->token_lifetime, &tok) != 0) {
        STAT_INC(token_rejected);
        reply_shared(r, ANS_500_EMPTY);
        return;
    }
    struct sbuf b;
    sb_init(&b);
    sb_str(&b, "{\"access_token\":");
    sb_jstrz(&b, tok);
    sb_printf(&b, ",\"token_type\":\"access_token\",\"expires_in\":%ld}", cfg->token_lifetime);
    free(tok);
    STAT_INC(tokens_issued);
    reply_sbuf(r, 200, &b);
}

/* 1 if s is a positive decimal amount: digits, optionally '.' and 1-2 decimals. */
static int valid_amount(const char *s, size_t n)
{
    size_t i = 0, int_digits = 0, frac_digits = 0;
    int nonzero = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        if (s[i] != '0')
            nonzero = 1;
        i++;
        int_digits++;
    }
    if (int_digits == 0 || int_digits > 15)
        return 0;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (s[i] != '0')
                nonzero = 1;
            i++;
            frac_digits++;
        }
        if (frac_digits == 0 || frac_digits > 2)
            return 0;
    }
    return i == n && nonzero;
}

/* 1 if s is an MSISDN: 5 to 15 digits. */
static int valid_msisdn(const char *s, size_t n)
{
    if (n < 5 || n > 15)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* Fields of a validated request-to-pay body (pointers into the parsed document). */
struct rtp {
    const char *external_id, *amount, *currency, *party_type, *party_id;
    const char *payer_message, *payee_note;
};

enum rtp_verdict { RTP_OK, RTP_BAD, RTP_EMPTY_MESSAGE, RTP_CURRENCY };

/* Optional string member: absent/null -> *out NULL; non-string -> -1. */
static int opt_string(const struct json *d, const struct jnode *obj, const char *name,
                      const struct jnode **out)
{
    const struct jnode *n = json_member(d, obj, name);
    *out = NULL;
    if (!n || n->type == J_NULL)
        return 0;
    if (n->type != J_STRING)
        return -1;
    *out = n;
    return 0;
}

/* 0 if a payerMessage/payeeNote is acceptable (or absent), -1 for 400. */
static int check_note(const struct jnode *n)
{
    if (!n)
        return 0;
    if (utf8_count(n->str, n->len) > 160 || memchr(n->str, '\'', n->len))
        return -1;
    return 0;
}

/* Validate a request-to-pay body the way the live API does. */
static enum rtp_verdict validate_rtp(const struct json *d, struct rtp *o)
{
    const struct jnode *root = json_root(d);
    if (!root || root->type != J_OBJECT)
        return RTP_BAD;
    const struct jnode *amount = json_member(d, root, "amount");
    const struct jnode *currency = json_member(d, root, "currency");
    const struct jnode *payer = json_member(d, root, "payer");
    const struct jnode *ext, *pm, *pn;
    if (!amount || amount->type != J_STRING || !valid_amount(amount->str, amount->len))
        return RTP_BAD;
    if (!currency || currency->type != J_STRING)
        return RTP_BAD;
    if (!payer || payer->type != J_OBJECT)
        return RTP_BAD;
    if (opt_string(d, root, "externalId", &ext) || opt_string(d, root, "payerMessage", &pm) ||
        opt_string(d, root, "payeeNote", &pn))
        return RTP_BAD;
    const struct jnode *pt = json_member(d, payer, "partyIdType");
    const struct jnode *pid = json_member(d, payer, "partyId");
    if (!pt || pt->type != J_STRING || !pid || pid->type != J_STRING || pid->len == 0)
        return RTP_BAD;
    if (strcmp(pt->str, "MSISDN") == 0) {
        if (!valid_msisdn(pid->str, pid->len))
            return RTP_BAD;
    } else if (strcmp(pt->str, "EMAIL") == 0) {
        const char *at = strchr(pid->str, '@');
        if (!at || at == pid->str || at[1] == 0)
            return RTP_BAD;
    } else if (strcmp(pt->str, "PARTY_CODE") != 0) {
        return RTP_BAD;
    }
    if (check_note(pm) || check_note(pn))
        return RTP_BAD;
    o->amount = amount->str;
    o->currency = currency->str;
    o->party_type = pt->str;
    o->party_id = pid->str;
    o->external_id = ext ? ext->str : NULL;
    o->payer_message = pm ? pm->str : NULL;
    o->payee_note = pn ? pn->str : NULL;
    if ((pm && pm->len == 0) || (pn && pn->len == 0))
        return RTP_EMPTY_MESSAGE;
    if (strcmp(o->currency, "EUR") != 0)
        return RTP_CURRENCY;
    return RTP_OK;
}

/* 1 if the host of url equals host (case-insensitive). */
static int url_host_is(const char *url, const char *host)
{
    const char *p = strstr(url, "://");
    if (!p)
        return 0;
    p += 3;
    size_t alen = strcspn(p, "/?#");
    const char *at = memrchr(p, '@', alen);
    if (at) {
        alen -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    size_t hlen;
    if (alen > 0 && *p == '[') {
        const char *rb = memchr(p, ']', alen);
        if (!rb)
            return 0;
        p++;
        hlen = (size_t)(rb - p);
    } else {
        const char *colon = memchr(p, ':', alen);
        hlen = colon ? (size_t)(colon - p) : alen;
    }
    return hlen > 0 && strlen(host) == hlen && strncasecmp(p, host, hlen) == 0;
}

/* Record an injected fault on a reference id. */
static void note_fault(const char *id)
{
    STAT_INC(rtp_faults);
    store_lock();
    struct refrec *rec = store_find(id);
    if (rec)
        rec->faults++;
    store_unlock();
}

/* POST /collection/v1_0/requesttopay. */
static void handle_rtp_post(struct MHD_Connection *c, struct req *r, const struct config *cfg,
                            const struct apiuser *user)
{
    STAT_INC(rtp_posts);
    const char *ref = hdr(c, "X-Reference-Id");
    if (!ref || !is_uuid4(ref)) {
        STAT_INC(rtp_bad_requests);
        reply_shared(r, ANS_400_EMPTY);
        return;
    }
    char id[37];
    lower_copy(id, ref, sizeof(id));

    store_lock();
    struct refrec *rec = store_get_or_add(id);
    unsigned long n = rec ? ++rec->posts : 0;
    store_unlock();
    if (!rec) {
        reply_shared(r, ANS_500_EMPTY);
        return;
    }

    /* faults that happen before the request is processed */
    if ((long)n <= cfg->hang_first) {
        note_fault(id);
        r->action = ACT_HANG;
        r->note = "hang-first";
        return;
    }
    if ((long)n <= cfg->rate_limit_first) {
        note_fault(id);
        reply_shared(r, ANS_429_RATE);
        r->note = "rate-limit-first";
        return;
    }
    if ((long)n <= cfg->fail_first || chance(cfg->fail_share)) {
        note_fault(id);
        reply_fail_status(r, cfg->fail_status);
        r->note = (long)n <= cfg->fail_first ? "fail-first" : "fail-share";
        return;
    }

    struct json doc;
    struct rtp f = { 0 };
    enum rtp_verdict v = RTP_BAD;
    int parsed = json_parse(r->body ? r->body : "", r->body_len, &doc) == 0;
    if (parsed)
        v = validate_rtp(&doc, &f);
    if (v == RTP_OK && user && user->cbhost) {
        const char *cb = hdr(c, "X-Callback-Url");
        if (cb && *cb && !url_host_is(cb, user->cbhost)) {
            STAT_INC(rtp_rejected);
            reply_shared(r, ANS_500_CALLBACK);
            goto drop_check;
        }
    }
    switch (v) {
    case RTP_BAD:
        STAT_INC(rtp_bad_requests);
        store_lock();
        rec = store_find(id);
        if (rec)
            rec->bad_requests++;
        store_unlock();
        reply_shared(r, ANS_400_EMPTY);
        break;
    case RTP_EMPTY_MESSAGE:
        STAT_INC(rtp_rejected);
        reply_shared(r, ANS_500_EMPTY);
        break;
    case RTP_CURRENCY:
        STAT_INC(rtp_rejected);
        reply_shared(r, ANS_500_CURRENCY);
        break;
    case RTP_OK: {
        struct payment *p = payment_new(f.external_id, f.amount, f.currency, f.party_type,
                                        f.party_id, f.payer_message, f.payee_note);
        if (!p) {
            reply_shared(r, ANS_500_EMPTY);
            break;
        }
        int64_t now = now_ms();
        p->accepted_ms = now;
        p->visible_ms = now + cfg->not_found_ms;
        p->pending_until_ms = now + cfg->pending_ms;
        p->ongoing_until_ms = now + cfg->ongoing_seconds * 1000;
        uint32_t a = rnd_u32() % 900000000u + 100000000u;
        snprintf(p->ftid, sizeof(p->ftid), "%u%u", a, rnd_u32() % 10u);
        int stored = 0;
        store_lock();
        rec = store_get_or_add(id);
        if (rec && !rec->pay) {
            store_set_payment(rec, p);
            stored = 1;
        } else if (rec) {
            rec->conflicts++;
        }
        store_unlock();
        if (stored) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            __atomic_store_n(&g_stats.last_accepted_us,
                             (unsigned long)ts.tv_sec * 1000000UL + (unsigned long)ts.tv_nsec / 1000UL,
                             __ATOMIC_RELAXED);
            STAT_INC(rtp_accepted);
            reply_shared(r, ANS_202_EMPTY);
        } else {
            free(p);
            if (rec) {
                STAT_INC(rtp_conflicts);
                reply_shared(r, ANS_409_EXISTS);
            } else {
                reply_shared(r, ANS_500_EMPTY);
            }
        }
        break;
    }
    }
drop_check:
    if (parsed)
        json_free(&doc);
    /* faults that lose the answer after the request was processed */
    if ((long)n <= cfg->drop_first || chance(cfg->drop_share)) {
        note_fault(id);
        r->action = ACT_DROP;
        r->note = (long)n <= cfg->drop_first ? "drop-first" : "drop-share";
    }
}

/* Build the status answer of a payment (caller holds the store lock). */
static void status_json(struct sbuf *b, const struct payment *p, int64_t now, int reason_object,
                        size_t padding)
{
    const char *reason;
    const char *status = payment_status_now(p, now, &reason);
    sb_str(b, "{");
    if (padding) {
        sb_str(b, "\"padding\":\"");
        if (sb_reserve(b, padding) == 0) {
            memset(b->p + b->len, 'x', padding);
            b->len += padding;
            b->p[b->len] = 0;
        }
        sb_str(b, "\",");
    }
    if (strcmp(status, "SUCCESSFUL") == 0) {
        sb_str(b, "\"financialTransactionId\":");
        sb_jstrz(b, p->ftid);
        sb_str(b, ",");
    }
    if (p->external_id) {
        sb_str(b, "\"externalId\":");
        sb_jstrz(b, p->external_id);
        sb_str(b, ",");
    }
    sb_str(b, "\"amount\":");
    sb_jstrz(b, p->amount);
    sb_str(b, ",\"currency\":");
    sb_jstrz(b, p->currency);
    sb_str(b, ",\"payer\":{\"partyIdType\":");
    sb_jstrz(b, p->party_type);
    sb_str(b, ",\"partyId\":");
    sb_jstrz(b, p->party_id);
    sb_str(b, "}");
    if (p->payer_message) {
        sb_str(b, ",\"payerMessage\":");
        sb_jstrz(b, p->payer_message);
    }
    if (p->payee_note) {
        sb_str(b, ",\"payeeNote\":");
        sb_jstrz(b, p->payee_note);
    }
    sb_str(b, ",\"status\":");
    sb_jstrz(b, status);
    if (reason) {
        sb_str(b, ",\"reason\":");
        if (reason_object) {
            sb_str(b, "{\"code\":");
            sb_jstrz(b, reason);
            sb_str(b, ",\"message\":");
            sb_jstrz(b, reason_message(reason));
            sb_str(b, "}");
        } else {
            sb_jstrz(b, reason);
        }
    }
    sb_str(b, "}");
}

/* State of a response whose Content-Length promises more than is sent. */
struct trunc_body {
    char *data;
    size_t len;
};

/* Content reader that sends the available bytes, then fails (MHD closes the connection). */
static ssize_t trunc_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct trunc_body *t = cls;
    if (pos >= t->len)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = t->len - (size_t)pos;
    if (n > max)
        n = max;
    memcpy(buf, t->data + pos, n);
    return (ssize_t)n;
}

/* Free a truncated body. */
static void trunc_free(void *cls)
{
    struct trunc_body *t = cls;
    free(t->data);
    free(t);
}

/* GET /collection/v1_0/requesttopay/{referenceId}. */
static void handle_rtp_get(struct req *r, const char *ref, const struct config *cfg)
{
    STAT_INC(status_gets);
    if (chance(cfg->fail_share)) {
        STAT_INC(get_faults);
        reply_fail_status(r, cfg->fail_status);
        r->note = "fail-share";
        return;
    }
    if (!is_uuid(ref)) {
        reply_shared(r, ANS_400_EMPTY);
        return;
    }
    char id[37];
    lower_copy(id, ref, sizeof(id));
    int64_t now = now_ms();
    struct sbuf b;
    sb_init(&b);
    int found = 0;
    size_t padding = cfg->status_body == SB_OVERSIZED ? (size_t)4 * 1024 * 1024 : 0;
    store_lock();
    struct refrec *rec = store_find(id);
    if (rec) {
        rec->status_gets++;
        if (rec->pay && now >= rec->pay->visible_ms) {
            found = 1;
            status_json(&b, rec->pay, now, cfg->reason_object != 0, padding);
        }
    }
    store_unlock();
    if (!found) {
        STAT_INC(status_not_found);
        reply_shared(r, ANS_404_RESOURCE);
        return;
    }
    if (cfg->status_body == SB_MALFORMED && !b.failed && b.len > 0) {
        b.p[b.len - 1] = ']';           /* {... ] : not JSON */
        sb_str(&b, ",");
    } else if (cfg->status_body == SB_TRUNCATED && !b.failed) {
        size_t len;
        char *data = sb_take(&b, &len);
        struct trunc_body *t = malloc(sizeof(*t));
        if (!data || !t) {
            free(data);
            free(t);
            reply_shared(r, ANS_500_EMPTY);
            return;
        }
        t->data = data;
        t->len = len / 2;
        struct MHD_Response *resp =
            MHD_create_response_from_callback(len + 64, 4096, trunc_reader, t, trunc_free);
        if (!resp) {
            trunc_free(t);
            reply_shared(r, ANS_500_EMPTY);
            return;
        }
        if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                    "application/json;charset=utf-8") != MHD_YES)
            fprintf(stderr, "momo-sandbox: cannot add header\n");
        r->resp = resp;
        r->resp_shared = 0;
        r->status = 200;
        r->note = "truncated";
        return;
    }
    reply_sbuf(r, 200, &b);
}

/* GET /collection/v1_0/accountholder/{type}/{id}/active. */
static void handle_active(struct req *r, const char *type, size_t tlen, const char *id,
                          size_t idlen)
{
    if (!((tlen == 6 && strncasecmp(type, "msisdn", 6) == 0) ||
          (tlen == 5 && strncasecmp(type, "email", 5) == 0)) || idlen == 0) {
        reply_shared(r, ANS_400_EMPTY);
        return;
    }
    if (idlen == 11 && memcmp(id, "46733123451", 11) == 0)
        reply_json(r, 200, "{\"result\":false}");
    else
        reply_json(r, 200, "{\"result\":true}");
}

/* The Provisioning API: /v1_0/apiuser[/{uuid}[/apikey]]. */
static void handle_provisioning(struct MHD_Connection *c, struct req *r, const char *rest,
                                const char *method)
{
    STAT_INC(provisioning_requests);
    char id[64];
    int kind;                   /* 0 create, 1 get user, 2 new key */
    if (*rest == 0) {
        kind = 0;
    } else {
        rest++;                 /* skip '/' */
        size_t n = strcspn(rest, "/");
        if (n == 0 || n >= sizeof(id)) {
            reply_shared(r, ANS_404_PATH);
            return;
        }
        memcpy(id, rest, n);
        id[n] = 0;
        if (rest[n] == 0)
            kind = 1;
        else if (strcmp(rest + n, "/apikey") == 0)
            kind = 2;
        else {
            reply_shared(r, ANS_404_PATH);
            return;
        }
    }
    if (kind == 1 ? !is_get(method) : strcmp(method, "POST") != 0) {
        reply_405(r, kind == 1 ? "GET" : "POST");
        return;
    }
    if (kind != 1 && !has_length(c)) {
        reply_shared(r, ANS_411_LENGTH);
        return;
    }
    if (!subkey_ok(c)) {
        STAT_INC(unauthorized);
        reply_shared(r, ANS_401_SUBKEY);
        return;
    }
    if (kind == 0) {
        const char *ref = hdr(c, "X-Reference-Id");
        if (!ref || !is_uuid4(ref)) {
            reply_shared(r, ANS_400_EMPTY);
            return;
        }
        struct json doc;
        if (json_parse(r->body ? r->body : "", r->body_len, &doc) != 0) {
            reply_shared(r, ANS_400_EMPTY);
            return;
        }
        const struct jnode *h = json_member(&doc, json_root(&doc), "providerCallbackHost");
        int rc = -2;
        if (h && h->type == J_STRING && h->len <= CALLBACK_HOST_MAX &&
            strcspn(h->str, " /\\\"'<>") == h->len)
            rc = users_add(ref, h->str, NULL, 1);
        json_free(&doc);
        if (rc == -2)
            reply_shared(r, ANS_400_EMPTY);
        else if (rc == 0)
            reply_shared(r, ANS_409_EXISTS);
        else if (rc < 0)
            reply_shared(r, ANS_500_EMPTY);
        else
            reply_shared(r, ANS_201_EMPTY);
        return;
    }
    if (!is_uuid(id)) {
        reply_shared(r, ANS_400_EMPTY);
        return;
    }
    if (kind == 2) {
        char key[33];
        int rc = users_new_key(id, key);
        if (rc == 0) {
            reply_shared(r, ANS_404_RESOURCE);
        } else if (rc < 0) {
            reply_shared(r, ANS_500_EMPTY);
        } else {
            char body[64];
            snprintf(body, sizeof(body), "{\"apiKey\":\"%s\"}", key);
            reply_json(r, 201, body);
        }
        return;
    }
    const struct apiuser *u = users_find(id);
    if (!u) {
        reply_shared(r, ANS_404_RESOURCE);
        return;
    }
    struct sbuf b;
    sb_init(&b);
    sb_str(&b, "{\"providerCallbackHost\":");
    sb_jstrz(&b, u->cbhost ? u->cbhost : "");
    sb_str(&b, ",\"targetEnvironment\":\"sandbox\"}");
    reply_sbuf(r, 200, &b);
}

/* Which product a path starts with; sets *rest to the remainder. */
static int product_of(const char *url, const char **rest)
{
    static const struct { const char *prefix; size_t len; int prod; } p[] = {
        { "/collection", 11, PROD_COLLECTION },
        { "/disbursement", 13, PROD_DISBURSEMENT },
        { "/remittance", 11, PROD_REMITTANCE },
    };
    for (size_t i = 0; i < 3; i++)
        if (strncmp(url, p[i].prefix, p[i].len) == 0 && url[p[i].len] == '/') {
            *rest = url + p[i].len;
            return p[i].prod;
        }
    return -1;
}

enum route { RT_NONE, RT_TOKEN, RT_TOKEN_NOSLASH, RT_RTP_POST, RT_RTP_GET, RT_BALANCE,
             RT_BALANCE_CUR, RT_ACTIVE };

void mtn_handle(struct MHD_Connection *c, const char *url, const char *method, struct req *r)
{
    if (strncmp(url, "/v1_0/apiuser", 13) == 0 && (url[13] == 0 || url[13] == '/')) {
        handle_provisioning(c, r, url + 13, method);
        return;
    }
    const char *rest;
    int prod = product_of(url, &rest);
    if (prod < 0) {
        reply_shared(r, ANS_404_PATH);
        return;
    }
    /* route */
    enum route rt = RT_NONE;
    const char *arg = NULL, *arg2 = NULL;
    size_t arglen = 0, arg2len = 0;
    if (strcmp(rest, "/token/") == 0) {
        rt = RT_TOKEN;
    } else if (strcmp(rest, "/token") == 0) {
        rt = RT_TOKEN_NOSLASH;
    } else if (prod == PROD_COLLECTION) {
        if (strcmp(rest, "/v1_0/requesttopay") == 0) {
            rt = RT_RTP_POST;
        } else if (strncmp(rest, "/v1_0/requesttopay/", 19) == 0 && rest[19] &&
                   !strchr(rest + 19, '/')) {
            rt = RT_RTP_GET;
            arg = rest + 19;
        } else if (strcmp(rest, "/v1_0/account/balance") == 0) {
            rt = RT_BALANCE;
        } else if (strncmp(rest, "/v1_0/account/balance/", 22) == 0 && rest[22] &&
                   !strchr(rest + 22, '/')) {
            rt = RT_BALANCE_CUR;
            arg = rest + 22;
        } else if (strncmp(rest, "/v1_0/accountholder/", 20) == 0) {
            /* {type}/{id}/active */
            const char *t = rest + 20;
            const char *s1 = strchr(t, '/');
            if (s1 && s1 > t) {
                const char *s2 = strchr(s1 + 1, '/');
                if (s2 && s2 > s1 + 1 && strcmp(s2, "/active") == 0) {
                    rt = RT_ACTIVE;
                    arg = t;
                    arglen = (size_t)(s1 - t);
                    arg2 = s1 + 1;
                    arg2len = (size_t)(s2 - arg2);
                }
            }
        }
    }
    if (rt == RT_NONE) {
        reply_shared(r, ANS_404_PATH);
        return;
    }

    struct config cfg;
    config_snapshot(&cfg);
    if (cfg.delay_ms > 0)
        r->due_ms = now_ms() + cfg.delay_ms;
    if (cfg.redirect) {
        STAT_INC(redirects);
        reply_json(r, 302, NULL);
        reply_header(r, MHD_HTTP_HEADER_LOCATION, cfg.redirect);
        r->note = "redirect";
        goto out;
    }
    if (rt == RT_TOKEN_NOSLASH) {
        char loc[64];
        snprintf(loc, sizeof(loc), "%.*s/token/", (int)(rest - url), url);
        reply_json(r, 302, NULL);
        reply_header(r, MHD_HTTP_HEADER_LOCATION, loc);
        goto out;
    }
    int want_post = rt == RT_TOKEN || rt == RT_RTP_POST;
    if (want_post ? strcmp(method, "POST") != 0 : !is_get(method)) {
        reply_405(r, want_post ? "POST" : "GET");
        goto out;
    }
    if (rt == RT_TOKEN) {
        handle_token(c, r, prod, &cfg);
        goto out;
    }
    if (want_post && !has_length(c)) {
        reply_shared(r, ANS_411_LENGTH);
        goto out;
    }
    const struct apiuser *user = NULL;
    if (product_auth(c, r, prod, &user) != 0)
        goto out;
    switch (rt) {
    case RT_RTP_POST:
        handle_rtp_post(c, r, &cfg, user);
        break;
    case RT_RTP_GET:
        handle_rtp_get(r, arg, &cfg);
        break;
    case RT_BALANCE:
    case RT_BALANCE_CUR:
    case RT_ACTIVE:
        if (chance(cfg.fail_share)) {
            STAT_INC(get_faults);
            reply_fail_status(r, cfg.fail_status);
            r->note = "fail-share";
        } else if (rt == RT_ACTIVE) {
            handle_active(r, arg, arglen, arg2, arg2len);
        } else if (rt == RT_BALANCE_CUR && strcmp(arg, "EUR") != 0) {
            reply_shared(r, ANS_500_CURRENCY);
        } else {
            reply_json(r, 200, "{\"availableBalance\":\"1000000\",\"currency\":\"EUR\"}");
        }
        break;
    default:
        reply_shared(r, ANS_404_PATH);
        break;
    }
out:
    config_release(&cfg);
}
