/*-------------------------------------------------------------------------
 *
 * pause.h
 *	  The pause switch: momo_pause and momo_resume, the trigger of
 *	  momo_pauses, and what the worker and momo_preflight read of it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_PAUSE_H
#define MOMO_PAUSE_H

#include "utils/timestamp.h"

#include "settings.h"

/* The NOTIFY channel of pauses and resumes. */
#define MOMO_PAUSE_CHANNEL "momo_pause"

/* A product's row of momo_pauses, as read. */
typedef struct MomoPauseRow
{
	bool		paused;			/* the product has a row */
	bool		automatic;		/* written by the worker, on MTN's refusal */
	char	   *reason;
	char	   *paused_by;
	TimestampTz paused_at;
} MomoPauseRow;

extern bool momo_pause_read(Oid nsp, const char *schema, MemoryContext cxt,
							MomoPauseRow *rows);
extern bool momo_pause_write_automatic(Oid nsp, const char *schema, MomoProduct product,
									   const char *reason);
extern char *momo_pause_describe(const MomoPauseRow *row, MomoProduct product);
extern char *momo_pause_summary(Oid nsp, bool *any);

#endif							/* MOMO_PAUSE_H */
