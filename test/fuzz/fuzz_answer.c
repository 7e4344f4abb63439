/*-------------------------------------------------------------------------
 *
 * fuzz_answer.c
 *	  libFuzzer target: momo_answers_classify (src/answers.c), the verdict on
 *	  an answer from MTN.  The first two input bytes choose the operation
 *	  (request to pay or status check) and the HTTP status (0, 200, 202, 400,
 *	  401, 404, 409, 429, 500, 503 or any other 100..611; see
 *	  fuzz_take_header); the rest is the body.  The verdict is checked
 *	  against what the body says (fuzz_support.c's reference reading):
 *	  a payment is never successful without the status SUCCESSFUL, never
 *	  failed on a transient error, every verdict is one the status allows,
 *	  sending pauses only for a refusal of the merchant's configuration,
 *	  an invoice's invoiceId and paymentReference are kept exactly as the
 *	  body says them (or not at all), and every text momo stores is valid
 *	  UTF-8.
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_support.h"

/* Keys momo reads from answers; a body repeating one may be taken as unreadable. */
static const char *const answer_keys[] = {
	"status", "reason", "reason.code", "financialTransactionId", "errorReason",
	"errorReason.code", "expirationDateTime", "expiryDateTime", "invoiceId",
	"paymentReference", "code", "message"
};

/*
 * The reason a FAILED status answer carries, read as the body says: reason
 * as a string (the live API) or reason.code (the published definition),
 * else an invoice's errorReason, as a string or errorReason.code; an empty
 * string is no reason.
 */
static const char *
expected_reason(void)
{
	static const char *const paths[] = {
		"reason", "reason.code", "errorReason", "errorReason.code"
	};

	for (size_t i = 0; i < lengthof(paths); i++)
	{
		RefValue	v = ref_get(paths[i]);

		if (v.kind == REF_STRING && v.text[0] != '\0')
			return v.text;
	}
	return "UNKNOWN";
}

/*
 * An invoice's invoiceId or paymentReference as the body says it, as momo
 * keeps it: a string of 1 to MOMO_MAX_INVOICE_REF_LEN bytes without control
 * characters; NULL for anything else (a number, an object, null, a longer
 * string), which momo does not keep rather than keep changed.
 */
static const char *
expected_invoice_ref(const char *path)
{
	RefValue	v = ref_get(path);
	size_t		n;

	if (v.kind != REF_STRING)
		return NULL;
	n = strlen(v.text);
	if (n == 0 || n > MOMO_MAX_INVOICE_REF_LEN)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char) v.text[i] < 0x20 || v.text[i] == 0x7f)
			return NULL;
	return v.text;
}

/* Checks that momo's value of an invoice's id (s) is the body's. */
static void
check_invoice_ref(const char *path, const char *s)
{
	const char *want = expected_invoice_ref(path);

	if ((s == NULL) != (want == NULL) || (s && strcmp(s, want) != 0))
		fuzz_fail("%s \"%s\", but the body's is \"%s\"", path,
				  s ? s : "(null)", want ? want : "(null)");
}

/* True if s (momo's) and the reference value agree: both absent/null, or the same scalar text. */
static bool
same_scalar(const char *s, RefValue v)
{
	bool		scalar = (v.kind == REF_STRING || v.kind == REF_NUMBER ||
						  v.kind == REF_TRUE || v.kind == REF_FALSE);

	if (s == NULL)
		return !scalar;
	return scalar && strcmp(s, v.text) == 0;
}

