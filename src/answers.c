/*-------------------------------------------------------------------------
 *
 * answers.c
 *	  Decides what each answer from MTN means, following the live API rather
 *	  than its published definition where they differ: 409 means "already
 *	  accepted", `reason` (an invoice's `errorReason`) may be a string or an
 *	  object, CREATED means
 *	  pending, logical errors travel as HTTP 500 with a code, and a 401 is
 *	  either an expired token or, in the API gateway's shape, a refused
 *	  subscription key.  Pure functions of the bytes received: they build for
 *	  the backend and, with -DFRONTEND, for the fuzzing harness.
 *
 *-------------------------------------------------------------------------
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#include <math.h>

#include "answers.h"
#include "json.h"

/*
 * Error codes that refuse the merchant's configuration (the target
 * environment, the callback host registered for the API user), not one
 * payment: every other request would be refused the same way.
 */
static const char *const merchant_codes[] = {
	"NOT_ALLOWED_TARGET_ENVIRONMENT",
	"INVALID_CALLBACK_URL_HOST",
};

/* Error codes MTN sends with a 500 that no retry will cure. */
static const char *const permanent_codes[] = {
	"INVALID_CURRENCY",
	"NOT_ALLOWED",
	"PAYER_NOT_FOUND",
	"PAYEE_NOT_FOUND",
	"PAYEE_NOT_ALLOWED_TO_RECEIVE",
	"RESOURCE_NOT_FOUND",
};

/* Returns true if code is an error code no retry will cure. */
static bool
is_permanent_code(const char *code)
{
	for (size_t i = 0; i < lengthof(permanent_codes); i++)
		if (strcmp(code, permanent_codes[i]) == 0)
			return true;
	return false;
}

/* Returns true if code refuses the merchant's configuration. */
static bool
is_merchant_code(const char *code)
{
	for (size_t i = 0; i < lengthof(merchant_codes); i++)
		if (strcmp(code, merchant_codes[i]) == 0)
			return true;
	return false;
}

/*
 * What kind of refusal MTN's error code is, for an ERROR a caller can act
 * on: of the merchant's configuration, of what the caller may do, of
 * something that does not exist, of a value; or transient (a retry may
 * succeed).
 */
MomoRefusal
momo_answers_refusal(const char *code)
{
	if (is_merchant_code(code))
		return MOMO_REFUSED_CONFIGURATION;
	if (strcmp(code, "NOT_ALLOWED") == 0 || strcmp(code, "PAYEE_NOT_ALLOWED_TO_RECEIVE") == 0)
		return MOMO_REFUSED_NOT_ALLOWED;
	if (strcmp(code, "PAYER_NOT_FOUND") == 0 || strcmp(code, "PAYEE_NOT_FOUND") == 0 ||
		strcmp(code, "RESOURCE_NOT_FOUND") == 0)
		return MOMO_REFUSED_NOT_FOUND;
	if (is_permanent_code(code))
		return MOMO_REFUSED_VALUE;
	return MOMO_REFUSED_TRANSIENT;
}

/* Returns true if a 401 body is the API gateway's "invalid subscription key" answer. */
static bool
is_key_refusal(const char *body, size_t len)
{
	MomoJsonField f[] = {{.path = "message"}};

	if (momo_json_extract(body, len, f, 1) != NULL || f[0].value == NULL)
		return false;
	return strstr(f[0].value, "subscription key") != NULL;
}

/* Returns a short printable excerpt of a body for last_error. */
static char *
excerpt(const char *body, size_t len)
{
	size_t		n = Min(len, 200);
	char	   *out = palloc(n + 1);

	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) body[i];

		out[i] = (c >= 0x20 && c < 0x7f) ? (char) c : '?';
	}
	out[n] = '\0';
	return out;
}

/* Reads n digits at s as a number into *v; false if they are not n digits. */
static bool
read_digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

