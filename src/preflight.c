/*-------------------------------------------------------------------------
 *
 * preflight.c
 *	  momo_preflight: the checks of the owner's Go Live checklist that can be
 *	  made from inside the database, one row each (name, ok, detail); and
 *	  momo_token_refreshes, the token figures for momo_stats.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "api.h"
#include "calls.h"
#include "launcher.h"
#include "momo.h"
#include "owner.h"
#include "pause.h"
#include "settings.h"
#include "spi_util.h"
#include "store.h"
#include "version.h"

PG_FUNCTION_INFO_V1(momo_preflight);
PG_FUNCTION_INFO_V1(momo_token_refreshes);
PG_FUNCTION_INFO_V1(momo_worker_status);
PG_FUNCTION_INFO_V1(momo_config_loaded);
PG_FUNCTION_INFO_V1(momo_ignored_callbacks);

/* Adds one check's row; ok is NULL (not known) when unknown is true. */
static void
add_check_row(ReturnSetInfo *rsinfo, const char *name, bool ok, bool unknown, const char *detail)
{
	Datum		values[3];
	bool		nulls[3] = {false, unknown, false};

	values[0] = CStringGetTextDatum(name);
	values[1] = BoolGetDatum(ok);
	values[2] = CStringGetTextDatum(detail);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* Adds one check's row. */
static void
add_check(ReturnSetInfo *rsinfo, const char *name, bool ok, const char *detail)
{
	add_check_row(rsinfo, name, ok, false, detail);
}

/*
 * The check "callback host (product)": the callback host MTN has
 * registered for the product's API user against the host of
 * momo.callback_url.  MTN refuses every payment whose callback URL is on
 * another host (INVALID_CALLBACK_URL_HOST).  In the sandbox the
 * Provisioning API tells it; production has none (ok is NULL: the Partner
 * Portal holds it).
 */
static void
add_callback_host_check(ReturnSetInfo *rsinfo, const MomoConfig *pc)
{
	char	   *name = psprintf("callback host (%s)", momo_product_names[pc->product]);
	int			port;
	char	   *ours = pc->callback_url ? momo_settings_url_host(pc->callback_url, &port) : NULL;
	char	   *theirs;
	char	   *error;

	if (pc->production)
	{
		add_check_row(rsinfo, name, false, true,
					  ours ? psprintf("not checked: production has no Provisioning API; the callback host registered for API user %s in MTN's Partner Portal must be %s, the host of momo.callback_url",
									  pc->api_user, ours) :
					  "not checked: production has no Provisioning API, and momo.callback_url is not set");
		return;
	}
	theirs = momo_calls_registered_callback_host(pc, &error);
	if (theirs == NULL)
		add_check(rsinfo, name, false, error);
	else if (ours == NULL)
		add_check(rsinfo, name, true,
				  psprintf("MTN has %s registered for API user %s; momo.callback_url is not set (payments are followed by polling only)",
						   theirs, pc->api_user));
	else if (pg_strcasecmp(theirs, ours) == 0)
		add_check(rsinfo, name, true,
				  psprintf("MTN has %s registered for API user %s: the host of momo.callback_url", theirs, pc->api_user));
	else
		add_check(rsinfo, name, false,
				  psprintf("MTN has %s registered for API user %s, but momo.callback_url is on %s: MTN refuses every payment with INVALID_CALLBACK_URL_HOST (set momo.callback_url on %s, or create an API user for %s with momo_sandbox_provision('%s', '%s'))",
						   theirs, pc->api_user, ours, theirs, ours, ours, momo_product_names[pc->product]));
}

#define Anum_query_bool 1			/* the one column of query_bool's queries */

/*
 * Runs a query returning one boolean, with SPI connected; its parameters are
 * the OIDs of momo_payments and momo_events, so no name is ever pasted into it.
 */
static bool
query_bool(const char *sql, Oid payments, Oid events)
{
	Oid			types[2] = {OIDOID, OIDOID};
	Datum		values[2] = {ObjectIdGetDatum(payments), ObjectIdGetDatum(events)};
	bool		isnull;
	Datum		d;
	int			rc;

	rc = SPI_execute_with_args(sql, 2, types, values, NULL, true, 1);
	momo_spi_check(rc, SPI_OK_SELECT, "running a preflight check");
	if (SPI_processed != 1)
		elog(ERROR, "preflight query returned " UINT64_FORMAT " rows: %s", SPI_processed, sql);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_query_bool, &isnull);
	return !isnull && DatumGetBool(d);
}

