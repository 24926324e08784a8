// A measurement, not part of the bastion: what a reader thread written in C would give the pty path
// (docs/benchmarks.md, thirteenth round). `node bench/pty-read.mjs c FILE RUNS` uses it, after
//   node-gyp rebuild --directory bench/pty-reader-c   (npm's own node-gyp; nodedir=/usr here)
// attach(fd, onBatch) -> handle: a thread of its own polls the (non-blocking) pty master FD, reads
//   into a batch, and hands each batch to onBatch(buffer) on the JS thread as an external buffer
//   (no copy), when nothing is in flight and 256 KB wait or the pty has been quiet for 3 ms; one
//   batch in flight at a time, reading stops once 256 KB wait. onBatch(null) after the end (EIO
//   or EOF), all delivered; the thread closes FD.
// ack(handle): the last batch has been passed on.
// Unlike src/native/ptyread (which grew from it) it has no quiet hand-back, detach or stop, and keeps
// nothing for the bastion's error paths; each attach's state and eventfd stay allocated (so a
// late ack never writes to a reused descriptor): a measurement attaches a few dozen times.
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#define CAP (320 * 1024)
#define BATCH (256 * 1024)
#define HOLD (256 * 1024)
typedef struct { int fd, efd; napi_threadsafe_function tsfn; pthread_t th; pthread_mutex_t mu; int inflight; } R;
typedef struct { char *buf; size_t len; int end; } Ev;
static void fin(napi_env env, void *data, void *hint) { free(data); }
static void call_js(napi_env env, napi_value cb, void *ctx, void *data) {
  Ev *e = data; if (!env) { free(e->buf); free(e); return; }
  napi_value undef, arg[2];
  napi_get_undefined(env, &undef);
  if (e->end) { napi_get_null(env, &arg[0]); }
  else napi_create_external_buffer(env, e->len, e->buf, fin, NULL, &arg[0]);
  napi_call_function(env, undef, cb, 1, arg, NULL);
  free(e);
}
static int in_flight(R *r) {
  pthread_mutex_lock(&r->mu);
  int f = r->inflight;
  pthread_mutex_unlock(&r->mu);
  return f;
}
static void *loop(void *p) {
  R *r = p; char *cur = malloc(CAP); size_t n = 0; int eof = 0;
  struct pollfd fds[2] = {{r->fd, POLLIN, 0}, {r->efd, POLLIN, 0}};
  for (;;) {
    int inflight = in_flight(r);
    if (eof && n == 0 && !inflight) {
      Ev *e = calloc(1, sizeof *e); e->end = 1;
      napi_call_threadsafe_function(r->tsfn, e, napi_tsfn_blocking);
      break;
    }
    // Not polled after the end, nor while HOLD bytes wait for an ack (a hung-up pty polls ready for ever).
    fds[0].fd = eof || (inflight && n >= HOLD) ? -1 : r->fd;
    int rc = poll(fds, 2, n && !inflight && !eof ? 3 : -1);
    if (fds[1].revents) { uint64_t v; if (read(r->efd, &v, 8) < 0) { /* EAGAIN: already taken */ } }
    if (fds[0].fd >= 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      while (n + 4096 <= CAP) {
        ssize_t k = read(r->fd, cur + n, CAP - n);
        if (k > 0) { n += k; continue; }
        if (k < 0 && (errno == EAGAIN || errno == EINTR)) break;
        eof = 1; break;  // EIO: the program and everything holding the pty have gone
      }
    }
    pthread_mutex_lock(&r->mu);
    if (!r->inflight && n && (n >= BATCH || rc == 0 || eof)) {
      Ev *e = malloc(sizeof *e); e->buf = cur; e->len = n; e->end = 0; r->inflight = 1;
      pthread_mutex_unlock(&r->mu);
      napi_call_threadsafe_function(r->tsfn, e, napi_tsfn_blocking);
      cur = malloc(CAP); n = 0;
    } else pthread_mutex_unlock(&r->mu);
  }
  free(cur); close(r->fd); napi_release_threadsafe_function(r->tsfn, napi_tsfn_release); return NULL;
}
static napi_value attach(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value a[2]; napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  R *r = calloc(1, sizeof *r); int32_t fd; napi_get_value_int32(env, a[0], &fd); r->fd = fd; r->efd = eventfd(0, EFD_NONBLOCK);
  pthread_mutex_init(&r->mu, NULL);
  napi_value name; napi_create_string_utf8(env, "ptyc", NAPI_AUTO_LENGTH, &name);
  napi_create_threadsafe_function(env, a[1], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &r->tsfn);
  pthread_create(&r->th, NULL, loop, r); pthread_detach(r->th);
  napi_value h; napi_create_external(env, r, NULL, NULL, &h); return h;
}
static napi_value ack(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value a[1]; napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  R *r; if (argc < 1 || napi_get_value_external(env, a[0], (void **)&r) != napi_ok) return NULL;
  pthread_mutex_lock(&r->mu); r->inflight = 0; pthread_mutex_unlock(&r->mu); uint64_t v = 1; write(r->efd, &v, 8); return NULL;
}
NAPI_MODULE_INIT() {
  napi_value f; napi_create_function(env, "attach", NAPI_AUTO_LENGTH, attach, NULL, &f); napi_set_named_property(env, exports, "attach", f);
  napi_create_function(env, "ack", NAPI_AUTO_LENGTH, ack, NULL, &f); napi_set_named_property(env, exports, "ack", f);
  return exports;
}
