/*
 * mtn.c - emulation of MTN MoMo's API as the live sandbox behaves: token
 * endpoints of the three products; Collection request-to-pay, status and
 * delivery notification, request to withdraw (v1_0 and v2_0) and its status;
 * Disbursement transfer, deposit and refund;
 * Remittance transfer and cash transfer; balance and account-holder calls of
 * every product; the consent flow's routes (consent.c); the Provisioning API;
 * callbacks; and fault injection.
 */
#define _GNU_SOURCE
#include "sandbox.h"
#include "callbacks.h"
#include "consent.h"
#include "keys.h"
#include "store.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>

/* Outcome of a party MSISDN from the sandbox's test-number tables. */
struct test_number {
    const char *msisdn;
    const char *status;
    const char *reason;
};

#define ONGOING_MSISDN "46733123453"    /* PENDING for ongoing_seconds, then FAILED EXPIRED */

/* Payer numbers of a request to pay. */
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

/* Payee numbers of a transfer, deposit, refund or cash transfer. */
static const struct test_number payee_numbers[] = {
    { "46733123450", "FAILED", "INTERNAL_PROCESSING_ERROR" },
    { "46733123451", "FAILED", "APPROVAL_REJECTED" },
    { "46733123452", "FAILED", "EXPIRED" },
    { "46733123453", "PENDING", NULL },         /* then FAILED EXPIRED */
    { "46733123454", "CREATED", NULL },
    { "46733123455", "FAILED", "NOT_ENOUGH_FUNDS" },
    { "46733123456", "FAILED", "PAYER_LIMIT_REACHED" },
    { "46733123457", "FAILED", "PAYEE_NOT_FOUND" },
    { "46733123458", "FAILED", "NOT_ALLOWED" },
    { "46733123459", "FAILED", "NOT_ALLOWED_TARGET_ENVIRONMENT" },
    { "46733123460", "FAILED", "INVALID_CALLBACK_URL_HOST" },
    { "46733123461", "FAILED", "INVALID_CURRENCY" },
    { "46733123462", "FAILED", "INTERNAL_PROCESSING_ERROR" },
    { "46733123463", "FAILED", "SERVICE_UNAVAILABLE" },
};

#define N_TEST_NUMBERS (sizeof(test_numbers) / sizeof(test_numbers[0]))
#define N_PAYEE_NUMBERS (sizeof(payee_numbers) / sizeof(payee_numbers[0]))

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
    { "NOT_ENOUGH_FUNDS", "The payer does not have enough funds." },
    { "PAYER_LIMIT_REACHED", "The payer's limit has been reached." },
    { "PAYEE_NOT_FOUND", "Payee not found." },
};

/* Human-readable message of a reason code. */
static const char *reason_message(const char *code)
{
    for (size_t i = 0; i < sizeof(reason_messages) / sizeof(reason_messages[0]); i++)
        if (strcmp(reason_messages[i].code, code) == 0)
            return reason_messages[i].message;
    return code;
}

/*
 * The test-number entry of a payment's party, or NULL (an ordinary party).  A party given by
 * EMAIL or PARTY_CODE stands for the number its id names, as an account holder's does (see
 * holder_key): an email's local part, a party code's last group without its first digit.
 */
static const struct test_number *party_entry(const struct payment *p)
{
    const char *key = p->party_id;
    size_t keylen = strlen(p->party_id);
    if (strcmp(p->party_type, "EMAIL") == 0) {
        const char *at = strchr(p->party_id, '@');
        keylen = at ? (size_t)(at - p->party_id) : 0;
    } else if (strcmp(p->party_type, "PARTY_CODE") == 0) {
        if (keylen != 36)
            return NULL;
        key += 25;
        keylen = 11;
    } else if (strcmp(p->party_type, "MSISDN") != 0) {
        return NULL;
    }
    const struct test_number *tab = op_has_payer(p->op) ? test_numbers : payee_numbers;
    size_t n = op_has_payer(p->op) ? N_TEST_NUMBERS : N_PAYEE_NUMBERS;
    for (size_t i = 0; i < n; i++)
        if (strlen(tab[i].msisdn) == keylen && memcmp(tab[i].msisdn, key, keylen) == 0)
            return &tab[i];
    return NULL;
}

/* Outcome of a payment at now as its party's number decides it. */
static const char *outcome_of_party(const struct payment *p, int64_t now, const char **reason)
{
    *reason = NULL;
    const struct test_number *t = party_entry(p);
    if (t) {
        if (strcmp(t->msisdn, ONGOING_MSISDN) == 0) {
            if (now < p->ongoing_until_ms)
                return "PENDING";
            *reason = "EXPIRED";
            return "FAILED";
        }
        *reason = t->reason;
        return t->status;
    }
    return now < p->pending_until_ms ? "PENDING" : "SUCCESSFUL";
}

/* Outcome of a payment at now, ignoring an early-callback hold. */
static const char *outcome_at(const struct payment *p, int64_t now, const char **reason)
{
    *reason = NULL;
    if (p->forced_reason) {
        *reason = p->forced_reason;
        return "FAILED";
    }
    /* an invoice cancelled while still open, or unpaid when its validity ran out */
    const char *status = outcome_of_party(p, now, reason);
    if (p->op == OP_INVOICE && (strcmp(status, "PENDING") == 0 || strcmp(status, "CREATED") == 0)) {
        if (p->cancelled_ms && now >= p->cancelled_ms) {
            *reason = "TRANSACTION_CANCELED";
            return "FAILED";
        }
        if (p->validity_s > 0 && now >= p->accepted_ms + p->validity_s * 1000) {
            *reason = "EXPIRED";
            return "FAILED";
        }
    }
    return status;
}

const char *payment_status_now(const struct payment *p, int64_t now, const char **reason)
{
    if (now < p->hold_until_ms) {
        *reason = NULL;
        return "PENDING";
    }
    return outcome_at(p, now, reason);
}

int64_t payment_final_ms(const struct payment *p)
{
    if (p->forced_reason)
        return p->accepted_ms;
    const struct test_number *t = party_entry(p);
    int64_t fin;
    if (!t)
        fin = p->pending_until_ms;
    else if (strcmp(t->msisdn, ONGOING_MSISDN) == 0)
        fin = p->ongoing_until_ms;
    else if (strcmp(t->status, "CREATED") == 0)
        fin = -1;
    else
        fin = p->accepted_ms;
    /* an invoice ends at the latest when cancelled or when its validity runs out */
    if (p->op == OP_INVOICE) {
        int64_t cut = p->cancelled_ms ? p->cancelled_ms :
                      p->validity_s > 0 ? p->accepted_ms + p->validity_s * 1000 : -1;
        if (cut >= 0 && (fin < 0 || cut < fin))
            fin = cut;
    }
    return fin;
}

/* 1 if a payment (with no forced reason) ends SUCCESSFUL. */
static int will_succeed(const struct payment *p)
{
    return !p->forced_reason && !party_entry(p);
}

/* Subscription keys accepted for a product. */
static void keys_of(int prod, const char ***keys, size_t *n)
{
    if (prod >= 0 && g_n_prod_sub_keys[prod] > 0) {
        *keys = g_prod_sub_keys[prod];
        *n = g_n_prod_sub_keys[prod];
    } else {
        *keys = g_sub_keys;
        *n = g_n_sub_keys;
    }
}

/* 1 if k is accepted for prod (any non-empty key when none is configured), and
   not refused at run time (POST /_sandbox/keys). */
static int key_accepted(const char *k, int prod)
{
    const char **keys;
    size_t n;
    if (!k || !*k)
        return 0;
    if (keys_refused(k, prod))
        return 0;
    keys_of(prod, &keys, &n);
    if (n == 0)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i], k) == 0)
            return 1;
    return 0;
}

/* 1 if the request carries an Ocp-Apim-Subscription-Key accepted for prod;
   counted in /_sandbox/keys either way. */
static int subkey_ok(struct MHD_Connection *c, int prod)
{
    const char *k = hdr(c, "Ocp-Apim-Subscription-Key");
    int ok = key_accepted(k, prod);
    keys_count(k, prod, ok);
    return ok;
}

/* Provisioning API: 1 if the key is accepted for some product; *mask gets the products
   a user created with it may use (only its product when it is a product's own key). */
