/* Placeholder; the owner replaces it. */
#include "config.h"
#include "pickle.h"
int pickle_placeholder_;
