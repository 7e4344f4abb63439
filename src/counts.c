/*-------------------------------------------------------------------------
 *
 * counts.c
 *	  Counters of final payments, for momo_stats and the exporter: how many
 *	  payments became successful or failed since momo was installed (the
 *	  upgrade from 1.0 counted the ones it found), and how many of those
 *	  were deleted since, per product, operation and status, in
 *	  momo_payment_counts.  Reading them costs the same with ten million
 *	  finished payments as with none; the open payments (queued, pending)
 *	  are counted from the worker's queue index (momo_payments_due), which
 *	  holds only them.
 *
 *	  A row trigger notes each payment that is written final, becomes final
 *	  or is deleted, in this backend's memory; a statement trigger writes
 *	  what the statement noted, once per (product, operation, status): one
 *	  row written per batch of answers the worker records, not one per
 *	  payment.
 *
 *	  Who writes what, so that no transaction ever waits for another over a
 *	  counter: the worker (one per database, one transaction at a time) adds
 *	  to the merged rows, one per (product, operation, status), which only
 *	  it updates.  Any other transaction -- a session's
 *	  momo_payment_status, a DBA's statement -- inserts a row of its own
 *	  (not merged), which never conflicts with anything; the worker folds
 *	  the committed ones into the merged rows whenever it writes its own.
 *	  A session that finishes a payment and then sits in its transaction
 *	  so holds up no one, and the rows a reader sums stay few.
 *
 *	  What a statement noted is discarded with the (sub)transaction that
 *	  aborts it, and handed to the parent when a subtransaction commits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "owner.h"
#include "spi_util.h"

PG_FUNCTION_INFO_V1(momo_payments_count);
PG_FUNCTION_INFO_V1(momo_payments_count_flush);

/*
 * Keys a transaction may have noted at once: products x operations x final
 * statuses is 3 x 4 x 2, at most 24 per nesting level.
 */
#define MAX_NOTED 128
#define KEY_LEN 32

typedef struct CountNote
{
	char		product[KEY_LEN];
	char		operation[KEY_LEN];
	char		status[KEY_LEN];
	int			level;			/* transaction nesting level that noted it */
	int64		finished;
	int64		deleted;
} CountNote;

static CountNote notes[MAX_NOTED];
static int	n_notes = 0;
static bool callbacks_registered = false;

/* The flush statements, prepared once per schema and kept. */
static SPIPlanPtr insert_plan = NULL;	/* not in the worker: a row of its own */
static SPIPlanPtr merge_plan = NULL;	/* the worker: into the merged rows */
static SPIPlanPtr truncate_plan = NULL;
static char *plans_schema = NULL;

/* A (sub)transaction aborted: what it noted never happened. */
static void
counts_drop_from(int level)
{
	int			kept = 0;

	for (int i = 0; i < n_notes; i++)
		if (notes[i].level < level)
			notes[kept++] = notes[i];
	n_notes = kept;
}

static void
counts_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:

			/*
			 * Every statement trigger has run by commit; anything left is
			 * of a statement that noted without flushing, which cannot
			 * happen (the row and statement triggers fire for the same
			 * statements).
			 */
			if (n_notes > 0 && (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PREPARE))
				elog(WARNING, "%d payment counts were noted but not written", n_notes);
			n_notes = 0;
			break;
		default:
			break;
	}
}

static void
counts_subxact_callback(SubXactEvent event, SubTransactionId mySubid pg_attribute_unused(),
						SubTransactionId parentSubid pg_attribute_unused(),
						void *arg pg_attribute_unused())
{
	int			level = GetCurrentTransactionNestLevel();

	if (event == SUBXACT_EVENT_ABORT_SUB)
		counts_drop_from(level);
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		/* Hand them to the parent (a key may then have two notes: both are written). */
		for (int i = 0; i < n_notes; i++)
			if (notes[i].level >= level)
				notes[i].level = level - 1;
	}
}

