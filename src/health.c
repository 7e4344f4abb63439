/*-------------------------------------------------------------------------
 *
 * health.c
 *	  momo_health(): is momo healthy right now, and if not, why.  One row
 *	  per check -- ok, warning or critical -- with the figure behind it and
 *	  a reason an on-call engineer can act on, after a first row, "momo",
 *	  with the worst of them.  The thresholds are settings (momo.health_*).
 *
 *	  Every figure costs what is open or recent, never the history: open
 *	  payments through the partial index momo_payments_due, recent changes
 *	  and exchanges through the BRIN indexes of momo_payment_changes and
 *	  momo_events (a window of at most a day), the rest from shared memory
 *	  (workers, tokens, forged callbacks).  Run as the owner of momo's
 *	  tables, like momo's other functions: EXECUTE on it is what a
 *	  monitoring role needs.  Payer numbers are shown masked.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "launcher.h"
#include "momo.h"
#include "owner.h"
#include "pause.h"
#include "settings.h"
#include "spi_util.h"

PG_FUNCTION_INFO_V1(momo_health);

typedef enum HealthLevel
{
	HEALTH_OK,
	HEALTH_WARNING,
	HEALTH_CRITICAL
} HealthLevel;

static const char *const level_names[] = {"ok", "warning", "critical"};

/* One row of momo_health(). */
typedef struct HealthCheck
{
	const char *name;
	HealthLevel level;
	double		value;
	bool		has_value;
	char	   *reason;
} HealthCheck;

#define MAX_CHECKS 24

/* The failure rate assumed normal while the last day has too few payments. */
#define BASELINE_FAILURE_RATE 0.1

typedef struct Health
{
	MemoryContext cxt;			/* where the rows live (SPI's is freed) */
	int			n;
	HealthCheck checks[MAX_CHECKS];
} Health;

/* Adds a check; reason is a format, its result copied into h->cxt. */
static void
health_add(Health *h, const char *name, HealthLevel level, double value, bool has_value,
		   const char *fmt,...) pg_attribute_printf(6, 7);

static void
health_add(Health *h, const char *name, HealthLevel level, double value, bool has_value,
		   const char *fmt,...)
{
	MemoryContext old = MemoryContextSwitchTo(h->cxt);
	HealthCheck *c;
	StringInfoData buf;

	if (h->n >= MAX_CHECKS)
		elog(ERROR, "momo_health: too many checks");
	c = &h->checks[h->n++];
	c->name = name;
	c->level = level;
	c->value = value;
	c->has_value = has_value;
	initStringInfo(&buf);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	c->reason = buf.data;
	MemoryContextSwitchTo(old);
}

/*
 * A number as a pager may show it: the last two digits, and the first three
 * (the country code) of a number long enough to keep most of it hidden.
 */
static char *
mask_msisdn(const char *msisdn)
{
	size_t		len = strlen(msisdn);
	size_t		keep_first = len >= 11 ? 3 : 0;
	char	   *m = pstrdup(msisdn);

	for (size_t i = keep_first; i + 2 < len; i++)
		m[i] = '*';
	return m;
}

/* Seconds as people read them: "42 s", "12 min", "3.5 h". */
static char *
seconds_text(double s)
{
	if (s < 120)
		return psprintf("%.0f s", s);
	if (s < 7200)
		return psprintf("%.0f min", s / 60);
	return psprintf("%.1f h", s / 3600);
}

/* Runs a read-only statement with arguments; one row expected at most. */
static void
health_query(const char *sql, int nargs, Oid *types, Datum *values, const char *what)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, true, 0);

	momo_spi_check(rc, SPI_OK_SELECT, what);
}

static double
get_float(int row, int col, bool *isnull)
{
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);

	if (*isnull)
		return 0;
	switch (SPI_gettypeid(SPI_tuptable->tupdesc, col))
	{
		case INT8OID:
			return (double) DatumGetInt64(d);
		case INT4OID:
			return (double) DatumGetInt32(d);
		case FLOAT8OID:
			return DatumGetFloat8(d);
		default:
			elog(ERROR, "momo_health: unexpected type of column %d", col);
	}
	return 0;
}

