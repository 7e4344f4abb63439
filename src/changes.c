/*-------------------------------------------------------------------------
 *
 * changes.c
 *	  The change feed.  A trigger on momo_payments writes a row to
 *	  momo_payment_changes for every status a payment takes (queued when it
 *	  is inserted, then each change of status), whoever writes it: momo's
 *	  functions, the worker's batches, a status check after a callback.  The
 *	  row has no number yet.  The worker numbers the rows that have
 *	  committed (momo_changes_number); momo_changes(after, max_rows) returns
 *	  those numbered after "after" of the payments its caller may see.
 *
 *	  Why numbers are given after the commit, by one numberer at a time: a
 *	  number taken while the change is written (nextval) is not in commit
 *	  order -- a transaction that took 10 can commit after one that took 11,
 *	  and a poller that saw 11 and moved on would never see 10.  Here the
 *	  numberer first locks the one row of momo_change_numbering, which keeps
 *	  the last number handed out (the lock held to the end of its
 *	  transaction), then, with a snapshot taken after the lock, gives the
 *	  committed rows without a number the numbers after it, in the order they
 *	  were written, and raises the row to the last of them.  So the numbering
 *	  transactions run one after the other, each handing out numbers larger
 *	  than all before it; PostgreSQL releases a transaction's locks only
 *	  after its commit is visible to every snapshot, so a snapshot that sees
 *	  a number sees every smaller one; and a change that commits later, or
 *	  whose numbering rolls back (the row with it), is numbered by a later
 *	  numberer, above every number handed out before.  A poller that moves
 *	  its position to the last number it was given never passes over a
 *	  change.
 *
 *	  Why a row and not a sequence (as before): nextval locks a sequence
 *	  before it checks privileges, to the end of the caller's transaction, so
 *	  any role could hold the numbering up with a refused nextval; and
 *	  setval() by a member of pg_write_all_data set the numbers back below
 *	  where pollers stood, who then passed over the changes numbered there.
 *	  Only momo writes the row (momo_writer_guard), its lock is a row lock
 *	  that only a role allowed to update it can take, and it is never lowered.
 *	  Nor is it derived from the numbers kept: the changes and the horizon
 *	  may be deleted (a DBA's cleanup), and numbering again from below would
 *	  hide what follows from every poller.  The row is made at the first
 *	  numbering, and again, from the largest number kept or purged, if it is
 *	  gone; and the numberer never hands out a number at or below the largest
 *	  kept or purged, even when the row is behind them (a restore).
 *
 *	  Why only the worker numbers, in short transactions of its own: the
 *	  lock is held to the end of the numbering transaction, and a numbering
 *	  done in a transaction its caller controls (as momo_changes once did)
 *	  is held as long as that caller likes -- one tenant that polls and then
 *	  sits idle in its transaction, or PREPAREs it (the lock then survives a
 *	  restart), would stop every tenant's feed.  Nor can a lock be released
 *	  before its transaction ends without breaking the argument above.  So
 *	  momo_changes only reads: when it finds committed changes without a
 *	  number, it asks the worker to number them at once (momo_feed_ask, which
 *	  sets the worker's latch) and waits for its commit, at most
 *	  FEED_WAIT_MS, then reads what is numbered; a call thus returns every
 *	  change committed before it began, unless the worker is stuck.  The
 *	  worker also numbers, without being asked, FEED_NUMBER_DELAY_MS after a
 *	  commit that wrote payments wakes it or after it recorded answers, and
 *	  every momo.idle_interval in any case (see number_changes in worker.c).
 *	  A transaction does not see its own changes in the feed until it has
 *	  committed and they are numbered.

 *	  Rows older than momo.event_retention are purged with the event log by
 *	  the worker (which numbers first, in the same transaction: no row goes
 *	  unnumbered), and the
 *	  highest number purged is kept in momo_change_horizon: a poller whose
 *	  position is below it gets an ERROR, never a silent gap.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/condition_variable.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "changes.h"
#include "momo.h"
#include "owner.h"
#include "settings.h"
#include "spi_util.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(momo_payments_change);
PG_FUNCTION_INFO_V1(momo_changes);

/* Columns of momo_changes' result, and of the statements that build it. */
#define Natts_change			7
#define Anum_change_seq			1

