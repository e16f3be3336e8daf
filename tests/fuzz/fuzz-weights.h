/*
 * fuzz-weights.h: what the safetensors and .pt harnesses do with a
 * checkpoint that opened, so that a tensor whose header lies about its size
 * shows up as an out-of-bounds read under the sanitizers.
 */
#ifndef LMSH_FUZZ_WEIGHTS_H
#define LMSH_FUZZ_WEIGHTS_H

#include "weights.h"

/* Convert every element of every tensor, and find each by its name. */
static inline void
fuzz_touch_weights(const struct weights *w)
{
	float buf[256];

	for (size_t i = 0; i < weights_count(w); i++) {
		const struct weights_tensor *t = weights_get(w, i);
		size_t es = t->dtype == WEIGHTS_F32 ? 4 : 2;
		for (size_t j = 0; j < t->n_elems; j += 256) {
			size_t k = t->n_elems - j < 256 ? t->n_elems - j : 256;
			weights_to_f32(t->dtype, (const char *)t->data + j * es,
			    buf, k);
		}
		if (weights_find(w, t->name) == NULL)
			__builtin_trap();
	}
}

#endif
