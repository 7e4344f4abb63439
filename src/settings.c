/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  Defines momo's GUCs, resolves each against its environment variable
 *	  (the GUC wins when both are set), and checks the configuration so that
 *	  a mistake is reported by the name of the setting to fix.
 *
 *	  The three secrets (subscription keys and API key) are GUC_SUPERUSER_ONLY
 *	  and PGC_SIGHUP: invisible to SHOW, current_setting() and pg_settings for
 *	  other roles, and impossible to set per session, role or database.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#include "msisdn.h"
#include "settings.h"

/* GUC variables; empty strings mean "not set here, look at the environment". */
static char *momo_environment = NULL;
static char *momo_base_url = NULL;
static char *momo_target_environment = NULL;
static char *momo_callback_secret = NULL;
static char *momo_msisdn_country = NULL;

/*
 * Each product's credentials: subscription keys (primary, secondary), API
 * user and API key.  Collection's settings have no prefix (momo.api_key,
 * MOMO_API_KEY); the others are prefixed with the product's name
 * (momo.disbursement_api_key, MOMO_DISBURSEMENT_API_KEY).
 */
enum
{
	CRED_KEY_PRIMARY,
	CRED_KEY_SECONDARY,
	CRED_API_USER,
	CRED_API_KEY,
	N_CRED
};
static const char *const cred_suffix[N_CRED] = {
	"subscription_key_primary", "subscription_key_secondary", "api_user", "api_key"
};
static const bool cred_secret[N_CRED] = {true, true, false, true};
static char *cred_guc[MOMO_N_PRODUCTS][N_CRED];
static char *cred_guc_name[MOMO_N_PRODUCTS][N_CRED];
static char *cred_env_name[MOMO_N_PRODUCTS][N_CRED];

const char *const momo_product_names[MOMO_N_PRODUCTS] = {
	"collection", "disbursement", "remittance"
};
static char *momo_callback_url = NULL;
static char *momo_ca_file = NULL;

char	   *momo_database_name = NULL;
char	   *momo_databases = NULL;
int			momo_max_databases = 8;
int			momo_connect_timeout_ms = 5000;
int			momo_request_timeout_ms = 30000;
int			momo_max_in_flight = 32;
int			momo_batch_size = 1000;
int			momo_max_attempts = 10;
int			momo_retry_base_ms = 1000;
int			momo_retry_max_ms = 300000;
int			momo_poll_interval_min_ms = 2000;
int			momo_poll_interval_max_ms = 60000;
int			momo_status_checks_per_second = 10;
int			momo_idle_interval_ms = 1000;
int			momo_token_refresh_margin_s = 60;
double		momo_max_amount = 100000000.0;
int			momo_event_retention_s = 90 * 86400;
int			momo_not_delivered_after_s = 900;
int			momo_attention_after_s = 3600;
int			momo_long_tail_interval_s = 3600;
char	   *momo_wait_for_standby = NULL;
int			momo_wait_for_standby_timeout_ms = 10000;
int			momo_health_queued_age_s = 60;
int			momo_health_pending_age_s = 1800;
int			momo_health_exchange_age_s = 600;
double		momo_health_failure_factor = 2.0;
int			momo_health_min_payments = 10;
int			momo_health_forged_callbacks = 10;
int			momo_health_payer_burst = 5;
int			momo_health_near_max = 5;

/* Returns true if s contains a control character or white space. */
static bool
has_control_or_space(const char *s)
{
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (c < 0x21 || c == 0x7f)
			return true;
	}
	return false;
}

/* GUC check hook: header values (keys, ids) must be a single printable token. */
static bool
check_header_token(char **newval, void **extra pg_attribute_unused(),
				   GucSource source pg_attribute_unused())
{
	if (*newval && has_control_or_space(*newval))
	{
		GUC_check_errdetail("The value must not contain spaces or control characters.");
		return false;
	}
	return true;
}

/* GUC check hook: a name or path must not contain control characters. */
static bool
check_no_control(char **newval, void **extra pg_attribute_unused(),
				 GucSource source pg_attribute_unused())
{
	for (const char *c = *newval; c && *c; c++)
		if ((unsigned char) *c < 0x20 || *c == 0x7f)
		{
			GUC_check_errdetail("The value must not contain control characters.");
			return false;
		}
	return true;
}

