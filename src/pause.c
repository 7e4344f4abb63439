/*-------------------------------------------------------------------------
 *
 * pause.c
 *	  The pause switch (README, "Operating in production").  A product's
 *	  row in momo_pauses stops the worker from sending new payment requests
 *	  of it: payments queue, status checks of those already at MTN go on.  The
 *	  table is replicated and kept by pg_dump, so a pause outlives a restart,
 *	  a failover and a restore.  momo_pause writes rows, momo_resume deletes
 *	  them; the worker writes one itself (automatic) when MTN refuses the
 *	  merchant's configuration, and only momo_resume ends that one too.
 *
 *	  Whatever writes momo_pauses (those functions, the worker, a DBA by
 *	  hand), its trigger tells the worker at commit (momo.c: the worker
 *	  looks at the table again before it starts any further payment
 *	  request) and notifies momo_pause with the product and whether it is
 *	  paused: LISTEN is open to every role, so the payload says nothing
 *	  more; the reason is in the table, for the roles granted SELECT on it.
 *
 *	  momo_pause and momo_resume are SECURITY INVOKER like momo's other
 *	  functions: whoever may EXECUTE them (superusers, and the roles they
 *	  grant it) pauses, and they write as momo_pauses' owner (owner.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "momo.h"
#include "owner.h"
#include "pause.h"
#include "spi_util.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(momo_pause);
PG_FUNCTION_INFO_V1(momo_resume);
PG_FUNCTION_INFO_V1(momo_pauses_change);

/* Notifies MOMO_PAUSE_CHANNEL that product is paused, or no longer. */
static void
notify_pause(const char *product, bool paused)
{
	StringInfoData payload;

	initStringInfo(&payload);
	appendStringInfoString(&payload, "{\"product\":");
	escape_json(&payload, product);
	appendStringInfo(&payload, ",\"paused\":%s}", paused ? "true" : "false");
	Async_Notify(MOMO_PAUSE_CHANNEL, payload.data);
}

/* The product of a row of momo_pauses. */
static char *
row_product(TriggerData *td, HeapTuple row)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	char	   *product = SPI_getvalue(row, desc, SPI_fnumber(desc, "product"));

	if (product == NULL)
		elog(ERROR, "a row of momo_pauses has no product");
	return product;
}

/*
 * The trigger of momo_pauses (AFTER INSERT, UPDATE or DELETE FOR EACH ROW,
 * and AFTER TRUNCATE): notifies momo_pause of each change, and has the
 * worker look at the table again when the transaction commits.
 */
Datum
momo_pauses_change(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event))
		elog(ERROR, "momo_pauses_change must be an AFTER trigger");
	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
	{
		for (int p = 0; p < MOMO_N_PRODUCTS; p++)
			notify_pause(momo_product_names[p], false);
	}
	else if (!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		elog(ERROR, "momo_pauses_change must be a FOR EACH ROW trigger, or ON TRUNCATE");
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		notify_pause(row_product(td, td->tg_trigtuple), false);
	else if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		notify_pause(row_product(td, td->tg_trigtuple), true);
	else
	{
		char	   *before = row_product(td, td->tg_trigtuple);
		char	   *after = row_product(td, td->tg_newtuple);

		if (strcmp(before, after) != 0)
			notify_pause(before, false);
		notify_pause(after, true);
	}
	momo_pauses_changed_at_commit();
	return PointerGetDatum(NULL);
}

/*
 * momo_pause(reason text, product text DEFAULT NULL): pauses sending of
 * product (NULL: of every product), for reason.  A product already paused
 * takes the new reason, role and time (and is no longer automatic).
 */
Datum
momo_pause(PG_FUNCTION_ARGS)
{
	char	   *reason = NULL;
	int			product = momo_validate_pause(fcinfo, 0, 1, &reason);
	MomoActing	a;
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];
	char	   *sql;

	momo_owner_enter(fcinfo, &a);
	sql = psprintf("INSERT INTO %s.momo_pauses AS p (product, reason, paused_by, paused_at, automatic)"
				   " VALUES ($1, $2, $3::pg_catalog.name, pg_catalog.now(), false)"
				   " ON CONFLICT (product) DO UPDATE SET reason = EXCLUDED.reason,"
				   " paused_by = EXCLUDED.paused_by, paused_at = EXCLUDED.paused_at, automatic = false",
				   a.schema);
	values[1] = CStringGetTextDatum(reason);
	values[2] = CStringGetTextDatum(GetUserNameFromId(a.caller, false));
	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
	{
		int			rc;

		if (product >= 0 && p != product)
			continue;
		values[0] = CStringGetTextDatum(momo_product_names[p]);
		rc = SPI_execute_with_args(sql, 3, types, values, NULL, false, 0);
		momo_spi_check(rc, SPI_OK_INSERT, "writing a pause");
	}
	momo_owner_leave(&a);
	PG_RETURN_VOID();
}

/*
 * momo_resume(product text DEFAULT NULL): ends the pause of product (NULL:
 * of every product), whoever or whatever paused it.  Says so when there
 * was none.
 */
