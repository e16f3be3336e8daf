/*
 * ui.c: the curses REPL, and the only user of curses.
 *
 * Screen, top to bottom: the transcript (with the candidate panel on its
 * right on wide terminals, under it on narrow ones), a message row (errors,
 * notices, key hints), the status bar, and the input line, which GNU
 * Readline edits through its callback interface: we read keys with curses,
 * queue their bytes, feed readline from the queue (rl_getc_function) and
 * draw its line ourselves (rl_redisplay_function).
 *
 * The transcript is an array of logical lines, each an array of wide
 * characters with a class (prompt, output, info, note) per character.
 * Wrapping is computed, not stored: each line caches how many screen rows
 * it takes at the current width and the column after its last character,
 * so streaming a token costs O(token) and a resize reflows everything.
 *
 * The loop is single-threaded and cooperative: decode one step, drain the
 * keyboard without blocking, and redraw at most UI_FPS times a second
 * (curses sends only the cells that changed, so nothing flickers).
 */
#include "config.h"

#include <curses.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "commands.h"
#include "sampler.h"
#include "ui.h"
#include "util.h"

#define UI_MIN_COLS	40	/* below this, only a message */
#define UI_MIN_ROWS	8
#define UI_PANEL_SIDE	100	/* from this width the panel sits on the right */
#define UI_PANEL_W	44	/* its width there */
#define UI_PANEL_ROWS	12	/* most rows it takes under the transcript */
#define UI_N_CANDS	32	/* most candidates shown */
#define UI_FPS		30	/* redraws per second while streaming */
#define UI_RENDER_SHARE	50	/* redraws take at most 1/50 of the time */
#define UI_TEMP_STEP	0.1
#define UI_TOP_P_STEP	0.05
#define UI_WHEEL_ROWS	3
#define UI_N_HISTORY	1000	/* earlier prompts for the up-arrow */
#define UI_KEYQ_CAP	4096
#define UI_BLOCK	"\"\"\""

/* Character classes in the transcript, each with its own look. */
enum ui_cls {
	UI_CLS_OUTPUT = 0,	/* generated text */
	UI_CLS_PROMPT,		/* what the user typed */
	UI_CLS_INFO,		/* command output */
	UI_CLS_NOTE,		/* notices */
	UI_CLS_N
};

/* Colour pairs. */
enum {
	UI_PAIR_PROMPT = 1, UI_PAIR_INFO, UI_PAIR_NOTE, UI_PAIR_ERROR,
	UI_PAIR_KEPT, UI_PAIR_CUT, UI_PAIR_STATUS
};

struct ui_line {
	wchar_t		*wc;		/* characters */
	unsigned char	*cls;		/* enum ui_cls of each */
	size_t		 n;		/* characters used */
	size_t		 cap;		/* allocated */
	int		 rows;		/* screen rows at the transcript width */
	int		 col;		/* column after the last character */
};

struct ui {
	struct repl	*st;		/* the REPL state (borrowed) */
	WINDOW		*tw;		/* transcript */
	WINDOW		*pw;		/* candidate panel, or NULL */
	WINDOW		*mw;		/* message row */
	WINDOW		*sw;		/* status bar */
	WINDOW		*iw;		/* input line; keys are read here */
	int		 rows, cols;	/* screen size */
	int		 tw_rows, tw_cols; /* transcript size */
	int		 too_small;	/* below UI_MIN_COLS x UI_MIN_ROWS */
	int		 color;		/* colours on (not NO_COLOR) */
	int		 utf8;		/* the locale is UTF-8 */

	struct ui_line	*lines;		/* the transcript */
	size_t		 n_lines;	/* lines used; at least 1 */
	size_t		 lines_cap;	/* allocated */
	size_t		 total_rows;	/* sum of lines[].rows */
	size_t		 scroll;	/* rows scrolled back; 0 follows */
	mbstate_t	 mbs;		/* UTF-8 decoding across pieces */

	int		 panel;		/* candidate panel shown */
	int		 generating;	/* a turn runs: live keys */
	int		 paused;	/* the turn waits */
	char		 msg[512];	/* message row text */
	int		 msg_err;	/* msg is an error */
	double		 last_draw;	/* util_now() of the last redraw */
	double		 render_cost;	/* seconds the last redraw took */

	unsigned char	 keyq[UI_KEYQ_CAP]; /* bytes for readline */
	size_t		 kq_head, kq_len; /* ring buffer */
	char		*line;		/* a line readline accepted, or NULL */
	int		 got_line;	/* line is set (NULL line: Ctrl-D) */
	struct buf	 block;		/* a """ block being typed */
	int		 in_block;	/* inside a """ block */
	int		 quit;		/* leave the loop */
	FILE		*devnull;	/* readline's output stream */
};

/* Readline's hooks take no argument, and signal handlers must find the
 * screen to restore it: the one running UI. */
static struct ui		*ui_cur;
static volatile sig_atomic_t	 ui_curses_on;

static void	ui_render(struct ui *, int);

/* Terminal restoration, on every path out. */

static void
ui_restore(void)
{
	if (ui_curses_on) {
		ui_curses_on = 0;
		endwin();
	}
}

