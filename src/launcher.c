/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  momo's launcher: one background worker, connected to no database
 *	  (it reads only the shared catalog pg_database), that starts one momo
 *	  worker (worker.c) per database momo serves, and the bookkeeping those
 *	  workers and the backends share with it.
 *
 *	  Which databases: momo.databases, "*" (the default) for every database
 *	  that allows connections, is not a template and has momo installed;
 *	  or a list of names, of which the same holds.  The deprecated
 *	  momo.database_name, when set and momo.databases is "*", is a list of
 *	  one.  The launcher cannot see another database's pg_extension, so it
 *	  starts a worker in each candidate database; a worker that finds momo
 *	  not installed says so in its slot (MomoDatabase.absent) and exits at
 *	  once, quietly, and the launcher remembers that database as absent until
 *	  a backend tells it of CREATE EXTENSION momo there.  Databases that do
 *	  not exist or do not allow connections are skipped: no worker is
 *	  started, so nothing fails to connect, and a listed name that names no
 *	  database is logged once per configuration.
 *
 *	  Telling the launcher: a backend's utility hook notes CREATE EXTENSION
 *	  momo, CREATE DATABASE, ALTER DATABASE (ALLOW_CONNECTIONS, IS_TEMPLATE)
 *	  and COMMIT PREPARED, and at commit (not before: a worker started
 *	  earlier would not see the extension) appends the database to
 *	  MomoShared.notices and sets the launcher's latch.  DROP EXTENSION momo
 *	  sets the database's recheck flag and its worker's latch at commit; the
 *	  worker looks (momo_launcher_extension_gone) and exits.  DROP
 *	  DATABASE, ALTER DATABASE RENAME and SET TABLESPACE, and CREATE DATABASE
 *	  ... TEMPLATE of the database, are refused while another session is
 *	  connected to it, so before them the backend holds the database
 *	  (MomoShared.holds: no worker starts there) and sends its worker
 *	  SIGTERM (PostgreSQL itself then waits up to 5 s for it to go, as it
 *	  does for autovacuum); the hold ends with the transaction, and the
 *	  launcher looks at the database again: a worker starts again if the
 *	  command failed, or after a rename or a copy.  Only the database's
 *	  owner (or a superuser) holds it: anyone else's DROP fails anyway, and
 *	  must not stop the worker.
 *
 *	  Limits: momo.max_databases slots (shared memory is reserved at start),
 *	  and background worker slots of max_worker_processes, which the
 *	  launcher, every momo worker, parallel query and other extensions
 *	  share: when either runs out, a WARNING (once, until it changes) says
 *	  which database is not served and what to raise, and momo_health()
 *	  names it in every database (MomoShared.unserved).  A worker that has
 *	  not looked whether momo is installed within MOMO_LOOK_TIMEOUT_S (it
 *	  waits for a lock on its database, say) is stopped, with a WARNING,
 *	  and started again later, later each time: it must not hold its slots
 *	  for ever.  A worker that exits with an error is started again after
 *	  MOMO_RESTART_S, as the postmaster restarts the launcher itself;
 *	  after a crash the postmaster restarts the launcher at once and it
 *	  starts every worker again.  When the launcher exits, it stops its
 *	  workers.  Nothing of this runs under pg_upgrade (momo.c registers no
 *	  launcher there).
 *
 *	  Everything else stays shared by all databases: one status-check budget
 *	  (MTN counts per subscription), the access token cache, the callback
 *	  counters.  Each database's worker publishes its own problems in its
 *	  slot, and backends wake only their own database's worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "launcher.h"
#include "momo.h"
#include "settings.h"
#include "version.h"

/* Seconds before a worker that exited unexpectedly is started again. */
#define MOMO_RESTART_S 5

/* How often the launcher reads pg_database when nothing tells it to. */
#define MOMO_RESCAN_MS (60 * 1000)

/*
 * Seconds a worker may take to connect and look whether momo is installed;
 * one that takes longer is stopped, and started again after
 * MOMO_RESTART_S << n seconds (n looks in a row too long, at most
 * MOMO_LOOK_BACKOFF_MAX).
 */
#define MOMO_LOOK_TIMEOUT_S 10
#define MOMO_LOOK_BACKOFF_MAX 6

/* How often a worker with nothing claimed looks whether momo is still installed. */
#define MOMO_GONE_CHECK_MS 1000

/* What the launcher knows of one database, in its own memory. */
typedef struct LauncherDb
{
	Oid			dboid;			/* hash key */
	char		name[NAMEDATALEN];	/* as pg_database last showed it */
	bool		seen;			/* in the last read of pg_database */
	bool		wanted;			/* to be served: see launcher_wants */
	bool		absent;			/* its worker found momo not installed: not
								 * started again until a notice */
	bool		noticed;		/* a notice came while a worker ran: if it
								 * exits finding momo absent, start again */
	bool		warned;			/* a WARNING said why no worker could start */
	MomoUnservedWhy warned_why; /* what it said */
	bool		stopping;		/* the launcher stopped its worker (no longer
								 * wanted): no restart delay */
	int			slot;			/* in momo_shared->databases, or -1 */
	BackgroundWorkerHandle *handle; /* its worker, or NULL */
	TimestampTz start_after;	/* not started before (after a failure) */
	TimestampTz started_at;		/* when its worker was registered */
	bool		attached;		/* its worker found momo installed */
	bool		look_stopped;	/* the launcher stopped its worker, which
								 * looked too long */
	bool		look_warned;	/* a WARNING said so (until a look succeeds) */
	int			look_failures;	/* looks in a row that took too long */
	bool		served;			/* a worker of it found momo installed, since the
								 * launcher started: it may take a younger
								 * database's slot (launcher_make_way) */
} LauncherDb;

/* The launcher's databases (launcher only). */
static HTAB *launcher_dbs = NULL;

/* Names of momo.databases already logged as skipped, since the last reload (launcher only). */
static List *launcher_reported = NIL;

/* This worker's slot (database workers only). */
static MomoDatabase *my_database = NULL;