/* Returns true if none of a product's credentials is set: the product is not in use. */
static bool
product_unused(const MomoConfig *cfg)
{
	return cfg->api_user == NULL && cfg->api_key == NULL && cfg->subscription_key[0] == NULL;
}

/*
 * The trust checks, with SPI connected: momo_payments is owned by an
 * ordinary role that no one else can become (the worker acts as it and the
 * SECURITY DEFINER functions run as it), and every other trigger on
 * momo_payments runs as its own function's owner with a pinned search_path
 * (else it runs with momo_worker's rights).
 */
static void
add_trust_checks(ReturnSetInfo *rsinfo, Oid nsp)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1];
	Oid			rel = get_relname_relid("momo_payments", nsp);
	int			rc;
	char	   *owner;
	bool		super;
	int64		members;
	bool		isnull;
	StringInfoData attrs;
	static const char *const attr_names[] = {"LOGIN", "BYPASSRLS", "CREATEROLE", "REPLICATION"};

	if (!OidIsValid(rel))
		return;
	values[0] = ObjectIdGetDatum(rel);

	/*
	 * The same rule as the install script's: the owner of momo_payments
	 * (momo_worker) must be an ordinary role that no one can become or that
	 * reaches beyond momo's tables.  The install checks it once; a DBA may
	 * change the role afterwards, so it is checked again here.  The worker
	 * itself refuses only a superuser owner (it would run triggers as one):
	 * stopping payments would not close what the other attributes open.
	 */
#define Anum_owner_name		1
#define Anum_owner_super	2
#define Anum_owner_members	3
#define Anum_owner_attrs	4
	rc = SPI_execute_with_args("SELECT r.rolname::text, r.rolsuper,"
							   " (SELECT pg_catalog.count(*) FROM pg_catalog.pg_auth_members m"
							   "   WHERE m.roleid OPERATOR(pg_catalog.=) r.oid),"
							   " r.rolcanlogin, r.rolbypassrls, r.rolcreaterole, r.rolreplication"
							   " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_roles r"
							   "   ON r.oid OPERATOR(pg_catalog.=) c.relowner"
							   " WHERE c.oid OPERATOR(pg_catalog.=) $1",
							   1, types, values, NULL, true, 1);
	momo_spi_check(rc, SPI_OK_SELECT, "reading the owner of momo_payments");
	if (SPI_processed != 1)
		elog(ERROR, "momo_payments (relation %u) has no owner", rel);
	owner = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_owner_name);
	super = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_owner_super, &isnull));
	members = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_owner_members, &isnull));
	initStringInfo(&attrs);
	for (int i = 0; i < (int) lengthof(attr_names); i++)
		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_owner_attrs + i, &isnull)))
			appendStringInfo(&attrs, "%s%s", attrs.len ? " " : "", attr_names[i]);
	add_check(rsinfo, "worker role", !super && members == 0 && attrs.len == 0,
			  super ? psprintf("momo_payments is owned by superuser %s: the worker refuses to act as it (%s)", owner,
							   strcmp(owner, "momo_worker") == 0 ? "ALTER ROLE momo_worker NOSUPERUSER" :
							   "ALTER TABLE momo_payments OWNER TO momo_worker") :
			  members > 0 ? psprintf("%s, the owner of momo_payments, has members: they can act with momo's rights (REVOKE %s FROM ...)", owner, owner) :
			  attrs.len > 0 ? psprintf("%s, the owner of momo_payments, has %s, which momo refuses at install (ALTER ROLE %s NOLOGIN NOBYPASSRLS NOCREATEROLE NOREPLICATION)", owner, attrs.data, owner) :
			  psprintf("%s owns momo_payments: an ordinary role, no login, with no members", owner));

	/* The schema: only superusers may own it or create in it (see the install script). */
	values[0] = ObjectIdGetDatum(nsp);