/* Why the launcher could start no worker in a database, and what to raise. */
static const char *
unserved_text(MomoUnservedWhy why)
{
	return why == MOMO_UNSERVED_MAX_DATABASES ?
		"all databases of momo.max_databases are served already (raise momo.max_databases and max_worker_processes, and restart)" :
		"no background worker slot is free (raise max_worker_processes, and restart)";
}

/*
 * This database's worker, the others', and the launcher.  Databases to
 * serve in which the launcher could start no worker (slots short) have no
 * worker to report a problem: the launcher names them, and they are a
 * warning here as another database's worker that does not send is.
 */
static void
check_workers(Health *h)
{
	bool		serving;
	char		problem[MOMO_PROBLEM_LEN];
	pid_t		pid = momo_launcher_worker_of(MyDatabaseId, &serving, problem, true);
	MomoWorkerSummary *others;
	int			nothers;
	Oid		   *unserved;
	MomoUnservedWhy *whys;
	int			nunserved = momo_launcher_unserved(&unserved, &whys);
	int			shown = Min(nunserved, MOMO_LAUNCHER_UNSERVED);
	int			mine = -1;
	StringInfoData bad;
	int			nbad = 0;

	for (int i = 0; i < shown; i++)
		if (unserved[i] == MyDatabaseId)
			mine = i;
	if (pid == 0 && mine >= 0)
		health_add(h, "worker", HEALTH_CRITICAL, 0, false,
				   "no momo worker runs in this database: payments are not sent; momo cannot start one: %s",
				   unserved_text(whys[mine]));
	else if (pid == 0)
		health_add(h, "worker", HEALTH_CRITICAL, 0, false,
				   "no momo worker runs in this database: payments are not sent (is momo in shared_preload_libraries, and this database in momo.databases?)");
	else if (problem[0] != '\0')
		health_add(h, "worker", HEALTH_CRITICAL, pid, true, "worker %d does not send: %s", (int) pid, problem);
	else if (!serving)
		health_add(h, "worker", HEALTH_WARNING, pid, true, "worker %d is starting", (int) pid);
	else
		health_add(h, "worker", HEALTH_OK, pid, true, "worker %d serves this database", (int) pid);

	nothers = momo_launcher_summaries(&others);
	initStringInfo(&bad);
	for (int i = 0; i < nothers; i++)
	{
		char	   *name;

		if (others[i].dboid == MyDatabaseId || others[i].problem[0] == '\0')
			continue;
		name = get_database_name(others[i].dboid);
		appendStringInfo(&bad, "%s%s: %s", nbad > 0 ? "; " : "", name ? name : "?", others[i].problem);
		nbad++;
	}
	for (int i = 0; i < shown; i++)
	{
		char	   *name;

		if (i == mine)
			continue;
		name = get_database_name(unserved[i]);
		appendStringInfo(&bad, "%s%s: momo could start no worker there (to serve it, or to look whether momo is installed): %s", nbad > 0 ? "; " : "",
						 name ? name : "?", unserved_text(whys[i]));
		nbad++;
	}
	if (nunserved > shown)
	{
		appendStringInfo(&bad, "; %d more database(s) without a worker", nunserved - shown);
		nbad += nunserved - shown;
	}
	if (momo_launcher_running() == 0)
		health_add(h, "workers", HEALTH_CRITICAL, nbad, true,
				   "momo's launcher is not running: no database's payments are sent");
	else if (nbad > 0)
		health_add(h, "workers", HEALTH_WARNING, nbad, true, "workers of other databases do not send: %s", bad.data);
	else
		health_add(h, "workers", HEALTH_OK, nbad, true, "the launcher runs; %d database(s) served, none with a problem", nothers);
}

/*
 * The products paused (momo_pauses; the worker's check above leaves them
 * aside): an operator's pause is a warning, the worker's own -- MTN refuses
 * the merchant's configuration, and nothing of the product goes until
 * someone fixes it and resumes -- is critical.
 */
