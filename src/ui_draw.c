/*
 * ui_draw.c: the curses UI's transcript model and drawing (ui.c has the
 * loop).  The transcript is an array of logical lines, each an array of
 * wide characters with a class (prompt, output, info, note) per character.
 * Wrapping is computed, not stored: each line caches how many screen rows
 * it takes at the current width, where its last row starts and the column
 * after its last character.  Lines wrap at word boundaries (a word longer
 * than the width is cut); appending never moves an earlier row's break, so
 * streaming a token re-lays only the last row, and a resize reflows all.
 * Every redraw repaints the windows' contents and lets curses send only the
 * cells that changed, so nothing flickers.
 */
#include "config.h"

#include <curses.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <readline/readline.h>

#include "commands.h"
#include "history.h"
#include "sampler.h"
#include "util.h"
#include "ui_int.h"

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
int
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

/* Columns that characters [a, b) of l take. */
static int
ui_cols_of(const struct ui_line *l, size_t a, size_t b)
{
	int col = 0;

	for (size_t i = a; i < b; i++)
		col += ui_wcw(l->wc[i]);
	return col;
}

/*
 * Where the screen row that starts at character `start` ends (the next
 * row's first character), or l->n when the rest fits.  A row breaks after
 * its last space (or double-width character) so that words stay whole; a
 * space that overflows stays at the end of its row (drawing clips it); a
 * word wider than the row starts a row of its own and is cut there.
 */
static size_t
ui_row_end(const struct ui_line *l, size_t start, int cols)
{
	size_t	brk = start;
	int	col = 0;

	for (size_t i = start; i < l->n; i++) {
		int w = ui_wcw(l->wc[i]);

		if (w > 0 && col + w > cols && i > start) {
			if (l->wc[i] == L' ')
				return i + 1;
			return brk > start ? brk : i;
		}
		col += w;
		/* after a space, and between double-width (CJK) characters,
		 * which have no spaces between words */
		if (l->wc[i] == L' ' || w == 2)
			brk = i + 1;
	}
	return l->n;
}

/* Whether a character of class cls is story text (a prompt or reply). */
static int
ui_cls_story(unsigned cls)
{
	return (cls & UI_CLS_MASK) == UI_CLS_OUTPUT ||
	    (cls & UI_CLS_MASK) == UI_CLS_PROMPT;
}

/* Free a line's arrays. */
void
ui_line_fini(struct ui_line *l)
{
	free(l->wc);
	free(l->cls);
	free(l->src);
}

/* Append c, which stands for src bytes of the text given to ui_append. */
static void
ui_line_push(struct ui *u, struct ui_line *l, wchar_t c, enum ui_cls cls,
    size_t src)
{
	int	w = ui_wcw(c);
	size_t	e;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->wc = xreallocarray(l->wc, l->cap, sizeof *l->wc);
		l->cls = xreallocarray(l->cls, l->cap, sizeof *l->cls);
		l->src = xreallocarray(l->src, l->cap, sizeof *l->src);
	}
	l->wc[l->n] = c;
	l->src[l->n] = (unsigned char)(src < UCHAR_MAX ? src : UCHAR_MAX);
	l->cls[l->n++] = (unsigned char)cls;
	if (w > 0 && l->col + w <= u->tw_cols) {
		l->col += w;	/* the common case: it fits on the last row */
		return;
	}
	while ((e = ui_row_end(l, l->row0, u->tw_cols)) < l->n) {
		l->rows++;
		u->total_rows++;
		if (u->scroll > 0)
			u->scroll++;	/* keep the view still */
		l->row0 = e;
	}
	l->col = ui_cols_of(l, l->row0, l->n);
}

/* Start a new transcript line (it takes one row). */
void
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

/* Whether the transcript's last line is empty. */
int
ui_at_bol(const struct ui *u)
{
	return u->lines[u->n_lines - 1].n == 0;
}

/*
 * Append UTF-8 text of one class; '\n' ends a line, tabs expand.  Each
 * character remembers how many bytes of the text it stands for, and a
 * line the bytes of its break, so that ui_dim_story() can count the
 * story's bytes on a screen that draws controls as pictures, expands tabs
 * and drops '\r'.
 */