static void
ui_on_fatal_signal(int sig)
{
	ui_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
ui_install_signals(void)
{
	static const int sigs[] = { SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS,
	    SIGFPE, SIGILL, SIGABRT };
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = ui_on_fatal_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESETHAND;
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
	util_set_fatal_hook(ui_restore);
	atexit(ui_restore);
}

/* Wide characters. */

static int
ui_wcw(wchar_t c)
{
	int w = wcwidth(c);

	return w < 0 ? 1 : w;
}

/* Make a character safe to draw: controls become their Control Pictures
 * glyph (U+2400 block), unprintables U+FFFD. */
static wchar_t
ui_sanitize(const struct ui *u, wchar_t c)
{
	if (c < 0x20 || c == 0x7f)
		return u->utf8 ? (c == 0x7f ? 0x2421 : 0x2400 + c) : L'?';
	if (c >= 0x80 && c < 0xa0)
		return u->utf8 ? 0xfffd : L'?';
	if (wcwidth(c) < 0)
		return u->utf8 ? 0xfffd : L'?';
	return c;
}

/* Draw UTF-8 s at the cursor within max columns; returns columns used. */
static int
ui_put(WINDOW *w, const char *s, int max)
{
	mbstate_t	mbs;
	int		used = 0;
	size_t		len = strlen(s);

	memset(&mbs, 0, sizeof mbs);
	while (len > 0) {
		wchar_t	c;
		size_t	k = mbrtowc(&c, s, len, &mbs);
		int	cw;

		if (k == (size_t)-1 || k == (size_t)-2) {
			c = L'?';
			k = 1;
			memset(&mbs, 0, sizeof mbs);
		} else if (k == 0)
			break;
		if (c < 0x20)
			c = L'?';
		cw = ui_wcw(c);
		if (used + cw > max)
			break;
		waddnwstr(w, &c, 1);
		used += cw;
		s += k;
		len -= k;
	}
	return used;
}

/* Columns UTF-8 s takes. */
static int
ui_width(const char *s)
{
	wchar_t	wc[1024];
	size_t	n = mbstowcs(wc, s, 1023);
	int	w;

	if (n == (size_t)-1)
		return (int)strlen(s);
	wc[n] = 0;
	w = wcswidth(wc, n);
	return w < 0 ? (int)n : w;
}

/* The transcript. */

static void
ui_line_push(struct ui *u, struct ui_line *l, wchar_t c, enum ui_cls cls)
{
	int w = ui_wcw(c);

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->wc = xreallocarray(l->wc, l->cap, sizeof *l->wc);
		l->cls = xreallocarray(l->cls, l->cap, sizeof *l->cls);
	}
	l->wc[l->n] = c;
	l->cls[l->n++] = (unsigned char)cls;
	if (w > 0 && l->col + w > u->tw_cols) {
		l->rows++;
		u->total_rows++;
		if (u->scroll > 0)
			u->scroll++;	/* keep the view still */
		l->col = 0;
	}
	l->col += w;
}

static void
ui_newline(struct ui *u)
{
	if (u->n_lines == u->lines_cap) {
		u->lines_cap = u->lines_cap ? u->lines_cap * 2 : 256;
		u->lines = xreallocarray(u->lines, u->lines_cap,
		    sizeof *u->lines);
	}
	memset(&u->lines[u->n_lines++], 0, sizeof *u->lines);
	u->lines[u->n_lines - 1].rows = 1;
	u->total_rows++;
	if (u->scroll > 0)
		u->scroll++;
}

static int
ui_at_bol(const struct ui *u)
{
	return u->lines[u->n_lines - 1].n == 0;
}

/* Append UTF-8 text of one class; '\n' ends a line, tabs expand. */
static void
ui_append(struct ui *u, const char *s, size_t len, enum ui_cls cls)
{
	while (len > 0) {
		wchar_t	c;
		size_t	k = mbrtowc(&c, s, len, &u->mbs);

		if (k == (size_t)-2)
			return;		/* the rest of it comes next time */
		if (k == (size_t)-1) {
			memset(&u->mbs, 0, sizeof u->mbs);
			c = 0xfffd;
			k = 1;
		} else if (k == 0)
			k = 1;
		s += k;
		len -= k;
		if (c == L'\n') {
			ui_newline(u);
			continue;
		}
		if (c == L'\r')
			continue;
		if (c == L'\t') {
			struct ui_line *l = &u->lines[u->n_lines - 1];

			do
				ui_line_push(u, l, L' ', cls);
			while (l->col % 4 != 0);
			continue;
		}
		ui_line_push(u, &u->lines[u->n_lines - 1], ui_sanitize(u, c),
		    cls);
	}
}

static void
ui_append_str(struct ui *u, const char *s, enum ui_cls cls)
{
	ui_append(u, s, strlen(s), cls);
}

/* Recompute every line's rows at the current width. */
static void
ui_reflow(struct ui *u)
{
	u->total_rows = 0;
	for (size_t i = 0; i < u->n_lines; i++) {
		struct ui_line *l = &u->lines[i];

		l->rows = 1;
		l->col = 0;
		for (size_t j = 0; j < l->n; j++) {
			int w = ui_wcw(l->wc[j]);

			if (w > 0 && l->col + w > u->tw_cols) {
				l->rows++;
				l->col = 0;
			}
			l->col += w;
		}
		u->total_rows += (size_t)l->rows;
	}
	if (u->scroll > u->total_rows)
		u->scroll = u->total_rows;
}

static void
ui_clear_transcript(struct ui *u)
{
	for (size_t i = 0; i < u->n_lines; i++) {
		free(u->lines[i].wc);
		free(u->lines[i].cls);
	}
	u->n_lines = 0;
	u->total_rows = 0;
	u->scroll = 0;
	ui_newline(u);
}

static attr_t
ui_cls_attr(const struct ui *u, enum ui_cls cls, short *pair)
{
	*pair = 0;
	switch (cls) {
	case UI_CLS_PROMPT:
		*pair = u->color ? UI_PAIR_PROMPT : 0;
		return A_BOLD;
	case UI_CLS_INFO:
		*pair = u->color ? UI_PAIR_INFO : 0;
		return u->color ? A_NORMAL : A_DIM;
	case UI_CLS_NOTE:
		*pair = u->color ? UI_PAIR_NOTE : 0;
		return u->color ? A_NORMAL : A_DIM | A_UNDERLINE;
	default:
		return A_NORMAL;
	}
}

/* Draw rows [row, row + n) of line l from window row y, in one pass over
 * the line: runs of one class go out with one waddnwstr() each. */
static void
ui_draw_line_rows(struct ui *u, const struct ui_line *l, int row, int y,
    int n)
{
	size_t	i = 0, run = 0;
	int	col = 0, r = 0;
	int	cls = -1;

	wmove(u->tw, y, 0);
	for (; i <= l->n && r < row + n; i++) {
		int	w = i < l->n ? ui_wcw(l->wc[i]) : 0;
		int	wrap = i < l->n && w > 0 && col + w > u->tw_cols;

		/* flush the pending run at a wrap, a class change or the end */
		if (r >= row && (i == l->n || wrap || l->cls[i] != cls) &&
		    i > run) {
			short	pair;
			attr_t	a = ui_cls_attr(u, (enum ui_cls)cls, &pair);

			wattr_set(u->tw, a, pair, NULL);
			waddnwstr(u->tw, l->wc + run, (int)(i - run));
		}
		if (i == l->n)
			break;
		if (wrap || l->cls[i] != cls)
			run = i;
		if (wrap) {
			r++;
			col = 0;
			if (r >= row && r < row + n)
				wmove(u->tw, y + r - row, 0);
		}
		cls = l->cls[i];
		col += w;
	}
	wattr_set(u->tw, A_NORMAL, 0, NULL);
}

