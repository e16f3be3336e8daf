/*
 * fuzz-safetensors.c: the safetensors reader (weights_open_mem) on any
 * bytes.  Every tensor it accepts is read end to end, so that a bounds
 * check that is too loose shows up under AddressSanitizer.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "fuzz-weights.h"
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
		fuzz_touch_weights(w);
		weights_close(w);
	} else if (strncmp(err.msg, "fuzz.safetensors: ", 18) != 0 ||
	    strchr(err.msg, '\n') != NULL) {
		__builtin_trap();	/* one line that names the file */
	}
	return 0;
}
