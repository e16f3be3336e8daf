/*
 * history.c: the SQLite history.  One file (default
 * $XDG_DATA_HOME/lmsh/history.db, mode 0600 in a 0700 directory) in WAL
 * mode with a busy timeout, so several lmsh processes can record into it at
 * once.  Tables (schema version HISTORY_SCHEMA_VERSION, kept in PRAGMA
 * user_version and migrated forward in one transaction when opened):
 *
 *   sessions		one run of lmsh: times, version, model path, model
 *			fingerprint (+ per-file digests), config JSON
 *   turns		one prompt and its output: texts, token ids, every
 *			sampling setting at the start, stop reason, counts,
 *			timings, replay_of; the story tree (parent,
 *			branch_step, forced_token, undone) and the
 *			probability of each generated token
 *   setting_changes	settings changed during a turn, with the step (index
 *			of the first token sampled with the new value)
 *   turns_fts		FTS5 over turns.prompt and turns.output (external
 *			content, kept in step by triggers)
 *   file_digests	a cache of model file digests, keyed by real path
 *			and checked against device, inode, size and mtime
 *
 * Token ids are BLOBs of little-endian int32, 4 bytes per token; token
 * probabilities BLOBs of little-endian uint16, p * 65535 rounded.  The seed
 * is a uint64 stored in SQLite's int64 with the same bits.  Stop strings are
 * a JSON array of strings.  Times are Unix seconds (UTC) as REAL.
 *
 * A turn is written in one transaction when it ends, so a process killed at
 * any moment leaves every finished turn and nothing half-written.  A file
 * that is not ours, corrupt, from a newer lmsh, read-only or locked too long
 * is refused with one message naming it, and is never written to.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "history.h"
#include "history_int.h"
#include "sampler.h"
#include "util.h"

/* "lmsh" in PRAGMA application_id marks the file as ours. */
#define HISTORY_APP_ID		0x6c6d7368


/* Schema version 1: the first layout (sessions and turns only). */
static const char history_schema_v1[] =
	"CREATE TABLE sessions ("
	" id INTEGER PRIMARY KEY,"
	" start_time REAL NOT NULL,"
	" end_time REAL,"
	" lmsh_version TEXT NOT NULL,"
	" model_path TEXT,"
	" fingerprint TEXT,"
	" config_json TEXT);"
	"CREATE TABLE turns ("
	" id INTEGER PRIMARY KEY,"
	" session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
	" seq_no INTEGER NOT NULL,"
	" time REAL NOT NULL,"
	" prompt TEXT NOT NULL,"
	" prompt_ids BLOB NOT NULL,"
	" output TEXT NOT NULL,"
	" output_ids BLOB NOT NULL,"
	" temperature REAL NOT NULL,"
	" top_p REAL NOT NULL,"
	" top_k INTEGER NOT NULL,"
	" repeat_penalty REAL NOT NULL,"
	" repeat_window INTEGER NOT NULL,"
	" seed INTEGER NOT NULL,"
	" max_new_tokens INTEGER NOT NULL,"
	" eos_id INTEGER NOT NULL,"
	" stop_strings TEXT NOT NULL DEFAULT '[]',"
	" stop_reason TEXT NOT NULL,"
	" n_prompt INTEGER NOT NULL,"
	" n_output INTEGER NOT NULL,"
	" prefill_s REAL NOT NULL,"
	" decode_s REAL NOT NULL);"
	"CREATE INDEX turns_session ON turns(session_id, seq_no);";

/* Version 2: min-p, tokens/s, replays, live changes, full-text search. */
static const char history_schema_v2[] =
	"ALTER TABLE sessions ADD COLUMN files TEXT;"
	"ALTER TABLE turns ADD COLUMN min_p REAL NOT NULL DEFAULT 0;"
	"ALTER TABLE turns ADD COLUMN tokens_per_s REAL;"
	"ALTER TABLE turns ADD COLUMN replay_of INTEGER"
	" REFERENCES turns(id) ON DELETE SET NULL;"
	"UPDATE turns SET tokens_per_s = n_output / decode_s"
	" WHERE decode_s > 0;"
	"CREATE TABLE setting_changes ("
	" turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,"
	" step INTEGER NOT NULL,"
	" name TEXT NOT NULL,"
	" value REAL NOT NULL);"
	"CREATE INDEX setting_changes_turn ON setting_changes(turn_id, step);"
	"CREATE VIRTUAL TABLE turns_fts USING fts5(prompt, output,"
	" content='turns', content_rowid='id');"
	"CREATE TRIGGER turns_fts_insert AFTER INSERT ON turns BEGIN"
	" INSERT INTO turns_fts(rowid, prompt, output)"
	" VALUES (new.id, new.prompt, new.output); END;"
	"CREATE TRIGGER turns_fts_delete AFTER DELETE ON turns BEGIN"
	" INSERT INTO turns_fts(turns_fts, rowid, prompt, output)"
	" VALUES ('delete', old.id, old.prompt, old.output); END;"
	"CREATE TRIGGER turns_fts_update AFTER UPDATE OF prompt, output ON turns"
	" BEGIN"
	" INSERT INTO turns_fts(turns_fts, rowid, prompt, output)"
	" VALUES ('delete', old.id, old.prompt, old.output);"
	" INSERT INTO turns_fts(rowid, prompt, output)"
	" VALUES (new.id, new.prompt, new.output); END;"
	"INSERT INTO turns_fts(turns_fts) VALUES ('rebuild');"
	"CREATE TABLE file_digests ("
	" path TEXT PRIMARY KEY,"
	" stat TEXT NOT NULL,"
	" sha256 TEXT NOT NULL);";

/* Version 3: what each session computed with (issue 12), so that a replay
 * that diverges can say the kernels or the weight dtype changed. */
static const char history_schema_v3[] =
	"ALTER TABLE sessions ADD COLUMN kernels TEXT;"
	"ALTER TABLE sessions ADD COLUMN dtype TEXT;";

/* Version 4: the story tree (issue 14: branches; issue 15: retry, edit and
 * undo are siblings or marks in it), per-token probabilities and session
 * names.  A turn's parent is the turn whose context it continues; a root
 * has none.  Deleting a parent keeps its children, which hold their own
 * context ids, so they stay replayable. */