static void
ui_draw_transcript(struct ui *u)
{
	long	bottom = (long)u->total_rows - (long)u->scroll;
	long	top = bottom - u->tw_rows;
	long	row_of_line;
	size_t	i = u->n_lines;

	werase(u->tw);
	/* walk back to the line that holds screen row `top` */
	row_of_line = (long)u->total_rows;
	while (i > 0 && row_of_line > top) {
		i--;
		row_of_line -= u->lines[i].rows;
	}
	for (int y = 0; y < u->tw_rows && i < u->n_lines; ) {
		long	r = top + y;
		int	first, n;

		if (r < 0) {
			y++;
			continue;
		}
		while (i < u->n_lines && r >= row_of_line + u->lines[i].rows) {
			row_of_line += u->lines[i].rows;
			i++;
		}
		if (i >= u->n_lines)
			break;
		first = (int)(r - row_of_line);
		n = u->lines[i].rows - first;
		if (n > u->tw_rows - y)
			n = u->tw_rows - y;
		ui_draw_line_rows(u, &u->lines[i], first, y, n);
		y += n;
	}
	if (u->scroll > 0) {
		char more[64];

		snprintf(more, sizeof more, " %s %zu more (PgDn) ",
		    u->utf8 ? "\xe2\x86\x93" : "v", u->scroll);
		wattr_set(u->tw, A_REVERSE, 0, NULL);
		wmove(u->tw, u->tw_rows - 1, u->tw_cols - ui_width(more));
		ui_put(u->tw, more, u->tw_cols);
		wattr_set(u->tw, A_NORMAL, 0, NULL);
	}
	wnoutrefresh(u->tw);
}

/* The candidate panel. */

/* A bar of frac * w columns in eighth blocks (or '#'). */
static void
ui_bar(struct ui *u, WINDOW *w, double frac, int width)
{
	static const char *eighths[] = { "", "\xe2\x96\x8f", "\xe2\x96\x8e",
	    "\xe2\x96\x8d", "\xe2\x96\x8c", "\xe2\x96\x8b", "\xe2\x96\x8a",
	    "\xe2\x96\x89" };
	int	e = (int)(frac * width * 8 + 0.5), drawn = 0;

	if (frac > 0 && e == 0)
		e = 1;		/* never hide a candidate that is there */
	for (; e >= 8 && drawn < width; e -= 8, drawn++)
		ui_put(w, u->utf8 ? "\xe2\x96\x88" : "#", 1);
	if (e > 0 && drawn < width) {
		ui_put(w, u->utf8 ? eighths[e] : (e >= 4 ? "#" : ""), 1);
		drawn += u->utf8 || e >= 4;
	}
	for (; drawn < width; drawn++)
		waddch(w, ' ');
}

static void
ui_draw_panel(struct ui *u)
{
	struct sampler_cand	 c[UI_N_CANDS];
	struct repl		*st = u->st;
	int			 h, w, piece_w, bar_w, y = 1, cut_drawn = 0;
	size_t			 n, max;
	char			 head[128];

	if (u->pw == NULL)
		return;
	getmaxyx(u->pw, h, w);
	werase(u->pw);
	snprintf(head, sizeof head, " next token  temp %.2f  top-p %.2f",
	    st->gen.sp.temperature, st->gen.sp.top_p);
	wattr_set(u->pw, A_BOLD, 0, NULL);
	mvwhline(u->pw, 0, 0, ' ', w);
	wmove(u->pw, 0, 0);
	ui_put(u->pw, head, w);
	if (w >= 44) {
		/* column heads over the two percentages */
		wmove(u->pw, 0, w - 14);
		ui_put(u->pw, "  temp    raw", 14);
	}
	wattr_set(u->pw, A_NORMAL, 0, NULL);
	max = (size_t)(h - 2 > UI_N_CANDS ? UI_N_CANDS : h - 2);
	n = cmd_candidates(st, c, max);
	if (n == 0) {
		wmove(u->pw, 2, 1);
		ui_put(u->pw, "no distribution yet: send a prompt", w - 2);
		wnoutrefresh(u->pw);
		return;
	}
	piece_w = w >= 60 ? 16 : 11;
	bar_w = w - piece_w - 20;
	if (bar_w < 4)
		bar_w = 4;
	for (size_t i = 0; i < n && y < h; i++) {
		char	piece[128], q[160], num[48];
		short	pair = u->color ? (c[i].kept ? UI_PAIR_KEPT :
		    UI_PAIR_CUT) : 0;

		if (!c[i].kept && !cut_drawn && i > 0) {
			/* the top-p (and top-k, min-p) cut-off */
			snprintf(q, sizeof q, " cut: cumulative %.0f%% > "
			    "top-p %.2f ", 100.0 * c[i].cum, st->gen.sp.top_p);
			wattr_set(u->pw, A_DIM, 0, NULL);
			mvwhline(u->pw, y, 0, u->utf8 ? 0 : '-', w);
			if (u->utf8)
				for (int x = 0; x < w; x++)
					mvwaddwstr(u->pw, y, x, L"\x254c");
			wmove(u->pw, y, 2);
			ui_put(u->pw, q, w - 2);
			wattr_set(u->pw, A_NORMAL, 0, NULL);
			cut_drawn = 1;
			if (++y >= h)
				break;
		}
		cmd_token_text(st, c[i].id, piece, sizeof piece);
		snprintf(q, sizeof q, "\"%s\"", piece);
		wmove(u->pw, y, 1);
		wattr_set(u->pw, c[i].kept ? A_NORMAL : A_DIM, 0, NULL);
		ui_put(u->pw, q, piece_w);
		wmove(u->pw, y, 1 + piece_w + 1);
		wattr_set(u->pw, c[i].kept ? A_NORMAL : A_DIM, pair, NULL);
		ui_bar(u, u->pw, c[i].p_temp, bar_w);
		wattr_set(u->pw, c[i].kept ? A_NORMAL : A_DIM, 0, NULL);
		snprintf(num, sizeof num, " %5.1f%% %5.1f%%",
		    100.0 * c[i].p_temp, 100.0 * c[i].p_raw);
		ui_put(u->pw, num, w - getcurx(u->pw));
		wattr_set(u->pw, A_NORMAL, 0, NULL);
		y++;
	}
	wnoutrefresh(u->pw);
}

