/*-------------------------------------------------------------------------
 *
 * guard.c
 *	  momo_payments_guard, the trigger that guards every payment row: its
 *	  terms are well-formed when written and never change, it never goes
 *	  back to queued, a final payment never changes at all, and only final
 *	  payments may be deleted.  In C because it runs on every update the
 *	  worker makes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "access/htup_details.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "json.h"
#include "lifecycle.h"
#include "owner.h"
#include "protocol.h"
#include "settings.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(momo_payments_guard);
PG_FUNCTION_INFO_V1(momo_writer_guard);
PG_FUNCTION_INFO_V1(momo_ddl_guard);

/*
 * The columns that make up a payment's terms (a schema of 1.0 has no
 * api_version, extra_terms, callback_url nor party_id_type).
 */
static const char *const term_columns[] = {
	"reference_id", "external_id", "amount", "currency", "msisdn", "payer_message",
	"payee_note", "created_at", "product", "operation", "refund_of", "requested_by",
	"api_version", "extra_terms", "callback_url", "party_id_type"
};

/*
 * The members of a payment's body that momo writes from the row's own
 * columns (see momo_protocol_payment_body): the extra terms, spliced into
 * the same body, must not carry them again (JSON readers differ on which
 * of two equal members wins).
 */
static const char *const body_members[] = {
	"amount", "currency", "externalId", "payer", "payee", "payerMessage", "payeeNote",
	"referenceIdToRefund", "intendedPayer", "externalTransactionId", "money", "customerReference"
};

/*
 * Returns true if a pre-approval's extra terms d (jsonb) are its payer and
 * validityTime only, as momo_preapproval writes them: {"payer":
 * {"partyIdType": the row's party id type (MSISDN, EMAIL or PARTY_CODE),
 * "partyId": the row's msisdn}} and, if given, "validityTime", a positive
 * whole number.  (Its
 * body's other members, payerCurrency and payerMessage, come from the
 * row's columns: a payer other than the row's, or a member written twice,
 * would send what the table does not show.)
 */
static bool
preapproval_terms_ok(Datum d, const char *msisdn, MomoIdType type)
{
	Jsonb	   *jb = DatumGetJsonbP(d);
	bool		has_validity;
	char	   *text;
	MomoJsonField f[] = {{.path = "payer.partyIdType"}, {.path = "payer.partyId"}, {.path = "validityTime"}};
	Jsonb	   *payer;

	if (!JB_ROOT_IS_OBJECT(jb) || msisdn == NULL ||
		!DatumGetBool(DirectFunctionCall2(jsonb_exists, d, CStringGetTextDatum("payer"))))
		return false;
	has_validity = DatumGetBool(DirectFunctionCall2(jsonb_exists, d, CStringGetTextDatum("validityTime")));
	if (JB_ROOT_COUNT(jb) != (has_validity ? 2 : 1))
		return false;
	payer = DatumGetJsonbP(DirectFunctionCall2(jsonb_object_field, d, CStringGetTextDatum("payer")));
	if (!JB_ROOT_IS_OBJECT(payer) || JB_ROOT_COUNT(payer) != 2)
		return false;
	text = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	if (momo_json_extract(text, strlen(text), f, lengthof(f)) != NULL ||
		f[0].value == NULL || !f[0].is_string || f[1].value == NULL || !f[1].is_string ||
		strcmp(f[0].value, momo_party_id_types[type]) != 0 ||
		strcmp(f[1].value, msisdn) != 0)
		return false;
	if (has_validity &&
		(f[2].value == NULL || f[2].is_string || f[2].value[0] == '-' || f[2].value[0] == '0' ||
		 strspn(f[2].value, "0123456789") != strlen(f[2].value) || strlen(f[2].value) > 10 ||
		 strtoll(f[2].value, NULL, 10) > PG_INT32_MAX))	/* as momo_preapproval allows */
		return false;
	return true;
}