/* Days from 1970-01-01 to the date y-m-d of the proleptic Gregorian calendar. */
static long
days_from_civil(int y, int m, int d)
{
	long		era;
	int			yoe;
	int			doy;
	int			doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - (int) (era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/*
 * Reads a pre-approval's expirationDateTime, or an invoice's
 * expiryDateTime, into seconds since the epoch, or returns false.  MTN's
 * definition calls the first an integer "in YYYY-MM-DDTHH:mm:SS format",
 * the second a string "in YYYY-MM-DD:THH:mm:ss format": a string of either
 * form is read (UTC unless it carries Z or an offset such as +02:00;
 * fractions of a second are dropped), and so is a number (seconds since the
 * epoch, or milliseconds when it is too large to be seconds).  Either must
 * be a time from 2000 to 2100: anything else is no expiry (a YYYYMMDDHHmmSS
 * number, a date before the payment could exist).
 */
#define MIN_EXPIRY 946684800.0	/* 2000-01-01 */
#define MAX_EXPIRY 4102444800.0 /* 2100-01-01 */

static bool
parse_expiry(const char *v, bool is_string, double *out)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			y,
				mo,
				d,
				h,
				mi,
				s = 0;
	int			off = 0;
	const char *p;

	if (!is_string)
	{
		char	   *end;
		double		n = strtod(v, &end);

		if (*end != '\0' || !(n > 0) || n > 1e15)
			return false;
		*out = floor(n > 1e11 ? n / 1000 : n);
		/* A time between 2000 and 2100, or none (a YYYYMMDDHHmmSS number is none). */
		return *out >= MIN_EXPIRY && *out < MAX_EXPIRY;
	}
	if (strlen(v) < 16 || !read_digits(v, 4, &y) || v[4] != '-' || !read_digits(v + 5, 2, &mo) ||
		v[7] != '-' || !read_digits(v + 8, 2, &d))
		return false;
	p = v + 10;
	if (p[0] == ':' && p[1] == 'T')
		p++;					/* the definition's YYYY-MM-DD:THH:mm:ss */
	if ((p[0] != 'T' && p[0] != ' ') || !read_digits(p + 1, 2, &h) || p[3] != ':' ||
		!read_digits(p + 4, 2, &mi))
		return false;
	p += 6;
	if (*p == ':')
	{
		if (!read_digits(p + 1, 2, &s))
			return false;
		p += 3;
		if (*p == '.')
			for (p++; *p >= '0' && *p <= '9'; p++)
				;
	}
	if (*p == 'Z')
		p++;
	else if (*p == '+' || *p == '-')
	{
		int			oh,
					om;
		int			sign = *p == '-' ? -1 : 1;

		if (!read_digits(p + 1, 2, &oh))
			return false;
		p += 3;
		if (*p == ':')
			p++;
		if (!read_digits(p, 2, &om))
			return false;
		p += 2;
		if (oh > 23 || om > 59)
			return false;
		off = sign * (oh * 3600 + om * 60);
	}
	if (*p != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
		(mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) ||
		h > 23 || mi > 59 || s > 60)
		return false;
	*out = (double) days_from_civil(y, mo, d) * 86400.0 + h * 3600 + mi * 60 + s - off;
	return *out >= MIN_EXPIRY && *out < MAX_EXPIRY;
}

/*
 * Returns an invoice's invoiceId or paymentReference as momo keeps it, or
 * NULL: a string (not a number, an object or null) of 1 to
 * MOMO_MAX_INVOICE_REF_LEN bytes without control characters (json.c has
 * checked that the body is valid UTF-8, and its parser that every escape is
 * one).  Anything else is not kept rather than cut: the payer quotes it.
 */
static char *
invoice_ref(const MomoJsonField *f)
{
	size_t		n;

	if (f->value == NULL || !f->is_string)
		return NULL;
	n = strlen(f->value);
	if (n == 0 || n > MOMO_MAX_INVOICE_REF_LEN)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char) f->value[i] < 0x20 || f->value[i] == 0x7f)
			return NULL;
	return f->value;
}

