{
  "targets": [
    {
      "target_name": "asciicast",
      "sources": ["escape.c"],
      "cflags": ["-O3"]
    }
  ]
}
