/*
 * store.h - in-memory state of momo-sandbox: payments and per-reference-id
 * counters, issued access tokens, and API users; each guarded by a mutex.
 */
#ifndef MOMO_SANDBOX_STORE_H
#define MOMO_SANDBOX_STORE_H

#include <stddef.h>
#include <stdint.h>

enum product { PROD_COLLECTION, PROD_DISBURSEMENT, PROD_REMITTANCE, PROD_COUNT };

/* Operations that create a transaction (the resource a reference id names). */
enum op { OP_REQUESTTOPAY, OP_TRANSFER, OP_DEPOSIT, OP_REFUND, OP_CASHTRANSFER, OP_REQUESTTOWITHDRAW,
          OP_INVOICE, OP_PAYMENT,
          OP_PREAPPROVAL,
          OP_COUNT };

/* Name of a product ("collection", ...) or operation ("requesttopay", ...). */
const char *product_name(int product);
const char *op_name(int op);
/* Product index of a name (exact, lowercase), or -1. */
int product_index(const char *name);
/* 1 if op's party is its payer (request to pay, request to withdraw, an invoice's intendedPayer,
   a payment's customerReference, a pre-approval's payer: the payer's test numbers decide them),
   0 if its payee. */
int op_has_payer(int op);

/* Strings of a new transaction (NULL allowed for the optional ones). */
struct payment_fields {
    const char *external_id, *amount, *currency, *party_type, *party_id;
    const char *payer_message, *payee_note;
    const char *callback_url;       /* X-Callback-Url, NULL when none */
    const char *ref_to_refund;      /* refunds: referenceIdToRefund (lowercase) */
    const char *extra_json;         /* cash transfers: further members as ",\"k\":v..." */
};

/* A stored transaction (request to pay, transfer, deposit, refund, cash transfer,
   request to withdraw).
   The strings and times are immutable once stored; the members marked "mutable"
   change under the store lock. Freed only by store_clear. */
struct payment {
    char *external_id;          /* NULL when not given */
    char *amount, *currency, *party_type, *party_id;   /* party: payer (op_has_payer) or payee */
    char *payer_message;        /* NULL when not given */
    char *payee_note;           /* NULL when not given */
    char *callback_url;         /* NULL when not given */
    char *ref_to_refund;        /* NULL unless a refund */
    char *extra_json;           /* NULL unless a cash transfer with further members */
    char ftid[16];              /* financialTransactionId */
    int product, op, version;   /* version: 1 (v1_0) or 2 (v2_0) of the creating POST */
    const char *forced_reason;  /* static: FAILED with this reason whatever the party (NULL = table) */
    int64_t amount_cents;
    int64_t accepted_ms;        /* monotonic time of acceptance */
    int64_t accepted_us;        /* wall clock of acceptance, microseconds since the epoch */
    int64_t visible_ms;         /* status GET answers 404 before this */
    int64_t pending_until_ms;   /* successful payments are PENDING before this */
    int64_t ongoing_until_ms;   /* 46733123453 stays PENDING before this */
    int64_t hold_until_ms;      /* early callback: PENDING, whatever the outcome, before this */
    uint64_t seq;               /* unique serial, never reused */
    int64_t refunded_cents;     /* mutable: requesttopay, sum of accepted refunds */
    int cancelled;              /* mutable: pre-approvals: cancelled (DELETE) */
    unsigned long notifications;    /* mutable: delivery notifications accepted */
    int64_t cancelled_ms;       /* mutable: invoices, monotonic time of the accepted DELETE; 0 = none */
    int64_t validity_s;         /* invoices: validityDuration, pre-approvals: validityTime, in
                                   seconds (0 = not given) */
    char *last_notification;    /* mutable: malloc'd, NULL before the first */
};

/* Everything known about one reference id (stored or only seen). */
struct refrec {
    struct refrec *hnext;       /* hash chain */
    struct refrec *onext;       /* insertion order */
    char id[37];                /* lowercase */
    unsigned long posts, conflicts, faults, status_gets, bad_requests;
    int product, op;            /* of the first POST with this id */
    struct payment *pay;        /* NULL when nothing was stored */
    /* Events, numbered in the order they happened (store_next_event); 0 = not yet. */
    uint64_t accepted_event;    /* the creating POST was stored */
    uint64_t first_status_answer_event, last_status_answer_event;  /* a status GET answered */
};

