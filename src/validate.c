/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  Checks every argument of a payment request at once, before anything is
 *	  written or sent.  Each problem names its field; the first becomes the
 *	  error message and the others its detail, so one round trip shows
 *	  everything to fix.  The error's column name (PG_DIAG_COLUMN_NAME) is
 *	  the argument it is about, or every wrong argument, comma-separated, in
 *	  argument order: an application puts each message next to its field.
 *
 *	  And momo_normalize_msisdn, the phone-number normaliser (msisdn.c) that
 *	  every function taking an msisdn uses, for applications.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/namespace.h"
#include "common/string.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "msisdn.h"
#include "settings.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(momo_normalize_msisdn);

#define MAX_PROBLEMS 16
#define MAX_MESSAGE_CHARS 160
#define MAX_EXTERNAL_ID_CHARS 128
#define MAX_REASON_CHARS 500
#define MAX_CALLBACK_URL_BYTES 2000	/* as momo_payments_callback_url allows */

typedef struct Problem
{
	const char *column;			/* the argument it is about */
	int			sqlstate;
	char	   *message;
	char	   *hint;
} Problem;

typedef struct Problems
{
	Problem		items[MAX_PROBLEMS];
	int			n;
} Problems;

static int	check_id_type(Problems *ps, FunctionCallInfo fcinfo, int argno, unsigned allowed,
						  const char *what);
static char *check_holder_id(Problems *ps, const char *column, char *id, int type);

/* Currencies whose amounts have no minor unit (ISO 4217). */
static const char *const whole_currencies[] = {
	"RWF", "UGX", "XAF", "XOF", "GNF", "BIF", "KMF", "DJF", "JPY", "KRW", "VND", "CLP", "PYG", "ISK",
};

/* Records one problem of argument column. */
static void
add_problem(Problems *ps, const char *column, int sqlstate, char *message, const char *hint)
{
	if (ps->n >= MAX_PROBLEMS)
		return;
	ps->items[ps->n].column = column;
	ps->items[ps->n].sqlstate = sqlstate;
	ps->items[ps->n].message = message;
	ps->items[ps->n].hint = hint ? pstrdup(hint) : NULL;
	ps->n++;
}

/*
 * Raises an ERROR for the first problem, listing the others in the detail;
 * its column name lists every wrong argument once, in the order of the
 * problems (argument order), separated by commas.
 */
static void
raise_problems(Problems *ps)
{
	StringInfoData detail;
	StringInfoData columns;

	if (ps->n == 0)
		return;
	initStringInfo(&detail);
	initStringInfo(&columns);
	for (int i = 0; i < ps->n; i++)
	{
		bool		seen = false;

		if (i > 0)
			appendStringInfo(&detail, "%s%s", i > 1 ? "; " : "Also: ", ps->items[i].message);
		for (int j = 0; j < i; j++)
			seen |= strcmp(ps->items[j].column, ps->items[i].column) == 0;
		if (!seen)
			appendStringInfo(&columns, "%s%s", columns.len > 0 ? "," : "", ps->items[i].column);
	}
	if (ps->n > 1)
		appendStringInfoChar(&detail, '.');
	ereport(ERROR,
			(errcode(ps->items[0].sqlstate),
			 errmsg("%s", ps->items[0].message),
			 ps->n > 1 ? errdetail("%s", detail.data) : 0,
			 ps->items[0].hint ? errhint("%s", ps->items[0].hint) : 0,
			 momo_validate_column(columns.data)));
}

/* Raises an ERROR naming the argument if it is NULL. */
void
momo_validate_require_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name),
				 momo_validate_column(name)));
}

/* Returns the number of minor-unit digits a currency's amounts may have. */
static int
currency_decimals(const char *currency)
{
	for (size_t i = 0; i < lengthof(whole_currencies); i++)
		if (strcmp(currency, whole_currencies[i]) == 0)
			return 0;
	return 2;
}

/*
 * Returns s for an error message: cut to its first 40 bytes when longer,
 * each control character (a line break that could forge a log line)
 * shown as '?'.
 */
static char *
shown(const char *s)
{
	char	   *out = strlen(s) <= 40 ? pstrdup(s) : psprintf("%.40s… (%zu characters)", s, strlen(s));

	for (char *c = out; *c; c++)
		if ((unsigned char) *c < 0x20 || *c == 0x7f)
			*c = '?';
	return out;
}

/* Returns the first control character's position in s, or -1. */
static int
control_char_at(const char *s)
{
	for (int i = 0; s[i]; i++)
		if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
			return i;
	return -1;
}

/*
 * Returns true if s (server encoding) holds a Unicode control character
 * that a payer's screen could hide or abuse: C1 controls, line and
 * paragraph separators, the bidirectional embeddings, overrides and
 * isolates (U+202A..U+202E, U+2066..U+2069) that can disguise text, and
 * the invisible characters that only hide (U+200B, U+2060..U+2064, U+FEFF,
 * U+FFF9..U+FFFB).  The joiners (U+200C, U+200D) and the direction marks
 * (U+200E, U+200F, U+061C) stay: scripts, emoji and text mixing
 * directions need them.
 */
static bool
has_unicode_control(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;

	if (GetDatabaseEncoding() != PG_UTF8)
		return false;
	while (*p)
	{
		int			len = pg_utf_mblen(p);
		pg_wchar	c = utf8_to_unicode(p);

		if ((c >= 0x80 && c <= 0x9f) || c == 0x2028 || c == 0x2029 ||
			(c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) ||
			c == 0x200b || (c >= 0x2060 && c <= 0x2064) || c == 0xfeff ||
			(c >= 0xfff9 && c <= 0xfffb))
			return true;
		p += len;
	}
	return false;
}

/* Returns a text argument as a C string, or NULL if it is NULL. */
static char *
text_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* Checks the currency; returns it (possibly NULL) for the amount check. */
static char *
check_currency(Problems *ps, char *currency, const MomoConfig *cfg)
{
	bool		upper = true;
	bool		letters = true;

	if (currency == NULL)
	{
		add_problem(ps, "currency", ERRCODE_NULL_VALUE_NOT_ALLOWED, pstrdup("currency must not be null"),
					"Give an ISO 4217 code, e.g. 'RWF' (or 'EUR' in the sandbox).");
		return NULL;
	}
	for (const char *c = currency; *c; c++)
	{
		if (!(*c >= 'A' && *c <= 'Z'))
			upper = false;
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z')))
			letters = false;
	}
	if (strlen(currency) != 3 || !letters)
	{
		add_problem(ps, "currency", ERRCODE_INVALID_PARAMETER_VALUE,
					pstrdup("currency must be a three-letter ISO 4217 code"),
					"For example 'RWF' in Rwanda, or 'EUR' in the sandbox.");
		return NULL;
	}
	if (!upper)
	{
		add_problem(ps, "currency", ERRCODE_INVALID_PARAMETER_VALUE,
					psprintf("currency must be written in capital letters, not \"%s\"", currency),
					"MTN expects ISO 4217 codes in capitals, e.g. 'EUR'.");
		return NULL;
	}
	if (!cfg->production && strcmp(currency, "EUR") != 0)
	{
		add_problem(ps, "currency", ERRCODE_INVALID_PARAMETER_VALUE,
					psprintf("currency must be EUR in the sandbox, not %s", currency),
					"MTN's sandbox accepts only EUR; production uses your market's currency, e.g. RWF.");
		return currency;
	}
	return currency;
}

/*
 * Checks the amount and returns its canonical text (no trailing zeros), or
 * NULL when it is unusable.
 */
