/*
 * history_fmt.c: the history as people and scripts read it: the one-line
 * summaries of history_list() and history_search(), history_show()'s full
 * page, and history_export() as JSON or Markdown.  Text goes into a
 * struct buf; the front end decides where it is printed.  Numbers that were
 * floats are printed in the shortest form that reads back the same.
 */
#include "config.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

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

/* Text as Markdown shows it literally: its marks escaped. */
static void
history_md_escape(struct buf *b, const char *s, size_t len)
{
	struct buf md;

	buf_init(&md);
	for (size_t i = 0; i < len; i++) {
		if (strchr("\\`*_[<>#|", s[i]) != NULL && s[i] != '\0')
			buf_puts(&md, "\\");
		buf_append(&md, s + i, 1);
	}
	/* and no control reaches the reader's terminal */
	if (md.len > 0)
		buf_escape(b, md.data, md.len, BUF_ESC_TEXT);
	buf_fini(&md);
}

static int
history_md_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A prompt and its reply as one text, the prompt in bold, each of its
 * paragraphs on its own (bold cannot span a blank line); whitespace at
 * the ends of a paragraph stays outside the marks, where Markdown wants
 * it. */
static void
history_md_text(struct buf *b, const char *prompt, size_t plen,
    const char *output, size_t olen)
{
	size_t i = 0;

	while (i < plen) {
		size_t lead = i, end, next;

		while (lead < plen && history_md_space(prompt[lead]))
			lead++;
		for (end = lead; end < plen; end++)
			if (end + 1 < plen && prompt[end] == '\n' &&
			    prompt[end + 1] == '\n')
				break;
		next = end;
		while (end > lead && history_md_space(prompt[end - 1]))
			end--;
		buf_append(b, prompt + i, lead - i);
		if (end > lead) {
			buf_puts(b, "**");
			history_md_escape(b, prompt + lead, end - lead);
			buf_puts(b, "**");
		}
		buf_append(b, prompt + end, next - end);
		i = next;
	}
	history_md_escape(b, output, olen);
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
	if (t->undone)
		buf_puts(b, "\n- undone");
	/* the prompt and its reply read on as one text */
	buf_puts(b, "\n\n");
	history_md_text(b, t->prompt, history_text_len(t->prompt,
	    t->prompt_len), t->output, history_text_len(t->output,
	    t->output_len));
	buf_puts(b, "\n");
}

/* ---- listing and searching ---------------------------------------------- */

/* Columns every summary query selects first, in this order; a search adds
 * its snippet after them. */
#define HISTORY_SUMMARY_COLS \
	"t.id, t.session_id, t.time, s.model_path, t.temperature, t.top_p, " \
	"t.top_k, t.seed, t.stop_reason, t.n_output, t.prompt, t.replay_of, " \
	"(SELECT count(*) FROM setting_changes c WHERE c.turn_id = t.id), " \
	"t.branch_step IS NOT NULL, t.undone, " \
	"t.parent, t.branch_step, t.forced_token"
#define HISTORY_N_SUMMARY_COLS	18
#define HISTORY_MODEL_COLS	12	/* widest model name listed */
#define HISTORY_MIN_PROMPT	16	/* narrowest prompt column */

static char	*history_scan_snippet(const char *, const char *,
		    const char *);

/* One listed turn, as text cells. */
struct history_row {
	char		*cell[9];	/* ID .. MARKS, owned */
	char		*text;		/* the prompt (or the match), owned */
};

static const char *const history_heads[9] = {
	"ID", "DATE", "MODEL", "TEMP", "TOP_P", "SEED", "STOP", "TOKENS",
	"MARKS"
};

/* The stop reasons as the list abbreviates them. */
static const char *
history_stop_short(const char *name)
{
	static const char *const map[][2] = {
		{ "max_tokens", "max" }, { "context", "ctx" },
		{ "interrupted", "int" }, { "error", "err" },
	};

	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (name != NULL && strcmp(name, map[i][0]) == 0)
			return map[i][1];
	return name != NULL ? name : "-";
}

