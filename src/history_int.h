#ifndef LMSH_HISTORY_INT_H
#define LMSH_HISTORY_INT_H
/* Shared between history.c (the store) and history_fmt.c (listing and
 * export); not for other modules. */

#include <sqlite3.h>
#include <stddef.h>

#include "gen_types.h"

struct buf;
struct err;

struct history {
	sqlite3		*db;		/* the connection */
	char		*path;		/* file name as opened */
	int		 read_only;	/* opened without write access */
	int		 busy_ms;	/* lock wait, for messages */
	int		 failed;	/* a write failed since opening */
};

/* Prepare sql on h's connection; NULL with the error in err. */
sqlite3_stmt	*history_prepare(struct history *, const char *sql,
		    struct err *);
/* Fill err from the connection's last error: the file, what, the cause. */
void		 history_db_err(struct history *, struct err *,
		    const char *what);
/* "eos", "max_tokens", ... for a stop reason. */
const char	*history_stop_name(enum gen_stop);
/* The stop strings of g as a new JSON array (history_fmt.c). */
struct json_t	*history_json_stop_array(const struct gen_settings *);
/* Bytes of a turn's text: its length field, else up to the NUL. */
size_t		 history_text_len(const char *, size_t);

#endif
