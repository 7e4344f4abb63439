/*
 * callbacks.c - outbox of the callbacks MTN would send, the timer thread that
 * records callbacks when a transaction becomes final later than its
 * acceptance, and the delivery thread that sends them with libcurl when
 * deliver_callbacks is on (timeouts 5 s, one try, failures logged and counted).
 */
#define _GNU_SOURCE
#include "callbacks.h"
#include "sandbox.h"
#include "store.h"
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CB_TIMEOUT_MS 5000L

enum cb_state { CB_NOT_SENT, CB_QUEUED, CB_DELIVERED, CB_FAILED };
static const char *const state_names[] = { "not_sent", "queued", "delivered", "failed" };

/* One recorded callback. */
struct cbentry {
    char ref[37];
    int product, op, copy, early;
    const char *method;         /* static */
    char *url, *body;
    unsigned long at_us;        /* wall clock, µs since the epoch */
    int state;                  /* enum cb_state */
    long http_status;           /* 0 = no answer */
    char *error;                /* NULL unless failed */
};

/* A callback waiting for its time. */
struct sched {
    int64_t due_ms;
    uint64_t seq;
    int copy, early;
    char ref[37];
};

/* A delivery waiting for the delivery thread. */
struct delivery {
    struct delivery *next;
    uint64_t serial;            /* outbox entry */
    const char *method;
    char *url, *body;
    char ref[37];
};

/* ---------- state ---------- */

static pthread_mutex_t out_mtx = PTHREAD_MUTEX_INITIALIZER;     /* outbox */
static struct cbentry **outbox;
static size_t out_n, out_cap;
static uint64_t out_base;       /* serial of outbox[0] */

static pthread_mutex_t sched_mtx = PTHREAD_MUTEX_INITIALIZER;   /* heap */
static pthread_cond_t sched_cond;
static struct sched *heap;
static size_t heap_n, heap_cap;

static pthread_mutex_t dq_mtx = PTHREAD_MUTEX_INITIALIZER;      /* delivery queue */
static pthread_cond_t dq_cond = PTHREAD_COND_INITIALIZER;
static struct delivery *dq_head, *dq_tail;
static size_t dq_n;

static pthread_t timer_thread, delivery_thread;
static int timer_started, delivery_started, cond_ready, curl_ready;
static volatile int stopping;
static char *g_cacert;

/* Lock a mutex or die. */
static void lock(pthread_mutex_t *m)
{
    if (pthread_mutex_lock(m) != 0)
        abort();
}

/* Unlock a mutex or die. */
static void unlock(pthread_mutex_t *m)
{
    if (pthread_mutex_unlock(m) != 0)
        abort();
}

/* Wall clock in µs since the epoch. */
static unsigned long wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (unsigned long)ts.tv_sec * 1000000UL + (unsigned long)ts.tv_nsec / 1000UL;
}

/* Free one outbox entry. */
static void entry_free(struct cbentry *e)
{
    if (!e)
        return;
    free(e->url);
    free(e->body);
    free(e->error);
    free(e);
}

/* Free one queued delivery. */
static void delivery_free(struct delivery *d)
{
    free(d->url);
    free(d->body);
    free(d);
}

/* ---------- outbox ---------- */

