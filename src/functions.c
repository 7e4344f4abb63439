/*-------------------------------------------------------------------------
 *
 * functions.c
 *	  The SQL-callable functions of payments: momo_request_to_pay,
 *	  momo_transfer, momo_deposit, momo_remittance_transfer, momo_refund,
 *	  momo_request_to_withdraw, momo_cash_transfer, momo_create_invoice,
 *	  momo_create_payment and momo_preapproval queue a payment (sent by the
 *	  worker after commit), momo_payment_status asks MTN now,
 *	  momo_cancel_invoice asks MTN to cancel an invoice, and momo_await
 *	  sleeps until a payment is final.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "storage/condition_variable.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "api.h"
#include "events.h"
#include "calls.h"
#include "lifecycle.h"
#include "launcher.h"
#include "momo.h"
#include "owner.h"
#include "settings.h"
#include "spi_util.h"
#include "store.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(momo_request_to_pay);
PG_FUNCTION_INFO_V1(momo_transfer);
PG_FUNCTION_INFO_V1(momo_deposit);
PG_FUNCTION_INFO_V1(momo_remittance_transfer);
PG_FUNCTION_INFO_V1(momo_refund);
PG_FUNCTION_INFO_V1(momo_request_to_withdraw);
PG_FUNCTION_INFO_V1(momo_cash_transfer);
PG_FUNCTION_INFO_V1(momo_create_invoice);
PG_FUNCTION_INFO_V1(momo_create_payment);
PG_FUNCTION_INFO_V1(momo_cancel_invoice);
PG_FUNCTION_INFO_V1(momo_preapproval);
PG_FUNCTION_INFO_V1(momo_payment_status);
PG_FUNCTION_INFO_V1(momo_await);

/* Refuses to queue payments in a database that momo does not serve. */
static void
require_worker_database(void)
{
	char	   *why;
	char	   *hint;

	if (!momo_launcher_serves(&why, &hint))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s", why),
				 errdetail("A payment queued here would never be sent."),
				 errhint("%s", hint)));
}

/* Returns the uuid argument argno as text, raising an ERROR naming it if NULL. */
static char *
reference_arg(FunctionCallInfo fcinfo, int argno)
{
	momo_validate_require_arg(fcinfo, argno, "reference_id");
	return DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(argno)));
}

/* Raises the ERROR for a reference id that names no payment. */
static void
raise_no_payment(const char *ref)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("no payment has reference_id %s", ref),
			 errhint("Reference ids are returned by momo_request_to_pay and stored in momo_payments.")));
}

/*
 * Writes a queued payment in the calling function's schema and wakes the
 * worker at commit; returns its reference id.  If the caller already has a
 * payment of the same operation with the same external_id that has not
 * failed, that one's reference id is returned instead (see
 * momo_store_insert: an application's retry never charges twice).
 */
static Datum
queue_payment(FunctionCallInfo fcinfo, MomoPaymentTerms *terms)
{
	MomoActing a;
	char	   *ref;
	bool		existing;

	require_worker_database();
	momo_validate_utf8_terms(terms);
	terms->reference_id = momo_protocol_new_uuid();
	if (terms->external_id == NULL)
		terms->external_id = terms->reference_id;

	momo_owner_enter(fcinfo, &a);
	ref = momo_store_insert(a.schema, a.caller, terms, &existing);
	momo_owner_leave(&a);

	if (!existing)
		momo_wake_worker_at_commit();
	return DirectFunctionCall1(uuid_in, CStringGetDatum(ref));
}

/*
 * Checks everything about a payment with the arguments (amount, currency,
 * msisdn, external_id, payer_message, payee_note, the API version at
 * version_argno unless it is negative, and the party's id type and the
 * callback URL after them) and queues it.
 */
static Datum
request_payment(FunctionCallInfo fcinfo, MomoOperation operation, int version_argno)
{
	MomoConfig	cfg;
	MomoPaymentTerms terms;

	momo_require_preload();
	momo_settings_require(&cfg, momo_protocol_operation_product(operation));
	momo_validate_payment(fcinfo, &cfg, &terms, version_argno,
						  version_argno >= 0 ? version_argno + 1 : 6,
						  version_argno >= 0 ? version_argno + 2 : 7);
	terms.operation = operation;
	return queue_payment(fcinfo, &terms);
}

