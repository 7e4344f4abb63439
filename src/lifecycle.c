/*-------------------------------------------------------------------------
 *
 * lifecycle.c
 *	  The payment life cycle: what each answer from MTN does to a payment,
 *	  and when the worker next sends it or asks about it.  store.c writes
 *	  what is decided here; answers.c decides what an answer means (its
 *	  verdict); the worker's loop (worker.c) only carries answers here.
 *
 *	   momo_request_to_pay, ...
 *	         |
 *	         v          202 or 409 (MTN holds it)
 *	      queued  --------------------------------->  pending
 *	       |  ^                                          |  ^
 *	       |  |  transient failure, 401: send again      |  |  PENDING, 404: ask again
 *	       |  |  (retry schedule); merchant refused:     |  |  (poll schedule); transient
 *	       +--+  wait, its send not counted              +--+  failure, 401: retry schedule
 *	       |                                             |
 *	       |  refused (400, ...): ask first whether an   +-- SUCCESSFUL --> successful
 *	       |  earlier send arrived; failed once MTN      |
 *	       |  has answered 404 for                       +-- FAILED -----> failed
 *	       |  momo.not_delivered_after, after the
 *	       |  refusal or after every send failed
 *	       +---------------------------------------------------------------> failed
 *
 *	  A queued payment whose sends are used up (momo.max_attempts), or
 *	  whose resend MTN refused, is asked about instead of sent, as a
 *	  pending one is; a status check can also make it successful or failed.
 *	  The final statuses (successful, failed) never change, and nothing
 *	  goes back to queued: store.c's statement touches only open payments,
 *	  and the guard trigger (guard.c) refuses both.
 *
 *	  Schedules: a send or check that failed transiently is retried after
 *	  momo.retry_base, doubling to momo.retry_max, with jitter
 *	  (retry_delay_ms); a pending payment is asked about after
 *	  momo.poll_interval_min, doubling to momo.poll_interval_max, and every
 *	  momo.long_tail_interval once older than momo.attention_after
 *	  (poll_delay_ms).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/pg_prng.h"

#include "lifecycle.h"
#include "protocol.h"
#include "settings.h"
#include "store.h"

const char *const momo_status_names[MOMO_N_STATUSES] = {
	[MOMO_STATUS_QUEUED] = MOMO_STATUS_QUEUED_NAME,
	[MOMO_STATUS_PENDING] = MOMO_STATUS_PENDING_NAME,
	[MOMO_STATUS_SUCCESSFUL] = MOMO_STATUS_SUCCESSFUL_NAME,
	[MOMO_STATUS_FAILED] = MOMO_STATUS_FAILED_NAME,
};

/* Returns the status named name; an ERROR if there is none (a can't-happen: the CHECK constraint). */
MomoStatus
momo_lifecycle_status_by_name(const char *name)
{
	for (int s = 0; s < MOMO_N_STATUSES; s++)
		if (strcmp(name, momo_status_names[s]) == 0)
			return (MomoStatus) s;
	elog(ERROR, "unknown payment status \"%s\"", name);
	return MOMO_STATUS_QUEUED;	/* keep the compiler quiet */
}

/*
 * Delay before the next status check of payment p, checked `checks` times
 * so far: doubling from momo.poll_interval_min to momo.poll_interval_max,
 * with jitter; once p is older than momo.attention_after (MTN has kept it
 * pending far longer than a payer takes to answer), the long tail:
 * momo.long_tail_interval, so that it stops spending MTN's rate budget.  It
 * is never failed for its age: MTN may still collect it.
 */
static double
poll_delay_ms(const MomoPayment *p, int checks)
{
	double		d = momo_poll_interval_min_ms * pow(2.0, Min(checks, 30));

	d = Min(d, (double) momo_poll_interval_max_ms);
	if (p->age_s >= momo_attention_after_s)
		d = Max(d, momo_long_tail_interval_s * 1000.0);
	return d * (0.9 + 0.2 * pg_prng_double(&pg_global_prng_state));
}

/* Delay before retry number `attempt` after a transient failure: exponential, with jitter. */
static double
retry_delay_ms(int attempt)
{
	double		d = momo_retry_base_ms * pow(2.0, Min(Max(attempt - 1, 0), 30));

	d = Min(d, (double) momo_retry_max_ms);
	return d * (0.5 + 0.5 * pg_prng_double(&pg_global_prng_state));
}

/* Each verdict's name in momo_events.outcome. */
static const char *const verdict_outcomes[] = {
	[MOMO_ACCEPTED] = "accepted",
	[MOMO_PENDING] = "pending",
	[MOMO_SUCCESSFUL] = "successful",
	[MOMO_FAILED] = "failed",
	[MOMO_REJECTED] = "rejected",
	[MOMO_NOT_FOUND] = "not_found",
	[MOMO_TOKEN_REFUSED] = "unauthorized",
	[MOMO_KEY_REFUSED] = "unauthorized",
	[MOMO_MERCHANT_REFUSED] = "merchant_refused",
	[MOMO_RETRY] = "retry",
};

/*
 * Decides how the answer to op changes payment p: its next status and when
 * it is next due.  With reschedule false (a status check asked for by a
 * user) only a definite answer changes the row, and the worker's schedule is
 * left alone.
 */
