#ifndef LMSH_UI_H
#define LMSH_UI_H

struct repl;

/* The curses REPL: transcript, candidate panel, status line and a readline
 * input line.  Runs until /quit or Ctrl-D and returns an exit status; -1
 * when the terminal cannot be used (the caller falls back to line mode). */
int	ui_run(struct repl *);

#endif
