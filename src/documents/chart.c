/* chart.c — the ledger chart as a PNG (see chart.h). */
#include <stdlib.h>
#include <string.h>
#include "chart.h"
#include "err.h"

#define W 640
#define H 360
#define LEFT 40
#define RIGHT 20
#define TOP 20
#define BOTTOM 40              /* the x axis is at H - BOTTOM */

enum { WHITE, GRID, AXIS, CHARGED, PAID, KWH };
static const unsigned char palette[][3] = {
    {255, 255, 255}, {225, 225, 225}, {90, 90, 90}, {205, 70, 60}, {60, 160, 90}, {40, 90, 200}};

/* ---------------------------------------------------------------- pixels */

typedef struct {
    unsigned char px[H][W];
} canvas_t;

static void rect(canvas_t *c, int x0, int y0, int x1, int y1, unsigned char color)
{
    for (int y = y0 < 0 ? 0 : y0; y <= y1 && y < H; y++)
        for (int x = x0 < 0 ? 0 : x0; x <= x1 && x < W; x++)
            c->px[y][x] = color;
}

/* ---------------------------------------------------------------- PNG */

/* CRC-32 as PNG defines it (bitwise: a chunk is computed once, and no table is shared between threads). */
static uint32_t crc(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

typedef struct {
    unsigned char *p;
    size_t len, cap;
    int oom;
} buf_t;

static void put(buf_t *b, const void *data, size_t n)
{
    if (b->oom || n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put32(buf_t *b, uint32_t v)
{
    unsigned char x[4] = {v >> 24, v >> 16, v >> 8, v};
    put(b, x, 4);
}

/* One chunk: length, type, data, CRC of type and data. */
static void chunk(buf_t *b, const char *type, const unsigned char *data, size_t n)
{
    put32(b, (uint32_t)n);
    size_t at = b->len;
    put(b, type, 4);
    put(b, data, n);
    if (!b->oom)
        put32(b, crc(b->p + at, n + 4));
}

int chart_png(const chart_month_t *m, int n, unsigned char **png, size_t *len)
{
    if (!m || n < 1 || n > CHART_MAX_MONTHS || !png || !len)
        return KB_ERR_INVAL;
    canvas_t *c = calloc(1, sizeof *c);
    if (!c)
        return KB_ERR_NOMEM;
    /* scales: money from 0 to its largest, kWh from 0 to its largest */
    int64_t money = 1;
    double kwh = 1;
    for (int i = 0; i < n; i++) {
        money = m[i].charged_kopecks > money ? m[i].charged_kopecks : money;
        money = m[i].paid_kopecks > money ? m[i].paid_kopecks : money;
        kwh = m[i].consumed_kwh > kwh ? m[i].consumed_kwh : kwh;
    }
    int base = H - BOTTOM, span = H - BOTTOM - TOP, slot = (W - LEFT - RIGHT) / n;
    for (int g = 1; g <= 4; g++) /* grid lines at quarters */
        rect(c, LEFT, base - span * g / 4, W - RIGHT, base - span * g / 4, GRID);
    for (int i = 0; i < n; i++) {
        int x = LEFT + i * slot, bar = slot / 3 > 1 ? slot / 3 : 1, gap = (slot - 2 * bar) / 2;
        int hc = (int)(m[i].charged_kopecks > 0 ? m[i].charged_kopecks * span / money : 0);
        int hp = (int)(m[i].paid_kopecks > 0 ? m[i].paid_kopecks * span / money : 0);
        hc = hc < 2 ? 2 : hc;
        hp = hp < 2 ? 2 : hp;
        rect(c, x + gap, base - hc, x + gap + bar - 1, base - 1, CHARGED);
        rect(c, x + gap + bar, base - hp, x + gap + 2 * bar - 1, base - 1, PAID);
        int hk = (int)(m[i].consumed_kwh > 0 ? m[i].consumed_kwh * span / kwh : 0), cx = x + slot / 2;
        int cy = base - (hk < 4 ? 4 : hk);
        rect(c, cx - 2, cy - 2, cx + 2, cy + 2, KWH);
    }
    rect(c, LEFT, base, W - RIGHT, base + 1, AXIS);   /* the x axis */
    rect(c, LEFT - 2, TOP, LEFT - 1, base + 1, AXIS); /* the y axis */
    for (int i = 0; i < n; i++)                       /* a tick under each month */
        rect(c, LEFT + i * slot + slot / 2, base + 2, LEFT + i * slot + slot / 2, base + 6, AXIS);

    /* the image data: each row a filter byte (0) and 4-bit indices, as stored deflate blocks in a zlib stream */
    size_t row = 1 + W / 2, raw_len = row * H;
    unsigned char *raw = malloc(raw_len);
    buf_t z = {0}, out = {0};
    if (!raw) {
        free(c);
        return KB_ERR_NOMEM;
    }
    for (int y = 0; y < H; y++) {
        unsigned char *r = raw + (size_t)y * row;
        r[0] = 0;
        for (int x = 0; x < W; x += 2)
            r[1 + x / 2] = (unsigned char)(c->px[y][x] << 4 | c->px[y][x + 1]);
    }
    free(c);
    unsigned char zh[2] = {0x78, 0x01};
    put(&z, zh, 2);
    uint32_t a = 1, b = 0;
    for (size_t off = 0; off < raw_len;) {
        size_t k = raw_len - off > 65535 ? 65535 : raw_len - off;
        unsigned char hdr[5] = {off + k == raw_len, k & 0xFF, k >> 8, ~k & 0xFF, (~k >> 8) & 0xFF};
        put(&z, hdr, 5);
        put(&z, raw + off, k);
        for (size_t i = 0; i < k; i++) {
            a = (a + raw[off + i]) % 65521;
            b = (b + a) % 65521;
        }
        off += k;
    }
    put32(&z, b << 16 | a);
    free(raw);

    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    unsigned char ihdr[13] = {0, 0, W >> 8, W & 0xFF, 0, 0, H >> 8, H & 0xFF, 4, 3, 0, 0, 0}; /* 4-bit palette */
    unsigned char plte[sizeof palette];
    memcpy(plte, palette, sizeof palette);
    put(&out, sig, 8);
    chunk(&out, "IHDR", ihdr, 13);
    chunk(&out, "PLTE", plte, sizeof plte);
    chunk(&out, "IDAT", z.p, z.len);
    chunk(&out, "IEND", NULL, 0);
    int oom = z.oom || out.oom;
    free(z.p);
    if (oom) {
        free(out.p);
        return KB_ERR_NOMEM;
    }
    *png = out.p;
    *len = out.len;
    return 0;
}
