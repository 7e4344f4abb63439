/*-------------------------------------------------------------------------
 *
 * fuzz_callback.c
 *	  libFuzzer target: what momo reads of a callback, which anyone who knows
 *	  the callback URL can send (src/answers.c).  The input is read both as
 *	  the body and, up to its first NUL, as the query string.
 *
 *	  Body (momo_answers_parse_callback_body): the claimed status and externalId
 *	  must be the body's (last occurrence, if a string), cut to a printable
 *	  excerpt; nothing is claimed from an unreadable body.  The status kept
 *	  in the event log (momo_answers_callback_claimed_status) is one of MTN's status
 *	  words, exactly the body's, or nothing.
 *
 *	  Query string (momo_answers_parse_callback_query): accepted exactly when
 *	  momo_ref occurs once with a lower-case UUID for value and momo_sig at
 *	  most once, and then the values are exactly those parameters'.
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_support.h"

/* Keys momo reads from callback bodies. */
static const char *const callback_keys[] = {"status", "externalId"};

/* Checks a claimed value against the body's: the excerpt of its last string value, or NULL. */
static void
check_claim(const char *what, const char *got, RefValue v)
{
	size_t		n;

	if (v.kind != REF_STRING)
	{
		if (got != NULL)
			fuzz_fail("%s \"%s\" claimed, but the body's %s is not a string", what, got, what);
		return;
	}
	if (got == NULL)
		fuzz_fail("%s not claimed, but the body's %s is the string \"%s\"", what, what, v.text);
	n = Min(strlen(v.text), 200);
	if (strlen(got) != n)
		fuzz_fail("%s \"%s\" is not the excerpt of the body's \"%s\"", what, got, v.text);
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) v.text[i];
		char		want = (c >= 0x20 && c < 0x7f) ? (char) c : '?';

		if (got[i] != want)
			fuzz_fail("%s \"%s\" is not the excerpt of the body's \"%s\"", what, got, v.text);
	}
}

/* The status words a callback's claimed status may be. */
static const char *const status_words[] = {"SUCCESSFUL", "FAILED", "PENDING", "CREATED"};

/* Checks the status kept for the event log against the claimed status. */
static void
check_status_word(const char *word, const char *claimed)
{
	const char *want = NULL;

	for (size_t i = 0; i < lengthof(status_words); i++)
		if (claimed != NULL && strcmp(claimed, status_words[i]) == 0)
			want = status_words[i];
	if ((word == NULL) != (want == NULL) || (word != NULL && strcmp(word, want) != 0))
		fuzz_fail("status word \"%s\" kept for the claimed status \"%s\"",
				  word ? word : "(none)", claimed ? claimed : "(none)");
}

/*
 * The reference reading of one query-string parameter: how often name=
 * starts a '&'-separated part (after an optional leading '?'), and the
 * value of its last occurrence.
 */
static int
query_occurrences(const char *query, const char *name, const char **value, size_t *vlen)
{
	size_t		nlen = strlen(name);
	const char *part = (*query == '?') ? query + 1 : query;
	int			n = 0;

	*value = NULL;
	*vlen = 0;
	for (;;)
	{
		const char *amp = strchr(part, '&');
		size_t		plen = amp ? (size_t) (amp - part) : strlen(part);

		if (plen > nlen && memcmp(part, name, nlen) == 0 && part[nlen] == '=')
		{
			n++;
			*value = part + nlen + 1;
			*vlen = plen - nlen - 1;
		}
		if (amp == NULL)
			return n;
		part = amp + 1;
	}
}

/* True if v[0..len) is a UUID written in lower case: 8-4-4-4-12 of [0-9a-f]. */
static bool
ref_is_lower_uuid(const char *v, size_t len)
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	if (len != strlen(shape))
		return false;
	for (size_t i = 0; i < len; i++)
		if (shape[i] == '-' ? v[i] != '-' : (v[i] == '\0' || strchr("0123456789abcdef", v[i]) == NULL))
			return false;
	return true;
}

/* Checks momo_answers_parse_callback_query on the input up to its first NUL. */
static void
check_query(const uint8_t *data, size_t size)
{
	char	   *query = pnstrdup((const char *) data, strnlen((const char *) data, size));
	char	   *ref = (char *) "garbage";
	char	   *sig = (char *) "garbage";
	const char *rv;
	const char *sv;
	size_t		rlen;
	size_t		slen;
	int			nref = query_occurrences(query, "momo_ref", &rv, &rlen);
	int			nsig = query_occurrences(query, "momo_sig", &sv, &slen);
	bool		want = nref == 1 && nsig <= 1 && ref_is_lower_uuid(rv, rlen);
	bool		ok = momo_answers_parse_callback_query(query, &ref, &sig);

	if (ok != want)
		fuzz_fail("query string %s, but momo_ref occurs %d times, momo_sig %d times",
				  ok ? "accepted" : "refused", nref, nsig);
	if (!ok)
	{
		if (ref != NULL || sig != NULL)
			fuzz_fail("a refused query string left a value behind");
		return;
	}
	if (strlen(ref) != rlen || memcmp(ref, rv, rlen) != 0)
		fuzz_fail("momo_ref \"%s\" is not the query string's", ref);
	if (nsig == 0 ? sig != NULL : (sig == NULL || strlen(sig) != slen || memcmp(sig, sv, slen) != 0))
		fuzz_fail("momo_sig \"%s\" is not the query string's", sig ? sig : "(none)");
}

/* libFuzzer entry point: the input is the callback body, and its query string. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *) data;
	char	   *status = (char *) "garbage";
	char	   *external_id = (char *) "garbage";
	char	   *err;
	bool		ok;

	err = momo_answers_parse_callback_body(body, size, &status, &external_id);
	ok = ref_parse(body, size);

	if (err != NULL)
	{
		if (err[0] == '\0')
			fuzz_fail("an empty error");
		fuzz_check_text("the error", err);
		if (status != NULL || external_id != NULL)
			fuzz_fail("a claim read from a body refused as unreadable (%s)", err);
		if (ok && !ref_may_refuse(callback_keys, lengthof(callback_keys)))
			fuzz_fail("a well-formed JSON object refused: %s", err);
	}
	else
	{
		if (!ok)
			fuzz_fail("a body that is not a well-formed JSON object in valid UTF-8 was read");
		check_claim("status", status, ref_get("status"));
		check_claim("externalId", external_id, ref_get("externalId"));
	}
	check_status_word(momo_answers_callback_claimed_status(body, size),
					  (err || size > MOMO_MAX_CALLBACK_BODY) ? NULL : status);
	check_query(data, size);
	fuzz_reset_memory();
	return 0;
}
