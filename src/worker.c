/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The momo background worker: one loop that keeps up to
 *	  momo.max_in_flight requests to MTN in flight at every moment, payment
 *	  requests and status checks of every product together, and records the
 *	  answers as they arrive, in short transactions of their own (answers
 *	  that arrive together share one).  A freed slot is refilled at once
 *	  when more payments are due, and payments that a commit just queued are
 *	  claimed as soon as that commit sets the worker's latch: sends before
 *	  status checks.  A product paused (momo_pauses, pause.c) sends nothing
 *	  new: the worker reads the table again, before it starts any further
 *	  request, once a commit changed it.  A slow or hung request holds up
 *	  only itself; so does a slow access token, fetched on the same multi
 *	  handle (api.c, token_fetched): meanwhile a token due for refresh is
 *	  still used, and a product without one waits.  It
 *	  numbers the change feed (number_changes) and purges old events hourly,
 *	  in short transactions of their own.  No statement of its
 *	  waits long for a lock.  With nothing in flight it sleeps on its latch
 *	  until a payment commits or the next one falls due; it reloads settings
 *	  on SIGHUP, exits on SIGTERM, and never runs on a standby.
 *
 *	  The loop waits on the network (curl_multi_poll) at most LATCH_POLL_MS
 *	  at a time while requests are in flight, and looks at its latch between
 *	  waits; with nothing in flight it sleeps on the latch itself.  A commit
 *	  sets the latch from another process, which libcurl cannot wait for
 *	  (curl_multi_wakeup works within a process only, and the latch's own
 *	  file descriptor is private to latch.c), so a new payment waits at most
 *	  LATCH_POLL_MS for the loop to see it; the price is a wake-up every
 *	  LATCH_POLL_MS while requests are in flight, a few microseconds each.
 *	  At 10 ms, a payment committed while others were in flight waited up to
 *	  12 ms before its POST left (the poll, then the claim made durable):
 *	  over the 10 ms p99 that bench/ aims at.
 *
 *	  Nothing is sent before it is durable: each claim is committed and
 *	  flushed, and confirmed by the synchronous standbys (and by the standby
 *	  named in momo.wait_for_standby) before any request of it leaves; its
 *	  commit record comes after the commits of the payments it claims, so
 *	  this covers the requesters' own commits, however asynchronous.  Only
 *	  then are its requests added to those in flight.  The wait is bounded:
 *	  when it passes, nothing of that claim is sent, the worker says why,
 *	  and tries again later.  Requests in flight meanwhile go on.
 *
 *	  Claimed payments stay the worker's until their answers are recorded
 *	  (or they are given up, unsent): the locks of a claim go with its
 *	  commit, so each new claim passes over them by name.  A claim writes
 *	  nothing, so a crash at any moment leaves every payment due again, to
 *	  be sent with the same X-Reference-Id.
 *
 *	  The commits that make a payment final are durable too (synchronous
 *	  commit at the server's level, see momo_commit_durably) and announced
 *	  only once the standbys have them.  Its other transactions commit
 *	  asynchronously: any other write can be lost in a crash without harm,
 *	  because the worker then repeats the same request with the same
 *	  X-Reference-Id and MTN answers 409.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "lib/ilist.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/syncrep.h"
#include "replication/walsender.h"
#include "replication/walsender_private.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "api.h"
#include "launcher.h"
#include "changes.h"
#include "events.h"
#include "momo.h"
#include "owner.h"
#include "pause.h"
#include "settings.h"
#include "spi_util.h"
#include "store.h"
#include "version.h"

/* Answers recorded together, and how long the first of them may wait. */
#define FLUSH_ANSWERS 128
#define FLUSH_DELAY_MS 20

/*
 * The longest the loop waits on the network before it looks at its latch
 * (see the file header).
 */
#define LATCH_POLL_MS 5

/*
 * How many payment requests may be claimed ahead of the free slots, to wait
 * in st->waiting (see claim_room): momo.max_in_flight.
 */
#define CLAIM_AHEAD (momo_max_in_flight)

/*
 * A payment request claimed ahead that waited longer than this since its
 * claim committed is looked at again before it leaves (see recheck_waiting).
 */
#define RECHECK_AFTER_MS 10

/* Payments whose answers could not be recorded, left alone for a while. */
#define MAX_COOLING 1024

#define UUID_TEXT_LEN 36

typedef struct Cooling
{
	char		reference_id[UUID_TEXT_LEN + 1];
	TimestampTz until;
	int			failures;
} Cooling;

/*
 * The longest the worker's statements wait for a lock (lock_timeout): a row
 * or table that a transaction of the application holds (a payment, or an
 * invoice that a trigger on momo_payments updates), even a prepared
 * transaction's, then holds up only the payments it concerns (see
 * flush_answers), never every payment.
 */
#define WORKER_LOCK_TIMEOUT "100ms"

/* How often the worker looks for payments of products that have no credentials. */
#define UNUSED_CHECK_INTERVAL_MS 10000

/*
 * The change feed (changes.c): the worker numbers the committed changes
 * FEED_NUMBER_DELAY_MS after a commit that wrote payments woke it, or
 * after it recorded answers (the changes of that time together, in one
 * short transaction), at once when a poll asks, and every
 * momo.idle_interval in any case; at most FEED_NUMBER_BATCH at once.
 */
#define FEED_NUMBER_DELAY_MS 100
#define FEED_NUMBER_BATCH 10000

/* How often the worker purges events older than momo.event_retention, and how many at once. */
#define PURGE_INTERVAL_MS (3600 * 1000)
#define PURGE_BATCH 1000

/*
 * What stops the worker from sending, each kept apart: each is logged once
 * when it appears (or changes) and goes when it is solved; all of them
 * together are published for momo_worker_status, momo_stats and
 * momo_preflight.
 */
#define PROBLEM_OWNER 0			/* acting as momo_payments' owner is not safe (owner.c) */
#define PROBLEM_STANDBY 1		/* standbys have not confirmed a claim */
#define PROBLEM_PRODUCT(p) (2 + (p))	/* a product's configuration or token */
#define PROBLEM_PAUSED(p) (2 + MOMO_N_PRODUCTS + (p))	/* a product's sending is paused */
#define N_PROBLEMS (2 + 2 * MOMO_N_PRODUCTS)

/*
 * Sending of one product, paused (pause.c): its row of momo_pauses, as the
 * worker last read the table (see see_pauses), or the worker's own pause on
 * MTN's refusal of the merchant's configuration, held here until its row
 * is written.
 */
typedef struct Pause
{
	bool		paused;			/* no payment request of it is sent */
	bool		unwritten;		/* the worker's own pause, its row not written yet */
	char	   *reason;			/* of that one (TopMemoryContext) */
} Pause;

/* What see_pauses asks of sync_pauses. */
typedef struct SyncPauses
{
	MemoryContext cxt;			/* for the texts of rows */
	bool		table;			/* the schema has momo_pauses (not momo 1.0) */
	MomoPauseRow rows[MOMO_N_PRODUCTS];
} SyncPauses;

/*
 * One claim: the payments claimed by one committed transaction, and the
 * memory of their calls (freed when the last of them is done with).  None
 * of them is sent before its commit (lsn) is durable.
 */
typedef struct Claim
{
	MemoryContext cxt;
	XLogRecPtr	lsn;			/* end of its commit record */
	TimestampTz committed_at;
	int			open;			/* its jobs not yet done with */
} Claim;

/*
 * A claimed payment and its call to MTN: in st->claimed until the claim is
 * durable, then in st->waiting (a payment request) or st->waiting_checks
 * (a status check) until a slot is free, in st->flying while
 * its request is in flight, and in st->answered until its answer is
 * recorded.
 */
typedef struct Job
{
	dlist_node	node;
	Claim	   *claim;
	MomoPayment *pay;
	MomoCall	call;
	MomoProduct product;
	bool		rechecked;		/* still queued when recheck_waiting looked */
} Job;

typedef struct WorkerState
{
	MemoryContext cycle_cxt;	/* reset at each turn of the loop */
	MemoryContext jobs_cxt;		/* the claims' memory, under it */
	MemoryContext cfg_cxt;		/* of cfgs */
	Oid			save_userid;	/* the connection's user, outside transactions */
	int			save_sec_context;
	int			guc_nestlevel;	/* of the transaction's settings, see begin_work */
	MomoHttpClient *client;
	char	   *schema;			/* of the extension (in TopMemoryContext), or NULL */
	Oid			nsp;			/* that schema, as the last begin_work found it */
	char	   *problems[N_PROBLEMS];	/* see report_problem */
	MomoConfig	cfgs[MOMO_N_PRODUCTS];	/* as resolved at the last claim or reload */

	/* The pipeline. */
	dlist_head	claimed;		/* jobs of the claim not yet durable */
	Claim	   *undurable;		/* that claim */
	long		durable_nap;	/* how long the loop waits before looking again */
	dlist_head	waiting;		/* payment requests durable, waiting for a slot */
	dlist_head	waiting_checks; /* status checks durable, waiting for a slot */
	int			nwaiting;		/* in both */
	int			nwaiting_checks;	/* in waiting_checks */
	dlist_head	flying;			/* in flight */
	int			in_flight;
	int			sends_in_flight;
	dlist_head	answered;		/* answered, not yet recorded */
	int			nanswered;
	TimestampTz first_answer_at;	/* when the oldest of them came */
	int			njobs;			/* in all the lists, and in flight */
	TimestampTz next_claim_at;	/* when to look for due payments again */
	bool		woken;			/* a commit set the latch since the last claim */
	bool		backlog;		/* the last claim took all it could */
	bool		checks_turn;	/* a single free slot goes to a status check first */
	bool		checks_capped;	/* the last claim took fewer checks than slots: see
								 * checks_room */
	int			checks_unsent;	/* status checks the claim under way took from the
								 * shared budget: given back if it fails */
	char	   *activity;		/* last shown in pg_stat_activity */

	XLogRecPtr	unannounced;	/* end of the last commit that made payments
								 * final, until the standbys have it */
	List	   *to_notify;		/* with momo.wait_for_standby: final statuses
								 * numbered in the change feed, to NOTIFY once
								 * notify_lsn is durable (see notify_finals) */
	XLogRecPtr	notify_lsn;
	MemoryContext notify_cxt;	/* holds them */
	Pause		pause[MOMO_N_PRODUCTS];	/* see sending_paused */
	bool		pauses_known;	/* momo_pauses read since the worker started:
								 * until then, no payment request is sent */
	bool		pauses_table;	/* the schema had momo_pauses at that read */
	uint64		pauses_seen;	/* momo_launcher_pause_changes() at that read */
	bool		pauses_reread;	/* read them again anyway (a reload unpublished
								 * the problems that tell them) */
	TimestampTz pauses_failed_at;	/* when a read last failed */
	TimestampTz unused_checked_at;	/* see check_unused_products */
	bool		unused_waiting[MOMO_N_PRODUCTS];
	bool		feed_dirty;		/* changes may wait for a number (see number_changes) */
	TimestampTz numbered_at;	/* when the worker last numbered them */
	uint64		feed_answered;	/* the polls' asks answered so far */
	TimestampTz purged_at;		/* when a purge of old events last ended */
	bool		purging;		/* events are left to purge now */
	Cooling		cooling[MAX_COOLING];	/* see cool_down */
	int			ncooling;
	char		schema_version[NAMEDATALEN];	/* of the installed schema, as
												 * last seen ("" at first) */
} WorkerState;

static void announce_finals(WorkerState *st);
static void release_job(WorkerState *st, Job *job);
static void resolve_configs(WorkerState *st);
static void report_activity(WorkerState *st, const char *activity);

/*
 * Publishes the worker's problems ("" for none) in shared memory: all of
 * them, and apart those but the products paused (momo_health tells a pause
 * from a worker that cannot send).
 */
static void
publish_problems(WorkerState *st)
{
	char		all[MOMO_PROBLEM_LEN];
	char		unpaused[MOMO_PROBLEM_LEN];

	all[0] = unpaused[0] = '\0';
	for (int i = 0; i < N_PROBLEMS; i++)
		if (st->problems[i])
		{
			if (all[0])
				strlcat(all, "; ", sizeof(all));
			strlcat(all, st->problems[i], sizeof(all));
			if (i >= PROBLEM_PAUSED(0))
				continue;
			if (unpaused[0])
				strlcat(unpaused, "; ", sizeof(unpaused));
			strlcat(unpaused, st->problems[i], sizeof(unpaused));
		}
	momo_launcher_publish_problem(all, unpaused);
}

/*
 * Records a problem that stops the worker from sending (some or all
 * payments), in its slot: logged once until it changes, and published for
 * momo_worker_status, momo_stats and momo_preflight.
 */
static void
report_problem(WorkerState *st, int slot, const char *message, const char *hint)
{
	if (st->problems[slot] && strcmp(st->problems[slot], message) == 0)
	{
		publish_problems(st);	/* unpublished by a reload meanwhile, perhaps */
		return;
	}
	if (st->problems[slot])
		pfree(st->problems[slot]);
	st->problems[slot] = MemoryContextStrdup(TopMemoryContext, message);
	publish_problems(st);
	ereport(WARNING,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("momo worker is not sending payments: %s", message),
			 hint ? errhint("%s", hint) : 0));
}

