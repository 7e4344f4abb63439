/*
 * callbacks.h - the callbacks MTN sends when a transaction becomes final: an
 * outbox that tests read (/_sandbox/callbacks), a timer that records the
 * callbacks of transactions that become final later, and an optional delivery
 * thread that sends them with libcurl (one try, like MTN).
 */
#ifndef MOMO_SANDBOX_CALLBACKS_H
#define MOMO_SANDBOX_CALLBACKS_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

/* Start the timer and delivery threads; cacert (may be NULL) verifies TLS peers. 0 ok. */
int callbacks_start(const char *cacert);
/* Stop the threads (a delivery in progress is abandoned) and free everything. */
void callbacks_stop(void);
/* Empty the outbox, the schedule and the deliveries not yet started. */
void callbacks_clear(void);

/* Append a callback to the outbox now, taking over body (malloc'd); queue it for
   delivery when deliver is set. method: "POST" (v1_0 operations) or "PUT" (v2_0). */
void callback_record(const char *ref, int product, int op, const char *url, const char *method,
                     char *body, int copy, int early, int deliver);
/* Record the callback of transaction ref (whose payment has serial seq) at due_ms
   (monotonic); then callback_fire is called from the timer thread. */
void callback_schedule(const char *ref, uint64_t seq, int64_t due_ms, int copy, int early);
/* Implemented by mtn.c: build and record the callback of ref if it still is payment seq. */
void callback_fire(const char *ref, uint64_t seq, int copy, int early);

/* Append the outbox as a JSON array, in recording order (only ref's when ref is not NULL). */
void callbacks_json(struct sbuf *b, const char *ref);
/* Gauges: entries in the outbox, callbacks waiting for their time, deliveries queued. */
size_t callbacks_outbox_len(void);
size_t callbacks_scheduled(void);
size_t callbacks_queued(void);

#endif
