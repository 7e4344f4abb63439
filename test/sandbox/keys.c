/*
 * keys.c - subscription keys at run time.  A test can make the sandbox
 * refuse a key (for every product or for one) and accept it again, as MTN
 * does when a key is regenerated or a subscription lapses, and see which
 * key each product's calls carried.
 */
#define _GNU_SOURCE
#include "keys.h"
#include "store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REFUSED 16
#define MAX_SEEN 16             /* distinct keys counted per product; the rest are "other" */
#define MAX_KEY_LEN 128

struct refusal {
    char key[MAX_KEY_LEN + 1];
    int prod;                   /* -1: every product */
};

struct seen {
    char key[MAX_KEY_LEN + 1];
    unsigned long accepted, refused;
};

static pthread_mutex_t keys_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct refusal refused[MAX_REFUSED];
static size_t n_refused;
static struct seen seen[PROD_COUNT][MAX_SEEN + 1];  /* [MAX_SEEN] is "other" */
static size_t n_seen[PROD_COUNT];

static void lock(void)
{
    if (pthread_mutex_lock(&keys_mtx) != 0)
        abort();
}

static void unlock(void)
{
    if (pthread_mutex_unlock(&keys_mtx) != 0)
        abort();
}

int keys_refused(const char *key, int prod)
{
    int r = 0;
    if (!key)
        return 0;
    lock();
    for (size_t i = 0; i < n_refused && !r; i++)
        if ((refused[i].prod < 0 || refused[i].prod == prod) && strcmp(refused[i].key, key) == 0)
            r = 1;
    unlock();
    return r;
}

void keys_count(const char *key, int prod, int accepted)
{
    if (prod < 0 || prod >= PROD_COUNT)
        return;
    if (!key)
        key = "";
    lock();
    struct seen *s = NULL;
    for (size_t i = 0; i < n_seen[prod] && !s; i++)
        if (strcmp(seen[prod][i].key, key) == 0)
            s = &seen[prod][i];
    if (!s && strlen(key) <= MAX_KEY_LEN && n_seen[prod] < MAX_SEEN) {
        s = &seen[prod][n_seen[prod]++];
        strcpy(s->key, key);
        s->accepted = s->refused = 0;
    }
    if (!s)
        s = &seen[prod][MAX_SEEN];
    if (accepted)
        s->accepted++;
    else
        s->refused++;
    unlock();
}

int keys_set_refused(const struct json *doc, const struct jnode *refuse, char *err, size_t errlen)
{
    struct refusal n[MAX_REFUSED];
    size_t count = 0;

    if (refuse->type == J_NULL) {
        lock();
        n_refused = 0;
        unlock();
        return 0;
    }
    if (refuse->type != J_ARRAY) {
        snprintf(err, errlen, "refuse: expected an array of \"KEY\" or \"product=KEY\" strings, or null");
        return -1;
    }
    for (const struct jnode *m = json_child(doc, refuse); m; m = json_next(doc, m)) {
        if (count == MAX_REFUSED) {
            snprintf(err, errlen, "refuse: at most %d keys", MAX_REFUSED);
            return -1;
        }
        if (m->type != J_STRING || m->len == 0) {
            snprintf(err, errlen, "refuse: expected non-empty strings");
            return -1;
        }
        const char *eq = strchr(m->str, '=');
        const char *key = m->str;
        int prod = -1;
        if (eq) {
            char name[32];
            size_t nl = (size_t)(eq - m->str);
            if (nl >= sizeof(name)) {
                snprintf(err, errlen, "refuse: unknown product in \"%.60s\"", m->str);
                return -1;
            }
            memcpy(name, m->str, nl);
            name[nl] = 0;
            prod = product_index(name);
            if (prod < 0) {
                snprintf(err, errlen, "refuse: unknown product in \"%.60s\" (collection, disbursement or remittance)", m->str);
                return -1;
            }
            key = eq + 1;
        }
        if (*key == 0 || strlen(key) > MAX_KEY_LEN) {
            snprintf(err, errlen, "refuse: a key is 1 to %d characters", MAX_KEY_LEN);
            return -1;
        }
        strcpy(n[count].key, key);
        n[count].prod = prod;
        count++;
    }
    lock();
    memcpy(refused, n, sizeof(n[0]) * count);
    n_refused = count;
    unlock();
    return 0;
}

void keys_json(struct sbuf *b)
{
    lock();
    sb_str(b, "{\"refused\":[");
    for (size_t i = 0; i < n_refused; i++) {
        char item[MAX_KEY_LEN + 40] = "";
        if (refused[i].prod >= 0) {
            strcat(item, product_name(refused[i].prod));
            strcat(item, "=");
        }
        strcat(item, refused[i].key);
        if (i)
            sb_str(b, ",");
        sb_jstrz(b, item);
    }
    sb_str(b, "],\"seen\":{");
    for (int p = 0; p < PROD_COUNT; p++) {
        sb_printf(b, "%s\"%s\":{", p ? "," : "", product_name(p));
        int first = 1;
        for (size_t i = 0; i <= MAX_SEEN; i++) {
            const struct seen *s = &seen[p][i];
            if (i == MAX_SEEN ? (s->accepted + s->refused == 0) : i >= n_seen[p])
                continue;
            if (!first)
                sb_str(b, ",");
            first = 0;
            sb_jstrz(b, i == MAX_SEEN ? "other" : s->key);
            sb_printf(b, ":{\"accepted\":%lu,\"refused\":%lu}", s->accepted, s->refused);
        }
        sb_str(b, "}");
    }
    sb_str(b, "}}");
    unlock();
}

void keys_reset_counts(void)
{
    lock();
    memset(seen, 0, sizeof(seen));
    memset(n_seen, 0, sizeof(n_seen));
    unlock();
}

void keys_reset(void)
{
    keys_reset_counts();
    lock();
    n_refused = 0;
    unlock();
}