static char *
check_amount(Problems *ps, FunctionCallInfo fcinfo, int argno, const char *currency)
{
	char	   *s;
	char	   *dot;
	int			decimals = 0;
	int			allowed;
	double		value;

	if (PG_ARGISNULL(argno))
	{
		add_problem(ps, "amount", ERRCODE_NULL_VALUE_NOT_ALLOWED, pstrdup("amount must not be null"),
					"Give the amount in the currency's units, e.g. 1500.");
		return NULL;
	}
	s = DatumGetCString(DirectFunctionCall1(numeric_out, PG_GETARG_DATUM(argno)));
	if (strcmp(s, "NaN") == 0 || strstr(s, "Infinity") != NULL)
	{
		add_problem(ps, "amount", ERRCODE_INVALID_PARAMETER_VALUE,
					psprintf("amount must be a finite number, not %s", shown(s)), NULL);
		return NULL;
	}
	if (s[0] == '-' || strspn(s, "0.") == strlen(s))
	{
		add_problem(ps, "amount", ERRCODE_INVALID_PARAMETER_VALUE,
					psprintf("amount must be greater than zero, not %s", shown(s)), NULL);
		return NULL;
	}
	/* Drop trailing zeros of the fraction: 1500.00 is 1500. */
	if ((dot = strchr(s, '.')) != NULL)
	{
		char	   *end = s + strlen(s) - 1;

		while (end > dot && *end == '0')
			*end-- = '\0';
		if (end == dot)
			*end = '\0';
		else
			decimals = (int) (end - dot);
	}
	value = strtod(s, NULL);
	if (!(value <= momo_max_amount))
	{
		add_problem(ps, "amount", ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
					psprintf("amount %s exceeds the largest allowed amount, %.0f", shown(s), momo_max_amount),
					"The limit is momo.max_amount.");
		return NULL;
	}
	allowed = currency ? currency_decimals(currency) : 2;
	if (decimals > allowed)
	{
		add_problem(ps, "amount", ERRCODE_INVALID_PARAMETER_VALUE,
					allowed == 0 ?
					psprintf("amount must be a whole number of %s, not %s", currency, shown(s)) :
					psprintf("amount has %d decimal places; %s allows at most %d", decimals,
							 currency ? currency : "the currency", allowed),
					"Round the amount to the currency's smallest unit.");
		return NULL;
	}
	return s;
}

/*
 * Checks a phone number (argument column) and returns it as MTN wants it:
 * country code and national number, digits only.  A number written without
 * its country code is one of local (NULL: none); that it lacks one is no
 * problem of its own when country_unknown (the country given is wrong).
 */
static char *
check_msisdn(Problems *ps, const char *column, char *msisdn, const MomoMarket *local,
			 bool country_unknown)
{
	MomoMsisdnProblem problem;
	char	   *v;

	if (msisdn == NULL)
	{
		add_problem(ps, column, ERRCODE_NULL_VALUE_NOT_ALLOWED, psprintf("%s must not be null", column),
					momo_msisdn_hint(local));
		return NULL;
	}
	v = momo_msisdn_normalize(msisdn, local, &problem);
	/* The message names msisdn: another argument's names that one. */
	if (v == NULL && strcmp(column, "msisdn") != 0 && strncmp(problem.message, "msisdn ", 7) == 0)
		problem.message = psprintf("%s%s", column, problem.message + 6);
	/* An argument that takes no local numbers (local NULL) has no setting to name. */
	if (v == NULL && local == NULL && (problem.no_country || problem.may_lack_country) &&
		strcmp(column, "msisdn") != 0)
		problem.hint = psprintf("Write %s with its country code, e.g. +33 6 12 34 56 78.", column);
	/* When the country given is wrong, a number that may lack only its country code is not wrong too. */
	if (v == NULL && !(country_unknown && (problem.no_country || problem.may_lack_country)))
		add_problem(ps, column, problem.sqlstate, problem.message, problem.hint);
	return v;
}

/*
 * Checks a payment's amount (argument 0) and currency (argument 1), in
 * argument order so that the error names the first bad one, into terms;
 * the amount's decimals are those of the currency when it is well written.
 */