/* Backend: the database to tell the launcher of at commit, or InvalidOid. */
static Oid	notice_at_commit = InvalidOid;

/* Backend: DROP EXTENSION momo ran; its worker looks again at commit. */
static bool recheck_at_commit = false;

/* Backend: the database it holds (see MomoHold), or InvalidOid. */
static Oid	held_database = InvalidOid;

/*
 * Backend: a database whose worker this transaction stopped (held or not:
 * there may have been no free hold), or InvalidOid; such a transaction
 * cannot be prepared (momo_launcher_pre_prepare).
 */
static Oid	stopped_database = InvalidOid;

/* Shared memory momo needs, with momo.max_databases slots. */
Size
momo_launcher_shmem_size(void)
{
	return MAXALIGN(add_size(offsetof(MomoShared, databases),
							 mul_size(momo_max_databases, sizeof(MomoDatabase))));
}

/* Initialises the launcher's part of momo's shared memory (zeroed already). */
void
momo_launcher_shmem_init(void)
{
	momo_shared->ndatabases = momo_max_databases;
}

/* Registers the launcher, started after recovery and restarted after MOMO_RESTART_S. */
void
momo_launcher_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = MOMO_RESTART_S;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "momo");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "momo_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "momo launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "momo launcher");
	RegisterBackgroundWorker(&worker);
}

/* ------------------------------------------------------------------------
 * Shared helpers (callers hold momo_shared->lock)
 * ------------------------------------------------------------------------
 */

/* The slot of a database, or NULL. */
static MomoDatabase *
launcher_slot_of(Oid dboid)
{
	for (int i = 0; i < momo_shared->ndatabases; i++)
		if (momo_shared->databases[i].dboid == dboid)
			return &momo_shared->databases[i];
	return NULL;
}

/* True if a live backend holds the database (see MomoHold). */
static bool
launcher_is_held(Oid dboid)
{
	for (int i = 0; i < MOMO_LAUNCHER_HOLDS; i++)
	{
		MomoHold   *h = &momo_shared->holds[i];

		if (h->dboid == dboid && h->backend != 0)
		{
			if (h->backend != MyProcPid && BackendPidGetProc(h->backend) == NULL)
				continue;		/* its backend is gone: the hold counts for nothing */
			return true;
		}
	}
	return false;
}

/* Appends a notice for the launcher and returns its latch (to set after releasing the lock). */
static Latch *
launcher_add_notice(Oid dboid)
{
	int			i;

	for (i = 0; i < momo_shared->nnotices; i++)
		if (momo_shared->notices[i] == dboid)
			break;
	if (i == momo_shared->nnotices)
	{
		if (momo_shared->nnotices < MOMO_LAUNCHER_NOTICES)
			momo_shared->notices[momo_shared->nnotices++] = dboid;
		else
			momo_shared->notices_lost = true;
	}
	return momo_shared->launcher_latch;
}

/* ------------------------------------------------------------------------
 * Which databases are served
 * ------------------------------------------------------------------------
 */

/*
 * The database names momo.databases lists (or the deprecated
 * momo.database_name), or NIL for "*": every database.
 */
static List *
launcher_listed(void)
{
	char	   *copy;
	List	   *names = NIL;

	if (momo_databases == NULL || strcmp(momo_databases, "*") == 0)
	{
		if (momo_database_name && momo_database_name[0] != '\0')
			return list_make1(pstrdup(momo_database_name));
		return NIL;
	}
	copy = pstrdup(momo_databases);
	if (!SplitIdentifierString(copy, ',', &names))
		return NIL;				/* the check hook refused it already */
	return names;
}

/* True if the list of names (NIL: every one) has name. */
static bool
launcher_lists(List *listed, const char *name)
{
	ListCell   *lc;

	if (listed == NIL)
		return true;
	foreach(lc, listed)
		if (strcmp((char *) lfirst(lc), name) == 0)
			return true;
	return false;
}

/*
 * Says whether a session's database is served, for the functions that
 * queue payments; if not, why and what to do.
 */
bool
momo_launcher_serves(char **why, char **hint)
{
	char	   *here = get_database_name(MyDatabaseId);
	HeapTuple	tup;
	bool		template = false;

	if (here == NULL)
		return true;			/* cannot happen; the worker decides */
	if (!launcher_lists(launcher_listed(), here))
	{
		*why = psprintf("momo does not serve database \"%s\": momo.databases does not list it", here);
		*hint = psprintf("Add %s to momo.databases (or set it to *) and reload the server configuration.",
						 quote_identifier(here));
		return false;
	}
	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(MyDatabaseId));
	if (HeapTupleIsValid(tup))
	{
		template = ((Form_pg_database) GETSTRUCT(tup))->datistemplate;
		ReleaseSysCache(tup);
	}
	if (template)
	{
		*why = psprintf("momo does not serve database \"%s\": it is a template", here);
		*hint = pstrdup("A worker connected to a template would keep CREATE DATABASE from copying it; queue payments in the databases made from it.");
		return false;
	}
	return true;
}

/* ------------------------------------------------------------------------
 * The launcher
 * ------------------------------------------------------------------------
 */

/* Logs once per configuration that a listed database is skipped. */
static void
launcher_report_skipped(const char *name, const char *why)
{
	ListCell   *lc;
	MemoryContext old;

	foreach(lc, launcher_reported)
		if (strcmp((char *) lfirst(lc), name) == 0)
			return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	launcher_reported = lappend(launcher_reported, pstrdup(name));
	MemoryContextSwitchTo(old);
	ereport(LOG,
			(errmsg("momo does not serve database \"%s\", which momo.databases lists: %s", name, why)));
}

/*
 * Reads pg_database: notes every database, whether it is wanted, and
 * forgets those that are gone (their workers, if any, have exited: a
 * database cannot be dropped while one is connected).
 */