#define Anum_schema_writers 1
	rc = SPI_execute_with_args("SELECT pg_catalog.string_agg(pg_catalog.quote_ident(r.rolname), ', ' ORDER BY r.rolname)"
							   " FROM pg_catalog.pg_roles r, pg_catalog.pg_namespace n, pg_catalog.pg_database d"
							   " WHERE n.oid OPERATOR(pg_catalog.=) $1"
							   "   AND d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()"
							   "   AND NOT r.rolsuper"
							   "   AND r.oid OPERATOR(pg_catalog.<>) 'pg_database_owner'::pg_catalog.regrole"
							   "   AND (r.oid OPERATOR(pg_catalog.=) n.nspowner"
							   "        OR (n.nspowner OPERATOR(pg_catalog.=) 'pg_database_owner'::pg_catalog.regrole"
							   "            AND r.oid OPERATOR(pg_catalog.=) d.datdba)"
							   "        OR pg_catalog.has_schema_privilege(r.oid, n.oid, 'CREATE'))",
							   1, types, values, NULL, true, 1);
	momo_spi_check(rc, SPI_OK_SELECT, "reading who controls momo's schema");
	if (SPI_processed != 1)
		elog(ERROR, "aggregate returned " UINT64_FORMAT " rows", SPI_processed);
	{
		char	   *writers = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_schema_writers);

		add_check(rsinfo, "schema", writers == NULL,
				  writers ? psprintf("these roles own or may create objects in momo's schema, and so could replace or break momo: %s", writers) :
				  "only superusers own or may create objects in momo's schema");
	}

	/* Triggers of others on momo_payments, and FORCE ROW LEVEL SECURITY: see owner.c. */
	{
		char	   *problem = super ? NULL : momo_owner_table_problem(rel, momo_owner_of(rel), nsp);

		add_check(rsinfo, "triggers on momo_payments", problem == NULL,
				  problem ? problem :
				  "every trigger of others runs as its function's owner (SECURITY DEFINER, owned by the application, pinned search_path)");
	}
}

/*
 * momo_preflight(): one row per Go Live check: environment, credentials, a
 * fresh access token and the callback host MTN has registered for each
 * product in use, target environment, HTTPS
 * callback URL on a domain name, callback signing, TLS verification, the
 * worker, the products paused, pg_dump coverage of the payments, and secrets closed to PUBLIC.
 */
