#include "cnetpoll.h"
int cnp_placeholder(void) { return 0; }