/* Checks the verdict on a status check answered 200. */
static void
check_status_200(const MomoAnswer *a, bool ok, bool may_refuse)
{
	RefValue	st = ref_get("status");
	bool		readable = ok && !may_refuse;

	switch (a->verdict)
	{
		case MOMO_SUCCESSFUL:
			if (!ok || !ref_is_string(st, "SUCCESSFUL"))
				fuzz_fail("SUCCESSFUL, but the body's status is not the string SUCCESSFUL");
			if (!same_scalar(a->financial_transaction_id, ref_get("financialTransactionId")))
				fuzz_fail("financial transaction id \"%s\" is not the body's",
						  a->financial_transaction_id ? a->financial_transaction_id : "(null)");
			break;
		case MOMO_FAILED:
			if (!ok || !ref_is_string(st, "FAILED"))
				fuzz_fail("FAILED, but the body's status is not the string FAILED");
			if (a->reason == NULL || strcmp(a->reason, expected_reason()) != 0)
				fuzz_fail("FAILED with reason \"%s\", but the body's reason is \"%s\"",
						  a->reason ? a->reason : "(null)", expected_reason());
			break;
		case MOMO_PENDING:
			if (!ok || !(ref_is_string(st, "PENDING") || ref_is_string(st, "CREATED")))
				fuzz_fail("PENDING, but the body's status is neither PENDING nor CREATED");
			break;
		case MOMO_RETRY:
			if (readable && (ref_is_string(st, "SUCCESSFUL") || ref_is_string(st, "FAILED") ||
							 ref_is_string(st, "PENDING") || ref_is_string(st, "CREATED")))
				fuzz_fail("RETRY on a readable answer whose status is \"%s\"", st.text);
			break;
		default:
			fuzz_fail("verdict %d on a status check answered 200", a->verdict);
	}
	if (a->verdict == MOMO_SUCCESSFUL || a->verdict == MOMO_FAILED || a->verdict == MOMO_PENDING)
	{
		check_invoice_ref("invoiceId", a->invoice_id);
		check_invoice_ref("paymentReference", a->payment_reference);
	}
}

/* Checks the verdict on any other answer. */
static void
check_other(const FuzzHeader *h, const MomoAnswer *a, bool ok)
{
	long		s = h->status;
	RefValue	code = ref_get("code");

	if (h->op == MOMO_OP_CREATE && (s == 202 || s == 409))
	{
		if (a->verdict != MOMO_ACCEPTED)
			fuzz_fail("HTTP %ld to a request to pay is accepted, not verdict %d", s, a->verdict);
		return;
	}
	if (a->verdict == MOMO_ACCEPTED)
		fuzz_fail("ACCEPTED on HTTP %ld to op %d", s, h->op);
	if (s == 401)
	{
		if (a->verdict != MOMO_TOKEN_REFUSED && a->verdict != MOMO_KEY_REFUSED)
			fuzz_fail("HTTP 401 must refuse the token or the key, not verdict %d", a->verdict);
		if (a->verdict == MOMO_KEY_REFUSED &&
			!(ok && ref_get("message").kind == REF_STRING &&
			  strstr(ref_get("message").text, "subscription key") != NULL))
			fuzz_fail("KEY_REFUSED, but the body's message does not mention the subscription key");
		return;
	}
	if (a->verdict == MOMO_TOKEN_REFUSED || a->verdict == MOMO_KEY_REFUSED)
		fuzz_fail("token or key refused on HTTP %ld", s);
	if (a->verdict == MOMO_SUCCESSFUL || a->verdict == MOMO_FAILED || a->verdict == MOMO_PENDING)
		fuzz_fail("payment status verdict %d on HTTP %ld to op %d", a->verdict, s, h->op);
	if (a->verdict == MOMO_NOT_FOUND && !(h->op == MOMO_OP_STATUS && s == 404))
		fuzz_fail("NOT_FOUND on HTTP %ld to op %d", s, h->op);
	if (h->op == MOMO_OP_STATUS && s == 404 && a->verdict != MOMO_NOT_FOUND)
		fuzz_fail("HTTP 404 to a status check must be NOT_FOUND, not verdict %d", a->verdict);
	if (a->verdict == MOMO_REJECTED)
	{
		/* Refused for good: never on a transient error. */
		if (h->op != MOMO_OP_CREATE)
			fuzz_fail("REJECTED on a status check (HTTP %ld)", s);
		if (s == 408 || s == 429 || s < 400 || s > 500)
			fuzz_fail("REJECTED on HTTP %ld, a transient or non-error status", s);
		if (s == 500 && !(ok && code.kind == REF_STRING && a->reason &&
						  strcmp(a->reason, code.text) == 0))
			fuzz_fail("REJECTED on HTTP 500 without the body's error code as the reason");
		if (a->reason == NULL || a->reason[0] == '\0')
			fuzz_fail("REJECTED without a reason");
	}
	if (a->verdict == MOMO_MERCHANT_REFUSED)
	{
		/* Only a refusal of the merchant's configuration pauses sending. */
		bool		merchant_code = ok && code.kind == REF_STRING &&
			(strcmp(code.text, "NOT_ALLOWED_TARGET_ENVIRONMENT") == 0 ||
			 strcmp(code.text, "INVALID_CALLBACK_URL_HOST") == 0);

		if (h->op != MOMO_OP_CREATE)
			fuzz_fail("MERCHANT_REFUSED on a status check (HTTP %ld)", s);
		if (s != 403 && !((s == 400 || s == 500) && merchant_code))
			fuzz_fail("MERCHANT_REFUSED on HTTP %ld without a merchant-wide code", s);
		if (a->reason == NULL || a->reason[0] == '\0')
			fuzz_fail("MERCHANT_REFUSED without a reason");
	}
	if (h->op == MOMO_OP_CREATE && s == 403 && a->verdict != MOMO_MERCHANT_REFUSED)
		fuzz_fail("HTTP 403 to a request to pay must pause sending, not verdict %d", a->verdict);
	if (s == 503 && a->verdict != MOMO_RETRY)
		fuzz_fail("HTTP 503 must be retried, not verdict %d", a->verdict);
	if (s == 429 && a->verdict != MOMO_RETRY)
		fuzz_fail("HTTP 429 must be retried, not verdict %d", a->verdict);
}