Datum
momo_preflight(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MomoConfig	cfg;
	MomoConfigProblem problem;
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	Oid			payments = get_relname_relid("momo_payments", nsp);
	Oid			events = get_relname_relid("momo_events", nsp);
	pid_t		worker_pid;
	bool		worker_serving;
	char		worker_problem[MOMO_PROBLEM_LEN];
	char	   *why;
	char	   *hint;

	momo_require_preload();
	InitMaterializedSRF(fcinfo, 0);

	{
		char	   *version;
		char	   *version_hint = NULL;
		char	   *version_problem;

		(void) momo_version_extension_lookup(&version);
		if (version == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("momo is not installed in database \"%s\"", get_database_name(MyDatabaseId)),
					 errhint("Run CREATE EXTENSION momo first.")));
		version_problem = momo_version_problem(version, &version_hint);
		add_check(rsinfo, "version", version_problem == NULL,
				  version_problem ? psprintf("%s. %s", version_problem, version_hint) :
				  psprintf("%s, schema and library", version));
	}

	momo_settings_resolve(&cfg, MOMO_COLLECTION);
	add_check(rsinfo, "environment", true,
			  cfg.production ? "production: real money" : "sandbox: no real money (set momo.environment = 'production' to go live)");
	add_check(rsinfo, "base URL", cfg.base_url != NULL && (!cfg.production || strncmp(cfg.base_url, "https://", 8) == 0),
			  cfg.base_url ? cfg.base_url : "momo.base_url is not set (required in production)");
	add_check(rsinfo, "target environment",
			  cfg.target_environment != NULL &&
			  (!cfg.production || (strcmp(cfg.target_environment, "sandbox") != 0 &&
								   strcmp(cfg.target_environment, "production") != 0)),
			  cfg.target_environment ? cfg.target_environment :
			  "momo.target_environment is not set (required in production, e.g. mtnrwanda)");

	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
	{
		MomoConfig	pc;
		char	   *name = psprintf("credentials (%s)", momo_product_names[p]);
		char	   *token;
		char	   *error;
		int			key;
		MomoTokenResult r;

		momo_settings_resolve(&pc, (MomoProduct) p);
		if (p != MOMO_COLLECTION && product_unused(&pc))
		{
			add_check(rsinfo, name, true, "not in use (no credentials set)");
			continue;
		}
		if (momo_settings_check(&pc, &problem))
		{
			add_check(rsinfo, name, false, problem.message);
			add_check(rsinfo, psprintf("access token (%s)", momo_product_names[p]), false,
					  "not tried: the configuration is incomplete");
			continue;
		}
		add_check(rsinfo, name, true,
				  psprintf("API user %s, %s subscription key%s", pc.api_user,
						   pc.subscription_key[1] ? "primary and secondary" : "primary",
						   pc.subscription_key[1] ? "s" : ""));
		/* A fresh token proves the credentials now, not when the cached one was issued. */
		r = momo_api_get_token(momo_http_client(), &pc, NULL, &token, &key, &error);
		if (r == MOMO_TOKEN_OK)
			r = momo_api_get_token(momo_http_client(), &pc, token, &token, &key, &error);
		add_check(rsinfo, psprintf("access token (%s)", momo_product_names[p]), r == MOMO_TOKEN_OK,
				  r == MOMO_TOKEN_OK ? psprintf("obtained now, with the %s subscription key",
												key == 0 ? "primary" : "secondary") :
				  (error ? error : "refused"));
		add_callback_host_check(rsinfo, &pc);
	}

	if (cfg.callback_url == NULL)
		add_check(rsinfo, "callback URL", !cfg.production,
				  cfg.production ? "momo.callback_url is not set (required in production)" :
				  "not set: payments are followed by polling only");
	else
	{
		char	   *url_problem = NULL;

		momo_settings_resolve(&cfg, MOMO_COLLECTION);
		if (momo_settings_check(&cfg, &problem) && strcmp(problem.setting, "momo.callback_url") == 0)
			url_problem = problem.message;
		else if (strncmp(cfg.callback_url, "https://", 8) != 0)
			url_problem = "not https:// (production refuses it)";
		add_check(rsinfo, "callback URL", url_problem == NULL,
				  url_problem ? url_problem : cfg.callback_url);
	}
	add_check(rsinfo, "callback signing", cfg.callback_secret != NULL,
			  cfg.callback_secret ? "momo.callback_secret is set: momo_callback verifies callbacks" :
			  "momo.callback_secret is not set: momo_callback ignores every callback");
	add_check(rsinfo, "TLS verification", true,
			  cfg.ca_file ? psprintf("peer and host always verified; extra CA file %s", cfg.ca_file) :
			  "peer and host always verified against the system's CAs");

	worker_pid = momo_launcher_worker_of(MyDatabaseId, &worker_serving, worker_problem, false);
	add_check(rsinfo, "worker", worker_pid != 0 && worker_serving && worker_problem[0] == '\0',
			  !momo_launcher_serves(&why, &hint) ? psprintf("%s. %s", why, hint) :
			  worker_pid == 0 ? "no momo worker runs in this database (the server log says why)" :
			  worker_problem[0] ? psprintf("running, pid %d, but not sending: %s", (int) worker_pid, worker_problem) :
			  psprintf("running, pid %d, in this database", (int) worker_pid));

	momo_spi_connect();
	{
		bool		any;
		char	   *pauses = momo_pause_summary(get_func_namespace(fcinfo->flinfo->fn_oid), &any);

		/* NULL: a schema of momo 1.0, not updated, has no momo_pauses. */
		if (pauses != NULL)
			add_check(rsinfo, "paused", !any,
					  any ? pauses : "no product is paused: momo_pause() pauses sending, momo_resume() resumes it");
	}
	add_check(rsinfo, "payments in pg_dump",
			  query_bool("SELECT $1 OPERATOR(pg_catalog.=) ANY (e.extconfig)"
						 " FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'momo'",
						 payments, events),
			  "momo_payments is an extension configuration table: pg_dump dumps its rows");
	add_check(rsinfo, "secrets closed to PUBLIC",
			  query_bool("SELECT NOT pg_catalog.has_table_privilege('public', $1, 'SELECT')"
						 " AND NOT pg_catalog.has_table_privilege('public', $2, 'SELECT')"
						 " AND NOT pg_catalog.has_function_privilege('public', 'pg_catalog.pg_show_all_file_settings()', 'EXECUTE')"
						 " AND NOT EXISTS (SELECT FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_depend d"
						 "   ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass"
						 "  AND d.objid OPERATOR(pg_catalog.=) p.oid AND d.deptype OPERATOR(pg_catalog.=) 'e'"
						 "   JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid"
						 "  AND e.extname OPERATOR(pg_catalog.=) 'momo'"
						 "  WHERE pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE'))",
						 payments, events),
			  "secret settings are superuser-only; PUBLIC has no privilege on momo's tables and functions");
	add_trust_checks(rsinfo, get_func_namespace(fcinfo->flinfo->fn_oid));
	SPI_finish();
	PG_RETURN_NULL();
}

