/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The momo background worker.  Each cycle it claims due payments (and
 *	  commits the claim before any request leaves), sends queued requests
 *	  and status checks concurrently through one libcurl multi handle, one
 *	  exchange per product, and records the answers as they arrive, in short
 *	  transactions of their own (answers that arrive together share one).
 *	  It purges old events hourly, in short batches of their own.  No
 *	  statement of its waits long for a lock.  It sleeps on its latch
 *	  until a payment commits or the next one falls due, reloads settings on
 *	  SIGHUP, exits on SIGTERM, and never runs on a standby.
 *
 *	  Nothing is sent before it is durable: the claim is committed and
 *	  flushed, and confirmed by the synchronous standbys (and by the standby
 *	  named in momo.wait_for_standby) before any request leaves; its commit
 *	  record comes after the commits of the payments it claims, so this
 *	  covers the requesters' own commits, however asynchronous.  The waits
 *	  are bounded: when one passes, nothing of that claim is sent, the worker
 *	  says why, and tries again later.
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
#include "executor/spi.h"
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
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "api.h"
#include "momo.h"
#include "owner.h"
#include "settings.h"
#include "spi_util.h"
#include "store.h"
#include "version.h"

/* Answers recorded together, and how long the first of them may wait. */
#define FLUSH_ANSWERS 128
#define FLUSH_DELAY_MS 20

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
#define PROBLEM_PAUSED(p) (2 + MOMO_N_PRODUCTS + (p))	/* MTN refuses the merchant */
#define N_PROBLEMS (2 + 2 * MOMO_N_PRODUCTS)

/* Sending of one product paused, because MTN refuses the merchant's configuration. */
typedef struct Pause
{
	bool		paused;
	uint32		config_hash;	/* of the configuration MTN refused */
	long		probe_ms;		/* pause before the next probe (doubles) */
	TimestampTz probe_at;		/* when one payment may be sent to find out */
} Pause;

typedef struct WorkerState
{
	MemoryContext cycle_cxt;
	Oid			save_userid;	/* the connection's user, outside transactions */
	int			save_sec_context;
	int			guc_nestlevel;	/* of the transaction's settings, see begin_work */
	MomoHttpClient *client;
	char	   *schema;			/* of the extension, for this cycle */
	char	   *problems[N_PROBLEMS];	/* see report_problem */
	int			checks_taken;	/* status checks taken from the shared budget this cycle */
	MomoRecord *answers;		/* answers not yet recorded */
	int			nanswers;
	TimestampTz first_answer_at;	/* when the oldest of them came */
	XLogRecPtr	unannounced;	/* end of the last commit that made payments
								 * final, until the standbys have it */
	Pause		pause[MOMO_N_PRODUCTS];	/* see sends_allowed */
	const MomoConfig *exchange_cfg; /* of the exchange in progress */
	bool		probing;		/* its one request is a probe */
	bool		stop_exchange;	/* send no further call of it */
	TimestampTz unused_checked_at;	/* see check_unused_products */
	bool		unused_waiting[MOMO_N_PRODUCTS];
	TimestampTz purged_at;		/* when a purge of old events last ended */
	bool		purging;		/* events are left to purge now */
	Cooling		cooling[MAX_COOLING];	/* see cool_down */
	int			ncooling;
	char		schema_version[NAMEDATALEN];	/* of the installed schema, as
												 * last seen ("" at first) */
} WorkerState;

/* Unpublishes the worker's latch when it exits. */
static void
worker_exit(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	if (momo_shared->worker_pid == MyProcPid)
	{
		momo_shared->worker_pid = 0;
		momo_shared->worker_latch = NULL;
		momo_shared->worker_problem[0] = '\0';
	}
	LWLockRelease(momo_shared->lock);
}