/*
 * GUC check hook: momo.databases is "*" or a list of database names, as
 * SQL writes identifiers (unquoted names lower-cased, others in double
 * quotes), separated by commas.
 */
static bool
check_databases(char **newval, void **extra pg_attribute_unused(),
				GucSource source pg_attribute_unused())
{
	char	   *copy;
	List	   *names;
	ListCell   *lc;
	bool		ok;

	if (*newval == NULL)
		return true;
	copy = pstrdup(*newval);
	ok = SplitIdentifierString(copy, ',', &names);
	if (!ok)
		GUC_check_errdetail("The value must be * or a list of database names separated by commas.");
	else if (names == NIL)
	{
		GUC_check_errdetail("The value must not be empty: * serves every database where momo is installed.");
		ok = false;
	}
	else
		foreach(lc, names)
		{
			if (strcmp((char *) lfirst(lc), "*") == 0 && list_length(names) > 1)
			{
				GUC_check_errdetail("* stands for every database: it cannot be listed with names.");
				ok = false;
			}
		}
	list_free(names);
	pfree(copy);
	return ok;
}

/* GUC check hook: an application_name as a standby reports it, or empty. */
static bool
check_standby_name(char **newval, void **extra, GucSource source)
{
	if (!check_no_control(newval, extra, source))
		return false;
	if (*newval && strlen(*newval) >= NAMEDATALEN)
	{
		GUC_check_errdetail("A standby's application_name is at most %d bytes long.", NAMEDATALEN - 1);
		return false;
	}
	return true;
}

/* GUC check hook: a URL setting must be empty or an http(s) URL without spaces. */
static bool
check_url(char **newval, void **extra pg_attribute_unused(),
		  GucSource source pg_attribute_unused())
{
	const char *v = *newval;

	if (v == NULL || v[0] == '\0')
		return true;
	if (has_control_or_space(v))
	{
		GUC_check_errdetail("A URL must not contain spaces or control characters.");
		return false;
	}
	if (strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0)
	{
		GUC_check_errdetail("The URL must start with https:// (or http:// in the sandbox).");
		return false;
	}
	return true;
}

/* GUC check hook: momo.environment is empty, sandbox or production. */
static bool
check_environment(char **newval, void **extra pg_attribute_unused(),
				  GucSource source pg_attribute_unused())
{
	const char *v = *newval;

	if (v == NULL || v[0] == '\0' || strcmp(v, "sandbox") == 0 ||
		strcmp(v, "production") == 0)
		return true;
	GUC_check_errdetail("momo.environment must be \"sandbox\" or \"production\".");
	return false;
}

/* GUC check hook: momo.msisdn_country is empty or the calling code of one of MTN's markets. */
static bool
check_msisdn_country(char **newval, void **extra pg_attribute_unused(),
					 GucSource source pg_attribute_unused())
{
	const char *v = *newval;

	if (v == NULL || v[0] == '\0' || momo_msisdn_market(v) != NULL)
		return true;
	GUC_check_errdetail("momo.msisdn_country must be empty (the country of momo.target_environment) or the country calling code of one of MTN's markets: %s.",
						momo_msisdn_market_codes());
	return false;
}

/* Defines a PGC_SIGHUP string setting. */
static void
define_string(const char *name, const char *desc, char **var, int flags,
			  GucStringCheckHook check)
{
	DefineCustomStringVariable(name, desc, NULL, var, "", PGC_SIGHUP,
							   flags, check, NULL, NULL);
}

/* Defines a PGC_SIGHUP integer setting. */
static void
define_int(const char *name, const char *desc, int *var, int boot, int min,
		   int max, int flags)
{
	DefineCustomIntVariable(name, desc, NULL, var, boot, min, max, PGC_SIGHUP,
							flags, NULL, NULL, NULL);
}

/* Returns s in capitals, in TopMemoryContext. */
static char *
upper_dup(const char *s)
{
	char	   *u = MemoryContextStrdup(TopMemoryContext, s);

	for (char *c = u; *c; c++)
		*c = (char) toupper((unsigned char) *c);
	return u;
}