static const char history_schema_v4[] =
	"ALTER TABLE sessions ADD COLUMN name TEXT;"
	"CREATE INDEX sessions_name ON sessions(name) WHERE name IS NOT NULL;"
	"ALTER TABLE turns ADD COLUMN parent INTEGER"
	" REFERENCES turns(id) ON DELETE SET NULL;"
	"ALTER TABLE turns ADD COLUMN branch_step INTEGER;"
	"ALTER TABLE turns ADD COLUMN forced_token INTEGER;"
	"ALTER TABLE turns ADD COLUMN probs BLOB;"
	"ALTER TABLE turns ADD COLUMN undone INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX turns_parent ON turns(parent) WHERE parent IS NOT NULL;";

/* Version 5: the views for sqlite3 and Datasette (turns_v).  They are
 * made from the sampler's settings table by history_make_views() at the end
 * of every upgrade, so the step itself holds no SQL. */
static const char history_schema_v5[] = "";

/* migrations[v] takes a file from version v to v + 1; a sampler setting
 * whose row says since = v + 1 adds its column in the same step. */
static const char *const history_migrations[HISTORY_SCHEMA_VERSION] = {
	history_schema_v1,
	history_schema_v2,
	history_schema_v3,
	history_schema_v4,
	history_schema_v5,
};

static const char *const history_stop_names[] = {
	"running", "eos", "max_tokens", "stop", "context", "interrupted",
	"error"
};

/* ---- small helpers ------------------------------------------------------ */

static double
history_wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The stored name of a stop reason ("eos", "max_tokens", ...). */
const char *
history_stop_name(enum gen_stop s)
{
	if ((size_t)s < sizeof history_stop_names / sizeof history_stop_names[0])
		return history_stop_names[s];
	return "error";
}

static enum gen_stop
history_stop_parse(const char *s)
{
	for (size_t i = 0; s != NULL &&
	    i < sizeof history_stop_names / sizeof history_stop_names[0]; i++)
		if (strcmp(s, history_stop_names[i]) == 0)
			return (enum gen_stop)i;
	return GEN_STOP_ERROR;
}

/* Report an SQLite failure: the file, what we were doing, SQLite's words. */
void
history_db_err(struct history *h, struct err *err, const char *what)
{
	int code = sqlite3_errcode(h->db);

	if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
		err_set(err, "%s: %s: locked by another process for more than "
		    "%d ms", h->path, what, h->busy_ms);
	else if (code == SQLITE_READONLY)
		err_set(err, "%s: %s: the file is read-only", h->path, what);
	else if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)
		err_set(err, "%s: %s: corrupt, or not a database (%s); left "
		    "untouched", h->path, what, sqlite3_errmsg(h->db));
	else
		err_set(err, "%s: %s: %s", h->path, what,
		    sqlite3_errmsg(h->db));
	/* a writer remembers its first failure: a turn may be lost (a full
	 * disk), and the REPL's status line says so (history_failed()) */
	if (!h->read_only && !h->failed)
		h->failed = 1;
}

/* Prepare one statement; NULL with the error in err.  Caller finalizes. */
sqlite3_stmt *
history_prepare(struct history *h, const char *sql, struct err *err)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) != SQLITE_OK) {
		history_db_err(h, err, "prepare");
		return NULL;
	}
	return st;
}

