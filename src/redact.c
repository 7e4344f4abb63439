/*-------------------------------------------------------------------------
 *
 * redact.c
 *	  Keeps momo's secrets out of the server log.
 *
 *	  An emit_log_hook rewrites each line before it is written:
 *	  - the values of the secret settings (GUCs and environment) are replaced
 *		wherever they appear;
 *	  - a line that quotes a statement naming a secret setting (the
 *		"statement:" and "execute" lines of log_statement, the "duration:"
 *		lines of log_min_duration_statement) keeps its prefix but loses the
 *		statement and its bind parameters; an error in such a statement loses
 *		its context and the token a syntax error quotes, and its STATEMENT:
 *		line is left out;
 *	  - a statement run inside another (by a function, a DO block) that names
 *		a secret setting is cut out of the error context that quotes it;
 *	  - a refused value of a secret setting keeps the setting's name only.
 *
 *	  Whether a statement names a secret setting is decided from what
 *	  PostgreSQL makes of its text, not by matching the text: SQL spells a
 *	  name in many ways (comments inside it, quotes, capitals, U&"\0061"
 *	  escapes, E'\x61' strings given to set_config).
 *	  - A post_parse_analyze_hook sees each statement after the grammar has
 *		normalised its names and remembers a verdict for its source text
 *		(keyed by a 64-bit hash and the length: verdicts are this session's,
 *		so no other session can plant one).
 *	  - log_statement's "statement:" line comes before analysis, right after
 *		the parser accepted the text: the log hook runs PostgreSQL's scanner
 *		over it (which cannot fail on that text) and judges its tokens.
 *	  - Text without a verdict (a syntax error; a verdict since forgotten) is
 *		judged conservatively: it may name a secret setting if it contains
 *		"momo", "u&", "set_config" or a backslash.
 *	  Nothing the log hook calls may raise an ERROR: an error raised while
 *	  one is being reported destroys the report.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "parser/scanner.h"
#include "parser/gram.h"		/* token numbers; needs scanner.h first */
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "redact.h"
#include "settings.h"

/* What replaces the statement, its parameters or its context. */
#define REDACTED "[redacted: names a momo secret setting]"

/* Verdicts on the source texts of this session's top-level statements. */
#define N_VERDICTS 128

typedef struct StatementVerdict
{
	uint64		hash;			/* of the text */
	size_t		len;			/* of the text; 0 for a free slot */
	size_t		judged;			/* bytes from its start judged statement by
								 * statement */
	bool		secret;			/* a statement judged names a secret setting */
	bool		scanned;		/* the whole text judged from its tokens */
	uint64		last_used;
} StatementVerdict;

static StatementVerdict verdicts[N_VERDICTS];
static uint64 verdict_clock = 0;

/*
 * The top-level text of the last statement analyzed: the statements of one
 * query string are analyzed in order, so its hash need not be computed
 * again for each of them.
 */
static struct
{
	const char *text;
	size_t		len;
	uint64		hash;
	int			location;
}			last_top;

/*
 * Statements run inside a top-level one (by a function, a DO block) that
 * name a secret setting: an error's context quotes them.
 */
#define N_SECRET_TEXTS 8
#define SECRET_TEXT_MAX 65536
static char *secret_texts[N_SECRET_TEXTS];
static int	next_secret_text = 0;

/* Scratch memory of the log hook, reset when it returns. */
static MemoryContext redact_cxt = NULL;
static int	hook_depth = 0;

static emit_log_hook_type prev_emit_log_hook = NULL;
static post_parse_analyze_hook_type prev_post_parse_analyze_hook = NULL;

/* The text of the statement being judged, for the conservative rule. */
typedef struct JudgeContext
{
	const char *text;
	size_t		textlen;
	int			location;		/* of the statement in text; -1 unknown */
	int			length;			/* of the statement; 0: the rest of text */
} JudgeContext;

static bool judge_walker(Node *node, JudgeContext *cxt);


/*
 * Does text hide the letters of a name: a Unicode escape (U&), a backslash
 * escape, or set_config() (which may compute the name it sets)?
 */
