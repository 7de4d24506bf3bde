/*
 * Socket options Node's `net` cannot set: IP_TRANSPARENT / IP_FREEBIND (TPROXY capture and spoofed-source
 * dials), SO_MARK (loop prevention) and SO_ORIGINAL_DST (REDIRECT capture). Only plain syscalls on file
 * descriptors: the TypeScript side hands the fds to `net.Server.listen({ fd })` / `new net.Socket({ fd })`.
 *
 * Failures throw an Error carrying `errno` (a positive number) and `syscall` (which option or call failed);
 * src/index.ts turns it into a SockoptError with the errno's name and a message for people.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* From linux/netfilter_ipv4.h and linux/netfilter_ipv6/ip6_tables.h, which clash with netinet/in.h. */
#define SO_ORIGINAL_DST 80
#define IP6T_SO_ORIGINAL_DST 80

static napi_value fail(napi_env env, int err, const char *syscall) {
  napi_value label, error, code;
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &label);
  napi_create_error(env, NULL, label, &error);
  napi_create_int32(env, err, &code);
  napi_set_named_property(env, error, "errno", code);
  napi_set_named_property(env, error, "syscall", label);
  napi_throw(env, error);
  return NULL;
}

/* Reads up to 3 arguments; a wrong type is a TypeError (src/index.ts validates first, so this is a backstop). */
static int args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, "sockopt: missing argument");
    return 0;
  }
  return 1;
}

static int int_arg(napi_env env, napi_value v, int32_t *out) {
  if (napi_get_value_int32(env, v, out) == napi_ok) return 1;
  napi_throw_type_error(env, NULL, "sockopt: expected an integer");
  return 0;
}

/* Parses "ip" + port into a sockaddr; returns its length, or 0 after throwing. */
static socklen_t addr_arg(napi_env env, napi_value ip, int32_t port, struct sockaddr_storage *ss) {
  char text[INET6_ADDRSTRLEN + 1];
  size_t len = 0;
  memset(ss, 0, sizeof *ss);
  if (napi_get_value_string_utf8(env, ip, text, sizeof text, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "sockopt: expected an IP address string");
    return 0;
  }
  struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    return sizeof *v4;
  }
  if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    return sizeof *v6;
  }
  napi_throw_type_error(env, NULL, "sockopt: not an IP address");
  return 0;
}

static int domain_of(int fd) {
  int domain = 0;
  socklen_t len = sizeof domain;
  return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 ? domain : -1;
}

static int set_int(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value);
}

/* IP_TRANSPARENT for IPv4 sockets, IPV6_TRANSPARENT for IPv6 ones; returns the label of the option set. */
static const char *set_transparent(int fd, int domain) {
  if (domain == AF_INET6) return set_int(fd, SOL_IPV6, IPV6_TRANSPARENT, 1) == 0 ? NULL : "setsockopt(IPV6_TRANSPARENT)";
  return set_int(fd, SOL_IP, IP_TRANSPARENT, 1) == 0 ? NULL : "setsockopt(IP_TRANSPARENT)";
}

static napi_value fd_result(napi_env env, int fd) {
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

/* Closes a half-built socket without losing the errno of the step that failed. */
static napi_value fail_close(napi_env env, int fd, const char *syscall) {
  int err = errno;
  close(fd);
  return fail(env, err, syscall);
}

static napi_value SetTransparent(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!args(env, info, 1, argv) || !int_arg(env, argv[0], &fd)) return NULL;
  int domain = domain_of(fd);
  if (domain < 0) return fail(env, errno, "getsockopt(SO_DOMAIN)");
  const char *failed = set_transparent(fd, domain);
  return failed ? fail(env, errno, failed) : NULL;
}

static napi_value GetTransparent(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  int32_t fd;
  int value = 0;
  socklen_t len = sizeof value;
  if (!args(env, info, 1, argv) || !int_arg(env, argv[0], &fd)) return NULL;
  int domain = domain_of(fd);
  if (domain < 0) return fail(env, errno, "getsockopt(SO_DOMAIN)");
  int v6 = domain == AF_INET6;
  if (getsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_TRANSPARENT : IP_TRANSPARENT, &value, &len) != 0)
    return fail(env, errno, v6 ? "getsockopt(IPV6_TRANSPARENT)" : "getsockopt(IP_TRANSPARENT)");
  napi_get_boolean(env, value != 0, &out);
  return out;
}

static napi_value SetMark(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  uint32_t mark;
  if (!args(env, info, 2, argv) || !int_arg(env, argv[0], &fd)) return NULL;
  if (napi_get_value_uint32(env, argv[1], &mark) != napi_ok) return fail(env, EINVAL, "setsockopt(SO_MARK)");
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0) return fail(env, errno, "setsockopt(SO_MARK)");
  return NULL;
}

static napi_value GetMark(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  int32_t fd;
  uint32_t mark = 0;
  socklen_t len = sizeof mark;
  if (!args(env, info, 1, argv) || !int_arg(env, argv[0], &fd)) return NULL;
  if (getsockopt(fd, SOL_SOCKET, SO_MARK, &mark, &len) != 0) return fail(env, errno, "getsockopt(SO_MARK)");
  napi_create_uint32(env, mark, &out);
  return out;
}

