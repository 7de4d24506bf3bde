/*
 * Load generator and backend for the Ambit benchmarks.
 *
 * Written in C so that neither the traffic source nor the backend runs on Node: the proxies under test are
 * the only Node processes, and their CPU cost is not mixed with the cost of producing or consuming load.
 *
 * Modes:
 *   backend-server <host> <port>                  accept connections (port 0 = ephemeral), one child per
 *                                                 connection; prints {"listening":<port>} once bound
 *   bulk-client <host> <port> <bytes>             send <bytes> one way to the sink, wait for its count
 *   pingpong-client <host> <port> <n> <size> [w]  <w> unmeasured then <n> measured round trips of <size>
 *
 * Wire protocol (client to backend), so that one backend and one proxy route serve both workloads:
 *   16-byte header: 8-byte op ("AMBTBULK" or "AMBTECHO"), then an unsigned 64-bit big-endian length.
 *   AMBTBULK: the client sends <length> bytes; the backend reads exactly that many, then answers with the
 *             8-byte big-endian count it received, then waits for the client to close.
 *   AMBTECHO: the backend echoes every byte until the client closes (length is ignored).
 * The bulk ack makes the measured time end-to-end (the last byte reached the backend, not just a buffer)
 * and lets the harness check that every byte crossed the path; the echo check compares content.
 *
 * Clients print one JSON line on stdout and exit 0, or print the reason on stderr and exit 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define HEADER_LEN 16
#define BULK_BUF (256 * 1024)
#define ECHO_BUF (64 * 1024)
/* A path that stalls this long is broken: fail instead of hanging the benchmark. */
#define IO_TIMEOUT_S 30

static const char OP_BULK[8] = {'A', 'M', 'B', 'T', 'B', 'U', 'L', 'K'};
static const char OP_ECHO[8] = {'A', 'M', 'B', 'T', 'E', 'C', 'H', 'O'};

static void fail(const char *what) {
  fprintf(stderr, "loadgen: %s\n", what);
  exit(1);
}

static void fail_errno(const char *what) {
  fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
  exit(1);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    p[i] = (unsigned char)(v & 0xff);
    v >>= 8;
  }
}

static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
  return v;
}

static int parse_u64(const char *s, uint64_t *out) {
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || s[0] == '-') return -1;
  *out = (uint64_t)v;
  return 0;
}

/* Reads exactly n bytes. Returns 0, or -1 on error, or 1 on EOF before n bytes. */
static int read_full(int fd, void *buf, size_t n) {
  unsigned char *p = buf;
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) return 1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static int write_full(int fd, const void *buf, size_t n) {
  const unsigned char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void set_timeouts(int fd) {
  struct timeval tv = {.tv_sec = IO_TIMEOUT_S, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static struct addrinfo *resolve(const char *host, const char *port, int passive) {
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0) {
    fprintf(stderr, "loadgen: bad address %s:%s: %s\n", host, port, gai_strerror(rc));
    exit(1);
  }
  return res;
}

static int connect_to(const char *host, const char *port) {
  struct addrinfo *ai = resolve(host, port, 0);
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail_errno("socket");
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
    fprintf(stderr, "loadgen: connect %s:%s: %s\n", host, port, strerror(errno));
    exit(1);
  }
  freeaddrinfo(ai);
  set_timeouts(fd);
  return fd;
}

/* ---- backend ---- */

static int serve_bulk(int fd, uint64_t expect) {
  static unsigned char buf[BULK_BUF];
  uint64_t got = 0;
  while (got < expect) {
    size_t want = expect - got < BULK_BUF ? (size_t)(expect - got) : BULK_BUF;
    ssize_t r = read(fd, buf, want);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (uint64_t)r;
  }
  unsigned char ack[8];
  put_u64(ack, got);
  if (write_full(fd, ack, sizeof ack) < 0) return 1;
  /* Wait for the client to close, so the ack is not cut off by a reset. */
  while (read(fd, buf, sizeof buf) > 0) {
  }
  return got == expect ? 0 : 1;
}

static int serve_echo(int fd) {
  static unsigned char buf[ECHO_BUF];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return 1;
    if (r == 0) return 0;
    if (write_full(fd, buf, (size_t)r) < 0) return 1;
  }
}

static int serve_connection(int fd) {
  set_timeouts(fd);
  set_nodelay(fd);
  unsigned char header[HEADER_LEN];
  if (read_full(fd, header, sizeof header) != 0) return 1;
  if (memcmp(header, OP_BULK, 8) == 0) return serve_bulk(fd, get_u64(header + 8));
  if (memcmp(header, OP_ECHO, 8) == 0) return serve_echo(fd);
  fprintf(stderr, "loadgen: backend: unknown operation in header\n");
  return 1;
}

static int backend_server(const char *host, const char *port) {
  /* The harness owns this process: if it dies, so do we (and our children, in turn). */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
  struct addrinfo *ai = resolve(host, port, 1);
  int lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0) fail_errno("socket");
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, ai->ai_addr, ai->ai_addrlen) < 0) fail_errno("bind");
  freeaddrinfo(ai);
  if (listen(lfd, 128) < 0) fail_errno("listen");
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(lfd, (struct sockaddr *)&ss, &sl) < 0) fail_errno("getsockname");
  int bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
  printf("{\"listening\":%d}\n", bound);
  fflush(stdout);
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      fail_errno("accept");
    }
    pid_t pid = fork();
    if (pid < 0) fail_errno("fork");
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      close(lfd);
      _exit(serve_connection(fd));
    }
    close(fd);
  }
}

