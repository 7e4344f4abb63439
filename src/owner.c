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
 *	  would run that code with momo_worker's rights.  So may every other
 *	  expression evaluated when momo writes those tables (CHECK constraints,
 *	  defaults and generated columns, index expressions and predicates) or
 *	  when VACUUM and ANALYZE read them as their owner (extended statistics),
 *	  and no rule may be on them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_auth_members.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "catalog/pg_proc.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "access/genam.h"
#include "catalog/pg_namespace.h"
#include "commands/extension.h"
#include "catalog/pg_extension.h"
#include "catalog/dependency.h"
#include "catalog/pg_statistic_ext.h"
#include "catalog/pg_trigger.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "access/xact.h"
#include "fmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "owner.h"
#include "spi_util.h"
#include "version.h"

/* Set in the momo worker: momo's SQL functions refuse to run there. */
bool		momo_in_worker = false;

/* The triggers momo itself puts on its tables. */
static const char *const own_triggers[] = {"momo_payments_guard", "momo_payments_notify",
	"momo_payments_change_insert", "momo_payments_change_update",
	"momo_payments_count_insert", "momo_payments_count_update", "momo_payments_count_delete",
	"momo_payments_count_flush", "momo_payments_count_truncate", "momo_events_guard",
	"momo_pauses_change", "momo_pauses_truncate", "momo_writer_guard"};

/*
 * Those of them that momo installs ENABLE ALWAYS, to fire also under
 * session_replication_role = replica (the others fire in origin mode).
 */
static const char *const always_triggers[] = {"momo_writer_guard", "momo_pauses_change",
	"momo_pauses_truncate"};

/*
 * The triggers momo installs, each on its table, with its function (of
 * momo's schema) and its kind (timing, level, events); a schema of 1.0, not
 * updated yet, has only those marked since_1_0.  One that is gone, or not
 * as momo made it (only a superuser can drop or re-create one), no longer
 * guards what it guarded: momo then refuses to act, as when one no longer
 * fires.
 */
typedef struct OwnTrigger
{
	const char *table;			/* the table it is on */
	const char *name;			/* the trigger's name */
	const char *function;		/* the function it calls */
	int16		type;			/* its tgtype */
	bool		since_1_0;		/* 1.0 installed it too */
} OwnTrigger;

#define ROW_BEFORE(events) (TRIGGER_TYPE_ROW | TRIGGER_TYPE_BEFORE | (events))
#define ROW_AFTER(events) (TRIGGER_TYPE_ROW | (events))
#define ALL_WRITES (TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE)

