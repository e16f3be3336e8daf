#ifndef LMSH_UTIL_H
#define LMSH_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

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

/* Time. */
double	 util_now(void);

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
void	 buf_json_string(struct buf *, const char *, size_t);

#endif