/* Adds finished and deleted to the note of (product, operation, status). */
static void
counts_note(const char *product, const char *operation, const char *status,
			int64 finished, int64 deleted)
{
	int			level = GetCurrentTransactionNestLevel();
	CountNote  *n = NULL;

	if (!callbacks_registered)
	{
		RegisterXactCallback(counts_xact_callback, NULL);
		RegisterSubXactCallback(counts_subxact_callback, NULL);
		callbacks_registered = true;
	}
	if (strlen(product) >= KEY_LEN || strlen(operation) >= KEY_LEN || strlen(status) >= KEY_LEN)
		elog(ERROR, "payment key too long to count: %s/%s/%s", product, operation, status);
	for (int i = 0; i < n_notes; i++)
		if (notes[i].level == level && strcmp(notes[i].status, status) == 0 &&
			strcmp(notes[i].operation, operation) == 0 && strcmp(notes[i].product, product) == 0)
		{
			n = &notes[i];
			break;
		}
	if (n == NULL)
	{
		if (n_notes >= MAX_NOTED)
			elog(ERROR, "too many payment counts noted in one transaction");
		n = &notes[n_notes++];
		strlcpy(n->product, product, KEY_LEN);
		strlcpy(n->operation, operation, KEY_LEN);
		strlcpy(n->status, status, KEY_LEN);
		n->level = level;
		n->finished = 0;
		n->deleted = 0;
	}
	n->finished += finished;
	n->deleted += deleted;
}

static char *
row_text(HeapTuple row, TupleDesc desc, const char *column)
{
	int			attnum = SPI_fnumber(desc, column);
	bool		isnull;
	Datum		d;

	if (attnum <= 0)
		elog(ERROR, "momo_payments has no column \"%s\"", column);
	d = heap_getattr(row, attnum, desc, &isnull);
	if (isnull)
		elog(ERROR, "momo_payments.%s is null", column);
	return TextDatumGetCString(d);
}

/*
 * momo_payments_count(): AFTER INSERT, UPDATE OF status and DELETE on
 * momo_payments, FOR EACH ROW, WHEN the row is (or was, for DELETE)
 * final: notes it.  The statement trigger writes the notes.
 */
Datum
momo_payments_count(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	row;
	bool		deleting;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		elog(ERROR, "momo_payments_count must be an AFTER ... FOR EACH ROW trigger");
	desc = RelationGetDescr(td->tg_relation);
	deleting = TRIGGER_FIRED_BY_DELETE(td->tg_event);
	row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	counts_note(row_text(row, desc, "product"), row_text(row, desc, "operation"),
				row_text(row, desc, "status"), deleting ? 0 : 1, deleting ? 1 : 0);
	return PointerGetDatum(NULL);
}

static Datum
text_array(int n, int off)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			k = 0;

	for (int i = 0; i < n_notes; i++)
		if (notes[i].level >= GetCurrentTransactionNestLevel())
		{
			const char *s = off == 0 ? notes[i].product : off == 1 ? notes[i].operation : notes[i].status;

			elems[k++] = CStringGetTextDatum(s);
		}
	return PointerGetDatum(construct_array(elems, k, TEXTOID, -1, false, TYPALIGN_INT));
}