void callback_record(const char *ref, int product, int op, const char *url, const char *method,
                     char *body, int copy, int early, int deliver)
{
    struct cbentry *e = calloc(1, sizeof(*e));
    struct delivery *d = deliver ? calloc(1, sizeof(*d)) : NULL;
    if (!e || (deliver && !d)) {
        fprintf(stderr, "momo-sandbox: out of memory recording a callback\n");
        free(e);
        free(d);
        free(body);
        return;
    }
    snprintf(e->ref, sizeof(e->ref), "%s", ref);
    e->product = product;
    e->op = op;
    e->copy = copy;
    e->early = early;
    e->method = method;
    e->url = strdup(url);
    e->body = body;
    e->at_us = wall_us();
    e->state = deliver ? CB_QUEUED : CB_NOT_SENT;
    if (d) {
        d->method = method;
        d->url = strdup(url);
        d->body = body ? strdup(body) : NULL;
        snprintf(d->ref, sizeof(d->ref), "%s", ref);
    }
    if (!e->url || !body || (d && (!d->url || !d->body))) {
        fprintf(stderr, "momo-sandbox: out of memory recording a callback\n");
        entry_free(e);
        if (d)
            delivery_free(d);
        return;
    }
    lock(&out_mtx);
    if (out_n == out_cap) {
        size_t ncap = out_cap ? out_cap * 2 : 256;
        struct cbentry **no = realloc(outbox, ncap * sizeof(*no));
        if (!no) {
            unlock(&out_mtx);
            fprintf(stderr, "momo-sandbox: out of memory recording a callback\n");
            entry_free(e);
            if (d)
                delivery_free(d);
            return;
        }
        outbox = no;
        out_cap = ncap;
    }
    uint64_t serial = out_base + out_n;
    outbox[out_n++] = e;
    unlock(&out_mtx);
    STAT_INC(callbacks_recorded);
    if (g_verbose)
        fprintf(stderr, "momo-sandbox: callback %s %s recorded for %s%s%s\n", method, url, ref,
                copy > 1 ? " (second copy)" : "", early ? " (early)" : "");
    if (!d)
        return;
    d->serial = serial;
    lock(&dq_mtx);
    if (dq_tail)
        dq_tail->next = d;
    else
        dq_head = d;
    dq_tail = d;
    dq_n++;
    pthread_cond_signal(&dq_cond);
    unlock(&dq_mtx);
}

/* Set the delivery outcome of outbox entry serial (if it still exists). */
static void entry_result(uint64_t serial, int ok, long http_status, const char *error)
{
    lock(&out_mtx);
    if (serial >= out_base && serial - out_base < out_n) {
        struct cbentry *e = outbox[serial - out_base];
        e->state = ok ? CB_DELIVERED : CB_FAILED;
        e->http_status = http_status;
        free(e->error);
        e->error = error ? strdup(error) : NULL;
    }
    unlock(&out_mtx);
}

void callbacks_json(struct sbuf *b, const char *ref)
{
    sb_str(b, "[");
    int first = 1;
    lock(&out_mtx);
    for (size_t i = 0; i < out_n && !b->failed; i++) {
        const struct cbentry *e = outbox[i];
        if (ref && strcmp(ref, e->ref) != 0)
            continue;
        if (!first)
            sb_str(b, ",");
        first = 0;
        sb_str(b, "{\"url\":");
        sb_jstrz(b, e->url);
        sb_str(b, ",\"method\":");
        sb_jstrz(b, e->method);
        sb_str(b, ",\"body\":");
        sb_jstrz(b, e->body);
        sb_str(b, ",\"referenceId\":");
        sb_jstrz(b, e->ref);
        sb_printf(b, ",\"at_us\":%lu,\"product\":\"%s\",\"operation\":\"%s\",\"copy\":%d,\"early\":%s"
                  ",\"delivery\":\"%s\",\"http_status\":", e->at_us, product_name(e->product),
                  op_name(e->op), e->copy, e->early ? "true" : "false", state_names[e->state]);
        if (e->http_status)
            sb_printf(b, "%ld", e->http_status);
        else
            sb_str(b, "null");
        sb_str(b, ",\"error\":");
        sb_jstrz(b, e->error);
        sb_str(b, "}");
    }
    unlock(&out_mtx);
    sb_str(b, "]");
}

size_t callbacks_outbox_len(void)
{
    lock(&out_mtx);
    size_t n = out_n;
    unlock(&out_mtx);
    return n;
}

size_t callbacks_scheduled(void)
{
    lock(&sched_mtx);
    size_t n = heap_n;
    unlock(&sched_mtx);
    return n;
}

