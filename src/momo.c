/*-------------------------------------------------------------------------
 *
 * momo.c
 *	  Module glue: _PG_init defines the settings, reserves shared memory and
 *	  registers the launcher (not under pg_upgrade), which starts a worker
 *	  per database (launcher.c); transaction and utility hooks wake this
 *	  database's worker when payments commit (also through COMMIT PREPARED)
 *	  and tell the launcher of CREATE/DROP EXTENSION momo and DROP DATABASE;
 *	  installs the log redaction of redact.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/wait_event.h"

#include "launcher.h"
#include "momo.h"
#include "owner.h"
#include "redact.h"
#include "settings.h"
#include "store.h"
#include "version.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

MomoShared *momo_shared = NULL;

static bool wake_at_commit = false;
static bool announce_at_commit = false;
static bool durable_at_commit = false;
static bool pauses_at_commit = false;

static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* Reserves momo's shared memory and lock. */
static void
momo_shmem_request(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(momo_launcher_shmem_size());
	RequestNamedLWLockTranche("momo", 1);
}

/* Creates or attaches to momo's shared memory. */
static void
momo_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	momo_shared = ShmemInitStruct("momo", momo_launcher_shmem_size(), &found);
	if (!found)
	{
		memset(momo_shared, 0, momo_launcher_shmem_size());
		momo_shared->lock = &(GetNamedLWLockTranche("momo"))->lock;
		ConditionVariableInit(&momo_shared->finished_cv);
		ConditionVariableInit(&momo_shared->feed_cv);
		momo_launcher_shmem_init();
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Raises an ERROR unless momo was loaded through shared_preload_libraries. */
void
momo_require_preload(void)
{
	if (momo_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("momo must be loaded via shared_preload_libraries"),
				 errdetail("Payments are sent by momo's background worker, which only runs when the server preloads momo."),
				 errhint("Add momo to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/* Each MomoIgnoredCallback's name, as momo_stats shows it. */
const char *const momo_ignored_callback_names[] = {
	[MOMO_CALLBACK_FORGED] = "forged",
	[MOMO_CALLBACK_UNVERIFIED] = "unverified",
	[MOMO_CALLBACK_UNKNOWN] = "unknown",
	[MOMO_CALLBACK_FINAL] = "final",
	[MOMO_CALLBACK_DUPLICATE] = "duplicate",
};

/* At most one LOG line about forged callbacks per this interval, in the whole cluster. */
#define FORGED_LOG_INTERVAL_S 60

/*
 * Counts an ignored callback.  For a forged one, *log_now says whether to
 * log it (at most once per FORGED_LOG_INTERVAL_S across every session), and
 * the result is how many were not logged since the last line.
 */
uint64
momo_count_ignored_callback(MomoIgnoredCallback why, bool *log_now)
{
	TimestampTz now = GetCurrentTimestamp();
	uint64		unlogged = 0;

	*log_now = false;
	if (momo_shared == NULL)
		return 0;
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	momo_shared->callbacks_ignored[why]++;
	if (why == MOMO_CALLBACK_FORGED)
	{
		int64		minute = (int64) (now / USECS_PER_MINUTE);
		int			slot = (int) (minute % 60);

		if (momo_shared->forged_minute[slot] != minute)
		{
			momo_shared->forged_minute[slot] = minute;
			momo_shared->forged_in_minute[slot] = 0;
		}
		momo_shared->forged_in_minute[slot]++;
		if (momo_shared->forged_logged_at == 0 ||
			TimestampDifferenceExceeds(momo_shared->forged_logged_at, now, FORGED_LOG_INTERVAL_S * 1000))
		{
			*log_now = true;
			unlogged = momo_shared->forged_unlogged;
			momo_shared->forged_unlogged = 0;
			momo_shared->forged_logged_at = now;
		}
		else
			momo_shared->forged_unlogged++;
	}
	LWLockRelease(momo_shared->lock);
	return unlogged;
}

/* Forged callbacks counted in the last 60 minutes (this one included), in the whole cluster. */
uint64
momo_forged_callbacks_last_hour(void)
{
	int64		minute = (int64) (GetCurrentTimestamp() / USECS_PER_MINUTE);
	uint64		n = 0;

	if (momo_shared == NULL)
		return 0;
	LWLockAcquire(momo_shared->lock, LW_SHARED);
	for (int i = 0; i < 60; i++)
		if (momo_shared->forged_minute[i] > minute - 60)
			n += momo_shared->forged_in_minute[i];
	LWLockRelease(momo_shared->lock);
	return n;
}

/*
 * Takes up to want status checks from the budget that
 * momo.status_checks_per_second refills, shared by the workers and every
 * backend (MTN counts them all), measured on the monotonic clock; returns
 * how many were taken.  A worker (backend false) leaves reserve of them for
 * the backends, whose callers wait.  The backends together (backend true)
 * also take from a bucket of their own that refills at half the rate, so
 * that an application asking over and over (momo_payment_status in a loop,
 * in one database) cannot take the checks the workers need to follow
 * pending payments, in every database.  The budget holds at most a second's
 * worth (at least one check); below two a second no check is reserved (one
 * reserved of a budget of one left the worker none).  Without a limit, all
 * of them.
 */
int
momo_take_status_checks(int want, int reserve, bool backend)
{
	double		rate = momo_status_checks_per_second;
	instr_time	now;
	int			got;

	if (rate <= 0 || momo_shared == NULL)
		return want;
	INSTR_TIME_SET_CURRENT(now);
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	if (INSTR_TIME_IS_ZERO(momo_shared->check_refilled))
	{
		momo_shared->check_tokens = 1.0;
		momo_shared->backend_tokens = 1.0;
	}
	else
	{
		instr_time	elapsed = now;
		double		s;

		INSTR_TIME_SUBTRACT(elapsed, momo_shared->check_refilled);
		s = INSTR_TIME_GET_DOUBLE(elapsed);
		momo_shared->check_tokens += rate * s;
		momo_shared->backend_tokens += rate / 2 * s;
	}
	momo_shared->check_tokens = Min(momo_shared->check_tokens, Max(rate, 1.0));
	momo_shared->backend_tokens = Min(momo_shared->backend_tokens, Max(rate / 2, 1.0));
	momo_shared->check_refilled = now;
	/* Below 2 a second a second's worth is one check: none can be left. */
	if (rate < 2)
		reserve = 0;
	got = Max(0, Min(want, (int) (momo_shared->check_tokens - reserve)));
	if (backend)
		got = Min(got, (int) momo_shared->backend_tokens);
	momo_shared->check_tokens -= got;
	if (backend)
		momo_shared->backend_tokens -= got;
	LWLockRelease(momo_shared->lock);
	return got;
}

/*
 * Takes one status check from the shared budget for a backend's call to MTN
 * (a status check, a balance, an account holder), waiting a second at most
 * for it; false if none came.
 */
bool
momo_wait_status_check(void)
{
	for (int waited = 0; waited < 1000; waited += 10)
	{
		if (momo_take_status_checks(1, 0, true) == 1)
			return true;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10,
						 momo_wait_event(MOMO_WAIT_STATUS_CHECK));
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return false;
}

/* Gives back status checks taken but not used. */
void
momo_return_status_checks(int unused)
{
	if (unused <= 0 || momo_status_checks_per_second <= 0 || momo_shared == NULL)
		return;
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	momo_shared->check_tokens += unused;
	LWLockRelease(momo_shared->lock);
}

/* Sets the latch of this database's worker, if one is running. */
void
momo_wake_worker(void)
{
	if (momo_shared == NULL)
		return;
	LWLockAcquire(momo_shared->lock, LW_SHARED);
	for (int i = 0; i < momo_shared->ndatabases; i++)
	{
		MomoDatabase *db = &momo_shared->databases[i];

		if (db->dboid == MyDatabaseId && db->worker_latch)
			SetLatch(db->worker_latch);
	}
	LWLockRelease(momo_shared->lock);
}

/*
 * Asks this database's worker to number the change feed now (changes.c):
 * returns the ticket that momo_feed_numbered waits for, or 0 when no worker
 * serves this database (nothing to wait for).
 */
uint64
momo_feed_ask(void)
{
	uint64		ticket = 0;

	if (momo_shared == NULL)
		return 0;
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < momo_shared->ndatabases; i++)
	{
		MomoDatabase *db = &momo_shared->databases[i];

		if (db->dboid == MyDatabaseId && db->worker_latch && db->serving)
		{
			ticket = ++db->feed_asked;
			SetLatch(db->worker_latch);
		}
	}
	LWLockRelease(momo_shared->lock);
	return ticket;
}

/*
 * True once this database's worker has numbered (or given up) the
 * numbering that ticket asked for, or when no worker serves this database
 * any more: nothing more to wait for.
 */
bool
momo_feed_numbered(uint64 ticket)
{
	bool		done = true;

	if (momo_shared == NULL)
		return true;
	LWLockAcquire(momo_shared->lock, LW_SHARED);
	for (int i = 0; i < momo_shared->ndatabases; i++)
	{
		MomoDatabase *db = &momo_shared->databases[i];

		if (db->dboid == MyDatabaseId && db->worker_latch && db->serving)
			done = (db->feed_numbered >= ticket);
	}
	LWLockRelease(momo_shared->lock);
	return done;
}

/* Arranges for the worker to be woken when the current transaction commits. */
void
momo_wake_worker_at_commit(void)
{
	wake_at_commit = true;
}

/*
 * Arranges for this database's worker to look at momo_pauses again, before
 * it starts any further payment request, when the current transaction
 * commits (pause.c: the table's trigger).
 */
void
momo_pauses_changed_at_commit(void)
{
	pauses_at_commit = true;
}

/* Wakes every momo_await, because payments became final. */
void
momo_announce_final(void)
{
	if (momo_shared)
		ConditionVariableBroadcast(&momo_shared->finished_cv);
}

/*
 * Arranges for momo_await sessions to be woken when the current transaction
 * commits.  It recorded a final status, so its commit is made durable too.
 */
void
momo_announce_final_at_commit(void)
{
	announce_at_commit = true;
	durable_at_commit = true;
}

/*
 * Makes the current transaction's commit durable, whatever the session's
 * synchronous_commit: flushed to disk and, where synchronous_standby_names
 * is set, confirmed by the synchronous standbys (remote_apply when the
 * server is configured so, else on) before the commit returns, before its
 * changes become visible and before its notifications are delivered.  For
 * the commits that record a final status.
 */
void
momo_commit_durably(void)
{
	durable_at_commit = true;
}

/*
 * Returns true if a durable commit waits for the synchronous standbys to
 * apply it (remote_apply), false if to flush it (on): the higher of "on" and
 * what the server or this session is configured for -- the session's
 * synchronous_commit, or its value before any SET (the momo worker pins
 * "off" for its other commits, which may be lost without harm).
 */
bool
momo_durable_apply(void)
{
	const char *configured = GetConfigOptionResetString("synchronous_commit");

	return synchronous_commit >= SYNCHRONOUS_COMMIT_REMOTE_APPLY ||
		(configured != NULL && strcmp(configured, "remote_apply") == 0);
}

/*
 * Pre-commit part of momo_commit_durably: after every deferred trigger, so
 * that no SET in code the transaction fired can undo it.
 */
static void
make_commit_durable(void)
{
	bool		apply = momo_durable_apply();

	ForceSyncCommit();
	if (synchronous_commit < (apply ? SYNCHRONOUS_COMMIT_REMOTE_APPLY : SYNCHRONOUS_COMMIT_ON))
		(void) set_config_option("synchronous_commit", apply ? "remote_apply" : "on",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
}

/*
 * Returns the wait_event_info that stands for a MomoWaitEvent, for
 * WaitLatch, ConditionVariableTimedSleep and pgstat_report_wait_start.
 * PostgreSQL 17 and later register custom wait events by name, in shared
 * memory, once per name for the whole server: each process asks on its first
 * use and keeps the answer.  Earlier servers have only PG_WAIT_EXTENSION.
 */
uint32
momo_wait_event(MomoWaitEvent which)
{
#if PG_VERSION_NUM >= 170000
	static const char *const names[MOMO_N_WAIT_EVENTS] = {
		[MOMO_WAIT_NETWORK] = "MomoNetwork",
		[MOMO_WAIT_IDLE] = "MomoIdle",
		[MOMO_WAIT_DURABLE] = "MomoDurable",
		[MOMO_WAIT_AWAIT] = "MomoAwait",
		[MOMO_WAIT_STATUS_CHECK] = "MomoStatusCheck",
		[MOMO_WAIT_FEED] = "MomoFeed",
		[MOMO_WAIT_CONSENT] = "MomoConsent",
	};
	static uint32 events[MOMO_N_WAIT_EVENTS];

	Assert(which < MOMO_N_WAIT_EVENTS);
	if (events[which] == 0)
		events[which] = WaitEventExtensionNew(names[which]);
	return events[which];
#else
	(void) which;				/* one wait event for all */
	return PG_WAIT_EXTENSION;
#endif
}

/*
 * Transaction callback: acts on commit, forgets on abort or prepare, and
 * refuses to prepare a transaction that stopped a database's worker.
 */
static void
momo_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (durable_at_commit)
				make_commit_durable();
			break;
		case XACT_EVENT_PRE_PREPARE:
			momo_launcher_pre_prepare();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (pauses_at_commit)
				momo_launcher_pauses_changed();
			if (wake_at_commit)
				momo_wake_worker();
			if (announce_at_commit)
				momo_announce_final();
			wake_at_commit = announce_at_commit = durable_at_commit = pauses_at_commit = false;
			momo_launcher_xact_end(true);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/*
			 * A prepared transaction wakes the worker at COMMIT PREPARED,
			 * which also has it look at momo_pauses again.
			 */
			wake_at_commit = announce_at_commit = durable_at_commit = pauses_at_commit = false;
			momo_launcher_xact_end(false);
			break;
		default:
			break;
	}
}

/*
 * DROP EXTENSION momo, and DROP SCHEMA ... CASCADE of momo's schema (which
 * drops the extension with it): the payments not final it discards are
 * counted in a WARNING (momo_store_warn_drop).
 */
static void
warn_drop(DropStmt *drop)
{
	ListCell   *lc;
	char	   *schema = NULL;

	if (drop->removeType == OBJECT_SCHEMA && drop->behavior == DROP_CASCADE)
	{
		Oid			nsp = momo_version_extension_lookup(NULL);

		if (!OidIsValid(nsp) || (schema = get_namespace_name(nsp)) == NULL)
			return;
	}
	else if (drop->removeType != OBJECT_EXTENSION)
		return;
	foreach(lc, drop->objects)
		if (strcmp(strVal(lfirst(lc)), schema ? schema : "momo") == 0)
		{
			momo_store_warn_drop();
			return;
		}
}

/*
 * Utility hook: COMMIT PREPARED may publish payments or change momo_pauses,
 * so it wakes the worker at commit, and has it look at the pauses again; CREATE/DROP EXTENSION momo, CREATE/DROP DATABASE and the
 * like concern the launcher (momo_launcher_utility_before and _after).
 */
static void
momo_ProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
					ProcessUtilityContext context, ParamListInfo params,
					QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (IsA(parsetree, TransactionStmt) &&
		((TransactionStmt *) parsetree)->kind == TRANS_STMT_COMMIT_PREPARED)
		wake_at_commit = pauses_at_commit = true;
	momo_launcher_utility_before(parsetree);
	if (IsA(parsetree, DropStmt))
		warn_drop((DropStmt *) parsetree);

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);

	momo_launcher_utility_after(parsetree);
}

