{
  "targets": [
    {
      "target_name": "spawn",
      "sources": ["spawn.c"]
    }
  ]
}