static int
history_exec(struct history *h, const char *sql, const char *what,
    struct err *err)
{
	if (sqlite3_exec(h->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		history_db_err(h, err, what);
		return -1;
	}
	return 0;
}

/* One integer from a one-row query such as a PRAGMA; -1 on error. */
static int
history_query_int(struct history *h, const char *sql, int64_t *out,
    struct err *err)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = history_prepare(h, sql, err)) == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE) {
		history_db_err(h, err, "read");
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

/* Token ids <-> little-endian int32 BLOB. */
static void *
history_ids_blob(const int32_t *ids, size_t n)
{
	unsigned char *b = xmalloc(n * 4 + 1);

	for (size_t i = 0; i < n; i++) {
		uint32_t v = (uint32_t)ids[i];
		b[4 * i] = (unsigned char)v;
		b[4 * i + 1] = (unsigned char)(v >> 8);
		b[4 * i + 2] = (unsigned char)(v >> 16);
		b[4 * i + 3] = (unsigned char)(v >> 24);
	}
	return b;
}

static int32_t *
history_blob_ids(const void *blob, int len, size_t *n)
{
	const unsigned char	*b = blob;
	size_t			 m = len > 0 ? (size_t)len / 4 : 0;
	int32_t			*ids = xcalloc(m + 1, sizeof *ids);

	for (size_t i = 0; i < m; i++)
		ids[i] = (int32_t)((uint32_t)b[4 * i] |
		    (uint32_t)b[4 * i + 1] << 8 | (uint32_t)b[4 * i + 2] << 16 |
		    (uint32_t)b[4 * i + 3] << 24);
	*n = m;
	return ids;
}

/* Probabilities <-> little-endian uint16 BLOB. */
uint16_t
history_prob_pack(double p)
{
	if (!(p > 0))
		return 0;
	if (p >= 1)
		return UINT16_MAX;
	return (uint16_t)lround(p * UINT16_MAX);
}

double
history_prob_unpack(uint16_t v)
{
	return (double)v / UINT16_MAX;
}

static void *
history_probs_blob(const uint16_t *p, size_t n)
{
	unsigned char *b = xmalloc(n * 2 + 1);

	for (size_t i = 0; i < n; i++) {
		b[2 * i] = (unsigned char)p[i];
		b[2 * i + 1] = (unsigned char)(p[i] >> 8);
	}
	return b;
}

static uint16_t *
history_blob_probs(const void *blob, int len, size_t *n)
{
	const unsigned char	*b = blob;
	size_t			 m = len > 0 ? (size_t)len / 2 : 0;
	uint16_t		*p;

	*n = m;
	if (blob == NULL)
		return NULL;
	p = xcalloc(m + 1, sizeof *p);
	for (size_t i = 0; i < m; i++)
		p[i] = (uint16_t)(b[2 * i] | b[2 * i + 1] << 8);
	return p;
}

/* A text column that may hold NULs, NUL-terminated; *len its bytes. */
static char *
history_col_text(sqlite3_stmt *st, int col, size_t *len)
{
	const unsigned char	*s = sqlite3_column_text(st, col);
	int			 n = sqlite3_column_bytes(st, col);
	char			*out = xmalloc((size_t)n + 1);

	if (s != NULL && n > 0)
		memcpy(out, s, (size_t)n);
	out[n > 0 ? n : 0] = '\0';
	*len = n > 0 ? (size_t)n : 0;
	return out;
}

static char *
history_col_str(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s != NULL ? xstrdup((const char *)s) : NULL;
}

/* ---- opening ------------------------------------------------------------ */

/*
 * The history file to use when none is given: $LMSH_HISTORY, else
 * $XDG_DATA_HOME/lmsh/history.db, else ~/.local/share/lmsh/history.db.
 * NULL when neither XDG_DATA_HOME nor HOME is set.  Caller frees.
 */
char *
history_default_path(void)
{
	const char *env;

	if ((env = getenv("LMSH_HISTORY")) != NULL && *env != '\0')
		return xstrdup(env);
	if ((env = getenv("XDG_DATA_HOME")) != NULL && *env == '/')
		return xasprintf("%s/lmsh/history.db", env);
	if ((env = getenv("HOME")) != NULL && *env != '\0')
		return xasprintf("%s/.local/share/lmsh/history.db", env);
	return NULL;
}

/* Create the directory (0700) and an empty file (0600) if missing. */
static int
history_create_file(const char *path, struct err *err)
{
	char	*dir = xstrdup(path), *slash = strrchr(dir, '/');
	int	 fd, rc = -1;

	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (util_mkdir_p(dir, 0700, err) != 0)
			goto out;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1 && errno != EEXIST) {
		err_set(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fd != -1)
		close(fd);
	rc = 0;
out:
	free(dir);
	return rc;
}

/*
 * Is this file ours and not from the future?  Reads only.  The three facts
 * come from one statement, so from one snapshot: read one by one, a file
 * that another process creates meanwhile (tables and application id in one
 * transaction) could show tables but no id yet, and look foreign.  A file
 * with neither is new or being created: history_migrate() waits for its
 * creator's lock and looks again.
 */
static int
history_check_file(struct history *h, int64_t *version, struct err *err)
{
	int64_t		 app_id = 0, n_tables = 0;
	sqlite3_stmt	*st = history_prepare(h, "SELECT"
	    " (SELECT user_version FROM pragma_user_version),"
	    " (SELECT application_id FROM pragma_application_id),"
	    " (SELECT count(*) FROM sqlite_master)", err);
	int		 rc;

	if (st == NULL)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*version = sqlite3_column_int64(st, 0);
		app_id = sqlite3_column_int64(st, 1);
		n_tables = sqlite3_column_int64(st, 2);
	} else
		history_db_err(h, err, "read");
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return -1;
	if ((app_id != 0 && app_id != HISTORY_APP_ID) ||
	    (app_id == 0 && n_tables > 0)) {
		err_set(err, "%s: not an lmsh history database (another "
		    "program's SQLite file?); left untouched", h->path);
		return -1;
	}
	if (*version > HISTORY_SCHEMA_VERSION) {
		err_set(err, "%s: written by a newer lmsh (schema version %lld, "
		    "this lmsh knows up to %d); left untouched", h->path,
		    (long long)*version, HISTORY_SCHEMA_VERSION);
		return -1;
	}
	return 0;
}

/*
 * The columns of the sampler settings added at schema version `since`
 * (those of versions 1 and 2 are in the SQL above).  Turns recorded before
 * get the value that turns the setting off, which is how they ran.
 */
static int
history_add_setting_columns(struct history *h, int since, struct err *err)
{
	for (size_t i = 0; i < sampler_n_settings; i++) {
		const struct sampler_setting	*s = &sampler_settings[i];
		char				 sql[160];

		if (s->since != since || since <= 2)
			continue;
		snprintf(sql, sizeof sql, "ALTER TABLE turns ADD COLUMN %s %s "
		    "NOT NULL DEFAULT %.17g", s->name, s->type == SAMPLER_INT ?
		    "INTEGER" : "REAL", s->off);
		if (history_exec(h, sql, "add a setting column", err) != 0)
			return -1;
	}
	return 0;
}

/*
 * turns_v: one row per turn as a person reads it: an ISO 8601 time, the
 * seed as typed (an INTEGER, or TEXT above 2^63 - 1, which SQLite's signed
 * integers cannot hold), the texts, the session's name and model, and one
 * column per row of the sampler's settings table, floats shown with the 7
 * digits a float holds (0.7, not 0.699999988).  A view names its columns
 * when it is made, so every upgrade drops and makes it again from the
 * table: a knob added later (a new column, a new schema version) is in the
 * view without anyone remembering it.
 */
static int
history_make_views(struct history *h, struct err *err)
{
	struct buf	 sql;
	int		 rc;

	buf_init(&sql);
	buf_puts(&sql, "DROP VIEW IF EXISTS turns_v;"
	    "CREATE VIEW turns_v AS SELECT t.id AS id,"
	    " t.session_id AS session_id, s.name AS session_name,"
	    " s.model_path AS model, t.seq_no AS seq_no,"
	    " strftime('%Y-%m-%dT%H:%M:%SZ', t.time, 'unixepoch') AS time,"
	    " t.prompt AS prompt, t.output AS reply,");
	for (size_t i = 0; i < sampler_n_settings; i++) {
		const char *n = sampler_settings[i].name;

		if (sampler_settings[i].type == SAMPLER_INT)
			buf_printf(&sql, " t.%s AS %s,", n, n);
		else
			buf_printf(&sql, " CAST(printf('%%.7g', t.%s) AS REAL)"
			    " AS %s,", n, n);
	}
	buf_puts(&sql, " CASE WHEN t.seed >= 0 THEN t.seed"
	    " ELSE printf('%llu', t.seed) END AS seed,"
	    " t.max_new_tokens AS max_new_tokens, t.eos_id AS eos_id,"
	    " t.stop_strings AS stop_strings, t.stop_reason AS stop_reason,"
	    " t.n_prompt AS n_prompt, t.n_output AS n_output,"
	    " t.prefill_s AS prefill_s, t.decode_s AS decode_s,"
	    " t.tokens_per_s AS tokens_per_s, t.replay_of AS replay_of,"
	    " t.parent AS parent, t.branch_step AS branch_step,"
	    " t.forced_token AS forced_token, t.undone AS undone"
	    " FROM turns t JOIN sessions s ON s.id = t.session_id;");
	rc = history_exec(h, sql.data, "make the views", err);
	buf_fini(&sql);
	return rc;
}

