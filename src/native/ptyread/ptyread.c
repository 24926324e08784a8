// The pty reader thread (src/targets/pty-reader.ts is its JS side): while a local session floods,
// a thread of its own reads the session's pty master and hands the output to the session thread
// in large batches, with no copy (each batch becomes an external Buffer).
//
// attach(fd, cb) -> handle. FD is the thread's own descriptor of the pty master (a dup, already
// non-blocking); the thread closes it when it lets go. cb(kind, buffer) on the JS thread:
//   0 DATA (buffer): a batch; ack(handle) when it has been passed on (one batch in flight at a time);
//   1 END: the output ended (EIO: the program and all that held the pty are gone), or detached;
//   2 RELEASED: quiet for QUIET_MS, all it read delivered: the caller reads the pty from now on;
//   3 STOPPED: stop(handle) was called; all it read was delivered first (nothing lost);
//   4 FAILED: it could not go on (no memory for a batch, poll failed); all it read was delivered.
// After END, RELEASED, STOPPED or FAILED nothing more comes and the thread has been joined; after
// RELEASED, STOPPED or FAILED the caller reads the pty itself.
// detach(handle): read what the kernel still holds (at most HOLD more, until it has been quiet for
// DRAIN_QUIET_MS), deliver it, then END (also when a stop came as well).
//
// Handing an event over allocates nothing: a batch carries its event header in front of its bytes,
// and the last event lives in the state. So no event is ever lost to a failed allocation.
//
// The first bytes after a quiet moment go at once (a keystroke's echo is not delayed). Reads close
// together (BURST_GAP_MS) are a flood: gathered for up to GATHER_MS or BATCH bytes. Once HOLD bytes
// wait for an ack the pty is not polled, so the program in it blocks as on a slow terminal.
//
// Lifetime: the state is freed when both the JS handle has been collected and the thread is joined
// (on its last event, or by the environment's cleanup hook, which stops and joins it before the
// thread-safe function goes away). Its eventfd lives as long as the state: a late ack never writes
// to a descriptor number someone else has reused.
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/eventfd.h>

#define READ_SIZE (64 * 1024)
#define HOLD (256 * 1024)
#define BATCH (256 * 1024)
#define CAP (HOLD + READ_SIZE)
#define GATHER_MS 3.0
#define BURST_GAP_MS 0.3
#define QUIET_MS 250.0
/* At a detach, once nothing is readable: how long to wait for more, and how many times in a row. */
#define DRAIN_QUIET_MS 2.0
#define DRAIN_TRIES 3
#define STACK (256 * 1024)

enum { EV_DATA = 0, EV_END = 1, EV_RELEASED = 2, EV_STOPPED = 3, EV_FAILED = 4 };

typedef struct R R;
/* An event for the JS thread. A batch (EV_DATA) is one allocation: this header, then CAP bytes. */
typedef struct { int kind; size_t len; R *r; } Ev;

struct R {
  int fd, efd;
  napi_threadsafe_function tsfn;
  pthread_t th;
  pthread_mutex_t mu;
  int inflight, detach, stop;
  int joined;
  int refs; /* the JS handle and the cleanup hook; touched on the JS thread only */
  Ev last;  /* the last event (END, RELEASED, STOPPED, FAILED) */
};

static Ev *new_batch(void) { return malloc(sizeof(Ev) + CAP); }
static char *bytes(Ev *b) { return (char *)(b + 1); }

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void unref(R *r) {
  if (--r->refs > 0) return;
  close(r->efd);
  pthread_mutex_destroy(&r->mu);
  free(r);
}

static void join(R *r) {
  if (r->joined) return;
  r->joined = 1;
  pthread_join(r->th, NULL);
}

enum { SIG_ACK = 0, SIG_DETACH = 1, SIG_STOP = 2 };

/* What signal(handle, what) does: the flag under the lock, then the thread woken. */
static void tell(R *r, int what) {
  pthread_mutex_lock(&r->mu);
  if (what == SIG_ACK) r->inflight = 0;
  else if (what == SIG_DETACH) r->detach = 1;
  else r->stop = 1;
  pthread_mutex_unlock(&r->mu);
  uint64_t v = 1;
  if (write(r->efd, &v, 8) < 0) { /* the counter is full: the thread is awake anyway */ }
}

/* The environment is going away: stop the thread and wait for it, before its thread-safe function goes. */
static void cleanup(void *arg) {
  R *r = arg;
  tell(r, SIG_STOP);
  join(r);
  unref(r);
}

