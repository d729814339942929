#pragma once
int cnp_placeholder(void);
