/*
 * consent.c - the consent flow of every product, as MTN defines it (OpenID
 * CIBA): POST /{product}/v1_0/bc-authorize (form body login_hint=ID:{msisdn}/MSISDN,
 * scope, access_type) answers {auth_req_id, interval, expires_in}; POST
 * /{product}/oauth2/token/ (HTTP Basic API user and key, form body
 * grant_type=urn:openid:params:grant-type:ciba&auth_req_id=...) answers 400
 * {"error":"authorization_pending"} until the account holder decides, then
 * the OAuth2 token or the refusal; GET /{product}/oauth2/v1_0/userinfo with
 * that token answers what the account holder consented to show.
 *
 * Test numbers (the account holder of login_hint):
 *   46733123450  unknown: bc-authorize answers 400 {"error":"unknown_user_id"}
 *   46733123451  refuses after CONSENT_PENDING_POLLS polls: access_denied
 *   46733123452  does not answer in time: expired_token at the first poll
 *   46733123453  never decides: authorization_pending until the request expires
 *   any other    consents after CONSENT_PENDING_POLLS polls
 * A poll sooner than the interval after the previous one is answered
 * slow_down (CIBA).
 */
#define _GNU_SOURCE
#include "consent.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONSENT_MAX 1024            /* auth requests kept (a ring) */
#define CONSENT_PENDING_POLLS 2     /* authorization_pending answers before the decision */
#define CONSENT_INTERVAL_S 1        /* the poll interval bc-authorize asks for */
#define CONSENT_EXPIRES_S 120       /* an auth request's life */
#define CONSENT_TOKEN_S 3600        /* the OAuth2 token's life */

enum outcome { OC_CONSENT, OC_REFUSE, OC_EXPIRE, OC_NEVER };

struct authreq {
    char id[37];                    /* auth_req_id; "" for a free slot */
    int prod;
    char user[37];                  /* the API user that asked */
    char msisdn[16];
    char scope[256];
    enum outcome outcome;
    int64_t expires_ms;
    int64_t last_poll_ms;           /* 0: not polled yet */
    int polls;
    int granted;                    /* the token was issued (the request is used up) */
    char token[65];                 /* the OAuth2 access token, once granted */
    char refresh[65];               /* the refresh token that came with it */
    int64_t token_expires_ms;
};

static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static struct authreq reqs[CONSENT_MAX];
static size_t next_slot;

static void lock(void)
{
    if (pthread_mutex_lock(&mtx) != 0)
        abort();
}

static void unlock(void)
{
    if (pthread_mutex_unlock(&mtx) != 0)
        abort();
}

/* A CIBA error answer: {"error":code,"error_description":text}. */
static void reply_error(struct req *r, unsigned status, const char *code, const char *text)
{
    struct sbuf b;
    sb_init(&b);
    sb_str(&b, "{\"error\":");
    sb_jstrz(&b, code);
    sb_str(&b, ",\"error_description\":");
    sb_jstrz(&b, text);
    sb_str(&b, "}");
    reply_sbuf(r, status, &b);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* URL-decodes n bytes of s into out (room for n + 1); -1 if malformed or holds a NUL. */
static int form_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+')
            out[o++] = ' ';
        else if (s[i] == '%') {
            int h, l;
            if (i + 2 >= n)
                return -1;
            h = hexval((unsigned char)s[i + 1]);
            l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0))
                return -1;
            out[o++] = (char)(h * 16 + l);
            i += 2;
        } else
            out[o++] = s[i];
    }
    out[o] = 0;
    return 0;
}

struct form_field {
    const char *name;
    char *value;                    /* malloc'd, NULL if absent */
};

/* Parses a form body into fields (names given); -1 (with why) for an unknown,
   repeated or malformed member. */
static int form_parse(const char *body, size_t len, struct form_field *f, int nf,
                      const char **why)
{
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        const char *eq = memchr(body + i, '=', end - i);
        if (!eq) {
            *why = "a member without a value";
            return -1;
        }
        char *name = malloc((size_t)(eq - (body + i)) + 1);
        char *val = malloc(end - (size_t)(eq + 1 - body) + 1);
        if (!name || !val || form_decode(body + i, (size_t)(eq - (body + i)), name) != 0 ||
            form_decode(eq + 1, end - (size_t)(eq + 1 - body), val) != 0) {
            free(name);
            free(val);
            *why = "a malformed member";
            return -1;
        }
        int k;
        for (k = 0; k < nf; k++)
            if (strcmp(f[k].name, name) == 0)
                break;
        free(name);
        if (k == nf || f[k].value) {
            free(val);
            *why = k == nf ? "a member the operation does not take" : "a repeated member";
            return -1;
        }
        f[k].value = val;
        i = end + 1;
    }
    return 0;
}

