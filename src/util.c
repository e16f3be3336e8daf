/*
 * util.c: allocation wrappers that end curses before aborting, the fixed
 * error buffer every library module reports through, file helpers, the -v
 * debug log, UTF-8 validation, a growable byte buffer, and JSON writing
 * through jansson with exact numbers.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "util.h"

static void	(*util_fatal_hook)(void);
static FILE	*log_file;

void
err_set(struct err *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
}

/* Prepend "prefix: " to an error already set, keeping it bounded. */
void
err_prefix(struct err *err, const char *fmt, ...)
{
	char	old[ERR_MSG_CAP], pre[ERR_MSG_CAP];
	va_list	ap;

	if (err == NULL)
		return;
	memcpy(old, err->msg, sizeof old);
	va_start(ap, fmt);
	vsnprintf(pre, sizeof pre, fmt, ap);
	va_end(ap);
	/* truncation is the intent: the message stays bounded */
	size_t n = strlen(pre);
	if (n > sizeof err->msg - 3)
		n = sizeof err->msg - 3;
	memcpy(err->msg, pre, n);
	memcpy(err->msg + n, ": ", 2);
	size_t m = strlen(old);
	if (m > sizeof err->msg - n - 3)
		m = sizeof err->msg - n - 3;
	memcpy(err->msg + n + 2, old, m);
	err->msg[n + 2 + m] = '\0';
}

void
err_clear(struct err *err)
{
	if (err != NULL)
		err->msg[0] = '\0';
}

/*
 * The front end that owns the terminal registers a hook (endwin) so that an
 * out-of-memory abort leaves a usable terminal behind.
 */
void
util_set_fatal_hook(void (*hook)(void))
{
	util_fatal_hook = hook;
}