static void
check_money(Problems *ps, FunctionCallInfo fcinfo, const MomoConfig *cfg, MomoPaymentTerms *terms)
{
	char	   *currency = text_arg(fcinfo, 1);

	terms->amount = check_amount(ps, fcinfo, 0,
								 (currency && strlen(currency) == 3 &&
								  strspn(currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 3) ? currency : NULL);
	terms->currency = check_currency(ps, currency, cfg);
}

/* Checks a free-text field (external id or a message); returns it or NULL. */
static char *
check_text(Problems *ps, const char *name, char *value, int max_chars, bool is_message)
{
	int			chars;

	if (value == NULL)
		return NULL;
	if (strspn(value, " ") == strlen(value))
	{
		if (is_message)
			return NULL;		/* omitted: MTN answers 500 to empty messages */
		add_problem(ps, name, ERRCODE_INVALID_PARAMETER_VALUE,
					psprintf("%s must not be %s", name, value[0] ? "blank" : "empty"),
					"Pass NULL to use the reference id as the external id.");
		return NULL;
	}
	chars = pg_mbstrlen(value);
	if (chars > max_chars)
	{
		add_problem(ps, name, ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
					psprintf("%s is too long: %d characters, at most %d are allowed", name, chars, max_chars),
					NULL);
		return NULL;
	}
	if (control_char_at(value) >= 0 || has_unicode_control(value))
	{
		add_problem(ps, name, ERRCODE_INVALID_PARAMETER_VALUE,
					psprintf("%s must not contain control characters (such as line breaks, tabs or direction overrides)", name),
					NULL);
		return NULL;
	}
	if (is_message && strchr(value, '\'') != NULL)
	{
		add_problem(ps, name, ERRCODE_INVALID_PARAMETER_VALUE,
					psprintf("%s must not contain an apostrophe (')", name),
					"MTN refuses messages containing apostrophes with HTTP 400; rephrase the text.");
		return NULL;
	}
	return value;
}

/*
 * Checks the API version argument argno: 1 or 2, the /v1_0 or /v2_0 of the
 * creating POST.  Returns it, or 1 after recording a problem.
 */
static int
check_api_version(Problems *ps, FunctionCallInfo fcinfo, int argno)
{
	int32		v;

	if (PG_ARGISNULL(argno))
	{
		add_problem(ps, "version", ERRCODE_NULL_VALUE_NOT_ALLOWED, pstrdup("version must not be null"),
					"Pass 1 or 2, MTN's /v1_0 or /v2_0 of the request.");
		return 1;
	}
	v = PG_GETARG_INT32(argno);
	if (v != 1 && v != 2)
	{
		add_problem(ps, "version", ERRCODE_INVALID_PARAMETER_VALUE,
					psprintf("version must be 1 or 2, not %d", v),
					"MTN has /v1_0 and /v2_0 of this request; it calls back with POST after version 1, with PUT after version 2.");
		return 1;
	}
	return (int) v;
}

/*
 * Returns true if s, in the database's encoding, has an equivalent in
 * UTF-8, which MTN takes (the worker converts every text it sends).  A
 * character of WIN1252 or of another encoding may have none, and bytes
 * above 0x7f of an SQL_ASCII database must already be UTF-8.
 */
bool
momo_validate_converts_to_utf8(const char *s)
{
	int			encoding = GetDatabaseEncoding();
	int			len = (int) strlen(s);
	Oid			proc;
	unsigned char *dest;

	if (encoding == PG_UTF8 || pg_is_ascii(s))
		return true;
	if (encoding == PG_SQL_ASCII)
		return pg_verify_mbstr(PG_UTF8, s, len, true);
	proc = FindDefaultConversionProc(encoding, PG_UTF8);
	if (!OidIsValid(proc))
		return false;
	dest = palloc((Size) len * MAX_CONVERSION_GROWTH + 1);
	return pg_do_encoding_conversion_buf(proc, encoding, PG_UTF8, (unsigned char *) s, len,
										 dest, len * MAX_CONVERSION_GROWTH + 1, true) == len;
}

/*
 * Raises one ERROR naming every text term of a payment that has no
 * equivalent in UTF-8 (see momo_validate_converts_to_utf8): such a payment
 * could never be sent.
 */
void
momo_validate_utf8_terms(const MomoPaymentTerms *t)
{
	Problems	ps;
	const char *names[] = {
		t->operation == MOMO_PAYMENT ? "customer_reference" : "msisdn",
		"external_id", "payer_message", "payee_note", "extra_terms"
	};
	const char *values[] = {t->msisdn, t->external_id, t->payer_message, t->payee_note, t->extra_terms};

	ps.n = 0;
	for (size_t i = 0; i < lengthof(names); i++)
		if (values[i] && !momo_validate_converts_to_utf8(values[i]))
			add_problem(&ps, names[i], ERRCODE_UNTRANSLATABLE_CHARACTER,
						psprintf("%s has a character with no equivalent in UTF-8", names[i]),
						strcmp(names[i], "extra_terms") == 0 ?
						"One of the operation's further arguments has it; MTN takes UTF-8." :
						"MTN takes UTF-8: write it with characters the database's encoding shares with Unicode.");
	raise_problems(&ps);
}

/* Returns true if the query string of url has the parameter name. */
static bool
has_query_parameter(const char *url, const char *name)
{
	const char *q = strchr(url, '?');
	size_t		len = strlen(name);

	while (q != NULL)
	{
		q++;
		if (strncmp(q, name, len) == 0 && (q[len] == '=' || q[len] == '&' || q[len] == '\0'))
			return true;
		q = strchr(q, '&');
	}
	return false;
}

/*
 * Checks the callback_url argument argno (if the function has it), the URL
 * MTN is to call back for this payment instead of momo.callback_url: NULL
 * (momo.callback_url), or a URL such as momo.callback_url must be, on its
 * host (MTN calls back only to the host registered for the API user, which
 * momo_preflight compares with momo.callback_url's), in ASCII, without a
 * fragment and without the parameters momo adds itself (momo_ref and
 * momo_sig: the reference id and its signature).  Returns it, or NULL.
 */
static char *
check_callback_url(Problems *ps, FunctionCallInfo fcinfo, int argno, const MomoConfig *cfg)
{
	const char *hint = "MTN calls back only to the host registered for the API user: the host of momo.callback_url.";
	char	   *url;
	char	   *problem;
	char	   *host;
	char	   *ours;
	int			port;

	if (argno < 0 || argno >= PG_NARGS() || (url = text_arg(fcinfo, argno)) == NULL)
		return NULL;
	if (strlen(url) > MAX_CALLBACK_URL_BYTES)
		add_problem(ps, "callback_url", ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
					psprintf("callback_url is too long: %zu bytes, at most %d are allowed",
							 strlen(url), MAX_CALLBACK_URL_BYTES), NULL);
	else if ((problem = momo_settings_url_problem("callback_url", url, cfg->production, true)) != NULL)
		add_problem(ps, "callback_url", ERRCODE_INVALID_PARAMETER_VALUE, problem, hint);
	else if (strspn(url, "!#$%&'()*+,-./0123456789:;=?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]_abcdefghijklmnopqrstuvwxyz~") != strlen(url))
		add_problem(ps, "callback_url", ERRCODE_INVALID_PARAMETER_VALUE,
					psprintf("callback_url must be a URL of printable ASCII, not \"%s\"", shown(url)),
					"Percent-encode other characters, as RFC 3986 says.");
	else if (cfg->callback_url == NULL)
		add_problem(ps, "callback_url", ERRCODE_INVALID_PARAMETER_VALUE,
					pstrdup("callback_url needs momo.callback_url to be set"),
					"momo.callback_url names the host MTN has registered for the API user; a payment's callback_url is another URL on that host.");
	else if ((host = momo_settings_url_host(url, &port)) == NULL ||
			 (ours = momo_settings_url_host(cfg->callback_url, &port)) == NULL ||
			 pg_strcasecmp(host, ours) != 0)
		add_problem(ps, "callback_url", ERRCODE_INVALID_PARAMETER_VALUE,
					psprintf("callback_url must be on %s, the host of momo.callback_url, not on %s",
							 momo_settings_url_host(cfg->callback_url, &port),
							 host ? host : "no host"),
					"MTN refuses a callback URL on another host than the one registered for the API user (INVALID_CALLBACK_URL_HOST).");
	else if (strchr(url, '#') != NULL)
		add_problem(ps, "callback_url", ERRCODE_INVALID_PARAMETER_VALUE,
					pstrdup("callback_url must not have a fragment (#)"),
					"momo adds the reference id and its signature to the URL's query string.");
	else if (has_query_parameter(url, "momo_ref") || has_query_parameter(url, "momo_sig"))
		add_problem(ps, "callback_url", ERRCODE_INVALID_PARAMETER_VALUE,
					pstrdup("callback_url must not carry momo_ref or momo_sig"),
					"momo adds both itself: the reference id and its signature.");
	else
		return url;
	return NULL;
}

/* Adds the problems of more to ps, after those it has. */
static void
add_problems(Problems *ps, const Problems *more)
{
	for (int i = 0; i < more->n; i++)
		add_problem(ps, more->items[i].column, more->items[i].sqlstate, more->items[i].message,
					more->items[i].hint);
}

/*
 * Checks the id type at argno (a schema of 1.0 has none: msisdn) of the
 * party (payer or payee) a payment names, into tp, which its caller adds
 * to the other problems where the argument is.  MTN's Party takes all three
 * types in every product.  Returns the type, or -1.
 */
static int
check_party_id_type(Problems *tp, FunctionCallInfo fcinfo, int argno)
{
	tp->n = 0;
	return check_id_type(tp, fcinfo, argno, (1u << MOMO_N_ID_TYPES) - 1, "a payment");
}

/*
 * Checks the arguments (amount, currency, msisdn, external_id,
 * payer_message, payee_note) of a payment into ps, msisdn as the id of
 * type (see check_party_id_type; < 0: unknown, msisdn is not checked), and
 * fills in terms (version 1).
 */
static void
check_payment(Problems *ps, FunctionCallInfo fcinfo, const MomoConfig *cfg, MomoPaymentTerms *terms,
			  int type)
{
	memset(terms, 0, sizeof(*terms));
	terms->party_id_type = type >= 0 ? (MomoIdType) type : MOMO_ID_MSISDN;
	terms->api_version = 1;
	check_money(ps, fcinfo, cfg, terms);
	terms->msisdn = check_holder_id(ps, "msisdn", text_arg(fcinfo, 2), type);
	terms->external_id = check_text(ps, "external_id", text_arg(fcinfo, 3),
									 MAX_EXTERNAL_ID_CHARS, false);
	terms->payer_message = check_text(ps, "payer_message", text_arg(fcinfo, 4),
									  MAX_MESSAGE_CHARS, true);
	terms->payee_note = check_text(ps, "payee_note", text_arg(fcinfo, 5),
								   MAX_MESSAGE_CHARS, true);
}

/*
 * Checks every argument of a payment function with the arguments (amount,
 * currency, msisdn, external_id, payer_message, payee_note), the API
 * version at version_argno unless it is negative or the function has no
 * such argument (then version 1), the party's id type at idtype_argno and
 * the callback URL at callback_argno likewise (then msisdn and none), and
 * fills in terms, or raises one ERROR describing every problem.
 */
void
momo_validate_payment(FunctionCallInfo fcinfo, const MomoConfig *cfg, MomoPaymentTerms *terms,
					  int version_argno, int idtype_argno, int callback_argno)
{
	Problems	ps;
	Problems	tp;

	ps.n = 0;
	check_payment(&ps, fcinfo, cfg, terms, check_party_id_type(&tp, fcinfo, idtype_argno));
	/* The function of a schema of 1.0 has no version: version 1. */
	if (version_argno >= 0 && version_argno < PG_NARGS())
		terms->api_version = check_api_version(&ps, fcinfo, version_argno);
	add_problems(&ps, &tp);
	terms->callback_url = check_callback_url(&ps, fcinfo, callback_argno, cfg);
	raise_problems(&ps);
}

/*
 * Checks an optional one-line text of a cash transfer's originating side:
 * NULL (left out), or at most max_chars characters, not empty, without
 * control characters.  Returns it or NULL.
 */
static char *
check_detail(Problems *ps, const char *name, char *value, int max_chars)
{
	int			chars;

	if (value == NULL)
		return NULL;
	chars = pg_mbstrlen(value);
	if (chars == 0)
		add_problem(ps, name, ERRCODE_INVALID_PARAMETER_VALUE, psprintf("%s must not be empty", name),
					"Pass NULL to leave it out.");
	else if (chars > max_chars)
		add_problem(ps, name, ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
					psprintf("%s is too long: %d characters, at most %d are allowed", name, chars, max_chars),
					NULL);
	else if (control_char_at(value) >= 0 || has_unicode_control(value))
		add_problem(ps, name, ERRCODE_INVALID_PARAMETER_VALUE,
					psprintf("%s must not contain control characters (such as line breaks, tabs or direction overrides)", name),
					NULL);
	else if (strspn(value, " ") == strlen(value))
		add_problem(ps, name, ERRCODE_INVALID_PARAMETER_VALUE, psprintf("%s must not be blank", name),
					"Pass NULL to leave it out.");
	else
		return value;
	return NULL;
}

/*
 * Checks an optional code of letters (upper-case, or lower-case when lower)
 * of min_len to max_len of them; returns it in that case, or NULL.
 */
static char *
check_code(Problems *ps, const char *name, char *value, int min_len, int max_len, bool lower,
		   const char *what, const char *hint)
{
	size_t		len;

	if (value == NULL)
		return NULL;
	len = strlen(value);
	if ((int) len < min_len || (int) len > max_len ||
		strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != len)
	{
		add_problem(ps, name, ERRCODE_INVALID_PARAMETER_VALUE,
					psprintf("%s must be %s, not \"%s\"", name, what, shown(value)), hint);
		return NULL;
	}
	for (char *c = value; *c; c++)
		*c = lower ? pg_ascii_tolower((unsigned char) *c) : pg_ascii_toupper((unsigned char) *c);
	return value;
}

/* Adds "key":raw (raw JSON text: a number, a boolean or an object) to the object in buf. */
static void
add_raw_member(StringInfo buf, const char *key, const char *raw)
{
	if (raw == NULL)
		return;
	appendStringInfoChar(buf, buf->len > 1 ? ',' : ' ');
	escape_json(buf, key);
	appendStringInfoChar(buf, ':');
	appendStringInfoString(buf, raw);
}

/* Adds "key":value (a JSON string) to the object being built in buf. */
static void
add_member(StringInfo buf, const char *key, const char *value)
{
	StringInfoData json;

	if (value == NULL)
		return;
	initStringInfo(&json);
	escape_json(&json, value);
	add_raw_member(buf, key, json.data);
}

/* The country codes ISO 3166-1 assigns (alpha-2), in alphabetical order. */
static const char iso3166_countries[] =
	"AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO "
	"BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ "
	"DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP "
	"GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG "
	"KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML "
	"MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE "
	"PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL "
	"SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM "
	"US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/* Returns true if code (two capital letters) is a country ISO 3166-1 assigns. */
static bool
is_iso3166_country(const char *code)
{
	for (const char *c = iso3166_countries; *c; c += (c[2] ? 3 : 2))
		if (c[0] == code[0] && c[1] == code[1])
			return true;
	return false;
}

/*
 * Checks the arguments of momo_cash_transfer: those of a payment (amount,
 * currency, msisdn, external_id, payer_message, payee_note), then the
 * originating side, each optional (NULL: left out of the request):
 * originating_country, original_amount, original_currency,
 * payer_identification_type, payer_identification_number, payer_identity,
 * payer_first_name, payer_surname, payer_language_code, payer_email,
 * payer_msisdn, payer_gender; and the payee's id_type and the callback URL.
 * Fills in terms (version 2, and the further
 * members of MTN's body as the text of a jsonb object, which the row keeps
 * and every resend sends), or raises one ERROR describing every problem.
 */
void
momo_validate_cash_transfer(FunctionCallInfo fcinfo, const MomoConfig *cfg, MomoPaymentTerms *terms)
{
	Problems	ps;
	StringInfoData obj;
	char	   *country;
	char	   *original_amount = NULL;
	char	   *original_currency;
	char	   *id_type;
	char	   *language;
	char	   *email;
	char	   *payer_msisdn = NULL;
	Problems	tp;

	ps.n = 0;
	check_payment(&ps, fcinfo, cfg, terms, check_party_id_type(&tp, fcinfo, 18));
	terms->api_version = 2;
	country = check_code(&ps, "originating_country", text_arg(fcinfo, 6), 2, 2, false,
						 "an ISO 3166 country code of two letters", "For example 'FR' or 'US'.");
	if (country && !is_iso3166_country(country))
	{
		add_problem(&ps, "originating_country", ERRCODE_INVALID_PARAMETER_VALUE,
					psprintf("originating_country \"%s\" is not an ISO 3166 country code", country),
					"For example 'FR' or 'US'.");
		country = NULL;
	}
	if (!PG_ARGISNULL(7))
	{
		Numeric		n = PG_GETARG_NUMERIC(7);
		char	   *raw_currency = text_arg(fcinfo, 8);
		char		upper[4] = "its";	/* its currency, when not (well) given */
		int			decimals = 2;

		/* The currency's minor unit, if it is well written (checked below). */
		if (raw_currency && strlen(raw_currency) == 3)
		{
			for (int i = 0; i < 4; i++)
				upper[i] = pg_ascii_toupper((unsigned char) raw_currency[i]);
			decimals = currency_decimals(upper);
		}
		if (numeric_is_nan(n) || numeric_is_inf(n) ||
			!DatumGetBool(DirectFunctionCall2(numeric_gt, NumericGetDatum(n),
											  DirectFunctionCall1(int4_numeric, Int32GetDatum(0)))))
			add_problem(&ps, "original_amount", ERRCODE_INVALID_PARAMETER_VALUE,
						psprintf("original_amount must be positive, not %s",
								 DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n)))),
						"The amount sent, in original_currency.");
		else
		{
			Datum		trimmed = DirectFunctionCall1(numeric_trim_scale, NumericGetDatum(n));
			int			scale = DatumGetInt32(DirectFunctionCall1(numeric_scale, trimmed));
			char	   *shown_amount = DatumGetCString(DirectFunctionCall1(numeric_out, trimmed));

			if (scale > decimals)
				add_problem(&ps, "original_amount", ERRCODE_INVALID_PARAMETER_VALUE,
							psprintf("original_amount has %d decimal place%s; %s allows at most %d",
									 scale, scale == 1 ? "" : "s", strcmp(upper, "its") == 0 ? "its currency" : upper,
									 decimals),
							"Round the amount to the currency's smallest unit.");
			else if (strcspn(shown_amount, ".") > 15)
				add_problem(&ps, "original_amount", ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
							psprintf("original_amount is too large: %s", shown(shown_amount)),
							"At most 15 digits before the decimal point.");
			else
				original_amount = shown_amount;
		}
	}
	original_currency = check_code(&ps, "original_currency", text_arg(fcinfo, 8), 3, 3, false,
								   "an ISO 4217 currency code of three letters", "For example 'EUR' or 'USD'.");
	if ((original_amount == NULL) != (original_currency == NULL) &&
		(PG_ARGISNULL(7) != PG_ARGISNULL(8)))
		add_problem(&ps, PG_ARGISNULL(7) ? "original_amount" : "original_currency",
					ERRCODE_NULL_VALUE_NOT_ALLOWED,
					psprintf("%s must not be null when %s is given",
							 PG_ARGISNULL(7) ? "original_amount" : "original_currency",
							 PG_ARGISNULL(7) ? "original_currency" : "original_amount"),
					"Give the amount sent and its currency together, or neither.");
	id_type = check_code(&ps, "payer_identification_type", text_arg(fcinfo, 9), 2, 8, false,
						 "a code of two to eight letters",
						 "MTN's code of the payer's identity document, such as PASS for a passport.");
	language = check_code(&ps, "payer_language_code", text_arg(fcinfo, 14), 2, 3, true,
						  "an ISO 639 code of two or three letters", "For example 'en' or 'fr'.");
	email = check_detail(&ps, "payer_email", text_arg(fcinfo, 15), 254);
	if (email)
	{
		char	   *at = strchr(email, '@');

		if (at == NULL || at == email || at[1] == '\0' || strchr(at + 1, '@') != NULL ||
			strpbrk(email, " \"") != NULL)
		{
			add_problem(&ps, "payer_email", ERRCODE_INVALID_PARAMETER_VALUE,
						psprintf("payer_email must be an email address, not \"%s\"", shown(email)),
						"One @ between the local part and the domain, without spaces.");
			email = NULL;
		}
	}
	if (!PG_ARGISNULL(16))
		payer_msisdn = check_msisdn(&ps, "payer_msisdn", text_arg(fcinfo, 16), NULL, false);

	/*
	 * MTN's names of its members, in its spelling (orginatingCountry too);
	 * jsonb orders them its own way, which JSON leaves free.
	 */
	initStringInfo(&obj);
	appendStringInfoChar(&obj, '{');
	add_member(&obj, "orginatingCountry", country);
	add_member(&obj, "originalAmount", original_amount);
	add_member(&obj, "originalCurrency", original_currency);
	add_member(&obj, "payerIdentificationType", id_type);
	add_member(&obj, "payerIdentificationNumber",
			   check_detail(&ps, "payer_identification_number", text_arg(fcinfo, 10), 64));
	add_member(&obj, "payerIdentity", check_detail(&ps, "payer_identity", text_arg(fcinfo, 11), 160));
	add_member(&obj, "payerFirstName", check_detail(&ps, "payer_first_name", text_arg(fcinfo, 12), 100));
	add_member(&obj, "payerSurName", check_detail(&ps, "payer_surname", text_arg(fcinfo, 13), 100));
	add_member(&obj, "payerLanguageCode", language);
	add_member(&obj, "payerEmail", email);
	add_member(&obj, "payerMsisdn", payer_msisdn);
	add_member(&obj, "payerGender", check_detail(&ps, "payer_gender", text_arg(fcinfo, 17), 16));
	appendStringInfoChar(&obj, '}');
	add_problems(&ps, &tp);
	terms->callback_url = check_callback_url(&ps, fcinfo, 19, cfg);
	raise_problems(&ps);
	/* As jsonb writes it: the text the row keeps, compared by idempotency. */
	terms->extra_terms = DatumGetCString(DirectFunctionCall1(jsonb_out,
															 DirectFunctionCall1(jsonb_in, CStringGetDatum(obj.data))));
}


