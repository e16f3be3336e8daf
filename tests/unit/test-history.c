/*
 * test-history.c: the SQLite history store.
 *  - a new file: directory 0700, file 0600, WAL journal, schema version
 *  - fingerprints of the tiny model match sha256sum(1); files_diff names
 *    what changed; the digest cache is used until the file changes
 *  - a turn round-trips: texts (quotes, newlines, UTF-8), token ids, every
 *    setting, stop strings, live changes, stop reason, timings, replay_of,
 *    and its session's kernel set and weight dtype
 *  - list / show / search (FTS5 ranking, punctuation) / earlier prompts /
 *    export (JSON parsed
 *    with jansson, Markdown) / delete (changes and FTS entry go too)
 *  - migration of a hand-built version-1 file, keeping its rows; version 3
 *    adds the sessions' kernels and dtype (NULL for old sessions) and one
 *    column per setting of the sampler's table
 *  - version 4: a turn's parent, branch step, forced token (0 and none
 *    differ), 16-bit probabilities (NULL and empty differ), the undone
 *    mark, session names; children; a deleted parent leaves its child
 *  - version 5: turns_v read through the sqlite3 API: ISO 8601 times, a
 *    seed above 2^63 unsigned, texts, session name and model, one column
 *    per row of the sampler's settings table with the value as set; a
 *    version-1 or version-4 file gains it when upgraded; a version-4 file
 *    that may not be written is still read (as an unprivileged user)
 *  - refused without a byte changed: a newer version, garbage, another
 *    program's SQLite file, a read-only file (as an unprivileged user),
 *    a file locked by another process, and (for writing) a file with one
 *    damaged interior b-tree page that only PRAGMA quick_check finds
 *  - a write that fails (a full disk: RLIMIT_FSIZE) is remembered by
 *    history_failed(), for the REPL's status line
 *  - delete of several turns is all or nothing
 *  - two processes writing at once both succeed
 *  - several processes creating the same new file at the same moment all
 *    open it and record (the race is provoked on purpose, many times)
 *  - a writer killed with SIGKILL leaves a file that opens cleanly with
 *    every finished turn
 * With --fill PATH it only records four known turns (tests/e2e/history.sh).
 */
#include "config.h"

#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "history.h"
#include "sampler.h"
#include "model.h"
#include "sha256.h"
#include "util.h"

/* setting changes test_fill_turn records per turn */
#define TEST_N_CHANGES 2
/* turns each of test_concurrent's two writers records */
#define TEST_WRITER_TURNS 40

static char test_dir[] = "/tmp/lmsh-test-history-XXXXXX";

static char *
test_path(const char *name)
{
	return xasprintf("%s/%s", test_dir, name);
}

/* Run one SQL statement on a file directly; returns the first column of
 * the first row as an int (or -1). */
static long long
test_sql_int(const char *path, const char *sql)
{
	sqlite3		*db;
	sqlite3_stmt	*st;
	long long	 v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return v;
}

/* The same for text: the first column of the first row, or "" (NULL or
 * no row); caller frees. */
