/*-------------------------------------------------------------------------
 *
 * json.c
 *	  Extracts the few fields momo needs from JSON answers (token, status,
 *	  error bodies) with PostgreSQL's own JSON parser.  Never trusts its
 *	  input: the body must be valid UTF-8 without NUL bytes and a JSON
 *	  object; anything else is reported as an error string, never raised.
 *	  Builds for the backend and, with -DFRONTEND, for the fuzzing harness.
 *
 *-------------------------------------------------------------------------
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#include <limits.h>

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#include "json.h"

#define MAX_TRACKED_DEPTH 2
#define MAX_NESTING 32

/* Returns the deepest nesting of arrays and objects in body (strings skipped). */
static int
nesting(const char *body, size_t len)
{
	int			depth = 0,
				max = 0;
	bool		in_string = false;

	for (size_t i = 0; i < len; i++)
	{
		char		c = body[i];

		if (in_string)
		{
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == '{' || c == '[')
		{
			depth++;
			max = Max(max, depth);
		}
		else if (c == '}' || c == ']')
			depth--;
	}
	return max;
}

typedef struct ExtractState
{
	int			depth;			/* objects open */
	int			array_depth;	/* arrays open */
	bool		top_is_object;
	char	   *names[MAX_TRACKED_DEPTH + 1];	/* current key at each depth */
	MomoJsonField *fields;
	int			nfields;
} ExtractState;

/* Returns the field whose path is path, or NULL. */
MomoJsonField *
momo_json_field(MomoJsonField *fields, int nfields, const char *path)
{
	for (int i = 0; i < nfields; i++)
		if (strcmp(fields[i].path, path) == 0)
			return &fields[i];
	return NULL;
}

/* Returns the field wanted at the current position, or NULL. */
static MomoJsonField *
current_field(ExtractState *st)
{
	char		path[256];

	if (st->array_depth > 0 || st->depth < 1 || st->depth > MAX_TRACKED_DEPTH)
		return NULL;
	if (st->names[1] == NULL || strchr(st->names[1], '.') != NULL)
		return NULL;
	if (st->depth == 1)
		return momo_json_field(st->fields, st->nfields, st->names[1]);
	if (st->names[2] == NULL || strchr(st->names[2], '.') != NULL)
		return NULL;
	snprintf(path, sizeof(path), "%s.%s", st->names[1], st->names[2]);
	return momo_json_field(st->fields, st->nfields, path);
}

/* A value for the current position begins: forget an earlier occurrence. */
static MomoJsonField *
begin_value(ExtractState *st)
{
	MomoJsonField *f = current_field(st);

	if (st->array_depth == 0 && st->depth == 1 && st->names[1] != NULL)
	{
		size_t		n = strlen(st->names[1]);

		for (int i = 0; i < st->nfields; i++)
			if (strncmp(st->fields[i].path, st->names[1], n) == 0 &&
				st->fields[i].path[n] == '.')
			{
				st->fields[i].present = false;
				st->fields[i].value = NULL;
				st->fields[i].is_string = false;
				st->fields[i].is_object = false;
			}
	}
	if (f)
	{
		f->present = true;
		f->value = NULL;
		f->is_string = false;
		f->is_object = false;
	}
	return f;
}

/* Parser callback: an object begins. */
static void
on_object_start(void *state)
{
	ExtractState *st = (ExtractState *) state;
	MomoJsonField *f;

	if (st->depth == 0 && st->array_depth == 0)
		st->top_is_object = true;
	else if ((f = begin_value(st)) != NULL)
		f->is_object = true;
	st->depth++;
	if (st->depth <= MAX_TRACKED_DEPTH)
		st->names[st->depth] = NULL;
}

/* Parser callback: an object ends. */
static void
on_object_end(void *state)
{
	((ExtractState *) state)->depth--;
}

/* Parser callback: an array begins. */
static void
on_array_start(void *state)
{
	ExtractState *st = (ExtractState *) state;
	(void) begin_value(st);
	st->array_depth++;
}

/* Parser callback: an array ends. */
static void
on_array_end(void *state)
{
	((ExtractState *) state)->array_depth--;
}

/* Parser callback: a key; remembered for the value that follows. */
static void
on_field_start(void *state, char *fname, bool isnull pg_attribute_unused())
{
	ExtractState *st = (ExtractState *) state;

	if (st->array_depth == 0 && st->depth >= 1 && st->depth <= MAX_TRACKED_DEPTH)
		st->names[st->depth] = fname;
}

/* Parser callback: a scalar value. */
static void
on_scalar(void *state, char *token, JsonTokenType tokentype)
{
	ExtractState *st = (ExtractState *) state;
	MomoJsonField *f = begin_value(st);

	if (f == NULL)
		return;
	f->is_string = (tokentype == JSON_TOKEN_STRING);
	f->value = (tokentype == JSON_TOKEN_NULL) ? NULL : token;
}

/*
 * Parses body and fills in the wanted fields.  Returns NULL on success or a
 * palloc'd description of why the body is not a usable JSON object.
 */
char *
momo_json_extract(const char *body, size_t len, MomoJsonField *fields, int nfields)
{
	ExtractState st;
	JsonSemAction sem;
	JsonLexContext *lex;
	JsonParseErrorType rc;
	char	   *copy;

	for (int i = 0; i < nfields; i++)
	{
		fields[i].value = NULL;
		fields[i].present = false;
		fields[i].is_string = false;
		fields[i].is_object = false;
	}
	if (body == NULL || len == 0)
		return pstrdup("empty body");
	if (len > INT_MAX / 2)
		return pstrdup("body too large");
	if (memchr(body, '\0', len) != NULL)
		return pstrdup("body contains a NUL byte");
	if (pg_encoding_verifymbstr(PG_UTF8, body, (int) len) != (int) len)
		return pstrdup("body is not valid UTF-8");
	if (nesting(body, len) > MAX_NESTING)
		return pstrdup("JSON body nested too deeply");

	memset(&st, 0, sizeof(st));
	st.fields = fields;
	st.nfields = nfields;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &st;
	sem.object_start = on_object_start;
	sem.object_end = on_object_end;
	sem.array_start = on_array_start;
	sem.array_end = on_array_end;
	sem.object_field_start = on_field_start;
	sem.scalar = on_scalar;

	copy = pnstrdup(body, len);
	lex = makeJsonLexContextCstringLen(copy, (int) len, PG_UTF8, true);
	rc = pg_parse_json(lex, &sem);
	if (rc != JSON_SUCCESS)
		return psprintf("malformed JSON near byte %d (parser error %d)",
						(int) (lex->token_start ? lex->token_start - copy : 0), (int) rc);
	if (!st.top_is_object)
		return pstrdup("JSON body is not an object");
	return NULL;
}
