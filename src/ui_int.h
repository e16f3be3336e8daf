#ifndef LMSH_UI_INT_H
#define LMSH_UI_INT_H
/*
 * ui_int.h: what ui.c (the loop, keys, readline, turns) and ui_draw.c (the
 * transcript model, layout and drawing) share; private to the curses UI.
 * It needs <curses.h>, <wchar.h> and util.h included before it.
 */

#define UI_MIN_COLS	40	/* below this, only a message */
#define UI_MIN_ROWS	8
#define UI_PANEL_SIDE	100	/* from this width the panel sits on the right */
#define UI_PANEL_W	44	/* its width there */
#define UI_PANEL_ROWS	12	/* most rows it takes under the transcript */
#define UI_N_CANDS	32	/* most candidates shown */
#define UI_N_CUT_SCAN	1024	/* candidates searched for the top-p cut */
#define UI_FPS		30	/* redraws per second while streaming */
#define UI_RENDER_SHARE	50	/* redraws take at most 1/50 of the time */
#define UI_WHEEL_ROWS	3
#define UI_N_HISTORY	1000	/* earlier prompts for the up-arrow */
#define UI_KEYQ_CAP	4096
/* The curses REPL's pace when --pace is not given, in tokens a second.
 * The bundled model writes a 200-token reply in about 0.3 s: a '+' sent
 * 250 ms after Enter (tmux, bundled model) took effect at step 157 of
 * 200 at full speed, at step 7 at pace 30, 13 at 60, 5 at 20.  Its
 * stories run 0.8 words a token, so 30 is 24 words a second: faster than
 * reading, slow enough to skim, and a key a person aims at a word lands
 * in the same sentence; a 250-token reply still ends within 9 s, where 10
 * or 20 would take 25 or 13 s.  It only delays steps, so the tokens are
 * the same. */
#define UI_PACE_DEFAULT	30
/* After a reply ends, the live keys keep their meaning this long, so a
 * key aimed at the reply never lands in the prompt. */
#define UI_GRACE_S	0.5

/* A transcript character's class is its low bits; an output token's
 * probability band (cmd_band() + 1, 0: none) is kept above them, so that
 * /color can recolour the whole transcript at any time. */
#define UI_CLS_MASK	0x0f
#define UI_BAND_SHIFT	4
#define UI_BAND_MASK	0x07
#define UI_CLS_CURSOR	0x80	/* under the token cursor */
/* The last band value: story text the model no longer sees, dim. */
#define UI_CLS_DIM	(UI_BAND_MASK << UI_BAND_SHIFT)

/* Character classes in the transcript, each with its own look. */
enum ui_cls {
	UI_CLS_OUTPUT = 0,	/* generated text */
	UI_CLS_PROMPT,		/* what the user typed */
	UI_CLS_INFO,		/* command output */
	UI_CLS_NOTE,		/* notices */
	UI_CLS_COMMAND,		/* a command as typed (not a prompt) */
	UI_CLS_N
};

/* Colour pairs. */
enum {
	UI_PAIR_PROMPT = 1, UI_PAIR_INFO, UI_PAIR_NOTE, UI_PAIR_ERROR,
	UI_PAIR_KEPT, UI_PAIR_CUT, UI_PAIR_STATUS, UI_PAIR_BAND1,
	UI_PAIR_BAND2, UI_PAIR_BAND3
};

/* A place in the transcript: line and character. */
struct ui_pos {
	size_t		 line;
	size_t		 ch;
};

struct ui_line {
	wchar_t		*wc;		/* characters */
	unsigned char	*cls;		/* enum ui_cls of each */
	unsigned char	*src;		/* bytes of text each stands for (a
					   control picture 1, the spaces a
					   tab adds 0), for ui_dim_story */
	unsigned char	 brk;		/* text bytes of the break after the
					   line: its '\n' (and '\r's); 0 for
					   a break the layout made */
	size_t		 n;		/* characters used */
	size_t		 cap;		/* allocated */
	int		 rows;		/* screen rows at the transcript width */
	int		 col;		/* column after the last character */
	size_t		 row0;		/* index of the first char of the last row */
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
	size_t		 mb_held;	/* bytes of a character mbs holds */

	int		 panel;		/* candidate panel shown */
	int		 generating;	/* a turn runs: live keys */
	int		 paused;	/* the turn waits */
	int		 step_once;	/* paused: let one token through */
	double		 grace_until;	/* util_now() until which the live
					   keys outlast the reply */
	struct ui_pos	*tok;		/* where each token of the last reply
					   starts; tok[n_tok] its end */
	size_t		 n_tok, tok_cap;
	int		 branching;	/* the turn continues the transcript
					   from the token cursor */
	char		 msg[512];	/* message row text */
	int		 msg_err;	/* msg is an error */
	double		 last_draw;	/* util_now() of the last redraw */
	double		 render_cost;	/* seconds the last redraw took */

	unsigned char	 keyq[UI_KEYQ_CAP]; /* bytes for readline */
	size_t		 kq_head, kq_len; /* ring buffer */
	char		*line;		/* a line readline accepted, or NULL */
	int		 got_line;	/* line is set (NULL line: Ctrl-D) */
	struct cmd_block block;		/* a """ block being typed */
	int		 waiting;	/* a turn began; no word from it yet */
	int		 replaying;	/* the turn is a /replay */
	struct buf	 notes;		/* the turn's notices, joined */
	int		 notes_err;	/* one of them is an error */
	int		 quit;		/* leave the loop */
	int		 hung_up;	/* the terminal went away */
	FILE		*devnull;	/* readline's output stream */
};

/* The transcript (ui_draw.c). */
void	ui_newline(struct ui *);
int	ui_at_bol(const struct ui *);
void	ui_append(struct ui *, const char *, size_t, enum ui_cls);
void	ui_append_str(struct ui *, const char *, enum ui_cls);
void	ui_clear_transcript(struct ui *);
void	ui_line_fini(struct ui_line *);
void	ui_dim_story(struct ui *, size_t from, size_t to);
/* Cut the transcript at p (a branch from the token cursor). */
void	ui_truncate(struct ui *, struct ui_pos p);
/* Mark (on 1) or unmark the characters in [a, b) as under the cursor. */
void	ui_mark(struct ui *, struct ui_pos a, struct ui_pos b, int on);

/* Drawing (ui_draw.c). */
void	ui_message(struct ui *, int, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
int	ui_put(WINDOW *, const char *, int);
void	ui_draw_input(struct ui *);
void	ui_render(struct ui *, int);
int	ui_render_due(const struct ui *);
void	ui_layout(struct ui *);
void	ui_relayout(struct ui *);

#endif