static const OwnTrigger installed_triggers[] = {
	{"momo_payments", "momo_payments_guard", "momo_payments_guard", ROW_BEFORE(ALL_WRITES), true},
	{"momo_payments", "momo_payments_notify", "momo_payments_notify", ROW_AFTER(TRIGGER_TYPE_UPDATE), true},
	{"momo_payments", "momo_payments_change_insert", "momo_payments_change", ROW_AFTER(TRIGGER_TYPE_INSERT), false},
	{"momo_payments", "momo_payments_change_update", "momo_payments_change", ROW_AFTER(TRIGGER_TYPE_UPDATE), false},
	{"momo_payments", "momo_payments_count_insert", "momo_payments_count", ROW_AFTER(TRIGGER_TYPE_INSERT), false},
	{"momo_payments", "momo_payments_count_update", "momo_payments_count", ROW_AFTER(TRIGGER_TYPE_UPDATE), false},
	{"momo_payments", "momo_payments_count_delete", "momo_payments_count", ROW_AFTER(TRIGGER_TYPE_DELETE), false},
	{"momo_payments", "momo_payments_count_flush", "momo_payments_count_flush", ALL_WRITES, false},
	{"momo_payments", "momo_payments_count_truncate", "momo_payments_count_flush", TRIGGER_TYPE_TRUNCATE, false},
	{"momo_payments", "momo_writer_guard", "momo_writer_guard", TRIGGER_TYPE_BEFORE | ALL_WRITES | TRIGGER_TYPE_TRUNCATE, false},
	{"momo_fee_schedule", "momo_writer_guard", "momo_writer_guard", TRIGGER_TYPE_BEFORE | ALL_WRITES | TRIGGER_TYPE_TRUNCATE, false},
	{"momo_events", "momo_events_guard", "momo_events_guard", ROW_BEFORE(TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE), true},
	{"momo_events", "momo_writer_guard", "momo_writer_guard", TRIGGER_TYPE_BEFORE | ALL_WRITES | TRIGGER_TYPE_TRUNCATE, false},
	{"momo_payment_changes", "momo_writer_guard", "momo_writer_guard", TRIGGER_TYPE_BEFORE | ALL_WRITES | TRIGGER_TYPE_TRUNCATE, false},
	{"momo_change_horizon", "momo_writer_guard", "momo_writer_guard", TRIGGER_TYPE_BEFORE | ALL_WRITES | TRIGGER_TYPE_TRUNCATE, false},
	{"momo_change_numbering", "momo_writer_guard", "momo_writer_guard", TRIGGER_TYPE_BEFORE | ALL_WRITES | TRIGGER_TYPE_TRUNCATE, false},
	{"momo_payment_counts", "momo_writer_guard", "momo_writer_guard", TRIGGER_TYPE_BEFORE | ALL_WRITES | TRIGGER_TYPE_TRUNCATE, false},
	{"momo_pauses", "momo_pauses_change", "momo_pauses_change", ROW_AFTER(ALL_WRITES), false},
	{"momo_pauses", "momo_pauses_truncate", "momo_pauses_change", TRIGGER_TYPE_TRUNCATE, false},
	{"momo_pauses", "momo_writer_guard", "momo_writer_guard", TRIGGER_TYPE_BEFORE | ALL_WRITES | TRIGGER_TYPE_TRUNCATE, false},
};

/*
 * Every table momo's functions and worker write as its owner: a trigger on
 * any of them runs in their statements.  (momo_fee_schedule is only read.)
 */
static const char *const momo_written_tables[] = {"momo_payments", "momo_events",
	"momo_payment_changes", "momo_change_horizon", "momo_change_numbering", "momo_pauses",
	"momo_payment_counts"};

static void check_members(Oid owner, StringInfo why);
static void check_triggers(Relation rel, Oid owner, Oid nsp, StringInfo why);
static void check_own_trigger(Relation rel, Trigger *t, StringInfo why);
static void check_installed_triggers(Relation rel, Oid nsp, bool updated, StringInfo why);
static void check_expressions(Relation rel, StringInfo why);

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
 * The role that role stands for in this database: the database's owner for
 * pg_database_owner, else role itself.
 */
static Oid
actual_role(Oid role)
{
	HeapTuple	tup;

	if (role != ROLE_PG_DATABASE_OWNER)
		return role;
	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(MyDatabaseId));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for database %u", MyDatabaseId);
	role = ((Form_pg_database) GETSTRUCT(tup))->datdba;
	ReleaseSysCache(tup);
	return role;
}

/*
 * Returns who, other than superusers, controls momo's schema nsp -- its
 * owner (the database's owner where that is pg_database_owner) and the roles
 * its ACL lets create in it -- or NULL if no one does.  Such a role could
 * rename the schema and put one of its own, with tables of its own, under
 * the name momo's statements use: the worker would then send payments that
 * role wrote.  CREATE EXTENSION refuses such a schema, but it can be given
 * away later (ALTER DATABASE ... OWNER TO, ALTER SCHEMA ... OWNER TO, GRANT
 * CREATE), and a database copied from a template where momo is in schema
 * public belongs, with that schema, to whoever created it.  Checked at each
 * use, from the catalog caches.
 */
