/*
 * park.h - holds suspended MHD connections: delayed answers are resumed when
 * their time comes, hung ones when their client goes away (or at shutdown).
 */
#ifndef MOMO_SANDBOX_PARK_H
#define MOMO_SANDBOX_PARK_H

#include <stdint.h>
#include <microhttpd.h>

/* Start the parking thread; 0 on success. */
int park_start(void);
/* Resume every parked connection with *gone = 1 and stop the thread. */
void park_stop(void);
/* Suspend c (call from the access handler) until due_ms (monotonic), or, when
   due_ms is 0, until its client closes the connection; *gone is set to 1 before
   resuming when the connection should be closed rather than answered.
   Returns 0 when parked, -1 when parking is not possible (shutting down, OOM). */
int park(struct MHD_Connection *c, int64_t due_ms, volatile int *gone);
/* Number of connections currently hung (parked without a due time). */
unsigned long park_hung(void);

#endif
