/* A fast HTTP/1.1 upstream for the warm (mode: http) benchmark: the floor the proxy is measured against.
 * Listens on 127.0.0.1:$PORT, one thread per connection, keep-alive. Reads each request's head and its body
 * (Content-Length or chunked), discards the body, and answers 200 "ok\n" with an X-Received header (the body's
 * byte count), or, for GET /big?bytes=N, N zero bytes with their Content-Length. "Connection: close" is honoured.
 * Usage: PORT=8080 upstream */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 65536
typedef struct { int fd; char buf[BUF]; size_t len, pos; } conn;

/* Fills the buffer with more bytes (keeping the unread ones); 0 when the peer is gone or the head is too long. */
static int fill(conn *c) {
  if (c->pos > 0) { memmove(c->buf, c->buf + c->pos, c->len - c->pos); c->len -= c->pos; c->pos = 0; }
  if (c->len == BUF) return 0;
  ssize_t n = read(c->fd, c->buf + c->len, BUF - c->len);
  if (n <= 0) return 0;
  c->len += n;
  return 1;
}

/* Discards n body bytes. */
static int skip(conn *c, unsigned long long n) {
  while (n > 0) {
    if (c->pos == c->len && !fill(c)) return 0;
    size_t k = c->len - c->pos < n ? c->len - c->pos : n;
    c->pos += k; n -= k;
  }
  return 1;
}

/* One CRLF-ended line at c->pos (without CRLF), NUL-terminated in place. */
static char *line(conn *c) {
  char *end;
  while (!(end = memmem(c->buf + c->pos, c->len - c->pos, "\r\n", 2))) if (!fill(c)) return NULL;
  char *start = c->buf + c->pos;
  *end = 0;
  c->pos = end + 2 - c->buf;
  return start;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) { ssize_t w = write(fd, p, n); if (w <= 0) return 0; p += w; n -= w; }
  return 1;
}

static void *serve(void *arg) {
  static const char zeros[BUF];
  conn *c = arg;
  for (;;) {
    char *request = line(c), *h;
    if (!request) break;
    if (!*request) continue;  /* a stray CRLF between requests */
    char method[16] = "", target[1024] = "";
    sscanf(request, "%15s %1023s", method, target);
    long long length = 0; int chunked = 0, close_after = 0;
    while ((h = line(c)) && *h) {
      if (!strncasecmp(h, "Content-Length:", 15)) length = atoll(h + 15);
      else if (!strncasecmp(h, "Transfer-Encoding:", 18) && strcasestr(h, "chunked")) chunked = 1;
      else if (!strncasecmp(h, "Connection:", 11) && strcasestr(h, "close")) close_after = 1;
    }
    if (!h) break;
    unsigned long long received = 0;
    if (chunked) {
      for (;;) {
        char *size = line(c);
        if (!size) goto done;
        unsigned long long n = strtoull(size, NULL, 16);
        if (n == 0) { while ((h = line(c)) && *h) {} if (!h) goto done; break; }  /* trailers */
        if (!skip(c, n) || !line(c)) goto done;
        received += n;
      }
    } else if (length > 0) {
      if (!skip(c, length)) break;
      received = length;
    }
    char head[256];
    const char *big = strncmp(target, "/big", 4) == 0 ? strstr(target, "bytes=") : NULL;
    if (big) {
      unsigned long long n = strtoull(big + 6, NULL, 10);
      int k = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %llu\r\n\r\n", n);
      if (!write_all(c->fd, head, k)) break;
      while (n > 0) { size_t k2 = n < BUF ? n : BUF; if (!write_all(c->fd, zeros, k2)) goto done; n -= k2; }
    } else {
      int k = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Received: %llu\r\nContent-Length: 3\r\n\r\nok\n", received);
      if (!write_all(c->fd, head, k)) break;
    }
    if (close_after) break;
  }
done:
  close(c->fd);
  free(c);
  return NULL;
}

int main(void) {
  const char *port = getenv("PORT");
  if (!port) { fprintf(stderr, "upstream: PORT is not set\n"); return 2; }
  signal(SIGPIPE, SIG_IGN);
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(port))};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 512)) { perror("upstream: bind/listen"); return 1; }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  for (;;) {
    int fd = accept4(s, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) continue;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *c = calloc(1, sizeof *c);
    c->fd = fd;
    pthread_t t;
    if (pthread_create(&t, &attr, serve, c)) { close(fd); free(c); }
  }
}