static void
launcher_scan(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	HASH_SEQ_STATUS seq;
	LauncherDb *db;
	List	   *listed;
	ListCell   *lc;

	hash_seq_init(&seq, launcher_dbs);
	while ((db = hash_seq_search(&seq)) != NULL)
		db->seen = false;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	listed = launcher_listed();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database form = (Form_pg_database) GETSTRUCT(tup);
		bool		found;
		bool		listed_here = launcher_lists(listed, NameStr(form->datname));
		bool		invalid = false;

#if PG_VERSION_NUM >= 160000
		invalid = database_is_invalid_form(form);
#endif
		db = hash_search(launcher_dbs, &form->oid, HASH_ENTER, &found);
		if (!found)
		{
			memset(((char *) db) + sizeof(Oid), 0, sizeof(LauncherDb) - sizeof(Oid));
			db->slot = -1;
		}
		strlcpy(db->name, NameStr(form->datname), sizeof(db->name));
		db->seen = true;
		db->wanted = listed_here && form->datallowconn && !form->datistemplate && !invalid;
		if (listed != NIL && listed_here && !db->wanted)
			launcher_report_skipped(db->name,
									form->datistemplate ? "it is a template" :
									"it does not allow connections");
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);

	foreach(lc, listed)
	{
		bool		exists = false;

		hash_seq_init(&seq, launcher_dbs);
		while ((db = hash_seq_search(&seq)) != NULL)
			exists |= (db->seen && strcmp(db->name, (char *) lfirst(lc)) == 0);
		if (!exists)
			launcher_report_skipped((char *) lfirst(lc), "it does not exist");
	}
	CommitTransactionCommand();

	/* Gone, and no worker left: forgotten. */
	hash_seq_init(&seq, launcher_dbs);
	while ((db = hash_seq_search(&seq)) != NULL)
		if (!db->seen && db->handle == NULL)
			(void) hash_search(launcher_dbs, &db->dboid, HASH_REMOVE, NULL);
}

/*
 * Takes the notices backends left; returns true if there were any (then
 * pg_database is read again: a notice may name a new database).
 */
static bool
launcher_take_notices(void)
{
	Oid			notices[MOMO_LAUNCHER_NOTICES];
	int			n;
	bool		lost;

	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	n = momo_shared->nnotices;
	memcpy(notices, momo_shared->notices, n * sizeof(Oid));
	lost = momo_shared->notices_lost;
	momo_shared->nnotices = 0;
	momo_shared->notices_lost = false;
	LWLockRelease(momo_shared->lock);

	if (lost)
	{
		HASH_SEQ_STATUS seq;
		LauncherDb *db;

		hash_seq_init(&seq, launcher_dbs);
		while ((db = hash_seq_search(&seq)) != NULL)
		{
			db->absent = false;
			db->noticed = true;
			if (db->look_failures == 0)
				db->start_after = 0;
		}
	}
	for (int i = 0; i < n; i++)
	{
		LauncherDb *db = hash_search(launcher_dbs, &notices[i], HASH_FIND, NULL);

		if (db)
		{
			db->absent = false;
			db->noticed = true;
			if (db->look_failures == 0)
				db->start_after = 0;
		}
	}
	return n > 0 || lost;
}

/*
 * A worker has exited: frees its slot, and decides when the database is
 * looked at again.
 */
static void
launcher_worker_stopped(LauncherDb *db)
{
	MomoDatabase *slot = &momo_shared->databases[db->slot];
	bool		absent;

	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	absent = slot->absent;
	db->served |= slot->served;
	memset(slot, 0, sizeof(MomoDatabase));
	LWLockRelease(momo_shared->lock);
	pfree(db->handle);
	db->handle = NULL;
	db->slot = -1;
	if (absent && !db->noticed)
	{
		db->absent = true;
		elog(DEBUG1, "momo is not installed in database \"%s\": no worker there", db->name);
	}
	else if (!absent && !db->stopping)
		db->start_after = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), MOMO_RESTART_S * 1000);
	if (db->look_stopped)
	{
		int			shift = Min(db->look_failures, MOMO_LOOK_BACKOFF_MAX);

		db->start_after = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													  (MOMO_RESTART_S * 1000L) << shift);
	}
	db->noticed = false;
	db->stopping = false;
	db->attached = false;
	db->look_stopped = false;
}

/*
 * Watches the worker of a database until it has looked whether momo is
 * installed there: one that has not within MOMO_LOOK_TIMEOUT_S (it waits
 * for something: a lock the database's owner holds, a safe snapshot, ...)
 * is stopped, with a WARNING (once, until a look succeeds), so that it
 * does not hold a slot and a background worker slot for ever; it is
 * started again later, later each time (a notice does not cut that
 * short: the database's owner can send notices).  Returns the
 * milliseconds until it should be watched again.
 */
static long
launcher_watch_look(LauncherDb *db, TimestampTz now)
{
	MomoDatabase *slot = &momo_shared->databases[db->slot];
	TimestampTz deadline = TimestampTzPlusMilliseconds(db->started_at, MOMO_LOOK_TIMEOUT_S * 1000);
	bool		attached;
	bool		absent;
	long		secs;
	int			usecs;

	if (db->attached || db->stopping || db->look_stopped)
		return MOMO_RESCAN_MS;
	LWLockAcquire(momo_shared->lock, LW_SHARED);
	attached = (slot->worker_pid != 0);
	absent = slot->absent;
	LWLockRelease(momo_shared->lock);
	if (attached)
	{
		db->attached = true;
		db->served = true;
		db->look_failures = 0;
		db->look_warned = false;
		return MOMO_RESCAN_MS;
	}
	if (absent)
	{
		/* It has looked, and exits. */
		db->look_failures = 0;
		db->look_warned = false;
		return MOMO_RESCAN_MS;
	}
	if (now < deadline)
	{
		TimestampDifference(now, deadline, &secs, &usecs);
		return secs * 1000 + usecs / 1000 + 1;
	}
	TerminateBackgroundWorker(db->handle);
	db->look_stopped = true;
	db->look_failures++;
	if (!db->look_warned)
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("momo cannot start a worker in database \"%s\": it did not look whether momo is installed there within %d s",
						db->name, MOMO_LOOK_TIMEOUT_S),
				 errdetail("The worker was stopped; it is started again later, later each time it takes too long."),
				 errhint("Look at what makes a new session in that database wait: pg_locks and pg_prepared_xacts for a lock on the database, pg_stat_activity for its wait event.")));
	else
		elog(DEBUG1, "momo stopped the worker of database \"%s\" again: it did not look within %d s",
			 db->name, MOMO_LOOK_TIMEOUT_S);
	db->look_warned = true;
	return MOMO_RESCAN_MS;
}