static void form_free(struct form_field *f, int nf)
{
    for (int k = 0; k < nf; k++) {
        free(f[k].value);
        f[k].value = NULL;
    }
}

/* 1 if the request's body is a form (Content-Type application/x-www-form-urlencoded). */
static int is_form(struct MHD_Connection *c)
{
    const char *ct = hdr(c, MHD_HTTP_HEADER_CONTENT_TYPE);
    return ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0 &&
           (ct[33] == 0 || ct[33] == ';');
}

/* 1 if scope is one or more space-separated tokens of letters, digits and _.:- */
static int valid_scope(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= 256 || s[0] == ' ' || s[n - 1] == ' ' || strstr(s, "  "))
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:- ") == n;
}

static enum outcome outcome_of(const char *msisdn)
{
    if (strcmp(msisdn, "46733123451") == 0)
        return OC_REFUSE;
    if (strcmp(msisdn, "46733123452") == 0)
        return OC_EXPIRE;
    if (strcmp(msisdn, "46733123453") == 0)
        return OC_NEVER;
    return OC_CONSENT;
}

static void new_uuid4(char *out)
{
    unsigned char b[16];
    if (rnd_bytes(b, sizeof(b)) != 0)
        abort();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

void consent_bc_authorize(struct MHD_Connection *c, struct req *r, int prod,
                          const struct apiuser *user)
{
    struct form_field f[] = { { "login_hint", NULL }, { "scope", NULL }, { "access_type", NULL },
                              { "consent_valid_in", NULL } };
    const int nf = (int)(sizeof(f) / sizeof(f[0]));
    const char *why = NULL;
    char msisdn[16];

    if (!is_form(c)) {
        reply_error(r, 400, "invalid_request", "the body must be application/x-www-form-urlencoded");
        return;
    }
    if (form_parse(r->body ? r->body : "", r->body_len, f, nf, &why) != 0) {
        reply_error(r, 400, "invalid_request", why);
        return;
    }
    /* login_hint=ID:{msisdn}/MSISDN */
    const char *lh = f[0].value;
    size_t ll = lh ? strlen(lh) : 0;
    size_t dl = ll > 10 ? ll - 10 : 0;
    if (!lh || ll < 11 || strncmp(lh, "ID:", 3) != 0 || strcmp(lh + ll - 7, "/MSISDN") != 0 ||
        dl < 8 || dl > 15 || strspn(lh + 3, "0123456789") != dl) {
        reply_error(r, 400, "invalid_request", "login_hint must be ID:{msisdn}/MSISDN");
        goto out;
    }
    memcpy(msisdn, lh + 3, dl);
    msisdn[dl] = 0;
    if (!f[1].value || !valid_scope(f[1].value)) {
        reply_error(r, 400, "invalid_scope", "scope is missing or malformed");
        goto out;
    }
    if (f[2].value && strcmp(f[2].value, "online") != 0 && strcmp(f[2].value, "offline") != 0) {
        reply_error(r, 400, "invalid_request", "access_type must be online or offline");
        goto out;
    }
    if (strcmp(msisdn, "46733123450") == 0) {
        reply_error(r, 400, "unknown_user_id", "no account holder has this login_hint");
        goto out;
    }

    struct authreq a;
    memset(&a, 0, sizeof(a));
    new_uuid4(a.id);
    a.prod = prod;
    snprintf(a.user, sizeof(a.user), "%s", user ? user->id : "");
    snprintf(a.msisdn, sizeof(a.msisdn), "%s", msisdn);
    snprintf(a.scope, sizeof(a.scope), "%s", f[1].value);
    a.outcome = outcome_of(msisdn);
    a.expires_ms = now_ms() + CONSENT_EXPIRES_S * 1000;
    lock();
    reqs[next_slot] = a;
    next_slot = (next_slot + 1) % CONSENT_MAX;
    unlock();

    struct sbuf b;
    sb_init(&b);
    sb_str(&b, "{\"auth_req_id\":");
    sb_jstrz(&b, a.id);
    sb_printf(&b, ",\"interval\":%d,\"expires_in\":%d}", CONSENT_INTERVAL_S, CONSENT_EXPIRES_S);
    reply_sbuf(r, 200, &b);
out:
    form_free(f, nf);
}

static struct authreq *find_req(const char *id)
{
    for (size_t i = 0; i < CONSENT_MAX; i++)
        if (reqs[i].id[0] && strcmp(reqs[i].id, id) == 0)
            return &reqs[i];
    return NULL;
}

void consent_token(struct MHD_Connection *c, struct req *r, int prod)
{
    struct form_field f[] = { { "grant_type", NULL }, { "auth_req_id", NULL }, { "refresh_token", NULL } };
    const int nf = (int)(sizeof(f) / sizeof(f[0]));
    const char *why = NULL;

    /* HTTP Basic: the API user and key, as for /token/ */
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
        reply_shared(r, ANS_401_EMPTY);
        return;
    }
    dec[dl] = 0;
    *colon = 0;
    const struct apiuser *u = users_login((const char *)dec, colon + 1);
    if (!u || !(u->products & (1u << prod))) {
        reply_shared(r, ANS_500_LOGIN);
        return;
    }
    const char *env = hdr(c, "X-Target-Environment");
    if (!env || strcmp(env, "sandbox") != 0) {
        reply_shared(r, ANS_500_TARGET_ENV);
        return;
    }
    if (!is_form(c)) {
        reply_error(r, 400, "invalid_request", "the body must be application/x-www-form-urlencoded");
        return;
    }
    if (form_parse(r->body ? r->body : "", r->body_len, f, nf, &why) != 0) {
        reply_error(r, 400, "invalid_request", why);
        return;
    }
    if (!f[0].value || strcmp(f[0].value, "urn:openid:params:grant-type:ciba") != 0) {
        reply_error(r, 400, "unsupported_grant_type", "grant_type must be urn:openid:params:grant-type:ciba");
        goto out;
    }
    if (!f[1].value) {
        reply_error(r, 400, "invalid_request", "auth_req_id is missing");
        goto out;
    }

    lock();
    struct authreq *q = find_req(f[1].value);
    int64_t now = now_ms();
    if (!q || q->prod != prod || strcmp(q->user, u->id) != 0 || q->granted) {
        unlock();
        reply_error(r, 400, "invalid_grant", "auth_req_id is unknown, of another client or used up");
        goto out;
    }
    /* CIBA: a poll before the interval has passed is answered slow_down (a little slack). */
    if (q->last_poll_ms && now - q->last_poll_ms < CONSENT_INTERVAL_S * 1000 - 100) {
        q->last_poll_ms = now;
        unlock();
        reply_error(r, 400, "slow_down", "poll no more often than the interval");
        goto out;
    }
    q->last_poll_ms = now;
    q->polls++;
    if (now >= q->expires_ms || q->outcome == OC_EXPIRE) {
        unlock();
        reply_error(r, 400, "expired_token", "the authentication request has expired");
        goto out;
    }
    if (q->polls <= CONSENT_PENDING_POLLS || q->outcome == OC_NEVER) {
        unlock();
        reply_error(r, 400, "authorization_pending", "the account holder has not decided yet");
        goto out;
    }
    if (q->outcome == OC_REFUSE) {
        unlock();
        reply_error(r, 400, "access_denied", "the account holder refused");
        goto out;
    }
    if (rnd_hex(q->token, 64) != 0) {
        unlock();
        reply_shared(r, ANS_500_EMPTY);
        goto out;
    }
    q->granted = 1;
    q->token_expires_ms = now + CONSENT_TOKEN_S * 1000;
    if (rnd_hex(q->refresh, 64) != 0)
        abort();
    struct sbuf b;
    sb_init(&b);
    sb_str(&b, "{\"access_token\":");
    sb_jstrz(&b, q->token);
    sb_printf(&b, ",\"token_type\":\"Bearer\",\"expires_in\":%d,\"scope\":", CONSENT_TOKEN_S);
    sb_jstrz(&b, q->scope);
    sb_str(&b, ",\"refresh_token\":");
    sb_jstrz(&b, q->refresh);
    sb_printf(&b, ",\"refresh_token_expired_in\":%d}", CONSENT_TOKEN_S * 24);
    unlock();
    reply_sbuf(r, 200, &b);
out:
    form_free(f, nf);
}

