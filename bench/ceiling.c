/* The physical ceiling of a process-per-request server on this machine: posix_spawn `cat` with
 * stdin, stdout and stderr pipes, write the request body, read stdout and stderr to their end,
 * reap. No HTTP, no runtime. Usage: ceiling THREADS SECONDS BODY_BYTES; prints spawns/s. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
static double seconds_to_run;
static size_t body_size;
static char *body;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void one_run(void) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) { perror("pipe2"); exit(1); }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  char *argv[] = {"cat", NULL};
  pid_t pid;
  int rc = posix_spawnp(&pid, "cat", &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(in[0]); close(out[1]); close(err[1]);
  if (rc) { fprintf(stderr, "posix_spawnp: %s\n", strerror(rc)); exit(1); }
  if (write(in[1], body, body_size) != (ssize_t)body_size) { perror("write"); exit(1); }
  close(in[1]);
  char buf[65536];
  size_t got = 0;
  struct pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds) {
    poll(fds, 2, -1);
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd >= 0 && fds[i].revents) {
        ssize_t n = read(fds[i].fd, buf, sizeof buf);
        if (n <= 0) { close(fds[i].fd); fds[i].fd = -1; open_fds--; }
        else if (i == 0) got += n;
      }
    }
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (got != body_size) { fprintf(stderr, "short read %zu\n", got); exit(1); }
}

static void *worker(void *arg) {
  long *count = arg;
  double end = now() + seconds_to_run;
  while (now() < end) { one_run(); (*count)++; }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 4) { fprintf(stderr, "usage: ceiling THREADS SECONDS BODY_BYTES\n"); return 2; }
  int threads = atoi(argv[1]);
  seconds_to_run = atof(argv[2]);
  body_size = (size_t)atol(argv[3]);
  body = malloc(body_size);
  memset(body, 'x', body_size);
  pthread_t t[64];
  long counts[64] = {0};
  double start = now();
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, &counts[i]);
  long total = 0;
  for (int i = 0; i < threads; i++) { pthread_join(t[i], NULL); total += counts[i]; }
  printf("%.0f\n", total / (now() - start));
  return 0;
}