/*
 * At a reload: the published problems may be fixed by the new
 * configuration; each is published again (not logged again) if a later
 * cycle still finds it, and "solved" is logged if it does not.
 */
static void
unpublish_problems(void)
{
	momo_launcher_publish_problem("", "");
}

/* Forgets the problem in a slot, if any, logging that it is solved. */
static void
clear_problem(WorkerState *st, int slot)
{
	bool		others = false;

	if (st->problems[slot] == NULL)
		return;
	for (int i = 0; i < N_PROBLEMS; i++)
		others |= (i != slot && st->problems[i] != NULL);
	if (others)
		ereport(LOG, (errmsg("momo worker problem solved: %s", st->problems[slot])));
	else
		ereport(LOG, (errmsg("momo worker problem solved: sending payments again")));
	pfree(st->problems[slot]);
	st->problems[slot] = NULL;
	publish_problems(st);
}

/*
 * Says in the server log, once, when the installed schema is not the
 * library's version (between installing a new library and ALTER EXTENSION
 * momo UPDATE), and when it is again.  The worker goes on either way: it
 * uses nothing a schema older than the library lacks.
 */
static void
note_schema_version(WorkerState *st, const char *version)
{
	char	   *hint = NULL;
	char	   *problem;

	if (strcmp(st->schema_version, version) == 0)
		return;
	problem = momo_version_problem(version, &hint);
	if (problem)
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s", problem),
				 errhint("%s", hint)));
	else if (st->schema_version[0] != '\0')
		ereport(LOG,
				(errmsg("momo's schema in this database is now version %s, as its library", version)));
	strlcpy(st->schema_version, version, sizeof(st->schema_version));
}

/*
 * Returns momo_payments in this database (InvalidOid when momo is not
 * installed here), with its namespace in *nsp.  Notes the version of the
 * installed schema.
 */
static Oid
payments_relation(WorkerState *st, Oid *nsp)
{
	char	   *version;

	*nsp = momo_version_extension_lookup(&version);
	if (!OidIsValid(*nsp))
		return InvalidOid;
	note_schema_version(st, version);
	return get_relname_relid("momo_payments", *nsp);
}

/*
 * The quoted name of momo's schema, as begin_work found it (its lock on
 * momo_payments keeps the schema there), for the statements of store.c.
 */
static char *
work_schema(WorkerState *st)
{
	return (char *) quote_identifier(get_namespace_name(st->nsp));
}

/*
 * Starts a transaction with SPI connected and a snapshot, allocating in cxt,
 * acting as the owner of momo_payments under SECURITY_RESTRICTED_OPERATION
 * (as VACUUM and ANALYZE act as a table's owner): whatever user code the
 * transaction fires (triggers on momo_payments, and what they call) runs
 * with that ordinary role's rights and cannot change role.  Aborting the
 * transaction restores the connection's user.  Whatever settings that code
 * changes (SET lock_timeout, SET search_path, ...) are undone by end_work,
 * as ANALYZE undoes those of index functions.
 *
 * Returns false, with the transaction started but nothing connected, when
 * momo is not installed in this database (or was just dropped), or when
 * acting as that owner is not safe (momo_owner_table_problem: the owner is
 * a superuser, FORCE ROW LEVEL SECURITY, or a trigger that would run with
 * the owner's rights): the worker does nothing then, and says why.
 */
static bool
begin_work(WorkerState *st, MemoryContext cxt)
{
	Oid			rel;
	Oid			nsp;
	Oid			owner;
	char	   *problem;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	MemoryContextSwitchTo(cxt);
	st->guc_nestlevel = NewGUCNestLevel();
	GetUserIdAndSecContext(&st->save_userid, &st->save_sec_context);
	rel = payments_relation(st, &nsp);
	if (OidIsValid(rel))
	{
		/*
		 * Keep momo_payments (and so the extension) from being dropped under
		 * this transaction's statements; a DROP that committed before the
		 * lock was granted leaves nothing to work on.
		 */
		LockRelationOid(rel, AccessShareLock);
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(rel)))
			rel = InvalidOid;
	}
	if (!OidIsValid(rel))
		return false;			/* momo is not installed here (or was just dropped) */
	owner = momo_owner_of(rel);
	problem = momo_owner_schema_problem(nsp);
	if (problem)
	{
		report_problem(st, PROBLEM_OWNER, problem,
					   "Only superusers may own or create in momo's schema: ALTER SCHEMA ... OWNER TO a superuser and REVOKE CREATE from the others, or install momo in a schema of its own; see the README, \"Security model\".");
		return false;
	}
	problem = momo_owner_table_problem(rel, owner, nsp);
	if (problem)
	{
		report_problem(st, PROBLEM_OWNER, problem,
					   "momo_payments must be owned by momo_worker (an ordinary role that no role is a member of), without FORCE ROW LEVEL SECURITY, and every other trigger on it must be an AFTER trigger calling a SECURITY DEFINER function owned by the application, with SET search_path; see the README, \"Security model\".");
		return false;
	}
	if (OidIsValid(owner))
		SetUserIdAndSecContext(owner, st->save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION | MOMO_SECURITY_ACTING);
	clear_problem(st, PROBLEM_OWNER);
	st->nsp = nsp;
	momo_spi_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	return true;
}

/*
 * In a PG_CATCH around work begun by begin_work: aborts the transaction
 * (which restores the connection's user) and returns the error, copied into
 * cxt, for the caller to log and free.
 */
static ErrorData *
abort_work(MemoryContext cxt)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	AbortCurrentTransaction();
	MemoryContextSwitchTo(cxt);
	return edata;
}

/* Ends a transaction that begin_work refused to work in. */
static void
end_refused_work(MemoryContext cxt)
{
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
}

/*
 * Commits the transaction begun by begin_work (still as momo_payments'
 * owner: commit fires deferred triggers), then becomes the connection's user
 * again and returns to cxt.
 */
static void
end_work(WorkerState *st, MemoryContext cxt)
{
	SPI_finish();
	AtEOXact_GUC(false, st->guc_nestlevel);
	PopActiveSnapshot();
	CommitTransactionCommand();
	SetUserIdAndSecContext(st->save_userid, st->save_sec_context);
	MemoryContextSwitchTo(cxt);
}

/*
 * Returns true if the synchronous standbys (synchronous_standby_names) have
 * confirmed WAL up to lsn, at the level of a durable commit (flush, or apply:
 * momo_durable_apply); true also when none are configured.  Reads what the
 * walsenders publish for PostgreSQL's own synchronous commits.
 */
static bool
sync_standbys_have(XLogRecPtr lsn)
{
	int			mode = momo_durable_apply() ? SYNC_REP_WAIT_APPLY : SYNC_REP_WAIT_FLUSH;
	bool		defined;
	XLogRecPtr	confirmed;

	if (max_wal_senders <= 0 || WalSndCtl == NULL)
		return true;
	LWLockAcquire(SyncRepLock, LW_SHARED);
#ifdef SYNC_STANDBY_DEFINED
	if (WalSndCtl->sync_standbys_status & SYNC_STANDBY_INIT)
		defined = (WalSndCtl->sync_standbys_status & SYNC_STANDBY_DEFINED) != 0;
	else
		defined = SyncRepStandbyNames != NULL && SyncRepStandbyNames[0] != '\0';
#else
	defined = WalSndCtl->sync_standbys_defined;
#endif
	confirmed = WalSndCtl->lsn[mode];
	LWLockRelease(SyncRepLock);
	return !defined || confirmed >= lsn;
}

