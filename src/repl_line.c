/* Placeholder; the owner replaces it. */
#include "config.h"
int repl_line_placeholder_;