/* The horizon statement's columns: purged_through, then one array per change column. */
#define Anum_batch_purged		1
#define Anum_batch_seqs			2

/* Batches a call of momo_changes reads at most, each of up to max_rows changes. */
#define SCAN_BATCHES 10

/*
 * How long momo_changes waits at most for the worker to number the
 * committed changes it found without a number (normally a few
 * milliseconds: see worker.c, number_changes).
 */
#define FEED_WAIT_MS 2000

/* The trigger's insert, prepared once per schema and kept. */
static SPIPlanPtr insert_plan = NULL;
static char *insert_schema = NULL;

/* The trigger's insert, and the types of its parameters. */
#define CHANGE_INSERT "INSERT INTO %s.momo_payment_changes (reference_id, status, reason) VALUES ($1, $2, $3)"
static Oid	change_types[3] = {UUIDOID, TEXTOID, TEXTOID};

/* How many calls of the trigger are running its kept insert (see there). */
static int	change_nesting = 0;

/* The numbering's statements (see momo_changes_number), likewise. */
static SPIPlanPtr mark_plan = NULL;		/* locks and reads the last number */
static char *mark_schema = NULL;
static SPIPlanPtr number_plan = NULL;	/* numbers, and raises the last number */
static char *number_schema = NULL;

/*
 * The final statuses numbered since momo_changes_take_finals last took them
 * (each a MomoNumberedFinal), kept in finals_cxt while momo_changes_collect
 * has set one: the worker announces them itself with momo.wait_for_standby.
 */
static MemoryContext finals_cxt = NULL;
static List *numbered_finals = NIL;

/*
 * Prepares sql, a statement of schema, and keeps it in *plan, in place of
 * the one kept for *plan_schema (freed).  Only once it is prepared is it
 * kept: a failure leaves nothing kept.
 */
static void
keep_schema_plan(SPIPlanPtr *plan, char **plan_schema, const char *schema, const char *sql,
				 int nargs, Oid *types)
{
	SPIPlanPtr	prepared;

	if (*plan)
	{
		SPI_freeplan(*plan);
		*plan = NULL;
		pfree(*plan_schema);
		*plan_schema = NULL;
	}
	prepared = momo_spi_prepare_kept(sql, nargs, types, 0);
	*plan_schema = MemoryContextStrdup(TopMemoryContext, schema);
	*plan = prepared;
}

/*
 * momo_payments_change(): AFTER INSERT and AFTER UPDATE OF status (when it
 * changes) on momo_payments, FOR EACH ROW: writes the new status to
 * momo_payment_changes, without a number.  In C because it runs for every
 * payment the worker records.
 */
