/*
 * control.c - the test-control endpoints under /_sandbox/ (loopback only):
 * health, counters, stored payments, per-reference-id counters, run-time
 * configuration, subscription keys, the recorded requests, the consent
 * flow's auth requests, reset and token expiry.
 */
#define _GNU_SOURCE
#include "sandbox.h"
#include "callbacks.h"
#include "consent.h"
#include "keys.h"
#include "park.h"
#include "record.h"
#include "store.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* 1 if the client connected from a loopback address. */
static int client_is_loopback(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return 0;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return 1;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            return in6->sin6_addr.s6_addr[12] == 127;
    }
    return 0;
}

/* Append one counter as "name":value with a leading comma unless first. */
static void counter(struct sbuf *b, const char *name, unsigned long v, int first)
{
    sb_printf(b, "%s\"%s\":%lu", first ? "" : ",", name, v);
}

/* GET /_sandbox/stats. */
static void handle_stats(struct req *r)
{
    struct sbuf b;
    sb_init(&b);
    sb_str(&b, "{");
    counter(&b, "requests", STAT_GET(requests), 1);
    counter(&b, "token_requests", STAT_GET(token_requests), 0);
    counter(&b, "tokens_issued", STAT_GET(tokens_issued), 0);
    counter(&b, "token_rejected", STAT_GET(token_rejected), 0);
    counter(&b, "rtp_posts", STAT_GET(rtp_posts), 0);
    counter(&b, "rtp_accepted", STAT_GET(rtp_accepted), 0);
    counter(&b, "rtp_conflicts", STAT_GET(rtp_conflicts), 0);
    counter(&b, "rtp_bad_requests", STAT_GET(rtp_bad_requests), 0);
    counter(&b, "rtp_rejected", STAT_GET(rtp_rejected), 0);
    counter(&b, "rtp_faults", STAT_GET(rtp_faults), 0);
    counter(&b, "status_gets", STAT_GET(status_gets), 0);
    counter(&b, "status_not_found", STAT_GET(status_not_found), 0);
    counter(&b, "get_faults", STAT_GET(get_faults), 0);
    counter(&b, "unauthorized", STAT_GET(unauthorized), 0);
    counter(&b, "redirects", STAT_GET(redirects), 0);
    counter(&b, "provisioning_requests", STAT_GET(provisioning_requests), 0);
    counter(&b, "last_accepted_us", STAT_GET(last_accepted_us), 0);
    counter(&b, "transfer_posts", STAT_GET(transfer_posts), 0);
    counter(&b, "deposit_posts", STAT_GET(deposit_posts), 0);
    counter(&b, "refund_posts", STAT_GET(refund_posts), 0);
    counter(&b, "cashtransfer_posts", STAT_GET(cashtransfer_posts), 0);
    counter(&b, "withdraw_posts", STAT_GET(withdraw_posts), 0);
    counter(&b, "invoice_posts", STAT_GET(invoice_posts), 0);
    counter(&b, "payment_posts", STAT_GET(payment_posts), 0);
    counter(&b, "invoice_deletes", STAT_GET(invoice_deletes), 0);
    counter(&b, "invoices_cancelled", STAT_GET(invoices_cancelled), 0);
    counter(&b, "txn_accepted", STAT_GET(txn_accepted), 0);
    counter(&b, "txn_conflicts", STAT_GET(txn_conflicts), 0);
    counter(&b, "txn_bad_requests", STAT_GET(txn_bad_requests), 0);
    counter(&b, "txn_rejected", STAT_GET(txn_rejected), 0);
    counter(&b, "txn_faults", STAT_GET(txn_faults), 0);
    counter(&b, "txn_status_gets", STAT_GET(txn_status_gets), 0);
    counter(&b, "txn_status_not_found", STAT_GET(txn_status_not_found), 0);
    counter(&b, "balance_gets", STAT_GET(balance_gets), 0);
    counter(&b, "active_gets", STAT_GET(active_gets), 0);
    counter(&b, "userinfo_gets", STAT_GET(userinfo_gets), 0);
    counter(&b, "deliverynotification_posts", STAT_GET(deliverynotification_posts), 0);
    counter(&b, "deliverynotifications_accepted", STAT_GET(deliverynotifications_accepted), 0);
    counter(&b, "callbacks_recorded", STAT_GET(callbacks_recorded), 0);
    counter(&b, "callbacks_delivered", STAT_GET(callbacks_delivered), 0);
    counter(&b, "callbacks_failed", STAT_GET(callbacks_failed), 0);
    store_lock();
    size_t np = store_payments();
    store_unlock();
    counter(&b, "payments", np, 0);
    counter(&b, "provisioned_users", users_provisioned(), 0);
    counter(&b, "tokens_active", tokens_active(), 0);
    counter(&b, "hung_connections", park_hung(), 0);
    counter(&b, "callbacks", callbacks_outbox_len(), 0);
    counter(&b, "callbacks_scheduled", callbacks_scheduled(), 0);
    counter(&b, "callbacks_queued", callbacks_queued(), 0);
    sb_str(&b, "}");
    reply_sbuf(r, 200, &b);
}