/* Columns the first n bytes of s take on a terminal (wide CJK take 2). */
static size_t
history_cols(const char *s, size_t n)
{
	mbstate_t	mbs;
	size_t		cols = 0, i = 0;

	memset(&mbs, 0, sizeof mbs);
	while (i < n) {
		wchar_t	wc;
		size_t	k = mbrtowc(&wc, s + i, n - i, &mbs);
		int	w;

		if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
			memset(&mbs, 0, sizeof mbs);
			k = 1;
			w = 1;
		} else
			w = (w = wcwidth(wc)) < 0 ? 1 : w;
		cols += (size_t)w;
		i += k;
	}
	return cols;
}

/* The first line of s, control characters as spaces, in at most max
 * columns (max 0: all of it): cut after a whole word when there is one,
 * with "..." added. */
static void
history_fmt_cut(struct buf *b, const char *s, size_t max)
{
	size_t	len = strcspn(s, "\n"), cut = 0, word = 0, cols = 0;
	int	more = s[len] != '\0';

	if (max == 0 || history_cols(s, len) <= max) {
		cut = len;
	} else {
		more = 1;
		while (cut < len) {
			size_t k = 1;

			while (cut + k < len &&
			    ((unsigned char)s[cut + k] & 0xc0) == 0x80)
				k++;
			if (cols + history_cols(s + cut, k) + 3 > max)
				break;
			cols += history_cols(s + cut, k);
			cut += k;
			if (s[cut] == ' ')
				word = cut;
		}
		/* a whole word, unless that leaves too little */
		if (word > cut / 2)
			cut = word;
	}
	/* C0 controls and DEL are spaces in a table; C1 controls and bytes
	 * that are not UTF-8 are shown escaped, never sent as they are */
	char *line = xstrndup(s, cut);

	for (size_t i = 0; i < cut; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = ' ';
	buf_escape(b, line, cut, BUF_ESC_TEXT);
	free(line);
	if (more && max != 0)
		buf_puts(b, "...");
	else if (more)
		buf_puts(b, " ...");
}

/* One summary row as a JSON object; snippet may be NULL. */
static json_t *
history_json_summary(sqlite3_stmt *st, const char *snippet)
{
	const char	*model = (const char *)sqlite3_column_text(st, 3);
	const char	*prompt = (const char *)sqlite3_column_text(st, 10);
	double		 time = sqlite3_column_double(st, 2);
	json_t		*o = json_object();

	json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
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
	json_object_set_new(o, "top_k", json_integer(sqlite3_column_int(st, 6)));
	/* the column holds the seed's bits as a signed integer */
	json_object_set_new(o, "seed",
	    util_json_u64((uint64_t)sqlite3_column_int64(st, 7)));
	json_object_set_new(o, "stop_reason",
	    history_json_str((const char *)sqlite3_column_text(st, 8)));
	json_object_set_new(o, "n_output", json_integer(sqlite3_column_int(st, 9)));
	json_object_set_new(o, "prompt", history_json_str(prompt != NULL ?
	    prompt : ""));
	if (sqlite3_column_int64(st, 11) > 0)
		json_object_set_new(o, "replay_of",
		    json_integer(sqlite3_column_int64(st, 11)));
	if (sqlite3_column_int(st, 12) > 0)
		json_object_set_new(o, "n_changes",
		    json_integer(sqlite3_column_int(st, 12)));
	history_json_tree(o, sqlite3_column_int64(st, 15),
	    sqlite3_column_type(st, 16) != SQLITE_NULL,
	    sqlite3_column_int(st, 16),
	    sqlite3_column_type(st, 17) != SQLITE_NULL,
	    sqlite3_column_int(st, 17));
	if (sqlite3_column_int(st, 14))
		json_object_set_new(o, "undone", json_true());
	if (snippet != NULL)
		json_object_set_new(o, "match", history_json_str(snippet));
	return o;
}

/* One summary row as text cells; snippet may be NULL. */
static void
history_row_fill(struct history_row *r, sqlite3_stmt *st,
    const char *snippet)
{
	const char	*prompt = (const char *)sqlite3_column_text(st, 10);
	struct buf	 b;

	buf_init(&b);
	r->cell[0] = xasprintf("%lld", (long long)sqlite3_column_int64(st, 0));
	history_fmt_time(&b, sqlite3_column_double(st, 2), 0);
	r->cell[1] = xstrdup(b.data);
	b.len = 0;
	history_fmt_model(&b, (const char *)sqlite3_column_text(st, 3));
	r->cell[2] = xstrndup(b.data, b.len < HISTORY_MODEL_COLS ? b.len :
	    HISTORY_MODEL_COLS);
	b.len = 0;
	history_fmt_float(&b, sqlite3_column_double(st, 4));
	r->cell[3] = xstrdup(b.data);
	b.len = 0;
	history_fmt_float(&b, sqlite3_column_double(st, 5));
	r->cell[4] = xstrdup(b.data);
	r->cell[5] = xasprintf("%llu",
	    (unsigned long long)sqlite3_column_int64(st, 7));
	r->cell[6] = xstrdup(history_stop_short(
	    (const char *)sqlite3_column_text(st, 8)));
	r->cell[7] = xasprintf("%d", sqlite3_column_int(st, 9));
	/* c: live changes, b: a branch, r: a replay, u: undone */
	r->cell[8] = xasprintf("%s%s%s%s", sqlite3_column_int(st, 12) > 0 ?
	    "c" : "", sqlite3_column_int(st, 13) ? "b" : "",
	    sqlite3_column_int64(st, 11) > 0 ? "r" : "",
	    sqlite3_column_int(st, 14) ? "u" : "");
	r->text = xstrdup(snippet != NULL ? snippet : prompt != NULL ? prompt :
	    "");
	buf_fini(&b);
}

/*
 * The rows as a table under a header, numbers right-aligned, the prompt
 * last and cut to fit width columns (0: no limit).  When even a short
 * prompt would not fit, columns go, the least needed first: seed, top-p,
 * date, model, temperature.
 */
static void
history_fmt_table(struct buf *out, struct history_row *rows, size_t n,
    size_t width)
{
	static const int drop[] = { 5, 4, 1, 2, 3 };
	size_t	w[9], used = 0;
	int	right[9] = { 1, 0, 0, 1, 1, 1, 0, 1, 0 }, hide[9] = { 0 };

	for (int c = 0; c < 9; c++) {
		w[c] = strlen(history_heads[c]);
		for (size_t i = 0; i < n; i++)
			if (history_cols(rows[i].cell[c],
			    strlen(rows[i].cell[c])) > w[c])
				w[c] = history_cols(rows[i].cell[c],
				    strlen(rows[i].cell[c]));
		used += w[c] + 2;
	}
	for (size_t k = 0; k < sizeof drop / sizeof drop[0] && width > 0 &&
	    used + HISTORY_MIN_PROMPT > width; k++) {
		hide[drop[k]] = 1;
		used -= w[drop[k]] + 2;
	}
	for (size_t i = 0; i <= n; i++) {
		for (int c = 0; c < 9; c++) {
			const char	*s = i == 0 ? history_heads[c] :
			    rows[i - 1].cell[c];
			size_t		 pad = w[c] - history_cols(s, strlen(s));

			if (hide[c])
				continue;
			if (right[c])
				buf_printf(out, "%*s", (int)pad, "");
			buf_puts(out, s);
			if (!right[c])
				buf_printf(out, "%*s", (int)pad, "");
			buf_puts(out, "  ");
		}
		if (i == 0)
			buf_puts(out, "PROMPT");
		else
			history_fmt_cut(out, rows[i - 1].text, width == 0 ? 0 :
			    width > used + 4 ? width - used : 4);
		buf_puts(out, "\n");
	}
}

static void
history_rows_free(struct history_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (int c = 0; c < 9; c++)
			free(rows[i].cell[c]);
		free(rows[i].text);
	}
	free(rows);
}