static char *
test_sql_text(const char *path, const char *sql)
{
	sqlite3		*db;
	sqlite3_stmt	*st;
	char		*v = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return xstrdup("");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW &&
		    sqlite3_column_text(st, 0) != NULL)
			v = xstrdup((const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return v != NULL ? v : xstrdup("");
}

static int
test_sql_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	int rc;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

/* A turn with everything set, owned by static storage. */
static void
test_fill_turn(struct history_turn *t, int64_t session, const char *prompt,
    const char *output, int k)
{
	static int32_t	pids[] = { 72, 105, 0, 256, -1, 2147483647 };
	static int32_t	oids[] = { 33, 10, 66000, 7 };
	static struct gen_change ch[2];

	memset(t, 0, sizeof *t);
	t->session_id = session;
	t->prompt = (char *)prompt;
	t->prompt_ids = pids;
	t->n_prompt = sizeof pids / sizeof pids[0];
	t->output = (char *)output;
	t->output_ids = oids;
	t->n_output = sizeof oids / sizeof oids[0];
	sampler_params_default(&t->settings.sp);
	t->settings.sp.temperature = 0.7f;
	t->settings.sp.top_p = 0.95f;
	t->settings.sp.top_k = k;
	t->settings.sp.min_p = 0.05f;
	t->settings.sp.repeat_penalty = 1.1f;
	t->settings.sp.repeat_window = 32;
	t->settings.seed = 18446744073709551615ULL;	/* needs all 64 bits */
	t->settings.max_new_tokens = 4;
	t->settings.eos_id = 256;
	t->settings.stop[0] = "\n\n";
	t->settings.stop[1] = "say \"end\"";
	t->settings.n_stop = 2;
	ch[0] = (struct gen_change){ .step = 1, .name = "temperature",
	    .value = 0.25 };
	ch[1] = (struct gen_change){ .step = 3, .name = "top_k", .value = 5 };
	t->changes = ch;
	t->n_changes = TEST_N_CHANGES;
	t->stop = GEN_STOP_MAX;
	t->prefill_s = 0.125;
	t->decode_s = 0.5;
}

static void
test_new_file(void)
{
	char		*dir = test_path("xdg/lmsh"), *path = test_path("xdg/lmsh/h.db");
	struct err	 err;
	struct history	*h = history_open(path, 0, &err);
	struct stat	 st;

	CHECK_MSG(h != NULL, "%s", err.msg);
	history_close(h);
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(test_sql_int(path, "PRAGMA user_version") == HISTORY_SCHEMA_VERSION);
	CHECK(test_sql_int(path, "SELECT count(*) FROM pragma_journal_mode "
	    "WHERE journal_mode = 'wal'") == 1);
	CHECK(test_sql_int(path, "SELECT count(*) FROM sqlite_master WHERE "
	    "name IN ('sessions', 'turns', 'setting_changes', 'turns_fts')") == 4);

	/* the default path follows XDG_DATA_HOME, and LMSH_HISTORY wins */
	char *xdg = test_path("x");
	setenv("XDG_DATA_HOME", xdg, 1);
	unsetenv("LMSH_HISTORY");
	char *p = history_default_path(), *want = test_path("x/lmsh/history.db");
	CHECK(p != NULL && strcmp(p, want) == 0);
	free(p);
	setenv("LMSH_HISTORY", "/elsewhere/h.db", 1);
	p = history_default_path();
	CHECK(p != NULL && strcmp(p, "/elsewhere/h.db") == 0);
	unsetenv("LMSH_HISTORY");
	free(p);
	free(want);
	free(xdg);
	free(dir);
	free(path);
}

/* sha256sum(1) of one file, as an independent reference. */
static int
test_sha256sum(const char *path, char hex[65])
{
	char	*cmd = xasprintf("sha256sum '%s'", path);
	FILE	*f = popen(cmd, "r");
	int	 ok = f != NULL && fscanf(f, "%64s", hex) == 1;

	if (f != NULL)
		pclose(f);
	free(cmd);
	return ok ? 0 : -1;
}

static void
test_fingerprint(void)
{
	char		*model = xasprintf("%s/models/tiny", check_data_dir());
	char		*weights = xasprintf("%s/model.safetensors", model);
	char		*fp = NULL, *files = NULL, ref[65], line[200];
	struct err	 err;

	CHECK_MSG(history_fingerprint(model, &fp, &files, &err) == 0, "%s",
	    err.msg);
	if (fp == NULL)
		goto out;
	CHECK(strlen(fp) == 64);
	if (test_sha256sum(weights, ref) == 0) {
		snprintf(line, sizeof line, "%s  model.safetensors\n", ref);
		CHECK_MSG(strstr(files, line) != NULL, "%s", files);
	}
	CHECK(strstr(files, "  vocab.json\n") != NULL);
	CHECK(strstr(files, "  merges.txt\n") != NULL);
	CHECK(strstr(files, "  config.json\n") != NULL);
	CHECK(history_files_diff(files, files) == NULL);

	/* change one digest, drop one file, add one */
	char *other = xstrdup(files), *p = strstr(other, "  vocab.json");
	p[-1] = p[-1] == '0' ? '1' : '0';
	char *d = history_files_diff(files, other);
	CHECK(d != NULL && strcmp(d, "vocab.json") == 0);
	free(d);
	d = history_files_diff(files, "0000000000000000000000000000000000000000"
	    "000000000000000000000000  model.safetensors\n"
	    "1111111111111111111111111111111111111111111111111111111111111111"
	    "  tokenizer.json\n");
	CHECK_MSG(d != NULL && strstr(d, "model.safetensors") == d &&
	    strstr(d, "vocab.json (gone)") && strstr(d, "tokenizer.json (new)"),
	    "%s", d ? d : "(null)");
	free(d);
	free(other);
	CHECK(history_fingerprint("/nonexistent/model", &fp, &files, &err) == -1
	    && strstr(err.msg, "/nonexistent/model") != NULL);
out:
	free(fp);
	free(files);
	free(weights);
	free(model);
}

/* The digest cache: a hit is used as is, a changed file is hashed again. */
static void
test_digest_cache(void)
{
	char		*path = test_path("cache.db"), *ckpt = test_path("m.pt");
	char		*fp = NULL, *files = NULL, ref[65], line[200];
	struct err	 err;
	struct history	*h = history_open(path, 0, &err);
	const char	*ff = "ffffffffffffffffffffffffffffffff"
			    "ffffffffffffffffffffffffffffffff";

	CHECK(util_write_file_atomic(ckpt, "weights v1", 10, &err) == 0);
	CHECK(h != NULL && history_model_fingerprint(h, ckpt, &fp, &files,
	    &err) == 0);
	if (h == NULL || files == NULL)
		goto out;
	CHECK(test_sha256sum(ckpt, ref) == 0);
	snprintf(line, sizeof line, "%s  m.pt\n", ref);
	CHECK_MSG(strcmp(files, line) == 0, "%s", files);
	free(fp);
	free(files);
	char *sql = xasprintf("UPDATE file_digests SET sha256 = '%s'", ff);
	CHECK(test_sql_exec(path, sql) == 0);
	free(sql);
	CHECK(history_model_fingerprint(h, ckpt, &fp, &files, &err) == 0);
	CHECK_MSG(strncmp(files, ff, 64) == 0, "cache not used: %s", files);
	free(fp);
	free(files);
	CHECK(util_write_file_atomic(ckpt, "weights v2!", 11, &err) == 0);
	CHECK(history_model_fingerprint(h, ckpt, &fp, &files, &err) == 0);
	CHECK(test_sha256sum(ckpt, ref) == 0 && strncmp(files, ref, 64) == 0);
out:
	free(fp);
	free(files);
	history_close(h);
	free(ckpt);
	free(path);
}

static int
test_same_turn(const struct history_turn *a, const struct history_turn *b)
{
	int same = strcmp(a->prompt, b->prompt) == 0 &&
	    strcmp(a->output, b->output) == 0 &&
	    b->prompt_len == strlen(a->prompt) &&
	    b->output_len == strlen(a->output) &&
	    a->n_prompt == b->n_prompt && a->n_output == b->n_output &&
	    memcmp(a->prompt_ids, b->prompt_ids, a->n_prompt * 4) == 0 &&
	    memcmp(a->output_ids, b->output_ids, a->n_output * 4) == 0 &&
	    a->settings.sp.temperature == b->settings.sp.temperature &&
	    a->settings.sp.top_p == b->settings.sp.top_p &&
	    a->settings.sp.top_k == b->settings.sp.top_k &&
	    a->settings.sp.min_p == b->settings.sp.min_p &&
	    a->settings.sp.typical_p == b->settings.sp.typical_p &&
	    a->settings.sp.repeat_penalty == b->settings.sp.repeat_penalty &&
	    a->settings.sp.repeat_window == b->settings.sp.repeat_window &&
	    a->settings.seed == b->settings.seed &&
	    a->settings.max_new_tokens == b->settings.max_new_tokens &&
	    a->settings.eos_id == b->settings.eos_id &&
	    a->settings.n_stop == b->settings.n_stop &&
	    a->n_changes == b->n_changes && a->stop == b->stop &&
	    a->prefill_s == b->prefill_s && a->decode_s == b->decode_s &&
	    a->replay_of == b->replay_of;

	for (int i = 0; same && i < a->settings.n_stop; i++)
		same = strcmp(a->settings.stop[i], b->settings.stop[i]) == 0;
	for (size_t i = 0; same && i < a->n_changes; i++)
		same = a->changes[i].step == b->changes[i].step &&
		    strcmp(a->changes[i].name, b->changes[i].name) == 0 &&
		    a->changes[i].value == b->changes[i].value;
	return same;
}

/* Parse an export with jansson and compare it with what was recorded. */
static void
test_export_json(const char *text, const struct history_turn *t)
{
	json_error_t	 je;
	json_t		*root = json_loads(text, JSON_DECODE_INT_AS_REAL, &je),
			*o, *ids;

	CHECK_MSG(root != NULL, "export is not JSON: %s", je.text);
	if (root == NULL)
		return;
	CHECK(json_is_array(root) && json_array_size(root) == 1);
	o = json_array_get(root, 0);
	CHECK(json_number_value(json_object_get(o, "id")) == t->id);
	CHECK(strcmp(json_string_value(json_object_get(o, "prompt")),
	    t->prompt) == 0);
	CHECK(strcmp(json_string_value(json_object_get(o, "output")),
	    t->output) == 0);
	ids = json_object_get(o, "prompt_ids");
	CHECK(json_array_size(ids) == t->n_prompt);
	for (size_t i = 0; i < t->n_prompt && i < json_array_size(ids); i++)
		CHECK(json_number_value(json_array_get(ids, i)) ==
		    t->prompt_ids[i]);
	json_t *s = json_object_get(o, "settings");
	CHECK(json_real_value(json_object_get(s, "temperature")) == 0.7);
	CHECK(json_number_value(json_object_get(s, "top_k")) == 3);
	CHECK(strcmp(json_string_value(json_array_get(json_object_get(s,
	    "stop"), 1)), "say \"end\"") == 0);
	json_t *c = json_array_get(json_object_get(o, "changes"), 0);
	CHECK(json_number_value(json_object_get(c, "step")) == 1);
	CHECK(json_real_value(json_object_get(c, "value")) == 0.25);
	CHECK(strcmp(json_string_value(json_object_get(o, "stop_reason")),
	    "max_tokens") == 0);
	CHECK(json_real_value(json_object_get(o, "tokens_per_s")) == 8.0);
	json_decref(root);
}

static void
test_collect(void *arg, const char *prompt)
{
	struct buf *b = arg;

	buf_printf(b, "%s|", prompt);
}

static void
test_turns(void)
{
	char			*path = test_path("turns.db");
	struct err		 err;
	struct history		*h = history_open(path, 0, &err);
	struct history_session_info info = { .model_path = "/m/tiny",
	    .fingerprint = "ab12", .config_json = "{\"d_model\": 8}",
	    .kernels = "skx avx512", .dtype = "bf16" };
	struct history_turn	 t1, t2, t3, r;
	struct buf		 b;
	int64_t			 sid;

	CHECK_MSG(h != NULL, "%s", err.msg);
	if (h == NULL)
		return;
	sid = history_begin_session(h, &info, &err);
	CHECK_MSG(sid > 0, "%s", err.msg);
	test_fill_turn(&t1, sid, "Once upon a \"time\"\nthere was a fox",
	    "fox fox fox ran é 日本", 3);
	CHECK_MSG(history_record_turn(h, &t1, &err) == 0, "%s", err.msg);
	CHECK(t1.id > 0 && t1.seq_no == 1);
	test_fill_turn(&t2, sid, "The dog slept", "and then a fox came by", 4);
	t2.stop = GEN_STOP_INTERRUPTED;
	t2.replay_of = t1.id;
	t2.n_changes = 0;
	CHECK_MSG(history_record_turn(h, &t2, &err) == 0, "%s", err.msg);
	CHECK(t2.seq_no == 2);
	/* an output may hold NUL bytes (a byte-level model can sample 0) */
	test_fill_turn(&t3, sid, "unrelated", "nothing\0here", 5);
	t3.output_len = 12;
	t3.settings.n_stop = 0;
	CHECK(history_record_turn(h, &t3, &err) == 0);
	CHECK(history_end_session(h, sid, &err) == 0);

	/* round trip */
	CHECK_MSG(history_get_turn(h, t1.id, &r, &err) == 0, "%s", err.msg);
	CHECK(test_same_turn(&t1, &r));
	CHECK(r.model_path && strcmp(r.model_path, "/m/tiny") == 0);
	CHECK(r.fingerprint && strcmp(r.fingerprint, "ab12") == 0);
	CHECK(r.config_json && strcmp(r.config_json, "{\"d_model\": 8}") == 0);
	CHECK(r.kernels && strcmp(r.kernels, "skx avx512") == 0);
	CHECK(r.dtype && strcmp(r.dtype, "bf16") == 0);
	history_turn_fini(&r);
	CHECK(history_get_turn(h, t2.id, &r, &err) == 0);
	CHECK(test_same_turn(&t2, &r));
	history_turn_fini(&r);
	CHECK(history_get_turn(h, t3.id, &r, &err) == 0);
	CHECK(r.output_len == 12 && memcmp(r.output, "nothing\0here", 13) == 0);
	history_turn_fini(&r);
	buf_init(&b);
	CHECK(history_export(h, &t3.id, 1, 0, &b, &err) == 0);
	CHECK(b.data && strstr(b.data, "\"output\": \"nothing\\u0000here\""));
	buf_fini(&b);
	CHECK(history_get_turn(h, 999, &r, &err) == -1);
	CHECK(strstr(err.msg, "no turn 999") != NULL);
	history_turn_fini(&r);

	/* list: oldest first, first line of the prompt, key settings */
	buf_init(&b);
	CHECK(history_list_turns(h, 2, 0, 0, 0, &b, &err) == 0);
	CHECK(b.data && strstr(b.data, "The dog slept") != NULL);
	CHECK(b.data && strstr(b.data, "Once upon") == NULL);
	CHECK(b.data && strstr(b.data, "tiny") &&
	    strncmp(b.data, "ID  DATE", 8) == 0);
	CHECK(b.data && strstr(b.data, "The dog") < strstr(b.data, "unrelated"));
	buf_fini(&b);
	buf_init(&b);
	CHECK(history_list_turns(h, 0, sid, 1, 0, &b, &err) == 0);
	/* the seed needs all 64 bits: read numbers as doubles */
	json_t *arr = json_loads(b.data, JSON_DECODE_INT_AS_REAL, NULL);
	CHECK(json_array_size(arr) == 3);
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(arr, 0),
	    "prompt")), t1.prompt) == 0);
	CHECK(json_number_value(json_object_get(json_array_get(arr, 0),
	    "seed")) > 1.8e19);
	json_decref(arr);
	buf_fini(&b);

	/* search: ranked, both columns, punctuation is text */
	buf_init(&b);
	CHECK_MSG(history_search_turns(h, "fox", 10, 1, 0, &b, &err) == 0, "%s", err.msg);
	arr = json_loads(b.data, JSON_DECODE_INT_AS_REAL, NULL);
	CHECK(json_array_size(arr) == 2);
	CHECK(json_number_value(json_object_get(json_array_get(arr, 0),
	    "id")) == t1.id);	/* four foxes beat one */
	json_decref(arr);
	buf_fini(&b);
	buf_init(&b);
	CHECK(history_search_turns(h, "DOG \"came", 10, 0, 0, &b, &err) == 0);
	CHECK(b.data && strstr(b.data, "[dog]") && !strstr(b.data, "Once"));
	buf_fini(&b);
	buf_init(&b);
	CHECK(history_search_turns(h, "AND OR NOT ( * :", 10, 0, 0, &b,
	    &err) == 0);
	CHECK(b.data && strcmp(b.data, "no turns match\n") == 0);
	buf_fini(&b);

	/* show */
	buf_init(&b);
	CHECK(history_show(h, t1.id, &b, &err) == 0);
	CHECK(b.data && strstr(b.data, "temperature=0.7 top_p=0.95 top_k=3"));
	CHECK(b.data && strstr(b.data, "seed=18446744073709551615"));
	CHECK(b.data && strstr(b.data, "step 1: temperature=0.25"));
	CHECK(b.data && strstr(b.data, "max_tokens"));
	buf_fini(&b);

	/* export */
	buf_init(&b);
	CHECK(history_export(h, &t1.id, 1, 0, &b, &err) == 0);
	test_export_json(b.data, &t1);
	buf_fini(&b);
	buf_init(&b);
	CHECK(history_export(h, NULL, 0, 1, &b, &err) == 0);
	/* a prompt and its reply read as one text, the prompt marked */
	CHECK(b.data && strstr(b.data, "## Turn 3"));
	CHECK(b.data && strstr(b.data, "there was a fox**fox fox fox ran"));
	CHECK(b.data && strstr(b.data, "```") == NULL);
	buf_fini(&b);
	buf_init(&b);
	int64_t bad[] = { t1.id, 77 };
	CHECK(history_export(h, bad, 2, 0, &b, &err) == -1 && b.len == 0);
	buf_fini(&b);

	/* earlier prompts for the up-arrow: distinct, oldest first */
	buf_init(&b);
	CHECK(history_prompts(h, 2, test_collect, &b, &err) == 0);
	CHECK_MSG(b.data && strcmp(b.data, "The dog slept|unrelated|") == 0,
	    "%s", b.data ? b.data : "");
	buf_fini(&b);

	/* delete: the row, its changes and its search entry go */
	CHECK(history_delete(h, t1.id, &err) == 0);
	CHECK(history_delete(h, t1.id, &err) == -1);
	history_close(h);
	char *sql = xasprintf("SELECT count(*) FROM setting_changes WHERE "
	    "turn_id = %lld", (long long)t1.id);
	CHECK(test_sql_int(path, sql) == 0);
	free(sql);
	CHECK(test_sql_int(path, "SELECT count(*) FROM setting_changes") == 2);
	CHECK(test_sql_int(path, "SELECT count(*) FROM turns_fts WHERE "
	    "turns_fts MATCH 'fox'") == 1);
	CHECK(test_sql_int(path, "SELECT count(*) FROM turns WHERE "
	    "replay_of IS NOT NULL") == 0);
	free(path);
}

