#ifndef LMSH_UTIL_H
#define LMSH_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Error reporting: a fixed buffer so that reporting never allocates. */
#define ERR_MSG_CAP 512
struct err {
	char msg[ERR_MSG_CAP];	/* lower-case, no trailing period or newline */
};

void	 err_set(struct err *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 err_prefix(struct err *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 err_clear(struct err *);

/* Allocation: abort with a message (after the fatal hook) on failure. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 util_set_fatal_hook(void (*)(void));
void	 util_fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/* Overflow-checked size arithmetic: 0 on success, -1 on overflow. */
int	 util_mul_size(size_t, size_t, size_t *);
int	 util_add_size(size_t, size_t, size_t *);

/* Files. */
int	 util_read_file(const char *, char **, size_t *, struct err *);
int	 util_write_file_atomic(const char *, const void *, size_t,
	    struct err *);
int	 util_mkdir_p(const char *, unsigned int, struct err *);

/* splitmix64 (Steele, Lea and Flood), the one 64-bit mixer: util_mix64 is
 * its output function, util_splitmix64 adds the golden gamma to *state and
 * mixes.  Seeds, sampler streams and random weights all come from it. */
uint64_t util_mix64(uint64_t);
uint64_t util_splitmix64(uint64_t *);

/* Time. */
double	 util_now(void);

/* This thread's number in the innermost OpenMP team (0 outside any). */
int	 util_thread(void);

/* Debug log (-v): a file, never the terminal. */
void	 log_open(const char *);
void	 log_close(void);
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));

/* UTF-8: length of the valid prefix; *bad gets the offset of the first
 * invalid byte, or len if all of it is valid. */
size_t	 utf8_valid_prefix(const char *, size_t);
int	 utf8_is_valid(const char *, size_t, size_t *);

/* Dynamic byte buffer. */
struct buf {
	char	*data;	/* NUL-terminated when non-NULL */
	size_t	 len;	/* bytes used, not counting the NUL */
	size_t	 cap;	/* bytes allocated */
};
void	 buf_init(struct buf *);
void	 buf_fini(struct buf *);
void	 buf_append(struct buf *, const void *, size_t);
void	 buf_puts(struct buf *, const char *);
void	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * JSON writing, through jansson.  The util_json_* constructors return a new
 * reference; buf_json() takes it.  jansson's integers are signed and its
 * reals print with one precision for a whole document, so numbers that need
 * more are written exactly by lmsh: seeds as unsigned 64-bit integers, reals
 * in the shortest form that reads back as the same float or double.
 */
struct json_t;
struct json_t	*util_json_text(const char *, size_t);
struct json_t	*util_json_u64(uint64_t);
struct json_t	*util_json_float(float);
struct json_t	*util_json_double(double);
struct json_t	*util_json_ids(const int32_t *, size_t);
void		 buf_json(struct buf *, struct json_t *);
/* The shortest decimal ("0.8") that reads back as v: of the float v when
 * is_float, else of the double; "null" when v is not finite. */
void		 util_fmt_real(char *, size_t, double v, int is_float);
/* Append s with every C0 and C1 control (and DEL, and bytes that are not
 * UTF-8) shown as a visible, harmless escape (\x1b, \u009b): the one
 * escaper for anything lmsh shows.  BUF_ESC_TEXT keeps newlines and tabs
 * and leaves backslashes alone (prompts, replies, messages);
 * BUF_ESC_TOKEN writes \n, \t, \r, \\ and \" too, for one token's
 * bytes, unambiguously and on one line. */
enum buf_escape_mode { BUF_ESC_TEXT, BUF_ESC_TOKEN };
void	 buf_escape(struct buf *, const char *, size_t, enum buf_escape_mode);
/* Does s hold anything buf_escape(BUF_ESC_TEXT) would change? */
int	 util_has_controls(const char *, size_t);
/* Text-filter output: is f a terminal that --raw (raw) did not ask to get
 * the bytes as they are?  Then util_write_text() escapes. */
int	 util_escape_for(FILE *, int raw);
int	 util_write_text(FILE *, const char *, size_t, int escape);

/* A hot loop compiled for AVX-512, AVX2 and the baseline, chosen for the
 * CPU when the program loads (GCC on x86-64; an AddressSanitizer build
 * keeps the one plain version).  Every version computes the same bits. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    !defined(__SANITIZE_ADDRESS__)
#define UTIL_SIMD_CLONES \
	__attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define UTIL_SIMD_CLONES
#endif

/* 2-byte floats widened to binary32, exactly (every value is one):
 * IEEE binary16 (subnormals, inf and NaN included) and bfloat16.  The
 * loaders and the packed-matrix code share them. */
static inline float
util_f16_to_f32(uint16_t h)
{
	union { uint32_t u; float f; } v;
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;

	if (e == 0x1f)
		v.u = sign | 0x7f800000u | m << 13;
	else if (e != 0)
		v.u = sign | (e + 112) << 23 | m << 13;
	else {
		v.f = (float)m * 0x1p-24f;	/* subnormal (or 0): exact */
		v.u |= sign;
	}
	return v.f;
}

static inline float
util_bf16_to_f32(uint16_t h)
{
	union { uint32_t u; float f; } v;

	v.u = (uint32_t)h << 16;
	return v.f;
}

#endif