/* A function that checks an operation's arguments and fills in its terms. */
typedef void (*MomoValidateFn) (FunctionCallInfo fcinfo, const MomoConfig *cfg,
								MomoPaymentTerms *terms);

/*
 * Checks the arguments of an operation with arguments of its own (validate
 * knows them) and queues it.
 */
static Datum
request_operation(FunctionCallInfo fcinfo, MomoOperation operation, MomoValidateFn validate)
{
	MomoConfig	cfg;
	MomoPaymentTerms terms;

	momo_require_preload();
	momo_settings_require(&cfg, momo_protocol_operation_product(operation));
	validate(fcinfo, &cfg, &terms);
	terms.operation = operation;
	return queue_payment(fcinfo, &terms);
}

/*
 * momo_request_to_pay(amount, currency, msisdn, external_id, payer_message,
 * payee_note, id_type, callback_url): checks everything, writes a queued
 * payment and returns its reference id.  The payer msisdn is a number, an
 * email or a party code, as id_type says.  The worker is woken when the
 * transaction commits.
 */
Datum
momo_request_to_pay(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(request_payment(fcinfo, MOMO_REQUEST_TO_PAY, -1));
}

/* momo_transfer(...): like momo_request_to_pay, paying msisdn out of the disbursement account. */
Datum
momo_transfer(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(request_payment(fcinfo, MOMO_TRANSFER, -1));
}

/*
 * momo_deposit(..., version): like momo_transfer, as a disbursement
 * deposit, POSTed to MTN's /v1_0 or /v2_0 (version, kept with the payment).
 */
Datum
momo_deposit(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(request_payment(fcinfo, MOMO_DEPOSIT, 6));
}

/* momo_remittance_transfer(...): like momo_transfer, from the remittance account. */
Datum
momo_remittance_transfer(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(request_payment(fcinfo, MOMO_REMITTANCE_TRANSFER, -1));
}

/*
 * momo_request_to_withdraw(amount, currency, msisdn, external_id,
 * payer_message, payee_note, version, id_type, callback_url): like
 * momo_request_to_pay, a withdrawal (cash-out) the payer msisdn authorizes,
 * POSTed to MTN's /v1_0 or /v2_0 (version, kept with the payment for every
 * resend).
 */
Datum
momo_request_to_withdraw(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(request_payment(fcinfo, MOMO_REQUEST_TO_WITHDRAW, 6));
}

/*
 * momo_cash_transfer(amount, currency, msisdn, external_id, payer_message,
 * payee_note, originating_country, original_amount, original_currency,
 * payer_identification_type, payer_identification_number, payer_identity,
 * payer_first_name, payer_surname, payer_language_code, payer_email,
 * payer_msisdn, payer_gender, id_type, callback_url): a remittance cash
 * transfer to msisdn (of id_type), POSTed to MTN's /v2_0/cashtransfer (it
 * has no version 1) with the originating side, which the row keeps in
 * extra_terms.
 */
Datum
momo_cash_transfer(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(request_operation(fcinfo, MOMO_CASH_TRANSFER, momo_validate_cash_transfer));
}

/*
 * momo_create_invoice(amount, currency, msisdn, external_id,
 * validity_duration, description, payee_msisdn, id_type, callback_url):
 * Collection's invoice (MTN's CreateInvoice, /v2_0/invoice, which has no
 * version 1) for the intended payer msisdn (of id_type), to be paid later
 * through any channel; followed at /v2_0/invoice/{ref} until paid, failed
 * or cancelled.  Its further members are kept in extra_terms.
 */
Datum
momo_create_invoice(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(request_operation(fcinfo, MOMO_INVOICE, momo_validate_invoice));
}

/*
 * momo_create_payment(amount, currency, customer_reference,
 * service_provider_user_name, external_id, coupon_id, product_id,
 * product_offering_id, receiver_message, sender_note,
 * max_number_of_retries, include_sender_charges, callback_url): Collection's
 * payment to a service provider (MTN's CreatePayments, /v2_0/payment: a
 * bill, air time) for customer_reference, kept in the row's msisdn;
 * followed at /v2_0/payment/{ref}.
 */
Datum
momo_create_payment(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(request_operation(fcinfo, MOMO_PAYMENT, momo_validate_create_payment));
}