void
ui_append(struct ui *u, const char *s, size_t len, enum ui_cls cls)
{
	while (len > 0) {
		struct ui_line	*l = &u->lines[u->n_lines - 1];
		wchar_t		 c;
		size_t		 k = mbrtowc(&c, s, len, &u->mbs), src;

		if (k == (size_t)-2) {
			u->mb_held += len;
			return;		/* the rest of it comes next time */
		}
		if (k == (size_t)-1) {
			memset(&u->mbs, 0, sizeof u->mbs);
			c = 0xfffd;
			k = 1;
		} else if (k == 0)
			k = 1;
		s += k;
		len -= k;
		src = k + u->mb_held;
		u->mb_held = 0;
		if (c == L'\n') {
			/* command output breaks lines of its own */
			l->brk = ui_cls_story(cls) ? (unsigned char)src : 0;
			ui_newline(u);
			continue;
		}
		if (c == L'\r') {
			/* dropped: its byte goes with the character before */
			if (l->n > 0 && l->src[l->n - 1] < UCHAR_MAX)
				l->src[l->n - 1]++;
			else if (l->n == 0 && u->n_lines > 1 &&
			    ui_cls_story(cls))
				u->lines[u->n_lines - 2].brk++;
			continue;
		}
		if (c == L'\t') {
			do {
				ui_line_push(u, l, L' ', cls, src);
				src = 0;
			} while (l->col % 4 != 0);
			continue;
		}
		ui_line_push(u, l, ui_sanitize(u, c), cls, src);
	}
}

/* ui_append() of a NUL-terminated string. */
void
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

		size_t e;

		l->rows = 1;
		l->row0 = 0;
		while ((e = ui_row_end(l, l->row0, u->tw_cols)) < l->n) {
			l->rows++;
			l->row0 = e;
		}
		l->col = ui_cols_of(l, l->row0, l->n);
		u->total_rows += (size_t)l->rows;
	}
	if (u->scroll > u->total_rows)
		u->scroll = u->total_rows;
}

/* Cut the transcript at p: later lines go, p's line keeps what is before
 * p.  A place past the end cuts nothing. */
void
ui_truncate(struct ui *u, struct ui_pos p)
{
	if (p.line >= u->n_lines)
		return;
	for (size_t i = p.line + 1; i < u->n_lines; i++)
		ui_line_fini(&u->lines[i]);
	u->n_lines = p.line + 1;
	if (p.ch < u->lines[p.line].n)
		u->lines[p.line].n = p.ch;
	u->lines[p.line].brk = 0;
	memset(&u->mbs, 0, sizeof u->mbs);
	u->mb_held = 0;
	u->scroll = 0;
	ui_reflow(u);
}

void
ui_mark(struct ui *u, struct ui_pos a, struct ui_pos b, int on)
{
	for (size_t l = a.line; l <= b.line && l < u->n_lines; l++) {
		struct ui_line	*ln = &u->lines[l];
		size_t		 from = l == a.line ? a.ch : 0;
		size_t		 to = l == b.line ? b.ch : ln->n;

		for (size_t i = from; i < to && i < ln->n; i++)
			ln->cls[i] = (unsigned char)(on ? ln->cls[i] |
			    UI_CLS_CURSOR : ln->cls[i] & ~UI_CLS_CURSOR);
	}
}

/* Empty the transcript (/clear). */
void
ui_clear_transcript(struct ui *u)
{
	for (size_t i = 0; i < u->n_lines; i++)
		ui_line_fini(&u->lines[i]);
	u->n_lines = 0;
	u->total_rows = 0;
	u->scroll = 0;
	ui_newline(u);
}

/*
 * Dim the story text the model no longer sees: the prompt and reply
 * characters whose story bytes fall in [from, to) get UI_CLS_DIM, the
 * others lose it.  The story's bytes are counted from the start of the
 * transcript, which a /clear or a redraw of the story starts again.
 */
void
ui_dim_story(struct ui *u, size_t from, size_t to)
{
	size_t	off = 0;
	int	dim = 0;

	for (size_t i = 0; i < u->n_lines; i++) {
		struct ui_line *l = &u->lines[i];

		for (size_t j = 0; j < l->n; j++) {
			unsigned c = l->cls[j];

			if (!ui_cls_story(c))
				continue;
			/* the spaces a tab adds go with it */
			if (l->src[j] > 0)
				dim = off >= from && off < to;
			/* the dim band replaces a probability band */
			if (dim)
				c = (c & ~(UI_BAND_MASK << UI_BAND_SHIFT)) |
				    UI_CLS_DIM;
			else if ((c & (UI_BAND_MASK << UI_BAND_SHIFT)) ==
			    UI_CLS_DIM)
				c &= ~(unsigned)UI_CLS_DIM;
			l->cls[j] = (unsigned char)c;
			off += l->src[j];
		}
		off += l->brk;
	}
}