/*
 * Returns true if the extra terms of a new row (a schema of 1.0 has none)
 * are absent, or an object that repeats none of the body's own members.
 * An invoice's body names its payer intendedPayer: its payee (the
 * invoice's payee_msisdn) is one of its extra terms.  A pre-approval's are
 * checked by preapproval_terms_ok.
 */
static int	guard_fnumber(TupleDesc desc, const char *name);

static bool
extra_terms_ok(HeapTuple tup, TupleDesc desc, const char *operation, const char *msisdn,
			   MomoIdType type)
{
	bool		invoice = operation != NULL && strcmp(operation, "invoice") == 0;
	int			attnum = guard_fnumber(desc, "extra_terms");
	bool		isnull;
	Datum		d;

	if (attnum <= 0)
		return true;
	d = heap_getattr(tup, attnum, desc, &isnull);
	if (isnull)
		return true;
	if (operation != NULL && strcmp(operation, momo_operation_names[MOMO_PREAPPROVAL]) == 0)
		return preapproval_terms_ok(d, msisdn, type);
	if (!JB_ROOT_IS_OBJECT(DatumGetJsonbP(d)))
		return false;
	for (size_t i = 0; i < lengthof(body_members); i++)
		if (!(invoice && strcmp(body_members[i], "payee") == 0) &&
			DatumGetBool(DirectFunctionCall2(jsonb_exists, d, CStringGetTextDatum(body_members[i]))))
			return false;
	return true;
}

/*
 * The positions of the columns the guard has looked up, by the address of
 * their name (the guard asks with its own constant strings).  The guard
 * runs for every row the worker records, and looking up each of its
 * twenty-odd columns by name, a walk over the table's columns each, was a
 * third of its cost.  A remembered position is used only while the column
 * there is still a live one of that name, so a table changed by ALTER
 * TABLE costs one more look, never a wrong column.  A column that is
 * missing (a schema of 1.0 lacks some) is not remembered.
 */
#define GUARD_POSITIONS 64
static struct
{
	const char *name;
	int			attnum;
}			guard_positions[GUARD_POSITIONS];
static int	n_guard_positions = 0;

/* SPI_fnumber(desc, name), remembered (see guard_positions). */
static int
guard_fnumber(TupleDesc desc, const char *name)
{
	int			slot = -1;
	int			attnum;

	for (int i = 0; i < n_guard_positions; i++)
		if (guard_positions[i].name == name)
		{
			Form_pg_attribute att;

			slot = i;
			attnum = guard_positions[i].attnum;
			if (attnum < 1 || attnum > desc->natts)
				break;
			att = TupleDescAttr(desc, attnum - 1);
			if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
				return attnum;
			break;
		}
	attnum = SPI_fnumber(desc, name);
	if (attnum > 0)
	{
		if (slot < 0 && n_guard_positions < GUARD_POSITIONS)
			slot = n_guard_positions++;
		if (slot >= 0)
		{
			guard_positions[slot].name = name;
			guard_positions[slot].attnum = attnum;
		}
	}
	return attnum;
}

/* Returns the attribute number of column name. */
static int
attnum_of(TupleDesc desc, const char *name)
{
	int			attnum = guard_fnumber(desc, name);

	if (attnum <= 0)
		elog(ERROR, "momo_payments_guard: momo_payments has no column %s", name);
	return attnum;
}

/* Returns the text of column name of tup, or NULL. */
static char *
column_text(HeapTuple tup, TupleDesc desc, const char *name)
{
	int			attnum = attnum_of(desc, name);
	bool		isnull;
	Datum		d;
	Oid			typoutput;
	bool		varlena;

	d = heap_getattr(tup, attnum, desc, &isnull);
	if (isnull)
		return NULL;
	getTypeOutputInfo(TupleDescAttr(desc, attnum - 1)->atttypid, &typoutput, &varlena);
	return OidOutputFunctionCall(typoutput, d);
}

/*
 * Returns true if every text term of a new row has an equivalent in UTF-8,
 * which MTN takes: the worker could send no other (and used to stop
 * sending every payment of the database at such a row).
 */