/*
 * Returns true if the standby named in momo.wait_for_standby (its
 * application_name, as pg_stat_replication shows it) has flushed WAL up to
 * lsn; *connected tells whether it is connected at all.  Reads shared
 * memory only: no query, no user code.
 */
bool
momo_named_standby_has(XLogRecPtr lsn, bool *connected)
{
	int			nbackends;
	bool		has = false;

	*connected = false;
	pgstat_clear_backend_activity_snapshot();
	nbackends = pgstat_fetch_stat_numbackends();
	for (int i = 1; i <= nbackends && !has; i++)
	{
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
		PgBackendStatus *be;

		if (local == NULL)
			continue;
		be = &local->backendStatus;
		if (be->st_backendType != B_WAL_SENDER || be->st_appname == NULL ||
			strcmp(be->st_appname, momo_wait_for_standby) != 0)
			continue;
		for (int j = 0; j < max_wal_senders; j++)
		{
			WalSnd	   *walsnd = &WalSndCtl->walsnds[j];
			XLogRecPtr	flush;
			pid_t		pid;

			SpinLockAcquire(&walsnd->mutex);
			pid = walsnd->pid;
			flush = walsnd->flush;
			SpinLockRelease(&walsnd->mutex);
			if (pid != be->st_procpid)
				continue;
			*connected = true;
			has |= (flush != InvalidXLogRecPtr && flush >= lsn);
		}
	}
	pgstat_clear_backend_activity_snapshot();
	return has;
}

/*
 * Returns true if WAL up to lsn would survive a failover under the
 * configured mode: flushed here, confirmed by the synchronous standbys, and
 * flushed by the standby of momo.wait_for_standby.  Otherwise *why says
 * what is missing.
 */
static bool
lsn_durable(XLogRecPtr lsn, const char **why)
{
	bool		connected;

	XLogFlush(lsn);
	if (!sync_standbys_have(lsn))
	{
		*why = "the synchronous standbys (synchronous_standby_names) have not confirmed them";
		return false;
	}
	if (momo_wait_for_standby && momo_wait_for_standby[0] &&
		!momo_named_standby_has(lsn, &connected))
	{
		*why = psprintf(connected ? "standby \"%s\" (momo.wait_for_standby) has not flushed them" :
						"standby \"%s\" (momo.wait_for_standby) is not connected",
						momo_wait_for_standby);
		return false;
	}
	return true;
}

/*
 * Records answers in a transaction of their own; returns false (with the
 * transaction rolled back and the error logged) if that failed.
 */
static bool
record_answers(WorkerState *st, MomoRecord *recs, int n)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		int			finals;

		if (!begin_work(st, cxt))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("momo_payments is gone, or the worker may not act as its owner (see momo_worker_status())")));
		finals = momo_store_record_batch(st->schema, recs, n, true);
		/* A final status is committed durably, and only then told (see announce_finals). */
		if (finals > 0)
			momo_commit_durably();
		end_work(st, cxt);
		st->feed_dirty = true;	/* the changes of status it wrote */
		if (finals > 0)
		{
			st->unannounced = XactLastCommitEnd;
			announce_finals(st);
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata = abort_work(cxt);

		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("momo worker could not record MTN's answer%s for payment %s%s: %s",
						n > 1 ? "s" : "", recs[0].payment->terms.reference_id,
						n > 1 ? " and others" : "", edata->message),
				 errdetail("Unrecorded payments are asked about again, after a pause.")));
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * Leaves a payment alone for a while because its answer could not be
 * recorded (a trigger of the application failing, say): without this, the
 * worker would claim it and ask MTN again at once, cycle after cycle.  The
 * pause doubles with each failure, from momo.retry_base to momo.retry_max.
 */
static void
cool_down(WorkerState *st, const char *reference_id)
{
	Cooling    *c = NULL;
	TimestampTz now = GetCurrentTimestamp();
	long		delay;

	for (int i = 0; i < st->ncooling; i++)
		if (strcmp(st->cooling[i].reference_id, reference_id) == 0)
			c = &st->cooling[i];
	if (c == NULL)
	{
		/* Reuse a slot whose pause is over, or the one that ends first. */
		for (int i = 0; i < st->ncooling && c == NULL; i++)
			if (st->cooling[i].until <= now)
				c = &st->cooling[i];
		if (c == NULL && st->ncooling < MAX_COOLING)
			c = &st->cooling[st->ncooling++];
		if (c == NULL)
		{
			c = &st->cooling[0];
			for (int i = 1; i < st->ncooling; i++)
				if (st->cooling[i].until < c->until)
					c = &st->cooling[i];
		}
		strlcpy(c->reference_id, reference_id, sizeof(c->reference_id));
		c->failures = 0;
	}
	c->failures++;
	delay = Min((long) momo_retry_max_ms, (long) momo_retry_base_ms << Min(c->failures - 1, 20));
	c->until = TimestampTzPlusMilliseconds(now, delay);
}

/* Lists the payments still cooling down, for the claim to pass over. */
static int
cooling_refs(WorkerState *st, char **refs)
{
	TimestampTz now = GetCurrentTimestamp();
	int			n = 0;

	for (int i = 0; i < st->ncooling; i++)
		if (st->cooling[i].until > now)
			refs[n++] = st->cooling[i].reference_id;
	return n;
}

/* Milliseconds until the first pause of cool_down ends (at least 10), or LONG_MAX. */
static long
cooling_ends_ms(WorkerState *st)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz first = 0;

	for (int i = 0; i < st->ncooling; i++)
		if (st->cooling[i].until > now && (first == 0 || st->cooling[i].until < first))
			first = st->cooling[i].until;
	if (first == 0)
		return LONG_MAX;
	return Max((long) ((first - now) / 1000), 10L);
}

/* Sending of product p goes on: its pause ended (why says how). */
static void
resume_sending(WorkerState *st, MomoProduct p, const char *why)
{
	Pause	   *ps = &st->pause[p];

	if (!ps->paused)
		return;
	ps->paused = ps->unwritten = false;
	if (ps->reason)
		pfree(ps->reason);
	ps->reason = NULL;
	ereport(LOG,
			(errmsg("momo worker is sending %s payments again: %s", momo_product_names[p], why)));
	clear_problem(st, PROBLEM_PAUSED(p));
}

/* Says that sending of p is paused, as message (logged once until it changes). */
static void
report_pause(WorkerState *st, MomoProduct p, const char *message, bool automatic)
{
	const char *name = momo_product_names[p];

	report_problem(st, PROBLEM_PAUSED(p), message,
				   automatic ?
				   psprintf("MTN refused a payment request for the merchant's configuration, not for the payment: none is failed for it, "
							"the payments wait, queued, and status checks go on.  Check momo.target_environment, momo.callback_url "
							"(its host must be the one registered for the API user) and the subscription in MTN's portal, "
							"then resume sending: SELECT momo_resume('%s');", name) :
				   psprintf("The payments wait, queued, and status checks go on.  SELECT momo_resume('%s'); resumes sending.",
							name));
}

/*
 * MTN refused a request of product p for the merchant's configuration (the
 * target environment, the callback host, the subscription: answers.c): no
 * other request would fare better, and the refusal says nothing about the
 * payment.  Sending of p pauses at once -- nothing failed, nothing more
 * sent, the payments wait queued -- and the pause is written to
 * momo_pauses (automatic) by the next see_pauses: it holds, across
 * restarts, until an operator resumes it with momo_resume.
 */
static void
pause_sending(WorkerState *st, MomoProduct p, const MomoAnswer *a)
{
	Pause	   *ps = &st->pause[p];

	if (ps->paused)
		return;					/* paused already, by whoever */
	ps->paused = ps->unwritten = true;
	ps->reason = MemoryContextStrdup(TopMemoryContext,
									 psprintf("MTN refuses %s requests for the merchant's configuration (%s)",
											  momo_product_names[p], a->reason ? a->reason : "refused"));
}

/*
 * The decision to pause, in one place: whether no payment request of
 * product p may be sent now -- because it is paused, or because the worker
 * does not know yet (momo_pauses not read since it started, or since a
 * read failed after a commit changed the table).
 */
static bool
sending_paused(WorkerState *st, MomoProduct p)
{
	return !st->pauses_known || st->pause[p].paused;
}

/* Returns true if product p is not in use: all its credentials are unset. */
static bool
product_unused(const MomoConfig *cfg, MomoProduct p)
{
	return p != MOMO_COLLECTION && cfg->api_user == NULL && cfg->api_key == NULL &&
		cfg->subscription_key[0] == NULL;
}

/*
 * A product whose credentials are all unset is not in use, and the worker
 * claims none of its payments; but if payments of it wait (its settings
 * were removed while they were queued), that is a problem to tell.  Looked
 * for every UNUSED_CHECK_INTERVAL_MS and after each reload, in the caller's
 * transaction.
 */
static void
check_unused_products(WorkerState *st)
{
	TimestampTz now = GetCurrentTimestamp();
	char	   *names[MOMO_N_PRODUCTS];
	MomoProduct which[MOMO_N_PRODUCTS];
	bool		waiting[MOMO_N_PRODUCTS];
	int			n = 0;

	if (!TimestampDifferenceExceeds(st->unused_checked_at, now, UNUSED_CHECK_INTERVAL_MS))
		return;
	st->unused_checked_at = now;
	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
	{
		MomoConfig	cfg;

		momo_settings_resolve(&cfg, (MomoProduct) p);
		st->unused_waiting[p] = false;
		if (product_unused(&cfg, (MomoProduct) p))
		{
			names[n] = (char *) momo_product_names[p];
			which[n++] = (MomoProduct) p;
		}
	}
	momo_store_products_waiting(st->schema, names, n, waiting);
	for (int i = 0; i < n; i++)
	{
		MomoProduct p = which[i];
		const char *user;
		const char *key;
		const char *primary;
		const char *secondary;

		st->unused_waiting[p] = waiting[i];
		if (!waiting[i])
		{
			clear_problem(st, PROBLEM_PRODUCT(p));
			continue;
		}
		momo_settings_credential_names(p, &user, &key, &primary, &secondary);
		report_problem(st, PROBLEM_PRODUCT(p),
					   psprintf("%s payments are waiting, but no %s credentials are set",
								momo_product_names[p], momo_product_names[p]),
					   psprintf("Set %s, %s and %s (or their MOMO_ environment variables) and reload: the payments are sent then.",
								user, key, primary));
	}
}

/* Work done in a short transaction of the worker's own, see short_work. */
typedef void (*ShortWorkFn) (WorkerState *st, void *arg);

