/*-------------------------------------------------------------------------
 *
 * spi_util.h
 *	  Connecting SPI, checking what it returns and keeping prepared plans,
 *	  in one place: every SPI failure is an ERROR that says what momo was
 *	  doing.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_SPI_UTIL_H
#define MOMO_SPI_UTIL_H

#include "executor/spi.h"

extern void momo_spi_connect(void);
extern void momo_spi_check(int rc, int expected, const char *what);
extern SPIPlanPtr momo_spi_prepare_kept(const char *sql, int nargs, Oid *types, int options);

#endif							/* MOMO_SPI_UTIL_H */