/* 1 if the space-separated list scope holds word. */
static int has_scope(const char *scope, const char *word)
{
    size_t wl = strlen(word);
    for (const char *s = scope; *s;) {
        size_t n = strcspn(s, " ");
        if (n == wl && strncmp(s, word, n) == 0)
            return 1;
        s += n;
        while (*s == ' ')
            s++;
    }
    return 0;
}

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void consent_userinfo(struct MHD_Connection *c, struct req *r, int prod)
{
    static const char *const given[] = { "Amina", "Jean", "Grace", "Kwame", "Aline", "Olivier" };
    static const char *const family[] = { "Uwimana", "Mensah", "Okello", "Mugisha", "Asante" };
    const char *a = hdr(c, MHD_HTTP_HEADER_AUTHORIZATION);
    char msisdn[16], scope[256];

    if (!a || strncasecmp(a, "Bearer ", 7) != 0) {
        reply_shared(r, ANS_401_EMPTY);
        return;
    }
    a += 7;
    while (*a == ' ')
        a++;
    lock();
    struct authreq *q = NULL;
    for (size_t i = 0; i < CONSENT_MAX && *a; i++)
        if (reqs[i].granted && reqs[i].prod == prod && strcmp(reqs[i].token, a) == 0) {
            q = &reqs[i];
            break;
        }
    if (!q || now_ms() >= q->token_expires_ms) {
        unlock();
        reply_shared(r, ANS_401_EMPTY);
        return;
    }
    snprintf(msisdn, sizeof(msisdn), "%s", q->msisdn);
    snprintf(scope, sizeof(scope), "%s", q->scope);
    unlock();
    const char *env = hdr(c, "X-Target-Environment");
    if (!env || strcmp(env, "sandbox") != 0) {
        reply_shared(r, ANS_500_TARGET_ENV);
        return;
    }

    uint64_t h = fnv(msisdn);
    const char *g = given[h % 6], *fam = family[(h >> 8) % 5];
    struct sbuf b;
    sb_init(&b);
    sb_str(&b, "{\"sub\":");
    sb_jstrz(&b, msisdn);
    if (has_scope(scope, "profile")) {
        sb_printf(&b, ",\"name\":\"%s %s\",\"given_name\":\"%s\",\"family_name\":\"%s\"", g, fam, g, fam);
        sb_printf(&b, ",\"birthdate\":\"%04d-%02d-%02d\",\"gender\":\"%s\",\"locale\":\"sv_SE\"",
                  1950 + (int)((h >> 16) % 55), 1 + (int)((h >> 24) % 12), 1 + (int)((h >> 32) % 28),
                  (h & 1) ? "FEMALE" : "MALE");
        sb_str(&b, ",\"status\":\"ACTIVE\",\"updated_at\":1700000000");
    }
    if (has_scope(scope, "phone"))
        sb_printf(&b, ",\"phone_number\":\"+%s\",\"phone_number_verified\":true", msisdn);
    if (has_scope(scope, "email"))
        sb_printf(&b, ",\"email\":\"%s@example.com\",\"email_verified\":false", msisdn);
    sb_str(&b, "}");
    reply_sbuf(r, 200, &b);
}