/* Message row and status bar. */

static void
ui_message(struct ui *u, int is_err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
ui_message(struct ui *u, int is_err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(u->msg, sizeof u->msg, fmt, ap);
	va_end(ap);
	u->msg_err = is_err;
}

static void
ui_draw_message(struct ui *u)
{
	const char	*hint;
	short		 pair = 0;
	attr_t		 a = A_DIM;

	werase(u->mw);
	wmove(u->mw, 0, 0);
	if (u->msg[0] != '\0') {
		a = u->msg_err ? A_BOLD : A_NORMAL;
		pair = u->msg_err && u->color ? UI_PAIR_ERROR :
		    u->color ? UI_PAIR_NOTE : 0;
		wattr_set(u->mw, a, pair, NULL);
		ui_put(u->mw, u->msg_err ? "error: " : "", u->cols);
		ui_put(u->mw, u->msg, u->cols - getcurx(u->mw));
	} else {
		if (u->generating && u->paused)
			hint = "paused: Space resumes  +/- temp  [/] top-p  "
			    "Tab panel  Ctrl-C stop";
		else if (u->generating)
			hint = "+/- temp  [/] top-p  Space pause  Tab panel  "
			    "Ctrl-C stop";
		else if (u->in_block)
			hint = "multi-line prompt: end it with \"\"\"";
		else
			hint = "Enter send  /help  F2 panel  PgUp/PgDn scroll  "
			    "Ctrl-D quit";
		wattr_set(u->mw, a, 0, NULL);
		ui_put(u->mw, hint, u->cols);
	}
	wattr_set(u->mw, A_NORMAL, 0, NULL);
	wnoutrefresh(u->mw);
}

/* A rate in at most four characters: 950, 1.2k, 70k, 1.1M. */
static void
ui_rate(char *out, size_t cap, double v)
{
	if (v < 1000)
		snprintf(out, cap, "%.0f", v);
	else if (v < 10e3)
		snprintf(out, cap, "%.1fk", v / 1e3);
	else if (v < 1e6)
		snprintf(out, cap, "%.0fk", v / 1e3);
	else
		snprintf(out, cap, "%.1fM", v / 1e6);
}

/* Status fields, dropped from the least important when space is short. */
struct ui_field {
	char	text[64];	/* what is shown */
	int	prio;		/* lower goes first */
};

static void
ui_draw_status(struct ui *u)
{
	struct repl	*st = u->st;
	struct ui_field	 f[12];
	int		 n = 0, total, keep[12];
	char		 pre[16], dec[16];

#define UI_FIELD(p, ...) do {						\
	snprintf(f[n].text, sizeof f[n].text, __VA_ARGS__);		\
	f[n++].prio = (p);						\
} while (0)
	ui_rate(pre, sizeof pre, st->prefill_tps);
	ui_rate(dec, sizeof dec, st->decode_tps);
	UI_FIELD(5, "%s", st->model_name != NULL ? st->model_name : "model");
	UI_FIELD(10, "temp %.2f", st->gen.sp.temperature);
	UI_FIELD(10, "top-p %.2f", st->gen.sp.top_p);
	/* top-k takes room only when it is on */
	UI_FIELD(st->gen.sp.top_k ? 7 : 1, "top-k %d", st->gen.sp.top_k);
	UI_FIELD(4, "seed %llu", (unsigned long long)(st->seed_fixed ?
	    st->gen.seed : st->turn_seed));
	UI_FIELD(8, "ctx %d/%d", st->ctx_used, st->n_ctx);
	UI_FIELD(9, "%d tok", st->n_generated);
	UI_FIELD(6, "%s/%s tok/s", pre, dec);
	UI_FIELD(6, "hist %s", st->hist != NULL ? "on" : "off");
	UI_FIELD(2, "%s", st->mode == CMD_MODE_CONTINUE ? "continue" :
	    "fresh");
	if (u->paused)
		UI_FIELD(11, "PAUSED");
#undef UI_FIELD
	for (int i = 0; i < n; i++)
		keep[i] = 1;
	for (;;) {
		int low = -1;

		total = 1;
		for (int i = 0; i < n; i++)
			if (keep[i])
				total += ui_width(f[i].text) + 2;
		if (total <= u->cols)
			break;
		for (int i = 0; i < n; i++)
			if (keep[i] && (low < 0 || f[i].prio < f[low].prio))
				low = i;
		keep[low] = 0;
	}
	wbkgdset(u->sw, ' ' | A_REVERSE);
	werase(u->sw);
	wattr_set(u->sw, A_REVERSE, u->color ? UI_PAIR_STATUS : 0, NULL);
	mvwhline(u->sw, 0, 0, ' ', u->cols);
	wmove(u->sw, 0, 1);
	for (int i = 0; i < n; i++) {
		if (!keep[i])
			continue;
		if (getcurx(u->sw) > 1)
			ui_put(u->sw, "  ", 2);
		ui_put(u->sw, f[i].text, u->cols - getcurx(u->sw));
	}
	wattr_set(u->sw, A_NORMAL, 0, NULL);
	wnoutrefresh(u->sw);
}

/* The input line: readline's prompt and buffer, scrolled sideways so the
 * cursor shows; newlines in the buffer show as a return arrow. */
