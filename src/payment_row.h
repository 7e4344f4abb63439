/*-------------------------------------------------------------------------
 *
 * payment_row.h
 *	  The shape of a payment as store.c reads it from momo_payments: the
 *	  columns a query selects after the whole row (PAYMENT_COLUMNS), and the
 *	  position of each in its result (Anum_payment_*, as pg_cron's
 *	  cron_job.h declares its table).  A column added to PAYMENT_COLUMNS gets
 *	  its constant here, in the same order, and Natts_payment grows by one.
 *	  The last columns, the API version, the extra terms, the callback URL
 *	  and the party id type, are not in PAYMENT_COLUMNS: a schema of 1.0 has
 *	  none of them (store.c, version_column, puts them after them).
 *
 *	  Columns momo writes from MTN's answers but never reads back, and so
 *	  not read here (store.c's record statement, only in a schema of 1.1):
 *	  expires_at (a pre-approval's or an invoice's expiry), invoice_id and
 *	  payment_reference (an invoice's invoiceId and paymentReference, at
 *	  most MOMO_MAX_INVOICE_REF_LEN bytes, answers.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_PAYMENT_ROW_H
#define MOMO_PAYMENT_ROW_H

/* Columns read for a payment, in this order, after the whole row. */
#define PAYMENT_COLUMNS \
	"p.reference_id::text, p.amount::text, p.currency, p.msisdn, p.external_id, " \
	"p.payer_message, p.payee_note, p.status, p.attempts, p.status_checks, p.xmin, p.retries, " \
	"p.operation, p.product, p.refund_of::text, " \
	"EXTRACT(EPOCH FROM pg_catalog.now() - p.not_found_since)::float8, p.send_refused, " \
	"EXTRACT(EPOCH FROM pg_catalog.now() - p.created_at)::float8"

/* Positions in the result of "SELECT p, " PAYMENT_COLUMNS (or NULL for p). */
#define Anum_payment_row			1	/* the whole row, p */
#define Anum_payment_reference_id	2
#define Anum_payment_amount			3
#define Anum_payment_currency		4
#define Anum_payment_msisdn			5
#define Anum_payment_external_id	6
#define Anum_payment_payer_message	7
#define Anum_payment_payee_note		8
#define Anum_payment_status			9
#define Anum_payment_attempts		10
#define Anum_payment_status_checks	11
#define Anum_payment_xmin			12
#define Anum_payment_retries		13
#define Anum_payment_operation		14
#define Anum_payment_product		15
#define Anum_payment_refund_of		16
#define Anum_payment_not_found_for	17	/* seconds since not_found_since, or NULL */
#define Anum_payment_send_refused	18
#define Anum_payment_age			19	/* seconds since created_at */
#define Anum_payment_api_version	20	/* smallint: 1 or 2 */
#define Anum_payment_extra_terms	21	/* jsonb as text, or NULL */
#define Anum_payment_callback_url	22	/* text, or NULL */
#define Anum_payment_party_id_type	23	/* msisdn, email or party_code */

#define Natts_payment				23

#endif							/* MOMO_PAYMENT_ROW_H */
