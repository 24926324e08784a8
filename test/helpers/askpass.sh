#!/bin/sh
# SSH_ASKPASS helper for tests: OpenSSH calls it once per keyboard-interactive prompt with the
# prompt text as $1. Answers come from the environment; every prompt is appended to $ASKPASS_LOG.
[ -n "$ASKPASS_LOG" ] && printf '%s\n' "$1" >> "$ASKPASS_LOG"
case "$1" in
  *[Cc]ode*)
    if [ -n "$ASKPASS_CODE_FILE" ]; then
      # One code per line; each call takes the next one (for retries).
      n=$(grep -c . "$ASKPASS_CODE_FILE.used" 2>/dev/null || echo 0)
      code=$(sed -n "$((n + 1))p" "$ASKPASS_CODE_FILE")
      echo used >> "$ASKPASS_CODE_FILE.used"
      printf '%s\n' "$code"
    else
      printf '%s\n' "$ASKPASS_CODE"
    fi ;;
  *[Tt]icket*) printf '%s\n' "$ASKPASS_TICKET" ;;
  *[Rr]eason*) printf '%s\n' "$ASKPASS_REASON" ;;
  *) printf '\n' ;;
esac
