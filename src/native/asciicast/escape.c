// escapeJson(src, dst, at): writes the bytes of src, UTF-8 text, into dst from offset `at` as the
// inside of a JSON string, with exactly the escapes JSON.stringify makes (\" \\ \b \f \n \r \t,
// \u00xx for the other control characters; everything else as it is), and returns the offset
// after them. Returns -1, writing nothing that counts, when src is not whole, valid UTF-8 (an
// invalid byte, or a character cut at the end): the caller then takes its general path, which
// decodes as a stream and replaces what is invalid. Returns -2 when dst has no room for the worst
// case (6 bytes per byte of src).
//
// The recorder's hot path: asciicast events carry terminal output as JSON strings, and bulk output
// is megabytes a second. JSON.stringify needs a JS string first (a decode, then an encode back to
// bytes); this reads and writes bytes once.
#include <node_api.h>
#include <stdint.h>
#include <string.h>
#include "page-cache.h"
#include "hash.h"

// 1 for bytes copied as they are: printable ASCII other than '"' and '\\'.
static uint8_t plain[256];
// The escape of every other ASCII byte (the first `len` of 6 bytes count).
static struct {
  char text[6];
  uint8_t len;
} escapes[128];

static void init_tables(void) {
  static const char hex[] = "0123456789abcdef";
  for (int c = 0; c < 0x80; c++) {
    plain[c] = c >= 0x20 && c != '"' && c != '\\';
    char *t = escapes[c].text;
    t[0] = '\\';
    escapes[c].len = 2;
    if (c == '"' || c == '\\') t[1] = (char)c;
    else if (c == '\b') t[1] = 'b';
    else if (c == '\f') t[1] = 'f';
    else if (c == '\n') t[1] = 'n';
    else if (c == '\r') t[1] = 'r';
    else if (c == '\t') t[1] = 't';
    else {
      memcpy(t + 1, "u00", 3);
      t[4] = hex[c >> 4];
      t[5] = hex[c & 15];
      escapes[c].len = 6;
    }
  }
}

// Length of the valid UTF-8 sequence (2 to 4 bytes) starting at s, or 0 (Unicode 15, table 3-7:
// no overlong forms, no surrogates, nothing past U+10FFFF; cut short counts as invalid).
static size_t utf8_len(const uint8_t *s, size_t left) {
  uint8_t c = s[0];
  uint8_t lo = 0x80, hi = 0xBF;
  size_t n;
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else return 0;
  if (left < n) return 0;
  if (s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < n; i++)
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  return n;
}

static int64_t escape(const uint8_t *s, size_t n, uint8_t *d) {
  uint8_t *p = d;
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    if (plain[c]) {
      size_t j = i + 1;
      while (j < n && plain[s[j]]) j++;
      memcpy(p, s + i, j - i);
      p += j - i;
      i = j;
    } else if (c < 0x80) {
      memcpy(p, escapes[c].text, 6);
      p += escapes[c].len;
      i++;
    } else {
      size_t len = utf8_len(s + i, n - i);
      if (len == 0) return -1;
      for (size_t k = 0; k < len; k++) *p++ = s[i + k];
      i += len;
    }
  }
  return p - d;
}

static int bytes_of(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  napi_typedarray_type type;
  void *base;
  if (napi_get_typedarray_info(env, v, &type, len, &base, NULL, NULL) != napi_ok || type != napi_uint8_array) return 0;
  *data = base;
  return 1;
}

static napi_value EscapeJson(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result;
  uint8_t *src, *dst;
  size_t srcLen, dstLen;
  int64_t at = -1, end = -2;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 3 &&
      bytes_of(env, argv[0], &src, &srcLen) && bytes_of(env, argv[1], &dst, &dstLen) &&
      napi_get_value_int64(env, argv[2], &at) == napi_ok && at >= 0 && (size_t)at <= dstLen &&
      srcLen <= (dstLen - (size_t)at) / 6) {
    int64_t n = escape(src, srcLen, dst + at);
    end = n < 0 ? n : at + n;
  }
  napi_create_int64(env, end, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  init_tables();
  napi_create_function(env, "escapeJson", NAPI_AUTO_LENGTH, EscapeJson, NULL, &fn);
  napi_set_named_property(env, exports, "escapeJson", fn);
  napi_create_function(env, "dropCache", NAPI_AUTO_LENGTH, DropCache, NULL, &fn);
  napi_set_named_property(env, exports, "dropCache", fn);
  napi_create_function(env, "hashNew", NAPI_AUTO_LENGTH, HashNew, NULL, &fn);
  napi_set_named_property(env, exports, "hashNew", fn);
  napi_create_function(env, "hashUpdate", NAPI_AUTO_LENGTH, HashUpdate, NULL, &fn);
  napi_set_named_property(env, exports, "hashUpdate", fn);
  napi_create_function(env, "hashDigest", NAPI_AUTO_LENGTH, HashDigest, NULL, &fn);
  napi_set_named_property(env, exports, "hashDigest", fn);
  return exports;
}