void
util_fatal(const char *fmt, ...)
{
	va_list ap;

	if (util_fatal_hook != NULL)
		util_fatal_hook();
	fputs("lmsh: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void *
xmalloc(size_t size)
{
	void *p;

	if (size == 0)
		size = 1;
	if ((p = malloc(size)) == NULL)
		util_fatal("xmalloc: allocating %zu bytes: out of memory", size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p;

	if (n == 0 || size == 0)
		n = size = 1;
	if ((p = calloc(n, size)) == NULL)
		util_fatal("xcalloc: allocating %zu * %zu bytes: out of memory",
		    n, size);
	return p;
}

void *
xreallocarray(void *old, size_t n, size_t size)
{
	size_t	 total;
	void	*p;

	if (util_mul_size(n, size, &total) != 0)
		util_fatal("xreallocarray: %zu * %zu bytes overflows", n, size);
	if (total == 0)
		total = 1;
	if ((p = realloc(old, total)) == NULL)
		util_fatal("xreallocarray: allocating %zu bytes: out of memory",
		    total);
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t len)
{
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*p;

	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		util_fatal("xasprintf: out of memory");
	va_end(ap);
	return p;
}

int
util_mul_size(size_t a, size_t b, size_t *out)
{
	if (a != 0 && b > SIZE_MAX / a)
		return -1;
	*out = a * b;
	return 0;
}

int
util_add_size(size_t a, size_t b, size_t *out)
{
	if (a > SIZE_MAX - b)
		return -1;
	*out = a + b;
	return 0;
}

/*
 * Read a whole file into a NUL-terminated buffer; the caller frees *out with
 * free().  Errors name the path.
 */
int
util_read_file(const char *path, char **out, size_t *out_len, struct err *err)
{
	FILE	*f;
	char	*data = NULL;
	size_t	 len = 0, cap = 0, n;

	if ((f = fopen(path, "rb")) == NULL) {
		err_set(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 65536;
			data = realloc(data, cap + 1);
			if (data == NULL) {
				fclose(f);
				err_set(err, "%s: out of memory", path);
				return -1;
			}
		}
		n = fread(data + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		err_set(err, "%s: read error: %s", path, strerror(errno));
		fclose(f);
		free(data);
		return -1;
	}
	fclose(f);
	data[len] = '\0';
	*out = data;
	*out_len = len;
	return 0;
}

/*
 * Write through a temporary file and rename, so that a full disk or a kill
 * never leaves a half-written file where a good one was.
 */
int
util_write_file_atomic(const char *path, const void *data, size_t len,
    struct err *err)
{
	char	*tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	int	 fd, rc = -1;
	size_t	 off = 0;

	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1) {
		err_set(err, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	while (off < len) {
		ssize_t w = write(fd, (const char *)data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err_set(err, "%s: write: %s", path, strerror(errno));
			close(fd);
			unlink(tmp);
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		err_set(err, "%s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) != 0) {
		err_set(err, "%s: rename: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	free(tmp);
	return rc;
}

int
util_mkdir_p(const char *path, unsigned int mode, struct err *err)
{
	char	*p = xstrdup(path), *s;
	int	 rc = 0;

	for (s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST) {
			err_set(err, "%s: %s", p, strerror(errno));
			rc = -1;
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

double
util_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int
util_thread(void)
{
#ifdef _OPENMP
	return omp_get_thread_num();
#else
	return 0;
#endif
}

void
log_open(const char *path)
{
	if (log_file != NULL)
		fclose(log_file);
	log_file = fopen(path, "a");
	if (log_file != NULL)
		setvbuf(log_file, NULL, _IOLBF, 0);
}

void
log_close(void)
{
	if (log_file != NULL)
		fclose(log_file);
	log_file = NULL;
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_file == NULL)
		return;
	va_start(ap, fmt);
	vfprintf(log_file, fmt, ap);
	va_end(ap);
	fputc('\n', log_file);
}

/*
 * Length of the leading run of complete, valid UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF).
 */
size_t
utf8_valid_prefix(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0;

	while (i < len) {
		unsigned c = p[i];
		size_t n;
		unsigned min, cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 2; cp = c & 0x1f; min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 3; cp = c & 0x0f; min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 4; cp = c & 0x07; min = 0x10000;
		} else
			return i;
		if (len - i < n)
			return i;
		for (size_t k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += n;
	}
	return i;
}

int
utf8_is_valid(const char *s, size_t len, size_t *bad)
{
	size_t n = utf8_valid_prefix(s, len);

	if (bad != NULL)
		*bad = n;
	return n == len;
}

void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_fini(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void
buf_append(struct buf *b, const void *p, size_t n)
{
	if (b->cap - b->len < n + 1) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap - b->len < n + 1)
			cap *= 2;
		b->data = xreallocarray(b->data, cap, 1);
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		util_fatal("buf_printf: out of memory");
	buf_append(b, s, (size_t)n);
	free(s);
}

/* The length of the valid UTF-8 character at s (1 to 4), or 0. */
static size_t
util_utf8_char(const char *s, size_t len)
{
	size_t ok = utf8_valid_prefix(s, len < 4 ? len : 4), k = 1;

	if (ok == 0)
		return 0;
	while (k < ok && ((unsigned char)s[k] & 0xc0) == 0x80)
		k++;
	return k;
}

/*
 * Append s[0..len) so that it can do nothing to a terminal: C0 controls
 * (but newline and tab in BUF_ESC_TEXT) and DEL as \xNN, C1 controls
 * (U+0080 to U+009F: U+009B is a one-character CSI) as \u00NN, and bytes
 * that are not UTF-8 as \xNN (a lone 0x9b is a CSI to some terminals).
 * Printable text, UTF-8 included, is kept.  In BUF_ESC_TOKEN mode
 * newline, tab and CR are \n, \t, \r, and backslash and double quote
 * are escaped, so the result reads back unambiguously.
 */
void
buf_escape(struct buf *b, const char *s, size_t len,
    enum buf_escape_mode mode)
{
	int tok = mode == BUF_ESC_TOKEN;

	for (size_t i = 0; i < len; ) {
		unsigned char c = (unsigned char)s[i];
		size_t k = 1;

		if (c == '\n' || c == '\t')
			buf_puts(b, !tok ? (c == '\n' ? "\n" : "\t") :
			    c == '\n' ? "\\n" : "\\t");
		else if (tok && c == '\r')
			buf_puts(b, "\\r");
		else if (tok && (c == '\\' || c == '"'))
			buf_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			buf_printf(b, "\\x%02x", c);
		else if (c < 0x80)
			buf_append(b, &s[i], 1);
		else if ((k = util_utf8_char(s + i, len - i)) == 0)
			buf_printf(b, "\\x%02x", c);
		else if (k == 2 && c == 0xc2 && (unsigned char)s[i + 1] < 0xa0)
			buf_printf(b, "\\u%04x", (unsigned char)s[i + 1]);
		else
			buf_append(b, s + i, k);
		i += k ? k : 1;
	}
}

/* 1 when s holds a byte buf_escape() in BUF_ESC_TEXT mode would rewrite. */
int
util_has_controls(const char *s, size_t len)
{
	for (size_t i = 0; i < len; ) {
		unsigned char c = (unsigned char)s[i];
		size_t k;

		if (c < 0x80) {
			if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
				return 1;
			i++;
			continue;
		}
		if ((k = util_utf8_char(s + i, len - i)) == 0 ||
		    (k == 2 && c == 0xc2 && (unsigned char)s[i + 1] < 0xa0))
			return 1;
		i += k;
	}
	return 0;
}

/*
 * The rule for text-filter output (generate, detokenize, replay, the line
 * REPL): byte-exact into a pipe or a file, where a program reads it; on a
 * terminal, controls are shown instead of obeyed, unless --raw.
 */
int
util_escape_for(FILE *f, int raw)
{
	return !raw && isatty(fileno(f));
}

/*
 * Write s[0..len) to f, through buf_escape(BUF_ESC_TEXT) when escape.
 * Returns 0, or -1 (errno set) when the write failed.
 */
int
util_write_text(FILE *f, const char *s, size_t len, int escape)
{
	struct buf	 b;
	int		 rc;

	if (!escape || !util_has_controls(s, len))
		return len == 0 || fwrite(s, 1, len, f) == len ? 0 : -1;
	buf_init(&b);
	buf_escape(&b, s, len, BUF_ESC_TEXT);
	rc = fwrite(b.data, 1, b.len, f) == b.len ? 0 : -1;
	buf_fini(&b);
	return rc;
}

/* The output function of splitmix64. */
uint64_t
util_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* The next output of the splitmix64 generator whose state is *s. */
uint64_t
util_splitmix64(uint64_t *s)
{
	return util_mix64(*s += UINT64_C(0x9E3779B97F4A7C15));
}

/* ---- JSON -------------------------------------------------------------- */

/*
 * A number jansson cannot write stands in the tree as the object
 * {"lmsh-number": "DIGITS"}, which buf_json() replaces by DIGITS after
 * jansson has written the rest.  The text cannot arise any other way: a
 * string's own quotes are escaped, so '{"' opens an object, and no object
 * lmsh writes has that key.
 */
#define UTIL_JSON_RAW_KEY	"lmsh-number"
#define UTIL_JSON_RAW_OPEN	"{\"" UTIL_JSON_RAW_KEY "\": \""

static json_t *
util_json_raw(const char *number)
{
	json_t *o = json_object();

	if (o == NULL || json_object_set_new(o, UTIL_JSON_RAW_KEY,
	    json_string(number)) != 0)
		util_fatal("json: out of memory");
	return o;
}

/* Check a jansson constructor's result: NULL only when out of memory. */
static json_t *
util_json_check(json_t *v)
{
	if (v == NULL)
		util_fatal("json: out of memory");
	return v;
}

/*
 * Return s as a JSON string; bytes that are not UTF-8 become U+FFFD, each
 * on its own, and NUL bytes stay (as \u0000).
 */
json_t *
util_json_text(const char *s, size_t len)
{
	struct buf	 b;
	size_t		 i = 0, bad;
	json_t		*v;

	if (utf8_is_valid(s, len, &bad))
		return util_json_check(json_stringn(s, len));
	buf_init(&b);
	buf_append(&b, "", 0);
	while (i < len) {
		utf8_is_valid(s + i, len - i, &bad);
		buf_append(&b, s + i, bad);
		i += bad;
		if (i < len) {
			buf_puts(&b, "\xef\xbf\xbd");
			i++;
		}
	}
	v = util_json_check(json_stringn(b.data, b.len));
	buf_fini(&b);
	return v;
}

/* Return v as a JSON integer, written exactly even above 2^63. */
json_t *
util_json_u64(uint64_t v)
{
	char s[24];

	if (v <= INT64_MAX)
		return util_json_check(json_integer((json_int_t)v));
	snprintf(s, sizeof s, "%llu", (unsigned long long)v);
	return util_json_raw(s);
}

void
util_fmt_real(char *out, size_t cap, double v, int is_float)
{
	if (!isfinite(v)) {
		snprintf(out, cap, "null");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(out, cap, "%.*g", prec, v);
		/* a locale's decimal comma is not JSON (nor readable back
		 * elsewhere) */
		for (char *c = out; *c != '\0'; c++)
			if (*c == ',')
				*c = '.';
		double r = strtod(out, NULL);
		if (is_float ? (float)r == (float)v : r == v)
			break;
	}
	/* 100, not 1e+02 */
	if (strchr(out, 'e') != NULL && fabs(v) < 1e15 && v == floor(v))
		snprintf(out, cap, "%.0f", v);
}

static json_t *
util_json_real(double v, int is_float)
{
	char s[40];

	if (!isfinite(v))
		return util_json_check(json_null());
	util_fmt_real(s, sizeof s, v, is_float);
	return util_json_raw(s);
}

/* Return f as a JSON number: the shortest decimal that reads back as f
 * (0.8, not 0.800000011920929), or null when it is not finite. */
json_t *
util_json_float(float f)
{
	return util_json_real(f, 1);
}

/* The same for a double: up to 17 digits, as few as read back exactly. */
json_t *
util_json_double(double d)
{
	return util_json_real(d, 0);
}

/* Return token ids as a JSON array of integers. */
json_t *
util_json_ids(const int32_t *ids, size_t n)
{
	json_t *a = util_json_check(json_array());

	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(a, json_integer(ids[i])) != 0)
			util_fatal("json: out of memory");
	return a;
}

/*
 * Append v to b as JSON text, items separated by ", " and ": " on one
 * line, keys in the order they were set; drops the reference to v.
 */
void
buf_json(struct buf *b, json_t *v)
{
	char		*s = json_dumps(v, JSON_ENCODE_ANY);
	const char	*p, *raw;

	if (s == NULL)
		util_fatal("json: out of memory");
	json_decref(v);
	for (p = s; (raw = strstr(p, UTIL_JSON_RAW_OPEN)) != NULL; ) {
		const char *num = raw + strlen(UTIL_JSON_RAW_OPEN);
		size_t n = strcspn(num, "\"");

		buf_append(b, p, (size_t)(raw - p));
		buf_append(b, num, n);
		p = num + n + strlen("\"}");
	}
	buf_puts(b, p);
	free(s);
}