/* ---- clients ---- */

static int bulk_client(const char *host, const char *port, uint64_t bytes) {
  static unsigned char buf[BULK_BUF];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 31 + 7);
  int fd = connect_to(host, port);
  double t0 = now_s();
  unsigned char header[HEADER_LEN];
  memcpy(header, OP_BULK, 8);
  put_u64(header + 8, bytes);
  if (write_full(fd, header, sizeof header) < 0) fail_errno("bulk: write header");
  uint64_t sent = 0;
  while (sent < bytes) {
    size_t n = bytes - sent < BULK_BUF ? (size_t)(bytes - sent) : BULK_BUF;
    if (write_full(fd, buf, n) < 0) fail_errno("bulk: write");
    sent += n;
  }
  unsigned char ack[8];
  int rc = read_full(fd, ack, sizeof ack);
  if (rc < 0) fail_errno("bulk: read ack");
  if (rc > 0) fail("bulk: connection closed before the backend acknowledged the bytes");
  double t1 = now_s();
  uint64_t acked = get_u64(ack);
  close(fd);
  printf("{\"mode\":\"bulk\",\"bytes\":%llu,\"acked\":%llu,\"seconds\":%.6f}\n", (unsigned long long)sent,
         (unsigned long long)acked, t1 - t0);
  if (acked != bytes) {
    fprintf(stderr, "loadgen: bulk: backend received %llu of %llu bytes\n", (unsigned long long)acked,
            (unsigned long long)bytes);
    return 1;
  }
  return 0;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples, in microseconds. */
static double percentile_us(const uint64_t *sorted, uint64_t n, double p) {
  uint64_t rank = (uint64_t)((p / 100.0) * (double)n + 0.999999999);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return (double)sorted[rank - 1] / 1000.0;
}

static int pingpong_client(const char *host, const char *port, uint64_t n, uint64_t size, uint64_t warmup) {
  if (n == 0 || size == 0) fail("pingpong: round trips and size must be positive");
  unsigned char *out = malloc(size), *in = malloc(size);
  uint64_t *lat = malloc(n * sizeof *lat);
  if (!out || !in || !lat) fail("pingpong: out of memory");
  for (uint64_t i = 0; i < size; i++) out[i] = (unsigned char)(i * 13 + 1);
  int fd = connect_to(host, port);
  set_nodelay(fd);
  unsigned char header[HEADER_LEN];
  memcpy(header, OP_ECHO, 8);
  put_u64(header + 8, 0);
  if (write_full(fd, header, sizeof header) < 0) fail_errno("pingpong: write header");
  double t0 = 0;
  uint64_t total = warmup + n;
  for (uint64_t i = 0; i < total; i++) {
    if (i == warmup) t0 = now_s();
    out[0] = (unsigned char)i; /* a different message each round, so a stale echo cannot pass */
    uint64_t start = now_ns();
    if (write_full(fd, out, size) < 0) fail_errno("pingpong: write");
    int rc = read_full(fd, in, size);
    if (rc < 0) fail_errno("pingpong: read");
    if (rc > 0) fail("pingpong: connection closed mid-exchange");
    uint64_t end = now_ns();
    if (memcmp(in, out, size) != 0) fail("pingpong: echo differs from what was sent");
    if (i >= warmup) lat[i - warmup] = end - start;
  }
  double t1 = now_s();
  close(fd);
  double sum = 0;
  for (uint64_t i = 0; i < n; i++) sum += (double)lat[i];
  qsort(lat, n, sizeof *lat, cmp_u64);
  printf("{\"mode\":\"pingpong\",\"round_trips\":%llu,\"size\":%llu,\"bytes\":%llu,\"seconds\":%.6f,"
         "\"p50_us\":%.3f,\"p90_us\":%.3f,\"p99_us\":%.3f,\"max_us\":%.3f,\"mean_us\":%.3f}\n",
         (unsigned long long)n, (unsigned long long)size, (unsigned long long)(2 * n * size), t1 - t0,
         percentile_us(lat, n, 50), percentile_us(lat, n, 90), percentile_us(lat, n, 99),
         (double)lat[n - 1] / 1000.0, sum / (double)n / 1000.0);
  free(out);
  free(in);
  free(lat);
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen backend-server <host> <port>\n"
          "       loadgen bulk-client <host> <port> <bytes>\n"
          "       loadgen pingpong-client <host> <port> <round-trips> <size> [warmup]\n");
  exit(2);
}

static uint64_t arg_u64(const char *s, const char *name) {
  uint64_t v;
  if (parse_u64(s, &v) != 0) {
    fprintf(stderr, "loadgen: %s must be a non-negative integer, got \"%s\"\n", name, s);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN); /* a closed peer shows up as EPIPE from write, with a message */
  if (argc < 2) usage();
  const char *mode = argv[1];
  if (strcmp(mode, "backend-server") == 0 && argc == 4) return backend_server(argv[2], argv[3]);
  if (strcmp(mode, "bulk-client") == 0 && argc == 5) return bulk_client(argv[2], argv[3], arg_u64(argv[4], "bytes"));
  if (strcmp(mode, "pingpong-client") == 0 && (argc == 6 || argc == 7)) {
    uint64_t n = arg_u64(argv[4], "round-trips");
    uint64_t size = arg_u64(argv[5], "size");
    uint64_t warmup = argc == 7 ? arg_u64(argv[6], "warmup") : 0;
    return pingpong_client(argv[2], argv[3], n, size, warmup);
  }
  usage();
  return 2;
}
