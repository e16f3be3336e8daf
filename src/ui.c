/* Placeholder; the owner replaces it. */
#include "config.h"
int ui_placeholder_;
