/* log.h — structured logs: one JSON object per line on stderr.
 *
 * Each line carries time (UTC, ms), level, module, message and optional fields. Nothing personal or secret may be
 * written raw: the log_mask_* helpers turn a phone, an email or a token into a form that identifies it to an
 * operator without disclosing it. */
#ifndef KB_LOG_H
#define KB_LOG_H

#include <stddef.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF } log_level_t;

/* Sets the lowest level written (default LOG_INFO). */
void log_set_level(log_level_t level);
/* Parses "debug", "info", "warn", "error", "off"; returns 0 or KB_ERR_INVAL. */
int log_parse_level(const char *s, log_level_t *out);
/* Redirects the log to fd (default 2); used by tests. */
void log_set_fd(int fd);
/* Whether a message at level would be written. */
int log_enabled(log_level_t level);

/* Writes one line. fields is NULL or a NULL-terminated list of key, value string pairs. */
void log_write(log_level_t level, const char *module, const char *msg, const char *const *fields);
/* printf-style convenience around log_write without fields. */
void log_printf(log_level_t level, const char *module, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(mod, ...) do { if (log_enabled(LOG_DEBUG)) log_printf(LOG_DEBUG, mod, __VA_ARGS__); } while (0)
#define log_info(mod, ...) log_printf(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_printf(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_printf(LOG_ERROR, mod, __VA_ARGS__)

/* "+79161234567" → "+7916***4567": country and operator code, then the last four digits. Writes at most size bytes
 * (always NUL-terminated) and returns out. Anything that is not a phone comes out as "***". */
char *log_mask_phone(const char *phone, char *out, size_t size);
/* "ivan.petrov@mail.ru" → "i***v@mail.ru"; not an email → "***". */
char *log_mask_email(const char *email, char *out, size_t size);
/* A secret → its first 4 characters and its length ("1234…(46)"); short secrets → "***". */
char *log_mask_token(const char *token, char *out, size_t size);
/* Copies free text (what a customer typed, a reply rendered) with every phone number in it (+7 916 123-45-67,
 * 89161234567, 9161234567) and every email address masked as above; the rest as it is. Returns out. */
char *log_mask_text(const char *text, char *out, size_t size);
/* Copies a connection string or URL with any password replaced by "***" (user:pass@, password=…). */
char *log_mask_url(const char *url, char *out, size_t size);

#endif
