/*
 * history_fmt.c: the history as people and scripts read it: the one-line
 * summaries of history_list() and history_search(), history_show()'s full
 * page, and history_export() as JSON or Markdown.  Text goes into a
 * struct buf; the front end decides where it is printed.  Numbers that were
 * floats are printed in the shortest form that reads back the same.
 */
#include "config.h"

#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "history.h"
#include "history_int.h"
#include "sampler.h"
#include "util.h"

/* ---- formatting --------------------------------------------------------- */

/* The shortest decimal that reads back as the same float. */
static void
history_fmt_float(struct buf *b, double v)
{
	char s[40];

	util_fmt_real(s, sizeof s, v, 1);
	buf_puts(b, s);
}

static void
history_fmt_time(struct buf *b, double t, int iso)
{
	time_t		tt = (time_t)t;
	struct tm	tm;
	char		s[40];

	if (iso) {
		gmtime_r(&tt, &tm);
		strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	} else {
		localtime_r(&tt, &tm);
		strftime(s, sizeof s, "%Y-%m-%d %H:%M", &tm);
	}
	buf_puts(b, s);
}

/* The last component of a model path ("tiny" for ".../models/tiny/"). */
/* Stored text for a human reader: controls shown, never sent (a prompt
 * or a file name may hold ESC ] 52 ..., which sets the clipboard). */
static void
history_fmt_text(struct buf *b, const char *s)
{
	buf_escape(b, s, strlen(s), BUF_ESC_TEXT);
}

static void
history_fmt_model(struct buf *b, const char *path)
{
	size_t len, start;

	if (path == NULL) {
		buf_puts(b, "-");
		return;
	}
	len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	start = len;
	while (start > 0 && path[start - 1] != '/')
		start--;
	buf_escape(b, path + start, len - start, BUF_ESC_TEXT);
}

/* The first line of s, at most max bytes (whole UTF-8 characters), with
 * control characters as spaces and "..." when cut. */
static void
history_fmt_line(struct buf *b, const char *s, size_t max)
{
	size_t len = strcspn(s, "\n"), cut = len;

	if (cut > max) {
		cut = max;
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
	}
	/* C1 controls too: U+009B is a CSI to the terminal */
	buf_escape(b, s, cut, BUF_ESC_TEXT);
	if (cut < strlen(s))
		buf_puts(b, "...");
}

/* A string that may be NULL, as JSON. */
static json_t *
history_json_str(const char *s)
{
	return s == NULL ? json_null() : util_json_text(s, strlen(s));
}

/* The "2026-12-06T04:00:00Z" of a time. */
static json_t *
history_json_date(double t)
{
	struct buf	 b;
	json_t		*v;

	buf_init(&b);
	history_fmt_time(&b, t, 1);
	v = json_string(b.data);
	buf_fini(&b);
	return v;
}

/* A sampling setting's value: a whole number, or the shortest float. */
static void
history_fmt_setting(struct buf *b, const struct sampler_params *sp,
    const struct sampler_setting *row)
{
	double v = sampler_setting_get(sp, row);

	if (row->type == SAMPLER_INT)
		buf_printf(b, "%d", (int)v);
	else
		history_fmt_float(b, v);
}

/*
 * Return g's stop strings as a JSON array: the stop_strings column and the
 * "stop" of an export.
 */
json_t *
history_json_stop_array(const struct gen_settings *g)
{
	json_t *a = json_array();

	for (int i = 0; i < g->n_stop; i++)
		json_array_append_new(a, util_json_text(g->stop[i],
		    strlen(g->stop[i])));
	return a;
}

/*
 * Add the sampler's settings to the JSON object o, one member per row of
 * its settings table (export, and generate's jsonl).
 */
void
history_json_sampling(json_t *o, const struct sampler_params *sp)
{
	for (size_t i = 0; i < sampler_n_settings; i++) {
		const struct sampler_setting	*row = &sampler_settings[i];
		double				 v = sampler_setting_get(sp, row);

		json_object_set_new(o, row->name, row->type == SAMPLER_INT ?
		    json_integer((json_int_t)v) : util_json_float((float)v));
	}
}

static json_t *
history_json_settings(const struct gen_settings *g)
{
	json_t *o = json_object();

	history_json_sampling(o, &g->sp);
	json_object_set_new(o, "seed", util_json_u64(g->seed));
	json_object_set_new(o, "max_new_tokens",
	    json_integer(g->max_new_tokens));
	json_object_set_new(o, "eos_id", json_integer(g->eos_id));
	json_object_set_new(o, "stop", history_json_stop_array(g));
	return o;
}

