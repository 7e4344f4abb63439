/*-------------------------------------------------------------------------
 *
 * redact.c
 *	  Keeps momo's secrets out of the server log: an emit_log_hook redacts
 *	  the values of the secret settings from every line, and the text of a
 *	  logged statement that names a secret setting.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "tcop/tcopprot.h"

#include "redact.h"
#include "settings.h"

static emit_log_hook_type prev_emit_log_hook = NULL;

/* Replaces every occurrence of secret in *text with a marker. */
static void
redact_value(char **text, const char *secret)
{
	char	   *hit;
	StringInfoData buf;
	const char *rest;
	size_t		slen = strlen(secret);

	if (*text == NULL || (hit = strstr(*text, secret)) == NULL)
		return;
	initStringInfo(&buf);
	rest = *text;
	while ((hit = strstr(rest, secret)) != NULL)
	{
		appendBinaryStringInfo(&buf, rest, hit - rest);
		appendStringInfoString(&buf, "[redacted]");
		rest = hit + slen;
	}
	appendStringInfoString(&buf, rest);
	*text = buf.data;
}

/*
 * Redacts a server-log message that may quote the value of a secret
 * setting: a logged statement (log_statement, log_duration) or a refused
 * value.  Other messages that merely name a setting stay whole.
 */
static void
redact_statement(char **text)
{
	/* Each prefix, and the separator after which the value would follow. */
	static const struct
	{
		const char *prefix;
		const char *cut_after;
	}			forms[] = {
		{"statement: ", NULL},
		{"execute ", NULL},
		{"duration: ", NULL},
		{"invalid value for parameter", "\": "},	/* keeps the setting's name */
	};

	if (*text == NULL || momo_secret_setting_name_in(*text) == NULL)
		return;
	for (int i = 0; i < lengthof(forms); i++)
		if (strncmp(*text, forms[i].prefix, strlen(forms[i].prefix)) == 0)
		{
			const char *cut = forms[i].cut_after ? strstr(*text, forms[i].cut_after) : NULL;
			int			keep = cut ? (int) (cut - *text + strlen(forms[i].cut_after)) :
				(int) strlen(forms[i].prefix);

			*text = psprintf("%.*s[redacted: names a momo secret setting]", keep, *text);
			return;
		}
}

/*
 * Log hook: the postmaster logs "parameter ... changed to ..." on reload, and
 * statements may quote values; no secret value reaches the server log.
 */
static void
momo_emit_log_hook(ErrorData *edata)
{
	const char *secrets[MOMO_MAX_SECRET_VALUES];
	int			n;

	if (edata->output_to_server)
	{
		n = momo_secret_values(secrets, lengthof(secrets));
		for (int i = 0; i < n; i++)
		{
			redact_value(&edata->message, secrets[i]);
			redact_value(&edata->detail, secrets[i]);
			redact_value(&edata->detail_log, secrets[i]);
			redact_value(&edata->hint, secrets[i]);
			redact_value(&edata->context, secrets[i]);
			redact_value(&edata->internalquery, secrets[i]);
		}
		redact_statement(&edata->message);
		/* The STATEMENT: line of a logged error could quote a secret value. */
		if (debug_query_string && momo_secret_setting_name_in(debug_query_string))
			edata->hide_stmt = true;
		for (int i = 0; i < n && debug_query_string && !edata->hide_stmt; i++)
			if (strstr(debug_query_string, secrets[i]) != NULL)
				edata->hide_stmt = true;
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/* Installs the log hook; called from _PG_init. */
void
momo_redact_install(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = momo_emit_log_hook;
}
