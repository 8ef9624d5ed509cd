/* demo_data.h — a realistic retailer in an empty database, for trying kabinet and for benchmarks (demo_data.c). */
#ifndef KB_DEMO_DATA_H
#define KB_DEMO_DATA_H

#include <stddef.h>
#include <stdio.h>

/* Fills the database with accounts accounts, months of history and customers registered customers (the first 20
 * by SMS, the rest Telegram users), in one transaction, and says so on report.
 * Returns 0, KB_ERR_INVAL (numbers out of range), KB_ERR_STATE (the database already has accounts), or
 * KB_ERR_NOTCONN / KB_ERR_IO with one line in err. */
int demo_data_run(const char *conninfo, int accounts, int months, int customers, FILE *report, char *err, size_t errlen);

#endif