/* An output token's look in its probability band under /color: colours,
 * or underline, bold and reverse where colours are off. */
static attr_t
ui_band_attr(const struct ui *u, int band, short *pair)
{
	static const attr_t mono[] = { A_NORMAL, A_UNDERLINE,
	    A_UNDERLINE | A_BOLD, A_REVERSE };

	*pair = 0;
	if (band <= 0 || band > 3 || !u->st->view.color)
		return A_NORMAL;
	if (u->color) {
		*pair = (short)(band == 1 ? UI_PAIR_BAND1 : band == 2 ?
		    UI_PAIR_BAND2 : UI_PAIR_BAND3);
		return A_NORMAL;
	}
	return mono[band];
}

static attr_t
ui_cls_attr_base(const struct ui *u, unsigned cls_band, short *pair)
{
	enum ui_cls cls = (enum ui_cls)(cls_band & UI_CLS_MASK);

	*pair = 0;
	if (cls_band & UI_CLS_CURSOR)
		return A_REVERSE | A_BOLD;
	switch (cls) {
	case UI_CLS_OUTPUT:
		return ui_band_attr(u, (int)((cls_band >> UI_BAND_SHIFT) &
		    UI_BAND_MASK) - 1, pair);
	case UI_CLS_PROMPT:
		*pair = u->color ? UI_PAIR_PROMPT : 0;
		return A_BOLD;
	case UI_CLS_INFO:
		*pair = u->color ? UI_PAIR_INFO : 0;
		return u->color ? A_NORMAL : A_DIM;
	case UI_CLS_COMMAND:
		/* the colour of its output, so it never reads as a prompt */
		*pair = u->color ? UI_PAIR_INFO : 0;
		return A_BOLD;
	case UI_CLS_NOTE:
		*pair = u->color ? UI_PAIR_NOTE : 0;
		return u->color ? A_NORMAL : A_DIM | A_UNDERLINE;
	default:
		return A_NORMAL;
	}
}

static attr_t
ui_cls_attr(const struct ui *u, unsigned cls, short *pair)
{
	unsigned	band = cls & (UI_BAND_MASK << UI_BAND_SHIFT);
	attr_t		a;

	if (band != UI_CLS_DIM)
		return ui_cls_attr_base(u, cls, pair);
	/* out of the model's view: dim, and no longer bold or banded */
	a = ui_cls_attr_base(u, cls & ~band, pair);
	return (a & ~A_BOLD) | A_DIM;
}

/* Draw rows [row, row + n) of line l from window row y: each row's runs of
 * one class go out with one waddnwstr() each, clipped to the width. */
static void
ui_draw_line_rows(struct ui *u, const struct ui_line *l, int row, int y,
    int n)
{
	size_t	s = 0;

	for (int r = 0; r < row + n && (s < l->n || r == 0); r++) {
		size_t	e = ui_row_end(l, s, u->tw_cols), run = s;
		int	col = 0;

		if (r < row) {
			s = e;
			continue;
		}
		wmove(u->tw, y + r - row, 0);
		for (size_t i = s; i <= e; i++) {
			int w = i < e ? ui_wcw(l->wc[i]) : 0;
			int clip = i < e && col + w > u->tw_cols;

			if ((i == e || clip || l->cls[i] != l->cls[run]) &&
			    i > run) {
				short	pair;
				attr_t	a = ui_cls_attr(u, l->cls[run],
				    &pair);

				wattr_set(u->tw, a, pair, NULL);
				waddnwstr(u->tw, l->wc + run, (int)(i - run));
				run = i;
			}
			if (i == e || clip)
				break;
			col += w;
		}
		s = e;
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
	static struct sampler_cand c[UI_N_CUT_SCAN];
	struct repl		*st = u->st;
	const struct sampler_params *sp = cmd_panel_params(st);
	int			 h, w, piece_w, bar_w, y = 1, cut_drawn = 0;
	size_t			 n, max, n_kept = 0, shown = 0;
	char			 head[128];

	if (u->pw == NULL)
		return;
	getmaxyx(u->pw, h, w);
	werase(u->pw);
	if (st->cursor.on)
		snprintf(head, sizeof head, " token %d/%d  temp %.2f  top-p "
		    "%.2f", st->cursor.pos + 1, st->cursor.max, sp->temperature,
		    sp->top_p);
	else
		snprintf(head, sizeof head, " next token  temp %.2f  top-p "
		    "%.2f", sp->temperature, sp->top_p);
	/* the side panel is narrower: the values stay, the words shrink */
	if (w >= 44 && (int)strlen(head) + 14 > w)
		snprintf(head, sizeof head, " %s  temp %.2f  top-p %.2f",
		    st->cursor.on ? "here" : "next", sp->temperature,
		    sp->top_p);
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
	/* look further than the rows, to find the cut when it lies below */
	n = cmd_candidates(st, c, UI_N_CUT_SCAN);
	for (size_t i = 0; i < n; i++)
		n_kept += c[i].kept != 0;
	if (n > max)
		n = max;
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
			    "top-p %.2f ", 100.0 * c[i].cum, sp->top_p);
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
		wattr_set(u->pw, (c[i].kept ? A_NORMAL : A_DIM) |
		    (st->cursor.on && (size_t)st->cursor.pick == i ?
		    A_REVERSE : 0), 0, NULL);
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
		shown++;
	}
	if (!cut_drawn && n_kept > shown && h > 2) {
		/* the cut lies below the rows: say how far, on the last row */
		char	q[96];
		int	row = y < h ? y : h - 1;

		if (row < y)
			shown--;	/* its row goes to the note */
		snprintf(q, sizeof q, " %zu more above the top-p cut (%zu%s "
		    "kept) ", n_kept - shown, n_kept, n_kept ==
		    UI_N_CUT_SCAN ? "+" : "");
		wmove(u->pw, row, 0);
		wclrtoeol(u->pw);
		wattr_set(u->pw, A_DIM, 0, NULL);
		ui_put(u->pw, q, w);
		wattr_set(u->pw, A_NORMAL, 0, NULL);
	}
	wnoutrefresh(u->pw);
}