char *
momo_owner_schema_problem(Oid nsp)
{
	HeapTuple	tup;
	Oid			owner;
	Datum		acl_datum;
	bool		isnull;
	StringInfoData who;

	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for schema %u", nsp);
	initStringInfo(&who);
	owner = actual_role(((Form_pg_namespace) GETSTRUCT(tup))->nspowner);
	if (!superuser_arg(owner))
		appendStringInfo(&who, "%s (its owner)", quote_identifier(GetUserNameFromId(owner, false)));
	acl_datum = SysCacheGetAttr(NAMESPACEOID, tup, Anum_pg_namespace_nspacl, &isnull);
	if (!isnull)
	{
		Acl		   *acl = DatumGetAclP(acl_datum);
		AclItem    *items = ACL_DAT(acl);

		for (int i = 0; i < ACL_NUM(acl); i++)
		{
			Oid			grantee = items[i].ai_grantee;

			if ((items[i].ai_privs & ACL_CREATE) == 0)
				continue;
			if (grantee == ACL_ID_PUBLIC)
			{
				appendStringInfo(&who, "%sPUBLIC (every role may create in it)", who.len ? ", " : "");
				continue;
			}
			grantee = actual_role(grantee);
			if (grantee == owner || superuser_arg(grantee))
				continue;
			appendStringInfo(&who, "%s%s", who.len ? ", " : "",
							 quote_identifier(GetUserNameFromId(grantee, false)));
		}
	}
	if (who.len == 0)
	{
		ReleaseSysCache(tup);
		return NULL;
	}
	{
		char	   *problem = psprintf("schema %s, which holds momo's tables, is controlled by roles that are not superusers: %s",
									   quote_identifier(NameStr(((Form_pg_namespace) GETSTRUCT(tup))->nspname)),
									   who.data);

		ReleaseSysCache(tup);
		return problem;
	}
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
	bool		updated;

	if (superuser_arg(owner))
		return psprintf("momo_payments is owned by superuser \"%s\", and momo never acts as a superuser",
						GetUserNameFromId(owner, false));
	initStringInfo(&why);
	check_members(owner, &why);
	/* momo_change_numbering came with 1.1, as most of momo's triggers */
	updated = OidIsValid(get_relname_relid("momo_change_numbering", nsp));
	rel = table_open(relid, AccessShareLock);
	if (rel->rd_rel->relforcerowsecurity)
		appendStringInfoString(&why, "momo_payments has FORCE ROW LEVEL SECURITY, which hides payments from momo_worker");
	check_triggers(rel, owner, nsp, &why);
	check_installed_triggers(rel, nsp, updated, &why);
	check_expressions(rel, &why);
	table_close(rel, AccessShareLock);
	/*
	 * momo_fee_schedule, which momo only reads: its writer guard (a schema
	 * of 1.0 has none) must fire ALWAYS; the application's triggers on it
	 * never run in momo's statements.
	 */
	{
		Oid			fees = get_relname_relid("momo_fee_schedule", nsp);

		if (OidIsValid(fees))
		{
			rel = table_open(fees, AccessShareLock);
			for (int i = 0; rel->trigdesc && i < rel->trigdesc->numtriggers; i++)
				if (strcmp(rel->trigdesc->triggers[i].tgname, "momo_writer_guard") == 0)
					check_own_trigger(rel, &rel->trigdesc->triggers[i], &why);
			check_installed_triggers(rel, nsp, updated, &why);
			table_close(rel, AccessShareLock);
		}
	}
	/* The other tables momo writes as their owner (a schema of 1.0 lacks some). */
	for (size_t i = 1; i < lengthof(momo_written_tables); i++)
	{
		Oid			other = get_relname_relid(momo_written_tables[i], nsp);

		if (!OidIsValid(other))
			continue;
		rel = table_open(other, AccessShareLock);
		if (rel->rd_rel->relforcerowsecurity)
			appendStringInfo(&why, "%s%s has FORCE ROW LEVEL SECURITY, whose policies would apply to momo_worker",
							 why.len ? "; " : "", RelationGetRelationName(rel));
		check_triggers(rel, owner, nsp, &why);
		check_installed_triggers(rel, nsp, updated, &why);
		check_expressions(rel, &why);
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

/*
 * Appends to *why the roles that are members of owner (momo_worker), if any:
 * each could SET ROLE to it and, as the owner of momo's tables, write
 * payments the worker sends, or change momo's triggers.  The install
 * refuses such a role and momo_preflight() fails it; but a membership can be
 * granted later (by a role with CREATEROLE, in PostgreSQL 15 any role but a
 * superuser's), so it is checked at each use, from the catalog cache.
 */
static void
check_members(Oid owner, StringInfo why)
{
	CatCList   *members = SearchSysCacheList1(AUTHMEMROLEMEM, ObjectIdGetDatum(owner));

	for (int i = 0; i < members->n_members; i++)
	{
		Form_pg_auth_members m = (Form_pg_auth_members) GETSTRUCT(&members->members[i]->tuple);

		appendStringInfo(why, "%srole \"%s\" is a member of \"%s\", the owner of momo's tables, and could act with its rights",
						 why->len ? "; " : "", GetUserNameFromId(m->member, false),
						 GetUserNameFromId(owner, false));
	}
	ReleaseSysCacheList(members);
}

/*
 * Appends to *why each trigger on rel, other than momo's own, that would
 * run with owner's rights or a superuser's, or that fires BEFORE each row
 * (it could change a row after momo's guard checked it: a payment's payee
 * or amount, an event, a pause).  Checked at each use: the
 * function's owner can change it at any time.
 */
/*
 * Adds to why if t, one of momo's own triggers on rel, is not enabled as
 * momo installs it: a data-only pg_restore --disable-triggers ends with
 * ALTER TABLE ... ENABLE TRIGGER ALL, which makes ALWAYS triggers fire in
 * origin mode only, so that under session_replication_role = replica (a
 * role granted SET on it) the writer guards no longer fire.
 */
static void
check_own_trigger(Relation rel, Trigger *t, StringInfo why)
{
	bool		always = false;

	for (size_t j = 0; j < lengthof(always_triggers); j++)
		if (strcmp(t->tgname, always_triggers[j]) == 0)
			always = true;
	if (always && t->tgenabled != TRIGGER_FIRES_ALWAYS)
		appendStringInfo(why, "%smomo's trigger %s on %s no longer fires ALWAYS (as after pg_restore --disable-triggers):"
						 " ALTER TABLE %s ENABLE ALWAYS TRIGGER %s",
						 why->len ? "; " : "", t->tgname, RelationGetRelationName(rel),
						 quote_identifier(RelationGetRelationName(rel)), quote_identifier(t->tgname));
	else if (!always && t->tgenabled != TRIGGER_FIRES_ON_ORIGIN && t->tgenabled != TRIGGER_FIRES_ALWAYS)
		appendStringInfo(why, "%smomo's trigger %s on %s is disabled (or fires in replica mode only): ALTER TABLE %s ENABLE TRIGGER %s",
						 why->len ? "; " : "", t->tgname, RelationGetRelationName(rel),
						 quote_identifier(RelationGetRelationName(rel)), quote_identifier(t->tgname));
}

/*
 * Notes in why each trigger momo installs on rel (a table of schema nsp,
 * which has been updated to 1.1 if updated) that rel no longer has as momo
 * made it: of that name, calling that function of nsp, of that kind.
 */
static void
check_installed_triggers(Relation rel, Oid nsp, bool updated, StringInfo why)
{
	const char *table = RelationGetRelationName(rel);

	for (size_t j = 0; j < lengthof(installed_triggers); j++)
	{
		const OwnTrigger *want = &installed_triggers[j];
		Trigger    *found = NULL;

		if (strcmp(want->table, table) != 0 || (!updated && !want->since_1_0))
			continue;
		for (int i = 0; rel->trigdesc && i < rel->trigdesc->numtriggers && !found; i++)
			if (strcmp(rel->trigdesc->triggers[i].tgname, want->name) == 0)
				found = &rel->trigdesc->triggers[i];
		if (found == NULL)
			appendStringInfo(why, "%smomo's trigger %s on %s is gone: a superuser must create it again"
							 " as momo's install script (momo--" MOMO_VERSION ".sql) does",
							 why->len ? "; " : "", want->name, table);
		else if (found->tgtype != want->type || get_func_namespace(found->tgfoid) != nsp ||
				 strcmp(get_func_name(found->tgfoid), want->function) != 0)
			appendStringInfo(why, "%smomo's trigger %s on %s is not as momo made it (its timing, events or function changed):"
							 " a superuser must create it again as momo's install script (momo--" MOMO_VERSION ".sql) does",
							 why->len ? "; " : "", want->name, table);
	}
}

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
			check_own_trigger(rel, t, why);
		else if (TRIGGER_FOR_BEFORE(t->tgtype) && TRIGGER_FOR_ROW(t->tgtype))
			problem = "runs BEFORE each row, where it could change a row after momo checked it (use an AFTER trigger)";
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
	}
}

