/*
 * store.c - in-memory state of momo-sandbox: payments and per-reference-id
 * counters, issued access tokens, and API users, in chained hash tables
 * each guarded by its own mutex.
 */
#define _GNU_SOURCE
#include "store.h"
#include "json.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------- generic string-keyed hash table ---------- */

struct hent {
    struct hent *next;
    const char *key;            /* points into val */
    void *val;
    uint64_t h;
};

struct htab {
    struct hent **b;
    size_t nb, n;
};

/* FNV-1a hash of a NUL-terminated string. */
static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Double the bucket array when the load factor exceeds 1 (failure is harmless). */
static void ht_grow(struct htab *t)
{
    size_t nb = t->nb ? t->nb * 2 : 1024;
    struct hent **b = calloc(nb, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i < t->nb; i++) {
        struct hent *e = t->b[i];
        while (e) {
            struct hent *nx = e->next;
            size_t k = e->h & (nb - 1);
            e->next = b[k];
            b[k] = e;
            e = nx;
        }
    }
    free(t->b);
    t->b = b;
    t->nb = nb;
}

/* Value stored under key, or NULL. */
static void *ht_get(const struct htab *t, const char *key)
{
    if (!t->nb)
        return NULL;
    uint64_t h = hash_str(key);
    for (struct hent *e = t->b[h & (t->nb - 1)]; e; e = e->next)
        if (e->h == h && strcmp(e->key, key) == 0)
            return e->val;
    return NULL;
}

/* Insert key (which must live inside val) -> val; 0 on success, -1 on OOM. */
static int ht_put(struct htab *t, const char *key, void *val)
{
    if (t->n >= t->nb)
        ht_grow(t);
    if (!t->nb)
        return -1;
    struct hent *e = malloc(sizeof(*e));
    if (!e)
        return -1;
    e->h = hash_str(key);
    e->key = key;
    e->val = val;
    size_t k = e->h & (t->nb - 1);
    e->next = t->b[k];
    t->b[k] = e;
    t->n++;
    return 0;
}

/* Remove every entry for which drop(val) returns 1, freeing the entry. */
static void ht_filter(struct htab *t, int (*drop)(void *val, void *arg), void *arg)
{
    for (size_t i = 0; i < t->nb; i++) {
        struct hent **pp = &t->b[i];
        while (*pp) {
            struct hent *e = *pp;
            if (drop(e->val, arg)) {
                *pp = e->next;
                free(e);
                t->n--;
            } else {
                pp = &e->next;
            }
        }
    }
}

/* Free all entries (not values) and the buckets. */
static void ht_destroy(struct htab *t)
{
    for (size_t i = 0; i < t->nb; i++) {
        struct hent *e = t->b[i];
        while (e) {
            struct hent *nx = e->next;
            free(e);
            e = nx;
        }
    }
    free(t->b);
    memset(t, 0, sizeof(*t));
}

/* ---------- payments and reference ids ---------- */

static pthread_mutex_t store_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct htab refs;
static struct refrec *order_head, *order_tail;
static size_t n_payments;

int store_init(void)
{
    ht_grow(&refs);
    return refs.nb ? 0 : -1;
}

void store_lock(void)
{
    if (pthread_mutex_lock(&store_mtx) != 0)
        abort();
}

void store_unlock(void)
{
    if (pthread_mutex_unlock(&store_mtx) != 0)
        abort();
}

struct refrec *store_find(const char *id)
{
    return ht_get(&refs, id);
}

struct refrec *store_get_or_add(const char *id)
{
    struct refrec *r = ht_get(&refs, id);
    if (r)
        return r;
    r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    snprintf(r->id, sizeof(r->id), "%s", id);
    if (ht_put(&refs, r->id, r) != 0) {
        free(r);
        return NULL;
    }
    if (order_tail)
        order_tail->onext = r;
    else
        order_head = r;
    order_tail = r;
    return r;
}