static Datum
int8_array(int n, bool deleted)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			k = 0;

	for (int i = 0; i < n_notes; i++)
		if (notes[i].level >= GetCurrentTransactionNestLevel())
			elems[k++] = Int64GetDatum(deleted ? notes[i].deleted : notes[i].finished);
	return PointerGetDatum(construct_array(elems, k, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static void
counts_prepare(const char *schema)
{
	Oid			types[5] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID};

	if (plans_schema != NULL && strcmp(plans_schema, schema) == 0)
		return;
	if (insert_plan)
	{
		SPI_freeplan(insert_plan);
		SPI_freeplan(merge_plan);
		SPI_freeplan(truncate_plan);
		insert_plan = merge_plan = truncate_plan = NULL;
		pfree(plans_schema);
		plans_schema = NULL;
	}
	insert_plan = momo_spi_prepare_kept(psprintf("INSERT INTO %s.momo_payment_counts"
												 " (product, operation, status, finished, deleted, merged)"
												 " SELECT n.product, n.operation, n.status, n.finished, n.deleted, false"
												 " FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
												 "                 pg_catalog.unnest($4), pg_catalog.unnest($5))"
												 "  AS n(product, operation, status, finished, deleted)",
												 schema), 5, types, 0);
	merge_plan = momo_spi_prepare_kept(psprintf("WITH folded AS ("
												"  DELETE FROM %s.momo_payment_counts c WHERE NOT c.merged"
												"  RETURNING c.product, c.operation, c.status, c.finished, c.deleted),"
												" n AS ("
												"  SELECT f.product, f.operation, f.status, f.finished, f.deleted FROM folded f"
												"  UNION ALL"
												"  SELECT u.product, u.operation, u.status, u.finished, u.deleted"
												"    FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
												"                    pg_catalog.unnest($4), pg_catalog.unnest($5))"
												"     AS u(product, operation, status, finished, deleted))"
												" INSERT INTO %s.momo_payment_counts AS c"
												"  (product, operation, status, finished, deleted, merged)"
												" SELECT n.product, n.operation, n.status,"
												"        pg_catalog.sum(n.finished)::bigint, pg_catalog.sum(n.deleted)::bigint, true"
												"   FROM n GROUP BY n.product, n.operation, n.status"
												" ON CONFLICT (product, operation, status) WHERE merged DO UPDATE"
												"  SET finished = c.finished OPERATOR(pg_catalog.+) excluded.finished,"
												"      deleted = c.deleted OPERATOR(pg_catalog.+) excluded.deleted",
												schema, schema), 5, types, 0);
	truncate_plan = momo_spi_prepare_kept(psprintf("INSERT INTO %s.momo_payment_counts"
												   " (product, operation, status, finished, deleted, merged)"
												   " SELECT c.product, c.operation, c.status, 0,"
												   "        (pg_catalog.sum(c.finished) OPERATOR(pg_catalog.-) pg_catalog.sum(c.deleted))::bigint, false"
												   "   FROM %s.momo_payment_counts c"
												   "  GROUP BY c.product, c.operation, c.status"
												   " HAVING pg_catalog.sum(c.finished) OPERATOR(pg_catalog.<>) pg_catalog.sum(c.deleted)",
												   schema, schema), 0, NULL, 0);
	plans_schema = MemoryContextStrdup(TopMemoryContext, schema);
}

/*
 * momo_payments_count_flush(): AFTER INSERT OR UPDATE OF status OR DELETE
 * (and AFTER TRUNCATE) on momo_payments, FOR EACH STATEMENT: writes what
 * the statement's row triggers noted; after a TRUNCATE, counts every
 * payment left as deleted.
 */
Datum
momo_payments_count_flush(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	int			level;
	int			n = 0;
	char	   *schema;
	int			rc;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		TRIGGER_FIRED_FOR_ROW(td->tg_event))
		elog(ERROR, "momo_payments_count_flush must be an AFTER ... FOR EACH STATEMENT trigger");
	level = GetCurrentTransactionNestLevel();
	for (int i = 0; i < n_notes; i++)
		if (notes[i].level >= level)
			n++;
	if (n == 0 && !TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		return PointerGetDatum(NULL);

	schema = get_namespace_name(RelationGetNamespace(td->tg_relation));
	if (schema == NULL)
		elog(ERROR, "schema %u of momo_payments does not exist", RelationGetNamespace(td->tg_relation));
	schema = (char *) quote_identifier(schema);
	momo_spi_connect();
	counts_prepare(schema);
	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
	{
		rc = SPI_execute_plan(truncate_plan, NULL, NULL, false, 0);
		momo_spi_check(rc, SPI_OK_INSERT, "counting truncated payments as deleted");
	}
	if (n > 0)
	{
		Datum		values[5];

		values[0] = text_array(n, 0);
		values[1] = text_array(n, 1);
		values[2] = text_array(n, 2);
		values[3] = int8_array(n, false);
		values[4] = int8_array(n, true);
		rc = SPI_execute_plan(momo_in_worker ? merge_plan : insert_plan, values, NULL, false, 0);
		momo_spi_check(rc, SPI_OK_INSERT, "writing the payment counts");
		counts_drop_from(level);
	}
	SPI_finish();
	return PointerGetDatum(NULL);
}