/*
 * Step through a summary query: a JSON array, or the table; *n_rows gets
 * how many rows there were.  The column after the summary's is the
 * index's snippet when scan is NULL, else the output, in which the words
 * of scan are found for a snippet.
 */
static int
history_run_summary(struct history *h, sqlite3_stmt *st, int json,
    const char *scan, size_t width, struct buf *out, size_t *n_rows,
    struct err *err)
{
	struct history_row	*rows = NULL;
	json_t			*arr = json_array();
	size_t			 n = 0, cap = 0;
	int			 rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char	*col = sqlite3_column_count(st) >
		    HISTORY_N_SUMMARY_COLS ? (const char *)
		    sqlite3_column_text(st, HISTORY_N_SUMMARY_COLS) : NULL;
		char		*own = scan != NULL ? history_scan_snippet(
		    (const char *)sqlite3_column_text(st, 10), col, scan) :
		    NULL;
		const char	*snip = scan != NULL ? own : col;

		if (json) {
			json_array_append_new(arr, history_json_summary(st,
			    snip));
		} else {
			if (n == cap) {
				cap = cap ? 2 * cap : 32;
				rows = xreallocarray(rows, cap, sizeof *rows);
			}
			history_row_fill(&rows[n], st, snip);
		}
		free(own);
		n++;
	}
	if (rc == SQLITE_DONE && json) {
		buf_json(out, arr);
		arr = NULL;
		buf_puts(out, "\n");
	} else if (rc == SQLITE_DONE && n > 0)
		history_fmt_table(out, rows, n, width);
	json_decref(arr);
	history_rows_free(rows, json ? 0 : n);
	*n_rows = n;
	if (rc != SQLITE_DONE) {
		history_db_err(h, err, "read turns");
		return -1;
	}
	return 0;
}