static bool
terms_convert_to_utf8(HeapTuple tup, TupleDesc desc)
{
	const char *columns[] = {"external_id", "msisdn", "payer_message", "payee_note", "extra_terms"};

	for (size_t i = 0; i < lengthof(columns); i++)
	{
		char	   *v;

		if (guard_fnumber(desc, columns[i]) <= 0)
			continue;			/* extra_terms: not in a schema of 1.0 */
		v = column_text(tup, desc, columns[i]);
		if (v && !momo_validate_converts_to_utf8(v))
			return false;
	}
	return true;
}

/* Returns true if s matches ^[lo-hi]{min,max}$ in a plain ASCII sense. */
static bool
chars_between(const char *s, char lo, char hi, int min, int max)
{
	int			n = (int) strlen(s);

	if (n < min || n > max)
		return false;
	for (int i = 0; i < n; i++)
		if (s[i] < lo || s[i] > hi)
			return false;
	return true;
}

/* Returns true if an optional message is absent or 1 to 160 characters long. */
static bool
message_ok(const char *m)
{
	return m == NULL || (m[0] != '\0' && pg_mbstrlen(m) <= 160);
}

/*
 * Returns true if a customer reference is 1 to 64 characters long, without
 * control characters.
 */
static bool
reference_ok(const char *r)
{
	if (r[0] == '\0' || pg_mbstrlen(r) > 64)
		return false;
	for (const char *c = r; *c; c++)
		if ((unsigned char) *c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

/*
 * Returns the party id type of a row (msisdn in a schema of 1.0, which has
 * no party_id_type), or -1 if it names none (the CHECK constraint runs
 * after this trigger).
 */
static int
row_id_type(HeapTuple tup, TupleDesc desc)
{
	char	   *v;

	if (guard_fnumber(desc, "party_id_type") <= 0)
		return MOMO_ID_MSISDN;
	v = column_text(tup, desc, "party_id_type");
	for (int t = 0; t < MOMO_N_ID_TYPES; t++)
		if (v != NULL && strcmp(v, momo_id_type_names[t]) == 0)
			return t;
	return -1;
}

/*
 * Returns true if id is a party's id of type as momo's functions write it:
 * a number with its country code (8 to 15 digits, not starting with 0), an
 * email address, or a party code (a UUID in small letters).
 */
static bool
party_id_ok(const char *id, int type)
{
	switch (type)
	{
		case MOMO_ID_MSISDN:
			return chars_between(id, '0', '9', 8, 15) && id[0] != '0';
		case MOMO_ID_EMAIL:
			return momo_validate_is_email(id);
		case MOMO_ID_PARTY_CODE:
			return momo_validate_is_uuid(id) && strpbrk(id, "ABCDEF") == NULL;
	}
	return false;
}

/* Raises the guard's ERROR. */
static void
refuse(int sqlstate, const char *hint, const char *message)
{
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("%s", message),
			 hint ? errhint("%s", hint) : 0));
}

/*
 * Returns true if status (as stored, or as an UPDATE writes it: the CHECK
 * constraint runs after this trigger) names status s.
 */
static bool
status_is(const char *status, MomoStatus s)
{
	return status != NULL && strcmp(status, momo_status_names[s]) == 0;
}

/* Returns true if a status is final. */
static bool
is_final(const char *status)
{
	return status_is(status, MOMO_STATUS_SUCCESSFUL) || status_is(status, MOMO_STATUS_FAILED);
}

/*
 * Only momo writes its tables: its functions and its worker act as their
 * owner (momo_worker, owner.c), marked MOMO_SECURITY_ACTING, and a
 * superuser may.  Any other role given a write privilege -- a DBA's GRANT, a
 * member of pg_write_all_data, a grant kept by a superuser since demoted --
 * could queue a payout that the worker sends, mark successful a payment MTN
 * never confirmed (a red team did both), forge the audit trail or the
 * change feed, or lift a pause; and so could a session that became
 * momo_worker itself by SET ROLE, as a member of it (a red team's CREATEROLE
 * role granted itself momo_worker) or after its membership was revoked.
 */
