/*-------------------------------------------------------------------------
 *
 * fuzz_support.h
 *	  Shared by momo's libFuzzer targets: a per-input memory context behind
 *	  palloc, the backend's limits the frontend build lacks (allocation size,
 *	  parser nesting), an independent reference reading of JSON bodies to
 *	  check momo's results against, and the input-header decoding.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_FUZZ_SUPPORT_H
#define MOMO_FUZZ_SUPPORT_H

#include "postgres_fe.h"

#include "answers.h"

/*
 * The deepest nesting of arrays and objects momo may hand to PostgreSQL's
 * JSON parser.  In the backend the parser calls check_stack_depth() at every
 * level and raises "stack depth limit exceeded" (at about 15,000 levels with
 * max_stack_depth = 2MB, about 650 with its minimum of 100kB); momo's
 * parsers promise never to raise, so they must refuse deeper bodies first.
 */
#ifndef FUZZ_MAX_PARSE_DEPTH
#define FUZZ_MAX_PARSE_DEPTH 256
#endif

/*
 * MTN's answers are nested three levels deep at most.  momo must read
 * bodies nested up to this depth, and may refuse deeper ones (which it
 * must do somewhere below FUZZ_MAX_PARSE_DEPTH).
 */
#define FUZZ_MUST_READ_DEPTH 8

/* The libFuzzer entry point each target defines. */
extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reports a violated invariant with the input's context and aborts. */
#define fuzz_fail(...) fuzz_fail_at(__FILE__, __LINE__, __VA_ARGS__)
extern void fuzz_fail_at(const char *file, int line, const char *fmt,...)
			pg_attribute_printf(3, 4) pg_attribute_noreturn();

/* Frees everything palloc'd since the last call (a memory-context reset). */
extern void fuzz_reset_memory(void);

/* Aborts unless s is a NUL-terminated, valid UTF-8 string (what the store accepts). */
extern void fuzz_check_text(const char *what, const char *s);

/* Kinds of JSON value in the reference reading; REF_ABSENT: no such member. */
typedef enum RefKind
{
	REF_ABSENT,
	REF_STRING,
	REF_NUMBER,
	REF_TRUE,
	REF_FALSE,
	REF_NULL,
	REF_OBJECT,
	REF_ARRAY
} RefKind;

/* One value of the reference reading: its kind, and the text of a scalar. */
typedef struct RefValue
{
	RefKind		kind;
	const char *text;			/* de-escaped string, or the number's lexeme */
} RefValue;

/*
 * Reads body the way JSON readers commonly do (PostgreSQL's jsonb,
 * JSON.parse, Python): a repeated key means its last occurrence.  Returns
 * true when body is a JSON object momo should accept (non-empty, no NUL,
 * valid UTF-8, well-formed); its members are then queried with ref_get.
 */
extern bool ref_parse(const char *body, size_t len);

/*
 * True if momo may refuse the body ref_parse just accepted: it repeats one
 * of the paths momo reads, or is nested deeper than FUZZ_MUST_READ_DEPTH.
 */
extern bool ref_may_refuse(const char *const *paths, int npaths);

/* The last value of path ("key" at the top, or "key.sub" one level down). */
extern RefValue ref_get(const char *path);

/* Number of occurrences of path's last component in one object (max over objects). */
extern int	ref_occurrences(const char *path);

/* True if any of the paths occurs more than once in the same object. */
extern bool ref_repeats_any(const char *const *paths, int npaths);

/* True if the value is a string equal to s. */
extern bool ref_is_string(RefValue v, const char *s);

/* Decoded 2-byte header of the answer and token targets. */
typedef struct FuzzHeader
{
	MomoOp		op;
	long		status;
	bool		null_body;		/* pass NULL (not an empty buffer) when the body is empty */
} FuzzHeader;

/* Takes the header off the input; false if the input is too short. */
extern bool fuzz_take_header(const uint8_t **data, size_t *size, FuzzHeader *h);

#endif							/* MOMO_FUZZ_SUPPORT_H */