/* momo_token_refreshes(): how many access tokens each product has fetched since the server started. */
Datum
momo_token_refreshes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	momo_require_preload();
	InitMaterializedSRF(fcinfo, 0);
	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		LWLockAcquire(momo_shared->lock, LW_SHARED);
		values[1] = Int64GetDatum((int64) momo_shared->token[p].refreshes);
		LWLockRelease(momo_shared->lock);
		values[0] = CStringGetTextDatum(momo_product_names[p]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

/*
 * momo_worker_status(): the pid of this database's worker (NULL when none
 * runs) and why it is not sending payments (NULL when nothing stops it).
 */
Datum
momo_worker_status(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	pid_t		pid;
	bool		serving;
	char		problem[MOMO_PROBLEM_LEN];

	momo_require_preload();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "momo_worker_status must return a record");
	pid = momo_launcher_worker_of(MyDatabaseId, &serving, problem, false);
	values[0] = Int32GetDatum((int32) pid);
	nulls[0] = (pid == 0);
	values[1] = CStringGetTextDatum(problem);
	nulls[1] = (problem[0] == '\0');
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * momo_config_loaded(): each running momo process (the launcher, with a NULL
 * database, and one worker per database) and when the configuration it runs
 * with was loaded: once that is after a pg_reload_conf(), the process has
 * taken its settings (the tests wait for it after ALTER SYSTEM).
 */
Datum
momo_config_loaded(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MomoConfLoaded *procs;
	int			n;

	momo_require_preload();
	InitMaterializedSRF(fcinfo, 0);
	n = momo_launcher_conf_loaded(&procs);
	for (int i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		char	   *dbname = OidIsValid(procs[i].dboid) ? get_database_name(procs[i].dboid) : NULL;

		values[0] = dbname ? CStringGetTextDatum(dbname) : (Datum) 0;
		nulls[0] = (dbname == NULL);
		values[1] = Int32GetDatum((int32) procs[i].pid);
		values[2] = TimestampTzGetDatum(procs[i].loaded_at);
		nulls[2] = (procs[i].loaded_at == 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

/*
 * momo_ignored_callbacks(): the callbacks momo_callback ignored since the
 * server started, by reason (counted in shared memory, not logged one by
 * one: anyone who knows the callback URL can send them without end).
 */
Datum
momo_ignored_callbacks(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	uint64		counts[MOMO_N_IGNORED_CALLBACKS];

	momo_require_preload();
	InitMaterializedSRF(fcinfo, 0);
	LWLockAcquire(momo_shared->lock, LW_SHARED);
	memcpy(counts, momo_shared->callbacks_ignored, sizeof(counts));
	LWLockRelease(momo_shared->lock);
	for (int i = 0; i < MOMO_N_IGNORED_CALLBACKS; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(momo_ignored_callback_names[i]);
		values[1] = Int64GetDatum((int64) counts[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}
