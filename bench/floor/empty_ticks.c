/* The cost of the sampling signal itself, with nothing done per tick.
 *
 * Preloaded into an unprofiled python (LD_PRELOAD), this arms the same kind
 * of timer pyinstrument-rs's signal mode arms (a per-thread CLOCK_MONOTONIC
 * POSIX timer delivering SIGPROF to the main thread, one-shot, re-armed at
 * the end of each tick) with a handler that does nothing else. What the
 * program loses against a plain run is the kernel's (and, in a virtual
 * machine, the hypervisor's) price of a timer interrupt plus a signal
 * delivery and return, which no signal-driven sampler can avoid: the floor
 * under bench/overhead.py's signal-mode ratio.
 *
 * PYI_FLOOR_INTERVAL_NS sets the interval (default 1000000, 1 ms).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static timer_t timer;
static struct itimerspec one_shot;

static void on_tick(int signo, siginfo_t *info, void *context) {
    (void)signo; (void)info; (void)context;
    timer_settime(timer, 0, &one_shot, NULL);
}

__attribute__((constructor)) static void arm(void) {
    const char *text = getenv("PYI_FLOOR_INTERVAL_NS");
    long interval = text ? atol(text) : 1000000L;
    if (interval <= 0) return;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_tick;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGPROF, &action, NULL) != 0) return;
    struct sigevent event;
    memset(&event, 0, sizeof event);
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = SIGPROF;
    event._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    if (timer_create(CLOCK_MONOTONIC, &event, &timer) != 0) return;
    one_shot.it_value.tv_sec = interval / 1000000000L;
    one_shot.it_value.tv_nsec = interval % 1000000000L;
    timer_settime(timer, 0, &one_shot, NULL);
}