/*
 * Runs fn(st, arg) in a short transaction of its own (begin_work, end_work),
 * with its failures kept to itself: an ERROR is rolled back and logged as a
 * WARNING ("momo worker could not <what>: ...", with detail), and the
 * requests in flight go on.  Returns true if fn ran and its transaction
 * committed; false if it failed, or if the worker may not work now (then fn
 * does not run).
 */
static bool
short_work(WorkerState *st, ShortWorkFn fn, void *arg, const char *what, const char *detail)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool done = false;

	PG_TRY();
	{
		if (begin_work(st, cxt))
		{
			fn(st, arg);
			end_work(st, cxt);
			done = true;
		}
		else
			end_refused_work(cxt);
	}
	PG_CATCH();
	{
		ErrorData  *edata = abort_work(cxt);

		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("momo worker could not %s: %s", what, edata->message),
				 errdetail("%s", detail)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	return done;
}

/*
 * With momo.wait_for_standby, the trigger momo_payments_notify sends no
 * NOTIFY (it would tell of a final status that a failover to that standby
 * could lose): the worker sends them, for every final status that commits,
 * whoever wrote it (its own answers, momo_payment_status in a backend).  It
 * finds them in the change feed as it numbers it (collect_finals before, then
 * take_finals), and sends them once the standby has flushed WAL up to the
 * insert position read after the numbering, past the commits of all of them
 * (notify_finals).  A crash in between loses those notifications, as it
 * loses any NOTIFY a listener has not read: listeners re-read the rows when
 * they reconnect.
 */
static void
collect_finals(WorkerState *st)
{
	if (momo_wait_for_standby == NULL || momo_wait_for_standby[0] == '\0')
	{
		momo_changes_collect(NULL);
		return;
	}
	if (st->notify_cxt == NULL)
		st->notify_cxt = AllocSetContextCreate(TopMemoryContext, "momo notifications",
											   ALLOCSET_SMALL_SIZES);
	momo_changes_collect(st->notify_cxt);
}

/* After a numbering (see collect_finals): keeps what it found to tell. */
static void
take_finals(WorkerState *st)
{
	List	   *l = momo_changes_take_finals();
	MemoryContext old;

	if (l == NIL)
		return;
	old = MemoryContextSwitchTo(st->notify_cxt);
	st->to_notify = list_concat(st->to_notify, l);
	MemoryContextSwitchTo(old);
	st->notify_lsn = GetXLogInsertRecPtr();
}

/* short_work of notify_finals: the NOTIFY of each, sent at its commit. */
static void
notify_batch(WorkerState *st, void *arg pg_attribute_unused())
{
	ListCell   *lc;

	foreach(lc, st->to_notify)
	{
		MomoNumberedFinal *f = (MomoNumberedFinal *) lfirst(lc);

		/* As the trigger's json_build_object writes it; uuids and words only. */
		Async_Notify("momo_payments",
					 psprintf("{\"reference_id\" : \"%s\", \"status\" : \"%s\"}",
							  f->reference_id, f->status));
	}
}

/*
 * Sends the NOTIFYs that collect_finals kept, once WAL up to notify_lsn
 * would survive a failover under the configured mode (lsn_durable); looks
 * without waiting: the loop comes back within LATCH_POLL_MS while some wait.
 */
static void
notify_finals(WorkerState *st)
{
	const char *why;

	if (st->to_notify == NIL || !lsn_durable(st->notify_lsn, &why))
		return;
	if (short_work(st, notify_batch, NULL, "notify listeners of final statuses",
				   "It tries again shortly."))
	{
		st->to_notify = NIL;
		MemoryContextReset(st->notify_cxt);
	}
}

/* short_work of purge_events: one batch of each. */
static void
purge_batch(WorkerState *st, void *arg pg_attribute_unused())
{
	st->purging = (momo_store_purge_events(st->schema, PURGE_BATCH) == PURGE_BATCH);
	/* And the change feed's rows as old, numbered first (changes.c). */
	if (momo_changes_purge(st->nsp, st->schema, PURGE_BATCH) == PURGE_BATCH)
		st->purging = true;
}

/*
 * Purges events and changes of payments (the change feed's) older than
 * momo.event_retention, hourly: at most PURGE_BATCH of each per cycle, each
 * batch in a short transaction of its own that passes over events a
 * transaction holds (and numbers the changes first, see number_changes),
 * so that sending never waits for a purge.
 */
static void
purge_events(WorkerState *st)
{
	TimestampTz now = GetCurrentTimestamp();

	if (!st->purging && !TimestampDifferenceExceeds(st->purged_at, now, PURGE_INTERVAL_MS))
		return;
	if (st->schema == NULL)
		return;					/* not looked for yet */
	report_activity(st, "momo: purging old events");
	st->purging = false;
	collect_finals(st);		/* it numbers the change feed too */
	if (!short_work(st, purge_batch, NULL, "purge old events", "It tries again in an hour."))
		st->purging = false;
	take_finals(st);
	if (!st->purging)
		st->purged_at = now;
}

/* short_work of write_events. */
static void
events_batch(WorkerState *st, void *arg pg_attribute_unused())
{
	(void) momo_events_write_pending(st->schema);
}

/*
 * Writes to momo_events the exchanges of synchronous calls whose caller's
 * transaction aborted (handed over by events.c), in a short transaction of
 * its own.
 */
static void
write_events(WorkerState *st)
{
	if (st->schema == NULL || !momo_events_pending())
		return;
	(void) short_work(st, events_batch, NULL, "write the events of aborted calls",
					  "Those events are not in momo_events.");
}

/* short_work of number_changes: how many it numbered goes to *(int64 *) arg. */
static void
number_batch(WorkerState *st, void *arg)
{
	*(int64 *) arg = momo_changes_number(st->nsp, st->schema, FEED_NUMBER_BATCH);
}

/*
 * Numbers the committed changes of payments without a number (the change
 * feed, see changes.c), in a short transaction of its own: at once when a
 * poll asked for it (momo_changes waits for it), FEED_NUMBER_DELAY_MS after
 * changes were written (so that those of that time share one
 * transaction), and every momo.idle_interval in any case.  Only the worker
 * numbers: a transaction that an application holds open can hold up no
 * one's feed.  The polls that asked are told when it is done, or has
 * failed (they then read what is numbered).
 */
static void
number_changes(WorkerState *st)
{
	TimestampTz now = GetCurrentTimestamp();
	uint64		asked = momo_launcher_feed_asked();
	int64		numbered = 0;

	if (asked == st->feed_answered &&
		!(st->feed_dirty && TimestampDifferenceExceeds(st->numbered_at, now, FEED_NUMBER_DELAY_MS)) &&
		!TimestampDifferenceExceeds(st->numbered_at, now, momo_idle_interval_ms))
		return;
	if (st->schema != NULL)
	{
		report_activity(st, "momo: numbering changes of payments");
		collect_finals(st);
		if (!short_work(st, number_batch, &numbered, "number changes of payments",
						"It tries again within momo.idle_interval, or when a poll asks."))
			numbered = 0;
		take_finals(st);
	}

	/*
	 * Again after FEED_NUMBER_DELAY_MS when another transaction held the
	 * numbering (-1: not the worker's usual case, as only it numbers), at
	 * once after a full batch (more are waiting), else when changes are
	 * written, a poll asks, or momo.idle_interval has passed.
	 */
	st->numbered_at = (numbered == FEED_NUMBER_BATCH) ? 0 : now;
	st->feed_dirty = (numbered < 0 || numbered == FEED_NUMBER_BATCH);
	st->feed_answered = asked;
	momo_launcher_feed_numbered(asked);
}

/* Tells that no access token of product p comes (r, error: why). */
static void
report_token_problem(WorkerState *st, MomoProduct p, MomoTokenResult r, const char *error)
{
	report_problem(st, PROBLEM_PRODUCT(p),
				   psprintf("no %s access token: %s", momo_product_names[p],
							error ? error : "unknown"),
				   r == MOMO_TOKEN_TRANSIENT ? "The worker retries by itself." :
				   psprintf("Check the %s credentials: API user, API key and subscription keys.",
							momo_product_names[p]));
}

/*
 * The end of a token fetch in the background (momo_api_step, see
 * momo_api_background_tokens): with a token, the product's payments are
 * claimed at once; without, its problem is told as usable_products told
 * it when it fetched tokens itself, and the next claim (a second later, at
 * most) starts another fetch.
 */
static void
token_fetched(const MomoConfig *cfg, MomoTokenResult r, const char *error, void *arg)
{
	WorkerState *st = (WorkerState *) arg;
	TimestampTz now = GetCurrentTimestamp();

	if (r == MOMO_TOKEN_OK)
	{
		clear_problem(st, PROBLEM_PRODUCT(cfg->product));
		st->next_claim_at = 0;
		st->woken = true;		/* however little room: its payments wait */
		return;
	}
	if (r != MOMO_TOKEN_PENDING)
		report_token_problem(st, cfg->product, r, error);
	st->next_claim_at = Min(st->next_claim_at,
							TimestampTzPlusMilliseconds(now, Max(momo_retry_base_ms, 1000)));
}

/*
 * Finds the products the worker can serve now (resolving st->cfgs anew):
 * configured, with an access token.  A product whose credentials are all
 * absent is not in use (see check_unused_products); any other problem is
 * logged (once) and keeps that product's payments waiting.  A product
 * without a valid token is not usable until the token it starts fetching
 * in the background comes (token_fetched); a token due for refresh is used
 * while the new one is fetched.  Nothing here waits for MTN.  Returns how
 * many products are usable.
 */
static int
usable_products(WorkerState *st, char **names, bool *usable)
{
	int			n = 0;

	resolve_configs(st);
	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
	{
		MomoConfig *cfg = &st->cfgs[p];
		MomoConfigProblem pr;
		MomoTokenResult r;
		char	   *token;
		char	   *error;
		int			key;

		usable[p] = false;
		if (product_unused(cfg, (MomoProduct) p))
		{
			/* Not in use; check_unused_products tells if payments of it wait. */
			if (!st->unused_waiting[p])
				clear_problem(st, PROBLEM_PRODUCT(p));
			continue;
		}
		if (momo_settings_check(cfg, &pr))
		{
			report_problem(st, PROBLEM_PRODUCT(p), pr.message, pr.hint);
			continue;
		}
		r = momo_api_get_token(st->client, cfg, NULL, &token, &key, &error);
		if (r == MOMO_TOKEN_PENDING)
			continue;			/* see token_fetched; a problem told stays */
		if (r != MOMO_TOKEN_OK)
		{
			report_token_problem(st, (MomoProduct) p, r, error);
			continue;
		}
		clear_problem(st, PROBLEM_PRODUCT(p));
		usable[p] = true;
		names[n++] = (char *) momo_product_names[p];
	}
	return n;
}