static void free_batch(napi_env env, void *data, void *hint) { free(hint); }

static void call_js(napi_env env, napi_value cb, void *ctx, void *data) {
  Ev *e = data;
  R *r = e->r;
  int kind = e->kind;
  if (!env) { if (kind == EV_DATA) free(e); return; } /* the environment is going: its hook joins */
  napi_value undef, args[2];
  napi_get_undefined(env, &undef);
  napi_create_int32(env, kind, &args[0]);
  if (kind == EV_DATA) {
    if (napi_create_external_buffer(env, e->len, bytes(e), free_batch, e, &args[1]) != napi_ok) {
      /* cannot happen short of memory: copy it instead */
      void *copy;
      napi_status copied = napi_create_buffer_copy(env, e->len, bytes(e), &copy, &args[1]);
      free(e);
      /* Not even that: V8 is out of memory. The thread is not left waiting for an ack. */
      if (copied != napi_ok) { tell(r, SIG_ACK); return; }
    }
  } else {
    napi_get_null(env, &args[1]);
    /* The last event (e is r->last: not touched after the unref). The thread has nothing left to do but exit. */
    join(r);
    napi_remove_env_cleanup_hook(env, cleanup, r);
    unref(r);
  }
  napi_call_function(env, undef, cb, 2, args, NULL);
}

/* Hands a batch of LEN bytes to the JS thread (or frees it if the environment is going). */
static void post_batch(R *r, Ev *b, size_t len) {
  if (len < CAP / 2) {
    /* A small batch (an echo, a flood's tail) does not keep CAP bytes until it is collected. */
    Ev *small = realloc(b, sizeof(Ev) + len);
    if (small) b = small;
  }
  b->kind = EV_DATA; b->len = len; b->r = r;
  if (napi_call_threadsafe_function(r->tsfn, b, napi_tsfn_blocking) != napi_ok) free(b);
}

/* The last event. If the environment is going it is not delivered: its cleanup hook joins. */
static void post_last(R *r, int kind) {
  r->last.kind = kind; r->last.len = 0; r->last.r = r;
  napi_call_threadsafe_function(r->tsfn, &r->last, napi_tsfn_blocking);
}

/* Reads what the pty holds now into cur (up to limit bytes in all); -1 at its end (EIO), else 0. */
static int read_now(int fd, char *cur, size_t *n, size_t limit) {
  while (*n < limit) {
    size_t want = limit - *n < READ_SIZE ? limit - *n : READ_SIZE;
    ssize_t k = read(fd, cur + *n, want);
    if (k > 0) { *n += (size_t)k; continue; }
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && errno == EAGAIN) return 0;
    return -1; /* EIO (or 0): the program and everything holding the pty are gone */
  }
  return 0;
}

