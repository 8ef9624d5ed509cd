/* meter.h — the arithmetic of meter readings, as the retailers' portals state it. Pure functions, no I/O.
 *
 * A reading is an exact decimal held as int64 thousandths of a kWh (meter_milli_t): "29 700,5" is 29700500.
 * Consumption = (current − previous) × transformation ratio. When current < previous the meter may have rolled over:
 * consumption = (10^digits + current − previous) × ratio, and the customer must confirm it (Хакасэнергосбыт:
 * previous 29700, entered 28000, 5 digits → 98300 kWh). A consumption above the retailer's threshold (50,000 kWh in
 * the seeds) also asks for confirmation. A value must fit the meter's digits. */
#ifndef KB_METER_H
#define KB_METER_H

#include <stddef.h>
#include <stdint.h>

typedef int64_t meter_milli_t;
#define METER_SCALE 1000

/* Why a typed value is not a reading (negative, like every error). */
#define METER_EEMPTY (-1)        /* nothing typed */
#define METER_ENOTNUM (-2)       /* letters or stray signs: "29700 кВт", "abc" */
#define METER_ENEGATIVE (-3)     /* "-5" */
#define METER_EPRECISE (-4)      /* more than three decimals */
#define METER_EDIGITS (-5)       /* more whole digits than the meter has */
#define METER_EOVERFLOW (-6)     /* absurdly large */

/* Parses what a customer typed: digits with optional spaces between groups ("29 700", also no-break and thin
 * spaces), an optional decimal comma or point with up to three decimals. digits > 0 also checks that the whole part
 * fits a meter of that many digits. Returns 0 or a METER_E* code. */
int meter_parse(const char *text, int digits, meter_milli_t *out);

typedef struct {
    meter_milli_t consumption;   /* kWh × 1000, ratio applied */
    int rollover;                /* current < previous: counted as passing zero */
    int needs_confirmation;      /* rollover, or consumption above the threshold */
    int above_threshold;
} meter_calc_t;

/* Computes the consumption of a new reading. threshold_kwh is the retailer's confirmation threshold (50000).
 * Returns 0, KB_ERR_INVAL for impossible inputs (negative values, digits outside 1..12, ratio < 1, a value that does
 * not fit the digits), or METER_EOVERFLOW. */
int meter_consumption(meter_milli_t previous, meter_milli_t current, int digits, int64_t ratio, int64_t threshold_kwh,
                      meter_calc_t *out);

/* Writes a reading the Russian way: "29700", "29700,5", "0,125". Returns the length. */
int meter_format(meter_milli_t v, char *buf, size_t size);

/* The local calendar day (days since 1970-01-01) of a UTC instant for an account whose branch is offset_min minutes
 * east of UTC (Russia has no daylight saving: +120 … +720). */
int64_t meter_local_day(int64_t utc_ms, int offset_min);
/* Writes a day number as YYYY-MM-DD. */
int meter_day_format(int64_t day, char *buf, size_t size);

#endif