/* Version 1 as the first release wrote it, built by hand. */
static void
test_migration(void)
{
	char		*path = test_path("v1.db");
	struct err	 err;
	struct history	*h;
	struct history_turn t;

	CHECK(test_sql_exec(path,
	    "PRAGMA application_id = 1819112296;"
	    "CREATE TABLE sessions (id INTEGER PRIMARY KEY, start_time REAL "
	    "NOT NULL, end_time REAL, lmsh_version TEXT NOT NULL, model_path "
	    "TEXT, fingerprint TEXT, config_json TEXT);"
	    "CREATE TABLE turns (id INTEGER PRIMARY KEY, session_id INTEGER NOT "
	    "NULL REFERENCES sessions(id) ON DELETE CASCADE, seq_no INTEGER "
	    "NOT NULL, time REAL NOT NULL, prompt TEXT NOT NULL, prompt_ids "
	    "BLOB NOT NULL, output TEXT NOT NULL, output_ids BLOB NOT NULL, "
	    "temperature REAL NOT NULL, top_p REAL NOT NULL, top_k INTEGER NOT "
	    "NULL, repeat_penalty REAL NOT NULL, repeat_window INTEGER NOT "
	    "NULL, seed INTEGER NOT NULL, max_new_tokens INTEGER NOT NULL, "
	    "eos_id INTEGER NOT NULL, stop_strings TEXT NOT NULL DEFAULT '[]', "
	    "stop_reason TEXT NOT NULL, n_prompt INTEGER NOT NULL, n_output "
	    "INTEGER NOT NULL, prefill_s REAL NOT NULL, decode_s REAL NOT "
	    "NULL);"
	    "CREATE INDEX turns_session ON turns(session_id, seq_no);"
	    "INSERT INTO sessions VALUES (1, 1700000000, NULL, '0.1', "
	    "'/old/model', 'ff', NULL);"
	    "INSERT INTO turns VALUES (1, 1, 1, 1700000001, 'an old prompt', "
	    "x'0100000002000000', 'an old answer', x'03000000', 0.5, 1.0, 0, "
	    "1.0, 64, 42, 16, -1, '[\"x\"]', 'eos', 2, 1, 0.01, 0.25);"
	    "PRAGMA user_version = 1;") == 0);
	h = history_open(path, 0, &err);
	CHECK_MSG(h != NULL, "%s", err.msg);
	if (h == NULL)
		goto out;
	CHECK(history_get_turn(h, 1, &t, &err) == 0);
	CHECK(t.n_prompt == 2 && t.prompt_ids[1] == 2 && t.output_ids[0] == 3);
	CHECK(t.settings.sp.min_p == 0 && t.settings.seed == 42);
	CHECK(t.settings.n_stop == 1 && strcmp(t.settings.stop[0], "x") == 0);
	CHECK(t.stop == GEN_STOP_EOS && t.replay_of == 0);
	CHECK(t.kernels == NULL && t.dtype == NULL);
	CHECK(t.parent == 0 && !t.branch && !t.forced && t.probs == NULL &&
	    !t.undone && t.session_name == NULL);
	history_turn_fini(&t);
	history_close(h);
	CHECK(test_sql_int(path, "SELECT count(*) FROM pragma_table_info("
	    "'sessions') WHERE name IN ('kernels', 'dtype')") == 2);
	for (size_t i = 0; i < sampler_n_settings; i++) {
		char *q = xasprintf("SELECT count(*) FROM pragma_table_info("
		    "'turns') WHERE name = '%s'", sampler_settings[i].name);
		CHECK_MSG(test_sql_int(path, q) == 1, "no column %s",
		    sampler_settings[i].name);
		free(q);
	}
	CHECK(test_sql_int(path, "PRAGMA user_version") == HISTORY_SCHEMA_VERSION);
	CHECK(test_sql_int(path, "SELECT count(*) FROM turns_fts WHERE "
	    "turns_fts MATCH 'answer'") == 1);
	CHECK(test_sql_int(path, "SELECT tokens_per_s FROM turns") == 4);
	{
		char *v = test_sql_text(path, "SELECT time || ' ' || seed ||"
		    " ' ' || typical_p || ' ' || model || ' ' ||"
		    " coalesce(session_name, '-') FROM turns_v");
		CHECK_MSG(strcmp(v, "2023-11-14T22:13:21Z 42 1.0 /old/model -")
		    == 0, "v1 in turns_v: %s", v);
		free(v);
	}
	/* opening again is a no-op */
	h = history_open(path, 0, &err);
	CHECK(h != NULL);
	history_close(h);
out:
	free(path);
}

