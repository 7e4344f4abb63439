/*-------------------------------------------------------------------------
 *
 * redact.h
 *	  Log redaction of momo's secret settings.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_REDACT_H
#define MOMO_REDACT_H

extern void momo_redact_install(void);

#endif							/* MOMO_REDACT_H */