static bool
text_hides_names(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		switch (s[i])
		{
			case '\\':
				return true;
			case 'u':
			case 'U':
				if (n - i >= 2 && s[i + 1] == '&')
					return true;
				break;
			case 's':
			case 'S':
				if (n - i >= 10 && pg_strncasecmp(s + i, "set_config", 10) == 0)
					return true;
				break;
		}
	}
	return false;
}

/* Does text contain "momo", in any case? */
static bool
contains_momo(const char *s, size_t n)
{
	for (size_t i = 0; i + 4 <= n; i++)
		if ((s[i] == 'm' || s[i] == 'M') && pg_strncasecmp(s + i, "momo", 4) == 0)
			return true;
	return false;
}

/*
 * The conservative judgement of text PostgreSQL has not parsed: it can only
 * name a momo setting if it spells "momo" somewhere (a comment may split
 * the rest of the name), or hides letters.
 */
static bool
text_may_name_secret(const char *s, size_t n)
{
	return contains_momo(s, n) || text_hides_names(s, n);
}

/* ----------------------------------------------------------------------
 * Judging a statement from its tokens (the log hook's "statement:" line)
 * ---------------------------------------------------------------------- */

/* A set_config( ... ) call followed through the tokens. */
typedef struct ConfigCall
{
	int			depth;			/* parentheses open in the call; 0: none */
	int			ntok;			/* tokens of the current argument */
	int			tok[3];			/* its first three */
	bool		nested;			/* it holds parentheses or brackets */
} ConfigCall;

/* Is tok a constant, as an argument that is not computed is? */
static bool
token_is_constant(int tok)
{
	return tok == SCONST || tok == ICONST || tok == FCONST ||
		tok == TRUE_P || tok == FALSE_P || tok == NULL_P;
}

/* Is the argument just read a constant, perhaps named (name => constant)? */
static bool
argument_is_constant(const ConfigCall *call)
{
	if (call->nested)
		return false;
	if (call->ntok == 0)
		return true;
	if (call->ntok == 1)
		return token_is_constant(call->tok[0]);
	if (call->ntok == 3)
		return call->tok[0] == IDENT &&
			(call->tok[1] == EQUALS_GREATER || call->tok[1] == COLON_EQUALS) &&
			token_is_constant(call->tok[2]);
	return false;
}

/*
 * Judges a statement text from its tokens as PostgreSQL's scanner reads
 * them (comments dropped, quoted identifiers and E'' strings decoded,
 * identifiers case-folded).  It names a secret setting if a dotted name
 * equals one (case aside), a string constant contains one, a U& identifier
 * or string appears (the scanner leaves their escapes to the grammar, so
 * they are taken to name one), or set_config() is called with an argument
 * that is not a constant.
 *
 * The parser must just have accepted text under the current settings
 * (standard_conforming_strings, backslash_quote): the scanner then raises
 * no error.  It can still report a NOTICE (an identifier truncated) or a
 * WARNING (escape_string_warning), which must not come from inside the log
 * hook: log_min_messages and client_min_messages are raised meanwhile.
 */