/* Sets the verdict of a status answer (HTTP 200) from its body. */
static void
classify_status_body(const char *body, size_t len, MomoAnswer *a)
{
	MomoJsonField f[] = {
		{.path = "status"},
		{.path = "reason"},
		{.path = "reason.code"},
		{.path = "financialTransactionId"},
		{.path = "errorReason"},
		{.path = "errorReason.code"},
		{.path = "expirationDateTime"},
		{.path = "expiryDateTime"},
		{.path = "invoiceId"},
		{.path = "paymentReference"},
	};
	char	   *err = momo_json_extract(body, len, f, lengthof(f));
	const char *status;

	if (err)
	{
		a->verdict = MOMO_RETRY;
		a->error = psprintf("unreadable status answer: %s", err);
		return;
	}
	status = f[0].value;
	if (status == NULL || !f[0].is_string)
	{
		a->verdict = MOMO_RETRY;
		a->error = pstrdup("status answer without a status");
		return;
	}
	/*
	 * A pre-approval's expiry (expirationDateTime), else an invoice's
	 * (expiryDateTime); one that cannot be read is left out.
	 */
	for (int i = 6; i <= 7 && a->expires == -1; i++)
	{
		double		t;

		if (f[i].value && parse_expiry(f[i].value, f[i].is_string, &t))
			a->expires = t;
	}
	if (strcmp(status, "SUCCESSFUL") == 0)
	{
		a->verdict = MOMO_SUCCESSFUL;
		a->financial_transaction_id = f[3].value;
	}
	else if (strcmp(status, "FAILED") == 0)
	{
		a->verdict = MOMO_FAILED;
		/*
		 * The live API sends reason as a string, the definition as an
		 * object; an invoice's status names it errorReason (an object in
		 * the definition), taken either way too.
		 */
		if (f[1].value && f[1].is_string && f[1].value[0])
			a->reason = f[1].value;
		else if (f[2].value && f[2].is_string && f[2].value[0])
			a->reason = f[2].value;
		else if (f[4].value && f[4].is_string && f[4].value[0])
			a->reason = f[4].value;
		else if (f[5].value && f[5].is_string && f[5].value[0])
			a->reason = f[5].value;
		else
			a->reason = pstrdup("UNKNOWN");
	}
	else if (strcmp(status, "PENDING") == 0 || strcmp(status, "CREATED") == 0)
		a->verdict = MOMO_PENDING;
	else
	{
		a->verdict = MOMO_RETRY;
		a->error = psprintf("unknown payment status \"%s\"", excerpt(status, strlen(status)));
		return;
	}
	/* An invoice's ids, with any status MTN tells (lifecycle.c keeps them). */
	a->invoice_id = invoice_ref(&f[8]);
	a->payment_reference = invoice_ref(&f[9]);
}

/*
 * Decides what an answer to op means.  status is 0 when no HTTP answer came
 * (the caller fills in a->error then).  A payment is never called
 * successful without a SUCCESSFUL status, and never failed on a transient
 * error.
 */
