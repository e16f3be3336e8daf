#ifndef LMSH_HISTORY_H
#define LMSH_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "gen_types.h"

struct err;
struct history;
struct buf;

#define HISTORY_SCHEMA_VERSION	5	/* PRAGMA user_version this lmsh writes */
#define HISTORY_SCHEMA_READABLE	4	/* the oldest it reads without an
					   upgrade (5 added only views) */
#define HISTORY_BUSY_MS		5000	/* how long a write waits for a lock */

/* A recorded session (one run of lmsh). */
struct history_session_info {
	const char	*lmsh_version;
	const char	*model_path;	/* directory or checkpoint as given */
	const char	*fingerprint;	/* SHA-256 of weights + tokenizer files */
	const char	*config_json;	/* the model config as JSON */
	const char	*files;		/* per-file digests, sha256sum format;
					   with fingerprint NULL both are
					   computed from model_path */
	const char	*kernels;	/* kernel set in use ("skx avx512") */
	const char	*dtype;		/* weight dtype in use ("f32") */
};

/* A turn as stored and as read back.  When read back (history_get_turn) the
 * struct owns every string and array: free with history_turn_fini(). */
struct history_turn {
	int64_t			 id;		/* rowid; 0 before recording */
	int64_t			 session_id;	/* owning session */
	int			 seq_no;	/* order within the session */
	double			 time;		/* unix seconds at start */
	char			*model_path;	/* from the session (read back) */
	char			*fingerprint;	/* from the session (read back) */
	char			*prompt;	/* prompt text */
	size_t			 prompt_len;	/* its bytes; 0: strlen(prompt) */
	int32_t			*prompt_ids;	/* prompt token ids */
	size_t			 n_prompt;
	char			*output;	/* generated text (may hold NULs) */
	size_t			 output_len;	/* its bytes; 0: strlen(output) */
	int32_t			*output_ids;	/* generated ids */
	size_t			 n_output;
	struct gen_settings	 settings;	/* at the start of the turn */
	char			*stop_strings[GEN_MAX_STOP]; /* owned copies */
	struct gen_change	*changes;	/* live changes during the turn */
	size_t			 n_changes;
	enum gen_stop		 stop;		/* why it ended */
	double			 prefill_s;	/* prefill seconds */
	double			 decode_s;	/* decode seconds */
	int64_t			 replay_of;	/* turn it replays, or 0 */
	int64_t			 parent;	/* turn whose context it
						   continues, or 0: a root */
	int			 branch;	/* 1: a branch of parent at
						   branch_step */
	int			 branch_step;	/* parent's output tokens kept */
	int			 forced;	/* 1: forced_token was forced */
	int32_t			 forced_token;	/* at branch_step, not sampled */
	uint16_t		*probs;		/* per output token, p * 65535
						   rounded; NULL: not recorded */
	size_t			 n_probs;
	int			 undone;	/* dropped from its story */
	char			*session_name;	/* from the session (read back) */
	char			*config_json;	/* from the session (read back) */
	char			*files;		/* from the session (read back) */
	char			*kernels;	/* from the session (read back) */
	char			*dtype;		/* from the session (read back) */
};

/* Opening.  path NULL means the default ($LMSH_HISTORY, else
 * $XDG_DATA_HOME/lmsh/history.db).  A file that is read-only, locked, corrupt
 * or from a newer lmsh fails with one clear message; nothing is changed. */
char		*history_default_path(void);	/* caller frees */
struct history	*history_open(const char *path, int read_only, struct err *);
/* The same with a lock wait other than HISTORY_BUSY_MS (tests). */
struct history	*history_open_timeout(const char *path, int read_only,
		    int busy_ms, struct err *);
void		 history_close(struct history *);
const char	*history_path(const struct history *);
/* 1 when an operation on a file opened for writing failed since it was
 * opened (a turn may not have been recorded), else 0; NULL gives 0. */
int		 history_failed(const struct history *);

/* Model identity.  history_fingerprint() hashes the weights, config and
 * tokenizer files of a model directory (or the one checkpoint file): *files
 * gets one "HEX  NAME" line per file, *fingerprint the SHA-256 of those
 * lines; the caller frees both.  history_files_diff() names the files that
 * differ between two such lists ("model.safetensors, vocab.json"), or
 * returns NULL when they agree; the caller frees it. */