static bool
tokens_name_secret(const char *text)
{
	int			save_log_min_messages = log_min_messages;
	int			save_client_min_messages = client_min_messages;
	core_yy_extra_type extra;
	core_yyscan_t scanner;
	core_YYSTYPE yylval;
	YYLTYPE		yylloc;
	StringInfoData name;		/* the dotted name being read */
	ConfigCall	call;
	volatile bool after_set_config = false;
	volatile int prev = 0;
	volatile bool secret = false;

	memset(&call, 0, sizeof(call));
	initStringInfo(&name);
	log_min_messages = PANIC;
	client_min_messages = ERROR;
	PG_TRY();
	{
		scanner = scanner_init(text, &extra, &ScanKeywords, ScanKeywordTokens);
		extra.escape_string_warning = false;
		while (!secret)
		{
			int			tok = core_yylex(&yylval, &yylloc, scanner);

			if (tok == 0)
				break;

			/* names and strings */
			switch (tok)
			{
				case IDENT:
					if (prev == '.' && name.len > 0)
						appendStringInfoChar(&name, '.');
					else
						resetStringInfo(&name);
					appendStringInfoString(&name, yylval.str);
					secret = momo_settings_is_secret(name.data);
					break;
				case '.':
					break;
				case SCONST:
					secret = momo_settings_secret_name_in(yylval.str) != NULL;
					resetStringInfo(&name);
					break;
				case UIDENT:
				case USCONST:
					secret = true;
					break;
				default:
					resetStringInfo(&name);
					break;
			}

			/* set_config() with an argument that is not a constant */
			if (call.depth == 0)
			{
				if (tok == '(' && after_set_config)
				{
					memset(&call, 0, sizeof(call));
					call.depth = 1;
				}
			}
			else if (tok == '(' || tok == '[')
			{
				call.depth++;
				call.nested = true;
			}
			else if (tok == ')' || tok == ']')
			{
				if (--call.depth == 0 && !argument_is_constant(&call))
					secret = true;
			}
			else if (tok == ',' && call.depth == 1)
			{
				if (!argument_is_constant(&call))
					secret = true;
				call.ntok = 0;
				call.nested = false;
			}
			else if (call.depth == 1)
			{
				if (call.ntok < (int) lengthof(call.tok))
					call.tok[call.ntok] = tok;
				call.ntok++;
			}
			after_set_config = (tok == IDENT && pg_strcasecmp(yylval.str, "set_config") == 0);
			prev = tok;
		}
		if (call.depth > 0)
			secret = true;
		scanner_finish(scanner);
	}
	PG_FINALLY();
	{
		log_min_messages = save_log_min_messages;
		client_min_messages = save_client_min_messages;
	}
	PG_END_TRY();
	return secret;
}

/* ----------------------------------------------------------------------
 * Judging an analyzed statement (post_parse_analyze_hook)
 * ---------------------------------------------------------------------- */

/*
 * Does the text of a parsed statement whose expressions are not analyzed
 * yet name a secret setting?  There a name can only be a string (given to
 * set_config(), or written to a file): the text names one if it contains
 * one (case, quotes and white space aside) or hides letters.
 */
static bool
span_may_name_secret(const JudgeContext *cxt)
{
	size_t		start = 0;
	size_t		end = cxt->textlen;
	char	   *span;
	bool		secret;

	if (cxt->location >= 0 && (size_t) cxt->location <= cxt->textlen)
	{
		start = cxt->location;
		if (cxt->length > 0 && start + cxt->length <= cxt->textlen)
			end = start + cxt->length;
	}
	if (text_hides_names(cxt->text + start, end - start))
		return true;
	span = pnstrdup(cxt->text + start, end - start);
	secret = momo_settings_secret_name_in(span) != NULL;
	pfree(span);
	return secret;
}

static bool
setstmt_names_secret(VariableSetStmt *stmt)
{
	return stmt != NULL && stmt->name != NULL && momo_settings_is_secret(stmt->name);
}

/* The options of CREATE FUNCTION, ALTER FUNCTION and DO: SET clauses, bodies. */
static bool
options_name_secret(List *options)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (opt->arg == NULL)
			continue;
		if (strcmp(opt->defname, "set") == 0 && IsA(opt->arg, VariableSetStmt))
		{
			if (setstmt_names_secret((VariableSetStmt *) opt->arg))
				return true;
		}
		else if (strcmp(opt->defname, "as") == 0 && IsA(opt->arg, String))
		{
			if (momo_settings_secret_name_in(strVal(opt->arg)))
				return true;
		}
		else if (strcmp(opt->defname, "as") == 0 && IsA(opt->arg, List))
		{
			ListCell   *lc2;

			foreach(lc2, (List *) opt->arg)
				if (IsA(lfirst(lc2), String) &&
					momo_settings_secret_name_in(strVal(lfirst(lc2))))
					return true;
		}
	}
	return false;
}

/*
 * A utility statement.  Those that set a setting carry its name as the
 * grammar normalised it; those that run code carry it as a string.  Others
 * may hold expressions that are analyzed only when they run (a view's
 * query, a column default): their text is judged conservatively.
 */