void
momo_lifecycle_decide(const MomoPayment *p, MomoOp op, const MomoAnswer *a, bool reschedule,
					  MomoRowChange *c)
{
	const char *reason = NULL;
	const char *ftid = NULL;
	const char *error = a->error;

	c->status = p->status;
	c->delay_ms = -1;
	c->checks = (op == MOMO_OP_STATUS && reschedule) ? 1 : 0;
	c->sends = (op == MOMO_OP_CREATE && !a->not_sent) ? 1 : 0;
	c->not_found = false;
	c->failed = false;
	c->keep = !reschedule;
	c->send_refused = false;
	switch (a->verdict)
	{
		case MOMO_ACCEPTED:
			c->status = MOMO_STATUS_PENDING;
			c->delay_ms = poll_delay_ms(p, 0);
			break;
		case MOMO_PENDING:
			c->status = MOMO_STATUS_PENDING;
			c->delay_ms = poll_delay_ms(p, p->status_checks);
			break;
		case MOMO_SUCCESSFUL:
			c->status = MOMO_STATUS_SUCCESSFUL;
			ftid = a->financial_transaction_id;
			break;
		case MOMO_REJECTED:
			if (op == MOMO_OP_CREATE)
			{
				/*
				 * A refusal of a create request is not final at once: it may
				 * answer a resend (ours, or libcurl's own after a kept-alive
				 * connection died unanswered), and an earlier send may have
				 * reached MTN and charged the payer.  MTN is asked about the
				 * payment first; the refusal is kept as the reason, and
				 * stands if MTN does not know the payment.
				 */
				c->send_refused = true;
				c->delay_ms = poll_delay_ms(p, 0);
				reason = a->reason;
				error = psprintf("%s (MTN is asked whether an earlier send arrived before this stands)",
								 a->error ? a->error : "refused");
				break;
			}
			c->status = MOMO_STATUS_FAILED;
			reason = a->reason;
			break;
		case MOMO_FAILED:
			c->status = MOMO_STATUS_FAILED;
			reason = a->reason;
			break;
		case MOMO_NOT_FOUND:
			c->not_found = true;
			if (p->status == MOMO_STATUS_QUEUED && p->send_refused && reschedule &&
				p->not_found_for >= momo_not_delivered_after_s)
			{
				/*
				 * MTN refused the request and has not known the payment for
				 * momo.not_delivered_after (far longer than the brief 404
				 * after an acceptance, which a dropped earlier send may have
				 * had): the refusal stands.
				 */
				c->status = MOMO_STATUS_FAILED;
				error = psprintf("MTN refused the request, and has not known the payment for %.0f seconds",
								 p->not_found_for);
			}
			else if (p->status == MOMO_STATUS_QUEUED && p->attempts >= momo_max_attempts && reschedule &&
					 p->not_found_for >= momo_not_delivered_after_s)
			{
				/*
				 * Every send failed, and MTN has not known the payment for
				 * momo.not_delivered_after (far longer than the brief 404
				 * after an acceptance): it was not delivered.
				 */
				c->status = MOMO_STATUS_FAILED;
				reason = "NOT_DELIVERED";
				error = psprintf("MTN has not known the payment for %.0f seconds, after %d sends",
								 p->not_found_for, p->attempts);
			}
			else
				c->delay_ms = poll_delay_ms(p, p->status_checks);
			break;
		case MOMO_MERCHANT_REFUSED:

			/*
			 * MTN refused the merchant's configuration, not this payment:
			 * it stays queued, due, its send not counted (the worker pauses
			 * sending and sends it again later, with the same reference id).
			 */
			c->sends = 0;
			break;
		case MOMO_TOKEN_REFUSED:
		case MOMO_KEY_REFUSED:
		case MOMO_RETRY:
			c->failed = true;
			c->delay_ms = retry_delay_ms(p->retries + 1);
			break;
	}
	if (!reschedule)
	{
		c->delay_ms = -1;
		c->sends = 0;
		c->not_found = false;
		c->failed = false;
		c->send_refused = false;
		if (a->verdict != MOMO_PENDING && a->verdict != MOMO_SUCCESSFUL && a->verdict != MOMO_FAILED)
			c->status = p->status;
	}
	c->reason = reason;
	c->ftid = ftid;
	/* The expiry MTN tells of a pre-approval, with its status. */
	c->expires = (p->terms.operation == MOMO_PREAPPROVAL &&
				  (c->status == MOMO_STATUS_PENDING || c->status == MOMO_STATUS_SUCCESSFUL) &&
				  (a->verdict == MOMO_PENDING || a->verdict == MOMO_SUCCESSFUL)) ? a->expires : -1;

	/*
	 * An invoice's invoiceId, paymentReference and expiry, with any status
	 * MTN tells: they come while it is pending (its payer needs them to
	 * pay), and stay with the row once final.
	 */
	c->invoice_id = NULL;
	c->payment_reference = NULL;
	if (p->terms.operation == MOMO_INVOICE &&
		(a->verdict == MOMO_PENDING || a->verdict == MOMO_SUCCESSFUL || a->verdict == MOMO_FAILED))
	{
		c->expires = a->expires;
		c->invoice_id = a->invoice_id;
		c->payment_reference = a->payment_reference;
	}
	c->error = error;
	c->http_status = a->http_status;
	c->event_operation = (op == MOMO_OP_CREATE) ? momo_operation_names[p->terms.operation] : "status";
	c->outcome = verdict_outcomes[a->verdict];
}