/*
 * momo_preapproval(msisdn, currency, payer_message, validity, external_id,
 * id_type, callback_url): a pre-approval the payer (an msisdn, email or
 * party code) is asked for, POSTed to MTN's /v2_0/preapproval (it has no
 * version 1) and followed at /v2_0/preapproval/{referenceId} like a
 * payment; it has no amount.
 */
Datum
momo_preapproval(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(request_operation(fcinfo, MOMO_PREAPPROVAL, momo_validate_preapproval));
}

/*
 * momo_refund(reference_id, amount, external_id, payer_message, payee_note,
 * version, callback_url): queues a refund, POSTed to MTN's /v1_0 or /v2_0
 * (version), of a successful request to pay to its payer (named as that
 * payment named it: its msisdn and party id type), of amount or (NULL) of
 * all that is left; never more than was collected, counting
 * earlier refunds that did not fail.  The original row is locked first and
 * the earlier refunds counted after, with a fresh snapshot (so READ
 * COMMITTED only), so concurrent refunds cannot together exceed it.
 */
Datum
momo_refund(PG_FUNCTION_ARGS)
{
	char	   *ref = reference_arg(fcinfo, 0);
	MomoConfig	cfg;
	MomoPaymentTerms terms;
	MomoActing a;
	char	   *schema;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	int			rc;
	HeapTuple	tup;
	TupleDesc	desc;
	char	   *status;
	char	   *operation;
	Datum		collected;
	Datum		refunded;
	Datum		left;
	bool		isnull;
	MemoryContext upper;

	momo_require_preload();
	momo_settings_require(&cfg, MOMO_DISBURSEMENT);
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("momo_refund cannot see concurrent refunds at isolation level %s",
						XactIsoLevel == XACT_SERIALIZABLE ? "SERIALIZABLE" : "REPEATABLE READ"),
				 errhint("Call momo_refund in a READ COMMITTED transaction.")));
	upper = CurrentMemoryContext;
	momo_owner_enter(fcinfo, &a);
	schema = a.schema;
	/* A caller who may not see the payment learns nothing about it. */
	if (!momo_store_caller_sees(schema, a.caller, ref))
		raise_no_payment(ref);
	values[0] = CStringGetTextDatum(ref);
	/* First lock the payment, so that refunds of it queue up behind each other ... */
	if (!momo_store_lock(schema, ref))
		raise_no_payment(ref);
	/* ... then, with a new snapshot, see every refund committed before ours. */