/*
 * The tables whose expressions check_expressions found clean, until the next
 * relcache invalidation: every expression it walks (trigger conditions,
 * constraints, defaults, indexes, statistics, rules) belongs to the relcache
 * entry, and changing one invalidates it; and the schema of a function that
 * an expression calls cannot become pg_catalog but by a superuser.  So the
 * walk is made once per table and invalidation, not at every call of momo's
 * functions.
 */
#define VERIFIED_MAX 16
static Oid	verified[VERIFIED_MAX];
static int	nverified = 0;
static bool verified_callback = false;

static void
forget_verified(Datum arg pg_attribute_unused(), Oid relid pg_attribute_unused())
{
	nverified = 0;
}

static bool
expressions_verified(Oid relid)
{
	for (int i = 0; i < nverified; i++)
		if (verified[i] == relid)
			return true;
	return false;
}

static void
expressions_verified_add(Oid relid)
{
	if (!verified_callback)
	{
		CacheRegisterRelcacheCallback(forget_verified, (Datum) 0);
		verified_callback = true;
	}
	if (nverified < VERIFIED_MAX)
		verified[nverified++] = relid;
}

/* Appends to *why that expression node of rel's "what" calls code outside pg_catalog, if it does. */
static void
check_expression(Relation rel, Node *node, const char *what, StringInfo why)
{
	Oid			found = InvalidOid;

	if (node != NULL && foreign_code_walker(node, &found))
		appendStringInfo(why, "%s%s on %s calls %s, which is not pg_catalog's and would run with momo's rights",
						 why->len ? "; " : "", what, RelationGetRelationName(rel),
						 OidIsValid(found) ? format_procedure(found) : "a domain's constraint");
}