/* Schema version 4: the story tree, probabilities, undone, names. */
static void
test_tree(void)
{
	char		*path = test_path("tree.db");
	struct err	 err;
	struct history	*h = history_open(path, 0, &err);
	struct history_session_info si = { .lmsh_version = "test" };
	struct history_turn a, b, r;
	uint16_t	 probs[4] = { 0, 1, 32768, 65535 };
	int64_t		 sid, found = 0, *kids = NULL;
	size_t		 n_kids = 0;

	CHECK_MSG(h != NULL, "%s", err.msg);
	if (h == NULL)
		goto out;
	sid = history_begin_session(h, &si, &err);
	CHECK(sid > 0);
	test_fill_turn(&a, sid, "root", "abcd", 3);
	CHECK(history_record_turn(h, &a, &err) == 0);
	test_fill_turn(&b, sid, "", "bcd", 3);
	b.parent = a.id;
	b.branch = 1;
	b.branch_step = 0;
	b.forced = 1;
	b.forced_token = 0;
	b.probs = probs;
	b.n_probs = 4;
	CHECK(history_record_turn(h, &b, &err) == 0);

	CHECK(history_get_turn(h, b.id, &r, &err) == 0);
	CHECK(r.parent == a.id && r.branch && r.branch_step == 0);
	CHECK(r.forced && r.forced_token == 0 && !r.undone);
	CHECK(r.n_probs == 4 && r.probs != NULL &&
	    memcmp(r.probs, probs, sizeof probs) == 0);
	history_turn_fini(&r);
	CHECK(history_get_turn(h, a.id, &r, &err) == 0);
	CHECK(r.parent == 0 && !r.branch && !r.forced && r.probs == NULL);
	history_turn_fini(&r);

	CHECK(history_prob_pack(0) == 0 && history_prob_pack(1) == 65535);
	CHECK(history_prob_pack(-1) == 0 && history_prob_pack(2) == 65535);
	CHECK(history_prob_pack(0.5) == 32768);
	CHECK(history_prob_unpack(65535) == 1.0);

	CHECK(history_children(h, a.id, &kids, &n_kids, &err) == 0);
	CHECK(n_kids == 1 && kids[0] == b.id);
	free(kids);

	CHECK(history_set_undone(h, b.id, 1, &err) == 0);
	CHECK(history_get_turn(h, b.id, &r, &err) == 0 && r.undone == 1);
	history_turn_fini(&r);
	CHECK(history_set_undone(h, 999, 1, &err) == -1 &&
	    strstr(err.msg, "no turn 999") != NULL);

	CHECK(history_find_session(h, "tale", &found, &err) == -1 &&
	    strstr(err.msg, "no session tale") != NULL);
	CHECK(history_set_session_name(h, sid, "tale", &err) == 0);
	CHECK(history_find_session(h, "tale", &found, &err) == 0 &&
	    found == sid);
	CHECK(history_find_session(h, NULL, &found, &err) == 0 && found == sid);
	{
		char num[32];
		snprintf(num, sizeof num, "%lld", (long long)sid);
		found = 0;
		CHECK(history_find_session(h, num, &found, &err) == 0 &&
		    found == sid);
	}
	CHECK(history_get_turn(h, a.id, &r, &err) == 0 &&
	    r.session_name != NULL && strcmp(r.session_name, "tale") == 0);
	history_turn_fini(&r);

	/* the child keeps its data and loses the link */
	CHECK(history_delete(h, a.id, &err) == 0);
	CHECK(history_get_turn(h, b.id, &r, &err) == 0);
	CHECK(r.parent == 0 && r.branch && r.n_output == 4);
	history_turn_fini(&r);
	history_close(h);
out:
	free(path);
}

