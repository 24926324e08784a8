{
  "targets": [
    {
      "target_name": "ptyread",
      "sources": ["ptyread.c"],
      "libraries": ["-lpthread"]
    }
  ]
}
