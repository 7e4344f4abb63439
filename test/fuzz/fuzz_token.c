/*-------------------------------------------------------------------------
 *
 * fuzz_token.c
 *	  libFuzzer target: momo_answers_parse_token (src/answers.c), the answer
 *	  to POST /collection/token/.  The first two input bytes choose the HTTP
 *	  status as in fuzz_answer.c (the operation bit is unused); the rest is
 *	  the body.  A token is handed out only for a 200 whose body's
 *	  access_token is a non-empty string of header-safe characters (what
 *	  goes after "Authorization: Bearer "), with a sane lifetime that is the
 *	  body's expires_in when that is a whole number of seconds in range.
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_support.h"

#include <math.h>

/* Keys momo reads from token answers. */
static const char *const token_keys[] = {"access_token", "expires_in", "error", "message"};

/* Longest token lifetime momo takes from an answer (answers.c: 30 days). */
#define MAX_LIFETIME (86400 * 30)

/* True if the body's access_token is one momo may send in a header. */
static bool
usable_token(RefValue t)
{
	size_t		n;

	if (t.kind != REF_STRING)
		return false;
	n = strlen(t.text);
	if (n == 0 || n >= MOMO_MAX_TOKEN_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char) t.text[i] < 0x21 || (unsigned char) t.text[i] >= 0x7f)
			return false;
	return true;
}

/* Checks the lifetime momo took against the body's expires_in. */
static void
check_lifetime(int expires_in)
{
	RefValue	e = ref_get("expires_in");

	if (expires_in <= 0 || expires_in >= MAX_LIFETIME)
		fuzz_fail("token lifetime %d s is out of range", expires_in);
	if (e.kind == REF_NUMBER)
	{
		double		v = strtod(e.text, NULL);

		if (v > 0 && v < MAX_LIFETIME && v == floor(v) && expires_in != (int) v)
			fuzz_fail("token lifetime %d s, but the body's expires_in is %s (= %.0f s)",
					  expires_in, e.text, v);
	}
}

/* libFuzzer entry point: header, then body. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzHeader	h;
	MomoTokenResult r;
	char	   *token = (char *) "garbage";
	int			expires_in = -12345;
	char	   *error = (char *) "garbage";
	const char *body;
	bool		ok;
	bool		may_refuse;

	if (!fuzz_take_header(&data, &size, &h))
		return 0;
	body = (size == 0 && h.null_body) ? NULL : (const char *) data;

	r = momo_answers_parse_token(h.status, body, size, &token, &expires_in, &error);
	ok = ref_parse(body, size);
	may_refuse = ok && ref_may_refuse(token_keys, lengthof(token_keys));

	if ((int) r < MOMO_TOKEN_OK || (int) r > MOMO_TOKEN_TRANSIENT)
		fuzz_fail("result %d is not a MomoTokenResult", (int) r);
	fuzz_check_text("error", error);
	if ((token != NULL) != (r == MOMO_TOKEN_OK))
		fuzz_fail("token %s with result %d", token ? "set" : "missing", r);
	if (r != MOMO_TOKEN_OK && h.status != 0 && error == NULL)
		fuzz_fail("result %d on HTTP %ld without an error text", r, h.status);
	if (r == MOMO_TOKEN_OK && error != NULL)
		fuzz_fail("a token, and an error: %s", error);

	switch (r)
	{
		case MOMO_TOKEN_OK:
			if (h.status != 200)
				fuzz_fail("a token from an answer with HTTP %ld", h.status);
			if (!ok || !usable_token(ref_get("access_token")))
				fuzz_fail("a token, but the body's access_token is not a usable string");
			if (strcmp(token, ref_get("access_token").text) != 0)
				fuzz_fail("token \"%s\" is not the body's access_token", token);
			check_lifetime(expires_in);
			break;
		case MOMO_TOKEN_KEY_REFUSED:
			if (h.status != 401)
				fuzz_fail("subscription key refused on HTTP %ld", h.status);
			if (!(ok && ref_get("message").kind == REF_STRING &&
				  strstr(ref_get("message").text, "subscription key") != NULL))
				fuzz_fail("KEY_REFUSED, but the body's message does not mention the subscription key");
			break;
		case MOMO_TOKEN_LOGIN_FAILED:
			if (!(h.status == 401 ||
				  (h.status == 500 && ok && ref_is_string(ref_get("error"), "login_failed"))))
				fuzz_fail("LOGIN_FAILED on HTTP %ld without 401 or error login_failed", h.status);
			break;
		case MOMO_TOKEN_TRANSIENT:
			if (h.status == 401)
				fuzz_fail("HTTP 401 to a token request is not transient");
			if (h.status == 200 && ok && !may_refuse && usable_token(ref_get("access_token")))
				fuzz_fail("no token from a 200 whose access_token is usable: %s",
						  error ? error : "(no error)");
			break;
		case MOMO_TOKEN_PENDING:
			/* only the worker's background fetch says so; the range check above refuses it */
			fuzz_fail("PENDING from parsing an answer");
			break;
	}
	fuzz_reset_memory();
	return 0;
}