/* Defines the credential settings of every product. */
static void
define_credentials(void)
{
	static const char *const what[N_CRED] = {
		"primary subscription key", "secondary subscription key, used when the primary is refused",
		"API user (a UUID)", "API key"
	};

	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
		for (int c = 0; c < N_CRED; c++)
		{
			const char *prefix = (p == MOMO_COLLECTION) ? "" : momo_product_names[p];
			const char *sep = (p == MOMO_COLLECTION) ? "" : "_";
			char	   *name = psprintf("momo.%s%s%s", prefix, sep, cred_suffix[c]);
			char	   *env = psprintf("MOMO_%s%s%s", prefix, sep, cred_suffix[c]);
			cred_guc_name[p][c] = MemoryContextStrdup(TopMemoryContext, name);
			cred_env_name[p][c] = upper_dup(env);
			DefineCustomStringVariable(cred_guc_name[p][c],
									   psprintf("%s: %s (%s).", momo_product_names[p], what[c],
												cred_env_name[p][c]),
									   NULL, &cred_guc[p][c], "", PGC_SIGHUP,
									   cred_secret[c] ? GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE : 0,
									   check_header_token, NULL, NULL);
		}
}

/* Defines every momo setting; called from _PG_init. */
void
momo_settings_define(void)
{
	define_string("momo.environment",
				  gettext_noop("MoMo environment: sandbox or production (default sandbox, or MOMO_ENVIRONMENT)."),
				  &momo_environment, 0, check_environment);
	define_string("momo.base_url",
				  gettext_noop("Base URL of the MoMo API (MOMO_BASE_URL); defaults to MTN's sandbox in the sandbox environment."),
				  &momo_base_url, 0, check_url);
	define_string("momo.target_environment",
				  gettext_noop("X-Target-Environment sent to MTN, e.g. mtnrwanda (MOMO_TARGET_ENVIRONMENT)."),
				  &momo_target_environment, 0, check_header_token);
	define_credentials();
	define_string("momo.callback_url",
				  gettext_noop("URL sent as X-Callback-Url; must be https:// in production (MOMO_CALLBACK_URL)."),
				  &momo_callback_url, 0, check_url);
	define_string("momo.callback_secret",
				  gettext_noop("Secret that signs the reference id momo puts in callback URLs (MOMO_CALLBACK_SECRET)."),
				  &momo_callback_secret,
				  GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE, check_header_token);
	define_string("momo.msisdn_country",
				  gettext_noop("Country calling code of phone numbers written without one, e.g. 250; empty: the country of momo.target_environment."),
				  &momo_msisdn_country, 0, check_msisdn_country);
	define_string("momo.ca_file",
				  gettext_noop("Extra trusted CA bundle (PEM) for TLS to the MoMo API."),
				  &momo_ca_file, 0, check_no_control);

	DefineCustomStringVariable("momo.databases",
							   gettext_noop("Databases momo's workers serve: * for every database where momo is installed, or a list of names."),
							   NULL, &momo_databases, "*",
							   PGC_SIGHUP, GUC_LIST_INPUT, check_databases, NULL, NULL);

	/* A postmaster-only setting can only be defined while preloading. */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomStringVariable("momo.database_name",
								   gettext_noop("Deprecated: the one database momo serves, when momo.databases is *."),
								   NULL, &momo_database_name, "",
								   PGC_POSTMASTER, 0, check_no_control, NULL, NULL);
		DefineCustomIntVariable("momo.max_databases",
								gettext_noop("Databases momo serves at once, at most (one background worker each)."),
								NULL, &momo_max_databases, 8, 1, 1024,
								PGC_POSTMASTER, 0, NULL, NULL, NULL);
	}

	define_int("momo.connect_timeout",
			   gettext_noop("Time allowed to connect to the MoMo API."),
			   &momo_connect_timeout_ms, 5000, 100, 600000, GUC_UNIT_MS);
	define_int("momo.request_timeout",
			   gettext_noop("Time allowed for one whole request to the MoMo API."),
			   &momo_request_timeout_ms, 30000, 100, 3600000, GUC_UNIT_MS);
	define_int("momo.max_in_flight",
			   gettext_noop("Requests the worker keeps in flight at once."),
			   &momo_max_in_flight, 32, 1, 1024, 0);
	define_int("momo.batch_size",
			   gettext_noop("Payments the worker claims at once, at most."),
			   &momo_batch_size, 1000, 1, 100000, 0);
	define_int("momo.max_attempts",
			   gettext_noop("Sends of one request before the worker asks MTN whether it arrived instead of sending again."),
			   &momo_max_attempts, 10, 1, 1000, 0);
	define_int("momo.retry_base",
			   gettext_noop("First retry delay after a transient failure; doubles per attempt, with jitter."),
			   &momo_retry_base_ms, 1000, 10, 3600000, GUC_UNIT_MS);
	define_int("momo.retry_max",
			   gettext_noop("Longest retry delay after a transient failure."),
			   &momo_retry_max_ms, 300000, 10, 86400000, GUC_UNIT_MS);
	define_int("momo.poll_interval_min",
			   gettext_noop("Delay before the first status check of an accepted payment; doubles per check."),
			   &momo_poll_interval_min_ms, 2000, 10, 3600000, GUC_UNIT_MS);
	define_int("momo.poll_interval_max",
			   gettext_noop("Longest delay between status checks of a pending payment."),
			   &momo_poll_interval_max_ms, 60000, 10, 86400000, GUC_UNIT_MS);
	define_int("momo.status_checks_per_second",
			   gettext_noop("Status checks per second the worker allows itself (MTN caps them near 10); 0 means no limit."),
			   &momo_status_checks_per_second, 10, 0, 100000, 0);
	define_int("momo.idle_interval",
			   gettext_noop("Longest time the worker sleeps when nothing is due."),
			   &momo_idle_interval_ms, 1000, 10, 3600000, GUC_UNIT_MS);
	define_int("momo.token_refresh_margin",
			   gettext_noop("Access tokens are refreshed this long before they expire."),
			   &momo_token_refresh_margin_s, 60, 0, 3600, GUC_UNIT_S);
	define_int("momo.attention_after",
			   gettext_noop("Age after which a payment still queued or pending needs attention (momo_attention) and is checked on the long-tail schedule."),
			   &momo_attention_after_s, 3600, 1, INT_MAX, GUC_UNIT_S);
	define_int("momo.long_tail_interval",
			   gettext_noop("Delay between status checks of a payment older than momo.attention_after."),
			   &momo_long_tail_interval_s, 3600, 1, INT_MAX, GUC_UNIT_S);
	define_int("momo.not_delivered_after",
			   gettext_noop("How long MTN must keep answering 404 for a payment whose every send failed before it is failed as NOT_DELIVERED."),
			   &momo_not_delivered_after_s, 900, 1, INT_MAX, GUC_UNIT_S);
	define_int("momo.event_retention",
			   gettext_noop("How long the event log (momo_events) keeps each exchange with MTN."),
			   &momo_event_retention_s, 90 * 86400, 3600, INT_MAX, GUC_UNIT_S);
	define_string("momo.wait_for_standby",
				  gettext_noop("application_name of an asynchronous standby that must have flushed a claim's WAL before the worker sends it, and a final status before NOTIFY or momo_await tell of it; empty for none."),
				  &momo_wait_for_standby, 0, check_standby_name);
	define_int("momo.wait_for_standby_timeout",
			   gettext_noop("Longest time the worker waits for standbys to confirm a claim before it gives up and tries again later."),
			   &momo_wait_for_standby_timeout_ms, 10000, 10, 3600000, GUC_UNIT_MS);
	DefineCustomRealVariable("momo.max_amount",
							 gettext_noop("Largest amount momo_request_to_pay accepts."),
							 NULL, &momo_max_amount, 100000000.0, 1.0, 1e15,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);

	/* momo_health's thresholds (health.c) */
	define_int("momo.health_queued_age",
			   gettext_noop("momo_health warns when a payment has waited this long to be sent (critical at five times)."),
			   &momo_health_queued_age_s, 60, 1, INT_MAX, GUC_UNIT_S);
	define_int("momo.health_pending_age",
			   gettext_noop("momo_health warns when a payment has been pending this long (critical at four times)."),
			   &momo_health_pending_age_s, 1800, 1, INT_MAX, GUC_UNIT_S);
	define_int("momo.health_exchange_age",
			   gettext_noop("momo_health is critical when payments are open and MTN has answered nothing with success for this long."),
			   &momo_health_exchange_age_s, 600, 1, INT_MAX, GUC_UNIT_S);
	DefineCustomRealVariable("momo.health_failure_factor",
							 gettext_noop("momo_health warns when the share of failed payments over 5 or 60 minutes is this many times the last day's (and 10 points above it)."),
							 NULL, &momo_health_failure_factor, 2.0, 1.0, 100.0,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	define_int("momo.health_min_payments",
			   gettext_noop("Fewest final payments in a window for momo_health to judge its failure rate."),
			   &momo_health_min_payments, 10, 1, INT_MAX, 0);
	define_int("momo.health_forged_callbacks",
			   gettext_noop("momo_health warns at this many forged callbacks in an hour (critical at ten times)."),
			   &momo_health_forged_callbacks, 10, 1, INT_MAX, 0);
	define_int("momo.health_payer_burst",
			   gettext_noop("momo_health warns at this many payments to or from one number in 10 minutes."),
			   &momo_health_payer_burst, 5, 1, INT_MAX, 0);
	define_int("momo.health_near_max",
			   gettext_noop("momo_health warns at this many payments of at least 90% of momo.max_amount in an hour."),
			   &momo_health_near_max, 5, 1, INT_MAX, 0);

	MarkGUCPrefixReserved("momo");
}

