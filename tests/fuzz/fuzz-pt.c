/*
 * fuzz-pt.c: the PyTorch checkpoint path (zip via libzip, data.pkl via the
 * restricted unpickler, storages) on any bytes.  Accepted tensors are read
 * end to end.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "fuzz-weights.h"
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
	"weights/bomb-pickle.pt",
	"weights/bomb-storage.pt",
	NULL
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err err;
	struct weights *w = weights_open_mem("fuzz.pt", data, size, &err);

	if (w != NULL) {
		fuzz_touch_weights(w);
		weights_close(w);
	} else if (strncmp(err.msg, "fuzz.pt: ", 9) != 0 ||
	    strchr(err.msg, '\n') != NULL) {
		__builtin_trap();	/* one line that names the file */
	}
	return 0;
}