int		 history_fingerprint(const char *model_path, char **fingerprint,
		    char **files, struct err *);
/* The same through the file's digest cache (a checkpoint is hashed once
 * until it changes); h may be NULL. */
int		 history_model_fingerprint(struct history *,
		    const char *model_path, char **fingerprint, char **files,
		    struct err *);
char		*history_files_diff(const char *old_files,
		    const char *new_files);

/* Token probabilities as stored: p in [0, 1] to and from 16 bits. */
uint16_t	 history_prob_pack(double p);
double		 history_prob_unpack(uint16_t);

/* Recording. */
int64_t		 history_begin_session(struct history *,
		    const struct history_session_info *, struct err *);
int		 history_end_session(struct history *, int64_t, struct err *);
/* Record a finished (or interrupted) turn in one transaction; sets t->id
 * and t->seq_no (the next number in its session). */
int		 history_record_turn(struct history *, struct history_turn *,
		    struct err *);

/* Reading.  Lists append lines of text (or JSON) to out. */
int		 history_get_turn(struct history *, int64_t id,
		    struct history_turn *, struct err *);
void		 history_turn_fini(struct history_turn *);
/* Text lists are tables that fit width columns (0: no limit). */
int		 history_list_turns(struct history *, int n, int64_t session_id,
		    int json, size_t width, struct buf *out, struct err *);
int		 history_search_turns(struct history *, const char *query, int n,
		    int json, size_t width, struct buf *out, struct err *);
int		 history_show(struct history *, int64_t id, struct buf *out,
		    struct err *);
/* Turn id as one JSON object, as history_export() writes each. */
int		 history_show_json(struct history *, int64_t id,
		    struct buf *out, struct err *);
/* The story tree turn id belongs to, one line per turn (history show). */
int		 history_show_tree(struct history *, int64_t id, struct buf *out,
		    struct err *);
int		 history_export(struct history *, const int64_t *ids, size_t n,
		    int markdown, struct buf *out, struct err *);
/* A whole session: JSON as history_export(), Markdown as one story. */
int		 history_export_session(struct history *, int64_t session_id,
		    int markdown, struct buf *out, struct err *);
/* Delete turns: all of them in one transaction, or none. */
int		 history_delete_turns(struct history *, const int64_t *ids,
		    size_t n, struct err *);
int		 history_delete(struct history *, int64_t id, struct err *);

/* The story tree and sessions (schema version 4).  history_children() sets
 * *ids (caller frees) to the turns whose parent is id, oldest first.
 * history_set_undone() marks a turn dropped from its story (1) or back in
 * it (0).  history_set_session_name() names a session (NULL clears it);
 * history_find_session() reads a session id or name (the latest session of
 * that name), or with spec NULL or "" the latest session; "no session X"
 * when there is none. */
int		 history_children(struct history *, int64_t id, int64_t **ids,
		    size_t *n, struct err *);
int		 history_set_undone(struct history *, int64_t id, int undone,
		    struct err *);
int		 history_set_session_name(struct history *, int64_t session_id,
		    const char *name, struct err *);
int		 history_find_session(struct history *, const char *spec,
		    int64_t *session_id, struct err *);
/* Resuming (history_fmt.c).  history_last_turn() finds the last turn, not
 * undone, of the sessions whose id or name is spec (NULL: of any); its
 * parent chain is the story.  history_list_sessions() lists sessions. */
int		 history_last_turn(struct history *, const char *spec,
		    int64_t *id, struct err *);
int		 history_list_sessions(struct history *, struct buf *out,
		    struct err *);
/* The sampler settings as JSON fields of o (export; generate's jsonl). */
struct json_t;
struct sampler_params;
void		 history_json_sampling(struct json_t *,
		    const struct sampler_params *);
/* Earlier prompts, oldest first, for the REPL's up-arrow. */
int		 history_prompts(struct history *, int n,
		    void (*fn)(void *, const char *), void *, struct err *);

#endif
