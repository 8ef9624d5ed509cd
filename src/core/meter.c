/* meter.c — parsing, checking and computing readings (see meter.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "err.h"
#include "meter.h"

/* Length of a space-like character at p (ASCII space, U+00A0, U+2009, U+202F), or 0. */
static size_t space_at(const unsigned char *p)
{
    if (*p == ' ')
        return 1;
    if (p[0] == 0xC2 && p[1] == 0xA0)
        return 2;
    if (p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0x89 || p[2] == 0xAF))
        return 3;
    return 0;
}

int meter_parse(const char *text, int digits, meter_milli_t *out)
{
    const unsigned char *p = (const unsigned char *)text, *end;
    size_t sp;
    while ((sp = space_at(p)) || *p == '\t' || *p == '\n' || *p == '\r')
        p += sp ? sp : 1;
    end = p + strlen((const char *)p);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
        end--;
    if (p == end)
        return METER_EEMPTY;
    if (*p == '-' || *p == 0xE2) /* '-' or a Unicode minus/dash (U+2212, U+2013) */
        return (*p == '-' || (p[1] == 0x88 && p[2] == 0x92) || (p[1] == 0x80 && p[2] == 0x93)) ? METER_ENEGATIVE
                                                                                               : METER_ENOTNUM;
    int64_t whole = 0, frac = 0;
    int whole_digits = 0, frac_digits = 0, seen_sep = 0, last_was_digit = 0;
    while (p < end) {
        if (*p >= '0' && *p <= '9') {
            if (seen_sep) {
                if (++frac_digits > 3)
                    return METER_EPRECISE;
                frac = frac * 10 + (*p - '0');
            } else {
                if (whole_digits > 0 || *p != '0')
                    whole_digits++;
                if (whole > (INT64_MAX / METER_SCALE - 9) / 10)
                    return METER_EOVERFLOW;
                whole = whole * 10 + (*p - '0');
            }
            last_was_digit = 1;
            p++;
        } else if ((*p == ',' || *p == '.') && !seen_sep && last_was_digit) {
            seen_sep = 1;
            last_was_digit = 0;
            p++;
        } else if ((sp = space_at(p)) && !seen_sep && last_was_digit && p + sp < end && p[sp] >= '0' && p[sp] <= '9') {
            p += sp; /* a group separator between digits */
        } else {
            return METER_ENOTNUM;
        }
    }
    if (!last_was_digit) /* "29700," */
        return METER_ENOTNUM;
    if (digits > 0 && whole_digits > digits)
        return METER_EDIGITS;
    while (frac_digits++ < 3)
        frac *= 10;
    *out = whole * METER_SCALE + frac;
    return 0;
}

int meter_consumption(meter_milli_t previous, meter_milli_t current, int digits, int64_t ratio, int64_t threshold_kwh,
                      meter_calc_t *out)
{
    memset(out, 0, sizeof *out);
    if (previous < 0 || current < 0 || digits < 1 || digits > 12 || ratio < 1)
        return KB_ERR_INVAL;
    int64_t span = METER_SCALE;
    for (int i = 0; i < digits; i++)
        span *= 10;
    if (current >= span || previous >= span)
        return KB_ERR_INVAL;
    int64_t diff = current - previous;
    if (diff < 0) {
        out->rollover = 1;
        diff += span;
    }
    if (__builtin_mul_overflow(diff, ratio, &out->consumption))
        return METER_EOVERFLOW;
    out->above_threshold = out->consumption > threshold_kwh * METER_SCALE;
    out->needs_confirmation = out->rollover || out->above_threshold;
    return 0;
}

int meter_format(meter_milli_t v, char *buf, size_t size)
{
    int neg = v < 0;
    uint64_t a = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    unsigned frac = (unsigned)(a % METER_SCALE);
    char f[8] = "";
    if (frac) {
        snprintf(f, sizeof f, ",%03u", frac);
        size_t n = strlen(f);
        while (n > 1 && f[n - 1] == '0')
            f[--n] = 0;
    }
    return snprintf(buf, size, "%s%llu%s", neg ? "-" : "", (unsigned long long)(a / METER_SCALE), f);
}

int64_t meter_local_day(int64_t utc_ms, int offset_min)
{
    int64_t local_ms = utc_ms + (int64_t)offset_min * 60000;
    int64_t day = local_ms / 86400000;
    return local_ms < 0 && local_ms % 86400000 ? day - 1 : day;
}

int meter_day_format(int64_t day, char *buf, size_t size)
{
    time_t t = (time_t)(day * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    return (int)strftime(buf, size, "%Y-%m-%d", &tm);
}
