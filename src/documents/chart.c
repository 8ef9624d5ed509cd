/* chart.c — the ledger chart as a PNG (see chart.h): scales, then the grid and its labels, the bars, the kWh lines,
 * the months, the title and the legend, each a cairo path in user space (pixels); cairo's PNG writer compresses. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cairo.h>
#include "chart.h"
#include "err.h"
#include "text.h"

#define LEFT 120               /* the plot's box: money labels at its left, kWh labels at its right */
#define RIGHT (CHART_W - 110)
#define TOP 130
#define BASE (CHART_H - 90)    /* the x axis */
#define GRID_LINES 5
#define FONT "DejaVu Sans"

static const unsigned zone_rgb[CHART_MAX_ZONES] = {CHART_RGB_KWH, 0x8C3CC8, 0x14A0A0};

/* ---------------------------------------------------------------- helpers */

static void rgb(cairo_t *cr, unsigned c)
{
    cairo_set_source_rgb(cr, ((c >> 16) & 255) / 255.0, ((c >> 8) & 255) / 255.0, (c & 255) / 255.0);
}

/* A round top for a scale: the step of GRID_LINES lines is 1, 2, 2.5 or 5 times a power of ten. */
static double nice_top(double v)
{
    if (!(v > 0))
        return GRID_LINES;
    double raw = v / GRID_LINES, mag = pow(10, floor(log10(raw))), norm = raw / mag;
    double step = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10;
    return step * mag * GRID_LINES;
}

/* Draws text with its anchor at (x, y): align 0 left, 1 centre, 2 right; y is the baseline. */
static void label(cairo_t *cr, const char *s, double x, double y, int align)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - (align == 1 ? e.x_advance / 2 : align == 2 ? e.x_advance : 0), y);
    cairo_show_text(cr, s);
}

/* A number for an axis: the catalog's way of writing it (1 234 567), with a unit after a non-breaking space. */
static void axis_number(const char *lang, double v, const char *unit, char *buf, size_t size)
{
    char raw[32], num[40];
    snprintf(raw, sizeof raw, "%.0f", v);
    txt_number(lang, raw, num, sizeof num);
    snprintf(buf, size, "%s%s%s", num, unit[0] ? "\xC2\xA0" : "", unit);
}

/* A legend entry at (x, y): a swatch (a bar, or a line with its point) and the words; returns the next entry's x. */
static double legend(cairo_t *cr, double x, double y, unsigned color, int line, const char *words)
{
    rgb(cr, color);
    if (line) {
        cairo_set_line_width(cr, 3);
        cairo_move_to(cr, x, y - 7);
        cairo_line_to(cr, x + 28, y - 7);
        cairo_stroke(cr);
        cairo_arc(cr, x + 14, y - 7, 5, 0, 2 * M_PI);
        cairo_fill(cr);
    } else {
        cairo_rectangle(cr, x + 4, y - 16, 20, 18);
        cairo_fill(cr);
    }
    rgb(cr, 0x303030);
    label(cr, words, x + 36, y, 0);
    cairo_text_extents_t e;
    cairo_text_extents(cr, words, &e);
    return x + 36 + e.x_advance + 34;
}

typedef struct {
    unsigned char *data;
    size_t len, cap;
} png_buf_t;

static cairo_status_t png_write(void *closure, const unsigned char *data, unsigned int length)
{
    png_buf_t *b = closure;
    if (b->len + length > b->cap) {
        size_t cap = (b->len + length) * 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d)
            return CAIRO_STATUS_NO_MEMORY;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, length);
    b->len += length;
    return CAIRO_STATUS_SUCCESS;
}

/* ---------------------------------------------------------------- the chart */

/* The scales, the grid and the axis labels: rubles at the left, kWh at the right. */
static void draw_grid(cairo_t *cr, const char *lang, double money_top, double kwh_top)
{
    cairo_set_font_size(cr, 17);
    cairo_set_line_width(cr, 1);
    for (int g = 0; g <= GRID_LINES; g++) {
        double y = BASE - (double)(BASE - TOP) * g / GRID_LINES;
        rgb(cr, g ? 0xDDDDDD : 0x5A5A5A);
        cairo_move_to(cr, LEFT, floor(y) + 0.5);
        cairo_line_to(cr, RIGHT, floor(y) + 0.5);
        cairo_stroke(cr);
        char s[64];
        rgb(cr, 0x404040);
        axis_number(lang, money_top * g / GRID_LINES, "₽", s, sizeof s);
        label(cr, s, LEFT - 12, y + 6, 2);
        rgb(cr, CHART_RGB_KWH);
        axis_number(lang, kwh_top * g / GRID_LINES, "", s, sizeof s);
        label(cr, s, RIGHT + 12, y + 6, 0);
    }
}

/* For each month: its two bars (at least 4 pixels high, so that a zero shows above a kWh line along the axis; on
 * whole pixels, so that their colours are exact). */
static void draw_bars(cairo_t *cr, const chart_t *c, double money_top)
{
    double slot = (double)(RIGHT - LEFT) / c->n;
    for (int i = 0; i < c->n; i++) {
        const chart_month_t *m = &c->months[i];
        int bar = (int)(slot * 0.3) > 1 ? (int)(slot * 0.3) : 1, x = (int)(LEFT + i * slot + (slot - 2 * bar) / 2);
        for (int k = 0; k < 2; k++) {
            double v = (k ? m->paid_kopecks : m->charged_kopecks) / 100.0;
            int h = (int)(v > 0 ? v * (BASE - TOP) / money_top : 0);
            h = h < 4 ? 4 : h;
            rgb(cr, k ? CHART_RGB_PAID : CHART_RGB_CHARGED);
            cairo_rectangle(cr, x + k * bar, BASE - h, bar, h);
            cairo_fill(cr);
        }
    }
}