static int subkey_ok_provisioning(struct MHD_Connection *c, unsigned *mask)
{
    const char *k = hdr(c, "Ocp-Apim-Subscription-Key");
    unsigned own = 0, ok = 0;
    for (int p = 0; p < PROD_COUNT; p++) {
        if (key_accepted(k, p))
            ok |= 1u << p;
        for (size_t i = 0; k && i < g_n_prod_sub_keys[p]; i++)
            if (strcmp(g_prod_sub_keys[p][i], k) == 0)
                own |= 1u << p;
    }
    int global = 0;
    for (size_t i = 0; k && i < g_n_sub_keys; i++)
        if (strcmp(g_sub_keys[i], k) == 0)
            global = 1;
    *mask = (own && !global) ? own : ALL_PRODUCTS;
    return ok != 0;
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
    if (!subkey_ok(c, prod)) {
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
    if (!subkey_ok(c, prod)) {
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
    if (!u || !(u->products & (1u << prod))) {     /* a user of another product: unknown here */
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

/* Fields of a validated creating body (pointers into the parsed document). */
struct rtp {
    const char *external_id, *amount, *currency, *party_type, *party_id;   /* party NULL: refund without payee */
    const char *payer_message, *payee_note;
    char ref_to_refund[37];     /* refunds: lowercase referenceIdToRefund */
    struct sbuf extra;          /* cash transfers, invoices: further members as ,"k":v */
    int64_t validity_s;         /* invoices: validityDuration, pre-approvals:
                                   validityTime (0 = not given) */
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

static int valid_email(const char *s, size_t n);
static int valid_uuid(const char *s, size_t n);

/* Check a party object {partyIdType, partyId}: an MSISDN is digits, an EMAIL an address, a
   PARTY_CODE a UUID (as for account holders); 0 ok (*type and *id set), -1 for 400. */
static int check_party(const struct json *d, const struct jnode *party, const char **type,
                       const char **id)
{
    const struct jnode *pt = json_member(d, party, "partyIdType");
    const struct jnode *pid = json_member(d, party, "partyId");
    if (!pt || pt->type != J_STRING || !pid || pid->type != J_STRING || pid->len == 0)
        return -1;
    if (strcmp(pt->str, "MSISDN") == 0) {
        if (!valid_msisdn(pid->str, pid->len))
            return -1;
    } else if (strcmp(pt->str, "EMAIL") == 0) {
        if (!valid_email(pid->str, pid->len))
            return -1;
    } else if (strcmp(pt->str, "PARTY_CODE") == 0) {
        if (!valid_uuid(pid->str, pid->len))
            return -1;
    } else {
        return -1;
    }
    *type = pt->str;
    *id = pid->str;
    return 0;
}

/* 1 if a member of a cash transfer's body is not repeated among its further members: the
   common fields, and the names the status object itself uses. */
static int core_member(const char *key)
{
    static const char *const core[] = { "amount", "currency", "payee", "externalId", "payerMessage",
                                         "payeeNote", "status", "reason", "financialTransactionId" };
    for (size_t i = 0; i < sizeof(core) / sizeof(core[0]); i++)
        if (strcmp(key, core[i]) == 0)
            return 1;
    return 0;
}

/* 1 if s (n bytes) is a positive whole number of at most 9 digits. */
static int valid_seconds(const char *s, size_t n)
{
    if (n == 0 || n > 9 || (n > 1 && s[0] == '0'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return strtol(s, NULL, 10) > 0;
}

/* An invoice's own members (MTN's CreateInvoice): validityDuration, a string of seconds;
   description, a note; payee, a party; each optional. Kept in o->extra and o->validity_s;
   0 ok, -1 for 400. */
static int validate_invoice_members(const struct json *d, const struct jnode *root, struct rtp *o)
{
    const struct jnode *validity, *description;
    const struct jnode *payee = json_member(d, root, "payee");
    if (opt_string(d, root, "validityDuration", &validity) ||
        opt_string(d, root, "description", &description))
        return -1;
    if (validity) {
        if (!valid_seconds(validity->str, validity->len))
            return -1;
        o->validity_s = strtol(validity->str, NULL, 10);
    }
    if (check_note(description))
        return -1;
    if (description) {
        sb_str(&o->extra, ",\"description\":");
        json_write(&o->extra, d, description);
    }
    if (payee && payee->type != J_NULL) {
        const char *t, *id;
        if (payee->type != J_OBJECT || check_party(d, payee, &t, &id) != 0)
            return -1;
        sb_str(&o->extra, ",\"payee\":");
        json_write(&o->extra, d, payee);
    }
    return o->extra.failed ? -1 : 0;
}

/* Validate the body of a payment (MTN's CreatePayments): externalTransactionId, money {amount,
   currency}, customerReference and serviceProviderUserName (required), the optional ids and
   notes, maxNumberOfRetries (a whole number) and includeSenderCharges (a boolean). The
   customer reference is the payment's party: an MSISDN when it is one (a leading + allowed),
   so that the payer's test numbers decide the outcome; else a PARTY_CODE. */
static enum rtp_verdict validate_payment_body(const struct json *d, const struct jnode *root,
                                              struct rtp *o)
{
    const struct jnode *money = json_member(d, root, "money");
    const struct jnode *ext, *customer, *provider, *s, *receiver, *sender;
    if (!money || money->type != J_OBJECT)
        return RTP_BAD;
    const struct jnode *amount = json_member(d, money, "amount");
    const struct jnode *currency = json_member(d, money, "currency");
    if (!amount || amount->type != J_STRING || !valid_amount(amount->str, amount->len))
        return RTP_BAD;
    if (!currency || currency->type != J_STRING)
        return RTP_BAD;
    if (opt_string(d, root, "externalTransactionId", &ext) ||
        opt_string(d, root, "customerReference", &customer) ||
        opt_string(d, root, "serviceProviderUserName", &provider) ||
        opt_string(d, root, "couponId", &s) || opt_string(d, root, "productId", &s) ||
        opt_string(d, root, "productOfferingId", &s) ||
        opt_string(d, root, "receiverMessage", &receiver) ||
        opt_string(d, root, "senderNote", &sender))
        return RTP_BAD;
    if (!customer || customer->len == 0 || utf8_count(customer->str, customer->len) > 64 ||
        !provider || provider->len == 0)
        return RTP_BAD;
    if (check_note(receiver) || check_note(sender))
        return RTP_BAD;
    const struct jnode *retries = json_member(d, root, "maxNumberOfRetries");
    if (retries && retries->type != J_NULL &&
        (retries->type != J_NUMBER || strspn(retries->str, "0123456789") != retries->len))
        return RTP_BAD;
    const struct jnode *charges = json_member(d, root, "includeSenderCharges");
    if (charges && charges->type != J_NULL && charges->type != J_TRUE && charges->type != J_FALSE)
        return RTP_BAD;
    const char *digits = customer->str[0] == '+' ? customer->str + 1 : customer->str;
    size_t ndigits = customer->len - (size_t)(digits - customer->str);
    o->party_type = valid_msisdn(digits, ndigits) ? "MSISDN" : "PARTY_CODE";
    o->party_id = valid_msisdn(digits, ndigits) ? digits : customer->str;
    sb_str(&o->extra, ",\"serviceProviderUserName\":");
    json_write(&o->extra, d, provider);
    if (o->extra.failed)
        return RTP_BAD;
    o->amount = amount->str;
    o->currency = currency->str;
    o->external_id = ext ? ext->str : NULL;
    o->payer_message = o->payee_note = NULL;
    if ((receiver && receiver->len == 0) || (sender && sender->len == 0))
        return RTP_EMPTY_MESSAGE;
    if (strcmp(o->currency, "EUR") != 0)
        return RTP_CURRENCY;
    return RTP_OK;
}

/* Validate a pre-approval's body (MTN's PreApproval: payer, payerCurrency, payerMessage,
   validityTime, nothing else); it has no amount. */
static enum rtp_verdict validate_preapproval(const struct json *d, const struct jnode *root,
                                             struct rtp *o)
{
    const struct jnode *payer = json_member(d, root, "payer");
    const struct jnode *currency = json_member(d, root, "payerCurrency");
    const struct jnode *validity = json_member(d, root, "validityTime");
    const struct jnode *pm;
    for (const struct jnode *m = json_child(d, root); m; m = json_next(d, m))
        if (strcmp(m->key, "payer") != 0 && strcmp(m->key, "payerCurrency") != 0 &&
            strcmp(m->key, "payerMessage") != 0 && strcmp(m->key, "validityTime") != 0)
            return RTP_BAD;
    if (!payer || payer->type != J_OBJECT || check_party(d, payer, &o->party_type, &o->party_id) != 0)
        return RTP_BAD;
    if (!currency || currency->type != J_STRING || opt_string(d, root, "payerMessage", &pm) ||
        check_note(pm))
        return RTP_BAD;
    o->validity_s = 0;
    if (validity && validity->type != J_NULL) {
        char *end;
        if (validity->type != J_NUMBER)
            return RTP_BAD;
        o->validity_s = strtoll(validity->str, &end, 10);
        if (*end || o->validity_s <= 0)
            return RTP_BAD;
    }
    o->amount = "0";
    o->currency = currency->str;
    o->external_id = NULL;
    o->payer_message = pm ? pm->str : NULL;
    o->payee_note = NULL;
    if (pm && pm->len == 0)
        return RTP_EMPTY_MESSAGE;
    if (strcmp(o->currency, "EUR") != 0)
        return RTP_CURRENCY;
    return RTP_OK;
}

/* Validate a creating body (request to pay or to withdraw, transfer, deposit, refund, cash transfer,
   invoice, payment, pre-approval) the way the live API does. o->extra must be initialised by the
   caller. */
static enum rtp_verdict validate_body(const struct json *d, int op, struct rtp *o)
{
    const struct jnode *root = json_root(d);
    if (!root || root->type != J_OBJECT)
        return RTP_BAD;
    if (op == OP_PAYMENT)
        return validate_payment_body(d, root, o);
    if (op == OP_PREAPPROVAL)
        return validate_preapproval(d, root, o);
    const struct jnode *amount = json_member(d, root, "amount");
    const struct jnode *currency = json_member(d, root, "currency");
    const struct jnode *party = json_member(d, root, op == OP_INVOICE ? "intendedPayer" :
                                            op_has_payer(op) ? "payer" : "payee");
    const struct jnode *ext, *pm, *pn;
    if (!amount || amount->type != J_STRING || !valid_amount(amount->str, amount->len))
        return RTP_BAD;
    if (!currency || currency->type != J_STRING)
        return RTP_BAD;
    if (op == OP_REFUND && party && party->type == J_NULL)
        party = NULL;           /* a refund goes to the payer of the refunded payment */
    if ((party || op != OP_REFUND) && (!party || party->type != J_OBJECT))
        return RTP_BAD;
    if (opt_string(d, root, "externalId", &ext) || opt_string(d, root, "payerMessage", &pm) ||
        opt_string(d, root, "payeeNote", &pn))
        return RTP_BAD;
    o->party_type = o->party_id = NULL;
    if (party && check_party(d, party, &o->party_type, &o->party_id) != 0)
        return RTP_BAD;
    if (check_note(pm) || check_note(pn))
        return RTP_BAD;
    if (op == OP_REFUND) {
        const struct jnode *rr = json_member(d, root, "referenceIdToRefund");
        if (!rr || rr->type != J_STRING || !is_uuid(rr->str))
            return RTP_BAD;
        lower_copy(o->ref_to_refund, rr->str, sizeof(o->ref_to_refund));
    }
    if (op == OP_INVOICE) {
        /* payerMessage and payeeNote are no members of an invoice */
        if (pm || pn)
            return RTP_BAD;
        if (validate_invoice_members(d, root, o) != 0)
            return RTP_BAD;
    }
    if (op == OP_CASHTRANSFER) {
        for (const struct jnode *m = json_child(d, root); m; m = json_next(d, m)) {
            if (core_member(m->key))
                continue;
            sb_str(&o->extra, ",");
            sb_jstr(&o->extra, m->key, m->keylen);
            sb_str(&o->extra, ":");
            json_write(&o->extra, d, m);
        }
        if (o->extra.failed)
            return RTP_BAD;
    }
    o->amount = amount->str;
    o->currency = currency->str;
    o->external_id = ext ? ext->str : NULL;
    o->payer_message = pm ? pm->str : NULL;
    o->payee_note = pn ? pn->str : NULL;
    if ((pm && pm->len == 0) || (pn && pn->len == 0))
        return RTP_EMPTY_MESSAGE;
    if (strcmp(o->currency, "EUR") != 0)
        return RTP_CURRENCY;
    return RTP_OK;
}

/* Cents of a validated amount ("12", "12.5", "12.05"). */
static int64_t amount_cents(const char *s)
{
    int64_t v = 0;
    int frac = -1;
    for (; *s; s++) {
        if (*s == '.') {
            frac = 0;
            continue;
        }
        v = v * 10 + (*s - '0');
        if (frac >= 0)
            frac++;
    }
    if (frac <= 0)
        return v * 100;
    return frac == 1 ? v * 10 : v;
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
static void note_fault(const char *id, int rtp)
{
    if (rtp)
        STAT_INC(rtp_faults);
    else
        STAT_INC(txn_faults);
    store_lock();
    struct refrec *rec = store_find(id);
    if (rec)
        rec->faults++;
    store_unlock();
}

/* Append a failure's reason as member name: a string, or MTN's {code, message}. */
static void reason_json(struct sbuf *b, const char *name, const char *reason, int reason_object)
{
    sb_printf(b, ",\"%s\":", name);
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

/* Append an invoice's status answer (MTN's InvoiceResult: errorReason, not reason; no
   financialTransactionId; its invoiceId and paymentReference, its expiry). */
static void invoice_status_json(struct sbuf *b, const struct payment *p, const char *status,
                                const char *reason, int reason_object)
{
    sb_str(b, "\"invoiceId\":");
    sb_jstrz(b, p->ftid);
    sb_str(b, ",\"paymentReference\":");
    sb_printf(b, "\"PR%s\"", p->ftid);
    if (p->external_id) {
        sb_str(b, ",\"externalId\":");
        sb_jstrz(b, p->external_id);
    }
    sb_str(b, ",\"amount\":");
    sb_jstrz(b, p->amount);
    sb_str(b, ",\"currency\":");
    sb_jstrz(b, p->currency);
    if (p->validity_s > 0) {
        time_t t = (time_t)(p->accepted_us / 1000000 + p->validity_s);
        struct tm tm;
        char when[32];
        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        sb_str(b, ",\"expiryDateTime\":");
        sb_jstrz(b, when);
    }
    sb_str(b, ",\"intendedPayer\":{\"partyIdType\":");
    sb_jstrz(b, p->party_type);
    sb_str(b, ",\"partyId\":");
    sb_jstrz(b, p->party_id);
    sb_str(b, "}");
    if (p->extra_json)
        sb_str(b, p->extra_json);
    sb_str(b, ",\"status\":");
    sb_jstrz(b, status);
    if (reason)
        reason_json(b, "errorReason", reason, reason_object);
}

/* Wall-clock seconds since the epoch at which a pre-approval expires (approved, then
   validityTime), or -1 when it does not (no validityTime). */
static int64_t preapproval_expiry(const struct payment *p)
{
    if (p->validity_s <= 0)
        return -1;
    int64_t approved_us = p->accepted_us + (p->pending_until_ms - p->accepted_ms) * 1000;
    return approved_us / 1000000 + p->validity_s;
}

/* Append a wall-clock time (seconds since the epoch) as MTN's "YYYY-MM-DDTHH:mm:SS" (UTC). */
static void sb_time(struct sbuf *b, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char buf[32];
    if (!gmtime_r(&tt, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        snprintf(buf, sizeof(buf), "1970-01-01T00:00:00");
    sb_jstrz(b, buf);
}

/* Append the status answer of a pre-approval (MTN's PreApprovalResult): its payer, currency,
   message, status, expirationDateTime once approved, reason when failed. */
static void preapproval_status_json(struct sbuf *b, const struct payment *p, const char *status,
                                    const char *reason, int reason_object)
{
    sb_str(b, "\"payer\":{\"partyIdType\":");
    sb_jstrz(b, p->party_type);
    sb_str(b, ",\"partyId\":");
    sb_jstrz(b, p->party_id);
    sb_str(b, "},\"payerCurrency\":");
    sb_jstrz(b, p->currency);
    if (p->payer_message) {
        sb_str(b, ",\"payerMessage\":");
        sb_jstrz(b, p->payer_message);
    }
    sb_str(b, ",\"status\":");
    sb_jstrz(b, status);
    int64_t exp = preapproval_expiry(p);
    if (strcmp(status, "SUCCESSFUL") == 0 && exp >= 0) {
        sb_str(b, ",\"expirationDateTime\":");
        sb_time(b, exp);
    }
    if (reason)
        reason_json(b, "reason", reason, reason_object);
    sb_str(b, "}");
}

/* Append the status answer of a payment (see sandbox.h). */
void txn_status_json(struct sbuf *b, const struct payment *p, int64_t now, int reason_object,
                     size_t padding, int final)
{
    const char *reason;
    const char *status;
    if (final) {
        int64_t fin = payment_final_ms(p);
        status = outcome_at(p, fin > now ? fin : now, &reason);
    } else {
        status = payment_status_now(p, now, &reason);
    }
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
    if (p->op == OP_PREAPPROVAL) {
        preapproval_status_json(b, p, status, reason, reason_object);
        return;
    }
    if (p->op == OP_INVOICE) {
        invoice_status_json(b, p, status, reason, reason_object);
        sb_str(b, "}");
        return;
    }
    if (p->op == OP_PAYMENT) {
        /* MTN's PaymentResult: the status, with financialTransactionId or reason */
        sb_str(b, "\"status\":");
        sb_jstrz(b, status);
        if (strcmp(status, "SUCCESSFUL") == 0) {
            sb_str(b, ",\"financialTransactionId\":");
            sb_jstrz(b, p->ftid);
        }
        if (reason)
            reason_json(b, "reason", reason, reason_object);
        sb_str(b, "}");
        return;
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
    sb_str(b, op_has_payer(p->op) ? ",\"payer\":{\"partyIdType\":" : ",\"payee\":{\"partyIdType\":");
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
    if (p->extra_json)
        sb_str(b, p->extra_json);
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

/* Method of a payment's callback: PUT after a v2_0 POST, POST after a v1_0 one. */
static const char *callback_method(const struct payment *p)
{
    return p->version == 2 ? "PUT" : "POST";
}

/* Build the callback body of a payment (caller holds the store lock); NULL on OOM. */
static char *callback_body(const struct payment *p, int64_t now, int reason_object)
{
    struct sbuf b;
    sb_init(&b);
    txn_status_json(&b, p, now, reason_object, 0, 1);
    return sb_take(&b, NULL);
}

void callback_fire(const char *ref, uint64_t seq, int copy, int early)
{
    struct config cfg;
    config_snapshot(&cfg);
    char *body = NULL, *url = NULL;
    int product = 0, op = 0;
    const char *method = "POST";
    store_lock();
    const struct refrec *rec = store_find(ref);
    if (rec && rec->pay && rec->pay->seq == seq && rec->pay->callback_url) {
        const struct payment *p = rec->pay;
        body = callback_body(p, now_ms(), cfg.reason_object != 0);
        url = strdup(p->callback_url);
        product = p->product;
        op = p->op;
        method = callback_method(p);
    }
    store_unlock();
    if (body && url)
        callback_record(ref, product, op, url, method, body, copy, early, cfg.deliver_callbacks != 0);
    else
        free(body);
    free(url);
    config_release(&cfg);
}

/* What to do about the callbacks of a payment just accepted. */
struct cb_plan {
    int n;                      /* callbacks: 0, 1 or 2 */
    int early;
    int64_t due[2];             /* monotonic; <= now: record at once */
    char *body[2];              /* for the ones recorded at once */
};

/* Plan the callbacks of a payment being stored (caller holds the store lock; p is not
   yet visible to anyone else, so its hold time can still be set). */
static void plan_callbacks(struct payment *p, int64_t now, const struct config *cfg,
                           struct cb_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
    if (!p->callback_url)
        return;
    int64_t fin = payment_final_ms(p);
    if (fin < 0)
        return;                 /* never final (CREATED): no callback */
    int64_t t1;
    if (cfg->early_callbacks) {
        plan->early = 1;
        t1 = now;
        p->hold_until_ms = now + cfg->early_ms;
    } else {
        t1 = fin > p->visible_ms ? fin : p->visible_ms;
    }
    plan->n = cfg->duplicate_callbacks ? 2 : 1;
    plan->due[0] = t1;
    plan->due[1] = t1 + cfg->duplicate_gap_ms;
    for (int i = 0; i < plan->n; i++)
        if (plan->due[i] <= now)
            plan->body[i] = callback_body(p, now, cfg->reason_object != 0);
}

/* Carry out a plan after the store lock was released. */
static void run_callbacks(const char *id, uint64_t seq, int product, int op, const char *url,
                          const char *method, struct cb_plan *plan, const struct config *cfg,
                          int64_t now)
{
    for (int i = 0; i < plan->n; i++) {
        if (plan->due[i] <= now) {
            if (plan->body[i])
                callback_record(id, product, op, url, method, plan->body[i], i + 1, plan->early,
                                cfg->deliver_callbacks != 0);
            plan->body[i] = NULL;
        } else {
            callback_schedule(id, seq, plan->due[i], i + 1, plan->early);
        }
    }
}

/* Count a creating POST of op. */
static void count_post(int op)
{
    switch (op) {
    case OP_REQUESTTOPAY: STAT_INC(rtp_posts); break;
    case OP_TRANSFER: STAT_INC(transfer_posts); break;
    case OP_DEPOSIT: STAT_INC(deposit_posts); break;
    case OP_REFUND: STAT_INC(refund_posts); break;
    case OP_REQUESTTOWITHDRAW: STAT_INC(withdraw_posts); break;
    case OP_INVOICE: STAT_INC(invoice_posts); break;
    case OP_PAYMENT: STAT_INC(payment_posts); break;
    case OP_PREAPPROVAL: break;
    default: STAT_INC(cashtransfer_posts); break;
    }
}

/* POST of a creating operation: requesttopay, requesttowithdraw, transfer, deposit, refund,
   cashtransfer. */
static void handle_create(struct MHD_Connection *c, struct req *r, const struct config *cfg,
                          const struct apiuser *user, int prod, int op, int version)
{
    int rtp = op == OP_REQUESTTOPAY;
    count_post(op);
    const char *ref = hdr(c, "X-Reference-Id");
    if (!ref || !is_uuid4(ref)) {
        if (rtp)
            STAT_INC(rtp_bad_requests);
        else
            STAT_INC(txn_bad_requests);
        reply_shared(r, ANS_400_EMPTY);
        return;
    }
    char id[37];
    lower_copy(id, ref, sizeof(id));

    store_lock();
    struct refrec *rec = store_get_or_add(id);
    unsigned long n = 0;
    if (rec) {
        n = ++rec->posts;
        if (n == 1) {
            rec->product = prod;
            rec->op = op;
        }
    }
    store_unlock();
    if (!rec) {
        reply_shared(r, ANS_500_EMPTY);
        return;
    }

    /* faults that happen before the request is processed */
    if ((long)n <= cfg->hang_first) {
        note_fault(id, rtp);
        r->action = ACT_HANG;
        r->note = "hang-first";
        return;
    }
    if ((long)n <= cfg->rate_limit_first) {
        note_fault(id, rtp);
        reply_shared(r, ANS_429_RATE);
        r->note = "rate-limit-first";
        return;
    }
    if ((long)n <= cfg->fail_first || chance(cfg->fail_share)) {
        note_fault(id, rtp);
        reply_fail_status(r, cfg->fail_status);
        r->note = (long)n <= cfg->fail_first ? "fail-first" : "fail-share";
        return;
    }
    if (cfg->refuse_posts != RP_NONE) {
        /* the merchant's configuration refused: nothing about this payment */
        note_fault(id, rtp);
        reply_shared(r, cfg->refuse_posts == RP_TARGET_ENVIRONMENT ? ANS_500_TARGET_ENV :
                     cfg->refuse_posts == RP_CALLBACK_HOST ? ANS_500_CALLBACK : ANS_403_FORBIDDEN);
        r->note = "refuse-posts";
        return;
    }

    struct json doc;
    struct rtp f;
    memset(&f, 0, sizeof(f));
    sb_init(&f.extra);
    enum rtp_verdict v = RTP_BAD;
    const char *cb = hdr(c, "X-Callback-Url");
    if (cb && !*cb)
        cb = NULL;
    int parsed = json_parse(r->body ? r->body : "", r->body_len, &doc) == 0;
    if (parsed)
        v = validate_body(&doc, op, &f);
    if (v == RTP_OK && user && user->cbhost) {
        if (cb && !url_host_is(cb, user->cbhost)) {
            if (rtp)
                STAT_INC(rtp_rejected);
            else
                STAT_INC(txn_rejected);
            reply_shared(r, ANS_500_CALLBACK);
            goto drop_check;
        }
    }
    switch (v) {
    case RTP_BAD:
        if (rtp)
            STAT_INC(rtp_bad_requests);
        else
            STAT_INC(txn_bad_requests);
        store_lock();
        rec = store_find(id);
        if (rec)
            rec->bad_requests++;
        store_unlock();
        reply_shared(r, ANS_400_EMPTY);
        break;
    case RTP_EMPTY_MESSAGE:
    case RTP_CURRENCY:
        if (rtp)
            STAT_INC(rtp_rejected);
        else
            STAT_INC(txn_rejected);
        reply_shared(r, v == RTP_CURRENCY ? ANS_500_CURRENCY : ANS_500_EMPTY);
        break;
    case RTP_OK: {
        /* a refund without payee goes to the payer of the refunded payment */
        char *orig_type = NULL, *orig_id = NULL;
        if (op == OP_REFUND && !f.party_type) {
            store_lock();
            const struct refrec *o = store_find(f.ref_to_refund);
            if (o && o->pay && o->pay->op == OP_REQUESTTOPAY) {
                orig_type = strdup(o->pay->party_type);
                orig_id = strdup(o->pay->party_id);
            }
            store_unlock();
            f.party_type = orig_type ? orig_type : "MSISDN";
            f.party_id = orig_id ? orig_id : "0";
        }
        char *extra = f.extra.len ? sb_take(&f.extra, NULL) : NULL;
        struct payment_fields pf = {
            .external_id = f.external_id, .amount = f.amount, .currency = f.currency,
            .party_type = f.party_type, .party_id = f.party_id,
            .payer_message = f.payer_message, .payee_note = f.payee_note,
            .callback_url = cb, .ref_to_refund = op == OP_REFUND ? f.ref_to_refund : NULL,
            .extra_json = extra,
        };
        struct payment *p = payment_new(&pf);
        free(extra);
        free(orig_type);
        free(orig_id);
        if (!p) {
            reply_shared(r, ANS_500_EMPTY);
            break;
        }
        uint64_t seq = p->seq;
        int64_t now = now_ms();
        p->product = prod;
        p->op = op;
        p->version = version;
        p->validity_s = f.validity_s;
        p->amount_cents = amount_cents(p->amount);
        p->accepted_ms = now;
        {
            struct timespec wall;
            clock_gettime(CLOCK_REALTIME, &wall);
            p->accepted_us = (int64_t)wall.tv_sec * 1000000 + wall.tv_nsec / 1000;
        }
        p->visible_ms = now + cfg->not_found_ms;
        p->pending_until_ms = now + cfg->pending_ms;
        p->ongoing_until_ms = now + cfg->ongoing_seconds * 1000;
        uint32_t a = rnd_u32() % 900000000u + 100000000u;
        snprintf(p->ftid, sizeof(p->ftid), "%u%u", a, rnd_u32() % 10u);
        int stored = 0, not_found = 0;
        struct cb_plan plan;
        memset(&plan, 0, sizeof(plan));
        store_lock();
        rec = store_get_or_add(id);
        if (rec && !rec->pay) {
            struct refrec *orig = NULL;
            if (op == OP_REFUND) {
                orig = store_find(p->ref_to_refund);
                if (!orig || !orig->pay || orig->pay->op != OP_REQUESTTOPAY) {
                    not_found = 1;
                } else {
                    const char *why;
                    if (strcmp(payment_status_now(orig->pay, now, &why), "SUCCESSFUL") != 0 ||
                        p->amount_cents > orig->pay->amount_cents - orig->pay->refunded_cents)
                        p->forced_reason = "NOT_ALLOWED";
                }
            }
            if (!not_found) {
                /* money out of the account: only what goes to a payee */
                if (!op_has_payer(op) && will_succeed(p)) {
                    int64_t bal = balance_get(prod);
                    if (p->amount_cents > bal) {
                        p->forced_reason = "NOT_ENOUGH_FUNDS";
                    } else {
                        balance_set(prod, bal - p->amount_cents);
                        if (orig)
                            orig->pay->refunded_cents += p->amount_cents;
                    }
                }
                plan_callbacks(p, now, cfg, &plan);
                store_set_payment(rec, p);
                stored = 1;
            }
        } else if (rec) {
            rec->conflicts++;
        }
        store_unlock();
        if (stored) {
            if (rtp) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                __atomic_store_n(&g_stats.last_accepted_us,
                                 (unsigned long)ts.tv_sec * 1000000UL + (unsigned long)ts.tv_nsec / 1000UL,
                                 __ATOMIC_RELAXED);
                STAT_INC(rtp_accepted);
            } else {
                STAT_INC(txn_accepted);
            }
            /* p itself is not touched any more: a reset may free it at any time now */
            if (plan.n)
                run_callbacks(id, seq, prod, op, cb, version == 2 ? "PUT" : "POST", &plan, cfg, now);
            reply_shared(r, ANS_202_EMPTY);
        } else {
            free(p);
            if (not_found) {
                STAT_INC(txn_rejected);
                reply_shared(r, ANS_500_NOT_FOUND);
            } else if (rec) {
                if (rtp)
                    STAT_INC(rtp_conflicts);
                else
                    STAT_INC(txn_conflicts);
                /* conflict_status: how a resend of a stored payment is answered */
                reply_shared(r, cfg->conflict_status == 400 ? ANS_400_EMPTY :
                             cfg->conflict_status == 500 ?
                             (cfg->conflict_permanent ? ANS_500_NOT_ALLOWED : ANS_500_INTERNAL) :
                             ANS_409_EXISTS);
            } else {
                reply_shared(r, ANS_500_EMPTY);
            }
        }
        break;
    }
    }
drop_check:
    sb_free(&f.extra);
    if (parsed)
        json_free(&doc);
    /* faults that lose the answer after the request was processed */
    if ((long)n <= cfg->drop_first || chance(cfg->drop_share)) {
        note_fault(id, rtp);
        r->action = ACT_DROP;
        r->note = (long)n <= cfg->drop_first ? "drop-first" : "drop-share";
    }
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

/* GET of a transaction's status: /collection/v1_0/{requesttopay,requesttowithdraw}/{ref}, /disbursement/v1_0/
   {transfer,deposit,refund}/{ref}, /remittance/v1_0/transfer/{ref}, /remittance/v2_0/cashtransfer/{ref}. */
static void handle_status_get(struct req *r, const char *ref, const struct config *cfg, int prod,
                              int op)
{
    int rtp = op == OP_REQUESTTOPAY;
    if (rtp)
        STAT_INC(status_gets);
    else
        STAT_INC(txn_status_gets);
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
    memcpy(r->status_ref, id, sizeof(r->status_ref));
    int64_t now = now_ms();
    struct sbuf b;
    sb_init(&b);
    int found = 0;
    size_t padding = cfg->status_body == SB_OVERSIZED ? (size_t)4 * 1024 * 1024 : 0;
    store_lock();
    struct refrec *rec = store_find(id);
    if (rec) {
        rec->status_gets++;
        const struct payment *p = rec->pay;
        if (p && p->product == prod && p->op == op && now >= p->visible_ms) {
            found = 1;
            txn_status_json(&b, p, now, cfg->reason_object != 0, padding, 0);
        }
    }
    store_unlock();
    if (!found) {
        if (rtp)
            STAT_INC(status_not_found);
        else
            STAT_INC(txn_status_not_found);
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

/* Outcome of an account-holder MSISDN for active and basicuserinfo:
   0 ordinary, else the last digits 450..455 of the sandbox's table. */
static int holder_case(const char *id, size_t idlen)
{
    if (idlen == 11 && memcmp(id, "467331234", 9) == 0 && id[9] == '5' && id[10] >= '0' &&
        id[10] <= '5')
        return 450 + (id[10] - '0');
    return 0;
}

/* Answer the error cases of the account-holder table (452..455); 1 if answered. */
static int holder_error(struct req *r, int hc)
{
    switch (hc) {
    case 452: reply_shared(r, ANS_500_NOT_ALLOWED); return 1;
    case 453: reply_shared(r, ANS_500_TARGET_ENV); return 1;
    case 454: reply_shared(r, ANS_500_INTERNAL); return 1;
    case 455: reply_shared(r, ANS_503_UNAVAILABLE); return 1;
    default: return 0;
    }
}

/* Id types of account-holder paths: msisdn, email, party_code (any case). */
enum holder_type { HT_NONE, HT_MSISDN, HT_EMAIL, HT_PARTY_CODE };

static enum holder_type holder_type_of(const char *type, size_t tlen)
{
    if (tlen == 6 && strncasecmp(type, "msisdn", 6) == 0)
        return HT_MSISDN;
    if (tlen == 5 && strncasecmp(type, "email", 5) == 0)
        return HT_EMAIL;
    if (tlen == 10 && strncasecmp(type, "party_code", 10) == 0)
        return HT_PARTY_CODE;
    return HT_NONE;
}

/* 1 if s (n bytes) is an email address: one @, something either side, a dot after it. */
static int valid_email(const char *s, size_t n)
{
    const char *at = memchr(s, '@', n);
    if (!at || at == s || (size_t)(at - s) + 1 >= n || memchr(at + 1, '@', n - (size_t)(at - s) - 1) ||
        !memchr(at + 1, '.', n - (size_t)(at - s) - 1))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == '/')
            return 0;
    return 1;
}

/* 1 if s (n bytes) is a UUID. */
static int valid_uuid(const char *s, size_t n)
{
    if (n != 36)
        return 0;
    for (size_t i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

/*
 * The test number an account holder id stands for (see the README's Account
 * holders): an msisdn itself; an email's local part; a party code's last
 * group without its first digit.  Sets *key and *keylen; -1 if the id is not
 * valid for its type.
 */
static int holder_key(enum holder_type t, const char *id, size_t idlen, const char **key, size_t *keylen)
{
    *key = id;
    *keylen = idlen;
    switch (t) {
    case HT_MSISDN:
        return valid_msisdn(id, idlen) ? 0 : -1;
    case HT_EMAIL:
        if (!valid_email(id, idlen))
            return -1;
        *keylen = (size_t)((const char *)memchr(id, '@', idlen) - id);
        return 0;
    case HT_PARTY_CODE:
        if (!valid_uuid(id, idlen))
            return -1;
        *key = id + 25;
        *keylen = 11;
        return 0;
    default:
        return -1;
    }
}

/* GET /{product}/v1_0/accountholder/{msisdn|email|party_code}/{id}/active. */
static void handle_active(struct req *r, const char *type, size_t tlen, const char *id,
                          size_t idlen)
{
    const char *key;
    size_t keylen;
    if (holder_key(holder_type_of(type, tlen), id, idlen, &key, &keylen) != 0) {
        reply_shared(r, ANS_400_EMPTY);
        return;
    }
    int hc = holder_case(key, keylen);
    if (hc == 450)
        reply_shared(r, ANS_404_RESOURCE);
    else if (holder_error(r, hc))
        return;
    else if (hc == 451)
        reply_json(r, 200, "{\"result\":false}");
    else
        reply_json(r, 200, "{\"result\":true}");
}

/* FNV-1a hash of n bytes. */
static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* GET /{product}/v1_0/accountholder/{msisdn|email}/{id}/basicuserinfo: made-up, deterministic data. */
static void handle_userinfo(struct req *r, int prod, const char *type, size_t tlen, const char *id,
                            size_t idlen)
{
    static const char *const female[] = { "Amina", "Grace", "Aline", "Chantal", "Esther",
                                          "Fatou", "Josiane", "Mukamana", "Sandra", "Zawadi" };
    static const char *const male[] = { "Jean", "Emmanuel", "Kwame", "Olivier", "Patrick",
                                        "Samuel", "Innocent", "Kofi", "Moses", "Yaw" };
    static const char *const family[] = { "Uwimana", "Mensah", "Nkurunziza", "Okello", "Mugisha",
                                          "Asante", "Habimana", "Kamanzi", "Boateng", "Box" };
    static const struct { const char *prefix, *locale; } locales[] = {
        { "46", "sv_SE" }, { "250", "rw_RW" }, { "256", "en_UG" }, { "233", "en_GH" },
        { "237", "fr_CM" }, { "225", "fr_CI" }, { "229", "fr_BJ" }, { "260", "en_ZM" },
        { "27", "en_ZA" }, { "234", "en_NG" },
    };
    /* msisdn, and email but not of remittance (MTN's definitions) */
    enum holder_type ht = holder_type_of(type, tlen);
    const char *key;
    size_t keylen;
    if ((ht != HT_MSISDN && !(ht == HT_EMAIL && prod != PROD_REMITTANCE)) ||
        holder_key(ht, id, idlen, &key, &keylen) != 0) {
        reply_shared(r, ANS_400_EMPTY);
        return;
    }
    int hc = holder_case(key, keylen);
    if (hc == 450) {
        reply_shared(r, ANS_404_RESOURCE);
        return;
    }
    if (holder_error(r, hc))
        return;
    uint64_t h = fnv(id, idlen);
    int is_female = (int)(h & 1);
    const char *given = is_female ? female[(h >> 1) % 10] : male[(h >> 1) % 10];
    const char *fam = family[(h >> 8) % 10];
    int year = 1950 + (int)((h >> 16) % 55), month = 1 + (int)((h >> 24) % 12),
        day = 1 + (int)((h >> 32) % 28);
    const char *locale = "en_US";
    for (size_t i = 0; i < sizeof(locales) / sizeof(locales[0]); i++)
        if (strncmp(id, locales[i].prefix, strlen(locales[i].prefix)) == 0) {
            locale = locales[i].locale;
            break;
        }
    char body[320];
    snprintf(body, sizeof(body),
             "{\"given_name\":\"%s\",\"family_name\":\"%s\",\"birthdate\":\"%04d-%02d-%02d\","
             "\"locale\":\"%s\",\"gender\":\"%s\",\"status\":\"%s\"}",
             given, fam, year, month, day, locale, is_female ? "FEMALE" : "MALE",
             hc == 451 ? "INACTIVE" : "ACTIVE");
    reply_json(r, 200, body);
}

/* 1 if pre-approval p is approved and in force at now (monotonic) and wall (seconds). */
static int preapproval_in_force(const struct payment *p, int64_t now, int64_t wall)
{
    const char *reason;
    int64_t exp = preapproval_expiry(p);
    return p->op == OP_PREAPPROVAL && !p->cancelled && now >= p->visible_ms &&
           strcmp(payment_status_now(p, now, &reason), "SUCCESSFUL") == 0 && (exp < 0 || wall < exp);
}

/* GET /collection/v1_0/preapprovals/{msisdn|email}/{id}: the payer's approved pre-approvals in
   force (not cancelled nor expired), as MTN's PreApprovalDetails; [] when none. */
static void handle_preapprovals(struct req *r, const char *type, size_t tlen, const char *id,
                                size_t idlen)
{
    enum holder_type ht = holder_type_of(type, tlen);
    const char *key;
    size_t keylen;
    if ((ht != HT_MSISDN && ht != HT_EMAIL) || holder_key(ht, id, idlen, &key, &keylen) != 0) {
        reply_shared(r, ANS_400_EMPTY);
        return;
    }
    int hc = holder_case(key, keylen);
    if (hc == 450) {
        reply_shared(r, ANS_404_RESOURCE);
        return;
    }
    if (holder_error(r, hc))
        return;
    const char *party_type = ht == HT_MSISDN ? "MSISDN" : "EMAIL";
    int64_t now = now_ms();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t wall = (int64_t)ts.tv_sec;
    struct sbuf b;
    sb_init(&b);
    sb_str(&b, "[");
    int n = 0;
    store_lock();
    for (const struct refrec *rec = store_first(); rec; rec = rec->onext) {
        const struct payment *p = rec->pay;
        if (!p || p->product != PROD_COLLECTION || !preapproval_in_force(p, now, wall) ||
            strcmp(p->party_type, party_type) != 0 || strlen(p->party_id) != idlen ||
            (ht == HT_EMAIL ? strncasecmp(p->party_id, id, idlen) : strncmp(p->party_id, id, idlen)) != 0)
            continue;
        int64_t created = p->accepted_us / 1000000;
        int64_t approved = (p->accepted_us + (p->pending_until_ms - p->accepted_ms) * 1000) / 1000000;
        sb_str(&b, n++ ? ",{\"preApprovalId\":" : "{\"preApprovalId\":");
        sb_jstrz(&b, rec->id);
        sb_str(&b, ",\"toFri\":\"FRI:momo-sandbox/USER\",\"fromFri\":");
        char fri[320];
        snprintf(fri, sizeof(fri), "FRI:%s/%s", p->party_id, party_type);
        sb_jstrz(&b, fri);
        sb_str(&b, ",\"fromCurrency\":");
        sb_jstrz(&b, p->currency);
        sb_str(&b, ",\"createdTime\":");
        sb_time(&b, created);
        sb_str(&b, ",\"approvedTime\":");
        sb_time(&b, approved);
        if (preapproval_expiry(p) >= 0) {
            sb_str(&b, ",\"expiryTime\":");
            sb_time(&b, preapproval_expiry(p));
        }
        sb_str(&b, ",\"status\":\"APPROVED\",\"message\":");
        sb_jstrz(&b, p->payer_message ? p->payer_message : "");
        sb_str(&b, "}");
    }
    store_unlock();
    sb_str(&b, "]");
    reply_sbuf(r, 200, &b);
}

/* DELETE /collection/v1_0/preapproval/{id}: cancels an approved pre-approval in force (200,
   no body); 404 for any other id, 400 for one that is not a UUID. */
static void handle_preapproval_cancel(struct req *r, const char *ref, size_t reflen)
{
    char id[37];
    if (reflen != 36 || !is_uuid(ref)) {
        reply_shared(r, ANS_400_EMPTY);
        return;
    }
    lower_copy(id, ref, sizeof(id));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int done = 0;
    store_lock();
    struct refrec *rec = store_find(id);
    if (rec && rec->pay && rec->pay->product == PROD_COLLECTION &&
        preapproval_in_force(rec->pay, now_ms(), (int64_t)ts.tv_sec)) {
        rec->pay->cancelled = 1;
        done = 1;
    }
    store_unlock();
    if (done)
        reply_json(r, 200, NULL);
    else
        reply_shared(r, ANS_404_RESOURCE);
}

/* GET /{product}/v1_0/account/balance[/{currency}]. */
static void handle_balance(struct req *r, int prod, const char *currency)
{
    if (currency && strcmp(currency, "EUR") != 0) {
        reply_shared(r, ANS_500_CURRENCY);
        return;
    }
    char amount[32], body[96];
    store_lock();
    int64_t cents = balance_get(prod);
    store_unlock();
    format_cents(amount, sizeof(amount), cents);
    snprintf(body, sizeof(body), "{\"availableBalance\":\"%s\",\"currency\":\"EUR\"}", amount);
    reply_json(r, 200, body);
}

/* Number of characters of a header value (UTF-8 aware, any bytes accepted). */
static size_t chars_of(const char *s)
{
    return utf8_count(s, strlen(s));
}

/* POST /collection/v1_0/requesttopay/{ref}/deliverynotification. */
static void handle_delivery(struct MHD_Connection *c, struct req *r, const char *ref,
                            const struct config *cfg)
{
    STAT_INC(deliverynotification_posts);
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
    /* the message: header notificationMessage and/or body {"notificationMessage": ...} */
    const char *hmsg = hdr(c, "notificationMessage");
    char *bmsg = NULL;
    if (r->body_len > 0) {
        struct json doc;
        if (json_parse(r->body, r->body_len, &doc) != 0) {
            reply_shared(r, ANS_400_EMPTY);
            return;
        }
        const struct jnode *root = json_root(&doc);
        const struct jnode *m = NULL;
        int bad = !root || root->type != J_OBJECT || opt_string(&doc, root, "notificationMessage", &m);
        if (!bad && m) {
            bad = utf8_count(m->str, m->len) > 160;
            if (!bad && m->len > 0 && !(bmsg = strdup(m->str)))
                bad = 1;
        }
        json_free(&doc);
        if (bad) {
            reply_shared(r, ANS_400_EMPTY);
            return;
        }
    }
    if (hmsg && !*hmsg)
        hmsg = NULL;
    if ((!hmsg && !bmsg) || (hmsg && chars_of(hmsg) > 160)) {
        free(bmsg);
        reply_shared(r, ANS_400_EMPTY);
        return;
    }
    /* the body's UTF-8 over the header's ASCII (momo's README says what was assumed) */
    const char *msg = bmsg ? bmsg : hmsg;
    char id[37];
    lower_copy(id, ref, sizeof(id));
    int64_t now = now_ms();
    int outcome;                /* 0 ok, 1 not found, 2 not successful, 3 out of memory */
    char *copy = strdup(msg);
    store_lock();
    struct refrec *rec = store_find(id);
    if (!rec || !rec->pay || rec->pay->op != OP_REQUESTTOPAY || now < rec->pay->visible_ms) {
        outcome = 1;
    } else {
        const char *why;
        if (strcmp(payment_status_now(rec->pay, now, &why), "SUCCESSFUL") != 0) {
            outcome = 2;
        } else if (!copy) {
            outcome = 3;
        } else {
            outcome = 0;
            rec->pay->notifications++;
            free(rec->pay->last_notification);
            rec->pay->last_notification = copy;
            copy = NULL;
        }
    }
    store_unlock();
    free(copy);
    free(bmsg);
    switch (outcome) {
    case 0:
        STAT_INC(deliverynotifications_accepted);
        reply_shared(r, ANS_200_EMPTY);
        break;
    case 1: reply_shared(r, ANS_404_RESOURCE); break;
    case 2: reply_shared(r, ANS_409_NOT_APPROVED); break;
    default: reply_shared(r, ANS_500_EMPTY); break;
    }
}

/* DELETE /collection/v2_0/invoice/{ref} (MTN's CancelInvoice): X-Reference-Id, a UUID v4 of
   its own (a repeated one: 409), and optionally {"externalId": ...}. An open invoice becomes
   FAILED, TRANSACTION_CANCELED, at once: 200 {"externalId"}. An unknown one: 404; one already
   paid, failed or cancelled: 500 NOT_ALLOWED. */
static void handle_cancel(struct MHD_Connection *c, struct req *r, const char *ref,
                          const struct config *cfg)
{
    STAT_INC(invoice_deletes);
    if (chance(cfg->fail_share)) {
        STAT_INC(get_faults);
        reply_fail_status(r, cfg->fail_status);
        r->note = "fail-share";
        return;
    }
    const char *cancel_ref = hdr(c, "X-Reference-Id");
    if (!is_uuid(ref) || !cancel_ref || !is_uuid4(cancel_ref)) {
        reply_shared(r, ANS_400_EMPTY);
        return;
    }
    char *ext = NULL;
    if (r->body_len > 0) {
        struct json doc;
        if (json_parse(r->body, r->body_len, &doc) != 0) {
            reply_shared(r, ANS_400_EMPTY);
            return;
        }
        const struct jnode *root = json_root(&doc);
        const struct jnode *e = NULL;
        int bad = !root || root->type != J_OBJECT || opt_string(&doc, root, "externalId", &e);
        if (!bad && e && !(ext = strdup(e->str)))
            bad = 1;
        json_free(&doc);
        if (bad) {
            reply_shared(r, ANS_400_EMPTY);
            return;
        }
    }
    char id[37], cid[37];
    lower_copy(id, ref, sizeof(id));
    lower_copy(cid, cancel_ref, sizeof(cid));
    int64_t now = now_ms();
    int outcome;                /* 0 cancelled, 1 not found, 2 not open, 3 repeated id, 4 OOM */
    struct sbuf b;
    sb_init(&b);
    store_lock();
    struct refrec *crec = store_get_or_add(cid);
    struct refrec *rec = store_find(id);
    if (!crec) {
        outcome = 4;
    } else if (crec->posts++ > 0 || crec->pay) {
        crec->conflicts++;
        outcome = 3;
    } else if (!rec || !rec->pay || rec->pay->op != OP_INVOICE || now < rec->pay->visible_ms) {
        crec->product = PROD_COLLECTION;
        crec->op = OP_INVOICE;
        outcome = 1;
    } else {
        const char *why;
        const char *st = payment_status_now(rec->pay, now, &why);
        crec->product = PROD_COLLECTION;
        crec->op = OP_INVOICE;
        if (strcmp(st, "PENDING") != 0 && strcmp(st, "CREATED") != 0) {
            outcome = 2;
        } else {
            outcome = 0;
            rec->pay->cancelled_ms = now;
            sb_str(&b, "{\"externalId\":");
            sb_jstrz(&b, ext ? ext : rec->pay->external_id);
            sb_str(&b, "}");
        }
    }
    store_unlock();
    free(ext);
    switch (outcome) {
    case 0:
        STAT_INC(invoices_cancelled);
        reply_sbuf(r, 200, &b);
        return;
    case 1: reply_shared(r, ANS_404_RESOURCE); break;
    case 2: reply_shared(r, ANS_500_NOT_ALLOWED); break;
    case 3: reply_shared(r, ANS_409_EXISTS); break;
    default: reply_shared(r, ANS_500_EMPTY); break;
    }
    sb_free(&b);
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
    unsigned mask = ALL_PRODUCTS;
    if (!subkey_ok_provisioning(c, &mask)) {
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
            rc = users_add(ref, h->str, NULL, 1, mask);
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

enum route { RT_NONE, RT_TOKEN, RT_TOKEN_NOSLASH, RT_CREATE, RT_STATUS, RT_BALANCE,
             RT_BALANCE_CUR, RT_ACTIVE, RT_USERINFO, RT_DELIVERY,
             RT_BC_AUTHORIZE, RT_OAUTH2_TOKEN, RT_CONSENT_USERINFO, RT_CANCEL,
             RT_PREAPPROVALS, RT_PREAPPROVAL_CANCEL };

/* Creating POSTs: product, path, operation, API version. */
static const struct {
    int prod;
    const char *path;
    int op, version;
} create_routes[] = {
    { PROD_COLLECTION, "/v1_0/requesttopay", OP_REQUESTTOPAY, 1 },
    { PROD_COLLECTION, "/v1_0/requesttowithdraw", OP_REQUESTTOWITHDRAW, 1 },
    { PROD_COLLECTION, "/v2_0/requesttowithdraw", OP_REQUESTTOWITHDRAW, 2 },
    { PROD_DISBURSEMENT, "/v1_0/transfer", OP_TRANSFER, 1 },
    { PROD_DISBURSEMENT, "/v1_0/deposit", OP_DEPOSIT, 1 },
    { PROD_DISBURSEMENT, "/v2_0/deposit", OP_DEPOSIT, 2 },
    { PROD_DISBURSEMENT, "/v1_0/refund", OP_REFUND, 1 },
    { PROD_DISBURSEMENT, "/v2_0/refund", OP_REFUND, 2 },
    { PROD_REMITTANCE, "/v1_0/transfer", OP_TRANSFER, 1 },
    { PROD_REMITTANCE, "/v2_0/cashtransfer", OP_CASHTRANSFER, 2 },
    { PROD_COLLECTION, "/v2_0/invoice", OP_INVOICE, 2 },
    { PROD_COLLECTION, "/v2_0/payment", OP_PAYMENT, 2 },
    { PROD_COLLECTION, "/v2_0/preapproval", OP_PREAPPROVAL, 2 },
};

/* Status GETs: product, path prefix (the reference id follows), operation. */
static const struct {
    int prod;
    const char *prefix;
    int op;
} status_routes[] = {
    { PROD_COLLECTION, "/v1_0/requesttopay/", OP_REQUESTTOPAY },
    { PROD_COLLECTION, "/v1_0/requesttowithdraw/", OP_REQUESTTOWITHDRAW },
    { PROD_DISBURSEMENT, "/v1_0/transfer/", OP_TRANSFER },
    { PROD_DISBURSEMENT, "/v1_0/deposit/", OP_DEPOSIT },
    { PROD_DISBURSEMENT, "/v1_0/refund/", OP_REFUND },
    { PROD_REMITTANCE, "/v1_0/transfer/", OP_TRANSFER },
    { PROD_REMITTANCE, "/v2_0/cashtransfer/", OP_CASHTRANSFER },
    { PROD_COLLECTION, "/v2_0/invoice/", OP_INVOICE },     /* GET, and DELETE: RT_CANCEL */
    { PROD_COLLECTION, "/v2_0/payment/", OP_PAYMENT },
    { PROD_COLLECTION, "/v2_0/preapproval/", OP_PREAPPROVAL },
};

#define N_ROUTES(a) (sizeof(a) / sizeof((a)[0]))

/* A parsed route. */
struct route_info {
    enum route rt;
    int op, version;
    const char *arg, *arg2;
    size_t arglen, arg2len;
};

/* Route rest (the path after /{product}) of product prod. */
static void route_of(int prod, const char *rest, struct route_info *ri)
{
    memset(ri, 0, sizeof(*ri));
    if (strcmp(rest, "/token/") == 0) {
        ri->rt = RT_TOKEN;
        return;
    }
    if (strcmp(rest, "/token") == 0) {
        ri->rt = RT_TOKEN_NOSLASH;
        return;
    }
    /* the consent flow (consent.c) */
    if (strcmp(rest, "/v1_0/bc-authorize") == 0) {
        ri->rt = RT_BC_AUTHORIZE;
        return;
    }
    if (strcmp(rest, "/oauth2/token/") == 0) {
        ri->rt = RT_OAUTH2_TOKEN;
        return;
    }
    if (strcmp(rest, "/oauth2/v1_0/userinfo") == 0) {
        ri->rt = RT_CONSENT_USERINFO;
        return;
    }
    for (size_t i = 0; i < N_ROUTES(create_routes); i++)
        if (create_routes[i].prod == prod && strcmp(rest, create_routes[i].path) == 0) {
            ri->rt = RT_CREATE;
            ri->op = create_routes[i].op;
            ri->version = create_routes[i].version;
            return;
        }
    for (size_t i = 0; i < N_ROUTES(status_routes); i++) {
        size_t pl = strlen(status_routes[i].prefix);
        if (status_routes[i].prod != prod || strncmp(rest, status_routes[i].prefix, pl) != 0 ||
            !rest[pl])
            continue;
        const char *ref = rest + pl;
        const char *slash = strchr(ref, '/');
        if (!slash) {
            ri->rt = RT_STATUS;
            ri->op = status_routes[i].op;
            ri->arg = ref;
            ri->arglen = strlen(ref);
            return;
        }
        if (status_routes[i].op == OP_REQUESTTOPAY && slash > ref &&
            strcmp(slash, "/deliverynotification") == 0) {
            ri->rt = RT_DELIVERY;
            ri->arg = ref;
            ri->arglen = (size_t)(slash - ref);
        }
        return;
    }
    if (strcmp(rest, "/v1_0/account/balance") == 0) {
        ri->rt = RT_BALANCE;
    } else if (strncmp(rest, "/v1_0/account/balance/", 22) == 0 && rest[22] &&
               !strchr(rest + 22, '/')) {
        ri->rt = RT_BALANCE_CUR;
        ri->arg = rest + 22;
        ri->arglen = strlen(ri->arg);
    } else if (prod == PROD_COLLECTION && strncmp(rest, "/v1_0/preapprovals/", 19) == 0) {
        /* {type}/{id} */
        const char *t = rest + 19;
        const char *s1 = strchr(t, '/');
        if (s1 && s1 > t && s1[1] && !strchr(s1 + 1, '/')) {
            ri->rt = RT_PREAPPROVALS;
            ri->arg = t;
            ri->arglen = (size_t)(s1 - t);
            ri->arg2 = s1 + 1;
            ri->arg2len = strlen(ri->arg2);
        }
    } else if (prod == PROD_COLLECTION && strncmp(rest, "/v1_0/preapproval/", 18) == 0 && rest[18] &&
               !strchr(rest + 18, '/')) {
        ri->rt = RT_PREAPPROVAL_CANCEL;
        ri->arg = rest + 18;
        ri->arglen = strlen(ri->arg);
    } else if (strncmp(rest, "/v1_0/accountholder/", 20) == 0) {
        /* {type}/{id}/active or {type}/{id}/basicuserinfo */
        const char *t = rest + 20;
        const char *s1 = strchr(t, '/');
        if (s1 && s1 > t) {
            const char *s2 = strchr(s1 + 1, '/');
            if (s2 && s2 > s1 + 1 && (strcmp(s2, "/active") == 0 || strcmp(s2, "/basicuserinfo") == 0)) {
                ri->rt = strcmp(s2, "/active") == 0 ? RT_ACTIVE : RT_USERINFO;
                ri->arg = t;
                ri->arglen = (size_t)(s1 - t);
                ri->arg2 = s1 + 1;
                ri->arg2len = (size_t)(s2 - ri->arg2);
            }
        }
    }
}

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
    struct route_info ri;
    route_of(prod, rest, &ri);
    if (ri.rt == RT_NONE) {
        reply_shared(r, ANS_404_PATH);
        return;
    }

    struct config cfg;
    config_snapshot(&cfg);
    if (ri.rt == RT_STATUS && cfg.status_delay_ms > 0)
        r->due_ms = now_ms() + cfg.status_delay_ms;
    else if (ri.rt == RT_TOKEN && cfg.token_delay_ms > 0)
        r->due_ms = now_ms() + cfg.token_delay_ms;
    else if (cfg.delay_ms > 0)
        r->due_ms = now_ms() + cfg.delay_ms;
    if (cfg.redirect) {
        STAT_INC(redirects);
        reply_json(r, 302, NULL);
        reply_header(r, MHD_HTTP_HEADER_LOCATION, cfg.redirect);
        r->note = "redirect";
        goto out;
    }
    if (ri.rt == RT_TOKEN_NOSLASH) {
        char loc[64];
        snprintf(loc, sizeof(loc), "%.*s/token/", (int)(rest - url), url);
        reply_json(r, 302, NULL);
        reply_header(r, MHD_HTTP_HEADER_LOCATION, loc);
        goto out;
    }
    /* DELETE /collection/v2_0/invoice/{ref}: MTN's CancelInvoice */
    if (ri.rt == RT_STATUS && ri.op == OP_INVOICE && strcmp(method, "DELETE") == 0)
        ri.rt = RT_CANCEL;
    int want_post = ri.rt == RT_TOKEN || ri.rt == RT_CREATE || ri.rt == RT_DELIVERY ||
                    ri.rt == RT_BC_AUTHORIZE || ri.rt == RT_OAUTH2_TOKEN;
    if (ri.rt == RT_CANCEL ? 0 : ri.rt == RT_PREAPPROVAL_CANCEL ? strcmp(method, "DELETE") != 0 :
        want_post ? strcmp(method, "POST") != 0 : !is_get(method)) {
        reply_405(r, ri.rt == RT_PREAPPROVAL_CANCEL ? "DELETE" : want_post ? "POST" :
                  ri.rt == RT_STATUS && ri.op == OP_INVOICE ? "GET, DELETE" : "GET");
        goto out;
    }
    if (ri.rt == RT_TOKEN) {
        r->token_rec = store_note_token_request(prod, r->due_ms > 0 ? r->due_ms - now_ms() : 0,
                                                 cfg.token_lifetime);
        handle_token(c, r, prod, &cfg);
        goto out;
    }
    if (want_post && !has_length(c)) {
        reply_shared(r, ANS_411_LENGTH);
        goto out;
    }
    if (ri.rt == RT_OAUTH2_TOKEN || ri.rt == RT_CONSENT_USERINFO) {
        /* their own credentials: the API user and key, the OAuth2 token */
        if (!subkey_ok(c, prod)) {
            STAT_INC(unauthorized);
            reply_shared(r, ANS_401_SUBKEY);
        } else if (ri.rt == RT_OAUTH2_TOKEN)
            consent_token(c, r, prod);
        else
            consent_userinfo(c, r, prod);
        goto out;
    }
    const struct apiuser *user = NULL;
    if (product_auth(c, r, prod, &user) != 0)
        goto out;
    switch (ri.rt) {
    case RT_BC_AUTHORIZE:
        consent_bc_authorize(c, r, prod, user);
        break;
    case RT_CREATE:
        handle_create(c, r, &cfg, user, prod, ri.op, ri.version);
        break;
    case RT_STATUS:
        handle_status_get(r, ri.arg, &cfg, prod, ri.op);
        break;
    case RT_CANCEL: {
        char ref[64];
        snprintf(ref, sizeof(ref), "%.*s", (int)(ri.arglen < 63 ? ri.arglen : 63), ri.arg);
        handle_cancel(c, r, ri.arglen < 63 ? ref : "-", &cfg);
        break;
    }
    case RT_DELIVERY: {
        char ref[64];
        snprintf(ref, sizeof(ref), "%.*s", (int)(ri.arglen < 63 ? ri.arglen : 63), ri.arg);
        handle_delivery(c, r, ri.arglen < 63 ? ref : "-", &cfg);
        break;
    }
    case RT_PREAPPROVALS:
        handle_preapprovals(r, ri.arg, ri.arglen, ri.arg2, ri.arg2len);
        break;
    case RT_PREAPPROVAL_CANCEL:
        handle_preapproval_cancel(r, ri.arg, ri.arglen);
        break;
    case RT_BALANCE:
    case RT_BALANCE_CUR:
    case RT_ACTIVE:
    case RT_USERINFO:
        if (ri.rt == RT_ACTIVE)
            STAT_INC(active_gets);
        else if (ri.rt == RT_USERINFO)
            STAT_INC(userinfo_gets);
        else
            STAT_INC(balance_gets);
        if (chance(cfg.fail_share)) {
            STAT_INC(get_faults);
            reply_fail_status(r, cfg.fail_status);
            r->note = "fail-share";
        } else if (ri.rt == RT_ACTIVE) {
            handle_active(r, ri.arg, ri.arglen, ri.arg2, ri.arg2len);
        } else if (ri.rt == RT_USERINFO) {
            handle_userinfo(r, prod, ri.arg, ri.arglen, ri.arg2, ri.arg2len);
        } else {
            handle_balance(r, prod, ri.rt == RT_BALANCE_CUR ? ri.arg : NULL);
        }
        break;
    default:
        reply_shared(r, ANS_404_PATH);
        break;
    }
out:
    config_release(&cfg);
}
