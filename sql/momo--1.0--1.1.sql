/*
 * momo--1.0--1.1.sql: from momo 1.0 to 1.1 (ALTER EXTENSION momo UPDATE).
 *
 * Every change to momo.sql after 1.0 is also made here, so that an updated
 * database ends exactly as a fresh install of 1.1 (the regression test
 * "upgrade" compares the two, object by object).
 */

\echo Use "ALTER EXTENSION momo UPDATE TO '1.1'" to load this file. \quit