struct refrec *store_first(void)
{
    return order_head;
}

void store_set_payment(struct refrec *r, struct payment *p)
{
    r->pay = p;
    r->accepted_event = store_next_event();
    n_payments++;
}

static uint64_t event_counter;

uint64_t store_next_event(void)
{
    return __atomic_add_fetch(&event_counter, 1, __ATOMIC_SEQ_CST);
}

void store_note_status_answer(const char *id)
{
    store_lock();
    struct refrec *r = store_find(id);
    if (r) {
        r->last_status_answer_event = store_next_event();
        if (r->first_status_answer_event == 0)
            r->first_status_answer_event = r->last_status_answer_event;
    }
    store_unlock();
}

struct token_rec {
    int product;
    int64_t delay_ms;
    long lifetime;
    uint64_t received_event, answered_event;
    unsigned status;
};
static struct token_rec token_log[TOKEN_LOG_MAX];
static size_t token_log_n;

size_t store_note_token_request(int prod, int64_t delay_ms, long lifetime)
{
    size_t rec = 0;
    store_lock();
    if (token_log_n < TOKEN_LOG_MAX) {
        struct token_rec *t = &token_log[token_log_n++];
        memset(t, 0, sizeof(*t));
        t->product = prod;
        t->delay_ms = delay_ms;
        t->lifetime = lifetime;
        t->received_event = store_next_event();
        rec = token_log_n;
    }
    store_unlock();
    return rec;
}

void store_note_token_answer(size_t rec, unsigned status)
{
    store_lock();
    if (rec >= 1 && rec <= token_log_n) {
        token_log[rec - 1].answered_event = store_next_event();
        token_log[rec - 1].status = status;
    }
    store_unlock();
}

void store_token_log_json(struct sbuf *b)
{
    store_lock();
    sb_str(b, "[");
    for (size_t i = 0; i < token_log_n; i++) {
        const struct token_rec *t = &token_log[i];
        sb_printf(b, "%s{\"product\":\"%s\",\"delay_ms\":%lld,\"lifetime\":%ld,"
                  "\"received_event\":%llu,\"answered_event\":%llu,\"status\":%u}",
                  i ? "," : "", product_name(t->product), (long long)t->delay_ms, t->lifetime,
                  (unsigned long long)t->received_event,
                  (unsigned long long)t->answered_event, t->status);
    }
    sb_str(b, "]");
    store_unlock();
}

void store_token_log_clear(void)
{
    store_lock();
    token_log_n = 0;
    store_unlock();
}

size_t store_payments(void)
{
    return n_payments;
}

/* ht_filter predicate that drops everything. */
static int drop_all(void *val, void *arg)
{
    (void)val;
    (void)arg;
    return 1;
}

void store_clear(void)
{
    store_lock();
    ht_filter(&refs, drop_all, NULL);
    struct refrec *r = order_head;
    while (r) {
        struct refrec *nx = r->onext;
        if (r->pay)
            free(r->pay->last_notification);
        free(r->pay);
        free(r);
        r = nx;
    }
    order_head = order_tail = NULL;
    n_payments = 0;
    store_unlock();
}

void store_destroy(void)
{
    store_clear();
    store_lock();
    ht_destroy(&refs);
    store_unlock();
}

/* Copy s to *dst inside the payment block; advances *dst. */
static char *place(char **dst, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = *dst;
    memcpy(p, s, n);
    *dst += n;
    return p;
}

static uint64_t next_seq = 1;

