/*-------------------------------------------------------------------------
 *
 * events.c
 *	  The event log of the synchronous calls (momo_balance, the account
 *	  holder functions, momo_delivery_notification, the consent flow): each
 *	  exchange with MTN is written to momo_events in the caller's
 *	  transaction, where it is seen at once; and, should that transaction
 *	  (or the subtransaction that made the call) abort -- the call's own
 *	  ERROR, MTN's refusal, a cancel, the caller's ROLLBACK --, it is handed
 *	  to the database's worker through shared memory, which writes it in a
 *	  transaction of its own.  MTN was asked either way, and momo_events
 *	  says so.
 *
 *	  A backend remembers what it logged in the current transaction, with
 *	  the nesting level that logged it: a committed subtransaction hands its
 *	  events to its parent, an aborted one hands them to the worker, the
 *	  top-level commit forgets them; a transaction that will be prepared
 *	  (PREPARE TRANSACTION) is refused, as its events could be neither kept
 *	  nor handed over.  The shared queue holds MOMO_PENDING_EVENTS of them,
 *	  of every database; when it is full, the events being handed over are
 *	  dropped (never another's), and the backend that drops them says so in
 *	  the server log.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "events.h"
#include "momo.h"
#include "store.h"

/* An exchange logged in the current transaction, and its nesting level. */
typedef struct LoggedEvent
{
	int			level;
	bool		in_flight;		/* asked, no answer yet (momo_events_begin_call) */
	MomoPendingEvent event;
} LoggedEvent;

/*
 * Events logged in this backend's transaction (in TopMemoryContext): one
 * per call, but a consent flow polls MTN for up to an hour.
 */
#define MAX_LOGGED 100000

static LoggedEvent *logged = NULL;
static int	n_logged = 0;
static int	logged_room = 0;
static uint64 logged_dropped = 0;	/* beyond MAX_LOGGED, in this transaction */
static bool callbacks_registered = false;

/*
 * The acting call about to ask MTN (momo_events_expect_call), until its
 * exchange is logged or its (sub)transaction ends.
 */
static bool expecting = false;
static MomoPendingEvent expected;

/* Copies s into a field of size len, cut short if need be. */
static void
copy_field(char *field, size_t len, const char *s)
{
	if (s == NULL)
		field[0] = '\0';
	else
		strlcpy(field, s, len);
}

/*
 * Hands the events logged at nesting level at least level to the worker of
 * this database, and forgets them.
 */
static void
events_hand_over(int level)
{
	int			kept = 0;
	bool		handed = false;
	bool		served = false;
	uint64		dropped = level == 0 ? logged_dropped : 0;

	if ((n_logged == 0 && dropped == 0) || momo_shared == NULL)
		return;
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	/* Only a database a worker serves: the others' would wait for ever. */
	for (int i = 0; i < momo_shared->ndatabases && !served; i++)
		served = momo_shared->databases[i].dboid == MyDatabaseId && momo_shared->databases[i].serving;
	for (int i = 0; i < n_logged; i++)
	{
		if (logged[i].level < level)
			logged[kept++] = logged[i];
		else if (!served || momo_shared->npending_events == MOMO_PENDING_EVENTS)
			dropped++;			/* full: this one, never another's */
		else
		{
			momo_shared->pending_events[momo_shared->npending_events++] = logged[i].event;
			handed = true;
		}
	}
	LWLockRelease(momo_shared->lock);
	n_logged = kept;
	if (level == 0)
		logged_dropped = 0;
	if (handed)
		momo_wake_worker();
	if (dropped > 0)
		ereport(LOG,
				(errmsg("momo could not keep %llu exchanges with MTN of an aborted transaction for momo_events",
						(unsigned long long) dropped),
				 served ?
				 errdetail("At most %d wait for the workers at once, and %d in one transaction.",
						   MOMO_PENDING_EVENTS, MAX_LOGGED) :
				 errdetail("No momo worker serves this database.")));
}

/* Transaction callback: a commit forgets the events, an abort hands them over. */
static void
events_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			expecting = false;
			events_hand_over(0);
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (n_logged > 0 || logged_dropped > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that asked MTN"),
						 errdetail("momo could not log the exchange if the prepared transaction were rolled back."),
						 errhint("Ask MTN outside the transaction to be prepared.")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			expecting = false;
			n_logged = 0;
			logged_dropped = 0;
			break;
		default:
			break;
	}
}

/* Subtransaction callback: an abort hands its events over, a commit to its parent. */
static void
events_subxact_callback(SubXactEvent event, SubTransactionId mySubid pg_attribute_unused(),
						SubTransactionId parentSubid pg_attribute_unused(),
						void *arg pg_attribute_unused())
{
	int			level = GetCurrentTransactionNestLevel();

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		expecting = false;
		events_hand_over(level);
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (int i = 0; i < n_logged; i++)
			if (logged[i].level >= level)
				logged[i].level = level - 1;
	}
}

/* Registers the transaction callbacks, once per backend. */
static void
events_register(void)
{
	if (!callbacks_registered)
	{
		RegisterXactCallback(events_xact_callback, NULL);
		RegisterSubXactCallback(events_subxact_callback, NULL);
		callbacks_registered = true;
	}
}

/*
 * Remembers an exchange for the worker should the transaction abort, at the
 * current nesting level; returns it, or NULL when the transaction has
 * remembered MAX_LOGGED already (it is counted as dropped).
 */
