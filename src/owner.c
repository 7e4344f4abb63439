/*-------------------------------------------------------------------------
 *
 * owner.c
 *	  Whom momo acts as.  momo's SQL functions are SECURITY INVOKER: each
 *	  notes its caller (the current user at entry, whoever that is: a
 *	  session's role, or the owner of a SECURITY DEFINER function that calls
 *	  momo), then does its own statements as the owner of momo_payments
 *	  (momo_worker) under SECURITY_RESTRICTED_OPERATION, as the worker does
 *	  (worker.c), and as VACUUM acts as a table's owner.  What the caller may
 *	  see is decided as the caller (store.c, momo_store_caller_sees).
 *
 *	  Before acting, the table is checked: its owner must not be a superuser,
 *	  no FORCE ROW LEVEL SECURITY may hide rows from it, and every trigger on
 *	  it and on every other table momo writes (momo_written_tables) other
 *	  than momo's own must run as its function's owner -- SECURITY DEFINER,
 *	  with a pinned search_path, owned by neither a superuser nor
 *	  momo_worker -- since a trigger that runs as its invoker would run with
 *	  momo_worker's rights, which write every payment.  And every trigger's
 *	  WHEN condition, momo's own included, which is evaluated as whoever
 *	  fires the trigger (momo_worker), may call pg_catalog's functions and
 *	  operators only: one bound to an operator or function planted in
 *	  another schema (by a database owner who set the DBA's search_path)
 *	  would run that code with momo_worker's rights.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "catalog/pg_namespace.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "owner.h"
#include "spi_util.h"

/* Set in the momo worker: momo's SQL functions refuse to run there. */
bool		momo_in_worker = false;

/* The triggers momo itself puts on its tables. */
static const char *const own_triggers[] = {"momo_payments_guard", "momo_payments_notify",
	"momo_payments_change_insert", "momo_payments_change_update",
	"momo_payments_count_insert", "momo_payments_count_update", "momo_payments_count_delete",
	"momo_payments_count_flush", "momo_payments_count_truncate", "momo_events_guard",
	"momo_pauses_change", "momo_pauses_truncate"};

/*
 * Every table momo's functions and worker write as its owner: a trigger on
 * any of them runs in their statements.  (momo_fee_schedule is only read.)
 */
static const char *const momo_written_tables[] = {"momo_payments", "momo_events",
	"momo_payment_changes", "momo_change_horizon", "momo_pauses"};

static void check_triggers(Relation rel, Oid owner, Oid nsp, StringInfo why);

/* Returns true if a function's settings pin search_path. */
static bool
pins_search_path(HeapTuple proctup)
{
	bool		isnull;
	Datum		d = SysCacheGetAttr(PROCOID, proctup, Anum_pg_proc_proconfig, &isnull);
	Datum	   *items;
	int			n;

	if (isnull)
		return false;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &items, NULL, &n);
	for (int i = 0; i < n; i++)
		if (strncmp(TextDatumGetCString(items[i]), "search_path=", 12) == 0)
			return true;
	return false;
}

/*
 * Returns what makes momo_payments (relid, in namespace nsp, owned by
 * owner) unsafe to write as its owner, or NULL if nothing does.
 */
char *
momo_owner_table_problem(Oid relid, Oid owner, Oid nsp)
{
	Relation	rel;
	StringInfoData why;

	if (superuser_arg(owner))
		return psprintf("momo_payments is owned by superuser \"%s\", and momo never acts as a superuser",
						GetUserNameFromId(owner, false));
	initStringInfo(&why);
	rel = table_open(relid, AccessShareLock);
	if (rel->rd_rel->relforcerowsecurity)
		appendStringInfoString(&why, "momo_payments has FORCE ROW LEVEL SECURITY, which hides payments from momo_worker");
	check_triggers(rel, owner, nsp, &why);
	table_close(rel, AccessShareLock);
	/* The other tables momo writes as their owner (a schema of 1.0 lacks some). */
	for (size_t i = 1; i < lengthof(momo_written_tables); i++)
	{
		Oid			other = get_relname_relid(momo_written_tables[i], nsp);

		if (!OidIsValid(other))
			continue;
		rel = table_open(other, AccessShareLock);
		check_triggers(rel, owner, nsp, &why);
		table_close(rel, AccessShareLock);
	}
	return why.len ? why.data : NULL;
}

/* check_functions_in_node's test: a function of another schema than pg_catalog. */
static bool
outside_catalog(Oid func_id, void *context)
{
	Oid		   *found = (Oid *) context;

	if (get_func_namespace(func_id) == PG_CATALOG_NAMESPACE)
		return false;
	*found = func_id;
	return true;
}