void
momo_answers_classify(MomoOp op, long status, const char *body, size_t len, MomoAnswer *a)
{
	MomoJsonField ef[] = {{.path = "code"}, {.path = "message"}};
	const char *code = NULL;

	a->http_status = (int) status;
	a->not_sent = false;
	a->given_back = false;
	a->reason = NULL;
	a->financial_transaction_id = NULL;
	a->expires = -1;
	a->invoice_id = NULL;
	a->payment_reference = NULL;
	a->error = NULL;
	if (body == NULL)
		len = 0;

	if (status == 0)
	{
		a->verdict = MOMO_RETRY;
		return;
	}
	if (len > 0 && momo_json_extract(body, len, ef, lengthof(ef)) == NULL &&
		ef[0].value && ef[0].is_string && ef[0].value[0])
		code = ef[0].value;

	if (op == MOMO_OP_CREATE && (status == 202 || status == 409))
	{
		/* 409: this reference id was accepted before; the earlier send went through. */
		a->verdict = MOMO_ACCEPTED;
		return;
	}
	if (op == MOMO_OP_STATUS && status == 200)
	{
		classify_status_body(body, len, a);
		return;
	}
	if (status == 401)
	{
		a->verdict = (len > 0 && is_key_refusal(body, len)) ? MOMO_KEY_REFUSED : MOMO_TOKEN_REFUSED;
		a->error = pstrdup(a->verdict == MOMO_KEY_REFUSED ?
						   "HTTP 401: subscription key refused" :
						   "HTTP 401: access token refused");
		return;
	}
	if (op == MOMO_OP_STATUS && status == 404)
	{
		a->verdict = MOMO_NOT_FOUND;
		a->error = pstrdup("HTTP 404: MTN does not know this reference id (yet)");
		return;
	}
	if (op == MOMO_OP_CREATE &&
		(status == 403 || ((status == 400 || status == 500) && code && is_merchant_code(code))))
	{
		/*
		 * Says nothing about the payment and everything about the merchant's
		 * configuration (or subscription: the API gateway answers 403 to a
		 * key over its quota): the caller pauses sending.
		 */
		a->verdict = MOMO_MERCHANT_REFUSED;
		a->reason = pstrdup(code ? code : "FORBIDDEN");
		a->error = psprintf("HTTP %ld: MTN refused the merchant's configuration: %s",
							status, code ? code : "forbidden");
		return;
	}
	if (op == MOMO_OP_CREATE &&
		(status == 400 || (status == 500 && code && is_permanent_code(code)) ||
		 (status >= 402 && status < 500 && status != 403 && status != 404 && status != 408 && status != 429)))
	{
		a->verdict = MOMO_REJECTED;
		a->reason = pstrdup(code ? code : "BAD_REQUEST");
		a->error = code ?
			psprintf("HTTP %ld: MTN refused the request: %s", status, code) :
			psprintf("HTTP %ld: MTN refused the request as malformed", status);
		return;
	}

	/* Everything else is worth another try later. */
	a->verdict = MOMO_RETRY;
	if (code)
		a->error = psprintf("HTTP %ld: %s", status, code);
	else if (len > 0)
		a->error = psprintf("HTTP %ld: %s", status, excerpt(body, len));
	else
		a->error = psprintf("HTTP %ld", status);
}

/* Parses the answer to a token request. */
MomoTokenResult
momo_answers_parse_token(long status, const char *body, size_t len,
						 char **token, int *expires_in, char **error)
{
	MomoJsonField f[] = {
		{.path = "access_token"},
		{.path = "expires_in"},
		{.path = "error"},
	};
	char	   *err;

	*token = NULL;
	*expires_in = 0;
	*error = NULL;
	if (status == 0)
		return MOMO_TOKEN_TRANSIENT;
	if (status == 401)
	{
		if (len > 0 && is_key_refusal(body, len))
		{
			*error = pstrdup("the subscription key was refused");
			return MOMO_TOKEN_KEY_REFUSED;
		}
		*error = pstrdup("the API user and key were refused (HTTP 401)");
		return MOMO_TOKEN_LOGIN_FAILED;
	}
	err = (len > 0) ? momo_json_extract(body, len, f, lengthof(f)) : pstrdup("empty body");
	if (status == 500 && err == NULL && f[2].value && strcmp(f[2].value, "login_failed") == 0)
	{
		*error = pstrdup("the API user and key were refused (login_failed)");
		return MOMO_TOKEN_LOGIN_FAILED;
	}
	if (status != 200)
	{
		*error = psprintf("token request answered HTTP %ld", status);
		return MOMO_TOKEN_TRANSIENT;
	}
	if (err)
	{
		*error = psprintf("unreadable token answer: %s", err);
		return MOMO_TOKEN_TRANSIENT;
	}
	if (f[0].value == NULL || !f[0].is_string || f[0].value[0] == '\0' ||
		strlen(f[0].value) >= MOMO_MAX_TOKEN_LEN)
	{
		*error = pstrdup("token answer without a usable access_token");
		return MOMO_TOKEN_TRANSIENT;
	}
	for (const char *c = f[0].value; *c; c++)
		if ((unsigned char) *c < 0x21 || (unsigned char) *c >= 0x7f)
		{
			*error = pstrdup("access_token contains characters not allowed in a header");
			return MOMO_TOKEN_TRANSIENT;
		}
	*token = f[0].value;
	*expires_in = 3600;
	if (f[1].value && !f[1].is_string)
	{
		double		v = strtod(f[1].value, NULL);

		if (v >= 1 && v < 86400 * 30)
			*expires_in = (int) v;
	}
	return MOMO_TOKEN_OK;
}