size_t callbacks_queued(void)
{
    lock(&dq_mtx);
    size_t n = dq_n;
    unlock(&dq_mtx);
    return n;
}

void callbacks_clear(void)
{
    lock(&sched_mtx);
    heap_n = 0;
    unlock(&sched_mtx);

    lock(&dq_mtx);
    struct delivery *d = dq_head;
    dq_head = dq_tail = NULL;
    dq_n = 0;
    unlock(&dq_mtx);
    while (d) {
        struct delivery *nx = d->next;
        delivery_free(d);
        d = nx;
    }

    lock(&out_mtx);
    struct cbentry **old = outbox;
    size_t n = out_n;
    out_base += out_n;
    outbox = NULL;
    out_n = out_cap = 0;
    unlock(&out_mtx);
    for (size_t i = 0; i < n; i++)
        entry_free(old[i]);
    free(old);
}

/* ---------- timer ---------- */

/* Swap two heap slots. */
static void heap_swap(size_t a, size_t b)
{
    struct sched t = heap[a];
    heap[a] = heap[b];
    heap[b] = t;
}

void callback_schedule(const char *ref, uint64_t seq, int64_t due_ms, int copy, int early)
{
    lock(&sched_mtx);
    if (heap_n == heap_cap) {
        size_t ncap = heap_cap ? heap_cap * 2 : 256;
        struct sched *nh = realloc(heap, ncap * sizeof(*nh));
        if (!nh) {
            unlock(&sched_mtx);
            fprintf(stderr, "momo-sandbox: out of memory scheduling a callback\n");
            return;
        }
        heap = nh;
        heap_cap = ncap;
    }
    size_t i = heap_n++;
    heap[i].due_ms = due_ms;
    heap[i].seq = seq;
    heap[i].copy = copy;
    heap[i].early = early;
    snprintf(heap[i].ref, sizeof(heap[i].ref), "%s", ref);
    while (i > 0 && heap[(i - 1) / 2].due_ms > heap[i].due_ms) {
        heap_swap(i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    if (i == 0)
        pthread_cond_signal(&sched_cond);
    unlock(&sched_mtx);
}

/* Remove the heap's top (caller holds the lock). */
static void heap_pop(void)
{
    heap[0] = heap[--heap_n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < heap_n && heap[l].due_ms < heap[m].due_ms)
            m = l;
        if (r < heap_n && heap[r].due_ms < heap[m].due_ms)
            m = r;
        if (m == i)
            break;
        heap_swap(i, m);
        i = m;
    }
}

/* Timer thread: fires scheduled callbacks when their time comes. */
static void *timer_main(void *arg)
{
    (void)arg;
    lock(&sched_mtx);
    while (!stopping) {
        if (heap_n == 0) {
            pthread_cond_wait(&sched_cond, &sched_mtx);
            continue;
        }
        int64_t now = now_ms();
        if (heap[0].due_ms > now) {
            int64_t due = heap[0].due_ms;
            struct timespec ts;
            ts.tv_sec = (time_t)(due / 1000);
            ts.tv_nsec = (long)(due % 1000) * 1000000L;
            int e = pthread_cond_timedwait(&sched_cond, &sched_mtx, &ts);
            if (e != 0 && e != ETIMEDOUT && e != EINTR)
                fprintf(stderr, "momo-sandbox: callback timer: %s\n", strerror(e));
            continue;
        }
        struct sched s = heap[0];
        heap_pop();
        unlock(&sched_mtx);
        callback_fire(s.ref, s.seq, s.copy, s.early);
        lock(&sched_mtx);
    }
    unlock(&sched_mtx);
    return NULL;
}

/* ---------- delivery ---------- */

/* libcurl write callback that discards the answer's body. */
static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* libcurl progress callback: abort the transfer when shutting down. */
static int progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)ud;
    (void)a;
    (void)b;
    (void)c;
    (void)d;
    return __atomic_load_n(&stopping, __ATOMIC_RELAXED) ? 1 : 0;
}