static json_t *
history_json_changes(const struct history_turn *t)
{
	json_t *a = json_array();

	for (size_t i = 0; i < t->n_changes; i++) {
		json_t *c = json_object();

		json_object_set_new(c, "step", json_integer(t->changes[i].step));
		json_object_set_new(c, "name",
		    history_json_str(t->changes[i].name));
		json_object_set_new(c, "value",
		    util_json_float((float)t->changes[i].value));
		json_array_append_new(a, c);
	}
	return a;
}

/* A turn's place in its story tree as members of o: "parent",
 * "branch_step" and "forced_token", null for what it lacks. */
static void
history_json_tree(json_t *o, int64_t parent, int branch, int step,
    int forced, int32_t token)
{
	json_object_set_new(o, "parent", parent > 0 ? json_integer(parent) :
	    json_null());
	json_object_set_new(o, "branch_step", branch ? json_integer(step) :
	    json_null());
	json_object_set_new(o, "forced_token", forced ? json_integer(token) :
	    json_null());
}

/* One turn as a JSON object (export). */
static json_t *
history_json_turn(const struct history_turn *t)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer(t->id));
	json_object_set_new(o, "session", json_integer(t->session_id));
	json_object_set_new(o, "seq", json_integer(t->seq_no));
	json_object_set_new(o, "time",
	    util_json_double(round(t->time * 1e3) / 1e3));
	json_object_set_new(o, "date", history_json_date(t->time));
	json_object_set_new(o, "model", history_json_str(t->model_path));
	json_object_set_new(o, "fingerprint", history_json_str(t->fingerprint));
	json_object_set_new(o, "prompt", util_json_text(t->prompt ? t->prompt :
	    "", history_text_len(t->prompt, t->prompt_len)));
	json_object_set_new(o, "prompt_ids",
	    util_json_ids(t->prompt_ids, t->n_prompt));
	json_object_set_new(o, "output", util_json_text(t->output ? t->output :
	    "", history_text_len(t->output, t->output_len)));
	json_object_set_new(o, "output_ids",
	    util_json_ids(t->output_ids, t->n_output));
	json_object_set_new(o, "settings", history_json_settings(&t->settings));
	json_object_set_new(o, "changes", history_json_changes(t));
	json_object_set_new(o, "stop_reason",
	    json_string(history_stop_name(t->stop)));
	json_object_set_new(o, "n_prompt", json_integer((json_int_t)t->n_prompt));
	json_object_set_new(o, "n_output", json_integer((json_int_t)t->n_output));
	json_object_set_new(o, "prefill_s",
	    util_json_double(round(t->prefill_s * 1e6) / 1e6));
	json_object_set_new(o, "decode_s",
	    util_json_double(round(t->decode_s * 1e6) / 1e6));
	json_object_set_new(o, "tokens_per_s", t->decode_s > 0 ?
	    util_json_double(round((double)t->n_output / t->decode_s * 1e3) /
	    1e3) : json_null());
	json_object_set_new(o, "replay_of", t->replay_of > 0 ?
	    json_integer(t->replay_of) : json_null());
	history_json_tree(o, t->parent, t->branch, t->branch_step, t->forced,
	    t->forced_token);
	json_object_set_new(o, "undone", json_boolean(t->undone));
	if (t->probs != NULL) {
		json_t *a = json_array();

		/* 16 bits hold about 5 significant digits */
		for (size_t i = 0; i < t->n_probs; i++)
			json_array_append_new(a, util_json_double(round(
			    history_prob_unpack(t->probs[i]) * 1e5) / 1e5));
		json_object_set_new(o, "probs", a);
	}
	return o;
}

/* "temperature=0.8 top_p=0.9 ..." for show and markdown: the sampler's
 * table, then the rest. */
static void
history_text_settings(struct buf *b, const struct gen_settings *g,
    const char *sep)
{
	for (size_t i = 0; i < sampler_n_settings; i++) {
		buf_printf(b, "%s%s=", i ? sep : "", sampler_settings[i].name);
		history_fmt_setting(b, &g->sp, &sampler_settings[i]);
	}
	buf_printf(b, "%sseed=%llu%smax_new_tokens=%d%seos_id=%d", sep,
	    (unsigned long long)g->seed, sep, g->max_new_tokens, sep,
	    g->eos_id);
	if (g->n_stop > 0) {
		buf_printf(b, "%sstop=", sep);
		buf_json(b, history_json_stop_array(g));
	}
}

