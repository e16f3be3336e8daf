/*
 * fuzz-safetensors.c: the safetensors reader (weights_open_mem) on any
 * bytes.  Every tensor it accepts is read end to end, so that a bounds
 * check that is too loose shows up under AddressSanitizer.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "util.h"
#include "weights.h"

const char *const fuzz_seeds[] = {
	"weights/f32.safetensors",
	"weights/f32-unaligned.safetensors",
	"weights/bf16.safetensors",
	"weights/special-f16.safetensors",
	"weights/orig-mod.safetensors",
	NULL
};

/* Convert every element of every tensor: touches all the data. */
static void
fuzz_touch(const struct weights *w)
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err err;
	struct weights *w;

	/* zips belong to fuzz-pt */
	if (size >= 2 && memcmp(data, "PK", 2) == 0)
		return 0;
	if ((w = weights_open_mem("fuzz.safetensors", data, size, &err)) !=
	    NULL) {
		fuzz_touch(w);
		weights_close(w);
	} else if (strncmp(err.msg, "fuzz.safetensors: ", 18) != 0 ||
	    strchr(err.msg, '\n') != NULL) {
		__builtin_trap();	/* one line that names the file */
	}
	return 0;
}