/* Append the per-id counters of a record. */
static void rec_counters(struct sbuf *b, const struct refrec *rec)
{
    sb_printf(b, ",\"posts\":%lu,\"accepted\":%d,\"conflicts\":%lu,\"faults\":%lu,"
              "\"status_gets\":%lu,\"bad_requests\":%lu,\"accepted_event\":%llu,"
              "\"first_status_answer_event\":%llu,\"last_status_answer_event\":%llu",
              rec->posts, rec->pay ? 1 : 0, rec->conflicts, rec->faults,
              rec->status_gets, rec->bad_requests, (unsigned long long)rec->accepted_event,
              (unsigned long long)rec->first_status_answer_event,
              (unsigned long long)rec->last_status_answer_event);
}

/* Append one stored payment as a JSON object (caller holds the store lock). */
static void payment_json(struct sbuf *b, const struct refrec *rec, int64_t now)
{
    const struct payment *p = rec->pay;
    const char *reason;
    const char *status = payment_status_now(p, now, &reason);
    sb_str(b, "{\"referenceId\":");
    sb_jstrz(b, rec->id);
    sb_str(b, ",\"externalId\":");
    sb_jstrz(b, p->external_id);
    sb_str(b, ",\"amount\":");
    sb_jstrz(b, p->amount);
    sb_str(b, ",\"currency\":");
    sb_jstrz(b, p->currency);
    sb_str(b, ",\"partyIdType\":");
    sb_jstrz(b, p->party_type);
    sb_str(b, ",\"msisdn\":");
    sb_jstrz(b, p->party_id);
    sb_str(b, ",\"payerMessage\":");
    sb_jstrz(b, p->payer_message);
    sb_str(b, ",\"payeeNote\":");
    sb_jstrz(b, p->payee_note);
    sb_str(b, ",\"status\":");
    sb_jstrz(b, status);
    sb_str(b, ",\"reason\":");
    sb_jstrz(b, reason);
    sb_str(b, ",\"financialTransactionId\":");
    sb_jstrz(b, strcmp(status, "SUCCESSFUL") == 0 ? p->ftid : NULL);
    sb_printf(b, ",\"visible\":%s", now >= p->visible_ms ? "true" : "false");
    rec_counters(b, rec);
    sb_printf(b, ",\"product\":\"%s\",\"operation\":\"%s\",\"version\":%d,\"partyRole\":\"%s\"",
              product_name(p->product), op_name(p->op), p->version,
              op_has_payer(p->op) ? "payer" : "payee");
    sb_str(b, ",\"callbackUrl\":");
    sb_jstrz(b, p->callback_url);
    sb_str(b, ",\"referenceIdToRefund\":");
    sb_jstrz(b, p->ref_to_refund);
    char amt[32];
    format_cents(amt, sizeof(amt), p->refunded_cents);
    sb_str(b, ",\"refundedAmount\":");
    sb_jstrz(b, p->op == OP_REQUESTTOPAY ? amt : NULL);
    sb_printf(b, ",\"cancelled\":%s", p->cancelled_ms ? "true" : "false");
    sb_printf(b, ",\"notifications\":%lu,\"lastNotification\":", p->notifications);
    sb_jstrz(b, p->last_notification);
    if (p->op == OP_INVOICE) {
        /* as its status answer says them (mtn.c, invoice_status_json) */
        sb_str(b, ",\"invoiceId\":");
        sb_jstrz(b, p->ftid);
        sb_printf(b, ",\"paymentReference\":\"PR%s\"", p->ftid);
    }
    if (p->op == OP_PREAPPROVAL)
        sb_printf(b, ",\"validityTime\":%lld,\"cancelled\":%s", (long long)p->validity_s,
                  p->cancelled ? "true" : "false");
    sb_printf(b, ",\"accepted_us\":%lld}", (long long)p->accepted_us);
}