/* Message row and status bar. */

void
ui_message(struct ui *u, int is_err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Put a message (an error when is_err) on the message row; it stays
 * until the next key. */
void
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
		if (u->st->cursor.on)
			hint = "cursor: Left/Right token  Up/Down candidate  "
			    "Enter take it  r resample  Esc leave";
		else if (u->generating && u->paused)
			hint = "paused: Space resumes  . one token  +/- temp  "
			    "[/] top-p  Tab panel  Ctrl-C stop";
		else if (u->generating)
			hint = "+/- temp  [/] top-p  Space pause  Tab panel  "
			    "Ctrl-C stop";
		else if (u->block.open)
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
	ui_rate(pre, sizeof pre, st->fig.prefill_tps);
	ui_rate(dec, sizeof dec, st->fig.decode_tps);
	UI_FIELD(5, "%s", st->res.model_name != NULL ? st->res.model_name : "model");
	UI_FIELD(10, "temp %.2f", st->next.gen.sp.temperature);
	UI_FIELD(10, "top-p %.2f", st->next.gen.sp.top_p);
	/* top-k takes room only when it is on */
	UI_FIELD(st->next.gen.sp.top_k ? 7 : 1, "top-k %d", st->next.gen.sp.top_k);
	UI_FIELD(4, "seed %llu", (unsigned long long)(st->next.seed_fixed ?
	    st->next.gen.seed : st->turn.seed));
	UI_FIELD(8, "ctx %d/%d", st->fig.ctx_used, st->res.n_ctx);
	UI_FIELD(9, "%d tok", st->fig.n_generated);
	UI_FIELD(6, "%s/%s tok/s", pre, dec);
	UI_FIELD(6, "hist %s", st->res.hist == NULL ? "off" :
	    history_failed(st->res.hist) ? "FAILED" : "on");
	UI_FIELD(2, "%s", st->next.mode == CMD_MODE_CONTINUE ? "continue" :
	    "fresh");
	if (st->view.pace > 0)
		UI_FIELD(3, "pace %g", st->view.pace);
	if (st->view.color)
		UI_FIELD(7, "%s", u->color ? "p>=.5 .2+ green .05+ yellow red" :
		    "p>=.5 .2+ underline .05+ bold reverse");
	if (u->paused)
		UI_FIELD(11, "PAUSED");
	if (st->cursor.on)
		UI_FIELD(11, "CURSOR %d/%d", st->cursor.pos + 1,
		    st->cursor.max);
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
void
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
void
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
int
ui_render_due(const struct ui *u)
{
	double since = util_now() - u->last_draw;

	return since >= 1.0 / UI_FPS && since >= UI_RENDER_SHARE *
	    u->render_cost;
}

/* Layout: (re)make the windows for the screen size and panel state. */
void
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

/* Lay out afresh and repaint everything (resize, panel, Ctrl-L). */
void
ui_relayout(struct ui *u)
{
	werase(stdscr);
	wnoutrefresh(stdscr);
	ui_layout(u);
	ui_render(u, 1);
}