Datum
momo_payments_change(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	row;
	char	   *schema;
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	bool		isnull;
	volatile int rc;			/* set in PG_TRY */

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || TRIGGER_FIRED_BY_DELETE(td->tg_event))
		elog(ERROR, "momo_payments_change must be an AFTER INSERT or UPDATE ... FOR EACH ROW trigger");
	desc = RelationGetDescr(td->tg_relation);
	row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	values[0] = heap_getattr(row, SPI_fnumber(desc, "reference_id"), desc, &isnull);
	values[1] = heap_getattr(row, SPI_fnumber(desc, "status"), desc, &isnull);
	values[2] = heap_getattr(row, SPI_fnumber(desc, "reason"), desc, &isnull);
	if (isnull)
		nulls[2] = 'n';

	schema = get_namespace_name(RelationGetNamespace(td->tg_relation));
	if (schema == NULL)
		elog(ERROR, "schema %u of momo_payments does not exist", RelationGetNamespace(td->tg_relation));
	schema = (char *) quote_identifier(schema);
	momo_spi_connect();
	if (insert_plan != NULL && strcmp(insert_schema, schema) != 0 && change_nesting > 0)
	{
		/*
		 * Called from within its own insert (a trigger on the feed table
		 * writing a payment of another schema): the kept statement the
		 * outer call is running must not be freed, so this one runs its own
		 * once.
		 */
		rc = SPI_execute_with_args(psprintf(CHANGE_INSERT, schema), 3, change_types, values, nulls,
								   false, 0);
	}
	else
	{
		if (insert_plan == NULL || strcmp(insert_schema, schema) != 0)
			keep_schema_plan(&insert_plan, &insert_schema, schema, psprintf(CHANGE_INSERT, schema),
							 3, change_types);
		change_nesting++;
		PG_TRY();
		{
			rc = SPI_execute_plan(insert_plan, values, nulls, false, 0);
		}
		PG_FINALLY();
		{
			change_nesting--;
		}
		PG_END_TRY();
	}
	momo_spi_check(rc, SPI_OK_INSERT, "writing a payment's change of status");
	SPI_finish();


	/*
	 * The worker numbers it once it has committed: its commit wakes the
	 * worker (the worker notes its own changes itself).
	 */
	if (!momo_in_worker)
		momo_wake_worker_at_commit();
	return PointerGetDatum(NULL);
}

/* What lock_numbering found. */
typedef enum NumberingLock
{
	NUMBERING_LOCKED,			/* the row is this transaction's */
	NUMBERING_BUSY,				/* another transaction holds the row */
	NUMBERING_NOTHING			/* no row, and no change to number */
} NumberingLock;

/*
 * The largest number kept or purged, as two arguments of GREATEST; each %s
 * is the quoted schema.
 */
#define LARGEST_KEPT \
	"(SELECT pg_catalog.max(c.seq) FROM %s.momo_payment_changes c)," \
	" (SELECT pg_catalog.max(h.purged_through) FROM %s.momo_change_horizon h)"

/*
 * Locks the row of momo_change_numbering and returns the last number handed
 * out in *last: the row's, or a larger number kept or purged if there is one
 * (a restore into a database whose row was behind the restored changes
 * failed to load its own row, and every numbering after it failed on a
 * duplicate number, for good).  Makes the row if there is none (the first
 * numbering, or a DBA deleted it), from the largest number kept or purged --
 * but only when there are committed changes to number: a pg_restore creates
 * the extension (and wakes its worker) before it loads the row it dumped,
 * and a row made in between would make the dumped one fail (a duplicate
 * key) and the numbers start again below the restored ones.  The changes it
 * restores come after the row (momo_payment_changes, and the trigger's rows
 * of momo_payments, sort after momo_change_numbering).  Waits for nothing
 * but a row being made by another numberer (within the worker's
 * lock_timeout).
 */
static NumberingLock
lock_numbering(const char *schema, int64 *last)
{
	int			rc;
	bool		isnull;
	bool		busy;

	if (mark_plan == NULL || strcmp(mark_schema, schema) != 0)
		keep_schema_plan(&mark_plan, &mark_schema, schema,
						 psprintf("SELECT GREATEST(n.numbered_through, " LARGEST_KEPT ")"
								  "  FROM %s.momo_change_numbering n FOR UPDATE OF n SKIP LOCKED",
								  schema, schema, schema),
						 0, NULL);
	rc = SPI_execute_plan(mark_plan, NULL, NULL, false, 0);
	momo_spi_check(rc, SPI_OK_SELECT, "locking the numbering of changes of payments");
	if (SPI_processed == 0)
	{
		/* No row, or one that another transaction holds (then leave it). */
		rc = SPI_execute(psprintf("SELECT EXISTS (SELECT FROM %s.momo_change_numbering)", schema),
						 false, 0);
		momo_spi_check(rc, SPI_OK_SELECT, "looking for the numbering of changes of payments");
		busy = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		SPI_freetuptable(SPI_tuptable);
		if (busy)
			return NUMBERING_BUSY;
		/* one made at once by another numberer: ON CONFLICT waits for it, then leaves it */
		rc = SPI_execute(psprintf("INSERT INTO %s.momo_change_numbering (numbered_through)"
								  " SELECT GREATEST(" LARGEST_KEPT ", 0::pg_catalog.int8)"
								  "  WHERE EXISTS (SELECT FROM %s.momo_payment_changes u WHERE u.seq IS NULL)"
								  " ON CONFLICT (one) DO NOTHING"
								  " RETURNING numbered_through",
								  schema, schema, schema, schema),
						 false, 0);
		momo_spi_check(rc, SPI_OK_INSERT_RETURNING, "starting the numbering of changes of payments");
		if (SPI_processed == 0)
			return NUMBERING_NOTHING;
	}
	*last = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		elog(ERROR, "momo_change_numbering holds no number");
	SPI_freetuptable(SPI_tuptable);
	return NUMBERING_LOCKED;
}

