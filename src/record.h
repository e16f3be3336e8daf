#ifndef LMSH_RECORD_H
#define LMSH_RECORD_H
/*
 * record.h: a generation becomes a history record.  The front ends call
 * these, so that the history (storage) knows nothing of the generation
 * engine or the model, and the engine nothing of the history.
 */

struct gen_session;
struct history_turn;
struct lm_model;

/* Fill a turn from a finished generation session's sequence seq, with
 * owned copies of everything (free with history_turn_fini()); session_id,
 * seq_no and replay_of are left 0 for the caller. */
void		 record_turn(struct history_turn *, const struct gen_session *,
		    int seq, const char *prompt);
/* The model config as one JSON object with config.json's keys; caller
 * frees. */
char		*record_config_json(const struct lm_model *);
/* What the model computes with, for the session record and the replay
 * check: the kernel set ("mv avx512 bf16, blis skx"; caller frees) and the
 * weight dtype as stored ("bf16"; static). */
char		*record_kernels(const struct lm_model *);
const char	*record_dtype(const struct lm_model *);

#endif