Datum
momo_resume(PG_FUNCTION_ARGS)
{
	int			product = momo_validate_pause(fcinfo, -1, 0, NULL);
	MomoActing	a;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	char		nulls[1] = {' '};
	int			rc;
	uint64		resumed;

	if (product >= 0)
		values[0] = CStringGetTextDatum(momo_product_names[product]);
	else
	{
		values[0] = (Datum) 0;
		nulls[0] = 'n';
	}
	momo_owner_enter(fcinfo, &a);
	rc = SPI_execute_with_args(psprintf("DELETE FROM %s.momo_pauses p"
										" WHERE $1 IS NULL OR p.product OPERATOR(pg_catalog.=) $1",
										a.schema),
							   1, types, values, nulls, false, 0);
	momo_spi_check(rc, SPI_OK_DELETE, "ending a pause");
	resumed = SPI_processed;
	momo_owner_leave(&a);
	if (resumed == 0 && product >= 0)
		ereport(NOTICE,
				(errmsg("sending %s payments was not paused", momo_product_names[product])));
	else if (resumed == 0)
		ereport(NOTICE, (errmsg("sending was not paused")));
	PG_RETURN_VOID();
}

/*
 * Reads momo_pauses of schema (quoted; its namespace nsp) into rows, one
 * per product, their texts allocated in cxt; SPI must be connected, as the
 * table's owner.  Returns false, every product unpaused, when the schema
 * has no momo_pauses (momo 1.0, not updated yet).
 */
bool
momo_pause_read(Oid nsp, const char *schema, MemoryContext cxt, MomoPauseRow *rows)
{
	int			rc;

	memset(rows, 0, sizeof(MomoPauseRow) * MOMO_N_PRODUCTS);
	if (!OidIsValid(get_relname_relid("momo_pauses", nsp)))
		return false;
	rc = SPI_execute(psprintf("SELECT p.product, p.reason, p.paused_by::pg_catalog.text, p.paused_at, p.automatic"
							  " FROM %s.momo_pauses p", schema), true, 0);
	momo_spi_check(rc, SPI_OK_SELECT, "reading the pauses");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *product = SPI_getvalue(tup, desc, 1);
		bool		isnull;

		for (int p = 0; p < MOMO_N_PRODUCTS; p++)
		{
			MomoPauseRow *r = &rows[p];
			char	   *text;

			if (product == NULL || strcmp(product, momo_product_names[p]) != 0)
				continue;
			r->paused = true;
			text = SPI_getvalue(tup, desc, 2);
			r->reason = MemoryContextStrdup(cxt, text ? text : "");
			text = SPI_getvalue(tup, desc, 3);
			r->paused_by = MemoryContextStrdup(cxt, text ? text : "");
			r->paused_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));
			r->automatic = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		}
	}
	return true;
}

/*
 * Writes the worker's own pause of product, for reason, unless the product
 * is paused already (an operator's pause stays as it is); SPI connected, as
 * the table's owner.  Returns false when the schema has no momo_pauses.
 */
bool
momo_pause_write_automatic(Oid nsp, const char *schema, MomoProduct product, const char *reason)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	int			rc;

	if (!OidIsValid(get_relname_relid("momo_pauses", nsp)))
		return false;
	values[0] = CStringGetTextDatum(momo_product_names[product]);
	values[1] = CStringGetTextDatum(reason);
	rc = SPI_execute_with_args(psprintf("INSERT INTO %s.momo_pauses (product, reason, paused_by, paused_at, automatic)"
										" VALUES ($1, $2, pg_catalog.current_user(), pg_catalog.now(), true)"
										" ON CONFLICT (product) DO NOTHING", schema),
							   2, types, values, NULL, false, 0);
	momo_spi_check(rc, SPI_OK_INSERT, "writing an automatic pause");
	return true;
}

/*
 * How a paused product's row reads in the log, momo_worker_status() and
 * momo_preflight(): "sending collection payments is paused since ..., by
 * alice: <reason>", or "..., automatically: <reason>".
 */
char *
momo_pause_describe(const MomoPauseRow *row, MomoProduct product)
{
	if (row->automatic)
		return psprintf("sending %s payments is paused since %s, automatically: %s",
						momo_product_names[product], timestamptz_to_str(row->paused_at), row->reason);
	return psprintf("sending %s payments is paused since %s, by %s: %s",
					momo_product_names[product], timestamptz_to_str(row->paused_at),
					row->paused_by, row->reason);
}

/*
 * For momo_preflight: the pauses of momo in namespace nsp, described, or
 * "" when none; *any tells whether there is one.  Read as momo_pauses'
 * owner (the caller may not SELECT it), under SECURITY_RESTRICTED_OPERATION,
 * with SPI connected by the caller.  NULL when there is no momo_pauses.
 */
char *
momo_pause_summary(Oid nsp, bool *any)
{
	Oid			rel = get_relname_relid("momo_pauses", nsp);
	char	   *nspname = get_namespace_name(nsp);
	MomoPauseRow rows[MOMO_N_PRODUCTS];
	Oid			saved_userid;
	int			saved_sec_context;
	StringInfoData all;

	*any = false;
	if (!OidIsValid(rel) || nspname == NULL)
		return NULL;
	GetUserIdAndSecContext(&saved_userid, &saved_sec_context);
	SetUserIdAndSecContext(momo_owner_of(rel), saved_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	(void) momo_pause_read(nsp, quote_identifier(nspname), CurrentMemoryContext, rows);
	SetUserIdAndSecContext(saved_userid, saved_sec_context);

	initStringInfo(&all);
	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
	{
		if (!rows[p].paused)
			continue;
		appendStringInfo(&all, "%s%s", all.len ? "; " : "", momo_pause_describe(&rows[p], (MomoProduct) p));
		*any = true;
	}
	return all.data;
}
