/*
 * store.h - in-memory state of momo-sandbox: payments and per-reference-id
 * counters, issued access tokens, and API users; each guarded by a mutex.
 */
#ifndef MOMO_SANDBOX_STORE_H
#define MOMO_SANDBOX_STORE_H

#include <stddef.h>
#include <stdint.h>

/* A stored request to pay; immutable once stored, freed only by store_clear. */
struct payment {
    char *external_id;          /* NULL when not given */
    char *amount, *currency, *party_type, *party_id;
    char *payer_message;        /* NULL when not given */
    char *payee_note;           /* NULL when not given */
    char ftid[16];              /* financialTransactionId */
    int64_t accepted_ms;        /* monotonic time of acceptance */
    int64_t visible_ms;         /* status GET answers 404 before this */
    int64_t pending_until_ms;   /* successful payments are PENDING before this */
    int64_t ongoing_until_ms;   /* 46733123453 stays PENDING before this */
};

/* Everything known about one reference id (stored or only seen). */
struct refrec {
    struct refrec *hnext;       /* hash chain */
    struct refrec *onext;       /* insertion order */
    char id[37];                /* lowercase */
    unsigned long posts, conflicts, faults, status_gets, bad_requests;
    struct payment *pay;        /* NULL when nothing was stored */
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
/* Number of stored payments; caller holds the lock. */
size_t store_payments(void);
/* Drop every record and payment (takes the lock). */
void store_clear(void);
/* Allocate a payment with copies of the given strings (NULL allowed for optional ones). */
struct payment *payment_new(const char *external_id, const char *amount, const char *currency,
                            const char *party_type, const char *party_id,
                            const char *payer_message, const char *payee_note);

/* An API user (pre-provisioned on the command line or created by the Provisioning API). */
struct apiuser {
    char id[37];                /* lowercase */
    char *cbhost;               /* registered providerCallbackHost; NULL = any host */
    char key[257];              /* current API key (guarded by the users lock) */
    char cli_key[257];          /* key given on the command line, "" if provisioned */
    int provisioned;
};

#define API_KEY_MAX 256
#define CALLBACK_HOST_MAX 255

/* Add a user; 1 added, 0 already exists, -1 on error. */
int users_add(const char *id, const char *cbhost, const char *key, int provisioned);
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

enum product { PROD_COLLECTION, PROD_DISBURSEMENT, PROD_REMITTANCE, PROD_COUNT };

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