static Datum
check_paused(Health *h, Oid nsp, const char *schema)
{
	MomoPauseRow rows[MOMO_N_PRODUCTS];
	StringInfoData which;
	HealthLevel level = HEALTH_OK;
	int			n = 0;
	Datum		paused[MOMO_N_PRODUCTS];

	if (!momo_pause_read(nsp, schema, h->cxt, rows))
		return PointerGetDatum(construct_empty_array(TEXTOID));	/* momo 1.0: no momo_pauses */
	initStringInfo(&which);
	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
	{
		if (!rows[p].paused)
			continue;
		level = Max(level, rows[p].automatic ? HEALTH_CRITICAL : HEALTH_WARNING);

		/*
		 * An operator's reason is not shown: it may name an incident, and
		 * the monitoring role may not read it (momo_pauses.reason); MTN's
		 * refusal, for an automatic pause, is what to act on.
		 */
		if (rows[p].automatic)
			appendStringInfo(&which, "%ssending %s payments is paused since %s, automatically: %s",
							 n > 0 ? "; " : "", momo_product_names[p],
							 timestamptz_to_str(rows[p].paused_at), rows[p].reason);
		else
			appendStringInfo(&which, "%ssending %s payments is paused since %s, by %s (the reason is in momo_pauses)",
							 n > 0 ? "; " : "", momo_product_names[p],
							 timestamptz_to_str(rows[p].paused_at), rows[p].paused_by);
		paused[n++] = CStringGetTextDatum(momo_product_names[p]);
	}
	if (n == 0)
		health_add(h, "paused", HEALTH_OK, 0, true, "no product is paused");
	else
		health_add(h, "paused", level, n, true, "%s (momo_resume() resumes sending, once the cause is fixed)", which.data);
	return PointerGetDatum(construct_array(paused, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * Open payments: the oldest queued one, those pending for long.  Payments
 * queued for a paused product (paused, a text[]) wait as they should: they
 * are counted apart, and do not make the queue look stuck.  Returns whether
 * any payment is open that MTN should be answering about now (pending, or
 * queued for a product not paused).
 */
static bool
check_open(Health *h, const char *schema, Datum paused)
{
	Oid			types[3] = {FLOAT8OID, FLOAT8OID, TEXTARRAYOID};
	Datum		values[3] = {Float8GetDatum(momo_health_pending_age_s),
	Float8GetDatum(4.0 * momo_health_pending_age_s), paused};
	bool		isnull;
	double		queued,
				oldest,
				pending_long,
				pending_very_long,
				pending,
				held;

	health_query(psprintf("SELECT pg_catalog.count(*) FILTER (WHERE status = 'queued' AND NOT product = ANY ($3)),"
						  " pg_catalog.date_part('epoch', pg_catalog.now() - pg_catalog.min(created_at)"
						  "   FILTER (WHERE status = 'queued' AND NOT product = ANY ($3))),"
						  " pg_catalog.count(*) FILTER (WHERE status = 'pending'),"
						  " pg_catalog.count(*) FILTER (WHERE status = 'pending' AND created_at < pg_catalog.now() - pg_catalog.make_interval(secs => $1)),"
						  " pg_catalog.count(*) FILTER (WHERE status = 'pending' AND created_at < pg_catalog.now() - pg_catalog.make_interval(secs => $2)),"
						  " pg_catalog.count(*) FILTER (WHERE status = 'queued' AND product = ANY ($3))"
						  " FROM %s.momo_payments WHERE status IN ('queued', 'pending')", schema),
				 3, types, values, "reading open payments");
	queued = get_float(0, 1, &isnull);
	oldest = get_float(0, 2, &isnull);
	pending = get_float(0, 3, &isnull);
	pending_long = get_float(0, 4, &isnull);
	pending_very_long = get_float(0, 5, &isnull);
	held = get_float(0, 6, &isnull);

	if (queued == 0)
		health_add(h, "oldest_queued", HEALTH_OK, 0, true, "no payment waits to be sent%s",
				   held > 0 ? psprintf(" (%.0f wait for their product to be resumed)", held) : "");
	else
		health_add(h, "oldest_queued",
				   oldest > 5.0 * momo_health_queued_age_s ? HEALTH_CRITICAL :
				   oldest > momo_health_queued_age_s ? HEALTH_WARNING : HEALTH_OK,
				   oldest, true, "%.0f payment(s) wait to be sent, the oldest for %s (momo.health_queued_age: %s)%s",
				   queued, seconds_text(oldest), seconds_text(momo_health_queued_age_s),
				   held > 0 ? psprintf("; %.0f more wait for their product to be resumed", held) : "");

	health_add(h, "pending_too_long",
			   pending_very_long > 0 ? HEALTH_CRITICAL : pending_long > 0 ? HEALTH_WARNING : HEALTH_OK,
			   pending_long, true,
			   "%.0f of %.0f pending payment(s) pending for more than %s, %.0f for more than %s (momo.health_pending_age)",
			   pending_long, pending, seconds_text(momo_health_pending_age_s),
			   pending_very_long, seconds_text(4.0 * momo_health_pending_age_s));
	return queued > 0 || pending > 0;
}

/*
 * Failures for which the payer is the cause (declined, let expire, no money,
 * unknown number): a payer's choice or situation, not a fault to page on.
 * Every other reason (MTN's processing errors, the merchant's
 * configuration refused, momo's NOT_DELIVERED, ...) counts as a failure of
 * the service.
 */
static const char *const payer_reasons[] = {"APPROVAL_REJECTED", "EXPIRED", "PAYMENT_NOT_APPROVED",
	"NOT_ENOUGH_FUNDS", "PAYER_LIMIT_REACHED", "PAYER_NOT_FOUND", "PAYEE_NOT_FOUND",
"PAYEE_NOT_ALLOWED_TO_RECEIVE"};

static bool
is_payer_reason(const char *reason)
{
	for (size_t i = 0; reason && i < lengthof(payer_reasons); i++)
		if (strcmp(reason, payer_reasons[i]) == 0)
			return true;
	return false;
}

/*
 * The share of payments that failed for the service (not for their payer)
 * over the last 5 and 60 minutes, from the change feed's final changes,
 * with the reasons: critical when half or more did (whatever the rest of
 * the day: an outage that lasts does not become the norm), a warning when
 * the share is momo.health_failure_factor times the rest of the day's and
 * ten points above it.
 */
static void
check_failures(Health *h, const char *schema)
{
	static const int windows[3] = {5, 60, 1440};
	static const char *const names[2] = {"failure_rate_5m", "failure_rate_60m"};
	double		final[3] = {0, 0, 0};
	double		failed[3] = {0, 0, 0};	/* for the service */
	double		declined[3] = {0, 0, 0};	/* for their payer */
	StringInfoData reasons[2];

	/*
	 * Per window and reason, most frequent first: the day's final changes
	 * read once, each counted in the windows it falls in.  (A join of the
	 * windows with the changes evaluated each change three times.)
	 */
	health_query(psprintf("SELECT w.minutes, g.status, g.reason, w.n"
						  " FROM (SELECT c.status, c.reason,"
						  "         pg_catalog.count(*) FILTER (WHERE c.changed_at > pg_catalog.now() - interval '5 minutes') AS n5,"
						  "         pg_catalog.count(*) FILTER (WHERE c.changed_at > pg_catalog.now() - interval '60 minutes') AS n60,"
						  "         pg_catalog.count(*) AS n1440"
						  "       FROM %s.momo_payment_changes c"
						  "       WHERE c.changed_at > pg_catalog.now() - interval '1 day'"
						  "         AND c.status IN ('successful', 'failed')"
						  "       GROUP BY c.status, c.reason) g,"
						  " LATERAL (VALUES (5, g.n5), (60, g.n60), (1440, g.n1440)) AS w(minutes, n)"
						  " WHERE w.n > 0"
						  " ORDER BY 1, 4 DESC", schema),
				 0, NULL, NULL, "reading recent outcomes of payments");
	initStringInfo(&reasons[0]);
	initStringInfo(&reasons[1]);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int			minutes = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		char	   *status = SPI_getvalue(tup, desc, 2);
		char	   *reason = SPI_getvalue(tup, desc, 3);
		double		n = get_float((int) r, 4, &isnull);
		int			w;

		for (w = 0; w < 3 && windows[w] != minutes; w++)
			;
		if (w == 3)
			continue;
		final[w] += n;
		if (status == NULL || strcmp(status, "failed") != 0)
			continue;
		if (is_payer_reason(reason))
			declined[w] += n;
		else
			failed[w] += n;
		if (w < 2)
			appendStringInfo(&reasons[w], "%s%s %.0f", reasons[w].len > 0 ? ", " : "",
							 reason ? reason : "(no reason)", n);
	}
	for (int w = 0; w < 2; w++)
	{
		double		rate = final[w] > 0 ? failed[w] / final[w] : 0;
		double		base_final = final[2] - final[w];
		double		base_rate;
		HealthLevel level = HEALTH_OK;

		base_rate = base_final >= momo_health_min_payments ?
			(failed[2] - failed[w]) / base_final : BASELINE_FAILURE_RATE;
		if (final[w] >= momo_health_min_payments)
		{
			if (rate >= 0.5)
				level = HEALTH_CRITICAL;
			else if (rate >= momo_health_failure_factor * base_rate && rate - base_rate >= 0.1)
				level = HEALTH_WARNING;
		}
		if (final[w] == 0)
			health_add(h, names[w], HEALTH_OK, 0, true, "no payment became final in the last %d minutes", windows[w]);
		else
			health_add(h, names[w], level, rate, true,
					   "%.0f of %.0f payment(s) failed in the last %d minutes for MTN's or momo's reasons (%.0f%%; %s), %.0f more were declined by their payers%s%s",
					   failed[w], final[w], windows[w], 100 * rate,
					   base_final >= momo_health_min_payments ?
					   psprintf("the rest of the day: %.0f%% of %.0f", 100 * base_rate, base_final) :
					   psprintf("the rest of the day has %.0f, too few to compare: against %.0f%%",
								base_final, 100 * BASELINE_FAILURE_RATE),
					   declined[w], reasons[w].len > 0 ? "; reasons: " : "", reasons[w].data);
	}
}

/* Time since the last exchange MTN answered with success (2xx). */
static void
check_exchange(Health *h, const char *schema, bool work_open)
{
	Oid			types[1] = {FLOAT8OID};
	Datum		values[1] = {Float8GetDatum(2.0 * momo_health_exchange_age_s)};
	bool		isnull;
	double		age;

	health_query(psprintf("SELECT pg_catalog.date_part('epoch', pg_catalog.now() - pg_catalog.max(at))"
						  " FROM %s.momo_events"
						  " WHERE at > pg_catalog.now() - pg_catalog.make_interval(secs => $1)"
						  "   AND http_status >= 200 AND http_status < 300", schema),
				 1, types, values, "reading recent exchanges with MTN");
	age = get_float(0, 1, &isnull);
	if (!work_open && isnull)
		health_add(h, "last_exchange", HEALTH_OK, -1, true,
				   "no payment is open, and MTN answered none lately: nothing to do");
	else if (!work_open)
		health_add(h, "last_exchange", HEALTH_OK, age, true,
				   "no payment is open; MTN last answered with success %s ago", seconds_text(age));
	else if (isnull || age > momo_health_exchange_age_s)
		health_add(h, "last_exchange", HEALTH_CRITICAL, isnull ? -1 : age, true,
				   "payments are open, and MTN has answered no request with success for more than %s (momo.health_exchange_age): see momo_events and the worker's problems",
				   seconds_text(isnull ? 2.0 * momo_health_exchange_age_s : age));
	else
		health_add(h, "last_exchange", HEALTH_OK, age, true, "MTN last answered with success %s ago", seconds_text(age));
}

/* Access tokens of each product that has asked for one. */
static void
check_tokens(Health *h)
{
	StringInfoData failing;
	StringInfoData recovered;
	double		failures = 0;
	bool		any_failing = false;
	TimestampTz now = GetCurrentTimestamp();

	initStringInfo(&failing);
	initStringInfo(&recovered);
	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
	{
		MomoTokenSlot slot;
		MomoConfig	cfg;
		uint32		hash;

		LWLockAcquire(momo_shared->lock, LW_SHARED);
		slot = momo_shared->token[p];
		LWLockRelease(momo_shared->lock);
		if (slot.failures == 0)
			continue;
		failures += slot.failures;

		/*
		 * Failing: the last failure was with the credentials set now, and no
		 * token came with them since (a token still cached from them before
		 * counts: it is used until it expires).
		 */
		momo_settings_resolve(&cfg, (MomoProduct) p);
		hash = momo_settings_credentials_hash(&cfg);
		if (slot.failed_hash == hash &&
			slot.failed_at > (slot.credentials_hash == hash ? slot.obtained_at : 0))
		{
			any_failing = true;
			appendStringInfo(&failing, "%s%s since %s", failing.len > 0 ? "; " : "", momo_product_names[p],
							 timestamptz_to_str(slot.failed_since));
		}
		else if (!TimestampDifferenceExceeds(slot.failed_at, now, 3600 * 1000))
			appendStringInfo(&recovered, "%s%s", recovered.len > 0 ? ", " : "", momo_product_names[p]);
	}
	if (any_failing)
		health_add(h, "tokens", HEALTH_CRITICAL, failures, true,
				   "MTN gives no access token to %s: check the API user, API key and subscription keys (the server log has MTN's answer)",
				   failing.data);
	else if (recovered.len > 0)
		health_add(h, "tokens", HEALTH_WARNING, failures, true,
				   "getting an access token failed in the last hour for %s, and works again", recovered.data);
	else
		health_add(h, "tokens", HEALTH_OK, failures, true, "access tokens are obtained (%.0f failure(s) since the server started)", failures);
}

/* Forged callbacks over the last hour: someone probing the endpoint. */
static void
check_forged(Health *h)
{
	double		n = (double) momo_forged_callbacks_last_hour();
	int			limit = momo_health_forged_callbacks;

	health_add(h, "forged_callbacks",
			   n >= 10.0 * limit ? HEALTH_CRITICAL : n >= limit ? HEALTH_WARNING : HEALTH_OK, n, true,
			   "%.0f callback(s) with a missing or wrong signature in the last hour (momo.health_forged_callbacks: %d)%s",
			   n, limit, n >= limit ? ": someone who knows the callback URL is sending them" : "");
}

/*
 * Suspicious activity: many payments to or from one number in the last ten
 * minutes, many amounts near momo.max_amount in the last hour.
 */
static void
check_suspicious(Health *h, const char *schema)
{
	Oid			types[1] = {FLOAT8OID};
	Datum		values[1] = {Float8GetDatum(0.9 * momo_max_amount)};
	bool		isnull;
	double		burst = 0;
	char	   *number = NULL;
	double		near;

	/*
	 * The payments requested in the window, by momo_payments_created_at:
	 * the newest rows, whose pages are the table's newest, however long
	 * the history.
	 */
	health_query(psprintf("SELECT p.msisdn, pg_catalog.count(*)"
						  " FROM %s.momo_payments p"
						  " WHERE p.created_at > pg_catalog.now() - interval '10 minutes'"
						  " GROUP BY p.msisdn ORDER BY 2 DESC LIMIT 1", schema),
				 0, NULL, NULL, "reading recent payments by number");
	if (SPI_processed > 0)
	{
		number = mask_msisdn(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		burst = get_float(0, 2, &isnull);
	}
	if (number == NULL)
		health_add(h, "payer_burst", HEALTH_OK, 0, true,
				   "no payment in the last 10 minutes (momo.health_payer_burst: %d)", momo_health_payer_burst);
	else
		health_add(h, "payer_burst",
				   burst >= momo_health_payer_burst ? HEALTH_WARNING : HEALTH_OK, burst, true,
				   "%.0f payment(s) to or from one number (%s) in the last 10 minutes, the most of any (momo.health_payer_burst: %d)",
				   burst, number, momo_health_payer_burst);

	health_query(psprintf("SELECT pg_catalog.count(*)"
						  " FROM %s.momo_payments p"
						  " WHERE p.created_at > pg_catalog.now() - interval '1 hour'"
						  "   AND p.amount >= $1::pg_catalog.numeric", schema),
				 1, types, values, "reading recent large payments");
	near = get_float(0, 1, &isnull);
	health_add(h, "near_max_amount",
			   near >= momo_health_near_max ? HEALTH_WARNING : HEALTH_OK, near, true,
			   "%.0f payment(s) of at least 90%% of momo.max_amount (%.0f) in the last hour (momo.health_near_max: %d)",
			   near, momo_max_amount, momo_health_near_max);
}

/*
 * momo_health(): check_name, status (ok, warning, critical), value, reason;
 * the first row, "momo", is the worst status of the others.
 */
Datum
momo_health(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Health	   *h = palloc0(sizeof(Health));
	MomoActing	a;
	HealthLevel worst = HEALTH_OK;
	int			not_ok = 0;
	StringInfoData which;
	Datum		paused;
	bool		work_open;
	char	   *schema_problem;
	int			nestlevel;

	momo_require_preload();
	InitMaterializedSRF(fcinfo, 0);
	h->cxt = CurrentMemoryContext;

	/*
	 * A standby sends nothing and has no worker: the primary's health is
	 * what counts (scrape the primary); here, one row that says so.
	 */
	if (RecoveryInProgress())
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum("momo");
		values[1] = CStringGetTextDatum("ok");
		values[2] = Float8GetDatum(0);
		values[3] = CStringGetTextDatum("this server is a standby: momo sends nothing here, ask the primary");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		PG_RETURN_NULL();
	}

	check_workers(h);
	schema_problem = momo_owner_schema_problem(get_func_namespace(fcinfo->flinfo->fn_oid));
	if (schema_problem)
	{
		/*
		 * momo reads none of its tables then (they could be anyone's): the
		 * on-call engineer gets this, not momo_owner_enter's ERROR.
		 */
		health_add(h, "schema", HEALTH_CRITICAL, 0, false,
				   "%s; momo sends nothing and reads none of its tables until superusers alone control it",
				   schema_problem);
	}
	else
	{
		momo_owner_enter(fcinfo, &a);

		/*
		 * Serial plans only: each statement reads a window of minutes to a
		 * day, where launching parallel workers costs more than they save
		 * (on a busy 2-core machine, 100-200 ms a statement against a few
		 * milliseconds), and a scrape runs them every few seconds.
		 */
		nestlevel = NewGUCNestLevel();
		(void) set_config_option("max_parallel_workers_per_gather", "0", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		paused = check_paused(h, get_func_namespace(fcinfo->flinfo->fn_oid), a.schema);
		work_open = check_open(h, a.schema, paused);
		check_failures(h, a.schema);
		check_exchange(h, a.schema, work_open);
		check_suspicious(h, a.schema);
		AtEOXact_GUC(true, nestlevel);
		momo_owner_leave(&a);
	}
	check_tokens(h);
	check_forged(h);

	initStringInfo(&which);
	for (int i = 0; i < h->n; i++)
	{
		if (h->checks[i].level == HEALTH_OK)
			continue;
		not_ok++;
		worst = Max(worst, h->checks[i].level);
		appendStringInfo(&which, "%s%s (%s)", which.len > 0 ? ", " : "", h->checks[i].name,
						 level_names[h->checks[i].level]);
	}
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum("momo");
		values[1] = CStringGetTextDatum(level_names[worst]);
		values[2] = Float8GetDatum(not_ok);
		values[3] = CStringGetTextDatum(not_ok == 0 ? "every check is ok" : psprintf("not ok: %s", which.data));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	for (int i = 0; i < h->n; i++)
	{
		HealthCheck *c = &h->checks[i];
		Datum		values[4];
		bool		nulls[4] = {false, false, !c->has_value, false};

		values[0] = CStringGetTextDatum(c->name);
		values[1] = CStringGetTextDatum(level_names[c->level]);
		values[2] = Float8GetDatum(c->value);
		values[3] = CStringGetTextDatum(c->reason);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}
