#ifndef LMSH_GEN_TYPES_H
#define LMSH_GEN_TYPES_H
/*
 * gen_types.h: the plain data that describes a generation's turn: the
 * settings it starts with, why it ended and the settings changed while it
 * ran.  generate.h and history.h share it, so that the history (which
 * stores turns) needs nothing of the generation engine.
 */

#include <stdint.h>

#include "sampler.h"

#define GEN_MAX_STOP		8
#define GEN_MAX_NEW_DEFAULT	256
#define GEN_MAX_NEW_MIN		0	/* max_new_tokens range, everywhere; */
#define GEN_MAX_NEW_MAX		(1 << 24) /* 0 only prefills */

/* Everything a turn starts with.  Stop strings are copied by gen_new(). */
struct gen_settings {
	struct sampler_params	 sp;		/* sampling knobs */
	uint64_t		 seed;		/* RNG seed of the turn */
	int			 max_new_tokens; /* per sequence */
	int			 eos_id;	/* -1: no end-of-text token */
	const char		*stop[GEN_MAX_STOP]; /* stop strings */
	int			 n_stop;	/* entries used in stop[] */
};

enum gen_stop {
	GEN_RUNNING = 0,
	GEN_STOP_EOS,		/* sampled eos_id (not emitted as text) */
	GEN_STOP_MAX,		/* max_new_tokens reached */
	GEN_STOP_STRING,	/* a stop string appeared (not emitted) */
	GEN_STOP_CONTEXT,	/* the context window is full */
	GEN_STOP_INTERRUPTED,	/* gen_interrupt() (Ctrl-C) */
	GEN_STOP_ERROR		/* a model error */
};

/* A setting changed during a turn: applies from token `step` onwards. */
struct gen_change {
	int		 step;		/* first token sampled with the value */
	char		 name[16];	/* "temperature", "top_p", "top_k", ... */
	double		 value;		/* the new value */
};

#endif
