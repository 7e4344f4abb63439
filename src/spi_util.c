/*-------------------------------------------------------------------------
 *
 * spi_util.c
 *	  Connecting SPI and checking what it returns.  SPI reports most
 *	  failures (a failed statement, a missing privilege) as ERRORs of their
 *	  own; what is left, a result code momo did not expect, means momo's
 *	  statement or its use of SPI is wrong, and is reported here as an
 *	  internal error that names what was being done.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"

#include "spi_util.h"

/* Connects SPI; an ERROR if it cannot. */
void
momo_spi_connect(void)
{
	int			rc = SPI_connect();

	if (rc != SPI_OK_CONNECT)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not connect to SPI: %s", SPI_result_code_string(rc))));
}

/*
 * Raises an ERROR unless an SPI call returned expected; what says what the
 * call was doing ("reading the payment").
 */
void
momo_spi_check(int rc, int expected, const char *what)
{
	if (rc != expected)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("%s failed: %s", what, SPI_result_code_string(rc))));
}

/*
 * Prepares sql and keeps the plan for the life of the process
 * (SPI_keepplan); options are SPI_prepare_cursor's (the worker's statements
 * take CURSOR_OPT_GENERIC_PLAN: planned once, not for each execution).
 */
SPIPlanPtr
momo_spi_prepare_kept(const char *sql, int nargs, Oid *types, int options)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, types, options);

	if (plan == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not prepare a statement: %s",
						SPI_result_code_string(SPI_result))));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}