static void
history_text_changes(struct buf *b, const struct history_turn *t)
{
	for (size_t i = 0; i < t->n_changes; i++) {
		buf_printf(b, "%sstep %d: %s=", i ? ", " : "",
		    t->changes[i].step, t->changes[i].name);
		history_fmt_float(b, t->changes[i].value);
	}
}

static void
history_text_stats(struct buf *b, const struct history_turn *t)
{
	buf_printf(b, "%s; %zu prompt + %zu output tokens; prefill %.3f s, "
	    "decode %.3f s", history_stop_name(t->stop), t->n_prompt,
	    t->n_output, t->prefill_s, t->decode_s);
	if (t->decode_s > 0)
		buf_printf(b, ", %.1f tokens/s",
		    (double)t->n_output / t->decode_s);
}

/* A fence longer than any run of backticks in s (len bytes). */
static void
history_md_block(struct buf *b, const char *title, const char *s,
    size_t len)
{
	size_t run = 0, longest = 2;

	for (size_t i = 0; i < len; i++) {
		run = s[i] == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	buf_printf(b, "\n### %s\n\n", title);
	for (size_t i = 0; i <= longest; i++)
		buf_puts(b, "`");
	buf_puts(b, "\n");
	buf_escape(b, s, len, BUF_ESC_TEXT);
	if (len > 0 && s[len - 1] != '\n')
		buf_puts(b, "\n");
	for (size_t i = 0; i <= longest; i++)
		buf_puts(b, "`");
	buf_puts(b, "\n");
}

static void
history_md_turn(struct buf *b, const struct history_turn *t)
{
	buf_printf(b, "## Turn %lld\n\n- time: ", (long long)t->id);
	history_fmt_time(b, t->time, 1);
	buf_printf(b, "\n- session: %lld, turn %d\n- model: `",
	    (long long)t->session_id, t->seq_no);
	history_fmt_text(b, t->model_path ? t->model_path : "-");
	buf_puts(b, "`");
	if (t->fingerprint != NULL)
		buf_printf(b, " (sha256 `%.16s`)", t->fingerprint);
	buf_puts(b, "\n- settings: ");
	history_text_settings(b, &t->settings, ", ");
	if (t->n_changes > 0) {
		buf_puts(b, "\n- changes: ");
		history_text_changes(b, t);
	}
	buf_puts(b, "\n- stop: ");
	history_text_stats(b, t);
	if (t->replay_of > 0)
		buf_printf(b, "\n- replay of turn %lld",
		    (long long)t->replay_of);
	buf_puts(b, "\n");
	history_md_block(b, "Prompt", t->prompt,
	    history_text_len(t->prompt, t->prompt_len));
	history_md_block(b, "Output", t->output,
	    history_text_len(t->output, t->output_len));
}

/* ---- listing and searching ---------------------------------------------- */

/* Columns every summary query selects first, in this order. */
#define HISTORY_SUMMARY_COLS \
	"t.id, t.session_id, t.time, s.model_path, t.temperature, t.top_p, " \
	"t.top_k, t.seed, t.stop_reason, t.n_output, t.prompt, t.replay_of, " \
	"t.parent, t.branch_step, t.forced_token"

/* One summary row as text or as a JSON object; snippet may be NULL. */
static void
history_fmt_summary(struct buf *b, sqlite3_stmt *st, int json,
    const char *snippet)
{
	const char	*model = (const char *)sqlite3_column_text(st, 3);
	const char	*prompt = (const char *)sqlite3_column_text(st, 10);
	double		 time = sqlite3_column_double(st, 2);

	prompt = prompt != NULL ? prompt : "";
	if (json) {
		json_t *o = json_object();

		json_object_set_new(o, "id",
		    json_integer(sqlite3_column_int64(st, 0)));
		json_object_set_new(o, "session",
		    json_integer(sqlite3_column_int64(st, 1)));
		json_object_set_new(o, "time",
		    util_json_double(round(time * 1e3) / 1e3));
		json_object_set_new(o, "date", history_json_date(time));
		json_object_set_new(o, "model", history_json_str(model));
		json_object_set_new(o, "temperature",
		    util_json_float((float)sqlite3_column_double(st, 4)));
		json_object_set_new(o, "top_p",
		    util_json_float((float)sqlite3_column_double(st, 5)));
		json_object_set_new(o, "top_k",
		    json_integer(sqlite3_column_int(st, 6)));
		/* the column holds the seed's bits as a signed integer */
		json_object_set_new(o, "seed",
		    util_json_u64((uint64_t)sqlite3_column_int64(st, 7)));
		json_object_set_new(o, "stop_reason", history_json_str(
		    (const char *)sqlite3_column_text(st, 8)));
		json_object_set_new(o, "n_output",
		    json_integer(sqlite3_column_int(st, 9)));
		json_object_set_new(o, "prompt", history_json_str(prompt));
		if (sqlite3_column_int64(st, 11) > 0)
			json_object_set_new(o, "replay_of",
			    json_integer(sqlite3_column_int64(st, 11)));
		history_json_tree(o, sqlite3_column_int64(st, 12),
		    sqlite3_column_type(st, 13) != SQLITE_NULL,
		    sqlite3_column_int(st, 13),
		    sqlite3_column_type(st, 14) != SQLITE_NULL,
		    sqlite3_column_int(st, 14));
		if (snippet != NULL)
			json_object_set_new(o, "match",
			    history_json_str(snippet));
		buf_json(b, o);
		return;
	}
	buf_printf(b, "%6lld  ", sqlite3_column_int64(st, 0));
	history_fmt_time(b, time, 0);
	buf_puts(b, "  ");
	history_fmt_model(b, model);
	buf_puts(b, "  t=");
	history_fmt_float(b, sqlite3_column_double(st, 4));
	buf_puts(b, " p=");
	history_fmt_float(b, sqlite3_column_double(st, 5));
	buf_printf(b, " k=%d seed=%llu  ", sqlite3_column_int(st, 6),
	    (unsigned long long)sqlite3_column_int64(st, 7));
	history_fmt_line(b, snippet != NULL ? snippet : prompt, 60);
	buf_puts(b, "\n");
}

/* Step through a summary query, appending each row; "[...]" when json. */
static int
history_run_summary(struct history *h, sqlite3_stmt *st, int json,
    int has_snippet, struct buf *out, struct err *err)
{
	int rc, n = 0;

	if (json)
		buf_puts(out, "[");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (json)
			buf_puts(out, n ? ",\n " : "");
		history_fmt_summary(out, st, json, has_snippet ?
		    (const char *)sqlite3_column_text(st, 15) : NULL);
		n++;
	}
	if (json)
		buf_puts(out, "]\n");
	if (rc != SQLITE_DONE) {
		history_db_err(h, err, "read turns");
		return -1;
	}
	return 0;
}