/* GET /_sandbox/payments. */
static void handle_payments(struct req *r)
{
    struct sbuf b;
    sb_init(&b);
    sb_str(&b, "[");
    int first = 1;
    int64_t now = now_ms();
    store_lock();
    for (const struct refrec *rec = store_first(); rec && !b.failed; rec = rec->onext) {
        if (!rec->pay)
            continue;
        if (!first)
            sb_str(&b, ",");
        first = 0;
        payment_json(&b, rec, now);
    }
    store_unlock();
    sb_str(&b, "]");
    reply_sbuf(r, 200, &b);
}

/* GET /_sandbox/payments/{ref} (requests=0) or /_sandbox/requests/{ref} (requests=1). */
static void handle_one(struct req *r, const char *ref, int requests)
{
    char id[37];
    if (!is_uuid(ref)) {
        reply_json(r, 404, "{\"error\":\"unknown reference id\"}");
        return;
    }
    lower_copy(id, ref, sizeof(id));
    struct sbuf b;
    sb_init(&b);
    int found = 0;
    store_lock();
    const struct refrec *rec = store_find(id);
    if (rec && requests) {
        found = 1;
        sb_str(&b, "{\"referenceId\":");
        sb_jstrz(&b, rec->id);
        rec_counters(&b, rec);
        sb_printf(&b, ",\"stored\":%s,\"product\":\"%s\",\"operation\":\"%s\"}",
                  rec->pay ? "true" : "false", product_name(rec->pay ? rec->pay->product : rec->product),
                  op_name(rec->pay ? rec->pay->op : rec->op));
    } else if (rec && rec->pay) {
        found = 1;
        payment_json(&b, rec, now_ms());
    }
    store_unlock();
    if (!found) {
        sb_free(&b);
        reply_json(r, 404, "{\"error\":\"unknown reference id\"}");
        return;
    }
    reply_sbuf(r, 200, &b);
}

/* GET /_sandbox/callbacks[?referenceId=...]. */
static void handle_callbacks(struct MHD_Connection *c, struct req *r)
{
    const char *ref = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "referenceId");
    char id[37];
    if (ref) {
        lower_copy(id, ref, sizeof(id));
        ref = id;
    }
    struct sbuf b;
    sb_init(&b);
    callbacks_json(&b, ref);
    reply_sbuf(r, 200, &b);
}