/*
 * True if a worker of the launcher is only looking whether momo is
 * installed (it exits soon, and frees its slots): then a lack of slots is
 * not worth a WARNING yet.
 */
static bool
launcher_looking(void)
{
	bool		looking = false;

	LWLockAcquire(momo_shared->lock, LW_SHARED);
	for (int i = 0; i < momo_shared->ndatabases; i++)
		looking |= (momo_shared->databases[i].dboid != InvalidOid &&
					!momo_shared->databases[i].serving);
	LWLockRelease(momo_shared->lock);
	return looking;
}

/* Starts a worker in a database, if a slot and a background worker slot are free. */
static void
launcher_start_worker(LauncherDb *db)
{
	BackgroundWorker worker;
	MomoDatabase *slot = NULL;
	int			i;
	bool		held;

	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	held = launcher_is_held(db->dboid);
	for (i = 0; !held && i < momo_shared->ndatabases; i++)
		if (momo_shared->databases[i].dboid == InvalidOid)
		{
			slot = &momo_shared->databases[i];
			memset(slot, 0, sizeof(MomoDatabase));
			slot->dboid = db->dboid;
			break;
		}
	LWLockRelease(momo_shared->lock);
	if (held)
		return;					/* the hold's end is a notice */
	if (slot == NULL)
	{
		/* Slots taken by workers that are only looking are freed soon. */
		if (!db->warned && !launcher_looking())
		{
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("momo cannot start a worker in database \"%s\": all %d databases of momo.max_databases are served already",
							db->name, momo_shared->ndatabases),
					 errhint("Raise momo.max_databases (and max_worker_processes: each database needs a background worker) and restart the server.")));
			db->warned = true;
			db->warned_why = MOMO_UNSERVED_MAX_DATABASES;
		}
		return;
	}

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "momo");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "momo_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "momo worker for database %s", db->name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "momo worker");
	worker.bgw_main_arg = ObjectIdGetDatum(db->dboid);
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &db->handle))
	{
		LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
		memset(slot, 0, sizeof(MomoDatabase));
		LWLockRelease(momo_shared->lock);
		db->handle = NULL;
		if (launcher_looking())
		{
			/* Tried again when that worker exits (it sets our latch). */
			db->start_after = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);
			return;
		}
		db->start_after = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), MOMO_RESTART_S * 1000);
		if (!db->warned)
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("momo cannot start a worker in database \"%s\": no background worker slot is free", db->name),
					 errhint("Raise max_worker_processes (now %d) and restart the server: momo needs one for its launcher and one for each database it serves, besides parallel query and other extensions.",
							 max_worker_processes)));
		db->warned = true;
		db->warned_why = MOMO_UNSERVED_NO_BGWORKER;
		return;
	}
	db->slot = slot - momo_shared->databases;
	db->started_at = GetCurrentTimestamp();
	db->attached = false;
	db->look_stopped = false;
	db->warned = false;
	db->noticed = false;		/* this worker sees what was noticed */
}

/*
 * Slots short: the momo.max_databases oldest databases that are wanted are
 * the ones served.  For each of them that waits for a slot (not held by a
 * DROP/CREATE ... TEMPLATE/rename, not backing off), the worker of a younger
 * database makes way: SIGTERM, as DROP DATABASE does (what it claimed is
 * durable, and sent again with the same reference ids by its next worker).
 * Otherwise a copy made of a served database while its worker was stopped
 * for the copy could take its slot for good.  dbs is in OID order.  Returns
 * true if it stopped one: no worker is started until it has exited (its
 * exit sets the latch), or the waiting database would be refused a slot.
 */
static bool
launcher_make_way(LauncherDb **dbs, int ndbs, TimestampTz now)
{
	bool		stopped = false;

	int			entitled = 0;
	int			waiting = 0;

	for (int i = 0; i < ndbs; i++)
	{
		LauncherDb *db = dbs[i];
		bool		held;

		/*
		 * Only a database known to have momo makes way for itself: one not
		 * yet looked at (a notice, which any role's COMMIT PREPARED sends,
		 * makes the launcher look again) could have a served one stopped
		 * for nothing, again and again.
		 */
		if (!(db->seen && db->wanted && !db->absent && (db->served || db->handle)))
			continue;
		if (entitled < momo_shared->ndatabases)
		{
			entitled++;
			if (db->handle || db->start_after > now)
				continue;
			LWLockAcquire(momo_shared->lock, LW_SHARED);
			held = launcher_is_held(db->dboid);
			LWLockRelease(momo_shared->lock);
			if (!held)
				waiting++;
		}
		else if (waiting > 0 && db->handle && !db->stopping)
		{
			ereport(LOG,
					(errmsg("momo stops the worker of database \"%s\" to serve an older database: all %d databases of momo.max_databases are served",
							db->name, momo_shared->ndatabases)));
			TerminateBackgroundWorker(db->handle);
			db->stopping = true;
			waiting--;
			stopped = true;
		}
	}
	return stopped;
}

/*
 * Publishes the databases to serve that have no worker because none could
 * be started (the WARNING of launcher_start_worker said why), oldest first,
 * for momo_health: every database's health names them.  dbs is in OID order.
 */