/* Publishes the worker's problems ("" for none) in shared memory. */
static void
publish_problems(WorkerState *st)
{
	char		all[MOMO_PROBLEM_LEN];

	all[0] = '\0';
	for (int i = 0; i < N_PROBLEMS; i++)
		if (st->problems[i])
		{
			if (all[0])
				strlcat(all, "; ", sizeof(all));
			strlcat(all, st->problems[i], sizeof(all));
		}
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	strlcpy(momo_shared->worker_problem, all, sizeof(momo_shared->worker_problem));
	LWLockRelease(momo_shared->lock);
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
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	momo_shared->worker_problem[0] = '\0';
	LWLockRelease(momo_shared->lock);
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
	if (OidIsValid(*nsp))
		note_schema_version(st, version);
	if (!OidIsValid(*nsp))
		return InvalidOid;
	return get_relname_relid("momo_payments", *nsp);
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
	problem = momo_owner_table_problem(rel, owner, nsp);
	if (problem)
	{
		report_problem(st, PROBLEM_OWNER, problem,
					   "momo_payments must be owned by momo_worker (an ordinary role), without FORCE ROW LEVEL SECURITY, and every other trigger on it must be SECURITY DEFINER, owned by the application, with SET search_path; see the README, \"Security model\".");
		return false;
	}
	if (OidIsValid(owner))
		SetUserIdAndSecContext(owner, st->save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
	clear_problem(st, PROBLEM_OWNER);
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
static bool
named_standby_has(XLogRecPtr lsn, bool *connected)
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
		!named_standby_has(lsn, &connected))
	{
		*why = psprintf(connected ? "standby \"%s\" (momo.wait_for_standby) has not flushed them" :
						"standby \"%s\" (momo.wait_for_standby) is not connected",
						momo_wait_for_standby);
		return false;
	}
	return true;
}

/*
 * Waits, at most momo.wait_for_standby_timeout, until WAL up to lsn is
 * durable (lsn_durable).  Returns true if it is; otherwise reports the
 * problem and returns false.  The wait polls shared memory (the walsenders
 * set no latch of the worker's), sleeping on the latch 1 ms at first, up to
 * 10 ms; interrupts and reloads are served meanwhile.
 */
static bool
wait_durable(WorkerState *st, XLogRecPtr lsn)
{
	TimestampTz start = GetCurrentTimestamp();
	const char *why = NULL;
	long		nap = 1;
	bool		woken = false;

	while (!lsn_durable(lsn, &why))
	{
		int			rc;

		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), momo_wait_for_standby_timeout_ms))
		{
			report_problem(st, PROBLEM_STANDBY,
						   psprintf("payments are durable here but %s after %d ms: nothing of them is sent yet",
									why, momo_wait_for_standby_timeout_ms),
						   "The worker sends a payment only once a failover cannot lose it; it tries again by itself. "
						   "Look at pg_stat_replication and the standbys.");
			if (woken)
				SetLatch(MyLatch);
			return false;
		}
		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, nap,
					   momo_wait_event(MOMO_WAIT_DURABLE));
		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			woken = true;		/* a commit to serve: set again below */
		}
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		nap = Min(nap * 2, 10);
	}
	if (woken)
		SetLatch(MyLatch);
	clear_problem(st, PROBLEM_STANDBY);
	return true;
}

/*
 * Tells listeners (momo_await sessions) about payments made final, once the
 * commit that did it is durable under the configured mode; waits at most
 * wait_ms for that (0: only looks).
 */