/* The kWh of each month as a line with a point a month: one line per zone when there are zones. */
static void draw_kwh(cairo_t *cr, const chart_t *c, double kwh_top)
{
    double slot = (double)(RIGHT - LEFT) / c->n;
    int lines = c->zones > 1 ? c->zones : 1;
    for (int z = 0; z < lines; z++) {
        rgb(cr, zone_rgb[z]);
        cairo_set_line_width(cr, 3);
        for (int i = 0; i < c->n; i++) {
            double v = c->zones > 1 ? c->months[i].zone_kwh[z] : c->months[i].consumed_kwh;
            double x = LEFT + (i + 0.5) * slot, y = BASE - (v > 0 ? v * (BASE - TOP) / kwh_top : 0);
            if (i)
                cairo_line_to(cr, x, y);
            else
                cairo_move_to(cr, x, y);
        }
        cairo_stroke(cr);
        for (int i = 0; i < c->n; i++) {
            double v = c->zones > 1 ? c->months[i].zone_kwh[z] : c->months[i].consumed_kwh;
            cairo_arc(cr, LEFT + (i + 0.5) * slot, BASE - (v > 0 ? v * (BASE - TOP) / kwh_top : 0), 5.5, 0, 2 * M_PI);
            cairo_fill(cr);
        }
    }
}

/* The months under the axis («ноя 2026»), as many as fit: every k-th when there are many. */
static void draw_months(cairo_t *cr, const chart_t *c)
{
    double slot = (double)(RIGHT - LEFT) / c->n;
    int every = (c->n + 11) / 12;
    cairo_set_font_size(cr, 16);
    rgb(cr, 0x303030);
    for (int i = 0; i < c->n; i += every) {
        char mon[32];
        const char *sp;
        txt_month(c->lang, c->months[i].month, 2, mon, sizeof mon);
        if (slot * every < 90 && (sp = strchr(mon, ' '))) { /* narrow: the year goes under the month */
            char first[32];
            snprintf(first, sizeof first, "%.*s", (int)(sp - mon), mon);
            label(cr, first, LEFT + (i + 0.5) * slot, BASE + 26, 1);
            label(cr, sp + 1, LEFT + (i + 0.5) * slot, BASE + 46, 1);
        } else {
            label(cr, mon, LEFT + (i + 0.5) * slot, BASE + 30, 1);
        }
    }
}

/* The title (the account and the period) and the legend. */
static void draw_title(cairo_t *cr, const chart_t *c)
{
    char from[32], to[32], title[256], words[128];
    txt_month(c->lang, c->months[0].month, 2, from, sizeof from);
    txt_month(c->lang, c->months[c->n - 1].month, 2, to, sizeof to);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "account", c->account ? c->account : "");
    cJSON_AddStringToObject(p, "from", from);
    cJSON_AddStringToObject(p, "to", to);
    txt_render(c->lang, "chart.title", p, title, sizeof title);
    rgb(cr, 0x202020);
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, 26);
    label(cr, title, LEFT, 52, 0);
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 18);
    double x = LEFT;
    txt_render(c->lang, "chart.charged", NULL, words, sizeof words);
    x = legend(cr, x, 96, CHART_RGB_CHARGED, 0, words);
    txt_render(c->lang, "chart.paid", NULL, words, sizeof words);
    x = legend(cr, x, 96, CHART_RGB_PAID, 0, words);
    for (int z = 0; z < (c->zones > 1 ? c->zones : 1); z++) {
        cJSON_AddNumberToObject(p, "zone", z + 1);
        txt_render(c->lang, c->zones > 1 ? "chart.kwh_zone" : "chart.kwh", p, words, sizeof words);
        cJSON_DeleteItemFromObject(p, "zone");
        x = legend(cr, x, 96, zone_rgb[z], 1, words);
    }
    cJSON_Delete(p);
}

int chart_png(const chart_t *c, unsigned char **png, size_t *len)
{
    if (!c || !c->months || c->n < 1 || c->n > CHART_MAX_MONTHS || !png || !len || c->zones > CHART_MAX_ZONES)
        return KB_ERR_INVAL;
    double money = 0, kwh = 0;
    for (int i = 0; i < c->n; i++) {
        const chart_month_t *m = &c->months[i];
        money = fmax(money, fmax(m->charged_kopecks, m->paid_kopecks) / 100.0);
        for (int z = 0; z < (c->zones > 1 ? c->zones : 1); z++)
            kwh = fmax(kwh, c->zones > 1 ? m->zone_kwh[z] : m->consumed_kwh);
    }
    double money_top = nice_top(money), kwh_top = nice_top(kwh);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, CHART_W, CHART_H);
    cairo_t *cr = cairo_create(s);
    rgb(cr, 0xFFFFFF);
    cairo_paint(cr);
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    draw_grid(cr, c->lang, money_top, kwh_top);
    draw_bars(cr, c, money_top);
    draw_kwh(cr, c, kwh_top);
    draw_months(cr, c);
    draw_title(cr, c);
    png_buf_t b = {0};
    int rc = cairo_status(cr) == CAIRO_STATUS_SUCCESS &&
                     cairo_surface_write_to_png_stream(s, png_write, &b) == CAIRO_STATUS_SUCCESS
                 ? 0
                 : KB_ERR_NOMEM;
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    if (rc) {
        free(b.data);
        return rc;
    }
    *png = b.data;
    *len = b.len;
    return 0;
}