/*
 * Appends to *why what else would run code with the table owner's rights
 * when momo writes rel (or when VACUUM or ANALYZE, acting as its owner,
 * reads it): a rule, and any CHECK constraint, column default or generated
 * column, index expression or predicate, or extended statistics expression
 * that calls code outside pg_catalog.  momo's own use pg_catalog's only.
 */
static void
check_expressions(Relation rel, StringInfo why)
{
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	TriggerDesc *td = rel->trigdesc;
	List	   *indexes;
	List	   *stats;
	ListCell   *lc;
	int			len = why->len;

	if (expressions_verified(RelationGetRelid(rel)))
		return;
	for (int i = 0; td && i < td->numtriggers; i++)
		if (td->triggers[i].tgqual)
			check_expression(rel, stringToNode(td->triggers[i].tgqual),
							 psprintf("the WHEN condition of trigger %s", td->triggers[i].tgname), why);
	if (rel->rd_rules != NULL && rel->rd_rules->numLocks > 0)
		appendStringInfo(why, "%s%s has a rule, which would run with momo's rights",
						 why->len ? "; " : "", RelationGetRelationName(rel));
	for (int i = 0; constr && i < constr->num_check; i++)
		check_expression(rel, stringToNode(constr->check[i].ccbin),
						 psprintf("constraint %s", constr->check[i].ccname), why);
	for (int i = 0; constr && i < constr->num_defval; i++)
		check_expression(rel, stringToNode(constr->defval[i].adbin),
						 psprintf("the default of column %s",
								  NameStr(TupleDescAttr(RelationGetDescr(rel), constr->defval[i].adnum - 1)->attname)),
						 why);
	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
		char	   *what = psprintf("index %s", RelationGetRelationName(idx));

		check_expression(rel, (Node *) RelationGetIndexExpressions(idx), what, why);
		check_expression(rel, (Node *) RelationGetIndexPredicate(idx), what, why);
		index_close(idx, AccessShareLock);
	}
	list_free(indexes);
	stats = RelationGetStatExtList(rel);
	foreach(lc, stats)
	{
		HeapTuple	tup = SearchSysCache1(STATEXTOID, ObjectIdGetDatum(lfirst_oid(lc)));
		bool		isnull;
		Datum		d;

		if (!HeapTupleIsValid(tup))
			continue;
		d = SysCacheGetAttr(STATEXTOID, tup, Anum_pg_statistic_ext_stxexprs, &isnull);
		if (!isnull)
			check_expression(rel, stringToNode(TextDatumGetCString(d)),
							 psprintf("statistics object %s",
									  NameStr(((Form_pg_statistic_ext) GETSTRUCT(tup))->stxname)),
							 why);
		ReleaseSysCache(tup);
	}
	list_free(stats);
	if (why->len == len)
		expressions_verified_add(RelationGetRelid(rel));
}