/* Returns the GUC value if set, else the environment variable if set, else NULL. */
static const char *
pick(const char *guc_value, const char *env_name)
{
	const char *v;

	/*
	 * Copies: a reload frees and replaces every string setting, and a
	 * configuration resolved before it may be used after it (the worker
	 * serves reloads while it waits for durability).
	 */
	if (guc_value && guc_value[0] != '\0')
		return pstrdup(guc_value);
	if (env_name == NULL)
		return NULL;
	v = getenv(env_name);
	if (v && v[0] != '\0')
		return pstrdup(v);
	return NULL;
}

/* Resolves the effective configuration of a product from GUCs, environment and defaults. */
void
momo_settings_resolve(MomoConfig *cfg, MomoProduct product)
{
	const char *env = pick(momo_environment, "MOMO_ENVIRONMENT");
	const char *url;

	memset(cfg, 0, sizeof(*cfg));
	cfg->production = (env != NULL && strcmp(env, "production") == 0);

	url = pick(momo_base_url, "MOMO_BASE_URL");
	if (url == NULL && !cfg->production)
		url = MOMO_SANDBOX_BASE_URL;
	if (url != NULL)
	{
		size_t		len = strlen(url);

		while (len > 0 && url[len - 1] == '/')
			len--;
		url = pnstrdup(url, len);
	}
	cfg->base_url = url;

	cfg->target_environment = pick(momo_target_environment, "MOMO_TARGET_ENVIRONMENT");
	if (cfg->target_environment == NULL && !cfg->production)
		cfg->target_environment = "sandbox";
	cfg->product = product;
	cfg->subscription_key[0] = pick(cred_guc[product][CRED_KEY_PRIMARY], cred_env_name[product][CRED_KEY_PRIMARY]);
	cfg->subscription_key[1] = pick(cred_guc[product][CRED_KEY_SECONDARY], cred_env_name[product][CRED_KEY_SECONDARY]);
	cfg->api_user = pick(cred_guc[product][CRED_API_USER], cred_env_name[product][CRED_API_USER]);
	cfg->api_key = pick(cred_guc[product][CRED_API_KEY], cred_env_name[product][CRED_API_KEY]);
	cfg->callback_secret = pick(momo_callback_secret, "MOMO_CALLBACK_SECRET");
	cfg->callback_url = pick(momo_callback_url, "MOMO_CALLBACK_URL");
	cfg->ca_file = pick(momo_ca_file, NULL);
}