/* Bring the schema up to date in one transaction. */
static int
history_migrate(struct history *h, struct err *err)
{
	int64_t	 version = 0;
	char	 sql[128];

	/* one exclusive transaction: a second process creating the same new
	 * file waits here (busy handler), then finds the work done */
	if (history_exec(h, "BEGIN EXCLUSIVE", "upgrade", err) != 0)
		return -1;
	/* another process may have migrated while we waited for the lock */
	if (history_check_file(h, &version, err) != 0)
		goto fail;
	for (int64_t v = version; v < HISTORY_SCHEMA_VERSION; v++) {
		snprintf(sql, sizeof sql, "upgrade to schema version %lld",
		    (long long)v + 1);
		if (history_exec(h, history_migrations[v], sql, err) != 0 ||
		    history_add_setting_columns(h, (int)v + 1, err) != 0)
			goto fail;
	}
	if (version < HISTORY_SCHEMA_VERSION && history_make_views(h, err) != 0)
		goto fail;
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d;"
	    "PRAGMA application_id = %d", HISTORY_SCHEMA_VERSION,
	    HISTORY_APP_ID);
	if (history_exec(h, sql, "upgrade", err) != 0 ||
	    history_exec(h, "COMMIT", "upgrade", err) != 0)
		goto fail;
	return 0;
fail:
	sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/*
 * A corrupt file is never written to, and a damaged page deep in a table
 * is not seen by the few reads an open makes: run PRAGMA quick_check (the
 * b-trees, not the index contents) before the first write.  It reads the
 * whole file once: 60 ms for 10,000 turns in a 52 MB file (warm cache).
 */
static int
history_quick_check(struct history *h, struct err *err)
{
	sqlite3_stmt	*st = history_prepare(h, "PRAGMA quick_check(1)", err);
	int		 rc = -1;

	if (st == NULL)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW)
		history_db_err(h, err, "quick_check");
	else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
		err_set(err, "%s: corrupt (%s); left untouched", h->path,
		    (const char *)sqlite3_column_text(st, 0));
	else
		rc = 0;
	sqlite3_finalize(st);
	return rc;
}

/* Read-write set-up: WAL (refused if it does not take), a quick check, then
 * the schema if it is older than ours. */
static int
history_setup_rw(struct history *h, int64_t version, struct err *err)
{
	sqlite3_stmt	*st;
	int		 ok;

	if (sqlite3_db_readonly(h->db, "main") == 1 || access(h->path, W_OK)) {
		err_set(err, "%s: the file is read-only", h->path);
		return -1;
	}
	if ((st = history_prepare(h, "PRAGMA journal_mode = WAL", err)) == NULL)
		return -1;
	/* the switch of a new file needs it to itself, and SQLite answers
	 * SQLITE_BUSY at once rather than call the busy handler: wait here */
	double give_up = util_now() + h->busy_ms / 1000.0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_BUSY && util_now() < give_up) {
		sqlite3_reset(st);
		sqlite3_sleep(5);
	}
	ok = rc == SQLITE_ROW && sqlite3_column_text(st, 0) &&
	    strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
	if (!ok)
		history_db_err(h, err, "switch to WAL journal");
	sqlite3_finalize(st);
	if (!ok)
		return -1;
	if (history_exec(h, "PRAGMA synchronous = NORMAL;"
	    "PRAGMA foreign_keys = ON", "set-up", err) != 0 ||
	    history_quick_check(h, err) != 0)
		return -1;
	return version < HISTORY_SCHEMA_VERSION ? history_migrate(h, err) : 0;
}

/*
 * May this process write both the file and its directory?  A reader then
 * opens the connection read-write, though PRAGMA query_only keeps it from
 * writing anything: a read-only connection cannot remove the -wal and -shm
 * files it created when it closes, and would leave them behind.
 */
static int
history_writable(const char *path)
{
	char	*dir = xstrdup(path), *slash = strrchr(dir, '/');
	int	 ok;

	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	ok = access(path, W_OK) == 0 && access(slash ? dir : ".", W_OK) == 0;
	free(dir);
	return ok;
}

/*
 * A reader that may not create the -shm file next to a WAL database (a
 * read-only directory, another user's file) cannot open it normally; as
 * long as nobody writes, it can read it as an immutable file.
 */
static int
history_reopen_immutable(struct history *h, int64_t *version,
    struct err *err)
{
	int		 code = sqlite3_extended_errcode(h->db);
	struct buf	 uri;
	int		 rc = -1;

	if ((code & 0xff) != SQLITE_READONLY && (code & 0xff) != SQLITE_CANTOPEN)
		return -1;
	sqlite3_close(h->db);
	h->db = NULL;
	buf_init(&uri);
	buf_puts(&uri, "file:");
	for (const char *p = h->path; *p != '\0'; p++) {
		if (*p == '?' || *p == '#' || *p == '%')
			buf_printf(&uri, "%%%02X", (unsigned char)*p);
		else
			buf_append(&uri, p, 1);
	}
	buf_puts(&uri, "?immutable=1");
	if (sqlite3_open_v2(uri.data, &h->db, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
		if (h->db != NULL)
			history_db_err(h, err, "open");
		else
			err_set(err, "%s: out of memory", h->path);
	} else
		rc = history_check_file(h, version, err);
	buf_fini(&uri);
	return rc;
}

/*
 * Open (and create, unless read_only) a history file.  path NULL means
 * history_default_path().  Refuses, with one message naming the file and
 * without writing to it: a read-only file (when !read_only), a file that is
 * not an lmsh history, a corrupt one (for writing: PRAGMA quick_check), one
 * from a newer lmsh, one locked for longer than busy_ms, and (read_only)
 * one that does not exist or is older than HISTORY_SCHEMA_READABLE and
 * may not be written (one the caller may write is upgraded first; one
 * since then is read as it is, without the newer views).  A reader that cannot create
 * the WAL's -shm file (a read-only directory) reads the file as immutable.
 * Close with history_close().
 */
struct history *
history_open_timeout(const char *path, int read_only, int busy_ms,
    struct err *err)
{
	struct history	*h = xcalloc(1, sizeof *h);
	int64_t		 version = 0;
	int		 flags;