static void
ui_draw_input(struct ui *u)
{
	wchar_t		 wc[4096];
	int		 wcol[4096];
	size_t		 n = 0;
	int		 col = 0, cur = -1, off = 0;
	mbstate_t	 mbs;
	const char	*parts[2] = { rl_display_prompt ? rl_display_prompt :
	    "", rl_line_buffer ? rl_line_buffer : "" };

	if (u->generating) {
		werase(u->iw);
		wnoutrefresh(u->iw);
		return;
	}
	for (int p = 0; p < 2; p++) {
		const char	*s = parts[p];
		size_t		 len = strlen(s), i = 0;

		memset(&mbs, 0, sizeof mbs);
		while (i <= len && n < 4095) {
			wchar_t	c;
			size_t	k;

			if (p == 1 && (int)i == rl_point)
				cur = col;
			if (i == len)
				break;
			k = mbrtowc(&c, s + i, len - i, &mbs);
			if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
				memset(&mbs, 0, sizeof mbs);
				c = L'?';
				k = 1;
			}
			i += k;
			if (c == RL_PROMPT_START_IGNORE ||
			    c == RL_PROMPT_END_IGNORE)
				continue;
			c = c == L'\n' ? (u->utf8 ? 0x21b5 : L'|') :
			    ui_sanitize(u, c);
			wc[n] = c;
			wcol[n++] = col;
			col += ui_wcw(c);
		}
	}
	if (cur < 0)
		cur = col;
	if (cur >= u->cols - 1)
		off = cur - (u->cols * 3) / 4;
	werase(u->iw);
	for (size_t i = 0; i < n; i++) {
		if (wcol[i] < off)
			continue;
		if (wcol[i] - off + ui_wcw(wc[i]) > u->cols)
			break;
		mvwaddnwstr(u->iw, 0, wcol[i] - off, &wc[i], 1);
	}
	wmove(u->iw, 0, cur - off);
	wnoutrefresh(u->iw);
}

/*
 * Redraw whatever may have changed, then send it.  force: a full repaint
 * (Ctrl-L, resume after Ctrl-Z).
 */
static void
ui_render(struct ui *u, int force)
{
	double t0 = util_now();

	if (force)
		clearok(curscr, TRUE);
	if (u->too_small) {
		char m[128];

		werase(stdscr);
		snprintf(m, sizeof m, "lmsh needs at least %dx%d (now %dx%d)",
		    UI_MIN_COLS, UI_MIN_ROWS, u->cols, u->rows);
		mvaddnstr(u->rows / 2, 0, m, u->cols);
		wnoutrefresh(stdscr);
		doupdate();
		return;
	}
	ui_draw_transcript(u);
	if (u->panel)
		ui_draw_panel(u);
	ui_draw_message(u);
	ui_draw_status(u);
	ui_draw_input(u);
	curs_set(u->generating ? 0 : 1);
	doupdate();
	u->render_cost = util_now() - t0;
	u->last_draw = util_now();
}

/*
 * While streaming, redraw at most UI_FPS times a second, and rarely enough
 * that drawing takes at most 1/UI_RENDER_SHARE of the time, so that a big
 * terminal never slows decoding by more than that.
 */
static int
ui_render_due(const struct ui *u)
{
	double since = util_now() - u->last_draw;

	return since >= 1.0 / UI_FPS && since >= UI_RENDER_SHARE *
	    u->render_cost;
}

/* Layout: (re)make the windows for the screen size and panel state. */
static void
ui_layout(struct ui *u)
{
	int	tw_cols, tw_rows, side;
	WINDOW	**ws[] = { &u->tw, &u->pw, &u->mw, &u->sw, &u->iw };

	getmaxyx(stdscr, u->rows, u->cols);
	log_debug("ui: layout %dx%d panel %d", u->cols, u->rows, u->panel);
	for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
		if (*ws[i] != NULL)
			delwin(*ws[i]);
		*ws[i] = NULL;
	}
	u->too_small = u->cols < UI_MIN_COLS || u->rows < UI_MIN_ROWS;
	if (u->too_small) {
		/* keys are still read, through a window off the layout */
		u->iw = newwin(1, 1, 0, 0);
		keypad(u->iw, TRUE);
		return;
	}
	tw_rows = u->rows - 3;
	tw_cols = u->cols;
	side = u->panel && u->cols >= UI_PANEL_SIDE;
	if (u->panel && side) {
		tw_cols = u->cols - UI_PANEL_W - 1;
		u->pw = newwin(tw_rows, UI_PANEL_W, 0, tw_cols + 1);
	} else if (u->panel) {
		int ph = UI_PANEL_ROWS < tw_rows / 2 ? UI_PANEL_ROWS :
		    tw_rows / 2;

		tw_rows -= ph;
		u->pw = newwin(ph, u->cols, tw_rows, 0);
	}
	u->tw = newwin(tw_rows, tw_cols, 0, 0);
	idlok(u->tw, TRUE);	/* let curses scroll rather than repaint */
	u->mw = newwin(1, u->cols, u->rows - 3, 0);
	u->sw = newwin(1, u->cols, u->rows - 2, 0);
	u->iw = newwin(1, u->cols, u->rows - 1, 0);
	keypad(u->iw, TRUE);
	if (side) {
		/* the separator between transcript and panel */
		wattr_set(stdscr, A_DIM, 0, NULL);
		mvwvline(stdscr, 0, tw_cols, u->utf8 ? 0 : '|', tw_rows);
		wattr_set(stdscr, A_NORMAL, 0, NULL);
		wnoutrefresh(stdscr);
	}
	if (tw_cols != u->tw_cols || tw_rows != u->tw_rows) {
		u->tw_cols = tw_cols;
		u->tw_rows = tw_rows;
		ui_reflow(u);
	}
	rl_set_screen_size(u->rows, u->cols);
}

static void
ui_relayout(struct ui *u)
{
	werase(stdscr);
	wnoutrefresh(stdscr);
	ui_layout(u);
	ui_render(u, 1);
}

/* Readline, fed from our key queue. */

static void
ui_keyq_push(struct ui *u, const char *bytes, size_t n)
{
	for (size_t i = 0; i < n && u->kq_len < UI_KEYQ_CAP; i++)
		u->keyq[(u->kq_head + u->kq_len++) % UI_KEYQ_CAP] =
		    (unsigned char)bytes[i];
}

static void	ui_key(struct ui *, int);

static int
ui_rl_getc(FILE *f)
{
	struct ui	*u = ui_cur;
	int		 c;

	(void)f;
	/* readline wants more of a sequence than was queued: wait for it */
	while (u->kq_len == 0 && !u->quit) {
		wtimeout(u->iw, -1);
		if ((c = wgetch(u->iw)) != ERR)
			ui_key(u, c);
	}
	if (u->kq_len == 0)
		return '\n';
	c = u->keyq[u->kq_head];
	u->kq_head = (u->kq_head + 1) % UI_KEYQ_CAP;
	u->kq_len--;
	return c;
}

