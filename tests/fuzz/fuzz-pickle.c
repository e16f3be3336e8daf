/*
 * fuzz-pickle.c: the restricted unpickler on any bytes.  An accepted
 * result is walked breadth-first (bounded: values may contain themselves)
 * and every string and tensor record is read.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "pickle.h"
#include "util.h"

const char *const fuzz_seeds[] = {
	"weights/train-data.pkl",
	"weights/plain-p2.pkl",
	"weights/plain-p4.pkl",
	"weights/plain-p5.pkl",
	NULL
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct pickle_value *queue[512];
	size_t head = 0, tail = 0, sum = 0;
	struct err err;
	struct pickle *p = pickle_parse(data, size, &err);

	if (p == NULL) {
		if (strlen(err.msg) == 0)
			__builtin_trap();	/* errors always say something */
		return 0;
	}
	queue[tail++] = pickle_root(p);
	while (head < tail) {
		const struct pickle_value *v = queue[head++];
		if (v->s != NULL)
			sum += strlen(v->s) + v->len;
		if (v->kind == PICKLE_TENSOR)
			sum += (size_t)v->storage->i + (size_t)v->n_dims;
		for (size_t i = 0; i < v->n_items && tail < 512; i++)
			queue[tail++] = v->items[i];
		(void)pickle_dict_get(v, "model");
	}
	pickle_free(p);
	return (int)(sum & 0);
}