static void
require_momo_writer(Relation rel)
{
	Oid			userid;
	int			sec_context;

	GetUserIdAndSecContext(&userid, &sec_context);
	if ((userid == rel->rd_rel->relowner && (sec_context & MOMO_SECURITY_ACTING) != 0) || superuser())
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("only momo writes %s", RelationGetRelationName(rel)),
			 errdetail("Role \"%s\" may not write it; momo's functions do.",
					   GetUserNameFromId(GetUserId(), false)),
			 errhint("Revoke write privileges on momo's tables (and membership in pg_write_all_data) from roles other than momo_worker.")));
}

/*
 * momo_writer_guard(): BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE, FOR
 * EACH STATEMENT, on every table momo writes: refuses any writer but
 * momo_worker and superusers (require_momo_writer).  Also on
 * momo_payments, for TRUNCATE, which fires no row trigger.
 */
Datum
momo_writer_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(td->tg_event))
		elog(ERROR, "momo_writer_guard must be a BEFORE ... FOR EACH STATEMENT trigger");
	require_momo_writer(td->tg_relation);
	return PointerGetDatum(NULL);
}

/*
 * momo_ddl_guard(): an event trigger, ON ddl_command_start, ENABLE ALWAYS:
 * refuses every DDL command (ALTER TABLE, GRANT, CREATE FUNCTION, COMMENT,
 * ...) by a role that has momo_worker's rights -- momo_worker itself, or a
 * member of it (momo's own code runs no DDL).  The owner of
 * momo's tables could otherwise disable their guards for a moment, grant
 * itself INSERT, or leave a function of its own that momo's statements
 * would trust, and revoke its membership: a red team's CREATEROLE role did
 * each, and the worker then sent a payout the role had written.  momo
 * refuses to act while momo_worker has members (owner.c), but cannot see
 * what a member changed and put back.  Superusers are not refused.
 */
Datum
momo_ddl_guard(PG_FUNCTION_ARGS)
{
	EventTriggerData *ed = (EventTriggerData *) fcinfo->context;
	Oid			worker = get_role_oid("momo_worker", true);
	Oid			userid = GetUserId();

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "momo_ddl_guard must be an event trigger");
	if (!OidIsValid(worker) || superuser() || !is_member_of_role(userid, worker))
		PG_RETURN_VOID();
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 userid == worker ?
			 errmsg("momo refuses %s as momo_worker", GetCommandTagName(ed->tag)) :
			 errmsg("momo refuses %s by role \"%s\", a member of momo_worker",
					GetCommandTagName(ed->tag), GetUserNameFromId(userid, false)),
			 errdetail("momo_worker owns momo's tables; only momo's own code acts as it."),
			 errhint("Grant momo_worker to no one: REVOKE momo_worker FROM the roles that are members of it.")));
	PG_RETURN_VOID();
}

