/*
 * check.h: the whole unit-test framework.  CHECK() prints file:line and the
 * failed expression and counts the failure; CHECK_SKIP() says why a part
 * could not run (a fixture outside the tree is absent); CHECK_RESULT() ends
 * the program with the Automake exit code: 1 if a check failed, else 77
 * (SKIP) if a part was skipped, else 0.
 */
#ifndef LMSH_CHECK_H
#define LMSH_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures;
static int check_count;
static int check_skips;

#define CHECK(cond) do {						\
	check_count++;							\
	if (!(cond)) {							\
		check_failures++;					\
		fprintf(stderr, "%s:%d: check failed: %s\n",		\
		    __FILE__, __LINE__, #cond);				\
	}								\
} while (0)

#define CHECK_MSG(cond, ...) do {					\
	check_count++;							\
	if (!(cond)) {							\
		check_failures++;					\
		fprintf(stderr, "%s:%d: check failed: %s: ",		\
		    __FILE__, __LINE__, #cond);				\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
	}								\
} while (0)

#define CHECK_NEAR(a, b, tol) CHECK_MSG(fabs((double)(a) - (double)(b)) <= \
	(tol), "%.9g vs %.9g (tol %g)", (double)(a), (double)(b), (double)(tol))

#define CHECK_SKIP(...) do {						\
	check_skips++;							\
	fprintf(stderr, "%s:%d: skipped: ", __FILE__, __LINE__);	\
	fprintf(stderr, __VA_ARGS__);					\
	fputc('\n', stderr);						\
} while (0)

#define CHECK_RESULT() do {						\
	fprintf(stderr, "%d checks, %d failed, %d parts skipped\n",	\
	    check_count, check_failures, check_skips);			\
	return check_failures ? 1 : check_skips ? 77 : 0;		\
} while (0)

/* Directory of committed fixtures; set by the harness (AM_TESTS_ENVIRONMENT). */
static inline const char *
check_data_dir(void)
{
	const char *d = getenv("LMSH_TEST_DATA");
	return d != NULL ? d : "tests/data";
}

#endif
