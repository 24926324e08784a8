{
  "targets": [
    {
      "target_name": "spawn",
      "sources": ["spawn.c"],
      "ldflags": ["-Wl,-z,now"]
    }
  ]
}