static void
announce_finals(WorkerState *st, long wait_ms)
{
	const char *why;

	if (XLogRecPtrIsInvalid(st->unannounced))
		return;
	if (wait_ms > 0 ? wait_durable(st, st->unannounced) : lsn_durable(st->unannounced, &why))
	{
		st->unannounced = InvalidXLogRecPtr;
		momo_announce_final();
	}
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
			elog(ERROR, "momo worker acts as no superuser");
		finals = momo_store_record_batch(st->schema, recs, n, true);
		/* A final status is committed durably, and only then told (see announce_finals). */
		if (finals > 0)
			momo_commit_durably();
		end_work(st, cxt);
		if (finals > 0)
		{
			st->unannounced = XactLastCommitEnd;
			announce_finals(st, 0);
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

/* Sending of product p goes on: MTN no longer refuses it, or its configuration changed. */
static void
resume_sending(WorkerState *st, MomoProduct p, const char *why)
{
	if (!st->pause[p].paused)
		return;
	st->pause[p].paused = false;
	ereport(LOG,
			(errmsg("momo worker is sending %s payments again: %s", momo_product_names[p], why)));
	clear_problem(st, PROBLEM_PAUSED(p));
}

/*
 * MTN refused a request of product p for the merchant's configuration (the
 * target environment, the callback host, the subscription: answers.c): no
 * other request would fare better, and the refusal says nothing about the
 * payment.  Sending of p pauses -- nothing failed, nothing more sent, the
 * payments wait queued -- and the alarm is raised, until sends_allowed lets
 * it go on.
 */
static void
pause_sending(WorkerState *st, MomoProduct p, const MomoAnswer *a)
{
	Pause	   *ps = &st->pause[p];

	if (!ps->paused)
	{
		ps->paused = true;
		ps->config_hash = momo_settings_hash(st->exchange_cfg);
		ps->probe_ms = momo_retry_base_ms;
		ps->probe_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ps->probe_ms);
	}
	report_problem(st, PROBLEM_PAUSED(p),
				   psprintf("MTN refuses %s requests for the merchant's configuration (%s): sending them is paused, and no payment is failed for it",
							momo_product_names[p], a->reason ? a->reason : "refused"),
				   "Check momo.target_environment, momo.callback_url (its host must be the one registered for the API user) "
				   "and the subscription in MTN's portal.  Sending resumes by itself at a reload that changes the "
				   "configuration, or once MTN takes one payment sent to find out (after a pause that doubles up to momo.retry_max).");
}

/*
 * The decision to pause, in one place: how many payment requests of product
 * p the worker may send now -- limit; 0 while sending of p is paused
 * (pause_sending); or 1, a probe, once the pause before the next probe is
 * over.  A changed configuration of p ends the pause.
 */
static int
sends_allowed(WorkerState *st, MomoProduct p, const MomoConfig *cfg, int limit)
{
	Pause	   *ps = &st->pause[p];

	if (!ps->paused)
		return limit;
	if (momo_settings_hash(cfg) != ps->config_hash)
	{
		resume_sending(st, p, "its configuration changed");
		return limit;
	}
	if (GetCurrentTimestamp() < ps->probe_at)
		return 0;
	return Min(limit, 1);
}

/* Milliseconds until the next probe of a paused product (at least 10), or LONG_MAX. */
static long
probe_due_ms(WorkerState *st)
{
	TimestampTz now = GetCurrentTimestamp();
	long		ms = LONG_MAX;

	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
		if (st->pause[p].paused)
			ms = Min(ms, Max((long) ((st->pause[p].probe_at - now) / 1000), 10L));
	return ms;
}

/*
 * Exchange flush callback: records the answers gathered since the last
 * flush, together in one short transaction; should that fail, each in a
 * transaction of its own, so one bad row holds up no other.  Until the end
 * of the exchange, answers wait for company: up to FLUSH_ANSWERS of them, for
 * at most FLUSH_DELAY_MS.
 */
static bool
flush_answers(void *arg, bool final)
{
	WorkerState *st = (WorkerState *) arg;

	if (st->nanswers == 0)
		return st->stop_exchange;
	if (!final && st->nanswers < FLUSH_ANSWERS && !st->stop_exchange &&
		!TimestampDifferenceExceeds(st->first_answer_at, GetCurrentTimestamp(), FLUSH_DELAY_MS))
		return false;
	if (!record_answers(st, st->answers, st->nanswers))
	{
		for (int i = 0; i < st->nanswers; i++)
			if (st->nanswers == 1 || !record_answers(st, &st->answers[i], 1))
				cool_down(st, st->answers[i].payment->terms.reference_id);
	}
	st->nanswers = 0;
	return st->stop_exchange;
}

/* Exchange callback: keeps an answer for the next flush. */
static void
keep_answer(MomoCall *call, MomoAnswer *answer, void *arg)
{
	WorkerState *st = (WorkerState *) arg;
	MomoRecord *r;

	if (st->nanswers == 0)
		st->first_answer_at = GetCurrentTimestamp();
	r = &st->answers[st->nanswers++];

	r->payment = (MomoPayment *) call->context;
	r->op = call->op;
	r->answer = answer;

	if (call->op == MOMO_OP_CREATE)
	{
		MomoProduct p = momo_protocol_operation_product(call->terms->operation);

		if (answer->verdict == MOMO_MERCHANT_REFUSED)
		{
			pause_sending(st, p, answer);
			st->stop_exchange = true;
		}
		else if (st->probing &&
				 (answer->verdict == MOMO_ACCEPTED || answer->verdict == MOMO_REJECTED))
			resume_sending(st, p, "MTN took a payment sent to find out");
	}
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

/*
 * Purges events older than momo.event_retention, hourly: at most PURGE_BATCH
 * of them per cycle, each batch in a short transaction of its own that passes
 * over events a transaction holds, so that sending never waits for a purge.
 */
static void
purge_events(WorkerState *st)
{
	MemoryContext cxt = CurrentMemoryContext;
	TimestampTz now = GetCurrentTimestamp();

	if (!st->purging && !TimestampDifferenceExceeds(st->purged_at, now, PURGE_INTERVAL_MS))
		return;
	pgstat_report_activity(STATE_RUNNING, "momo: purging old events");
	st->purging = false;
	PG_TRY();
	{
		if (begin_work(st, cxt))
		{
			st->purging = (momo_store_purge_events(st->schema, PURGE_BATCH) == PURGE_BATCH);
			end_work(st, cxt);
		}
		else
			end_refused_work(cxt);
	}
	PG_CATCH();
	{
		ErrorData  *edata = abort_work(cxt);

		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("momo worker could not purge old events: %s", edata->message),
				 errdetail("It tries again in an hour.")));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	if (!st->purging)
		st->purged_at = now;
}

/*
 * Takes status checks for this cycle from the budget shared with every
 * backend (momo_take_status_checks); what the claim does not use goes back.
 */
static int
check_budget(WorkerState *st)
{
	st->checks_taken = momo_take_status_checks(momo_batch_size, 1);
	return st->checks_taken;
}

/*
 * Finds the products the worker can serve now: configured, with an access
 * token.  A product whose credentials are all absent is not in use (see
 * check_unused_products); any other problem is logged (once) and keeps that
 * product's payments waiting.  Returns how many products are usable.
 */
static int
usable_products(WorkerState *st, MomoConfig *cfgs, char **names, bool *usable)
{
	int			n = 0;

	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
	{
		MomoConfig *cfg = &cfgs[p];
		MomoConfigProblem pr;
		MomoTokenResult r;
		char	   *token;
		char	   *error;
		int			key;

		usable[p] = false;
		momo_settings_resolve(cfg, (MomoProduct) p);
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
		if (r != MOMO_TOKEN_OK)
		{
			report_problem(st, PROBLEM_PRODUCT(p),
						   psprintf("no %s access token: %s", momo_product_names[p],
									error ? error : "unknown"),
						   r == MOMO_TOKEN_TRANSIENT ? "The worker retries by itself." :
						   psprintf("Check the %s credentials: API user, API key and subscription keys.",
									momo_product_names[p]));
			continue;
		}
		clear_problem(st, PROBLEM_PRODUCT(p));
		usable[p] = true;
		names[n++] = (char *) momo_product_names[p];
	}
	return n;
}

/*
 * Runs one cycle.  Returns how long to sleep before the next one: 0 when
 * more work may be due at once.
 */
static long
run_cycle(WorkerState *st)
{
	MemoryContext cxt = st->cycle_cxt;
	MomoConfig	cfgs[MOMO_N_PRODUCTS];
	char	   *products[MOMO_N_PRODUCTS];
	bool		usable[MOMO_N_PRODUCTS];
	int			nproducts;
	char	   *senders[MOMO_N_PRODUCTS];
	int			nsenders = 0;
	bool		probing[MOMO_N_PRODUCTS];
	MomoPayment *to_send = NULL;
	MomoPayment *to_check = NULL;
	MomoCall   *calls;
	int			nsend = 0;
	int			ncheck = 0;
	int			ncalls;
	long		next_due = -1;
	char	   *skip[MAX_COOLING];
	int			nskip;

	announce_finals(st, 0);
	pgstat_report_activity(STATE_RUNNING, "momo: looking for due payments");
	if (!begin_work(st, cxt))
	{
		end_refused_work(cxt);
		return momo_idle_interval_ms;
	}
	st->schema = momo_store_extension_schema();
	if (st->schema)
	{
		next_due = momo_store_next_due_ms(st->schema);
		check_unused_products(st);
	}
	end_work(st, cxt);
	if (st->schema == NULL)
		return momo_idle_interval_ms;
	purge_events(st);
	if (next_due != 0)
	{
		/* Nothing is due: sleep until something is, or momo.idle_interval. */
		if (st->purging)
			return 0;			/* purge the next batch at once */
		return (next_due > 0) ? Min(next_due, (long) momo_idle_interval_ms) : momo_idle_interval_ms;
	}

	/* Nothing is claimed for a product unless it is configured and has a token. */
	nproducts = usable_products(st, cfgs, products, usable);
	if (nproducts == 0)
		return Max(momo_retry_base_ms, 1000);
	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
	{
		probing[p] = false;
		if (!usable[p])
			continue;
		if (sends_allowed(st, (MomoProduct) p, &cfgs[p], momo_batch_size) == 0)
			continue;
		if (st->pause[p].paused)
			probing[p] = true;	/* still paused: one request, a probe */
		else
			senders[nsenders++] = (char *) momo_product_names[p];
	}

	pgstat_report_activity(STATE_RUNNING, "momo: claiming due payments");
	if (!begin_work(st, cxt))
	{
		end_refused_work(cxt);
		return momo_idle_interval_ms;
	}
	nskip = cooling_refs(st, skip);
	if (nsenders > 0)
		nsend = momo_store_claim(st->schema, true, momo_batch_size, senders, nsenders,
								 skip, nskip, &to_send);
	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
	{
		MomoPayment *probe;
		char	   *name = (char *) momo_product_names[p];

		if (!probing[p])
			continue;
		/* A paused product: one payment, sent to find out whether MTN still refuses. */
		probing[p] = momo_store_claim(st->schema, true, 1, &name, 1, skip, nskip, &probe) == 1;
		if (!probing[p])
			continue;
		to_send = to_send ? repalloc(to_send, sizeof(MomoPayment) * (nsend + 1)) :
			MemoryContextAlloc(cxt, sizeof(MomoPayment));
		to_send[nsend++] = *probe;
		st->pause[p].probe_ms = Min(st->pause[p].probe_ms * 2, (long) momo_retry_max_ms);
		st->pause[p].probe_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															st->pause[p].probe_ms);
	}
	ncheck = momo_store_claim(st->schema, false, check_budget(st), products, nproducts,
							  skip, nskip, &to_check);
	if (nsend + ncheck > 0)
		ForceSyncCommit();		/* the claim locked rows: it has a commit record to flush */
	end_work(st, cxt);
	if (nsend + ncheck == 0)
	{
		/*
		 * Payments are due but none could be claimed: a transaction of the
		 * application holds them, or they cool down, or their product is
		 * paused, or status checks wait for their budget.  Nothing says when a lock goes, so the worker
		 * looks again after momo.idle_interval (or when a commit wakes it),
		 * and sooner when a pause or the budget ends.
		 */
		long		sleep_ms = Min(Min((long) momo_idle_interval_ms, cooling_ends_ms(st)),
								   probe_due_ms(st));

		momo_return_status_checks(st->checks_taken);
		if (momo_status_checks_per_second > 0 && st->checks_taken == 0)
			sleep_ms = Min(sleep_ms, Max(1000 / momo_status_checks_per_second, 10));
		return sleep_ms;
	}
	momo_return_status_checks(st->checks_taken - ncheck);

	/*
	 * Nothing leaves before the claimed rows would survive a crash or a
	 * failover: the claim's commit record comes after the commits that made
	 * them visible (the requesters', however asynchronous), so once it is
	 * flushed and confirmed, they are too.
	 */
	pgstat_report_activity(STATE_RUNNING,
						   psprintf("momo: waiting until %d payments are durable", nsend + ncheck));
	if (!wait_durable(st, XactLastCommitEnd))
		return Max(momo_retry_base_ms, 1000);

	pgstat_report_activity(STATE_RUNNING,
						   psprintf("momo: sending %d payment requests and %d status checks", nsend, ncheck));
	calls = palloc0(sizeof(MomoCall) * (nsend + ncheck));
	st->answers = palloc(sizeof(MomoRecord) * (nsend + ncheck));

	/* One exchange per product: each has its own credentials and token. */
	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
	{
		char	   *error = NULL;
		MomoTokenResult r;

		ncalls = 0;
		for (int i = 0; i < nsend + ncheck; i++)
		{
			MomoPayment *pay = (i < nsend) ? &to_send[i] : &to_check[i - nsend];

			if (momo_protocol_operation_product(pay->terms.operation) != (MomoProduct) p)
				continue;
			calls[ncalls].op = (i < nsend) ? MOMO_OP_CREATE : MOMO_OP_STATUS;
			calls[ncalls].terms = &pay->terms;
			calls[ncalls].context = pay;
			ncalls++;
		}
		if (ncalls == 0)
			continue;
		st->nanswers = 0;
		st->exchange_cfg = &cfgs[p];
		st->probing = probing[p];
		st->stop_exchange = false;
		r = momo_api_exchange(st->client, &cfgs[p], calls, ncalls, momo_max_in_flight,
							  keep_answer, flush_answers, st, &error);
		st->probing = false;
		if (r != MOMO_TOKEN_OK)
		{
			/* Nothing was sent: due again at once. */
			report_problem(st, PROBLEM_PRODUCT(p),
						   psprintf("no %s access token: %s", momo_product_names[p],
									error ? error : "unknown"), NULL);
			return Max(momo_retry_base_ms, 1000);
		}
	}
	announce_finals(st, momo_wait_for_standby_timeout_ms);
	return 0;
}