static bool
utility_names_secret(Node *stmt, JudgeContext *cxt)
{
	switch (nodeTag(stmt))
	{
		case T_VariableSetStmt:
			return setstmt_names_secret((VariableSetStmt *) stmt);
		case T_AlterSystemStmt:
			return setstmt_names_secret(((AlterSystemStmt *) stmt)->setstmt);
		case T_AlterRoleSetStmt:
			return setstmt_names_secret(((AlterRoleSetStmt *) stmt)->setstmt);
		case T_AlterDatabaseSetStmt:
			return setstmt_names_secret(((AlterDatabaseSetStmt *) stmt)->setstmt);
		case T_VariableShowStmt:
			return false;
		case T_AlterFunctionStmt:
			return options_name_secret(((AlterFunctionStmt *) stmt)->actions);
		case T_DoStmt:
			return options_name_secret(((DoStmt *) stmt)->args);
		case T_CreateFunctionStmt:
			{
				CreateFunctionStmt *cf = (CreateFunctionStmt *) stmt;

				/* a BEGIN ATOMIC body is parsed, but not analyzed yet */
				return options_name_secret(cf->options) ||
					(cf->sql_body != NULL && span_may_name_secret(cxt));
			}
			/* these hold queries analyzed with them */
		case T_ExplainStmt:
			return judge_walker(((ExplainStmt *) stmt)->query, cxt);
		case T_CreateTableAsStmt:
			return judge_walker(((CreateTableAsStmt *) stmt)->query, cxt);
		case T_DeclareCursorStmt:
			return judge_walker(((DeclareCursorStmt *) stmt)->query, cxt);
		case T_CallStmt:
			return judge_walker((Node *) ((CallStmt *) stmt)->funcexpr, cxt);
		default:
			return span_may_name_secret(cxt);
	}
}

/*
 * A constant that holds text containing a secret setting's name.  (Most
 * constants do not contain "momo" at all: they are not copied.)
 */
static bool
const_names_secret(Const *c)
{
	char	   *s;
	bool		secret;

	if (c->constisnull)
		return false;
	switch (c->consttype)
	{
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			{
				text	   *t = DatumGetTextPP(c->constvalue);

				if (!contains_momo(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)))
					return false;
				s = text_to_cstring(t);
			}
			break;
		case NAMEOID:
			s = pstrdup(NameStr(*DatumGetName(c->constvalue)));
			break;
		case UNKNOWNOID:
		case CSTRINGOID:
			s = pstrdup(DatumGetCString(c->constvalue));
			break;
		case BYTEAOID:
			return false;
		default:
			/* arrays, JSON, other strings; not numbers, dates, booleans */
			if (c->constbyval || c->constlen != -1)
				return false;
			{
				Oid			output;
				bool		isvarlena;

				getTypeOutputInfo(c->consttype, &output, &isvarlena);
				s = OidOutputFunctionCall(output, c->constvalue);
			}
			break;
	}
	secret = contains_momo(s, strlen(s)) && momo_settings_secret_name_in(s) != NULL;
	pfree(s);
	return secret;
}

/*
 * Does an analyzed statement (or a part of one) name a secret setting?  In
 * a query: a constant containing a secret setting's name, or set_config()
 * called with a name that is not a constant.
 */
static bool
judge_walker(Node *node, JudgeContext *cxt)
{
	if (node == NULL)
		return false;
	if (IsA(node, Const))
		return const_names_secret((Const *) node);
	if (IsA(node, FuncExpr))
	{
		FuncExpr   *func = (FuncExpr *) node;

		if (func->funcid == F_SET_CONFIG &&
			(func->args == NIL || !IsA(linitial(func->args), Const)))
			return true;
	}
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;

		if (query->commandType == CMD_UTILITY)
			return utility_names_secret(query->utilityStmt, cxt);
		return query_tree_walker(query, judge_walker, (void *) cxt, 0);
	}
	return expression_tree_walker(node, judge_walker, (void *) cxt);
}

/* ----------------------------------------------------------------------
 * Verdicts
 * ---------------------------------------------------------------------- */