/* turns_v of path holds turn id as recorded by test_fill_turn (k = 3),
 * in session "tale" of model "m". */
static void
test_view_row(const char *path, int64_t id)
{
	char	*q, *v;

	q = xasprintf("SELECT time || '|' || typeof(seed) || ':' || seed || '|'"
	    " || prompt || '|' || reply || '|' || session_name || '|' || model"
	    " || '|' || stop_reason FROM turns_v WHERE id = %lld",
	    (long long)id);
	v = test_sql_text(path, q);
	/* 2023-11-14T22:13:21Z: ISO 8601, UTC */
	CHECK_MSG(strlen(v) > 20 && v[4] == '-' && v[7] == '-' &&
	    v[10] == 'T' && v[13] == ':' && v[16] == ':' && v[19] == 'Z' &&
	    strcmp(v + 20, "|text:18446744073709551615|view me|all of it|tale"
	    "|m|max_tokens") == 0, "turns_v row: %s", v);
	free(v);
	free(q);
	q = xasprintf("SELECT temperature = 0.7 AND top_p = 0.95 AND top_k = 3"
	    " AND min_p = 0.05 AND repeat_penalty = 1.1 AND repeat_window = 32"
	    " AND typeof(top_k) = 'integer' AND typeof(min_p) = 'real'"
	    " FROM turns_v WHERE id = %lld", (long long)id);
	CHECK_MSG(test_sql_int(path, q) == 1, "turns_v settings");
	free(q);
	/* one column per row of the settings table: a knob added later
	 * cannot be left out of the view */
	for (size_t i = 0; i < sampler_n_settings; i++) {
		q = xasprintf("SELECT count(*) FROM pragma_table_info('turns_v')"
		    " WHERE name = '%s'", sampler_settings[i].name);
		CHECK_MSG(test_sql_int(path, q) == 1, "turns_v has no %s",
		    sampler_settings[i].name);
		free(q);
	}
}

/* Turn a version-5 file back into the version 4 it was upgraded from. */
static int
test_make_v4(const char *path)
{
	return test_sql_exec(path, "DROP VIEW turns_v; PRAGMA user_version = 4");
}

