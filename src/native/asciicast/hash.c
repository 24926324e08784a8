// SHA-256 in the thread pool, for the recorder's chunk chain:
//   hashNew() -> h; hashUpdate(h, [buffers], done(err)); hashDigest(h) -> hex (and starts again)
//
// Why: a NUL of bulk output is six bytes of asciicast, and hashing them was the largest part of
// the recording thread's work (docs/benchmarks.md, tenth round). Here the hash runs on a thread of
// the pool beside the file write, while the recording thread escapes the next batch. One update
// at a time per hash (the caller chains them; a second one, or a digest, while one runs is a
// TypeError); the buffers are held until it is done. OpenSSL is the one Node itself carries.
#include <node_api.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include "hash.h"

typedef struct {
  EVP_MD_CTX *ctx;
  int busy;
} Hash;

typedef struct {
  Hash *hash;
  napi_ref hashRef;
  napi_ref buffersRef;
  napi_ref callbackRef;
  napi_async_work work;
  size_t count;
  const uint8_t **data;
  size_t *lengths;
  int ok;
} Update;

static void free_hash(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Hash *h = data;
  EVP_MD_CTX_free(h->ctx);
  free(h);
}

static int start(Hash *h) { return EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) == 1; }

napi_value HashNew(napi_env env, napi_callback_info info) {
  (void)info;
  Hash *h = calloc(1, sizeof(Hash));
  if (!h || !(h->ctx = EVP_MD_CTX_new()) || !start(h)) {
    if (h) EVP_MD_CTX_free(h->ctx);
    free(h);
    napi_throw_error(env, NULL, "SHA-256 is not available");
    return NULL;
  }
  napi_value result;
  if (napi_create_external(env, h, free_hash, NULL, &result) != napi_ok) {
    free_hash(env, h, NULL);
    return NULL;
  }
  return result;
}

static Hash *hash_of(napi_env env, napi_value v) {
  napi_valuetype t;
  void *data = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return data;
}

static void free_update(Update *u) {
  if (!u) return;
  free(u->data);
  free(u->lengths);
  free(u);
}

// What a queued update holds: its references, its work, its memory.
static void release_update(napi_env env, Update *u) {
  napi_delete_reference(env, u->hashRef);
  napi_delete_reference(env, u->buffersRef);
  napi_delete_reference(env, u->callbackRef);
  napi_delete_async_work(env, u->work);
  free_update(u);
}

static void execute(napi_env env, void *data) {
  (void)env;
  Update *u = data;
  u->ok = 1;
  for (size_t i = 0; i < u->count && u->ok; i++) u->ok = EVP_DigestUpdate(u->hash->ctx, u->data[i], u->lengths[i]) == 1;
}

static void complete(napi_env env, napi_status status, void *data) {
  Update *u = data;
  u->hash->busy = 0;
  napi_value callback, global, arg;
  napi_get_reference_value(env, u->callbackRef, &callback);
  napi_get_global(env, &global);
  if (status == napi_ok && u->ok) napi_get_null(env, &arg);
  else {
    napi_value msg;
    napi_create_string_utf8(env, "SHA-256 update failed", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &arg);
  }
  release_update(env, u);
  napi_call_function(env, global, callback, 1, &arg, NULL);
}

napi_value HashUpdate(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  Hash *h;
  uint32_t count = 0;
  bool isArray = false;
  napi_valuetype cbType;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3 || !(h = hash_of(env, argv[0])) ||
      napi_is_array(env, argv[1], &isArray) != napi_ok || !isArray || napi_get_array_length(env, argv[1], &count) != napi_ok ||
      napi_typeof(env, argv[2], &cbType) != napi_ok || cbType != napi_function) {
    napi_throw_type_error(env, NULL, "hashUpdate(hash, buffers, done) takes a hash, an array of Uint8Arrays and a callback");
    return NULL;
  }
  if (h->busy) {
    napi_throw_type_error(env, NULL, "hashUpdate: an update of this hash is still running");
    return NULL;
  }
  Update *u = calloc(1, sizeof(Update));
  if (!u || !(u->data = calloc(count ? count : 1, sizeof(uint8_t *))) || !(u->lengths = calloc(count ? count : 1, sizeof(size_t)))) {
    free_update(u);
    napi_throw_error(env, NULL, "hashUpdate: out of memory");
    return NULL;
  }
  u->hash = h;
  u->count = count;
  for (uint32_t i = 0; i < count; i++) {
    napi_value el;
    napi_typedarray_type type;
    void *base;
    size_t len;
    if (napi_get_element(env, argv[1], i, &el) != napi_ok || napi_get_typedarray_info(env, el, &type, &len, &base, NULL, NULL) != napi_ok || type != napi_uint8_array) {
      free_update(u);
      napi_throw_type_error(env, NULL, "hashUpdate: every buffer must be a Uint8Array");
      return NULL;
    }
    u->data[i] = base;
    u->lengths[i] = len;
  }
  napi_value name;
  napi_create_string_utf8(env, "bastion:sha256", NAPI_AUTO_LENGTH, &name);
  // The hash, the buffers and the callback live until the update is done.
  napi_create_reference(env, argv[0], 1, &u->hashRef);
  napi_create_reference(env, argv[1], 1, &u->buffersRef);
  napi_create_reference(env, argv[2], 1, &u->callbackRef);
  napi_create_async_work(env, NULL, name, execute, complete, u, &u->work);
  h->busy = 1;
  if (napi_queue_async_work(env, u->work) != napi_ok) {
    h->busy = 0;
    release_update(env, u);
    napi_throw_error(env, NULL, "hashUpdate: could not queue the work");
    return NULL;
  }
  return NULL;
}

napi_value HashDigest(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Hash *h;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || !(h = hash_of(env, argv[0]))) {
    napi_throw_type_error(env, NULL, "hashDigest(hash) takes a hash");
    return NULL;
  }
  if (h->busy) {
    napi_throw_type_error(env, NULL, "hashDigest: an update of this hash is still running");
    return NULL;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || !start(h)) {
    napi_throw_error(env, NULL, "SHA-256 digest failed");
    return NULL;
  }
  static const char hex[] = "0123456789abcdef";
  char out[2 * EVP_MAX_MD_SIZE];
  for (unsigned int i = 0; i < n; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  napi_value result;
  napi_create_string_utf8(env, out, 2 * n, &result);
  return result;
}
