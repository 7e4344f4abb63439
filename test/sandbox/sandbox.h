/*
 * sandbox.h - shared declarations of momo-sandbox: run-time configuration,
 * counters, the per-request state and the answer helpers used by the MTN API
 * emulation (mtn.c) and the test-control endpoints (control.c).
 */
#ifndef MOMO_SANDBOX_H
#define MOMO_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <microhttpd.h>

#include "json.h"
#include "store.h"

#define MAX_BODY (1024 * 1024)          /* larger request bodies get 413 */
#define REDIRECT_MAX 2048

enum status_body { SB_NORMAL, SB_MALFORMED, SB_TRUNCATED, SB_OVERSIZED };

/* Refusals of the merchant's configuration given to every creating POST (refuse_posts). */
enum refuse_posts { RP_NONE, RP_TARGET_ENVIRONMENT, RP_CALLBACK_HOST, RP_FORBIDDEN };

/* Fault injection and behaviour knobs, changeable at run time. */
struct config {
    long delay_ms;
    long status_delay_ms;       /* status GETs are answered this late instead (0 = delay_ms) */
    long token_delay_ms;        /* token POSTs are answered this late instead (0 = delay_ms) */
    long fail_first;
    long fail_status;           /* 500, 503 or 429 */
    long drop_first;
    long rate_limit_first;
    long fail_share;            /* percent */
    long drop_share;            /* percent */
    long hang_first;
    long status_body;           /* enum status_body */
    char *redirect;             /* NULL = off */
    long pending_ms;
    long ongoing_seconds;
    long not_found_ms;
    long token_lifetime;
    long reason_object;         /* 0/1 */
    long deliver_callbacks;     /* 0/1: send recorded callbacks with libcurl */
    long duplicate_callbacks;   /* 0/1: record (and send) every callback twice */
    long duplicate_gap_ms;      /* the second copy comes this long after the first */
    long early_callbacks;       /* 0/1: record at acceptance, status lags behind */
    long early_ms;              /* how long the status endpoint lags behind an early callback */
    long conflict_status;       /* answer to a POST of a stored reference id: 409 (MTN's), 400 or 500 */
    long conflict_permanent;    /* 0/1: with conflict_status 500, its code is NOT_ALLOWED (no retry cures it) */
    long refuse_posts;          /* enum refuse_posts */
};

/* Copy the live configuration (redirect is strdup'ed; release with config_release). */
void config_snapshot(struct config *out);
/* Free what config_snapshot allocated. */
void config_release(struct config *c);
/* Apply the members of a JSON object; 0 ok, else -1 with a message in err. */
int config_apply_json(const struct json *doc, const struct jnode *obj, char *err, size_t errlen);
/* Restore the command-line configuration. */
void config_reset(void);
/* Append the live configuration as a JSON object. */
void config_to_json(struct sbuf *b);

/* Counters shown by /_sandbox/stats (updated atomically). */
struct stats {
    unsigned long requests;
    unsigned long token_requests;
    unsigned long tokens_issued;
    unsigned long token_rejected;
    unsigned long rtp_posts;
    unsigned long rtp_accepted;
    unsigned long rtp_conflicts;
    unsigned long rtp_bad_requests;
    unsigned long rtp_rejected;         /* 500 answers with a logical error code */
    unsigned long rtp_faults;
    unsigned long status_gets;
    unsigned long status_not_found;
    unsigned long get_faults;           /* injected failures on GETs */
    unsigned long unauthorized;
    unsigned long redirects;
    unsigned long provisioning_requests;
    unsigned long last_accepted_us;     /* wall clock (µs since the epoch) of the last payment stored */
    /* transfers, deposits, refunds, cash transfers and requests to withdraw ("txn") */
    unsigned long transfer_posts;
    unsigned long deposit_posts;
    unsigned long refund_posts;
    unsigned long cashtransfer_posts;
    unsigned long withdraw_posts;
    unsigned long invoice_posts;
    unsigned long payment_posts;
    unsigned long invoice_deletes;
    unsigned long invoices_cancelled;
    unsigned long txn_accepted;
    unsigned long txn_conflicts;
    unsigned long txn_bad_requests;
    unsigned long txn_rejected;         /* 500 answers with a logical error code */
    unsigned long txn_faults;
    unsigned long txn_status_gets;
    unsigned long txn_status_not_found;
    /* other operations of every product */
    unsigned long balance_gets;
    unsigned long active_gets;
    unsigned long userinfo_gets;
    unsigned long deliverynotification_posts;
    unsigned long deliverynotifications_accepted;
    /* callbacks */
    unsigned long callbacks_recorded;
    unsigned long callbacks_delivered;
    unsigned long callbacks_failed;
};

