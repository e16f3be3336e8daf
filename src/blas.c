/* Placeholder; the owner replaces it. */
#include "config.h"
#include "blas.h"
int blas_placeholder_;