/*
 * Returns the market of phone numbers written without a country code:
 * momo.msisdn_country's, else momo.target_environment's (NULL in the sandbox,
 * whose test numbers have their country code, and in a market momo does not
 * know).
 */
const MomoMarket *
momo_settings_msisdn_market(void)
{
	const char *env;

	if (momo_msisdn_country && momo_msisdn_country[0] != '\0')
		return momo_msisdn_market(momo_msisdn_country);
	env = pick(momo_target_environment, "MOMO_TARGET_ENVIRONMENT");
	return momo_msisdn_market_of_environment(env);
}

/* Fills in a problem and returns true, for momo_settings_check. */
static bool
problem_at(MomoConfigProblem *p, const char *setting, char *message, char *hint)
{
	p->setting = setting;
	p->message = message;
	p->hint = hint;
	return true;
}

/* Returns true if s is a UUID in its canonical 8-4-4-4-12 hex form. */
static bool
is_uuid(const char *s)
{
	int			i;

	if (strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++)
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
 * Extracts the host of an http(s) URL into a palloc'd string, and its port
 * (0 when not given).  Returns NULL when the URL has no host.
 */
char *
momo_settings_url_host(const char *url, int *port)
{
	const char *p = strstr(url, "://");
	const char *end;
	const char *colon = NULL;

	*port = 0;
	if (p == NULL)
		return NULL;
	p += 3;
	if (*p == '[')				/* IPv6 literal */
	{
		end = strchr(p, ']');
		if (end == NULL)
			return NULL;
		if (end[1] == ':')
			*port = atoi(end + 2);
		return pnstrdup(p, end - p + 1);
	}
	end = p + strcspn(p, "/?#");
	for (const char *c = p; c < end; c++)
		if (*c == ':')
			colon = c;
		else if (*c == '@')
			return NULL;		/* credentials in a URL are refused */
	if (colon)
	{
		/* A port is 1 to 65535, in digits (":", ":0", ":-1" are none). */
		size_t		digits = end - (colon + 1);

		if (digits == 0 || digits > 5 || strspn(colon + 1, "0123456789") < digits)
			return NULL;
		*port = atoi(colon + 1);
		if (*port < 1 || *port > 65535)
			return NULL;
		end = colon;
	}
	if (end == p)
		return NULL;
	return pnstrdup(p, end - p);
}

/* Returns true if host is an IPv4 or IPv6 literal rather than a domain name. */
static bool
host_is_ip(const char *host)
{
	if (host[0] == '[')
		return true;
	return strspn(host, "0123456789.") == strlen(host);
}

/*
 * Checks a URL value from any source (a setting, or a payment's
 * callback_url, named name); returns a problem message or NULL.
 */
char *
momo_settings_url_problem(const char *name, const char *url, bool production, bool is_callback)
{
	char	   *host;
	int			port;

	if (has_control_or_space(url))
		return psprintf("%s must not contain spaces or control characters", name);
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
		return psprintf("%s must start with https://", name);
	host = momo_settings_url_host(url, &port);
	if (host == NULL)
		return psprintf("%s has no valid host name (or port)", name);
	if (production && strncmp(url, "https://", 8) != 0)
		return psprintf("%s must use https:// in production", name);
	if (production && is_callback && host_is_ip(host))
		return psprintf("%s must name a domain, not an IP address, in production", name);
	if (production && is_callback && port != 0 && port != 443)
		return psprintf("%s must use port 443 in production", name);
	return NULL;
}

/*
 * Checks the effective configuration.  Returns true and describes the first
 * problem found, or returns false when the configuration is usable.
 */
bool
momo_settings_check(const MomoConfig *cfg, MomoConfigProblem *p)
{
	const char *env = pick(momo_environment, "MOMO_ENVIRONMENT");
	MomoProduct pr = cfg->product;
	char	   *msg;

	if (env && strcmp(env, "sandbox") != 0 && strcmp(env, "production") != 0)
		return problem_at(p, "momo.environment",
						  psprintf("momo.environment (MOMO_ENVIRONMENT) must be \"sandbox\" or \"production\", not \"%s\"", env),
						  NULL);

	if (cfg->base_url == NULL)
		return problem_at(p, "momo.base_url",
						  pstrdup("momo.base_url must be set in production"),
						  pstrdup("Set momo.base_url (or MOMO_BASE_URL) to the API host MTN gave you at Go Live, e.g. https://proxy.momoapi.mtn.com."));
	if ((msg = momo_settings_url_problem("momo.base_url", cfg->base_url, cfg->production, false)) != NULL)
		return problem_at(p, "momo.base_url", msg,
						  pstrdup("Use the API host MTN gave you, e.g. https://proxy.momoapi.mtn.com."));

	if (cfg->target_environment == NULL)
		return problem_at(p, "momo.target_environment",
						  pstrdup("momo.target_environment must be set in production"),
						  pstrdup("Set momo.target_environment (or MOMO_TARGET_ENVIRONMENT) to your market's name, e.g. mtnrwanda."));
	if (has_control_or_space(cfg->target_environment))
		return problem_at(p, "momo.target_environment",
						  pstrdup("momo.target_environment must not contain spaces or control characters"), NULL);
	if (cfg->production && (strcmp(cfg->target_environment, "production") == 0 ||
							strcmp(cfg->target_environment, "sandbox") == 0))
		return problem_at(p, "momo.target_environment",
						  psprintf("momo.target_environment cannot be \"%s\" in production", cfg->target_environment),
						  pstrdup("MTN expects the market's name, e.g. mtnrwanda, mtnuganda or mtnghana."));

	if (cfg->subscription_key[0] == NULL)
		return problem_at(p, cred_guc_name[pr][CRED_KEY_PRIMARY],
						  psprintf("%s is not set", cred_guc_name[pr][CRED_KEY_PRIMARY]),
						  psprintf("Set %s in postgresql.conf, or %s in the server's environment, to the %s key from your MoMo developer profile, then reload.",
								   cred_guc_name[pr][CRED_KEY_PRIMARY], cred_env_name[pr][CRED_KEY_PRIMARY],
								   momo_product_names[pr]));
	for (int i = 0; i < 2; i++)
		if (cfg->subscription_key[i] && has_control_or_space(cfg->subscription_key[i]))
			return problem_at(p, cred_guc_name[pr][i],
							  psprintf("%s must not contain spaces or control characters",
									   cred_guc_name[pr][i]),
							  NULL);

	if (cfg->api_user == NULL)
		return problem_at(p, cred_guc_name[pr][CRED_API_USER],
						  psprintf("%s is not set", cred_guc_name[pr][CRED_API_USER]),
						  cfg->production ?
						  psprintf("Create the API user in the Partner Portal and set %s (or %s).",
								   cred_guc_name[pr][CRED_API_USER], cred_env_name[pr][CRED_API_USER]) :
						  psprintf("Create a sandbox API user with momo_sandbox_provision() or the Provisioning API and set %s (or %s).",
								   cred_guc_name[pr][CRED_API_USER], cred_env_name[pr][CRED_API_USER]));
	if (!is_uuid(cfg->api_user))
		return problem_at(p, cred_guc_name[pr][CRED_API_USER],
						  psprintf("%s must be a UUID", cred_guc_name[pr][CRED_API_USER]),
						  pstrdup("The API user is the X-Reference-Id it was created with, e.g. 5f9b2c7e-3c1a-4d2e-9f10-0a1b2c3d4e5f."));
	if (cfg->api_key == NULL)
		return problem_at(p, cred_guc_name[pr][CRED_API_KEY],
						  psprintf("%s is not set", cred_guc_name[pr][CRED_API_KEY]),
						  psprintf("Set %s in postgresql.conf, or %s in the server's environment, then reload.",
								   cred_guc_name[pr][CRED_API_KEY], cred_env_name[pr][CRED_API_KEY]));
	if (has_control_or_space(cfg->api_key))
		return problem_at(p, cred_guc_name[pr][CRED_API_KEY],
						  psprintf("%s must not contain spaces or control characters",
								   cred_guc_name[pr][CRED_API_KEY]), NULL);

	if (cfg->callback_url == NULL && cfg->production)
		return problem_at(p, "momo.callback_url",
						  pstrdup("momo.callback_url must be set in production"),
						  pstrdup("Set it to the https:// URL registered in the Partner Portal, e.g. https://yourdomain.com/auth/api/momo/callback/."));
	if (cfg->callback_url &&
		(msg = momo_settings_url_problem("momo.callback_url", cfg->callback_url, cfg->production, true)) != NULL)
		return problem_at(p, "momo.callback_url", msg,
						  pstrdup("MTN requires an https:// callback on port 443 whose host is a registered domain name."));

	if (cfg->ca_file && access(cfg->ca_file, R_OK) != 0)
		return problem_at(p, "momo.ca_file",
						  psprintf("momo.ca_file \"%s\" cannot be read: %m", cfg->ca_file),
						  pstrdup("Give a PEM file readable by the PostgreSQL server's operating-system user."));
	return false;
}

/*
 * Resolves a product's configuration and raises an ERROR naming the setting
 * if it is unusable.
 */
void
momo_settings_require(MomoConfig *cfg, MomoProduct product)
{
	MomoConfigProblem p;

	momo_settings_resolve(cfg, product);
	if (momo_settings_check(cfg, &p))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg(product == MOMO_COLLECTION ? "momo is not configured: %s" :
						"momo is not configured for %s: %s",
						product == MOMO_COLLECTION ? p.message : momo_product_names[product],
						p.message),
				 errdetail("Setting: %s.", p.setting),
				 p.hint ? errhint("%s", p.hint) : 0));
}