extern struct stats g_stats;
#define STAT_INC(f) __atomic_add_fetch(&g_stats.f, 1, __ATOMIC_RELAXED)
#define STAT_GET(f) __atomic_load_n(&g_stats.f, __ATOMIC_RELAXED)

/* Zero every counter. */
void stats_reset(void);

extern int g_verbose;
extern const char **g_sub_keys;       /* accepted subscription keys (every product) */
extern size_t g_n_sub_keys;
/* a product's own subscription keys (--product-subscription-key); when a product has
   some, only those are accepted for it */
extern const char **g_prod_sub_keys[PROD_COUNT];
extern size_t g_n_prod_sub_keys[PROD_COUNT];

enum action { ACT_RESPOND, ACT_DROP, ACT_HANG };

/* State of one HTTP request, kept in MHD's per-request pointer. */
struct req {
    int phase;                  /* PH_* in momo-sandbox.c */
    char *body;
    size_t body_len, body_cap;
    int too_big;
    /* decided answer */
    enum action action;
    struct MHD_Response *resp;
    int resp_shared;            /* resp is one of the shared answers: do not destroy */
    unsigned int status;
    int64_t due_ms;             /* answer not before this (0 = now) */
    char status_ref[37];        /* a status GET of this (lowercase) id: its answer is noted */
    size_t token_rec;           /* a token POST: its record in the token log, plus 1 (0: none) */
    volatile int gone;          /* set when a parked connection must be closed */
    /* for --verbose */
    int64_t t0;
    char method[16];
    char *url;
    const char *note;
};

/* Answer with a copy of a JSON body (or an empty body when json is NULL). */
void reply_json(struct req *r, unsigned int status, const char *json);
/* Answer with a malloc'd body of len bytes that the response takes over. */
void reply_take(struct req *r, unsigned int status, char *body, size_t len, const char *ctype);
/* Answer with a shared prebuilt answer (see enum shared_answer). */
void reply_shared(struct req *r, int which);
/* Answer with text/plain. */
void reply_text(struct req *r, unsigned int status, const char *text);
/* Answer with an sbuf's contents (500 with empty body if it failed). */
void reply_sbuf(struct req *r, unsigned int status, struct sbuf *b);
/* Add a header to the decided answer (ignored if there is none or it is shared). */
void reply_header(struct req *r, const char *name, const char *value);

enum shared_answer {
    ANS_202_EMPTY,
    ANS_201_EMPTY,
    ANS_400_EMPTY,
    ANS_401_EMPTY,
    ANS_401_SUBKEY,
    ANS_404_PATH,
    ANS_404_RESOURCE,
    ANS_409_EXISTS,
    ANS_500_EMPTY,
    ANS_500_TARGET_ENV,
    ANS_500_CURRENCY,
    ANS_500_CALLBACK,
    ANS_500_LOGIN,
    ANS_503_UNAVAILABLE,
    ANS_429_RATE,
    ANS_411_LENGTH,
    ANS_413_TOO_LARGE,
    ANS_200_EMPTY,
    ANS_500_NOT_FOUND,
    ANS_500_NOT_ALLOWED,
    ANS_500_INTERNAL,
    ANS_409_NOT_APPROVED,
    ANS_403_FORBIDDEN,
    ANS_COUNT
};

/* Create the shared answers; 0 on success. */
int shared_answers_init(void);
/* Destroy the shared answers. */
void shared_answers_free(void);

/* Header value of the request, or NULL. */
const char *hdr(struct MHD_Connection *c, const char *name);

/* Handle any request outside /_sandbox/ (MTN API paths; everything else is 404). */
void mtn_handle(struct MHD_Connection *c, const char *url, const char *method, struct req *r);
/* Handle a request under /_sandbox/. */
void control_handle(struct MHD_Connection *c, const char *url, const char *method, struct req *r);
/* Status of a stored payment as the API would answer at now; *reason is set for FAILED, else NULL. */
const char *payment_status_now(const struct payment *p, int64_t now, const char **reason);
/* Monotonic time from which a payment's outcome is final (SUCCESSFUL or FAILED), ignoring
   an early-callback hold; -1 if it never becomes final (CREATED). */
int64_t payment_final_ms(const struct payment *p);
/* Append the status answer of a payment (caller holds the store lock). With final set,
   the answer is the final outcome (as a callback carries it), whatever now is. */
void txn_status_json(struct sbuf *b, const struct payment *p, int64_t now, int reason_object,
                     size_t padding, int final);

#endif
