{
  "targets": [
    {
      "target_name": "ptyspawn",
      "sources": ["ptyspawn.c"]
    }
  ]
}