/* ------------------------------------------------------------------------
 * The runtime guard: no code of another role runs as momo_worker
 * ------------------------------------------------------------------------
 *
 * The checks above look at the tables before momo acts; but code a
 * non-superuser controls can change while momo's statement runs (a trigger
 * function that flips another to SECURITY INVOKER before it first fires, a
 * condition that runs SQL through query_to_xml, a concurrent ALTER
 * FUNCTION).  So at every call of a function made as momo_worker, PostgreSQL's
 * function manager hooks (as sepgsql uses them) check who owns it: only
 * pg_catalog's functions, a superuser's (momo's own C functions) and
 * momo_worker's own (momo's SQL functions) may run with its rights.  A
 * SECURITY DEFINER function of the application, as the recipe's trigger
 * calls, runs as its owner: the hook sees that role, not momo_worker.
 */
static Oid	worker_role = InvalidOid;	/* momo_worker's OID, or InvalidOid: not known */
static bool worker_role_looked = false;
static bool worker_role_callback = false;
static needs_fmgr_hook_type prev_needs_fmgr_hook = NULL;
static fmgr_hook_type prev_fmgr_hook = NULL;

static void
forget_worker_role(Datum arg pg_attribute_unused(), int cacheid pg_attribute_unused(),
				   uint32 hashvalue pg_attribute_unused())
{
	worker_role_looked = false;
}

/* True if the current user is momo_worker (only momo ever acts as it). */
static bool
acting_as_worker(void)
{
	if (!worker_role_looked)
	{
		if (!IsTransactionState())
			return false;
		if (!worker_role_callback)
		{
			CacheRegisterSyscacheCallback(AUTHOID, forget_worker_role, (Datum) 0);
			worker_role_callback = true;
		}
		worker_role = get_role_oid("momo_worker", true);
		worker_role_looked = true;
	}
	return OidIsValid(worker_role) && GetUserId() == worker_role;
}

/*
 * True if function fn_oid may run with momo_worker's rights: pg_catalog's, a
 * superuser's, or one of momo's own that momo_worker owns (its SQL
 * functions).  A function momo_worker owns that is not part of the
 * extension was left by someone who had its rights (a member, for a moment).
 */
static bool
trusted_function(Oid fn_oid)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));
	Form_pg_proc proc;
	bool		trusted;
	bool		workers;

	if (!HeapTupleIsValid(tup))
		return false;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	trusted = proc->pronamespace == PG_CATALOG_NAMESPACE || superuser_arg(proc->proowner);
	workers = proc->proowner == worker_role;
	ReleaseSysCache(tup);
	if (!trusted && workers)
	{
		Oid			ext = get_extension_oid("momo", true);

		trusted = OidIsValid(ext) && getExtensionOfObject(ProcedureRelationId, fn_oid) == ext;
	}
	return trusted;
}

static bool
momo_needs_fmgr_hook(Oid fn_oid)
{
	if (prev_needs_fmgr_hook && prev_needs_fmgr_hook(fn_oid))
		return true;
	return acting_as_worker() && !trusted_function(fn_oid);
}