/* Schema version 5: turns_v, on a new file and on an upgraded one. */
static void
test_view(void)
{
	char		*path = test_path("view.db");
	struct err	 err;
	struct history	*h = history_open(path, 0, &err);
	struct history_session_info si = { .lmsh_version = "test",
	    .model_path = "m" };
	struct history_turn a, b;
	int64_t		 sid;

	CHECK_MSG(h != NULL, "%s", err.msg);
	if (h == NULL)
		goto out;
	sid = history_begin_session(h, &si, &err);
	CHECK(history_set_session_name(h, sid, "tale", &err) == 0);
	test_fill_turn(&a, sid, "view me", "all of it", 3);
	CHECK(history_record_turn(h, &a, &err) == 0);
	test_fill_turn(&b, sid, "small", "seed", 3);
	b.settings.seed = 42;
	CHECK(history_record_turn(h, &b, &err) == 0);
	history_close(h);
	test_view_row(path, a.id);
	CHECK(test_sql_int(path, "SELECT seed FROM turns_v WHERE typeof(seed)"
	    " = 'integer'") == 42);
	CHECK(test_sql_int(path, "SELECT count(*) FROM turns_v") == 2);

	/* a version-4 file gains the view when opened for writing */
	CHECK(test_make_v4(path) == 0);
	CHECK(test_sql_int(path, "SELECT count(*) FROM sqlite_master WHERE "
	    "name = 'turns_v'") == 0);
	h = history_open(path, 0, &err);
	CHECK_MSG(h != NULL, "%s", err.msg);
	history_close(h);
	CHECK(test_sql_int(path, "PRAGMA user_version") == 5);
	test_view_row(path, a.id);
out:
	free(path);
}

static char *
test_slurp(const char *path, size_t *len)
{
	char		*d = NULL;
	struct err	 err;

	if (util_read_file(path, &d, len, &err) != 0)
		return NULL;
	return d;
}

/* history_open must fail with a message naming the file and leave every
 * byte as it was. */
static void
test_refused(const char *path, int read_only, const char *why)
{
	size_t		 len0 = 0, len1 = 0;
	char		*before = test_slurp(path, &len0), *after;
	struct err	 err;
	struct history	*h = history_open_timeout(path, read_only, 200, &err);

	CHECK_MSG(h == NULL, "%s: opened", why);
	history_close(h);
	CHECK_MSG(h != NULL || (strstr(err.msg, path) == err.msg),
	    "%s: %s", why, err.msg);
	after = test_slurp(path, &len1);
	CHECK_MSG(before && after && len0 == len1 &&
	    memcmp(before, after, len0) == 0, "%s: file changed", why);
	free(before);
	free(after);
}

static void
test_bad_files(void)
{
	char		*newer = test_path("newer.db"), *junk = test_path("junk.db");
	char		*other = test_path("other.db");
	struct err	 err;

	CHECK(test_sql_exec(newer, "PRAGMA application_id = 1819112296;"
	    "CREATE TABLE future (x); PRAGMA user_version = 99") == 0);
	test_refused(newer, 0, "newer");
	struct history *h = history_open_timeout(newer, 0, 200, &err);
	CHECK(h == NULL && strstr(err.msg, "newer lmsh") != NULL);
	history_close(h);

	CHECK(util_write_file_atomic(junk, "this is not a database, just text "
	    "that is long enough to look like a header............................"
	    "................................................................", 160,
	    &err) == 0);
	test_refused(junk, 0, "garbage");
	test_refused(junk, 1, "garbage read-only");

	CHECK(test_sql_exec(other, "CREATE TABLE contacts (name);"
	    "INSERT INTO contacts VALUES ('x')") == 0);
	test_refused(other, 0, "another program's file");
	h = history_open_timeout(other, 0, 200, &err);
	CHECK(h == NULL && strstr(err.msg, "not an lmsh history") != NULL);
	history_close(h);
	free(newer);
	free(junk);
	free(other);
}

/* Record n turns of about 2 KB each in a new session: 0 or -1. */
static int
test_record_many(struct history *h, int n, struct err *err)
{
	struct history_session_info info = { .model_path = "m" };
	struct history_turn t;
	char text[2048];
	int64_t sid = history_begin_session(h, &info, err);

	for (int i = 0; sid > 0 && i < n; i++) {
		snprintf(text, sizeof text, "turn %d ", i);
		memset(text + strlen(text), 'a' + i % 26, sizeof text - 1 -
		    strlen(text));
		text[sizeof text - 1] = '\0';
		test_fill_turn(&t, sid, text, text, i);
		if (history_record_turn(h, &t, err) != 0)
			return -1;
	}
	return sid > 0 ? 0 : -1;
}

/* One interior table page whose first child pointer points nowhere: the
 * opens' own reads never touch it; PRAGMA quick_check does. */
static void
test_corrupt_page(void)
{
	char		*path = test_path("corrupt.db");
	struct err	 err;
	struct history	*h = history_open(path, 0, &err);
	size_t		 len = 0;
	int		 done = 0;

	CHECK(h != NULL && test_record_many(h, 300, &err) == 0);
	history_close(h);
	char *d = test_slurp(path, &len);
	size_t page = d ? ((size_t)(unsigned char)d[16] << 8 |
	    (unsigned char)d[17]) : 0;
	if (page == 1)
		page = 65536;
	for (size_t off = page; d && page && off + page <= len && !done;
	    off += page) {
		unsigned char *p = (unsigned char *)d + off;
		if (p[0] != 0x05)	/* interior table b-tree page */
			continue;
		size_t cell = (size_t)p[12] << 8 | p[13];
		memcpy(p + cell, "\x7f\xff\xff\xf0", 4);
		done = 1;
	}
	CHECK_MSG(done, "no interior page in %zu bytes", len);
	CHECK(d != NULL && util_write_file_atomic(path, d, len, &err) == 0);
	free(d);
	test_refused(path, 0, "damaged interior page");
	h = history_open_timeout(path, 0, 200, &err);
	CHECK_MSG(h == NULL && strstr(err.msg, "corrupt") != NULL &&
	    strstr(err.msg, "left untouched") != NULL, "%s",
	    h ? "opened" : err.msg);
	history_close(h);
	free(path);
}

/* A full disk, as a file size limit (SIGXFSZ ignored, so writes fail with
 * EFBIG): the turn is refused and the handle remembers it. */
