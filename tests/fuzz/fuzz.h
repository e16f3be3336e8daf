/*
 * fuzz.h: what each harness in tests/fuzz/ provides.  A harness defines
 * LLVMFuzzerTestOneInput() (libFuzzer's entry point, used by `make fuzz`)
 * and lists its seed inputs, relative to tests/data, for replay.c (the
 * plain-C driver that `make check` runs) and for fuzz.sh's starting corpus.
 */
#ifndef LMSH_FUZZ_H
#define LMSH_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

extern const char *const fuzz_seeds[];	/* NULL-terminated */

#endif