void consent_json(struct sbuf *b)
{
    int first = 1;
    lock();
    sb_str(b, "{\"requests\":[");
    for (size_t i = 0; i < CONSENT_MAX; i++) {
        const struct authreq *q = &reqs[i];
        if (!q->id[0])
            continue;
        sb_str(b, first ? "{\"auth_req_id\":" : ",{\"auth_req_id\":");
        first = 0;
        sb_jstrz(b, q->id);
        sb_str(b, ",\"msisdn\":");
        sb_jstrz(b, q->msisdn);
        sb_str(b, ",\"scope\":");
        sb_jstrz(b, q->scope);
        sb_printf(b, ",\"polls\":%d,\"granted\":%s}", q->polls, q->granted ? "true" : "false");
    }
    sb_str(b, "],\"tokens\":[");
    first = 1;
    for (size_t i = 0; i < CONSENT_MAX; i++) {
        const struct authreq *q = &reqs[i];
        if (!q->granted)
            continue;
        sb_str(b, first ? "" : ",");
        first = 0;
        sb_jstrz(b, q->token);
        sb_str(b, ",");
        sb_jstrz(b, q->refresh);
    }
    sb_str(b, "]}");
    unlock();
}

void consent_clear(void)
{
    lock();
    memset(reqs, 0, sizeof(reqs));
    next_slot = 0;
    unlock();
}