static void
test_disk_full(void)
{
	char	*path = test_path("full.db");
	pid_t	 pid;
	int	 status;

	fflush(NULL);
	if ((pid = fork()) == 0) {
		struct err err;
		struct history *h = history_open(path, 0, &err);
		struct rlimit rl = { 256 * 1024, 256 * 1024 };
		if (h == NULL || history_failed(h))
			_exit(2);
		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(77);
		if (test_record_many(h, 1000, &err) == 0)
			_exit(3);	/* 2 MB fitted in 256 KB? */
		_exit(history_failed(h) && history_failed(NULL) == 0 ? 0 : 4);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK_MSG(WIFEXITED(status) && (WEXITSTATUS(status) == 0 ||
	    WEXITSTATUS(status) == 77), "disk-full child: %d",
	    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	free(path);
}

/* Deleting several turns: one missing id, and none goes. */
static void
test_delete_all_or_none(void)
{
	char		*path = test_path("delete.db");
	struct err	 err;
	struct history	*h = history_open(path, 0, &err);
	int64_t		 ids[] = { 2, 999, 3 };

	CHECK(h != NULL && test_record_many(h, 4, &err) == 0);
	CHECK(h != NULL && history_delete_turns(h, ids, 3, &err) == -1);
	CHECK_MSG(strstr(err.msg, "no turn 999; nothing deleted") != NULL,
	    "%s", err.msg);
	CHECK(test_sql_int(path, "SELECT count(*) FROM turns") == 4);
	ids[1] = 4;
	CHECK(h != NULL && history_delete_turns(h, ids, 3, &err) == 0);
	CHECK(test_sql_int(path, "SELECT group_concat(id) FROM turns") == 1);
	CHECK(test_sql_int(path, "SELECT count(*) FROM setting_changes") == 2);
	history_close(h);
	free(path);
}

/* A read-only file, checked as an unprivileged user (root may write
 * anything): the writer is refused, a reader still lists it. */
static void
test_read_only(void)
{
	char		*path = test_path("ro/h.db"), *dir = test_path("ro");
	char		*old = test_path("ro/h4.db");
	struct err	 err;
	struct history	*h = history_open(path, 0, &err);
	struct history_turn t;
	int64_t		 sid;
	pid_t		 pid;
	int		 status;

	if (h == NULL)
		goto out;
	struct history_session_info info = { .model_path = "m" };
	sid = history_begin_session(h, &info, &err);
	test_fill_turn(&t, sid, "read me", "ok", 1);
	CHECK(history_record_turn(h, &t, &err) == 0);
	history_close(h);
	/* the same turn in a version-4 file: nothing lmsh reads came later */
	if ((h = history_open(old, 0, &err)) != NULL) {
		sid = history_begin_session(h, &info, &err);
		test_fill_turn(&t, sid, "read me", "ok", 1);
		CHECK(history_record_turn(h, &t, &err) == 0);
	}
	history_close(h);
	CHECK(test_make_v4(old) == 0);
	chmod(test_dir, 0755);
	chmod(dir, 0755);
	chmod(path, 0444);
	chmod(old, 0444);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(77);
		test_refused(path, 0, "read-only file");
		h = history_open_timeout(path, 0, 200, &err);
		if (h != NULL || strstr(err.msg, "read-only") == NULL)
			check_failures++;
		history_close(h);
		struct buf b;
		buf_init(&b);
		h = history_open(path, 1, &err);
		if (h == NULL || history_list_turns(h, 10, 0, 0, 0, &b, &err) != 0 ||
		    b.data == NULL || strstr(b.data, "read me") == NULL) {
			fprintf(stderr, "read-only list: %s\n", err.msg);
			check_failures++;
		}
		history_close(h);
		buf_fini(&b);
		buf_init(&b);
		h = history_open(old, 1, &err);
		if (h == NULL || history_list_turns(h, 10, 0, 0, 0, &b, &err) != 0 ||
		    b.data == NULL || strstr(b.data, "read me") == NULL) {
			fprintf(stderr, "read-only version 4: %s\n", err.msg);
			check_failures++;
		}
		history_close(h);
		buf_fini(&b);
		_exit(check_failures ? 1 : 0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK_MSG(WIFEXITED(status) && (WEXITSTATUS(status) == 0 ||
	    WEXITSTATUS(status) == 77), "read-only child failed");
	chmod(path, 0600);
	chmod(old, 0600);
	chmod(test_dir, 0700);
out:
	free(old);
	free(dir);
	free(path);
}

/* Another process holds the lock: opening (exclusive lock) or recording
 * (write lock) gives up after the busy timeout with a clear message. */
static void
test_locked(void)
{
	char		*path = test_path("locked.db");
	struct err	 err;
	struct history	*h = history_open(path, 0, &err);
	int		 up[2], down[2], status;
	char		 c;
	pid_t		 pid;

	history_close(h);
	for (int mode = 0; mode < 2; mode++) {
		CHECK(pipe(up) == 0 && pipe(down) == 0);
		fflush(NULL);
		if ((pid = fork()) == 0) {
			sqlite3 *db;
			close(up[0]);
			close(down[1]);
			sqlite3_open(path, &db);
			sqlite3_exec(db, mode == 0 ?
			    "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;"
			    "INSERT INTO sessions (start_time, lmsh_version) "
			    "VALUES (1, 'x')" : "BEGIN IMMEDIATE;"
			    "INSERT INTO sessions (start_time, lmsh_version) "
			    "VALUES (1, 'x')", NULL, NULL, NULL);
			if (write(up[1], "1", 1) != 1 ||
			    read(down[0], &c, 1) != 1)
				_exit(1);
			sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
			sqlite3_close(db);
			_exit(0);
		}
		close(up[1]);
		close(down[0]);
		CHECK(read(up[0], &c, 1) == 1);
		h = history_open_timeout(path, 0, 300, &err);
		if (mode == 0) {
			CHECK_MSG(h == NULL && strstr(err.msg, path) == err.msg &&
			    strstr(err.msg, "locked") != NULL, "%s", err.msg);
		} else {
			struct history_session_info info = { .model_path = "m" };
			CHECK_MSG(h != NULL, "%s", err.msg);
			if (h != NULL) {
				double t0 = util_now();
				CHECK(history_begin_session(h, &info, &err) == -1);
				CHECK_MSG(strstr(err.msg, "locked") != NULL, "%s",
				    err.msg);
				CHECK(util_now() - t0 >= 0.25);
			}
		}
		CHECK(write(down[1], "1", 1) == 1);
		CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0);
		if (mode == 1 && h != NULL) {
			struct history_session_info info = { .model_path = "m" };
			CHECK(history_begin_session(h, &info, &err) > 0);
		}
		history_close(h);
		close(up[0]);
		close(down[1]);
	}
	free(path);
}

/* Record n turns in a new session of path; the child's exit status. */
static int
test_writer(const char *path, int n, int notify_fd)
{
	struct err		err;
	struct history		*h = history_open(path, 0, &err);
	struct history_turn	t;
	struct history_session_info info = { .model_path = "w" };
	int64_t			sid;
	char			prompt[64];

	if (h == NULL) {
		fprintf(stderr, "writer %d: %s\n", (int)getpid(), err.msg);
		return 1;
	}
	if ((sid = history_begin_session(h, &info, &err)) < 0)
		return 1;
	for (int i = 0; n < 0 || i < n; i++) {
		snprintf(prompt, sizeof prompt, "writer %d turn %d",
		    (int)getpid(), i);
		test_fill_turn(&t, sid, prompt, "some output text", i);
		if (history_record_turn(h, &t, &err) != 0) {
			fprintf(stderr, "writer %d: %s\n", (int)getpid(),
			    err.msg);
			return 1;
		}
		if (notify_fd >= 0 && write(notify_fd, "t", 1) != 1)
			return 1;
	}
	history_close(h);
	return 0;
}

static void
test_concurrent(void)
{
	char	*path = test_path("concurrent.db");
	pid_t	 pid[2];
	int	 status;

	fflush(NULL);
	for (int i = 0; i < 2; i++)
		if ((pid[i] = fork()) == 0)
			_exit(test_writer(path, TEST_WRITER_TURNS, -1));
	for (int i = 0; i < 2; i++) {
		CHECK(waitpid(pid[i], &status, 0) == pid[i]);
		CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "writer %d failed", i);
	}
	CHECK(test_sql_int(path, "SELECT count(*) FROM turns") ==
	    2 * TEST_WRITER_TURNS);
	CHECK(test_sql_int(path, "SELECT count(DISTINCT session_id) FROM "
	    "turns") == 2);
	CHECK(test_sql_int(path, "SELECT count(*) FROM setting_changes") ==
	    2 * TEST_WRITER_TURNS * TEST_N_CHANGES);
	free(path);
}

/* Open path for writing and record a session; the child's exit status. */
static int
test_creator(const char *path, int go_fd)
{
	struct history_session_info info = { .model_path = "c" };
	struct err	 err;
	char		 c;

	if (read(go_fd, &c, 1) != 0)		/* wait for the starting gun */
		return 2;
	struct history *h = history_open(path, 0, &err);
	if (h == NULL || history_begin_session(h, &info, &err) < 0) {
		fprintf(stderr, "creator %d: %s\n", (int)getpid(), err.msg);
		history_close(h);
		return 1;
	}
	history_close(h);
	return 0;
}

/* Processes that find a new file half-created must wait for it, not call
 * it foreign: TEST_CREATORS at once, on TEST_CREATE_ROUNDS new files. */
#define TEST_CREATORS		6
#define TEST_CREATE_ROUNDS	40

static void
test_create_race(void)
{
	int failed = 0;

	for (int r = 0; r < TEST_CREATE_ROUNDS; r++) {
		char	 name[32];
		pid_t	 pid[TEST_CREATORS];
		int	 go[2], status;

		snprintf(name, sizeof name, "race/%d.db", r);
		char *path = test_path(name);
		CHECK(pipe(go) == 0);
		fflush(NULL);
		for (int i = 0; i < TEST_CREATORS; i++)
			if ((pid[i] = fork()) == 0) {
				close(go[1]);
				_exit(test_creator(path, go[0]));
			}
		close(go[0]);
		close(go[1]);		/* all of them start now */
		for (int i = 0; i < TEST_CREATORS; i++) {
			CHECK(waitpid(pid[i], &status, 0) == pid[i]);
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				failed++;
		}
		CHECK(test_sql_int(path, "SELECT count(*) FROM sessions") ==
		    TEST_CREATORS);
		free(path);
	}
	CHECK_MSG(failed == 0, "%d of %d creators failed", failed,
	    TEST_CREATORS * TEST_CREATE_ROUNDS);
}

static void
test_sigkill(void)
{
	char		*path = test_path("killed.db");
	int		 fd[2], status;
	long		 acked = 0;
	char		 c;
	pid_t		 pid;
	struct err	 err;

	CHECK(pipe(fd) == 0);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		close(fd[0]);
		_exit(test_writer(path, -1, fd[1]));
	}
	close(fd[1]);
	/* let it finish some turns, then kill it in the middle of others */
	while (acked < 25 && read(fd[0], &c, 1) == 1)
		acked++;
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status));
	while (read(fd[0], &c, 1) == 1)
		acked++;
	close(fd[0]);
	CHECK(acked >= 25);

	struct history *h = history_open(path, 0, &err);
	CHECK_MSG(h != NULL, "%s", err.msg);
	history_close(h);
	CHECK(test_sql_int(path, "SELECT count(*) FROM pragma_integrity_check "
	    "WHERE integrity_check = 'ok'") == 1);
	long long n = test_sql_int(path, "SELECT count(*) FROM turns");
	CHECK_MSG(n >= acked && n <= acked + 1, "%lld turns, %ld acked", n, acked);
	/* every turn is whole: its ids, its changes, its search entry */
	CHECK(test_sql_int(path, "SELECT count(*) FROM turns WHERE "
	    "length(prompt_ids) != 24 OR length(output_ids) != 16 OR "
	    "(SELECT count(*) FROM setting_changes WHERE turn_id = turns.id) "
	    "!= 2") == 0);
	CHECK(test_sql_int(path, "SELECT count(*) FROM turns_fts WHERE "
	    "turns_fts MATCH 'writer'") == n);
	free(path);
}