	h->path = path != NULL ? xstrdup(path) : history_default_path();
	h->read_only = read_only;
	h->busy_ms = busy_ms;
	if (h->path == NULL) {
		err_set(err, "no history file: set HOME, XDG_DATA_HOME or "
		    "LMSH_HISTORY, or give --history PATH");
		goto fail;
	}
	if (read_only && access(h->path, F_OK) != 0) {
		err_set(err, "%s: %s", h->path, strerror(errno));
		goto fail;
	}
	if (!read_only && history_create_file(h->path, err) != 0)
		goto fail;
	flags = read_only && !history_writable(h->path) ?
	    SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
	if (sqlite3_open_v2(h->path, &h->db, flags, NULL) != SQLITE_OK) {
		if (h->db == NULL)
			err_set(err, "%s: out of memory", h->path);
		else
			history_db_err(h, err, "open");
		goto fail;
	}
	sqlite3_busy_timeout(h->db, busy_ms);
	if (read_only && history_exec(h, "PRAGMA query_only = 1", "open",
	    err) != 0)
		goto fail;
	if (history_check_file(h, &version, err) != 0 &&
	    (!read_only || history_reopen_immutable(h, &version, err) != 0))
		goto fail;
	if (read_only && version > 0 && version < HISTORY_SCHEMA_VERSION &&
	    history_writable(h->path)) {
		/* a reader that may write upgrades an older file once, then
		 * reads it read-only like any other */
		struct history *w = history_open_timeout(h->path, 0, busy_ms,
		    err);
		if (w == NULL)
			goto fail;
		history_close(w);
		char *again = xstrdup(h->path);
		history_close(h);
		h = history_open_timeout(again, 1, busy_ms, err);
		free(again);
		return h;
	}
	/* one that may not be written is read as it is, if nothing this
	 * lmsh reads came after its version */
	if (read_only && version < HISTORY_SCHEMA_READABLE) {
		err_set(err, version == 0 ? "%s: no history recorded yet" :
		    "%s: old schema version; run lmsh with write access once "
		    "to upgrade it", h->path);
		goto fail;
	}
	if (!read_only && history_setup_rw(h, version, err) != 0)
		goto fail;
	return h;
fail:
	history_close(h);
	return NULL;
}

/* history_open_timeout() with the default lock wait (HISTORY_BUSY_MS). */
struct history *
history_open(const char *path, int read_only, struct err *err)
{
	return history_open_timeout(path, read_only, HISTORY_BUSY_MS, err);
}

/* Close the file; NULL does nothing. */
void
history_close(struct history *h)
{
	if (h == NULL)
		return;
	sqlite3_close(h->db);
	free(h->path);
	free(h);
}

/* The file name, valid until history_close(). */
const char *
history_path(const struct history *h)
{
	return h->path;
}

/*
 * Did an operation on this writable file fail since it was opened (a turn
 * perhaps not recorded: a full disk, a lock held too long)?  The message
 * went to the caller that met it; this only remembers that it happened.
 */
int
history_failed(const struct history *h)
{
	return h != NULL && h->failed;
}

/* ---- recording ---------------------------------------------------------- */

/*
 * Record the start of a session; returns its id, or -1.  A model path that
 * exists is stored absolute, so that a replay from another directory finds
 * it.  A NULL fingerprint with a model_path is computed here
 * (history_model_fingerprint()); a model that cannot be read is recorded
 * without one rather than not at all.
 */
int64_t
history_begin_session(struct history *h,
    const struct history_session_info *info, struct err *err)
{
	sqlite3_stmt	*st;
	char		*fp = NULL, *files = NULL, *abs = NULL;
	const char	*fpv = info->fingerprint, *filesv = info->files;
	int64_t		 id = -1;
	struct err	 ignored;

	if (info->model_path != NULL)
		abs = realpath(info->model_path, NULL);

	if (fpv == NULL && info->model_path != NULL &&
	    history_model_fingerprint(h, info->model_path, &fp, &files,
	    &ignored) == 0) {
		fpv = fp;
		filesv = files;
	}
	st = history_prepare(h, "INSERT INTO sessions (start_time, "
	    "lmsh_version, model_path, fingerprint, config_json, files, "
	    "kernels, dtype) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", err);
	if (st == NULL)
		goto out;
	sqlite3_bind_double(st, 1, history_wall_now());
	sqlite3_bind_text(st, 2, info->lmsh_version ? info->lmsh_version :
	    PACKAGE_VERSION, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, abs ? abs : info->model_path, -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, 4, fpv, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, info->config_json, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, filesv, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, info->kernels, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, info->dtype, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		history_db_err(h, err, "record session");
	else
		id = sqlite3_last_insert_rowid(h->db);
	sqlite3_finalize(st);
out:
	free(abs);
	free(fp);
	free(files);
	return id;
}

/* Stamp a session's end time. */
int
history_end_session(struct history *h, int64_t id, struct err *err)
{
	sqlite3_stmt	*st;
	int		 rc = -1;

	st = history_prepare(h, "UPDATE sessions SET end_time = ? "
	    "WHERE id = ?", err);
	if (st == NULL)
		return -1;
	sqlite3_bind_double(st, 1, history_wall_now());
	sqlite3_bind_int64(st, 2, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		history_db_err(h, err, "end session");
	else
		rc = 0;
	sqlite3_finalize(st);
	return rc;
}

/* Bytes of a turn's text: its length field, else up to the NUL. */
size_t
history_text_len(const char *s, size_t len)
{
	return s == NULL ? 0 : len > 0 ? len : strlen(s);
}

/* Bind a turn's columns to the INSERT in history_record_turn(). */
static void
history_bind_turn(sqlite3_stmt *st, const struct history_turn *t,
    void *pblob, void *oblob, void *prblob, const char *stops)
{
	const struct sampler_params *sp = &t->settings.sp;
	int i = 1;

	sqlite3_bind_int64(st, i++, t->session_id);
	sqlite3_bind_int(st, i++, t->seq_no);
	sqlite3_bind_double(st, i++, t->time > 0 ? t->time : history_wall_now());
	sqlite3_bind_text(st, i++, t->prompt ? t->prompt : "",
	    (int)history_text_len(t->prompt, t->prompt_len), SQLITE_STATIC);
	sqlite3_bind_blob(st, i++, pblob, (int)(t->n_prompt * 4), SQLITE_STATIC);
	sqlite3_bind_text(st, i++, t->output ? t->output : "",
	    (int)history_text_len(t->output, t->output_len), SQLITE_STATIC);
	sqlite3_bind_blob(st, i++, oblob, (int)(t->n_output * 4), SQLITE_STATIC);
	sqlite3_bind_int64(st, i++, (int64_t)t->settings.seed);
	sqlite3_bind_int(st, i++, t->settings.max_new_tokens);
	sqlite3_bind_int(st, i++, t->settings.eos_id);
	sqlite3_bind_text(st, i++, stops, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, i++, history_stop_name(t->stop), -1,
	    SQLITE_STATIC);
	sqlite3_bind_int64(st, i++, (int64_t)t->n_prompt);
	sqlite3_bind_int64(st, i++, (int64_t)t->n_output);
	sqlite3_bind_double(st, i++, t->prefill_s);
	sqlite3_bind_double(st, i++, t->decode_s);
	if (t->decode_s > 0)
		sqlite3_bind_double(st, i++, (double)t->n_output / t->decode_s);
	else
		sqlite3_bind_null(st, i++);
	if (t->replay_of > 0)
		sqlite3_bind_int64(st, i++, t->replay_of);
	else
		sqlite3_bind_null(st, i++);
	if (t->parent > 0)
		sqlite3_bind_int64(st, i++, t->parent);
	else
		sqlite3_bind_null(st, i++);
	if (t->branch)
		sqlite3_bind_int(st, i++, t->branch_step);
	else
		sqlite3_bind_null(st, i++);
	if (t->forced)
		sqlite3_bind_int(st, i++, t->forced_token);
	else
		sqlite3_bind_null(st, i++);
	if (t->probs != NULL)
		sqlite3_bind_blob(st, i++, prblob, (int)(t->n_probs * 2),
		    SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i++);
	sqlite3_bind_int(st, i++, t->undone != 0);
	for (size_t k = 0; k < sampler_n_settings; k++)
		sqlite3_bind_double(st, i++, sampler_setting_get(sp,
		    &sampler_settings[k]));
}

/* ", temperature, top_p, ...": the setting columns, each with prefix. */
static void
history_setting_columns(struct buf *b, const char *prefix)
{
	for (size_t k = 0; k < sampler_n_settings; k++)
		buf_printf(b, ", %s%s", prefix, sampler_settings[k].name);
}

static int
history_insert_changes(struct history *h, const struct history_turn *t,
    struct err *err)
{
	sqlite3_stmt	*st;
	int		 rc = 0;

	if (t->n_changes == 0)
		return 0;
	st = history_prepare(h, "INSERT INTO setting_changes (turn_id, step, "
	    "name, value) VALUES (?, ?, ?, ?)", err);
	if (st == NULL)
		return -1;
	for (size_t i = 0; i < t->n_changes && rc == 0; i++) {
		const struct gen_change *c = &t->changes[i];
		sqlite3_bind_int64(st, 1, t->id);
		sqlite3_bind_int(st, 2, c->step);
		sqlite3_bind_text(st, 3, c->name, (int)strnlen(c->name,
		    sizeof c->name), SQLITE_STATIC);
		sqlite3_bind_double(st, 4, c->value);
		if (sqlite3_step(st) != SQLITE_DONE) {
			history_db_err(h, err, "record setting change");
			rc = -1;
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * Record a finished or interrupted turn, its setting changes and its
 * full-text entry in one transaction (BEGIN IMMEDIATE, so a second writer
 * waits for the lock instead of failing half-way).  t->session_id must be
 * set; time 0 means now.  Sets t->id, and t->seq_no to the next number in
 * the session (the order of recording).  On failure nothing is written.
 */
int
history_record_turn(struct history *h, struct history_turn *t,
    struct err *err)
{
	sqlite3_stmt	*st = NULL;
	void		*pblob = history_ids_blob(t->prompt_ids, t->n_prompt);
	void		*oblob = history_ids_blob(t->output_ids, t->n_output);
	void		*prblob = history_probs_blob(t->probs, t->probs != NULL ?
			    t->n_probs : 0);
	struct buf	 stops, sql;
	int64_t		 seq = 0;
	int		 rc = -1;

	buf_init(&stops);
	buf_init(&sql);
	buf_json(&stops, history_json_stop_array(&t->settings));
	if (t->n_prompt > INT32_MAX / 4 || t->n_output > INT32_MAX / 4 ||
	    t->n_probs > INT32_MAX / 2 ||
	    history_text_len(t->prompt, t->prompt_len) > INT32_MAX ||
	    history_text_len(t->output, t->output_len) > INT32_MAX) {
		err_set(err, "%s: turn too long to record", h->path);
		goto out;
	}
	if (history_exec(h, "BEGIN IMMEDIATE", "record turn", err) != 0)
		goto out;
	{
		/* the order within the session is the order of recording */
		char sql[96];
		snprintf(sql, sizeof sql, "SELECT coalesce(max(seq_no), 0) + 1 "
		    "FROM turns WHERE session_id = %lld",
		    (long long)t->session_id);
		if (history_query_int(h, sql, &seq, err) != 0)
			goto fail;
	}
	buf_puts(&sql, "INSERT INTO turns (session_id, seq_no, time, "
	    "prompt, prompt_ids, output, output_ids, seed, max_new_tokens, "
	    "eos_id, stop_strings, stop_reason, n_prompt, n_output, prefill_s, "
	    "decode_s, tokens_per_s, replay_of, parent, branch_step, "
	    "forced_token, probs, undone");
	history_setting_columns(&sql, "");
	buf_puts(&sql, ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
	    "?, ?, ?, ?, ?, ?, ?, ?, ?");
	for (size_t k = 0; k < sampler_n_settings; k++)
		buf_puts(&sql, ", ?");
	buf_puts(&sql, ")");
	if ((st = history_prepare(h, sql.data, err)) == NULL)
		goto fail;
	t->seq_no = (int)seq;
	history_bind_turn(st, t, pblob, oblob, prblob, stops.data);
	if (sqlite3_step(st) != SQLITE_DONE) {
		history_db_err(h, err, "record turn");
		goto fail;
	}
	t->id = sqlite3_last_insert_rowid(h->db);
	if (history_insert_changes(h, t, err) != 0 ||
	    history_exec(h, "COMMIT", "record turn", err) != 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
	t->id = 0;
out:
	sqlite3_finalize(st);
	buf_fini(&stops);
	buf_fini(&sql);
	free(pblob);
	free(oblob);
	free(prblob);
	return rc;
}

/* ---- reading ------------------------------------------------------------ */

static int
history_read_stops(struct history *h, struct history_turn *t, struct err *err)
{
	sqlite3_stmt	*st;
	int		 rc, n = 0;

	st = history_prepare(h, "SELECT j.value FROM turns, "
	    "json_each(turns.stop_strings) AS j WHERE turns.id = ? "
	    "ORDER BY j.key", err);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, t->id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < GEN_MAX_STOP) {
		t->stop_strings[n] = history_col_str(st, 0);
		if (t->stop_strings[n] == NULL)
			t->stop_strings[n] = xstrdup("");
		t->settings.stop[n] = t->stop_strings[n];
		n++;
	}
	t->settings.n_stop = n;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		history_db_err(h, err, "read stop strings");
		n = -1;
	}
	sqlite3_finalize(st);
	return n < 0 ? -1 : 0;
}

static int
history_read_changes(struct history *h, struct history_turn *t,
    struct err *err)
{
	sqlite3_stmt	*st;
	size_t		 cap = 0;
	int		 rc;

	st = history_prepare(h, "SELECT step, name, value FROM setting_changes "
	    "WHERE turn_id = ? ORDER BY step, rowid", err);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, t->id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct gen_change *c;
		if (t->n_changes == cap) {
			cap = cap ? 2 * cap : 8;
			t->changes = xreallocarray(t->changes, cap,
			    sizeof *t->changes);
		}
		c = &t->changes[t->n_changes++];
		memset(c, 0, sizeof *c);
		c->step = sqlite3_column_int(st, 0);
		snprintf(c->name, sizeof c->name, "%s",
		    (const char *)sqlite3_column_text(st, 1));
		c->value = sqlite3_column_double(st, 2);
	}
	if (rc != SQLITE_DONE)
		history_db_err(h, err, "read setting changes");
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Fill t from the row of history_get_turn()'s query. */
static void
history_row_turn(sqlite3_stmt *st, struct history_turn *t)
{
	struct sampler_params	*sp = &t->settings.sp;
	int			 i = 0;
	const char		*stop;

	t->session_id = sqlite3_column_int64(st, i++);
	t->seq_no = sqlite3_column_int(st, i++);
	t->time = sqlite3_column_double(st, i++);
	t->model_path = history_col_str(st, i++);
	t->fingerprint = history_col_str(st, i++);
	t->prompt = history_col_text(st, i++, &t->prompt_len);
	t->prompt_ids = history_blob_ids(sqlite3_column_blob(st, i),
	    sqlite3_column_bytes(st, i), &t->n_prompt);
	i++;
	t->output = history_col_text(st, i++, &t->output_len);
	t->output_ids = history_blob_ids(sqlite3_column_blob(st, i),
	    sqlite3_column_bytes(st, i), &t->n_output);
	i++;
	t->settings.seed = (uint64_t)sqlite3_column_int64(st, i++);
	t->settings.max_new_tokens = sqlite3_column_int(st, i++);
	t->settings.eos_id = sqlite3_column_int(st, i++);
	stop = (const char *)sqlite3_column_text(st, i++);
	t->stop = history_stop_parse(stop);
	t->prefill_s = sqlite3_column_double(st, i++);
	t->decode_s = sqlite3_column_double(st, i++);
	t->replay_of = sqlite3_column_int64(st, i++);
	t->config_json = history_col_str(st, i++);
	t->files = history_col_str(st, i++);
	t->kernels = history_col_str(st, i++);
	t->dtype = history_col_str(st, i++);
	t->parent = sqlite3_column_int64(st, i++);
	t->branch = sqlite3_column_type(st, i) != SQLITE_NULL;
	t->branch_step = sqlite3_column_int(st, i++);
	t->forced = sqlite3_column_type(st, i) != SQLITE_NULL;
	t->forced_token = sqlite3_column_int(st, i++);
	t->probs = history_blob_probs(sqlite3_column_blob(st, i),
	    sqlite3_column_bytes(st, i), &t->n_probs);
	i++;
	t->undone = sqlite3_column_int(st, i++);
	t->session_name = history_col_str(st, i++);
	/* a stored value the table no longer accepts stays as it was, so
	 * that the replay reports it rather than this read */
	for (size_t k = 0; k < sampler_n_settings; k++)
		sampler_setting_store(sp, &sampler_settings[k],
		    sqlite3_column_double(st, i++));
}

/*
 * Read turn id with its session's model, its settings, stop strings and
 * setting changes.  t owns everything afterwards (history_turn_fini(), also
 * after a failure).  -1 with "no turn N" when there is none.
 */
int
history_get_turn(struct history *h, int64_t id, struct history_turn *t,
    struct err *err)
{
	sqlite3_stmt	*st;
	struct buf	 sql;
	int		 rc;

	memset(t, 0, sizeof *t);
	buf_init(&sql);
	buf_puts(&sql, "SELECT t.session_id, t.seq_no, t.time, "
	    "s.model_path, s.fingerprint, t.prompt, t.prompt_ids, t.output, "
	    "t.output_ids, t.seed, t.max_new_tokens, "
	    "t.eos_id, t.stop_reason, t.prefill_s, t.decode_s, "
	    "t.replay_of, s.config_json, s.files, s.kernels, s.dtype, "
	    "t.parent, t.branch_step, t.forced_token, t.probs, t.undone, "
	    "s.name");
	history_setting_columns(&sql, "t.");
	buf_puts(&sql, " FROM turns t JOIN sessions s ON s.id = t.session_id "
	    "WHERE t.id = ?");
	st = history_prepare(h, sql.data, err);
	buf_fini(&sql);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		t->id = id;
		history_row_turn(st, t);
	} else if (rc == SQLITE_DONE)
		err_set(err, "%s: no turn %lld", h->path, (long long)id);
	else
		history_db_err(h, err, "read turn");
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return -1;
	if (history_read_stops(h, t, err) != 0 ||
	    history_read_changes(h, t, err) != 0)
		return -1;
	return 0;
}

/* Free what a turn owns (after history_get_turn or history_turn_from_gen)
 * and zero it. */
void
history_turn_fini(struct history_turn *t)
{
	if (t == NULL)
		return;
	free(t->model_path);
	free(t->fingerprint);
	free(t->prompt);
	free(t->prompt_ids);
	free(t->output);
	free(t->output_ids);
	for (int i = 0; i < GEN_MAX_STOP; i++)
		free(t->stop_strings[i]);
	free(t->changes);
	free(t->config_json);
	free(t->files);
	free(t->kernels);
	free(t->dtype);
	free(t->probs);
	free(t->session_name);
	memset(t, 0, sizeof *t);
}

/*
 * Delete turns ids[0..n) with their setting changes and search entries, in
 * one transaction: all of them, or (an id that does not exist: "no turn N",
 * or any failure) none.  Turns that replayed them keep their data but lose
 * the link.
 */
int
history_delete_turns(struct history *h, const int64_t *ids, size_t n,
    struct err *err)
{
	sqlite3_stmt	*st = NULL;
	int		 rc = -1;

	if (history_exec(h, "BEGIN IMMEDIATE", "delete turn", err) != 0)
		return -1;
	if ((st = history_prepare(h, "DELETE FROM turns WHERE id = ?", err))
	    == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, ids[i]);
		if (sqlite3_step(st) != SQLITE_DONE) {
			history_db_err(h, err, "delete turn");
			goto out;
		}
		if (sqlite3_changes(h->db) == 0) {
			err_set(err, "%s: no turn %lld; nothing deleted",
			    h->path, (long long)ids[i]);
			goto out;
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	rc = history_exec(h, "COMMIT", "delete turn", err);
out:
	sqlite3_finalize(st);
	if (rc != 0)
		sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* Delete one turn: history_delete_turns() of one id. */
int
history_delete(struct history *h, int64_t id, struct err *err)
{
	return history_delete_turns(h, &id, 1, err);
}

/* ---- the story tree and sessions --------------------------------------- */

/* The turns branched from or continuing id, oldest first; *ids owned by
 * the caller (NULL when there are none). */
int
history_children(struct history *h, int64_t id, int64_t **ids, size_t *n,
    struct err *err)
{
	sqlite3_stmt	*st;
	size_t		 cap = 0;
	int		 rc;

	*ids = NULL;
	*n = 0;
	st = history_prepare(h, "SELECT id FROM turns WHERE parent = ? "
	    "ORDER BY id", err);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 8;
			*ids = xreallocarray(*ids, cap, sizeof **ids);
		}
		(*ids)[(*n)++] = sqlite3_column_int64(st, 0);
	}
	if (rc != SQLITE_DONE) {
		history_db_err(h, err, "read branches");
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Run one UPDATE of one row: "no WHAT N" when the row is missing. */
static int
history_update_one(struct history *h, sqlite3_stmt *st, const char *what,
    int64_t id, struct err *err)
{
	int rc = -1;

	if (sqlite3_step(st) != SQLITE_DONE)
		history_db_err(h, err, "update");
	else if (sqlite3_changes(h->db) == 0)
		err_set(err, "%s: no %s %lld", h->path, what, (long long)id);
	else
		rc = 0;
	sqlite3_finalize(st);
	return rc;
}

int
history_set_undone(struct history *h, int64_t id, int undone,
    struct err *err)
{
	sqlite3_stmt *st;

	st = history_prepare(h, "UPDATE turns SET undone = ? WHERE id = ?",
	    err);
	if (st == NULL)
		return -1;
	sqlite3_bind_int(st, 1, undone != 0);
	sqlite3_bind_int64(st, 2, id);
	return history_update_one(h, st, "turn", id, err);
}

int
history_set_session_name(struct history *h, int64_t session_id,
    const char *name, struct err *err)
{
	sqlite3_stmt *st;

	st = history_prepare(h, "UPDATE sessions SET name = ? WHERE id = ?",
	    err);
	if (st == NULL)
		return -1;
	if (name != NULL && *name != '\0')
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 1);
	sqlite3_bind_int64(st, 2, session_id);
	return history_update_one(h, st, "session", session_id, err);
}

/* A session by id or name; a name that is all digits is read as an id
 * first. */
int
history_find_session(struct history *h, const char *spec, int64_t *id,
    struct err *err)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (spec == NULL || *spec == '\0')
		st = history_prepare(h, "SELECT max(id) FROM sessions", err);
	else
		st = history_prepare(h, "SELECT id FROM sessions WHERE "
		    "CAST(id AS TEXT) = ?1 UNION ALL SELECT * FROM (SELECT id "
		    "FROM sessions WHERE name = ?1 ORDER BY id DESC) LIMIT 1",
		    err);
	if (st == NULL)
		return -1;
	if (spec != NULL && *spec != '\0')
		sqlite3_bind_text(st, 1, spec, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		*id = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		err_set(err, "%s: no session %s", h->path,
		    spec != NULL && *spec != '\0' ? spec : "recorded yet");
		rc = SQLITE_ERROR;
	} else
		history_db_err(h, err, "find session");
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/*
 * Call fn with the n most recent distinct prompts, oldest first (for the
 * REPL's up-arrow).  The string passed to fn is valid only during the call.
 */
int
history_prompts(struct history *h, int n, void (*fn)(void *, const char *),
    void *arg, struct err *err)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = history_prepare(h, "SELECT prompt FROM (SELECT prompt, max(id) "
	    "AS last FROM turns WHERE prompt != '' GROUP BY prompt "
	    "ORDER BY last DESC LIMIT ?) ORDER BY last", err);
	if (st == NULL)
		return -1;
	sqlite3_bind_int(st, 1, n > 0 ? n : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(st, 0));
	if (rc != SQLITE_DONE)
		history_db_err(h, err, "read prompts");
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}