/*
 * Whether the claim in st->undurable may be sent: once WAL up to its
 * commit is durable (lsn_durable), its jobs wait for slots; when that takes
 * longer than momo.wait_for_standby_timeout, nothing of it is sent, the
 * problem is reported, and claims wait a second.  Looks without waiting:
 * the loop comes back after st->durable_nap (1 ms at first, up to 10 ms;
 * the walsenders set no latch of the worker's).
 */
static void
check_durable(WorkerState *st)
{
	Claim	   *claim = st->undurable;
	const char *why = NULL;

	if (claim == NULL)
		return;
	if (lsn_durable(claim->lsn, &why))
	{
		clear_problem(st, PROBLEM_STANDBY);
		while (!dlist_is_empty(&st->claimed))
		{
			Job		   *job = dlist_container(Job, node, dlist_pop_head_node(&st->claimed));

			if (job->call.op == MOMO_OP_CREATE)
				dlist_push_tail(&st->waiting, &job->node);
			else
			{
				dlist_push_tail(&st->waiting_checks, &job->node);
				st->nwaiting_checks++;
			}
			st->nwaiting++;
		}
		st->undurable = NULL;
		return;
	}
	if (TimestampDifferenceExceeds(claim->committed_at, GetCurrentTimestamp(),
								   momo_wait_for_standby_timeout_ms))
	{
		report_problem(st, PROBLEM_STANDBY,
					   psprintf("payments are durable here but %s after %d ms: nothing of them is sent yet",
								why, momo_wait_for_standby_timeout_ms),
					   "The worker sends a payment only once a failover cannot lose it; it tries again by itself. "
					   "Look at pg_stat_replication and the standbys.");
		st->undurable = NULL;	/* freed with its last job */
		while (!dlist_is_empty(&st->claimed))
			release_job(st, dlist_container(Job, node, dlist_pop_head_node(&st->claimed)));
		st->next_claim_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														Max(momo_retry_base_ms, 1000));
		return;
	}
	st->durable_nap = Min(st->durable_nap * 2, 10);
}

/*
 * Tells listeners (momo_await sessions) about payments made final, once the
 * commit that did it is durable under the configured mode.  Looks without
 * waiting: the loop comes back within LATCH_POLL_MS while some are untold.
 */
static void
announce_finals(WorkerState *st)
{
	const char *why;

	if (XLogRecPtrIsInvalid(st->unannounced))
		return;
	if (lsn_durable(st->unannounced, &why))
	{
		st->unannounced = InvalidXLogRecPtr;
		momo_announce_final();
	}
}

/*
 * Done with a job (its answer recorded, or it is given up unsent: the row
 * is as the claim found it, due again): frees its claim's memory with the
 * claim's last job.
 */
static void
release_job(WorkerState *st, Job *job)
{
	Claim	   *claim = job->claim;

	st->njobs--;
	if (--claim->open == 0 && claim != st->undurable)
	{
		MemoryContextDelete(claim->cxt);
		pfree(claim);
	}
}

/*
 * Lists the payments that no claim may take: those cooling down, and those
 * the worker holds (claimed, waiting, in flight, or answered and not yet
 * recorded: the claim's locks went with its commit).  The array has room
 * for `extra` more.
 */
static int
held_refs(WorkerState *st, char ***refs, int extra)
{
	dlist_head *lists[5] = {&st->claimed, &st->waiting, &st->waiting_checks, &st->flying,
	&st->answered};
	int			n;

	*refs = palloc(sizeof(char *) * (MAX_COOLING + st->njobs + extra + 1));
	n = cooling_refs(st, *refs);
	for (int l = 0; l < (int) lengthof(lists); l++)
	{
		dlist_iter	it;

		dlist_foreach(it, lists[l])
			(*refs)[n++] = dlist_container(Job, node, it.cur)->pay->terms.reference_id;
	}
	return n;
}

/*
 * Records the answers gathered since the last flush, together in one short
 * transaction; should that fail, each in a transaction of its own, so one
 * bad row holds up no other (a payment whose answer cannot be recorded
 * cools down).  Unless `now` is true, answers wait for company: up to
 * FLUSH_ANSWERS of them, for at most FLUSH_DELAY_MS.  Then the payments
 * may be claimed again.
 */
static void
flush_answers(WorkerState *st, bool now)
{
	MomoRecord *recs;
	Job		  **jobs;
	int			n = 0;

	if (st->nanswered == 0)
		return;
	if (!now && st->nanswered < FLUSH_ANSWERS &&
		!TimestampDifferenceExceeds(st->first_answer_at, GetCurrentTimestamp(), FLUSH_DELAY_MS))
		return;
	recs = palloc(sizeof(MomoRecord) * st->nanswered);
	jobs = palloc(sizeof(Job *) * st->nanswered);
	while (!dlist_is_empty(&st->answered))
	{
		Job		   *job = dlist_container(Job, node, dlist_pop_head_node(&st->answered));

		jobs[n] = job;
		recs[n].payment = job->pay;
		recs[n].op = job->call.op;
		recs[n].answer = &job->call.answer;
		n++;
	}
	st->nanswered = 0;
	if (!record_answers(st, recs, n))
	{
		for (int i = 0; i < n; i++)
			if (n == 1 || !record_answers(st, &recs[i], 1))
				cool_down(st, recs[i].payment->terms.reference_id);
	}
	for (int i = 0; i < n; i++)
		release_job(st, jobs[i]);

	/*
	 * The rows just recorded may fall due again soon (a first status check,
	 * a retry): look then, and the claim finds out exactly when.
	 */
	st->next_claim_at = Min(st->next_claim_at,
							TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														Min(momo_poll_interval_min_ms, momo_retry_base_ms)));
}

/* Gives up the waiting calls of product p (its payment requests only, if sends_only), unsent. */
static void
drop_waiting(WorkerState *st, MomoProduct p, bool sends_only)
{
	dlist_head *lists[2] = {&st->waiting, &st->waiting_checks};

	for (int l = 0; l < (sends_only ? 1 : 2); l++)
	{
		dlist_mutable_iter it;

		dlist_foreach_modify(it, lists[l])
		{
			Job		   *job = dlist_container(Job, node, it.cur);

			if (job->product != p)
				continue;
			dlist_delete(&job->node);
			st->nwaiting--;
			if (job->call.op != MOMO_OP_CREATE)
				st->nwaiting_checks--;
			release_job(st, job);
		}
	}
}

/* short_work of see_pauses: writes the worker's own pauses, then reads momo_pauses. */
static void
sync_pauses(WorkerState *st, void *arg)
{
	SyncPauses *sync = (SyncPauses *) arg;
	char	   *schema = work_schema(st);

	sync->table = false;
	if (schema == NULL)
		return;
	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
		if (st->pause[p].unwritten)
			(void) momo_pause_write_automatic(st->nsp, schema, (MomoProduct) p, st->pause[p].reason);
	sync->table = momo_pause_read(st->nsp, schema, sync->cxt, sync->rows);
}

/*
 * Looks at momo_pauses again when a commit changed it (momo.c counts those
 * in shared memory, once they are visible), when the worker has a pause of
 * its own to write, and at the start: called before any payment request is
 * started (start_waiting) and at each turn of the loop, so that once a
 * pause has committed no payment request of its product leaves after the
 * worker's next look at its latch -- those claimed ahead included, which
 * are given up, unsent.  A product that gained a row is paused (logged as
 * the worker's problem), one that lost its row resumes.  A read that fails
 * leaves every product paused (the table changed, and how is not known)
 * and is tried again after momo.retry_base.
 */
static void
see_pauses(WorkerState *st)
{
	uint64		changes = momo_launcher_pause_changes();
	bool		to_write = false;
	SyncPauses	sync;

	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
		to_write |= st->pause[p].unwritten;
	to_write &= (!st->pauses_known || st->pauses_table);	/* momo 1.0 has no table */
	if (st->pauses_known && changes == st->pauses_seen && !to_write && !st->pauses_reread)
		return;
	if (st->pauses_failed_at != 0 &&
		!TimestampDifferenceExceeds(st->pauses_failed_at, GetCurrentTimestamp(), momo_retry_base_ms))
		return;

	memset(&sync, 0, sizeof(sync));	/* no schema (momo dropped): no row read */
	sync.cxt = CurrentMemoryContext;
	report_activity(st, "momo: reading the pauses");
	if (!short_work(st, sync_pauses, &sync, "read momo_pauses",
					"No payment request is sent until it can; the payments wait, queued."))
	{
		st->pauses_known = false;
		st->pauses_failed_at = GetCurrentTimestamp();
		for (int p = 0; p < MOMO_N_PRODUCTS; p++)
			drop_waiting(st, (MomoProduct) p, true);
		return;
	}
	st->pauses_known = true;
	st->pauses_table = sync.table;
	st->pauses_seen = changes;
	st->pauses_reread = false;
	st->pauses_failed_at = 0;
	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
	{
		Pause	   *ps = &st->pause[p];
		MomoPauseRow *row = &sync.rows[p];

		if (row->paused)
		{
			if (!ps->paused)
				drop_waiting(st, (MomoProduct) p, true);
			ps->paused = true;
			ps->unwritten = false;
			report_pause(st, (MomoProduct) p, momo_pause_describe(row, (MomoProduct) p), row->automatic);
		}
		else if (ps->unwritten)
		{
			/* Its own, not written: momo 1.0's schema has no momo_pauses. */
			drop_waiting(st, (MomoProduct) p, true);
			report_pause(st, (MomoProduct) p,
						 psprintf("sending %s payments is paused, automatically, until the next reload: %s",
								  momo_product_names[p], ps->reason), true);
		}
		else
			resume_sending(st, (MomoProduct) p, "its pause was ended (momo_resume)");
	}
}

/*
 * The final answer of a call (momo_api_step): kept for the next flush.  A
 * refusal of the merchant's configuration pauses sending of its product at
 * once (the requests in flight finish; see pause_sending).
 */