/*
 * Numbers at most limit committed changes that have no number yet, in the
 * order they were written, if no other transaction is numbering (see the
 * top of this file); the lock is held to the end of the transaction, which
 * must be one of the worker's own, short ones.  Returns how many it
 * numbered, or -1 if another transaction holds the lock.  SPI must be
 * connected, as the owner of momo's tables; nsp is the schema, schema its
 * quoted name.
 */
int64
momo_changes_number(Oid nsp, const char *schema, int limit)
{
	Oid			types[2] = {INT4OID, INT8OID};
	Datum		values[2];
	int64		last;
	int			rc;

	if (!OidIsValid(get_relname_relid("momo_change_numbering", nsp)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("schema %s has no table momo_change_numbering", schema)));
	switch (lock_numbering(schema, &last))
	{
		case NUMBERING_LOCKED:
			break;
		case NUMBERING_BUSY:
			return -1;
		case NUMBERING_NOTHING:
			return 0;
	}

	/*
	 * A statement after the lock: its snapshot sees every numbering that
	 * committed before.  The numbers follow the last one, in id order; the
	 * row is raised to the last of them in the same statement.  Rows are
	 * matched by ctid: ids are not unique (a pg_restore of momo_payments
	 * fires the trigger before the id sequence is restored), and no one
	 * else updates a row without a number.  Prepared once per schema and
	 * kept: the worker numbers every few milliseconds while payments flow.
	 */
	if (number_plan == NULL || strcmp(number_schema, schema) != 0)
		keep_schema_plan(&number_plan, &number_schema, schema,
						 psprintf("WITH u AS ("
								  "  SELECT s.ctid AS row, $2 OPERATOR(pg_catalog.+) pg_catalog.row_number() OVER (ORDER BY s.id) AS seq"
								  "    FROM (SELECT ctid, id FROM %s.momo_payment_changes"
								  "           WHERE seq IS NULL ORDER BY id LIMIT $1) s),"
								  " n AS ("
								  "  UPDATE %s.momo_payment_changes c SET seq = u.seq FROM u"
								  "   WHERE c.ctid OPERATOR(pg_catalog.=) u.row"
								  "  RETURNING c.seq, c.reference_id, c.status),"
								  " m AS ("
								  "  UPDATE %s.momo_change_numbering SET numbered_through = (SELECT pg_catalog.max(n.seq) FROM n)"
								  "   WHERE EXISTS (SELECT FROM n))"
								  " SELECT n.reference_id::pg_catalog.text, n.status FROM n ORDER BY n.seq",
								  schema, schema, schema),
						 2, types);
	values[0] = Int32GetDatum(limit);
	values[1] = Int64GetDatum(last);
	rc = SPI_execute_plan(number_plan, values, NULL, false, 0);
	momo_spi_check(rc, SPI_OK_SELECT, "numbering changes of payments");
	if (finals_cxt != NULL)
	{
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			char	   *status = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);
			MemoryContext old;
			MomoNumberedFinal *f;

			if (status == NULL || (strcmp(status, "successful") != 0 && strcmp(status, "failed") != 0))
				continue;
			old = MemoryContextSwitchTo(finals_cxt);
			f = palloc(sizeof(MomoNumberedFinal));
			f->reference_id = pstrdup(SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1));
			f->status = pstrdup(status);
			numbered_finals = lappend(numbered_finals, f);
			MemoryContextSwitchTo(old);
		}
	}
	{
		int64		numbered = (int64) SPI_processed;

		SPI_freetuptable(SPI_tuptable);
		return numbered;
	}
}