/* Returns the text of a jsonb object built as text in obj, as jsonb writes it. */
static char *
as_jsonb_text(StringInfo obj)
{
	return DatumGetCString(DirectFunctionCall1(jsonb_out,
											   DirectFunctionCall1(jsonb_in, CStringGetDatum(obj->data))));
}

/*
 * Checks a required one-line text (an identifier or a name at a service
 * provider): not NULL, not empty, at most max_chars characters, without
 * control characters.  Returns it or NULL.
 */
static char *
check_required_text(Problems *ps, const char *name, char *value, int max_chars, const char *hint)
{
	if (value == NULL)
	{
		add_problem(ps, name, ERRCODE_NULL_VALUE_NOT_ALLOWED, psprintf("%s must not be null", name), hint);
		return NULL;
	}
	if (value[0] == '\0')
	{
		add_problem(ps, name, ERRCODE_INVALID_PARAMETER_VALUE, psprintf("%s must not be empty", name), hint);
		return NULL;
	}
	return check_detail(ps, name, value, max_chars);
}

/*
 * Checks the integer argument argno (named name), if given: at least min.
 * Returns its text, or NULL when it is NULL or wrong.
 */
static char *
check_count(Problems *ps, FunctionCallInfo fcinfo, int argno, const char *name, int32 min,
			const char *hint)
{
	int32		v;

	if (PG_ARGISNULL(argno))
		return NULL;
	v = PG_GETARG_INT32(argno);
	if (v < min)
	{
		add_problem(ps, name, ERRCODE_INVALID_PARAMETER_VALUE,
					min == 0 ? psprintf("%s must not be negative, not %d", name, v) :
					psprintf("%s must be at least %d, not %d", name, min, v), hint);
		return NULL;
	}
	return psprintf("%d", v);
}