int store_init(void);
void store_destroy(void);
void store_lock(void);
void store_unlock(void);
/* Look up a lowercase id; caller holds the lock. */
struct refrec *store_find(const char *id);
/* Look up or create the record of a lowercase id; caller holds the lock; NULL on OOM. */
struct refrec *store_get_or_add(const char *id);
/* First record in insertion order (follow onext); caller holds the lock. */
struct refrec *store_first(void);
/* Attach a payment to a record; caller holds the lock. */
void store_set_payment(struct refrec *r, struct payment *p);
/* The next number of the sandbox's sequence of events (accepted POSTs, answered status GETs). */
uint64_t store_next_event(void);
/* Note that a status GET of the (lowercase) id is being answered now (takes the lock). */
void store_note_status_answer(const char *id);
/* Token POSTs, in the order they came (the last TOKEN_LOG_MAX): a new record
 * of product prod answered about delay_ms late with a token of lifetime
 * seconds (the configuration the request was answered by), as its index plus
 * 1 (0: not recorded), and its answer, when it is handed to the connection. */
#define TOKEN_LOG_MAX 4096
size_t store_note_token_request(int prod, int64_t delay_ms, long lifetime);
void store_note_token_answer(size_t rec, unsigned status);
/* Appends the token log as a JSON array; empties it. */
struct sbuf;
void store_token_log_json(struct sbuf *b);
void store_token_log_clear(void);
/* Number of stored payments; caller holds the lock. */
size_t store_payments(void);
/* Drop every record and payment (takes the lock). */
void store_clear(void);
/* Allocate a payment with copies of the given strings and a fresh seq. */
struct payment *payment_new(const struct payment_fields *f);

/* Account balances in cents, per product; caller holds the store lock. */
int64_t balance_get(int product);
void balance_set(int product, int64_t cents);
/* Initial balances (command line); balance_reset restores them (takes the lock). */
void balance_set_initial(int product, int64_t cents);
void balance_reset(void);

/* An API user (pre-provisioned on the command line or created by the Provisioning API). */
struct apiuser {
    char id[37];                /* lowercase */
    char *cbhost;               /* registered providerCallbackHost; NULL = any host */
    char key[257];              /* current API key (guarded by the users lock) */
    char cli_key[257];          /* key given on the command line, "" if provisioned */
    int provisioned;
    unsigned products;          /* bit (1 << product) for each product it may get tokens for */
};

#define ALL_PRODUCTS ((1u << PROD_COUNT) - 1)

#define API_KEY_MAX 256
#define CALLBACK_HOST_MAX 255

/* Add a user allowed for the products in mask; 1 added, 0 already exists, -1 on error.
   A command-line user given again with the same key gets the products of both (1);
   with another key it keeps its first key and products (0). */
int users_add(const char *id, const char *cbhost, const char *key, int provisioned, unsigned mask);
/* Find a user by id (any case); the pointer stays valid until users_destroy. */
const struct apiuser *users_find(const char *id);
/* Give a user a new random 32-hex API key, copied to out; 1 ok, 0 unknown user, -1 error. */
int users_new_key(const char *id, char out[33]);
/* The user whose id and key match, or NULL. */
const struct apiuser *users_login(const char *id, const char *key);
/* Number of users created through the Provisioning API. */
size_t users_provisioned(void);
/* Give command-line users their command-line keys back. */
void users_restore_keys(void);
void users_destroy(void);

/* Issue a token for product and user valid lifetime_s seconds; *out is malloc'd; 0 ok. */
int tokens_issue(int product, const struct apiuser *u, long lifetime_s, char **out);
/* 1 if tok is an unexpired token of product (user returned in *u), else 0. */
int tokens_check(const char *tok, int product, const struct apiuser **u);
/* Make every issued token expired now. */
void tokens_expire_all(void);
/* Forget every token. */
void tokens_clear(void);
/* Number of tokens currently valid. */
size_t tokens_active(void);
/* Free the token table at exit. */
void tokens_destroy(void);

#endif