/*
 * Append the n most recent turns (all if n <= 0), oldest first: as a
 * table that fits width columns (0: no limit) under a header (id, local
 * time, model, temperature, top-p, seed, stop reason, tokens, markers, the
 * first line of the prompt), or "no turns"; or as one JSON array.
 * session_id > 0 limits them to that session.
 */
int
history_list_turns(struct history *h, int n, int64_t session_id, int json,
    size_t width, struct buf *out, struct err *err)
{
	sqlite3_stmt	*st;
	size_t		 n_rows;
	int		 rc;

	st = history_prepare(h, "SELECT * FROM (SELECT " HISTORY_SUMMARY_COLS
	    " FROM turns t JOIN sessions s ON s.id = t.session_id"
	    " WHERE ?1 <= 0 OR t.session_id = ?1"
	    " ORDER BY t.id DESC LIMIT ?2) ORDER BY 1", err);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, session_id);
	sqlite3_bind_int(st, 2, n > 0 ? n : -1);
	rc = history_run_summary(h, st, json, NULL, width, out, &n_rows, err);
	sqlite3_finalize(st);
	if (rc == 0 && !json && n_rows == 0)
		buf_puts(out, "no turns\n");
	return rc;
}

/* The words of text, each appended by fn; returns how many. */
static size_t
history_words(const char *text, void (*fn)(void *, const char *, size_t),
    void *arg)
{
	const char	*p = text;
	size_t		 n = 0, len;

	for (;;) {
		p += strspn(p, " \t\n\r");
		if ((len = strcspn(p, " \t\n\r")) == 0)
			return n;
		fn(arg, p, len);
		n++;
		p += len;
	}
}

/* One word as an FTS5 prefix query: a quoted phrase (punctuation and FTS5
 * operators are plain text) with '*'. */
static void
history_fts_word(void *arg, const char *w, size_t len)
{
	struct buf *q = arg;

	buf_puts(q, q->len ? " \"" : "\"");
	for (size_t i = 0; i < len; i++)
		buf_append(q, w[i] == '"' ? "\"\"" : &w[i], w[i] == '"' ? 2 : 1);
	buf_puts(q, "\"*");
}

/* Every word as a prefix, all of them required; NULL when none. */
static char *
history_fts_query(const char *text)
{
	struct buf q;

	buf_init(&q);
	history_words(text, history_fts_word, &q);
	return q.data;
}

/* One word of a substring scan: a condition on prompt or output. */
static void
history_scan_word(void *arg, const char *w, size_t len)
{
	(void)w; (void)len;
	buf_puts(arg, " AND (instr(lower(t.prompt), lower(?)) > 0 OR "
	    "instr(lower(t.output), lower(?)) > 0)");
}

struct history_bind {
	sqlite3_stmt	*st;
	int		 i;		/* next parameter */
};

static void
history_bind_word(void *arg, const char *w, size_t len)
{
	struct history_bind *b = arg;

	sqlite3_bind_text(b->st, b->i++, w, (int)len, SQLITE_TRANSIENT);
	sqlite3_bind_text(b->st, b->i++, w, (int)len, SQLITE_TRANSIENT);
}

/* Where the first word of query occurs in prompt or output, as the
 * index's snippet would show it: a few words around it, [marked]. */
