{
  "targets": [
    {
      "target_name": "asciicast",
      "sources": ["escape.c", "page-cache.c", "hash.c"],
      "cflags": ["-O3"]
    }
  ]
}
