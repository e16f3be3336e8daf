/*
 * fuzz-pt.c: the PyTorch checkpoint path (zip via libzip, data.pkl via the
 * restricted unpickler, storages) on any bytes.  Accepted tensors are read
 * end to end.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "util.h"
#include "weights.h"

const char *const fuzz_seeds[] = {
	"weights/raw.pt",
	"weights/train.pt",
	"weights/proto4.pt",
	"weights/bf16.pt",
	"weights/param.pt",
	"weights/cs336-2024-zeros.pt",
	"weights/fuzz-oom-size.pt",
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
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err err;
	struct weights *w = weights_open_mem("fuzz.pt", data, size, &err);

	if (w != NULL) {
		fuzz_touch(w);
		weights_close(w);
	} else if (strncmp(err.msg, "fuzz.pt: ", 9) != 0 ||
	    strchr(err.msg, '\n') != NULL) {
		__builtin_trap();	/* one line that names the file */
	}
	return 0;
}