/* GET or POST /_sandbox/balances: {"collection":"1000000",...}; a POST sets the ones it names. */
static void handle_balances(struct req *r, const char *method)
{
    if (strcmp(method, "POST") == 0 && r->body_len > 0) {
        struct json doc;
        if (json_parse(r->body, r->body_len, &doc) != 0) {
            reply_json(r, 400, "{\"error\":\"body is not valid JSON\"}");
            return;
        }
        const struct jnode *root = json_root(&doc);
        int64_t set[PROD_COUNT];
        int which[PROD_COUNT] = { 0 };
        const char *bad = NULL;
        if (!root || root->type != J_OBJECT)
            bad = "body must be a JSON object";
        for (const struct jnode *m = json_child(&doc, root); m && !bad; m = json_next(&doc, m)) {
            int p = product_index(m->key);
            if (p < 0)
                bad = "unknown product (collection, disbursement or remittance)";
            else if ((m->type != J_STRING && m->type != J_NUMBER) || parse_cents(m->str, &set[p]) != 0)
                bad = "a balance is an amount such as \"1000\" or \"12.50\"";
            else
                which[p] = 1;
        }
        json_free(&doc);
        if (bad) {
            struct sbuf e;
            sb_init(&e);
            sb_str(&e, "{\"error\":");
            sb_jstrz(&e, bad);
            sb_str(&e, "}");
            reply_sbuf(r, 400, &e);
            return;
        }
        store_lock();
        for (int p = 0; p < PROD_COUNT; p++)
            if (which[p])
                balance_set(p, set[p]);
        store_unlock();
    }
    struct sbuf b;
    sb_init(&b);
    sb_str(&b, "{");
    store_lock();
    for (int p = 0; p < PROD_COUNT; p++) {
        char amt[32];
        format_cents(amt, sizeof(amt), balance_get(p));
        sb_printf(&b, "%s\"%s\":\"%s\"", p ? "," : "", product_name(p), amt);
    }
    store_unlock();
    sb_str(&b, "}");
    reply_sbuf(r, 200, &b);
}

/* GET or POST /_sandbox/keys: {"refuse": [...]} replaces the refused keys. */
static void handle_keys(struct req *r, const char *method)
{
    if (strcmp(method, "POST") == 0 && r->body_len > 0) {
        struct json doc;
        if (json_parse(r->body, r->body_len, &doc) != 0) {
            reply_json(r, 400, "{\"error\":\"body is not valid JSON\"}");
            return;
        }
        const struct jnode *root = json_root(&doc);
        const struct jnode *refuse = NULL;
        char err[256] = "";
        if (!root || root->type != J_OBJECT)
            snprintf(err, sizeof(err), "body must be a JSON object");
        for (const struct jnode *m = root && root->type == J_OBJECT ? json_child(&doc, root) : NULL;
             m && !err[0]; m = json_next(&doc, m)) {
            if (strcmp(m->key, "refuse") == 0)
                refuse = m;
            else
                snprintf(err, sizeof(err), "unknown member: %.100s (only \"refuse\")", m->key);
        }
        if (!err[0] && refuse)
            keys_set_refused(&doc, refuse, err, sizeof(err));
        json_free(&doc);
        if (err[0]) {
            struct sbuf b;
            sb_init(&b);
            sb_str(&b, "{\"error\":");
            sb_jstrz(&b, err);
            sb_str(&b, "}");
            reply_sbuf(r, 400, &b);
            return;
        }
    }
    struct sbuf b;
    sb_init(&b);
    keys_json(&b);
    reply_sbuf(r, 200, &b);
}

/* GET or POST /_sandbox/config. */
static void handle_config(struct req *r, const char *method)
{
    if (strcmp(method, "POST") == 0 && r->body_len > 0) {
        struct json doc;
        if (json_parse(r->body, r->body_len, &doc) != 0) {
            reply_json(r, 400, "{\"error\":\"body is not valid JSON\"}");
            return;
        }
        const struct jnode *root = json_root(&doc);
        char err[256];
        if (!root || root->type != J_OBJECT) {
            json_free(&doc);
            reply_json(r, 400, "{\"error\":\"body must be a JSON object\"}");
            return;
        }
        if (config_apply_json(&doc, root, err, sizeof(err)) != 0) {
            json_free(&doc);
            struct sbuf b;
            sb_init(&b);
            sb_str(&b, "{\"error\":");
            sb_jstrz(&b, err);
            sb_str(&b, "}");
            reply_sbuf(r, 400, &b);
            return;
        }
        json_free(&doc);
    }
    struct sbuf b;
    sb_init(&b);
    config_to_json(&b);
    reply_sbuf(r, 200, &b);
}