static void
launcher_publish_unserved(LauncherDb **dbs, int ndbs)
{
	int			n = 0;

	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < ndbs; i++)
	{
		LauncherDb *db = dbs[i];

		if (!(db->seen && db->wanted && !db->absent && !db->handle && db->warned))
			continue;
		if (n < MOMO_LAUNCHER_UNSERVED)
		{
			momo_shared->unserved[n] = db->dboid;
			momo_shared->unserved_why[n] = db->warned_why;
		}
		n++;
	}
	momo_shared->nunserved = n;
	LWLockRelease(momo_shared->lock);
}

/* qsort comparator: databases by OID, oldest first. */
static int
launcher_db_cmp(const void *a, const void *b)
{
	Oid			x = (*(LauncherDb *const *) a)->dboid;
	Oid			y = (*(LauncherDb *const *) b)->dboid;

	return (x > y) - (x < y);
}

/* At the launcher's exit: its workers exit too, and it unpublishes its latch. */
static void
launcher_exit(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	HASH_SEQ_STATUS seq;
	LauncherDb *db;

	if (launcher_dbs)
	{
		hash_seq_init(&seq, launcher_dbs);
		while ((db = hash_seq_search(&seq)) != NULL)
			if (db->handle)
				TerminateBackgroundWorker(db->handle);
	}
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	if (momo_shared->launcher_pid == MyProcPid)
	{
		momo_shared->launcher_pid = 0;
		momo_shared->launcher_latch = NULL;
		momo_shared->nunserved = 0;
	}
	LWLockRelease(momo_shared->lock);
}

/*
 * At the launcher's start: waits (10 s at most) for the workers of a
 * previous launcher to exit (it stopped them at its exit), then frees every
 * slot.
 */
static void
launcher_wait_old_workers(void)
{
	for (int tries = 0; tries < 100; tries++)
	{
		bool		alive = false;

		LWLockAcquire(momo_shared->lock, LW_SHARED);
		for (int i = 0; i < momo_shared->ndatabases; i++)
		{
			pid_t		pid = momo_shared->databases[i].worker_pid;

			alive |= (pid != 0 && BackendPidGetProc(pid) != NULL);
		}
		LWLockRelease(momo_shared->lock);
		if (!alive)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100,
						 momo_wait_event(MOMO_WAIT_IDLE));
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	memset(momo_shared->databases, 0, momo_shared->ndatabases * sizeof(MomoDatabase));
	LWLockRelease(momo_shared->lock);
}

/* Entry point of the launcher. */
void
momo_launcher_main(Datum arg pg_attribute_unused())
{
	HASHCTL		ctl;
	bool		scan = true;
	TimestampTz next_scan = 0;
	LauncherDb **dbs;			/* the databases, in the order they are served */
	int			maxdbs = 64;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("momo launcher");

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(LauncherDb);
	launcher_dbs = hash_create("momo launcher databases", 64, &ctl, HASH_ELEM | HASH_BLOBS);

	launcher_wait_old_workers();
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	momo_shared->launcher_pid = MyProcPid;
	momo_shared->launcher_conf_loaded = PgReloadTime;
	momo_shared->launcher_latch = MyLatch;
	momo_shared->nnotices = 0;
	momo_shared->notices_lost = false;
	LWLockRelease(momo_shared->lock);
	before_shmem_exit(launcher_exit, (Datum) 0);

	if (momo_database_name && momo_database_name[0] != '\0')
	{
		if (strcmp(momo_databases, "*") != 0)
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("momo.database_name is ignored: momo.databases is set"),
					 errhint("Remove momo.database_name from the configuration.")));
		else
			ereport(LOG,
					(errmsg("momo.database_name is deprecated: momo serves database \"%s\" only", momo_database_name),
					 errhint("Set momo.databases = %s instead (or * for every database where momo is installed).",
							 quote_literal_cstr(momo_database_name))));
	}
	ereport(LOG, (errmsg("momo launcher started")));

	dbs = MemoryContextAlloc(TopMemoryContext, maxdbs * sizeof(LauncherDb *));
	for (;;)
	{
		HASH_SEQ_STATUS seq;
		LauncherDb *db;
		TimestampTz now;
		long		wait_ms;
		int			ndbs;
		bool		making_way;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
			momo_shared->launcher_conf_loaded = PgReloadTime;
			LWLockRelease(momo_shared->lock);
			list_free_deep(launcher_reported);
			launcher_reported = NIL;
			scan = true;
		}
		if (launcher_take_notices())
			scan = true;

		/* Workers that exited */
		hash_seq_init(&seq, launcher_dbs);
		while ((db = hash_seq_search(&seq)) != NULL)
		{
			pid_t		pid;

			if (db->handle && GetBackgroundWorkerPid(db->handle, &pid) == BGWH_STOPPED)
			{
				launcher_worker_stopped(db);
				scan = true;	/* before starting one again, is it still there? */
			}
		}

		now = GetCurrentTimestamp();
		if (scan || now >= next_scan)
		{
			launcher_scan();
			scan = false;
			next_scan = TimestampTzPlusMilliseconds(now, MOMO_RESCAN_MS);
		}

		/*
		 * Stop the unwanted, start the wanted: oldest database (lowest OID)
		 * first, so that when slots are short the databases made later
		 * (copies of a template, say) wait, not those that were there first.
		 */
		wait_ms = MOMO_RESCAN_MS;
		ndbs = 0;
		hash_seq_init(&seq, launcher_dbs);
		while ((db = hash_seq_search(&seq)) != NULL)
		{
			if (ndbs == maxdbs)
			{
				maxdbs *= 2;
				dbs = repalloc(dbs, maxdbs * sizeof(LauncherDb *));
			}
			dbs[ndbs++] = db;
		}
		qsort(dbs, ndbs, sizeof(LauncherDb *), launcher_db_cmp);
		making_way = launcher_make_way(dbs, ndbs, now);
		for (int i = 0; i < ndbs; i++)
		{
			db = dbs[i];
			if (db->handle && !(db->seen && db->wanted))
			{
				TerminateBackgroundWorker(db->handle);
				db->stopping = true;
			}
			else if (db->handle)
				wait_ms = Min(wait_ms, launcher_watch_look(db, now));
			else if (!making_way && !db->handle && db->seen && db->wanted && !db->absent)
			{
				if (db->start_after <= now)
					launcher_start_worker(db);
				if (!db->handle && db->start_after > now)
				{
					long		secs;
					long		until;
					int			usecs;

					TimestampDifference(now, db->start_after, &secs, &usecs);
					until = secs * 1000 + usecs / 1000 + 1;
					wait_ms = Min(wait_ms, until);
				}
			}
		}
		launcher_publish_unserved(dbs, ndbs);
		wait_ms = Min(wait_ms, Max(1, (next_scan - now) / 1000));

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, momo_wait_event(MOMO_WAIT_IDLE));
		ResetLatch(MyLatch);
	}
}