static void *loop(void *p) {
  R *r = p;
  Ev *cur = new_batch();
  size_t n = 0;
  double last = now_ms(), first = 0;
  /* ended: the pty's end (EIO); failed: no memory for a batch, or poll failed */
  int flood = 0, ended = 0, failed = cur == NULL, kind = EV_END;
  struct pollfd fds[2] = {{r->fd, POLLIN, 0}, {r->efd, POLLIN, 0}};
  for (;;) {
    pthread_mutex_lock(&r->mu);
    int inflight = r->inflight, detach = r->detach, stop = r->stop;
    pthread_mutex_unlock(&r->mu);
    if (stop || detach || ended || failed) {
      if (detach && !ended && !failed) {
        /* The program exited (a stop as well changes nothing): what the kernel still holds, at
           most HOLD more; a background job writing on after the program exited must not keep
           this thread for ever. */
        int idle = 0;
        for (size_t taken = 0; taken < HOLD;) {
          size_t before = n;
          if (n + READ_SIZE > CAP) {
            post_batch(r, cur, n);
            cur = new_batch(); n = 0; before = 0;
            if (!cur) { failed = 1; break; }
          }
          int end = read_now(r->fd, bytes(cur), &n, n + READ_SIZE);
          taken += n - before;
          if (end < 0) { ended = 1; break; }
          if (n > before) { idle = 0; continue; }
          /* Nothing readable now, but the kernel may still be passing the program's last output
             on (a kernel worker moves a pty's buffered bytes to where they are read): wait a
             moment for more, a few times at most. */
          struct pollfd pf = {r->fd, POLLIN, 0};
          struct timespec q = {0, (long)(DRAIN_QUIET_MS * 1e6)};
          if (++idle > DRAIN_TRIES || ppoll(&pf, 1, &q, NULL) <= 0) break;
        }
      }
      if (cur && n) post_batch(r, cur, n); else free(cur);
      kind = ended ? EV_END : failed ? EV_FAILED : detach ? EV_END : EV_STOPPED;
      break;
    }
    double t = now_ms();
    double wait = -1;
    if (!inflight && n) {
      if (n >= BATCH || !flood || t - first >= GATHER_MS) {
        pthread_mutex_lock(&r->mu);
        r->inflight = 1;
        pthread_mutex_unlock(&r->mu);
        post_batch(r, cur, n);
        cur = new_batch(); n = 0;
        if (!cur) failed = 1;
        continue;
      }
      wait = GATHER_MS - (t - first);
    } else if (!inflight) {
      if (t - last >= QUIET_MS) { free(cur); kind = EV_RELEASED; break; }
      wait = QUIET_MS - (t - last);
    }
    struct timespec ts, *tsp = NULL;
    if (wait >= 0) { ts.tv_sec = (time_t)(wait / 1e3); ts.tv_nsec = (long)((wait - ts.tv_sec * 1e3) * 1e6); tsp = &ts; }
    fds[0].fd = n >= HOLD ? -1 : r->fd;
    fds[0].revents = fds[1].revents = 0;
    int rc = ppoll(fds, 2, tsp, NULL);
    if (rc < 0 && errno != EINTR) { failed = 1; continue; }
    if (fds[1].revents) { uint64_t v; if (read(r->efd, &v, 8) < 0) { /* EAGAIN: already taken */ } }
    if (fds[0].fd >= 0 && fds[0].revents) {
      size_t before = n;
      int end = read_now(r->fd, bytes(cur), &n, CAP);
      if (n > before) {
        double at = now_ms();
        flood = at - last < BURST_GAP_MS || n - before > 4096;
        if (before == 0) first = at;
        last = at;
      }
      if (end < 0) ended = 1;
    }
  }
  close(r->fd);
  post_last(r, kind);
  napi_release_threadsafe_function(r->tsfn, napi_tsfn_release);
  return NULL;
}

static void handle_gone(napi_env env, void *data, void *hint) { unref(data); }

static napi_value throw_err(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static napi_value attach(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value a[2];
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  int32_t fd;
  napi_valuetype t;
  if (argc < 2 || napi_get_value_int32(env, a[0], &fd) != napi_ok || napi_typeof(env, a[1], &t) != napi_ok || t != napi_function)
    return throw_err(env, "attach(fd, callback)");
  R *r = calloc(1, sizeof *r);
  if (!r) return throw_err(env, "out of memory");
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) { free(r); return throw_err(env, strerror(errno)); }
  r->fd = fd;
  r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (r->efd < 0) { free(r); return throw_err(env, strerror(errno)); }
  pthread_mutex_init(&r->mu, NULL);
  napi_value name;
  napi_create_string_utf8(env, "ptyread", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, a[1], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &r->tsfn) != napi_ok) {
    close(r->efd); pthread_mutex_destroy(&r->mu); free(r);
    return throw_err(env, "cannot create the thread-safe function");
  }
  napi_unref_threadsafe_function(env, r->tsfn);
  /* The loop keeps its buffers on the heap: a small stack is plenty (one thread per flooding pty). */
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, STACK);
  int rc = pthread_create(&r->th, &attr, loop, r);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort);
    close(r->efd); pthread_mutex_destroy(&r->mu); free(r);
    return throw_err(env, strerror(rc));
  }
  r->refs = 2;
  napi_add_env_cleanup_hook(env, cleanup, r);
  napi_value h;
  napi_create_external(env, r, handle_gone, NULL, &h);
  return h;
}

/* signal(handle): what = 0 ack, 1 detach, 2 stop. */
static napi_value signal_(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value a[2];
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  R *r;
  int32_t what;
  if (argc < 2 || napi_get_value_external(env, a[0], (void **)&r) != napi_ok || napi_get_value_int32(env, a[1], &what) != napi_ok)
    return throw_err(env, "signal(handle, what)");
  tell(r, what);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "attach", NAPI_AUTO_LENGTH, attach, NULL, &f);
  napi_set_named_property(env, exports, "attach", f);
  napi_create_function(env, "signal", NAPI_AUTO_LENGTH, signal_, NULL, &f);
  napi_set_named_property(env, exports, "signal", f);
  return exports;
}
