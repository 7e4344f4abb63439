/*-------------------------------------------------------------------------
 *
 * fuzz_callback.c
 *	  libFuzzer target: momo_parse_callback_body (src/answers.c), which reads
 *	  the body of a callback -- sent by anyone who knows the callback URL,
 *	  before its signature is checked -- for the event log.  The input is
 *	  the body.  The claimed status and externalId must be the body's (last
 *	  occurrence, if a string), cut to a printable excerpt; nothing is
 *	  claimed from an unreadable body.
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

/* libFuzzer entry point: the input is the callback body. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *) data;
	char	   *status = (char *) "garbage";
	char	   *external_id = (char *) "garbage";
	char	   *err;
	bool		ok;

	err = momo_parse_callback_body(body, size, &status, &external_id);
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
	fuzz_reset_memory();
	return 0;
}
