/* Placeholder; the owner replaces it. */
#include "config.h"
int commands_placeholder_;