static int
ui_rl_input_available(void)
{
	return ui_cur != NULL && ui_cur->kq_len > 0;
}

static void
ui_rl_redisplay(void)
{
	struct ui *u = ui_cur;

	if (u == NULL || u->too_small || u->iw == NULL)
		return;
	ui_draw_input(u);
	doupdate();
}

static void
ui_rl_line(char *line)
{
	struct ui *u = ui_cur;

	u->line = line;
	u->got_line = 1;
}

/* Alt-Enter: a newline inside the prompt. */
static int
ui_rl_newline(int count, int key)
{
	(void)count; (void)key;
	rl_insert_text("\n");
	return 0;
}

static char **
ui_rl_complete(const char *text, int start, int end)
{
	(void)end;
	if (start == 0 && text[0] == '/') {
		rl_attempted_completion_over = 1;
		return rl_completion_matches(text, cmd_complete);
	}
	return NULL;
}

/* Readline would print the list of completions; show it in the message
 * row instead. */
static void
ui_rl_show_matches(char **matches, int n, int max_len)
{
	struct ui	*u = ui_cur;
	struct buf	 b;

	(void)max_len;
	buf_init(&b);
	for (int i = 1; i <= n; i++)
		buf_printf(&b, "%s%s", i > 1 ? "  " : "", matches[i]);
	ui_message(u, 0, "%s", b.data != NULL ? b.data : "");
	buf_fini(&b);
	ui_render(u, 0);
}

static void
ui_prompt_history(void *arg, const char *prompt)
{
	(void)arg;
	add_history(prompt);
}

static void
ui_rl_init(struct ui *u)
{
	struct err err;

	rl_readline_name = "lmsh";
	rl_catch_signals = 0;
	rl_catch_sigwinch = 0;
	rl_change_environment = 0;
	rl_prep_term_function = NULL;
	rl_deprep_term_function = NULL;
	u->devnull = fopen("/dev/null", "w");
	rl_outstream = u->devnull;
	rl_getc_function = ui_rl_getc;
	rl_input_available_hook = ui_rl_input_available;
	rl_redisplay_function = ui_rl_redisplay;
	rl_attempted_completion_function = ui_rl_complete;
	rl_completion_display_matches_hook = ui_rl_show_matches;
	rl_variable_bind("bell-style", "none");
	rl_add_defun("lmsh-newline", ui_rl_newline, -1);
	rl_bind_keyseq("\\e\\r", ui_rl_newline);
	rl_bind_keyseq("\\e\\n", ui_rl_newline);
	rl_bind_keyseq("\\e[3~", rl_delete);
	if (cmd_history_prompts(u->st, UI_N_HISTORY, ui_prompt_history, NULL,
	    &err) != 0)
		ui_message(u, 1, "history: %s", err.msg);
	using_history();
	rl_callback_handler_install("> ", ui_rl_line);
}

static void
ui_rl_fini(struct ui *u)
{
	rl_callback_handler_remove();
	if (u->devnull != NULL)
		fclose(u->devnull);
	rl_outstream = NULL;
}

/* Keys. */

static void
ui_scroll(struct ui *u, long rows)
{
	long max = (long)u->total_rows - u->tw_rows;
	long s = (long)u->scroll + rows;

	if (s > max)
		s = max;
	if (s < 0)
		s = 0;
	u->scroll = (size_t)s;
}

static void
ui_knob(struct ui *u, enum cmd_knob k, double delta)
{
	struct err err;

	if (cmd_adjust(u->st, k, delta, &err) != 0)
		ui_message(u, 1, "%s", err.msg);
	else if (u->generating)
		ui_message(u, 0, "%s %.2f from token %d",
		    k == CMD_KNOB_TEMPERATURE ? "temperature" : "top-p",
		    k == CMD_KNOB_TEMPERATURE ? u->st->gen.sp.temperature :
		    u->st->gen.sp.top_p, u->st->turn_step);
}

static void
ui_toggle_panel(struct ui *u)
{
	u->panel = !u->panel;
	ui_relayout(u);
}

static void
ui_suspend(struct ui *u)
{
	struct sigaction sa, old;

	endwin();
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTSTP, &sa, &old);
	kill(0, SIGTSTP);
	/* fg: we run again */
	sigaction(SIGTSTP, &old, NULL);
	refresh();
	ui_relayout(u);
}

/* Keys that act the same while idle and while generating. */
static int
ui_key_common(struct ui *u, int c)
{
	MEVENT ev;

	switch (c) {
	case KEY_RESIZE:
		ui_relayout(u);
		return 1;
	case KEY_PPAGE:
		ui_scroll(u, u->tw_rows - 1);
		return 1;
	case KEY_NPAGE:
		ui_scroll(u, -(u->tw_rows - 1));
		return 1;
	case KEY_MOUSE:
		if (getmouse(&ev) == OK) {
			if (ev.bstate & BUTTON4_PRESSED)
				ui_scroll(u, UI_WHEEL_ROWS);
#ifdef BUTTON5_PRESSED
			else if (ev.bstate & BUTTON5_PRESSED)
				ui_scroll(u, -UI_WHEEL_ROWS);
#endif
		}
		return 1;
	case KEY_F(2):
		ui_toggle_panel(u);
		return 1;
	case KEY_F(5):
		ui_knob(u, CMD_KNOB_TEMPERATURE, -UI_TEMP_STEP);
		return 1;
	case KEY_F(6):
		ui_knob(u, CMD_KNOB_TEMPERATURE, UI_TEMP_STEP);
		return 1;
	case KEY_F(7):
		ui_knob(u, CMD_KNOB_TOP_P, -UI_TOP_P_STEP);
		return 1;
	case KEY_F(8):
		ui_knob(u, CMD_KNOB_TOP_P, UI_TOP_P_STEP);
		return 1;
	case 'L' & 0x1f:
		ui_relayout(u);
		return 1;
	case 'Z' & 0x1f:
		ui_suspend(u);
		return 1;
	}
	return 0;
}

/* A key while a reply streams: the input line is inactive, so plain keys
 * are free for the live controls. */
