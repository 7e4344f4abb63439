/*-------------------------------------------------------------------------
 *
 * lifecycle.c
 *	  The payment life cycle.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lifecycle.h"

const char *const momo_status_names[MOMO_N_STATUSES] = {
	[MOMO_STATUS_QUEUED] = MOMO_STATUS_QUEUED_NAME,
	[MOMO_STATUS_PENDING] = MOMO_STATUS_PENDING_NAME,
	[MOMO_STATUS_SUCCESSFUL] = MOMO_STATUS_SUCCESSFUL_NAME,
	[MOMO_STATUS_FAILED] = MOMO_STATUS_FAILED_NAME,
};

/* Returns the status named name; an ERROR if there is none (a can't-happen: the CHECK constraint). */
MomoStatus
momo_lifecycle_status_by_name(const char *name)
{
	for (int s = 0; s < MOMO_N_STATUSES; s++)
		if (strcmp(name, momo_status_names[s]) == 0)
			return (MomoStatus) s;
	elog(ERROR, "unknown payment status \"%s\"", name);
	return MOMO_STATUS_QUEUED;	/* keep the compiler quiet */
}