#define Anum_refunded_status	1
#define Anum_refunded_operation 2
#define Anum_refunded_amount	3
#define Anum_refunded_currency	4
#define Anum_refunded_msisdn	5
#define Anum_refunded_refunds	6	/* the sum of the refunds that did not fail */
#define Anum_refunded_id_type	7	/* party_id_type, msisdn in a schema of 1.0 */
	/* (momo_refund of a schema of 1.0 has five arguments, its table no party_id_type) */
	rc = SPI_execute_with_args(psprintf("SELECT p.status, p.operation, p.amount, p.currency, p.msisdn,"
										" (SELECT coalesce(sum(r.amount), 0) FROM %s.momo_payments r"
										"   WHERE r.refund_of = p.reference_id AND r.status <> " MOMO_SQL(MOMO_STATUS_FAILED_NAME) "),"
										" %s"
										" FROM %s.momo_payments p WHERE p.reference_id = $1::uuid",
										schema, PG_NARGS() > 6 ? "p.party_id_type" : "'msisdn'::text", schema),
							   1, types, values, NULL, false, 1);
	momo_spi_check(rc, SPI_OK_SELECT, "reading the payment to refund");
	if (SPI_processed == 0)
		raise_no_payment(ref);

	/*
	 * SPI_execute left CurrentMemoryContext in SPI's procedure context, which
	 * SPI_finish frees: what is read from here on, and everything the checks
	 * below allocate, goes to the caller's context.
	 */
	MemoryContextSwitchTo(upper);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	status = SPI_getvalue(tup, desc, Anum_refunded_status);
	operation = SPI_getvalue(tup, desc, Anum_refunded_operation);
	if (strcmp(operation, momo_operation_names[MOMO_REQUEST_TO_PAY]) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("payment %s is not a request to pay (its operation is %s); only a request to pay can be refunded", ref, operation)));
	if (momo_lifecycle_status_by_name(status) != MOMO_STATUS_SUCCESSFUL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("payment %s is %s; only a successful payment can be refunded", ref, status)));
	collected = SPI_datumTransfer(SPI_getbinval(tup, desc, Anum_refunded_amount, &isnull), false, -1);
	refunded = SPI_datumTransfer(SPI_getbinval(tup, desc, Anum_refunded_refunds, &isnull), false, -1);
	left = DirectFunctionCall2(numeric_sub, collected, refunded);

	memset(&terms, 0, sizeof(terms));
	terms.currency = SPI_getvalue(tup, desc, Anum_refunded_currency);
	momo_validate_refund(fcinfo, &cfg, terms.currency, &terms);
	terms.operation = MOMO_REFUND;
	terms.refund_of = ref;
	terms.msisdn = SPI_getvalue(tup, desc, Anum_refunded_msisdn);
	terms.party_id_type = momo_protocol_id_type_by_name(SPI_getvalue(tup, desc, Anum_refunded_id_type));

	/*
	 * A retry of a refund (same external_id, not failed) gets that refund
	 * back, before the earlier one is counted against what is left.
	 */
	if (terms.external_id)
	{
		MomoPayment earlier;
		char	   *diff;

		if (momo_store_find_open(schema, a.caller, MOMO_REFUND, terms.external_id, &earlier))
		{
			MemoryContextSwitchTo(upper);
			diff = momo_store_differing_terms(&terms, &earlier);
			if (diff)
				momo_store_refuse_different_terms(&terms, &earlier, diff);
			momo_owner_leave(&a);
			PG_RETURN_DATUM(DirectFunctionCall1(uuid_in, CStringGetDatum(earlier.terms.reference_id)));
		}
		MemoryContextSwitchTo(upper);
	}
	if (DatumGetBool(DirectFunctionCall2(numeric_le, left, DirectFunctionCall1(int4_numeric, Int32GetDatum(0)))))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("payment %s is already refunded in full", ref)));
	if (terms.amount == NULL)
		terms.amount = DatumGetCString(DirectFunctionCall1(numeric_out, left));
	else if (DatumGetBool(DirectFunctionCall2(numeric_gt,
											  DirectFunctionCall3(numeric_in, CStringGetDatum(terms.amount),
																  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)),
											  left)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("amount %s exceeds what is left to refund of payment %s: %s",
						terms.amount, ref, DatumGetCString(DirectFunctionCall1(numeric_out, left))),
				 errdetail("%s %s was collected; %s %s is refunded or being refunded.",
						   DatumGetCString(DirectFunctionCall1(numeric_out, collected)), terms.currency,
						   DatumGetCString(DirectFunctionCall1(numeric_out, refunded)), terms.currency),
				 momo_validate_column("amount")));
	momo_owner_leave(&a);
	PG_RETURN_DATUM(queue_payment(fcinfo, &terms));
}

/* Exchange callback of momo_payment_status: records the answer, keeping the worker's schedule. */
static void
record_status_answer(MomoCall *call, MomoAnswer *answer, void *arg)
{
	MomoPayment *p = (MomoPayment *) call->context;
	const char *schema = (const char *) arg;

	if (momo_store_record(schema, p, MOMO_OP_STATUS, answer, false))
		momo_announce_final_at_commit();
	if (answer->verdict != MOMO_PENDING && answer->verdict != MOMO_SUCCESSFUL &&
		answer->verdict != MOMO_FAILED)
		ereport(NOTICE,
				(errcode(ERRCODE_WARNING),
				 errmsg("MTN gave no status for payment %s", p->terms.reference_id),
				 errdetail("%s", answer->error ? answer->error : "no detail")));
}

/*
 * Asks MTN for the status of payment p (an open one that was sent) now, in
 * the caller's schema, and records the answer; returns false, after a
 * NOTICE, when momo.status_checks_per_second is used up.
 */