/* ------------------------------------------------------------------------
 * A database's worker
 * ------------------------------------------------------------------------
 */

/* Unpublishes this worker from its slot when it exits. */
static void
launcher_worker_exit(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	if (my_database && my_database->worker_pid == MyProcPid)
	{
		my_database->worker_pid = 0;
		my_database->worker_latch = NULL;
		my_database->serving = false;
		my_database->worker_problem[0] = '\0';
		my_database->worker_unpaused[0] = '\0';
	}
	LWLockRelease(momo_shared->lock);
	my_database = NULL;
	/* Polls waiting for it to number the change feed wait no more. */
	ConditionVariableBroadcast(&momo_shared->feed_cv);
}

/*
 * True if momo is installed in this database (in a transaction of its own,
 * back in the caller's memory context after it: the worker's turn context).
 */
static bool
launcher_has_momo(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		installed;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	installed = OidIsValid(momo_version_extension_lookup(NULL));
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	return installed;
}

/*
 * Start of a database's worker, connected (by the caller, which pins its
 * settings first) to the database the launcher gave it (main_arg): takes
 * its slot; exits at once, quietly, when momo is not installed there (the
 * launcher remembers it), when another worker has the slot, or when a
 * backend holds the database.
 */
void
momo_launcher_attach(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	bool		installed;
	MomoDatabase *slot;
	char	   *name;

	Assert(MyDatabaseId == dboid);
	installed = launcher_has_momo();

	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	slot = launcher_slot_of(dboid);
	if (slot == NULL || slot->worker_pid != 0 || launcher_is_held(dboid))
	{
		LWLockRelease(momo_shared->lock);
		proc_exit(0);
	}
	if (!installed)
	{
		slot->absent = true;
		LWLockRelease(momo_shared->lock);
		proc_exit(0);
	}
	slot->worker_pid = MyProcPid;
	slot->worker_conf_loaded = PgReloadTime;
	slot->worker_latch = MyLatch;
	slot->serving = true;
	slot->served = true;
	slot->worker_problem[0] = '\0';
	slot->worker_unpaused[0] = '\0';
	my_database = slot;
	LWLockRelease(momo_shared->lock);
	before_shmem_exit(launcher_worker_exit, (Datum) 0);

	StartTransactionCommand();
	name = get_database_name(dboid);
	ereport(LOG, (errmsg("momo worker started in database \"%s\"", name ? name : "?")));
	CommitTransactionCommand();
}

/*
 * For a worker with nothing claimed: true (and the slot says absent) once
 * momo is no longer installed in its database; the worker then exits.
 * Looks when DROP EXTENSION momo committed, and every MOMO_GONE_CHECK_MS.
 */
bool
momo_launcher_extension_gone(void)
{
	static TimestampTz checked_at = 0;
	TimestampTz now = GetCurrentTimestamp();
	bool		recheck;

	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	recheck = my_database->recheck;
	my_database->recheck = false;
	LWLockRelease(momo_shared->lock);
	if (!recheck && !TimestampDifferenceExceeds(checked_at, now, MOMO_GONE_CHECK_MS))
		return false;
	checked_at = now;
	if (launcher_has_momo())
		return false;
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	my_database->absent = true;
	my_database->serving = false;
	LWLockRelease(momo_shared->lock);
	return true;
}

/*
 * Publishes this worker's problems ("" for none) in its slot: all of them,
 * and those but the products paused (unpaused).
 */
void
momo_launcher_publish_problem(const char *problem, const char *unpaused)
{
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	if (my_database)
	{
		strlcpy(my_database->worker_problem, problem, sizeof(my_database->worker_problem));
		strlcpy(my_database->worker_unpaused, unpaused, sizeof(my_database->worker_unpaused));
	}
	LWLockRelease(momo_shared->lock);
}

/*
 * The worker tells when the configuration it runs with was loaded: at its
 * start (what it inherited from the postmaster) and after each reload.
 * PgReloadTime moves only when a reload succeeded.
 */
void
momo_launcher_publish_conf_loaded(void)
{
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	if (my_database)
		my_database->worker_conf_loaded = PgReloadTime;
	LWLockRelease(momo_shared->lock);
}

/*
 * The running launcher and workers, each with when the configuration it
 * runs with was loaded (momo_config_loaded()): a palloc'd array, its length
 * returned.
 */
int
momo_launcher_conf_loaded(MomoConfLoaded **out)
{
	MomoConfLoaded *s = palloc0(sizeof(MomoConfLoaded) * (momo_shared->ndatabases + 1));
	int			n = 0;

	LWLockAcquire(momo_shared->lock, LW_SHARED);
	if (momo_shared->launcher_pid != 0)
	{
		s[n].dboid = InvalidOid;
		s[n].pid = momo_shared->launcher_pid;
		s[n].loaded_at = momo_shared->launcher_conf_loaded;
		n++;
	}
	for (int i = 0; i < momo_shared->ndatabases; i++)
	{
		MomoDatabase *slot = &momo_shared->databases[i];

		if (!OidIsValid(slot->dboid) || slot->worker_pid == 0)
			continue;
		s[n].dboid = slot->dboid;
		s[n].pid = slot->worker_pid;
		s[n].loaded_at = slot->worker_conf_loaded;
		n++;
	}
	LWLockRelease(momo_shared->lock);
	*out = s;
	return n;
}