/* The verdict on a text, or NULL. */
static StatementVerdict *
verdict_find(uint64 hash, size_t len)
{
	for (int i = 0; i < N_VERDICTS; i++)
		if (verdicts[i].len == len && verdicts[i].hash == hash)
		{
			verdicts[i].last_used = ++verdict_clock;
			return &verdicts[i];
		}
	return NULL;
}

/* The verdict on a text, made empty if there was none (forgetting the oldest). */
static StatementVerdict *
verdict_slot(uint64 hash, size_t len)
{
	StatementVerdict *v = verdict_find(hash, len);

	if (v != NULL)
		return v;
	v = &verdicts[0];
	for (int i = 1; i < N_VERDICTS && v->len != 0; i++)
		if (verdicts[i].len == 0 || verdicts[i].last_used < v->last_used)
			v = &verdicts[i];
	memset(v, 0, sizeof(*v));
	v->hash = hash;
	v->len = len;
	v->last_used = ++verdict_clock;
	return v;
}

/* Remembers a statement run inside a top-level one that names a secret setting. */
static void
remember_secret_text(const char *text, size_t len)
{
	if (len == 0 || len > SECRET_TEXT_MAX)
		return;
	for (int i = 0; i < N_SECRET_TEXTS; i++)
		if (secret_texts[i] && strcmp(secret_texts[i], text) == 0)
			return;
	if (secret_texts[next_secret_text])
		pfree(secret_texts[next_secret_text]);
	secret_texts[next_secret_text] = MemoryContextStrdup(TopMemoryContext, text);
	next_secret_text = (next_secret_text + 1) % N_SECRET_TEXTS;
}

/*
 * post_parse_analyze_hook: judges each statement as the grammar and the
 * analysis left it, and adds the verdict to its source text's (or, for a
 * statement run inside another, remembers it if it names a secret).
 */
static void
redact_post_parse_analyze(ParseState *pstate, Query *query, JumbleState *jstate)
{
	const char *text = pstate->p_sourcetext;
	JudgeContext cxt;
	StatementVerdict *v = NULL;
	bool		top;
	bool		secret;

	if (prev_post_parse_analyze_hook)
		prev_post_parse_analyze_hook(pstate, query, jstate);
	if (text == NULL)
		return;

	cxt.text = text;
	cxt.location = query->stmt_location;
	cxt.length = query->stmt_len;
	if (text == last_top.text && text == debug_query_string &&
		query->stmt_location > last_top.location)
	{
		/* the next statement of the same query string */
		top = true;
		cxt.textlen = last_top.len;
	}
	else
	{
		cxt.textlen = strlen(text);
		top = debug_query_string != NULL &&
			(text == debug_query_string || strcmp(text, debug_query_string) == 0);
		if (top)
		{
			last_top.text = text;
			last_top.len = cxt.textlen;
			last_top.hash = hash_bytes_extended((const unsigned char *) text,
												cxt.textlen, 0);
		}
	}

	if (top)
	{
		last_top.location = query->stmt_location;
		if (cxt.textlen == 0)
			return;
		v = verdict_slot(last_top.hash, cxt.textlen);
		if (v->scanned)
			return;
	}

	secret = judge_walker((Node *) query, &cxt);

	if (!top)
	{
		if (secret)
			remember_secret_text(text, cxt.textlen);
		return;
	}
	v->secret |= secret;
	/*
	 * The statements of a text are analyzed in order, a ';' apart.  (A query
	 * analyzed again inside one, as EXPLAIN does, comes with location 0.)
	 */
	if (cxt.location >= 0 && (size_t) cxt.location >= v->judged &&
		(size_t) cxt.location <= v->judged + 1)
	{
		size_t		end = cxt.length > 0 ? (size_t) cxt.location + (size_t) cxt.length : cxt.textlen;

		v->judged = Max(v->judged, Min(end, cxt.textlen));
	}
}

/*
 * Does the statement text name a secret setting?  From its verdict if it has
 * one; else from its tokens if may_scan (the parser just accepted it); else
 * conservatively.  What a verdict has not judged (the statements of a query
 * string after one that failed) is judged conservatively.
 */