static bool
check_now(char *schema, MomoPayment *p)
{
	MomoConfig	cfg;
	MomoCall	call;
	MomoTokenResult r;
	char	   *error = NULL;

	/* Each product's payments are asked about with that product's credentials. */
	momo_settings_require(&cfg, momo_protocol_operation_product(p->terms.operation));
	momo_api_require_read_write();
	/*
	 * MTN counts every status check: this one too comes out of the shared
	 * budget, waiting for it a second at most.
	 */
	if (!momo_wait_status_check())
	{
		ereport(NOTICE,
				(errcode(ERRCODE_WARNING),
				 errmsg("payment %s was not asked about: momo.status_checks_per_second is used up",
						p->terms.reference_id),
				 errdetail("MTN limits status checks; the row is returned as recorded, and the worker asks in its turn."),
				 errhint("Try again in a second, or wait for the payment with momo_await.")));
		return false;
	}
	memset(&call, 0, sizeof(call));
	call.op = MOMO_OP_STATUS;
	call.terms = &p->terms;
	call.context = p;
	r = momo_api_exchange(momo_http_client(), &cfg, &call, 1, 1, record_status_answer, schema, &error);
	if (r != MOMO_TOKEN_OK)
		momo_api_raise_token_error(&cfg, r, error);
	return true;
}

/*
 * momo_payment_status(reference_id): asks MTN for the payment's status now,
 * records the answer and returns the row.  A final payment, or one not sent
 * yet, is returned as it is.  Only a caller who may SELECT the row (its
 * privileges and row-level security decide) is told about it.
 */
Datum
momo_payment_status(PG_FUNCTION_ARGS)
{
	char	   *ref = reference_arg(fcinfo, 0);
	MomoActing a;
	MomoPayment p;

	momo_require_preload();
	momo_owner_enter(fcinfo, &a);
	if (!momo_store_caller_sees(a.schema, a.caller, ref) || !momo_store_fetch(a.schema, ref, &p))
		raise_no_payment(ref);
	if (momo_lifecycle_is_final(p.status) || (p.status == MOMO_STATUS_QUEUED && p.attempts == 0))
	{
		momo_owner_leave(&a);
		PG_RETURN_DATUM(p.row);
	}

	if (!check_now(a.schema, &p))
	{
		momo_owner_leave(&a);
		PG_RETURN_DATUM(p.row);
	}
	if (!momo_store_fetch(a.schema, ref, &p))
		raise_no_payment(ref);
	momo_owner_leave(&a);
	PG_RETURN_DATUM(p.row);
}

/* Returns true if invoice p is final as cancelled (MTN's TRANSACTION_CANCELED). */
static bool
invoice_cancelled(const MomoPayment *p)
{
	bool		isnull;
	Datum		reason;

	if (p->status != MOMO_STATUS_FAILED)
		return false;
	reason = GetAttributeByName(DatumGetHeapTupleHeader(p->row), "reason", &isnull);
	return !isnull && strcmp(TextDatumGetCString(reason), "TRANSACTION_CANCELED") == 0;
}

/* Raises the ERROR for an invoice that cannot be cancelled: it is final otherwise. */
static void
raise_invoice_final(const char *ref, const MomoPayment *p, const char *hint)
{
	bool		isnull;
	Datum		reason = GetAttributeByName(DatumGetHeapTupleHeader(p->row), "reason", &isnull);

	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("invoice %s is already %s; only a pending invoice can be cancelled",
					ref, momo_status_names[p->status]),
			 isnull ? 0 : errdetail("MTN's reason: %s.", TextDatumGetCString(reason)),
			 errhint("%s", hint)));
}

/*
 * momo_cancel_invoice(reference_id): asks MTN to cancel a pending invoice
 * (MTN's CancelInvoice: DELETE /v2_0/invoice/{ref}, with an X-Reference-Id
 * of its own and the invoice's externalId), logs the exchange in
 * momo_events, then asks about the invoice at once, so that MTN's final
 * answer (FAILED, TRANSACTION_CANCELED) is recorded, and returns its row.
 * Only a caller who may SELECT the invoice's row may cancel it; nothing
 * moves money, so it is sent now, not by the worker after commit: a
 * rollback does not undo it (the worker records the outcome then).  An
 * invoice already cancelled is returned as it is, so a repeated
 * cancellation (an application's retry) succeeds.
 */
