/*-------------------------------------------------------------------------
 *
 * fuzz_json.c
 *	  libFuzzer target: momo_json_extract (src/json.c) on arbitrary bytes,
 *	  with the field sets momo's parsers use (status answer, error body,
 *	  token answer) and one more with other nested paths.  Each result is
 *	  checked against the reference reading of fuzz_support.c: the body is
 *	  accepted exactly when it is a well-formed JSON object in valid UTF-8,
 *	  and every field is what the body's last occurrence of it says; a body
 *	  that repeats a wanted key, or is nested deeper than MTN's answers
 *	  ever are, may instead be refused as a whole.
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_support.h"

#include "json.h"

#define MAX_FIELDS 8

/* The field sets momo asks for (answers.c), and one with other nesting. */
static const char *const field_sets[][MAX_FIELDS] = {
	{"status", "reason", "reason.code", "financialTransactionId"},
	{"code", "message"},
	{"access_token", "expires_in", "error"},
	{"message"},
	{"payer.partyId", "payer", "payer.partyIdType", "reason.message", "amount"},
};

/* Checks one extracted field against the reference reading. */
static void
check_field(const MomoJsonField *f)
{
	RefValue	v = ref_get(f->path);
	bool		scalar = (v.kind == REF_STRING || v.kind == REF_NUMBER ||
						  v.kind == REF_TRUE || v.kind == REF_FALSE);

	if (f->present != (v.kind != REF_ABSENT))
		fuzz_fail("field %s: present = %d, but the body %s it", f->path, f->present,
				  v.kind == REF_ABSENT ? "lacks" : "has");
	if (f->is_object != (v.kind == REF_OBJECT))
		fuzz_fail("field %s: is_object = %d, but its last value is of kind %d",
				  f->path, f->is_object, v.kind);
	if (f->is_string != (v.kind == REF_STRING))
		fuzz_fail("field %s: is_string = %d, but its last value is of kind %d",
				  f->path, f->is_string, v.kind);
	if (scalar)
	{
		if (f->value == NULL || strcmp(f->value, v.text) != 0)
			fuzz_fail("field %s: value \"%s\", but its last value is \"%s\"",
					  f->path, f->value ? f->value : "(null)", v.text);
	}
	else if (f->value != NULL)
		fuzz_fail("field %s: value \"%s\", but its last value is not a scalar (kind %d)",
				  f->path, f->value, v.kind);
	fuzz_check_text(f->path, f->value);
}

/* Runs one field set over the body and checks the outcome. */
static void
check_set(const char *const *paths, const char *body, size_t len)
{
	MomoJsonField fields[MAX_FIELDS];
	int			n = 0;
	char	   *err;
	bool		ok;
	bool		may_refuse;

	memset(fields, 0, sizeof(fields));
	while (n < MAX_FIELDS && paths[n])
	{
		fields[n].path = paths[n];
		n++;
	}
	err = momo_json_extract(body, len, fields, n);
	ok = ref_parse(body, len);
	may_refuse = ok && ref_may_refuse(paths, n);

	if (err != NULL)
	{
		if (err[0] == '\0')
			fuzz_fail("momo_json_extract returned an empty error");
		fuzz_check_text("the error", err);
		if (ok && !may_refuse)
			fuzz_fail("momo_json_extract refused a well-formed JSON object: %s", err);
		return;
	}
	if (!ok)
		fuzz_fail("momo_json_extract accepted a body that is not a well-formed JSON object in valid UTF-8");
	for (int i = 0; i < n; i++)
		check_field(&fields[i]);
	if (momo_json_field(fields, n, paths[0]) != &fields[0])
		fuzz_fail("momo_json_field did not find %s", paths[0]);
	if (momo_json_field(fields, n, "no.such.field") != NULL)
		fuzz_fail("momo_json_field found a field that was not asked for");
}

/* libFuzzer entry point: every field set over the whole input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (size_t s = 0; s < lengthof(field_sets); s++)
		check_set(field_sets[s], (const char *) data, size);
	fuzz_reset_memory();
	return 0;
}