void control_handle(struct MHD_Connection *c, const char *url, const char *method, struct req *r)
{
    if (!client_is_loopback(c)) {
        reply_json(r, 403, "{\"error\":\"the /_sandbox/ endpoints answer loopback clients only\"}");
        return;
    }
    const char *p = url + strlen("/_sandbox");
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int post = strcmp(method, "POST") == 0;
    const char *allow = NULL;

    if (strcmp(p, "/health") == 0) {
        if (get) {
            reply_text(r, 200, "ok");
            return;
        }
        allow = "GET";
    } else if (strcmp(p, "/stats") == 0) {
        if (get) {
            handle_stats(r);
            return;
        }
        allow = "GET";
    } else if (strcmp(p, "/payments") == 0) {
        if (get) {
            handle_payments(r);
            return;
        }
        allow = "GET";
    } else if (strncmp(p, "/payments/", 10) == 0) {
        if (get) {
            handle_one(r, p + 10, 0);
            return;
        }
        allow = "GET";
    } else if (strncmp(p, "/requests/", 10) == 0) {
        if (get) {
            handle_one(r, p + 10, 1);
            return;
        }
        allow = "GET";
    } else if (strcmp(p, "/token-requests") == 0) {
        if (get) {
            struct sbuf b;
            sb_init(&b);
            store_token_log_json(&b);
            reply_sbuf(r, 200, &b);
            return;
        }
        allow = "GET";
    } else if (strcmp(p, "/callbacks") == 0) {
        if (get) {
            handle_callbacks(c, r);
            return;
        }
        allow = "GET";
    } else if (strcmp(p, "/recorded") == 0) {
        if (get) {
            struct sbuf b;
            sb_init(&b);
            record_json(&b);
            reply_sbuf(r, 200, &b);
            return;
        }
        allow = "GET";
    } else if (strcmp(p, "/consent") == 0) {
        if (get) {
            struct sbuf b;
            sb_init(&b);
            consent_json(&b);
            reply_sbuf(r, 200, &b);
            return;
        }
        allow = "GET";
    } else if (strcmp(p, "/recorded/reset") == 0) {
        if (post) {
            record_clear();
            reply_json(r, 200, "{\"ok\":true}");
            return;
        }
        allow = "POST";
    } else if (strcmp(p, "/balances") == 0) {
        if (get || post) {
            handle_balances(r, method);
            return;
        }
        allow = "GET, POST";
    } else if (strcmp(p, "/config") == 0) {
        if (get || post) {
            handle_config(r, method);
            return;
        }
        allow = "GET, POST";
    } else if (strcmp(p, "/keys") == 0) {
        if (get || post) {
            handle_keys(r, method);
            return;
        }
        allow = "GET, POST";
    } else if (strcmp(p, "/reset") == 0) {
        if (post) {
            config_reset();
            stats_reset();
            callbacks_clear();
            store_clear();
            store_token_log_clear();
            balance_reset();
            tokens_clear();
            users_restore_keys();
            keys_reset();
            record_clear();
            consent_clear();
            reply_json(r, 200, "{\"ok\":true}");
            return;
        }
        allow = "POST";
    } else if (strcmp(p, "/reset-stats") == 0) {
        if (post) {
            stats_reset();
            keys_reset_counts();
            reply_json(r, 200, "{\"ok\":true}");
            return;
        }
        allow = "POST";
    } else if (strcmp(p, "/expire-tokens") == 0) {
        if (post) {
            tokens_expire_all();
            reply_json(r, 200, "{\"ok\":true}");
            return;
        }
        allow = "POST";
    } else {
        reply_shared(r, ANS_404_PATH);
        return;
    }
    reply_json(r, 405, "{\"statusCode\":405,\"message\":\"Method not allowed\"}");
    reply_header(r, MHD_HTTP_HEADER_ALLOW, allow);
}
