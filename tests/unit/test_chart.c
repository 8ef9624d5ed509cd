/* test_chart.c — the ledger chart as a reader gets it: a compressed PNG of the promised size that cairo reads back,
 * with one bar of charges and one of payments for every month (counted in the picture's pixels along the axis)
 * and a line per zone. KB_CHART_OUT=DIR keeps the pictures to look at (tests/integration/test_portal.py reads one
 * with OCR). */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cairo.h>
#include "chart.h"
#include "err.h"

typedef struct {
    const unsigned char *data;
    size_t len, at;
} reader_t;

static cairo_status_t png_read(void *closure, unsigned char *data, unsigned int length)
{
    reader_t *r = closure;
    if (r->at + length > r->len)
        return CAIRO_STATUS_READ_ERROR;
    memcpy(data, r->data + r->at, length);
    r->at += length;
    return CAIRO_STATUS_SUCCESS;
}

/* How many separate runs of columns have a pixel of exactly colour rgb between rows y0 and y1 (the bars, whatever
 * line or point crosses them). */
static int runs(cairo_surface_t *s, int y0, int y1, unsigned rgb)
{
    const unsigned char *data = cairo_image_surface_get_data(s);
    int n = 0, inside = 0, stride = cairo_image_surface_get_stride(s);
    for (int x = 0; x < cairo_image_surface_get_width(s); x++) {
        int has = 0;
        for (int y = y0; y <= y1 && !has; y++)
            has = (((const uint32_t *)(data + (size_t)y * (size_t)stride))[x] & 0xFFFFFF) == rgb;
        n += has && !inside;
        inside = has;
    }
    return n;
}

/* n months from September 2025, z zones; written to KB_CHART_OUT/name when that is set. */
static cairo_surface_t *render(int n, int zones, const char *lang, const char *name, size_t *len)
{
    chart_month_t m[CHART_MAX_MONTHS];
    memset(m, 0, sizeof m);
    for (int i = 0; i < n; i++) {
        snprintf(m[i].month, sizeof m[i].month, "%04d-%02d", 2025 + (8 + i) / 12, (8 + i) % 12 + 1);
        m[i].charged_kopecks = 150000 + 23456 * (i % 5);
        m[i].paid_kopecks = i % 4 == 3 ? 0 : 140000 + 11111 * (i % 3); /* a month with no payment still has its bar */
        m[i].zone_kwh[0] = 180 + 20 * (i % 6);
        m[i].zone_kwh[1] = 90 + 10 * (i % 4);
        m[i].consumed_kwh = zones > 1 ? m[i].zone_kwh[0] + m[i].zone_kwh[1] : m[i].zone_kwh[0];
    }
    chart_t c = {lang, "1800000002", zones, m, n};
    unsigned char *png = NULL;
    assert_int_equal(chart_png(&c, &png, len), 0);
    const char *dir = getenv("KB_CHART_OUT");
    if (dir) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(png, 1, *len, f);
            fclose(f);
        }
    }
    assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
    reader_t r = {png, *len, 0};
    cairo_surface_t *s = cairo_image_surface_create_from_png_stream(png_read, &r);
    free(png);
    assert_int_equal(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    return s;
}

/* The plot: below the legend, down to the axis. */
#define PLOT_TOP 120
#define PLOT_BOTTOM (CHART_H - 91)

static void test_every_month_has_its_bars(void **state)
{
    int months[] = {1, 6, 12, 24, 60};
    for (size_t k = 0; k < sizeof months / sizeof *months; k++) {
        size_t len;
        char name[32];
        snprintf(name, sizeof name, "chart-%d.png", months[k]);
        cairo_surface_t *s = render(months[k], 1, "ru", name, &len);
        assert_int_equal(cairo_image_surface_get_width(s), CHART_W);
        assert_int_equal(cairo_image_surface_get_height(s), CHART_H);
        /* compressed: far below the 3 bytes a pixel of the raw picture */
        assert_true(len < (size_t)CHART_W * CHART_H / 8);
        assert_int_equal(runs(s, PLOT_TOP, PLOT_BOTTOM, CHART_RGB_CHARGED), months[k]);
        assert_int_equal(runs(s, PLOT_TOP, PLOT_BOTTOM, CHART_RGB_PAID), months[k]);
        assert_int_equal(runs(s, PLOT_BOTTOM - 2, PLOT_BOTTOM, CHART_RGB_PAID), months[k]); /* a zero's bar too */
        cairo_surface_destroy(s);
    }
}

static void test_zones_and_english(void **state)
{
    size_t len;
    cairo_surface_t *s = render(12, 2, "en", "chart-zones-en.png", &len);
    assert_int_equal(runs(s, PLOT_TOP, PLOT_BOTTOM, CHART_RGB_CHARGED), 12);
    cairo_surface_destroy(s);
    s = render(12, 2, "ru", "chart-zones.png", &len);
    cairo_surface_destroy(s);
}

static void test_refuses_what_it_cannot_draw(void **state)
{
    chart_month_t m[1] = {{"2026-11", 100, 100, 1, {0}}};
    unsigned char *png;
    size_t len;
    chart_t none = {"ru", "1", 1, m, 0}, many = {"ru", "1", 1, m, CHART_MAX_MONTHS + 1}, zones = {"ru", "1", 4, m, 1};
    assert_int_equal(chart_png(&none, &png, &len), KB_ERR_INVAL);
    assert_int_equal(chart_png(&many, &png, &len), KB_ERR_INVAL);
    assert_int_equal(chart_png(&zones, &png, &len), KB_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_month_has_its_bars),
        cmocka_unit_test(test_zones_and_english),
        cmocka_unit_test(test_refuses_what_it_cannot_draw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