static LoggedEvent *
events_remember(const char *reference_id, const char *product, const char *operation,
				int http_status, const char *outcome, const char *reason, double latency_ms,
				const char *error)
{
	events_register();
	if (n_logged == logged_room && logged_room < MAX_LOGGED)
	{
		int			room = Min(MAX_LOGGED, Max(16, logged_room * 2));

		logged = logged == NULL ?
			MemoryContextAlloc(TopMemoryContext, sizeof(LoggedEvent) * room) :
			repalloc(logged, sizeof(LoggedEvent) * room);
		logged_room = room;
	}
	if (n_logged == logged_room)
	{
		logged_dropped++;
		return NULL;
	}
	else
	{
		MomoPendingEvent *e = &logged[n_logged].event;

		logged[n_logged].level = GetCurrentTransactionNestLevel();
		logged[n_logged].in_flight = false;
		e->dboid = MyDatabaseId;
		e->at = GetCurrentTimestamp();
		copy_field(e->reference_id, sizeof(e->reference_id), reference_id);
		copy_field(e->product, sizeof(e->product), product);
		copy_field(e->operation, sizeof(e->operation), operation);
		e->http_status = http_status;
		copy_field(e->outcome, sizeof(e->outcome), outcome);
		copy_field(e->reason, sizeof(e->reason), reason);
		e->latency_ms = latency_ms;
		copy_field(e->error, sizeof(e->error), error);
		return &logged[n_logged++];
	}
}

/*
 * Says that a synchronous call is about to ask MTN something that acts (a
 * cancellation, a notification, a consent request) through
 * momo_api_call_method: once its request leaves (momo_events_sending),
 * should the call be interrupted before its exchange is logged
 * (statement_timeout, a cancel, a lost client), the abort hands the worker
 * an event with the outcome "unknown", so that momo_events says MTN may
 * have acted.  Nothing is remembered for a call refused before its request
 * leaves (a read-only transaction, no token): MTN was not asked.  The
 * exchange's momo_events_log_call takes the unknown one's place.
 */
void
momo_events_expect_call(const char *reference_id, const char *product, const char *operation)
{
	events_register();
	memset(&expected, 0, sizeof(expected));
	copy_field(expected.reference_id, sizeof(expected.reference_id), reference_id);
	copy_field(expected.product, sizeof(expected.product), product);
	copy_field(expected.operation, sizeof(expected.operation), operation);
	expecting = true;
}

/* The expected call's request leaves now (see momo_events_expect_call). */
void
momo_events_sending(void)
{
	LoggedEvent *e;

	if (!expecting || (n_logged > 0 && logged[n_logged - 1].in_flight))
		return;
	e = events_remember(expected.reference_id[0] ? expected.reference_id : NULL, expected.product,
						expected.operation, 0, "unknown", NULL, 0,
						"the call was interrupted before MTN's answer was logged");
	if (e)
		e->in_flight = true;
}

/*
 * The expected call's request was refused without effect (MTN's 401: the
 * token or key; momo asks again with another): it is no unknown exchange.
 */
void
momo_events_not_acted(void)
{
	if (expecting && n_logged > 0 && logged[n_logged - 1].in_flight)
		n_logged--;
}

/*
 * Logs an exchange of a synchronous call in momo_events of schema, in the
 * caller's transaction, and remembers it for the worker should that
 * transaction abort (see above).  Runs as momo_worker (momo_owner_enter).
 */
void
momo_events_log_call(const char *schema, const char *reference_id, const char *product,
					 const char *operation, int http_status, const char *outcome,
					 const char *reason, double latency_ms, const char *error)
{
	/* The exchange takes the place of its call's "unknown" one, if any. */
	if (n_logged > 0 && logged[n_logged - 1].in_flight &&
		strcmp(logged[n_logged - 1].event.operation, operation) == 0)
		n_logged--;
	expecting = false;
	/* Remembered first: if the insert itself fails, the abort hands it over. */
	(void) events_remember(reference_id, product, operation, http_status, outcome, reason,
						   latency_ms, error);
	momo_store_log_event(schema, reference_id, product, operation, http_status, outcome,
						 reason, latency_ms, error);
}

/* Returns true if the worker of this database has events to write. */
bool
momo_events_pending(void)
{
	bool		any = false;

	LWLockAcquire(momo_shared->lock, LW_SHARED);
	for (int i = 0; i < momo_shared->npending_events && !any; i++)
		any = (momo_shared->pending_events[i].dboid == MyDatabaseId);
	LWLockRelease(momo_shared->lock);
	return any;
}

/*
 * The worker: writes the events handed over for this database to
 * momo_events of schema, in the current transaction, with the time of
 * their exchange.  Returns how many it wrote.
 */
int
momo_events_write_pending(const char *schema)
{
	MomoPendingEvent *mine = palloc(sizeof(MomoPendingEvent) * MOMO_PENDING_EVENTS);
	int			n = 0;
	int			kept = 0;

	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < momo_shared->npending_events; i++)
	{
		if (momo_shared->pending_events[i].dboid == MyDatabaseId)
			mine[n++] = momo_shared->pending_events[i];
		else
			momo_shared->pending_events[kept++] = momo_shared->pending_events[i];
	}
	momo_shared->npending_events = kept;
	LWLockRelease(momo_shared->lock);
	for (int i = 0; i < n; i++)
	{
		MomoPendingEvent *e = &mine[i];

		momo_store_log_event_at(schema, e->at, e->reference_id[0] ? e->reference_id : NULL,
								e->product, e->operation, e->http_status, e->outcome,
								e->reason[0] ? e->reason : NULL, e->latency_ms,
								e->error[0] ? e->error : NULL);
	}
	return n;
}