/* A hash of everything an access token depends on, to notice credential changes. */
uint32
momo_settings_credentials_hash(const MomoConfig *cfg)
{
	const char *parts[6] = {cfg->base_url, cfg->target_environment,
		cfg->subscription_key[0], cfg->subscription_key[1],
	cfg->api_user, cfg->api_key};
	uint32		h = (uint32) cfg->product;

	for (int i = 0; i < 6; i++)
	{
		const char *s = parts[i] ? parts[i] : "";

		h = hash_combine(h, hash_bytes((const unsigned char *) s, strlen(s)));
	}
	return h;
}

/* Returns the setting names of a product's API user and API key, for hints. */
void
momo_settings_credential_names(MomoProduct product, const char **api_user, const char **api_key,
							   const char **key_primary, const char **key_secondary)
{
	*api_user = cred_guc_name[product][CRED_API_USER];
	*api_key = cred_guc_name[product][CRED_API_KEY];
	*key_primary = cred_guc_name[product][CRED_KEY_PRIMARY];
	*key_secondary = cred_guc_name[product][CRED_KEY_SECONDARY];
}

/* Lists the current secret values (from GUCs and environment) for log redaction. */
int
momo_settings_secret_values(const char **values, int max)
{
	int			n = 0;

	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
		for (int c = 0; c < N_CRED; c++)
		{
			const char *v[2];

			if (!cred_secret[c])
				continue;
			v[0] = cred_guc[p][c];
			v[1] = cred_env_name[p][c] ? getenv(cred_env_name[p][c]) : NULL;
			for (int i = 0; i < 2; i++)
				if (v[i] && strlen(v[i]) >= 4 && n < max)
					values[n++] = v[i];
		}
	if (momo_callback_secret && strlen(momo_callback_secret) >= 4 && n < max)
		values[n++] = momo_callback_secret;
	if (getenv("MOMO_CALLBACK_SECRET") && strlen(getenv("MOMO_CALLBACK_SECRET")) >= 4 && n < max)
		values[n++] = getenv("MOMO_CALLBACK_SECRET");
	return n;
}