Datum
momo_cancel_invoice(PG_FUNCTION_ARGS)
{
	char	   *ref = reference_arg(fcinfo, 0);
	MomoActing a;
	MomoPayment p;
	MomoConfig	cfg;
	MomoHttpRequest *req;
	StringInfoData body;
	const char *headers[3];
	bool		ok;

	momo_require_preload();
	momo_settings_require(&cfg, MOMO_COLLECTION);
	momo_owner_enter(fcinfo, &a);
	/* A caller who may not see the invoice learns nothing about it. */
	if (!momo_store_caller_sees(a.schema, a.caller, ref) || !momo_store_fetch(a.schema, ref, &p))
		raise_no_payment(ref);
	if (p.terms.operation != MOMO_INVOICE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("payment %s is a %s; only an invoice can be cancelled", ref,
						momo_operation_names[p.terms.operation]),
				 momo_validate_column("reference_id")));
	/*
	 * Locked, so that two cancellations at once do not both ask MTN: the
	 * second waits for the first's transaction and sees its outcome.
	 */
	if (!momo_store_lock(a.schema, ref) || !momo_store_fetch(a.schema, ref, &p))
		raise_no_payment(ref);
	if (p.status == MOMO_STATUS_QUEUED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("invoice %s has not been accepted by MTN yet", ref),
				 errhint("The worker sends it after the transaction that requested it commits; nothing was sent.")));
	/* Cancelling a cancelled invoice changes nothing: it is returned as it is. */
	if (invoice_cancelled(&p))
	{
		momo_owner_leave(&a);
		PG_RETURN_DATUM(p.row);
	}
	if (momo_lifecycle_is_final(p.status))
		raise_invoice_final(ref, &p, "Nothing was sent.");

	initStringInfo(&body);
	appendStringInfoString(&body, "{\"externalId\":");
	escape_json(&body, pg_server_to_any(p.terms.external_id, strlen(p.terms.external_id), PG_UTF8));
	appendStringInfoChar(&body, '}');
	/* The cancellation is a request of its own, with a reference id of its own. */
	headers[0] = "X-Reference-Id";
	headers[1] = momo_protocol_new_uuid();
	headers[2] = NULL;
	momo_events_expect_call(ref, momo_product_names[cfg.product], "cancel_invoice");
	req = momo_api_call_method(momo_http_client(), &cfg, "DELETE",
							   psprintf("v2_0/invoice/%s", ref), body.data, headers);
	ok = req->status >= 200 && req->status < 300;
	momo_events_log_call(a.schema, ref, momo_product_names[cfg.product], "cancel_invoice",
						 (int) req->status, ok ? "ok" : (req->status == 0 ? "retry" : "error"),
						 NULL, req->elapsed * 1000.0,
						 req->status == 0 ? momo_http_describe_failure(req) : NULL);
	if (!ok)
	{
		/*
		 * MTN refuses to cancel an invoice that is not open any more, as
		 * after a cancellation whose transaction rolled back (MTN was told,
		 * the row was not): asked about now, one MTN has cancelled is
		 * recorded and returned, so that repeating a cancellation is
		 * harmless, and one paid or expired meanwhile is named.
		 */
		if (req->status >= 400 && req->status != 401 && req->status != 429 &&
			check_now(a.schema, &p) && momo_store_fetch(a.schema, ref, &p))
		{
			if (invoice_cancelled(&p))
			{
				momo_owner_leave(&a);
				PG_RETURN_DATUM(p.row);
			}
			if (momo_lifecycle_is_final(p.status))
				raise_invoice_final(ref, &p, "MTN refused the cancellation.");
		}
		momo_calls_raise_failure(&cfg, "the cancellation of the invoice", req);
	}

	/* MTN's answer about the invoice now, recorded; the worker's otherwise. */
	if (check_now(a.schema, &p) && !momo_store_fetch(a.schema, ref, &p))
		raise_no_payment(ref);
	momo_owner_leave(&a);
	PG_RETURN_DATUM(p.row);
}

/* Converts an interval to milliseconds, raising an ERROR if it is negative. */
static int64
interval_ms(Interval *iv)
{
	int64		ms = iv->time / 1000 +
		((int64) iv->day + (int64) iv->month * DAYS_PER_MONTH) * SECS_PER_DAY * 1000;

	if (ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must not be negative"),
				 momo_validate_column("timeout")));
	return ms;
}

/* How often momo_await looks whether the standby of momo.wait_for_standby caught up. */
#define STANDBY_NAP_MS 10