/*
 * From now on, momo_changes_number keeps the final statuses it numbers in
 * cxt (NULL: no more), for momo_changes_take_finals.  The worker's, with
 * momo.wait_for_standby: the trigger momo_payments_notify leaves their
 * NOTIFY to it.
 */
void
momo_changes_collect(MemoryContext cxt)
{
	finals_cxt = cxt;
	if (cxt == NULL)
		numbered_finals = NIL;	/* freed with the context */
}

/*
 * The final statuses numbered since the last call (a List of
 * MomoNumberedFinal, in finals_cxt), in the order they were written; the
 * caller owns them.  A numbering that rolled back leaves its rows here too:
 * they are committed, and announced once more when numbered again.
 */
List *
momo_changes_take_finals(void)
{
	List	   *l = numbered_finals;

	numbered_finals = NIL;
	return l;
}

/*
 * Numbers what has no number yet, then deletes at most limit numbered
 * changes older than momo.event_retention, and notes the highest number
 * deleted in momo_change_horizon (its one row, made at the first purge), in
 * one statement (a poller that reads the rows sees the horizon that goes
 * with them).  Rows are matched by ctid, as in momo_changes_number: a row
 * without a number must never go.  Returns how many rows it numbered or
 * deleted, whichever is more: the worker comes back while that is limit.
 * Nothing in a schema without the change feed (momo 1.0).
 */
uint64
momo_changes_purge(Oid nsp, const char *schema, int limit)
{
	int64		numbered;
	int			rc;
	uint64		deleted;

	/* A schema of 1.0, not updated yet, has no change feed. */
	if (!OidIsValid(get_relname_relid("momo_change_horizon", nsp)))
		return 0;
	numbered = momo_changes_number(nsp, schema, limit);

	rc = SPI_execute(psprintf("WITH d AS ("
							  "  DELETE FROM %s.momo_payment_changes c USING"
							  "   (SELECT ctid AS row FROM %s.momo_payment_changes"
							  "     WHERE seq IS NOT NULL"
							  "       AND changed_at < pg_catalog.now() - pg_catalog.make_interval(secs => %d)"
							  "     LIMIT %d) o"
							  "  WHERE c.ctid = o.row"
							  "  RETURNING c.seq),"
							  " m AS (SELECT pg_catalog.max(d.seq) AS seq, pg_catalog.count(*) AS n FROM d),"
							  " h AS ("
							  "  INSERT INTO %s.momo_change_horizon AS h (purged_through)"
							  "  SELECT m.seq FROM m WHERE m.seq IS NOT NULL"
							  "  ON CONFLICT (one) DO UPDATE"
							  "  SET purged_through = GREATEST(h.purged_through, EXCLUDED.purged_through))"
							  " SELECT m.n FROM m",
							  schema, schema, momo_event_retention_s, limit, schema),
					 false, 0);
	momo_spi_check(rc, SPI_OK_SELECT, "purging old changes of payments");
	{
		bool		isnull;

		deleted = (uint64) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
														1, &isnull));
	}
	return Max(deleted, (uint64) Max(numbered, 0));
}

/*
 * Runs the statement that keeps, of a batch of changes (arrays: numbers,
 * reference ids, statuses, reasons, times), those of the payments caller
 * may see, as caller.
 */
