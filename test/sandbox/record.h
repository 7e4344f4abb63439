/*
 * record.h - the requests the sandbox received on the MTN API paths, kept
 * (the last RECORD_MAX) for contract tests: method, path, the headers with
 * their secrets masked, and the body; served by GET /_sandbox/recorded.
 */
#ifndef MOMO_SANDBOX_RECORD_H
#define MOMO_SANDBOX_RECORD_H

#include <stddef.h>
#include <microhttpd.h>

#include "json.h"

#define RECORD_MAX 10000            /* requests kept; older ones are dropped */
#define RECORD_BODY_MAX (64 * 1024) /* body bytes kept per request */

/* Record one request (called once its whole body has arrived; body may be NULL). */
void record_request(struct MHD_Connection *c, const char *method, const char *url,
                    const char *body, size_t body_len, int too_big);
/* Append {"received":n,"dropped":n,"requests":[...]} (oldest first). */
void record_json(struct sbuf *b);
/* Forget every recorded request and zero the counts. */
void record_clear(void);

#endif