/* libFuzzer entry point: header, then body. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzHeader	h;
	MomoAnswer	a;
	const char *body;
	bool		ok;
	bool		may_refuse;

	if (!fuzz_take_header(&data, &size, &h))
		return 0;
	body = (size == 0 && h.null_body) ? NULL : (const char *) data;

	memset(&a, 0x7f, sizeof(a));	/* garbage: momo must set every field */
	momo_answers_classify(h.op, h.status, body, size, &a);
	ok = ref_parse(body, size);
	may_refuse = ok && ref_may_refuse(answer_keys, lengthof(answer_keys));

	if ((int) a.verdict < MOMO_ACCEPTED || (int) a.verdict > MOMO_RETRY)
		fuzz_fail("verdict %d is not a MomoVerdict", (int) a.verdict);
	if (a.http_status != (int) h.status)
		fuzz_fail("http_status %d, answer was %ld", a.http_status, h.status);
	if (a.not_sent)
		fuzz_fail("not_sent set for an answer that came");
	fuzz_check_text("reason", a.reason);
	fuzz_check_text("financial_transaction_id", a.financial_transaction_id);
	fuzz_check_text("error", a.error);
	fuzz_check_text("invoice_id", a.invoice_id);
	fuzz_check_text("payment_reference", a.payment_reference);
	if (a.financial_transaction_id && a.verdict != MOMO_SUCCESSFUL)
		fuzz_fail("financial transaction id on verdict %d", a.verdict);
	if ((a.invoice_id || a.payment_reference) &&
		a.verdict != MOMO_SUCCESSFUL && a.verdict != MOMO_FAILED && a.verdict != MOMO_PENDING)
		fuzz_fail("an invoice's ids on verdict %d", a.verdict);

	if (h.status == 0)
	{
		if (a.verdict != MOMO_RETRY)
			fuzz_fail("no answer (status 0) must be retried, not verdict %d", a.verdict);
	}
	else if (h.op == MOMO_OP_STATUS && h.status == 200)
		check_status_200(&a, ok, may_refuse);
	else
		check_other(&h, &a, ok);

	/*
	 * A pre-approval's or an invoice's expiry is none (-1) or a time from
	 * 2000 to 2100 (a YYYYMMDDHHmmSS number, a date before the payment could
	 * exist, are none).  Only a readable status answer carries one, from its
	 * expirationDateTime (a pre-approval's), else its expiryDateTime (an
	 * invoice's): one of them must be a date or a number.
	 */
	if (a.expires != -1)
	{
		RefValue	e1 = ref_get("expirationDateTime");
		RefValue	e2 = ref_get("expiryDateTime");

		if (!(a.expires >= 946684800.0 && a.expires < 4102444800.0))
			fuzz_fail("expiry %g is not a time from 2000 to 2100", a.expires);
		if (!(h.op == MOMO_OP_STATUS && h.status == 200 && ok))
			fuzz_fail("expiry %g from an answer that is not a readable status", a.expires);
		if (e1.kind != REF_NUMBER && e1.kind != REF_STRING &&
			e2.kind != REF_NUMBER && e2.kind != REF_STRING)
			fuzz_fail("expiry %g, but the body's expirationDateTime and expiryDateTime are neither dates nor numbers",
					  a.expires);
	}

	/* last_error says what went wrong whenever something did. */
	if (h.status != 0 && a.error == NULL &&
		a.verdict != MOMO_ACCEPTED && a.verdict != MOMO_PENDING &&
		a.verdict != MOMO_SUCCESSFUL && a.verdict != MOMO_FAILED)
		fuzz_fail("verdict %d on HTTP %ld without an error text", a.verdict, h.status);

	fuzz_reset_memory();
	return 0;
}
