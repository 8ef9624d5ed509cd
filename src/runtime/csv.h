/* csv.h — billing CSV files record by record, pure: a quoted field may span lines (the line a record starts on is
 * its number), quotes are counted to know where a record ends; the fields of a record, quotes respected. What a
 * record means is the importer's (billing_import.c): this only cuts the file into records. */
#ifndef KB_CSV_H
#define KB_CSV_H

#include <stddef.h>
#include <stdio.h>

/* Called for each record with its first line's number and its text (line ends included; the buffer may be
 * changed). Returns 0 to go on, or a negative error that stops the reading and is returned. */
typedef int (*csv_record_fn)(void *ctx, long line, char *rec, size_t len);

/* Reads f's records, numbering lines from first_line + 1 (the header being first_line). When the file ends inside
 * a quoted field, *open_at gets the line that record started on (else 0). Returns 0, KB_ERR_NOMEM, or the
 * callback's error. */
int csv_read(FILE *f, long first_line, csv_record_fn fn, void *ctx, long *open_at);
/* The fields of a record (commas outside quotes, plus one), or -1 when a quote is still open. */
int csv_fields(const char *rec, size_t len);

#endif
