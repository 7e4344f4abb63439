/*-------------------------------------------------------------------------
 *
 * spi_util.h
 *	  Connecting SPI and checking what it returns, in one place: every SPI
 *	  failure is an ERROR that says what momo was doing.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_SPI_UTIL_H
#define MOMO_SPI_UTIL_H

extern void momo_spi_connect(void);
extern void momo_spi_check(int rc, int expected, const char *what);

#endif							/* MOMO_SPI_UTIL_H */