/* Commits that changed momo_pauses in this database so far (see MomoDatabase). */
uint64
momo_launcher_pause_changes(void)
{
	uint64		changes = 0;

	LWLockAcquire(momo_shared->lock, LW_SHARED);
	if (my_database)
		changes = my_database->pause_changes;
	LWLockRelease(momo_shared->lock);
	return changes;
}

/*
 * At the commit of a backend's transaction that changed momo_pauses (or may
 * have), once it is visible: counts it in this database's slot and wakes
 * its worker, which reads the table again before it sends anything more.
 * Nothing when no worker serves the database: one reads the table when it
 * starts.
 */
void
momo_launcher_pauses_changed(void)
{
	MomoDatabase *slot;

	if (momo_shared == NULL)
		return;
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	slot = launcher_slot_of(MyDatabaseId);
	if (slot)
	{
		slot->pause_changes++;
		if (slot->worker_latch)
			SetLatch(slot->worker_latch);
	}
	LWLockRelease(momo_shared->lock);
}

/* The numberings of the change feed that polls of this database asked for so far. */
uint64
momo_launcher_feed_asked(void)
{
	uint64		asked = 0;

	LWLockAcquire(momo_shared->lock, LW_SHARED);
	if (my_database)
		asked = my_database->feed_asked;
	LWLockRelease(momo_shared->lock);
	return asked;
}

/*
 * Tells the polls that asked for a numbering of the change feed, up to
 * through (from momo_launcher_feed_asked), that it is done (committed), or
 * given up: they read what is numbered.
 */
void
momo_launcher_feed_numbered(uint64 through)
{
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	if (my_database && my_database->feed_numbered < through)
		my_database->feed_numbered = through;
	LWLockRelease(momo_shared->lock);
	ConditionVariableBroadcast(&momo_shared->feed_cv);
}

/*
 * The pid of a database's worker (0 when none has connected), whether it
 * serves momo there, and its problems (MOMO_PROBLEM_LEN bytes, "" for
 * none): all of them, or, with unpaused, those but the products paused.
 */
pid_t
momo_launcher_worker_of(Oid dboid, bool *serving, char *problem, bool unpaused)
{
	MomoDatabase *slot;
	pid_t		pid = 0;

	*serving = false;
	problem[0] = '\0';
	LWLockAcquire(momo_shared->lock, LW_SHARED);
	slot = launcher_slot_of(dboid);
	if (slot && slot->worker_pid != 0)
	{
		pid = slot->worker_pid;
		*serving = slot->serving;
		strlcpy(problem, unpaused ? slot->worker_unpaused : slot->worker_problem, MOMO_PROBLEM_LEN);
	}
	LWLockRelease(momo_shared->lock);
	return pid;
}

/*
 * Every database slot in use with a worker (momo_health), each with its
 * problems but the products paused: a palloc'd array, its length returned.
 */
int
momo_launcher_summaries(MomoWorkerSummary **out)
{
	MomoWorkerSummary *s = palloc0(sizeof(MomoWorkerSummary) * Max(momo_shared->ndatabases, 1));
	int			n = 0;

	StaticAssertStmt(sizeof(s->problem) == MOMO_PROBLEM_LEN, "MomoWorkerSummary.problem must hold a problem");
	LWLockAcquire(momo_shared->lock, LW_SHARED);
	for (int i = 0; i < momo_shared->ndatabases; i++)
	{
		MomoDatabase *slot = &momo_shared->databases[i];

		if (!OidIsValid(slot->dboid) || slot->absent)
			continue;
		s[n].dboid = slot->dboid;
		s[n].pid = slot->worker_pid;
		s[n].serving = slot->serving;
		strlcpy(s[n].problem, slot->worker_unpaused, MOMO_PROBLEM_LEN);
		n++;
	}
	LWLockRelease(momo_shared->lock);
	*out = s;
	return n;
}

/*
 * The databases to serve in which the launcher could start no worker
 * (momo_health): at most MOMO_LAUNCHER_UNSERVED of them in dboids and
 * whys (palloc'd), oldest first; returns how many there are in all.
 */
int
momo_launcher_unserved(Oid **dboids, MomoUnservedWhy **whys)
{
	int			n;

	*dboids = palloc(sizeof(Oid) * MOMO_LAUNCHER_UNSERVED);
	*whys = palloc(sizeof(MomoUnservedWhy) * MOMO_LAUNCHER_UNSERVED);
	LWLockAcquire(momo_shared->lock, LW_SHARED);
	n = momo_shared->nunserved;
	memcpy(*dboids, momo_shared->unserved, sizeof(Oid) * Min(n, MOMO_LAUNCHER_UNSERVED));
	memcpy(*whys, momo_shared->unserved_why, sizeof(MomoUnservedWhy) * Min(n, MOMO_LAUNCHER_UNSERVED));
	LWLockRelease(momo_shared->lock);
	return n;
}

/* The launcher's pid, or 0 when it does not run. */
pid_t
momo_launcher_running(void)
{
	pid_t		pid;

	LWLockAcquire(momo_shared->lock, LW_SHARED);
	pid = momo_shared->launcher_pid;
	LWLockRelease(momo_shared->lock);
	return pid;
}

/* ------------------------------------------------------------------------
 * Backends: the utility hook and the end of transactions
 * ------------------------------------------------------------------------
 */

/*
 * Holds a database the current user owns (see MomoHold), and sends its
 * worker SIGTERM; PostgreSQL's command then waits for it to exit.
 */