static void
ui_key_live(struct ui *u, int c)
{
	switch (c) {
	case 'C' & 0x1f:
		cmd_turn_interrupt(u->st);
		u->paused = 0;
		break;
	case '+':
	case '=':
		ui_knob(u, CMD_KNOB_TEMPERATURE, UI_TEMP_STEP);
		break;
	case '-':
	case '_':
		ui_knob(u, CMD_KNOB_TEMPERATURE, -UI_TEMP_STEP);
		break;
	case ']':
		ui_knob(u, CMD_KNOB_TOP_P, UI_TOP_P_STEP);
		break;
	case '[':
		ui_knob(u, CMD_KNOB_TOP_P, -UI_TOP_P_STEP);
		break;
	case ' ':
		u->paused = !u->paused;
		break;
	case '\t':
		ui_toggle_panel(u);
		break;
	}
}

/* A key at the prompt: ours, or bytes for readline. */
static void
ui_key_idle(struct ui *u, int c)
{
	char	 b = (char)c;
	const char *seq = NULL;

	switch (c) {
	case 'C' & 0x1f:
		if (rl_end == 0 && !u->in_block)
			ui_message(u, 0, "type /quit or press Ctrl-D on an "
			    "empty line to quit");
		else
			ui_message(u, 0, "line cleared");
		rl_callback_sigcleanup();
		rl_replace_line("", 0);
		rl_point = rl_end = 0;
		u->in_block = 0;
		buf_fini(&u->block);
		buf_init(&u->block);
		rl_set_prompt("> ");
		ui_render(u, 0);
		return;
	case KEY_UP:	seq = "\033[A"; break;
	case KEY_DOWN:	seq = "\033[B"; break;
	case KEY_RIGHT:	seq = "\033[C"; break;
	case KEY_LEFT:	seq = "\033[D"; break;
	case KEY_HOME:	seq = "\033[H"; break;
	case KEY_END:	seq = "\033[F"; break;
	case KEY_DC:	seq = "\033[3~"; break;
	case KEY_BACKSPACE: seq = "\177"; break;
	case KEY_ENTER:	seq = "\r"; break;
	}
	if (seq != NULL)
		ui_keyq_push(u, seq, strlen(seq));
	else if (c >= 0 && c < 256)
		ui_keyq_push(u, &b, 1);
	/* other function keys mean nothing here */
}

static void
ui_key(struct ui *u, int c)
{
	if (c != KEY_RESIZE && c != KEY_MOUSE && !u->generating)
		u->msg[0] = '\0';	/* a message lasts until the next key */
	if (ui_key_common(u, c))
		return;
	if (u->generating)
		ui_key_live(u, c);
	else
		ui_key_idle(u, c);
}

/* Turns. */

static void
ui_on_token(void *arg, const struct gen_token *tok)
{
	struct ui *u = arg;

	if (tok->seq == 0 && tok->piece_len > 0)
		ui_append(u, tok->piece, tok->piece_len, UI_CLS_OUTPUT);
}

/* Notices of a turn, joined into the message row. */
static void
ui_notes(struct ui *u, struct buf *note, const char *extra)
{
	char *s;

	if (note->len == 0 && extra == NULL)
		return;
	s = xstrdup(note->data != NULL ? note->data : "");
	for (char *p = s; *p != '\0'; p++)
		if (*p == '\n')
			*p = p[1] != '\0' ? ';' : '\0';
	ui_message(u, 0, "%s%s%s", extra != NULL ? extra : "",
	    extra != NULL && *s != '\0' ? "; " : "", s);
	free(s);
	note->len = 0;
}

/* Drain the keyboard; while paused, wait for keys instead of spinning. */
static void
ui_poll_keys(struct ui *u)
{
	int c;

	wtimeout(u->iw, u->paused ? 100 : 0);
	while ((c = wgetch(u->iw)) != ERR) {
		ui_key(u, c);
		wtimeout(u->iw, 0);
	}
}

/* Run a turn (prompt NULL: the one /replay loaded), streaming it in. */
static void
ui_turn(struct ui *u, const char *prompt)
{
	struct repl	*st = u->st;
	struct buf	 note;
	struct err	 err;
	int		 rc;
	char		 extra[128];

	buf_init(&note);
	if (st->mode == CMD_MODE_FRESH || prompt == NULL) {
		if (!ui_at_bol(u))
			ui_newline(u);
		if (u->n_lines > 1)
			ui_newline(u);
	} else if (u->n_lines > 0 && !ui_at_bol(u) &&
	    u->lines[u->n_lines - 1].cls[u->lines[u->n_lines - 1].n - 1] >=
	    UI_CLS_INFO)
		ui_newline(u);
	u->scroll = 0;
	if (prompt != NULL)
		ui_append_str(u, prompt, UI_CLS_PROMPT);
	u->generating = 1;
	u->paused = 0;
	ui_message(u, 0, "%s waiting for the first token",
	    u->utf8 ? "\xe2\x80\xa6" : "...");
	ui_render(u, 0);
	if (cmd_turn_begin(st, prompt, &note, &err) != 0) {
		u->generating = 0;
		ui_notes(u, &note, NULL);
		ui_message(u, 1, "%s", err.msg);
		goto out;
	}
	if (prompt == NULL)
		ui_append_str(u, st->turn_prompt, UI_CLS_PROMPT);
	u->msg[0] = '\0';
	ui_notes(u, &note, NULL);
	rc = 1;
	while (rc == 1) {
		if (!u->paused)
			rc = cmd_turn_step(st, ui_on_token, u, &err);
		ui_poll_keys(u);
		if (u->quit)
			cmd_turn_interrupt(st);
		if (u->paused || ui_render_due(u))
			ui_render(u, 0);
	}
	log_debug("ui: %d tokens, %.3f s wall from the first step, "
	    "%.3f s in decode", st->n_generated, util_now() - st->turn_t0,
	    gen_decode_seconds(st->sess));
	extra[0] = '\0';
	if (gen_stop_reason(st->sess, 0) == GEN_STOP_INTERRUPTED)
		snprintf(extra, sizeof extra, "interrupted after %d tokens "
		    "(kept)", st->n_generated);
	u->generating = 0;
	u->paused = 0;
	if (rc < 0)
		ui_message(u, 1, "%s", err.msg);
	if (cmd_turn_end(st, &note, &err) != 0)
		ui_message(u, 1, "%s", err.msg);
	else if (rc >= 0)
		ui_notes(u, &note, extra[0] != '\0' ? extra : NULL);
	if (st->mode == CMD_MODE_FRESH)
		ui_newline(u);
out:
	buf_fini(&note);
	ui_render(u, 0);
}