/*
 * Checks the arguments of momo_create_invoice (amount, currency, msisdn,
 * external_id, validity_duration, description, payee_msisdn, id_type,
 * callback_url): msisdn is the intended payer, of id_type; the others,
 * optional (NULL: left out of the request), are the invoice's validity in
 * seconds (MTN's validityDuration, a JSON string), its description (a
 * message: MTN writes it in the payer's history), the payee's number and
 * the payment's own callback URL.  Fills
 * in terms (version 2; the further members of MTN's body, in MTN's names,
 * as the text of a jsonb object), or raises one ERROR describing every
 * problem.
 */
void
momo_validate_invoice(FunctionCallInfo fcinfo, const MomoConfig *cfg, MomoPaymentTerms *terms)
{
	Problems	ps;
	StringInfoData obj;
	char	   *validity;
	char	   *description;
	char	   *payee = NULL;
	Problems	tp;
	int			type;

	ps.n = 0;
	memset(terms, 0, sizeof(*terms));
	terms->api_version = 2;
	type = check_party_id_type(&tp, fcinfo, 7);
	terms->party_id_type = type >= 0 ? (MomoIdType) type : MOMO_ID_MSISDN;
	check_money(&ps, fcinfo, cfg, terms);
	terms->msisdn = check_holder_id(&ps, "msisdn", text_arg(fcinfo, 2), type);
	terms->external_id = check_text(&ps, "external_id", text_arg(fcinfo, 3),
									 MAX_EXTERNAL_ID_CHARS, false);
	validity = check_count(&ps, fcinfo, 4, "validity_duration", 1,
						   "How long the invoice can be paid, in seconds; NULL leaves it to MTN.");
	description = check_text(&ps, "description", text_arg(fcinfo, 5), MAX_MESSAGE_CHARS, true);
	if (!PG_ARGISNULL(6))
		payee = check_msisdn(&ps, "payee_msisdn", text_arg(fcinfo, 6), momo_settings_msisdn_market(), false);
	add_problems(&ps, &tp);
	terms->callback_url = check_callback_url(&ps, fcinfo, 8, cfg);
	raise_problems(&ps);

	initStringInfo(&obj);
	appendStringInfoChar(&obj, '{');
	add_member(&obj, "validityDuration", validity);
	add_member(&obj, "description", description);
	if (payee)
	{
		StringInfoData party;

		initStringInfo(&party);
		appendStringInfoString(&party, "{\"partyIdType\":\"MSISDN\",\"partyId\":");
		escape_json(&party, payee);
		appendStringInfoChar(&party, '}');
		add_raw_member(&obj, "payee", party.data);
	}
	appendStringInfoChar(&obj, '}');
	terms->extra_terms = as_jsonb_text(&obj);
}

/*
 * Checks the arguments of momo_create_payment (amount, currency,
 * customer_reference, service_provider_user_name, external_id, coupon_id,
 * product_id, product_offering_id, receiver_message, sender_note,
 * max_number_of_retries, include_sender_charges, callback_url): MTN's
 * CreatePayments, a payment to a service provider (a bill, air time) for
 * the customer reference, which the row keeps in msisdn; the others are the
 * further members of MTN's body, each optional but the provider's name,
 * and the payment's own callback URL.  Fills in terms (version 2,
 * extra_terms in MTN's names), or raises one ERROR describing every
 * problem.
 */