static void
launcher_hold(const char *dbname)
{
	Oid			dboid = get_database_oid(dbname, true);
	pid_t		pid = 0;
	MomoDatabase *slot;

	if (!OidIsValid(dboid) || OidIsValid(held_database))
		return;
#if PG_VERSION_NUM >= 160000
	if (!object_ownercheck(DatabaseRelationId, dboid, GetUserId()))
		return;
#else
	if (!pg_database_ownercheck(dboid, GetUserId()))
		return;
#endif
	stopped_database = dboid;
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < MOMO_LAUNCHER_HOLDS; i++)
	{
		MomoHold   *h = &momo_shared->holds[i];

		if (h->dboid == InvalidOid || h->backend == 0 || BackendPidGetProc(h->backend) == NULL)
		{
			h->dboid = dboid;
			h->backend = MyProcPid;
			held_database = dboid;
			break;
		}
	}
	slot = launcher_slot_of(dboid);
	if (slot)
		pid = slot->worker_pid;
	LWLockRelease(momo_shared->lock);
	/* Without a free hold the worker may start again: after MOMO_RESTART_S. */
	if (pid != 0)
		(void) kill(pid, SIGTERM);
}

/* The value of a statement's option, or NULL. */
static char *
launcher_option(List *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *d = (DefElem *) lfirst(lc);

		if (strcmp(d->defname, name) == 0 && d->arg != NULL)
			return defGetString(d);
	}
	return NULL;
}

/*
 * Before a utility statement: DROP DATABASE and the commands that, like it,
 * need a database to themselves (a rename, a move, a copy with CREATE
 * DATABASE ... TEMPLATE, as Django's parallel test runner makes) hold it.
 */
void
momo_launcher_utility_before(Node *parsetree)
{
	if (momo_shared == NULL)
		return;
	if (IsA(parsetree, DropdbStmt))
		launcher_hold(((DropdbStmt *) parsetree)->dbname);
	else if (IsA(parsetree, CreatedbStmt))
	{
		char	   *template = launcher_option(((CreatedbStmt *) parsetree)->options, "template");

		if (template)
			launcher_hold(template);
	}
	else if (IsA(parsetree, RenameStmt) &&
			 ((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
		launcher_hold(((RenameStmt *) parsetree)->subname);
	else if (IsA(parsetree, AlterDatabaseStmt) &&
			 launcher_option(((AlterDatabaseStmt *) parsetree)->options, "tablespace"))
		launcher_hold(((AlterDatabaseStmt *) parsetree)->dbname);
}

/*
 * Before PREPARE TRANSACTION: refused when the transaction stopped a
 * database's worker (ALTER DATABASE ... RENAME, the one such command
 * allowed in a transaction block).  The hold ends with the session's part
 * of the transaction, but the prepared transaction keeps the database's
 * lock until COMMIT PREPARED or ROLLBACK PREPARED, which may never come
 * (it survives a restart): every worker started there would wait for that
 * lock, unseen, as every other new session there does.
 */
void
momo_launcher_pre_prepare(void)
{
	char	   *name;

	if (!OidIsValid(stopped_database))
		return;
	name = get_database_name(stopped_database);
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot PREPARE a transaction that has stopped momo's worker of database \"%s\"",
					name ? name : "?"),
			 errdetail("A prepared transaction would keep the database locked until COMMIT PREPARED or ROLLBACK PREPARED, and no worker could serve it meanwhile."),
			 errhint("Run ALTER DATABASE ... RENAME in a transaction that commits or rolls back directly.")));
}

/*
 * After a utility statement (that did not fail): what the launcher or the
 * worker is told of at commit.
 */
void
momo_launcher_utility_after(Node *parsetree)
{
	if (momo_shared == NULL)
		return;
	if (IsA(parsetree, CreateExtensionStmt) &&
		strcmp(((CreateExtensionStmt *) parsetree)->extname, "momo") == 0)
		notice_at_commit = MyDatabaseId;
	else if (IsA(parsetree, CreatedbStmt))
		notice_at_commit = get_database_oid(((CreatedbStmt *) parsetree)->dbname, true);
	else if (IsA(parsetree, AlterDatabaseStmt))	/* ALLOW_CONNECTIONS, IS_TEMPLATE */
		notice_at_commit = get_database_oid(((AlterDatabaseStmt *) parsetree)->dbname, true);
	else if (IsA(parsetree, TransactionStmt) &&
			 ((TransactionStmt *) parsetree)->kind == TRANS_STMT_COMMIT_PREPARED)
		notice_at_commit = MyDatabaseId;	/* it may have created the extension */
	else if (IsA(parsetree, DropStmt) &&
			 ((DropStmt *) parsetree)->removeType == OBJECT_EXTENSION)
	{
		ListCell   *lc;

		foreach(lc, ((DropStmt *) parsetree)->objects)
			if (strcmp(strVal(lfirst(lc)), "momo") == 0)
				recheck_at_commit = true;
	}
}

/*
 * At the end of a backend's transaction: at commit, tells the launcher of a
 * database to look at, or this database's worker to look again; either way
 * releases the database it held (and tells the launcher, which starts its
 * worker again if the database is still there).
 */
void
momo_launcher_xact_end(bool committed)
{
	Latch	   *launcher = NULL;
	Latch	   *worker = NULL;

	stopped_database = InvalidOid;
	if (momo_shared == NULL ||
		(!OidIsValid(held_database) && !OidIsValid(notice_at_commit) && !recheck_at_commit))
		return;
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	if (OidIsValid(held_database))
	{
		for (int i = 0; i < MOMO_LAUNCHER_HOLDS; i++)
			if (momo_shared->holds[i].backend == MyProcPid)
			{
				momo_shared->holds[i].dboid = InvalidOid;
				momo_shared->holds[i].backend = 0;
			}
		launcher = launcher_add_notice(held_database);
	}
	if (committed && OidIsValid(notice_at_commit))
		launcher = launcher_add_notice(notice_at_commit);
	if (committed && recheck_at_commit)
	{
		MomoDatabase *slot = launcher_slot_of(MyDatabaseId);

		if (slot)
		{
			slot->recheck = true;
			worker = slot->worker_latch;
		}
	}
	if (launcher)
		SetLatch(launcher);
	if (worker)
		SetLatch(worker);
	LWLockRelease(momo_shared->lock);
	held_database = notice_at_commit = InvalidOid;
	recheck_at_commit = false;
}