/*
 * momo_await(reference_id, timeout): waits, without polling MTN or the table
 * in a busy loop, until the payment is final or the timeout passes; returns
 * the row.  The worker wakes waiters when it records a final status.  With
 * momo.wait_for_standby, a final status is returned only once that standby
 * has it; when the timeout passes before, an ERROR says so (the row would
 * tell of a status that a failover could still lose).
 */
Datum
momo_await(PG_FUNCTION_ARGS)
{
	char	   *ref = reference_arg(fcinfo, 0);
	MomoActing a;
	instr_time	started;
	MomoPayment p;
	int64		timeout;
	bool		named = (momo_wait_for_standby != NULL && momo_wait_for_standby[0] != '\0');
	XLogRecPtr	final_lsn = InvalidXLogRecPtr;
	Datum		key;

	momo_require_preload();
	momo_validate_require_arg(fcinfo, 1, "timeout");
	timeout = interval_ms(PG_GETARG_INTERVAL_P(1));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("momo_await cannot see the worker's updates at isolation level %s",
						XactIsoLevel == XACT_SERIALIZABLE ? "SERIALIZABLE" : "REPEATABLE READ"),
				 errhint("Call momo_await in a READ COMMITTED transaction.")));
	/* Timeouts beyond about 24 days wait about 24 days; the clock is monotonic. */
	timeout = Min(timeout, PG_INT32_MAX);
	INSTR_TIME_SET_CURRENT(started);

	momo_owner_enter(fcinfo, &a);
	if (!momo_store_caller_sees(a.schema, a.caller, ref))
		raise_no_payment(ref);

	/* Built once: the loop allocates nothing (see momo_store_progress_key). */
	key = momo_store_progress_key(a.schema, ref);
	ConditionVariablePrepareToSleep(&momo_shared->finished_cv);
	for (;;)
	{
		TransactionId xmin = InvalidTransactionId;
		int			progress;
		instr_time	now;
		int64		remaining;

		/* Only the status, at each wake-up; the whole row once, at the end. */
		progress = momo_store_progress(key, &xmin);
		if (progress < 0)
			raise_no_payment(ref);
		if (progress > 0 && !named)
			break;
		if (progress > 0)
		{
			bool		connected;

			/*
			 * With momo.wait_for_standby, a final status is returned once
			 * that standby has flushed WAL up to the insert position read
			 * when the row was first seen final: past the commit that made
			 * it so, which preceded that read.
			 */
			if (XLogRecPtrIsInvalid(final_lsn))
				final_lsn = GetXLogInsertRecPtr();
			if (momo_named_standby_has(final_lsn, &connected))
				break;
		}
		if (TransactionIdIsCurrentTransactionId(xmin))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("momo_await cannot wait for payment %s: it was requested in this transaction", ref),
					 errdetail("Nothing is sent before the transaction that requested the payment commits."),
					 errhint("Commit first, then call momo_await.")));
		INSTR_TIME_SET_CURRENT(now);
		INSTR_TIME_SUBTRACT(now, started);
		remaining = timeout - (int64) INSTR_TIME_GET_MILLISEC(now);
		if (remaining <= 0 && !XLogRecPtrIsInvalid(final_lsn))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("payment %s is final, but standby \"%s\" (momo.wait_for_standby) has not flushed it yet",
							ref, momo_wait_for_standby),
					 errdetail("momo_await returns a final status only once a failover to that standby would keep it."),
					 errhint("Call momo_await again; pg_stat_replication shows how far the standby is.")));
		if (remaining <= 0)
			break;

		/*
		 * Woken by the worker; the one-second cap covers finishes announced
		 * elsewhere.  The walsenders wake no one: while the standby is
		 * waited for, look again every STANDBY_NAP_MS.
		 */
		ConditionVariableTimedSleep(&momo_shared->finished_cv,
									(long) Min(remaining, XLogRecPtrIsInvalid(final_lsn) ? 1000 : STANDBY_NAP_MS),
									momo_wait_event(MOMO_WAIT_AWAIT));
	}
	ConditionVariableCancelSleep();

	if (!momo_store_fetch(a.schema, ref, &p))
		raise_no_payment(ref);
	momo_owner_leave(&a);
	PG_RETURN_DATUM(p.row);
}