/*
 * Reads what a callback body claims (its status and externalId) for the
 * event log; momo never acts on it.  Returns NULL, or why the body is
 * unreadable.
 */
char *
momo_answers_parse_callback_body(const char *body, size_t len, char **status, char **external_id)
{
	MomoJsonField f[] = {{.path = "status"}, {.path = "externalId"}};
	char	   *err;

	*status = NULL;
	*external_id = NULL;
	err = momo_json_extract(body, len, f, lengthof(f));
	if (err)
		return err;
	if (f[0].value && f[0].is_string)
		*status = excerpt(f[0].value, strlen(f[0].value));
	if (f[1].value && f[1].is_string)
		*external_id = excerpt(f[1].value, strlen(f[1].value));
	return NULL;
}

/* The payment statuses MTN sends; a callback's claimed status is one of them or nothing. */
static const char *const status_words[] = {"SUCCESSFUL", "FAILED", "PENDING", "CREATED"};

/*
 * Returns the status a callback body claims, for the event log: one of
 * MTN's status words (a static string), or NULL when the body is unreadable,
 * longer than MOMO_MAX_CALLBACK_BODY, or claims anything else.  The body
 * comes from whoever knows a callback URL, so no text of it is ever kept.
 */
const char *
momo_answers_callback_claimed_status(const char *body, size_t len)
{
	char	   *status;
	char	   *external_id;
	const char *word = NULL;

	if (body == NULL || len > MOMO_MAX_CALLBACK_BODY)
		return NULL;
	if (momo_answers_parse_callback_body(body, len, &status, &external_id) != NULL || status == NULL)
		return NULL;
	for (size_t i = 0; i < lengthof(status_words); i++)
		if (strcmp(status, status_words[i]) == 0)
			word = status_words[i];
	pfree(status);
	if (external_id)
		pfree(external_id);
	return word;
}

/*
 * Returns the value of parameter name in a query string (with or without a
 * leading '?'), or NULL when it is absent; *repeated is set when it occurs
 * more than once.
 */
static char *
query_param(const char *query, const char *name, bool *repeated)
{
	size_t		nlen = strlen(name);
	const char *p = (query[0] == '?') ? query + 1 : query;
	char	   *found = NULL;

	while (*p)
	{
		size_t		len = strcspn(p, "&");

		if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=')
		{
			if (found)
			{
				*repeated = true;
				pfree(found);
			}
			found = pnstrdup(p + nlen + 1, len - nlen - 1);
		}
		p += len;
		if (*p == '&')
			p++;
	}
	return found;
}

/* Returns true if s is a UUID in the lower-case form momo writes into callback URLs. */
static bool
is_lower_uuid(const char *s)
{
	for (int i = 0; i < 36; i++)
	{
		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
		}
		else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return s[36] == '\0';
}

/*
 * Reads momo_ref and momo_sig from the query string of a callback URL (with
 * or without a leading '?').  Returns true, with *ref set and *sig set or
 * NULL when absent, if momo_ref occurs once and is a lower-case UUID and
 * momo_sig occurs at most once; otherwise false, with both NULL.  Nothing
 * is decoded: momo writes both values without any character that needs it.
 */
bool
momo_answers_parse_callback_query(const char *query, char **ref, char **sig)
{
	bool		repeated = false;

	*ref = query_param(query, "momo_ref", &repeated);
	*sig = query_param(query, "momo_sig", &repeated);
	if (*ref != NULL && !repeated && is_lower_uuid(*ref))
		return true;
	if (*ref)
		pfree(*ref);
	if (*sig)
		pfree(*sig);
	*ref = NULL;
	*sig = NULL;
	return false;
}
