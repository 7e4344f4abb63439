/*-------------------------------------------------------------------------
 *
 * events.h
 *	  The event log of the synchronous calls, kept when their caller's
 *	  transaction aborts (events.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_EVENTS_H
#define MOMO_EVENTS_H

extern void momo_events_expect_call(const char *reference_id, const char *product,
									const char *operation);
extern void momo_events_sending(void);
extern void momo_events_not_acted(void);
extern void momo_events_log_call(const char *schema, const char *reference_id, const char *product,
								 const char *operation, int http_status, const char *outcome,
								 const char *reason, double latency_ms, const char *error);
extern bool momo_events_pending(void);
extern int	momo_events_write_pending(const char *schema);

#endif							/* MOMO_EVENTS_H */