static bool
statement_names_secret(const char *text, bool may_scan)
{
	size_t		len = strlen(text);
	uint64		hash;
	StatementVerdict *v;

	if (len == 0)
		return false;
	hash = hash_bytes_extended((const unsigned char *) text, len, 0);
	v = verdict_find(hash, len);
	if (v != NULL && (v->scanned || !may_scan))
		return v->secret ||
			(v->judged < len && text_may_name_secret(text + v->judged, len - v->judged));
	if (!may_scan)
		return text_may_name_secret(text, len);
	v = verdict_slot(hash, len);
	v->secret |= tokens_name_secret(text);
	v->scanned = true;
	v->judged = len;
	return v->secret;
}

/* ----------------------------------------------------------------------
 * The log hook
 * ---------------------------------------------------------------------- */

/* Replaces a field of edata (allocated where errfinish will free it). */
static void
set_field(ErrorData *edata, char **field, const char *text)
{
	char	   *copy = MemoryContextStrdup(edata->assoc_context, text);

	if (*field)
		pfree(*field);
	*field = copy;
}

/* Replaces every occurrence of secret in a field with marker. */
static void
redact_value(ErrorData *edata, char **field, const char *secret, const char *marker)
{
	StringInfoData buf;
	const char *rest;
	const char *hit;
	size_t		slen = strlen(secret);

	if (*field == NULL || slen == 0 || strstr(*field, secret) == NULL)
		return;
	initStringInfo(&buf);
	rest = *field;
	while ((hit = strstr(rest, secret)) != NULL)
	{
		appendBinaryStringInfo(&buf, rest, hit - rest);
		appendStringInfoString(&buf, marker);
		rest = hit + slen;
	}
	appendStringInfoString(&buf, rest);
	set_field(edata, field, buf.data);
}

/* Keeps a field up to cut (excluded) and ends it with the marker. */
static void
redact_from(ErrorData *edata, char **field, const char *cut)
{
	set_field(edata, field, psprintf("%.*s%s", (int) (cut - *field), *field, REDACTED));
}

/* The text after a field's label ("parameters: ", "prepare: "), or all of it. */
static const char *
after_label(const char *field)
{
	const char *colon = strstr(field, ": ");

	return colon ? colon + 2 : field;
}

static bool
message_id_is(ErrorData *edata, const char *id)
{
	return edata->message_id != NULL && strcmp(edata->message_id, id) == 0;
}

/* Is this a line of postgres.c that quotes the statement being run? */
static bool
is_statement_line(ErrorData *edata)
{
	static const char *const functions[] = {
		"exec_simple_query", "exec_parse_message", "exec_bind_message",
		"exec_execute_message"
	};

	if (edata->funcname == NULL)
		return false;
	for (size_t i = 0; i < lengthof(functions); i++)
		if (strcmp(edata->funcname, functions[i]) == 0)
			return true;
	return false;
}

/*
 * Is this log_statement's "statement:" line, written right after the parser
 * accepted the query string and before anything ran?
 */
static bool
is_parsed_statement_line(ErrorData *edata, const char *query)
{
	size_t		mlen;
	size_t		qlen = strlen(query);

	if (edata->funcname == NULL || strcmp(edata->funcname, "exec_simple_query") != 0 ||
		!message_id_is(edata, "statement: %s") || edata->message == NULL)
		return false;
	mlen = strlen(edata->message);
	return mlen >= qlen && strcmp(edata->message + mlen - qlen, query) == 0;
}