/*
 * Append the n most recent turns (all if n <= 0), oldest first, one line
 * each (id, local time, model, key settings, first line of the prompt) or
 * as one JSON array.  session_id > 0 limits them to that session.
 */
int
history_list_turns(struct history *h, int n, int64_t session_id, int json,
    struct buf *out, struct err *err)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = history_prepare(h, "SELECT * FROM (SELECT " HISTORY_SUMMARY_COLS
	    " FROM turns t JOIN sessions s ON s.id = t.session_id"
	    " WHERE ?1 <= 0 OR t.session_id = ?1"
	    " ORDER BY t.id DESC LIMIT ?2) ORDER BY 1", err);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, session_id);
	sqlite3_bind_int(st, 2, n > 0 ? n : -1);
	rc = history_run_summary(h, st, json, 0, out, err);
	sqlite3_finalize(st);
	return rc;
}

/* Turn free text into an FTS5 query: every word a quoted phrase (so that
 * punctuation and FTS5 operators are plain text), all of them required. */
static char *
history_fts_query(const char *text)
{
	struct buf	 q;
	const char	*p = text;

	buf_init(&q);
	while (*p != '\0') {
		size_t len;

		p += strspn(p, " \t\n\r");
		if ((len = strcspn(p, " \t\n\r")) == 0)
			break;
		buf_puts(&q, q.len ? " \"" : "\"");
		for (size_t i = 0; i < len; i++)
			buf_append(&q, p[i] == '"' ? "\"\"" : &p[i],
			    p[i] == '"' ? 2 : 1);
		buf_puts(&q, "\"");
		p += len;
	}
	return q.data;
}

