/*-------------------------------------------------------------------------
 *
 * lifecycle.h
 *	  The payment life cycle: the statuses of momo_payments.status, and
 *	  (lifecycle.c) what each answer from MTN does to a payment and when it
 *	  is next sent or checked.
 *
 *	  The status names are written here once.  momo_payments' CHECK
 *	  constraint lists the same names (the regression test "lifecycle"
 *	  compares them), and every statement momo builds names a status through
 *	  MOMO_SQL() of these macros, never as a literal of its own.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_LIFECYCLE_H
#define MOMO_LIFECYCLE_H

#include "answers.h"

struct MomoPayment;

/* The statuses' names, as momo_payments.status spells them. */
#define MOMO_STATUS_QUEUED_NAME "queued"
#define MOMO_STATUS_PENDING_NAME "pending"
#define MOMO_STATUS_SUCCESSFUL_NAME "successful"
#define MOMO_STATUS_FAILED_NAME "failed"

/* A name as an SQL literal in a statement's text: MOMO_SQL("queued") is 'queued'. */
#define MOMO_SQL(name) "'" name "'"

/* The statuses a payment may still leave, and the final ones, as SQL lists. */
#define MOMO_SQL_OPEN_STATUSES \
	"(" MOMO_SQL(MOMO_STATUS_QUEUED_NAME) ", " MOMO_SQL(MOMO_STATUS_PENDING_NAME) ")"
#define MOMO_SQL_FINAL_STATUSES \
	"(" MOMO_SQL(MOMO_STATUS_SUCCESSFUL_NAME) ", " MOMO_SQL(MOMO_STATUS_FAILED_NAME) ")"

/* A payment's status (see lifecycle.c for how it moves). */
typedef enum MomoStatus
{
	MOMO_STATUS_QUEUED,			/* written, not yet accepted by MTN */
	MOMO_STATUS_PENDING,		/* MTN accepted it; its outcome is awaited */
	MOMO_STATUS_SUCCESSFUL,		/* final: MTN said SUCCESSFUL */
	MOMO_STATUS_FAILED,			/* final: MTN said FAILED, refused it, or it was
								 * not delivered */
	MOMO_N_STATUSES
} MomoStatus;

/* Each status's name, indexed by MomoStatus. */
extern const char *const momo_status_names[MOMO_N_STATUSES];

extern MomoStatus momo_lifecycle_status_by_name(const char *name);

/* The change of a payment's row that one answer calls for (momo_lifecycle_decide). */
typedef struct MomoRowChange
{
	MomoStatus	status;		/* its status after the answer */
	const char *reason;		/* for momo_payments.reason, or NULL */
	const char *ftid;		/* financial transaction id, or NULL */
	double		expires;		/* a pre-approval's or an invoice's expiry,
								 * seconds since the epoch; < 0: none
								 * (expires_at kept) */
	const char *invoice_id;		/* an invoice's invoiceId, or NULL (kept) */
	const char *payment_reference;	/* an invoice's paymentReference, or NULL
									 * (kept) */
	int			http_status;	/* 0 when no answer came */
	const char *error;		/* for last_error, or NULL */
	double		delay_ms;		/* < 0: keep next_check_at */
	int			checks;			/* added to status_checks */
	int			sends;			/* added to attempts: a send that may have reached MTN */
	bool		not_found;		/* MTN does not know the payment (404) */
	bool		failed;			/* a transient failure: retries grows, else resets */
	bool		keep;			/* leave the worker's schedule (retries, 404 clock) alone */
	bool		send_refused;	/* MTN refused a resend: ask before anything else */
	const char *event_operation;	/* momo_events.operation */
	const char *outcome;	/* momo_events.outcome */
} MomoRowChange;

extern void momo_lifecycle_decide(const struct MomoPayment *p, MomoOp op, const MomoAnswer *a,
								  bool reschedule, MomoRowChange *c);

/* Returns true if a payment in status s never changes again. */
static inline bool
momo_lifecycle_is_final(MomoStatus s)
{
	return s == MOMO_STATUS_SUCCESSFUL || s == MOMO_STATUS_FAILED;
}

#endif							/* MOMO_LIFECYCLE_H */
