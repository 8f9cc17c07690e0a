/* SPDX-License-Identifier: MIT */
/*
 * util/clock.h - deadlines for pthread_cond_timedwait(); not installed.
 * A leaf every layer may include (it includes nothing of spp's).
 */
#ifndef SPP_UTIL_CLOCK_H
#define SPP_UTIL_CLOCK_H

#include <time.h>

/*
 * spp_clock_deadline() - *@ts = now + @ms milliseconds on CLOCK_REALTIME,
 * the clock pthread_cond_timedwait() measures a default condition
 * variable's timeout against. @ms >= 0.
 */
static inline void spp_clock_deadline(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

#endif