static char *
history_scan_snippet(const char *prompt, const char *output,
    const char *query)
{
	const char	*q = query + strspn(query, " \t\n\r");
	size_t		 qlen = strcspn(q, " \t\n\r");
	const char	*texts[2] = { prompt, output };

	for (int k = 0; k < 2; k++) {
		const char *s = texts[k] != NULL ? texts[k] : "";

		for (const char *p = s; *p != '\0'; p++) {
			size_t	i = 0, start;

			while (i < qlen && p[i] != '\0' &&
			    tolower((unsigned char)p[i]) ==
			    tolower((unsigned char)q[i]))
				i++;
			if (i < qlen)
				continue;
			start = (size_t)(p - s) > 30 ? (size_t)(p - s) - 30 : 0;
			while (start > 0 && ((unsigned char)s[start] & 0xc0) ==
			    0x80)
				start--;
			return xasprintf("%s%.*s[%.*s]%.40s", start ? "..." : "",
			    (int)((size_t)(p - s) - start), s + start, (int)qlen,
			    p, p + qlen);
		}
	}
	return NULL;
}

/* The substring scan: turns whose prompt or output holds every word,
 * newest first. */
static int
history_scan(struct history *h, const char *query, int n, int json,
    size_t width, struct buf *out, size_t *n_rows, struct err *err)
{
	struct buf		 sql;
	struct history_bind	 b;
	sqlite3_stmt		*st;
	int			 rc;

	buf_init(&sql);
	buf_puts(&sql, "SELECT " HISTORY_SUMMARY_COLS ", t.output FROM turns "
	    "t JOIN sessions s ON s.id = t.session_id WHERE 1");
	history_words(query, history_scan_word, &sql);
	buf_puts(&sql, " ORDER BY t.id DESC LIMIT ?");
	st = history_prepare(h, sql.data, err);
	buf_fini(&sql);
	if (st == NULL)
		return -1;
	b.st = st;
	b.i = 1;
	history_words(query, history_bind_word, &b);
	sqlite3_bind_int(st, b.i, n > 0 ? n : -1);
	rc = history_run_summary(h, st, json, query, width, out, n_rows, err);
	sqlite3_finalize(st);
	return rc;
}

/*
 * Search prompts and outputs: every word of query must occur, as the
 * start of a word (FTS5 prefix queries: "Lil" finds Lily, 日本 finds
 * 日本語), best match first, at most n results (all if n <= 0).  When the
 * index finds nothing, a plain substring scan (case-insensitive for ASCII)
 * looks inside words too ("本語", "ily"), newest first.  Each hit is
 * listed as in history_list_turns(), with the match [marked]; none is "no
 * turns match".
 */