/* Module load: settings and log redaction always; shared memory, hooks and the launcher when preloaded. */
void
_PG_init(void)
{
	momo_settings_define();

	RegisterXactCallback(momo_xact_callback, NULL);
	momo_redact_install();

	if (!process_shared_preload_libraries_in_progress)
		return;

#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = momo_shmem_request;
#else
	momo_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = momo_shmem_startup;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = momo_ProcessUtility;
	momo_owner_install_hooks();

	/*
	 * No launcher (so no worker) under pg_upgrade.  It starts both clusters in binary-upgrade
	 * mode (-b), each time with momo preloaded from postgresql.conf: the old
	 * one to dump its schema, the new one to restore it and once more after
	 * it has copied the data files.  pg_upgrade must be their only client:
	 * its restore drops and re-creates the new cluster's postgres database,
	 * which fails while a worker is connected to it (t/019_pg_upgrade.pl saw
	 * it); it runs the new cluster with fsync = off, so "nothing is sent
	 * before it is durable" cannot hold there; and if the upgrade fails,
	 * what a worker sent from the new cluster is thrown away with it, and
	 * the old one, started again, does not know.  PostgreSQL keeps its own
	 * background work quiet in this mode too (no autovacuum).  Queued and
	 * pending payments wait in the data files, and the first normal start of
	 * the new cluster sends them.  Nothing else of momo acts meanwhile: the
	 * restore (pg_dump --binary-upgrade) creates the extension's objects one
	 * by one, without its install script, and moves no rows through the
	 * guard trigger (the data files are copied); the hooks only note commits
	 * and redact log lines.
	 */
	if (IsBinaryUpgrade)
		ereport(LOG,
				(errmsg("momo worker not started: the server runs in binary-upgrade mode (pg_upgrade)"),
				 errdetail("Queued and pending payments wait until the server is started normally.")));
	else
		momo_launcher_register();
}