struct payment *payment_new(const struct payment_fields *f)
{
    const char *s[10] = { f->external_id, f->amount, f->currency, f->party_type, f->party_id,
                          f->payer_message, f->payee_note, f->callback_url, f->ref_to_refund,
                          f->extra_json };
    size_t total = sizeof(struct payment);
    for (int i = 0; i < 10; i++)
        if (s[i])
            total += strlen(s[i]) + 1;
    struct payment *p = calloc(1, total);
    if (!p)
        return NULL;
    char *dst = (char *)(p + 1);
    p->external_id = place(&dst, f->external_id);
    p->amount = place(&dst, f->amount);
    p->currency = place(&dst, f->currency);
    p->party_type = place(&dst, f->party_type);
    p->party_id = place(&dst, f->party_id);
    p->payer_message = place(&dst, f->payer_message);
    p->payee_note = place(&dst, f->payee_note);
    p->callback_url = place(&dst, f->callback_url);
    p->ref_to_refund = place(&dst, f->ref_to_refund);
    p->extra_json = place(&dst, f->extra_json);
    p->version = 1;
    p->seq = __atomic_fetch_add(&next_seq, 1, __ATOMIC_RELAXED);
    return p;
}

/* ---------- names ---------- */

static const char *const product_names[PROD_COUNT] = { "collection", "disbursement", "remittance" };
static const char *const op_names[OP_COUNT] = { "requesttopay", "transfer", "deposit", "refund",
                                                "cashtransfer", "requesttowithdraw", "invoice",
                                                "payment", "preapproval" };

const char *product_name(int product)
{
    return product >= 0 && product < PROD_COUNT ? product_names[product] : "?";
}

const char *op_name(int op)
{
    return op >= 0 && op < OP_COUNT ? op_names[op] : "?";
}

int op_has_payer(int op)
{
    return op == OP_REQUESTTOPAY || op == OP_REQUESTTOWITHDRAW || op == OP_INVOICE || op == OP_PAYMENT ||
           op == OP_PREAPPROVAL;
}

int product_index(const char *name)
{
    for (int i = 0; i < PROD_COUNT; i++)
        if (strcmp(name, product_names[i]) == 0)
            return i;
    return -1;
}

/* ---------- balances (guarded by the store lock) ---------- */

#define DEFAULT_BALANCE_CENTS ((int64_t)100000000)     /* 1000000.00 */

static int64_t balances[PROD_COUNT] = { DEFAULT_BALANCE_CENTS, DEFAULT_BALANCE_CENTS,
                                        DEFAULT_BALANCE_CENTS };
static int64_t initial_balances[PROD_COUNT] = { DEFAULT_BALANCE_CENTS, DEFAULT_BALANCE_CENTS,
                                                DEFAULT_BALANCE_CENTS };

int64_t balance_get(int product)
{
    return balances[product];
}

void balance_set(int product, int64_t cents)
{
    balances[product] = cents;
}

void balance_set_initial(int product, int64_t cents)
{
    store_lock();
    initial_balances[product] = cents;
    balances[product] = cents;
    store_unlock();
}

void balance_reset(void)
{
    store_lock();
    memcpy(balances, initial_balances, sizeof(balances));
    store_unlock();
}

/* ---------- API users ---------- */

static pthread_mutex_t users_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct htab users;
static size_t n_provisioned;

/* Lock the users table. */
static void users_lock(void)
{
    if (pthread_mutex_lock(&users_mtx) != 0)
        abort();
}

/* Unlock the users table. */
static void users_unlock(void)
{
    if (pthread_mutex_unlock(&users_mtx) != 0)
        abort();
}