static void
see_as_caller(Oid caller, const char *sql, Datum *values)
{
	Oid			types[5] = {INT8ARRAYOID, UUIDARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID};
	Oid			save_userid;
	int			save_sec_context;
	volatile int rc = 0;

	momo_owner_as_caller(caller, &save_userid, &save_sec_context);
	PG_TRY();
	{
		rc = SPI_execute_with_args(sql, 5, types, values, NULL, false, 0);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
	momo_spi_check(rc, SPI_OK_SELECT, "reading the caller's changes of payments");
}

/*
 * When committed changes without a number are there (or changes of this
 * transaction, which the worker cannot see: it then has nothing to do),
 * asks the worker to number them now and waits until it has committed, at
 * most FEED_WAIT_MS.  Takes no lock that the worker's numbering waits for,
 * and nothing of it outlasts the call: a caller that keeps its transaction
 * open, or prepares it, holds up no one's feed.  SPI must be connected, as
 * the owner of momo's tables.
 */
static void
wait_for_numbering(const char *schema)
{
	uint64		ticket;
	TimestampTz until;
	int			rc;
	bool		isnull;

	rc = SPI_execute(psprintf("SELECT EXISTS (SELECT FROM %s.momo_payment_changes WHERE seq IS NULL)",
							  schema), false, 1);
	momo_spi_check(rc, SPI_OK_SELECT, "looking for changes of payments without a number");
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		return;
	ticket = momo_feed_ask();
	if (ticket == 0)
		return;					/* no worker: what is numbered is all there is */
	until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), FEED_WAIT_MS);
	ConditionVariablePrepareToSleep(&momo_shared->feed_cv);
	while (!momo_feed_numbered(ticket))
	{
		long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until);

		if (left <= 0 ||
			ConditionVariableTimedSleep(&momo_shared->feed_cv, left, momo_wait_event(MOMO_WAIT_FEED)))
			break;				/* the worker is busy: what is numbered now */
	}
	ConditionVariableCancelSleep();
}

/*
 * momo_changes(after, max_rows): has the worker number the committed
 * changes without a number (wait_for_numbering), then returns the
 * changes numbered after "after", in order, of the payments the caller may
 * see (SELECT on the whole row of momo_payments, under its row-level
 * security), at most max_rows of them.  Changes of payments the caller may
 * not see are passed over; when the last of those read comes after the last
 * change returned, a last row carries only its number (every other column
 * NULL), so that the caller moves its position past them and does not read
 * them again (unless max_rows changes were returned: at most max_rows rows
 * in all).  At most SCAN_BATCHES batches are read per call.
 */
