/*
 * The sandbox ("pause") container of every pod: it holds the pod's namespaces open, so it only
 * has to wait. As PID 1 of the pod's PID namespace (when shared) it also reaps orphaned children.
 * Same behaviour as Kubernetes' build/pause/linux/pause.c, written here so that the image
 * registry.k8s.io/pause:$PAUSE_VERSION can be built without a registry (docs/adr/0008).
 *
 * Build: gcc -static -O2 -DPAUSE_VERSION='"3.10"' -o pause pause.c && strip pause
 * SIGTERM/SIGINT: exit 0. SIGCHLD: reap every exited child. Anything else: keep waiting.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PAUSE_VERSION
#define PAUSE_VERSION "unknown"
#endif

static void on_stop(int signo) {
  (void)signo;
  _exit(0);
}

static void on_child(int signo) {
  (void)signo;
  int saved = errno; /* waitpid may clobber errno under the interrupted code */
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

static int handle(int signo, void (*fn)(int), int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = fn;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  return sigaction(signo, &sa, NULL);
}

int main(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
    printf("pause %s\n", PAUSE_VERSION);
    return 0;
  }
  if (handle(SIGINT, on_stop, 0) < 0 || handle(SIGTERM, on_stop, 0) < 0 ||
      handle(SIGCHLD, on_child, SA_NOCLDSTOP | SA_RESTART) < 0) {
    perror("pause: sigaction");
    return 1;
  }
  if (getpid() != 1) {
    /* Not an error (a pod without a shared PID namespace, or a test): say so, like upstream. */
    fprintf(stderr, "pause: warning: not PID 1, orphaned processes will not be reaped here\n");
  }
  for (;;) {
    pause();
  }
  /* not reached */
  return 42;
}