/*
 * Full-text search over prompts and outputs (FTS5, best match first, at
 * most n results, all if n <= 0).  Every word of query must occur.  Each
 * hit is listed as in history_list_turns(), with the matching words [marked].
 */
int
history_search_turns(struct history *h, const char *query, int n, int json,
    struct buf *out, struct err *err)
{
	sqlite3_stmt	*st = NULL;
	char		*q = history_fts_query(query);
	int		 rc = -1;

	if (q == NULL) {
		err_set(err, "search: nothing to search for");
		goto out;
	}
	st = history_prepare(h, "SELECT " HISTORY_SUMMARY_COLS ", "
	    "snippet(turns_fts, -1, '[', ']', '...', 12) "
	    "FROM turns_fts JOIN turns t ON t.id = turns_fts.rowid "
	    "JOIN sessions s ON s.id = t.session_id "
	    "WHERE turns_fts MATCH ?1 ORDER BY rank LIMIT ?2", err);
	if (st == NULL)
		goto out;
	sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, n > 0 ? n : -1);
	rc = history_run_summary(h, st, json, 1, out, err);
out:
	sqlite3_finalize(st);
	free(q);
	return rc;
}

/* ---- the story tree ----------------------------------------------------- */

/* Deep enough for any story a person writes; guards a cycle a hand-edited
 * file could hold. */
#define HISTORY_TREE_DEPTH	256

/* The root of id's tree: follow parents up. */
static int64_t
history_tree_root(struct history *h, int64_t id, struct err *err)
{
	for (int d = 0; d < HISTORY_TREE_DEPTH; d++) {
		sqlite3_stmt	*st = history_prepare(h, "SELECT parent FROM "
		    "turns WHERE id = ?", err);
		int64_t		 up = 0;

		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW)
			up = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		if (up <= 0)
			break;
		id = up;
	}
	return id;
}

/* One line of the tree: indent, id, where it branched, the text it adds;
 * "*" marks the turn shown. */
static void
history_tree_line(struct history *h, int64_t id, int depth, int64_t mark,
    struct buf *out)
{
	struct history_turn	t;
	struct err		err;

	if (history_get_turn(h, id, &t, &err) != 0) {
		history_turn_fini(&t);
		return;
	}
	buf_printf(out, "%s ", id == mark ? "*" : " ");
	for (int i = 0; i < depth; i++)
		buf_puts(out, "  ");
	buf_printf(out, "%lld", (long long)id);
	if (t.branch)
		buf_printf(out, " @%d", t.branch_step);
	if (t.forced)
		buf_printf(out, " =%ld", (long)t.forced_token);
	if (t.undone)
		buf_puts(out, " (undone)");
	buf_puts(out, "  ");
	history_fmt_line(out, t.prompt_len > 0 || (t.prompt && *t.prompt) ?
	    t.prompt : t.output, 50);
	buf_puts(out, "\n");
	history_turn_fini(&t);
}

static int
history_tree_walk(struct history *h, int64_t id, int depth, int64_t mark,
    struct buf *out, struct err *err)
{
	int64_t	*kids = NULL;
	size_t	 n = 0;
	int	 rc = 0;

	history_tree_line(h, id, depth, mark, out);
	if (depth >= HISTORY_TREE_DEPTH)
		return 0;
	if (history_children(h, id, &kids, &n, err) != 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = history_tree_walk(h, kids[i], depth + 1, mark, out, err);
	free(kids);
	return rc;
}

/*
 * The tree of turns id belongs to, from its root: one line per turn,
 * children indented under their parent, "@S" the branch step, "=T" a
 * forced token, "*" the turn id.  Nothing for a turn alone.
 */
int
history_show_tree(struct history *h, int64_t id, struct buf *out,
    struct err *err)
{
	int64_t	 root = history_tree_root(h, id, err), *kids = NULL;
	size_t	 n = 0;