Datum
momo_changes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MomoActing	a;
	int64		after;
	int32		max_rows;
	int64		last_read;
	int64		last_returned;
	int			returned = 0;
	char	   *read_sql;
	char	   *see_sql;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("after must not be null"),
				 momo_validate_column("after"),
				 errhint("Pass 0 for every change kept, or the number of the last change you have.")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("max_rows must not be null"),
				 momo_validate_column("max_rows")));
	after = PG_GETARG_INT64(0);
	max_rows = PG_GETARG_INT32(1);
	if (after < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("after must be zero or more, not " INT64_FORMAT, after),
				 momo_validate_column("after")));
	if (max_rows < 1 || max_rows > 100000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be between 1 and 100000, not %d", max_rows),
				 momo_validate_column("max_rows")));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("momo_changes cannot run at isolation level %s",
						XactIsoLevel == XACT_SERIALIZABLE ? "SERIALIZABLE" : "REPEATABLE READ"),
				 errdetail("Its snapshot, taken when the transaction began, would not see the changes numbered since."),
				 errhint("Call momo_changes in a READ COMMITTED transaction.")));

	InitMaterializedSRF(fcinfo, 0);
	momo_owner_enter(fcinfo, &a);
	wait_for_numbering(a.schema);

	/*
	 * Read as the owner, in one statement with the horizon, so that a purge
	 * cannot come between the two.
	 */
	read_sql = psprintf("SELECT (SELECT COALESCE(pg_catalog.max(h.purged_through), 0::pg_catalog.int8) FROM %s.momo_change_horizon h),"
						" pg_catalog.array_agg(c.seq ORDER BY c.seq), pg_catalog.array_agg(c.reference_id ORDER BY c.seq),"
						" pg_catalog.array_agg(c.status ORDER BY c.seq), pg_catalog.array_agg(c.reason ORDER BY c.seq),"
						" pg_catalog.array_agg(c.changed_at ORDER BY c.seq)"
						" FROM (SELECT seq, reference_id, status, reason, changed_at"
						"       FROM %s.momo_payment_changes WHERE seq > $1 ORDER BY seq LIMIT $2) c",
						a.schema, a.schema);
	/*
	 * Filtered as the caller: the whole row of each payment, under any
	 * policy, with a snapshot newer than the read's (a change is written with
	 * its payment, in the same transaction).
	 */
	see_sql = psprintf("SELECT c.seq, c.reference_id, (v.p).external_id, (v.p).operation, c.status,"
					   " c.reason, c.changed_at"
					   " FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]), pg_catalog.unnest($2::pg_catalog.uuid[]),"
					   "  pg_catalog.unnest($3::pg_catalog.text[]), pg_catalog.unnest($4::pg_catalog.text[]),"
					   "  pg_catalog.unnest($5::pg_catalog.timestamptz[]))"
					   "  AS c(seq, reference_id, status, reason, changed_at)"
					   " CROSS JOIN LATERAL (SELECT p FROM %s.momo_payments p"
					   "                      WHERE p.reference_id = c.reference_id) v"
					   " ORDER BY c.seq",
					   a.schema);

	last_read = last_returned = after;
	for (int batch = 0; batch < SCAN_BATCHES && returned < max_rows; batch++)
	{
		Oid			read_types[2] = {INT8OID, INT4OID};
		Datum		read_values[2];
		Datum		see_values[5];
		HeapTuple	tup;
		TupleDesc	desc;
		bool		isnull;
		int64		purged;
		int			want = max_rows - returned;
		int			nread;
		ArrayType  *seqs;
		int			rc;

		read_values[0] = Int64GetDatum(last_read);
		read_values[1] = Int32GetDatum(want);
		rc = SPI_execute_with_args(read_sql, 2, read_types, read_values, NULL, false, 1);
		momo_spi_check(rc, SPI_OK_SELECT, "reading changes of payments");
		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		purged = DatumGetInt64(SPI_getbinval(tup, desc, Anum_batch_purged, &isnull));
		if (after < purged)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("changes of payments after " INT64_FORMAT " are no longer kept", after),
					 errdetail("Changes up to " INT64_FORMAT " were purged (they are kept for momo.event_retention); some of them may be ones you have not seen.", purged),
					 errhint("Read the payments you follow from momo_payments again, then ask for the changes after " INT64_FORMAT ".", purged)));
		(void) SPI_getbinval(tup, desc, Anum_batch_seqs, &isnull);
		if (isnull)
			break;				/* nothing more is numbered */
		for (int i = 0; i < 5; i++)
		{
			see_values[i] = SPI_getbinval(tup, desc, Anum_batch_seqs + i, &isnull);
		}
		seqs = DatumGetArrayTypeP(see_values[0]);
		nread = ArrayGetNItems(ARR_NDIM(seqs), ARR_DIMS(seqs));
		last_read = ((int64 *) ARR_DATA_PTR(seqs))[nread - 1];

		see_as_caller(a.caller, see_sql, see_values);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			Datum		values[Natts_change];
			bool		nulls[Natts_change];

			for (int c = 0; c < Natts_change; c++)
				values[c] = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c + 1, &nulls[c]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			last_returned = DatumGetInt64(values[Anum_change_seq - 1]);
			returned++;
		}
		if (nread < want)
			break;				/* that was the last one numbered */
	}
	if (last_read > last_returned && returned < max_rows)
	{
		Datum		values[Natts_change] = {0};
		bool		nulls[Natts_change] = {true, true, true, true, true, true, true};

		values[Anum_change_seq - 1] = Int64GetDatum(last_read);
		nulls[Anum_change_seq - 1] = false;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	momo_owner_leave(&a);
	return (Datum) 0;
}