void
momo_validate_create_payment(FunctionCallInfo fcinfo, const MomoConfig *cfg, MomoPaymentTerms *terms)
{
	Problems	ps;
	StringInfoData obj;
	char	   *provider;
	char	   *coupon;
	char	   *product;
	char	   *offering;
	char	   *receiver_message;
	char	   *sender_note;
	char	   *retries;

	ps.n = 0;
	memset(terms, 0, sizeof(*terms));
	terms->api_version = 2;
	check_money(&ps, fcinfo, cfg, terms);
	terms->msisdn = check_required_text(&ps, "customer_reference", text_arg(fcinfo, 2), 64,
										"The customer's reference at the service provider, such as a phone or meter number.");
	provider = check_required_text(&ps, "service_provider_user_name", text_arg(fcinfo, 3), 100,
								   "The service provider's name at MTN, such as its user name for bill payments.");
	terms->external_id = check_text(&ps, "external_id", text_arg(fcinfo, 4),
									 MAX_EXTERNAL_ID_CHARS, false);
	coupon = check_detail(&ps, "coupon_id", text_arg(fcinfo, 5), MAX_EXTERNAL_ID_CHARS);
	product = check_detail(&ps, "product_id", text_arg(fcinfo, 6), MAX_EXTERNAL_ID_CHARS);
	offering = check_detail(&ps, "product_offering_id", text_arg(fcinfo, 7), MAX_EXTERNAL_ID_CHARS);
	receiver_message = check_text(&ps, "receiver_message", text_arg(fcinfo, 8), MAX_MESSAGE_CHARS, true);
	sender_note = check_text(&ps, "sender_note", text_arg(fcinfo, 9), MAX_MESSAGE_CHARS, true);
	retries = check_count(&ps, fcinfo, 10, "max_number_of_retries", 0,
						  "How often MTN may retry the payment at the provider; NULL leaves it to MTN.");
	terms->callback_url = check_callback_url(&ps, fcinfo, 12, cfg);
	raise_problems(&ps);

	initStringInfo(&obj);
	appendStringInfoChar(&obj, '{');
	add_member(&obj, "serviceProviderUserName", provider);
	add_member(&obj, "couponId", coupon);
	add_member(&obj, "productId", product);
	add_member(&obj, "productOfferingId", offering);
	add_member(&obj, "receiverMessage", receiver_message);
	add_member(&obj, "senderNote", sender_note);
	add_raw_member(&obj, "maxNumberOfRetries", retries);
	if (!PG_ARGISNULL(11))
		add_raw_member(&obj, "includeSenderCharges", PG_GETARG_BOOL(11) ? "true" : "false");
	appendStringInfoChar(&obj, '}');
	terms->extra_terms = as_jsonb_text(&obj);
}


/* The longest validity of a pre-approval momo sends: MTN's validityTime is an integer. */
#define MAX_VALIDITY_SECONDS 2147483647.0

/*
 * Checks the arguments of momo_preapproval (msisdn, currency,
 * payer_message, validity, external_id, id_type, callback_url) and fills in terms
 * (version 2, no amount): the payer's id in msisdn, and the payer as MTN's
 * Party with validityTime (whole seconds; left out when validity is NULL)
 * as the text of a jsonb object in extra_terms, which the row keeps and
 * every resend sends; or raises one ERROR describing every problem.
 */
void
momo_validate_preapproval(FunctionCallInfo fcinfo, const MomoConfig *cfg, MomoPaymentTerms *terms)
{
	Problems	ps;
	Problems	tp;
	StringInfoData obj;
	int			type;
	double		seconds = -1;

	ps.n = tp.n = 0;
	memset(terms, 0, sizeof(*terms));
	terms->api_version = 2;
	/* MTN's Party takes all three types; the id's problems come first. */
	type = check_id_type(&tp, fcinfo, 5, (1u << MOMO_N_ID_TYPES) - 1, "a pre-approval");
	terms->party_id_type = type >= 0 ? (MomoIdType) type : MOMO_ID_MSISDN;
	terms->msisdn = check_holder_id(&ps, "msisdn", text_arg(fcinfo, 0), type);
	terms->currency = check_currency(&ps, text_arg(fcinfo, 1), cfg);
	terms->payer_message = check_text(&ps, "payer_message", text_arg(fcinfo, 2), MAX_MESSAGE_CHARS, true);
	if (!PG_ARGISNULL(3))
	{
		Interval   *iv = PG_GETARG_INTERVAL_P(3);

		seconds = DatumGetFloat8(DirectFunctionCall2(interval_part, CStringGetTextDatum("epoch"),
													 IntervalPGetDatum(iv)));
		if (!(seconds >= 1) || seconds > MAX_VALIDITY_SECONDS || seconds != floor(seconds))
		{
			add_problem(&ps, "validity", ERRCODE_INVALID_PARAMETER_VALUE,
						psprintf("validity must be a whole number of seconds from 1 second to %.0f, not %s",
								 MAX_VALIDITY_SECONDS,
								 DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(iv)))),
						"How long the pre-approval holds once the payer approved it, such as interval '30 days'; NULL leaves it to MTN.");
			seconds = -1;
		}
	}
	terms->external_id = check_text(&ps, "external_id", text_arg(fcinfo, 4), MAX_EXTERNAL_ID_CHARS, false);
	add_problems(&ps, &tp);
	terms->callback_url = check_callback_url(&ps, fcinfo, 6, cfg);
	raise_problems(&ps);

	initStringInfo(&obj);
	appendStringInfoString(&obj, "{\"payer\":{\"partyIdType\":");
	escape_json(&obj, momo_party_id_types[type]);
	appendStringInfoString(&obj, ",\"partyId\":");
	escape_json(&obj, terms->msisdn);
	appendStringInfoChar(&obj, '}');
	if (seconds > 0)
		appendStringInfo(&obj, ",\"validityTime\":%.0f", seconds);
	appendStringInfoChar(&obj, '}');
	/* As jsonb writes it: the text the row keeps, compared by idempotency. */
	terms->extra_terms = DatumGetCString(DirectFunctionCall1(jsonb_out,
															 DirectFunctionCall1(jsonb_in, CStringGetDatum(obj.data))));
}

/*
 * Checks the arguments of momo_refund after the reference id (amount, which
 * may be NULL, external_id, payer_message, payee_note, version,
 * callback_url) for a refund in currency, and fills in terms (amount NULL
 * when not given; version 1 and no callback URL of its own when
 * momo_refund is that of a schema of 1.0, without them).
 */
void
momo_validate_refund(FunctionCallInfo fcinfo, const MomoConfig *cfg, const char *currency,
					 MomoPaymentTerms *terms)
{
	Problems	ps;

	ps.n = 0;
	terms->api_version = 1;
	terms->amount = PG_ARGISNULL(1) ? NULL : check_amount(&ps, fcinfo, 1, currency);
	terms->external_id = check_text(&ps, "external_id", text_arg(fcinfo, 2),
									 MAX_EXTERNAL_ID_CHARS, false);
	terms->payer_message = check_text(&ps, "payer_message", text_arg(fcinfo, 3),
									  MAX_MESSAGE_CHARS, true);
	terms->payee_note = check_text(&ps, "payee_note", text_arg(fcinfo, 4),
								   MAX_MESSAGE_CHARS, true);
	if (PG_NARGS() > 5)
		terms->api_version = check_api_version(&ps, fcinfo, 5);
	terms->callback_url = check_callback_url(&ps, fcinfo, 6, cfg);
	raise_problems(&ps);
}

