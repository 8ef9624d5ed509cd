/* doc.h — what kabinet's PDF documents share (bills, checks): a libharu document with the DejaVu Sans font that
 * Debian ships (fonts-dejavu-core, so Cyrillic is embedded), one A4 page, lines of text from the catalog, and the
 * finished PDF as bytes. Rendering does no I/O but reading the font: call it off the loop (uv_queue_work). */
#ifndef KB_DOC_H
#define KB_DOC_H

#include <stddef.h>
#include <hpdf.h>
#include <cjson/cJSON.h>

#define DOC_FONT "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

typedef struct {
    HPDF_Doc pdf;
    HPDF_Font font;
    HPDF_Page page;
    HPDF_STATUS error;             /* libharu's first error */
    float top;                     /* the page's first line */
} doc_t;

/* Starts a document with one A4 page. Returns 0, KB_ERR_NOMEM, or KB_ERR_INVAL with err set (font missing). */
int doc_open(doc_t *d, char *err, size_t errlen);
/* One line of text at (x, y) from catalog key with params. */
void doc_line(doc_t *d, float size, float x, float y, const char *lang, const char *key, const cJSON *params);
/* Finishes: the PDF into a malloc'ed *pdf / *len, and frees the document either way. rc is the caller's result so
 * far (nonzero: just free). Returns 0 or a negative error with err set. */
int doc_finish(doc_t *d, int rc, unsigned char **pdf, size_t *len, char *err, size_t errlen);
/* A string member of o, or "". */
const char *doc_str(const cJSON *o, const char *k);
/* A number member of o, or 0. */
long long doc_num(const cJSON *o, const char *k);

#endif
