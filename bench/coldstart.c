/* Cold start: time from exec of the server to the first correct 200 from POST /function/cat,
 * polled with a raw socket about every millisecond (a curl loop costs ~6 ms a try here).
 * Usage: coldstart [-b BYTES] RUNS PORT BINARY [ARGS...]; prints one line per run: the milliseconds
 * to the first 200, then to the first accepted connection (the server listening).
 * The body sent is "probe" (5 bytes), or with -b BYTES that many bytes of a pattern; a try counts
 * when the answer is a 200 whose body (Content-Length or chunked, as Warp answers) is the body sent. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static char *probe_body = "probe";
static size_t probe_len = 5;

/* The body of a complete HTTP/1.1 response in buf (got bytes, NUL-terminated), decoded when chunked, into out;
 * its length, or -1 when the answer is not a whole 200. */
static long response_body(char *buf, size_t got, char *out, size_t cap) {
  if (strncmp(buf, "HTTP/1.1 200", 12) != 0) return -1;
  char *end = strstr(buf, "\r\n\r\n");
  if (!end) return -1;
  *end = 0;
  int chunked = strcasestr(buf, "\r\ntransfer-encoding: chunked") != NULL;
  *end = '\r';
  char *p = end + 4, *stop = buf + got;
  if (!chunked) {
    if ((size_t)(stop - p) > cap) return -1;
    memcpy(out, p, stop - p);
    return stop - p;
  }
  size_t n = 0;
  for (;;) {
    char *line_end;
    long size = strtol(p, &line_end, 16);
    if (line_end == p || size < 0) return -1;
    char *data = strstr(line_end, "\r\n");
    if (!data) return -1;
    data += 2;
    if (size == 0) return n;
    if (data + size > stop || n + size > cap) return -1;
    memcpy(out + n, data, size);
    n += size;
    p = data + size + 2;
    if (p > stop) return -1;
  }
}

/* One try: 1 when the server answered 200 with the body echoed; *connected_at is set when it accepted. */
static int try_request(int port, double *connected_at) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  int ok = 0;
  if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
    *connected_at = now_ms();
    static char req[70000], buf[80000], echoed[70000];
    int head = snprintf(req, sizeof req, "POST /function/cat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", probe_len);
    memcpy(req + head, probe_body, probe_len);
    size_t len = head + probe_len;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (write(s, req, len) == (ssize_t)len) {
      size_t got = 0;
      ssize_t n;
      while (got < sizeof buf - 1 && (n = read(s, buf + got, sizeof buf - 1 - got)) > 0) got += n;
      buf[got] = 0;
      long body = response_body(buf, got, echoed, sizeof echoed);
      ok = body == (long)probe_len && memcmp(echoed, probe_body, probe_len) == 0;
    }
  }
  close(s);
  return ok;
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "-b") == 0) {
    long bytes = atol(argv[2]);
    if (bytes < 1 || bytes > 65536) { fprintf(stderr, "coldstart: -b takes 1 to 65536 bytes\n"); return 2; }
    probe_len = bytes;
    probe_body = malloc(probe_len);
    for (size_t i = 0; i < probe_len; i++) probe_body[i] = 'a' + i % 26;
    argc -= 2;
    argv += 2;
  }
  if (argc < 4) { fprintf(stderr, "usage: coldstart [-b BYTES] RUNS PORT BINARY [ARGS...]\n"); return 2; }
  int runs = atoi(argv[1]);
  int port = atoi(argv[2]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  for (int r = 0; r < runs; r++) {
    pid_t pid;
    double start = now_ms();
    int rc = posix_spawn(&pid, argv[3], &fa, NULL, argv + 3, environ);
    if (rc) { fprintf(stderr, "spawn %s: %s\n", argv[3], strerror(rc)); return 1; }
    double elapsed = -1, listening = -1;
    while (now_ms() - start < 10000) {
      double connected_at = -1;
      int ok = try_request(port, &connected_at);
      if (connected_at >= 0 && listening < 0) listening = connected_at - start;
      if (ok) { elapsed = now_ms() - start; break; }
      int status;
      if (waitpid(pid, &status, WNOHANG) == pid) { fprintf(stderr, "server exited early\n"); return 1; }
      struct timespec pause = {0, 1000000};
      nanosleep(&pause, NULL);
    }
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    if (elapsed < 0) { fprintf(stderr, "no 200 within 10 s\n"); return 1; }
    printf("%.2f %.2f\n", elapsed, listening);
    fflush(stdout);
  }
  return 0;
}