/* Checks the currency of argument argno (named currency); returns it. */
char *
momo_validate_currency(FunctionCallInfo fcinfo, int argno, const MomoConfig *cfg)
{
	Problems	ps;
	char	   *currency;

	ps.n = 0;
	currency = check_currency(&ps, text_arg(fcinfo, argno), cfg);
	raise_problems(&ps);
	return currency;
}

/*
 * Checks the language of argument argno (named language): an ISO 639-1 or
 * 639-3 code, two or three letters, as MTN's Language header takes it;
 * returns it in lower case.  The caller passes over a NULL (no header).
 */
char *
momo_validate_language(FunctionCallInfo fcinfo, int argno)
{
	Problems	ps;
	char	   *language;

	ps.n = 0;
	language = check_code(&ps, "language", text_arg(fcinfo, argno), 2, 3, true,
						  "an ISO 639 code of two or three letters", "For example 'rw' (Kinyarwanda), 'en' or 'fr'.");
	raise_problems(&ps);
	return language;
}

/* Checks a message of at most 160 characters (argument argno, named name); returns it. */
char *
momo_validate_message(FunctionCallInfo fcinfo, int argno, const char *name)
{
	Problems	ps;
	char	   *v;

	ps.n = 0;
	momo_validate_require_arg(fcinfo, argno, name);
	v = check_text(&ps, name, text_arg(fcinfo, argno), MAX_MESSAGE_CHARS, true);
	if (v == NULL && ps.n == 0)
		add_problem(&ps, name, ERRCODE_INVALID_PARAMETER_VALUE, psprintf("%s must not be empty", name), NULL);
	raise_problems(&ps);
	return v;
}

/* Checks the product argument argno; returns it, or -1 after recording a problem. */
static int
check_product(Problems *ps, FunctionCallInfo fcinfo, int argno)
{
	char	   *name = text_arg(fcinfo, argno);

	if (name == NULL)
	{
		add_problem(ps, "product", ERRCODE_NULL_VALUE_NOT_ALLOWED, pstrdup("product must not be null"), NULL);
		return -1;
	}
	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
		if (strcmp(name, momo_product_names[p]) == 0)
			return p;
	add_problem(ps, "product", ERRCODE_INVALID_PARAMETER_VALUE,
				psprintf("product must be collection, disbursement or remittance, not \"%s\"", shown(name)),
				NULL);
	return -1;
}

/* Checks a product argument; returns it. */
MomoProduct
momo_validate_product(FunctionCallInfo fcinfo, int argno)
{
	Problems	ps;
	int			p;

	ps.n = 0;
	p = check_product(&ps, fcinfo, argno);
	raise_problems(&ps);
	return (MomoProduct) p;
}

/*
 * Checks the arguments of momo_pause (reason at reason_argno, product at
 * product_argno) or momo_resume (product only: reason_argno < 0): the
 * reason, required, one line of at most MAX_REASON_CHARS characters, into
 * *reason; the product, NULL for every product.  Returns the product, or -1
 * for every product.
 */
int
momo_validate_pause(FunctionCallInfo fcinfo, int reason_argno, int product_argno, char **reason)
{
	const char *why = "Say why sending is paused: the reason is kept in momo_pauses and shown in the server log.";
	Problems	ps;
	int			product = -1;

	ps.n = 0;
	if (reason_argno >= 0)
	{
		char	   *v = text_arg(fcinfo, reason_argno);
		bool		blank = true;

		for (const char *c = v; c && *c; c++)
			blank &= (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r');
		if (v == NULL)
			add_problem(&ps, "reason", ERRCODE_NULL_VALUE_NOT_ALLOWED, pstrdup("reason must not be null"), why);
		else if (blank)
			add_problem(&ps, "reason", ERRCODE_INVALID_PARAMETER_VALUE, pstrdup("reason must not be empty"), why);
		else
			*reason = check_text(&ps, "reason", v, MAX_REASON_CHARS, false);
	}
	if (!PG_ARGISNULL(product_argno))
	{
		product = check_product(&ps, fcinfo, product_argno);
		if (product < 0)
			ps.items[ps.n - 1].hint = pstrdup("Pass NULL, the default, for every product.");
	}
	raise_problems(&ps);
	return product;
}

/*
 * Is s an email address as MTN's IsEmail would take it: one "@" between a
 * local part of at most 64 characters and a domain with a dot, at most 254
 * characters, no spaces, controls, non-ASCII or the specials a plain
 * address never has ("/" among them, which no path segment carries through
 * every proxy); no dot at either end of the local part or the domain, nor
 * two in a row; no domain label that begins or ends with a hyphen.
 */
bool
momo_validate_is_email(const char *s)
{
	const char *at = strchr(s, '@');
	size_t		len = strlen(s);

	if (len > 254 || at == NULL || at == s || at - s > 64 || at[1] == '\0' || at[1] == '.' ||
		s[0] == '.' || at[-1] == '.' ||
		strchr(at + 1, '@') != NULL || strchr(at + 1, '.') == NULL || s[len - 1] == '.' ||
		strstr(s, "..") != NULL)
		return false;
	for (const unsigned char *c = (const unsigned char *) s; *c; c++)
		if (*c <= ' ' || *c >= 0x7f || strchr("\"(),:;<>[\\]/", *c) != NULL)
			return false;
	/* each label of the domain: no hyphen at its ends */
	for (const char *c = at + 1; *c; c++)
		if (*c == '-' && (c[-1] == '@' || c[-1] == '.' || c[1] == '.' || c[1] == '\0'))
			return false;
	return true;
}

/* Is s a UUID (8-4-4-4-12 hexadecimal digits, any version)? */
bool
momo_validate_is_uuid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++)
	{
		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
		}
		else if (!isxdigit((unsigned char) s[i]))
			return false;
	}
	return true;
}

/*
 * Checks the id type at argno (a missing argument: msisdn; NULL is
 * refused), in any case, against the types the operation takes (allowed, a bit per
 * MomoIdType; what names the operation in the error).  Returns the type, or
 * -1 after recording a problem.
 */
static int
check_id_type(Problems *ps, FunctionCallInfo fcinfo, int argno, unsigned allowed, const char *what)
{
	char	   *v = (argno >= 0 && argno < PG_NARGS()) ? text_arg(fcinfo, argno) : pstrdup("msisdn");
	StringInfoData names;

	if (v == NULL)
	{
		add_problem(ps, "id_type", ERRCODE_NULL_VALUE_NOT_ALLOWED, pstrdup("id_type must not be null"),
					"Pass msisdn, email or party_code, or leave it out for msisdn.");
		return -1;
	}
	for (int t = 0; t < MOMO_N_ID_TYPES; t++)
	{
		if (pg_strcasecmp(v, momo_id_type_names[t]) != 0)
			continue;
		if (allowed & (1u << t))
			return t;
		initStringInfo(&names);
		for (int u = 0; u < MOMO_N_ID_TYPES; u++)
			if (allowed & (1u << u))
				appendStringInfo(&names, "%s%s", names.len ? " or " : "", momo_id_type_names[u]);
		add_problem(ps, "id_type", ERRCODE_INVALID_PARAMETER_VALUE,
					psprintf("id_type must be %s for %s, not %s", names.data, what, momo_id_type_names[t]),
					"MTN's definition of the operation names the account holder by these only.");
		return -1;
	}
	add_problem(ps, "id_type", ERRCODE_INVALID_PARAMETER_VALUE,
				psprintf("id_type must be msisdn, email or party_code, not \"%s\"", shown(v)),
				pg_strncasecmp(v, "http", 4) == 0 ?
				"id_type comes before callback_url: pass the callback URL by name (callback_url => ...)." :
				"The kind of id the account holder is given by, in any case; msisdn when left out.");
	return -1;
}

/*
 * Checks an account holder's id (argument column) of type type (< 0: the
 * type was wrong, the id is not checked) and returns it as MTN wants it: an
 * msisdn normalised (see momo_normalize_msisdn), an email as given, a party
 * code in small letters.
 */