static void
momo_fmgr_hook(FmgrHookEventType event, FmgrInfo *flinfo, Datum *private)
{
	if (event == FHET_START && acting_as_worker() && !trusted_function(flinfo->fn_oid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("momo refuses to run %s with its rights", format_procedure_qualified(flinfo->fn_oid)),
				 errdetail("A function of another role was called while momo acted as momo_worker (in a trigger, a condition, a default or a constraint on momo's tables)."),
				 errhint("Code on momo's tables must be SECURITY DEFINER and owned by the application; see the README, \"Security model\".")));

	/*
	 * A SECURITY DEFINER function called from momo's statements (the
	 * application's trigger) runs as its owner, and PostgreSQL keeps the
	 * caller's security context bits for it: momo's mark,
	 * MOMO_SECURITY_ACTING, is taken off for any function that starts as
	 * another role than momo_worker, until it returns (PostgreSQL puts the
	 * caller's context back then for a SECURITY DEFINER function, and an
	 * abort does; momo's own switches to the caller drop it themselves), so
	 * that nothing it calls -- a function someone left owned by momo_worker,
	 * a GRANT momo_worker in a function of a CREATEROLE role -- acts as
	 * momo's own code (red teams had both write payouts).  Judged by the
	 * role the function runs as, not by the catalog: PostgreSQL keeps a
	 * SECURITY DEFINER function's owner from its first call in a statement,
	 * even if the function is altered meanwhile (a red team's flipped itself
	 * to SECURITY INVOKER between two rows).
	 */
	if (event == FHET_START)
	{
		Oid			userid;
		int			sec_context;

		GetUserIdAndSecContext(&userid, &sec_context);
		if ((sec_context & MOMO_SECURITY_ACTING) != 0 && !acting_as_worker())
			SetUserIdAndSecContext(userid, sec_context & ~MOMO_SECURITY_ACTING);
	}
	if (prev_fmgr_hook)
		prev_fmgr_hook(event, flinfo, private);
}

/* Installs the runtime guard (_PG_init). */
void
momo_owner_install_hooks(void)
{
	prev_needs_fmgr_hook = needs_fmgr_hook;
	needs_fmgr_hook = momo_needs_fmgr_hook;
	prev_fmgr_hook = fmgr_hook;
	fmgr_hook = momo_fmgr_hook;
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

	/*
	 * With session_replication_role = replica, triggers of the default kind
	 * do not fire: momo's row guard, change feed, counters and NOTIFY on
	 * what its statements write.  (Its writer guards fire ALWAYS: no role
	 * but momo_worker and superusers writes its tables in that mode either.)
	 */
	if (SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("momo's functions do not run with session_replication_role = replica"),
				 errdetail("momo's triggers on its tables would not fire."),
				 errhint("SET session_replication_role = origin first.")));
	a->schema = pstrdup(quote_identifier(name));
	a->caller = GetUserId();
	a->relid = get_relname_relid("momo_payments", nsp);
	if (!OidIsValid(a->relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("schema \"%s\" has no table momo_payments", name)));
	a->owner = momo_owner_of(a->relid);
	problem = momo_owner_schema_problem(nsp);
	if (problem == NULL)
		problem = momo_owner_table_problem(a->relid, a->owner, nsp);
	if (problem)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("momo refuses to act: %s", problem),
				 errhint("See the README, \"Security model\"; momo_preflight() shows it too.")));
	GetUserIdAndSecContext(&a->saved_userid, &a->saved_sec_context);
	SetUserIdAndSecContext(a->owner, a->saved_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION | MOMO_SECURITY_ACTING);
	momo_spi_connect();
}

/*
 * Saves the current user and security context in *save_userid and
 * *save_sec_context (the caller gives them back with SetUserIdAndSecContext,
 * in a PG_FINALLY), and becomes caller, to run a statement under the
 * caller's own privileges and row-level security policies -- without
 * momo's mark (owner.h): those policies are the caller's code.
 */
void
momo_owner_as_caller(Oid caller, Oid *save_userid, int *save_sec_context)
{
	GetUserIdAndSecContext(save_userid, save_sec_context);
	SetUserIdAndSecContext(caller, (*save_sec_context | SECURITY_LOCAL_USERID_CHANGE) & ~MOMO_SECURITY_ACTING);
}

/* Ends what momo_owner_enter began: SPI finished, the caller's identity back. */
void
momo_owner_leave(MomoActing *a)
{
	SPI_finish();
	SetUserIdAndSecContext(a->saved_userid, a->saved_sec_context);
}