	if (root < 0)
		return -1;
	if (root == id) {
		if (history_children(h, id, &kids, &n, err) != 0)
			return -1;
		free(kids);
		if (n == 0)
			return 0;
	}
	buf_puts(out, "--- tree\n");
	return history_tree_walk(h, root, 0, id, out, err);
}

/* Append turn id in full: header, model, settings, live changes, stop
 * reason and counts, its tree, then the prompt and the output. */
int
history_show(struct history *h, int64_t id, struct buf *out, struct err *err)
{
	struct history_turn t;

	if (history_get_turn(h, id, &t, err) != 0) {
		history_turn_fini(&t);
		return -1;
	}
	buf_printf(out, "turn %lld (session %lld, turn %d)  ", (long long)t.id,
	    (long long)t.session_id, t.seq_no);
	history_fmt_time(out, t.time, 0);
	buf_puts(out, "\nmodel     ");
	history_fmt_text(out, t.model_path ? t.model_path : "-");
	buf_puts(out, "\n");
	if (t.fingerprint != NULL)
		buf_printf(out, "sha256    %s\n", t.fingerprint);
	buf_puts(out, "settings  ");
	history_text_settings(out, &t.settings, " ");
	if (t.n_changes > 0) {
		buf_puts(out, "\nchanges   ");
		history_text_changes(out, &t);
	}
	buf_puts(out, "\nstop      ");
	history_text_stats(out, &t);
	if (t.replay_of > 0)
		buf_printf(out, "\nreplay of %lld", (long long)t.replay_of);
	if (t.parent > 0 || t.branch) {
		buf_puts(out, "\nparent    ");
		if (t.parent > 0)
			buf_printf(out, "%lld", (long long)t.parent);
		else
			buf_puts(out, "deleted");
		if (t.branch)
			buf_printf(out, "; a branch at step %d", t.branch_step);
		if (t.forced)
			buf_printf(out, ", token %ld forced", (long)t.forced_token);
	}
	if (t.undone)
		buf_puts(out, "\nundone");
	buf_puts(out, "\n");
	if (history_show_tree(h, t.id, out, err) != 0) {
		history_turn_fini(&t);
		return -1;
	}
	buf_puts(out, "--- prompt\n");
	buf_escape(out, t.prompt, history_text_len(t.prompt, t.prompt_len),
	    BUF_ESC_TEXT);
	buf_puts(out, "\n--- output\n");
	buf_escape(out, t.output, history_text_len(t.output, t.output_len),
	    BUF_ESC_TEXT);
	buf_puts(out, "\n");
	history_turn_fini(&t);
	return 0;
}

/* Turn id as one JSON object (history show --json). */
int
history_show_json(struct history *h, int64_t id, struct buf *out,
    struct err *err)
{
	struct history_turn t;

	if (history_get_turn(h, id, &t, err) != 0) {
		history_turn_fini(&t);
		return -1;
	}
	buf_json(out, history_json_turn(&t));
	buf_puts(out, "\n");
	history_turn_fini(&t);
	return 0;
}

/*
 * Export turns as one JSON array of full turn objects, or as Markdown.
 * ids NULL (or n 0) means every turn, oldest first.  A missing id is an
 * error and nothing is appended.
 */
int
history_export(struct history *h, const int64_t *ids, size_t n, int markdown,
    struct buf *out, struct err *err)
{
	int64_t		*all = NULL;
	size_t		 n_all = 0, cap = 0;
	struct buf	 b;
	int		 rc = -1;

	buf_init(&b);
	if (ids == NULL || n == 0) {
		sqlite3_stmt *st = history_prepare(h, "SELECT id FROM turns "
		    "ORDER BY id", err);
		int src;
		if (st == NULL)
			goto out;
		while ((src = sqlite3_step(st)) == SQLITE_ROW) {
			if (n_all == cap) {
				cap = cap ? 2 * cap : 64;
				all = xreallocarray(all, cap, sizeof *all);
			}
			all[n_all++] = sqlite3_column_int64(st, 0);
		}
		if (src != SQLITE_DONE)
			history_db_err(h, err, "read turns");
		sqlite3_finalize(st);
		if (src != SQLITE_DONE)
			goto out;
		ids = all;
		n = n_all;
	}
	if (!markdown)
		buf_puts(&b, "[");
	for (size_t i = 0; i < n; i++) {
		struct history_turn t;
		if (history_get_turn(h, ids[i], &t, err) != 0) {
			history_turn_fini(&t);
			goto out;
		}
		if (markdown)
			history_md_turn(&b, &t);
		else {
			buf_puts(&b, i ? ",\n " : "");
			buf_json(&b, history_json_turn(&t));
		}
		if (markdown && i + 1 < n)
			buf_puts(&b, "\n");
		history_turn_fini(&t);
	}
	if (!markdown)
		buf_puts(&b, "]\n");
	if (b.len > 0)
		buf_append(out, b.data, b.len);
	rc = 0;
out:
	buf_fini(&b);
	free(all);
	return rc;
}