int users_add(const char *id, const char *cbhost, const char *key, int provisioned, unsigned mask)
{
    if (!is_uuid(id) || (key && strlen(key) > API_KEY_MAX) ||
        (cbhost && strlen(cbhost) > CALLBACK_HOST_MAX) || (mask & ~ALL_PRODUCTS) || !mask)
        return -1;
    struct apiuser *u = calloc(1, sizeof(*u));
    if (!u)
        return -1;
    lower_copy(u->id, id, sizeof(u->id));
    if (cbhost && *cbhost) {
        u->cbhost = strdup(cbhost);
        if (!u->cbhost) {
            free(u);
            return -1;
        }
    }
    if (key) {
        snprintf(u->key, sizeof(u->key), "%s", key);
        if (!provisioned)
            snprintf(u->cli_key, sizeof(u->cli_key), "%s", key);
    }
    u->provisioned = provisioned;
    u->products = mask;
    users_lock();
    int rc;
    struct apiuser *old = ht_get(&users, u->id);
    if (old) {
        rc = 0;
        if (!provisioned && !old->provisioned) {
            /* the same command-line user named again (e.g. for another product) */
            if (strcmp(old->cli_key, u->cli_key) == 0) {
                old->products |= mask;
                rc = 1;
            }
        }
    } else if (ht_put(&users, u->id, u) != 0) {
        rc = -1;
    } else {
        rc = 2;
        if (provisioned)
            n_provisioned++;
    }
    users_unlock();
    if (rc != 2) {
        free(u->cbhost);
        free(u);
    }
    return rc == 2 ? 1 : rc;
}

const struct apiuser *users_find(const char *id)
{
    char lid[37];
    if (!is_uuid(id))
        return NULL;
    lower_copy(lid, id, sizeof(lid));
    users_lock();
    const struct apiuser *u = ht_get(&users, lid);
    users_unlock();
    return u;
}

int users_new_key(const char *id, char out[33])
{
    char lid[37];
    if (!is_uuid(id))
        return 0;
    lower_copy(lid, id, sizeof(lid));
    if (rnd_hex(out, 32) != 0)
        return -1;
    users_lock();
    struct apiuser *u = ht_get(&users, lid);
    if (u)
        snprintf(u->key, sizeof(u->key), "%s", out);
    users_unlock();
    return u ? 1 : 0;
}

const struct apiuser *users_login(const char *id, const char *key)
{
    char lid[37];
    if (!is_uuid(id))
        return NULL;
    lower_copy(lid, id, sizeof(lid));
    users_lock();
    struct apiuser *u = ht_get(&users, lid);
    if (u && (u->key[0] == 0 || strcmp(u->key, key) != 0))
        u = NULL;
    users_unlock();
    return u;
}

size_t users_provisioned(void)
{
    users_lock();
    size_t n = n_provisioned;
    users_unlock();
    return n;
}

/* ht_filter predicate restoring a command-line user's key (never drops). */
static int restore_key(void *val, void *arg)
{
    struct apiuser *u = val;
    (void)arg;
    if (!u->provisioned)
        memcpy(u->key, u->cli_key, sizeof(u->key));
    return 0;
}

void users_restore_keys(void)
{
    users_lock();
    ht_filter(&users, restore_key, NULL);
    users_unlock();
}

/* ht_filter predicate freeing a user and dropping it. */
static int free_user(void *val, void *arg)
{
    struct apiuser *u = val;
    (void)arg;
    free(u->cbhost);
    free(u);
    return 1;
}

void users_destroy(void)
{
    users_lock();
    ht_filter(&users, free_user, NULL);
    ht_destroy(&users);
    n_provisioned = 0;
    users_unlock();
}

/* ---------- access tokens ---------- */

struct token {
    char *tok;
    int product;
    int64_t expires_ms;
    const struct apiuser *user;
};

static pthread_mutex_t tokens_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct htab tokens;
static unsigned long issued_since_sweep;

/* Lock the token table. */
static void tokens_lock(void)
{
    if (pthread_mutex_lock(&tokens_mtx) != 0)
        abort();
}

/* Unlock the token table. */
static void tokens_unlock(void)
{
    if (pthread_mutex_unlock(&tokens_mtx) != 0)
        abort();
}

/* ht_filter predicate dropping tokens expired before *(int64_t *)arg (or all if arg is NULL). */
static int drop_expired(void *val, void *arg)
{
    struct token *t = val;
    if (arg && t->expires_ms > *(const int64_t *)arg)
        return 0;
    free(t->tok);
    free(t);
    return 1;
}