/* The trigger function: BEFORE INSERT OR UPDATE OR DELETE, FOR EACH ROW. */
Datum
momo_payments_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	old;
	char	   *old_status;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		elog(ERROR, "momo_payments_guard must be a BEFORE ... FOR EACH ROW trigger");

	require_momo_writer(td->tg_relation);
	desc = RelationGetDescr(td->tg_relation);

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		HeapTuple	new = td->tg_trigtuple;
		char	   *currency = column_text(new, desc, "currency");
		char	   *msisdn = column_text(new, desc, "msisdn");
		char	   *external_id = column_text(new, desc, "external_id");
		char	   *operation = column_text(new, desc, "operation");
		int			type = row_id_type(new, desc);

		/*
		 * A payment to a service provider (operation payment) keeps its
		 * customer reference, which need not be a phone number, in msisdn.
		 * Every other payer or payee, a pre-approval's too (whose type
		 * extra_terms repeats, and must be the row's), is an id of the row's
		 * party id type.
		 */
		if (currency == NULL || !chars_between(currency, 'A', 'Z', 3, 3) || msisdn == NULL || type < 0 ||
			(operation != NULL && strcmp(operation, "payment") == 0 ?
			 (!reference_ok(msisdn) || type != MOMO_ID_MSISDN) :
			 !party_id_ok(msisdn, type)) ||
			!message_ok(column_text(new, desc, "payer_message")) ||
			!message_ok(column_text(new, desc, "payee_note")) ||
			(external_id != NULL && external_id[0] == '\0') ||
			!extra_terms_ok(new, desc, operation, msisdn, (MomoIdType) type) || !terms_convert_to_utf8(new, desc))
			refuse(ERRCODE_CHECK_VIOLATION,
				   "Request payments with momo_request_to_pay, which explains what is wrong.",
				   psprintf("payment %s has malformed terms", column_text(new, desc, "reference_id")));
		return PointerGetDatum(new);
	}

	old = td->tg_trigtuple;
	old_status = column_text(old, desc, "status");
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		bool		isnull;
		Datum		completed;

		if (!is_final(old_status))
			refuse(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				   "Only successful or failed payments can be deleted.",
				   psprintf("payment %s is %s and cannot be deleted", column_text(old, desc, "reference_id"), old_status));

		/*
		 * A final payment still counts for a while: its external_id is an
		 * idempotency key (deleting it would let a retry charge again), and
		 * a refund's row is what keeps later refunds within what was
		 * collected.  Only one older than momo.event_retention goes.
		 */
		completed = heap_getattr(old, attnum_of(desc, "completed_at"), desc, &isnull);
		if (isnull ||
			DatumGetTimestampTz(completed) >
			TimestampTzPlusMilliseconds(GetCurrentTransactionStartTimestamp(),
										-(int64) momo_event_retention_s * 1000))
			refuse(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				   "Final payments are kept for momo.event_retention: their external_id is an idempotency key, and refunds count against what was collected.",
				   psprintf("payment %s became final less than momo.event_retention ago and cannot be deleted yet", column_text(old, desc, "reference_id")));
		return PointerGetDatum(old);
	}

	/* UPDATE */
	if (is_final(old_status))
		refuse(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, NULL,
			   psprintf("payment %s is final (%s) and cannot change", column_text(old, desc, "reference_id"), old_status));
	for (size_t i = 0; i < lengthof(term_columns); i++)
	{
		int			attnum;
		Form_pg_attribute att;
		bool		old_null;
		bool		new_null;
		Datum		o;
		Datum		n;

		if ((strcmp(term_columns[i], "api_version") == 0 || strcmp(term_columns[i], "extra_terms") == 0 ||
			 strcmp(term_columns[i], "callback_url") == 0 || strcmp(term_columns[i], "party_id_type") == 0) &&
			guard_fnumber(desc, term_columns[i]) <= 0)
			continue;
		attnum = attnum_of(desc, term_columns[i]);
		att = TupleDescAttr(desc, attnum - 1);
		o = heap_getattr(old, attnum, desc, &old_null);
		n = heap_getattr(td->tg_newtuple, attnum, desc, &new_null);
		/*
		 * By content, not by bytes: a column that ALTER TABLE ... ADD COLUMN
		 * ... DEFAULT added (party_id_type, by the update from 1.0) reads
		 * from the rows written before as its stored default, with a 4-byte
		 * header, and from each row written after with a short one; the
		 * bytes differed, and no payment in flight across the update could
		 * be recorded again.
		 */
		if (old_null != new_null ||
			(!old_null && !datum_image_eq(o, n, att->attbyval, att->attlen)))
			refuse(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, "Request a new payment instead.",
				   psprintf("the terms of payment %s cannot change", column_text(old, desc, "reference_id")));
	}
	if (!status_is(old_status, MOMO_STATUS_QUEUED) &&
		status_is(column_text(td->tg_newtuple, desc, "status"), MOMO_STATUS_QUEUED))
		refuse(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, NULL,
			   psprintf("payment %s cannot go back from %s to queued", column_text(old, desc, "reference_id"), old_status));
	return PointerGetDatum(td->tg_newtuple);
}