static void
keep_answer(MomoCall *call, MomoAnswer *answer, void *arg)
{
	WorkerState *st = (WorkerState *) arg;
	Job		   *job = (Job *) call->context;

	dlist_delete(&job->node);
	st->in_flight--;
	if (call->op == MOMO_OP_CREATE)
		st->sends_in_flight--;

	/*
	 * A payment with a callback URL of its own whose host MTN refuses: a
	 * refusal of that payment's URL, not of the merchant's configuration
	 * (momo.callback_url's host, momo_preflight's "callback host"): it
	 * fails, and sending goes on.
	 */
	if (answer->verdict == MOMO_MERCHANT_REFUSED && job->pay->terms.callback_url != NULL &&
		answer->reason != NULL && strcmp(answer->reason, "INVALID_CALLBACK_URL_HOST") == 0)
	{
		answer->verdict = MOMO_REJECTED;
		answer->error = psprintf("%s (the payment's own callback_url)", answer->error);
	}
	if (answer->given_back)
	{
		/* MTN processed nothing of it: unsent, as drop_waiting gives them up. */
		release_job(st, job);
		return;
	}
	if (st->nanswered == 0)
		st->first_answer_at = GetCurrentTimestamp();
	dlist_push_tail(&st->answered, &job->node);
	st->nanswered++;

	if (call->op == MOMO_OP_STATUS && st->checks_capped)
		st->next_claim_at = 0;	/* room for another status check */
	if (call->op == MOMO_OP_CREATE)
	{
		if (answer->verdict == MOMO_MERCHANT_REFUSED)
		{
			pause_sending(st, job->product, answer);
			drop_waiting(st, job->product, true);
		}
	}
}

/*
 * Whether call, answered 401 and waiting for a new token (api.c,
 * second_try), may be repeated: not a payment request whose product was
 * paused since it was started (see_pauses looks first), which is given back
 * unsent as those claimed ahead are (drop_waiting).  A status check may.
 */
static bool
may_repeat(MomoCall *call, void *arg)
{
	WorkerState *st = (WorkerState *) arg;
	Job		   *job = (Job *) call->context;

	if (call->op != MOMO_OP_CREATE)
		return true;
	see_pauses(st);
	return !sending_paused(st, job->product);
}

/* What recheck_waiting asks of look_sendable. */
typedef struct Sendable
{
	char	  **refs;			/* reference ids of the payment requests */
	int			n;				/* how many */
	bool	   *sendable;		/* set: each still queued with sends left */
} Sendable;

/* short_work of recheck_waiting (none is sendable once momo is gone). */
static void
look_sendable(WorkerState *st, void *arg)
{
	Sendable   *look = (Sendable *) arg;
	char	   *schema = work_schema(st);

	if (schema)
		momo_store_sendable(schema, look->refs, look->n, look->sendable);
}

/*
 * Payment requests claimed ahead wait in st->waiting after their claim's
 * commit released its row locks: meanwhile a transaction may have made one
 * final (marked it failed by hand, say) or removed it (DROP EXTENSION).
 * The first n of them, about to start because the first waited longer than
 * RECHECK_AFTER_MS (see needs_recheck), are looked at again in one short
 * read; those no longer queued with sends left are given up, unsent.  (A claim's
 * requests that start at once leave within the durability wait of its
 * commit, as they always did.)  A failure of the read gives them up too:
 * each is due again, and nothing in flight is disturbed.
 */
static void
recheck_waiting(WorkerState *st, int n)
{
	Job		  **jobs;
	Sendable	look;
	int			k = 0;
	dlist_iter	it;

	n = Max(1, Min(n, st->nwaiting - st->nwaiting_checks));
	jobs = palloc(sizeof(Job *) * n);
	look.refs = palloc(sizeof(char *) * n);
	look.sendable = palloc0(sizeof(bool) * n);
	dlist_foreach(it, &st->waiting)
	{
		if (k >= n)
			break;
		jobs[k] = dlist_container(Job, node, it.cur);
		look.refs[k] = jobs[k]->pay->terms.reference_id;
		k++;
	}
	look.n = k;

	report_activity(st, "momo: looking at payments about to be sent");
	if (!short_work(st, look_sendable, &look, "look at payments about to be sent",
					psprintf("%d payment requests claimed ahead are given up unsent, and due again.", k)))
		memset(look.sendable, 0, sizeof(bool) * k);

	for (int i = 0; i < k; i++)
	{
		jobs[i]->rechecked = true;
		if (look.sendable[i])
			continue;
		dlist_delete(&jobs[i]->node);
		st->nwaiting--;
		release_job(st, jobs[i]);
	}
}

/* Whether the next payment request to start must be looked at again first. */
static bool
needs_recheck(WorkerState *st)
{
	Job		   *job;

	if (st->nwaiting_checks > 0 || dlist_is_empty(&st->waiting))
		return false;
	job = dlist_head_element(Job, node, &st->waiting);
	return !job->rechecked &&
		TimestampDifferenceExceeds(job->claim->committed_at, GetCurrentTimestamp(), RECHECK_AFTER_MS);
}

/*
 * Starts waiting calls while slots are free: status checks first, then
 * payment requests in the order they were claimed.  (Checks are claimed only
 * for slots free at the claim, their share of them, see claim_due; payment
 * requests are also claimed ahead, to wait here for the next free slot.)  A
 * payment request of a product whose sending paused meanwhile is given up
 * (see_pauses looks first); a call that gets no access token is given up
 * too, and the product's problem reported.
 */
static void
start_waiting(WorkerState *st)
{
	while (st->nwaiting > 0 && st->in_flight < momo_max_in_flight)
	{
		bool		check = st->nwaiting_checks > 0;
		Job		   *job;
		char	   *error = NULL;
		MomoTokenResult r;

		if (needs_recheck(st))
		{
			/* Each pass looks at some of them: given up, or marked rechecked. */
			recheck_waiting(st, momo_max_in_flight - st->in_flight);
			continue;
		}
		job = dlist_container(Job, node, dlist_pop_head_node(check ? &st->waiting_checks : &st->waiting));
		st->nwaiting--;
		if (check)
			st->nwaiting_checks--;
		if (job->call.op == MOMO_OP_CREATE)
		{
			see_pauses(st);		/* a commit may have paused it meanwhile */
			if (sending_paused(st, job->product))
			{
				release_job(st, job);
				continue;
			}
		}
		r = momo_api_start(st->client, &job->call, momo_max_in_flight, &error);
		if (r != MOMO_TOKEN_OK)
		{
			/*
			 * Nothing of the product is sent: due again.  (Its token expired
			 * or was refused since the claim: a new one is on its way, see
			 * token_fetched.)
			 */
			if (r != MOMO_TOKEN_PENDING)
				report_problem(st, PROBLEM_PRODUCT(job->product),
							   psprintf("no %s access token: %s", momo_product_names[job->product],
										error ? error : "unknown"), NULL);
			drop_waiting(st, job->product, false);
			release_job(st, job);
			st->next_claim_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															Max(momo_retry_base_ms, 1000));
			continue;
		}
		dlist_push_tail(&st->flying, &job->node);
		st->in_flight++;
		if (job->call.op == MOMO_OP_CREATE)
			st->sends_in_flight++;
	}
}

/* Makes a job of each of n claimed payments, for the claim's durability check. */
static void
add_jobs(WorkerState *st, Claim *claim, MomoPayment *pays, int n, MomoOp op)
{
	for (int i = 0; i < n; i++)
	{
		Job		   *job = MemoryContextAllocZero(claim->cxt, sizeof(Job));
		MomoProduct p = momo_protocol_operation_product(pays[i].terms.operation);

		job->claim = claim;
		job->pay = &pays[i];
		job->product = p;
		job->call.op = op;
		job->call.terms = &pays[i].terms;
		job->call.context = job;
		job->call.cfg = &st->cfgs[p];
		job->call.cxt = claim->cxt;
		dlist_push_tail(&st->claimed, &job->node);
		claim->open++;
		st->njobs++;
	}
}

/*
 * Looks for due payments that the worker does not hold, in a short
 * read-only transaction (and tells about products whose settings were
 * removed while payments of them wait, see check_unused_products).  Returns
 * true if one is due; otherwise sets st->next_claim_at to when the next one
 * falls due (at most momo.idle_interval away).
 */
static bool
look_for_due(WorkerState *st, MemoryContext cxt)
{
	TimestampTz now = GetCurrentTimestamp();
	long		next_due = -1;
	char	   *schema;

	report_activity(st, "momo: looking for due payments");
	if (!begin_work(st, cxt))
	{
		end_refused_work(cxt);
		st->next_claim_at = TimestampTzPlusMilliseconds(now, momo_idle_interval_ms);
		return false;
	}
	schema = work_schema(st);
	if (st->schema)
		pfree(st->schema);
	st->schema = schema ? MemoryContextStrdup(TopMemoryContext, schema) : NULL;
	if (schema)
	{
		char	  **held;
		int			nheld = held_refs(st, &held, 0);

		next_due = momo_store_next_due_ms(schema, held, nheld);
		check_unused_products(st);
	}
	end_work(st, cxt);
	if (schema != NULL && next_due == 0)
		return true;
	st->next_claim_at = TimestampTzPlusMilliseconds(now, (next_due > 0) ?
													Min(Min(next_due, (long) momo_idle_interval_ms),
														cooling_ends_ms(st)) :
													Min((long) momo_idle_interval_ms, cooling_ends_ms(st)));
	return false;
}

/*
 * Claims up to limit due payments of the given products, to send or to
 * check, passing over the nheld named in held (to which they are added),
 * and makes jobs of them.  Returns how many it claimed.
 */
static int
claim_more(WorkerState *st, Claim *claim, const char *schema, bool send, int limit,
		   char **products, int nproducts, char **held, int *nheld)
{
	MomoPayment *pays;
	int			n;

	if (limit <= 0 || nproducts == 0)
		return 0;
	n = momo_store_claim(schema, send, limit, products, nproducts, held, *nheld, &pays);
	add_jobs(st, claim, pays, n, send ? MOMO_OP_CREATE : MOMO_OP_STATUS);
	for (int i = 0; i < n; i++)
		held[(*nheld)++] = pays[i].terms.reference_id;
	return n;
}

/*
 * How many more status checks may be in flight: at most three quarters of
 * momo.max_in_flight, so that slow or hung checks (MTN answering them late)
 * never take the slots a new payment needs to leave at once.
 */
static int
checks_room(WorkerState *st)
{
	int			checks_held = st->in_flight - st->sends_in_flight + st->nwaiting_checks;
	/* a quarter of the slots, at least one (unless there is only one) */
	int			for_sends = momo_max_in_flight >= 2 ? Max(1, momo_max_in_flight / 4) : 0;

	return Max(0, momo_max_in_flight - for_sends - checks_held);
}