/* Rewrites a line about to be logged (and sent to the client, if it goes there). */
static void
redact_error(ErrorData *edata)
{
	const char *secrets[MOMO_MAX_SECRET_VALUES];
	int			n = momo_settings_secret_values(secrets, lengthof(secrets));
	const char *query = debug_query_string;
	bool		query_secret = false;

	/* The statement being run, and the lines that quote it. */
	if (query != NULL && query[0] != '\0')
	{
		bool		statement_line = is_statement_line(edata);
		const char *quoted;
		bool		quotes_query;

		query_secret = statement_names_secret(query,
											  hook_depth == 1 &&
											  is_parsed_statement_line(edata, query));
		/* the STATEMENT: line cannot be rewritten, only left out */
		for (int i = 0; i < n && !edata->hide_stmt; i++)
			if (strstr(query, secrets[i]) != NULL)
				edata->hide_stmt = true;
		quoted = (edata->message && (statement_line || query_secret)) ?
			strstr(edata->message, query) : NULL;
		quotes_query = quoted != NULL;
		if (quotes_query && query_secret)
			redact_from(edata, &edata->message, quoted);
		/* its detail: the bind parameters, or the statement EXECUTE runs */
		if (quotes_query && edata->detail &&
			(query_secret || statement_names_secret(after_label(edata->detail), false)))
			redact_from(edata, &edata->detail, after_label(edata->detail));
		if (query_secret)
		{
			edata->hide_stmt = true;
			if (edata->context)
				set_field(edata, &edata->context, REDACTED);
			if (edata->internalquery)
				set_field(edata, &edata->internalquery, REDACTED);
			/* a syntax error quotes the statement near the error */
			if (message_id_is(edata, "%s at or near \"%s\"") && edata->message)
			{
				const char *near = strstr(edata->message, " at or near ");

				redact_from(edata, &edata->message,
							near ? near + strlen(" at or near ") : edata->message);
			}
		}
	}

	/* Statements run inside this one that name a secret setting. */
	for (int i = 0; i < N_SECRET_TEXTS; i++)
		if (secret_texts[i])
		{
			redact_value(edata, &edata->message, secret_texts[i], REDACTED);
			redact_value(edata, &edata->context, secret_texts[i], REDACTED);
			redact_value(edata, &edata->internalquery, secret_texts[i], REDACTED);
		}

	/* A refused value of a secret setting: keep the setting's name. */
	if (message_id_is(edata, "invalid value for parameter \"%s\": \"%s\"") &&
		edata->message && momo_settings_secret_name_in(edata->message))
	{
		const char *cut = strstr(edata->message, "\": ");

		redact_from(edata, &edata->message, cut ? cut + strlen("\": ") : edata->message);
	}

	/* The values, wherever they appear. */
	for (int i = 0; i < n; i++)
	{
		redact_value(edata, &edata->message, secrets[i], "[redacted]");
		redact_value(edata, &edata->detail, secrets[i], "[redacted]");
		redact_value(edata, &edata->detail_log, secrets[i], "[redacted]");
		redact_value(edata, &edata->hint, secrets[i], "[redacted]");
		redact_value(edata, &edata->context, secrets[i], "[redacted]");
		redact_value(edata, &edata->internalquery, secrets[i], "[redacted]");
	}
}

/* Leaves redact_emit_log_hook: back to oldcxt, the scratch memory freed at the outermost level. */
static void
leave_hook(MemoryContext oldcxt)
{
	hook_depth--;
	MemoryContextSwitchTo(oldcxt);
	if (hook_depth == 0)
		MemoryContextReset(redact_cxt);
}

/*
 * Log hook: the postmaster logs "parameter ... changed to ..." on reload,
 * and statements may quote values; no secret reaches the server log.
 */
static void
redact_emit_log_hook(ErrorData *edata)
{
	if (edata->output_to_server)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(redact_cxt);

		hook_depth++;
		/* PG_CATCH rather than PG_FINALLY, whose own flag gcc's -Wclobbered flags. */
		PG_TRY();
		{
			redact_error(edata);
		}
		PG_CATCH();
		{
			leave_hook(oldcxt);
			PG_RE_THROW();
		}
		PG_END_TRY();
		leave_hook(oldcxt);
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/* Installs the hooks; called from _PG_init. */
void
momo_redact_install(void)
{
	redact_cxt = AllocSetContextCreate(TopMemoryContext, "momo log redaction",
									   ALLOCSET_DEFAULT_SIZES);
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = redact_emit_log_hook;
	prev_post_parse_analyze_hook = post_parse_analyze_hook;
	post_parse_analyze_hook = redact_post_parse_analyze;
}
