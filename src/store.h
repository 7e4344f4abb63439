/*-------------------------------------------------------------------------
 *
 * store.h
 *	  The momo_payments table: inserting, claiming, recording answers and
 *	  reading rows, all through SPI in the caller's transaction.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_STORE_H
#define MOMO_STORE_H

#include "fmgr.h"
#include "datatype/timestamp.h"

#include "lifecycle.h"
#include "protocol.h"

/* A payment as the worker and the SQL functions handle it. */
typedef struct MomoPayment
{
	MomoPaymentTerms terms;
	MomoStatus	status;
	int			attempts;
	int			status_checks;
	int			retries;
	double		not_found_for;	/* seconds MTN has answered 404 for it; -1: it has not */
	bool		send_refused;	/* MTN refused a resend: ask, never send again */
	double		age_s;			/* seconds since it was requested */
	TransactionId xmin;
	Datum		row;			/* the whole row, when fetched */
} MomoPayment;

/* An answer to record, with the payment and operation it belongs to. */
typedef struct MomoRecord
{
	const MomoPayment *payment;
	MomoOp		op;
	const MomoAnswer *answer;
} MomoRecord;

extern char *momo_store_insert(const char *schema, Oid caller, const MomoPaymentTerms *t,
							   bool *existing);
extern bool momo_store_find_open(const char *schema, Oid caller, MomoOperation operation,
								 const char *external_id, MomoPayment *p);
extern char *momo_store_differing_terms(const MomoPaymentTerms *t, const MomoPayment *p);
extern void momo_store_refuse_different_terms(const MomoPaymentTerms *t, const MomoPayment *p,
											  const char *diff);
extern bool momo_store_fetch(const char *schema, const char *reference_id, MomoPayment *p);
extern int	momo_store_claim(const char *schema, bool send, int limit, char **products,
							 int nproducts, char **skip, int nskip, MomoPayment **out);
extern bool momo_store_record(const char *schema, const MomoPayment *p, MomoOp op,
							  const MomoAnswer *a, bool reschedule);
extern int	momo_store_record_batch(const char *schema, const MomoRecord *recs, int n,
									bool reschedule);
extern bool momo_store_caller_sees(const char *schema, Oid caller, const char *reference_id);
extern bool momo_store_lock(const char *schema, const char *reference_id);
extern bool momo_store_caller_sees_all(const char *schema, Oid caller);
extern void momo_store_log_event(const char *schema, const char *reference_id,
								 const char *product, const char *operation, int http_status,
								 const char *outcome, const char *reason, double latency_ms,
								 const char *error);
extern void momo_store_log_event_at(const char *schema, TimestampTz at, const char *reference_id,
									const char *product, const char *operation, int http_status,
									const char *outcome, const char *reason, double latency_ms,
									const char *error);
extern uint64 momo_store_purge_events(const char *schema, int limit);
extern void momo_store_warn_drop(void);
extern long momo_store_next_due_ms(const char *schema, char **skip, int nskip);
extern void momo_store_sendable(const char *schema, char **refs, int n, bool *sendable);
extern Datum momo_store_progress_key(const char *schema, const char *reference_id);
extern int	momo_store_progress(Datum key, TransactionId *xmin);
extern void momo_store_products_waiting(const char *schema, char **products, int n,
										bool *waiting);

#endif							/* MOMO_STORE_H */
