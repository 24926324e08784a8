{
  "targets": [
    {
      "target_name": "asciicast",
      "sources": ["escape.c", "page-cache.c"],
      "cflags": ["-O3"]
    }
  ]
}