/* Returns true if name (lower case, no quotes) is a secret setting's name. */
static const char *
secret_name_in(const char *folded)
{
	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
		for (int c = 0; c < N_CRED; c++)
			if (cred_secret[c] && cred_guc_name[p][c] && strstr(folded, cred_guc_name[p][c]) != NULL)
				return cred_guc_name[p][c];
	if (strstr(folded, "momo.callback_secret") != NULL)
		return "momo.callback_secret";
	return NULL;
}

/* Returns true if name is a secret setting's name, in any case (as GUC names are). */
bool
momo_settings_is_secret(const char *name)
{
	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
		for (int c = 0; c < N_CRED; c++)
			if (cred_secret[c] && cred_guc_name[p][c] &&
				pg_strcasecmp(name, cred_guc_name[p][c]) == 0)
				return true;
	return pg_strcasecmp(name, "momo.callback_secret") == 0;
}

/*
 * Returns the name of a secret setting that text mentions, or NULL.  SQL
 * lets a name be written in any case, quoted and spaced
 * ("MOMO" . API_KEY), so the text is compared without case, quotes or
 * white space.
 */
const char *
momo_settings_secret_name_in(const char *text)
{
	size_t		len = strlen(text);
	char	   *folded = palloc(len + 1);
	size_t		n = 0;
	const char *found = NULL;

	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) text[i];

		if (c == '"' || isspace(c))
			continue;
		folded[n++] = (char) tolower(c);
	}
	folded[n] = '\0';
	found = secret_name_in(folded);
	pfree(folded);
	return found;
}