/* Command output goes to the transcript on lines of its own. */
static void
ui_show_output(struct ui *u, const char *line, const struct buf *out)
{
	if (!ui_at_bol(u))
		ui_newline(u);
	ui_append_str(u, line, UI_CLS_PROMPT);
	ui_newline(u);
	ui_append(u, out->data, out->len, UI_CLS_INFO);
	if (!ui_at_bol(u))
		ui_newline(u);
	u->scroll = 0;
}

/* A line readline accepted: a """ block part, a command or a prompt. */
static void
ui_handle_line(struct ui *u, char *line)
{
	struct buf	 out;
	struct err	 err;
	size_t		 q = strlen(UI_BLOCK), n = strlen(line);
	char		*text;

	if (*line != '\0' && !u->in_block) {
		add_history(line);
		using_history();	/* the up-arrow starts from this one */
	}
	if (u->in_block || strncmp(line, UI_BLOCK, q) == 0) {
		const char *part = u->in_block ? line : line + q;
		size_t pn = strlen(part);
		int end = pn >= q && strcmp(part + pn - q, UI_BLOCK) == 0 &&
		    (u->in_block || n >= 2 * q);

		if (u->in_block)
			buf_puts(&u->block, "\n");
		buf_append(&u->block, part, end ? pn - q : pn);
		u->in_block = !end;
		rl_set_prompt(u->in_block ? "... " : "> ");
		if (u->in_block) {
			ui_render(u, 0);
			return;
		}
		text = xstrdup(u->block.data != NULL ? u->block.data : "");
		buf_fini(&u->block);
		buf_init(&u->block);
		ui_turn(u, text);
		free(text);
		return;
	}
	buf_init(&out);
	switch (cmd_run(u->st, line, &out, &err)) {
	case CMD_DONE:
		ui_show_output(u, line, &out);
		break;
	case CMD_ERROR:
		ui_message(u, 1, "%s", err.msg);
		break;
	case CMD_QUIT:
		u->quit = 1;
		break;
	case CMD_CLEAR:
		ui_clear_transcript(u);
		u->st->n_generated = 0;
		break;
	case CMD_RUN:
		ui_turn(u, NULL);
		break;
	case CMD_PROMPT:
		ui_turn(u, line[0] == '/' ? line + 1 : line);
		break;
	}
	buf_fini(&out);
	ui_render(u, 0);
}

/* Feed queued bytes to readline; handle any line it accepts. */
static void
ui_feed_readline(struct ui *u)
{
	while (u->kq_len > 0 && !u->quit) {
		rl_callback_read_char();
		if (!u->got_line)
			continue;
		u->got_line = 0;
		if (u->line == NULL) {
			u->quit = 1;	/* Ctrl-D on an empty line */
			break;
		}
		ui_handle_line(u, u->line);
		free(u->line);
		u->line = NULL;
	}
}

static int
ui_start(struct ui *u)
{
	const char *nc = getenv("NO_COLOR");

	if (newterm(NULL, stdout, stdin) == NULL)
		return -1;
	ui_curses_on = 1;
	u->utf8 = MB_CUR_MAX > 1;
	raw();
	noecho();
	nonl();
	set_escdelay(25);
	mousemask(BUTTON4_PRESSED
#ifdef BUTTON5_PRESSED
	    | BUTTON5_PRESSED
#endif
	    , NULL);
	mouseinterval(0);
	u->color = has_colors() && (nc == NULL || *nc == '\0');
	if (u->color) {
		start_color();
		use_default_colors();
		init_pair(UI_PAIR_PROMPT, COLOR_CYAN, -1);
		init_pair(UI_PAIR_INFO, COLOR_BLUE, -1);
		init_pair(UI_PAIR_NOTE, COLOR_YELLOW, -1);
		init_pair(UI_PAIR_ERROR, COLOR_RED, -1);
		init_pair(UI_PAIR_KEPT, COLOR_GREEN, -1);
		init_pair(UI_PAIR_CUT, COLOR_RED, -1);
		init_pair(UI_PAIR_STATUS, -1, -1);
	}
	ui_layout(u);
	return 0;
}

/*
 * The curses REPL.  Returns 0 after /quit or Ctrl-D, or -1 (before drawing
 * anything) when the terminal cannot be used, so that the caller falls back
 * to line mode.
 */
int
ui_run(struct repl *st)
{
	struct ui	 u;
	int		 c;

	memset(&u, 0, sizeof u);
	u.st = st;
	u.tw_cols = 80;
	buf_init(&u.block);
	ui_newline(&u);
	st->want_logits = 1;
	/* before the first rl_set_screen_size(): readline must not export
	 * LINES and COLUMNS, which would pin curses to the first size */
	rl_change_environment = 0;
	ui_install_signals();
	ui_cur = &u;
	if (ui_start(&u) != 0) {
		ui_cur = NULL;
		free(u.lines);
		return -1;
	}
	ui_rl_init(&u);
	ui_append_str(&u, "lmsh ", UI_CLS_INFO);
	ui_append_str(&u, PACKAGE_VERSION, UI_CLS_INFO);
	ui_append_str(&u, ": type a prompt and press Enter; /help lists "
	    "commands and keys.\n", UI_CLS_INFO);
	ui_render(&u, 1);
	while (!u.quit) {
		wtimeout(u.iw, -1);
		if ((c = wgetch(u.iw)) == ERR)
			continue;
		ui_key(&u, c);
		/* take whatever else is queued, so readline sees whole
		 * characters and escape sequences */
		wtimeout(u.iw, 0);
		while (!u.generating && (c = wgetch(u.iw)) != ERR)
			ui_key(&u, c);
		ui_feed_readline(&u);
		if (!u.quit)
			ui_render(&u, 0);
	}
	ui_rl_fini(&u);
	ui_restore();
	ui_cur = NULL;
	for (size_t i = 0; i < u.n_lines; i++) {
		free(u.lines[i].wc);
		free(u.lines[i].cls);
	}
	free(u.lines);
	buf_fini(&u.block);
	return 0;
}