/* --fill PATH: four known turns in two sessions, for tests/e2e/history.sh. */
static int
test_fill(const char *path)
{
	static const char *const turns[][2] = {
		{ "The quick brown fox\nsecond line", "jumps over the lazy dog" },
		{ "Once upon a time", "there was a fox. The fox ran. Fox!" },
		{ "say \"hi\" & <b>\u00fc</b>\\", "\u65e5\u672c\u8a9e text\ttab" },
		{ "unrelated", "nothing" },
	};
	struct err		 err;
	struct history		*h = history_open(path, 0, &err);
	struct history_session_info info = { .model_path = "/models/tiny",
	    .fingerprint = "00ff" };
	struct history_turn	 t;
	int64_t			 sid = 0;

	if (h == NULL) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	for (int i = 0; i < 4; i++) {
		if ((i == 0 || i == 3) &&
		    (sid = history_begin_session(h, &info, &err)) < 0)
			break;
		test_fill_turn(&t, sid, turns[i][0], turns[i][1], 40 + i);
		t.n_changes = (size_t)(i == 1 ? 2 : 0);
		if (history_record_turn(h, &t, &err) != 0) {
			sid = -1;
			break;
		}
	}
	history_close(h);
	if (sid < 0)
		fprintf(stderr, "%s\n", err.msg);
	return sid < 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--fill") == 0)
		return test_fill(argv[2]);
	if (mkdtemp(test_dir) == NULL) {
		perror("mkdtemp");
		return 99;
	}
	test_new_file();
	test_fingerprint();
	test_digest_cache();
	test_turns();
	test_migration();
	test_tree();
	test_view();
	test_bad_files();
	test_corrupt_page();
	test_disk_full();
	test_delete_all_or_none();
	test_read_only();
	test_locked();
	test_concurrent();
	test_create_race();
	test_sigkill();
	if (check_failures == 0) {
		char *cmd = xasprintf("rm -rf '%s'", test_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", test_dir);
		free(cmd);
	}
	CHECK_RESULT();
}