static char *
check_holder_id(Problems *ps, const char *column, char *id, int type)
{
	if (type == MOMO_ID_MSISDN || type < 0)
	{
		int			before = ps->n;
		char	   *msisdn;

		if (type < 0 && id != NULL)
			return NULL;
		msisdn = check_msisdn(ps, column, id, momo_settings_msisdn_market(), false);
		/* An email address or a party code given as a number: say how to name them. */
		if (ps->n > before && id != NULL &&
			(strchr(id, '@') != NULL || momo_validate_is_uuid(id)))
			ps->items[ps->n - 1].hint = pstrdup(strchr(id, '@') ?
												"For an email address, pass id_type => 'email'." :
												"For a party code, pass id_type => 'party_code'.");
		return msisdn;
	}
	if (id == NULL)
	{
		add_problem(ps, column, ERRCODE_NULL_VALUE_NOT_ALLOWED, psprintf("%s must not be null", column),
					type == MOMO_ID_EMAIL ? "Give the account holder's email address." :
					"Give the account holder's party code (a UUID).");
		return NULL;
	}
	if (type == MOMO_ID_EMAIL && !momo_validate_is_email(id))
		add_problem(ps, column, ERRCODE_INVALID_PARAMETER_VALUE,
					psprintf("%s must be an email address when id_type is email, not \"%s\"", column, shown(id)),
					"One @ between a name of at most 64 characters and a domain with a dot, without spaces or a dot at either end of either part; or say id_type => 'msisdn' for a number.");
	else if (type == MOMO_ID_PARTY_CODE && !momo_validate_is_uuid(id))
		add_problem(ps, column, ERRCODE_INVALID_PARAMETER_VALUE,
					psprintf("%s must be a party code (a UUID) when id_type is party_code, not \"%s\"", column, shown(id)),
					"MTN's party code is the UUID of the party, such as 0f8fad5b-d9cb-469f-a165-70867728950e.");
	else
	{
		if (type == MOMO_ID_PARTY_CODE)
			for (char *c = id; *c; c++)
				*c = pg_ascii_tolower((unsigned char) *c);
		return id;
	}
	return NULL;
}

/*
 * Checks the arguments of an account holder question (msisdn at 0, product
 * at product_argno, or none and collection when it is negative, id_type at
 * idtype_argno, which a schema of 1.0 has not: msisdn), for the id types
 * allowed (a bit per MomoIdType, per product): returns the id as MTN wants
 * it, its type and the product.
 */
char *
momo_validate_account_holder(FunctionCallInfo fcinfo, int product_argno, int idtype_argno,
							 const unsigned *product_allowed, const char *what,
							 MomoProduct *product, MomoIdType *type)
{
	Problems	ps;
	Problems	pp;
	Problems	tp;
	char	   *id;
	int			t;
	int			p;

	/* The type decides how the id is checked; problems in argument order. */
	pp.n = tp.n = ps.n = 0;
	p = product_argno >= 0 ? check_product(&pp, fcinfo, product_argno) : MOMO_COLLECTION;
	t = check_id_type(&tp, fcinfo, idtype_argno,
					  p >= 0 ? product_allowed[p] : (1u << MOMO_N_ID_TYPES) - 1,
					  p >= 0 && product_argno >= 0 ? psprintf("%s of %s", what, momo_product_names[p]) : what);
	id = check_holder_id(&ps, "msisdn", text_arg(fcinfo, 0), t);
	add_problems(&ps, &pp);
	add_problems(&ps, &tp);
	raise_problems(&ps);
	*product = (MomoProduct) p;
	*type = (MomoIdType) t;
	return id;
}

/*
 * Checks the arguments of momo_user_info_with_consent (msisdn, scope,
 * product, timeout): returns the number as MTN wants it, and the scope
 * (one or more scope names, such as "profile" or "profile phone": letters,
 * digits and _.:- separated by single spaces), the product and the timeout
 * in milliseconds (more than zero, at most MAX_CONSENT_TIMEOUT_MS).
 */
#define MAX_CONSENT_SCOPE_CHARS 200
#define MAX_CONSENT_TIMEOUT_MS (3600 * 1000L)
char *
momo_validate_consent(FunctionCallInfo fcinfo, char **scope, MomoProduct *product, long *timeout_ms)
{
	const char *scope_hint = "Give one or more scope names separated by single spaces, such as 'profile' or 'profile phone'.";
	Problems	ps;
	char	   *msisdn;
	char	   *v = text_arg(fcinfo, 1);

	ps.n = 0;
	msisdn = check_msisdn(&ps, "msisdn", text_arg(fcinfo, 0), momo_settings_msisdn_market(), false);
	*scope = v;
	if (v == NULL)
		add_problem(&ps, "scope", ERRCODE_NULL_VALUE_NOT_ALLOWED, pstrdup("scope must not be null"), scope_hint);
	else if (strlen(v) > MAX_CONSENT_SCOPE_CHARS)
		add_problem(&ps, "scope", ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
					psprintf("scope must be at most %d characters long, not %zu",
							 MAX_CONSENT_SCOPE_CHARS, strlen(v)), scope_hint);
	else if (v[0] == '\0' || v[0] == ' ' || v[strlen(v) - 1] == ' ' || strstr(v, "  ") != NULL ||
			 strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:- ") != strlen(v))
		add_problem(&ps, "scope", ERRCODE_INVALID_PARAMETER_VALUE,
					psprintf("scope must be scope names separated by single spaces, not \"%s\"", shown(v)),
					scope_hint);
	*product = (MomoProduct) check_product(&ps, fcinfo, 2);
	*timeout_ms = 0;
	if (PG_ARGISNULL(3))
		add_problem(&ps, "timeout", ERRCODE_NULL_VALUE_NOT_ALLOWED, pstrdup("timeout must not be null"), NULL);
	else
	{
		Interval   *iv = PG_GETARG_INTERVAL_P(3);
		double		ms = ((double) iv->month * DAYS_PER_MONTH + iv->day) * SECS_PER_DAY * 1000.0 +
			(double) iv->time / 1000.0;

		if (ms <= 0)
			add_problem(&ps, "timeout", ERRCODE_INVALID_PARAMETER_VALUE,
						pstrdup("timeout must be greater than zero"), NULL);
		else if (ms > MAX_CONSENT_TIMEOUT_MS)
			add_problem(&ps, "timeout", ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
						pstrdup("timeout must be at most 1 hour"),
						"MTN's consent requests expire long before.");
		else
			*timeout_ms = (long) ms;
	}
	raise_problems(&ps);
	return msisdn;
}

/*
 * momo_normalize_msisdn(msisdn, country): the number as momo's functions
 * send it to MTN, or an ERROR saying what is wrong with it (as theirs do).
 * A number written without its country code is one of country (a calling
 * code), or by default of momo.msisdn_country's.  NULL for a NULL msisdn.
 */
Datum
momo_normalize_msisdn(PG_FUNCTION_ARGS)
{
	Problems	ps;
	char	   *msisdn = text_arg(fcinfo, 0);
	char	   *country = text_arg(fcinfo, 1);
	const MomoMarket *local = country ? momo_msisdn_market(country) : momo_settings_msisdn_market();
	bool		bad_country = (country != NULL && local == NULL);
	char	   *v = NULL;

	/*
	 * With a wrong country, a number that lacks only its country code is
	 * not wrong too.
	 */
	ps.n = 0;
	if (msisdn != NULL)
		v = check_msisdn(&ps, "msisdn", msisdn, local, bad_country);
	if (bad_country)
		add_problem(&ps, "country", ERRCODE_INVALID_PARAMETER_VALUE,
					psprintf("country must be the country calling code of one of MTN's markets, not \"%s\"",
							 shown(country)),
					psprintf("One of %s; or NULL for momo.msisdn_country.", momo_msisdn_market_codes()));
	raise_problems(&ps);
	if (msisdn == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(v));
}