/* The destination a REDIRECT/DNAT rule rewrote, from conntrack: { address, port, family }. */
static napi_value GetOriginalDst(napi_env env, napi_callback_info info) {
  napi_value argv[1], out, address, port, family;
  int32_t fd;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char text[INET6_ADDRSTRLEN];
  if (!args(env, info, 1, argv) || !int_arg(env, argv[0], &fd)) return NULL;
  int domain = domain_of(fd);
  if (domain < 0) return fail(env, errno, "getsockopt(SO_DOMAIN)");
  memset(&ss, 0, sizeof ss);
  int v6 = domain == AF_INET6;
  if (getsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IP6T_SO_ORIGINAL_DST : SO_ORIGINAL_DST, &ss, &len) != 0)
    return fail(env, errno, "getsockopt(SO_ORIGINAL_DST)");
  uint16_t p;
  if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    p = ntohs(a->sin6_port);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    p = ntohs(a->sin_port);
  }
  napi_create_object(env, &out);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &address);
  napi_create_uint32(env, p, &port);
  napi_create_uint32(env, ss.ss_family == AF_INET6 ? 6 : 4, &family);
  napi_set_named_property(env, out, "address", address);
  napi_set_named_property(env, out, "port", port);
  napi_set_named_property(env, out, "family", family);
  return out;
}

/*
 * A TCP socket bound to ip:port that need not be local (IP_TRANSPARENT + IP_FREEBIND), not yet connected:
 * `new net.Socket({ fd }).connect()` then dials from that source.
 */
static napi_value TransparentSocket(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t port;
  struct sockaddr_storage ss;
  if (!args(env, info, 2, argv) || !int_arg(env, argv[1], &port)) return NULL;
  socklen_t len = addr_arg(env, argv[0], port, &ss);
  if (len == 0) return NULL;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(env, errno, "socket");
  const char *failed = set_transparent(fd, ss.ss_family);
  if (failed) return fail_close(env, fd, failed);
  int v6 = ss.ss_family == AF_INET6;
  if (set_int(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_FREEBIND : IP_FREEBIND, 1) != 0)
    return fail_close(env, fd, v6 ? "setsockopt(IPV6_FREEBIND)" : "setsockopt(IP_FREEBIND)");
  if (bind(fd, (struct sockaddr *)&ss, len) != 0) return fail_close(env, fd, "bind");
  return fd_result(env, fd);
}

/*
 * A listening TCP socket with IP_TRANSPARENT, so it accepts TPROXY-ed connections for any destination.
 * With `reuse_port` non-zero it also sets SO_REUSEPORT, so that several listeners (one per worker thread)
 * share the port and the kernel spreads connections across them, TPROXY-ed ones included.
 */
static napi_value TransparentListener(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t port, backlog, reuse_port;
  struct sockaddr_storage ss;
  if (!args(env, info, 4, argv) || !int_arg(env, argv[1], &port) || !int_arg(env, argv[2], &backlog) || !int_arg(env, argv[3], &reuse_port)) return NULL;
  socklen_t len = addr_arg(env, argv[0], port, &ss);
  if (len == 0) return NULL;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(env, errno, "socket");
  if (set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) != 0) return fail_close(env, fd, "setsockopt(SO_REUSEADDR)");
  if (reuse_port && set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1) != 0) return fail_close(env, fd, "setsockopt(SO_REUSEPORT)");
  const char *failed = set_transparent(fd, ss.ss_family);
  if (failed) return fail_close(env, fd, failed);
  if (bind(fd, (struct sockaddr *)&ss, len) != 0) return fail_close(env, fd, "bind");
  if (listen(fd, backlog) != 0) return fail_close(env, fd, "listen");
  return fd_result(env, fd);
}

/* An unbound TCP socket whose packets carry SO_MARK `mark` (6 for IPv6, else IPv4). */
static napi_value MarkedSocket(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  uint32_t mark;
  int32_t family;
  if (!args(env, info, 2, argv) || !int_arg(env, argv[1], &family)) return NULL;
  if (napi_get_value_uint32(env, argv[0], &mark) != napi_ok) return fail(env, EINVAL, "setsockopt(SO_MARK)");
  int fd = socket(family == 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(env, errno, "socket");
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0) return fail_close(env, fd, "setsockopt(SO_MARK)");
  return fd_result(env, fd);
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"setTransparent", NULL, SetTransparent, NULL, NULL, NULL, napi_enumerable, NULL},
    {"getTransparent", NULL, GetTransparent, NULL, NULL, NULL, napi_enumerable, NULL},
    {"setMark", NULL, SetMark, NULL, NULL, NULL, napi_enumerable, NULL},
    {"getMark", NULL, GetMark, NULL, NULL, NULL, napi_enumerable, NULL},
    {"getOriginalDst", NULL, GetOriginalDst, NULL, NULL, NULL, napi_enumerable, NULL},
    {"transparentSocket", NULL, TransparentSocket, NULL, NULL, NULL, napi_enumerable, NULL},
    {"transparentListener", NULL, TransparentListener, NULL, NULL, NULL, napi_enumerable, NULL},
    {"markedSocket", NULL, MarkedSocket, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