int
history_search_turns(struct history *h, const char *query, int n, int json,
    size_t width, struct buf *out, struct err *err)
{
	sqlite3_stmt	*st = NULL;
	char		*q = history_fts_query(query);
	size_t		 n_rows = 0, before = out->len;
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
	if ((rc = history_run_summary(h, st, json, NULL, width, out, &n_rows,
	    err)) != 0 || n_rows > 0)
		goto out;
	out->len = before;
	if ((rc = history_scan(h, query, n, json, width, out, &n_rows,
	    err)) == 0 && !json && n_rows == 0)
		buf_puts(out, "no turns match\n");
out:
	if (out->data != NULL)
		out->data[out->len] = '\0';
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
	history_fmt_cut(out, t.prompt_len > 0 || (t.prompt && *t.prompt) ?
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


/*
 * The last turn of a story to resume: with spec NULL or "", the latest
 * turn not undone; else the latest of the sessions whose id or name is
 * spec (a resumed story goes on in a new session of the same name).
 * Returns 0 with *id set, or -1: "no turns to resume" when there is none.
 */
int
history_last_turn(struct history *h, const char *spec, int64_t *id,
    struct err *err)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = history_prepare(h, "SELECT max(t.id) FROM turns t JOIN sessions "
	    "s ON s.id = t.session_id WHERE t.undone = 0 AND (?1 IS NULL OR "
	    "CAST(s.id AS TEXT) = ?1 OR s.name = ?1)", err);
	if (st == NULL)
		return -1;
	if (spec != NULL && *spec != '\0')
		sqlite3_bind_text(st, 1, spec, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*id = sqlite3_column_int64(st, 0);
		rc = 0;
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		err_set(err, "%s: no turns to resume%s%s", h->path,
		    spec != NULL && *spec != '\0' ? " in session " : "",
		    spec != NULL ? spec : "");
		rc = -1;
	} else {
		history_db_err(h, err, "find the last turn");
		rc = -1;
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * The sessions, oldest first, one line each: id, start (local time),
 * turns, name and model; a header first.  "no sessions" when there is
 * none.
 */
int
history_list_sessions(struct history *h, struct buf *out, struct err *err)
{
	sqlite3_stmt	*st;
	int		 rc, n = 0;

	st = history_prepare(h, "SELECT s.id, datetime(s.start_time, 'unixepoch', "
	    "'localtime'), (SELECT count(*) FROM turns t WHERE t.session_id = "
	    "s.id AND t.undone = 0), coalesce(s.name, ''), s.model_path "
	    "FROM sessions s ORDER BY s.id", err);
	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 3);
		const char *model = (const char *)sqlite3_column_text(st, 4);

		if (n++ == 0)
			buf_printf(out, "%6s  %-19s  %5s  %-16s  %s\n", "ID",
			    "STARTED", "TURNS", "NAME", "MODEL");
		size_t before;

		buf_printf(out, "%6lld  %-19s  %5d  ",
		    (long long)sqlite3_column_int64(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    sqlite3_column_int(st, 2));
		/* a name is the user's text: no control goes out as it is */
		before = out->len;
		if (name != NULL)
			buf_escape(out, name, strlen(name), BUF_ESC_TEXT);
		buf_printf(out, "%*s  ", out->len - before < 16 ?
		    (int)(16 - (out->len - before)) : 0, "");
		if (model != NULL)
			buf_escape(out, model, strlen(model), BUF_ESC_TEXT);
		buf_puts(out, "\n");
	}
	if (rc != SQLITE_DONE) {
		history_db_err(h, err, "read sessions");
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	if (n == 0)
		buf_puts(out, "no sessions\n");
	return 0;
}

/* The turns ids as one story in Markdown; nothing is appended on error. */
static int
history_md_story(struct history *h, const int64_t *ids, size_t n,
    struct buf *out, struct err *err)
{
	struct buf	b;
	int		rc = -1;

	buf_init(&b);
	for (size_t i = 0; i < n; i++) {
		struct history_turn t;

		if (history_get_turn(h, ids[i], &t, err) != 0) {
			history_turn_fini(&t);
			goto out;
		}
		if (i == 0) {
			buf_printf(&b, "# Session %lld", (long long)t.session_id);
			if (t.session_name != NULL)
				buf_printf(&b, ": %s", t.session_name);
			buf_puts(&b, "\n\n- started: ");
			history_fmt_time(&b, t.time, 1);
			buf_printf(&b, "\n- model: `%s`\n\n", t.model_path ?
			    t.model_path : "-");
		}
		if (!t.undone)
			history_md_text(&b, t.prompt, history_text_len(t.prompt,
			    t.prompt_len), t.output, history_text_len(t.output,
			    t.output_len));
		history_turn_fini(&t);
	}
	buf_puts(&b, "\n");
	buf_append(out, b.data, b.len);
	rc = 0;
out:
	buf_fini(&b);
	return rc;
}

/*
 * Export a session: its turns as one JSON array, or in Markdown as the
 * story it tells (each prompt in bold, its reply after it, the turns one
 * after the other as they were written, undone turns left out) under a
 * header.  "no session N" when it has no turns.
 */
int
history_export_session(struct history *h, int64_t session_id, int markdown,
    struct buf *out, struct err *err)
{
	sqlite3_stmt	*st;
	int64_t		*ids = NULL;
	size_t		 n = 0, cap = 0;
	int		 rc;

	st = history_prepare(h, "SELECT id FROM turns WHERE session_id = ? "
	    "ORDER BY seq_no, id", err);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, session_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			ids = xreallocarray(ids, cap, sizeof *ids);
		}
		ids[n++] = sqlite3_column_int64(st, 0);
	}
	if (rc != SQLITE_DONE)
		history_db_err(h, err, "read turns");
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE && n == 0)
		err_set(err, "%s: no session %lld with turns", h->path,
		    (long long)session_id);
	if (rc != SQLITE_DONE || n == 0) {
		free(ids);
		return -1;
	}
	rc = markdown ? history_md_story(h, ids, n, out, err) :
	    history_export(h, ids, n, 0, out, err);
	free(ids);
	return rc;
}