/*
 * The worker's commits are asynchronous unless it makes them durable (the
 * claim, final statuses).  synchronous_commit is pinned "off" at session
 * level only, so that its value before any SET stays what the server is
 * configured for (momo_durable_apply reads it); pinned again each cycle in
 * case a trigger's deferred code set it at a commit.
 */
static void
pin_synchronous_commit(void)
{
	if (synchronous_commit != SYNCHRONOUS_COMMIT_OFF)
		SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_SESSION);
}

/* Entry point of the momo background worker. */
void
momo_worker_main(Datum arg pg_attribute_unused())
{
	WorkerState st;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(momo_database_name, NULL, 0);
	momo_in_worker = true;
	pgstat_report_appname("momo worker");

	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	momo_shared->worker_pid = MyProcPid;
	momo_shared->worker_latch = MyLatch;
	LWLockRelease(momo_shared->lock);
	before_shmem_exit(worker_exit, (Datum) 0);

	/*
	 * Settings that ALTER DATABASE/ROLE ... SET could have given this
	 * session are overridden: no schema but pg_catalog (and the unused
	 * pg_temp) is searched for functions, operators, types or tables,
	 * nothing makes the worker's transactions read-only, serializable or
	 * triggerless, and no lock is waited for longer than
	 * WORKER_LOCK_TIMEOUT.  See the file header for synchronous_commit.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("session_replication_role", "origin", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("row_security", "on", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("lock_timeout", WORKER_LOCK_TIMEOUT, PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("idle_in_transaction_session_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	pin_synchronous_commit();

	memset(&st, 0, sizeof(st));
	st.cycle_cxt = AllocSetContextCreate(TopMemoryContext, "momo worker cycle",
										 ALLOCSET_DEFAULT_SIZES);
	st.client = momo_http_client();

	ereport(LOG, (errmsg("momo worker started in database \"%s\"", momo_database_name)));

	for (;;)
	{
		long		sleep_ms = 0;

		ResetLatch(MyLatch);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			/* A new configuration: its problems, if any, are found and told anew. */
			unpublish_problems();
			st.unused_checked_at = 0;	/* and products just unset are looked at */
		}

		pin_synchronous_commit();
		MemoryContextSwitchTo(st.cycle_cxt);
		MemoryContextReset(st.cycle_cxt);
		PG_TRY();
		{
			/* Inside: a cancel between cycles is an ERROR like any other (SIGTERM still exits). */
			CHECK_FOR_INTERRUPTS();
			sleep_ms = run_cycle(&st);
		}
		PG_CATCH();
		{
			/* Log and carry on: every claimed row comes due again by itself. */
			MemoryContextSwitchTo(TopMemoryContext);
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
			sleep_ms = Max(momo_retry_base_ms, 1000);
		}
		PG_END_TRY();
		MemoryContextSwitchTo(TopMemoryContext);

		/* Table statistics feed autovacuum, which must see the worker's updates. */
		pgstat_report_stat(sleep_ms > 0);
		if (sleep_ms > 0)
		{
			pgstat_report_activity(STATE_IDLE, NULL);
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 sleep_ms, momo_wait_event(MOMO_WAIT_IDLE));
		}
	}
}