/*
 * How many of `free` slots payment requests may take first: all but a
 * quarter, which status checks may take (and leave to payment requests if
 * none are due), so that a flood of new payments does not keep pending
 * ones from being checked; one slot goes to each in turn.
 */
static int
send_share(WorkerState *st, int free)
{
	if (free >= 2)
		return free - free / 4;
	st->checks_turn = !st->checks_turn;
	return st->checks_turn ? 0 : free;
}

/*
 * Claims due payments for the `free` slots, sends first, in one short
 * transaction: queued payments of the products that may send (most of the
 * slots, see send_share; none of a paused product, see sending_paused),
 * then status checks, as many as the budget shared with the backends allows
 * (momo_take_status_checks) and checks_room leaves, then payment requests
 * again for the slots left and ahead, up to `room` in all (see
 * CLAIM_AHEAD).  The claim locks them (FOR UPDATE SKIP LOCKED) and passes over those the
 * worker holds; its commit is flushed (ForceSyncCommit), and its jobs wait
 * for check_durable.  Sets st->next_claim_at: at once if the claim took all
 * it could, else when the next payment falls due (at most
 * momo.idle_interval away, sooner when a cooling down or the budget ends).
 */
static void
claim_due(WorkerState *st, int free, int room)
{
	MemoryContext cxt = CurrentMemoryContext;
	TimestampTz now = GetCurrentTimestamp();
	char	   *products[MOMO_N_PRODUCTS];
	bool		usable[MOMO_N_PRODUCTS];
	int			nproducts;
	char	   *senders[MOMO_N_PRODUCTS];
	int			nsenders = 0;
	char	  **held;
	int			nheld;
	int			limit = Min(room, momo_batch_size);
	int			for_slots = Min(free, limit);
	int			nsend = 0;
	int			ncheck = 0;
	int			checks_wanted = 0;
	int			checks_taken = 0;
	long		next_due = -1;
	long		wait_ms;
	Claim	   *claim;
	char	   *schema;

	/*
	 * Unless the last claim took all it could, look first (a cheap read):
	 * the access tokens are made sure of only when something is due.
	 */
	if (!st->backlog && !look_for_due(st, cxt))
		return;

	/* Nothing is claimed for a product unless it is configured and has a token. */
	nproducts = usable_products(st, products, usable);
	if (nproducts == 0)
	{
		st->next_claim_at = TimestampTzPlusMilliseconds(now, Max(momo_retry_base_ms, 1000));
		return;
	}
	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
		if (usable[p] && !sending_paused(st, (MomoProduct) p))
			senders[nsenders++] = (char *) momo_product_names[p];

	report_activity(st, "momo: claiming due payments");
	claim = MemoryContextAllocZero(st->jobs_cxt, sizeof(Claim));
	claim->cxt = AllocSetContextCreate(st->jobs_cxt, "momo claim", ALLOCSET_SMALL_SIZES);
	st->undurable = claim;		/* until it is committed, nothing of it is freed */
	if (!begin_work(st, claim->cxt))
	{
		end_refused_work(cxt);
		st->undurable = NULL;
		MemoryContextDelete(claim->cxt);
		pfree(claim);
		st->next_claim_at = TimestampTzPlusMilliseconds(now, momo_idle_interval_ms);
		return;
	}
	schema = work_schema(st);
	if (st->schema)
		pfree(st->schema);
	st->schema = schema ? MemoryContextStrdup(TopMemoryContext, schema) : NULL;
	if (schema)
	{
		check_unused_products(st);
		nheld = held_refs(st, &held, limit);
		nsend = claim_more(st, claim, schema, true, for_slots > 0 ? send_share(st, for_slots) : 0,
						   senders, nsenders, held, &nheld);
		/*
		 * Status checks: the share of the free slots that payment requests
		 * left, and under a backlog (no slot free: the requests claimed
		 * ahead take each as it frees) a quarter of the claim; they start
		 * before the requests claimed ahead, within checks_room.
		 */
		checks_wanted = Min(Max(for_slots - nsend, (limit - nsend) / 4),
							checks_room(st));
		st->checks_capped = (checks_wanted < for_slots - nsend);
		/* Each check comes out of the budget shared with every backend; one is left for them. */
		checks_taken = momo_take_status_checks(checks_wanted, 1, false);
		st->checks_unsent = checks_taken;
		ncheck = claim_more(st, claim, schema, false, checks_taken, products, nproducts,
							held, &nheld);
		momo_return_status_checks(checks_taken - ncheck);
		st->checks_unsent = ncheck;
		/* Slots the status checks left go to payment requests after all, and those ahead. */
		nsend += claim_more(st, claim, schema, true, limit - nsend - ncheck,
							senders, nsenders, held, &nheld);
		if (nsend + ncheck < limit)
			next_due = momo_store_next_due_ms(schema, held, nheld);
		if (nsend + ncheck > 0)
			ForceSyncCommit();	/* the claim locked rows: it has a commit record to flush */
	}
	end_work(st, cxt);
	st->checks_unsent = 0;		/* committed: they will be sent */
	claim->lsn = XactLastCommitEnd;
	claim->committed_at = GetCurrentTimestamp();
	if (claim->open == 0)
	{
		st->undurable = NULL;
		MemoryContextDelete(claim->cxt);
		pfree(claim);
	}
	else
		st->durable_nap = 1;

	/* When to look again. */
	st->backlog = (schema != NULL && nsend + ncheck >= limit);
	if (schema == NULL)
		wait_ms = momo_idle_interval_ms;
	else if (st->backlog)
		wait_ms = 0;			/* more may be due: as soon as slots are free */
	else if (next_due != 0)
		wait_ms = (next_due > 0) ? Min(next_due, (long) momo_idle_interval_ms) : momo_idle_interval_ms;
	else
	{
		/*
		 * Nothing due, or due payments that could not be claimed: a
		 * transaction of the application holds them, or their product is
		 * paused, or status checks wait for their budget.  Nothing says when
		 * a lock goes, so the worker looks again after momo.idle_interval
		 * (or when a commit wakes it: a resume does), and sooner when a
		 * cooling down or the budget ends.
		 */
		wait_ms = Min((long) momo_idle_interval_ms, cooling_ends_ms(st));
		if (next_due == 0 && momo_status_checks_per_second > 0 && checks_taken < checks_wanted)
			wait_ms = Min(wait_ms, Max(1000 / momo_status_checks_per_second, 10));
	}
	if (wait_ms > 0)
		wait_ms = Min(wait_ms, cooling_ends_ms(st));
	st->next_claim_at = TimestampTzPlusMilliseconds(now, wait_ms);
}

/*
 * claim_due, with its failures kept to itself: a claim that fails (a lock
 * on momo_payments held past the worker's lock_timeout by an ALTER TABLE or
 * a migration, say) is rolled back and nothing of it is sent, while the
 * requests already in flight go on and their answers are recorded.  Left to
 * the loop's own error handling, it would abandon them all, to be sent
 * again.  The claim is tried again after a pause.
 */
static void
try_claim_due(WorkerState *st, int free, int room)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		claim_due(st, free, room);
	}
	PG_CATCH();
	{
		ErrorData  *edata = abort_work(cxt);
		Claim	   *claim = st->undurable;

		/* None of its status checks is sent: the budget gets them back. */
		momo_return_status_checks(st->checks_unsent);
		st->checks_unsent = 0;

		/* The failed claim's payments: none is sent; each is due again. */
		if (claim != NULL)
		{
			st->undurable = NULL;
			if (dlist_is_empty(&st->claimed))
			{
				MemoryContextDelete(claim->cxt);
				pfree(claim);
			}
			else
				while (!dlist_is_empty(&st->claimed))
					release_job(st, dlist_container(Job, node, dlist_pop_head_node(&st->claimed)));
		}
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("momo worker could not claim due payments: %s", edata->message),
				 errdetail("The %d requests in flight go on; due payments are claimed again after a pause.",
						   st->in_flight)));
		FreeErrorData(edata);
		st->backlog = false;
		st->next_claim_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														Max(momo_retry_base_ms, 1000));
	}
	PG_END_TRY();
}

/* Milliseconds from now until t (0 if it has passed), at most LONG_MAX / 2. */
static long
ms_until(TimestampTz t, TimestampTz now)
{
	if (t <= now)
		return 0;
	return (long) Min((t - now) / 1000 + 1, (int64) (LONG_MAX / 2));
}

/* Shows what the worker does in pg_stat_activity (NULL: idle), when that changed. */
static void
report_activity(WorkerState *st, const char *activity)
{
	if (activity == NULL ? st->activity == NULL :
		(st->activity != NULL && strcmp(st->activity, activity) == 0))
		return;
	if (st->activity)
		pfree(st->activity);
	st->activity = activity ? MemoryContextStrdup(TopMemoryContext, activity) : NULL;
	pgstat_report_activity(activity ? STATE_RUNNING : STATE_IDLE, activity);
}

/* Shows the requests in flight in pg_stat_activity. */
static void
show_in_flight(WorkerState *st)
{
	if (st->in_flight > 0)
		report_activity(st, psprintf("momo: sending %d payment requests and %d status checks",
									 st->sends_in_flight, st->in_flight - st->sends_in_flight));
}

/*
 * Whether a claim may run with `room` for that many more jobs (see
 * claim_room).  A commit that woke the worker is claimed at once, however
 * little room there is, and so is anything due when nothing is in flight;
 * but room made one job at a time as answers come is filled half a window
 * at a time (half of momo.max_in_flight, at most momo.batch_size): each
 * claim is a transaction whose commit is flushed, and one per freed slot
 * cost a flush and a scan of the queue per payment (a backlog of 10,000
 * went at a twentieth of the rate of claiming in rounds).
 */
static bool
claim_now(WorkerState *st, int room)
{
	int			refill = Max(1, Min(momo_batch_size, momo_max_in_flight / 2));

	if (room <= 0 || st->undurable != NULL)
		return false;
	return st->woken || room >= refill || st->in_flight + st->nwaiting == 0;
}

/*
 * Slots free now, and room for more jobs: the slots, and CLAIM_AHEAD
 * payment requests claimed ahead to wait for the next free slot, so that a
 * backlog is claimed in fewer, larger claims while the slots stay full.
 */
