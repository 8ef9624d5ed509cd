/* doc.c — the PDF document helpers (see doc.h). */
#include <stdio.h>
#include <stdlib.h>
#include "doc.h"
#include "err.h"
#include "text.h"

static void on_pdf_error(HPDF_STATUS error, HPDF_STATUS detail, void *data)
{
    (void)detail;
    doc_t *d = data;
    if (!d->error)
        d->error = error;
}

int doc_open(doc_t *d, char *err, size_t errlen)
{
    d->error = 0;
    d->pdf = HPDF_New(on_pdf_error, d);
    if (!d->pdf)
        return KB_ERR_NOMEM;
    HPDF_UseUTFEncodings(d->pdf);
    HPDF_SetCurrentEncoder(d->pdf, "UTF-8");
    HPDF_SetCompressionMode(d->pdf, HPDF_COMP_ALL);
    const char *fname = HPDF_LoadTTFontFromFile(d->pdf, DOC_FONT, HPDF_TRUE);
    d->font = fname ? HPDF_GetFont(d->pdf, fname, "UTF-8") : NULL;
    if (!d->font) {
        snprintf(err, errlen, "cannot load the font %s (package fonts-dejavu-core)", DOC_FONT);
        HPDF_Free(d->pdf);
        return KB_ERR_INVAL;
    }
    d->page = HPDF_AddPage(d->pdf);
    HPDF_Page_SetSize(d->page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
    d->top = HPDF_Page_GetHeight(d->page) - 60;
    return 0;
}

void doc_line(doc_t *d, float size, float x, float y, const char *lang, const char *key, const cJSON *params)
{
    char text[1024];
    txt_render(lang, key, params, text, sizeof text);
    HPDF_Page_BeginText(d->page);
    HPDF_Page_SetFontAndSize(d->page, d->font, size);
    HPDF_Page_TextOut(d->page, x, y, text);
    HPDF_Page_EndText(d->page);
}

int doc_finish(doc_t *d, int rc, unsigned char **pdf, size_t *len, char *err, size_t errlen)
{
    if (!rc && !d->error && HPDF_SaveToStream(d->pdf) == HPDF_OK) {
        HPDF_UINT32 size = HPDF_GetStreamSize(d->pdf);
        *pdf = malloc(size ? size : 1);
        HPDF_STATUS st = *pdf ? HPDF_ReadFromStream(d->pdf, *pdf, &size) : HPDF_FAILD_TO_ALLOC_MEM;
        if (st != HPDF_OK && st != HPDF_STREAM_EOF) {
            free(*pdf);
            *pdf = NULL;
            snprintf(err, errlen, "out of memory");
            rc = KB_ERR_NOMEM;
        }
        *len = size;
    } else if (!rc) {
        snprintf(err, errlen, "the PDF library failed (error 0x%04x)", (unsigned)d->error);
        rc = KB_ERR_INVAL;
    }
    HPDF_Free(d->pdf);
    return rc;
}

const char *doc_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

long long doc_num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}