/* Send one callback; updates its outbox entry and the counters. */
static void deliver_one(CURL *h, const struct delivery *d)
{
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    errbuf[0] = 0;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, d->url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, d->method);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, d->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(d->body));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, CB_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CB_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress);
    if (g_cacert)
        curl_easy_setopt(h, CURLOPT_CAINFO, g_cacert);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hdrs);

    char why[CURL_ERROR_SIZE + 64];
    int ok = rc == CURLE_OK && status >= 200 && status < 300;
    if (ok) {
        STAT_INC(callbacks_delivered);
        if (g_verbose)
            fprintf(stderr, "momo-sandbox: callback %s %s for %s delivered (HTTP %ld)\n", d->method,
                    d->url, d->ref, status);
        entry_result(d->serial, 1, status, NULL);
        return;
    }
    if (rc != CURLE_OK)
        snprintf(why, sizeof(why), "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    else
        snprintf(why, sizeof(why), "HTTP %ld", status);
    STAT_INC(callbacks_failed);
    fprintf(stderr, "momo-sandbox: callback %s %s for %s failed: %s\n", d->method, d->url, d->ref, why);
    entry_result(d->serial, 0, status, why);
}

/* Delivery thread: sends queued callbacks one after the other. */
static void *delivery_main(void *arg)
{
    (void)arg;
    CURL *h = curl_easy_init();
    if (!h)
        fprintf(stderr, "momo-sandbox: cannot create a libcurl handle: callbacks will fail\n");
    lock(&dq_mtx);
    while (!stopping) {
        if (!dq_head) {
            pthread_cond_wait(&dq_cond, &dq_mtx);
            continue;
        }
        struct delivery *d = dq_head;
        dq_head = d->next;
        if (!dq_head)
            dq_tail = NULL;
        dq_n--;
        unlock(&dq_mtx);
        if (h) {
            deliver_one(h, d);
        } else {
            STAT_INC(callbacks_failed);
            entry_result(d->serial, 0, 0, "no libcurl handle");
        }
        delivery_free(d);
        lock(&dq_mtx);
    }
    unlock(&dq_mtx);
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

/* ---------- start and stop ---------- */

int callbacks_start(const char *cacert)
{
    pthread_condattr_t ca;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    curl_ready = 1;
    if (cacert) {
        g_cacert = strdup(cacert);
        if (!g_cacert)
            return -1;
    }
    if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&sched_cond, &ca) != 0)
        return -1;
    pthread_condattr_destroy(&ca);
    cond_ready = 1;
    if (pthread_create(&timer_thread, NULL, timer_main, NULL) != 0)
        return -1;
    timer_started = 1;
    if (pthread_create(&delivery_thread, NULL, delivery_main, NULL) != 0)
        return -1;
    delivery_started = 1;
    return 0;
}

void callbacks_stop(void)
{
    __atomic_store_n(&stopping, 1, __ATOMIC_RELAXED);
    if (cond_ready) {
        lock(&sched_mtx);
        pthread_cond_broadcast(&sched_cond);
        unlock(&sched_mtx);
    }
    lock(&dq_mtx);
    pthread_cond_broadcast(&dq_cond);
    unlock(&dq_mtx);
    if (timer_started)
        pthread_join(timer_thread, NULL);
    if (delivery_started)
        pthread_join(delivery_thread, NULL);
    timer_started = delivery_started = 0;
    callbacks_clear();
    free(heap);
    heap = NULL;
    heap_cap = 0;
    free(g_cacert);
    g_cacert = NULL;
    if (cond_ready)
        pthread_cond_destroy(&sched_cond);
    cond_ready = 0;
    if (curl_ready)
        curl_global_cleanup();
    curl_ready = 0;
}