static int
free_slots(WorkerState *st)
{
	return Max(0, momo_max_in_flight - st->in_flight - st->nwaiting);
}

static int
claim_room(WorkerState *st)
{
	return Max(0, momo_max_in_flight + CLAIM_AHEAD - st->in_flight - st->nwaiting);
}

/*
 * One turn of the loop: looks at the pauses if a commit changed them, tells
 * finals that are durable, starts the calls of a durable claim, claims due payments for free slots when a commit woke
 * the worker or more are due, then waits for answers (at most
 * LATCH_POLL_MS with requests in flight, so that the latch is looked at),
 * keeps them, and records them in small batches.  With nothing in flight or
 * waiting, it sleeps on the latch until the next claim is due.
 */
static void
pipeline_turn(WorkerState *st)
{
	TimestampTz now;
	long		wait_ms;

	if (MyLatch->is_set)
	{
		/* A commit (or a signal): due payments are looked for at once. */
		ResetLatch(MyLatch);
		st->next_claim_at = 0;
		st->woken = true;
		st->feed_dirty = true;	/* and its changes are numbered */
	}
	see_pauses(st);				/* a commit may have paused or resumed sending */
	announce_finals(st);
	notify_finals(st);
	check_durable(st);
	start_waiting(st);

	now = GetCurrentTimestamp();
	if (claim_now(st, claim_room(st)) && now >= st->next_claim_at)
	{
		st->woken = false;
		try_claim_due(st, free_slots(st), claim_room(st));
		check_durable(st);
		start_waiting(st);
	}
	purge_events(st);
	write_events(st);
	number_changes(st);
	show_in_flight(st);

	/* How long the loop may wait now. */
	now = GetCurrentTimestamp();
	wait_ms = (st->undurable != NULL) ? st->durable_nap :
		(claim_now(st, claim_room(st)) ? ms_until(st->next_claim_at, now) : LONG_MAX / 2);
	if (st->nanswered > 0)
		wait_ms = Min(wait_ms, ms_until(TimestampTzPlusMilliseconds(st->first_answer_at, FLUSH_DELAY_MS), now));
	if (!XLogRecPtrIsInvalid(st->unannounced) || st->to_notify != NIL || st->purging)
		wait_ms = Min(wait_ms, LATCH_POLL_MS);
	/* And when the change feed is to be numbered (number_changes). */
	wait_ms = Min(wait_ms,
				  ms_until(TimestampTzPlusMilliseconds(st->numbered_at,
													   st->feed_dirty ? FEED_NUMBER_DELAY_MS :
													   momo_idle_interval_ms), now));

	if (st->in_flight > 0 || momo_api_fetching_tokens() > 0)
	{
		(void) momo_api_step(st->client, Min(wait_ms, LATCH_POLL_MS), momo_max_in_flight,
							 keep_answer, st);
		CHECK_FOR_INTERRUPTS();
		flush_answers(st, st->in_flight == 0);
	}
	else if (wait_ms > 0 && st->undurable == NULL && st->nwaiting == 0 && !MyLatch->is_set)
	{
		/* Table statistics feed autovacuum, which must see the worker's updates. */
		pgstat_report_stat(true);
		report_activity(st, NULL);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(wait_ms, (long) momo_idle_interval_ms),
						 momo_wait_event(MOMO_WAIT_IDLE));
	}
	else if (wait_ms > 0 && st->undurable != NULL)
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, momo_wait_event(MOMO_WAIT_DURABLE));
	pgstat_report_stat(false);
}

/*
 * Resolves every product's configuration into st->cfgs (the calls in flight
 * point there), after a reload and at each claim.
 */
static void
resolve_configs(WorkerState *st)
{
	MemoryContext old = MemoryContextSwitchTo(st->cfg_cxt);

	MemoryContextReset(st->cfg_cxt);
	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
		momo_settings_resolve(&st->cfgs[p], (MomoProduct) p);
	MemoryContextSwitchTo(old);
}

/* A reload: the new configuration's problems, if any, are found and told anew. */
static void
reload_config(WorkerState *st)
{
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	resolve_configs(st);
	momo_launcher_publish_conf_loaded();
	unpublish_problems();
	st->unused_checked_at = 0;	/* and products just unset are looked at */
	st->pauses_reread = true;	/* and the pauses told again */

	/*
	 * The worker's own pauses are in momo_pauses, until momo_resume; but a
	 * schema of momo 1.0 (not updated yet) has no such table, and there a
	 * reload, which may fix the configuration MTN refused, ends them.
	 */
	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
		if (st->pause[p].unwritten && st->pauses_known && !st->pauses_table)
			resume_sending(st, (MomoProduct) p, "the configuration was reloaded");
}

/*
 * After an ERROR: the requests in flight are abandoned and every claimed
 * payment given up, unrecorded.  Nothing is lost: a claim writes nothing,
 * so each of them is due again, and is sent with the same reference id.
 */
static void
forget_jobs(WorkerState *st)
{
	momo_api_abandon(st->client);	/* and the token fetches */
	MemoryContextReset(st->jobs_cxt);
	dlist_init(&st->claimed);
	dlist_init(&st->waiting);
	dlist_init(&st->waiting_checks);
	dlist_init(&st->flying);
	dlist_init(&st->answered);
	st->undurable = NULL;
	st->nwaiting = st->nwaiting_checks = st->in_flight = st->sends_in_flight = 0;
	st->nanswered = st->njobs = 0;
	report_activity(st, NULL);
}

/*
 * The worker's commits are asynchronous unless it makes them durable (the
 * claim, final statuses).  synchronous_commit is pinned "off" at session
 * level only, so that its value before any SET stays what the server is
 * configured for (momo_durable_apply reads it); pinned again each turn in
 * case a trigger's deferred code set it at a commit.
 */
static void
pin_synchronous_commit(void)
{
	if (synchronous_commit != SYNCHRONOUS_COMMIT_OFF)
		SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_SESSION);
}

/*
 * Settings that ALTER DATABASE/ROLE ... SET could have given this session
 * are overridden: no schema but pg_catalog (and the unused pg_temp) is
 * searched for functions, operators, types or tables, nothing makes the
 * worker's transactions read-only, serializable (so waiting for a safe
 * snapshot) or triggerless, no statement or idle transaction is cut short,
 * and no lock is waited for longer than WORKER_LOCK_TIMEOUT.  See the file
 * header for synchronous_commit.
 */
static void
pin_session_settings(void)
{
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_deferrable", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("session_replication_role", "origin", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("row_security", "on", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	/* Short statements on few rows (see steer_to_indexes): never worth compiling. */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("lock_timeout", WORKER_LOCK_TIMEOUT, PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("idle_in_transaction_session_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	pin_synchronous_commit();
}

/*
 * MTN speaks UTF-8, and the worker builds its requests outside transactions,
 * where PostgreSQL converts text from the database's encoding only to the
 * client encoding (whose conversion it looked up beforehand): the worker,
 * which has no client, makes UTF-8 its client encoding, in a transaction.
 * Without this a database in any other encoding than UTF-8 (or SQL_ASCII)
 * could send no payment at all.
 */
static void
use_utf8_as_client_encoding(void)
{
	StartTransactionCommand();
	if (PrepareClientEncoding(PG_UTF8) < 0 || SetClientEncoding(PG_UTF8) < 0)
		ereport(FATAL,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("momo worker cannot convert text from encoding \"%s\" to UTF8",
						GetDatabaseEncodingName()),
				 errhint("MTN's API takes UTF-8: create the database in an encoding PostgreSQL converts to UTF-8.")));
	CommitTransactionCommand();
}

/* Entry point of the momo background worker of one database (started by launcher.c). */
void
momo_worker_main(Datum arg)
{
	WorkerState st;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/*
	 * Connected, the settings ALTER DATABASE/ROLE ... SET gave this session
	 * are in force (InitPostgres applies them after its own transaction,
	 * which it runs in read committed); they are overridden before any
	 * transaction of ours, the look at pg_extension in
	 * momo_launcher_attach included: otherwise a database's owner could
	 * make it wait for a safe snapshot (serializable, read only,
	 * deferrable) for as long as any serializable transaction stays open,
	 * holding a slot of the launcher's.
	 */
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(arg), InvalidOid, 0);
	pin_session_settings();
	momo_launcher_attach(arg);	/* exits unless momo is installed there */
	momo_launcher_publish_conf_loaded();
	use_utf8_as_client_encoding();
	momo_in_worker = true;
	pgstat_report_appname("momo worker");

	memset(&st, 0, sizeof(st));
	st.cycle_cxt = AllocSetContextCreate(TopMemoryContext, "momo worker turn",
										 ALLOCSET_DEFAULT_SIZES);
	st.jobs_cxt = AllocSetContextCreate(TopMemoryContext, "momo worker claims",
										ALLOCSET_DEFAULT_SIZES);
	st.cfg_cxt = AllocSetContextCreate(TopMemoryContext, "momo worker settings",
									   ALLOCSET_SMALL_SIZES);
	dlist_init(&st.claimed);
	dlist_init(&st.waiting);
	dlist_init(&st.waiting_checks);
	dlist_init(&st.flying);
	dlist_init(&st.answered);
	resolve_configs(&st);
	st.client = momo_http_client();
	momo_api_background_tokens(token_fetched, may_repeat);

	for (;;)
	{
		bool		failed = false;

		if (ConfigReloadPending)
			reload_config(&st);
		pin_synchronous_commit();
		MemoryContextSwitchTo(st.cycle_cxt);
		MemoryContextReset(st.cycle_cxt);
		PG_TRY();
		{
			/* Inside: a cancel is an ERROR like any other (SIGTERM still exits). */
			CHECK_FOR_INTERRUPTS();
			if (st.njobs == 0 && momo_launcher_extension_gone())
			{
				ereport(LOG,
						(errmsg("momo worker exits: momo is no longer installed in this database")));
				proc_exit(0);
			}
			pipeline_turn(&st);
		}
		PG_CATCH();
		{
			/* Log and carry on: every claimed row comes due again by itself. */
			MemoryContextSwitchTo(TopMemoryContext);
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
			forget_jobs(&st);
			failed = true;
		}
		PG_END_TRY();
		MemoryContextSwitchTo(TopMemoryContext);
		if (failed)
		{
			pgstat_report_stat(true);
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 Max(momo_retry_base_ms, 1000), momo_wait_event(MOMO_WAIT_IDLE));
			ResetLatch(MyLatch);
			st.next_claim_at = 0;
		}
	}
}