/*
 * Returns true if expression node calls anything but pg_catalog's code: a
 * function or operator of another schema (its function in *found), or a
 * domain's constraints (InvalidOid in *found).
 */
static bool
foreign_code_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, CoerceToDomain))
	{
		*(Oid *) context = InvalidOid;
		return true;
	}
	if (check_functions_in_node(node, outside_catalog, context))
		return true;
	return expression_tree_walker(node, foreign_code_walker, context);
}

/* Returns true if trigger t's WHEN condition calls code outside pg_catalog (*found: what). */
static bool
when_calls_foreign_code(Trigger *t, Oid *found)
{
	return t->tgqual != NULL && foreign_code_walker(stringToNode(t->tgqual), found);
}

/*
 * Appends to *why each trigger on rel, other than momo's own, that would
 * run with owner's rights or a superuser's, and each trigger (momo's own
 * too) whose WHEN condition calls code outside pg_catalog.
 */
static void
check_triggers(Relation rel, Oid owner, Oid nsp, StringInfo why)
{
	TriggerDesc *td = rel->trigdesc;

	for (int i = 0; td && i < td->numtriggers; i++)
	{
		Trigger    *t = &td->triggers[i];
		HeapTuple	tup;
		Form_pg_proc proc;
		const char *problem = NULL;
		bool		own = false;

		if (t->tgisinternal)
			continue;
		tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(t->tgfoid));
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for function %u", t->tgfoid);
		proc = (Form_pg_proc) GETSTRUCT(tup);
		for (size_t j = 0; j < lengthof(own_triggers); j++)
			if (strcmp(t->tgname, own_triggers[j]) == 0 && proc->pronamespace == nsp)
				own = true;
		if (own)
			problem = NULL;
		else if (!proc->prosecdef)
			problem = "runs as whoever fires it (it is not SECURITY DEFINER)";
		else if (superuser_arg(proc->proowner))
			problem = "is owned by a superuser";
		else if (has_privs_of_role(proc->proowner, owner))
			problem = "is owned by momo's own role";
		else if (!pins_search_path(tup))
			problem = "has no SET search_path";
		ReleaseSysCache(tup);
		if (problem)
			appendStringInfo(why, "%strigger %s on %s calls %s, which %s",
							 why->len ? "; " : "", t->tgname, RelationGetRelationName(rel),
							 format_procedure(t->tgfoid), problem);
		{
			Oid			found = InvalidOid;

			if (when_calls_foreign_code(t, &found))
				appendStringInfo(why, "%sthe WHEN condition of trigger %s on %s calls %s, which is not pg_catalog's and would run with momo's rights",
								 why->len ? "; " : "", t->tgname, RelationGetRelationName(rel),
								 OidIsValid(found) ? format_procedure(found) : "a domain's constraint");
		}
	}
}

/* Returns the owner of relation relid. */
Oid
momo_owner_of(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Starts the work of momo's SQL function fcinfo: notes the caller, checks
 * the payments table, becomes its owner under SECURITY_RESTRICTED_OPERATION
 * and connects SPI.  An ERROR before momo_owner_leave restores the user
 * with the (sub)transaction's abort.
 */
void
momo_owner_enter(FunctionCallInfo fcinfo, MomoActing *a)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	char	   *name = get_namespace_name(nsp);
	char	   *problem;

	if (momo_in_worker)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("momo's functions cannot be called from code that the momo worker runs"),
				 errdetail("A trigger on momo_payments called %s.", get_func_name(fcinfo->flinfo->fn_oid)),
				 errhint("Triggers on momo_payments must not call momo's functions.")));
	if (name == NULL)
		elog(ERROR, "schema %u of the called function does not exist", nsp);
	a->schema = pstrdup(quote_identifier(name));
	a->caller = GetUserId();
	a->relid = get_relname_relid("momo_payments", nsp);
	if (!OidIsValid(a->relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("schema \"%s\" has no table momo_payments", name)));
	a->owner = momo_owner_of(a->relid);
	problem = momo_owner_table_problem(a->relid, a->owner, nsp);
	if (problem)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("momo refuses to act: %s", problem),
				 errhint("See the README, \"Security model\"; momo_preflight() shows it too.")));
	GetUserIdAndSecContext(&a->saved_userid, &a->saved_sec_context);
	SetUserIdAndSecContext(a->owner, a->saved_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	momo_spi_connect();
}

/* Ends what momo_owner_enter began: SPI finished, the caller's identity back. */
void
momo_owner_leave(MomoActing *a)
{
	SPI_finish();
	SetUserIdAndSecContext(a->saved_userid, a->saved_sec_context);
}
