{
  "targets": [
    {
      "target_name": "termios",
      "sources": ["termios.c"]
    }
  ]
}