int tokens_issue(int product, const struct apiuser *u, long lifetime_s, char **out)
{
    static const char header[] = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSMjU2In0"; /* {"typ":"JWT","alg":"R256"} */
    char payload[256], enc_payload[360], enc_sig[100], session[37];
    unsigned char sig[64], sid[16];
    char when[40];

    if (rnd_bytes(sig, sizeof(sig)) != 0 || rnd_bytes(sid, sizeof(sid)) != 0)
        return -1;
    sid[6] = (unsigned char)((sid[6] & 0x0F) | 0x40);
    sid[8] = (unsigned char)((sid[8] & 0x3F) | 0x80);
    snprintf(session, sizeof(session),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             sid[0], sid[1], sid[2], sid[3], sid[4], sid[5], sid[6], sid[7], sid[8], sid[9],
             sid[10], sid[11], sid[12], sid[13], sid[14], sid[15]);
    time_t exp = time(NULL) + lifetime_s;
    struct tm tm;
    if (!gmtime_r(&exp, &tm) || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S.000", &tm) == 0)
        snprintf(when, sizeof(when), "1970-01-01T00:00:00.000");
    int pl = snprintf(payload, sizeof(payload),
                      "{\"clientId\":\"%s\",\"expires\":\"%s\",\"sessionId\":\"%s\"}",
                      u ? u->id : "", when, session);
    if (pl < 0 || (size_t)pl >= sizeof(payload))
        return -1;
    b64url_encode((const unsigned char *)payload, (size_t)pl, enc_payload);
    b64url_encode(sig, sizeof(sig), enc_sig);

    struct token *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    if (asprintf(&t->tok, "%s.%s.%s", header, enc_payload, enc_sig) < 0) {
        free(t);
        return -1;
    }
    t->product = product;
    t->expires_ms = now_ms() + (int64_t)lifetime_s * 1000;
    t->user = u;
    *out = strdup(t->tok);
    if (!*out) {
        free(t->tok);
        free(t);
        return -1;
    }
    tokens_lock();
    if (++issued_since_sweep >= 4096 && tokens.n >= 4096) {
        int64_t now = now_ms();
        ht_filter(&tokens, drop_expired, &now);
        issued_since_sweep = 0;
    }
    int rc = ht_put(&tokens, t->tok, t);
    tokens_unlock();
    if (rc != 0) {
        free(*out);
        *out = NULL;
        free(t->tok);
        free(t);
        return -1;
    }
    return 0;
}

int tokens_check(const char *tok, int product, const struct apiuser **u)
{
    int64_t now = now_ms();
    int ok = 0;
    tokens_lock();
    struct token *t = ht_get(&tokens, tok);
    if (t && t->product == product && t->expires_ms > now) {
        ok = 1;
        if (u)
            *u = t->user;
    }
    tokens_unlock();
    return ok;
}

/* ht_filter predicate setting a token's expiry to *(int64_t *)arg (never drops). */
static int expire_one(void *val, void *arg)
{
    struct token *t = val;
    t->expires_ms = *(const int64_t *)arg;
    return 0;
}

void tokens_expire_all(void)
{
    int64_t now = now_ms();
    tokens_lock();
    ht_filter(&tokens, expire_one, &now);
    tokens_unlock();
}

void tokens_clear(void)
{
    tokens_lock();
    ht_filter(&tokens, drop_expired, NULL);
    tokens_unlock();
}

/* ht_filter predicate counting valid tokens into arg[1] (never drops). */
static int count_valid(void *val, void *arg)
{
    const struct token *t = val;
    int64_t *a = arg;
    if (t->expires_ms > a[0])
        a[1]++;
    return 0;
}

size_t tokens_active(void)
{
    int64_t a[2] = { now_ms(), 0 };
    tokens_lock();
    ht_filter(&tokens, count_valid, a);
    tokens_unlock();
    return (size_t)a[1];
}

void tokens_destroy(void)
{
    tokens_clear();
    tokens_lock();
    ht_destroy(&tokens);
    tokens_unlock();
}
